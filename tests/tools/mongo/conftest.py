"""Mongo fixtures: a real MCP client to a server whose process-wide MongoDB client is mongomock.

There is no MongoDB server here; mongomock is the one allowed stand-in. It goes where the product keeps
its client (AppContext.client caches it under "mongo"), so every other line is the product's own path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.app import MlopsServer, create_server
from mcp_server.core.config import Settings
from mcp_server.tools.mongo.adapter import CLIENT_KEY


def install_mongomock(server: MlopsServer) -> Any:
    import mongomock

    fake = mongomock.MongoClient()
    server.app._clients[CLIENT_KEY] = fake
    return fake


@dataclass
class MongoEnv:
    client: Client
    server: MlopsServer
    mongo: Any  # the mongomock client (to read back what the tools wrote)
    settings: Settings

    @property
    def db(self) -> Any:
        return self.mongo[self.settings.mongo_database]


async def _env(home: Path) -> AsyncIterator[MongoEnv]:
    settings = Settings(home=home, profile="all")
    server = create_server(settings)
    fake = install_mongomock(server)
    async with Client(server, mode="legacy") as client:
        yield MongoEnv(client, server, fake, settings)
    server.app.close()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[MongoEnv]:
    async for e in _env(tmp_path / "home"):
        yield e


@pytest.fixture(scope="module")
async def shared_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MongoEnv]:
    """One server for a module's tests that write nothing (refusals)."""
    async for e in _env(tmp_path_factory.mktemp("mongo") / "home"):
        yield e


def make_events(n: int = 300, seed: int = 11) -> list[dict[str, Any]]:
    """Semi-structured events: nested objects, arrays, a field missing from some documents."""
    import numpy as np

    rng = np.random.default_rng(seed)
    segments = ["a", "b", "c", "d"]
    docs = []
    for i in range(n):
        doc: dict[str, Any] = {
            "event_id": i,
            "user": f"u{int(rng.integers(0, 40))}",
            "segment": segments[int(rng.integers(0, 4))],
            "amount": round(float(rng.gamma(2.0, 15.0)), 2),
            "items": int(rng.integers(1, 6)),
            "device": {
                "os": ["ios", "android", "web"][int(rng.integers(0, 3))],
                "version": int(rng.integers(1, 9)),
            },
            "tags": [t for t in ("promo", "mobile", "returning") if rng.random() < 0.4],
        }
        if rng.random() < 0.8:
            doc["country"] = ["fr", "de", "us"][int(rng.integers(0, 3))]
        docs.append(doc)
    return docs
