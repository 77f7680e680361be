"""The routing table in the metadata store, and the immutable snapshot the gateway serves from.

Every change to endpoints or routes goes through `write` (one transaction that also bumps the generation
row), so the gateway only has to poll one integer to know when to reload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.store import MetadataStore


@dataclass(frozen=True)
class Route:
    endpoint: str
    model: str
    version: str
    weight: float
    slot: str | None
    onnx_dir: str  # absolute, resolved against the home (see onnx_path)


@dataclass(frozen=True)
class EndpointTable:
    name: str
    model: str
    stable_version: str
    live_slot: str | None
    routes: tuple[Route, ...]

    def route(self, version: str) -> Route | None:
        return next((r for r in self.routes if r.version == version), None)


@dataclass(frozen=True)
class Table:
    generation: int
    endpoints: dict[str, EndpointTable]


def read_generation(session: Session) -> int:
    from mcp_server.core.store.models import DeployGeneration

    row = session.get(DeployGeneration, 1)
    return int(row.generation) if row is not None else 0


def bump_generation(session: Session) -> int:
    """Inside a write transaction: the next generation (the gateway reloads when it sees it)."""
    from mcp_server.core.store.models import DeployGeneration

    row = session.get(DeployGeneration, 1)
    now = datetime.now(UTC)
    if row is None:
        row = DeployGeneration(id=1, generation=1, updated_at=now)
        session.add(row)
    else:
        row.generation = int(row.generation) + 1
        row.updated_at = now
    session.flush()
    return int(row.generation)


def onnx_path(stored: str, home: Path) -> str:
    """A route's ONNX folder as stored (`home:<relative>`, as Workspace.stored writes it) resolved against the
    home; absolute values (rows written before routes were stored home-relative) pass through."""
    return str(Path(home) / stored.removeprefix("home:")) if stored.startswith("home:") else stored


def read_table(session: Session, home: Path) -> Table:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    generation = read_generation(session)
    endpoints = {e.id: e for e in session.scalars(select(DeployEndpoint))}
    routes: dict[int, list[Route]] = {i: [] for i in endpoints}
    for r in session.scalars(select(DeployRoute).order_by(DeployRoute.id)):
        if r.endpoint_id in endpoints:
            routes[r.endpoint_id].append(
                Route(
                    endpoints[r.endpoint_id].name,
                    r.model,
                    r.version,
                    r.weight,
                    r.slot,
                    onnx_path(r.onnx_dir, home),
                )
            )
    return Table(
        generation=generation,
        endpoints={
            e.name: EndpointTable(e.name, e.model, e.stable_version, e.live_slot, tuple(routes[i]))
            for i, e in endpoints.items()
        },
    )


def load(store: MetadataStore, home: Path) -> Table:
    with store.read_session() as session:
        return read_table(session, home)


def generation(store: MetadataStore) -> int:
    with store.read_session() as session:
        return read_generation(session)


def record_event(
    session: Session,
    endpoint: str,
    kind: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    rollout_id: str | None = None,
) -> None:
    from mcp_server.core.store.models import DeployEvent

    session.add(
        DeployEvent(
            endpoint=endpoint,
            rollout_id=rollout_id,
            kind=kind,
            reason=reason,
            details=json.dumps(details, sort_keys=True, default=str) if details is not None else None,
            time=datetime.now(UTC),
        )
    )


@contextmanager
def write(store: MetadataStore) -> Iterator[Session]:
    """A routing change: one transaction that bumps the generation on success."""
    with store.transaction() as session:
        yield session
        bump_generation(session)


def set_weights(
    store: MetadataStore,
    endpoint: str,
    weights: dict[str, float],
    *,
    live_slot: str | None = None,
    stable_version: str | None = None,
    event: str | None = None,
    reason: str | None = None,
    rollout_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Set the traffic weights (percent) of an endpoint's routed versions in one step; returns the generation.

    Versions not named keep their route with weight 0 (still loaded, for an instant switch back).
    """
    from mcp_server.gateway.controller import apply_weights, load_endpoint

    total = sum(weights.values())
    if any(w < 0 for w in weights.values()) or abs(total - 100.0) > 1e-6:
        raise ValueError("weights must be non-negative and add up to 100")
    with store.transaction() as session:
        ep, _routes = load_endpoint(session, endpoint)
        apply_weights(session, endpoint, weights)  # KeyError for a version without a route
        if live_slot is not None:
            ep.live_slot = live_slot
        if stable_version is not None:
            ep.stable_version = stable_version
        ep.updated_at = datetime.now(UTC)
        if event is not None:
            record_event(
                session, endpoint, event, reason, {"weights": weights, **(details or {})}, rollout_id
            )
        return read_generation(session)
