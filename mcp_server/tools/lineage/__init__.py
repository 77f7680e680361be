"""The lineage area (lineage_get, lineage_export) and the audit area (audit_list), in one package."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.lineage.tools")  # imported on a tool's first use

TOOLS = (
    ToolSpec(t.lineage_get, core=True, read_only=True, idempotent=True),
    ToolSpec(t.lineage_export, read_only=True, idempotent=True),
    ToolSpec(t.audit_list, read_only=True, idempotent=True),
)
