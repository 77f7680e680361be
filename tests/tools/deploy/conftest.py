"""A home with two registered versions of a model trained on example.csv, shared by the module; every
gateway a test starts is stopped by the module's finalizer (no process outlives the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import structured
from tests.contract_cases import write_example_tables

MODEL = "churn"
FEATURES = ["age", "income", "segment"]


async def register(client: Client, settings: Settings, name: str, run_id: str) -> str:
    """A new registered version of the run's model (the registry tool when present, else its adapter)."""
    names = {t.name for t in (await client.list_tools()).tools}
    if "registry_register_model" in names:
        out = structured(await client.call_tool("registry_register_model", {"name": name, "source": run_id}))
        return str(out["version"])
    import anyio

    from mcp_server.core.boundary import Control
    from mcp_server.tools.registry import service

    app = AppContext.from_settings(settings)
    try:
        result = await anyio.to_thread.run_sync(
            lambda: service.register(app, Control.unbounded(), name, run_id, None, None, None, None)
        )
    finally:
        app.close()
    return str(result.version)


async def train(client: Client, C: float, run_name: str) -> str:
    out = structured(
        await client.call_tool(
            "evaluation_train_model",
            {
                "dataset": "example.csv",
                "target": "label",
                "estimator": "LogisticRegression",
                "params": {"C": C, "solver": "liblinear"},
                "features": FEATURES,
                "name": run_name,
            },
        )
    )
    return str(out["run_id"])


@pytest.fixture(scope="module")
def deploy_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("deploy") / "home"
    write_example_tables(home / "workspace")
    yield home
    from mcp_server.gateway import manager

    app = AppContext.from_settings(Settings(home=home))
    try:
        manager.stop(app)
    finally:
        app.close()


@pytest.fixture(scope="module")
async def versions(deploy_home: Path) -> dict[str, Any]:
    """Versions 1 and 2 of MODEL (C=1.0 and C=0.01), trained and registered once for the module."""
    settings = Settings(home=deploy_home, profile="all")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        v1 = await register(client, settings, MODEL, await train(client, 1.0, "churn-c1"))
        v2 = await register(client, settings, MODEL, await train(client, 0.01, "churn-c001"))
    server.app.close()
    return {"v1": v1, "v2": v2}


@pytest.fixture
def settings(deploy_home: Path) -> Settings:
    return Settings(home=deploy_home, profile="all")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[AppContext]:
    ctx = AppContext.from_settings(settings)
    yield ctx
    ctx.close()
