"""Demo step: inspect the champion's ONNX twin and time it against scikit-learn's predict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_server.tools.registry.demo import MODEL


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    got = await client.call_tool("registry_get_version", {"name": MODEL, "alias": "champion"})
    if got.is_error:
        return [("onnx (champion)", False, "no champion registered by the registry step")]
    version = got.structured_content["version"]
    info = await client.call_tool("onnx_inspect", {"name": MODEL, "version": version})
    sc: dict[str, Any] = info.structured_content or {}
    ops = ", ".join(f"{k} x{v}" for k, v in list(sc.get("operators", {}).items())[:3])
    steps = [
        (
            "onnx_inspect",
            not info.is_error and bool(sc.get("safe")),
            f"{len(sc.get('inputs', []))} inputs, {sc.get('nodes')} nodes ({ops}), {sc.get('size_bytes')} bytes",
        )
    ]
    bench = await client.call_tool(
        "onnx_benchmark", {"name": MODEL, "version": version, "batch_sizes": [1, 256], "repeats": 20}
    )
    rows = (bench.structured_content or {}).get("results", [])
    detail = "; ".join(
        f"batch {r['batch_size']}: onnxruntime {r['onnx_p50_ms']:.3f} ms vs sklearn {r['native_p50_ms']:.3f} ms "
        f"({r['speedup']:.0f}x)"
        for r in rows
    )
    steps.append(("onnx_benchmark", not bench.is_error and bool(rows), detail or "failed"))
    return steps
