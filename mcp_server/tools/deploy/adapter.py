"""The deploy area's library work: a registered model version resolved to its local ONNX twin (MLflow and
skl2onnx, through the shared MLflow module), and sample rows built from a twin's input spec (the onnx
area's runtime helpers). The gateway itself loads the local ONNX folder stored in the route.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.twin import OnnxTwin


def resolve_twin(
    app: AppContext, control: Control, model: str, version: str | None, alias: str | None
) -> tuple[str, OnnxTwin]:
    """(version, its ONNX twin): the alias resolved once; the twin converted (with the parity check) when missing."""
    from mcp_server.core import mlmodels

    resolved = mlmodels.resolve_version(app, model, version, alias)
    return resolved, mlmodels.onnx_twin(app, model, resolved, convert=True, control=control)


def sample_rows(onnx_dir: Path, count: int = 8) -> list[dict[str, Any]]:
    """Deterministic sample rows from the twin's input spec (numbers on a small grid, text '')."""
    from mcp_server.core.twin import load_twin

    twin = load_twin(onnx_dir)
    dtypes: dict[str, str] = {}
    for spec in twin.spec.get("inputs", []):
        for col in spec.get("columns", []):
            dtypes[col] = spec.get("dtype", "float32")
    grid = [0.0, 1.0, -1.0, 0.5, 2.0, 10.0, -3.5, 100.0]
    rows = []
    for i in range(count):
        row: dict[str, Any] = {}
        for j, col in enumerate(twin.columns):
            dtype = dtypes.get(col, "float32")
            if dtype == "string":
                row[col] = ""
            elif dtype == "int64":
                row[col] = int(grid[(i + j) % len(grid)])
            else:
                row[col] = grid[(i + j) % len(grid)]
        rows.append(row)
    return rows
