"""The lineage tools (the graph every area records, as JSON, Mermaid and OpenLineage) and the audit log."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import Cursor
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.core.lineage import MAX_DEPTH
from mcp_server.tools.lineage import service
from mcp_server.tools.lineage.models import AuditListResult, LineageExportResult, LineageGetResult
from mcp_server.tools.lineage.service import Direction

Entity = Annotated[
    str,
    Field(
        description="A lineage identifier (dataset:<name>@<sha12>, model:<name>/<version>, endpoint:<name>, ...) "
        "or a catalogued dataset as dataset:<name> (newest version) or dataset:<name>@v<N>.",
        max_length=1024,
    ),
]


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
    return await service_call(ctx, service.get, entity, direction, depth, max_items)


async def lineage_export(
    ctx: Ctx,
    entity: Entity,
    direction: Annotated[Direction, Field(description="Which part of the graph to export.")] = "upstream",
    depth: Annotated[int, Field(description="How many edges to follow.", ge=0, le=MAX_DEPTH)] = 5,
) -> LineageExportResult:
    """Export the lineage around an entity as OpenLineage run events (JSON lines file) for Marquez or another OpenLineage consumer."""
    return await service_call(ctx, service.export, entity, direction, depth)


async def audit_list(
    ctx: Ctx,
    tool: Annotated[
        str | None, Field(description="Only calls of this tool, e.g. lake_write.", max_length=128)
    ] = None,
    since: Annotated[
        str | None, Field(description="Only calls at or after this ISO 8601 time.", max_length=64)
    ] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Field(description="Entries per page.", ge=1, le=50)] = 20,
    subject: Annotated[
        str | None,
        Field(description="Only calls by this person (the OAuth token's subject, `sub`).", max_length=256),
    ] = None,
) -> AuditListResult:
    """List the audit log of state-changing tool calls (who called what, outcome, redacted arguments), newest first."""
    return await service_call(ctx, service.audit, tool, since, cursor, limit, subject)
