"""Validation on Spark: the 10-expectation suite of validation_throughput.py on a generated Parquet dataset
(20,000,000 rows by default), through `validation_run` with engine=pandas and engine=spark (local[2]).

Each side runs in its own fresh process, through a real MCP client session, with the server's default
limits: past MLOPS_MCP_MAX_ROWS (5,000,000) the pandas engine refuses the file, which is recorded as its
result (baseline null). The Spark side's session is started by a first call on a tiny file, so its timing
is the validation alone; its peak RSS is the Python driver's plus the JVM's (VmHWM).

    python benchmarks/validation_spark.py [rows]        # or BENCH_ROWS=1000000 for a quick check

Prints one JSON line: rows/s on Spark (value) and on pandas (baseline, null when refused), their ratio,
and for each side its status, seconds and peak RSS in MiB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from validation_throughput import SUITE  # noqa: E402  (the same 10 expectations)

DEFAULT_ROWS = 20_000_000
CHUNK = 1_000_000


def _generate(path: Path, rows: int) -> None:
    """The throughput benchmark's columns, written in chunks (memory stays bounded at any size)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            score = rng.normal(size=n)
            score[rng.choice(n, max(1, n // 1000), replace=False)] = np.nan
            df = pd.DataFrame(
                {
                    "id": np.arange(start, start + n),
                    "amount": rng.normal(size=n),
                    "qty": rng.integers(0, 100, n),
                    "segment": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.29, 0.01]),
                    "ratio": rng.random(n),
                    "score": score,
                    "region": rng.choice(["n", "s", "e", "w"], n),
                    "visits": rng.poisson(20, n),
                    "flag": rng.random(n) < 0.5,
                    "label": rng.integers(0, 2, n),
                }
            )
            table = pa.Table.from_pandas(df, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=CHUNK)
    finally:
        if writer is not None:
            writer.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jvm_peak_mb() -> float:
    try:
        from pyspark import SparkContext

        pid = SparkContext._gateway.proc.pid  # type: ignore[union-attr]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:
        pass
    return 0.0


def side(engine: str, workspace: str, home: str) -> dict[str, Any]:
    """One engine through the MCP tools: create the suite, (Spark: start the session), validate, time it."""
    import anyio
    from mcp import Client

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    settings = Settings(
        home=Path(home),
        roots=[Path(workspace)],
        profile="all",
        spark_master="local[2]",
        deadline_s=3600,
        max_deadline_s=3600,
    )

    async def run() -> dict[str, Any]:
        server = create_server(settings)
        try:
            async with Client(server, mode="legacy") as client:
                made = await client.call_tool(
                    "validation_create_suite", {"name": "bench", "expectations": SUITE}
                )
                assert not made.is_error, made.content
                if engine == "spark":  # the JVM start is not part of the validation's time
                    warm = await client.call_tool(
                        "validation_run", {"dataset": "tiny.parquet", "suite": "bench", "engine": "spark"}
                    )
                    assert not warm.is_error, warm.content
                started = time.perf_counter()
                result = await client.call_tool(
                    "validation_run", {"dataset": "data.parquet", "suite": "bench", "engine": engine}
                )
                seconds = time.perf_counter() - started
                out: dict[str, Any] = {"seconds": round(seconds, 2)}
                if result.is_error:
                    text = "".join(getattr(c, "text", "") for c in result.content)
                    out.update(status="refused", message=text[-200:])
                else:
                    body = result.structured_content or {}
                    out.update(
                        status="ok",
                        rows=body["row_count"],
                        failed=body["failed"],
                        engine=body["engine"],
                        unexpected={
                            str(r["index"]): r["unexpected_count"]
                            for r in body["results"]
                            if not r["success"]
                        },
                    )
                out["peak_rss_mb"] = round(_peak_mb() + (_jvm_peak_mb() if engine == "spark" else 0.0), 1)
                return out
        finally:
            server.app.close()

    return anyio.run(run)


def _run_side(engine: str, workspace: Path, home: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, __file__, "--side", engine, str(workspace), str(home)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"status": "crashed", "message": proc.stderr[-400:]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_ROWS", DEFAULT_ROWS))
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        _generate(workspace / "data.parquet", rows)
        _generate(workspace / "tiny.parquet", 1000)
        results = {}
        for engine in ("pandas", "spark"):
            results[engine] = _run_side(engine, workspace, Path(tmp) / f"home-{engine}")
    spark, pandas = results["spark"], results["pandas"]
    value = round(rows / spark["seconds"]) if spark.get("status") == "ok" else None
    baseline = round(rows / pandas["seconds"]) if pandas.get("status") == "ok" else None
    same = None
    if spark.get("status") == "ok" and pandas.get("status") == "ok":
        same = spark["unexpected"] == pandas["unexpected"] and spark["failed"] == pandas["failed"]
    print(
        json.dumps(
            {
                "figure": "validation_spark_rows_per_s",
                "value": value,
                "baseline": baseline,
                "ratio": round(value / baseline, 3) if value and baseline else None,
                "unit": "rows/s",
                "rows": rows,
                "expectations": len(SUITE),
                "same_counts": same,
                "pandas": {k: v for k, v in pandas.items() if k != "unexpected"},
                "spark": {k: v for k, v in spark.items() if k != "unexpected"},
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--side":
        print(json.dumps(side(sys.argv[2], sys.argv[3], sys.argv[4])))
    else:
        main()
