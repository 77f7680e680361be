"""The gateway's HTTP app: predict, health, metrics and stats over the routing snapshot.

Routing changes are picked up by a poller that reads the store's generation counter every
`gateway_poll_s`; on a change it loads the new versions' onnxruntime sessions first (off the event loop)
and then swaps in a new immutable snapshot. A request keeps the loaded version it picked until it
finishes, so a swap never drops or breaks an in-flight request, and a version that loses its route is
released only once nothing uses it any more.

Background tasks start in the lifespan after the table is loaded and are cancelled at shutdown: the
canary controller (controller.run), this replica's heartbeat (replicas.run: several gateways may serve one
store) and any `async def run(gateway: Gateway) -> None` added to `BACKGROUND`. A clean stop removes the
replica's rows and hands the rollout lease on at once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import time
from array import array
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match
from starlette.routing import Route as HttpRoute

from mcp_server.gateway import monitoring
from mcp_server.gateway import table as routing
from mcp_server.gateway.metrics import Metrics
from mcp_server.gateway.replicas import Replica

if TYPE_CHECKING:
    import numpy as np

    from mcp_server.core.config import Settings
    from mcp_server.core.store import MetadataStore

log = logging.getLogger("mlops_mcp.gateway")

BACKGROUND: list[Callable[[Gateway], Coroutine[Any, Any, None]]] = []
INLINE_ROWS = 64  # batches up to this size run on the event loop (microseconds); bigger ones in a thread
REQUEST_ID = "X-Request-Id"  # on every prediction response, whatever the protocol (monitor_record_outcomes)


_RUNTIME: list[Any] = []  # the module, once imported (every request asks for it)


def runtime() -> Any:
    """The ONNX runtime helpers of contract 1 (numpy + onnxruntime only)."""
    if not _RUNTIME:
        from mcp_server.core import twin as onnx_runtime

        _RUNTIME.append(onnx_runtime)
    return _RUNTIME[0]


@dataclass(frozen=True)
class Loaded:
    """One version's warm onnxruntime session and its twin."""

    onnx_dir: str
    twin: Any
    session: Any
    loaded_at: float
    dtypes: dict[str, str] = field(default_factory=dict)  # column -> the twin's input dtype
    nullable: frozenset[str] = frozenset()  # numeric columns with a missing-value rule (see _missing_rules)
    # (graph input, dtype) when the graph takes every column in one float32/float64 [N, k] input in the
    # twin's column order: a batch of clean numbers then binds to one matrix (`Matrix`), fed as it is.
    matrix: tuple[str, str] | None = None
    outputs: tuple[str, ...] = ()  # the session's output names, in its order (read once, not per request)


@dataclass(frozen=True)
class Pick:
    """An endpoint's traffic split: loaded versions with weight > 0 and their cumulative weights."""

    versions: tuple[str, ...]
    cumulative: tuple[float, ...]

    def choose(self) -> str | None:
        if not self.versions:
            return None
        if len(self.versions) == 1:
            return self.versions[0]
        return self.versions[bisect.bisect_right(self.cumulative, random.random() * self.cumulative[-1])]


@dataclass(frozen=True)
class Snapshot:
    table: routing.Table
    loaded: dict[str, Loaded]  # onnx_dir -> session
    picks: dict[str, Pick]
    errors: dict[str, str]  # "endpoint/version" -> why it could not be loaded

    def version(self, endpoint: str, version: str) -> Loaded | None:
        ep = self.table.endpoints.get(endpoint)
        route = ep.route(version) if ep is not None else None
        return self.loaded.get(route.onnx_dir) if route is not None else None


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ServeError(BadRequest):
    """The shared predict path refused or failed a request (404 endpoint/version, 503 nothing loaded, 400 rows
    the version does not take, 500 the version failed); each protocol words it in its own error shape."""


@dataclass(frozen=True)
class Matrix:
    """A batch bound to a version that takes one float matrix (`Loaded.matrix`): every value a finite number
    the input's type holds, so no check is left to make; `values` is [N, k] float64 in the twin's column
    order and `feed` the onnxruntime feed built from it."""

    values: np.ndarray
    feed: dict[str, np.ndarray]


Bound = list[dict[str, Any]] | dict[str, Any] | Matrix


class Batch:
    """A request's input once its format (ours, MLflow's, Open Inference v2) is parsed: `size` rows that
    `bind` turns, for the version the request was routed to, into a ready `Matrix` (the common case of
    clean numbers for a one-matrix graph), row dicts ({column: value}) or whole columns ({column: 1-D
    array}); a ValueError from `bind` is a rejected request (400)."""

    size: int

    def bind(self, loaded: Loaded) -> Bound:
        raise NotImplementedError


COLUMNAR_ROWS = 8  # batches of this many rows or more are checked and fed whole columns at a time (numpy)
_NUMBERS = frozenset({float, int, bool})


def cached_bind(batch: Batch, loaded: Loaded, build: Callable[[], Any]) -> Any:
    """`build()` once per batch and version: the predict path and the monitor's sketches (monitoring.py) both
    bind a batch, and a columnar bind costs a pass over every value."""
    cached = batch.__dict__.get("_bound")
    if cached is not None and cached[0] is loaded:
        return cached[1]
    data = build()
    batch.__dict__["_bound"] = (loaded, data)
    return data


def matrix_of(loaded: Loaded, values: np.ndarray) -> Matrix | None:
    """`values` ([N, k] float64, the twin's column order) as a ready Matrix for a one-matrix version, when
    every value is finite and in the input type's range; None otherwise: the caller then takes the
    column or row path, which refuses a bad value with its usual sentence (row and feature)."""
    import numpy as np

    if loaded.matrix is None:
        return None
    name, dtype = loaded.matrix
    if not np.isfinite(values).all():
        return None
    if dtype == "float32" and values.size and np.abs(values).max() > _FLOAT32_MAX:
        return None
    return Matrix(values, {name: np.ascontiguousarray(values, dtype=dtype)})


def json_matrix(loaded: Loaded, data: list[Any], rows: int, *, nested: bool) -> Matrix | None:
    """A Matrix from parsed JSON: `data` is the values row after row (a flat list) or, `nested`, the rows
    (lists of values), in the twin's column order. Taken only when every value is a plain number (bool, int
    or float: what `make_feed` takes as one) and `matrix_of` takes them; the row path words any refusal.

    `array('d', ...)` reads the values to float64 in one pass and takes exactly those types: text, null,
    objects and nested lists raise TypeError, an integer past float64's range OverflowError (np.array, which
    first discovers a dtype and then converts, costs about half as much again on a 1,000-row batch)."""
    import numpy as np

    k = len(loaded.twin.columns)
    try:
        if nested:
            if set(map(len, data)) != {k}:  # every row has k values (a ragged one would shift the rest)
                return None
            data = list(chain.from_iterable(data))
        values = array("d", data)
    except (TypeError, OverflowError):
        return None
    if len(values) != rows * k:
        return None
    return matrix_of(loaded, np.frombuffer(values, dtype=np.float64).reshape(rows, k))


def rows_matrix(loaded: Loaded, rows: list[dict[str, Any]]) -> Matrix | None:
    """`json_matrix` for row dicts ({column: value}) that have exactly the version's columns, in any order;
    None when a row lacks one or has another (the caller's other paths word that).

    When the first row names the columns in the model's order its own key objects do the lookups: parsed
    JSON gives every row the same str object for a key name (orjson's key cache), so each lookup then
    matches by identity instead of comparing text (half the cost of the lookups by the twin's names). A
    row with its keys in another order, or keys that are other objects, is read the same way, only slower."""
    columns = loaded.twin.columns
    size, k = len(rows), len(columns)
    if not size or not k or sum(map(len, rows)) != size * k:  # with every column: exactly the columns
        return None
    first = list(rows[0])
    keys = first if first == columns else columns
    getter = itemgetter(*keys) if k > 1 else (lambda r: (r[keys[0]],))
    try:
        flat = list(chain.from_iterable(map(getter, rows)))
    except KeyError:
        return None
    return json_matrix(loaded, flat, size, nested=False)


def clean_column(values: list[Any], dtype: str | None, nullable: bool) -> np.ndarray | None:
    """One column's parsed JSON values as `column_feed` takes them, when every value is one that
    `check_values` and `make_feed` accept as it is: text (or null) for a text input; for a number input,
    finite numbers in the input type's range, with null only where the model has a missing-value rule.
    None when any value is not (null elsewhere, NaN, Infinity, too large, text for a number, ...): the caller
    then takes the row-wise path, which refuses it with the same sentence (row and feature) as always."""
    import numpy as np

    kinds = set(map(type, values))
    if dtype == "string":
        return np.array(values, dtype=object) if kinds <= {str, type(None)} else None
    if dtype not in ("float32", "float64", "int64"):
        return None
    nones = 0
    if type(None) in kinds:
        if not nullable or dtype == "int64":
            return None
        kinds.discard(type(None))
        nones = values.count(None)
    if not kinds <= _NUMBERS:
        return None
    try:
        column = np.array(values, dtype=np.float64)  # null -> NaN (column_feed's missing value)
    except OverflowError:  # an integer past float64's range
        return None
    if nones:
        if np.count_nonzero(np.isnan(column)) != nones or np.isinf(column).any():
            return None  # a NaN literal beside the nulls
        finite = column[~np.isnan(column)]
    else:
        if not np.isfinite(column).all():
            return None
        finite = column
    if finite.size and dtype == "float32" and np.abs(finite).max() > _FLOAT32_MAX:
        return None
    if finite.size and dtype == "int64" and (finite.min() < -(2.0**63) or finite.max() >= 2.0**63):
        return None
    return column


def clean_columns(loaded: Loaded, column: Callable[[str], list[Any]]) -> dict[str, Any] | None:
    """{column: 1-D array} for the version's columns, `column(name)` giving each one's values; None when
    a column is missing (KeyError, IndexError) or any value needs the row-wise path (see `clean_column`)."""
    dtypes, nullable = loaded.dtypes, loaded.nullable
    out: dict[str, Any] = {}
    try:
        for name in loaded.twin.columns:
            values = clean_column(column(name), dtypes.get(name), name in nullable)
            if values is None:
                return None
            out[name] = values
    except (KeyError, IndexError, TypeError):
        return None
    return out


class Rows(Batch):
    """Rows that name their columns (the input of /predict, MLflow's records).

    A batch of `COLUMNAR_ROWS` or more whose rows have exactly the version's columns, with values
    `clean_column` takes, binds to whole columns (one pass per column); any other goes row by row
    (`check_values`, `make_feed`), which words a refusal as always."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.size = len(rows)

    def bind(self, loaded: Loaded) -> Bound:
        return cached_bind(self, loaded, lambda: self._bind(loaded))  # type: ignore[no-any-return]

    def _bind(self, loaded: Loaded) -> Bound:
        rows = self.rows
        if loaded.matrix is not None:
            matrix = rows_matrix(loaded, rows)
            if matrix is not None:
                return matrix
        if self.size >= COLUMNAR_ROWS and sum(map(len, rows)) == self.size * len(loaded.twin.columns):
            columns = clean_columns(loaded, lambda name: list(map(itemgetter(name), rows)))
            if columns is not None:
                return columns
        return rows


class Table(Batch):
    """Rows as lists of values in the order of `names` (None: the version's own column order), as MLflow's
    split and instances send them; bound to whole columns as `Rows` is, else to row dicts."""

    def __init__(self, names: list[str] | None, data: list[list[Any]]) -> None:
        self.names = names
        self.data = data
        self.size = len(data)

    def bind(self, loaded: Loaded) -> Bound:
        return cached_bind(self, loaded, lambda: self._bind(loaded))  # type: ignore[no-any-return]

    def _bind(self, loaded: Loaded) -> Bound:
        names, data = self.names, self.data
        if names is None:
            names = loaded.twin.columns
            if set(map(len, data)) != {len(names)}:
                for i, row in enumerate(data):
                    if len(row) != len(names):
                        raise ValueError(
                            f"Row {i} has {len(row)} values, and the model takes {len(names)} columns in this "
                            f"order: {names[:20]}{' ...' if len(names) > 20 else ''}"
                        )
        if loaded.matrix is not None:
            matrix = self._matrix(loaded, names)
            if matrix is not None:
                return matrix
        if self.size >= COLUMNAR_ROWS:
            index = {name: j for j, name in enumerate(names)}
            if len(index) == len(loaded.twin.columns):
                columns = clean_columns(loaded, lambda name: list(map(itemgetter(index[name]), data)))
                if columns is not None:
                    return columns
        return [dict(zip(names, row, strict=True)) for row in data]

    def _matrix(self, loaded: Loaded, names: list[str]) -> Matrix | None:
        columns, data = loaded.twin.columns, self.data
        if len(names) != len(columns) or not set(map(len, data)) <= {len(names)}:
            return None
        if names == columns:
            return json_matrix(loaded, data, self.size, nested=True)
        if set(names) != set(columns):
            return None
        matrix = json_matrix(loaded, data, self.size, nested=True)  # the sender's order
        if matrix is None:
            return None
        index = {name: j for j, name in enumerate(names)}
        return matrix_of(loaded, matrix.values[:, [index[c] for c in columns]])


@dataclass(frozen=True)
class Served:
    """One answered request: the version that answered, its raw outputs by name and one prediction per row."""

    endpoint: str
    version: str
    model: str
    outputs: dict[str, Any]
    predictions: list[Any]
    seconds: float
    request_id: str = ""  # X-Request-Id: monitor_record_outcomes joins true outcomes on it (monitoring.py)


def _load_version(onnx_dir: str) -> Loaded:
    import numpy as np

    rt = runtime()
    twin = rt.load_twin(Path(onnx_dir))
    session = rt.open_session(twin, threads=1)  # single-row requests: one thread is fastest
    # Warm it: one run on a zero/empty row of the right types, so the first request pays no set-up.
    feed: dict[str, Any] = {}
    for inp in session.get_inputs():
        shape = [1 if not isinstance(d, int) or d <= 0 else d for d in (inp.shape or [1])]
        if "string" in inp.type:
            feed[inp.name] = np.full(shape, "", dtype=object)
        elif "int" in inp.type:
            feed[inp.name] = np.zeros(shape, dtype=np.int64)
        elif "double" in inp.type:
            feed[inp.name] = np.zeros(shape, dtype=np.float64)
        else:
            feed[inp.name] = np.zeros(shape, dtype=np.float32)
    with contextlib.suppress(Exception):
        session.run(None, feed)
    dtypes = {c: str(spec["dtype"]) for spec in twin.spec["inputs"] for c in spec["columns"]}
    inputs = twin.spec["inputs"]
    matrix = None
    if (
        len(inputs) == 1
        and inputs[0]["dtype"] in ("float32", "float64")
        and list(inputs[0]["columns"]) == list(twin.columns)
        and twin.columns
    ):
        matrix = (str(inputs[0]["name"]), str(inputs[0]["dtype"]))
    return Loaded(
        onnx_dir,
        twin,
        session,
        time.time(),
        dtypes,
        _missing_rules(rt, twin, session, dtypes),
        matrix,
        tuple(o.name for o in session.get_outputs()),
    )


_PROBE_ROWS = 256  # columns probed per session run (rows x columns floats stay small)


def _missing_rules(rt: Any, twin: Any, session: Any, dtypes: dict[str, str]) -> frozenset[str]:
    """The float columns where the served graph turns a missing value into a finite answer.

    twin.json does not record which columns had an imputer (evaluation adds a median imputer only for
    numeric columns with gaps; HistGradientBoosting and other trees route NaN themselves), so the graph is
    asked: one row per column with null there and zeros/"" elsewhere. A column counts only when every float
    output of its row is finite; a model with no float output (labels only) or that fails the probe gets
    none, so null is refused there.
    """
    import numpy as np

    probe = [c for c in twin.columns if dtypes.get(c) in ("float32", "float64")]
    if not probe:
        return frozenset()
    base: dict[str, Any] = {c: "" if dtypes.get(c) == "string" else 0 for c in twin.columns}
    allowed: set[str] = set()
    try:
        for start in range(0, len(probe), _PROBE_ROWS):
            chunk = probe[start : start + _PROBE_ROWS]
            rows = [base] + [{**base, c: None} for c in chunk]
            outputs = rt.run(session, twin, rt.make_feed(twin, rows)).values()
            floats = [np.asarray(o) for o in outputs if getattr(o, "dtype", None) is not None]
            floats = [o for o in floats if o.dtype.kind == "f" and o.shape[:1] == (len(rows),)]
            if not floats:
                return frozenset()
            finite = np.all([np.isfinite(o.reshape(len(rows), -1)).all(axis=1) for o in floats], axis=0)
            if not finite[0]:  # the neutral row itself gives NaN: the probe says nothing
                return frozenset()
            allowed.update(c for c, ok in zip(chunk, finite[1:], strict=True) if ok)
    except Exception as err:  # an odd graph: refuse null rather than guess
        log.info("missing-value probe failed on %s: %s", twin.name, err)
        return frozenset()
    return frozenset(allowed)


_FLOAT32_MAX = 3.4028234663852886e38


def _too_large(value: float, dtype: str) -> bool:
    """True when `value` cannot reach an input of `dtype` intact (it would become inf or wrap around)."""
    if dtype == "int64":
        return not -(2.0**63) <= value < 2.0**63
    try:
        number = float(value)
    except OverflowError:  # an integer past float64's range (float() raises, not inf)
        return True
    return dtype == "float32" and abs(number) > _FLOAT32_MAX


def check_values(loaded: Loaded, rows: list[dict[str, Any]]) -> None:
    """Raise ValueError (one sentence naming the row and feature) on a number the model must not get.

    NaN and +-Infinity (Python's json accepts both literals, and `1e999999` parses as inf) are refused in
    every column, as is a number the input's type cannot hold (it would reach the model as inf or wrap
    around); null is refused in a numeric column without a missing-value rule, where the model would
    answer NaN or a meaningless label. Missing, extra and ill-typed columns are left to the twin's feed.
    """
    dtypes, nullable = loaded.dtypes, loaded.nullable
    for i, row in enumerate(rows):
        for col, value in row.items():
            dtype = dtypes.get(col)
            if dtype is None:
                continue
            if value is None:
                if dtype != "string" and col not in nullable:
                    raise ValueError(
                        f"Row {i}: feature {col!r} is null, and the model has no rule for a missing "
                        "value there; send a number"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            alt = " or null for a missing value" if col in nullable else ""
            if isinstance(value, float) and math.isnan(value):
                raise ValueError(f"Row {i}: feature {col!r} is NaN; send a finite number{alt}")
            if isinstance(value, float) and math.isinf(value):
                sign = "-" if value < 0 else ""
                raise ValueError(
                    f"Row {i}: feature {col!r} is {sign}Infinity (or a number too large for a float); "
                    f"send a finite number{alt}"
                )
            if dtype != "string" and _too_large(value, dtype):
                text = repr(value)
                shown = text if len(text) <= 24 else f"a {len(text.lstrip('-'))}-digit number"
                raise ValueError(
                    f"Row {i}: feature {col!r} is {shown}, too large for the model's {dtype} input; "
                    "send a smaller number"
                )


def check_columns(loaded: Loaded, columns: dict[str, Any], size: int) -> None:
    """`check_values` for whole columns (tensor inputs): the same refusals, found with numpy.

    A number column is a float64 array where NaN stands for a missing value (a tensor has no null): it is
    refused where the model has no missing-value rule, as are +-Infinity and numbers the input's type cannot
    hold; a text column is an object array of str. A column of the wrong kind is refused here too.
    """
    import numpy as np

    dtypes, nullable = loaded.dtypes, loaded.nullable
    for col, values in columns.items():
        dtype = dtypes.get(col)
        if dtype is None:
            continue
        if len(values) != size:
            raise ValueError(f"Feature {col!r} has {len(values)} values for {size} rows")
        if dtype == "string":
            if values.dtype != object:
                raise ValueError(f"Feature {col!r} takes text (datatype BYTES), not numbers")
            continue
        if values.dtype == object:
            raise ValueError(f"Feature {col!r} takes a number, not text")
        missing = np.isnan(values)
        if missing.any() and (dtype == "int64" or col not in nullable):
            row = int(np.argmax(missing))
            raise ValueError(
                f"Row {row}: feature {col!r} is NaN (a missing value), and the model has no rule for a missing "
                "value there; send a finite number"
            )
        finite = np.where(missing, 0.0, values)
        if not np.isfinite(finite).all():
            row = int(np.argmax(~np.isfinite(finite)))
            sign = "-" if values[row] < 0 else ""
            raise ValueError(
                f"Row {row}: feature {col!r} is {sign}Infinity (or a number too large for a float); "
                "send a finite number"
            )
        if dtype == "float32":
            big = np.abs(finite) > _FLOAT32_MAX
        elif dtype == "int64":
            big = (finite < -(2.0**63)) | (finite >= 2.0**63)
        else:
            continue
        if big.any():
            row = int(np.argmax(big))
            raise ValueError(
                f"Row {row}: feature {col!r} is {float(values[row])!r}, too large for the model's {dtype} input; "
                "send a smaller number"
            )


def _picks(table: routing.Table, loaded: dict[str, Loaded]) -> dict[str, Pick]:
    picks = {}
    for name, ep in table.endpoints.items():
        versions, cumulative, total = [], [], 0.0
        for r in ep.routes:
            if r.weight > 0 and r.onnx_dir in loaded:
                total += r.weight
                versions.append(r.version)
                cumulative.append(total)
        picks[name] = Pick(tuple(versions), tuple(cumulative))
    return picks


def static_table(path: Path) -> routing.Table:
    """A routing table from a JSON file (the Docker image serves one without a metadata store)."""
    data = json.loads(path.read_text())
    endpoints = {}
    for ep in data["endpoints"]:
        routes = tuple(
            routing.Route(
                ep["name"],
                ep["model"],
                str(r["version"]),
                float(r.get("weight", 100.0)),
                r.get("slot"),
                str((path.parent / r["onnx_dir"]).resolve()),
            )
            for r in ep["routes"]
        )
        endpoints[ep["name"]] = routing.EndpointTable(
            ep["name"],
            ep["model"],
            str(ep.get("stable_version", routes[0].version)),
            ep.get("live_slot"),
            routes,
        )
    return routing.Table(generation=int(data.get("generation", 1)), endpoints=endpoints)


@dataclass
class Gateway:
    settings: Settings
    store: MetadataStore | None = None  # None with a static routes file
    routes_file: Path | None = None
    metrics: Metrics = field(default_factory=Metrics)
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(routing.Table(-1, {}), {}, {}, {}))
    started_at: float = field(default_factory=time.time)
    request_exit: Callable[[], None] | None = None
    replica: Replica = field(default_factory=Replica)  # this process among the gateways of its store
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _log_file: Any = None

    # -- routing ------------------------------------------------------------------------------------

    def _read_table(self) -> routing.Table:
        if self.routes_file is not None:
            return static_table(self.routes_file)
        assert self.store is not None
        return routing.load(self.store, self.settings.home)

    def _current_generation(self) -> int:
        if self.routes_file is not None:
            return self.snapshot.table.generation
        assert self.store is not None
        return routing.generation(self.store)

    async def reload(self, *, force: bool = False) -> bool:
        """Reload the table when its generation moved; load new versions before swapping. True if swapped."""
        async with self._reload_lock:
            if not force:
                gen = await asyncio.to_thread(self._current_generation)
                if gen == self.snapshot.table.generation:
                    return False
            table = await asyncio.to_thread(self._read_table)
            old = self.snapshot.loaded
            needed = {r.onnx_dir: r for ep in table.endpoints.values() for r in ep.routes}
            loaded: dict[str, Loaded] = {d: old[d] for d in needed if d in old}
            errors: dict[str, str] = {}
            for onnx_dir, route in needed.items():
                if onnx_dir in loaded:
                    continue
                try:
                    loaded[onnx_dir] = await asyncio.to_thread(_load_version, onnx_dir)
                except Exception as err:  # a broken file takes that version out, not the gateway
                    errors[f"{route.endpoint}/{route.version}"] = f"{type(err).__name__}: {str(err)[:200]}"
                    log.error("could not load %s/%s: %s", route.endpoint, route.version, err)
            self.snapshot = Snapshot(table, loaded, _picks(table, loaded), errors)
            log.info("routing generation %s: %d endpoint(s)", table.generation, len(table.endpoints))
            return True

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_poll_s)
            try:
                await self.reload()
            except Exception as err:  # a store hiccup: keep serving the current snapshot
                log.warning("routing poll failed: %s", err)

    async def watch_parent(self, parent: int) -> None:
        """A managed gateway ends with the server that started it (a standalone one has no parent to watch)."""
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                log.warning("parent process %s is gone; stopping the gateway", parent)
                if self.request_exit is not None:
                    self.request_exit()
                return

    # -- predictions ----------------------------------------------------------------------------------

    async def predict(self, endpoint: str, batch: Batch, version: str | None = None) -> Served:
        """THE predict path of every protocol (/v1 predict, MLflow /invocations, Open Inference v2 infer):
        pick a version (the endpoint's traffic split, or `version` when the caller names one) -> bind the
        batch to its columns and predict -> per-version metrics (which canary windows are judged on) ->
        the sampled prediction log. Raises ServeError; each route only parses its body and shapes the answer.
        """
        snap = self.snapshot
        if endpoint not in snap.table.endpoints:
            raise ServeError(404, f"No endpoint named '{endpoint}' on this gateway; deploy_list shows them.")
        if version is None:
            version = snap.picks[endpoint].choose()
            if version is None:
                raise ServeError(
                    503, f"Endpoint '{endpoint}' has no loaded version with traffic; see deploy_status."
                )
        loaded = snap.version(endpoint, version)
        if loaded is None:
            raise ServeError(404, f"Endpoint '{endpoint}' has no loaded version '{version}'.")
        rt = runtime()
        started = time.perf_counter()
        try:
            if batch.size <= INLINE_ROWS:
                outputs, out = _run(rt, loaded, batch)
            else:
                outputs, out = await asyncio.to_thread(_run, rt, loaded, batch)
        except ValueError as err:
            self.metrics.error(endpoint, version, rejected=True)
            raise ServeError(400, f"{str(err).rstrip('.')}.") from None
        except Exception as err:
            self.metrics.error(endpoint, version)
            log.warning("predict failed on %s/%s: %s", endpoint, version, err)
            raise ServeError(
                500, f"Version {version} of endpoint '{endpoint}' failed to predict ({type(err).__name__})."
            ) from None
        seconds = time.perf_counter() - started
        self.metrics.observe(endpoint, version, seconds, batch.size)
        self.log_prediction(endpoint, version, batch, loaded, out, seconds * 1000)
        # Queued, sketched off the loop: a batch bound to a Matrix is queued as that (one array), so the
        # request's parsed JSON is freed now rather than kept alive, and walked by the collector, until then.
        bound = batch.__dict__.get("_bound")
        queued = (
            bound[1] if bound is not None and bound[0] is loaded and isinstance(bound[1], Matrix) else batch
        )
        request_id = monitoring.observe(self, endpoint, version, loaded, queued, out)
        return Served(endpoint, version, loaded.twin.name, outputs, out, seconds, request_id)

    def log_prediction(
        self, endpoint: str, version: str, batch: Batch, loaded: Loaded, out: list[Any], ms: float
    ) -> None:
        rate = self.settings.gateway_prediction_log_rate
        if rate <= 0 or random.random() >= rate:
            return
        data = batch.bind(loaded)
        if isinstance(data, Matrix):
            data = [dict(zip(loaded.twin.columns, r, strict=True)) for r in data.values.tolist()]
        elif isinstance(data, dict):  # whole columns: back to rows for the log's fingerprints
            names = list(data)
            data = [
                dict(zip(names, values, strict=True))
                for values in zip(*(data[c].tolist() for c in names), strict=True)
            ]
        rows = data
        if self._log_file is None:
            folder = self.settings.home / "gateway"
            folder.mkdir(parents=True, exist_ok=True)
            self._log_file = open(folder / "predictions.jsonl", "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        now = datetime.now(UTC).isoformat()
        for row, value in zip(rows, out, strict=False):
            fingerprint = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[
                :16
            ]
            self._log_file.write(
                json.dumps(
                    {
                        "time": now,
                        "endpoint": endpoint,
                        "version": version,
                        "input_fingerprint": fingerprint,
                        "output": value,
                        "latency_ms": round(ms, 3),
                    },
                    default=str,
                )
                + "\n"
            )

    def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


_REQUEST_ID_KEY = REQUEST_ID.lower().encode("latin-1")


def _add_request_id(response: Response, request_id: str) -> None:
    """`response.headers[REQUEST_ID] = request_id` for a response that has no such header yet: the same
    header line appended to its raw headers, without a MutableHeaders view and its search for the name."""
    response.raw_headers.append((_REQUEST_ID_KEY, request_id.encode("latin-1")))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"The request body is over the limit of {limit} bytes; send smaller batches.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(
                413, f"The request body is over the limit of {limit} bytes; send smaller batches."
            )
    return bytes(body)


def parse_batch(payload: Any, max_batch: int) -> Batch:
    """`{"rows": [{...}, ...]}` (Rows) or `{"columns": [...], "data": [[...], ...]}` (a Table)."""
    batch: Batch
    if not isinstance(payload, dict):
        raise BadRequest(400, 'The body must be a JSON object with "rows" or "columns" and "data".')
    if "rows" in payload:
        rows = payload["rows"]
        if not isinstance(rows, list) or not set(map(type, rows)) <= {dict}:  # parsed JSON: exact types
            raise BadRequest(400, '"rows" must be a list of objects mapping feature names to values.')
        batch = Rows(rows)
    elif "columns" in payload and "data" in payload:
        columns, data = payload["columns"], payload["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadRequest(400, '"columns" must be a list of feature names.')
        if len(set(columns)) != len(columns):
            raise BadRequest(400, '"columns" names a feature twice.')
        if (
            not isinstance(data, list)
            or not set(map(type, data)) <= {list}
            or not set(map(len, data)) <= {len(columns)}
        ):
            raise BadRequest(400, '"data" must be a list of rows, each with one value per column.')
        batch = Table(columns, data)
    else:
        raise BadRequest(400, 'The body must have "rows" or "columns" and "data".')
    if not batch.size:
        raise BadRequest(400, "The batch is empty; send at least one row.")
    if batch.size > max_batch:
        raise BadRequest(400, f"The batch has {batch.size} rows, over the limit of {max_batch}; split it.")
    return batch


def _run(rt: Any, loaded: Loaded, batch: Batch) -> tuple[dict[str, Any], list[Any]]:
    """The version's raw outputs and one prediction per row (a ValueError is a rejected request)."""
    data = batch.bind(loaded)
    if isinstance(data, Matrix):
        feed = data.feed  # checked when it was bound
    elif isinstance(data, list):
        check_values(loaded, data)  # a ValueError here is a rejected row, like the feed's own checks
        feed = rt.make_feed(loaded.twin, data)
    else:
        check_columns(loaded, data, batch.size)
        feed = rt.column_feed(loaded.twin, data, batch.size)
    if loaded.outputs:  # rt.run without asking the session for its output names on every request
        outputs = dict(zip(loaded.outputs, loaded.session.run(None, feed), strict=True))
    else:
        outputs = rt.run(loaded.session, loaded.twin, feed)
    return outputs, rt.predictions(loaded.twin, outputs, batch.size)


def settle_heap() -> None:
    """Move what start-up made (modules, the loaded sessions' Python objects) out of the collector's sight.

    A request leaves objects that live a fraction of a second (the monitor's queue, its pending predictions),
    so the collector's oldest generation fills up every second or so under load, and each full collection
    then walked every object of the process, start-up's included: 50-80 ms with no request answered
    (the p99). After `gc.freeze()` a full collection walks only what was made since; the lifespan unfreezes
    at shutdown."""
    import gc

    gc.collect()
    gc.freeze()


def build_app(gateway: Gateway, *, parent_pid: int | None = None) -> Starlette:
    from mcp_server.gateway import protocols
    from mcp_server.gateway.protocols import json_response, loads

    settings = gateway.settings

    async def predict(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        try:
            body = await _body(request, settings.gateway_max_body_bytes)
            if endpoint not in gateway.snapshot.table.endpoints:
                return _error(404, f"No endpoint named '{endpoint}' on this gateway; deploy_list shows them.")
            try:
                payload = loads(body)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                return _error(400, "The body is not valid JSON (or is nested too deeply).")
            batch = parse_batch(payload, settings.gateway_max_batch)
            served = await gateway.predict(endpoint, batch, request.query_params.get("version"))
        except BadRequest as err:
            return _error(err.status, err.message)
        return json_response(
            {
                "endpoint": endpoint,
                "model": served.model,
                "version": served.version,
                "predictions": served.predictions,
                "latency_ms": round(served.seconds * 1000, 4),
                "request_id": served.request_id,
            },
            headers={REQUEST_ID: served.request_id},
        )

    async def invocations(request: Request) -> Response:
        """MLflow's scoring protocol (what `mlflow models serve` answers on /invocations)."""
        endpoint = request.path_params["endpoint"]
        try:
            body = await _body(request, settings.gateway_max_body_bytes)
            if endpoint not in gateway.snapshot.table.endpoints:
                raise BadRequest(
                    404, f"No endpoint named '{endpoint}' on this gateway; deploy_list shows them."
                )
            batch = protocols.mlflow_batch(
                body, request.headers.get("content-type"), settings.gateway_max_batch
            )
            served = await gateway.predict(endpoint, batch, request.query_params.get("version"))
        except protocols.Unsupported as err:
            return protocols.unsupported(str(err))
        except BadRequest as err:
            return protocols.mlflow_error(err.status, err.message)
        answer = protocols.mlflow_answer(served.predictions)
        _add_request_id(answer, served.request_id)
        return answer

    async def v2_infer(request: Request) -> Response:
        """Open Inference Protocol v2 infer (KServe, Triton, MLServer clients)."""
        endpoint = request.path_params["endpoint"]
        try:
            body = await _body(request, settings.gateway_max_body_bytes)
            if endpoint not in gateway.snapshot.table.endpoints:
                raise BadRequest(404, f"No model (endpoint) named '{endpoint}' on this gateway.")
            batch, infer = protocols.v2_batch(
                body, request.headers.get("inference-header-content-length"), settings.gateway_max_batch
            )
            served = await gateway.predict(endpoint, batch, request.path_params.get("version"))
            answer = protocols.v2_answer(endpoint, served.version, served.outputs, infer)
            _add_request_id(answer, served.request_id)
            return answer
        except BadRequest as err:
            return _error(err.status, err.message)

    def _described(request: Request) -> tuple[str, Loaded, list[str]] | Response:
        endpoint = request.path_params["endpoint"]
        snap = gateway.snapshot
        ep = snap.table.endpoints.get(endpoint)
        if ep is None:
            return _error(404, f"No model (endpoint) named '{endpoint}' on this gateway.")
        version = request.path_params.get("version")
        if version is None:  # the stable version when it is loaded, else any version with traffic
            version = (
                ep.stable_version
                if snap.version(endpoint, ep.stable_version)
                else snap.picks[endpoint].choose()
            )
        loaded = snap.version(endpoint, version) if version is not None else None
        if loaded is None:
            return _error(
                404, f"Model '{endpoint}' has no loaded version{f' {version!r}' if version else ''}."
            )
        return version, loaded, [r.version for r in ep.routes if r.onnx_dir in snap.loaded]  # type: ignore[return-value]

    async def v2_model(request: Request) -> Response:
        found = _described(request)
        if isinstance(found, Response):
            return found
        _version, loaded, versions = found
        return json_response(protocols.v2_metadata(request.path_params["endpoint"], versions, loaded))

    async def v2_model_ready(request: Request) -> Response:
        found = _described(request)
        if isinstance(found, Response):
            return found
        endpoint = request.path_params["endpoint"]
        ready = "version" in request.path_params or gateway.snapshot.picks[endpoint].choose() is not None
        return json_response({"name": endpoint, "ready": ready}, 200 if ready else 503)

    async def v2_live(_: Request) -> Response:
        return json_response({"live": True})

    async def v2_ready(_: Request) -> Response:
        ready = gateway.snapshot.table.generation >= 0  # the routing table has been read
        return json_response({"ready": ready}, 200 if ready else 503)

    async def v2_server(_: Request) -> Response:
        from mcp_server import __version__

        return json_response(
            {"name": "mlops-mcp-gateway", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def healthz(_: Request) -> Response:
        snap = gateway.snapshot
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),
                "replica": gateway.replica.id,
                "generation": snap.table.generation,
                "endpoints": len(snap.table.endpoints),
                "versions_loaded": len(snap.loaded),
                "load_errors": snap.errors,
                "uptime_s": round(time.time() - gateway.started_at, 3),
            }
        )

    async def metrics(_: Request) -> Response:
        return Response(
            gateway.metrics.prometheus_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def stats(request: Request) -> Response:
        snap = gateway.snapshot
        wanted = request.query_params.get("endpoint")
        out = {}
        for name, ep in snap.table.endpoints.items():
            if wanted is not None and name != wanted:
                continue
            live = gateway.metrics.for_endpoint(name)
            out[name] = {
                "model": ep.model,
                "stable_version": ep.stable_version,
                "live_slot": ep.live_slot,
                "versions": [
                    {
                        "version": r.version,
                        "weight": r.weight,
                        "slot": r.slot,
                        "loaded": r.onnx_dir in snap.loaded,
                        "load_error": snap.errors.get(f"{name}/{r.version}"),
                        "metrics": live.get(r.version),
                    }
                    for r in ep.routes
                ],
            }
        if wanted is not None and wanted not in out:
            return _error(404, f"No endpoint named '{wanted}' on this gateway.")
        return JSONResponse({"generation": snap.table.generation, "endpoints": out})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await gateway.reload(force=True)
        settle_heap()
        tasks = []
        if gateway.routes_file is None:
            tasks.append(asyncio.create_task(gateway.poll(), name="routing-poll"))
        if parent_pid is not None:
            tasks.append(asyncio.create_task(gateway.watch_parent(parent_pid), name="parent-watch"))
        from mcp_server.gateway import controller, replicas

        for hook in [*BACKGROUND, replicas.run, controller.run, monitoring.run]:
            tasks.append(asyncio.create_task(hook(gateway), name=getattr(hook, "__qualname__", "hook")))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if gateway.store is not None:
                try:
                    await asyncio.to_thread(replicas.leave, gateway.store, gateway.replica)
                except Exception as err:  # its heartbeat stops anyway: the others see it gone in a moment
                    log.warning("could not remove this replica from the store: %s", err)
            gateway.close()
            import gc

            gc.unfreeze()  # an app run inside another program (tests) gives its heap back to the collector

    app = GatewayApp(
        routes=[  # Starlette tries them in order: the prediction routes first
            HttpRoute("/v1/endpoints/{endpoint}/predict", predict, methods=["POST"]),
            HttpRoute("/v1/endpoints/{endpoint}/invocations", invocations, methods=["POST"]),
            HttpRoute("/v2/models/{endpoint}/infer", v2_infer, methods=["POST"]),
            HttpRoute("/v2", v2_server, methods=["GET"]),
            HttpRoute("/v2/health/live", v2_live, methods=["GET"]),
            HttpRoute("/v2/health/ready", v2_ready, methods=["GET"]),
            HttpRoute("/v2/models/{endpoint}", v2_model, methods=["GET"]),
            HttpRoute("/v2/models/{endpoint}/ready", v2_model_ready, methods=["GET"]),
            HttpRoute("/v2/models/{endpoint}/versions/{version}", v2_model, methods=["GET"]),
            HttpRoute("/v2/models/{endpoint}/versions/{version}/ready", v2_model_ready, methods=["GET"]),
            HttpRoute("/v2/models/{endpoint}/versions/{version}/infer", v2_infer, methods=["POST"]),
            HttpRoute("/v1/stats", stats, methods=["GET"]),
            HttpRoute("/healthz", healthz, methods=["GET"]),
            HttpRoute("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.direct = tuple(
        (_literal_tail(r.path), r)
        for r in app.routes
        if isinstance(r, HttpRoute) and r.methods is not None and "POST" in r.methods
    )
    return app


def _literal_tail(path: str) -> str:
    """A route path's last segment with its slash ("/predict") when it is literal, else "": text that every
    path the route matches contains, so a path without it is not tried (see GatewayApp)."""
    tail = "/" + path.rsplit("/", 1)[-1]
    return "" if "{" in tail else tail


class GatewayApp(Starlette):
    """The gateway's Starlette app, with a POST to a prediction route handed straight to its handler.

    The same route match (each route's own `matches`, in the router's order: these routes come first), the
    same handler and response as through Starlette's middleware stack and router, without their
    per-request layers, which on single-row traffic cost about as much as the prediction itself (a route
    whose literal last segment the path does not contain is not asked: it could not match). An
    exception the handler does not turn into an answer gets Starlette's plain 500 and is re-raised, as
    ServerErrorMiddleware does. Everything else (GETs, other paths, lifespan) goes through Starlette.
    """

    direct: tuple[tuple[str, HttpRoute], ...] = ()  # (text every path it matches contains, route)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for tail, route in self.direct:
                if tail not in path:  # its regex cannot match: skip the match's path and regex work
                    continue
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self
                    scope.update(child)
                    try:
                        response = await route.endpoint(Request(scope, receive, send))
                    except Exception:
                        await PlainTextResponse("Internal Server Error", status_code=500)(
                            scope, receive, send
                        )
                        raise
                    await response(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


OPEN_PATHS = frozenset({"/healthz", "/v2/health/live", "/v2/health/ready"})


class HealthOpen:
    """Bearer auth on every path but the health probes (/healthz and the Open Inference Protocol's
    /v2/health/live and /v2/health/ready: probes from an orchestrator carry no token)."""

    def __init__(self, app: Any, token: str) -> None:
        from mcp_server.core.net import BearerAuth

        self.open = app
        self.guarded = BearerAuth(app, token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") in OPEN_PATHS:
            await self.open(scope, receive, send)
        else:
            await self.guarded(scope, receive, send)


class LoopbackHosts:
    """Host and Origin checks for a gateway bound to a loopback address (as the MCP transport does).

    A page on evil.example that re-resolves its name to 127.0.0.1 reaches the gateway with
    `Host: evil.example` (DNS rebinding): only loopback names (localhost, 127.0.0.1, [::1], any port) are
    answered, others get 421. A page that posts to http://127.0.0.1:<port> directly sends a loopback Host
    but its own `Origin`: a browser's request from any origin that is not a loopback name gets 403 (clients
    that are not browsers send no Origin). A non-loopback bind has no such checks: it needs a bearer token,
    and no setting lists its public names.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._hosts: dict[bytes, bool] = {}  # Host header -> loopback name? (clients send one or two)

    def _loopback_host(self, raw: bytes) -> bool:
        known = self._hosts.get(raw)
        if known is None:
            from mcp_server.core.net import host_name, is_loopback

            if len(self._hosts) >= 64:  # headers are the client's: bound what is remembered
                self._hosts.clear()
            known = self._hosts[raw] = is_loopback(host_name(raw.decode("latin-1")))
        return known

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            raw_host = headers.get(b"host", b"")
            origin = headers.get(b"origin", b"").decode("latin-1")
            if self._loopback_host(raw_host) and not origin:
                await self.app(scope, receive, send)  # the common case: a program on this machine
                return
            from urllib.parse import urlsplit

            from mcp_server.core.net import is_loopback

            given = raw_host.decode("latin-1")
            refusal: tuple[int, str] | None = None
            if not self._loopback_host(raw_host):
                refusal = (
                    421,
                    f"The Host header {json.dumps(given[:80])} is not a loopback name; this gateway listens on "
                    "a loopback address and answers only localhost, 127.0.0.1 or [::1] (DNS-rebinding "
                    "protection).",
                )
            elif origin and not is_loopback(urlsplit(origin).hostname or ""):
                refusal = (
                    403,
                    f"Requests from the web page at {json.dumps(origin[:80])} are refused; this gateway on a "
                    "loopback address answers programs and pages served from localhost only.",
                )
            if refusal is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": refusal[0],
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": json.dumps({"error": refusal[1]}).encode()})
                return
        await self.app(scope, receive, send)
