"""#28: the two metrics duckdb_adapter computes its own way on DuckDB give GX's pandas engine's answers.

expect_column_values_to_be_unique first asks whether any value repeats (bitstring_agg over an integer
column's [min, max], a count of values beyond that range) and otherwise, or when one does, stores the
repeated values with their counts from one GROUP BY (duckdb_adapter._register_unique_check): the same
success, unexpected count and sample on columns with and without repeats of each kind. A map expectation's
unexpected count is count_if (duckdb_adapter._register_count_if): 0 on an empty file, as pandas counts
(GX's own test cases, test_duckdb_gx_cases.py, cover the rest)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mcp_server.tools.validation import duckdb_adapter
from tests.conftest import structured
from tests.tools.validation.conftest import Harness

pytestmark = pytest.mark.timeout(300)

N = 3000
BIG = 2**40  # beyond MAX_BITSTRING_SPAN: count(DISTINCT)


def _columns() -> dict[str, pa.Array]:
    rng = np.random.default_rng(7)
    ids = np.arange(N)
    spread = ids * 3 - 4000  # negative and positive, gaps between: the bitstring's range is 3x the count
    spread_dup = spread.copy()
    spread_dup[N - 1] = spread_dup[17]  # one repeat inside [min, max]: only the bitstring finds it
    with_nulls = pa.array([None if i % 10 == 0 else int(i) for i in ids], pa.int64())
    nulls_dup = pa.array([None if i % 10 == 0 else int(i % 1000) for i in ids], pa.int64())
    floats = rng.normal(size=N)
    floats[::50] = np.nan  # NaN is missing, on both engines
    floats_dup = floats.copy()
    floats_dup[1] = floats_dup[2] = 0.5
    texts = [f"k{i:05d}" for i in ids]
    texts_dup = [*texts[:-2], "k00003", None]
    return {
        "dense": pa.array(ids, pa.int64()),
        "pigeonhole": pa.array(ids % (N - 5), pa.int64()),  # more values than integers in [min, max]
        "spread": pa.array(spread, pa.int64()),
        "spread_dup": pa.array(spread_dup, pa.int64()),
        "with_nulls": with_nulls,
        "nulls_dup": nulls_dup,
        "tiny": pa.array(ids % 100, pa.int8()),
        "unsigned_high": pa.array([2**64 - 1 - 3 * int(i) for i in ids], pa.uint64()),
        "unsigned_high_dup": pa.array([2**64 - 1 - 3 * int(i % 2000) for i in ids], pa.uint64()),
        "wide": pa.array([int(i) * BIG for i in ids], pa.int64()),
        "wide_dup": pa.array([int(i % 2999) * BIG for i in ids], pa.int64()),
        "floats": pa.array(floats, pa.float64()),
        "floats_dup": pa.array(floats_dup, pa.float64()),
        "texts": pa.array(texts, pa.string()),
        "texts_dup": pa.array(texts_dup, pa.string()),
        "flags": pa.array(ids % 2 == 0, pa.bool_()),
        "days": pa.array([dt.date(2000, 1, 1) + dt.timedelta(days=int(i)) for i in ids], pa.date32()),
        "all_null": pa.array([None] * N, pa.int64()),
    }


async def test_uniqueness_on_duckdb_gives_pandas_answers_on_every_path(vh: Harness) -> None:
    columns = _columns()
    pq.write_table(pa.table(columns), vh.workspace / "keys.parquet")
    suite: list[dict[str, Any]] = [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": c}} for c in columns
    ]
    suite.append(
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "nulls_dup", "mostly": 0.1}}
    )
    structured(await vh.call("validation_create_suite", {"name": "keys", "expectations": suite}))
    args = {"dataset": "keys.parquet", "suite": "keys", "limit": 500, "include_samples": True}
    on_pandas = structured(await vh.call("validation_run", {**args, "engine": "pandas"}))
    on_duckdb = structured(await vh.call("validation_run", {**args, "engine": "duckdb"}))
    p = {o["index"]: o for o in on_pandas["results"]}
    d = {o["index"]: o for o in on_duckdb["results"]}
    assert len(p) == len(d) == len(suite)
    for i, spec in enumerate(suite):
        assert d[i]["engine"] == "duckdb" and d[i]["error"] is None, d[i]
        column = spec["kwargs"]["column"]
        assert (d[i]["success"], d[i]["unexpected_count"]) == (p[i]["success"], p[i]["unexpected_count"]), (
            column,
            p[i],
            d[i],
        )
        # The sample: none without a repeat; as many values with one (GX's window picks any of the repeats,
        # pandas the first ones).
        assert len(d[i].get("sample") or []) == len(p[i].get("sample") or []), (column, p[i], d[i])
    repeats = {s["kwargs"]["column"] for i, s in enumerate(suite) if p[i]["unexpected_count"]}
    assert repeats == {
        "pigeonhole",
        "spread_dup",
        "nulls_dup",
        "tiny",
        "unsigned_high_dup",
        "wide_dup",
        "floats_dup",
        "texts_dup",
        "flags",
    }


def test_the_repeated_values_and_their_counts_are_pandas_own(tmp_path: Path) -> None:
    """`_repeated` itself, on each of its paths, against pandas' `value_counts` (on the view, NaN is NULL):
    None without a repeat, else a table of exactly the values occurring twice or more, with their counts."""
    import duckdb
    from duckdb_engine import ConnectionWrapper

    path = tmp_path / "keys.parquet"
    pq.write_table(pa.table(_columns()), path)
    frame = pd.read_parquet(path)
    con = duckdb.connect()
    sql = duckdb_adapter.source_sql(str(path), "parquet")
    duckdb_adapter.create_view(con, sql, duckdb_adapter.describe(con, sql, path.name), {})
    engine_cls, _ = duckdb_adapter._gx_types()
    engine = engine_cls(
        engine=sa.create_engine(
            "duckdb:///:memory:", creator=lambda: ConnectionWrapper(con.cursor()), poolclass=sa.pool.NullPool
        )
    )
    view = sa.table(duckdb_adapter.VIEW)
    for column in frame.columns:
        counts = frame[column].dropna().value_counts()
        expected = {str(k): int(n) for k, n in counts[counts >= 2].items()}
        table = duckdb_adapter._repeated(engine, view, column, "_num_rows")
        if not expected:
            assert table is None, column
            continue
        assert table is not None, column
        rows = engine.execute_query(sa.select(table.c[column], table.c["_num_rows"])).fetchall()
        found = {
            str(frame[column].dtype.type(v)) if frame[column].dtype.kind in "iuf" else str(v): n
            for v, n in rows
        }
        assert found == expected, column
    engine.engine.dispose()
    con.close()


async def test_an_empty_file_counts_as_on_pandas(vh: Harness) -> None:
    empty = pa.table({"a": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    pq.write_table(empty, vh.workspace / "empty.parquet")
    suite = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "a", "min_value": 0, "max_value": 1},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": ["x"]}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "^x$"}},
    ]
    structured(await vh.call("validation_create_suite", {"name": "empty", "expectations": suite}))
    seen = {}
    for engine in ("pandas", "duckdb"):
        report = structured(
            await vh.call("validation_run", {"dataset": "empty.parquet", "suite": "empty", "engine": engine})
        )
        seen[engine] = sorted(
            (o["index"], o["success"], o["unexpected_count"], o["error"]) for o in report["results"]
        )
        if engine == "duckdb":
            assert {o["engine"] for o in report["results"]} == {"duckdb"}
    assert seen["duckdb"] == seen["pandas"] == [(i, True, 0, None) for i in range(len(suite))]
