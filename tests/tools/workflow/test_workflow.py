"""workflow_promote end to end through an MCP client: real GX, MLflow, skl2onnx and a real gateway.

One module-scoped home: version 1 (1-nearest-neighbour, the weak champion) and version 2 (logistic
regression, clearly better on example.csv) of one model, an endpoint serving the champion.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import Updates, assert_tool_error, read_json, structured
from tests.contract_cases import write_example_tables

MODEL = "promo"
FEATURES = ["age", "income", "segment"]
# The module's home (two trained models, a gateway) is built once: its tests stay on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("workflow") / "home"
    write_example_tables(home / "workspace")
    frame = __import__("pandas").read_csv(home / "workspace" / "example.csv")
    bad = frame.copy()
    bad.loc[:59, "age"] = None  # 30% of a required column missing: the data gate must stop here
    bad.to_csv(home / "workspace" / "bad.csv", index=False)
    yield home
    from mcp_server.gateway import manager

    app = AppContext.from_settings(Settings(home=home))
    try:
        manager.stop(app)
    finally:
        app.close()


@pytest.fixture(scope="module")
def port() -> int:
    return _free_port()


@pytest.fixture
def settings(home: Path, port: int) -> Settings:
    return Settings(home=home, profile="all", gateway_port=port)


@pytest.fixture
def updates() -> Updates:
    return Updates()


@pytest.fixture
async def client(settings: Settings, updates: Updates) -> AsyncIterator[Client]:
    server = create_server(settings)
    async with Client(server, mode="legacy", message_handler=updates.handler) as session:
        yield session
    server.app.close()


async def _train(client: Client, estimator: str, params: dict[str, Any], name: str) -> str:
    out = structured(
        await client.call_tool(
            "evaluation_train_model",
            {
                "dataset": "example.csv",
                "target": "label",
                "estimator": estimator,
                "params": params,
                "features": FEATURES,
                "name": name,
            },
        )
    )
    return str(out["run_id"])


async def _register(client: Client, run_id: str) -> str:
    out = structured(await client.call_tool("registry_register_model", {"name": MODEL, "source": run_id}))
    return str(out["version"])


@pytest.fixture(scope="module")
async def versions(home: Path, port: int) -> dict[str, str]:
    """v1 (weak champion, serving on the endpoint), v2 (better), v3 (a copy of the weak one)."""
    settings = Settings(home=home, profile="all", gateway_port=port)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        weak = await _train(client, "KNeighborsClassifier", {"n_neighbors": 1}, "promo-knn")
        strong = await _train(client, "LogisticRegression", {"solver": "liblinear"}, "promo-lr")
        v1 = await _register(client, weak)
        v2 = await _register(client, strong)
        v3 = await _register(client, weak)
        structured(
            await client.call_tool(
                "registry_set_alias",
                {"name": MODEL, "alias": "champion", "version": v1, "reason": "baseline"},
            )
        )
        structured(
            await client.call_tool(
                "validation_suggest_suite", {"dataset": "example.csv", "name": "promo", "save": True}
            )
        )
        structured(await client.call_tool("deploy_gateway_start", {}))
        structured(
            await client.call_tool(
                "deploy_create_endpoint", {"endpoint": "promo-api", "model": MODEL, "version": v1}
            )
        )
    server.app.close()
    return {"v1": v1, "v2": v2, "v3": v3}


async def _wait(client: Client, workflow_id: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = structured(await client.call_tool("workflow_status", {"workflow_id": workflow_id}))
        if status["state"] != "running":
            return status
        await anyio.sleep(0.5)
    raise AssertionError(f"workflow {workflow_id} still running after {timeout}s")


def _gates(status: dict[str, Any]) -> dict[str, str]:
    return {g["gate"]: g["state"] for g in status["gates"]}


async def _champion(client: Client) -> str:
    out = structured(await client.call_tool("registry_get_version", {"name": MODEL, "alias": "champion"}))
    return str(out["version"])


async def test_bad_data_stops_at_the_data_gate(client: Client, versions: dict[str, str]) -> None:
    champion = await _champion(client)  # v1, or v2 once the better candidate was promoted
    started = structured(
        await client.call_tool(
            "workflow_promote",
            {
                "model": MODEL,
                "candidate_version": versions["v2"],
                "dataset": "bad.csv",
                "target": "label",
                "endpoint": "promo-api",
                "gates": {"data": {"suite": "promo", "min_quality": 90}},
            },
        )
    )
    status = await _wait(client, started["workflow_id"])
    assert status["state"] == "failed"
    assert status["current_gate"] == "data"
    assert _gates(status)["data"] == "failed" and _gates(status)["comparison"] == "pending"
    assert "failed suite promo@" in status["reason"]
    assert await _champion(client) == champion


async def test_worse_candidate_stops_at_the_comparison_gate_and_nothing_changes(
    client: Client, versions: dict[str, str]
) -> None:
    champion = await _champion(client)  # v1, or v2 once the better candidate was promoted
    before = structured(await client.call_tool("deploy_status", {"endpoint": "promo-api"}))
    history = structured(
        await client.call_tool("registry_alias_history", {"name": MODEL, "alias": "champion"})
    )
    started = structured(
        await client.call_tool(
            "workflow_promote",
            {
                "model": MODEL,
                "candidate_version": versions["v3"],
                "dataset": "example.csv",
                "target": "label",
                "endpoint": "promo-api",
                "gates": {"data": {"suite": "promo"}, "comparison": {"metric": "roc_auc"}},
            },
        )
    )
    status = await _wait(client, started["workflow_id"])
    assert status["state"] == "failed", status
    assert _gates(status) == {
        "data": "passed",
        "comparison": "failed",
        "model_tests": "pending",
        "onnx_parity": "pending",
        "canary": "pending",
    }
    comparison = next(g for g in status["gates"] if g["gate"] == "comparison")
    assert f"champion {champion}" in comparison["summary"], comparison
    assert "does not beat" in comparison["summary"] or "not significantly better" in comparison["summary"]
    assert comparison["detail"]["p_value"] >= 0.0 and "t-test" in comparison["detail"]["test"]
    assert await _champion(client) == champion
    after = structured(await client.call_tool("deploy_status", {"endpoint": "promo-api"}))
    assert [(v["version"], v["weight"]) for v in after["endpoint"]["versions"]] == [
        (v["version"], v["weight"]) for v in before["endpoint"]["versions"]
    ]
    again = structured(await client.call_tool("registry_alias_history", {"name": MODEL, "alias": "champion"}))
    assert again == history


async def test_better_candidate_is_promoted_end_to_end(
    client: Client, versions: dict[str, str], updates: Updates
) -> None:
    started = structured(
        await client.call_tool(
            "workflow_promote",
            {
                "model": MODEL,
                "candidate_version": versions["v2"],
                "dataset": "example.csv",
                "target": "label",
                "endpoint": "promo-api",
                "traffic": "replay",
                "gates": {
                    "data": {"suite": "promo", "min_quality": 80},
                    "comparison": {"metric": "roc_auc"},
                    "model_tests": [{"type": "metric", "metric": "roc_auc", "min": 0.7}],
                    "canary": {
                        "steps": [50, 100],
                        "step_seconds": 0.5,
                        "min_requests": 5,
                        "max_p99_ms": 2000,
                    },
                },
            },
        )
    )
    assert started["state"] == "running"
    # The client waits on a subscription instead of polling: an update comes as each gate ends.
    uri = f"mlops://workflows/{started['workflow_id']}"
    await client.subscribe_resource(uri)
    while True:
        seen = updates.count(uri)
        if (await read_json(client, uri))["state"] != "running":
            break
        await updates.after(uri, seen, timeout=240)
    assert updates.count(uri) >= 2  # gates passed on the way, then the end
    status = await _wait(client, started["workflow_id"])
    assert status["state"] == "succeeded", status
    assert set(_gates(status).values()) == {"passed"}
    assert status["champion_version"] == versions["v1"]  # the one it replaced
    assert await _champion(client) == versions["v2"]
    served = structured(await client.call_tool("deploy_status", {"endpoint": "promo-api"}))
    weights = {v["version"]: v["weight"] for v in served["endpoint"]["versions"]}
    assert weights.get(versions["v2"]) == 100
    lineage = structured(
        await client.call_tool(
            "lineage_get", {"entity": f"workflow:{status['workflow_id']}", "direction": "upstream"}
        )
    )
    upstream = {n["id"] for n in lineage["nodes"]}
    assert {f"model:{MODEL}/{versions['v1']}", f"model:{MODEL}/{versions['v2']}"} <= upstream, upstream
    assert any(i.startswith("rollout:") for i in upstream) and any(
        i.startswith("validation:") for i in upstream
    )
    listed = structured(await client.call_tool("workflow_list", {"model": MODEL}))
    assert listed["workflows"][0]["workflow_id"] == status["workflow_id"]


async def test_bad_arguments_get_one_clear_error(client: Client) -> None:
    assert_tool_error(
        await client.call_tool(
            "workflow_promote",
            {"model": MODEL, "candidate_version": "1", "dataset": "../x.csv", "target": "label"},
        )
    )
    assert_tool_error(await client.call_tool("workflow_status", {}), "either workflow_id or model")
    assert_tool_error(await client.call_tool("workflow_status", {"workflow_id": "f" * 32}), "No workflow")


def test_a_workflow_that_ends_while_its_status_is_read_is_not_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """workflow_status reads the row and asks whether its thread still runs. A thread commits its final
    state and then leaves; a status read in between must report that state, never `interrupted` (the team
    test saw it once on a workflow whose gates were all off). A row left `running` with no thread is
    `interrupted`."""
    from mcp_server.core.boundary import Control
    from mcp_server.tools.workflow import runner, service

    app = AppContext.from_settings(Settings(home=tmp_path / "home"))
    try:
        params = {"model": "m", "candidate_version": "2"}
        service._create(app, "wf-race", params, None, None)
        with runner._LIVE_LOCK:
            runner._LIVE.add("wf-race")
        taken = runner.live

        def thread_ends_right_after_the_snapshot() -> frozenset[str]:
            snapshot = taken()
            runner._finish(app, "wf-race", "succeeded", "done", champion="2")
            with runner._LIVE_LOCK:
                runner._LIVE.discard("wf-race")
            return snapshot

        monkeypatch.setattr(runner, "live", thread_ends_right_after_the_snapshot)
        got = service.status(app, Control.unbounded(), "wf-race", None)
        monkeypatch.undo()
        assert got.state == "succeeded" and got.champion_version == "2"

        service._create(app, "wf-orphan", params, None, None)  # running, and no thread runs it
        assert service.status(app, Control.unbounded(), "wf-orphan", None).state == "interrupted"
        listed = service.list_workflows(app, Control.unbounded(), "m", None, 10)
        assert {w.workflow_id: w.state for w in listed.workflows} == {
            "wf-race": "succeeded",
            "wf-orphan": "interrupted",
        }
    finally:
        app.close()
