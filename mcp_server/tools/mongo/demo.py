"""Demo step of the mongo area: with MLOPS_MCP_MONGO_URI set, insert, index, find, aggregate and export a few
orders; without it, show the configuration hint. Either way the allowlist refuses `$where`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

COLLECTION = "demo_orders"
ORDERS = [
    {"order": i, "user": u, "segment": s, "amount": a, "items": [{"sku": f"S{i % 3}", "qty": 1 + i % 4}]}
    for i, (u, s, a) in enumerate(
        [
            ("ada", "pro", 120.0),
            ("bob", "free", 15.5),
            ("ada", "pro", 80.0),
            ("cy", "free", 42.0),
            ("dee", "pro", 9.9),
        ]
    )
]


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    refused = await client.call_tool("mongo_find", {"collection": COLLECTION, "filter": {"$where": "1 == 1"}})
    results.append(("mongo_find $where -> refused", bool(refused.is_error), _text(refused)[-60:]))
    if not os.environ.get("MLOPS_MCP_MONGO_URI"):
        hint = await client.call_tool("mongo_list_collections", {})
        ok = bool(hint.is_error) and "MLOPS_MCP_MONGO_URI" in _text(hint)
        results.append(("mongo (not configured)", ok, "set MLOPS_MCP_MONGO_URI to run the mongo walk"))
        return results

    (workspace / "demo_orders.jsonl").write_text("\n".join(json.dumps(o) for o in ORDERS) + "\n")
    inserted = await client.call_tool("mongo_insert", {"collection": COLLECTION, "file": "demo_orders.jsonl"})
    ins: dict[str, Any] = inserted.structured_content or {}
    results.append(
        ("mongo_insert", not inserted.is_error, f"{ins.get('inserted')} orders ({ins.get('write_concern')})")
    )
    index = await client.call_tool("mongo_create_index", {"collection": COLLECTION, "keys": {"order": 1}})
    results.append(
        ("mongo_create_index", not index.is_error, str((index.structured_content or {}).get("index")))
    )
    found = await client.call_tool(
        "mongo_find",
        {
            "collection": COLLECTION,
            "filter": {"segment": "pro"},
            "projection": {"_id": 0, "order": 1},
            "limit": 10,
        },
    )
    results.append(
        ("mongo_find", not found.is_error, f"{(found.structured_content or {}).get('returned')} pro orders")
    )
    agg = await client.call_tool(
        "mongo_aggregate",
        {
            "collection": COLLECTION,
            "pipeline": [{"$group": {"_id": "$segment", "revenue": {"$sum": "$amount"}}}],
        },
    )
    revenue = {d["_id"]: d["revenue"] for d in (agg.structured_content or {}).get("documents", [])}
    results.append(("mongo_aggregate", not agg.is_error, f"revenue by segment {revenue}"))
    exported = await client.call_tool("mongo_export", {"collection": COLLECTION, "dataset": "demo_orders"})
    ex: dict[str, Any] = exported.structured_content or {}
    results.append(
        ("mongo_export", not exported.is_error, f"{ex.get('rows')} rows -> {ex.get('identifier')}")
    )
    return results
