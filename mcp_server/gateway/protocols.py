"""The request formats other model servers' clients speak, parsed into a `Batch` for the shared predict path
(`Gateway.predict` in app.py) and shaped back into each protocol's answer.

- MLflow's scoring protocol (`mlflow models serve`, POST /invocations; matched to
  mlflow/pyfunc/scoring_server/__init__.py): a JSON object with exactly one of `dataframe_split`,
  `dataframe_records`, `instances`, `inputs` (plus an ignored `params`), or `Content-Type: text/csv` with a
  header row; the answer is `{"predictions": [...]}`, bad input gets `{"error_code": ..., "message": ...}`,
  an unsupported content type or charset 415 text/plain, as MLflow answers them.
- The Open Inference Protocol v2 (KServe, Triton, MLServer; REST): tensors `{"name", "shape", "datatype",
  "data"}` with Triton's binary tensor extension (`Inference-Header-Content-Length`), which tritonclient
  uses by default. The model's own graph inputs are accepted, or one `[N, 1]` (or `[N]`) input per feature.

Nothing here imports MLflow or pandas (the gateway stays light): JSON with orjson when installed (the stdlib
for what orjson refuses, see `loads`/`dumps`), CSV with the csv module, tensors with numpy.
"""

from __future__ import annotations

import csv
import io
import json
import math
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from mcp_server.gateway.app import (
    COLUMNAR_ROWS,
    BadRequest,
    Batch,
    Bound,
    Loaded,
    Matrix,
    Rows,
    Table,
    cached_bind,
    clean_columns,
    matrix_of,
)

try:
    import orjson as _orjson
except ImportError:  # the serve extra brings it; without it the stdlib parses and writes every body
    _orjson = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import numpy as np

MAX_COLUMNS = 10_000  # features per row (CSV header, tensor width, inputs per request)

# -- JSON bodies ------------------------------------------------------------------------------------------


def loads(body: bytes) -> Any:
    """A JSON body, read by orjson when it is installed (the `serve` extra) and takes the body; anything orjson
    refuses (NaN and Infinity literals, numbers past float64's range, deep nesting, a BOM, other encodings)
    is read by the stdlib parser, so such bodies get exactly the answers they got before: the value checks
    name a NaN row, and only what the stdlib refuses is invalid JSON. One difference: orjson reads an integer
    past 64 bits as the nearest float (the number the model gets anyway; an int64 input refuses it either way).
    """
    if _orjson is not None:
        try:
            return _orjson.loads(body)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(body)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity refused (ValueError) as Starlette's JSONResponse does.

    orjson writes NaN and Infinity as null, and refuses what the stdlib converts (non-str keys, integers past
    64 bits): any such value, and any answer with a null in it, is written (or refused) by the stdlib instead.
    """
    if _orjson is not None:
        try:
            out: bytes = _orjson.dumps(value)
        except _orjson.JSONEncodeError:
            pass
        else:
            if b"null" not in out:
                return out
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json", headers=headers)


def _check_size(n: int, max_batch: int) -> None:
    if n == 0:
        raise BadRequest(400, "The batch is empty; send at least one row.")
    if n > max_batch:
        raise BadRequest(400, f"The batch has {n} rows, over the limit of {max_batch}; split it.")


# -- MLflow scoring protocol ------------------------------------------------------------------------------

DF_SPLIT, DF_RECORDS, INSTANCES, INPUTS = "dataframe_split", "dataframe_records", "instances", "inputs"
SUPPORTED_FORMATS = (DF_RECORDS, DF_SPLIT, INSTANCES, INPUTS)
REQUIRED_INPUT_FORMAT = (
    f"The input must be a JSON dictionary with exactly one of the input fields {set(SUPPORTED_FORMATS)}"
)
CONTENT_TYPES = ["text/csv", "application/json"]
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


class Unsupported(Exception):
    """MLflow answers these with 415 and a text/plain sentence."""


def mlflow_error(status: int, message: str) -> Response:
    return json_response({"error_code": MLFLOW_CODES.get(status, "BAD_REQUEST"), "message": message}, status)


class Columns(Batch):
    """{column: [values]} (MLflow's `inputs`/`instances` as columns): bound to whole columns when the names
    are the version's columns and the values are ones `clean_column` takes, else to row dicts."""

    def __init__(self, names: list[str], values: list[list[Any]]) -> None:
        self.names = names
        self.values = values
        self.size = len(values[0]) if values else 0

    def bind(self, loaded: Loaded) -> Bound:
        return cached_bind(self, loaded, lambda: self._bind(loaded))  # type: ignore[no-any-return]

    def _bind(self, loaded: Loaded) -> Bound:
        index = {name: j for j, name in enumerate(self.names)}
        if self.size >= COLUMNAR_ROWS and len(index) == len(loaded.twin.columns):
            columns = clean_columns(loaded, lambda name: self.values[index[name]])
            if columns is not None:
                return columns
        return [dict(zip(self.names, row, strict=True)) for row in zip(*self.values, strict=True)]


class CsvRows(Batch):
    """CSV rows (text cells) typed by the routed version's inputs, as MLflow reads CSV with a schema's dtypes:
    numbers for number columns, text for text columns, an empty cell as a missing value."""

    def __init__(self, header: list[str], cells: list[list[str]]) -> None:
        self.header = header
        self.cells = cells
        self.size = len(cells)

    def bind(self, loaded: Loaded) -> list[dict[str, Any]]:
        kinds = [loaded.dtypes.get(c, "string") for c in self.header]
        rows = []
        for i, line in enumerate(self.cells):
            row: dict[str, Any] = {}
            for col, kind, cell in zip(self.header, kinds, line, strict=True):
                if cell == "":
                    row[col] = None
                elif kind == "string":
                    row[col] = cell
                else:
                    try:
                        row[col] = int(cell) if kind == "int64" else float(cell)
                    except ValueError:
                        try:
                            row[col] = float(cell)
                        except ValueError:
                            shown = cell if len(cell) <= 40 else cell[:37] + "..."
                            raise ValueError(
                                f"Row {i}: column {col!r} takes a number, not {shown!r}"
                            ) from None
            rows.append(row)
        return rows


def _names(columns: Any, what: str) -> list[str]:
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadRequest(400, f"Invalid input. {what} must be a list of column names.")
    if len(set(columns)) != len(columns):
        raise BadRequest(400, f"Invalid input. {what} names a column twice.")
    if len(columns) > MAX_COLUMNS:
        raise BadRequest(
            400, f"Invalid input. {what} has {len(columns)} columns, over the limit of {MAX_COLUMNS}."
        )
    return columns


def _from_columns(data: dict[str, Any]) -> Batch:
    """{column: [values]} (MLflow's column format; a value may be a one-element list, as an [N, 1] tensor)."""
    names = _names(list(data), "The input")
    values = list(data.values())
    if not all(isinstance(v, list) for v in values):
        raise BadRequest(400, "Invalid input. Each input/column must map to a list of values, one per row.")
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise BadRequest(
            400, "Invalid input. The length of values for each input/column name are not the same"
        )
    flat = [
        [v[0] if isinstance(v, list) and len(v) == 1 else v for v in col]
        if list in set(map(type, col))
        else col
        for col in values
    ]
    return Columns(names, flat)


def _from_list(data: list[Any], what: str) -> Batch:
    """A list of records ({column: value}), of rows ([values] in the model's order) or of scalars (one column)."""
    kinds = set(map(type, data))  # parsed JSON: exact types
    if kinds <= {dict}:
        return Rows(data)
    if kinds <= {list}:
        return Table(None, data)
    if not kinds & {list, dict}:
        return Table(None, [[v] for v in data])
    raise BadRequest(
        400, f"Invalid input. {what} must be a list of records, a list of rows or a list of values."
    )


def mlflow_batch(body: bytes, content_type: str | None, max_batch: int) -> Batch:
    """Parse an /invocations body as MLflow's scoring server does; BadRequest (400) or Unsupported (415)."""
    parts = [p.strip() for p in (content_type or "").split(";")]
    mime, params = parts[0].lower(), dict(p.partition("=")[::2] for p in parts[1:] if p)
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise Unsupported("The scoring server only supports UTF-8")
    if unexpected := set(params).difference({"charset"}):
        raise Unsupported(f"Unrecognized content type parameters: {', '.join(sorted(unexpected))}.")
    if mime == "text/csv":
        batch = _csv_batch(body)
    elif mime == "application/json":
        batch = _json_batch(body)
    else:
        raise Unsupported(
            f"This predictor only supports the following content types: Types: {CONTENT_TYPES}. "
            f"Got '{content_type}'."
        )
    _check_size(batch.size, max_batch)
    return batch


def _json_batch(body: bytes) -> Batch:
    try:
        payload = loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(
            400,
            "Invalid input. Ensure that input is a valid JSON formatted string (and not nested too deeply).",
        ) from None
    if isinstance(payload, list):
        raise BadRequest(400, f"{REQUIRED_INPUT_FORMAT}. Received a list.")
    if not isinstance(payload, dict):
        raise BadRequest(
            400, f"{REQUIRED_INPUT_FORMAT}. Received unexpected input type '{type(payload).__name__}'."
        )
    keys = [k for k in payload if k in SUPPORTED_FORMATS]
    if len(keys) != 1:
        shown = [str(k)[:40] for k in list(payload)[:10]]
        raise BadRequest(400, f"{REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: {shown}.")
    key = keys[0]
    data = payload[key]
    if key == DF_SPLIT:
        if not isinstance(data, dict):
            raise BadRequest(
                400, f"Invalid input. Dataframe split format must be a dictionary. Got {type(data).__name__}."
            )
        extra = set(data).difference({"columns", "data", "index"})
        if "data" not in data or extra:
            raise BadRequest(
                400,
                "Invalid input. Dataframe split format must have 'data' field and optionally 'columns' and "
                f"'index' fields. Got {sorted(str(k)[:40] for k in data)[:10]}.",
            )
        rows = data["data"]
        if not isinstance(rows, list):
            raise BadRequest(400, "Invalid input. Dataframe split 'data' must be a list of rows.")
        if "columns" not in data or data["columns"] is None:
            return _from_list(rows, "Dataframe split 'data'")
        columns = _names(data["columns"], "Dataframe split 'columns'")
        if len(columns) == 1 and not any(isinstance(r, list) for r in rows):
            rows = [[v] for v in rows]
        if not set(map(type, rows)) <= {list} or not set(map(len, rows)) <= {len(columns)}:
            raise BadRequest(
                400,
                f"Invalid input. Each row of dataframe split 'data' must have {len(columns)} values, one per column.",
            )
        return Table(columns, rows)
    if key == DF_RECORDS:
        if not isinstance(data, list):
            raise BadRequest(
                400,
                f"Invalid input. Dataframe records format must be a list of records. Got {type(data).__name__}.",
            )
        return _from_list(data, "Dataframe records")
    # instances / inputs (TF-serving style): records, rows, or {column: [values]}
    if isinstance(data, dict):
        return _from_columns(data)
    if isinstance(data, list):
        return _from_list(data, f"'{key}'")
    raise BadRequest(400, f"Invalid input. '{key}' must be a list of rows or an object of columns.")


def _csv_batch(body: bytes) -> Batch:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "Invalid input. Ensure that input is a valid UTF-8 encoded string.") from None
    try:
        lines = [line for line in csv.reader(io.StringIO(text)) if line]
    except csv.Error as err:
        raise BadRequest(
            400, f"Failed to parse input as CSV ({err}); send a header row and one line per row."
        ) from None
    if not lines:
        raise BadRequest(
            400, "The CSV body is empty; send a header row of column names and one line per row."
        )
    header = _names(lines[0], "The CSV header")
    for i, line in enumerate(lines[1:]):
        if len(line) != len(header):
            raise BadRequest(
                400, f"CSV line {i + 2} has {len(line)} cells for {len(header)} columns in the header."
            )
    return CsvRows(header, lines[1:])


def mlflow_answer(predictions: list[Any]) -> Response:
    return json_response({"predictions": predictions})


def unsupported(message: str) -> Response:
    return Response(message, status_code=415, media_type="text/plain")


# -- Open Inference Protocol v2 ---------------------------------------------------------------------------

V2_TYPES = {
    "BOOL": "bool",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "object",
}
TWIN_TO_V2 = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "string": "BYTES"}
ORT_TO_V2 = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(float16)": "FP16",
    "tensor(string)": "BYTES",
}


# A request's tensors as `_fast_tensors` reads them: names, shapes, the values as one float64 array and
# whether that array is [inputs, N] (several one-feature inputs) or [N, k] (one input).
Block = tuple[list[str], list[list[int]], "np.ndarray", bool]
_NUMERIC_KINDS = frozenset("biuf")


class Tensors(Batch):
    """v2 input tensors by name; `bind` maps them onto the version's columns: a graph input by its own name
    ([N, k], k its columns; [N] when k is 1) or one [N, 1] / [N] tensor per feature column.

    A request of the common shape (FP32/FP64 JSON tensors, see `_fast_tensors`) arrives as one `block`
    instead of per-tensor arrays; for a one-matrix version it binds straight to a `Matrix`, and the
    per-tensor arrays are made only when another version (or a refusal) needs them."""

    def __init__(
        self,
        tensors: dict[str, np.ndarray] | None,
        size: int,
        outputs: list[str] | None,
        block: Block | None = None,
    ) -> None:
        self._tensors = tensors
        self.size = size
        self.outputs = outputs
        self.block = block

    @property
    def tensors(self) -> dict[str, np.ndarray]:
        if self._tensors is None:
            assert self.block is not None
            names, shapes, values, by_input = self.block
            if by_input:
                self._tensors = {n: values[j].reshape(shapes[j]) for j, n in enumerate(names)}
            else:
                self._tensors = {names[0]: values.reshape(shapes[0])}
        return self._tensors

    def bind(self, loaded: Loaded) -> Bound:
        return cached_bind(self, loaded, lambda: self._bind(loaded))  # type: ignore[no-any-return]

    def _bind(self, loaded: Loaded) -> Bound:
        if self.outputs is not None:
            known = list(loaded.outputs) or [o.name for o in loaded.session.get_outputs()]
            for name in self.outputs:
                if name not in known:
                    raise ValueError(f"The model has no output {name!r}; its outputs are {known}")
        if loaded.matrix is not None:
            matrix = self._matrix(loaded)
            if matrix is not None:
                return matrix
        columns: dict[str, np.ndarray] = {}
        used: set[str] = set()
        for spec in loaded.twin.spec["inputs"]:
            cols, name = spec["columns"], spec["name"]
            given = self.tensors.get(name)
            if given is not None and not (len(cols) == 1 and name == cols[0]):
                used.add(name)
                width = given.shape[1] if given.ndim == 2 else 1
                if width != len(cols):
                    raise ValueError(
                        f"Input {name!r} has {width} columns; the model takes {len(cols)} there ({cols[:20]})"
                    )
                for j, col in enumerate(cols):
                    columns[col] = _column(given[:, j] if given.ndim == 2 else given)
                continue
            for col in cols:
                tensor = self.tensors.get(col)
                if tensor is None:
                    raise ValueError(
                        f"Input {col!r} is missing; send the model's input {name!r} as [N, {len(cols)}] or one "
                        f"[N, 1] input per feature: {loaded.twin.columns[:20]}"
                    )
                if tensor.ndim == 2 and tensor.shape[1] != 1:
                    raise ValueError(f"Input {col!r} is one feature: its shape must be [N, 1] or [N]")
                used.add(col)
                columns[col] = _column(tensor.reshape(-1))
        extra = sorted(set(self.tensors) - used)
        if extra:
            raise ValueError(
                f"Input {extra[0]!r} is not an input of the model; it takes {loaded.twin.columns[:20]}"
            )
        return columns

    def _matrix(self, loaded: Loaded) -> Matrix | None:
        """The tensors as one [N, k] matrix in the twin's column order when they are exactly what the loop
        in `_bind` accepts for a one-matrix version (the graph input whole, or one number tensor per
        column) and `matrix_of` takes the values; None sends the request down that loop."""
        import numpy as np

        assert loaded.matrix is not None
        cols, n = loaded.twin.columns, self.size
        graph = None if len(cols) == 1 and loaded.matrix[0] == cols[0] else loaded.matrix[0]
        values: np.ndarray
        if self.block is not None:
            names, _shapes, block, by_input = self.block
            if not by_input:  # one tensor: the graph input [N, k]
                if names[0] != graph or block.shape[1] != len(cols):
                    return None
                values = block
            elif graph in names or len(names) != len(cols):
                return None
            elif names == cols:
                values = block.T
            else:
                where = {name: j for j, name in enumerate(names)}
                if set(where) != set(cols):
                    return None
                values = block[[where[c] for c in cols]].T
        else:
            tensors = self.tensors
            if graph is not None and graph in tensors:
                given = tensors[graph]
                width = given.shape[1] if given.ndim == 2 else 1
                if len(tensors) != 1 or width != len(cols) or given.dtype.kind not in _NUMERIC_KINDS:
                    return None
                values = given.reshape(n, len(cols))
            else:
                if len(tensors) != len(cols) or not all(c in tensors for c in cols):
                    return None
                parts = [tensors[c] for c in cols]
                if any(
                    p.dtype.kind not in _NUMERIC_KINDS or (p.ndim == 2 and p.shape[1] != 1) for p in parts
                ):
                    return None
                values = np.stack([p.reshape(-1) for p in parts], axis=1)
        return matrix_of(loaded, np.ascontiguousarray(values, dtype=np.float64))


_FAST_TYPES = frozenset({"FP32", "FP64"})
_NAME, _SHAPE, _DATATYPE, _DATA = map(itemgetter, ("name", "shape", "datatype", "data"))
_DIGITS = b"0123456789,[]"


def _all_ints(shapes: list[list[Any]]) -> bool:
    """Every dimension of every shape (lists of parsed JSON, each equal to the first, whose dimensions are
    ints) a plain int too: equal is not enough, as [1.0, 1] and [True, 1] equal [1, 1] and `_shape` refuses
    them by name. orjson writes an int as digits only and a float or bool with another character ("." or
    "e", letters), so one write tells them apart, at a tenth of the cost of a pass over every dimension's
    type (which is the answer without orjson, or for an integer orjson does not write)."""
    if _orjson is not None:
        try:
            return not _orjson.dumps(shapes).translate(None, _DIGITS)
        except _orjson.JSONEncodeError:
            pass
    return set(map(type, chain.from_iterable(shapes))) == {int}


def _fast_tensors(inputs: list[Any], max_batch: int) -> Block | None:
    """The common infer request read in a few C-level passes: FP32/FP64 tensors of exactly the fields name,
    shape, datatype and data (a flat list), either one [N, k] (or [N]) tensor or several [N, 1] (or [N])
    tensors of one shape, 1 <= N <= max_batch, distinct names. None for anything else (nested data, binary
    data, parameters, other types, any doubt): the general loop in `v2_batch` then reads the request and
    words every refusal. Values are read as that loop reads them (float64, as np.asarray does), so both
    give the same numbers."""
    import numpy as np

    if not set(map(type, inputs)) <= {dict} or set(map(len, inputs)) != {4}:
        return None
    try:
        names = list(map(_NAME, inputs))
        shapes = list(map(_SHAPE, inputs))
        datatypes = set(map(_DATATYPE, inputs))
        datas = list(map(_DATA, inputs))
    except (KeyError, TypeError):  # TypeError: a datatype that is no text (a list: unhashable)
        return None
    if (
        not datatypes <= _FAST_TYPES
        or set(map(type, names)) != {str}
        or type(shapes[0]) is not list
        or set(map(type, datas)) != {list}
        or len(set(names)) != len(names)
    ):
        return None
    shape = shapes[0]
    if (
        shapes.count(shape) != len(shapes)  # so every shape is a list, as the first is
        or not 1 <= len(shape) <= 2
        or set(map(type, shape)) != {int}
        or not _all_ints(shapes)
    ):
        return None
    n, w = shape[0], shape[1] if len(shape) == 2 else 1
    if not 1 <= n <= max_batch or not 1 <= w <= MAX_COLUMNS or (len(inputs) > 1 and w != 1):
        return None
    if set(map(len, datas)) != {n * w}:
        return None
    try:
        flat = np.fromiter(chain.from_iterable(datas), dtype=np.float64, count=n * w * len(inputs))
    except (TypeError, ValueError, OverflowError):
        return None
    if len(inputs) == 1:
        return names, shapes, flat.reshape(n, w), False
    return names, shapes, flat.reshape(len(inputs), n), True


def _column(values: np.ndarray) -> np.ndarray:
    import numpy as np

    if values.dtype == object:
        return values
    return values.astype(np.float64, copy=False)


def _as_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(400, f"{what} must be a list.")
    return value


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise BadRequest(400, f"Input {name!r}: shape must be [N] or [N, k] with non-negative integers.")
    if len(shape) == 2 and shape[1] > MAX_COLUMNS:
        raise BadRequest(400, f"Input {name!r} has {shape[1]} columns, over the limit of {MAX_COLUMNS}.")
    return shape


def _bytes_tensor(raw: bytes, count: int, name: str) -> np.ndarray:
    """Triton's binary BYTES: each element a 4-byte little-endian length, then its bytes."""
    import numpy as np

    out = np.empty(count, dtype=object)
    pos = 0
    for i in range(count):
        if pos + 4 > len(raw):
            raise BadRequest(400, f"Input {name!r}: the binary BYTES data ends early.")
        size = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(raw):
            raise BadRequest(400, f"Input {name!r}: the binary BYTES data ends early.")
        out[i] = raw[pos : pos + size]
        pos += size
    if pos != len(raw):
        raise BadRequest(400, f"Input {name!r}: binary_data_size does not match its {count} elements.")
    return out


def _text(values: np.ndarray, name: str) -> np.ndarray:
    import numpy as np

    out = np.empty(values.shape, dtype=object)
    flat, dest = values.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat):
        if isinstance(v, bytes):
            try:
                dest[i] = v.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(400, f"Input {name!r}: element {i} is not UTF-8 text.") from None
        elif isinstance(v, str):
            dest[i] = v
        elif v is None:
            dest[i] = None
        else:
            raise BadRequest(
                400, f"Input {name!r} is BYTES: its data must be strings, not {type(v).__name__}."
            )
    return out


def v2_batch(body: bytes, header_length: str | None, max_batch: int) -> tuple[Tensors, dict[str, Any]]:
    """Parse an infer request (JSON, or JSON plus binary tensors); the tensors and the request (for the answer)."""
    import numpy as np

    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(400, "Inference-Header-Content-Length must be the JSON header's size in bytes.")
        cut = int(header_length)
        body, binary = body[:cut], body[cut:]
    try:
        request = loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(400, "The body is not valid JSON (or is nested too deeply).") from None
    if not isinstance(request, dict):
        raise BadRequest(400, 'The infer request must be a JSON object with "inputs".')
    inputs = _as_list(request.get("inputs"), '"inputs"')
    if not inputs:
        raise BadRequest(400, '"inputs" is empty; send one tensor per model input or per feature.')
    if len(inputs) > MAX_COLUMNS:
        raise BadRequest(400, f"The request has {len(inputs)} inputs, over the limit of {MAX_COLUMNS}.")
    wanted = None
    if request.get("outputs") is not None:
        wanted = []
        for out in _as_list(request["outputs"], '"outputs"'):
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                raise BadRequest(400, 'Each of "outputs" must be an object with a "name".')
            wanted.append(out["name"])
    if header_length is None:
        block = _fast_tensors(inputs, max_batch)
        if block is not None:  # values [inputs, N] or [N, k]
            return Tensors(None, block[2].shape[1 if block[3] else 0], wanted, block), request
    tensors: dict[str, np.ndarray] = {}
    size: int | None = None
    offset = 0
    for tensor in inputs:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest(
                400, 'Each of "inputs" must be an object with "name", "shape", "datatype" and "data".'
            )
        name = tensor["name"]
        if name in tensors:
            raise BadRequest(400, f"Input {name!r} is given twice.")
        shape = _shape(tensor, name)
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in V2_TYPES:
            raise BadRequest(
                400,
                f"Input {name!r}: datatype must be one of {sorted(V2_TYPES)}, not {str(datatype)[:20]!r}.",
            )
        n = shape[0]
        if size is None:
            size = n
            _check_size(n, max_batch)
        elif n != size:
            raise BadRequest(
                400, f"Input {name!r} has {n} rows and another input {size}; every input needs the same N."
            )
        count = math.prod(shape)
        params = tensor.get("parameters") or {}
        if not isinstance(params, dict):
            raise BadRequest(400, f"Input {name!r}: parameters must be an object.")
        nbytes = params.get("binary_data_size")
        if nbytes is not None:
            if (
                not isinstance(nbytes, int)
                or isinstance(nbytes, bool)
                or nbytes < 0
                or offset + nbytes > len(binary)
            ):
                raise BadRequest(400, f"Input {name!r}: binary_data_size runs past the end of the body.")
            raw = binary[offset : offset + nbytes]
            offset += nbytes
            if datatype == "BYTES":
                values = _bytes_tensor(raw, count, name)
            else:
                dtype = np.dtype(V2_TYPES[datatype])
                if nbytes != count * dtype.itemsize:
                    raise BadRequest(
                        400, f"Input {name!r}: {nbytes} bytes of binary data for {count} {datatype} elements."
                    )
                values = np.frombuffer(raw, dtype=dtype)
        else:
            if "data" not in tensor:
                raise BadRequest(400, f"Input {name!r} has no data (and no binary_data_size).")
            try:
                # JSON numbers of FP16/FP32 tensors are read at float64, so a value past the model input's
                # range is refused by name (check_columns) instead of arriving as inf.
                wide = {"BYTES": "object", "FP16": "<f8", "FP32": "<f8"}
                values = np.asarray(tensor["data"], dtype=wide.get(datatype, V2_TYPES[datatype]))
            except (TypeError, ValueError, OverflowError):
                raise BadRequest(400, f"Input {name!r}: data does not match datatype {datatype}.") from None
            if values.size != count:
                raise BadRequest(400, f"Input {name!r}: {values.size} values for shape {shape}.")
        if datatype == "BYTES":
            values = _text(values, name)
        tensors[name] = values.reshape(shape)
    if offset != len(binary):
        raise BadRequest(400, "The body has binary data that no input's binary_data_size accounts for.")
    assert size is not None
    return Tensors(tensors, size, wanted), request


_MISSING = "?"
_V2_OF_DTYPE: dict[Any, str | None] = {}  # numpy dtype -> v2 datatype (None: no v2 type), filled on use


def _v2_tensor(name: str, value: Any, binary: bool, chunks: list[bytes]) -> dict[str, Any] | None:
    import numpy as np

    if not isinstance(value, np.ndarray):
        return None  # a sequence or map output (ZipMap) is not a tensor
    datatype: str | None = "BYTES"
    if value.dtype.kind not in "OUS":  # objects and text are BYTES
        datatype = _V2_OF_DTYPE.get(value.dtype, _MISSING)
        if datatype is _MISSING:
            datatype = _V2_OF_DTYPE[value.dtype] = next(
                (
                    k
                    for k, v in V2_TYPES.items()
                    if v != "object" and np.dtype(v) == value.dtype.newbyteorder("<")
                ),
                None,
            )
        if datatype is None:
            return None
    if not binary:
        flat = value.reshape(-1)
        data = [str(v) for v in flat] if datatype == "BYTES" else flat.tolist()
        return {"name": name, "datatype": datatype, "shape": list(value.shape), "data": data}
    out: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(value.shape)}
    if datatype == "BYTES":
        raw = b"".join(len(b).to_bytes(4, "little") + b for b in (str(v).encode() for v in value.reshape(-1)))
    else:
        raw = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    chunks.append(raw)
    out["parameters"] = {"binary_data_size": len(raw)}
    return out


def v2_answer(endpoint: str, version: str, outputs: dict[str, Any], request: dict[str, Any]) -> Response:
    """The infer response; outputs in binary where the request asked (Triton's binary tensor extension)."""
    if len(request) == 1:  # "inputs" alone (v2_batch has read it): every tensor output in JSON, no id
        tensors = [t for t in (_v2_tensor(n, v, False, []) for n, v in outputs.items()) if t is not None]
        return Response(
            dumps({"model_name": endpoint, "model_version": version, "outputs": tensors}),
            media_type="application/json",
        )
    given = request.get("parameters")
    params: dict[str, Any] = given if isinstance(given, dict) else {}
    default_binary = bool(params.get("binary_data_output", False))
    asked: dict[str, bool] | None = None
    if request.get("outputs") is not None:
        asked = {}
        for o in request["outputs"]:
            p = o.get("parameters") if isinstance(o.get("parameters"), dict) else {}
            asked[o["name"]] = bool(p.get("binary_data", default_binary))
    chunks: list[bytes] = []
    tensors = []
    for name, value in outputs.items():
        if asked is not None and name not in asked:
            continue
        shaped = _v2_tensor(name, value, asked[name] if asked is not None else default_binary, chunks)
        if shaped is not None:
            tensors.append(shaped)
    answer: dict[str, Any] = {"model_name": endpoint, "model_version": version, "outputs": tensors}
    if isinstance(request.get("id"), str):
        answer["id"] = request["id"]
    header = dumps(answer)
    if not chunks:
        return Response(header, media_type="application/json")
    return Response(
        b"".join([header, *chunks]),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def v2_metadata(endpoint: str, versions: list[str], loaded: Loaded) -> dict[str, Any]:
    """Model metadata: the version's graph inputs (name, datatype, [-1, k]) and tensor outputs."""
    inputs = [
        {"name": s["name"], "datatype": TWIN_TO_V2.get(s["dtype"], "BYTES"), "shape": [-1, len(s["columns"])]}
        for s in loaded.twin.spec["inputs"]
    ]
    outputs = []
    for o in loaded.session.get_outputs():
        if o.type in ORT_TO_V2:
            shape = [d if isinstance(d, int) and d >= 0 else -1 for d in (o.shape or [])]
            outputs.append({"name": o.name, "datatype": ORT_TO_V2[o.type], "shape": shape})
    return {
        "name": endpoint,
        "versions": versions,
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": outputs,
    }
