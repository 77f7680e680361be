"""The onnx area's adapter over skl2onnx, onnx and onnxruntime (and MLflow, for where twins are kept).

Plain blocking functions (no MCP imports), run from tools.py in a worker thread.

Conversion (`convert_version`): the registered version's scikit-learn model (loaded with the evaluation
area's skops trusted-type check) goes through skl2onnx:
- a Pipeline with a ColumnTransformer gets one [N, 1] input per feature column, named after it: text
  columns (those one-hot encoded) as strings, numeric ones as float64 (float32 for tree ensembles: scikit-
  learn's trees compare float32 features anyway, and onnxruntime's tree operators compute in float);
  a bare estimator gets one [N, k] input "X";
- classifiers without ZipMap (labels + a probability matrix);
- a numeric SimpleImputer with double inputs is written with standard ONNX ops (IsNaN + Where), since
  onnxruntime's Imputer takes float only; a text imputer's missing marker becomes "" (the feed turns
  null/NaN text into "").
Parity: the ONNX and native predictions on rows of the model's training data must agree within an
absolute plus relative tolerance of 1e-5 (probabilities or values), with every label equal (except at
exact probability ties); otherwise the conversion is refused (Conflict).
The ONNX model is logged to MLflow in the source version's run (a LoggedModel tagged
`onnx_of=<name>/<version>`, with twin.json beside it), the source version gets tags pointing at it, and
lineage records model:<name>/<version> -> onnx:<name>/<version>.

Cross-area contract 1: `onnx_twin(app, name, version, convert=True) -> OnnxTwin` (a local file under
`<home>/cache/onnx/<name>/<version>/`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.blocking import StepControl, stdout_to_stderr
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.tools.onnx import models as m
from mcp_server.tools.onnx.runtime import (
    MODEL_FILE,
    TWIN_FILE,
    OnnxTwin,
    load_twin,
    make_feed,
    open_session,
    write_twin,
)
from mcp_server.tools.registry import adapter as reg

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

ATOL = 1e-5
RTOL = 1e-5
ML_OPSET = 3  # ai.onnx.ml: 3 keeps tree thresholds in double where the inputs are double
MIN_OPSET = 9
_TREE_HINTS = ("Forest", "Trees", "GradientBoosting", "DecisionTree")
_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_CONVERTER_LOCK = threading.Lock()
_CONVERTER_READY = False


def _lock_for(app: AppContext, name: str, version: str) -> threading.Lock:
    key = (str(app.settings.home), name, version)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def cache_dir(app: AppContext, name: str, version: str) -> Path:
    return app.settings.home / "cache" / "onnx" / name / version


def max_opset() -> int:
    from skl2onnx import get_latest_tested_opset_version

    return int(get_latest_tested_opset_version())


# ---------------------------------------------------------------------------------------------------
# Safety: external data stays inside the model's folder
# ---------------------------------------------------------------------------------------------------


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attr_tensors(node.attribute)


def _attr_tensors(attributes: Any) -> Iterator[Any]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for sub in attr.graphs:
            yield from _graph_tensors(sub)


def _all_tensors(model: Any) -> Iterator[Any]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _attr_tensors(node.attribute)


def external_data_check(model: Any, folder: Path) -> tuple[bool, list[str], str]:
    """(safe, external files, detail): every external-data location must resolve inside `folder`."""
    from onnx import TensorProto

    base = folder.resolve()
    files: list[str] = []
    for tensor in _all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if not location:
            return False, files, f"tensor {tensor.name!r} has external data without a location"
        rel = Path(location)
        if rel.is_absolute() or ".." in rel.parts or location.startswith(("/", "\\")):
            return False, files, f"tensor {tensor.name!r} keeps its data at {location!r}, outside the folder"
        target = (base / rel).resolve()
        if not target.is_relative_to(base):
            return False, files, f"tensor {tensor.name!r} keeps its data at {location!r}, outside the folder"
        if location not in files:
            files.append(location)
    return (
        True,
        files,
        "no external data" if not files else f"{len(files)} external file(s) inside the folder",
    )


def load_checked(path: Path) -> Any:
    """The ONNX model at `path` with its external data, after the external-data check (InvalidInput)."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise InvalidInput(f"{path.name} is not a readable ONNX model ({type(err).__name__}).") from None
    safe, files, detail = external_data_check(model, path.parent)
    if not safe:
        raise InvalidInput(f"Refused {path.name}: {detail}; external data must stay in the model's folder.")
    if files:
        try:
            load_external_data_for_model(model, str(path.parent))
        except Exception as err:
            raise InvalidInput(
                f"{path.name}'s external data cannot be read ({type(err).__name__})."
            ) from None
    return model


# ---------------------------------------------------------------------------------------------------
# skl2onnx: the conversion
# ---------------------------------------------------------------------------------------------------


def _install_double_imputer() -> None:
    """A numeric SimpleImputer on double inputs as IsNaN + Where (onnxruntime's Imputer is float-only).

    Other inputs (float, int, strings) keep skl2onnx's own converter.
    """
    global _CONVERTER_READY
    with _CONVERTER_LOCK:
        if _CONVERTER_READY:
            return
        import numpy as np
        from skl2onnx.common._registration import get_converter, register_converter
        from skl2onnx.common.data_types import DoubleTensorType
        from skl2onnx.operator_converters.common import concatenate_variables
        from skl2onnx.proto import onnx_proto

        original = get_converter("SklearnSimpleImputer")

        def convert_simple_imputer(scope: Any, operator: Any, container: Any) -> None:
            op = operator.raw_operator
            missing = op.missing_values
            nan_marker = isinstance(missing, float) and missing != missing
            if not isinstance(operator.inputs[0].type, DoubleTensorType) or not nan_marker:
                return original(scope, operator, container)  # type: ignore[no-any-return]
            x = concatenate_variables(scope, operator.inputs, container)
            stats = scope.get_unique_variable_name("imputed_values")
            values = np.asarray(op.statistics_, dtype=np.float64)
            container.add_initializer(stats, onnx_proto.TensorProto.DOUBLE, [len(values)], values.tolist())
            isnan = scope.get_unique_variable_name("isnan")
            container.add_node("IsNaN", [x], [isnan], op_version=9)
            container.add_node("Where", [isnan, stats, x], [operator.outputs[0].full_name], op_version=9)
            return None

        register_converter("SklearnSimpleImputer", convert_simple_imputer, overwrite=True)
        _CONVERTER_READY = True


def _final_estimator(model: Any) -> Any:
    return model.steps[-1][1] if hasattr(model, "steps") else model


def _column_kinds(model: Any, features: list[str]) -> tuple[bool, dict[str, str]]:
    """(per-column inputs?, {column: "text" | "number"}) from the fitted model's own preprocessing."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    kinds = {c: "number" for c in features}
    if not isinstance(model, Pipeline) or not isinstance(model.steps[0][1], ColumnTransformer):
        return False, kinds
    pre: ColumnTransformer = model.steps[0][1]
    for _, trans, cols in pre.transformers_:
        if isinstance(cols, str):
            cols = [cols]
        steps = trans.steps if isinstance(trans, Pipeline) else [(None, trans)]
        if any(isinstance(t, OneHotEncoder) for _, t in steps):
            for col in cols:
                if isinstance(col, str):
                    kinds[col] = "text"
    return True, kinds


def _prepared_copy(model: Any) -> Any:
    """A deep copy whose text imputers mark missing values as "" (skl2onnx needs a string marker)."""
    from sklearn.impute import SimpleImputer

    twin = copy.deepcopy(model)
    stack = [twin]
    while stack:
        obj = stack.pop()
        if isinstance(obj, SimpleImputer):
            stats = getattr(obj, "statistics_", None)
            if stats is not None and getattr(stats, "dtype", None) is not None and stats.dtype == object:
                obj.missing_values = ""
            continue
        for attr in ("steps", "transformers_"):
            for item in getattr(obj, attr, []) or []:
                stack.append(item[1])
    return twin


def _spec_inputs(
    per_column: bool, kinds: dict[str, str], features: list[str], dtype: str
) -> list[dict[str, Any]]:
    if not per_column:
        return [{"name": "X", "columns": list(features), "dtype": dtype}]
    return [
        {"name": col, "columns": [col], "dtype": "string" if kinds[col] == "text" else dtype}
        for col in features
    ]


def _initial_types(inputs: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    types = {"float64": DoubleTensorType, "float32": FloatTensorType, "string": StringTensorType}
    return [(spec["name"], types[spec["dtype"]]([None, len(spec["columns"])])) for spec in inputs]


def _plain(value: Any) -> Any:
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def _native_outputs(model: Any, X: Any, task: str) -> tuple[Any, Any]:
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = np.asarray(model.predict(X))
        proba = (
            np.asarray(model.predict_proba(X), dtype=np.float64)
            if task == "classification" and hasattr(model, "predict_proba")
            else None
        )
    return pred, proba


def parity(
    twin: OnnxTwin, session: Any, rows: list[dict[str, Any]], native_pred: Any, native_proba: Any
) -> m.Parity:
    """Compare the ONNX outputs with the native model's on the same rows."""
    import numpy as np

    from mcp_server.tools.onnx.runtime import run

    outputs = run(session, twin, make_feed(twin, rows))
    names = twin.spec["outputs"]
    tol = f"|onnx - native| <= {ATOL:g} + {RTOL:g} * |native|"
    if twin.task == "regression":
        onnx_values = np.asarray(outputs[names["value"]], dtype=np.float64).reshape(len(rows), -1)[:, 0]
        native = np.asarray(native_pred, dtype=np.float64).reshape(len(rows), -1)[:, 0]
        diff = np.abs(onnx_values - native)
        ok = bool(np.all(diff <= ATOL + RTOL * np.abs(native)))
        return m.Parity(
            rows=len(rows), max_abs_diff=float(diff.max()), label_agreement=None, passed=ok, tolerance=tol
        )
    labels = np.asarray(outputs[names["label"]]).ravel()
    agree = labels.astype(str) == np.asarray(native_pred).ravel().astype(str)
    max_diff = None
    within = True
    if native_proba is not None and names.get("probabilities"):
        probs = np.asarray(outputs[names["probabilities"]], dtype=np.float64)
        diff = np.abs(probs - native_proba)
        max_diff = float(diff.max())
        within = bool(np.all(diff <= ATOL + RTOL * np.abs(native_proba)))
        # A label may differ only where the native top two probabilities tie within the tolerance.
        top2 = np.sort(native_proba, axis=1)[:, -2:] if native_proba.shape[1] > 1 else None
        ties = (top2[:, 1] - top2[:, 0] <= 2 * ATOL) if top2 is not None else np.zeros(len(rows), bool)
        labels_ok = bool(np.all(agree | ties))
    else:
        labels_ok = bool(np.all(agree))
    return m.Parity(
        rows=len(rows),
        max_abs_diff=max_diff,
        label_agreement=float(agree.mean()),
        passed=within and labels_ok,
        tolerance=tol + "; every label equal (except at probability ties)",
    )


def training_rows(app: AppContext, loaded: Any, limit: int | None = None) -> Any:
    """Up to `limit` rows (the model's feature columns) of the table the model was trained on."""
    from mcp_server.core.tables import read_table
    from mcp_server.tools.evaluation.adapter import TAG as EVAL_TAG

    client = reg.client_of(app)
    run = reg.call(app, lambda: client.get_run(loaded.run_id), not_found="The version's run is gone.")
    shown = run.data.tags.get(EVAL_TAG + "dataset_path")
    if not shown or shown == "<outside>":
        raise InvalidInput(
            "The version's training data is not known (it was registered from a file), so parity "
            "cannot be checked; register a run from evaluation_train_model instead."
        )
    if shown.startswith("<home>/"):
        path = app.workspace.resolve(str(app.settings.home / shown[len("<home>/") :]))
    else:
        path = app.workspace.resolve(shown)
    if not path.is_file():
        raise InvalidInput(
            f"The training table {shown!r} is no longer in the workspace; parity needs its rows."
        )
    df = read_table(path, max_rows=app.settings.max_rows, max_bytes=app.settings.max_file_bytes)
    df.columns = [str(c) for c in df.columns]
    missing = [c for c in loaded.features if c not in df.columns]
    if missing:
        raise InvalidInput(f"The training table no longer has the model's column(s) {missing[:5]}.")
    limit = limit or app.settings.onnx_parity_rows
    return df[loaded.features].head(limit).reset_index(drop=True)


def _records(frame: Any) -> list[dict[str, Any]]:
    import numpy as np

    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: _plain(v) if isinstance(v, np.generic) else v for k, v in row.items()} for row in rows]


def convert_model(
    model: Any, features: list[str], task: str, opset: int | None, name: str, version: str
) -> tuple[bytes, dict[str, Any], list[str]]:
    """(ONNX bytes, spec, notes) for a fitted scikit-learn model; tries float64 inputs, then float32."""
    from skl2onnx import convert_sklearn

    _install_double_imputer()
    per_column, kinds = _column_kinds(model, features)
    estimator = _final_estimator(model)
    tree = any(h in type(estimator).__name__ for h in _TREE_HINTS)
    dtypes = ["float32"] if tree else ["float64", "float32"]
    target = {"": int(opset or max_opset()), "ai.onnx.ml": ML_OPSET}
    notes: list[str] = []
    last_error = ""
    for dtype in dtypes:
        inputs = _spec_inputs(per_column, kinds, features, dtype)
        prepared = _prepared_copy(model)
        options = None
        if task == "classification":
            options = {id(_final_estimator(prepared)): {"zipmap": False}}
        try:
            with stdout_to_stderr(), _quiet():
                onx = convert_sklearn(
                    prepared, initial_types=_initial_types(inputs), options=options, target_opset=target
                )
            data = onx.SerializeToString()
            session = open_session_bytes(data)
        except Exception as err:  # an unsupported operator, type or opset: try the next input type
            last_error = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            notes.append(f"{dtype} inputs: {last_error}")
            continue
        out_names = [o.name for o in session.get_outputs()]
        outputs: dict[str, Any]
        if task == "classification":
            outputs = {
                "label": out_names[0],
                "probabilities": out_names[1] if len(out_names) > 1 else None,
                "value": None,
            }
        else:
            outputs = {"label": None, "probabilities": None, "value": out_names[0]}
        spec: dict[str, Any] = {
            "format": 1,
            "inputs": [
                {**spec_in, "name": real.name}
                for spec_in, real in zip(inputs, session.get_inputs(), strict=True)
            ],
            "outputs": outputs,
            "missing": "string columns: null/NaN -> ''; numeric columns: null -> NaN",
            "opset": target[""],
            "ml_opset": ML_OPSET,
        }
        if task == "classification":
            spec["classes"] = [_plain(c) for c in getattr(estimator, "classes_", [])]
        if dtype == "float32" and not tree:
            notes.append("converted with float32 inputs (the double-precision form was not runnable)")
        return data, spec, notes
    raise InvalidInput(
        f"skl2onnx cannot convert {name}/{version} ({type(estimator).__name__}): {last_error or 'unsupported'}."
    )


def open_session_bytes(data: bytes) -> Any:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _task(loaded_task: str) -> str:
    return "classification" if loaded_task in ("classifier", "classification") else "regression"


def convert_version(
    app: AppContext, name: str, version: str, opset: int | None, control: StepControl | None = None
) -> tuple[OnnxTwin, m.ConvertResult]:
    """Convert, check parity, log to MLflow, tag the source version, cache locally, record lineage."""
    from mcp_server.core.lineage import make_id, record_edge
    from mcp_server.tools.evaluation.adapter import load_run_model

    if opset is not None and not MIN_OPSET <= opset <= max_opset():
        raise InvalidInput(f"opset must be between {MIN_OPSET} and {max_opset()}, not {opset}.")
    mv = reg.get_version(app, name, version)
    version = str(mv.version)
    if mv.tags.get(reg.SOURCE_TAG) == "onnx_file":
        raise InvalidInput(f"{name}/{version} is already an ONNX model; inspect it with onnx_inspect.")
    if not mv.run_id:
        raise InvalidInput(f"{name}/{version} has no run with a scikit-learn model to convert.")
    _step(control, 0, "loading the scikit-learn model")
    loaded = load_run_model(app, mv.run_id)
    task = _task(loaded.task)
    if not loaded.features:
        raise InvalidInput(f"{name}/{version}'s model does not record its feature columns; it cannot be fed.")
    frame = training_rows(app, loaded)
    rows = _records(frame)
    native_pred, native_proba = _native_outputs(loaded.model, frame, task)
    _step(control, 1, "converting with skl2onnx")
    data, spec, notes = convert_model(loaded.model, loaded.features, task, opset, name, version)
    session = open_session_bytes(data)
    folder_tmp = Path(tempfile.mkdtemp(prefix="onnx-", dir=_ensure(app.settings.home / "cache" / "onnx")))
    try:
        (folder_tmp / MODEL_FILE).write_bytes(data)
        twin = OnnxTwin(
            name=name,
            version=version,
            path=folder_tmp / MODEL_FILE,
            task=task,  # type: ignore[arg-type]
            columns=list(loaded.features),
            spec=spec,
        )
        _step(control, 2, "checking parity on training rows")
        check = parity(twin, session, rows, native_pred, native_proba)
        if not check.passed:
            raise Conflict(
                f"The ONNX conversion of {name}/{version} fails the parity check on {check.rows} training rows "
                f"(max_abs_diff {check.max_abs_diff}, label_agreement {check.label_agreement}); not saved."
            )
        spec["source"] = {"run_id": mv.run_id, "model_id": getattr(mv, "model_id", None)}
        spec["parity"] = check.model_dump()
        write_twin(folder_tmp, twin)
        _step(control, 3, "logging the ONNX model to MLflow")
        model_id, uri = _log_twin(app, mv.run_id, name, version, folder_tmp)
        spec["onnx_model_id"] = model_id
        write_twin(folder_tmp, twin)
        client = reg.client_of(app)
        reg.call(app, lambda: client.set_model_version_tag(name, version, reg.ONNX_MODEL_TAG, model_id))
        reg.call(app, lambda: client.set_model_version_tag(name, version, reg.ONNX_URI_TAG, uri))
        reg.call(
            app, lambda: client.set_model_version_tag(name, version, reg.ONNX_OPSET_TAG, str(spec["opset"]))
        )
        final = _install_cache(app, name, version, folder_tmp)
    finally:
        shutil.rmtree(folder_tmp, ignore_errors=True)
    record_edge(
        app.store,
        make_id("model", name, version),
        make_id("onnx", name, version),
        "converted",
        {"opset": spec["opset"], "max_abs_diff": check.max_abs_diff, "onnx_model_id": model_id},
    )
    twin = load_twin(final)
    _step(control, 4, "done")
    return (
        twin,
        m.ConvertResult(
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
        ),
    )


def _step(control: StepControl | None, done: int, message: str) -> None:
    if control is not None:
        control.step(done, 4, message)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _log_twin(app: AppContext, run_id: str, name: str, version: str, folder: Path) -> tuple[str, str]:
    """Log the ONNX model (twin.json beside it) as a LoggedModel of the source run; (model_id, location)."""
    import onnx
    import onnxruntime

    from mcp_server.core.tracking import fluent

    model = onnx.load(str(folder / MODEL_FILE))
    with fluent(app) as mlflow, stdout_to_stderr(), _quiet():
        import mlflow.onnx

        with mlflow.start_run(run_id=run_id):
            info = mlflow.onnx.log_model(
                model,
                name=f"onnx-v{version}",
                pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"],
                extra_files=[str(folder / TWIN_FILE)],
                save_as_external_data=False,
                tags={reg.ONNX_OF_TAG: f"{name}/{version}"},
            )
    model_id = str(info.model_id)
    location = str(getattr(info, "artifact_path", "") or f"models:/{model_id}")
    return model_id, location


def _install_cache(app: AppContext, name: str, version: str, source: Path) -> Path:
    """Copy model.onnx + twin.json into <home>/cache/onnx/<name>/<version>/ (swap in a new folder)."""
    final = cache_dir(app, name, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    for file in (MODEL_FILE, TWIN_FILE):
        shutil.copy2(source / file, staging / file)
    old = final.parent / f".{version}-old-{os.getpid()}-{time.monotonic_ns()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _download_twin(app: AppContext, name: str, version: str, model_id: str) -> Path:
    """Fetch a logged twin (model.onnx, twin.json) from MLflow into the cache, checked."""
    from mcp_server.core.tracking import fluent

    client = reg.client_of(app)
    logged = reg.call(
        app,
        lambda: client.get_logged_model(model_id),
        not_found=f"The ONNX twin of {name}/{version} ({model_id}) is gone from MLflow; convert it again.",
    )
    with tempfile.TemporaryDirectory(
        prefix="onnx-dl-", dir=_ensure(app.settings.home / "cache" / "onnx")
    ) as tmp:
        with fluent(app) as mlflow, stdout_to_stderr():
            import mlflow.artifacts

            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=logged.artifact_location, dst_path=tmp)
            )
        onnx_files = sorted(local.glob("*.onnx"))
        if not onnx_files:
            raise NotFound(f"The ONNX twin of {name}/{version} has no .onnx file.")
        load_checked(onnx_files[0])  # external data check before anything uses it
        if onnx_files[0].name != MODEL_FILE:
            os.replace(onnx_files[0], local / MODEL_FILE)
        twin_file = local / TWIN_FILE
        extra = local / "extra_files" / TWIN_FILE  # where MLflow keeps extra_files
        if not twin_file.is_file() and extra.is_file():
            os.replace(extra, twin_file)
        if not twin_file.is_file():
            raise NotFound(f"The ONNX twin of {name}/{version} has no {TWIN_FILE}; convert it again.")
        twin = load_twin(local)
        twin.spec["onnx_model_id"] = model_id
        write_twin(local, OnnxTwin(name, version, local / MODEL_FILE, twin.task, twin.columns, twin.spec))
        return _install_cache(app, name, version, local)


def onnx_twin(app: AppContext, name: str, version: str, *, convert: bool = True) -> OnnxTwin:
    """Contract 1: the ONNX twin of `name`/`version` as a local file, converting it when it has none.

    Raises Conflict (parity failed), NotFound (no such version; or no twin and convert=False),
    InvalidInput (not convertible).
    """
    mv = reg.get_version(app, name, version)
    version = str(mv.version)
    with _lock_for(app, name, version):
        model_id = mv.tags.get(reg.ONNX_MODEL_TAG)
        folder = cache_dir(app, name, version)
        if model_id:
            with contextlib.suppress(ValueError, OSError, KeyError):
                cached = load_twin(folder)
                if cached.spec.get("onnx_model_id") == model_id and cached.path.is_file():
                    return cached
            return load_twin(_download_twin(app, name, version, model_id))
        if not convert:
            raise NotFound(f"{name}/{version} has no ONNX twin yet; create it with onnx_convert.")
        twin, _ = convert_version(app, name, version, None)
        return twin


def convert_tool(
    app: AppContext, name: str, version: str, opset: int | None, control: StepControl
) -> m.ConvertResult:
    """onnx_convert: always converts anew (e.g. another opset) and replaces the twin."""
    number = reg.check_version(version)
    reg.check_model_name(name)
    with _lock_for(app, name, number):
        _, result = convert_version(app, name, number, opset, control)
    return result


# ---------------------------------------------------------------------------------------------------
# Inspect and benchmark
# ---------------------------------------------------------------------------------------------------

_ELEM = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
}


def _value_info(v: Any) -> m.TensorInfo:
    t = v.type
    if t.HasField("tensor_type"):
        dims: list[int | str | None] = []
        for d in t.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(d.dim_param)
            else:
                dims.append(None)
        return m.TensorInfo(
            name=v.name, type=_ELEM.get(t.tensor_type.elem_type, str(t.tensor_type.elem_type)), shape=dims
        )
    kind = t.WhichOneof("value")
    return m.TensorInfo(name=v.name, type=str(kind), shape=None)


def _op_counts(model: Any) -> Counter[str]:
    counts: Counter[str] = Counter()

    def walk(graph: Any) -> None:
        for node in graph.node:
            key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            counts[key] += 1
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return counts


def inspect_file(path: Path, shown: str) -> m.InspectResult:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise InvalidInput(f"{shown} is not a readable ONNX model ({type(err).__name__}).") from None
    safe, files, detail = external_data_check(model, path.parent)
    size = path.stat().st_size
    if safe:
        for rel in files:
            with contextlib.suppress(OSError):
                size += (path.parent / rel).stat().st_size
    counts = _op_counts(model)
    initializer_names = {t.name for t in model.graph.initializer}
    return m.InspectResult(
        path=shown,
        ir_version=int(model.ir_version),
        opset={(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        producer=f"{model.producer_name} {model.producer_version}".strip() or None,
        inputs=[_value_info(v) for v in model.graph.input if v.name not in initializer_names][:100],
        outputs=[_value_info(v) for v in model.graph.output][:100],
        operators=dict(counts.most_common(60)),
        nodes=sum(counts.values()),
        size_bytes=size,
        external_data_files=files[:50],
        safe=safe,
        safety=detail if safe else f"refused: {detail}",
    )


def inspect(
    app: AppContext, path: Path | None, shown: str | None, name: str | None, version: str | None
) -> m.InspectResult:
    if path is not None:
        assert shown is not None
        return inspect_file(path, shown)
    assert name is not None and version is not None
    twin = onnx_twin(app, name, version, convert=False)
    result = inspect_file(twin.path, f"onnx:{name}/{twin.version}")
    result.twin = m.TwinInfo(
        name=name,
        version=twin.version,
        task=twin.task,
        columns=twin.columns[:100],
        inputs=[m.SpecInput(**i) for i in twin.spec["inputs"][:50]],
    )
    return result


def benchmark(
    app: AppContext, name: str, version: str, batch_sizes: list[int], repeats: int, control: StepControl
) -> m.BenchmarkResult:
    """onnxruntime vs the native model's predict on the same training rows, per batch size."""
    import numpy as np

    from mcp_server.tools.evaluation.adapter import load_run_model
    from mcp_server.tools.onnx.runtime import run

    mv = reg.get_version(app, name, version)
    twin = onnx_twin(app, name, str(mv.version), convert=False)
    loaded = load_run_model(app, mv.run_id)
    frame = training_rows(app, loaded, limit=max(batch_sizes))
    session = open_session(twin)
    results: list[m.BenchmarkRow] = []
    for i, size in enumerate(batch_sizes):
        control.step(i, len(batch_sizes), f"batch size {size}")
        reps = max(1, len(frame))
        idx = [j % reps for j in range(size)]
        batch = frame.iloc[idx].reset_index(drop=True)
        feed = make_feed(twin, _records(batch))
        n = max(5, min(repeats, int(2000 / max(size, 1)) + 5))
        run(session, twin, feed)  # warm-up
        with _quiet():
            loaded.model.predict(batch)
        onnx_t: list[float] = []
        native_t: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            run(session, twin, feed)
            onnx_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with _quiet():
                loaded.model.predict(batch)
            native_t.append(time.perf_counter() - t0)
        o50 = float(np.median(onnx_t)) * 1000
        n50 = float(np.median(native_t)) * 1000
        results.append(
            m.BenchmarkRow(
                batch_size=size,
                repeats=n,
                onnx_p50_ms=o50,
                onnx_p95_ms=float(np.percentile(onnx_t, 95)) * 1000,
                native_p50_ms=n50,
                native_p95_ms=float(np.percentile(native_t, 95)) * 1000,
                onnx_rows_per_s=size / (o50 / 1000) if o50 > 0 else None,
                native_rows_per_s=size / (n50 / 1000) if n50 > 0 else None,
                speedup=n50 / o50 if o50 > 0 else None,
            )
        )
    control.step(len(batch_sizes), len(batch_sizes), "done")
    return m.BenchmarkResult(
        name=name,
        version=twin.version,
        estimator=loaded.estimator,
        runtime=_runtime_versions(),
        note="latency of one call on a prepared feed (onnxruntime) vs predict on a DataFrame (scikit-learn); "
        "same rows, same thread",
        results=results,
    )


def _runtime_versions() -> str:
    import onnxruntime
    import sklearn

    return f"onnxruntime {onnxruntime.__version__}, scikit-learn {sklearn.__version__}"


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
