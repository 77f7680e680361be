"""The registry and onnx tools on the production backends: MLflow (and the metadata store) on the local
PostgreSQL, and MLflow behind a real `mlflow server` started here on a free port of 127.0.0.1.

PostgreSQL: a uniquely-named database per test run, created through the `test` database and dropped at the
end (MLOPS_MCP_SKIP_POSTGRES=1 skips). Both are marked slow; they run in `make test`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.services import mlflow_server, postgres_database
from tests.tools.registry.conftest import FEATURES, write_mixed


async def _scenario(client: Client, concurrent: int) -> None:
    """Train, register, aliases v1 -> v2 -> v3, two rollbacks, refusals, concurrency, ONNX."""
    run = structured(
        await client.call_tool(
            "evaluation_train_model",
            {
                "dataset": "mixed.csv",
                "target": "label",
                "estimator": "LogisticRegression",
                "features": FEATURES,
            },
        )
    )["run_id"]
    for expected in ("1", "2", "3"):
        reg = structured(await client.call_tool("registry_register_model", {"name": "bk", "source": run}))
        assert reg["version"] == expected
        structured(
            await client.call_tool(
                "registry_set_alias", {"name": "bk", "alias": "champion", "version": expected}
            )
        )
    assert (
        structured(
            await client.call_tool("registry_rollback", {"name": "bk", "alias": "champion", "confirm": True})
        )["version"]
        == "2"
    )
    assert (
        structured(
            await client.call_tool("registry_rollback", {"name": "bk", "alias": "champion", "confirm": True})
        )["version"]
        == "1"
    )
    assert_tool_error(
        await client.call_tool("registry_delete_version", {"name": "bk", "version": "1", "confirm": True}),
        "champion",
    )
    history = structured(
        await client.call_tool("registry_alias_history", {"name": "bk", "alias": "champion"})
    )
    assert [e["action"] for e in history["events"]] == ["rollback", "rollback", "set", "set", "set"]

    versions: list[str] = []

    async def one() -> None:
        out = structured(
            await client.call_tool("registry_register_model", {"name": "bk-busy", "source": run})
        )
        versions.append(out["version"])

    async with anyio.create_task_group() as tg:
        for _ in range(concurrent):
            tg.start_soon(one)
    assert sorted(map(int, versions)) == list(range(1, concurrent + 1))

    conv = structured(await client.call_tool("onnx_convert", {"name": "bk", "version": "2"}))
    assert conv["parity"]["passed"]
    got = structured(
        await client.call_tool("registry_get_version", {"name": "bk", "alias": "champion", "details": True})
    )
    assert got["version"] == "1" and got["signature"] is not None
    twin = structured(await client.call_tool("registry_get_version", {"name": "bk", "version": "2"}))["onnx"]
    assert twin["onnx_model_id"] == conv["onnx_model_id"]
    info = structured(await client.call_tool("onnx_inspect", {"name": "bk", "version": "2"}))
    assert info["safe"] and info["twin"]["columns"] == FEATURES


async def _run(settings: Settings, concurrent: int = 8) -> None:
    write_mixed(settings.workspace_dir)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            await _scenario(client, concurrent)
    finally:
        server.app.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    with postgres_database("mlops_registry") as url:
        yield url


@pytest.mark.postgres
@pytest.mark.slow
async def test_registry_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    # MLflow's tracking/registry store and the server's metadata store share one PostgreSQL database.
    settings = Settings(
        home=tmp_path / "home",
        profile="all",
        mlflow_uri=SecretStr(pg_database),
        store_url=SecretStr(pg_database),
    )
    await _run(settings)


@pytest.fixture
def tracking_server(tmp_path: Path) -> Iterator[str]:
    with mlflow_server(tmp_path / "mlflow-server") as url:
        yield url


@pytest.mark.slow
async def test_registry_on_a_tracking_server(tracking_server: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", mlflow_uri=SecretStr(tracking_server))
    await _run(settings, concurrent=8)
    # nothing was written to MLflow's default ./mlruns or into the home's SQLite
    assert not (settings.home / "mlflow.db").exists()
