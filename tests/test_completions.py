"""completion/complete (issue #23 item 3) through a real client: suites (and name@N), data files, lake
datasets, endpoints, validation results, registered models and their versions, prefix-matched."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client
from mcp.types import PromptReference, ResourceTemplateReference

from mcp_server.core.app import MlopsServer, create_server
from mcp_server.core.config import Settings
from tests.conftest import structured


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MlopsServer]:
    server = create_server(Settings(home=tmp_path / "home", profile="all"))
    yield server
    server.app.close()


async def values(client: Client, ref: object, name: str, value: str, **known: str) -> list[str]:
    started = time.perf_counter()
    result = await client.complete(ref, {"name": name, "value": value}, known or None)  # type: ignore[arg-type]
    assert time.perf_counter() - started < 2
    return list(result.completion.values)


PROMPT = PromptReference(name="validate_dataset")


async def test_suites_and_their_versions(server: MlopsServer) -> None:
    rule = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]
    async with Client(server, mode="legacy") as client:
        for name in ("churn", "churn_v2", "orders", "churn"):
            structured(
                await client.call_tool("validation_create_suite", {"name": name, "expectations": rule})
            )
        assert await values(client, PROMPT, "suite", "ch") == ["churn", "churn_v2"]
        assert await values(client, PROMPT, "suite", "churn@") == ["churn@1", "churn@2"]
        template = ResourceTemplateReference(uri="mlops://suites/{name}")
        assert await values(client, template, "name", "or") == ["orders"]
        assert await values(client, PROMPT, "suite", "zz") == []


async def test_data_files_and_lake_datasets(server: MlopsServer) -> None:
    root = server.app.workspace.default_root
    (root / "sub").mkdir(parents=True)
    for name in ("a.csv", "b.parquet", "notes.txt", "sub/c.jsonl"):
        (root / name).write_text("id\n1\n")
    async with Client(server, mode="legacy") as client:
        assert await values(client, PROMPT, "dataset", "") == ["a.csv", "b.parquet", "sub/"]
        assert await values(client, PROMPT, "dataset", "sub/") == ["sub/c.jsonl"]
        assert await values(client, PROMPT, "dataset", "../") == []  # nothing outside the root
        structured(await client.call_tool("lake_write", {"source": "a.csv", "dataset": "sales"}))
        assert await values(client, PROMPT, "dataset", "lake:s") == ["lake:sales"]


async def test_endpoints_results_models_and_versions(server: MlopsServer, tmp_path: Path) -> None:
    from mcp_server.core.store.models import DeployEndpoint
    from mcp_server.core.tracking import mlflow_client

    app = server.app
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        for name in ("churn-prod", "churn-staging", "fraud"):
            session.add(
                DeployEndpoint(
                    name=name,
                    model="churn",
                    stable_version="1",
                    live_slot="blue",
                    created_at=now,
                    updated_at=now,
                )
            )
    mlflow = mlflow_client(app)
    for model in ("churn", "churn_small", "fraud"):
        mlflow.create_registered_model(model)
    source = tmp_path / "model"
    source.mkdir()
    for _ in range(2):
        mlflow.create_model_version("churn", str(source))
    mlflow.set_registered_model_alias("churn", "champion", "2")
    rollout = PromptReference(name="safe_rollout")
    async with Client(server, mode="legacy") as client:
        assert await values(client, rollout, "endpoint", "churn") == ["churn-prod", "churn-staging"]
        assert await values(client, rollout, "model", "churn") == ["churn", "churn_small"]
        assert await values(client, rollout, "version", "", model="churn") == ["1", "2", "champion"]
        assert await values(client, rollout, "version", "", model="nope") == []
        history = ResourceTemplateReference(uri="mlops://deployments/{endpoint}/history")
        assert await values(client, history, "endpoint", "f") == ["fraud"]


async def test_workflow_and_rollout_ids(server: MlopsServer) -> None:
    from mcp_server.core.store.models import DeployRollout, WorkflowRecord

    now = datetime.now(UTC)
    with server.app.store.transaction() as session:
        for wid in ("aa11", "aa22", "bb33"):
            session.add(
                WorkflowRecord(
                    id=wid,
                    kind="promote",
                    model="churn",
                    candidate_version="2",
                    state="running",
                    params="{}",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add(
            DeployRollout(
                id="cc44",
                endpoint="churn-prod",
                kind="canary",
                state="running",
                stable_version="1",
                candidate_version="2",
                steps="[50, 100]",
                params="{}",
                created_at=now,
                updated_at=now,
            )
        )
    async with Client(server, mode="legacy") as client:
        workflows = ResourceTemplateReference(uri="mlops://workflows/{workflow_id}")
        assert await values(client, workflows, "workflow_id", "aa") == ["aa11", "aa22"]
        rollouts = ResourceTemplateReference(uri="mlops://rollouts/{rollout_id}")
        assert await values(client, rollouts, "rollout_id", "") == ["cc44"]
