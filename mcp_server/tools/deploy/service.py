"""The deploy area's use cases: the gateway process, endpoints on it, predictions through it, packaging,
and rollouts (canary, blue-green, rollback, history).

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary and alike by the CLI, the workflow and tests. The gateway (mcp_server/gateway) is a
separate process: these functions write its routing table in the metadata store and talk to it through
the one gateway client (core/gateway_client.py). The canary itself is driven by the controller inside the
gateway process (gateway/controller.py), which keeps its state in the store. Every move of traffic is one
transaction that records its event and bumps the routing generation; the gateway swaps in the new table
atomically, so no request is dropped. Routes store their ONNX folder home-relative (`home:<path>`).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from mcp_server.core.output import paginate
from mcp_server.core.workspace import check_name
from mcp_server.gateway import controller, manager
from mcp_server.gateway import replicas as gateway_replicas
from mcp_server.gateway import table as routing
from mcp_server.tools.deploy import adapter, packaging
from mcp_server.tools.deploy.models import (
    BuildResult,
    DeleteResult,
    EndpointInfo,
    EndpointPage,
    EndpointResult,
    EndpointStatus,
    GatewayStatus,
    ManifestsResult,
    PredictResult,
    ReplicaTraffic,
    RowPrediction,
    VersionInfo,
    VersionMetrics,
)
from mcp_server.tools.deploy.rollout_models import (
    CanaryLimits,
    CanaryStarted,
    CanaryStatus,
    HistoryEvent,
    HistoryPage,
    ParityRow,
    PrepareResult,
    RolloutDecision,
    WindowMetrics,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.gateway_client import EndpointStats, GatewayClient
    from mcp_server.core.store.models import DeployEndpoint, DeployEvent, DeployRollout, DeployRoute

SYNC_WAIT_S = 10.0  # how long a routing change waits for the running gateway to serve it
LOAD_WAIT_S = 30.0  # how long blue-green prepare waits for the gateway to load the idle slot
REQUEST_S = 30.0  # one predict request through the gateway
MAX_PREDICT_ROWS = 200  # rows per deploy_predict call (the result stays under the size cap)
MAX_STEPS = 20
MAX_SAMPLE_ROWS = 100
SWITCH_KINDS = ("promoted", "switched", "rollback")  # events that moved the endpoint to a new version
NOT_APPLIED = " The gateway is not running; it serves this when started."


# -- shared helpers -----------------------------------------------------------------------------------


def _one_of(first: str | None, second: str | None, names: str) -> None:
    if (first is None) == (second is None):
        raise InvalidInput(f"Give exactly one of {names}.")


def _endpoint_missing(endpoint: str) -> NotFound:
    return NotFound(f"No endpoint named '{endpoint}'; deploy_list shows the endpoints that exist.")


def _endpoint(session: Session, endpoint: str) -> tuple[DeployEndpoint, dict[str, DeployRoute]]:
    """The endpoint row and its routes by version (in creation order); NotFound when there is none."""
    try:
        return controller.load_endpoint(session, endpoint)
    except KeyError:
        raise _endpoint_missing(endpoint) from None


def _gateway(app: AppContext) -> GatewayClient | None:
    """The client of the running gateway; None when it is not running."""
    current = manager.status(app)
    return manager.client(app, current.url) if current.running and current.url else None


def _sync(app: AppContext, control: Control, generation: int) -> tuple[str | None, bool]:
    """(the running gateway's url or None, whether it serves `generation`), after waiting up to SYNC_WAIT_S."""
    gateway = _gateway(app)
    if gateway is None:
        return None, False
    return gateway.url, gateway.wait_for_generation(generation, control.timeout(SYNC_WAIT_S))


def _add_route(
    app: AppContext,
    session: Session,
    ep: DeployEndpoint,
    version: str,
    twin: Any,
    weight: float,
    slot: str | None,
) -> None:
    from mcp_server.core.store.models import DeployRoute

    session.add(
        DeployRoute(
            endpoint_id=ep.id,
            model=ep.model,
            version=version,
            weight=weight,
            slot=slot,
            onnx_dir=app.workspace.stored(twin.path.parent),
            created_at=datetime.now(UTC),
        )
    )


def _deployed(
    app: AppContext, session: Session, model: str, version: str, endpoint: str, **details: Any
) -> None:
    from mcp_server.core.lineage import record_edge

    record_edge(
        app.store,
        f"onnx:{model}/{version}",
        f"endpoint:{endpoint}",
        "deployed_to",
        {"version": version, **details},
        session=session,
    )


def _event(e: DeployEvent) -> dict[str, Any]:
    return {
        "time": e.time.isoformat(),
        "kind": e.kind,
        "rollout_id": e.rollout_id,
        "reason": e.reason,
        "details": json.loads(e.details) if e.details else None,
    }


def serving_versions(app: AppContext, control: Control, model: str) -> set[str]:
    """Versions of `model` that any endpoint routes to (with any weight, including an idle slot): the
    registry refuses to delete or archive those."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRoute

    with app.store.read_session() as session:
        return set(session.scalars(select(DeployRoute.version).where(DeployRoute.model == model)).all())


# -- the gateway process --------------------------------------------------------------------------------


def gateway_start(app: AppContext, control: Control, host: str | None, port: int | None) -> GatewayStatus:
    return manager.start(app, host, port)


def gateway_stop(app: AppContext, control: Control) -> GatewayStatus:
    return manager.stop(app)


def gateway_status(app: AppContext, control: Control) -> GatewayStatus:
    return manager.status(app)


def gateway_probe(app: AppContext) -> tuple[bool, str, str]:
    """The health probe: ok when the gateway answers, or when it was never started and no endpoint needs it."""
    from sqlalchemy import func, select

    from mcp_server.core.store.models import DeployEndpoint

    current = manager.status(app)
    if current.running:
        return True, f"running at {current.url}, generation {current.generation}", ""
    if current.state != "stopped":
        return (
            False,
            current.message,
            "Restart it with deploy_gateway_start; its log is <home>/gateway/gateway.log.",
        )
    with app.store.read_session() as session:
        count = int(session.scalar(select(func.count()).select_from(DeployEndpoint)) or 0)
    if count == 0:
        return True, "not started", ""
    return False, f"not running while {count} endpoint(s) exist", "Start it with deploy_gateway_start."


# -- endpoints ----------------------------------------------------------------------------------------------


def _info(ep: DeployEndpoint, routes: list[DeployRoute], live: EndpointStats | None = None) -> EndpointInfo:
    served = {v.version: v for v in live.versions} if live is not None else {}
    versions = []
    for r in routes:
        lv = served.get(r.version)
        versions.append(
            VersionInfo(
                version=r.version,
                weight=r.weight,
                slot=r.slot,
                onnx=f"onnx:{r.model}/{r.version}",
                loaded=lv.loaded if lv is not None else None,
                load_error=lv.load_error if lv is not None else None,
                metrics=lv.metrics if lv is not None else None,
            )
        )
    return EndpointInfo(
        endpoint=ep.name,
        model=ep.model,
        stable_version=ep.stable_version,
        live_slot=ep.live_slot,
        versions=versions,
        created_at=ep.created_at.isoformat(),
        updated_at=ep.updated_at.isoformat(),
    )


def create_endpoint(
    app: AppContext, control: Control, endpoint: str, model: str, version: str | None, alias: str | None
) -> EndpointResult:
    """Serve a registered model version under an endpoint name (an alias is resolved once, here)."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint

    check_name(endpoint, "endpoint name")
    check_name(model, "model name")
    _one_of(version, alias, "`version` or `alias`")
    resolved, twin = adapter.resolve_twin(app, control, model, version, alias)
    control.step(1, 2, "writing the route")
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        existing = session.scalars(select(DeployEndpoint).where(DeployEndpoint.name == endpoint)).first()
        if existing is not None:
            _ep, routes = _endpoint(session, endpoint)
            if existing.model != model or list(routes) != [resolved]:
                raise Conflict(
                    f"Endpoint '{endpoint}' already exists and serves {existing.model} "
                    f"{', '.join(routes)}; pick another name or deploy_delete_endpoint it first."
                )
            generation = routing.read_generation(session)
        else:
            ep = DeployEndpoint(
                name=endpoint,
                model=model,
                stable_version=resolved,
                live_slot="blue",
                created_at=now,
                updated_at=now,
            )
            session.add(ep)
            session.flush()
            _add_route(app, session, ep, resolved, twin, 100.0, "blue")
            routing.record_event(
                session,
                endpoint,
                "created",
                f"serves {model} version {resolved}" + (f" (alias '{alias}')" if alias else ""),
                {"model": model, "version": resolved, "alias": alias, "weights": {resolved: 100.0}},
            )
            _deployed(app, session, model, resolved, endpoint, alias=alias)
            generation = routing.bump_generation(session)
    url, _served = _sync(app, control, generation)
    return EndpointResult(
        endpoint=endpoint,
        model=model,
        version=resolved,
        resolved_from=alias,
        onnx=f"onnx:{model}/{resolved}",
        created=existing is None,
        gateway="served by the running gateway" if url else "saved; deploy_gateway_start serves it",
        predict_url=f"{url}/v1/endpoints/{endpoint}/predict" if url else None,
    )


def list_endpoints(app: AppContext, control: Control, cursor: str | None, limit: int) -> EndpointPage:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    with app.store.read_session() as session:
        endpoints = list(session.scalars(select(DeployEndpoint).order_by(DeployEndpoint.name)))
        routes: dict[int, list[DeployRoute]] = {}
        for r in session.scalars(select(DeployRoute).order_by(DeployRoute.id)):
            routes.setdefault(r.endpoint_id, []).append(r)
        items = [_info(ep, routes.get(ep.id, [])) for ep in endpoints]
    page = paginate(items, cursor, limit)
    return EndpointPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


def endpoint_status(app: AppContext, control: Control, endpoint: str) -> EndpointStatus:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEvent

    check_name(endpoint, "endpoint name")
    with app.store.read_session() as session:
        ep, routes = _endpoint(session, endpoint)
        recent = [
            _event(e)
            for e in session.scalars(
                select(DeployEvent)
                .where(DeployEvent.endpoint == endpoint)
                .order_by(DeployEvent.id.desc())
                .limit(10)
            )
        ]
        gateway = _gateway(app)
        try:
            live = gateway.stats(endpoint, timeout=control.timeout(5.0)) if gateway is not None else None
        except BackendUnavailable:
            live = None
        live_ep = live.endpoints.get(endpoint) if live is not None else None
        info = _info(ep, list(routes.values()), live_ep)
        replicas, traffic = _replica_traffic(app, session, endpoint)
    if live is None and replicas:
        message = (
            f"{len(replicas)} gateway replica(s) on this store serve it, none of them this home's managed "
            "gateway: traffic per replica and in total below."
        )
    elif live is None:
        message = "The gateway is not running: no live metrics; deploy_gateway_start serves the endpoint."
    elif live_ep is None:
        message = (
            "The running gateway has not loaded this endpoint yet (it picks changes up within a second)."
        )
    else:
        message = "Live metrics are counted since the gateway started."
    return EndpointStatus(
        endpoint=info,
        gateway_running=live is not None,
        generation=live.generation if live is not None else None,
        replicas=replicas,
        traffic=traffic,
        recent_events=recent,
        message=message,
    )


def _replica_traffic(
    app: AppContext, session: Session, endpoint: str
) -> tuple[list[ReplicaTraffic], dict[str, VersionMetrics]]:
    """Every live gateway replica of the store with its published counters of `endpoint`, and their sum."""
    from mcp_server.gateway.metrics import Metrics

    published, leader = gateway_replicas.live(
        session, gateway_replicas.alive_seconds(app.settings), endpoint=endpoint
    )
    replicas = [
        ReplicaTraffic(
            replica=p.id,
            host=p.host,
            pid=p.pid,
            url=p.url,
            leader=p.id == leader,
            generation=p.generation,
            started_at=p.started_at.isoformat(),
            heartbeat_at=p.heartbeat_at.isoformat(),
            traffic={v: VersionMetrics(**stats.summary()) for (_e, v), stats in sorted(p.stats.items())},
        )
        for p in published
    ]
    total = Metrics.total(p.stats for p in published)
    return replicas, {v: VersionMetrics(**stats.summary()) for (_e, v), stats in sorted(total.items())}


def delete_endpoint(app: AppContext, control: Control, endpoint: str) -> DeleteResult:
    check_name(endpoint, "endpoint name")
    with app.store.transaction() as session:
        ep, routes = _endpoint(session, endpoint)
        versions = list(routes)
        for r in routes.values():
            session.delete(r)
        session.flush()
        session.delete(ep)
        routing.record_event(session, endpoint, "deleted", "endpoint deleted", {"versions": versions})
        generation = routing.bump_generation(session)
    url, _served = _sync(app, control, generation)
    return DeleteResult(
        endpoint=endpoint,
        deleted=True,
        versions=versions,
        message="Deleted; the gateway stopped serving it." if url else "Deleted.",
    )


def predict(
    app: AppContext,
    control: Control,
    endpoint: str,
    rows: list[dict[str, Any]],
    version: str | None,
    per_row: bool,
) -> PredictResult:
    """Rows through the running gateway (one request, or one per row to show the traffic split)."""
    check_name(endpoint, "endpoint name")
    if not rows:
        raise InvalidInput("Give at least one row (a list of {feature: value} objects).")
    if len(rows) > MAX_PREDICT_ROWS:
        raise InvalidInput(
            f"{len(rows)} rows is over the {MAX_PREDICT_ROWS} a call takes; split them or POST to the gateway."
        )
    with app.store.read_session() as session:
        _endpoint(session, endpoint)  # NotFound with the usual sentence
        generation = routing.read_generation(session)
    current = manager.ensure(app)
    assert current.url is not None
    gateway = manager.client(app, current.url)
    out: list[RowPrediction] = []
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for batch in [[r] for r in rows] if per_row else [rows]:
        control.check()
        answer = gateway.predict(endpoint, batch, version, timeout=control.timeout(REQUEST_S))
        if answer.status == 404 and "No endpoint named" in answer.error:
            # Created a moment ago: wait until the gateway serves the store's routing generation.
            gateway.wait_for_generation(generation, control.timeout(SYNC_WAIT_S))
            answer = gateway.predict(endpoint, batch, version, timeout=control.timeout(REQUEST_S))
        body = answer.checked()
        for value in body["predictions"]:
            out.append(
                RowPrediction(
                    row=len(out), prediction=value, version=body["version"], latency_ms=body["latency_ms"]
                )
            )
        counts[body["version"]] = counts.get(body["version"], 0) + len(body["predictions"])
    return PredictResult(
        endpoint=endpoint,
        rows=len(rows),
        predictions=out,
        versions=counts,
        round_trip_ms=round((time.perf_counter() - started) * 1000, 3),
    )


# -- packaging ---------------------------------------------------------------------------------------------


def build_image(
    app: AppContext, control: Control, model: str, tag: str, version: str | None, alias: str | None
) -> BuildResult:

    check_name(model, "model name")
    packaging.check_tag(tag)
    _one_of(version, alias, "`version` or `alias`")
    resolved, twin = adapter.resolve_twin(app, control, model, version, alias)
    control.step(1, 2, "building the image")
    return packaging.build_image(app, model, resolved, twin, tag)


def export_manifests(
    app: AppContext, control: Control, endpoint: str, strategy: str, image: str | None, replicas: int
) -> ManifestsResult:

    check_name(endpoint, "endpoint name")
    with app.store.read_session() as session:
        ep, routes = _endpoint(session, endpoint)
        model, stable = ep.model, ep.stable_version
        weights = {v: r.weight for v, r in routes.items()}
    return packaging.export_manifests(app, endpoint, model, stable, weights, image, strategy, replicas)


# -- canary ---------------------------------------------------------------------------------------------------


def _check_target(endpoint: str | None, rollout_id: str | None) -> None:
    _one_of(endpoint, rollout_id, "`endpoint` or `rollout_id`")
    if endpoint is not None:
        check_name(endpoint, "endpoint name")
    if rollout_id is not None:
        check_name(rollout_id, "rollout_id")


def _check_steps(steps: list[float]) -> list[float]:
    if not 1 <= len(steps) <= MAX_STEPS:
        raise InvalidInput(f"Give 1 to {MAX_STEPS} steps (the candidate's traffic percent at each step).")
    if any(not math.isfinite(s) or s <= 0 or s > 100 for s in steps):
        raise InvalidInput("Each step is the candidate's traffic percent: a number above 0 and at most 100.")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput(f"Steps must increase strictly, e.g. [5, 25, 50, 100]; got {steps}.")
    if steps[-1] != 100:
        raise InvalidInput(f"The last step must be 100 (the candidate takes all traffic); got {steps[-1]:g}.")
    return [float(s) for s in steps]


def canary_start(
    app: AppContext,
    control: Control,
    endpoint: str,
    candidate_version: str,
    steps: list[float],
    limits: CanaryLimits,
    client: str | None = None,
    subject: str | None = None,
) -> CanaryStarted:
    """Start a canary of `candidate_version` (converted to ONNX with the parity check when needed); the
    gateway's controller moves the traffic. Returns at once with the rollout's id. `client` and `subject`
    (the OAuth token's sub) are kept on the rollout as who started it."""
    from mcp_server.core.lineage import record_edge
    from mcp_server.core.store.models import DeployRollout

    check_name(endpoint, "endpoint name")
    steps = _check_steps(list(steps))
    if limits.max_wait_seconds < limits.step_seconds:
        raise InvalidInput(
            "max_wait_seconds must be at least step_seconds (a step needs its time to be judged)."
        )
    params = limits.model_dump()
    with app.store.read_session() as session:
        ep, _routes = _endpoint(session, endpoint)
        model, stable = ep.model, ep.stable_version
        busy = controller.active_rollout(session, endpoint)
    if busy is not None:
        raise Conflict(
            f"Endpoint '{endpoint}' already has rollout {busy.id} in state {busy.state}; "
            "finish it with deploy_canary_promote or deploy_canary_abort first."
        )
    version, twin = adapter.resolve_twin(app, control, model, candidate_version, None)
    if version == stable:
        raise InvalidInput(
            f"Version {version} is already the stable version of '{endpoint}'; pick another one."
        )
    control.step(1, 2, "writing the rollout")
    rollout_id = controller.new_rollout_id()
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        ep, routes = _endpoint(session, endpoint)
        if ep.stable_version != stable or controller.active_rollout(session, endpoint) is not None:
            raise Conflict(f"Endpoint '{endpoint}' changed during the call; call deploy_canary_start again.")
        if version not in routes:
            # The candidate's route with weight 0: the gateway loads and warms it before any traffic.
            _add_route(app, session, ep, version, twin, 0.0, None)
        session.add(
            DeployRollout(
                id=rollout_id,
                endpoint=endpoint,
                kind="canary",
                state="starting",
                stable_version=stable,
                candidate_version=version,
                steps=json.dumps(steps),
                step_index=0,
                params=json.dumps(params, sort_keys=True),
                reason="waiting for the gateway to load and warm the candidate",
                client=client[:256] if client else None,
                subject=subject[:256] if subject else None,
                created_at=now,
                updated_at=now,
            )
        )
        routing.record_event(
            session,
            endpoint,
            "canary_started",
            f"canary of version {version} against stable {stable}",
            {"candidate": version, "stable": stable, "steps": steps, "limits": params},
            rollout_id,
        )
        _deployed(app, session, model, version, endpoint, rollout=rollout_id)
        rollout = f"rollout:{rollout_id}"
        record_edge(app.store, f"onnx:{model}/{version}", rollout, "rolled_out", None, session=session)
        record_edge(app.store, rollout, f"endpoint:{endpoint}", "rolled_out_to", None, session=session)
        routing.bump_generation(session)
    running = manager.status(app).running
    others = 0 if running else _live_replicas(app)
    return CanaryStarted(
        rollout_id=rollout_id,
        endpoint=endpoint,
        model=model,
        stable_version=stable,
        candidate_version=version,
        state="starting",
        steps=steps,
        limits=limits,
        gateway_running=running,
        message=(
            "Started: the gateway loads and warms the candidate, then moves traffic step by step; "
            "follow it with deploy_canary_status."
            if running or others
            else "Saved: the gateway is not running, so the rollout starts when deploy_gateway_start runs."
        ),
    )


def _live_replicas(app: AppContext) -> int:
    """How many gateway processes serve this store now (managed by this home or not)."""
    with app.store.read_session() as session:
        published, _leader = gateway_replicas.live(
            session, gateway_replicas.alive_seconds(app.settings), counters=False
        )
    return len(published)


def _find_rollout(session: Session, endpoint: str | None, rollout_id: str | None) -> DeployRollout:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRollout

    if rollout_id is not None:
        row = session.get(DeployRollout, rollout_id)
        if row is None or row.kind != "canary":
            raise NotFound(
                f"No canary rollout with id '{rollout_id}'; deploy_history lists an endpoint's rollouts."
            )
        return row
    assert endpoint is not None
    row = session.scalars(
        select(DeployRollout)
        .where(DeployRollout.endpoint == endpoint, DeployRollout.kind == "canary")
        .order_by(DeployRollout.created_at.desc())
    ).first()
    if row is None:
        _endpoint(session, endpoint)  # NotFound for an unknown endpoint
        raise NotFound(f"Endpoint '{endpoint}' has had no canary rollout; deploy_canary_start starts one.")
    return row


def canary_status(
    app: AppContext, control: Control, endpoint: str | None, rollout_id: str | None
) -> CanaryStatus:
    from mcp_server.core.store.models import DeployRolloutWindow

    _check_target(endpoint, rollout_id)
    with app.store.read_session() as session:
        r = _find_rollout(session, endpoint, rollout_id)
        try:
            _ep, routes = _endpoint(session, r.endpoint)
            weights = {v: route.weight for v, route in routes.items()}
        except NotFound:
            weights = {}
        win = session.get(DeployRolloutWindow, r.id)
    steps = [float(s) for s in json.loads(r.steps)]
    params = json.loads(r.params)
    window: dict[str, WindowMetrics] = {}
    by_replica: dict[str, dict[str, WindowMetrics]] = {}
    seconds = None
    if win is not None and win.step_index == r.step_index:
        data = json.loads(win.metrics)
        window = {v: WindowMetrics(**m) for v, m in data.get("versions", {}).items()}
        by_replica = {
            rid: {v: WindowMetrics(**m) for v, m in versions.items()}
            for rid, versions in (data.get("replicas") or {}).items()
        }
        seconds = data.get("seconds")
    running = manager.status(app).running
    others = 0 if running or r.state not in controller.ACTIVE else _live_replicas(app)
    if others:
        message = (
            f"Driven by the gateway replicas on this store ({others} live; this home's managed gateway is not "
            "running); the window adds up every replica's traffic."
        )
    elif r.state in controller.ACTIVE and not running:
        message = "The gateway is not running: the rollout resumes from its stored step when it starts."
    elif r.state == "waiting_for_traffic":
        message = (
            f"Waiting for traffic: the step is judged once {params['min_requests']} requests reach the candidate; "
            f"it fails after {params['max_wait_seconds']:g}s without them."
        )
    elif r.state == "starting":
        message = "The gateway is loading and warming the candidate; no traffic has moved yet."
    elif r.state == "running":
        message = "Judging the current step on its own window; a crossed limit rolls back at once."
    else:
        message = f"Finished: {r.state}."
    return CanaryStatus(
        rollout_id=r.id,
        endpoint=r.endpoint,
        state=r.state,  # type: ignore[arg-type]
        stable_version=r.stable_version,
        candidate_version=r.candidate_version,
        steps=steps,
        step=r.step_index + 1,
        candidate_weight=steps[r.step_index] if r.state != "starting" else 0.0,
        weights=weights,
        window=window,
        window_by_replica=by_replica,
        window_seconds=seconds,
        window_updated_at=win.updated_at.isoformat() if win is not None else None,
        reason=r.reason,
        limits=CanaryLimits.model_validate(params),
        created_at=r.created_at.isoformat(),
        updated_at=r.updated_at.isoformat(),
        finished_at=r.finished_at.isoformat() if r.finished_at else None,
        client=r.client,
        subject=r.subject,
        gateway_running=running,
        message=message,
    )


def _decided(app: AppContext, control: Control, message: str, **decision: Any) -> RolloutDecision:
    """The result of a move of traffic, once the running gateway serves it (or said it does not run)."""
    _url, applied = _sync(app, control, decision["generation"])
    return RolloutDecision(
        gateway_applied=applied, message=message + ("" if applied else NOT_APPLIED), **decision
    )


def canary_finish(
    app: AppContext,
    control: Control,
    endpoint: str | None,
    rollout_id: str | None,
    action: Literal["promote", "abort"],
    reason: str | None,
) -> RolloutDecision:
    """Promote or abort a canary in progress, named by its endpoint or its id (one transaction)."""
    _check_target(endpoint, rollout_id)
    with app.store.transaction() as session:
        if rollout_id is not None:
            found = _find_rollout(session, None, rollout_id)
            if found.state not in controller.ACTIVE:
                raise Conflict(
                    f"Rollout {rollout_id} is already {found.state}; deploy_canary_status shows why."
                )
            endpoint = found.endpoint
        else:
            assert endpoint is not None
            _endpoint(session, endpoint)
            active = controller.active_rollout(session, endpoint)
            if active is None:
                raise Conflict(
                    f"Endpoint '{endpoint}' has no canary in progress; deploy_canary_status shows the last one."
                )
            found = active
        r = controller.lock_rollout(session, found.id)
        if r is None or r.state not in controller.ACTIVE:
            raise Conflict(f"Rollout {found.id} finished during the call; deploy_canary_status shows how.")
        if action == "promote":
            why = reason or f"promoted by hand at step {r.step_index + 1}"
            controller.promote(session, r, why)
            version, previous = r.candidate_version, r.stable_version
        else:
            why = reason or f"aborted by hand at step {r.step_index + 1}"
            controller.finish_to_stable(session, r, "aborted", why)
            version, previous = r.stable_version, r.candidate_version
        ep, routes = _endpoint(session, endpoint)
        decision = dict(
            rollout_id=r.id,
            endpoint=endpoint,
            state=r.state,
            version=version,
            previous_version=previous,
            weights={v: route.weight for v, route in routes.items()},
            live_slot=ep.live_slot,
            generation=routing.read_generation(session),
            reason=why,
        )
    return _decided(app, control, f"Version {version} takes all traffic on '{endpoint}'.", **decision)


# -- blue-green -----------------------------------------------------------------------------------------------


def _idle(live_slot: str | None) -> str:
    return "green" if live_slot == "blue" else "blue"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) or isinstance(y, float):
        try:
            return math.isclose(float(x), float(y), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return bool(x == y)


def blue_green_prepare(
    app: AppContext,
    control: Control,
    endpoint: str,
    version: str,
    rows: list[dict[str, Any]] | None,
    min_agreement: float | None,
) -> PrepareResult:
    """Load a version into the idle slot with no traffic, then check its health and parity with the live slot."""

    check_name(endpoint, "endpoint name")
    if rows is not None and not 1 <= len(rows) <= MAX_SAMPLE_ROWS:
        raise InvalidInput(f"Give 1 to {MAX_SAMPLE_ROWS} sample rows, or omit `rows`.")
    gateway = _gateway(app)
    if gateway is None:
        raise Conflict(
            "The gateway is not running: prepare loads and checks the version in it; start it with deploy_gateway_start."
        )
    with app.store.read_session() as session:
        ep, _routes = _endpoint(session, endpoint)
        model = ep.model
        if controller.active_rollout(session, endpoint) is not None:
            raise Conflict(f"Endpoint '{endpoint}' has a canary in progress; finish or abort it first.")
    resolved, twin = adapter.resolve_twin(app, control, model, version, None)
    control.step(1, 3, "loading the idle slot")
    with app.store.transaction() as session:
        ep, routes = _endpoint(session, endpoint)
        live_slot = ep.live_slot or "blue"
        if ep.live_slot is None:  # an endpoint without slots: its stable version becomes the live slot
            ep.live_slot = live_slot
            if ep.stable_version in routes:
                routes[ep.stable_version].slot = live_slot
        live_version = ep.stable_version
        if resolved == live_version:
            raise InvalidInput(
                f"Version {resolved} is already live on '{endpoint}'; prepare another version."
            )
        idle = _idle(live_slot)
        for route in routes.values():
            if route.slot == idle and route.version != resolved:
                if route.weight > 0:
                    raise Conflict(
                        f"The idle slot of '{endpoint}' still takes traffic; deploy_status shows the weights."
                    )
                session.delete(route)  # the idle slot held an older version: replace it
        kept = routes.get(resolved)
        if kept is None:
            _add_route(app, session, ep, resolved, twin, 0.0, idle)
        else:
            kept.slot = idle
        live_dir = (
            app.workspace.from_stored(routes[live_version].onnx_dir)
            if live_version in routes
            else twin.path.parent
        )
        routing.record_event(
            session,
            endpoint,
            "prepared",
            f"version {resolved} loaded into the idle {idle} slot",
            {"version": resolved, "slot": idle, "live_slot": live_slot, "live_version": live_version},
        )
        _deployed(app, session, model, resolved, endpoint, slot=idle)
        generation = routing.bump_generation(session)
    gateway.wait_for_generation(generation, control.timeout(SYNC_WAIT_S))
    info = gateway.wait_for_load(endpoint, resolved, control.timeout(LOAD_WAIT_S))
    healthz = gateway.health(timeout=control.timeout(10.0)) is not None
    failed = PrepareResult(
        endpoint=endpoint,
        version=resolved,
        slot=idle,
        live_slot=live_slot,
        live_version=live_version,
        loaded=False,
        healthz=healthz,
        warm_ms=None,
        parity_rows=0,
        agreement=0.0,
        output_types_match=False,
        ready=False,
        message="",
    )
    if info is None or not info.loaded:
        why = (info.load_error if info is not None else None) or "timed out"
        message = f"The gateway could not load version {resolved}: {why}; the live slot is untouched."
        return failed.model_copy(update={"message": message})
    control.step(2, 3, "checking parity with the live slot")
    sample = rows if rows is not None else adapter.sample_rows(live_dir)
    started = time.perf_counter()
    cand = gateway.predict(endpoint, sample, resolved, timeout=control.timeout(10.0))
    warm_ms = round((time.perf_counter() - started) * 1000, 3)
    live = gateway.predict(endpoint, sample, live_version, timeout=control.timeout(10.0))
    if not live.ok:
        raise InvalidInput(
            f"The live slot could not answer the sample rows ({live.error}); "
            "give `rows` with the model's feature columns."
        )
    if not cand.ok:
        message = f"Version {resolved} failed on the sample rows the live slot answers ({cand.error}); do not switch."
        return failed.model_copy(
            update={"loaded": True, "warm_ms": warm_ms, "parity_rows": len(sample), "message": message}
        )
    a, b = live.checked()["predictions"], cand.checked()["predictions"]
    pairs = [
        ParityRow(row=i, live=x, candidate=y, same=_same(x, y))
        for i, (x, y) in enumerate(zip(a, b, strict=True))
    ]
    agreement = sum(p.same for p in pairs) / len(pairs)
    types_match = len(a) == len(b) and all(_kind(x) == _kind(y) for x, y in zip(a, b, strict=True))
    ready = healthz and types_match and (min_agreement is None or agreement >= min_agreement)
    pairs.sort(key=lambda p: p.same)
    if ready:
        message = (
            f"Version {resolved} is loaded and warm in the {idle} slot and answers like the live slot "
            f"({agreement:.0%} identical outputs); deploy_blue_green_switch moves traffic to it."
        )
    elif not types_match:
        message = (
            f"Version {resolved} answers with outputs of another type than the live slot; do not switch."
        )
    elif not healthz:
        message = "The gateway's /healthz did not answer; do not switch."
    else:
        message = f"Only {agreement:.0%} of sample outputs agree with the live slot, below min_agreement; do not switch."
    return failed.model_copy(
        update={
            "loaded": True,
            "warm_ms": warm_ms,
            "parity_rows": len(pairs),
            "agreement": round(agreement, 6),
            "output_types_match": types_match,
            "samples": pairs[:10],
            "ready": ready,
            "message": message,
        }
    )


def _loaded_in_gateway(
    app: AppContext, control: Control, endpoint: str, version: str
) -> tuple[bool | None, str | None]:
    """(loaded, load error) of a routed version in the running gateway; (None, None) when it is not running."""
    gateway = _gateway(app)
    if gateway is None:
        return None, None
    try:
        live = gateway.stats(endpoint, timeout=control.timeout(5.0)).endpoints.get(endpoint)
    except BackendUnavailable:
        return None, None
    if live is None:
        return None, None
    info = next((v for v in live.versions if v.version == version), None)
    return (info.loaded, info.load_error) if info is not None else (False, None)


def blue_green_switch(
    app: AppContext, control: Control, endpoint: str, reason: str | None
) -> RolloutDecision:
    """All traffic to the prepared idle slot in one atomic step; the previous slot stays loaded."""
    return _move(app, control, endpoint, "switched", "idle", reason)


def rollback(app: AppContext, control: Control, endpoint: str, reason: str | None) -> RolloutDecision:
    """All traffic back to the last stable version or slot (a canary in progress is rolled back)."""
    return _move(app, control, endpoint, "rollback", "previous", reason)


def _previous(
    session: Session, endpoint: str, current: str, routes: dict[str, DeployRoute]
) -> DeployRoute | None:
    """The version the endpoint moved to `current` from, when its route is still there."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEvent

    events = session.scalars(
        select(DeployEvent)
        .where(DeployEvent.endpoint == endpoint, DeployEvent.kind.in_(SWITCH_KINDS))
        .order_by(DeployEvent.id.desc())
    )
    for event in events:
        details = json.loads(event.details or "{}")
        if details.get("version") == current and details.get("previous_version") in routes:
            return routes[details["previous_version"]]
    return None


def _move(
    app: AppContext, control: Control, endpoint: str, kind: str, pick: str, reason: str | None
) -> RolloutDecision:
    """Switch to the idle slot (`pick` = 'idle') or back to the previous version (`pick` = 'previous')."""
    check_name(endpoint, "endpoint name")
    with app.store.transaction() as session:
        ep, routes = _endpoint(session, endpoint)
        busy = controller.active_rollout(session, endpoint)
        if busy is not None:
            if pick != "previous":
                raise Conflict(f"Endpoint '{endpoint}' has a canary in progress; finish or abort it first.")
            r = controller.lock_rollout(session, busy.id)
            assert r is not None
            why = reason or "rolled back by hand"
            controller.finish_to_stable(session, r, "rolled_back", why)
            ep, routes = _endpoint(session, endpoint)
            rid, state, version, current = r.id, "rolled_back", r.stable_version, r.candidate_version
            weights = {v: x.weight for v, x in routes.items()}
        else:
            rid, state, current = None, kind, ep.stable_version
            target: DeployRoute | None
            if pick == "idle":
                idle = _idle(ep.live_slot)
                target = next((r for r in routes.values() if r.slot == idle), None)
                if target is None:
                    raise Conflict(
                        f"The idle {idle} slot of '{endpoint}' holds no version; deploy_blue_green_prepare loads one."
                    )
                why = reason or f"switched from the {ep.live_slot} slot to the {idle} slot"
            else:
                target = _previous(session, endpoint, current, routes)
                if target is None:
                    raise Conflict(
                        f"Endpoint '{endpoint}' has no earlier version still loaded to roll back to "
                        "(deploy_history shows its moves); registry_rollback moves a model alias instead."
                    )
                why = reason or f"rolled back by hand from version {current} to {target.version}"
            version = target.version
            loaded, load_error = _loaded_in_gateway(app, control, endpoint, version)
            if loaded is False:
                raise Conflict(
                    f"Version {version} is not loaded in the running gateway"
                    + (f" ({load_error[:150]})" if load_error else "")
                    + "; nothing was switched (deploy_status shows the loaded versions)."
                )
            weights = controller.apply_weights(session, endpoint, {version: 100.0})
            previous_slot = ep.live_slot
            if target.slot is not None:
                ep.live_slot = target.slot
            elif previous_slot is not None and current in routes:
                # A version without a slot becomes live in the slot the current one does not hold.
                routes[current].slot = previous_slot
                target.slot = _idle(previous_slot)
                ep.live_slot = target.slot
            ep.stable_version = version
            ep.updated_at = controller.utcnow()
            routing.record_event(
                session,
                endpoint,
                kind,
                why,
                {
                    "weights": weights,
                    "version": version,
                    "previous_version": current,
                    "from_slot": previous_slot,
                    "to_slot": ep.live_slot,
                },
            )
        decision = dict(
            rollout_id=rid,
            endpoint=endpoint,
            state=state,
            version=version,
            previous_version=current,
            weights=weights,
            live_slot=ep.live_slot,
            generation=routing.read_generation(session),
            reason=why,
        )
    return _decided(
        app,
        control,
        f"Version {version} takes all traffic on '{endpoint}'; version {current} stays loaded for an "
        "instant switch back.",
        **decision,
    )


# -- history ----------------------------------------------------------------------------------------------------


def history(
    app: AppContext, control: Control, endpoint: str, rollout_id: str | None, cursor: str | None, limit: int
) -> HistoryPage:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployEvent, DeployRollout

    check_name(endpoint, "endpoint name")
    if rollout_id is not None:
        check_name(rollout_id, "rollout_id")
    with app.store.read_session() as session:
        stmt = (
            select(DeployEvent, DeployRollout.client, DeployRollout.subject)
            .outerjoin(DeployRollout, DeployRollout.id == DeployEvent.rollout_id)
            .where(DeployEvent.endpoint == endpoint)
        )
        if rollout_id is not None:
            stmt = stmt.where(DeployEvent.rollout_id == rollout_id)
        # A rollout's events name who started the rollout (the gateway's controller writes most of them).
        events = [
            HistoryEvent(id=e.id, **_event(e), started_by_client=client, started_by_subject=subject)
            for e, client, subject in session.execute(stmt.order_by(DeployEvent.id.desc()))
        ]
        if (
            not events
            and session.scalars(select(DeployEndpoint.id).where(DeployEndpoint.name == endpoint)).first()
            is None
        ):
            raise _endpoint_missing(endpoint)
    page = paginate(events, cursor, limit)
    return HistoryPage(endpoint=endpoint, items=page.items, total=page.total, next_cursor=page.next_cursor)
