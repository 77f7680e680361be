"""The lineage and audit areas' use cases: walk the graph every area records, export it as OpenLineage
events, list the audit log.

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary. The graph is core.lineage's; renderings are adapter.py; `dataset:<name>` names are
resolved to versions by the catalog's service.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from mcp_server.core.errors import InvalidInput
from mcp_server.core.files import write_text_atomic
from mcp_server.core.lineage import LineageGraph, query_lineage
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor
from mcp_server.core.values import plain
from mcp_server.tools.lineage.adapter import mermaid, openlineage_events
from mcp_server.tools.lineage.models import (
    AuditItem,
    AuditListResult,
    GraphEdge,
    GraphNode,
    LineageExportResult,
    LineageGetResult,
)

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext

Direction = Literal["upstream", "downstream", "both"]
MAX_INLINE_MERMAID = 3000
MAX_ARG_CHARS = 300


def _graph(app: AppContext, control: Control, entity: str, direction: Direction, depth: int) -> LineageGraph:
    from mcp_server.tools.catalog import service as catalog

    return query_lineage(app.store, catalog.resolve_entity(app, control, entity), direction, depth)


def _artifact(app: AppContext, kind: str, suffix: str, text: str) -> str:
    path = app.settings.home / "reports" / "lineage" / f"{kind}-{uuid.uuid4().hex[:10]}{suffix}"
    write_text_atomic(path, text)
    return artifact_uri(app.settings.home, path)


def get(
    app: AppContext,
    control: Control,
    entity: str,
    direction: Direction = "upstream",
    depth: int = 5,
    max_items: int = 30,
) -> LineageGetResult:
    """lineage_get: the graph around an entity, inline (nearest first) and as Mermaid and JSON artifacts."""
    graph = _graph(app, control, entity, direction, depth)
    chart = mermaid(graph)
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
        graph=_artifact(app, "lineage", ".mmd", chart),
        json_graph=_artifact(app, "lineage", ".json", json.dumps(graph.to_dict(), indent=1)),
    )


def export(
    app: AppContext, control: Control, entity: str, direction: Direction = "upstream", depth: int = 5
) -> LineageExportResult:
    """lineage_export: the graph around an entity as OpenLineage run events (a JSON lines artifact)."""
    graph = _graph(app, control, entity, direction, depth)
    events = openlineage_events(graph)
    text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
    names = {d["name"] for e in events for d in [*e["inputs"], *e["outputs"]]}
    return LineageExportResult(
        root=graph.root,
        events=len(events),
        jobs=[str(e["job"]["name"]) for e in events[:20]],
        datasets=len(names),
        export=_artifact(app, "openlineage", ".jsonl", text),
        first_event=events[0] if events and len(json.dumps(events[0])) <= 6000 else None,
    )


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        value = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("since must be an ISO 8601 time such as 2026-01-31T12:00:00Z.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audit(
    app: AppContext,
    control: Control,
    tool: str | None = None,
    since: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
    subject: str | None = None,
) -> AuditListResult:
    """audit_list: the audit log of state-changing calls, newest first."""
    after = _parse_since(since)
    before_id = decode_cursor(cursor) if cursor else None
    if cursor and not before_id:
        raise InvalidInput(
            "The cursor is not one this server returned; omit it to start from the first page."
        )
    entries = app.store.audit_entries(tool=tool, limit=limit + 1, before_id=before_id, subject=subject)
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
            subject=e.subject,
            client_id=e.client_id,
            outcome=e.outcome,
            error=None if e.error is None else e.error[:300],
            duration_ms=round(e.duration_ms, 2),
            arguments=plain(e.args_redacted, chars=MAX_ARG_CHARS),
        )
        for e in entries
    ]
    return AuditListResult(entries=items, next_cursor=encode_cursor(items[-1].id) if more and items else None)
