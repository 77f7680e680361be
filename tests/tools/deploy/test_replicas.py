"""Two gateway replicas on one PostgreSQL store, traffic split between them (issue #24 item 4).

Both processes serve the same routing table; one of them (the holder of the rollout lease) steps rollouts
and judges each step on the window of both replicas' traffic added up, which each replica publishes to the
store. Three runs, each on a fresh pair: a healthy canary goes 25 -> 50 -> 100 with no step skipped or
repeated; a candidate failing on 20% of rows is rolled back once, on the combined window, though neither
replica alone saw min_requests; the leader SIGKILLed mid-rollout hands the rollout to the other replica,
which resumes at the stored step. Ticks, heartbeats and the lease are short (0.1 / 0.3 / 1.0 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.contract_cases import write_example_tables
from tests.gateway.process import GatewayProcess, store_gateways
from tests.services import postgres_database
from tests.tools.deploy.conftest import MODEL, register
from tests.tools.deploy.rollout_helpers import (
    LoadGen,
    call,
    canary,
    create,
    events_of,
    finished,
    marked_onnx,
    rows_of,
    urls,
    wait_for,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group("gateway_replicas"),
]

HEARTBEAT_S, LEASE_S, TICK_S = 0.3, 1.0, 0.1
GATEWAY_ENV = {
    "MLOPS_MCP_ROLLOUT_TICK_S": str(TICK_S),
    "MLOPS_MCP_GATEWAY_POLL_S": "0.2",
    "MLOPS_MCP_GATEWAY_HEARTBEAT_S": str(HEARTBEAT_S),
    "MLOPS_MCP_GATEWAY_LEASE_S": str(LEASE_S),
}
RATE = 80.0  # requests/s over both replicas


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    """A PostgreSQL database of this module's own (parallel runs never share it), dropped afterwards."""
    with postgres_database("mlops_replicas") as url:
        yield url


@pytest.fixture(scope="module")
def cluster_settings(tmp_path_factory: pytest.TempPathFactory, store_url: str) -> Settings:
    home = tmp_path_factory.mktemp("replicas") / "home"
    write_example_tables(home / "workspace")
    return Settings(home=home, profile="all", store_url=store_url, gateway_heartbeat_s=HEARTBEAT_S)


@pytest.fixture(scope="module")
async def cluster_versions(cluster_settings: Settings) -> dict[str, str]:
    """Versions of MODEL registered from ONNX files: two healthy ones and one failing on marked rows."""
    workspace = cluster_settings.home / "workspace"
    marked_onnx(workspace / "healthy1.onnx", fails=False, name="healthy1")
    marked_onnx(workspace / "healthy2.onnx", fails=False, name="healthy2")
    marked_onnx(workspace / "marked.onnx")
    server = create_server(cluster_settings)
    async with Client(server, mode="legacy") as session:
        out = {
            key: await register(session, cluster_settings, MODEL, source)
            for key, source in (("v1", "healthy1.onnx"), ("v2", "healthy2.onnx"), ("bad", "marked.onnx"))
        }
    server.app.close()
    return out


@pytest.fixture
async def client(cluster_settings: Settings) -> AsyncIterator[Client]:
    server = create_server(cluster_settings)
    async with Client(server, mode="legacy") as session:
        yield session
    server.app.close()


@pytest.fixture
def pair(cluster_settings: Settings, store_url: str) -> Iterator[list[GatewayProcess]]:
    with store_gateways(cluster_settings.home, 2, MLOPS_MCP_STORE_URL=store_url, **GATEWAY_ENV) as gateways:
        yield gateways


# -- the three runs -------------------------------------------------------------------------------------


async def test_healthy_canary_steps_once_per_step_on_both_replicas_traffic(
    client: Client, cluster_settings: Settings, cluster_versions: dict[str, str], pair: list[GatewayProcess]
) -> None:
    v1, v2 = cluster_versions["v1"], cluster_versions["v2"]
    await create(client, pair, "rep-good", v1)
    ids = {g.replica for g in pair}
    with LoadGen(urls(pair, "rep-good"), rows_of(cluster_settings.home), rate=RATE) as load:
        started = await canary(client, "rep-good", v2)
        # No managed gateway in this home: the replicas on the store drive the rollout.
        assert started["gateway_running"] is False and "Started" in started["message"]
        running = await wait_for(
            lambda: call(client, "deploy_status", endpoint="rep-good"),
            lambda s: sum(r["leader"] for r in s["replicas"]) == 1,
            timeout=30,
        )
        final = await finished(client, "rep-good")
    assert final["state"] == "promoted", final
    assert {r["replica"] for r in running["replicas"]} == ids
    leader = next(r["replica"] for r in running["replicas"] if r["leader"])

    events = await events_of(client, "rep-good", started["rollout_id"])
    kinds = [e["kind"] for e in events]
    assert kinds == ["canary_started", "step", "step", "step", "promoted"], kinds  # nothing resumed or redone
    assert [e["details"]["candidate_weight"] for e in events if e["kind"] == "step"] == [25, 50, 100]
    assert {e["details"]["leader"] for e in events[1:]} == {leader}  # one replica stepped them all
    for judged in events[2:]:  # the windows of steps 1, 2 and 3: both replicas' traffic, added up
        per = judged["details"]["replicas"]
        assert set(per) == ids, judged
        total = judged["details"]["window"][v2]
        assert all(w[v2]["requests"] > 0 for w in per.values()), per
        assert sum(w[v2]["requests"] for w in per.values()) == total["requests"] >= 10
        assert total["error_rate"] == 0.0
    assert load.non_2xx == 0 and load.connection_errors == 0, (load.statuses, load.connection_errors)
    assert all(load.by_url[u][v2] > 0 for u in load.urls)

    # deploy_status: each replica's traffic as it counted it, and the sum; every request the load sent.
    def matches(status: dict[str, Any]) -> bool:
        served = {
            r["replica"]: {v: m["requests"] for v, m in r["traffic"].items()} for r in status["replicas"]
        }
        by_id = {g.replica: dict(load.by_url[u]) for g, u in zip(pair, urls(pair, "rep-good"), strict=True)}
        total = {v: m["requests"] for v, m in status["traffic"].items()}
        return served == by_id and total == dict(load.versions)

    status = await wait_for(lambda: call(client, "deploy_status", endpoint="rep-good"), matches, timeout=10)
    assert sum(status["traffic"][v]["requests"] for v in (v1, v2)) == load.sent
    assert {r["url"] for r in status["replicas"]} == {g.url for g in pair}


async def test_failing_candidate_is_rolled_back_once_on_the_combined_window(
    client: Client, cluster_settings: Settings, cluster_versions: dict[str, str], pair: list[GatewayProcess]
) -> None:
    v1, bad = cluster_versions["v1"], cluster_versions["bad"]
    await create(client, pair, "rep-bad", v1)
    rows = rows_of(cluster_settings.home)
    with LoadGen(urls(pair, "rep-bad"), rows, rate=RATE, marked_share=0.2, seed=3) as load:
        started = await canary(
            client, "rep-bad", bad, steps=[20, 50, 100], step_seconds=10, min_requests=40, max_wait_seconds=60
        )
        final = await finished(client, "rep-bad")
    assert final["state"] == "rolled_back", final
    assert final["step"] == 1 and final["weights"] == {v1: 100.0} and "max_error_rate" in final["reason"]
    events = await events_of(client, "rep-bad", started["rollout_id"])
    assert [e["kind"] for e in events] == ["canary_started", "step", "rolled_back"]
    details = events[-1]["details"]
    total, per = details["window"][bad], details["replicas"]
    # Judged on both replicas' traffic added up: enough requests together, not enough on either alone.
    assert set(per) == {g.replica for g in pair}, per
    assert total["requests"] >= 40 and total["error_rate"] > 0.05, total
    assert all(0 < w[bad]["requests"] < 40 for w in per.values()), per
    assert sum(w[bad]["requests"] for w in per.values()) == total["requests"]
    assert sum(w[bad]["errors"] for w in per.values()) == total["errors"]
    assert final["window_by_replica"] == per
    assert load.statuses[500] > 0 and load.connection_errors == 0


async def test_killing_the_leader_hands_the_rollout_to_the_other_replica_at_the_stored_step(
    client: Client, cluster_settings: Settings, cluster_versions: dict[str, str], pair: list[GatewayProcess]
) -> None:
    v1, v2 = cluster_versions["v1"], cluster_versions["v2"]
    await create(client, pair, "rep-kill", v1)
    with LoadGen(urls(pair, "rep-kill"), rows_of(cluster_settings.home), rate=RATE) as load:
        started = await canary(client, "rep-kill", v2, steps=[20, 40, 60, 100], step_seconds=1.5)
        await wait_for(
            lambda: call(client, "deploy_canary_status", endpoint="rep-kill"),
            lambda s: s["step"] >= 2 and s["state"] in ("waiting_for_traffic", "running"),
            timeout=60,
        )
        status = await call(client, "deploy_status", endpoint="rep-kill")
        leader_id = next(r["replica"] for r in status["replicas"] if r["leader"])
        leader = next(g for g in pair if g.replica == leader_id)
        survivor = next(g for g in pair if g.replica != leader_id)
        load.drop(urls([leader], "rep-kill")[0])
        leader.proc.kill()
        killed_at = datetime.now(UTC)
        stored = await call(client, "deploy_canary_status", endpoint="rep-kill")
        final = await finished(client, "rep-kill")
    assert final["state"] == "promoted", final
    assert load.connection_errors <= 1 and load.non_2xx == 0, (load.statuses, load.connection_errors)

    events = await events_of(client, "rep-kill", started["rollout_id"])
    kinds = [e["kind"] for e in events]
    assert kinds.count("resumed") == 1 and kinds[-1] == "promoted", kinds
    at = kinds.index("resumed")
    resumed = events[at]
    # The survivor resumed at the step the dead leader had stored, with a fresh window of its own.
    assert resumed["details"]["leader"] == survivor.replica
    assert resumed["details"]["step"] + 1 == stored["step"]
    assert (
        resumed["details"]["step"] == [e["details"]["step"] for e in events[:at] if e["kind"] == "step"][-1]
    )
    assert {e["details"]["leader"] for e in events[1:at]} == {leader_id}
    assert {e["details"]["leader"] for e in events[at:]} == {survivor.replica}
    # Every step applied exactly once, in order, across the two leaders.
    assert [e["details"]["candidate_weight"] for e in events if e["kind"] == "step"] == [20, 40, 60, 100]
    handover = datetime.fromisoformat(resumed["time"]) - killed_at
    assert handover.total_seconds() < LEASE_S + 2.0, handover  # the lease's life and a few ticks
    for judged in events[at + 1 :]:
        assert set(judged["details"]["replicas"]) == {survivor.replica}, judged

    # The dead replica dropped out of deploy_status (and its traffic out of the total) after a few heartbeats.
    answered = dict(load.by_url[urls([survivor], "rep-kill")[0]])
    await wait_for(
        lambda: call(client, "deploy_status", endpoint="rep-kill"),
        lambda s: (
            [r["replica"] for r in s["replicas"]] == [survivor.replica]
            and {v: m["requests"] for v, m in s["traffic"].items()} == answered
        ),
        timeout=10,
    )
    print(f"handover after SIGKILL: {handover.total_seconds():.2f} s")  # shown with -s
