"""The onnx tools: convert a registered scikit-learn version with a parity check, inspect, benchmark.

Thin MCP-facing functions: arguments, then the use case (service.py) in one worker thread.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import ModelName, ModelVersion
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.onnx import service
from mcp_server.tools.onnx.models import BenchmarkResult, ConvertResult, InspectResult


async def onnx_convert(
    ctx: Ctx,
    name: ModelName,
    version: ModelVersion,
    opset: Annotated[
        int | None, Field(description="ONNX opset (default: the newest skl2onnx supports).")
    ] = None,
) -> ConvertResult:
    """Convert a registered scikit-learn version to ONNX (skl2onnx), check parity on its training rows and log the twin to MLflow beside it."""
    return await service_call(ctx, service.convert, name, version, opset)


async def onnx_inspect(
    ctx: Ctx,
    path: Annotated[
        str | None, Field(description="An .onnx file in the workspace (or give name+version).")
    ] = None,
    name: Annotated[str | None, Field(description="Registered model whose ONNX twin to inspect.")] = None,
    version: Annotated[str | None, Field(description="Its version.")] = None,
) -> InspectResult:
    """Inspect an ONNX model: opset, inputs/outputs with shapes and types, operator counts, size, and the external-data safety check."""
    return await service_call(ctx, service.inspect, path, name, version)


async def onnx_benchmark(
    ctx: Ctx,
    name: ModelName,
    version: ModelVersion,
    batch_sizes: Annotated[
        list[Annotated[int, Field(ge=1, le=10_000)]],
        Field(min_length=1, max_length=8, description="Rows per call, e.g. [1, 32, 1024]."),
    ],
    repeats: Annotated[int, Field(ge=5, le=2000, description="Timed calls per batch size (at most).")] = 100,
) -> BenchmarkResult:
    """Latency and throughput of a version's ONNX twin on onnxruntime vs the native scikit-learn predict on the same rows."""
    return await service_call(ctx, service.benchmark, name, version, list(batch_sizes), repeats)
