"""The ab area: A/B experiments planned, recorded and analysed on scipy and statsmodels.

Importing this module is cheap: the statistics libraries load inside the calls (adapter.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.ab.tools")  # imported on a tool's first use

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.ab_design, read_only=True, idempotent=True),
    ToolSpec(t.ab_create, core=True),
    ToolSpec(t.ab_record, core=True),
    ToolSpec(t.ab_analyze, core=True, read_only=True, idempotent=True),
    ToolSpec(t.ab_list, read_only=True, idempotent=True),
    ToolSpec(t.ab_get, read_only=True, idempotent=True),
    ToolSpec(t.ab_stop, idempotent=True),
)
