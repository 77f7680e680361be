"""Monitoring of served traffic in the gateway: sketches of inputs and outputs, request ids, predictions.

Per endpoint, version and time window (`monitor_window_s`, windows aligned on the epoch) the gateway keeps
one Apache DataSketches sketch per input feature (numeric: a KLL float sketch; text: a frequent-items
sketch) and of the outputs (labels: frequent items; regression values: KLL), never the rows themselves.

The request path pays little: `observe` draws the response's request id and appends the request to a
queue (no parsing, no sketch work). A background task (`run`, in the gateway's lifespan) drains that queue
every fraction of a second (at once, after the answer went out, when a big batch is queued) and, in a
worker thread, turns the rows into one float32 matrix per window and updates all numeric sketches of a
version with one vectorised call (`vector_of_kll_floats_sketches`); every `monitor_flush_s` seconds, and
at shutdown, it writes the windows that changed to the metadata store (`mlops_monitor_sketches`, one row
per replica, endpoint version and window, serialized sketches packed with `pack`) and the request id ->
predictions of the requests served since (`mlops_monitor_predictions`, for monitor_record_outcomes).
Readers merge the rows of every replica of a window (the monitor area), so several gateways on one store
need no coordination. Memory stays bounded whatever the traffic: a sketch has a fixed size, a window leaves
memory once it has ended and been written, and the queue holds at most `monitor_max_pending_rows` rows
(beyond that a request is still served and its monitoring dropped and counted). Rows older than the
retention settings are deleted by the flush.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import math
import operator
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

try:
    import orjson as _orjson
except ImportError:  # the serve extra brings it; without it the stdlib writes the stored predictions
    _orjson = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from mcp_server.core.store import MetadataStore
    from mcp_server.gateway.app import Gateway

log = logging.getLogger("mlops_mcp.gateway.monitoring")

DRAIN_S = 0.25  # how often the queue is turned into sketch updates
# Queued rows that start a drain at once rather than at the next DRAIN_S tick: a big batch's sketching then
# runs as soon as its answer has gone out (while that client reads it and sends its next request), not in
# the middle of the next request. Single-row traffic stays on the tick, where one update covers many requests.
WAKE_ROWS = 512
PURGE_EVERY_S = 60.0
FREQ_LG_K = 10  # frequent-items map of 2^10 slots: up to 768 distinct values counted exactly
INPUT, OUTPUT = "input", "output"
KLL, FREQ = "kll", "freq"
_MAGIC = b"MSK1"


# -- the packed form of a sketch set ----------------------------------------------------------------------


@dataclass
class Entry:
    """One sketch of a set: a column (or the output), its role, its kind and the serialized sketch."""

    name: str
    role: str  # input | output
    kind: str  # kll | freq
    data: bytes
    n: int = 0  # values seen (nulls excluded)
    nulls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # reference sets: exact percentiles and histogram


def pack(entries: list[Entry], meta: dict[str, Any] | None = None) -> bytes:
    """MSK1 | header length (u32) | JSON header | the sketches' bytes one after another."""
    header = {
        "meta": meta or {},
        "entries": [
            {
                "name": e.name,
                "role": e.role,
                "kind": e.kind,
                "n": e.n,
                "nulls": e.nulls,
                "len": len(e.data),
                **({"extra": e.extra} if e.extra else {}),
            }
            for e in entries
        ],
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([_MAGIC, struct.pack("<I", len(head)), head, *(e.data for e in entries)])


def unpack(blob: bytes) -> tuple[list[Entry], dict[str, Any]]:
    if blob[:4] != _MAGIC:
        raise ValueError("not a packed sketch set")
    (size,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8 : 8 + size])
    offset = 8 + size
    entries = []
    for h in header["entries"]:
        data = blob[offset : offset + int(h["len"])]
        offset += int(h["len"])
        entries.append(
            Entry(h["name"], h["role"], h["kind"], data, int(h["n"]), int(h["nulls"]), h.get("extra") or {})
        )
    return entries, header.get("meta") or {}


def window_start(t: float, window_s: float) -> float:
    return math.floor(t / window_s) * window_s


def new_request_id() -> str:
    """24 hex digits: the time in milliseconds (6 bytes), then 6 random bytes. Time-ordered, so the stored
    predictions' primary key grows at its end: with wholly random ids each insert lands on a random page of an
    index that grows by every request (about 50 us per prediction at a million rows, 14 us ordered)."""
    return (time.time_ns() // 1_000_000).to_bytes(6, "big").hex() + os.urandom(6).hex()


# -- one window of one endpoint version -----------------------------------------------------------------


class WindowSketches:
    """The sketches of one endpoint version in one window (numeric inputs updated together)."""

    def __init__(self, numeric: list[str], text: list[str], regression: bool, k: int) -> None:
        import datasketches as ds

        self.numeric = numeric
        self.text = text
        self.regression = regression
        self.k = k
        self.kll = ds.vector_of_kll_floats_sketches(k, max(1, len(numeric))) if numeric else None
        self.nulls = [0] * len(numeric)
        self.freq = {c: ds.frequent_strings_sketch(FREQ_LG_K) for c in text}
        self.text_nulls = dict.fromkeys(text, 0)
        self.out = ds.kll_floats_sketch(k) if regression else ds.frequent_strings_sketch(FREQ_LG_K)
        self.rows = 0
        self.dirty = False
        # A row's numeric values as a tuple (itemgetter of one column gives a value, not a 1-tuple).
        self._getter: Callable[[dict[str, Any]], Iterable[Any]] = (
            operator.itemgetter(*numeric) if len(numeric) > 1 else lambda r: tuple(r[c] for c in numeric)
        )

    def add(self, rows: list[dict[str, Any]], outputs: list[Any]) -> None:
        import numpy as np

        if self.kll is not None:
            cols = self.numeric
            try:  # the fast path: every row has every column, as numbers (itemgetter and fromiter run in C)
                values = itertools.chain.from_iterable(map(self._getter, rows))
                matrix = np.fromiter(values, dtype=np.float32, count=len(rows) * len(cols))
                matrix = matrix.reshape(len(rows), len(cols))
            except (TypeError, ValueError, KeyError):  # nulls, text, a missing column: one by one
                matrix = np.array([[_number(r.get(c)) for c in cols] for r in rows], dtype=np.float32)
            self._add_matrix(matrix)
        self._add_rest(rows, outputs)

    def add_columns(self, columns: dict[str, Any], size: int, outputs: list[Any]) -> None:
        """The same for whole columns ({column: 1-D array}, the tensor protocols' input)."""
        import numpy as np

        if self.kll is not None:
            nan = np.full(size, np.nan, dtype=np.float32)
            parts = []
            for c in self.numeric:
                values = columns.get(c)
                try:
                    parts.append(
                        nan if values is None else np.asarray(values, dtype=np.float32).reshape(size)
                    )
                except (TypeError, ValueError):
                    parts.append(nan)
            self._add_matrix(np.column_stack(parts) if parts else np.empty((size, 0), dtype=np.float32))
        texts = {c: [None if v is None else str(v) for v in columns.get(c, [None] * size)] for c in self.text}
        self._add_rest(
            [{c: texts[c][i] for c in self.text} for i in range(size)] if self.text else [{}] * size, outputs
        )

    def add_matrix(self, names: list[str], values: Any, outputs: list[Any]) -> None:
        """The same for a matrix ([N, k] numbers, `names` its columns: app.Matrix, the common bound form):
        when its columns are this window's numeric columns in order, one update with no reshaping."""
        import numpy as np

        if self.text or self.kll is None or list(names) != self.numeric:
            self.add_columns(dict(zip(names, values.T, strict=True)), len(values), outputs)
            return
        self._add_matrix(np.asarray(values, dtype=np.float32))
        self._add_rest([{}] * len(values), outputs)

    def _add_matrix(self, matrix: Any) -> None:
        import numpy as np

        if self.kll is not None and matrix.ndim == 2 and matrix.shape[0]:
            missing = np.isnan(matrix).sum(axis=0)
            for j, m in enumerate(missing.tolist()):
                self.nulls[j] += int(m)
            self.kll.update(np.ascontiguousarray(matrix))

    def _add_rest(self, rows: list[dict[str, Any]], outputs: list[Any]) -> None:
        for c in self.text:
            counts = collections.Counter(r.get(c) for r in rows)
            sketch = self.freq[c]
            for value, weight in counts.items():
                if value is None:
                    self.text_nulls[c] += weight
                else:
                    sketch.update(str(value), weight)
        if self.regression:
            import numpy as np

            values = np.array([_number(v) for v in outputs], dtype=np.float32)
            self.out.update(values)
        else:
            for value, weight in _label_counts(outputs).items():
                self.out.update(value, weight)
        self.rows += len(rows)
        self.dirty = True

    def entries(self) -> list[Entry]:
        out: list[Entry] = []
        if self.kll is not None:
            blobs = self.kll.serialize(list(range(len(self.numeric))))
            counts = self.kll.get_n().tolist()
            for j, c in enumerate(self.numeric):
                out.append(Entry(c, INPUT, KLL, bytes(blobs[j]), int(counts[j]), self.nulls[j]))
        for c in self.text:
            sk = self.freq[c]
            out.append(Entry(c, INPUT, FREQ, bytes(sk.serialize()), int(sk.total_weight), self.text_nulls[c]))
        if self.regression:
            out.append(Entry("prediction", OUTPUT, KLL, bytes(self.out.serialize()), int(self.out.n), 0))
        else:
            out.append(
                Entry("prediction", OUTPUT, FREQ, bytes(self.out.serialize()), int(self.out.total_weight))
            )
        return out


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode  # one encoder, not one per call


def _encode_outputs(outputs: list[Any]) -> str:
    """`_encode(outputs)`. A list of plain ints (a classifier's labels) is written by orjson when installed: the
    same text (digits, commas, brackets), a twentieth of the time on 1,000 labels; anything else (floats,
    whose shortest forms differ, text, bools, ints past 64 bits) by the stdlib encoder."""
    if _orjson is not None and set(map(type, outputs)) <= {int}:
        try:
            return str(_orjson.dumps(outputs), "utf-8")
        except _orjson.JSONEncodeError:  # an int past 64 bits
            pass
    return _encode(outputs)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _label_counts(outputs: list[Any]) -> collections.Counter[str]:
    """{label text: count}: the values of one type (one model's predictions) counted first and each distinct
    value worded once; mixed types (True and 1 are equal keys) or unhashable ones counted one by one."""
    kinds = set(map(type, outputs))
    if len(kinds) == 1 and kinds <= {int, float, str, bool}:
        counts: collections.Counter[str] = collections.Counter()
        for value, weight in collections.Counter(outputs).items():
            counts[_label(value)] += weight
        return counts
    return collections.Counter(_label(v) for v in outputs)


def _label(value: Any) -> str:
    if isinstance(value, dict):  # {"label": ..., "probabilities": ...}
        value = value.get("label")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


# -- the gateway's monitor -------------------------------------------------------------------------------


@dataclass
class Observed:
    t: float
    endpoint: str
    version: str
    loaded: Any  # app.Loaded: its dtypes say which columns are numeric
    data: Any  # the request's app.Batch (bound to the version's columns in the worker thread), its app.Matrix or rows
    size: int
    outputs: list[Any]
    request_id: str


class Monitor:
    """The accumulator of one gateway process: queue -> sketches per window -> store."""

    def __init__(self, settings: Any, store: MetadataStore | None, replica_id: str) -> None:
        self.enabled = bool(getattr(settings, "monitor_enabled", True)) and store is not None
        self.window_s = float(getattr(settings, "monitor_window_s", 3600.0))
        self.flush_s = float(getattr(settings, "monitor_flush_s", 5.0))
        self.k = int(getattr(settings, "monitor_kll_k", 200))
        self.retention_s = float(getattr(settings, "monitor_retention_days", 30.0)) * 86400
        self.prediction_retention_s = (
            float(getattr(settings, "monitor_prediction_retention_days", 7.0)) * 86400
        )
        self.max_pending = int(getattr(settings, "monitor_max_pending_rows", 200_000))
        self.store = store
        self.replica_id = replica_id
        self.queue: collections.deque[Observed] = collections.deque()
        self.pending_rows = 0
        self.dropped_rows = 0
        self.windows: dict[tuple[str, str, float], WindowSketches] = {}
        self.predictions: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # windows and predictions: the worker thread and the final flush
        self._last_purge = 0.0
        self._schemas: dict[str, tuple[list[str], list[str], bool]] = {}
        self.wake: asyncio.Event | None = None  # made by `run` (the event loop's); see WAKE_ROWS

    # the request path: O(1), no sketch work
    def observe(self, endpoint: str, version: str, loaded: Any, data: Any, outputs: list[Any]) -> str:
        request_id = new_request_id()
        if self.enabled:
            size = len(outputs)
            if self.pending_rows + size > self.max_pending:
                self.dropped_rows += size
            else:
                self.pending_rows += size
                self.queue.append(
                    Observed(time.time(), endpoint, version, loaded, data, size, outputs, request_id)
                )
                if self.pending_rows >= WAKE_ROWS and self.wake is not None:
                    self.wake.set()
        return request_id

    def _schema(self, loaded: Any) -> tuple[list[str], list[str], bool]:
        key = str(getattr(loaded, "onnx_dir", id(loaded)))
        schema = self._schemas.get(key)
        if schema is None:
            dtypes = getattr(loaded, "dtypes", {}) or {}
            columns = list(getattr(loaded.twin, "columns", dtypes))
            numeric = [c for c in columns if dtypes.get(c, "float32") != "string"]
            text = [c for c in columns if dtypes.get(c) == "string"]
            schema = (numeric, text, getattr(loaded.twin, "task", "") == "regression")
            if len(self._schemas) > 256:
                self._schemas.clear()
            self._schemas[key] = schema
        return schema

    def drain(self) -> list[Observed]:
        batch = []
        while self.queue:
            item = self.queue.popleft()
            self.pending_rows -= item.size
            batch.append(item)
        return batch

    def ingest(self, batch: list[Observed]) -> None:
        """Sketch updates for a drained batch (in a worker thread): one update per window and version."""
        import numpy as np

        from mcp_server.gateway.app import Matrix  # app imports this module

        groups: dict[tuple[str, str, float], list[Observed]] = collections.defaultdict(list)
        now = datetime.now(UTC)
        for item in batch:
            groups[(item.endpoint, item.version, window_start(item.t, self.window_s))].append(item)
        with self.lock:
            for key, items in groups.items():
                window = self.windows.get(key)
                if window is None:
                    numeric, text, regression = self._schema(items[0].loaded)
                    window = self.windows[key] = WindowSketches(numeric, text, regression, self.k)
                rows: list[dict[str, Any]] = []
                outputs: list[Any] = []
                matrices: list[Any] = []  # app.Matrix values of this window: sketched in one update
                matrix_outputs: list[Any] = []
                try:
                    for it in items:
                        bound = it.data.bind(it.loaded) if hasattr(it.data, "bind") else it.data
                        if isinstance(bound, Matrix):
                            matrices.append(bound.values)
                            matrix_outputs.extend(it.outputs)
                        elif isinstance(bound, dict):  # whole columns
                            window.add_columns(bound, it.size, it.outputs)
                        else:
                            rows.extend(bound)
                            outputs.extend(it.outputs)
                    if matrices:
                        stacked = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
                        window.add_matrix(list(items[0].loaded.twin.columns), stacked, matrix_outputs)
                    if rows:
                        window.add(rows, outputs)
                except Exception as err:  # a row the sketches cannot take: skip it, keep serving
                    log.warning("monitoring skipped rows of %s/%s: %s", key[0], key[1], err)
            stamps: dict[int, datetime] = {}
            for item in batch:
                second = int(item.t)
                stamp = stamps.get(second)
                if stamp is None:
                    stamp = stamps[second] = datetime.fromtimestamp(second, UTC) if second else now
                self.predictions.append(
                    {
                        "request_id": item.request_id,
                        "endpoint": item.endpoint,
                        "version": item.version,
                        "created_at": stamp,  # to the second
                        "predictions": _encode_outputs(item.outputs),
                    }
                )

    def flush(self, *, final: bool = False) -> int:
        """Write the windows that changed and the predictions since the last flush; drop ended windows."""
        if self.store is None:
            return 0
        from sqlalchemy import delete, insert

        from mcp_server.core.store.models import MonitorPrediction, MonitorSketch

        with self.lock:
            now = time.time()
            current = window_start(now, self.window_s)
            dirty = [(key, w) for key, w in self.windows.items() if w.dirty]
            rows: list[dict[str, Any]] = [
                {
                    "replica_id": self.replica_id,
                    "endpoint": key[0],
                    "version": key[1],
                    "window_start": datetime.fromtimestamp(key[2], UTC),
                    "blob": pack(w.entries(), {"k": self.k, "window_s": self.window_s}),
                    "rows": w.rows,
                }
                for key, w in dirty
            ]
            predictions, self.predictions = self.predictions, []
            for _key, w in dirty:
                w.dirty = False
            for key in [k for k, w in self.windows.items() if k[2] < current and not w.dirty]:
                del self.windows[key]  # ended and written: it leaves memory
        if not rows and not predictions and (final or now - self._last_purge < PURGE_EVERY_S):
            return 0
        stamp = datetime.now(UTC)
        try:
            with self.store.transaction(timeout_s=max(2.0, self.flush_s)) as session:
                for r in rows:
                    row = session.get(
                        MonitorSketch, (self.replica_id, r["endpoint"], r["version"], r["window_start"])
                    )
                    if row is None:
                        session.add(
                            MonitorSketch(
                                replica_id=self.replica_id,
                                endpoint=r["endpoint"],
                                version=r["version"],
                                window_start=r["window_start"],
                                window_s=self.window_s,
                                rows=r["rows"],
                                sketches=r["blob"],
                                updated_at=stamp,
                            )
                        )
                    else:
                        row.rows, row.sketches, row.updated_at = int(r["rows"]), bytes(r["blob"]), stamp
                if predictions:
                    session.execute(insert(MonitorPrediction), predictions)
                if now - self._last_purge >= PURGE_EVERY_S:
                    self._last_purge = now
                    session.execute(
                        delete(MonitorSketch).where(
                            MonitorSketch.window_start < stamp - timedelta(seconds=self.retention_s)
                        )
                    )
                    session.execute(
                        delete(MonitorPrediction).where(
                            MonitorPrediction.created_at
                            < stamp - timedelta(seconds=self.prediction_retention_s)
                        )
                    )
        except Exception:
            with self.lock:  # written next time (the windows' sketches are still in memory)
                for key, _w in dirty:
                    if key in self.windows:
                        self.windows[key].dirty = True
                if len(self.predictions) + len(predictions) <= self.max_pending:
                    self.predictions[:0] = predictions
                else:
                    self.dropped_rows += len(predictions)
            raise
        return len(rows)

    def stats(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "windows_in_memory": len(self.windows),
            "pending_rows": self.pending_rows,
            "dropped_rows": self.dropped_rows,
        }


def monitor_of(gateway: Gateway) -> Monitor:
    """The gateway's monitor (made on first use)."""
    monitor: Monitor | None = getattr(gateway, "_monitor", None)
    if monitor is None:
        monitor = Monitor(gateway.settings, gateway.store, gateway.replica.id)
        gateway._monitor = monitor  # type: ignore[attr-defined]
    return monitor


def observe(gateway: Gateway, endpoint: str, version: str, loaded: Any, data: Any, outputs: list[Any]) -> str:
    """The request path's hook: the response's request id; the request's input (an app.Batch, bound to its
    columns later, off the event loop) and predictions queued for the sketches."""
    return monitor_of(gateway).observe(endpoint, version, loaded, data, outputs)


async def _step(monitor: Monitor, flush: bool) -> None:
    batch = monitor.drain()
    if batch:
        await asyncio.to_thread(monitor.ingest, batch)
    if flush:
        await asyncio.to_thread(monitor.flush)


async def run(gateway: Gateway) -> None:
    """The gateway lifespan hook: sketch updates every DRAIN_S (sooner once WAKE_ROWS rows are queued), a flush
    every monitor_flush_s and at the end."""
    monitor = monitor_of(gateway)
    if not monitor.enabled:
        return
    wake = monitor.wake = asyncio.Event()
    last_flush = time.monotonic()
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_S):
                    await wake.wait()
            wake.clear()  # rows queued from here on set it again
            due = time.monotonic() - last_flush >= monitor.flush_s
            try:
                await _step(monitor, due)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a store hiccup: the next flush writes what this one could not
                log.warning("monitoring flush failed: %s", err)
            if due:
                last_flush = time.monotonic()
    finally:
        monitor.wake = None
        # Shutdown: what is queued and what the windows hold since the last flush reach the store.
        try:
            batch = monitor.drain()
            if batch:
                monitor.ingest(batch)
            monitor.flush(final=True)
        except Exception as err:
            log.warning("monitoring: the last flush failed: %s", err)
