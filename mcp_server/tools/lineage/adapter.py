"""Renderings of a lineage graph: Mermaid flowcharts and OpenLineage run events.

Plain functions over core.lineage's LineageGraph; no third-party library is needed for either format
(Mermaid is text, OpenLineage events are JSON documents following the RunEvent schema).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from mcp_server import __version__
from mcp_server.core.lineage import LineageGraph
from mcp_server.core.values import plain

OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = f"https://github.com/mlops-mcp/mlops-mcp/tree/v{__version__}"
NAMESPACE = "mlops-mcp"
# Stable run ids: the same edges always give the same runId (uuid5 in this namespace).
_RUN_NAMESPACE = uuid.UUID("6f1c3f0e-93a4-4c1e-9a55-0d3b7c1e2a10")

_STYLES = {
    "dataset": "fill:#e8f1ff,stroke:#3b6fb6",
    "validation": "fill:#eaf7ea,stroke:#3c8d3c",
    "suite": "fill:#eaf7ea,stroke:#3c8d3c",
    "run": "fill:#fff4e0,stroke:#c98a1b",
    "model": "fill:#fff4e0,stroke:#c98a1b",
    "onnx": "fill:#fff4e0,stroke:#c98a1b",
    "featureview": "fill:#f3e8ff,stroke:#7b4bb3",
    "endpoint": "fill:#ffe8e8,stroke:#b33b3b",
    "rollout": "fill:#ffe8e8,stroke:#b33b3b",
    "backup": "fill:#eeeeee,stroke:#666666",
}


def _label(identifier: str) -> str:
    # Mermaid labels in quotes: escape the characters that end or break them (the id is data, not markup).
    text = str(plain(identifier, chars=80))
    for char, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;")):
        text = text.replace(char, entity)
    return text


def mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (left to right, upstream first) of the graph; the root is outlined."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node in graph.nodes:
        lines.append(f'  {ids[node.id]}["{_label(node.id)}"]:::{node.kind}')
    for edge in graph.edges:
        if edge.upstream in ids and edge.downstream in ids:
            lines.append(f"  {ids[edge.upstream]} -->|{edge.kind}| {ids[edge.downstream]}")
    for kind in sorted({n.kind for n in graph.nodes}):
        lines.append(f"  classDef {kind} {_STYLES.get(kind, 'fill:#ffffff,stroke:#333333')}")
    if graph.root in ids:
        lines.append(f"  style {ids[graph.root]} stroke-width:3px")
    return "\n".join(lines) + "\n"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def openlineage_events(graph: LineageGraph) -> list[dict[str, Any]]:
    """One COMPLETE RunEvent per derived entity and edge kind: the job that made `downstream` from its
    upstream entities. Entities are OpenLineage datasets in the 'mlops-mcp' namespace, named by their
    identifiers (dataset:..., model:..., endpoint:...)."""
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for edge in graph.edges:
        groups[(edge.downstream, edge.kind)].append(edge)
    events = []
    for (downstream, kind), edges in sorted(groups.items(), key=lambda g: min(e.created_at for e in g[1])):
        upstreams = sorted({e.upstream for e in edges})
        run_id = uuid.uuid5(_RUN_NAMESPACE, "\n".join([downstream, kind, *upstreams]))
        facets: dict[str, Any] = {}
        details = [e.details for e in edges if e.details]
        if details:
            facets["mlops_mcp"] = {
                "_producer": PRODUCER,
                "_schemaURL": f"{PRODUCER}/docs/lineage.md#openlineage",
                "edgeKind": kind,
                "details": details[0],
            }
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": _time(max(e.created_at for e in edges)),
                "producer": PRODUCER,
                "schemaURL": OPENLINEAGE_SCHEMA_URL,
                "run": {"runId": str(run_id), "facets": facets},
                "job": {"namespace": NAMESPACE, "name": f"{kind}:{downstream}", "facets": {}},
                "inputs": [{"namespace": NAMESPACE, "name": u, "facets": {}} for u in upstreams],
                "outputs": [{"namespace": NAMESPACE, "name": downstream, "facets": {}}],
            }
        )
    return events
