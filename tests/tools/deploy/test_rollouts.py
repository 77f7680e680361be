"""Rollouts through a real MCP client with a real gateway process and real HTTP traffic on 127.0.0.1.

The five reliability tests of issue #10: a healthy canary promoted to 100% under load (then rolled back
by hand), a failing candidate rolled back automatically, no traffic -> failed at max_wait_seconds, the
gateway SIGKILLed mid-rollout resumes from its stored step, and blue-green switches under load drop no
request. Step times are kept small (0.5-1 s) so the module stays fast.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import Updates, assert_tool_error, read_json, structured
from tests.tools.deploy.conftest import MODEL, register
from tests.tools.deploy.rollout_helpers import MARK_AGE, LoadGen, canary_args, marked_onnx, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # rollouts wait out their canary steps

TERMINAL = ("promoted", "rolled_back", "failed", "aborted")
# The test client declares no elicitation: destructive rollout calls carry confirm: true (tests/test_confirm.py).
YES = {"confirm": True}


@pytest.fixture
def updates() -> Updates:
    return Updates()


@pytest.fixture
async def client(settings: Settings, updates: Updates) -> AsyncIterator[Client]:
    """The deploy area's client (the rollout tools are part of the area); subscribed resources are read
    every 0.2 s (steps last 0.6 s here)."""
    server = create_server(settings.model_copy(update={"watch_interval_s": 0.2}))
    async with Client(server, mode="legacy", message_handler=updates.handler) as session:
        yield session
    server.app.close()


@pytest.fixture(scope="module")
async def marked_version(deploy_home: Path, versions: dict[str, Any]) -> str:
    """A version of MODEL that fails (onnxruntime error) on rows whose age is MARK_AGE."""
    settings = Settings(home=deploy_home, profile="all")
    marked_onnx(deploy_home / "workspace" / "marked.onnx")
    server = create_server(settings)
    async with Client(server, mode="legacy") as session:
        version = await register(session, settings, MODEL, "marked.onnx")
    server.app.close()
    return version


def rows_of(home: Path, n: int = 50) -> list[dict[str, Any]]:
    df = pd.read_csv(home / "workspace" / "example.csv").head(n)
    return [
        {"age": int(r.age), "income": float(r.income), "segment": str(r.segment)} for r in df.itertuples()
    ]


async def start_gateway(client: Client) -> dict[str, Any]:
    return structured(await client.call_tool("deploy_gateway_start", {"port": 0}))


async def create(client: Client, endpoint: str, version: str) -> None:
    structured(
        await client.call_tool(
            "deploy_create_endpoint", {"endpoint": endpoint, "model": MODEL, "version": version}
        )
    )


def status_probe(client: Client, endpoint: str) -> Any:
    async def probe() -> dict[str, Any]:
        return structured(await client.call_tool("deploy_canary_status", {"endpoint": endpoint}))

    return probe


async def history(client: Client, endpoint: str, **extra: Any) -> list[dict[str, Any]]:
    out = structured(await client.call_tool("deploy_history", {"endpoint": endpoint, "limit": 200, **extra}))
    return list(reversed(out["items"]))  # oldest first


# -- the five reliability tests ---------------------------------------------------------------------


async def test_healthy_canary_is_promoted_step_by_step_then_rolled_back_by_hand(
    client: Client, settings: Settings, versions: dict[str, Any], updates: Updates
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    gw = await start_gateway(client)
    await create(client, "canary-good", v1)
    url = f"{gw['url']}/v1/endpoints/canary-good/predict"
    with LoadGen(url, rows_of(settings.home), rate=50) as load:
        started = structured(await client.call_tool("deploy_canary_start", canary_args("canary-good", v2)))
        assert started["state"] == "starting" and started["gateway_running"] is True
        assert started["stable_version"] == v1 and started["candidate_version"] == v2
        rid = started["rollout_id"]
        # Waited for on a subscription: the gateway's controller writes each step, this server tells.
        uri = f"mlops://rollouts/{rid}"
        await client.subscribe_resource(uri)
        steps_seen = set()
        while True:
            seen = updates.count(uri)
            now = await read_json(client, uri)
            steps_seen.add(now["step"])
            if now["state"] in TERMINAL:
                break
            await updates.after(uri, seen, timeout=90)
        final = structured(await client.call_tool("deploy_canary_status", {"endpoint": "canary-good"}))
        assert final["state"] == "promoted", final
        # A step and the end at least (a loaded machine may see two 0.6 s steps within one read).
        assert len(steps_seen) >= 2 and updates.count(uri) >= 2, (steps_seen, updates.uris)
        promoted_at = dict(load.versions)
        # Roll back by hand, under the same traffic: all of it to v1 at once (v1 was still loaded).
        back = structured(
            await client.call_tool(
                "deploy_rollback", {"endpoint": "canary-good", "reason": "test", "confirm": True}
            )
        )
        time.sleep(0.5)
        settled = dict(load.versions)
        time.sleep(0.5)
    assert final["rollout_id"] == rid and final["step"] == 3 and final["candidate_weight"] == 100
    assert final["weights"] == {v1: 0.0, v2: 100.0}  # the old stable stays loaded at weight 0
    assert load.non_2xx == 0 and load.connection_errors == 0, (load.statuses, load.connection_errors)
    assert promoted_at[v1] > 0 and promoted_at[v2] > 0
    assert back["version"] == v1 and back["previous_version"] == v2 and back["gateway_applied"] is True
    assert back["weights"] == {v1: 100.0, v2: 0.0} and back["state"] == "rollback"
    assert load.versions[v2] == settled[v2] and load.versions[v1] > settled[v1]  # then only v1 answered

    events = await history(client, "canary-good", rollout_id=rid)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "canary_started" and kinds[-1] == "promoted", kinds
    steps = [e for e in events if e["kind"] == "step"]
    assert [e["details"]["candidate_weight"] for e in steps] == [25, 50, 100]
    # Each step was judged on its own window: enough candidate requests, none failed.
    for judged in [*steps[1:], events[-1]]:
        window = judged["details"]["window"][v2]
        assert window["requests"] >= 5 and window["error_rate"] == 0.0, judged
    assert (await history(client, "canary-good"))[-1]["kind"] == "rollback"
    status = structured(await client.call_tool("deploy_status", {"endpoint": "canary-good"}))
    assert status["endpoint"]["stable_version"] == v1
    served = structured(
        await client.call_tool(
            "deploy_predict", {"endpoint": "canary-good", "rows": rows_of(settings.home, 10)}
        )
    )
    assert served["versions"] == {v1: 10}


async def test_failing_candidate_is_rolled_back_automatically(
    client: Client, settings: Settings, versions: dict[str, Any], marked_version: str
) -> None:
    v1, bad = versions["v1"], marked_version
    gw = await start_gateway(client)
    await create(client, "canary-bad", v1)
    url = f"{gw['url']}/v1/endpoints/canary-bad/predict"
    with LoadGen(url, rows_of(settings.home), rate=50, marked_share=0.3, seed=1) as load:
        started = structured(
            await client.call_tool(
                "deploy_canary_start",
                canary_args("canary-bad", bad, steps=[20, 50, 100], step_seconds=5, min_requests=10),
            )
        )
        final = await wait_for(
            status_probe(client, "canary-bad"), lambda s: s["state"] in TERMINAL, timeout=90
        )
        time.sleep(0.5)  # requests after the rollback all reach the stable version
        after = dict(load.versions)
    assert final["state"] == "rolled_back", final
    assert "error rate" in final["reason"] and "max_error_rate" in final["reason"]
    assert final["step"] == 1  # caught in the first step (20%), never moved further
    assert final["weights"] == {v1: 100.0}  # the candidate's route is gone
    window = final["window"][bad]
    assert window["requests"] >= 10 and window["error_rate"] > 0.05
    # The stable version answered the same marked rows without failing.
    assert final["window"][v1]["error_rate"] == 0.0
    assert load.statuses[500] > 0 and load.connection_errors == 0

    events = await history(client, "canary-bad", rollout_id=started["rollout_id"])
    rolled = [e for e in events if e["kind"] == "rolled_back"]
    assert len(rolled) == 1 and rolled[0]["details"]["window"][bad]["error_rate"] > 0.05
    assert [e["details"]["candidate_weight"] for e in events if e["kind"] == "step"] == [20]
    graph = structured(await client.call_tool("lineage_get", {"entity": "endpoint:canary-bad", "depth": 2}))
    ids = {n["id"] for n in graph["nodes"]}
    assert {f"rollout:{started['rollout_id']}", f"onnx:{MODEL}/{bad}"} <= ids, ids
    served = structured(
        await client.call_tool(
            "deploy_predict", {"endpoint": "canary-bad", "rows": rows_of(settings.home, 20), "per_row": True}
        )
    )
    assert served["versions"] == {v1: 20}
    assert after.get(v1, 0) > 0


async def test_canaries_judged_on_open_inference_v2_traffic_only(
    client: Client, settings: Settings, versions: dict[str, Any], marked_version: str
) -> None:
    """Issue #26 item 4: every request arrives through /v2/models/{e}/infer (one [1, 1] tensor per feature);
    the canary windows count it as they count /predict, so a healthy candidate is promoted and one that
    fails there is rolled back."""
    v1, v2, bad = versions["v1"], versions["v2"], marked_version
    gw = await start_gateway(client)
    await create(client, "canary-v2", v1)
    await create(client, "canary-v2-bad", v1)
    rows = rows_of(settings.home)
    with LoadGen(f"{gw['url']}/v2/models/canary-v2/infer", rows, rate=40, protocol="v2") as load:
        structured(await client.call_tool("deploy_canary_start", canary_args("canary-v2", v2)))
        good = await wait_for(status_probe(client, "canary-v2"), lambda s: s["state"] in TERMINAL, timeout=90)
    assert good["state"] == "promoted", good
    assert load.non_2xx == 0 and load.versions[v2] > 0 and load.versions[v1] > 0, load.statuses
    assert good["window"][v2]["requests"] >= 5 and good["window"][v2]["error_rate"] == 0.0
    url = f"{gw['url']}/v2/models/canary-v2-bad/infer"
    with LoadGen(url, rows, rate=40, marked_share=0.3, seed=2, protocol="v2") as load:
        structured(
            await client.call_tool(
                "deploy_canary_start",
                canary_args("canary-v2-bad", bad, steps=[20, 50, 100], step_seconds=5, min_requests=10),
            )
        )
        failed = await wait_for(
            status_probe(client, "canary-v2-bad"), lambda s: s["state"] in TERMINAL, timeout=90
        )
    assert failed["state"] == "rolled_back" and "max_error_rate" in failed["reason"], failed
    assert failed["window"][bad]["error_rate"] > 0.05 and failed["weights"] == {v1: 100.0}
    assert load.statuses[500] > 0 and load.connection_errors == 0


async def test_no_traffic_waits_then_fails_at_max_wait_and_never_promotes(
    client: Client, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    await start_gateway(client)
    await create(client, "canary-quiet", v1)
    started = structured(
        await client.call_tool(
            "deploy_canary_start",
            canary_args("canary-quiet", v2, steps=[50, 100], step_seconds=0.5, max_wait_seconds=2.5),
        )
    )
    t0 = time.monotonic()
    waiting = await wait_for(
        status_probe(client, "canary-quiet"), lambda s: s["state"] == "waiting_for_traffic", timeout=30
    )
    assert waiting["candidate_weight"] == 50 and "requests" in waiting["message"]
    final = await wait_for(status_probe(client, "canary-quiet"), lambda s: s["state"] in TERMINAL, timeout=30)
    assert final["state"] == "failed", final
    assert time.monotonic() - t0 >= 2.0
    assert "max_wait_seconds" in final["reason"] and "never promoted" in final["reason"]
    assert final["weights"] == {v1: 100.0}
    events = await history(client, "canary-quiet", rollout_id=started["rollout_id"])
    kinds = [e["kind"] for e in events]
    assert "waiting" in kinds and "promoted" not in kinds and kinds[-1] == "failed", kinds
    assert [e["details"]["candidate_weight"] for e in events if e["kind"] == "step"] == [50]


async def test_gateway_sigkilled_mid_rollout_resumes_from_its_stored_step(
    client: Client, settings: Settings, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    gw = await start_gateway(client)
    await create(client, "canary-kill", v1)
    url = f"{gw['url']}/v1/endpoints/canary-kill/predict"
    with LoadGen(url, rows_of(settings.home), rate=50) as _load:
        started = structured(
            await client.call_tool(
                "deploy_canary_start",
                canary_args("canary-kill", v2, steps=[20, 40, 60, 100], step_seconds=1.0),
            )
        )
        mid = await wait_for(status_probe(client, "canary-kill"), lambda s: s["step"] >= 2, timeout=60)
        assert mid["state"] in ("waiting_for_traffic", "running")
        os.kill(gw["pid"], signal.SIGKILL)
        dead = await wait_for(
            lambda: _gateway_status(client), lambda s: s["state"] == "dead", timeout=20, every=0.1
        )
        assert dead["running"] is False
        stored = structured(
            await client.call_tool("deploy_canary_status", {"rollout_id": started["rollout_id"]})
        )
        assert stored["state"] in ("waiting_for_traffic", "running") and stored["gateway_running"] is False
        assert stored["step"] >= mid["step"]
        restarted = structured(await client.call_tool("deploy_gateway_start", {}))
        assert (
            restarted["restarted"] is True and restarted["pid"] != gw["pid"] and restarted["url"] == gw["url"]
        )
        final = await wait_for(
            status_probe(client, "canary-kill"), lambda s: s["state"] in TERMINAL, timeout=90
        )
    assert final["state"] == "promoted", final
    events = await history(client, "canary-kill", rollout_id=started["rollout_id"])
    resumed = [i for i, e in enumerate(events) if e["kind"] == "resumed"]
    assert len(resumed) == 1, [e["kind"] for e in events]
    at = events[resumed[0]]["details"]["step"]
    assert at + 1 == stored["step"]  # resumed at the stored step, not from the start
    later_steps = [e["details"]["step"] for e in events[resumed[0] + 1 :] if e["kind"] == "step"]
    assert later_steps == list(range(at + 1, 4))


async def _gateway_status(client: Client) -> dict[str, Any]:
    return structured(await client.call_tool("deploy_gateway_status", {}))


async def test_blue_green_switches_under_load_drop_no_request(
    client: Client, app: AppContext, settings: Settings, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    gw = await start_gateway(client)
    await create(client, "bg", v1)
    sample = rows_of(settings.home, 30)
    prepared = structured(
        await client.call_tool("deploy_blue_green_prepare", {"endpoint": "bg", "version": v2, "rows": sample})
    )
    assert prepared["ready"] is True and prepared["loaded"] is True and prepared["healthz"] is True
    assert prepared["slot"] == "green" and prepared["live_slot"] == "blue" and prepared["live_version"] == v1
    assert prepared["parity_rows"] == 30 and prepared["output_types_match"] is True
    # Agreement checked against onnxruntime directly on both twins.
    expected = _agreement(app, v1, v2, sample)
    assert prepared["agreement"] == pytest.approx(expected)
    status = structured(await client.call_tool("deploy_status", {"endpoint": "bg"}))
    weights = {v["version"]: (v["weight"], v["slot"]) for v in status["endpoint"]["versions"]}
    assert weights == {v1: (100.0, "blue"), v2: (0.0, "green")}  # prepared: no traffic yet

    url = f"{gw['url']}/v1/endpoints/bg/predict"
    live = [v1]
    with LoadGen(url, rows_of(settings.home), rate=50) as load:
        t0 = time.monotonic()
        for i in range(10):
            time.sleep(max(0.0, t0 + 1.5 * (i + 1) - time.monotonic()))
            out = structured(
                await client.call_tool("deploy_blue_green_switch", {"endpoint": "bg", "confirm": True})
            )
            assert out["gateway_applied"] is True and out["previous_version"] == live[-1]
            live.append(out["version"])
        time.sleep(1.0)
    assert live == [v1, v2] * 5 + [v1]
    assert load.sent >= 300
    assert load.non_2xx == 0 and load.connection_errors == 0, (load.statuses, load.connection_errors)
    assert load.versions[v1] > 0 and load.versions[v2] > 0
    status = structured(await client.call_tool("deploy_status", {"endpoint": "bg"}))
    loaded = {v["version"]: v["loaded"] for v in status["endpoint"]["versions"]}
    assert loaded == {v1: True, v2: True}  # the previous slot stays loaded
    events = await history(client, "bg")
    assert sum(e["kind"] == "switched" for e in events) == 10


def _agreement(app: AppContext, a: str, b: str, rows: list[dict[str, Any]]) -> float:
    from mcp_server.core.mlmodels import onnx_twin
    from mcp_server.core.twin import open_session, predict

    outs = []
    for version in (a, b):
        twin = onnx_twin(app, MODEL, version, convert=False)
        outs.append(predict(open_session(twin), twin, rows))
    return float(np.mean([x == y for x, y in zip(*outs, strict=True)]))


# -- the other tools and bad input --------------------------------------------------------------------


async def test_promote_and_abort_by_hand_under_traffic(
    client: Client, settings: Settings, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    gw = await start_gateway(client)
    await create(client, "manual-a", v1)
    await create(client, "manual-b", v1)
    slow = {"step_seconds": 60, "max_wait_seconds": 600, "min_requests": 100_000}
    a = structured(await client.call_tool("deploy_canary_start", canary_args("manual-a", v2, **slow)))
    b = structured(await client.call_tool("deploy_canary_start", canary_args("manual-b", v2, **slow)))
    rows = rows_of(settings.home)
    with (
        LoadGen(f"{gw['url']}/v1/endpoints/manual-a/predict", rows, rate=25) as load_a,
        LoadGen(f"{gw['url']}/v1/endpoints/manual-b/predict", rows, rate=25) as load_b,
    ):
        waiting = await wait_for(
            status_probe(client, "manual-a"),
            lambda s: s["state"] == "waiting_for_traffic" and s["window"].get(v2, {}).get("requests", 0) > 0,
            timeout=30,
        )
        assert waiting["window"][v2]["requests"] < 100_000 and waiting["candidate_weight"] == 25
        by_id = structured(await client.call_tool("deploy_canary_status", {"rollout_id": a["rollout_id"]}))
        assert by_id["endpoint"] == "manual-a" and by_id["weights"] == {v1: 75.0, v2: 25.0}

        busy = await client.call_tool("deploy_canary_start", canary_args("manual-a", v2))
        assert_tool_error(busy, "already has rollout", a["rollout_id"])

        promoted = structured(await client.call_tool("deploy_canary_promote", {"endpoint": "manual-a"}))
        assert promoted["state"] == "promoted" and promoted["version"] == v2
        assert promoted["weights"] == {v1: 0.0, v2: 100.0} and promoted["gateway_applied"] is True
        assert promoted["live_slot"] == "green"  # the candidate took the idle slot

        aborted = structured(
            await client.call_tool(
                "deploy_canary_abort",
                {"rollout_id": b["rollout_id"], "reason": "changed my mind", "confirm": True},
            )
        )
        assert aborted["gateway_applied"] is True
        time.sleep(0.5)
        settled_a, settled_b = dict(load_a.versions), dict(load_b.versions)
        time.sleep(0.5)
    for load in (load_a, load_b):
        assert load.non_2xx == 0 and load.connection_errors == 0, load.statuses
    assert load_a.versions[v1] == settled_a[v1]  # after the promotion only v2 answers on manual-a
    assert load_b.versions[v2] == settled_b.get(v2, 0)  # after the abort only v1 answers on manual-b
    assert aborted["state"] == "aborted" and aborted["version"] == v1 and aborted["weights"] == {v1: 100.0}
    final_b = structured(await client.call_tool("deploy_canary_status", {"rollout_id": b["rollout_id"]}))
    assert final_b["state"] == "aborted" and final_b["reason"] == "changed my mind"
    again = await client.call_tool("deploy_canary_abort", {"endpoint": "manual-b", "confirm": True})
    assert_tool_error(again, "no canary in progress")
    again = await client.call_tool("deploy_canary_promote", {"rollout_id": b["rollout_id"]})
    assert_tool_error(again, "already aborted")

    page = structured(await client.call_tool("deploy_history", {"endpoint": "manual-a", "limit": 2}))
    assert len(page["items"]) == 2 and page["total"] >= 4 and page["next_cursor"]
    assert page["items"][0]["kind"] == "promoted"


async def test_deleting_the_endpoint_mid_rollout_fails_the_rollout(
    client: Client, versions: dict[str, Any]
) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    await start_gateway(client)
    await create(client, "doomed", v1)
    slow = {"step_seconds": 60, "max_wait_seconds": 600}
    started = structured(await client.call_tool("deploy_canary_start", canary_args("doomed", v2, **slow)))
    await wait_for(status_probe(client, "doomed"), lambda s: s["state"] == "waiting_for_traffic", timeout=30)
    structured(await client.call_tool("deploy_delete_endpoint", {"endpoint": "doomed", "confirm": True}))

    async def by_id() -> dict[str, Any]:
        return structured(
            await client.call_tool("deploy_canary_status", {"rollout_id": started["rollout_id"]})
        )

    final = await wait_for(by_id, lambda s: s["state"] in TERMINAL, timeout=30)
    assert final["state"] == "failed" and "deleted" in final["reason"] and final["weights"] == {}


async def test_bad_input_gets_one_clear_error(client: Client, versions: dict[str, Any]) -> None:
    v1, v2 = versions["v1"], versions["v2"]
    await create(client, "bad-input", v1)
    cases = [
        ("deploy_canary_start", canary_args("bad-input", v2, steps=[50, 25, 100]), "increase strictly"),
        ("deploy_canary_start", canary_args("bad-input", v2, steps=[10, 50]), "last step must be 100"),
        ("deploy_canary_start", canary_args("bad-input", v2, steps=[0, 100]), "above 0"),
        ("deploy_canary_start", canary_args("bad-input", v2, max_wait_seconds=0.1), "max_wait_seconds"),
        ("deploy_canary_start", canary_args("bad-input", v1), "already the stable version"),
        ("deploy_canary_start", canary_args("bad-input", "999"), "No version 999"),
        ("deploy_canary_start", canary_args("no-such-endpoint", v2), "No endpoint named 'no-such-endpoint'"),
        ("deploy_canary_start", canary_args("../etc", v2), "endpoint name"),
        ("deploy_canary_status", {}, "exactly one of"),
        ("deploy_canary_status", {"endpoint": "bad-input"}, "no canary rollout"),
        ("deploy_canary_status", {"rollout_id": "nope"}, "No canary rollout with id"),
        ("deploy_canary_promote", {"endpoint": "bad-input"}, "no canary in progress"),
        ("deploy_canary_promote", {}, "exactly one of"),
        ("deploy_canary_abort", {"endpoint": "bad-input", "rollout_id": "x", **YES}, "exactly one of"),
        ("deploy_canary_abort", {"rollout_id": "nope", **YES}, "No canary rollout with id"),
        ("deploy_blue_green_switch", {"endpoint": "bad-input", **YES}, "holds no version"),
        ("deploy_rollback", {"endpoint": "bad-input", **YES}, "registry_rollback"),
        ("deploy_history", {"endpoint": "no-such-endpoint"}, "No endpoint named"),
    ]
    for tool, args, needle in cases:
        assert_tool_error(await client.call_tool(tool, args), needle)


async def test_descriptions_tell_the_two_rollbacks_apart(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "registry_rollback" in (tools["deploy_rollback"].description or "")
    if "registry_rollback" in tools:
        assert "deploy_rollback" in (tools["registry_rollback"].description or "")
    from mcp_server.tools.deploy import TOOLS

    rollout_tools = ("canary", "blue_green", "rollback", "history")
    specs = {s.name: s for s in TOOLS if any(word in s.name for word in rollout_tools)}
    # Starting a canary and following it are core (the README's core list); the rest is one profile away.
    assert {n for n, s in specs.items() if s.core} == {"deploy_canary_start", "deploy_canary_status"}
    assert {n for n, s in specs.items() if s.destructive} == {
        "deploy_rollback",
        "deploy_blue_green_switch",
        "deploy_canary_abort",
    }


# -- the judge, against an independent computation ----------------------------------------------------------


def test_window_p99_and_limits_match_an_independent_computation() -> None:
    from mcp_server.gateway.controller import Limits, judge, summarize
    from mcp_server.gateway.metrics import BUCKETS, Metrics

    rng = np.random.default_rng(5)
    latencies = rng.lognormal(mean=np.log(0.004), sigma=0.6, size=2000)
    metrics = Metrics()
    before = metrics.snapshot()
    for s in latencies:
        metrics.observe("e", "2", float(s), 1)
    for _ in range(30):
        metrics.error("e", "2")
    for _ in range(20):
        metrics.error("e", "2", rejected=True)
    window = Metrics.window(before, metrics.snapshot())
    got = summarize(window[("e", "2")])
    assert got["requests"] == 2050 and got["errors"] == 30 and got["rejected"] == 20
    assert got["error_rate"] == pytest.approx(30 / 2050, abs=1e-6)
    assert got["rejected_rate"] == pytest.approx(20 / 2050, abs=1e-6)
    # p99 within the bucket that holds numpy's p99 (the histogram's resolution).
    true_p99 = float(np.percentile(latencies, 99))
    edges = [0.0, *BUCKETS]
    i = next(k for k in range(1, len(edges)) if true_p99 <= edges[k])
    assert edges[i - 1] * 1000 <= got["p99_ms"] <= edges[i] * 1000

    limits = Limits(min_requests=100, max_error_rate=0.05, max_p99_ms=1000, max_error_rate_increase=0.01)
    assert judge(limits, got, None)[0] == "ok"
    assert judge(Limits(min_requests=5000, max_error_rate=1, max_p99_ms=1e6), got, None)[0] == "wait"
    assert judge(Limits(min_requests=1, max_error_rate=0.01, max_p99_ms=1e6), got, None)[0] == "fail"
    assert judge(Limits(min_requests=1, max_error_rate=1, max_p99_ms=1.0), got, None)[0] == "fail"
    stable = dict(got, error_rate=0.0)
    verdict, reason = judge(limits, got, stable)
    assert verdict == "fail" and "max_error_rate_increase" in reason
    ratio = Limits(min_requests=1, max_error_rate=1, max_p99_ms=1e6, max_p99_ratio=1.5)
    assert judge(ratio, got, dict(got, p99_ms=got["p99_ms"] / 2))[0] == "fail"
    assert judge(ratio, got, dict(got, p99_ms=got["p99_ms"]))[0] == "ok"
    # Rejections (4xx) count against the candidate only beyond what stable rejects of the same traffic.
    schema = Limits(min_requests=1, max_error_rate=0.05, max_p99_ms=1e6)
    both = dict(got, error_rate=0.0, rejected_rate=1.0)
    assert judge(schema, both, both)[0] == "ok"
    verdict, reason = judge(schema, both, dict(both, rejected_rate=0.0))
    assert verdict == "fail" and "rejected" in reason
    assert summarize(None)["requests"] == 0 and MARK_AGE > 100
