"""quality_score overhead: the tool through an MCP client vs the same dimensions computed directly with pandas.

A generated 500,000-row Parquet table (a key with 1% duplicates, 2% null amounts, a start/end pair, an update
time). The tool reads it, fingerprints it, computes completeness, uniqueness (declared key), consistency
(start <= end) and timeliness (30 days) and stores the score; the baseline reads the same file with pandas and
computes the four numbers with plain pandas expressions, in the same run. Both must agree. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = 500_000
AS_OF = "2025-06-30T00:00:00+00:00"


def direct(path: Path) -> dict[str, float]:
    import pandas as pd

    df = pd.read_parquet(path)
    n = len(df)
    stamps = pd.to_datetime(df["updated_at"], utc=True)
    ok = (df["start"] <= df["end"]) | df["start"].isna() | df["end"].isna()
    return {
        "completeness": 100 * df.notna().to_numpy().sum() / df.size,
        "uniqueness": 100 * (~df["order_id"].duplicated(keep=False) & df["order_id"].notna()).sum() / n,
        "consistency": 100 * ok.sum() / n,
        "timeliness": 100 * (stamps >= pd.Timestamp(AS_OF) - pd.Timedelta(days=30)).sum() / n,
    }


async def main() -> None:
    import numpy as np
    import pandas as pd
    from mcp import Client

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    rng = np.random.default_rng(0)
    ids = np.arange(ROWS)
    ids[rng.choice(ROWS, ROWS // 100, replace=False)] = 0
    amount = rng.normal(100, 20, ROWS)
    amount[rng.choice(ROWS, ROWS // 50, replace=False)] = np.nan
    start = rng.integers(0, 1000, ROWS)
    frame = pd.DataFrame(
        {
            "order_id": ids,
            "amount": amount,
            "start": start,
            "end": start + rng.integers(-1, 10, ROWS),
            "updated_at": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.uniform(0, 60, ROWS), unit="D"),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", profile="all")
        settings.workspace_dir.mkdir(parents=True)
        path = settings.workspace_dir / "orders.parquet"
        frame.to_parquet(path, index=False)
        want = direct(path)  # warm the page cache and pandas
        started = time.perf_counter()
        want = direct(path)
        baseline = time.perf_counter() - started

        server = create_server(settings)
        args = {
            "dataset": "orders.parquet",
            "key": ["order_id"],
            "consistency_rules": [{"left": "start", "op": "<=", "right": "end"}],
            "timestamp_column": "updated_at",
            "max_age": "30d",
            "as_of": AS_OF,
        }
        async with Client(server, mode="legacy") as client:
            await client.call_tool("quality_score", args)  # first call: store migration, imports
            started = time.perf_counter()
            result = await client.call_tool("quality_score", args)
            value = time.perf_counter() - started
        server.app.close()
        got = {d["name"]: d["score"] for d in (result.structured_content or {})["dimensions"]}
        for name, expected in want.items():
            assert abs(got[name] - expected) < 1e-6, (name, got[name], expected)
    print(
        json.dumps(
            {
                "figure": f"quality_score (4 dimensions, {ROWS:,} rows) via MCP vs direct pandas",
                "value": round(value, 3),
                "baseline": round(baseline, 3),
                "ratio": round(value / baseline, 2),
                "unit": "s",
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
