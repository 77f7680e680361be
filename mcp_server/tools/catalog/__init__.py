"""The catalog area: the dataset catalog and schema registry over the lake's versions (metadata store)."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.catalog.tools")  # imported on a tool's first use

TOOLS = (
    ToolSpec(t.catalog_register, idempotent=True),
    ToolSpec(t.catalog_search, read_only=True, idempotent=True),
    ToolSpec(t.catalog_get, core=True, read_only=True, idempotent=True),
    ToolSpec(t.catalog_schema_diff, read_only=True, idempotent=True),
)
