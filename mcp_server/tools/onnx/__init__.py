"""The onnx area: ONNX conversion with parity checks (skl2onnx), inspection and benchmarks (onnxruntime).

Work in progress (issue #8).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
