"""The always-on areas (health, server): their tool specs. The tools themselves are core/server_tools.py,
imported on a tool's first use, so `tools/list` from the definitions cache does not build their models."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.core.server_tools")  # imported on a tool's first use

TOOLS = (
    ToolSpec(t.health_check, core=True, read_only=True, idempotent=True),
    ToolSpec(t.health_history, read_only=True, idempotent=True),
    ToolSpec(t.server_info, core=True, read_only=True, idempotent=True),
    # Read-only: it changes which tools this process offers, nothing a user owns or a tool reads as state.
    ToolSpec(t.server_enable_tools, core=True, read_only=True, idempotent=True),
)
