"""Data and definitions shared by the features tests: generated player games and profiles.

The expected values are computed here with pandas alone (`merge_asof` for the point-in-time join, the
latest row per player for the online store), never with the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")
TTL = pd.Timedelta(days=3)
FEATURES = ["pts_avg_10", "reb_avg_10", "minutes_avg_10"]

DEFINITIONS = """\
project: {project}
entities:
  - name: player
    join_keys: [player_id]
    value_type: int64
sources:
  - name: player_games
    path: data/player_games.parquet
    timestamp_field: game_time
  - name: player_profiles
    path: data/player_profiles.parquet
    timestamp_field: updated_at
feature_views:
  - name: player_form
    entities: [player]
    source: player_games
    ttl: 3d
    schema: {{pts_avg_10: float32, reb_avg_10: float32, minutes_avg_10: float32}}
  - name: player_profile
    entities: [player]
    source: player_profiles
    ttl: 0
    schema: {{team: string, height_cm: float64}}
feature_services:
  - name: player_model_v1
    features: [player_form, "player_profile:team"]
"""


def games(seed: int = 3, players: int = 30, per_player: int = 40) -> pd.DataFrame:
    """Games at unique hours per player over ~3 months; float32 features (the declared type)."""
    rng = np.random.default_rng(seed)
    frames = []
    for pid in range(1, players + 1):
        hours = np.sort(rng.choice(24 * 90, size=per_player, replace=False))
        frames.append(
            pd.DataFrame(
                {
                    "player_id": np.int64(pid),
                    "game_time": START + pd.to_timedelta(hours, unit="h"),
                    "pts_avg_10": rng.normal(15, 6, per_player).astype("float32"),
                    "reb_avg_10": rng.normal(6, 2, per_player).astype("float32"),
                    "minutes_avg_10": rng.uniform(10, 40, per_player).astype("float32"),
                    "opponent": rng.choice(["BOS", "LAL", "NYK"], per_player),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def profiles(seed: int = 4, players: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(1, players + 1):
        for i, day in enumerate(sorted(rng.choice(80, size=3, replace=False))):
            rows.append(
                {
                    "player_id": np.int64(pid),
                    "updated_at": START + pd.Timedelta(days=int(day), hours=i),
                    "team": str(rng.choice(["BOS", "LAL", "NYK", "MIA"])),
                    "height_cm": float(rng.normal(200, 8)),
                }
            )
    return pd.DataFrame(rows)


def entity_rows(games_df: pd.DataFrame, seed: int = 5, n: int = 400) -> pd.DataFrame:
    """Entity rows with every edge case: unknown players, rows before any game, rows after the TTL,
    exact-timestamp matches and duplicated (player, time) rows."""
    rng = np.random.default_rng(seed)
    players = rng.integers(1, 36, n)  # 31-35 have no games
    times = START - pd.Timedelta(days=5) + pd.to_timedelta(rng.integers(0, 24 * 100, n), unit="h")
    df = pd.DataFrame({"player_id": players.astype("int64"), "event_timestamp": times})
    exact = games_df.sample(40, random_state=seed)[["player_id", "game_time"]]
    exact = exact.rename(columns={"game_time": "event_timestamp"})
    df = pd.concat([df, exact, df.head(10)], ignore_index=True)
    df["label"] = rng.integers(0, 2, len(df))
    return df


def point_in_time(
    entity: pd.DataFrame, source: pd.DataFrame, ts: str, features: list[str], ttl: pd.Timedelta | None
) -> pd.DataFrame:
    """The independent reference: pandas merge_asof, backward, within the TTL (inclusive)."""
    left = entity.reset_index().sort_values("event_timestamp")
    right = source.sort_values(ts)[["player_id", ts, *features]]
    merged = pd.merge_asof(
        left,
        right,
        left_on="event_timestamp",
        right_on=ts,
        by="player_id",
        direction="backward",
        allow_exact_matches=True,
        tolerance=ttl,
    )
    return merged.sort_values("index").set_index("index")[features]


def latest(source: pd.DataFrame, ts: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """What materialize(start, end) leaves online: the latest row per player in [start, end] (Feast's
    file offline store includes both ends)."""
    window = source[(source[ts] >= start) & (source[ts] <= end)]
    return window.sort_values(ts).groupby("player_id").last()


def write_workspace(workspace: Path, project: str) -> dict[str, pd.DataFrame]:
    data = workspace / "data"
    data.mkdir(parents=True, exist_ok=True)
    g, p = games(), profiles()
    g.to_parquet(data / "player_games.parquet", index=False)
    p.to_parquet(data / "player_profiles.parquet", index=False)
    e = entity_rows(g)
    e.to_parquet(workspace / "entities.parquet", index=False)
    (workspace / "features.yaml").write_text(DEFINITIONS.format(project=project))
    return {"games": g, "profiles": p, "entities": e}
