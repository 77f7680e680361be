"""Batch scoring's library work: pyarrow record batches through a version's ONNX twin with onnxruntime, in
this process (arrow) or inside each Spark partition (mapInArrow).

The twin is loaded and its columns mapped to the graph's inputs by the shared runtime (core/twin.py:
load_twin, open_session, column_feed, output_arrays), as the gateway and deploy_predict do; this module
only turns Arrow columns into those arrays and the outputs back into an Arrow batch. pyarrow, numpy,
onnxruntime and pyspark are imported inside the functions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from mcp_server.core.twin import OnnxTwin

PREDICTION = "prediction"
PROBABILITY = "probability_"
# onnxruntime's tensor element types -> Arrow, for a classifier's label output
_LABEL_TYPES = {
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(string)": "string",
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(bool)": "bool_",
}


@dataclass(frozen=True)
class Scorer:
    """One loaded version and the shape of its output batches."""

    twin: OnnxTwin
    session: Any
    keys: list[str]
    schema: pa.Schema  # keys, prediction, probability_<class>...
    classes: list[str]  # class labels of the probability columns (empty for a regressor / no probabilities)


def _show_names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def check_input(twin: OnnxTwin, schema: pa.Schema, keys: list[str], what: str) -> None:
    """Refuse, in one sentence, an input that lacks the model's columns or a key column, or whose column
    types the model cannot take (text where it takes numbers, and the reverse)."""
    import pyarrow as pa

    names = list(schema.names)
    missing = [c for c in twin.columns if c not in names]
    if missing:
        raise InvalidInput(
            f"{what} lacks the model's column(s) {_show_names(missing)}; the model expects "
            f"{_show_names(twin.columns)}."
        )
    absent = [k for k in keys if k not in names]
    if absent:
        raise InvalidInput(
            f"The key column(s) {_show_names(absent)} are not in {what}; its columns are {_show_names(names)}."
        )
    dtypes = {c: spec["dtype"] for spec in twin.spec["inputs"] for c in spec["columns"]}
    for col in twin.columns:
        typ = schema.field(col).type
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
        number = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)
        number = number or pa.types.is_decimal(typ) or pa.types.is_null(typ)
        if dtypes.get(col) == "string" and not (text or pa.types.is_null(typ)):
            raise InvalidInput(f"Column {col!r} of {what} holds {typ} values; the model takes text there.")
        if dtypes.get(col) != "string" and not number:
            raise InvalidInput(f"Column {col!r} of {what} holds {typ} values; the model takes numbers there.")


def output_names(twin: OnnxTwin, session: Any) -> tuple[str, list[str]]:
    """(the Arrow type name of the prediction column, the class labels that get a probability column)."""
    from mcp_server.core.twin import class_names

    names = twin.spec.get("outputs", {})
    if twin.task == "regression":
        return "float64", []
    outputs = {o.name: o for o in session.get_outputs()}
    label = outputs.get(names.get("label") or "") or session.get_outputs()[0]
    label_type = _LABEL_TYPES.get(label.type, "string")
    prob = outputs.get(names.get("probabilities") or "")
    if prob is None:
        return label_type, []
    width = (
        prob.shape[-1]
        if prob.shape and isinstance(prob.shape[-1], int)
        else len(twin.spec.get("classes", []))
    )
    return label_type, class_names(twin, width)


def output_schema(key_fields: list[pa.Field], label_type: str, classes: list[str]) -> pa.Schema:
    """The output's schema: the key columns as they are, `prediction`, one `probability_<class>` per class.
    Refuses a key column whose name an output column takes."""
    import pyarrow as pa

    outputs = [PREDICTION, *(PROBABILITY + c for c in classes)]
    clash = [f.name for f in key_fields if f.name in outputs]
    if clash:
        raise InvalidInput(
            f"The key column {clash[0]!r} has the name of an output column ({', '.join(outputs[:5])}); "
            "rename it in the input or leave it out of key_columns."
        )
    if len(set(outputs)) != len(outputs):
        raise InvalidInput(
            "Two of the model's classes give the same column name; the output cannot hold both."
        )
    return pa.schema(
        [
            *key_fields,
            pa.field(PREDICTION, getattr(pa, label_type)()),
            *(pa.field(PROBABILITY + c, pa.float64()) for c in classes),
        ]
    )


def load_scorer(
    folder: Path, keys: list[str], key_fields: list[pa.Field], threads: int | None = None
) -> Scorer:
    """The twin in `folder` with its onnxruntime session, ready to score batches with `keys` kept."""
    from mcp_server.core.twin import load_twin, open_session

    twin = load_twin(folder)
    session = open_session(twin, threads=threads)
    label_type, classes = output_names(twin, session)
    return Scorer(twin, session, keys, output_schema(key_fields, label_type, classes), classes)


def _arrays(twin: OnnxTwin, batch: pa.RecordBatch) -> dict[str, Any]:
    """The twin's columns of `batch` as numpy: text as objects (None when missing), numbers as float64 (NaN)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dtypes = {c: spec["dtype"] for spec in twin.spec["inputs"] for c in spec["columns"]}
    out: dict[str, Any] = {}
    for col in twin.columns:
        arr = batch.column(col)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if dtypes.get(col) == "string":
            out[col] = arr.cast(pa.string()).to_numpy(zero_copy_only=False)
        else:
            values = pc.cast(arr, pa.float64()) if not pa.types.is_float64(arr.type) else arr
            out[col] = values.to_numpy(zero_copy_only=False)
    return out


def score(scorer: Scorer, batch: pa.RecordBatch) -> pa.RecordBatch:
    """One input batch scored: its key columns, the predictions and (classifiers) the probabilities."""
    import pyarrow as pa

    from mcp_server.core.twin import column_feed, output_arrays, run

    rows = batch.num_rows
    try:
        feed = column_feed(scorer.twin, _arrays(scorer.twin, batch), rows)
    except ValueError as err:
        raise InvalidInput(str(err)) from None
    labels, probs = output_arrays(scorer.twin, run(scorer.session, scorer.twin, feed), rows)
    fields = scorer.schema
    arrays: list[Any] = []
    for k in scorer.keys:  # Spark may hand text over as large_string: the output keeps the schema's type
        column = batch.column(k)
        wanted = fields.field(k).type
        arrays.append(column if column.type == wanted else column.cast(wanted))
    arrays.append(pa.array(labels, type=fields.field(PREDICTION).type))
    for j, _cls in enumerate(scorer.classes):
        arrays.append(pa.array(probs[:, j] if probs is not None else [None] * rows, type=pa.float64()))
    return pa.RecordBatch.from_arrays(arrays, schema=fields)


def scored_batches(
    scorer: Scorer, data: Any, batch_rows: int, on_batch: Any = None
) -> Iterator[pa.RecordBatch]:
    """Every batch of `data` (a pyarrow dataset, read `batch_rows` at a time, only the columns needed)
    scored; `on_batch(rows)` after each."""
    needed = list(dict.fromkeys([*scorer.keys, *scorer.twin.columns]))
    for batch in data.to_batches(columns=needed, batch_size=batch_rows):
        if batch.num_rows == 0:
            continue
        out = score(scorer, batch)
        if on_batch is not None:
            on_batch(batch.num_rows)
        yield out


def reader(scorer: Scorer, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatchReader:
    import pyarrow as pa

    return pa.RecordBatchReader.from_batches(scorer.schema, batches)


# -- Spark: onnxruntime inside each partition ---------------------------------------------------------


def _partition(
    folder: str, keys: list[str], schema_bytes: bytes, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """mapInArrow's function: one session per task (one thread: Spark runs a task per core), every batch
    of the partition scored."""
    import pyarrow as pa

    schema = pa.ipc.read_schema(pa.py_buffer(schema_bytes))
    key_fields = [schema.field(k) for k in keys]
    scorer = load_scorer(Path(folder), keys, key_fields, threads=1)
    for batch in batches:
        if batch.num_rows:
            yield score(scorer, batch)


def spark_schema(schema: pa.Schema) -> Any:
    """Spark's struct type for an Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def frame_schema(frame: Any) -> pa.Schema:
    """The Arrow schema Spark hands a frame's rows over as (to check the input as on the arrow path)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        return to_arrow_schema(frame.schema)
    except Exception as err:  # a type Arrow cannot carry (a map of structs, an interval)
        raise InvalidInput(f"Spark cannot hand this input over as Arrow ({str(err)[:160]}).") from None


def spark_score(frame: Any, twin: OnnxTwin, keys: list[str], schema: pa.Schema) -> Any:
    """The frame's rows scored in each partition (mapInArrow); a lazy DataFrame with `schema`'s columns.
    Executors load the twin from the same path (local mode; on a cluster the home must be shared)."""
    needed = list(dict.fromkeys([*keys, *twin.columns]))
    fn = functools.partial(_partition, str(twin.folder), keys, schema.serialize().to_pybytes())
    return frame.select(*needed).mapInArrow(fn, spark_schema(schema))
