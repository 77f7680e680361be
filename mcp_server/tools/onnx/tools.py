"""The onnx tools: convert a registered scikit-learn version with a parity check, inspect, benchmark.

Thin MCP-facing functions; skl2onnx / onnxruntime / MLflow work runs in a worker thread (adapter.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.errors import InvalidInput
from mcp_server.tools.onnx.models import BenchmarkResult, ConvertResult, InspectResult

CONVERT_DEADLINE_S = 600.0

Name = Annotated[str, Field(description="Registered model name.")]
Version = Annotated[str, Field(description="Version number, e.g. '3'.")]


def _deadline(app: AppContext, wanted: float = 120.0) -> float:
    return max(1.0, min(wanted, app.settings.max_deadline_s) - 1.0)


async def onnx_convert(
    ctx: Ctx,
    name: Name,
    version: Version,
    opset: Annotated[
        int | None, Field(description="ONNX opset (default: the newest skl2onnx supports).")
    ] = None,
) -> ConvertResult:
    """Convert a registered scikit-learn version to ONNX (skl2onnx), check parity on its training rows and log the twin to MLflow beside it."""
    from mcp_server.tools.onnx import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.convert_tool,
        app,
        name,
        version,
        opset,
        deadline_s=_deadline(app, CONVERT_DEADLINE_S),
        report=progress_reporter(ctx),
        with_control=True,
    )


async def onnx_inspect(
    ctx: Ctx,
    path: Annotated[
        str | None, Field(description="An .onnx file in the workspace (or give name+version).")
    ] = None,
    name: Annotated[str | None, Field(description="Registered model whose ONNX twin to inspect.")] = None,
    version: Annotated[str | None, Field(description="Its version.")] = None,
) -> InspectResult:
    """Inspect an ONNX model: opset, inputs/outputs with shapes and types, operator counts, size, and the external-data safety check."""
    from mcp_server.tools.onnx import adapter
    from mcp_server.tools.registry.adapter import check_model_name, check_version

    app = app_context(ctx)
    if (path is None) == (name is None):
        raise InvalidInput("Give either `path` or `name` with `version`.")
    if path is not None:
        if version is not None:
            raise InvalidInput("`version` goes with `name`, not with `path`.")
        resolved = app.workspace.resolve(path, must_exist=True)
        if not resolved.is_file():
            raise InvalidInput("`path` must be an .onnx file, not a folder.")
        return await run_blocking(
            adapter.inspect,
            app,
            resolved,
            app.workspace.display(resolved),
            None,
            None,
            deadline_s=_deadline(app),
        )
    assert name is not None
    if version is None:
        raise InvalidInput("Give `version` with `name`.")
    check_model_name(name)
    number = check_version(version)
    return await run_blocking(adapter.inspect, app, None, None, name, number, deadline_s=_deadline(app))


async def onnx_benchmark(
    ctx: Ctx,
    name: Name,
    version: Version,
    batch_sizes: Annotated[
        list[Annotated[int, Field(ge=1, le=10_000)]],
        Field(min_length=1, max_length=8, description="Rows per call, e.g. [1, 32, 1024]."),
    ],
    repeats: Annotated[int, Field(ge=5, le=2000, description="Timed calls per batch size (at most).")] = 100,
) -> BenchmarkResult:
    """Latency and throughput of a version's ONNX twin on onnxruntime vs the native scikit-learn predict on the same rows."""
    from mcp_server.tools.onnx import adapter
    from mcp_server.tools.registry.adapter import check_model_name, check_version

    app = app_context(ctx)
    check_model_name(name)
    number = check_version(version)
    return await run_blocking(
        adapter.benchmark,
        app,
        name,
        number,
        list(batch_sizes),
        repeats,
        deadline_s=_deadline(app, CONVERT_DEADLINE_S),
        report=progress_reporter(ctx),
        with_control=True,
    )
