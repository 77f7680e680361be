"""The onnx use cases: convert a registered version (with a parity check), inspect, benchmark, log a file.

Plain synchronous functions `fn(app, control, ...)`; tools.py, the registry area (`log_onnx_file`) and
core/mlmodels.py (`convert_locked`, when a twin is missing) call them. The twin lookup (cache, MLflow)
lives in core/mlmodels.py; the libraries are behind adapter.py.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_server.core import mlmodels as mm
from mcp_server.core.errors import Conflict, InvalidInput
from mcp_server.core.twin import MODEL_FILE, OnnxTwin, load_twin, open_session, write_twin
from mcp_server.tools.onnx import adapter
from mcp_server.tools.onnx import models as m

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext


def convert(app: AppContext, control: Control, name: str, version: str, opset: int | None) -> m.ConvertResult:
    """onnx_convert: always converts anew (e.g. another opset) and replaces the twin."""
    number = mm.check_version(version)
    mm.check_model_name(name)
    with mm.twin_lock(app, name, number):
        return convert_locked(app, control, name, number, opset)[1]


def convert_locked(
    app: AppContext, control: Control, name: str, version: str, opset: int | None
) -> tuple[OnnxTwin, m.ConvertResult]:
    """Convert, check parity, log to MLflow, tag the source version, cache locally, record lineage.

    The caller holds `mlmodels.twin_lock(app, name, version)`.
    """
    from mcp_server.core.lineage import make_id, record_edge

    if opset is not None and not adapter.MIN_OPSET <= opset <= adapter.max_opset():
        raise InvalidInput(
            f"opset must be between {adapter.MIN_OPSET} and {adapter.max_opset()}, not {opset}."
        )
    mv = mm.get_version(app, name, version)
    version = str(mv.version)
    if mv.tags.get(mm.SOURCE_TAG) == "onnx_file":
        raise InvalidInput(f"{name}/{version} is already an ONNX model; inspect it with onnx_inspect.")
    if not mv.run_id:
        raise InvalidInput(f"{name}/{version} has no run with a scikit-learn model to convert.")
    control.step(0, 4, "loading the scikit-learn model")
    loaded = mm.load_run_model(app, mv.run_id)
    task = adapter.task_of(loaded.task)
    if not loaded.features:
        raise InvalidInput(f"{name}/{version}'s model does not record its feature columns; it cannot be fed.")
    frame = adapter.training_rows(app, loaded)
    rows = adapter.records(frame)
    native_pred, native_proba = adapter.native_outputs(loaded.model, frame, task)
    control.step(1, 4, "converting with skl2onnx")
    data, spec, notes = adapter.convert_model(loaded.model, loaded.features, task, opset, name, version)
    session = adapter.open_session_bytes(data)
    base = mm.onnx_cache(app)
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="onnx-", dir=base))
    try:
        (folder / MODEL_FILE).write_bytes(data)
        twin = OnnxTwin(name, version, folder / MODEL_FILE, task, list(loaded.features), spec)  # type: ignore[arg-type]
        control.step(2, 4, "checking parity on training rows")
        check = adapter.parity(twin, session, rows, native_pred, native_proba)
        if not check.passed:
            raise Conflict(
                f"The ONNX conversion of {name}/{version} fails the parity check on {check.rows} training rows "
                f"(max_abs_diff {check.max_abs_diff}, label_agreement {check.label_agreement}); not saved."
            )
        spec["source"] = {"run_id": mv.run_id, "model_id": getattr(mv, "model_id", None)}
        spec["parity"] = check.model_dump()
        write_twin(folder, twin)
        control.step(3, 4, "logging the ONNX model to MLflow")
        model_id, uri = adapter.log_twin(app, mv.run_id, name, version, folder)
        spec["onnx_model_id"] = model_id
        write_twin(folder, twin)
        client = mm.mlflow_client(app)
        for tag, value in (
            (mm.ONNX_MODEL_TAG, model_id),
            (mm.ONNX_URI_TAG, uri),
            (mm.ONNX_OPSET_TAG, str(spec["opset"])),
        ):
            mm.call(app, functools.partial(client.set_model_version_tag, name, version, tag, value))
        final = mm.install_twin(app, name, version, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    record_edge(
        app.store,
        make_id("model", name, version),
        make_id("onnx", name, version),
        "converted",
        {"opset": spec["opset"], "max_abs_diff": check.max_abs_diff, "onnx_model_id": model_id},
    )
    twin = load_twin(final)
    control.step(4, 4, "done")
    result = m.ConvertResult(
        name=name,
        version=version,
        task=task,  # type: ignore[arg-type]
        opset=int(spec["opset"]),
        onnx_model_id=model_id,
        onnx_uri=f"models:/{model_id}",
        inputs=[m.SpecInput(**i) for i in spec["inputs"][:50]],
        columns=len(twin.columns),
        size_bytes=twin.path.stat().st_size,
        parity=check,
        notes=notes,
        lineage=[f"model:{name}/{version} -> onnx:{name}/{version}"],
    )
    return twin, result


def inspect(
    app: AppContext, control: Control, path: str | None, name: str | None, version: str | None
) -> m.InspectResult:
    """onnx_inspect: a file in the workspace, or a registered version's twin."""
    if (path is None) == (name is None):
        raise InvalidInput("Give either `path` or `name` with `version`.")
    if path is not None:
        if version is not None:
            raise InvalidInput("`version` goes with `name`, not with `path`.")
        resolved = app.workspace.resolve(path, must_exist=True)
        if not resolved.is_file():
            raise InvalidInput("`path` must be an .onnx file, not a folder.")
        return adapter.inspect_file(resolved, app.workspace.display(resolved))
    assert name is not None
    if version is None:
        raise InvalidInput("Give `version` with `name`.")
    mm.check_model_name(name)
    twin = mm.onnx_twin(app, name, mm.check_version(version), convert=False)
    result = adapter.inspect_file(twin.path, f"onnx:{name}/{twin.version}")
    result.twin = m.TwinInfo(
        name=name,
        version=twin.version,
        task=twin.task,
        columns=twin.columns[:100],
        inputs=[m.SpecInput(**i) for i in twin.spec["inputs"][:50]],
    )
    return result


def benchmark(
    app: AppContext, control: Control, name: str, version: str, batch_sizes: list[int], repeats: int
) -> m.BenchmarkResult:
    """onnx_benchmark: onnxruntime vs the native model's predict on the same training rows, per batch size."""
    mm.check_model_name(name)
    mv = mm.get_version(app, name, mm.check_version(version))
    twin = mm.onnx_twin(app, name, str(mv.version), convert=False)
    loaded = mm.load_run_model(app, mv.run_id)
    frame = adapter.training_rows(app, loaded, limit=max(batch_sizes))
    session = open_session(twin)
    results = adapter.time_batches(session, twin, loaded.model, frame, batch_sizes, repeats, control)
    control.step(len(batch_sizes), len(batch_sizes), "done")
    return m.BenchmarkResult(
        name=name,
        version=twin.version,
        estimator=loaded.estimator,
        runtime=adapter.runtime_versions(),
        note="latency of one call on a prepared feed (onnxruntime) vs predict on a DataFrame (scikit-learn); "
        "same rows, same thread",
        results=results,
    )


def log_onnx_file(
    app: AppContext, control: Control, path: Path, name: str, feature_names: list[str] | None = None
) -> str:
    """Log a user's ONNX file in a new run of the server's experiment (the registry registers it): run id.

    `feature_names` names the columns of a single [N, k] input (else the file's metadata, else x0..)."""
    if feature_names is not None:
        adapter.check_feature_names(feature_names)
    return adapter.log_onnx_file(app, path, app.workspace.display(path), name, feature_names)
