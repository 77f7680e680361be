"""Lake read path: `lake_read` (through an MCP client) vs the same read with pyarrow directly, same run.

A generated dataset (10,000,000 rows by default; numpy, in 1M-row chunks) is written as CSV and
Parquet, then into the lake with `lake_write` partitioned by `bucket` (100 values). Figures:
- a read filtered on the partition column and the sorted `id` column: lake_read (catalog lookup, the
  matched count and a 10-row sample, the MCP round trip) vs pyarrow.dataset's `to_table` with the same
  filter, the read alone (median of interleaved runs; target ratio <= 1.10); and with `write_result=true`
  against the same read plus the same Parquet result file written by pyarrow;
- the share of the dataset's bytes read for a 1% filter on the partition column (target <= 10%),
  measured as the process's read bytes (/proc/self/io rchar) during the lake_read call;
- Parquet vs CSV size and full-scan time, from `lake_convert` on the CSV.
Prints one JSON line. `--rows N` for a smaller run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings

CHUNK = 1_000_000
BUCKETS = 100
RUNS = 7
CATEGORIES = pa.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])


def generate(rows: int, csv_path: Path, parquet_path: Path) -> None:
    rng = np.random.default_rng(42)
    csv_writer = parquet_writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        table = pa.table(
            {
                "id": ids,
                "bucket": rng.integers(0, BUCKETS, n).astype(np.int32),
                "ts": pa.array(1_700_000_000 + ids, type=pa.int64()).cast(pa.timestamp("s")),
                "value": rng.normal(100.0, 15.0, n),
                "qty": rng.integers(1, 1000, n).astype(np.int32),
                "category": pa.DictionaryArray.from_arrays(
                    rng.integers(0, len(CATEGORIES), n), CATEGORIES
                ).cast(pa.string()),
            }
        )
        if csv_writer is None:
            csv_writer = pacsv.CSVWriter(str(csv_path), table.schema)
            parquet_writer = pq.ParquetWriter(str(parquet_path), table.schema, compression="zstd")
        csv_writer.write_table(table)
        assert parquet_writer is not None
        parquet_writer.write_table(table, row_group_size=CHUNK)
    assert csv_writer is not None and parquet_writer is not None
    csv_writer.close()
    parquet_writer.close()


def rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def direct_read(folder: Path, filters: Any, out: Path | None = None) -> int:
    """The same read with pyarrow alone; with `out`, also the same result file lake_read writes."""
    schema = pa.schema([("bucket", pa.int32())])
    data = ds.dataset(folder, format="parquet", partitioning=ds.partitioning(schema, flavor="hive"))
    table = data.to_table(filter=filters)
    if out is not None:
        pq.write_table(table, out, compression="none", use_dictionary=False, write_statistics=False)
    return table.num_rows


async def run(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlops-lake-bench-") as tmp:
        settings = Settings(
            home=Path(tmp) / "home", profile="all", max_rows=rows + 1, deadline_s=1800, max_deadline_s=1800
        )
        ws = settings.workspace_dir
        ws.mkdir(parents=True)
        started = time.perf_counter()
        generate(rows, ws / "events.csv", ws / "events.parquet")
        generate_s = time.perf_counter() - started
        server = create_server(settings)
        async with Client(server, mode="legacy") as client:

            async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(tool, args)
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content}")
                assert result.structured_content is not None
                return result.structured_content

            started = time.perf_counter()
            written = await call(
                "lake_write",
                {
                    "source": "events.parquet",
                    "dataset": "events",
                    "partition_by": ["bucket"],
                    "row_group_size": 10_000,
                },
            )
            write_s = time.perf_counter() - started
            folder = settings.home / "lake" / "raw" / "events" / "v1"
            # One partition of 100, and the upper half of the sorted id range: half its row groups skip.
            lo = rows // 2
            sorted_filter = [["bucket", "==", 7], ["id", ">=", lo]]
            expr = (ds.field("bucket") == 7) & (ds.field("id") >= lo)
            args = {"dataset": "events", "filters": sorted_filter, "sample_rows": 10}

            expected = direct_read(folder, expr)
            out = Path(tmp) / "direct-result.parquet"
            ours_s, ours_file_s, direct_s, read_only_s = [], [], [], []
            await call("lake_read", args)  # warm-up: imports, the first catalog query
            for _ in range(RUNS):  # interleaved: page cache and machine noise hit every side alike
                t0 = time.perf_counter()
                got = await call("lake_read", args)
                ours_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                direct_read(folder, expr)
                read_only_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with_file = await call("lake_read", {**args, "write_result": True})
                ours_file_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                direct_read(folder, expr, out)
                direct_s.append(time.perf_counter() - t0)
                assert got["matched_rows"] == with_file["returned_rows"] == expected, (got, expected)

            # Bytes read for a 1% filter on the partition column.
            before = rchar()
            one_pct = await call(
                "lake_read", {"dataset": "events", "filters": [["bucket", "==", 42]], "sample_rows": 1}
            )
            read_bytes = rchar() - before
            lake_bytes = written["bytes"]

            converted = await call(
                "lake_convert", {"path": "events.csv", "output": "events_converted.parquet"}
            )
        server.app.close()
    value, read_only = statistics.median(ours_s), statistics.median(read_only_s)
    with_file, direct_with_file = statistics.median(ours_file_s), statistics.median(direct_s)
    return {
        "figure": "lake_read_filtered_vs_pyarrow",
        "value": round(value, 4),
        "baseline": round(read_only, 4),
        "ratio": round(value / read_only, 3),
        "unit": "s",
        "value_is": "lake_read through an MCP client: matched count and a 10-row sample, no result file",
        "baseline_is": "pyarrow.dataset to_table(filter), the read alone",
        "target_ratio": 1.10,
        "with_result_file": round(with_file, 4),
        "direct_with_result_file": round(direct_with_file, 4),
        "ratio_with_result_file": round(with_file / direct_with_file, 3),
        "rows": rows,
        "matched_rows": expected,
        "partitioned_by": "bucket (100 values)",
        "one_pct_filter_matched_rows": one_pct["matched_rows"],
        "one_pct_bytes_read": read_bytes,
        "lake_bytes": lake_bytes,
        "one_pct_bytes_read_share": round(read_bytes / lake_bytes, 4),
        "target_bytes_share": 0.10,
        "csv_bytes": converted["source_bytes"],
        "parquet_bytes": converted["parquet_bytes"],
        "parquet_csv_size_ratio": converted["size_ratio"],
        "csv_full_scan_s": converted["source_scan_s"],
        "parquet_full_scan_s": converted["parquet_scan_s"],
        "parquet_csv_scan_ratio": converted["scan_ratio"],
        "lake_write_s": round(write_s, 2),
        "generate_s": round(generate_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    rows = parser.parse_args().rows
    print(json.dumps(anyio.run(run, rows)))


if __name__ == "__main__":
    main()
