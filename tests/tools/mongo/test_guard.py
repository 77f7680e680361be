"""The filter/pipeline allowlist (guard.py) and the adapter's value conversions, on the real bson/pymongo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pydantic import SecretStr

from mcp_server.core.config import Settings
from mcp_server.core.errors import InvalidInput, LimitExceeded
from mcp_server.tools.mongo import adapter, guard


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"a": 1, "b": "x", "c": None, "d": [1, 2], "e": {"nested": True}},
        {"age": {"$gte": 18, "$lt": 65}, "tags": {"$all": ["a", "b"]}, "s": {"$in": ["x", "y"]}},
        {"$or": [{"a": 1}, {"b": {"$exists": False}}], "$comment": "why"},
        {"name": {"$regex": "^ad", "$options": "i"}, "n": {"$not": {"$gt": 5}}},
        {
            "items": {"$elemMatch": {"sku": "A1", "qty": {"$gte": 2}}},
            "v": {"$elemMatch": {"$gt": 1, "$lt": 9}},
        },
        {"$expr": {"$gt": ["$spent", {"$multiply": ["$budget", 1.1]}]}},
        {"_id": {"$oid": "6b09adcc2a8244cfd12e4f28"}, "at": {"$gte": {"$date": "2026-01-01T00:00:00Z"}}},
        {"t": {"$type": ["string", "null"]}, "arr": {"$size": 3}, "m": {"$mod": [4, 0]}},
        {"$text": {"$search": "coffee", "$language": "en"}},
    ],
)
def test_allowed_filters_pass_unchanged(query: dict[str, Any]) -> None:
    assert guard.check_filter(query) == query


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ({"$where": "sleep(10000)"}, "'$where' at filter.$where is refused: it runs JavaScript"),
        ({"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}, "'$function'"),
        ({"a": {"$eq": {"$ne": None}}}, "A plain value is expected at filter.a.$eq"),
        ({"a": {"$gt": {"$where": "1"}}}, "'$where'"),
        ({"a": {"$nin": [1, {"$gt": 0}]}}, "filter.a.$nin[1]"),
        ({"a": {"$exists": "yes"}}, "true or false"),
        ({"a": {"$size": -1}}, "non-negative"),
        ({"a": {"$regex": "x", "$options": "e"}}, "imsx"),
        ({"a": {"$near": [0, 0]}}, "not an allowed operator"),
        ({"a": {"$gt": 1, "b": 2}}, "mixes operators"),
        ({"$or": []}, "non-empty list"),
        ({"$jsonSchema": {}}, "not an allowed operator"),
        ({"": 1}, "field name"),
        ([1], "JSON object"),
        ({"a": {"$expr": {"$accumulator": {}}}}, "not an allowed operator"),
    ],
)
def test_refused_filters(query: Any, needle: str) -> None:
    with pytest.raises(InvalidInput) as err:
        guard.check_filter(query)
    assert needle in err.value.message


def test_deep_nesting_is_refused() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(40):
        deep = {"$and": [deep]}
    with pytest.raises(InvalidInput, match="nested deeper"):
        guard.check_filter(deep)


def test_pipelines() -> None:
    ok = [
        {"$match": {"s": "a"}},
        {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": True}},
        {"$lookup": {"from": "users", "localField": "user", "foreignField": "_id", "as": "u"}},
        {
            "$lookup": {
                "from": "users",
                "let": {"u": "$user"},
                "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$u"]}}}],
                "as": "v",
            }
        },
        {"$facet": {"n": [{"$count": "n"}], "top": [{"$sort": {"x": -1}}, {"$limit": 3}]}},
        {
            "$bucket": {
                "groupBy": "$x",
                "boundaries": [0, 10, 100],
                "default": "other",
                "output": {"n": {"$sum": 1}},
            }
        },
        {"$addFields": {"y": {"$cond": {"if": {"$gt": ["$x", 1]}, "then": "big", "else": "small"}}}},
        {"$project": {"_id": 0, "x": 1, "z": {"$toUpper": "$s"}, "w": {"$literal": {"a": 1}}}},
        {"$group": {"_id": {"s": "$s"}, "n": {"$sum": 1}, "xs": {"$push": "$x"}}},
        {"$unionWith": {"coll": "archive", "pipeline": [{"$match": {}}]}},
        {"$replaceRoot": {"newRoot": "$u"}},
        {"$sample": {"size": 5}},
        {"$skip": 10},
        {"$unset": ["a", "b"]},
    ]
    assert guard.check_pipeline(ok) == ok
    bad = [
        ([{"$out": "x"}], "'$out' at pipeline[0] is refused: it writes"),
        ([{"$merge": {"into": "x"}}], "'$merge'"),
        ([{"$facet": {"a": [{"$out": {"db": "admin", "coll": "x"}}]}}], "'$out' at pipeline[0].$facet.a[0]"),
        ([{"$lookup": {"from": "u", "as": "v", "pipeline": [{"$merge": "x"}]}}], "'$merge'"),
        ([{"$lookup": {"from": {"db": "admin", "coll": "system.users"}, "as": "v"}}], "collection name"),
        ([{"$lookup": {"from": "system.users", "as": "v"}}], "system collection"),
        ([{"$unionWith": "system.profile"}], "system collection"),
        ([{"$group": {"_id": None, "f": {"$accumulator": {"init": "x"}}}}], "'$accumulator'"),
        ([{"$group": {"n": {"$sum": 1}}}], "'_id'"),
        ([{"$project": {"a": {"$function": {"body": "x"}}}}], "'$function'"),
        ([{"$match": {}, "$limit": 1}], "exactly one stage"),
        ([{"$limit": 0}], "positive"),
        ([{"$collStats": {}}], "not an allowed operator"),
        ({"$match": {}}, "list of stages"),
        ([{"$match": {}}] * 51, "more than 50"),
    ]
    for pipeline, needle in bad:
        with pytest.raises(InvalidInput) as err:
            guard.check_pipeline(pipeline)
        assert needle in err.value.message, (pipeline, err.value.message)


def test_documents_projection_sort() -> None:
    assert guard.check_document({"a": {"b": [1, {"c": 2}]}}, "documents[0]") == {"a": {"b": [1, {"c": 2}]}}
    for doc in ({"$set": {"a": 1}}, {"a": {"$ne": None}}, {"a": [{"$gt": 1}]}):
        with pytest.raises(InvalidInput, match=r"plain value|refused"):
            guard.check_document(doc, "documents[0]")
    assert guard.check_projection({"_id": 0, "a": 1, "s": {"$slice": ["$arr", 2]}})["a"] == 1
    assert guard.check_sort({"b": -1, "a": 1}) == [("b", -1), ("a", 1)]
    with pytest.raises(InvalidInput, match="1 \\(ascending\\)"):
        guard.check_sort({"a": 2})


def test_convert_and_to_json_round_trip() -> None:
    oid = "6b09adcc2a8244cfd12e4f28"
    converted = adapter.convert({"_id": {"$oid": oid}, "at": {"$gte": {"$date": "2026-01-01T00:00:00Z"}}})
    assert converted["_id"] == ObjectId(oid)
    assert converted["at"]["$gte"] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    back = adapter.to_json({"_id": ObjectId(oid), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
    assert back == {"_id": {"$oid": oid}, "at": {"$date": "2026-01-01T00:00:00Z"}}
    with pytest.raises(InvalidInput, match="ObjectId"):
        adapter.convert({"$oid": "nothex"})


def test_read_documents_bounds(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    assert adapter.read_documents(path, 3, 10_000) == [{"a": 1}, {"a": 2}, {"a": 3}]
    with pytest.raises(LimitExceeded, match="more than 2 documents"):
        adapter.read_documents(path, 2, 10_000)
    with pytest.raises(LimitExceeded, match="byte limit"):
        adapter.read_documents(path, 3, 10)


def test_client_settings_and_messages_never_show_the_password(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        mongo_uri="mongodb://ops:pw-secret@db1.internal:27018,db2.internal/?replicaSet=rs0",
        mongo_write_concern="2",
        mongo_journal=False,
        mongo_timeout_s=7,
    )
    client = adapter.build_client(settings)
    try:
        assert client.options.timeout == 7
        assert client.write_concern.document == {"w": 2, "j": False}
        assert client.options.pool_options.connect_timeout == settings.mongo_connect_timeout_s
    finally:
        client.close()
    assert adapter.hosts(settings) == "db1.internal:27018,db2.internal:27017"
    with pytest.raises(InvalidInput, match="not a valid MongoDB URI") as err:
        adapter.build_client(settings.model_copy(update={"mongo_uri": SecretStr("http://ops:pw-secret@x")}))
    assert "pw-secret" not in err.value.message
