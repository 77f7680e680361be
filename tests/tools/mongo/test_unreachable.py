"""Real pymongo against a closed local port (the timeout path), and a real server when one is given.

MLOPS_MCP_TEST_MONGODB_URI=mongodb://... runs the last test against that server; it is skipped otherwise.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import PYTHON, assert_tool_error, server_env, structured
from tests.tools.mongo.conftest import make_events

SECRET = "s3cr3t-pw"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unreachable_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        profile="all",
        mongo_uri=f"mongodb://ops:{SECRET}@127.0.0.1:{closed_port()}/?authSource=admin",
        mongo_timeout_s=1.5,
        mongo_server_selection_timeout_s=1.0,
        mongo_connect_timeout_s=1.0,
        health_probe_timeout_s=4.0,
    )


@pytest.mark.slow
async def test_find_fails_within_its_deadline_and_health_says_what_to_fix(tmp_path: Path) -> None:
    settings = unreachable_settings(tmp_path)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        started = time.perf_counter()
        message = assert_tool_error(
            await client.call_tool("mongo_find", {"collection": "events", "filter": {"a": 1}}),
            "did not answer",
            "MLOPS_MCP_MONGO_URI",
        )
        elapsed = time.perf_counter() - started
        assert elapsed < settings.mongo_timeout_s + 2.0, elapsed
        assert SECRET not in message and "ops:" not in message

        started = time.perf_counter()
        health = structured(await client.call_tool("health_check", {}))
        elapsed = time.perf_counter() - started
        assert elapsed < settings.health_probe_timeout_s + 2.0, elapsed
        by_name = {b["name"]: b for b in health["backends"]}
        mongo = by_name.pop("mongodb")
        assert health["status"] == "degraded" and mongo["status"] == "down"
        assert (
            mongo["fix"].startswith("Start MongoDB at 127.0.0.1:") and "MLOPS_MCP_MONGO_URI" in mongo["fix"]
        )
        assert SECRET not in str(health)
        # Every other probe still answered, and the run is in the history.
        assert by_name and all(b["status"] == "ok" for b in by_name.values()), by_name
        assert {"home", "metadata_store", "lake"} <= set(by_name)
        assert health["stored"] is True
        history = structured(await client.call_tool("health_history", {"component": "mongodb"}))
        assert [(c["component"], c["down"], c["last_status"]) for c in history["components"]] == [
            ("mongodb", 1, "down")
        ]
        # The server keeps answering, and a write fails just as cleanly.
        assert_tool_error(
            await client.call_tool("mongo_insert", {"collection": "e", "documents": [{"a": 1}]}),
            "did not answer",
        )
    server.app.close()


@pytest.mark.slow
async def test_stdio_mongo_smoke(tmp_path: Path) -> None:
    """Over stdio: the tools list without importing pymongo; a down server is a clean error."""
    home = tmp_path / "home"
    env = server_env(
        home,
        MLOPS_MCP_MONGO_URI=f"mongodb://127.0.0.1:{closed_port()}/",
        MLOPS_MCP_MONGO_TIMEOUT_S="1.5",
        MLOPS_MCP_HEALTH_PROBE_TIMEOUT_S="4",
    )
    params = StdioServerParameters(
        command=PYTHON, args=["-m", "mcp_server", "serve", "--tools", "mongo", "--profile", "all"], env=env
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {
            "mongo_insert",
            "mongo_find",
            "mongo_aggregate",
            "mongo_list_collections",
            "mongo_create_index",
            "mongo_export",
        } <= names
        assert_tool_error(
            await client.call_tool("mongo_aggregate", {"collection": "e", "pipeline": [{"$out": "x"}]}),
            "'$out'",
        )
        started = time.perf_counter()
        assert_tool_error(await client.call_tool("mongo_list_collections", {}), "did not answer")
        assert time.perf_counter() - started < 4.0
        health = structured(await client.call_tool("health_check", {}))
        assert {b["name"]: b["status"] for b in health["backends"]}["mongodb"] == "down"


@pytest.mark.skipif(
    not os.environ.get("MLOPS_MCP_TEST_MONGODB_URI"),
    reason="needs a real MongoDB server (none here; the other mongo tests use mongomock): set "
    "MLOPS_MCP_TEST_MONGODB_URI=mongodb://host:port to run it",
)
async def test_against_a_real_server(tmp_path: Path) -> None:
    import pymongo

    uri = os.environ["MLOPS_MCP_TEST_MONGODB_URI"]
    database = f"mlops_test_{uuid.uuid4().hex[:8]}"
    settings = Settings(home=tmp_path / "home", profile="all", mongo_uri=uri, mongo_database=database)
    server = create_server(settings)
    docs = make_events(120)
    try:
        async with Client(server, mode="legacy") as client:
            out = structured(
                await client.call_tool("mongo_insert", {"collection": "events", "documents": docs})
            )
            assert out["inserted"] == 120
            idx = structured(
                await client.call_tool(
                    "mongo_create_index", {"collection": "events", "keys": {"event_id": 1}, "unique": True}
                )
            )
            assert idx["created"] is True
            found = structured(
                await client.call_tool(
                    "mongo_find", {"collection": "events", "filter": {"segment": "a"}, "limit": 500}
                )
            )
            assert found["returned"] == sum(1 for d in docs if d["segment"] == "a")
            agg = structured(
                await client.call_tool(
                    "mongo_aggregate",
                    {
                        "collection": "events",
                        "pipeline": [{"$group": {"_id": None, "total": {"$sum": "$amount"}}}],
                    },
                )
            )
            assert agg["documents"][0]["total"] == pytest.approx(sum(d["amount"] for d in docs))
            listed = structured(await client.call_tool("mongo_list_collections", {}))
            assert [c["name"] for c in listed["collections"]] == ["events"]
            exported = structured(
                await client.call_tool("mongo_export", {"collection": "events", "dataset": "real_events"})
            )
            assert exported["rows"] == 120
            health = structured(await client.call_tool("health_check", {}))
            assert {b["name"]: b["status"] for b in health["backends"]}["mongodb"] == "ok"
    finally:
        server.app.close()
        pymongo.MongoClient(uri).drop_database(database)


async def test_an_unreachable_server_costs_the_server_selection_timeout_not_the_operation_timeout(
    tmp_path: Path,
) -> None:
    """Under pymongo's timeoutMS (CSOT) serverSelectionTimeoutMS is ignored: a find waited the whole 30 s."""
    settings = unreachable_settings(tmp_path).model_copy(update={"mongo_timeout_s": 30.0})
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        for tool, args in (
            ("mongo_find", {"collection": "events", "filter": {}}),
            ("mongo_insert", {"collection": "events", "documents": [{"a": 1}]}),
        ):
            started = time.perf_counter()
            assert_tool_error(await client.call_tool(tool, args), "did not answer")
            assert time.perf_counter() - started < settings.mongo_server_selection_timeout_s + 2.0, tool
    server.app.close()
