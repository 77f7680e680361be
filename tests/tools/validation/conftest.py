"""Fixtures of the validation tests: a client whose server stays reachable (for the store), and data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import MlopsServer, create_server
from mcp_server.core.config import Settings


class Harness:
    def __init__(self, client: Client, server: MlopsServer, settings: Settings) -> None:
        self.client = client
        self.server = server
        self.settings = settings
        self.workspace = settings.workspace_dir

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        return await self.client.call_tool(tool, args)


@pytest.fixture
async def vh(settings: Settings) -> AsyncIterator[Harness]:
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        yield Harness(client, server, settings)
    server.app.close()


def people(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """Clean data: an id, ints, floats, a category, a label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "score": rng.random(n),
            "label": rng.integers(0, 2, n),
        }
    )


def write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path
