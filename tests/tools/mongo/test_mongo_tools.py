"""Every mongo tool through a real MCP client session, against mongomock as the process-wide client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.lineage import query_lineage
from tests.conftest import assert_tool_error, structured
from tests.tools.mongo.conftest import MongoEnv, make_events


async def call(env: MongoEnv, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    return structured(await env.client.call_tool(tool, args))


async def load_events(env: MongoEnv, n: int = 300) -> list[dict[str, Any]]:
    docs = make_events(n)
    path = env.settings.workspace_dir / "events.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    out = await call(env, "mongo_insert", {"collection": "events", "file": "events.jsonl"})
    assert out["inserted"] == n and out["source"] == "events.jsonl"
    assert out["write_concern"] == "w=majority, j=true" and len(out["ids"]) == min(n, 20)
    return docs


async def find_all(env: MongoEnv, args: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    docs: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        page = await call(env, "mongo_find", {**args, **({"cursor": cursor} if cursor else {})})
        docs.extend(page["documents"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return docs, pages


async def test_insert_inline_and_find_with_projection_sort(env: MongoEnv) -> None:
    out = await call(
        env,
        "mongo_insert",
        {"collection": "people", "documents": [{"name": "ada", "age": 36}, {"name": "bob", "age": 25}]},
    )
    assert out["inserted"] == 2 and out["source"] == "inline"
    assert env.db["people"].count_documents({}) == 2
    page = await call(
        env,
        "mongo_find",
        {
            "collection": "people",
            "filter": {"age": {"$gte": 20}},
            "projection": {"_id": 0},
            "sort": {"age": -1},
        },
    )
    assert page["documents"] == [{"name": "ada", "age": 36}, {"name": "bob", "age": 25}]
    assert page["next_cursor"] is None and page["returned"] == 2
    # _id comes back as Extended JSON and goes back in as a filter value.
    first = (await call(env, "mongo_find", {"collection": "people", "limit": 1}))["documents"][0]
    assert set(first["_id"]) == {"$oid"}
    again = await call(env, "mongo_find", {"collection": "people", "filter": {"_id": first["_id"]}})
    assert again["documents"] == [first]


async def test_find_pages_through_every_match_once(env: MongoEnv) -> None:
    docs = await load_events(env)
    expected = sorted(d["event_id"] for d in docs if d["segment"] in ("a", "b") and d["amount"] > 20)
    found, pages = await find_all(
        env,
        {
            "collection": "events",
            "filter": {"segment": {"$in": ["a", "b"]}, "amount": {"$gt": 20}},
            "projection": {"_id": 0, "event_id": 1},
            "sort": {"event_id": 1},
            "limit": 25,
        },
    )
    assert [d["event_id"] for d in found] == expected
    assert pages == -(-len(expected) // 25)


async def test_a_page_stops_under_the_size_cap_and_the_cursor_continues(env: MongoEnv) -> None:
    docs = await load_events(env)
    page = await call(env, "mongo_find", {"collection": "events", "limit": 500})
    assert page["truncated_by_size"] is True and page["next_cursor"]
    assert page["returned"] == env.settings.mongo_max_results or page["returned"] < len(docs)
    found, _ = await find_all(env, {"collection": "events", "limit": 500, "sort": {"event_id": 1}})
    assert [d["event_id"] for d in found] == list(range(len(docs)))


async def test_aggregation_equals_pandas(env: MongoEnv) -> None:
    docs = await load_events(env)
    df = pd.DataFrame(docs)
    out = await call(
        env,
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [
                {"$match": {"amount": {"$gte": 10}, "country": {"$exists": True}}},
                {
                    "$group": {
                        "_id": "$segment",
                        "total": {"$sum": "$amount"},
                        "mean": {"$avg": "$amount"},
                        "n": {"$sum": 1},
                        "max_items": {"$max": "$items"},
                        "users": {"$addToSet": "$user"},
                    }
                },
                {"$sort": {"_id": 1}},
            ],
        },
    )
    sub = df[(df["amount"] >= 10) & df["country"].notna()]
    expected = sub.groupby("segment").agg(
        total=("amount", "sum"), mean=("amount", "mean"), n=("amount", "size"), max_items=("items", "max")
    )
    got = pd.DataFrame(out["documents"]).set_index("_id")
    assert list(got.index) == list(expected.index)
    assert got["n"].tolist() == expected["n"].tolist()
    assert got["max_items"].tolist() == expected["max_items"].tolist()
    assert got["total"].to_numpy() == pytest.approx(expected["total"].to_numpy(), rel=1e-12)
    assert got["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), rel=1e-12)
    for seg, users in got["users"].items():
        assert sorted(users) == sorted(sub[sub["segment"] == seg]["user"].unique())


async def test_aggregation_on_nested_fields_and_arrays_equals_pandas(env: MongoEnv) -> None:
    docs = await load_events(env)
    df = pd.DataFrame(docs)
    by_os = await call(
        env,
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [
                {"$project": {"os": "$device.os", "spend": {"$multiply": ["$amount", "$items"]}}},
                {"$group": {"_id": "$os", "spend": {"$sum": "$spend"}}},
                {"$sort": {"spend": -1}},
            ],
        },
    )
    df["os"] = df["device"].map(lambda d: d["os"])
    expected = (df["amount"] * df["items"]).groupby(df["os"]).sum().sort_values(ascending=False)
    assert [d["_id"] for d in by_os["documents"]] == list(expected.index)
    assert [d["spend"] for d in by_os["documents"]] == pytest.approx(expected.tolist(), rel=1e-12)

    tags = await call(
        env,
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [
                {"$unwind": "$tags"},
                {"$group": {"_id": "$tags", "count": {"$sum": 1}}},
                {"$sort": {"count": -1}},
            ],
        },
    )
    counts = df["tags"].explode().dropna().value_counts()
    assert {d["_id"]: d["count"] for d in tags["documents"]} == counts.to_dict()


async def test_aggregate_pages_with_cursor(env: MongoEnv) -> None:
    await load_events(env)
    pipeline = [{"$group": {"_id": "$user", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]
    first = await call(env, "mongo_aggregate", {"collection": "events", "pipeline": pipeline, "limit": 15})
    assert first["returned"] == 15 and first["next_cursor"]
    rest = await call(
        env,
        "mongo_aggregate",
        {"collection": "events", "pipeline": pipeline, "limit": 100, "cursor": first["next_cursor"]},
    )
    users = [d["_id"] for d in first["documents"] + rest["documents"]]
    assert users == sorted({d["user"] for d in make_events()}) and rest["next_cursor"] is None


async def test_list_collections(env: MongoEnv) -> None:
    await load_events(env, 50)
    await call(env, "mongo_insert", {"collection": "raw.logs", "documents": [{"line": "x"}]})
    out = await call(env, "mongo_list_collections", {})
    assert out["database"] == "mlops"
    assert {c["name"]: c["documents"] for c in out["collections"]} == {"events": 50, "raw.logs": 1}
    page = await call(env, "mongo_list_collections", {"limit": 1})
    assert page["total"] == 2 and len(page["collections"]) == 1 and page["next_cursor"]


async def test_create_unique_index_then_duplicates_are_a_conflict(env: MongoEnv) -> None:
    await load_events(env, 20)
    made = await call(
        env, "mongo_create_index", {"collection": "events", "keys": {"event_id": 1}, "unique": True}
    )
    assert made == {
        "database": "mlops",
        "collection": "events",
        "index": "event_id_1",
        "keys": [["event_id", 1]],
        "unique": True,
        "created": True,
    }
    assert env.db["events"].index_information()["event_id_1"]["unique"] is True
    again = await call(
        env, "mongo_create_index", {"collection": "events", "keys": {"event_id": 1}, "unique": True}
    )
    assert again["created"] is False
    compound = await call(
        env,
        "mongo_create_index",
        {"collection": "events", "keys": {"user": 1, "amount": -1}, "name": "by_user"},
    )
    assert compound["index"] == "by_user"
    dup = await env.client.call_tool("mongo_insert", {"collection": "events", "documents": [{"event_id": 3}]})
    assert_tool_error(dup, "unique index")
    assert env.db["events"].count_documents({"event_id": 3}) == 1


async def test_export_to_the_lake_with_lineage(env: MongoEnv) -> None:
    docs = await load_events(env)
    out = await call(
        env,
        "mongo_export",
        {
            "collection": "events",
            "dataset": "events_big",
            "filter": {"amount": {"$gte": 25}},
            "projection": {"_id": 0},
        },
    )
    expected = [d for d in docs if d["amount"] >= 25]
    assert out["rows"] == len(expected) and out["version"] == 1 and out["zone"] == "raw"
    assert out["source"].startswith("dataset:mongo:mlops/events@")
    assert out["columns"][:5] == ["event_id", "user", "segment", "amount", "items"]

    read = await call(
        env, "lake_read", {"dataset": "events_big", "limit": 5, "columns": ["event_id", "amount", "device"]}
    )
    assert read["matched_rows"] == len(expected)
    assert read["sample"][0]["event_id"] == expected[0]["event_id"]
    assert json.loads(read["sample"][0]["device"]) == expected[0]["device"]
    total = await call(env, "lake_read", {"dataset": "events_big", "filters": [["segment", "==", "a"]]})
    assert total["matched_rows"] == sum(1 for d in expected if d["segment"] == "a")

    graph = query_lineage(env.server.app.store, out["identifier"], "upstream", 1)
    assert [(e.upstream, e.kind) for e in graph.edges] == [(out["source"], "mongo_export")]
    # A second export of the same documents is a new version with the same source digest.
    second = await call(
        env,
        "mongo_export",
        {
            "collection": "events",
            "dataset": "events_big",
            "filter": {"amount": {"$gte": 25}},
            "projection": {"_id": 0},
        },
    )
    assert second["version"] == 2 and second["source"] == out["source"]


async def test_export_of_nothing_is_one_clear_error(env: MongoEnv) -> None:
    await load_events(env, 10)
    bad = await env.client.call_tool(
        "mongo_export", {"collection": "events", "dataset": "none", "filter": {"segment": "zzz"}}
    )
    assert_tool_error(bad, "No document", "matches the filter")


# -- what bad input gets (SECURITY.md 12) ---------------------------------------------------------


REFUSED = [
    (
        "mongo_find",
        {"collection": "events", "filter": {"$where": "this.amount > 1"}},
        "'$where'",
        "JavaScript",
    ),
    (
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [
                {
                    "$match": {
                        "$expr": {"$function": {"body": "function() {return true}", "args": [], "lang": "js"}}
                    }
                }
            ],
        },
        "'$function'",
        "JavaScript",
    ),
    (
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [
                {"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}", "lang": "js"}}}}
            ],
        },
        "'$accumulator'",
        "JavaScript",
    ),
    (
        "mongo_find",
        {"collection": "events", "filter": {"user": {"$eq": {"$ne": None}}}},
        "plain value",
        "$eq",
    ),
    (
        "mongo_find",
        {"collection": "events", "filter": {"user": {"$in": [{"$ne": None}]}}},
        "plain value",
        "$in",
    ),
    (
        "mongo_insert",
        {"collection": "events", "documents": [{"name": {"$ne": None}}]},
        "plain value",
        "documents[0].name",
    ),
    (
        "mongo_aggregate",
        {"collection": "events", "pipeline": [{"$match": {}}, {"$out": {"db": "admin", "coll": "pwned"}}]},
        "'$out'",
        "mongo_export",
    ),
    (
        "mongo_aggregate",
        {"collection": "events", "pipeline": [{"$merge": {"into": {"db": "other", "coll": "x"}}}]},
        "'$merge'",
        "writes",
    ),
    (
        "mongo_aggregate",
        {
            "collection": "events",
            "pipeline": [{"$lookup": {"from": {"db": "admin", "coll": "users"}, "as": "u"}}],
        },
        "collection name",
        "",
    ),
    ("mongo_aggregate", {"collection": "events", "pipeline": [{"$currentOp": {}}]}, "not an allowed", ""),
    ("mongo_find", {"collection": "system.users"}, "system collection", ""),
    ("mongo_find", {"collection": "../etc"}, "collection name", ""),
    (
        "mongo_find",
        {"collection": "events", "filter": {"name": {"$regex": "a", "x": 1}}},
        "mixes operators",
        "",
    ),
    ("mongo_find", {"collection": "events", "projection": {"a": {"$function": {}}}}, "'$function'", ""),
    ("mongo_insert", {"collection": "events"}, "either `documents` or `file`", ""),
    ("mongo_insert", {"collection": "events", "file": "../../etc/passwd"}, "", ""),
    ("mongo_find", {"collection": "events", "cursor": "garbage"}, "cursor", ""),
]


@pytest.mark.parametrize(("tool", "args", "needle", "needle2"), REFUSED, ids=lambda v: str(v)[:40])
async def test_refused_with_one_clear_error(
    shared_env: MongoEnv, tool: str, args: dict[str, Any], needle: str, needle2: str
) -> None:
    env = shared_env
    if env.db["events"].count_documents({}) == 0:
        env.db["events"].insert_one({"user": "u1", "amount": 3})
    before = {name: env.mongo[name].list_collection_names() for name in env.mongo.list_database_names()}
    assert_tool_error(await env.client.call_tool(tool, args), needle, needle2)
    after = {name: env.mongo[name].list_collection_names() for name in env.mongo.list_database_names()}
    assert after == before and env.db["events"].count_documents({}) == 1
    structured(await env.client.call_tool("server_info", {}))


async def test_not_configured_says_how(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        for tool, args in (
            ("mongo_find", {"collection": "events"}),
            ("mongo_list_collections", {}),
            ("mongo_insert", {"collection": "e", "documents": [{"a": 1}]}),
        ):
            assert_tool_error(await client.call_tool(tool, args), "MLOPS_MCP_MONGO_URI")
        health = structured(await client.call_tool("health_check", {}))
        mongo = next(b for b in health["backends"] if b["name"] == "mongodb")
        assert mongo["status"] == "ok" and "not configured" in mongo["detail"]
    server.app.close()


async def test_insert_file_errors(env: MongoEnv) -> None:
    ws = env.settings.workspace_dir
    (ws / "bad.jsonl").write_text('{"a": 1}\n{"a": NaN}\n')
    assert_tool_error(
        await env.client.call_tool("mongo_insert", {"collection": "e", "file": "bad.jsonl"}), "not valid JSON"
    )
    (ws / "data.csv").write_text("a,b\n1,2\n")
    assert_tool_error(
        await env.client.call_tool("mongo_insert", {"collection": "e", "file": "data.csv"}), ".jsonl"
    )
    (ws / "scalar.json").write_text("[1, 2]")
    assert_tool_error(
        await env.client.call_tool("mongo_insert", {"collection": "e", "file": "scalar.json"}), "JSON object"
    )
    assert "e" not in env.db.list_collection_names()
