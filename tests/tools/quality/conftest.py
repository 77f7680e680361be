"""Fixtures of the quality tests: a client whose server stays reachable (for the store), and data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import MlopsServer, create_server
from mcp_server.core.config import Settings
from tests.conftest import structured

AS_OF = datetime(2025, 6, 30, tzinfo=UTC)
STATUSES = ["new", "paid", "shipped"]
SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "amount", "min_value": 0, "max_value": 1000},
    },
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": STATUSES}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": None}},
]


class Harness:
    def __init__(self, client: Client, server: MlopsServer, settings: Settings) -> None:
        self.client = client
        self.server = server
        self.settings = settings
        self.workspace = settings.workspace_dir

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        return await self.client.call_tool(tool, args)

    async def ok(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        return structured(await self.client.call_tool(tool, args))


@pytest.fixture
async def qh(settings: Settings) -> AsyncIterator[Harness]:
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        yield Harness(client, server, settings)
    server.app.close()


def orders(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """Clean orders: a key, amounts, quantities, start <= end dates, a status and an update time."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(0, 10, n), unit="D")
    updated = [AS_OF - timedelta(days=float(d)) for d in rng.uniform(0, 60, n)]
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "amount": rng.normal(100, 20, n).round(2),
            "qty": rng.integers(1, 6, n),
            "start": start.strftime("%Y-%m-%d"),
            "end": end.strftime("%Y-%m-%d"),
            "status": rng.choice(STATUSES, n),
            "updated_at": [u.strftime("%Y-%m-%dT%H:%M:%SZ") for u in updated],
        }
    )


def faulted(n: int = 300, seed: int = 1) -> pd.DataFrame:
    """orders() with deterministic faults: nulls, out-of-range amounts, bad statuses, start > end, duplicates."""
    df = orders(n, seed)
    df.loc[[3, 17, 40, 41, 99, 150, 151, 200], "amount"] = np.nan
    df.loc[[5, 60, 120], "amount"] = -50.0
    df.loc[[7, 70], "status"] = "lost"
    df.loc[[8, 80, 160], "qty"] = 0
    df.loc[[9, 90, 190, 191], "start"] = "2025-12-31"
    df.loc[[11, 12], "status"] = None
    return pd.concat([df, df.iloc[20:26]], ignore_index=True)


def write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path
