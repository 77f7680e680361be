"""The workflow area: one gated promotion that chains the other areas (data gate, comparison with the
champion, model tests, ONNX parity, canary), run off the request and followed with workflow_status.

Importing this module is cheap; the gates run through the areas' own tools (runner.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.workflow.tools import workflow_list, workflow_promote, workflow_status

# The contract example: a promotion of a version that does not exist stops at its first gate that needs
# the registry, and the call itself still returns a workflow id at once.
_EXAMPLE = {
    "model": "example-model",
    "candidate_version": "1",
    "dataset": "example.csv",
    "target": "label",
    "gates": {"data": None, "comparison": None, "onnx_parity": False, "canary": None},
}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(workflow_promote, core=True, read_only=False, example=_EXAMPLE),
    ToolSpec(
        workflow_status,
        core=True,
        read_only=True,
        idempotent=True,
        example={"model": "example-model"},
        setup=(("workflow_promote", _EXAMPLE),),
    ),
    ToolSpec(workflow_list, core=False, read_only=True, idempotent=True, example={}),
)
