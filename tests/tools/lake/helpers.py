"""Shared test data for the lake, catalog and lineage areas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mcp import Client

from tests.conftest import read_artifact

OPERATORS = {
    "==": lambda s, v: s == v,
    "!=": lambda s, v: s != v,
    "<": lambda s, v: s < v,
    "<=": lambda s, v: s <= v,
    ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v,
    "in": lambda s, v: s.isin(v),
    "not in": lambda s, v: ~s.isin(v),
}


def make_frame(n: int = 5_000, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "age": rng.integers(18, 90, n).astype("int32"),
            "income": rng.normal(50_000, 15_000, n).round(2),
            "segment": rng.choice(["a", "b", "c", "d"], n),
            "country": rng.choice(["fr", "de", "us"], n),
            "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        }
    )


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)
    return path


def pandas_filter(df: pd.DataFrame, filters: list[list[Any]]) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for column, op, value in filters:
        if column == "signup":
            value = [pd.Timestamp(v) for v in value] if isinstance(value, list) else pd.Timestamp(value)
        mask &= OPERATORS[op](df[column], value)
    return df[mask]


async def read_artifact_frame(client: Client, uri: str) -> pd.DataFrame:
    import io

    return pd.read_parquet(io.BytesIO(await read_artifact(client, uri)))


async def read_artifact_text(client: Client, uri: str) -> str:
    return (await read_artifact(client, uri)).decode()
