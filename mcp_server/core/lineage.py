"""Lineage: the identifiers every area uses, record_edge() and the graph query behind the lineage_* tools.

Identifiers (ARCHITECTURE.md, "Identifiers"):
    dataset:<name-or-path>@<sha256[:12]>   suite:<name>@<version>   validation:<id>   run:<mlflow-run-id>
    model:<name>/<version>   onnx:<name>/<version>   featureview:<project>/<name>   endpoint:<name>
    rollout:<id>   backup:<id>
An edge says "downstream was derived from upstream" (dataset -> validation result, dataset -> cleaned
dataset, dataset/run -> model version, model version -> onnx -> endpoint).

A dataset file's path in its identifier is the one the server stores (core/datasets.py, Workspace.stored):
relative to its root (`home:<rel>` under the home), so a home restored elsewhere has the same graph.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.errors import InvalidInput
from mcp_server.core.store import MetadataStore
from mcp_server.core.workspace import NAME_RE

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

KINDS = (
    "dataset",
    "suite",
    "validation",
    "run",
    "model",
    "onnx",
    "featureview",
    "endpoint",
    "rollout",
    "backup",
    "workflow",
    "drift",
)
_TWO_PART = {"model": "/", "onnx": "/", "featureview": "/", "suite": "@"}

EDGE_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_HEX = re.compile(r"^[0-9a-fA-F]{12,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SHA_PREFIX = 12
MAX_DEPTH = 20
MAX_EDGES = 2000  # a graph bigger than this is cut (truncated=True); the tools page or link it
MAX_DETAILS_CHARS = 16_000
MAX_ID_BYTES = 1024  # models.MAX_IDENTIFIER_BYTES

Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class ParsedId:
    kind: str
    name: str
    version: str | None  # dataset: the sha prefix; suite/model/onnx: the version; featureview: the view


@dataclass(frozen=True)
class LineageNode:
    id: str
    kind: str
    distance: int  # edges from the root (0 = the root)


@dataclass(frozen=True)
class LineageEdge:
    upstream: str
    downstream: str
    kind: str
    details: dict[str, Any] | None
    created_at: datetime


@dataclass
class LineageGraph:
    root: str
    direction: Direction
    depth: int
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "direction": self.direction,
            "depth": self.depth,
            "truncated": self.truncated,
            "nodes": [{"id": n.id, "kind": n.kind, "distance": n.distance} for n in self.nodes],
            "edges": [
                {
                    "upstream": e.upstream,
                    "downstream": e.downstream,
                    "kind": e.kind,
                    "details": e.details,
                    "created_at": e.created_at.isoformat(),
                }
                for e in self.edges
            ],
        }


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _check_dataset_name(value: str) -> str:
    if not value or value != value.strip() or _CONTROL.search(value):
        raise InvalidInput(
            f"The dataset name or path {_show(value)} is empty, padded with spaces or holds control "
            "characters; give a plain name or path."
        )
    return value


def _check_size(identifier: str) -> str:
    if len(identifier.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise InvalidInput(
            f"The identifier {_show(identifier)} is longer than {MAX_ID_BYTES} bytes; "
            "give the dataset a short name instead of its path."
        )
    return identifier


def dataset_id(name_or_path: str, sha256: str) -> str:
    """dataset:<name-or-path>@<first 12 hex digits of the content's SHA-256>."""
    if not _HEX.match(sha256):
        raise InvalidInput(f"{_show(sha256)} is not a SHA-256 hex digest (at least 12 hex digits).")
    _check_dataset_name(name_or_path)
    return _check_size(f"dataset:{name_or_path}@{sha256[:SHA_PREFIX].lower()}")


def make_id(kind: str, name: str, version: str | int | None = None) -> str:
    """The identifier of a thing of `kind`. `version` is the second part where the form has one:
    the sha256 for dataset, the version for suite/model/onnx, the view name for featureview
    (name = the Feast project); it must be None for the one-part kinds."""
    if kind not in KINDS:
        raise InvalidInput(f"Unknown identifier kind {_show(kind)}; use one of {', '.join(KINDS)}.")
    if kind == "dataset":
        if version is None:
            raise InvalidInput(
                "A dataset identifier needs the content's SHA-256; fingerprint the file first."
            )
        return dataset_id(name, str(version))
    sep = _TWO_PART.get(kind)
    if sep is None:
        if version is not None:
            raise InvalidInput(f"A {kind} identifier has one part ({kind}:<name>); drop the version.")
        identifier = f"{kind}:{name}"
    elif version is None:
        raise InvalidInput(f"A {kind} identifier needs two parts ({_form(kind)}); give the version.")
    else:
        identifier = f"{kind}:{name}{sep}{version}"
    parse_id(identifier)
    return identifier


def _form(kind: str) -> str:
    return {
        "dataset": "dataset:<name-or-path>@<sha256-prefix>",
        "suite": "suite:<name>@<version>",
        "model": "model:<name>/<version>",
        "onnx": "onnx:<name>/<version>",
        "featureview": "featureview:<project>/<name>",
    }.get(kind, f"{kind}:<id>")


def parse_id(identifier: str) -> ParsedId:
    """Split and check an identifier; InvalidInput names the expected form."""
    if not isinstance(identifier, str) or not identifier:
        raise InvalidInput("A lineage identifier must be a non-empty string such as 'model:churn/3'.")
    _check_size(identifier)
    kind, sep, rest = identifier.partition(":")
    if not sep or kind not in KINDS:
        raise InvalidInput(
            f"{_show(identifier)} is not a lineage identifier; start it with one of "
            f"{', '.join(k + ':' for k in KINDS)}"
        )
    bad = InvalidInput(f"{_show(identifier)} is not a valid {kind} identifier; expected {_form(kind)}.")
    if kind == "dataset":
        name, at, sha = rest.rpartition("@")
        if not at or not re.fullmatch(r"[0-9a-f]{12}", sha):
            raise bad
        _check_dataset_name(name)
        return ParsedId(kind, name, sha)
    sep2 = _TWO_PART.get(kind)
    if sep2 is None:
        if not NAME_RE.match(rest):
            raise bad
        return ParsedId(kind, rest, None)
    parts = rest.split(sep2)
    if len(parts) != 2 or not all(NAME_RE.match(p) for p in parts):
        raise bad
    return ParsedId(kind, parts[0], parts[1])


def _details_json(details: dict[str, Any] | None) -> str | None:
    if details is None:
        return None
    if not isinstance(details, dict):
        raise InvalidInput("Lineage details must be a JSON object (a dict).")
    try:
        text = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Lineage details must be plain JSON values ({exc}).") from None
    if len(text) > MAX_DETAILS_CHARS:
        raise InvalidInput(
            f"Lineage details are {len(text)} characters, over {MAX_DETAILS_CHARS}; store a reference instead."
        )
    return text


def record_edge(
    store: MetadataStore,
    upstream: str,
    downstream: str,
    kind: str,
    details: dict[str, Any] | None = None,
    *,
    session: Session | None = None,
) -> bool:
    """Record "downstream derives from upstream"; True if new, False if the same edge was there already.

    Pass `session` (from store.transaction()) to write the edge in the caller's own transaction.
    """
    return record_edges(store, [(upstream, downstream, kind, details)], session=session) == 1


def record_edges(
    store: MetadataStore,
    edges: Iterable[tuple[str, str, str, dict[str, Any] | None]],
    *,
    session: Session | None = None,
) -> int:
    """record_edge for several (upstream, downstream, kind, details) at once, in one statement: the number
    of edges that were new."""
    rows = [_edge_row(*edge) for edge in edges]
    if not rows:
        return 0
    if session is not None:
        return _insert_edges(session, rows)
    with store.transaction() as tx:
        return _insert_edges(tx, rows)


def _edge_row(upstream: str, downstream: str, kind: str, details: dict[str, Any] | None) -> dict[str, Any]:
    parse_id(upstream)
    parse_id(downstream)
    if upstream == downstream:
        raise InvalidInput(f"A lineage edge needs two different ends, got {_show(upstream)} twice.")
    if not EDGE_KIND_RE.match(kind):
        raise InvalidInput(
            f"The edge kind {_show(kind)} is not valid; use lower-case snake_case such as 'validated_by'."
        )
    return {"upstream": upstream, "downstream": downstream, "kind": kind, "details": _details_json(details)}


def _insert_edges(session: Session, rows: list[dict[str, Any]]) -> int:
    from sqlalchemy.dialects import postgresql, sqlite

    from mcp_server.core.store.models import LineageEdge as EdgeRow
    from mcp_server.core.store.models import utcnow

    insert = sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert
    now = utcnow()
    # One statement with bound parameters (compiled once per process, then cached by SQLAlchemy), run
    # for every row at once; idempotent under races too: two writers of one edge both succeed, one
    # row remains.
    stmt = (
        insert(EdgeRow)
        .on_conflict_do_nothing(index_elements=["upstream", "downstream", "kind"])
        .returning(EdgeRow.id)
    )
    return len(session.execute(stmt, [{**row, "created_at": now} for row in rows]).all())


def _filled(graph: LineageGraph, distances: dict[str, int], rows: Iterable[Any]) -> LineageGraph:
    """The graph's nodes (nearest first) and edges (in the order given) from the stored edge rows."""
    graph.nodes = [
        LineageNode(id=n, kind=n.partition(":")[0], distance=d)
        for n, d in sorted(distances.items(), key=lambda item: (item[1], item[0]))
    ]
    graph.edges = [
        LineageEdge(
            upstream=r.upstream,
            downstream=r.downstream,
            kind=r.kind,
            details=None if r.details is None else json.loads(r.details),
            created_at=r.created_at,
        )
        for r in rows
    ]
    return graph


def query_lineage(
    store: MetadataStore, identifier: str, direction: Direction = "upstream", depth: int = 5
) -> LineageGraph:
    """Nodes and edges within `depth` steps of `identifier` (breadth first, cycle-safe).

    "upstream" follows where it came from, "downstream" what was derived from it, "both" the union of
    the two walks. An identifier with no edges gives an empty graph.
    """
    parse_id(identifier)
    if direction not in ("upstream", "downstream", "both"):
        raise InvalidInput(
            f"direction must be 'upstream', 'downstream' or 'both', not {_show(str(direction))}."
        )
    if not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be an integer from 0 to {MAX_DEPTH}, not {depth!r}.")
    graph = LineageGraph(root=identifier, direction=direction, depth=depth)
    distances: dict[str, int] = {}
    rows: dict[int, Any] = {}
    with store.read_session() as session:
        walks = ("upstream", "downstream") if direction == "both" else (direction,)
        for walk in walks:
            found, truncated = _walk(session, identifier, walk == "upstream", depth, rows)
            graph.truncated |= truncated
            for node, dist in found.items():
                distances[node] = min(dist, distances.get(node, dist))
    if not rows:
        return graph
    return _filled(graph, distances, sorted(rows.values(), key=lambda r: r.id))


def neighbourhood(store: MetadataStore, identifier: str) -> LineageGraph:
    """`query_lineage(store, identifier, "both", 2)` in one store query: the edges into and out of
    `identifier`, and those one step further out on each side."""
    from sqlalchemy import or_, select

    from mcp_server.core.store.models import LineageEdge as EdgeRow

    parse_id(identifier)
    graph = LineageGraph(root=identifier, direction="both", depth=2)
    ups = select(EdgeRow.upstream).where(EdgeRow.downstream == identifier).scalar_subquery()
    downs = select(EdgeRow.downstream).where(EdgeRow.upstream == identifier).scalar_subquery()
    stmt = (
        select(EdgeRow)
        .where(
            or_(
                EdgeRow.downstream == identifier,
                EdgeRow.upstream == identifier,
                EdgeRow.downstream.in_(ups),  # upstream, two steps away
                EdgeRow.upstream.in_(downs),  # downstream, two steps away
            )
        )
        .order_by(EdgeRow.id)
        .limit(MAX_EDGES + 1)
    )
    with store.read_session() as session:
        rows = list(session.scalars(stmt))
    if not rows:
        return graph
    graph.truncated = len(rows) > MAX_EDGES
    rows = rows[:MAX_EDGES]
    near = {r.upstream for r in rows if r.downstream == identifier} | {
        r.downstream for r in rows if r.upstream == identifier
    }
    distances = {identifier: 0}
    for r in rows:
        for node in (r.upstream, r.downstream):
            distances.setdefault(node, 1 if node in near else 2)
    return _filled(graph, distances, rows)


def _walk(
    session: Session, root: str, upstream: bool, depth: int, rows: dict[int, Any]
) -> tuple[dict[str, int], bool]:
    from sqlalchemy import select

    from mcp_server.core.store.models import LineageEdge as EdgeRow

    near = EdgeRow.downstream if upstream else EdgeRow.upstream
    distances = {root: 0}
    frontier = [root]
    for level in range(1, depth + 1):
        if not frontier:
            break
        nxt: list[str] = []
        for chunk in _chunks(frontier, 500):
            for row in session.scalars(select(EdgeRow).where(near.in_(chunk)).order_by(EdgeRow.id)):
                if len(rows) >= MAX_EDGES and row.id not in rows:
                    return distances, True
                rows[row.id] = row
                other = row.upstream if upstream else row.downstream
                if other not in distances:  # seen nodes are not walked again: cycles end here
                    distances[other] = level
                    nxt.append(other)
        frontier = nxt
    return distances, False


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
