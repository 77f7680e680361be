"""The team set-up on this machine, end to end (issue #24).

Two `mlops-mcp serve --transport http` processes (A and B, each with its own home, as on two hosts) trust one
local OAuth issuer (tests/oauth_issuer.py) and share every back end a team would: one PostgreSQL metadata
store (a database of this module's own), one `mlflow server`, the lake on S3 (moto's server), the Feast
online store in Redis, and two gateway replicas serving the store's routing table (on B's home, where B's
deploy calls keep the ONNX twins). Four people hold tokens, each for the server it is used on (the
server's URL is the audience):

- a writer (mlops:write) saves a suite and materializes features on A, writes a lake dataset and trains two
  models on B; an admin (mlops:admin) applies the feature definitions (features_apply is destructive);
- a reader (mlops:read) on A validates a file, reads the dataset B wrote and reads features from Redis;
- a deployer (mlops:deploy) on B registers the runs, moves the champion alias, creates an endpoint on the
  replicas and runs a canary whose traffic is split between them until it promotes, then a workflow;
- the reader's alias move (on A) and canary (on B) get HTTP 403 insufficient_scope;

and every record names its subject: the audit log (read by the reader on A: B's rows are there), the alias
history, the canary rollout and the workflow. Each step goes through the MCP SDK's streamable HTTP client
with the person's bearer token. Times per phase are printed (`-s`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pandas as pd
import pytest
from mcp import Client

from tests.contract_cases import SUITE, write_example_tables
from tests.gateway.process import GatewayProcess, store_gateways
from tests.oauth_issuer import HEADERS, INIT, Issuer, Served, bearer, mcp_client, oauth_servers, raw_tool_call
from tests.services import (
    REDIS_URL,
    enter_together,
    free_port,
    mlflow_server,
    moto_s3,
    postgres_database,
    redis_clean,
    s3_env,
)
from tests.tools.deploy.conftest import MODEL, train
from tests.tools.deploy.rollout_helpers import (
    LoadGen,
    call,
    canary,
    create,
    events_of,
    finished,
    rows_of,
    urls,
    wait_for,
)
from tests.tools.features.helpers import FEATURES, START, latest, write_workspace

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),
    # The tests build on one another in file order (one team, one store): one xdist worker runs them all.
    pytest.mark.xdist_group("team"),
]

READER, WRITER, ADMIN, DEPLOYER = (
    "reader@example.com",
    "writer@example.com",
    "admin@example.com",
    "deployer@example.com",
)
ROLES = {READER: "mlops:read", WRITER: "mlops:write", ADMIN: "mlops:admin", DEPLOYER: "mlops:deploy"}
CLIENT_IDS = {READER: "notebook", WRITER: "ide", ADMIN: "console", DEPLOYER: "release-bot"}
BUCKET = "team-lake"
FAKE_SECRET = "team-fake-secret-do-not-echo"
ENDPOINT = "churn-api"
GATEWAY_ENV = {  # short ticks, heartbeats and lease, as in tests/tools/deploy/test_replicas.py
    "MLOPS_MCP_ROLLOUT_TICK_S": "0.1",
    "MLOPS_MCP_GATEWAY_POLL_S": "0.2",
    "MLOPS_MCP_GATEWAY_HEARTBEAT_S": "0.3",
    "MLOPS_MCP_GATEWAY_LEASE_S": "1.0",
}
MID = START + pd.Timedelta(days=45)  # the end of the materialized window


@dataclass
class Team:
    a: Served
    b: Served
    home_a: Path
    home_b: Path
    gateways: list[GatewayProcess]
    project: str  # the Feast project (its Redis keys are deleted at the end)
    games: pd.DataFrame  # the feature source, for the expected online values
    shared: dict[str, Any] = field(default_factory=dict)  # what one test leaves to the next
    timings: dict[str, float] = field(default_factory=dict)

    @asynccontextmanager
    async def session(self, server: Served, person: str) -> AsyncIterator[Client]:
        """An MCP session of `person` on `server`, with a token for that server and the person's role."""
        token = self.token(server, person)
        async with mcp_client(server, token) as client:
            yield client

    def token(self, server: Served, person: str) -> str:
        return server.token(ROLES[person], sub=person, client_id=CLIENT_IDS[person])


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("team")
    home_a, home_b = root / "a" / "home", root / "b" / "home"
    write_example_tables(home_a / "workspace")
    write_example_tables(home_b / "workspace")
    project = f"team_{uuid.uuid4().hex[:8]}"
    data = write_workspace(home_a / "workspace", project)
    issuer = Issuer()
    with ExitStack() as stack:
        stack.callback(issuer.close)
        store = stack.enter_context(postgres_database("mlops_team"))
        s3 = stack.enter_context(moto_s3(BUCKET, secret=FAKE_SECRET))
        stack.callback(redis_clean, project)
        # The MLflow server, both MCP servers and both gateways start side by side (each takes seconds).
        port = free_port()
        tracking = f"http://127.0.0.1:{port}"
        _mlflow, (a, b), gateways = enter_together(
            stack,
            mlflow_server(root / "mlflow", port=port),
            oauth_servers(
                issuer,
                home_a,
                home_b,
                MLOPS_MCP_STORE_URL=store,
                MLOPS_MCP_MLFLOW_URI=tracking,
                MLOPS_MCP_LAKE_ROOT=f"s3://{BUCKET}/team",
                MLOPS_MCP_S3_ENDPOINT_URL=s3,
                MLOPS_MCP_FEAST_ONLINE_STORE="redis",
                MLOPS_MCP_REDIS_URL=REDIS_URL,
                **GATEWAY_ENV,
                **s3_env(FAKE_SECRET),
            ),
            store_gateways(home_b, 2, MLOPS_MCP_STORE_URL=store, **GATEWAY_ENV),
        )
        out = Team(a, b, home_a, home_b, gateways, project, data["games"])
        out.timings["set-up"] = time.monotonic() - started
        yield out
        print("\nteam timings (s):", {k: round(v, 1) for k, v in out.timings.items()})


def online_keys(project: str) -> int:
    """How many keys of the Feast project the Redis online store holds."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        return sum(1 for _ in client.scan_iter(match=b"*" + project.encode(), count=1000))
    finally:
        client.close()


@asynccontextmanager
async def timed(team: Team, phase: str) -> AsyncIterator[None]:
    started = time.monotonic()
    yield
    team.timings[phase] = time.monotonic() - started


# -- the writers prepare, on both servers at once ---------------------------------------------------------


async def _features_on_a(team: Team) -> None:
    """Writer: the Feast repo (Redis online store) and a materialized window; admin: the definitions."""
    async with timed(team, "writers: features on A"), team.session(team.a, WRITER) as writer:
        init = await call(writer, "features_init", project=team.project)
        assert init["online_store"] == "redis" and init["project"] == team.project
        async with team.session(team.a, ADMIN) as admin:
            applied = await call(admin, "features_apply", definitions="features.yaml")
            assert applied["applied"] is True
        done = await call(
            writer,
            "features_materialize",
            start="2023-12-01T00:00:00Z",
            end=MID.isoformat(),
            views=["player_form"],
        )
        assert [v["name"] for v in done["views"]] == ["player_form"]
        assert online_keys(team.project) > 0  # the values went to Redis
        saved = await call(writer, "validation_create_suite", **SUITE)
        assert saved["version"] == 1


async def _data_and_models_on_b(team: Team) -> None:
    """Writer: a lake dataset on S3 and two trained runs in the MLflow server."""
    async with timed(team, "writers: lake and models on B"), team.session(team.b, WRITER) as writer:
        written = await call(writer, "lake_write", source="example.parquet", dataset="customers")
        assert written["location"] == f"s3://{BUCKET}/team/raw/customers/v1" and written["rows"] == 200
        team.shared["runs"] = [await train(writer, 1.0, "churn-c1"), await train(writer, 0.01, "churn-c001")]
    # Runs and models went to the MLflow server, not to an embedded MLflow in either home.
    assert not any((home / "mlflow.db").exists() for home in (team.home_a, team.home_b))


async def test_writers_prepare_features_on_a_and_data_and_models_on_b(team: Team) -> None:
    async with timed(team, "writers"), anyio.create_task_group() as tg:
        tg.start_soon(_features_on_a, team)
        tg.start_soon(_data_and_models_on_b, team)


# -- the reader, on A -------------------------------------------------------------------------------------


async def test_a_reader_validates_reads_the_lake_and_gets_online_features_on_a(team: Team) -> None:
    async with timed(team, "reader"), team.session(team.a, READER) as reader:
        listed = {t.name for t in (await reader.list_tools()).tools}
        assert {"validation_run", "lake_read", "features_get_online"} <= listed
        assert not {"lake_write", "registry_set_alias", "deploy_canary_start"} & listed  # read-only only

        report = await call(reader, "validation_run", dataset="example.csv", suite="example_suite")
        assert report["success"] is True and report["row_count"] == 200
        assert report["suite"] == "example_suite@1"

        # Written by B, read by A: the catalog is in the shared store, the files on S3.
        read = await call(reader, "lake_read", dataset="customers", filters=[["segment", "==", "a"]])
        expected = pd.read_parquet(team.home_b / "workspace" / "example.parquet")  # B's source file
        assert read["version"] == 1 and read["matched_rows"] == int((expected["segment"] == "a").sum())

        rows = [{"player_id": p} for p in (1, 2, 3, 40)]  # 40 never played
        online = await call(reader, "features_get_online", features=["player_form"], entity_rows=rows)
        want = latest(team.games, "game_time", pd.Timestamp("2023-12-01", tz="UTC"), MID)
        assert online["features"] == FEATURES and online["missing"] == 1
        for row in online["rows"]:
            for name in FEATURES:
                if row["player_id"] in want.index:
                    assert row[name] == pytest.approx(float(want.loc[row["player_id"], name]), rel=1e-6)
                else:
                    assert row[name] is None


# -- the deployer, on B -----------------------------------------------------------------------------------


async def test_a_deployer_registers_and_rolls_out_a_canary_over_both_replicas_on_b(team: Team) -> None:
    run1, run2 = team.shared["runs"]
    async with timed(team, "deployer"), team.session(team.b, DEPLOYER) as deployer:
        v1 = (await call(deployer, "registry_register_model", name=MODEL, source=run1))["version"]
        v2 = (await call(deployer, "registry_register_model", name=MODEL, source=run2))["version"]
        moved = await call(deployer, "registry_set_alias", name=MODEL, alias="champion", version=v1)
        assert moved["event"]["subject"] == DEPLOYER

        created = await create(deployer, team.gateways, ENDPOINT, v1, model=MODEL)
        assert created["created"] is True
        rows = rows_of(team.home_b)
        with LoadGen(urls(team.gateways, ENDPOINT), rows, rate=40) as load:
            started = await canary(deployer, ENDPOINT, v2, steps=[50, 100], min_requests=8)
            assert started["gateway_running"] is False and "Started" in started["message"]
            final = await finished(deployer, ENDPOINT)
        assert final["state"] == "promoted", final
        assert final["weights"].get(v2) == 100.0, final
        assert final["subject"] == DEPLOYER
        events = await events_of(deployer, ENDPOINT, started["rollout_id"])
        assert [e["kind"] for e in events] == ["canary_started", "step", "step", "promoted"]
        replicas = {g.replica for g in team.gateways}
        for judged in events[2:]:  # each step judged on both replicas' traffic added up
            assert set(judged["details"]["replicas"]) == replicas, judged
        assert load.non_2xx == 0 and load.connection_errors == 0, (load.statuses, load.connection_errors)
        assert all(load.by_url[u][v2] > 0 for u in load.urls), load.by_url  # both replicas served it

        # The champion moves to the canary's version through a workflow (every gate turned off).
        workflow = await call(
            deployer,
            "workflow_promote",
            model=MODEL,
            candidate_version=v2,
            dataset="example.csv",
            target="label",
            gates={"data": None, "comparison": None, "onnx_parity": False, "canary": None},
        )
        done = await wait_for(
            lambda: call(deployer, "workflow_status", workflow_id=workflow["workflow_id"]),
            lambda s: s["state"] != "running",
            timeout=60,
        )
        assert done["state"] == "succeeded", done
    team.shared.update(v1=v1, v2=v2, rollout_id=started["rollout_id"], workflow_id=workflow["workflow_id"])


# -- the reader is refused --------------------------------------------------------------------------------


def test_a_readers_alias_move_and_canary_get_403_insufficient_scope(team: Team) -> None:
    refused = [
        (team.a, "registry_set_alias", {"name": MODEL, "alias": "champion", "version": team.shared["v1"]}),
        (team.b, "deploy_canary_start", {"endpoint": ENDPOINT, "candidate_version": team.shared["v1"]}),
    ]
    for server, tool, arguments in refused:
        answer = raw_tool_call(server, team.token(server, READER), tool, arguments)
        assert answer.status_code == 403, answer.text
        assert answer.headers["www-authenticate"].startswith(
            f'Bearer error="insufficient_scope", scope="mlops:deploy", resource_metadata="{server.metadata_url}"'
        )
        assert answer.json()["error"] == "insufficient_scope"
    # A token is for one server: A's reader token on B is not a token for B.
    elsewhere = httpx.post(
        team.b.url, json=INIT, headers={**HEADERS, **bearer(team.token(team.a, READER))}, timeout=30
    )
    assert elsewhere.status_code == 401


# -- every record names its subject, as the reader sees it on A -------------------------------------------


async def test_every_record_names_its_subject(team: Team) -> None:
    v1, v2 = team.shared["v1"], team.shared["v2"]
    async with timed(team, "records"), team.session(team.a, READER) as reader:
        entries: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await call(reader, "audit_list", limit=50, **({"cursor": cursor} if cursor else {}))
            entries += page["entries"]
            if not (cursor := page["next_cursor"]):
                break
        # Both servers' rows, in the one store; each names its person and the OAuth client.
        assert all(e["subject"] in ROLES and e["client_id"] == CLIENT_IDS[e["subject"]] for e in entries)
        done = sorted((e["subject"], e["tool"], e["outcome"]) for e in entries)
        assert done == sorted(
            [
                (WRITER, "features_init", "ok"),
                (ADMIN, "features_apply", "ok"),
                (WRITER, "features_materialize", "ok"),
                (WRITER, "validation_create_suite", "ok"),
                (WRITER, "lake_write", "ok"),
                (WRITER, "evaluation_train_model", "ok"),
                (WRITER, "evaluation_train_model", "ok"),
                (DEPLOYER, "registry_register_model", "ok"),
                (DEPLOYER, "registry_register_model", "ok"),
                (DEPLOYER, "registry_set_alias", "ok"),
                (DEPLOYER, "deploy_create_endpoint", "ok"),
                (DEPLOYER, "deploy_canary_start", "ok"),
                (DEPLOYER, "workflow_promote", "ok"),
                (READER, "registry_set_alias", "error"),
                (READER, "deploy_canary_start", "error"),
            ]
        ), done
        mine = await call(reader, "audit_list", subject=READER)
        assert all("mlops:deploy" in e["error"] for e in mine["entries"]) and len(mine["entries"]) == 2

        # What B registered and moved, A sees, with who did it.
        history = await call(reader, "registry_alias_history", name=MODEL, alias="champion")
        assert history["current"] == v2
        assert [(e["to_version"], e["subject"], e["client"]) for e in history["events"]] == [
            (v2, DEPLOYER, "mlops-mcp workflow"),  # the workflow names the person who started it
            (v1, DEPLOYER, "mcp"),  # the MCP SDK client's own name
        ]
        rollout = await call(reader, "deploy_canary_status", rollout_id=team.shared["rollout_id"])
        assert (rollout["state"], rollout["subject"]) == ("promoted", DEPLOYER)
        workflow = await call(reader, "workflow_status", workflow_id=team.shared["workflow_id"])
        assert (workflow["state"], workflow["subject"]) == ("succeeded", DEPLOYER)
        champion = await call(reader, "registry_get_version", name=MODEL, alias="champion")
        assert champion["version"] == v2 and champion["run_id"] == team.shared["runs"][1]
