"""The deploy tools through a real MCP client, with a real gateway process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, structured
from tests.tools.deploy.conftest import FEATURES, MODEL

pytestmark = pytest.mark.timeout(300)


def rows_of(home: Path, n: int) -> list[dict[str, Any]]:
    df = pd.read_csv(home / "workspace" / "example.csv").head(n)
    return [
        {"age": int(r.age), "income": float(r.income), "segment": str(r.segment)} for r in df.itertuples()
    ]


def onnxruntime_predictions(app: AppContext, version: str, rows: list[dict[str, Any]]) -> list[Any]:
    """The same rows through onnxruntime directly, on the twin the endpoint serves."""
    from mcp_server.core.mlmodels import onnx_twin
    from mcp_server.core.twin import open_session, predict

    twin = onnx_twin(app, MODEL, version, convert=False)
    return predict(open_session(twin), twin, rows)


async def start(client: Client) -> dict[str, Any]:
    return structured(await client.call_tool("deploy_gateway_start", {"port": 0}))


async def serving(client: Client, endpoint: str, version: str) -> str:
    """`endpoint` serving MODEL at `version` on a started gateway: the gateway's URL."""
    arguments = {"endpoint": endpoint, "model": MODEL, "version": version}
    structured(await client.call_tool("deploy_create_endpoint", arguments))
    return str((await start(client))["url"])


async def test_serve_predict_status_list_delete(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    v1 = versions["v1"]
    # The alias is resolved once: moving it later does not move traffic.
    from mcp_server.core.tracking import mlflow_client as client_of

    mlflow = client_of(app)
    mlflow.set_registered_model_alias(MODEL, "champion", v1)
    created = structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-live", "model": MODEL, "alias": "champion"}
        )
    )
    assert created["version"] == v1 and created["resolved_from"] == "champion" and created["created"] is True
    assert created["onnx"] == f"onnx:{MODEL}/{v1}"
    again = structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-live", "model": MODEL, "version": v1}
        )
    )
    assert again["created"] is False
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    with app.store.read_session() as session:  # stored home-relative: a home restored elsewhere serves it
        (stored,) = session.scalars(
            select(DeployRoute.onnx_dir)
            .join(DeployEndpoint, DeployEndpoint.id == DeployRoute.endpoint_id)
            .where(DeployEndpoint.name == "churn-live", DeployRoute.version == v1)
        ).all()
    assert stored.startswith("home:") and app.workspace.from_stored(stored).is_dir()

    gw = await start(client)
    assert gw["running"] is True and gw["url"].startswith("http://127.0.0.1:")
    status = structured(await client.call_tool("deploy_gateway_status", {}))
    assert status["pid"] == gw["pid"] and status["endpoints"] >= 1

    mlflow.set_registered_model_alias(MODEL, "champion", versions["v2"])
    rows = rows_of(app.settings.home, 40)
    out = structured(await client.call_tool("deploy_predict", {"endpoint": "churn-live", "rows": rows}))
    assert out["versions"] == {v1: 40}
    expected = onnxruntime_predictions(app, v1, rows)
    assert [p["prediction"] for p in out["predictions"]] == expected
    assert all(p["version"] == v1 and p["latency_ms"] > 0 for p in out["predictions"])

    # The same rows over plain HTTP in the columns/data form give the same predictions.
    body = {"columns": FEATURES, "data": [[r[c] for c in FEATURES] for r in rows]}
    response = httpx.post(f"{gw['url']}/v1/endpoints/churn-live/predict", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected and response.json()["version"] == v1

    # Live per-version metrics: the gateway counted the two requests.
    st = structured(await client.call_tool("deploy_status", {"endpoint": "churn-live"}))
    (ver,) = st["endpoint"]["versions"]
    assert ver["version"] == v1 and ver["weight"] == 100.0 and ver["slot"] == "blue" and ver["loaded"] is True
    assert ver["metrics"]["requests"] == 2 and ver["metrics"]["rows"] == 80 and ver["metrics"]["errors"] == 0
    assert st["recent_events"][0]["kind"] == "created"

    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{gw['url']}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    reqs = {tuple(sorted(s.labels.items())): s.value for s in families["mlops_gateway_requests"].samples}
    assert reqs[(("endpoint", "churn-live"), ("version", v1))] == 2
    buckets = [s for s in families["mlops_gateway_latency_seconds"].samples if s.name.endswith("_count")]
    assert any(s.labels == {"endpoint": "churn-live", "version": v1} and s.value == 2 for s in buckets)

    from mcp_server.core.store.models import LineageEdge

    with app.store.read_session() as session:
        edge = session.scalars(
            select(LineageEdge).where(LineageEdge.downstream == "endpoint:churn-live")
        ).one()
    assert (edge.upstream, edge.kind) == (f"onnx:{MODEL}/{v1}", "deployed_to")

    listed = structured(await client.call_tool("deploy_list", {}))
    assert "churn-live" in [e["endpoint"] for e in listed["items"]]

    from mcp_server.core.boundary import Control
    from mcp_server.tools.deploy.service import serving_versions

    assert serving_versions(app, Control.unbounded(), MODEL) == {v1}
    assert serving_versions(app, Control.unbounded(), "no-such-model") == set()

    deleted = structured(
        await client.call_tool("deploy_delete_endpoint", {"endpoint": "churn-live", "confirm": True})
    )
    assert deleted["deleted"] is True and deleted["versions"] == [v1]
    assert serving_versions(app, Control.unbounded(), MODEL) == set()
    gone = httpx.post(f"{gw['url']}/v1/endpoints/churn-live/predict", json={"rows": rows[:1]}, timeout=10)
    assert gone.status_code == 404
    assert_tool_error(
        await client.call_tool("deploy_predict", {"endpoint": "churn-live", "rows": rows[:1]}), "No endpoint"
    )


@pytest.mark.slow
async def test_sigkill_then_restart_serves_the_same_endpoints(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    for name, version in (("churn-a", v1), ("churn-b", v2)):
        structured(
            await client.call_tool(
                "deploy_create_endpoint", {"endpoint": name, "model": MODEL, "version": version}
            )
        )
    gw = await start(client)
    rows = rows_of(app.settings.home, 5)
    before = {
        name: structured(await client.call_tool("deploy_predict", {"endpoint": name, "rows": rows}))
        for name in ("churn-a", "churn-b")
    }
    os.kill(gw["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = structured(await client.call_tool("deploy_gateway_status", {}))
        if status["state"] == "dead":
            break
        await asyncio.sleep(0.1)
    assert status["state"] == "dead" and status["running"] is False
    health = structured(await client.call_tool("health_check", {}))
    probe = {b["name"]: b for b in health["backends"]}["gateway"]
    assert probe["status"] != "ok"

    restarted = structured(await client.call_tool("deploy_gateway_start", {}))
    assert restarted["running"] is True and restarted["restarted"] is True
    assert restarted["pid"] != gw["pid"] and restarted["url"] == gw["url"]  # same port, table from the store
    assert restarted["endpoints"] >= 2
    for name, version in (("churn-a", v1), ("churn-b", v2)):
        after = structured(await client.call_tool("deploy_predict", {"endpoint": name, "rows": rows}))
        assert after["versions"] == {version: 5}
        assert [p["prediction"] for p in after["predictions"]] == [
            p["prediction"] for p in before[name]["predictions"]
        ]

    # Killed again, a predict call finds it dead and brings it back on its own.
    os.kill(restarted["pid"], signal.SIGKILL)
    await asyncio.sleep(0.3)
    again = structured(await client.call_tool("deploy_predict", {"endpoint": "churn-a", "rows": rows[:1]}))
    assert again["versions"] == {v1: 1}
    assert structured(await client.call_tool("deploy_gateway_status", {}))["pid"] not in (
        gw["pid"],
        restarted["pid"],
    )
    health = structured(await client.call_tool("health_check", {}))
    assert {b["name"]: b for b in health["backends"]}["gateway"]["status"] == "ok"


async def test_bad_input_gets_one_clear_error_and_the_gateway_keeps_serving(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    base = await serving(client, "churn-bad", versions["v1"])
    url = f"{base}/v1/endpoints/churn-bad/predict"
    good = rows_of(app.settings.home, 3)
    limit = app.settings.gateway_max_batch
    cases = [
        (f"{base}/v1/endpoints/nope/predict", {"rows": good}, 404, "No endpoint named 'nope'"),
        (url, {"rows": [{"age": 30, "income": 1.0}]}, 400, "lacks column 'segment'"),
        (url, {"rows": [{"age": "thirty", "income": 1.0, "segment": "a"}]}, 400, "takes a number"),
        (url, {"rows": [{**good[0], "extra": 1}]}, 400, "does not take"),
        (url, {"rows": good * (limit // 3 + 1)}, 400, f"over the limit of {limit}"),
        (url, {"columns": FEATURES, "data": [[1, 2]]}, 400, "one value per column"),
        (url, {"rows": []}, 400, "empty"),
        (url, {"something": 1}, 400, '"rows"'),
    ]
    with httpx.Client(timeout=10) as http:
        for target, body, status, needle in cases:
            response = http.post(target, json=body)
            assert response.status_code == status, (body, response.text)
            assert needle in response.json()["error"], response.text
        response = http.post(url, content=b"{not json")
        assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
        huge = b'{"rows": [' + b"1," * (app.settings.gateway_max_body_bytes // 2) + b"1]}"
        response = http.post(url, content=huge, headers={"content-type": "application/json"})
        assert response.status_code == 413 and "over the limit" in response.json()["error"]

        # Chunked upload without a Content-Length is cut off at the limit too.
        def chunks() -> Any:
            for _ in range(app.settings.gateway_max_body_bytes // 65536 + 2):
                yield b" " * 65536

        response = http.post(url, content=chunks())
        assert response.status_code == 413
        assert http.post(url, json={"rows": good}).status_code == 200  # still serving

    # The same mistakes through the tool: one sentence each.
    assert_tool_error(
        await client.call_tool("deploy_predict", {"endpoint": "nope", "rows": good}),
        "No endpoint named 'nope'",
    )
    assert_tool_error(
        await client.call_tool(
            "deploy_predict", {"endpoint": "churn-bad", "rows": [{"age": 1, "income": 2.0}]}
        ),
        "lacks column 'segment'",
    )
    assert_tool_error(
        await client.call_tool("deploy_predict", {"endpoint": "churn-bad", "rows": good * 70}), "over the 200"
    )
    assert_tool_error(
        await client.call_tool("deploy_create_endpoint", {"endpoint": "x", "model": MODEL}), "exactly one of"
    )
    assert_tool_error(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "../x", "model": MODEL, "version": "1"}
        ),
        "endpoint name '../x' is not a valid name",
    )
    assert_tool_error(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "x", "model": "no-such-model", "version": "1"}
        )
    )
    assert_tool_error(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-bad", "model": MODEL, "version": versions["v2"]}
        ),
        "already exists",
    )
    assert_tool_error(
        await client.call_tool("deploy_status", {"endpoint": "nope"}), "No endpoint named 'nope'"
    )
    assert_tool_error(
        await client.call_tool("deploy_delete_endpoint", {"endpoint": "nope", "confirm": True}), "No endpoint"
    )
    structured(await client.call_tool("deploy_predict", {"endpoint": "churn-bad", "rows": good}))
    metrics = structured(await client.call_tool("deploy_status", {"endpoint": "churn-bad"}))["endpoint"][
        "versions"
    ][0]["metrics"]
    assert metrics["rejected"] >= 4 and metrics["errors"] == 0


@pytest.mark.slow
async def test_routing_change_under_load_drops_nothing(
    client: Client, app: AppContext, versions: dict[str, Any]
) -> None:
    """Weights change while a load runs: every request answers 200, both versions serve, no restart."""
    from mcp_server.gateway import table

    v1, v2 = versions["v1"], versions["v2"]
    structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-split", "model": MODEL, "version": v1}
        )
    )
    gw = await start(client)
    # Add v2 as the green slot with no traffic (as a blue-green prepare would), then move weights around.
    from mcp_server.core.mlmodels import onnx_twin

    twin = onnx_twin(app, MODEL, v2)
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    with table.write(app.store) as session:
        ep = session.scalars(select(DeployEndpoint).where(DeployEndpoint.name == "churn-split")).one()
        session.add(
            DeployRoute(
                endpoint_id=ep.id,
                model=MODEL,
                version=v2,
                weight=0.0,
                slot="green",
                onnx_dir=str(twin.path.parent),
            )
        )
    rows = rows_of(app.settings.home, 1)
    url = f"{gw['url']}/v1/endpoints/churn-split/predict"
    statuses: list[int] = []
    served: dict[str, int] = {}
    stop = asyncio.Event()

    async def load() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                r = await http.post(url, json={"rows": rows})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    v = r.json()["version"]
                    served[v] = served.get(v, 0) + 1

    tasks = [asyncio.create_task(load()) for _ in range(4)]
    for weights in ({v1: 50.0, v2: 50.0}, {v1: 0.0, v2: 100.0}, {v1: 100.0, v2: 0.0}, {v1: 50.0, v2: 50.0}):
        await asyncio.to_thread(
            table.set_weights, app.store, "churn-split", weights, event="weights", reason="test"
        )
        await asyncio.sleep(1.2)
    stop.set()
    await asyncio.gather(*tasks)
    assert len(statuses) > 50 and set(statuses) == {200}
    assert served.get(v1, 0) > 0 and served.get(v2, 0) > 0
    split = structured(
        await client.call_tool(
            "deploy_predict", {"endpoint": "churn-split", "rows": rows * 40, "per_row": True}
        )
    )
    assert set(split["versions"]) == {v1, v2}
    pinned = structured(
        await client.call_tool("deploy_predict", {"endpoint": "churn-split", "rows": rows, "version": v2})
    )
    assert pinned["versions"] == {v2: 1}
    status = structured(await client.call_tool("deploy_gateway_status", {}))
    assert status["pid"] == gw["pid"]  # no restart
    st = structured(await client.call_tool("deploy_status", {"endpoint": "churn-split"}))
    by_version = {v["version"]: v for v in st["endpoint"]["versions"]}
    assert by_version[v2]["slot"] == "green" and by_version[v2]["weight"] == 50.0
    assert by_version[v1]["metrics"]["requests"] + by_version[v2]["metrics"]["requests"] >= len(statuses)


async def test_gateway_stop_and_start_again(client: Client) -> None:
    gw = await start(client)
    stopped = structured(await client.call_tool("deploy_gateway_stop", {}))
    assert stopped["state"] == "stopped" and "Stopped" in stopped["message"]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{gw['url']}/healthz", timeout=2)
    assert structured(await client.call_tool("deploy_gateway_status", {}))["state"] == "stopped"
    assert structured(await client.call_tool("deploy_gateway_stop", {}))["state"] == "stopped"  # idempotent
    assert_tool_error(
        await client.call_tool("deploy_gateway_start", {"host": "0.0.0.0", "port": 0}), "needs a bearer token"
    )
    again = await start(client)
    assert again["running"] is True and again["restarted"] is False


async def test_build_image_against_a_recording_engine(settings: Any, versions: dict[str, Any]) -> None:
    from mcp_server.core.app import create_server
    from tests.tools.deploy.engine_standin import EngineStandIn

    v1 = versions["v1"]
    with EngineStandIn() as engine:
        server = create_server(settings.model_copy(update={"docker_host": engine.url}))
        async with Client(server, mode="legacy") as client:
            out = structured(
                await client.call_tool(
                    "deploy_build_image", {"model": MODEL, "version": v1, "tag": "churn-gateway:1"}
                )
            )
            bad = await client.call_tool(
                "deploy_build_image", {"model": MODEL, "version": v1, "tag": "Bad Tag!"}
            )
        server.app.close()
        calls = [(c["method"], c["path"].split("/", 2)[-1]) for c in engine.calls]
        members = engine.build_context_members()
        (build,) = [c for c in engine.calls if c["path"].endswith("/build")]
    assert_tool_error(bad, "image tag is not valid")
    assert (
        out["built"] is True and out["image_id"] == "sha256:" + "ab" * 32 and out["tag"] == "churn-gateway:1"
    )
    assert calls == [("GET", "_ping"), ("POST", "build")]
    assert build["path"] == "/v1.43/build"
    assert build["query"]["t"] == ["churn-gateway:1"] and build["query"]["rm"] == ["True"]
    assert build["content_type"] == "application/tar"
    # The context, file by file.
    context = Path(settings.home) / "reports" / "images" / f"{MODEL}-{v1}"
    on_disk = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    assert sorted(members) == on_disk
    for name in (
        "Dockerfile",
        ".dockerignore",
        "requirements.txt",
        "routes.json",
        "model/model.onnx",
        "model/twin.json",
        "mcp_server/__main__.py",
        "mcp_server/cli.py",
        "mcp_server/gateway/app.py",
        "mcp_server/gateway/server.py",
        "mcp_server/core/twin.py",
    ):
        assert name in members, name
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]
    from mcp_server.core.mlmodels import onnx_twin

    app = AppContext.from_settings(settings)
    twin = onnx_twin(app, MODEL, v1, convert=False)
    app.close()
    assert members["model/model.onnx"] == twin.path.read_bytes()
    dockerfile = members["Dockerfile"].decode()
    assert (
        dockerfile.startswith("# The mlops-mcp serving gateway") and "\nFROM python:3.11-slim\n" in dockerfile
    )
    assert "\nUSER 10001\n" in dockerfile and '"gateway", "--routes", "/srv/routes.json"' in dockerfile
    requirements = members["requirements.txt"].decode().split()
    import importlib.metadata

    for pkg in ("onnxruntime", "starlette", "uvicorn", "numpy", "prometheus_client"):
        assert f"{pkg}=={importlib.metadata.version(pkg)}" in requirements
    import json

    routes = json.loads(members["routes.json"])
    assert routes["endpoints"][0]["routes"] == [{"version": v1, "weight": 100, "onnx_dir": "model"}]


async def test_build_image_without_an_engine_returns_the_context(
    settings: Any, versions: dict[str, Any]
) -> None:
    import socket

    from mcp_server.core.app import create_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    server = create_server(settings.model_copy(update={"docker_host": f"http://127.0.0.1:{closed}"}))
    async with Client(server, mode="legacy") as client:
        out = structured(
            await client.call_tool(
                "deploy_build_image",
                {"model": MODEL, "alias": None, "version": versions["v2"], "tag": "churn:2"},
            )
        )
    server.app.close()
    assert out["built"] is False and "No Docker engine is reachable" in out["message"]
    assert (
        out["context"] == f"<home>/reports/images/{MODEL}-{versions['v2']}" and "Dockerfile" in out["files"]
    )


async def test_engine_build_error_is_reported(settings: Any, versions: dict[str, Any]) -> None:
    from mcp_server.core.app import create_server
    from tests.tools.deploy.engine_standin import EngineStandIn

    with EngineStandIn(fail_build="failed to resolve source metadata for python:3.11-slim") as engine:
        server = create_server(settings.model_copy(update={"docker_host": engine.url}))
        async with Client(server, mode="legacy") as client:
            out = structured(
                await client.call_tool(
                    "deploy_build_image", {"model": MODEL, "version": versions["v1"], "tag": "churn:1"}
                )
            )
        server.app.close()
    assert out["built"] is False and "failed to resolve source metadata" in out["message"]


@pytest.mark.parametrize("strategy", ["canary", "blueGreen"])
async def test_export_manifests_are_valid_kubernetes_yaml(
    client: Client, versions: dict[str, Any], strategy: str
) -> None:
    import yaml

    from tests.conftest import read_artifact

    structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-k8s", "model": MODEL, "version": versions["v1"]}
        )
    )
    out = structured(
        await client.call_tool("deploy_export_manifests", {"endpoint": "churn-k8s", "strategy": strategy})
    )
    docs = list(yaml.safe_load_all((await read_artifact(client, out["uri"])).decode()))
    assert [d["kind"] for d in docs] == out["kinds"] == ["Deployment", "Service", "Service", "Rollout"]
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
        assert len(doc["metadata"]["name"]) <= 63
    deployment, stable, second, rollout = docs
    assert deployment["apiVersion"] == "apps/v1"
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert all(labels[k] == v for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    (container,) = template["spec"]["containers"]
    assert (
        container["name"] and container["image"] == out["image"] == f"mlops-gateway-{MODEL}:{versions['v1']}"
    )
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for svc in (stable, second):
        assert svc["apiVersion"] == "v1" and svc["spec"]["ports"][0]["port"] == 80
        assert all(labels[k] == v for k, v in svc["spec"]["selector"].items())
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    assert rollout["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    if strategy == "canary":
        canary = rollout["spec"]["strategy"]["canary"]
        assert (
            canary["stableService"] == stable["metadata"]["name"]
            and canary["canaryService"] == second["metadata"]["name"]
        )
        assert [s["setWeight"] for s in canary["steps"] if "setWeight" in s] == [5, 25, 50]
    else:
        bg = rollout["spec"]["strategy"]["blueGreen"]
        assert (
            bg["activeService"] == stable["metadata"]["name"]
            and bg["previewService"] == second["metadata"]["name"]
        )
    assert_tool_error(await client.call_tool("deploy_export_manifests", {"endpoint": "nope"}), "No endpoint")
    assert_tool_error(
        await client.call_tool("deploy_export_manifests", {"endpoint": "churn-k8s", "image": "UPPER CASE"}),
        "image tag",
    )


async def test_a_conversion_that_fails_parity_refuses_the_deploy(
    client: Client, settings: Any, versions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection in the harness: a tolerance no conversion can meet makes the real parity check fail."""
    from mcp_server.tools.onnx import adapter as onnx_adapter
    from tests.tools.deploy.conftest import register, train

    version = await register(client, settings, MODEL, await train(client, 0.5, "churn-parity"))
    monkeypatch.setattr(onnx_adapter, "ATOL", -1.0)
    refused = await client.call_tool(
        "deploy_create_endpoint", {"endpoint": "churn-parity", "model": MODEL, "version": version}
    )
    assert_tool_error(refused, "parity")
    listed = structured(await client.call_tool("deploy_list", {}))
    assert "churn-parity" not in [e["endpoint"] for e in listed["items"]]
    monkeypatch.undo()
    created = structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": "churn-parity", "model": MODEL, "version": version}
        )
    )
    assert created["version"] == version


async def test_concurrent_starts_give_one_gateway(app: AppContext) -> None:
    from mcp_server.gateway import manager

    manager.stop(app)
    results = await asyncio.gather(*(asyncio.to_thread(manager.start, app, None, 0) for _ in range(3)))
    assert len({r.pid for r in results}) == 1 and all(r.running for r in results)
    gateways = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if b"gateway" in cmdline and str(app.settings.home).encode() in cmdline:
            gateways += 1
    assert gateways == 1
    manager.stop(app)


async def test_gateway_with_a_token(settings: Any, versions: dict[str, Any]) -> None:
    """With a gateway token every route but /healthz needs it; the deploy tools send it."""
    from pydantic import SecretStr

    from mcp_server.core.app import create_server
    from mcp_server.gateway import manager

    app = AppContext.from_settings(settings)
    manager.stop(app)
    app.close()
    secured = settings.model_copy(update={"gateway_token": SecretStr("tok-123")})
    server = create_server(secured)
    try:
        async with Client(server, mode="legacy") as client:
            structured(
                await client.call_tool(
                    "deploy_create_endpoint",
                    {"endpoint": "churn-tok", "model": MODEL, "version": versions["v1"]},
                )
            )
            gw = await start(client)
            url = f"{gw['url']}/v1/endpoints/churn-tok/predict"
            rows = rows_of(settings.home, 2)
            assert httpx.get(f"{gw['url']}/healthz", timeout=5).status_code == 200
            assert httpx.post(url, json={"rows": rows}, timeout=5).status_code == 401
            assert httpx.get(f"{gw['url']}/metrics", timeout=5).status_code == 401
            ok = httpx.post(url, json={"rows": rows}, headers={"Authorization": "Bearer tok-123"}, timeout=5)
            assert ok.status_code == 200
            out = structured(
                await client.call_tool("deploy_predict", {"endpoint": "churn-tok", "rows": rows})
            )
            assert out["rows"] == 2
            st = structured(await client.call_tool("deploy_status", {"endpoint": "churn-tok"}))
            assert st["endpoint"]["versions"][0]["metrics"]["requests"] == 2
            assert "tok-123" not in json.dumps(gw) + json.dumps(st)
            structured(await client.call_tool("deploy_gateway_stop", {}))
    finally:
        manager.stop(server.app)
        server.app.close()
