"""The lineage tools (the graph every area records, as JSON, Mermaid and OpenLineage) and the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from pydantic import Field

from mcp_server.core.context import Ctx, app_context
from mcp_server.core.errors import InvalidInput
from mcp_server.core.lineage import MAX_DEPTH, LineageGraph, query_lineage
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor
from mcp_server.core.store import MetadataStore
from mcp_server.tools.lineage.adapter import mermaid, openlineage_events
from mcp_server.tools.lineage.models import (
    AuditItem,
    AuditListResult,
    GraphEdge,
    GraphNode,
    LineageExportResult,
    LineageGetResult,
)

Direction = Literal["upstream", "downstream", "both"]
Entity = Annotated[
    str,
    Field(
        description="A lineage identifier (dataset:<name>@<sha12>, model:<name>/<version>, endpoint:<name>, ...) "
        "or a catalogued dataset as dataset:<name> (newest version) or dataset:<name>@v<N>.",
        max_length=1024,
    ),
]
MAX_INLINE_MERMAID = 3000
MAX_ARG_CHARS = 300


def _resolve_and_query(store: MetadataStore, entity: str, direction: Direction, depth: int) -> LineageGraph:
    from mcp_server.tools.catalog.records import resolve_entity

    root = resolve_entity(store, entity)
    return query_lineage(store, root, direction, depth)


def _write_artifact(home: Path, kind: str, suffix: str, text: str) -> Path:
    folder = home / "reports" / "lineage"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{uuid.uuid4().hex[:10]}{suffix}"
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


async def lineage_get(
    ctx: Ctx,
    entity: Entity,
    direction: Annotated[
        Direction, Field(description="upstream: where it came from; downstream: what it fed.")
    ] = "upstream",
    depth: Annotated[int, Field(description="How many edges to follow.", ge=0, le=MAX_DEPTH)] = 5,
    max_items: Annotated[
        int, Field(description="Nodes and edges returned inline (the links hold all).", ge=1, le=60)
    ] = 30,
) -> LineageGetResult:
    """Walk the lineage graph from an entity (dataset, validation, model, endpoint, ...) upstream or downstream; returns nodes, edges and a Mermaid rendering."""
    app = app_context(ctx)

    def work() -> tuple[LineageGraph, Path, Path, str]:
        graph = _resolve_and_query(app.store, entity, direction, depth)
        chart = mermaid(graph)
        mmd = _write_artifact(app.settings.home, "lineage", ".mmd", chart)
        full = _write_artifact(app.settings.home, "lineage", ".json", json.dumps(graph.to_dict(), indent=1))
        return graph, mmd, full, chart

    graph, mmd, full, chart = await anyio.to_thread.run_sync(work)
    home = app.settings.home
    return LineageGetResult(
        root=graph.root,
        direction=graph.direction,
        depth=graph.depth,
        node_count=len(graph.nodes),
        edge_count=len(graph.edges),
        truncated=graph.truncated,
        nodes=[GraphNode(id=n.id, kind=n.kind, distance=n.distance) for n in graph.nodes[:max_items]],
        edges=[
            GraphEdge(
                upstream=e.upstream, downstream=e.downstream, kind=e.kind, created_at=e.created_at.isoformat()
            )
            for e in graph.edges[:max_items]
        ],
        mermaid=chart if len(chart) <= MAX_INLINE_MERMAID else None,
        graph=artifact_uri(home, mmd),
        json_graph=artifact_uri(home, full),
    )


async def lineage_export(
    ctx: Ctx,
    entity: Entity,
    direction: Annotated[Direction, Field(description="Which part of the graph to export.")] = "upstream",
    depth: Annotated[int, Field(description="How many edges to follow.", ge=0, le=MAX_DEPTH)] = 5,
) -> LineageExportResult:
    """Export the lineage around an entity as OpenLineage run events (JSON lines file) for Marquez or another OpenLineage consumer."""
    app = app_context(ctx)

    def work() -> tuple[LineageGraph, list[dict[str, Any]], Path]:
        graph = _resolve_and_query(app.store, entity, direction, depth)
        events = openlineage_events(graph)
        text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
        return graph, events, _write_artifact(app.settings.home, "openlineage", ".jsonl", text)

    graph, events, path = await anyio.to_thread.run_sync(work)
    names = {d["name"] for e in events for d in [*e["inputs"], *e["outputs"]]}
    first = events[0] if events and len(json.dumps(events[0])) <= 6000 else None
    return LineageExportResult(
        root=graph.root,
        events=len(events),
        jobs=[str(e["job"]["name"]) for e in events[:20]],
        datasets=len(names),
        export=artifact_uri(app.settings.home, path),
        first_event=first,
    )


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        value = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("since must be an ISO 8601 time such as 2026-01-31T12:00:00Z.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def audit_list(
    ctx: Ctx,
    tool: Annotated[
        str | None, Field(description="Only calls of this tool, e.g. lake_write.", max_length=128)
    ] = None,
    since: Annotated[
        str | None, Field(description="Only calls at or after this ISO 8601 time.", max_length=64)
    ] = None,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(description="Entries per page.", ge=1, le=50)] = 20,
) -> AuditListResult:
    """List the audit log of state-changing tool calls (who called what, outcome, redacted arguments), newest first."""
    app = app_context(ctx)
    after = _parse_since(since)
    before_id = decode_cursor(cursor) if cursor else None
    if cursor and not before_id:
        raise InvalidInput(
            "The cursor is not one this server returned; omit it to start from the first page."
        )
    entries = await anyio.to_thread.run_sync(
        lambda: app.store.audit_entries(tool=tool, limit=limit + 1, before_id=before_id)
    )
    more = len(entries) > limit
    entries = entries[:limit]
    if after is not None:
        kept = [e for e in entries if e.time >= after]
        more = more and len(kept) == len(entries)
        entries = kept
    items = [
        AuditItem(
            id=e.id,
            time=e.time.isoformat(),
            tool=e.tool,
            client=e.client,
            outcome=e.outcome,
            error=None if e.error is None else e.error[:300],
            duration_ms=round(e.duration_ms, 2),
            arguments=e.args_redacted
            if len(e.args_redacted) <= MAX_ARG_CHARS
            else e.args_redacted[: MAX_ARG_CHARS - 3] + "...",
        )
        for e in entries
    ]
    return AuditListResult(entries=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)
