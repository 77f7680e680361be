"""The ONNX twin at run time (shared by the onnx area, deploy and the gateway): load a converted model's folder, build the feed from rows, predict.

Imports only numpy and onnxruntime, inside the functions (the serving gateway uses this module; it never loads scikit-learn,
skl2onnx or MLflow). A twin's folder holds `model.onnx` and `twin.json`:

    {"name": ..., "version": ..., "task": "classification" | "regression", "columns": [...],
     "file": "model.onnx", "spec": {...}}

`spec` (JSON) describes the graph so a feed can be built from rows of {column: value}:

    "inputs":  [{"name": <graph input>, "columns": [<row keys, in order>], "dtype": "float64" |
                 "float32" | "int64" | "string"}, ...]
               (the server's conversions give one [N, 1] input per column for a scikit-learn Pipeline
               with a ColumnTransformer, or one [N, k] input "X" for a bare estimator)
    "outputs": {"label": <name> | null, "probabilities": <name> | null, "value": <name> | null}
    "classes": [...]        the class labels, in the order of the probability columns (classifiers)
    "missing": "string columns: null/NaN -> ''; numeric columns: null -> NaN"
    plus provenance (source run/model, opset, parity figures) that the runtime ignores.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.files import write_text_atomic

if TYPE_CHECKING:
    import numpy as np

TWIN_FILE = "twin.json"
MODEL_FILE = "model.onnx"
Task = Literal["classification", "regression"]
_NUMERIC = ("float64", "float32", "int64")


@dataclass(frozen=True)
class OnnxTwin:
    name: str
    version: str
    path: Path  # the local model.onnx
    task: Task
    columns: list[str]  # feature columns in the order the model expects
    spec: dict[str, Any]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "columns": list(self.columns),
            "file": self.path.name,
            "spec": self.spec,
        }


def load_twin(folder: Path) -> OnnxTwin:
    """The twin in `folder` (its twin.json); ValueError when the folder holds no usable twin."""
    folder = Path(folder)
    try:
        data = json.loads((folder / TWIN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"No readable {TWIN_FILE} in the twin's folder ({type(err).__name__}).") from None
    file = str(data.get("file") or MODEL_FILE)
    if "/" in file or "\\" in file or file.startswith("."):
        raise ValueError(f"{TWIN_FILE} names a model file outside its folder.")
    task = data.get("task")
    if task not in ("classification", "regression"):
        raise ValueError(f"{TWIN_FILE} has an unknown task {task!r}.")
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("inputs"), list):
        raise ValueError(f"{TWIN_FILE} has no input spec.")
    return OnnxTwin(
        name=str(data["name"]),
        version=str(data["version"]),
        path=folder / file,
        task=task,
        columns=[str(c) for c in data.get("columns", [])],
        spec=spec,
    )


def write_twin(folder: Path, twin: OnnxTwin) -> None:
    """Write twin.json beside the model (temp name, fsync, rename)."""
    write_text_atomic(Path(folder) / TWIN_FILE, json.dumps(twin.to_json(), indent=2, sort_keys=True))


def open_session(twin_or_path: OnnxTwin | Path, *, threads: int | None = None) -> Any:
    """An onnxruntime session on the CPU provider (telemetry off)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    path = twin_or_path.path if isinstance(twin_or_path, OnnxTwin) else Path(twin_or_path)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def make_feed(twin: OnnxTwin, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The onnxruntime feed for `rows` (each a {column: value} dict with exactly the twin's columns).

    Raises ValueError (one sentence) on a missing, extra or ill-typed column.
    """
    import numpy as np

    if not isinstance(rows, list) or not rows:
        raise ValueError("Give at least one row (a list of {column: value} objects).")
    expected = set(twin.columns)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"Row {i} is not an object of {{column: value}}.")
        if len(row) != len(expected) or row.keys() != expected:
            missing = [c for c in twin.columns if c not in row]
            if missing:
                raise ValueError(f"Row {i} lacks column {missing[0]!r}; the model needs {twin.columns[:20]}.")
            extra = sorted(str(k) for k in row if k not in expected)
            raise ValueError(f"Row {i} has column {extra[0]!r}, which the model does not take.")
    feed: dict[str, np.ndarray] = {}
    for spec in twin.spec["inputs"]:
        cols = spec["columns"]
        dtype = spec["dtype"]
        if dtype == "string":
            out = np.empty((len(rows), len(cols)), dtype=object)
            for i, row in enumerate(rows):
                for j, col in enumerate(cols):
                    value = row[col]
                    if _is_missing(value):
                        out[i, j] = ""
                    elif isinstance(value, str):
                        out[i, j] = value
                    else:
                        raise ValueError(f"Row {i}: column {col!r} takes text, not {_show(value)}.")
            feed[spec["name"]] = out
            continue
        if dtype not in _NUMERIC:
            raise ValueError(f"The twin's input {spec['name']!r} has an unsupported type {dtype!r}.")
        values = np.empty((len(rows), len(cols)), dtype=np.float64)
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                value = row[col]
                if _is_missing(value):
                    values[i, j] = np.nan
                elif isinstance(value, (bool, int, float, np.integer, np.floating)):
                    values[i, j] = float(value)
                else:
                    raise ValueError(f"Row {i}: column {col!r} takes a number, not {_show(value)}.")
        if dtype == "int64":
            if np.isnan(values).any():
                raise ValueError("An integer column of the model got a missing value.")
            feed[spec["name"]] = values.astype(np.int64)
        else:
            feed[spec["name"]] = values.astype(dtype)
    return feed


def run(session: Any, twin: OnnxTwin, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw outputs by name for a prepared feed."""
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feed), strict=True))


def predictions(twin: OnnxTwin, outputs: dict[str, Any], rows: int) -> list[Any]:
    """One label (classifiers) or value (regressors) per row, as plain Python scalars, from raw outputs."""
    return output_arrays(twin, outputs, rows)[0].tolist()  # type: ignore[no-any-return]


def predict(
    session: Any, twin: OnnxTwin, rows: list[dict[str, Any]], *, probabilities: bool = False
) -> list[Any]:
    """Labels (classifiers) or values (regressors) as plain Python scalars, one per row.

    With `probabilities=True` a classifier gives [{"label": ..., "probabilities": {class: p}}, ...].
    """
    import numpy as np

    outputs = run(session, twin, make_feed(twin, rows))
    if twin.task == "regression" or not probabilities:
        return predictions(twin, outputs, len(rows))
    names = twin.spec.get("outputs", {})
    labels = np.asarray(outputs[names.get("label") or next(iter(outputs))]).ravel().tolist()
    prob_name = names.get("probabilities")
    if prob_name is None:
        return [{"label": lb, "probabilities": None} for lb in labels]
    probs = np.asarray(outputs[prob_name], dtype=np.float64)
    classes = [str(c) for c in twin.spec.get("classes", range(probs.shape[1]))]
    return [
        {"label": lb, "probabilities": {c: float(p) for c, p in zip(classes, row, strict=False)}}
        for lb, row in zip(labels, probs, strict=True)
    ]


def column_feed(twin: OnnxTwin, columns: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The onnxruntime feed from whole columns (batch scoring): `columns` maps each of the twin's columns
    to a 1-D array of `rows` values: text as an object array (None for a missing value), numbers as
    float64 (NaN for a missing value). The same inputs, order and types as `make_feed`, and the same
    missing-value rule (text -> '', numbers -> NaN; an int64 input refuses a missing value).

    Raises ValueError (one sentence) naming a missing column or a missing value in an integer input.
    """
    import numpy as np

    missing = [c for c in twin.columns if c not in columns]
    if missing:
        raise ValueError(f"Column {missing[0]!r} is missing; the model needs {twin.columns[:20]}.")
    feed: dict[str, np.ndarray] = {}
    for spec in twin.spec["inputs"]:
        cols = spec["columns"]
        dtype = spec["dtype"]
        if dtype == "string":
            out = np.empty((rows, len(cols)), dtype=object)
            for j, col in enumerate(cols):
                values = columns[col]
                if values.dtype == object:
                    values = np.where(np.equal(values, np.array(None, dtype=object)), "", values)
                out[:, j] = values
            feed[spec["name"]] = out
            continue
        if dtype not in _NUMERIC:
            raise ValueError(f"The twin's input {spec['name']!r} has an unsupported type {dtype!r}.")
        stacked = np.empty((rows, len(cols)), dtype=np.float64)
        for j, col in enumerate(cols):
            stacked[:, j] = columns[col]
        if dtype == "int64":
            if np.isnan(stacked).any():
                bad = cols[int(np.argwhere(np.isnan(stacked))[0][1])]
                raise ValueError(
                    f"Column {bad!r} feeds an integer input of the model and has a missing value."
                )
            feed[spec["name"]] = stacked.astype(np.int64)
        else:
            feed[spec["name"]] = stacked.astype(dtype, copy=False)
    return feed


def output_arrays(
    twin: OnnxTwin, outputs: dict[str, np.ndarray], rows: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(one prediction per row, the class probabilities as a rows x classes float64 matrix or None) from raw
    outputs: a classifier's labels and probabilities (columns in the order of spec["classes"]), a
    regressor's first value column. The same outputs as `predict` reads."""
    import numpy as np

    names = twin.spec.get("outputs", {})
    if twin.task == "regression":
        value = outputs[names.get("value") or next(iter(outputs))]
        return np.asarray(value, dtype=np.float64).reshape(rows, -1)[:, 0], None
    labels = np.asarray(outputs[names.get("label") or next(iter(outputs))]).reshape(rows)
    prob_name = names.get("probabilities")
    if prob_name is None:
        return labels, None
    return labels, np.asarray(outputs[prob_name], dtype=np.float64).reshape(rows, -1)


def class_names(twin: OnnxTwin, width: int) -> list[str]:
    """The class labels as text, one per probability column (their positions when the twin names none)."""
    return [str(c) for c in twin.spec.get("classes", range(width))][:width]
