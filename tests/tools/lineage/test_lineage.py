"""Lineage and audit through the MCP client: the raw -> cleaned -> model -> endpoint chain, Mermaid,
OpenLineage events, and the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.lineage import make_id, record_edge
from mcp_server.core.store import MetadataStore
from tests.conftest import assert_tool_error, structured
from tests.tools.lake.helpers import make_frame, read_artifact_text, write_parquet


async def _chain(client: Client, settings: Settings) -> dict[str, str]:
    """raw file -> lake raw version -> cleaned lake version -> model -> endpoint, as the areas record it."""
    frame = make_frame(500)
    write_parquet(frame, settings.workspace_dir / "raw.parquet")
    raw = structured(await client.call_tool("lake_write", {"source": "raw.parquet", "dataset": "churn_raw"}))
    cleaned_frame = frame.dropna().query("age >= 21")
    write_parquet(cleaned_frame, settings.workspace_dir / "clean.parquet")
    clean = structured(
        await client.call_tool(
            "lake_write", {"source": "clean.parquet", "dataset": "churn_clean", "zone": "processed"}
        )
    )
    model = make_id("model", "churn", 3)
    endpoint = make_id("endpoint", "churn-api")
    store = MetadataStore.for_home(settings.home)
    try:
        # What a cleaning step, a training run and a deploy record (the identifier forms of the areas).
        record_edge(store, raw["identifier"], clean["source"], "cleaned", {"rule": "age >= 21"})
        record_edge(store, clean["identifier"], model, "trained_on", {"run": "run-1"})
        record_edge(store, model, endpoint, "deployed", None)
    finally:
        store.dispose()
    return {
        "raw_file": raw["source"],
        "raw": raw["identifier"],
        "clean_file": clean["source"],
        "clean": clean["identifier"],
        "model": model,
        "endpoint": endpoint,
    }


async def test_endpoint_upstream_reaches_the_raw_dataset(client: Client, settings: Settings) -> None:
    ids = await _chain(client, settings)
    graph = structured(
        await client.call_tool(
            "lineage_get", {"entity": ids["endpoint"], "direction": "upstream", "depth": 10}
        )
    )
    nodes = {n["id"]: n["distance"] for n in graph["nodes"]}
    assert nodes == {
        ids["endpoint"]: 0,
        ids["model"]: 1,
        ids["clean"]: 2,
        ids["clean_file"]: 3,
        ids["raw"]: 4,
        ids["raw_file"]: 5,
    }
    assert graph["edge_count"] == 5 and graph["truncated"] is False
    assert {(e["upstream"], e["downstream"], e["kind"]) for e in graph["edges"]} == {
        (ids["raw_file"], ids["raw"], "lake_write"),
        (ids["raw"], ids["clean_file"], "cleaned"),
        (ids["clean_file"], ids["clean"], "lake_write"),
        (ids["clean"], ids["model"], "trained_on"),
        (ids["model"], ids["endpoint"], "deployed"),
    }
    # Mermaid inline and as a resource; the full graph as JSON.
    chart = graph["mermaid"]
    assert chart.startswith("flowchart LR") and chart.count("-->") == 5 and "churn-api" in chart
    assert await read_artifact_text(client, graph["graph"]) == chart
    full = json.loads(await read_artifact_text(client, graph["json_graph"]))
    assert len(full["edges"]) == 5 and full["root"] == ids["endpoint"]
    # A shallower walk stops early; downstream from the raw file reaches the endpoint.
    short = structured(await client.call_tool("lineage_get", {"entity": ids["endpoint"], "depth": 2}))
    assert {n["id"] for n in short["nodes"]} == {ids["endpoint"], ids["model"], ids["clean"]}
    down = structured(
        await client.call_tool(
            "lineage_get", {"entity": ids["raw_file"], "direction": "downstream", "depth": 10}
        )
    )
    assert ids["endpoint"] in {n["id"] for n in down["nodes"]}
    # Catalogued datasets by name: dataset:<name> is the newest version, dataset:<name>@v<N> a given one.
    by_name = structured(
        await client.call_tool(
            "lineage_get", {"entity": "dataset:churn_clean", "direction": "both", "depth": 1}
        )
    )
    assert by_name["root"] == ids["clean"]
    by_version = structured(
        await client.call_tool("lineage_get", {"entity": "dataset:churn_raw@v1", "depth": 1})
    )
    assert by_version["root"] == ids["raw"]


async def test_openlineage_export(client: Client, settings: Settings) -> None:
    ids = await _chain(client, settings)
    out = structured(await client.call_tool("lineage_export", {"entity": ids["endpoint"], "depth": 10}))
    assert out["events"] == 5 and out["datasets"] == 6
    events = [json.loads(line) for line in (await read_artifact_text(client, out["export"])).splitlines()]
    assert len(events) == 5 and events[0] == out["first_event"]
    for event in events:
        assert event["eventType"] == "COMPLETE"
        assert event["schemaURL"].startswith("https://openlineage.io/spec/")
        assert event["producer"].startswith("https://")
        uuid.UUID(event["run"]["runId"])
        datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        assert event["job"]["namespace"] == "mlops-mcp" and event["job"]["name"]
        for dataset in [*event["inputs"], *event["outputs"]]:
            assert set(dataset) >= {"namespace", "name"}
    by_output = {e["outputs"][0]["name"]: e for e in events}
    assert [d["name"] for d in by_output[ids["endpoint"]]["inputs"]] == [ids["model"]]
    assert [d["name"] for d in by_output[ids["model"]]["inputs"]] == [ids["clean"]]
    assert [d["name"] for d in by_output[ids["raw"]]["inputs"]] == [ids["raw_file"]]
    assert by_output[ids["clean_file"]]["run"]["facets"]["mlops_mcp"]["details"] == {"rule": "age >= 21"}
    # Stable: the same graph gives the same run ids.
    again = structured(await client.call_tool("lineage_export", {"entity": ids["endpoint"], "depth": 10}))
    assert again["first_event"]["run"]["runId"] == out["first_event"]["run"]["runId"]


async def test_lineage_bad_input(client: Client, settings: Settings) -> None:
    cases = [
        ({"entity": "nonsense"}, ("not a lineage identifier",)),
        ({"entity": "dataset:missing"}, ("neither a lineage identifier nor a catalogued dataset",)),
        ({"entity": "model:churn"}, ("expected model:<name>/<version>",)),
        ({"entity": "endpoint:x", "depth": 99}, ("depth",)),
        ({"entity": "endpoint:x", "direction": "sideways"}, ("direction",)),
    ]
    for args, needles in cases:
        assert_tool_error(await client.call_tool("lineage_get", args), *needles)
    empty = structured(await client.call_tool("lineage_get", {"entity": "endpoint:nothing-here"}))
    assert empty["node_count"] == 0 and empty["edges"] == []
    assert (
        structured(await client.call_tool("lineage_export", {"entity": "endpoint:nothing-here"}))["events"]
        == 0
    )


async def test_audit_list(client: Client, settings: Settings) -> None:
    frame = make_frame(50)
    write_parquet(frame, settings.workspace_dir / "a.parquet")
    started = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(5):
        structured(await client.call_tool("lake_write", {"source": "a.parquet", "dataset": f"d{i}"}))
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "a.parquet", "dataset": "a..b"}), "'..'"
    )
    structured(await client.call_tool("lake_read", {"dataset": "d0"}))  # read-only: not audited

    first = structured(await client.call_tool("audit_list", {"limit": 4}))
    entries = first["entries"]
    assert [e["tool"] for e in entries] == ["lake_write"] * 4
    assert entries[0]["outcome"] == "error" and "'..'" in entries[0]["error"]
    assert json.loads(entries[1]["arguments"]) == {"source": "a.parquet", "dataset": "d4"}
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    second = structured(await client.call_tool("audit_list", {"limit": 4, "cursor": first["next_cursor"]}))
    assert len(second["entries"]) == 2 and second["next_cursor"] is None
    assert max(e["id"] for e in second["entries"]) < min(e["id"] for e in entries)
    assert len(structured(await client.call_tool("audit_list", {"tool": "lake_read"}))["entries"]) == 0
    since = structured(await client.call_tool("audit_list", {"since": started.isoformat()}))
    assert len(since["entries"]) == 6
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert structured(await client.call_tool("audit_list", {"since": future}))["entries"] == []
    assert_tool_error(await client.call_tool("audit_list", {"since": "yesterday"}), "ISO 8601")
    assert_tool_error(await client.call_tool("audit_list", {"cursor": "garbage!"}), "cursor")


def test_mermaid_escapes_labels() -> None:
    from mcp_server.core.lineage import LineageEdge, LineageGraph, LineageNode
    from mcp_server.tools.lineage.adapter import mermaid, openlineage_events

    weird = 'dataset:a"]-->x[<script>@0123456789ab'
    now = datetime.now(UTC)
    graph = LineageGraph(
        root="endpoint:e",
        direction="upstream",
        depth=2,
        nodes=[LineageNode("endpoint:e", "endpoint", 0), LineageNode(weird, "dataset", 1)],
        edges=[LineageEdge(weird, "endpoint:e", "deployed", None, now)],
    )
    chart = mermaid(graph)
    assert '"]-->' not in chart and "<script>" not in chart and "#quot;" in chart
    (event,) = openlineage_events(graph)
    assert event["inputs"][0]["name"] == weird
