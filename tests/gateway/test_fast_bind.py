"""The one-pass binds of parsed JSON to a version's matrix (app.rows_matrix for row dicts, app.json_matrix reading
values with array('d')) against the code they replaced, kept here as the reference (`old_json_matrix`,
`old_rows_matrix`): on every kind of batch the same outcome, the same matrix when one is taken, or the same
fall-back (keys in another order, a missing, an extra or a renamed key, text, null, NaN, Infinity, numbers too
large), the same predictions or the same refusal through `_run`, and the same monitor records (sketches and
stored predictions). Also: the monitor's early drain once WAKE_ROWS rows are queued."""

from __future__ import annotations

import asyncio
from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mcp_server.gateway import app as gateway_app
from mcp_server.gateway import monitoring
from mcp_server.gateway.app import (
    Loaded,
    Matrix,
    Rows,
    Table,
    _load_version,
    _run,
    json_matrix,
    matrix_of,
    runtime,
)
from tests.gateway.process import serve_plain

pytestmark = pytest.mark.timeout(120)
COLUMNS = ["a", "b", "c"]
STORE: Any = object()  # a monitor with a store is enabled; these are never flushed
N = 150  # under the KLL's k (200): the sketches are exact, so two runs' serialized sketches compare equal


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    root = tmp_path_factory.mktemp("fast-bind")
    serve_plain(root)
    loaded = _load_version(str(root / "plain1"))
    assert loaded.matrix is not None  # one float32 [N, 3] input: the matrix path applies
    return loaded


def old_json_matrix(loaded: Loaded, data: list[Any], rows: int, *, nested: bool) -> Matrix | None:
    """app.json_matrix as it was: np.array over the values, a Matrix when numpy reads plain numbers."""
    k = len(loaded.twin.columns)
    try:
        values = np.array(data)
    except (ValueError, TypeError, OverflowError):
        return None
    if values.dtype.kind not in "biuf" or values.shape != ((rows, k) if nested else (rows * k,)):
        return None
    return matrix_of(loaded, values.astype(np.float64, copy=False).reshape(rows, k))


def old_rows_matrix(loaded: Loaded, rows: list[dict[str, Any]]) -> Matrix | None:
    """The matrix step of Rows._bind as it was: lookups by the twin's column names, then np.array."""
    columns = loaded.twin.columns
    if sum(map(len, rows)) != len(rows) * len(columns):
        return None
    try:
        flat = list(chain.from_iterable(map(itemgetter(*columns), rows)))
    except KeyError:
        return None
    return old_json_matrix(loaded, flat, len(rows), nested=False)


def rows_of(n: int = N, seed: int = 5) -> list[dict[str, Any]]:
    X = np.round(np.random.default_rng(seed).normal(size=(n, 3)), 5)
    return [dict(zip(COLUMNS, map(float, r), strict=True)) for r in X]


def changed(k: int = 17, **values: Any) -> list[dict[str, Any]]:
    """Rows where row k has `values` (a value of `...` removes that key)."""
    rows = rows_of()
    rows[k] = {c: v for c, v in {**rows[k], **values}.items() if v is not ...}
    return rows


CASES: dict[str, list[dict[str, Any]]] = {
    "clean": rows_of(),
    "one row": rows_of(1),
    "keys in another order": [{c: r[c] for c in ("c", "a", "b")} for r in rows_of()],
    "first row in another order": [{c: rows_of()[0][c] for c in ("b", "a", "c")}, *rows_of()[1:]],
    "some rows in another order": [
        {c: r[c] for c in (("c", "b", "a") if i % 3 else COLUMNS)} for i, r in enumerate(rows_of())
    ],
    "ints and bools": changed(a=3, b=True, c=-2),
    "missing key": changed(b=...),
    "extra key": changed(d=1.0),
    "renamed key": changed(b=..., z=0.5),
    "text": changed(b="x"),
    "numeric text": changed(b="1.5"),
    "null": changed(b=None),
    "NaN": changed(b=float("nan")),
    "Infinity": changed(c=float("-inf")),
    "too large for float32": changed(a=1e39),
    "list value": changed(a=[1.0]),
    "object value": changed(a={"v": 1.0}),
    "an integer past 64 bits": changed(a=2**70),  # the stdlib parser's int (orjson reads it as a float)
    "an integer past float64": changed(a=10**400),
}


def outcome(loaded: Loaded, batch: Any) -> tuple[Any, ...]:
    """What a request with `batch` ends in: its predictions and raw outputs, or the refusal's sentence; and what
    the monitor records for it (each sketch serialized, the stored predictions' text)."""
    try:
        outputs, out = _run(runtime(), loaded, batch)
    except ValueError as err:
        return ("refused", str(err))
    bound = batch.__dict__["_bound"][1]
    monitor = monitoring.Monitor(SimpleNamespace(), STORE, "replica")  # settings' defaults; never flushed
    monitor.observe("plain", "1", loaded, bound if isinstance(bound, Matrix) else batch, out)
    monitor.ingest(monitor.drain())
    (window,) = monitor.windows.values()
    entries = [(e.name, e.role, e.kind, e.n, e.nulls, e.data) for e in window.entries()]
    raw = {name: np.asarray(v).tolist() for name, v in outputs.items()}
    return ("served", out, raw, window.rows, entries, monitor.predictions[0]["predictions"])


def old_bound(loaded: Loaded, rows: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Rows._bind as it was: the old matrix step, else the column and row paths (unchanged)."""
    matrix = old_rows_matrix(loaded, rows)
    if matrix is not None:
        return matrix
    with monkeypatch.context() as m:
        m.setattr(gateway_app, "rows_matrix", lambda *_: None)
        return Rows(rows)._bind(loaded)


@pytest.mark.parametrize("case", list(CASES))
def test_rows_bind_as_the_old_path(plain: Loaded, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = CASES[case]
    new, old = Rows(rows), Rows(rows)
    old.__dict__["_bound"] = (plain, old_bound(plain, rows, monkeypatch))
    new_bound, old_form = new.bind(plain), old.bind(plain)
    if case == "an integer past 64 bits":
        # np.array made an object array of it and the batch went by whole columns; array('d') reads it as the
        # same float64 (both round it once), so it now takes the matrix, with the same numbers and answers.
        assert isinstance(new_bound, Matrix) and isinstance(old_form, dict)
        np.testing.assert_array_equal(new_bound.values, np.column_stack([old_form[c] for c in COLUMNS]))
    else:
        assert type(new_bound) is type(old_form), case
    if isinstance(new_bound, Matrix) and isinstance(old_form, Matrix):
        assert new_bound.values.dtype == old_form.values.dtype == np.float64
        np.testing.assert_array_equal(new_bound.values, old_form.values)
        assert new_bound.feed.keys() == old_form.feed.keys()
        for name in new_bound.feed:
            assert new_bound.feed[name].dtype == old_form.feed[name].dtype
            np.testing.assert_array_equal(new_bound.feed[name], old_form.feed[name])
    if case in ("clean", "one row", "keys in another order", "first row in another order", "ints and bools"):
        assert isinstance(new_bound, Matrix), case  # the fast path is taken where it should be
    assert outcome(plain, new) == outcome(plain, old), case


def test_the_refusals_are_the_row_wise_sentences(plain: Loaded) -> None:
    for case, needle in (
        ("missing key", "Row 17 lacks column 'b'"),
        ("extra key", "Row 17 has column 'd', which the model does not take"),
        ("text", "Row 17: column 'b' takes a number"),
        ("NaN", "Row 17: feature 'b' is NaN"),
        ("Infinity", "Row 17: feature 'c' is -Infinity"),
        ("too large for float32", "Row 17: feature 'a' is 1e+39, too large for the model's float32 input"),
    ):
        result = outcome(plain, Rows(CASES[case]))
        assert result[0] == "refused" and str(result[1]).startswith(needle), (case, result)


TABLES: dict[str, list[list[Any]]] = {
    "clean": [[r[c] for c in COLUMNS] for r in rows_of()],
    "ints and bools": [[1, True, -2.5], *([[r[c] for c in COLUMNS] for r in rows_of()][1:])],
    "ragged": [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], *([[1.0, 2.0, 3.0]] * 3)],
    "text": [[1.0, "2", 3.0], [1.0, 2.0, 3.0]],
    "null": [[1.0, None, 3.0], [1.0, 2.0, 3.0]],
    "nested": [[1.0, [2.0], 3.0], [1.0, 2.0, 3.0]],
    "NaN": [[1.0, float("nan"), 3.0], [1.0, 2.0, 3.0]],
    "an integer past float64": [[1.0, 10**400, 3.0], [1.0, 2.0, 3.0]],
    "rows that are not lists": [{"a": 1, "b": 2, "c": 3}, "abc"],  # type: ignore[list-item]
    "numbers for rows": [1.0, 2.0, 3.0],  # type: ignore[list-item]
}


@pytest.mark.parametrize("case", list(TABLES))
def test_json_matrix_as_the_old_path(plain: Loaded, case: str) -> None:
    data = TABLES[case]
    for nested, given in (
        (True, data),
        (False, list(chain.from_iterable(data)) if case == "clean" else data),
    ):
        new = json_matrix(plain, given, len(data), nested=nested)
        old = old_json_matrix(plain, given, len(data), nested=nested)
        assert (new is None) == (old is None), (case, nested)
        if new is not None and old is not None:
            np.testing.assert_array_equal(new.values, old.values)
            np.testing.assert_array_equal(new.feed["X"], old.feed["X"])


def test_tables_bind_and_answer_as_before(plain: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    data = TABLES["clean"]
    for names in (COLUMNS, ["c", "a", "b"]):
        given = [[row[COLUMNS.index(n)] for n in names] for row in data]
        new, old = Table(names, given), Table(names, given)
        with monkeypatch.context() as m:
            m.setattr(gateway_app, "json_matrix", old_json_matrix)
            old_form = old.bind(plain)
        assert isinstance(new.bind(plain), Matrix) and isinstance(old_form, Matrix)
        assert outcome(plain, new) == outcome(plain, old)


def test_stored_predictions_are_the_stdlib_text() -> None:
    for outputs in (
        [1, 0, 3, -5] * 250,
        [],
        [2**64],
        [2**63 - 1, -(2**63)],
        [True, 1],
        [0.5, 1e-05],
        ["a", "é"],
    ):
        assert monitoring._encode_outputs(outputs) == monitoring._encode(outputs), outputs


async def test_a_big_batch_wakes_the_drain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(monitoring, "DRAIN_S", 30.0)  # only the wake can drain within the test
    monitor = monitoring.Monitor(SimpleNamespace(monitor_flush_s=60.0), STORE, "replica")
    gateway = SimpleNamespace(_monitor=monitor)
    loaded = SimpleNamespace(onnx_dir=str(tmp_path), dtypes={c: "float32" for c in COLUMNS})
    loaded.twin = SimpleNamespace(columns=COLUMNS, task="classification")
    task = asyncio.create_task(monitoring.run(gateway))  # type: ignore[arg-type]
    try:
        for _ in range(100):
            if monitor.wake is not None:
                break
            await asyncio.sleep(0.01)
        values = np.asarray([[r[c] for c in COLUMNS] for r in rows_of()])
        small = Matrix(values[:10], {})
        monitor.observe("plain", "1", loaded, small, [0] * 10)
        await asyncio.sleep(0.2)
        assert (
            monitor.pending_rows == 10 and monitor.wake is not None and not monitor.wake.is_set()
        )  # under WAKE_ROWS: left for the tick
        big = Matrix(np.repeat(values, 4, axis=0), {})  # 600 rows: 610 queued
        monitor.observe("plain", "1", loaded, big, [1] * len(big.values))
        for _ in range(200):
            if monitor.pending_rows == 0 and monitor.windows:
                break
            await asyncio.sleep(0.01)
        assert monitor.pending_rows == 0
        (window,) = monitor.windows.values()
        assert window.rows == 610 and len(monitor.predictions) == 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert monitor.wake is None
