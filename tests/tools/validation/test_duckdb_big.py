"""#28 must-show 3: a 50,000,000-row Parquet file (ten times the pandas engine's MLOPS_MCP_MAX_ROWS) validates
with engine=duckdb, and the server's peak RSS stays under 2 GB.

The file is written by DuckDB in a process of its own; the server runs in another fresh process (an MCP
client session in memory, as the benchmarks do), whose peak RSS (ru_maxrss) is the server's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PYTHON, REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROWS = 50_000_000
PEAK_RSS_LIMIT_MB = 2048

GENERATE = """
import sys, duckdb
con = duckdb.connect(config={"memory_limit": "512MB", "preserve_insertion_order": False})
con.execute(f'''COPY (SELECT range AS id, (hash(range) % 1000000) / 1000000.0 AS x,
  CASE WHEN hash(range * 7) % 100 = 0 THEN 'd' ELSE ['a', 'b', 'c'][(1 + hash(range * 3) % 3)::BIGINT] END AS seg,
  CASE WHEN hash(range * 11) % 1000 = 0 THEN NULL ELSE (hash(range * 13) % 100)::BIGINT END AS qty
  FROM range({sys.argv[2]})) TO '{sys.argv[1]}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)''')
"""

SERVE = """
import json, resource, sys, anyio
from pathlib import Path
from mcp import Client
from mcp_server.core.app import create_server
from mcp_server.core.config import Settings

data, home = Path(sys.argv[1]), Path(sys.argv[2])
SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 0.99}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "seg", "value_set": ["a", "b", "c"]}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "seg", "regex": "^[a-c]$"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "qty", "mostly": 0.99}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "x", "min_value": 0.4, "max_value": 0.6}},
]

async def main():
    settings = Settings(home=home, roots=[data.parent], profile="all", tools=["validation"], deadline_s=1500)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        made = await client.call_tool("validation_create_suite", {"name": "big", "expectations": SUITE})
        assert not made.is_error, made.content
        result = await client.call_tool(
            "validation_run", {"dataset": str(data), "suite": "big", "engine": "duckdb", "limit": 50}
        )
        assert not result.is_error, result.content
        print(json.dumps({"report": result.structured_content,
                          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    server.app.close()

anyio.run(main)
"""


def test_a_50m_row_parquet_file_validates_on_duckdb_under_2_gb(tmp_path: Path) -> None:
    data = tmp_path / "data" / "big.parquet"
    data.parent.mkdir()
    subprocess.run([PYTHON, "-c", GENERATE, str(data), str(ROWS)], check=True, timeout=600)
    proc = subprocess.run(
        [PYTHON, "-c", SERVE, str(data), str(tmp_path / "home")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    report, peak_mb = out["report"], out["peak_mb"]
    print(f"50M rows on DuckDB: {report['duration_s']} s, server peak RSS {peak_mb:.0f} MB")
    assert report["row_count"] == ROWS
    assert {o["engine"] for o in report["results"]} == {"duckdb"}
    counts = {o["index"]: o["unexpected_count"] for o in report["results"]}
    assert counts[0] == 0 and counts[1] == 0  # ids: present and unique
    assert counts[3] == counts[4] > 0  # the set and the pattern agree on the 'd' rows
    assert peak_mb < PEAK_RSS_LIMIT_MB, peak_mb
