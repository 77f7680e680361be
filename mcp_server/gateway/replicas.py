"""Gateway replicas on one metadata store: who serves, what each one served, and who steps the rollouts.

Any number of gateway processes may serve one store (PostgreSQL across hosts, or SQLite on one host); they
all read the same routing table. Each process is a *replica* with a random id, new at every start:

- Heartbeat and counters. Every `gateway_heartbeat_s` (every rollout tick while a canary is active) a
  replica writes its row of mlops_gateway_replicas (host, pid, url, the routing generation it serves, and
  `heartbeat_at` on the database's clock) and the per-version counters that changed since its last write
  (mlops_gateway_counters: requests, errors, rejected, rows, latency sum and histogram buckets, counted since
  the process started, as its own /metrics has them). A replica whose heartbeat is older than
  ALIVE_HEARTBEATS heartbeats is gone: it drops out of deploy_status and out of the leader's windows, and
  its rows are deleted a while later. A replica that stops cleanly deletes its rows and gives the lease up.
- The rollout lease. One row (`rollouts`) of mlops_gateway_leases names the replica that steps rollouts and
  until when (`expires_at`, on the database's clock, so the hosts' clocks need not agree). The holder renews
  it while rollouts are active; once it has expired any replica takes it over, which bumps `term`. Every
  write of the controller first checks, in the same transaction and under a lock on the lease row, that the
  lease still names it with the term it took (`hold`), so a replica that stalled and lost its lease writes
  nothing; a lease that expired while nobody else wanted it stays with its holder, same term.

Why a lease row and not a PostgreSQL advisory lock: it works the same on SQLite (the single-gateway default)
and on PostgreSQL, it is not tied to one pooled connection staying open, its holder and term are visible to
deploy_status and tests, and the term is a fencing token every controller write checks.

Why every replica publishes its counters rather than the leader scraping each replica's /metrics: replicas
need not reach one another (loopback binds, tokens, other networks), the counters outlive the leader that
would have scraped them, and deploy_status reads the same rows without knowing where the replicas listen.
The leader sums, per replica, the counters now minus the counters when that replica first served the step's
routing generation (controller.py); its own share comes from its memory, as with a single gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mcp_server.gateway.metrics import BUCKETS, VersionStats

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.store import MetadataStore
    from mcp_server.gateway.app import Gateway
    from mcp_server.gateway.metrics import Snapshot

log = logging.getLogger("mlops_mcp.gateway.replicas")

LEASE = "rollouts"
ALIVE_HEARTBEATS = 3  # a replica whose heartbeat is older than this many heartbeats is gone
PURGE_AFTER_S = 300.0  # rows of a replica gone this long are deleted (by any replica's heartbeat)


class NotLeader(Exception):
    """The rollout lease is not (or no longer) this replica's: another replica took it over."""


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Replica:
    """This process as a replica of its store."""

    id: str = field(default_factory=_new_id)
    host: str = field(default_factory=lambda: socket.gethostname()[:256])
    pid: int = field(default_factory=os.getpid)
    url: str | None = None
    started_at: datetime = field(default_factory=_now)
    busy: bool = False  # the controller saw active rollouts: heartbeats go out every rollout tick
    left: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Published:
    """A live replica as the store has it: its row and its counters by (endpoint, version)."""

    id: str
    host: str
    pid: int
    url: str | None
    generation: int
    started_at: datetime
    heartbeat_at: datetime
    stats: dict[tuple[str, str], VersionStats]


def heartbeat_seconds(settings: Any) -> float:
    return float(getattr(settings, "gateway_heartbeat_s", 1.0))


def alive_seconds(settings: Any) -> float:
    """How old a heartbeat may be for its replica to count as live."""
    return ALIVE_HEARTBEATS * heartbeat_seconds(settings)


def lease_seconds(settings: Any) -> float:
    return float(getattr(settings, "gateway_lease_s", 2.0))


def db_now(session: Session) -> datetime:
    """Now on the database's clock (PostgreSQL: the replicas may run on hosts whose clocks differ)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        value = session.execute(text("SELECT statement_timestamp()")).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    return _now()


# -- heartbeat and counters ----------------------------------------------------------------------------


def _counter_values(stats: VersionStats) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "errors": stats.errors,
        "rejected": stats.rejected,
        "rows": stats.rows,
        "latency_sum": stats.latency_sum,
        "buckets": json.dumps(stats.buckets),
    }


def publish(
    store: MetadataStore,
    replica: Replica,
    generation: int,
    stats: Snapshot,
    changed: Iterable[tuple[str, str]],
    *,
    purge_after_s: float = PURGE_AFTER_S,
    timeout_s: float | None = None,
) -> bool:
    """Write this replica's heartbeat and its `changed` counters (all of them when its row was gone, e.g.
    purged after a long stall); returns True when the row was (re)created. Also deletes the rows of
    replicas gone for `purge_after_s`."""
    from sqlalchemy import delete, select

    from mcp_server.core.store.models import GatewayCounters, GatewayReplica

    with replica.lock:
        if replica.left:
            return False
        with store.transaction(timeout_s=timeout_s) as session:
            now = db_now(session)
            row = session.get(GatewayReplica, replica.id)
            created = row is None
            if row is None:
                session.add(
                    GatewayReplica(
                        id=replica.id,
                        host=replica.host,
                        pid=replica.pid,
                        url=replica.url,
                        generation=generation,
                        started_at=replica.started_at,
                        heartbeat_at=now,
                    )
                )
                session.flush()  # the counters refer to it
            else:
                row.generation, row.heartbeat_at, row.url = generation, now, replica.url
            keys = list(stats) if created else [k for k in changed if k in stats]
            if keys:
                query = select(GatewayCounters).where(GatewayCounters.replica_id == replica.id)
                existing = {(c.endpoint, c.version): c for c in session.scalars(query)}
                for key in keys:
                    values = _counter_values(stats[key])
                    counter = existing.get(key)
                    if counter is None:
                        session.add(
                            GatewayCounters(
                                replica_id=replica.id,
                                endpoint=key[0],
                                version=key[1],
                                updated_at=now,
                                **values,
                            )
                        )
                    else:
                        for name, value in values.items():
                            setattr(counter, name, value)
                        counter.updated_at = now
            gone = select(GatewayReplica.id).where(
                GatewayReplica.heartbeat_at < now - timedelta(seconds=purge_after_s),
                GatewayReplica.id != replica.id,
            )
            stale = list(session.scalars(gone))
            if stale:
                session.execute(delete(GatewayCounters).where(GatewayCounters.replica_id.in_(stale)))
                session.execute(delete(GatewayReplica).where(GatewayReplica.id.in_(stale)))
        return created


def leave(store: MetadataStore, replica: Replica, *, timeout_s: float = 2.0) -> None:
    """A clean stop: this replica's rows go, and its lease (if it holds it) expires now for the others."""
    from sqlalchemy import delete

    from mcp_server.core.store.models import GatewayCounters, GatewayLease, GatewayReplica

    with replica.lock:
        replica.left = True
        with store.transaction(timeout_s=timeout_s) as session:
            session.execute(delete(GatewayCounters).where(GatewayCounters.replica_id == replica.id))
            session.execute(delete(GatewayReplica).where(GatewayReplica.id == replica.id))
            lease = session.get(GatewayLease, LEASE, with_for_update=True)
            if lease is not None and lease.holder == replica.id:
                lease.expires_at = db_now(session)


async def run(gateway: Gateway) -> None:
    """The gateway lifespan hook: heartbeats with the counters that changed, until the gateway stops."""
    store = gateway.store
    if store is None:  # a static routes file: no store to publish to
        return
    replica, settings = gateway.replica, gateway.settings
    every, tick = heartbeat_seconds(settings), float(getattr(settings, "rollout_tick_s", 0.2))
    published: Snapshot = {}
    while True:
        stats = gateway.metrics.snapshot()  # copies, taken on the event loop with the generation served
        generation = gateway.snapshot.table.generation
        changed = [k for k, v in stats.items() if published.get(k) != v]
        try:
            await asyncio.to_thread(
                publish,
                store,
                replica,
                generation,
                stats,
                changed,
                purge_after_s=max(PURGE_AFTER_S, 10 * alive_seconds(settings)),
                timeout_s=max(1.0, 2 * every),
            )
            published = stats
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a store hiccup: the next heartbeat writes what this one could not
            log.warning("replica heartbeat failed: %s", err)
        await asyncio.sleep(min(tick, every) if replica.busy else every)


# -- reading the replicas ----------------------------------------------------------------------------


def _stats_of(counter: Any) -> VersionStats | None:
    try:
        buckets = [int(n) for n in json.loads(counter.buckets)]
    except (TypeError, ValueError):
        return None
    if len(buckets) != len(BUCKETS) + 1:  # written with other buckets: not addable
        return None
    return VersionStats(
        int(counter.requests),
        int(counter.errors),
        int(counter.rejected),
        int(counter.rows),
        float(counter.latency_sum),
        buckets,
    )


def live(
    session: Session,
    alive_s: float,
    *,
    endpoint: str | None = None,
    exclude: str | None = None,
    counters: bool = True,
) -> tuple[list[Published], str | None]:
    """The live replicas (oldest first) with their counters (of `endpoint` only, when given; none when not
    `counters`), and the id of the replica holding the rollout lease now (None when nobody does)."""
    from sqlalchemy import select

    from mcp_server.core.store.models import GatewayCounters, GatewayLease, GatewayReplica

    now = db_now(session)
    rows = [
        r
        for r in session.scalars(
            select(GatewayReplica)
            .where(GatewayReplica.heartbeat_at >= now - timedelta(seconds=alive_s))
            .order_by(GatewayReplica.started_at, GatewayReplica.id)
        )
        if r.id != exclude
    ]
    stats: dict[str, dict[tuple[str, str], VersionStats]] = {r.id: {} for r in rows}
    if rows and counters:
        query = select(GatewayCounters).where(GatewayCounters.replica_id.in_(list(stats)))
        if endpoint is not None:
            query = query.where(GatewayCounters.endpoint == endpoint)
        for c in session.scalars(query):
            parsed = _stats_of(c)
            if parsed is not None:
                stats[c.replica_id][(c.endpoint, c.version)] = parsed
    lease = session.get(GatewayLease, LEASE)
    leader = lease.holder if lease is not None and lease.expires_at > now else None
    return [
        Published(r.id, r.host, r.pid, r.url, int(r.generation), r.started_at, r.heartbeat_at, stats[r.id])
        for r in rows
    ], leader


def peers(store: MetadataStore, replica: Replica, alive_s: float) -> list[Published]:
    """The other live replicas with their counters (for the leader's windows)."""
    with store.read_session() as session:
        return live(session, alive_s, exclude=replica.id)[0]


# -- the rollout lease ---------------------------------------------------------------------------------


def acquire(
    store: MetadataStore, replica: Replica, lease_s: float, *, timeout_s: float | None = None
) -> int | None:
    """Take or renew the rollout lease for `lease_s` seconds: its term when this replica holds it now, None
    when another live replica does. A lease past its `expires_at` is taken over (its term + 1); this
    replica's own lease is renewed with the same term, even after it expired, as nobody led in between."""
    from sqlalchemy.exc import IntegrityError

    from mcp_server.core.store.models import GatewayLease

    with store.read_session() as session:  # the replicas that do not lead look without writing
        lease = session.get(GatewayLease, LEASE)
        if lease is not None and lease.holder != replica.id and lease.expires_at > db_now(session):
            return None
    try:
        with store.transaction(timeout_s=timeout_s) as session:
            lease = session.get(GatewayLease, LEASE, with_for_update=True)
            now = db_now(session)
            until = now + timedelta(seconds=lease_s)
            if lease is None:
                session.add(
                    GatewayLease(name=LEASE, holder=replica.id, term=1, acquired_at=now, expires_at=until)
                )
                return 1
            if lease.holder != replica.id:
                if lease.expires_at > now:
                    return None
                lease.holder, lease.term, lease.acquired_at = replica.id, int(lease.term) + 1, now
            lease.expires_at = until
            return int(lease.term)
    except IntegrityError:  # another replica created the lease row at the same moment: it holds it
        return None


def hold(session: Session, replica: Replica, term: int | None) -> None:
    """Inside a write transaction: NotLeader unless the lease still names this replica with `term`. The
    lease row stays locked (shared) until the transaction ends, so no takeover commits in between."""
    from mcp_server.core.store.models import GatewayLease

    lease = session.get(GatewayLease, LEASE, with_for_update={"read": True})
    if term is None or lease is None or lease.holder != replica.id or int(lease.term) != term:
        raise NotLeader
