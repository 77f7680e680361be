"""The workflow area: one gated promotion that chains the other areas (data gate, comparison with the
champion, model tests, ONNX parity, canary), run off the request and followed with workflow_status.

Importing this module is cheap; the gates run through the areas' own tools (runner.py).
"""

from __future__ import annotations

from mcp_server.core.auth import DEPLOY
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.workflow.tools")  # imported on a tool's first use

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.workflow_promote, core=True, scope=DEPLOY),  # ends by moving the champion alias and traffic
    ToolSpec(t.workflow_status, core=True, read_only=True, idempotent=True),
    ToolSpec(t.workflow_list, read_only=True, idempotent=True),
)
