"""The onnx area: ONNX conversion with parity checks (skl2onnx), inspection and benchmarks (onnxruntime).

ONNX twins are logged to MLflow beside their source version (tag onnx_of=<name>/<version>) and cached
under <home>/cache/onnx/<name>/<version>/; `core.mlmodels.onnx_twin` and `runtime` are the contract the deploy
area and the gateway use. Importing this module is cheap: the libraries load inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.onnx.tools")  # imported on a tool's first use
CONVERT_DEADLINE_S = 600.0

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.onnx_convert, core=True, deadline_s=CONVERT_DEADLINE_S),
    ToolSpec(t.onnx_inspect, read_only=True, idempotent=True),
    ToolSpec(t.onnx_benchmark, read_only=True, idempotent=True, deadline_s=CONVERT_DEADLINE_S),
)
