"""Validation on DuckDB (#28): `validation_run` with engine=duckdb through an MCP client vs the same suite run
by GX's pandas engine directly, on one generated 10,000,000-row x 10-column Parquet file.

The suite is benchmarks/validation_throughput.py's with its regex (validation_regex.py's): ten expectations,
one of them `expect_column_values_to_match_regex`. The tool runs it with GX's own SQL engine on a DuckDB view
of the file (the regex rewritten for RE2, so it runs there too); GX directly reads the file with pandas and
validates the DataFrame with its pandas engine. Both sides include the file read and ask for the same result
format. Each side runs in its own fresh process (so the tool side's peak RSS is the server's own); the tool
side fingerprints the file once first (cached afterwards), as the other validation benchmarks do.

Prints one JSON line: rows/s of the tool (value) and of GX's pandas engine (baseline), their ratio, whether
every expectation's success and unexpected count are identical, which engine ran each expectation, and the
server's peak RSS. Target: >= 10M rows/s for the DuckDB path. ROWS=... runs a smaller file.

Where the tool's time goes, from its median run: every SQL statement GX (and the adapter's uniqueness
check) sent through SQLAlchemy, timed from the cursor's execute to its fetch (`sql_statements`, the
slowest first, `sql_seconds` their sum, `queries` their count, `queries_reading_the_file` those reading
the view over the Parquet file: each is one scan of the columns it names); the rest of the call is GX's
Python, the MCP session and the server (`seconds_outside_sql`). For comparison in the same run: the suite
less its uniqueness check, and the suite with GX's own SQL for the two metrics duckdb_adapter computes its
way (`rows_per_s_duckdb_tool_gx_sql_unchanged`, with `counts_match_gx_sql_unchanged`).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("ROWS", 10_000_000))
RUNS_TOOL = 3  # timed runs of the tool, after one warm-up run
RUNS_GX = 1  # GX's pandas engine on 10M rows takes a while: one timed run
TARGET_ROWS_PER_S = 10_000_000


# validation_throughput.py's suite with its regex, its peak-RSS reading and its side spawner.
sys.path.insert(0, str(Path(__file__).parent))
os.environ["VALIDATION_BENCH_SUITE"] = "regex"
import validation_throughput as vt  # noqa: E402

_peak_mb = vt._peak_mb


def _suite() -> list[dict[str, Any]]:
    return list(vt.SUITE)


def _generate(path: Path) -> None:
    """validation_throughput.py's columns and distributions, written in 1M-row row groups."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    missing = set(rng.choice(ROWS, ROWS // 1000, replace=False).tolist())
    writer = None
    step = 1_000_000
    for start in range(0, ROWS, step):
        n = min(step, ROWS - start)
        score = rng.normal(size=n)
        for i in [i - start for i in missing if start <= i < start + n]:
            score[i] = np.nan
        table = pa.table(
            {
                "id": np.arange(start, start + n),
                "amount": rng.normal(size=n),
                "qty": rng.integers(0, 100, n),
                "segment": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.29, 0.01]),
                "ratio": rng.random(n),
                "score": pa.array(score, from_pandas=True),
                "region": rng.choice(["n", "s", "e", "w"], n),
                "visits": rng.poisson(20, n),
                "flag": rng.random(n) < 0.5,
                "label": rng.integers(0, 2, n),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def side_gx(data: Path) -> dict[str, Any]:
    """GX directly: ephemeral context, pandas data source, the suite, a validation definition."""
    import pandas as pd

    from mcp_server.tools.validation.adapter import RESULT_FORMAT

    vd = vt.gx_definition(_suite())
    position = {str(e.id): i for i, e in enumerate(vd.suite.expectations)}
    times, counts = [], []
    for _ in range(RUNS_GX):
        t0 = time.perf_counter()
        df = pd.read_parquet(data)
        result = vd.run(batch_parameters={"dataframe": df}, result_format=RESULT_FORMAT)
        times.append(time.perf_counter() - t0)
        del df
        counts = sorted(
            (
                position[str(r.expectation_config.id)],
                bool(r.success),
                r.result.get("unexpected_count"),
            )
            for r in result.results
        )
    return {"times": times, "counts": counts, "peak_mb": _peak_mb()}


def side_mcp(data: Path, home: Path) -> dict[str, Any]:
    """The tool through an in-memory MCP client session (JSON-RPC, the server's boundary, the store)."""
    import anyio
    from mcp import Client

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    settings = Settings(home=home, roots=[data.parent], profile="all", tools=["validation"], deadline_s=1800)
    out: dict[str, Any] = {}
    statements = _log_sql()

    async def main() -> None:
        server = create_server(settings)
        async with Client(server, mode="legacy") as client:
            created = await client.call_tool(
                "validation_create_suite", {"name": "bench", "expectations": _suite()}
            )
            assert not created.is_error, created.content

            async def once() -> tuple[float, dict[str, Any]]:
                t0 = time.perf_counter()
                result = await client.call_tool(
                    "validation_run", {"dataset": str(data), "suite": "bench", "engine": "duckdb"}
                )
                assert not result.is_error, result.content
                return time.perf_counter() - t0, result.structured_content or {}

            await once()  # warm-up: fingerprints the file once (cached afterwards)
            times = []
            logs = []
            payload: dict[str, Any] = {}
            for _ in range(RUNS_TOOL):
                statements.clear()
                seconds, payload = await once()
                times.append(seconds)
                logs.append(list(statements))
            # The SQL of the median run.
            median = logs[sorted(range(RUNS_TOOL), key=times.__getitem__)[RUNS_TOOL // 2]]
            out["sql"] = median
            # The same suite less its uniqueness check, to show what that one expectation costs.
            rest = [e for e in _suite() if e["type"] != "expect_column_values_to_be_unique"]
            made = await client.call_tool("validation_create_suite", {"name": "rest", "expectations": rest})
            assert not made.is_error, made.content
            t0 = time.perf_counter()
            other = await client.call_tool(
                "validation_run", {"dataset": str(data), "suite": "rest", "engine": "duckdb"}
            )
            assert not other.is_error, other.content
            out["seconds_without_unique"] = time.perf_counter() - t0
            out["peak_mb"] = _peak_mb()  # the server's, before the comparison run below
            # The same suite once more with GX's own SQL for the two metrics duckdb_adapter computes its way
            # (the uniqueness window, sum(CASE ...) counts): their providers for the DuckDB engine removed
            # from GX's registry, GX falls back to its SqlAlchemyExecutionEngine ones. Same counts, its time.
            from great_expectations.expectations import registry

            for definition in registry._registered_metrics.values():
                definition.get("providers", {}).pop("DuckDBExecutionEngine", None)
            t0 = time.perf_counter()
            plain_sql = await client.call_tool(
                "validation_run", {"dataset": str(data), "suite": "bench", "engine": "duckdb"}
            )
            assert not plain_sql.is_error, plain_sql.content
            out["seconds_gx_sql_unchanged"] = time.perf_counter() - t0
            out["counts_gx_sql_unchanged"] = sorted(
                (o["index"], o["success"], o["unexpected_count"])
                for o in (plain_sql.structured_content or {})["results"]
            )
            out.update(
                times=times,
                counts=sorted((o["index"], o["success"], o["unexpected_count"]) for o in payload["results"]),
                engines=sorted({o["engine"] for o in payload["results"]}),
                engine=payload["engine"],
                isolated=payload["isolated"],
            )
        server.app.close()

    anyio.run(main)
    return out


def _log_sql() -> list[tuple[float, str]]:
    """(seconds, statement) of every statement sent to DuckDB through SQLAlchemy in this process from now on."""
    import sqlalchemy as sa

    log: list[tuple[float, str]] = []

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["mlops_bench_t0"] = time.perf_counter()

    @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seconds = time.perf_counter() - conn.info.pop("mlops_bench_t0")
        if conn.dialect.name == "duckdb":  # not the server's own store
            log.append((seconds, " ".join(statement.split())))

    return log


def _spawn(side: str, data: Path, home: Path) -> dict[str, Any]:
    return vt._spawn(side, data, home, script=__file__)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="validation-duckdb-bench-") as tmp:
        data = Path(tmp) / "data" / "bench.parquet"
        data.parent.mkdir()
        _generate(data)
        tool = _spawn("mcp", data, Path(tmp) / "home")
        direct = _spawn("gx", data, Path(tmp) / "unused")
        file_mb = data.stat().st_size / 2**20
    tool_s = statistics.median(tool["times"])
    gx_s = statistics.median(direct["times"])
    counts_match = [list(c) for c in tool["counts"]] == [list(c) for c in direct["counts"]]
    sql = sorted(tool["sql"], reverse=True)
    sql_s = sum(t for t, _ in sql)
    # The statement's time is measured at the cursor: GX fetches inside the connection (duckdb_adapter), so it
    # includes DuckDB's work; a run's other statements (the view, DESCRIBE, the row count) are not GX's.
    reading = [q for _, q in sql if re.search(r"\bFROM data\b", q)]
    print(
        json.dumps(
            {
                "figure": "validation_duckdb",
                "value": round(ROWS / tool_s),
                "baseline": round(ROWS / gx_s),
                "ratio": round(gx_s / tool_s, 2),
                "unit": "rows/s",
                "rows": ROWS,
                "columns": 10,
                "expectations": len(tool["counts"]),
                "seconds_duckdb_tool": round(tool_s, 3),
                "seconds_duckdb_tool_runs": [round(t, 3) for t in tool["times"]],
                "seconds_gx_pandas": round(gx_s, 3),
                "rows_per_s_duckdb_tool_without_unique": round(ROWS / tool["seconds_without_unique"]),
                "rows_per_s_duckdb_tool_gx_sql_unchanged": round(ROWS / tool["seconds_gx_sql_unchanged"]),
                "counts_match_gx_sql_unchanged": tool["counts_gx_sql_unchanged"] == tool["counts"],
                "queries": len(sql),
                "queries_reading_the_file": len(reading),
                "sql_seconds": round(sql_s, 3),
                "seconds_outside_sql": round(tool_s - sql_s, 3),
                "sql_statements": [[round(t, 3), q[:160]] for t, q in sql],
                "counts_match": counts_match,
                "counts": tool["counts"],
                "engines_used": tool["engines"],
                "engine": tool["engine"],
                "isolated": tool["isolated"],
                "parquet_mb": round(file_mb, 1),
                "peak_rss_mb_server": round(tool["peak_mb"], 1),
                "peak_rss_mb_gx_pandas": round(direct["peak_mb"], 1),
                "target_rows_per_s": TARGET_ROWS_PER_S,
            }
        )
    )


if __name__ == "__main__":
    vt.run(side_gx, side_mcp, main)
