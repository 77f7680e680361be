"""Features through MCP vs Feast directly, in the same run, on the same repo and data.

1. features_get_online for 100 entity rows: p50 over 200 calls through an in-memory MCP client vs
   FeatureStore.get_online_features on its own FeatureStore (both warm); the overhead in ms. The MCP
   figure includes the SDK client validating the 100-row structuredContent against the outputSchema.
2. features_get_historical on 100,000 entity rows (reads the entity Parquet, point-in-time join, writes
   the training set, records lineage) vs the same work with Feast directly (pandas reads the entity
   Parquet, FeatureStore.get_historical_features(...).to_df(), to_parquet). Median of 5 runs each,
   interleaved, alternating which goes first. Target (issue 14): ratio <= 1.15.

Prints one JSON line.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
import pandas as pd
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings

PLAYERS = 5_000
EVENTS_PER_PLAYER = 20
ENTITY_ROWS = 100_000
ONLINE_ROWS = 100
ONLINE_CALLS = 200
HIST_RUNS = 5
FEATURES = ["pts_avg_10", "reb_avg_10", "minutes_avg_10"]
DEFINITIONS = """\
project: bench
entities:
  - {name: player, join_keys: [player_id], value_type: int64}
sources:
  - {name: player_games, path: player_games.parquet, timestamp_field: game_time}
feature_views:
  - name: player_form
    entities: [player]
    source: player_games
    ttl: 7d
    schema: {pts_avg_10: float32, reb_avg_10: float32, minutes_avg_10: float32}
"""


def make_data(workspace: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    n = PLAYERS * EVENTS_PER_PLAYER
    games = pd.DataFrame(
        {
            "player_id": np.repeat(np.arange(1, PLAYERS + 1, dtype="int64"), EVENTS_PER_PLAYER),
            "game_time": start + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, n), unit="min"),
            "pts_avg_10": rng.normal(15, 6, n).astype("float32"),
            "reb_avg_10": rng.normal(6, 2, n).astype("float32"),
            "minutes_avg_10": rng.uniform(10, 40, n).astype("float32"),
        }
    ).drop_duplicates(["player_id", "game_time"])
    workspace.mkdir(parents=True, exist_ok=True)
    games.to_parquet(workspace / "player_games.parquet", index=False)
    entities = pd.DataFrame(
        {
            "player_id": rng.integers(1, PLAYERS + 1, ENTITY_ROWS).astype("int64"),
            "event_timestamp": start
            + pd.to_timedelta(rng.integers(0, 95 * 24 * 60, ENTITY_ROWS), unit="min"),
        }
    ).drop_duplicates()
    entities.to_parquet(workspace / "entities.parquet", index=False)
    (workspace / "features.yaml").write_text(DEFINITIONS)
    return entities


def direct_store(home: Path):  # type: ignore[no-untyped-def]
    from feast import FeatureStore, RepoConfig

    repo = home / "feature_repo"
    config = RepoConfig(
        project="bench",
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(repo / "data" / "registry.db"),
            "cache_ttl_seconds": 10,
        },
        online_store={"type": "sqlite", "path": str(repo / "data" / "online_store.db")},
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    return FeatureStore(repo_path=str(repo), config=config)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home, profile="all")
        entities = make_data(settings.workspace_dir)
        server = create_server(settings)
        async with Client(server, mode="legacy") as client:

            async def call(tool: str, args: dict) -> dict:  # type: ignore[type-arg]
                result = await client.call_tool(tool, args)
                if result.is_error:
                    raise SystemExit(f"{tool} failed: {result.content}")
                return result.structured_content or {}

            await call("features_apply", {"definitions": "features.yaml"})
            await call(
                "features_materialize", {"start": "2023-12-01T00:00:00Z", "end": "2024-06-01T00:00:00Z"}
            )
            fs = direct_store(home)
            refs = [f"player_form:{f}" for f in FEATURES]
            rows = [{"player_id": int(i)} for i in range(1, ONLINE_ROWS + 1)]

            # Online: warm both, then alternate MCP and direct calls.
            for _ in range(10):
                await call("features_get_online", {"features": refs, "entity_rows": rows})
                fs.get_online_features(features=refs, entity_rows=rows).to_dict()
            mcp_times, direct_times = [], []
            for _ in range(ONLINE_CALLS):
                t0 = time.perf_counter()
                await call("features_get_online", {"features": refs, "entity_rows": rows})
                mcp_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                fs.get_online_features(features=refs, entity_rows=rows).to_dict()
                direct_times.append(time.perf_counter() - t0)

            # For scale: a trivial tool's round trip through the same client.
            trivial = []
            for _ in range(ONLINE_CALLS):
                t0 = time.perf_counter()
                await call("server_info", {})
                trivial.append(time.perf_counter() - t0)

            # Historical: same work both ways, interleaved.
            hist_mcp, hist_direct = [], []

            async def ours(run: int) -> None:
                t0 = time.perf_counter()
                out = await call(
                    "features_get_historical",
                    {
                        "entity_dataset": "entities.parquet",
                        "features": refs,
                        "output": f"training_{run}.parquet",
                        "include_samples": False,
                    },
                )
                hist_mcp.append(time.perf_counter() - t0)
                assert out["rows"] == len(entities)

            def direct(run: int) -> int:
                t0 = time.perf_counter()
                entity_df = pd.read_parquet(settings.workspace_dir / "entities.parquet")
                df = fs.get_historical_features(entity_df=entity_df, features=refs).to_df()
                df.to_parquet(settings.workspace_dir / f"direct_{run}.parquet", index=False)
                hist_direct.append(time.perf_counter() - t0)
                return len(df)

            for run in range(HIST_RUNS):
                if run % 2:
                    direct_rows = direct(run)
                    await ours(run)
                else:
                    await ours(run)
                    direct_rows = direct(run)
        server.app.close()

    value, baseline = statistics.median(hist_mcp), statistics.median(hist_direct)
    p50_mcp, p50_direct = statistics.median(mcp_times) * 1000, statistics.median(direct_times) * 1000
    print(
        json.dumps(
            {
                "figure": "features_get_historical_100k",
                "value": round(value, 3),
                "baseline": round(baseline, 3),
                "ratio": round(value / baseline, 3),
                "unit": "s",
                "entity_rows": len(entities),
                "rows_out": {"mcp": len(entities), "feast_direct": direct_rows},
                "runs": HIST_RUNS,
                "runs_s": {
                    "mcp": [round(t, 3) for t in hist_mcp],
                    "feast_direct": [round(t, 3) for t in hist_direct],
                },
                "ratio_of_best": round(min(hist_mcp) / min(hist_direct), 3),
                "online": {
                    "entity_rows": ONLINE_ROWS,
                    "calls": ONLINE_CALLS,
                    "p50_ms_mcp": round(p50_mcp, 3),
                    "p50_ms_direct": round(p50_direct, 3),
                    "overhead_ms": round(p50_mcp - p50_direct, 3),
                    "trivial_tool_round_trip_ms": round(statistics.median(trivial) * 1000, 3),
                },
                "targets": {"ratio_max": 1.15},
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
