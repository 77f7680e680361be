"""The onnx area's adapter over skl2onnx, onnx and onnxruntime (and MLflow, where twins are logged).

Plain blocking functions (no MCP imports), called by service.py.

Conversion (`convert_model`): the registered version's scikit-learn model (loaded with the server's skops
trusted-type check, core/mlmodels.py) goes through skl2onnx:
- a Pipeline with a ColumnTransformer gets one [N, 1] input per feature column, named after it: text
  columns (those one-hot encoded) as strings, numeric ones as float64 (float32 for tree ensembles: scikit-
  learn's trees compare float32 features anyway, and onnxruntime's tree operators compute in float);
  a bare estimator gets one [N, k] input "X";
- classifiers without ZipMap (labels + a probability matrix);
- a numeric SimpleImputer with double inputs is written with standard ONNX ops (IsNaN + Where), since
  onnxruntime's Imputer takes float only; a text imputer's missing marker becomes "" (the feed turns
  null/NaN text into "").
Parity (`parity`): the ONNX and native predictions on rows of the model's training data must agree within
an absolute plus relative tolerance of 1e-5 (probabilities or values), with every label equal (except at
exact probability ties); otherwise the conversion is refused (Conflict).
The ONNX model is logged to MLflow in the source version's run (`log_twin`: a LoggedModel tagged
`onnx_of=<name>/<version>`, with twin.json beside it). The twin lookup (cache, MLflow) is in core/mlmodels.py.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.blocking import stdout_to_stderr
from mcp_server.core.errors import InvalidInput
from mcp_server.core.mlmodels import (
    LOGGED_BY,
    LOGGED_BY_TAG,
    ONNX_OF_TAG,
    TAG,
    external_data_check,
    load_checked,
    quiet_warnings,
)
from mcp_server.core.twin import MODEL_FILE, TWIN_FILE, OnnxTwin, make_feed, run, write_twin
from mcp_server.core.values import plain
from mcp_server.tools.onnx import models as m

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.mlmodels import LoadedModel

ATOL = 1e-5
RTOL = 1e-5
ML_OPSET = 3  # ai.onnx.ml: 3 keeps tree thresholds in double where the inputs are double
MIN_OPSET = 9
_TREE_HINTS = ("Forest", "Trees", "GradientBoosting", "DecisionTree")
_CONVERTER_LOCK = threading.Lock()
_CONVERTER_READY = False


def max_opset() -> int:
    from skl2onnx import get_latest_tested_opset_version

    return int(get_latest_tested_opset_version())


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


def native_outputs(model: Any, X: Any, task: str) -> tuple[Any, Any]:
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


def training_rows(app: AppContext, loaded: LoadedModel, limit: int | None = None) -> Any:
    """Up to `limit` rows (the model's feature columns) of the table the model was trained on."""
    from mcp_server.core.tables import TableLimits, read_table

    stored = loaded.tags.get(TAG + "dataset_path")
    if not stored or stored == "<outside>":
        raise InvalidInput(
            "The version's training data is not known (it was registered from a file), so parity "
            "cannot be checked; register a run from evaluation_train_model instead."
        )
    if stored.startswith("<home>/"):  # runs logged before paths were stored relative
        stored = "home:" + stored.removeprefix("<home>/")
    path = app.workspace.resolve(str(app.workspace.from_stored(stored)))
    shown = app.workspace.display(path)
    if not path.is_file():
        raise InvalidInput(
            f"The training table {shown!r} is no longer in the workspace; parity needs its rows."
        )
    df = read_table(path, TableLimits.of(app.settings))
    df.columns = [str(c) for c in df.columns]
    missing = [c for c in loaded.features if c not in df.columns]
    if missing:
        raise InvalidInput(f"The training table no longer has the model's column(s) {missing[:5]}.")
    limit = limit or app.settings.onnx_parity_rows
    return df[loaded.features].head(limit).reset_index(drop=True)


def records(frame: Any) -> list[dict[str, Any]]:
    """A frame's rows as {column: value} with None for missing values (the runtime's feed input)."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: plain(v, chars=None) for k, v in row.items()} for row in rows]


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
            with stdout_to_stderr(), quiet_warnings():
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
            spec["classes"] = [plain(c, chars=None) for c in getattr(estimator, "classes_", [])]
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


def task_of(loaded_task: str) -> str:
    return "classification" if loaded_task in ("classifier", "classification") else "regression"


def log_twin(app: AppContext, run_id: str, name: str, version: str, folder: Path) -> tuple[str, str]:
    """Log the ONNX model (twin.json beside it) as a LoggedModel of the source run; (model_id, location)."""
    import onnx

    from mcp_server.core.tracking import fluent

    model = onnx.load(str(folder / MODEL_FILE))
    with fluent(app) as mlflow, stdout_to_stderr(), quiet_warnings():
        import mlflow.onnx

        with mlflow.start_run(run_id=run_id):
            info = mlflow.onnx.log_model(
                model,
                name=f"onnx-v{version}",
                pip_requirements=_requirements(),
                extra_files=[str(folder / TWIN_FILE)],
                save_as_external_data=False,
                tags={ONNX_OF_TAG: f"{name}/{version}"},
            )
    model_id = str(info.model_id)
    location = str(getattr(info, "artifact_path", "") or f"models:/{model_id}")
    return model_id, location


def _requirements() -> list[str]:
    import onnx
    import onnxruntime

    return [f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"]


def log_onnx_file(
    app: AppContext, path: Path, shown: str, name: str, feature_names: list[str] | None = None
) -> str:
    """Log a user's ONNX file (external data checked) in a new run, with a twin.json derived from its graph
    (feature names: `feature_names`, else the model's metadata, else x0..; see `spec_from_graph`)."""
    import onnx

    from mcp_server.core.tracking import experiment_id, fluent

    model = load_checked(path)
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise InvalidInput(
            f"{shown!r} is not a valid ONNX model ({str(err).splitlines()[0][:150]})."
        ) from None
    with tempfile.TemporaryDirectory(prefix="onnx-file-") as tmp:
        folder = Path(tmp)
        spec, columns, task = spec_from_graph(model, feature_names, shown)
        if spec is None and feature_names is not None:
            raise InvalidInput(
                f"{shown!r} has inputs that are not [N, k] tensors of numbers or text, so feature_names cannot "
                "name its columns; leave feature_names out."
            )
        extra = []
        if spec is not None:
            write_twin(folder, OnnxTwin(name, "0", folder / MODEL_FILE, task, columns, spec))
            extra = [str(folder / TWIN_FILE)]
        exp = experiment_id(app)
        tags = {LOGGED_BY_TAG: LOGGED_BY, TAG + "origin": "onnx_file", TAG + "file": shown[:500]}
        with fluent(app) as mlflow, stdout_to_stderr(), quiet_warnings():
            import mlflow.onnx

            with mlflow.start_run(experiment_id=exp, run_name=f"file-{path.stem}"[:100], tags=tags) as run:
                mlflow.onnx.log_model(
                    model,
                    name="model",
                    pip_requirements=_requirements(),
                    extra_files=extra or None,
                    save_as_external_data=False,
                )
                return str(run.info.run_id)


FEATURE_NAME_KEYS = ("feature_names", "features", "columns")  # metadata_props keys read for a [N, k] input


def _names_from_metadata(model: Any, width: int) -> list[str] | None:
    """Feature names the model file records itself: a metadata_props entry (JSON list or comma-separated)."""
    import json

    props = {p.key: p.value for p in model.metadata_props}
    for key in FEATURE_NAME_KEYS:
        text = props.get(key)
        if not text:
            continue
        try:
            names = json.loads(text)
        except ValueError:
            names = [part.strip() for part in text.split(",")]
        if (
            isinstance(names, list)
            and len(names) == width
            and all(isinstance(n, str) and n for n in names)
            and len(set(names)) == width
        ):
            return names
    return None


def check_feature_names(names: list[str]) -> list[str]:
    """feature_names as given by a caller: non-empty, unique text of at most 128 characters each."""
    if not names or len(names) > 10_000:
        raise InvalidInput("feature_names must list between 1 and 10000 column names.")
    for n in names:
        if not isinstance(n, str) or not n.strip() or len(n) > 128 or "\x00" in n:
            raise InvalidInput(
                f"feature_names has an empty or over-long name ({str(n)[:40]!r}); use short column names."
            )
    seen: set[str] = set()
    dup = next((n for n in names if n in seen or seen.add(n)), None)  # type: ignore[func-returns-value]
    if dup is not None:
        raise InvalidInput(f"feature_names names {dup!r} twice; each column needs its own name.")
    return names


def spec_from_graph(
    model: Any, feature_names: list[str] | None = None, shown: str = "the model"
) -> tuple[dict[str, Any] | None, list[str], Any]:
    """A twin spec for a user's ONNX file: its feature columns in the order the graph takes them.

    One column per [N, 1] input (named after the input). A single [N, k] input's k columns are named by
    `feature_names` (checked against k), else by the file's own metadata (`metadata_props` "feature_names",
    "features" or "columns": a JSON list or comma-separated), else x0..x(k-1). `feature_names` given for a
    graph of [N, 1] inputs must list the input names (in any order): there the inputs already name them.
    """
    from onnx import TensorProto

    kinds = {
        TensorProto.FLOAT: "float32",
        TensorProto.DOUBLE: "float64",
        TensorProto.INT64: "int64",
        TensorProto.STRING: "string",
    }
    init = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in init]
    spec_inputs: list[dict[str, Any]] = []
    columns: list[str] = []
    for v in inputs:
        tt = v.type.tensor_type
        dtype = kinds.get(tt.elem_type)
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if dtype is None or len(dims) != 2 or dims[1] is None:
            return None, [], "regression"
        if dims[1] == 1 and not (
            len(inputs) == 1 and feature_names is not None and feature_names != [v.name]
        ):
            cols = [v.name]
        elif len(inputs) == 1:
            if feature_names is not None:
                if len(feature_names) != dims[1]:
                    raise InvalidInput(
                        f"feature_names lists {len(feature_names)} names, but {shown!r} takes {dims[1]} columns "
                        f"in its input {v.name!r}; give exactly {dims[1]}, in the input's column order."
                    )
                cols = list(feature_names)
            else:
                cols = _names_from_metadata(model, dims[1]) or [f"x{i}" for i in range(dims[1])]
        else:
            return None, [], "regression"
        spec_inputs.append({"name": v.name, "columns": cols, "dtype": dtype})
        columns.extend(cols)
    if feature_names is not None and len(inputs) > 1 and sorted(feature_names) != sorted(columns):
        raise InvalidInput(
            f"{shown!r} takes one input per column, named {columns[:20]}; feature_names must list those names "
            "(or leave it out)."
        )
    outs = list(model.graph.output)
    label = next((o.name for o in outs if o.name == "label"), None)
    probs = next((o.name for o in outs if o.name in ("probabilities", "output_probability")), None)
    task = "classification" if label else "regression"
    outputs = (
        {"label": label, "probabilities": probs, "value": None}
        if label
        else {"label": None, "probabilities": None, "value": outs[0].name if outs else None}
    )
    return (
        {"format": 1, "inputs": spec_inputs, "outputs": outputs, "missing": "numeric null -> NaN"},
        columns,
        task,
    )


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


def time_batches(
    session: Any,
    twin: OnnxTwin,
    model: Any,
    frame: Any,
    batch_sizes: list[int],
    repeats: int,
    control: Control,
) -> list[m.BenchmarkRow]:
    """onnxruntime vs the native model's predict on the same rows, per batch size."""
    import numpy as np

    results: list[m.BenchmarkRow] = []
    for i, size in enumerate(batch_sizes):
        control.step(i, len(batch_sizes), f"batch size {size}")
        reps = max(1, len(frame))
        idx = [j % reps for j in range(size)]
        batch = frame.iloc[idx].reset_index(drop=True)
        feed = make_feed(twin, records(batch))
        n = max(5, min(repeats, int(2000 / max(size, 1)) + 5))
        run(session, twin, feed)  # warm-up
        with quiet_warnings():
            model.predict(batch)
        onnx_t: list[float] = []
        native_t: list[float] = []
        for _ in range(n):
            t0 = time.perf_counter()
            run(session, twin, feed)
            onnx_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with quiet_warnings():
                model.predict(batch)
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
    return results


def runtime_versions() -> str:
    import onnxruntime
    import sklearn

    return f"onnxruntime {onnxruntime.__version__}, scikit-learn {sklearn.__version__}"
