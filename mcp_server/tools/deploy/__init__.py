"""The deploy area: endpoints on the serving gateway (mcp_server/gateway), canary and blue-green rollouts.

Work in progress (issue #9).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
