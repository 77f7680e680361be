"""Result models of the lineage and audit tools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mcp_server.core.output import NextCursor


class GraphNode(BaseModel):
    id: str
    kind: str
    distance: int = Field(description="Edges from the root (0 = the root).")


class GraphEdge(BaseModel):
    upstream: str
    downstream: str
    kind: str
    created_at: str


class LineageGetResult(BaseModel):
    root: str = Field(
        description="The identifier the walk started from (dataset names resolved to versions)."
    )
    direction: str
    depth: int
    node_count: int
    edge_count: int
    truncated: bool = Field(description="True if the graph was cut at the server's edge limit.")
    nodes: list[GraphNode] = Field(description="Nearest first, up to `max_items`.")
    edges: list[GraphEdge] = Field(description="Oldest first, up to `max_items`.")
    mermaid: str | None = Field(
        description="The Mermaid flowchart inline when it is short; else read `graph`."
    )
    graph: str = Field(description="mlops://artifacts/... link to the Mermaid (.mmd) rendering.")
    json_graph: str = Field(description="mlops://artifacts/... link to the whole graph as JSON.")


class LineageExportResult(BaseModel):
    root: str
    events: int = Field(description="OpenLineage RunEvents written (one per derived entity and edge kind).")
    jobs: list[str] = Field(description="Job names of the first events (up to 20).")
    datasets: int = Field(description="Distinct entities named as inputs or outputs.")
    export: str = Field(description="mlops://artifacts/... link to the events, one JSON document per line.")
    first_event: dict[str, Any] | None = Field(description="The first event, to show the shape.")


class AuditItem(BaseModel):
    id: int
    time: str
    tool: str
    client: str | None = Field(description="The MCP client's name, as it gave it when connecting.")
    subject: str | None = Field(
        None, description="Over OAuth: who called (the token's subject); null over stdio or a static token."
    )
    client_id: str | None = Field(None, description="Over OAuth: the OAuth client the token was issued to.")
    outcome: str
    error: str | None
    duration_ms: float
    arguments: str = Field(
        description="The call's arguments as redacted JSON text (secrets masked), shortened."
    )


class AuditListResult(BaseModel):
    entries: list[AuditItem] = Field(description="Newest first.")
    next_cursor: NextCursor = None
