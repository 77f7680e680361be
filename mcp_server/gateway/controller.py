"""The rollout controller: canary steps judged on their own window, automatic rollback, blue-green moves.

It runs inside the gateway process (`run(gateway)` is started by the gateway's lifespan, see app.py) and
keeps every decision in the metadata store, so a gateway restart resumes a rollout from its stored step.

How a canary runs (one `RolloutController.tick` every `rollout_tick_s`):

    starting             the candidate's route exists with weight 0; the gateway loads and warms its
                         onnxruntime session. Once it is loaded, the first step's weights are applied.
    waiting_for_traffic  fewer than `min_requests` requests reached the candidate in this step's window;
                         past `max_wait_seconds` since the step began the rollout ends as `failed`
                         (all traffic back to stable). A step is never promoted for lack of traffic.
    running              the window has enough candidate requests: the limits are checked on every tick
                         (a crossed limit rolls back at once); after `step_seconds` the next step starts.
    promoted             the last step (100) passed: the candidate is the endpoint's stable version.
    rolled_back          a limit was crossed (or deploy_rollback was called): all traffic back to stable.
    failed               no traffic within max_wait_seconds, or the candidate could not be loaded.
    aborted              deploy_canary_abort: all traffic back to stable.

A step's window is the difference between the gateway's per-version counters now and a snapshot taken
right after the step's weights were applied (metrics.Metrics.window), so each step is judged on its own
traffic. After a restart the counters start from zero: the stored step begins a fresh window.

Several gateways on one store (replicas.py): every replica runs a controller, but only the holder of the
rollout lease drives rollouts; the others only watch whether any is active (they then publish their
counters every tick). The leader judges each step on the cluster-wide window: its own counters since the
step began (from memory) plus, for every other live replica, that replica's published counters now minus
those it published when it first served the step's routing generation (traffic routed by older weights is
never counted). Per-replica windows travel with the total in the window row and the events (`replicas`),
and each event the controller records names its `leader`. A replica that takes the lease over (its holder
died, or stalled past the lease) starts with no step in memory: it records `resumed` and begins a fresh
window at the stored step, as after a restart. Every controller write checks the lease in its transaction
(replicas.hold), so a deposed leader writes nothing.

The functions below the controller (`transition`, `apply_weights`, ...) are plain store functions the deploy
tools use too (abort, promote, rollback, blue-green), so every move of traffic is one transaction that also
records its event and bumps the routing generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcp_server.gateway import replicas
from mcp_server.gateway.metrics import Metrics
from mcp_server.gateway.replicas import NotLeader

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.store import MetadataStore
    from mcp_server.core.store.models import DeployEndpoint, DeployRollout, DeployRoute
    from mcp_server.gateway.app import Gateway
    from mcp_server.gateway.metrics import Snapshot, VersionStats

log = logging.getLogger("mlops_mcp.gateway.controller")

ACTIVE = ("starting", "waiting_for_traffic", "running")
TERMINAL = ("promoted", "rolled_back", "failed", "aborted")
STATES = (*ACTIVE, *TERMINAL)
WINDOW_WRITE_S = 1.0  # how often the live window is written to the store for deploy_canary_status


class Stale(Exception):
    """The rollout changed under the caller (another tool or the controller moved it first)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_rollout_id() -> str:
    return uuid.uuid4().hex[:16]


# -- judging a window ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    min_requests: int
    max_error_rate: float
    max_p99_ms: float
    max_error_rate_increase: float | None = None
    max_p99_ratio: float | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Limits:
        return cls(
            min_requests=int(params["min_requests"]),
            max_error_rate=float(params["max_error_rate"]),
            max_p99_ms=float(params["max_p99_ms"]),
            max_error_rate_increase=params.get("max_error_rate_increase"),
            max_p99_ratio=params.get("max_p99_ratio"),
        )


def summarize(stats: VersionStats | None) -> dict[str, Any]:
    """A version's window as plain JSON: requests, errors, rejected, their rates, p50/p99 in ms.

    `error_rate` is the share of requests the version failed to answer (5xx: its session failed);
    `rejected_rate` the share whose rows did not fit its inputs (4xx). p50/p99 come from the latency
    histogram (metrics.BUCKETS), interpolated inside the bucket the rank falls in, as Prometheus'
    histogram_quantile does; above the last bound (10 s) they read as 10 s.
    """
    if stats is None:
        return {
            "requests": 0,
            "errors": 0,
            "rejected": 0,
            "error_rate": None,
            "rejected_rate": None,
            "p50_ms": None,
            "p99_ms": None,
        }
    p50, p99 = stats.quantile(0.5), stats.quantile(0.99)
    n = stats.requests
    return {
        "requests": n,
        "errors": stats.errors,
        "rejected": stats.rejected,
        "error_rate": round(stats.errors / n, 6) if n else None,
        "rejected_rate": round(stats.rejected / n, 6) if n else None,
        "p50_ms": round(p50 * 1000, 4) if p50 is not None else None,
        "p99_ms": round(p99 * 1000, 4) if p99 is not None else None,
    }


def judge(limits: Limits, candidate: dict[str, Any], stable: dict[str, Any] | None) -> tuple[str, str]:
    """("wait" | "fail" | "ok", reason) for one window's summaries (see `summarize`).

    Absolute limits: error rate (5xx) and p99. Relative limits compare with the stable version over the
    same window and are judged only when the stable version also had at least `min_requests` requests in
    it (at 100% it has none): error-rate increase, p99 ratio, and rejections (4xx) -- the candidate may
    not reject more of the same traffic than stable does by more than `max_error_rate` (a candidate whose
    inputs no longer fit the rows the stable version answers is rolled back; rows both reject are the
    client's problem, not the candidate's).
    """
    n = int(candidate["requests"])
    if n < limits.min_requests:
        return "wait", f"{n} of the {limits.min_requests} requests needed reached the candidate in this step"
    rate = float(candidate["error_rate"] or 0.0)
    if rate > limits.max_error_rate:
        return "fail", (
            f"candidate error rate {rate:.2%} over {n} requests is above max_error_rate "
            f"{limits.max_error_rate:.2%}"
        )
    p99 = candidate["p99_ms"]
    if p99 is not None and p99 > limits.max_p99_ms:
        return "fail", f"candidate p99 latency {p99:.2f} ms is above max_p99_ms {limits.max_p99_ms:g} ms"
    if stable is not None and int(stable["requests"]) >= limits.min_requests:
        base_rate = float(stable["error_rate"] or 0.0)
        if limits.max_error_rate_increase is not None and rate - base_rate > limits.max_error_rate_increase:
            return "fail", (
                f"candidate error rate {rate:.2%} is {rate - base_rate:.2%} above stable's {base_rate:.2%}, "
                f"more than max_error_rate_increase {limits.max_error_rate_increase:.2%}"
            )
        rejected, base_rejected = (
            float(candidate["rejected_rate"] or 0.0),
            float(stable["rejected_rate"] or 0.0),
        )
        if rejected - base_rejected > limits.max_error_rate:
            return "fail", (
                f"candidate rejected {rejected:.2%} of requests (rows that did not fit its inputs), stable "
                f"{base_rejected:.2%}: more than max_error_rate {limits.max_error_rate:.2%} above it"
            )
        base_p99 = stable["p99_ms"]
        if limits.max_p99_ratio is not None and p99 is not None and base_p99:
            ratio = p99 / base_p99
            if ratio > limits.max_p99_ratio:
                return "fail", (
                    f"candidate p99 {p99:.2f} ms is {ratio:.2f}x stable's {base_p99:.2f} ms, "
                    f"more than max_p99_ratio {limits.max_p99_ratio:g}"
                )
    return "ok", f"within limits over {n} candidate requests"


# -- store functions (the controller and the deploy tools) -----------------------------------------------


def load_endpoint(session: Session, name: str) -> tuple[DeployEndpoint, dict[str, DeployRoute]]:
    """The endpoint row and its routes by version (in creation order); KeyError when there is no such endpoint."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    ep = session.scalars(select(DeployEndpoint).where(DeployEndpoint.name == name)).first()
    if ep is None:
        raise KeyError(name)
    query = select(DeployRoute).where(DeployRoute.endpoint_id == ep.id).order_by(DeployRoute.id)
    return ep, {r.version: r for r in session.scalars(query)}


def apply_weights(session: Session, endpoint: str, weights: dict[str, float]) -> dict[str, float]:
    """Inside a transaction: set every route's weight (unnamed routes get 0); returns the full table."""
    from mcp_server.gateway import table

    _, routes = load_endpoint(session, endpoint)
    unknown = set(weights) - set(routes)
    if unknown:
        raise KeyError(sorted(unknown)[0])
    for version, route in routes.items():
        route.weight = float(weights.get(version, 0.0))
    table.bump_generation(session)
    return {v: r.weight for v, r in routes.items()}


def active_rollout(session: Session, endpoint: str) -> DeployRollout | None:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRollout

    return session.scalars(
        select(DeployRollout)
        .where(DeployRollout.endpoint == endpoint, DeployRollout.state.in_(ACTIVE))
        .order_by(DeployRollout.created_at.desc())
    ).first()


def lock_rollout(session: Session, rollout_id: str) -> DeployRollout | None:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRollout

    return session.scalars(
        select(DeployRollout).where(DeployRollout.id == rollout_id).with_for_update()
    ).first()


def _locked(session: Session, rollout_id: str, states: tuple[str, ...], step_index: int) -> DeployRollout:
    """The rollout row locked for a change, in the state and step the caller saw; Stale when it moved since."""
    row = lock_rollout(session, rollout_id)
    if row is None or row.state not in states or row.step_index != step_index:
        raise Stale
    return row


def step_weights(r: DeployRollout, step_index: int) -> dict[str, float]:
    weight = float(json.loads(r.steps)[step_index])
    if weight >= 100.0:
        return {r.candidate_version: 100.0}
    return {r.stable_version: 100.0 - weight, r.candidate_version: weight}


def finish_to_stable(
    session: Session,
    r: DeployRollout,
    state: str,
    reason: str,
    details: dict[str, Any] | None = None,
    *,
    event: str | None = None,
) -> None:
    """Inside a transaction: all traffic back to the stable version; the rollout ends in `state`.

    The candidate's route is removed (its session is released) unless it is the stable version or holds
    a blue/green slot.
    """
    from mcp_server.gateway import table

    try:
        ep, routes = load_endpoint(session, r.endpoint)
    except KeyError:  # the endpoint was deleted: nothing left to route
        ep, routes = None, {}
    if r.stable_version in routes:
        apply_weights(session, r.endpoint, {r.stable_version: 100.0})
    cand = routes.get(r.candidate_version)
    if ep is not None and cand is not None and cand.version != ep.stable_version and cand.slot is None:
        session.delete(cand)
        table.bump_generation(session)
    now = utcnow()
    r.state, r.reason, r.updated_at, r.finished_at = state, reason, now, now
    table.record_event(
        session,
        r.endpoint,
        event or state,
        reason,
        {
            "weights": {r.stable_version: 100.0},
            "candidate": r.candidate_version,
            "stable": r.stable_version,
            "step": r.step_index,
            **(details or {}),
        },
        r.id,
    )


def promote(session: Session, r: DeployRollout, reason: str, details: dict[str, Any] | None = None) -> None:
    """Inside a transaction: the candidate takes all traffic and becomes the endpoint's stable version.

    The old stable version keeps its route at weight 0 (loaded), so deploy_rollback moves back at once. On
    an endpoint with blue/green slots the candidate takes the idle slot and that slot becomes live.
    """
    from mcp_server.gateway import table

    ep, routes = load_endpoint(session, r.endpoint)
    apply_weights(session, r.endpoint, {r.candidate_version: 100.0})
    if ep.live_slot is not None:
        idle = "green" if ep.live_slot == "blue" else "blue"
        for route in list(routes.values()):
            if route.slot == idle and route.version != r.candidate_version:
                session.delete(route)  # an older version parked in the idle slot makes room
        routes[r.candidate_version].slot = idle
        old = routes.get(r.stable_version)
        if old is not None and old.slot is None:
            old.slot = ep.live_slot
        ep.live_slot = idle
    ep.stable_version = r.candidate_version
    ep.updated_at = utcnow()
    now = utcnow()
    r.state, r.reason, r.updated_at, r.finished_at = "promoted", reason, now, now
    table.record_event(
        session,
        r.endpoint,
        "promoted",
        reason,
        {
            "weights": {r.candidate_version: 100.0},
            "version": r.candidate_version,
            "previous_version": r.stable_version,
            "step": r.step_index,
            **(details or {}),
        },
        r.id,
    )


def write_window(
    session: Session, rollout_id: str, step_index: int, started_at: datetime, metrics: dict[str, Any]
) -> None:
    from mcp_server.core.store.models import DeployRolloutWindow

    row = session.get(DeployRolloutWindow, rollout_id)
    text = json.dumps(metrics, sort_keys=True)
    if row is None:
        session.add(
            DeployRolloutWindow(
                rollout_id=rollout_id,
                step_index=step_index,
                started_at=started_at,
                updated_at=utcnow(),
                metrics=text,
            )
        )
    else:
        row.step_index, row.started_at, row.updated_at, row.metrics = step_index, started_at, utcnow(), text


# -- the controller ------------------------------------------------------------------------------------


@dataclass
class _Step:
    step_index: int
    started: float  # monotonic
    started_at: datetime
    baseline: dict[Any, Any]  # metrics snapshot at the step's start
    state: str
    written: float = 0.0
    held: bool = False
    last: dict[str, Any] | None = None
    generation: int = 0  # the routing generation that applied the step's weights
    # Another replica's published counters when it was first seen serving `generation` (its window's start).
    peer_baselines: dict[str, Snapshot] = field(default_factory=dict)


class RolloutController:
    """Drives every active rollout of the store the gateway serves from (one instance per gateway)."""

    def __init__(self, gateway: Gateway) -> None:
        assert gateway.store is not None
        self.gateway = gateway
        self.store: MetadataStore = gateway.store
        self.steps: dict[str, _Step] = {}
        self.load_started: dict[str, float] = {}
        settings = gateway.settings
        self.tick_s = float(getattr(settings, "rollout_tick_s", 0.2))
        self.load_timeout_s = float(getattr(settings, "rollout_load_timeout_s", 120.0))
        self.replica = gateway.replica
        self.lease_s = replicas.lease_seconds(settings)
        self.alive_s = replicas.alive_seconds(settings)
        self.term: int | None = None  # the lease's term while this replica leads
        self.renewed = 0.0  # monotonic, when the lease was last taken or renewed
        self._peers: list[replicas.Published] | None = None  # read once per tick

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a store hiccup: try again next tick, keep serving
                log.warning("rollout controller tick failed: %s", err)
            await asyncio.sleep(self.tick_s)

    def _active(self) -> list[DeployRollout]:
        from sqlalchemy import select

        from mcp_server.core.store.models import DeployRollout

        with self.store.read_session() as session:
            return list(
                session.scalars(
                    select(DeployRollout)
                    .where(DeployRollout.kind == "canary", DeployRollout.state.in_(ACTIVE))
                    .order_by(DeployRollout.created_at)
                )
            )

    async def tick(self) -> None:
        rollouts = await asyncio.to_thread(self._active)
        self.replica.busy = bool(rollouts)
        ids = {r.id for r in rollouts}
        for gone in set(self.steps) - ids:  # finished or moved by a tool
            self.steps.pop(gone, None)
        for gone in set(self.load_started) - ids:
            self.load_started.pop(gone, None)
        if not rollouts or not await self._lead():
            return
        self._peers = None
        try:
            for r in rollouts:
                try:
                    await self._drive(r)
                except Stale:
                    self.steps.pop(r.id, None)
                except KeyError as err:  # the endpoint or a route vanished (endpoint deleted)
                    await self._end(r, "failed", f"the endpoint or its route {err} is gone")
        except NotLeader:
            log.warning("replica %s lost the rollout lease to another replica", self.replica.id)
            self._step_down()

    async def _lead(self) -> bool:
        """True while this replica holds the rollout lease (taken or renewed here when due)."""
        started = time.monotonic()
        if self.term is not None and started - self.renewed < self.lease_s / 4:
            return True
        term = await asyncio.to_thread(
            replicas.acquire, self.store, self.replica, self.lease_s, timeout_s=max(self.lease_s, 1.0)
        )
        if term is None:
            if self.term is not None:
                log.warning("replica %s lost the rollout lease to another replica", self.replica.id)
            self._step_down()
            return False
        if term != self.term:  # a new term: whatever this replica knew of the steps may be out of date
            self.steps.clear()
            self.load_started.clear()
            log.warning("replica %s leads the rollouts (lease term %s)", self.replica.id, term)
        self.term, self.renewed = term, started
        return True

    def _step_down(self) -> None:
        self.term = None
        self.steps.clear()
        self.load_started.clear()

    async def _peer_list(self) -> list[replicas.Published]:
        if self._peers is None:
            self._peers = await asyncio.to_thread(replicas.peers, self.store, self.replica, self.alive_s)
        return self._peers

    async def _windows(self, r: DeployRollout, step: _Step) -> dict[str, Snapshot]:
        """The step's window of each live replica that serves its weights, this one first."""
        metrics = self.gateway.metrics
        windows = {self.replica.id: metrics.window(step.baseline, metrics.snapshot(r.endpoint))}
        for peer in await self._peer_list():
            if peer.generation < step.generation:  # still serving the weights of before the step
                continue
            now = {k: v for k, v in peer.stats.items() if k[0] == r.endpoint}
            windows[peer.id] = Metrics.window(step.peer_baselines.setdefault(peer.id, now), now)
        return windows

    async def _commit(self, fn: Any) -> Any:
        return await asyncio.to_thread(self._tx, fn)

    def _tx(self, fn: Any) -> Any:
        with self.store.transaction() as session:
            replicas.hold(session, self.replica, self.term)  # NotLeader once another replica took over
            return fn(session)

    async def _end(
        self, r: DeployRollout, state: str, reason: str, details: dict[str, Any] | None = None
    ) -> None:
        details = {**(details or {}), "leader": self.replica.id}
        await self._finish(r, lambda s, row: finish_to_stable(s, row, state, reason, details), details)
        log.warning("rollout %s on %s: %s (%s)", r.id, r.endpoint, state, reason)

    async def _promote(self, r: DeployRollout, reason: str, details: dict[str, Any]) -> None:
        details = {**details, "leader": self.replica.id}
        await self._finish(r, lambda s, row: promote(s, row, reason, details), details)
        log.warning("rollout %s on %s promoted %s", r.id, r.endpoint, r.candidate_version)

    async def _finish(self, r: DeployRollout, decide: Any, details: dict[str, Any] | None) -> None:
        """End the rollout with `decide(session, row)` in one transaction (nothing if it moved meanwhile)."""
        expect = r.step_index

        def write(session: Session) -> None:
            row = _locked(session, r.id, ACTIVE, expect)
            decide(session, row)
            self._final_window(session, row, details)

        with contextlib.suppress(Stale):
            await self._commit(write)
        self.steps.pop(r.id, None)
        await self.gateway.reload()

    def _final_window(self, session: Session, r: DeployRollout, details: dict[str, Any] | None) -> None:
        """The window a final decision was taken on, for deploy_canary_status."""
        step = self.steps.get(r.id)
        if step is not None and details is not None and "window" in details:
            data = {
                "versions": details["window"],
                "seconds": details.get("window_seconds"),
                "replicas": details.get("replicas", {}),
            }
            write_window(session, r.id, r.step_index, step.started_at, data)

    async def _begin_step(
        self,
        r: DeployRollout,
        step_index: int,
        event: str,
        reason: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Apply the step's weights, then start its window right after the gateway swapped them in."""
        expect_index, expect_state = r.step_index, r.state
        weights = step_weights(r, step_index)
        now = utcnow()

        def write(session: Session) -> int:
            from mcp_server.gateway import table

            row = _locked(session, r.id, (expect_state,), expect_index)
            apply_weights(session, row.endpoint, weights)
            row.step_index, row.state, row.step_started_at, row.updated_at = (
                step_index,
                "waiting_for_traffic",
                now,
                now,
            )
            row.reason = reason
            table.record_event(
                session,
                row.endpoint,
                event,
                reason,
                {
                    "weights": weights,
                    "step": step_index,
                    "candidate_weight": json.loads(row.steps)[step_index],
                    **(details or {}),
                    "leader": self.replica.id,
                },
                row.id,
            )
            write_window(session, row.id, step_index, now, {})
            return table.read_generation(session)

        generation = await self._commit(write)
        await self.gateway.reload()
        self.steps[r.id] = _Step(
            step_index,
            time.monotonic(),
            now,
            self.gateway.metrics.snapshot(r.endpoint),
            "waiting_for_traffic",
            generation=generation,
        )

    def _endpoint_exists(self, name: str) -> bool:
        from sqlalchemy import select

        from mcp_server.core.store.models import DeployEndpoint

        with self.store.read_session() as session:
            return (
                session.scalars(select(DeployEndpoint.id).where(DeployEndpoint.name == name)).first()
                is not None
            )

    async def _drive(self, r: DeployRollout) -> None:
        params = json.loads(r.params)
        if r.endpoint not in self.gateway.snapshot.table.endpoints and not await asyncio.to_thread(
            self._endpoint_exists, r.endpoint
        ):
            await self._end(r, "failed", f"endpoint '{r.endpoint}' was deleted during the rollout")
            return
        step = self.steps.get(r.id)
        if r.state == "starting":
            snap = self.gateway.snapshot
            error = snap.errors.get(f"{r.endpoint}/{r.candidate_version}")
            if error is not None:
                await self._end(r, "failed", f"the gateway could not load the candidate: {error}")
                return
            if (
                snap.version(r.endpoint, r.candidate_version) is None
                or snap.version(r.endpoint, r.stable_version) is None
            ):
                first = self.load_started.setdefault(r.id, time.monotonic())
                if time.monotonic() - first > self.load_timeout_s:
                    await self._end(
                        r, "failed", f"the candidate was not loaded within {self.load_timeout_s:g}s"
                    )
                else:
                    await self.gateway.reload()
                return
            self.load_started.pop(r.id, None)
            await self._begin_step(r, 0, "step", "candidate loaded and warmed; first step applied")
            return
        if step is None or step.step_index != r.step_index:
            # Resumed after a gateway restart (or the step moved elsewhere): the stored step starts a new window.
            await self._begin_step(
                r, r.step_index, "resumed", f"the controller resumed the rollout at step {r.step_index + 1}"
            )
            return
        limits = Limits.from_params(params)
        windows = await self._windows(r, step)
        window = Metrics.total(windows.values())
        cand = summarize(window.get((r.endpoint, r.candidate_version)))
        stable = summarize(window.get((r.endpoint, r.stable_version)))
        metrics = {r.candidate_version: cand, r.stable_version: stable}
        by_replica = {
            rid: {v: summarize(w.get((r.endpoint, v))) for v in (r.candidate_version, r.stable_version)}
            for rid, w in windows.items()
        }
        elapsed = time.monotonic() - step.started
        verdict, reason = judge(limits, cand, stable)
        details = {"window": metrics, "window_seconds": round(elapsed, 3), "replicas": by_replica}
        steps = json.loads(r.steps)
        if verdict == "fail":
            await self._end(r, "rolled_back", reason, details)
            return
        if verdict == "wait":
            if elapsed >= float(params["max_wait_seconds"]):
                await self._end(
                    r,
                    "failed",
                    f"{reason} within max_wait_seconds ({params['max_wait_seconds']:g}s); never promoted",
                    details,
                )
                return
            if step.state != "waiting_for_traffic" or r.state != "waiting_for_traffic":
                await self._set_state(r, step, "waiting_for_traffic", reason, details, event=None)
            if not step.held and elapsed >= float(params["step_seconds"]):
                # The step's time is up but the window lacks traffic: it is held, never promoted.
                step.held = True
                await self._set_state(
                    r, step, "waiting_for_traffic", f"held: {reason}", details, event="waiting"
                )
        elif elapsed >= float(params["step_seconds"]):
            if r.step_index + 1 >= len(steps):
                await self._promote(r, f"every step passed; last step {reason}", details)
            else:
                await self._begin_step(
                    r,
                    r.step_index + 1,
                    "step",
                    f"step {r.step_index + 1} ({steps[r.step_index]}%) passed: {reason}",
                    details,
                )
            return
        elif step.state != "running" or r.state != "running":
            await self._set_state(r, step, "running", reason, details, event=None)
        if time.monotonic() - step.written >= WINDOW_WRITE_S or step.last is None:
            step.written = time.monotonic()
            step.last = metrics
            await self._commit(
                lambda s: write_window(
                    s,
                    r.id,
                    r.step_index,
                    step.started_at,
                    {"versions": metrics, "seconds": round(elapsed, 3), "replicas": by_replica},
                )
            )

    async def _set_state(
        self,
        r: DeployRollout,
        step: _Step,
        state: str,
        reason: str,
        details: dict[str, Any],
        *,
        event: str | None,
    ) -> None:
        expect = r.step_index

        def write(session: Session) -> None:
            from mcp_server.gateway import table

            row = _locked(session, r.id, ACTIVE, expect)
            row.state, row.reason, row.updated_at = state, reason, utcnow()
            if event is not None:  # every event names the replica that led it, as the others do
                table.record_event(
                    session, row.endpoint, event, reason, {**details, "leader": self.replica.id}, row.id
                )

        await self._commit(write)
        step.state = state
        r.state = state


async def run(gateway: Gateway) -> None:
    """The gateway lifespan hook (app.py `_controller_hooks`): drive rollouts until the gateway stops."""
    if gateway.store is None:  # a static routes file (the Docker image): nothing to drive
        return
    await RolloutController(gateway).run()
