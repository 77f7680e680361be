"""The deploy area's rollout tools: canary (start, status, promote, abort), blue-green (prepare, switch),
rollback and the endpoint's history.

The tools only write the store and ask the gateway over HTTP; the canary itself is driven by the
controller inside the gateway process (mcp_server/gateway/controller.py), which keeps its state in the
store. Every move of traffic is one transaction that records its event and bumps the routing generation;
the gateway swaps in the new table atomically, so no request is dropped.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import Ctx, app_context
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.workspace import check_name
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

    from mcp_server.core.context import AppContext
    from mcp_server.core.registry import ToolSpec
    from mcp_server.core.store.models import DeployEndpoint, DeployRollout, DeployRoute

Endpoint = Annotated[str, Field(description="The endpoint's name (letters, digits, '.', '_', '-').")]
MAX_STEPS = 20
MAX_SAMPLE_ROWS = 100
PREPARE_DEADLINE_S = 120.0
SWITCH_KINDS = ("promoted", "switched", "rollback")  # events that moved the endpoint to a new version


def _endpoint_missing(endpoint: str) -> NotFound:
    return NotFound(f"No endpoint named '{endpoint}'; deploy_list shows the endpoints that exist.")


def _load(session: Session, endpoint: str) -> tuple[DeployEndpoint, dict[str, DeployRoute]]:
    from mcp_server.gateway.controller import load_endpoint

    try:
        return load_endpoint(session, endpoint)
    except KeyError:
        raise _endpoint_missing(endpoint) from None


def _gateway_running(app: AppContext) -> bool:
    from mcp_server.gateway import manager

    return manager.status(app).running


def _applied(app: AppContext, generation: int) -> bool:
    from mcp_server.tools.deploy.adapter import wait_for_generation

    running, _url = wait_for_generation(app, generation)
    if not running:
        return False
    from mcp_server.gateway import manager

    current = manager.status(app)
    return bool(current.running and (current.generation or -1) >= generation)


def _limits(params: dict[str, Any]) -> CanaryLimits:
    return CanaryLimits.model_validate({k: params.get(k) for k in CanaryLimits.model_fields})


# -- canary ---------------------------------------------------------------------------------------


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


def _start_canary(
    app: AppContext, endpoint: str, candidate: str, steps: list[float], params: dict[str, Any]
) -> CanaryStarted:
    from datetime import UTC, datetime

    from mcp_server.core.lineage import record_edge
    from mcp_server.core.store.models import DeployRollout, DeployRoute
    from mcp_server.gateway import table
    from mcp_server.gateway.controller import active_rollout, new_rollout_id
    from mcp_server.tools.deploy.adapter import resolve_twin

    with app.store.read_session() as session:
        ep, routes = _load(session, endpoint)
        model, stable = ep.model, ep.stable_version
        busy = active_rollout(session, endpoint)
    if busy is not None:
        raise Conflict(
            f"Endpoint '{endpoint}' already has rollout {busy.id} in state {busy.state}; "
            "finish it with deploy_canary_promote or deploy_canary_abort first."
        )
    version, twin = resolve_twin(app, model, candidate, None)  # converted with the parity check if needed
    if version == stable:
        raise InvalidInput(
            f"Version {version} is already the stable version of '{endpoint}'; pick another one."
        )
    rollout_id = new_rollout_id()
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        ep, routes = _load(session, endpoint)
        if ep.stable_version != stable or active_rollout(session, endpoint) is not None:
            raise Conflict(f"Endpoint '{endpoint}' changed during the call; call deploy_canary_start again.")
        if version not in routes:
            # The candidate's route with weight 0: the gateway loads and warms it before any traffic.
            session.add(
                DeployRoute(
                    endpoint_id=ep.id,
                    model=model,
                    version=version,
                    weight=0.0,
                    slot=None,
                    onnx_dir=str(twin.path.parent),
                    created_at=now,
                )
            )
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
                created_at=now,
                updated_at=now,
            )
        )
        table.record_event(
            session,
            endpoint,
            "canary_started",
            f"canary of version {version} against stable {stable}",
            {"candidate": version, "stable": stable, "steps": steps, "limits": params},
            rollout_id,
        )
        record_edge(
            app.store,
            f"onnx:{model}/{version}",
            f"endpoint:{endpoint}",
            "deployed_to",
            {"version": version, "rollout": rollout_id},
            session=session,
        )
        record_edge(
            app.store, f"onnx:{model}/{version}", f"rollout:{rollout_id}", "rolled_out", None, session=session
        )
        record_edge(
            app.store, f"rollout:{rollout_id}", f"endpoint:{endpoint}", "rolled_out_to", None, session=session
        )
        table.bump_generation(session)
    running = _gateway_running(app)
    return CanaryStarted(
        rollout_id=rollout_id,
        endpoint=endpoint,
        model=model,
        stable_version=stable,
        candidate_version=version,
        state="starting",
        steps=steps,
        limits=_limits(params),
        gateway_running=running,
        message=(
            "Started: the gateway loads and warms the candidate, then moves traffic step by step; "
            "follow it with deploy_canary_status."
            if running
            else "Saved: the gateway is not running, so the rollout starts when deploy_gateway_start runs."
        ),
    )


def _find_rollout(session: Session, endpoint: str | None, rollout_id: str | None) -> DeployRollout:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRollout

    if (endpoint is None) == (rollout_id is None):
        raise InvalidInput("Give exactly one of `endpoint` or `rollout_id`.")
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
        _load(session, endpoint)  # NotFound for an unknown endpoint
        raise NotFound(f"Endpoint '{endpoint}' has had no canary rollout; deploy_canary_start starts one.")
    return row


def _canary_status(app: AppContext, endpoint: str | None, rollout_id: str | None) -> CanaryStatus:
    from mcp_server.core.store.models import DeployRolloutWindow

    with app.store.read_session() as session:
        r = _find_rollout(session, endpoint, rollout_id)
        try:
            _ep, routes = _load(session, r.endpoint)
            weights = {v: route.weight for v, route in routes.items()}
        except NotFound:
            weights = {}
        win = session.get(DeployRolloutWindow, r.id)
    steps = [float(s) for s in json.loads(r.steps)]
    params = json.loads(r.params)
    window: dict[str, WindowMetrics] = {}
    seconds = None
    if win is not None and win.step_index == r.step_index:
        data = json.loads(win.metrics)
        window = {v: WindowMetrics(**m) for v, m in data.get("versions", {}).items()}
        seconds = data.get("seconds")
    running = _gateway_running(app)
    if r.state in ("starting", "waiting_for_traffic", "running") and not running:
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
        window_seconds=seconds,
        window_updated_at=win.updated_at.isoformat() if win is not None else None,
        reason=r.reason,
        limits=_limits(params),
        created_at=r.created_at.isoformat(),
        updated_at=r.updated_at.isoformat(),
        finished_at=r.finished_at.isoformat() if r.finished_at else None,
        gateway_running=running,
        message=message,
    )


def _finish(
    app: AppContext, endpoint: str | None, rollout_id: str | None, action: str, reason: str | None
) -> RolloutDecision:
    """Promote or abort a canary in progress, named by its endpoint or its id (one transaction)."""
    from mcp_server.gateway import table
    from mcp_server.gateway.controller import ACTIVE, active_rollout, finish_to_stable, lock_rollout, promote

    if (endpoint is None) == (rollout_id is None):
        raise InvalidInput("Give exactly one of `endpoint` or `rollout_id`.")
    with app.store.transaction() as session:
        if rollout_id is not None:
            found = _find_rollout(session, None, rollout_id)
            if found.state not in ACTIVE:
                raise Conflict(
                    f"Rollout {rollout_id} is already {found.state}; deploy_canary_status shows why."
                )
            endpoint = found.endpoint
        else:
            assert endpoint is not None
            _load(session, endpoint)
            active = active_rollout(session, endpoint)
            if active is None:
                raise Conflict(
                    f"Endpoint '{endpoint}' has no canary in progress; deploy_canary_status shows the last one."
                )
            found = active
        r = lock_rollout(session, found.id)
        if r is None or r.state not in ACTIVE:
            raise Conflict(f"Rollout {found.id} finished during the call; deploy_canary_status shows how.")
        if action == "promote":
            why = reason or f"promoted by hand at step {r.step_index + 1}"
            promote(session, r, why)
            version, previous = r.candidate_version, r.stable_version
        else:
            why = reason or f"aborted by hand at step {r.step_index + 1}"
            finish_to_stable(session, r, "aborted", why)
            version, previous = r.stable_version, r.candidate_version
        ep, routes = _load(session, endpoint)
        weights = {v: route.weight for v, route in routes.items()}
        generation = table.read_generation(session)
        state, rid, live_slot = r.state, r.id, ep.live_slot
    applied = _applied(app, generation)
    return RolloutDecision(
        rollout_id=rid,
        endpoint=endpoint,
        state=state,
        version=version,
        previous_version=previous,
        weights=weights,
        live_slot=live_slot,
        generation=generation,
        gateway_applied=applied,
        reason=why,
        message=(
            f"Version {version} takes all traffic on '{endpoint}'."
            + ("" if applied else " The gateway is not running; it serves this when started.")
        ),
    )


# -- blue-green -------------------------------------------------------------------------------------


def _sample_rows(onnx_dir: str, count: int = 8) -> list[dict[str, Any]]:
    """Deterministic sample rows from the twin's input spec (numbers on a small grid, text '')."""
    from pathlib import Path

    from mcp_server.tools.onnx.runtime import load_twin

    twin = load_twin(Path(onnx_dir))
    dtypes: dict[str, str] = {}
    for spec in twin.spec.get("inputs", []):
        for col in spec.get("columns", []):
            dtypes[col] = spec.get("dtype", "float32")
    grid = [0.0, 1.0, -1.0, 0.5, 2.0, 10.0, -3.5, 100.0]
    rows = []
    for i in range(count):
        row: dict[str, Any] = {}
        for j, col in enumerate(twin.columns):
            dtype = dtypes.get(col, "float32")
            if dtype == "string":
                row[col] = ""
            elif dtype == "int64":
                row[col] = int(grid[(i + j) % len(grid)])
            else:
                row[col] = grid[(i + j) % len(grid)]
        rows.append(row)
    return rows


def _idle(live_slot: str | None) -> str:
    return "green" if live_slot == "blue" else "blue"


def _prepare(
    app: AppContext,
    endpoint: str,
    version: str,
    rows: list[dict[str, Any]] | None,
    min_agreement: float | None,
) -> PrepareResult:
    from datetime import UTC, datetime

    import httpx

    from mcp_server.core.lineage import record_edge
    from mcp_server.core.store.models import DeployRoute
    from mcp_server.gateway import manager, table
    from mcp_server.gateway.controller import active_rollout
    from mcp_server.tools.deploy.adapter import resolve_twin, wait_for_generation

    current = manager.status(app)
    if not current.running:
        raise Conflict(
            "The gateway is not running: prepare loads and checks the version in it; start it with deploy_gateway_start."
        )
    with app.store.read_session() as session:
        ep, _routes = _load(session, endpoint)
        model = ep.model
        if active_rollout(session, endpoint) is not None:
            raise Conflict(f"Endpoint '{endpoint}' has a canary in progress; finish or abort it first.")
    resolved, twin = resolve_twin(app, model, version, None)
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        ep, routes = _load(session, endpoint)
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
            session.add(
                DeployRoute(
                    endpoint_id=ep.id,
                    model=model,
                    version=resolved,
                    weight=0.0,
                    slot=idle,
                    onnx_dir=str(twin.path.parent),
                    created_at=now,
                )
            )
        else:
            kept.slot = idle
        live_dir = routes[live_version].onnx_dir if live_version in routes else str(twin.path.parent)
        table.record_event(
            session,
            endpoint,
            "prepared",
            f"version {resolved} loaded into the idle {idle} slot",
            {"version": resolved, "slot": idle, "live_slot": live_slot, "live_version": live_version},
        )
        record_edge(
            app.store,
            f"onnx:{model}/{resolved}",
            f"endpoint:{endpoint}",
            "deployed_to",
            {"version": resolved, "slot": idle},
            session=session,
        )
        generation = table.bump_generation(session)
    wait_for_generation(app, generation)
    headers = manager.headers(app)
    base = f"{current.url}"
    loaded, load_error = False, None
    deadline = time.monotonic() + 30.0
    with httpx.Client(headers=headers, timeout=10.0) as client:
        while time.monotonic() < deadline:
            try:
                stats = client.get(f"{base}/v1/stats", params={"endpoint": endpoint}).json()
                info = {v["version"]: v for v in stats["endpoints"][endpoint]["versions"]}.get(resolved)
            except (httpx.HTTPError, ValueError, KeyError):
                info = None
            if info is not None and (info.get("loaded") or info.get("load_error")):
                loaded, load_error = bool(info.get("loaded")), info.get("load_error")
                break
            time.sleep(0.1)
        try:
            healthz = client.get(f"{base}/healthz").status_code == 200
        except httpx.HTTPError:
            healthz = False
        if not loaded:
            return PrepareResult(
                endpoint=endpoint,
                version=resolved,
                slot=idle,
                live_slot=live_slot,
                live_version=live_version,
                loaded=False,
                warm_ms=None,
                healthz=healthz,
                parity_rows=0,
                agreement=0.0,
                output_types_match=False,
                ready=False,
                message=f"The gateway could not load version {resolved}: {load_error or 'timed out'}; the live slot is untouched.",
            )
        sample = rows if rows is not None else _sample_rows(live_dir)
        url = f"{base}/v1/endpoints/{endpoint}/predict"
        started = time.perf_counter()
        cand = client.post(url, json={"rows": sample}, params={"version": resolved})
        warm_ms = (time.perf_counter() - started) * 1000
        live = client.post(url, json={"rows": sample}, params={"version": live_version})
    if live.status_code != 200:
        raise InvalidInput(
            f"The live slot could not answer the sample rows ({live.json().get('error', live.status_code)}); "
            "give `rows` with the model's feature columns."
        )
    if cand.status_code != 200:
        error = cand.json().get("error", f"HTTP {cand.status_code}")
        return PrepareResult(
            endpoint=endpoint,
            version=resolved,
            slot=idle,
            live_slot=live_slot,
            live_version=live_version,
            loaded=True,
            healthz=healthz,
            warm_ms=round(warm_ms, 3),
            parity_rows=len(sample),
            agreement=0.0,
            output_types_match=False,
            ready=False,
            message=f"Version {resolved} failed on the sample rows the live slot answers ({error}); do not switch.",
        )
    a, b = live.json()["predictions"], cand.json()["predictions"]
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
    return PrepareResult(
        endpoint=endpoint,
        version=resolved,
        slot=idle,
        live_slot=live_slot,
        live_version=live_version,
        loaded=True,
        healthz=healthz,
        warm_ms=round(warm_ms, 3),
        parity_rows=len(pairs),
        agreement=round(agreement, 6),
        output_types_match=types_match,
        samples=pairs[:10],
        ready=ready,
        message=message,
    )


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


def _loaded_in_gateway(app: AppContext, endpoint: str, version: str) -> tuple[bool | None, str | None]:
    """(loaded, load error) of a routed version in the running gateway; (None, None) when it is not running."""
    import httpx

    from mcp_server.gateway import manager

    current = manager.status(app)
    if not current.running:
        return None, None
    try:
        stats = httpx.get(
            f"{current.url}/v1/stats",
            params={"endpoint": endpoint},
            headers=manager.headers(app),
            timeout=5.0,
        ).json()
        info = {v["version"]: v for v in stats["endpoints"][endpoint]["versions"]}.get(version)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None, None
    if info is None:
        return False, None
    return bool(info.get("loaded")), info.get("load_error")


def _move(
    app: AppContext,
    endpoint: str,
    kind: str,
    pick: str,
    reason: str | None,
) -> RolloutDecision:
    """Switch to the idle slot (`pick` = 'idle') or back to the previous version (`pick` = 'previous')."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEvent
    from mcp_server.gateway import table
    from mcp_server.gateway.controller import active_rollout, apply_weights, finish_to_stable, lock_rollout

    rid = None
    with app.store.transaction() as session:
        ep, routes = _load(session, endpoint)
        busy = active_rollout(session, endpoint)
        if busy is not None:
            if pick != "previous":
                raise Conflict(f"Endpoint '{endpoint}' has a canary in progress; finish or abort it first.")
            r = lock_rollout(session, busy.id)
            assert r is not None
            why = reason or "rolled back by hand"
            finish_to_stable(session, r, "rolled_back", why)
            ep, routes = _load(session, endpoint)
            generation = table.read_generation(session)
            decision = dict(
                rollout_id=r.id,
                state="rolled_back",
                version=r.stable_version,
                previous_version=r.candidate_version,
                weights={v: x.weight for v, x in routes.items()},
                live_slot=ep.live_slot,
                generation=generation,
                reason=why,
            )
        else:
            current = ep.stable_version
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
                events = session.scalars(
                    select(DeployEvent)
                    .where(DeployEvent.endpoint == endpoint, DeployEvent.kind.in_(SWITCH_KINDS))
                    .order_by(DeployEvent.id.desc())
                )
                target = None
                for event in events:
                    details = json.loads(event.details or "{}")
                    if details.get("version") == current and details.get("previous_version") in routes:
                        target = routes[details["previous_version"]]
                        break
                if target is None:
                    raise Conflict(
                        f"Endpoint '{endpoint}' has no earlier version still loaded to roll back to "
                        "(deploy_history shows its moves); registry_rollback moves a model alias instead."
                    )
                why = reason or f"rolled back by hand from version {current} to {target.version}"
            loaded, load_error = _loaded_in_gateway(app, endpoint, target.version)
            if loaded is False:
                raise Conflict(
                    f"Version {target.version} is not loaded in the running gateway"
                    + (f" ({load_error[:150]})" if load_error else "")
                    + "; nothing was switched (deploy_status shows the loaded versions)."
                )
            weights = apply_weights(session, endpoint, {target.version: 100.0})
            previous_slot = ep.live_slot
            if target.slot is not None:
                ep.live_slot = target.slot
            elif previous_slot is not None and current in routes:
                # A version without a slot becomes live in the slot the current one does not hold.
                routes[current].slot = previous_slot
                target.slot = _idle(previous_slot)
                ep.live_slot = target.slot
            ep.stable_version = target.version
            from mcp_server.gateway.controller import utcnow

            ep.updated_at = utcnow()
            table.record_event(
                session,
                endpoint,
                kind,
                why,
                {
                    "weights": weights,
                    "version": target.version,
                    "previous_version": current,
                    "from_slot": previous_slot,
                    "to_slot": ep.live_slot,
                },
            )
            generation = table.read_generation(session)
            decision = dict(
                rollout_id=rid,
                state=kind,
                version=target.version,
                previous_version=current,
                weights=weights,
                live_slot=ep.live_slot,
                generation=generation,
                reason=why,
            )
    applied = _applied(app, generation)
    return RolloutDecision(
        endpoint=endpoint,
        gateway_applied=applied,
        message=(
            f"Version {decision['version']} takes all traffic on '{endpoint}'; version "
            f"{decision['previous_version']} stays loaded for an instant switch back."
            + ("" if applied else " The gateway is not running; it serves this when started.")
        ),
        **decision,  # type: ignore[arg-type]
    )


def _history(app: AppContext, endpoint: str, rollout_id: str | None) -> list[HistoryEvent]:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployEvent

    with app.store.read_session() as session:
        stmt = select(DeployEvent).where(DeployEvent.endpoint == endpoint)
        if rollout_id is not None:
            stmt = stmt.where(DeployEvent.rollout_id == rollout_id)
        events = list(session.scalars(stmt.order_by(DeployEvent.id.desc())))
        if (
            not events
            and session.scalars(select(DeployEndpoint.id).where(DeployEndpoint.name == endpoint)).first()
            is None
        ):
            raise _endpoint_missing(endpoint)
    return [
        HistoryEvent(
            id=e.id,
            time=e.time.isoformat(),
            kind=e.kind,
            rollout_id=e.rollout_id,
            reason=e.reason,
            details=json.loads(e.details) if e.details else None,
        )
        for e in events
    ]


# -- tools --------------------------------------------------------------------------------------------


async def deploy_canary_start(
    ctx: Ctx,
    endpoint: Endpoint,
    candidate_version: Annotated[
        str,
        Field(
            description="Registered version of the endpoint's model to roll out (converted to ONNX if needed)."
        ),
    ],
    steps: Annotated[
        list[float], Field(description="Candidate traffic percent per step, increasing, ending at 100.")
    ] = [5, 25, 50, 100],  # noqa: B006 - pydantic copies defaults
    step_seconds: Annotated[
        float, Field(gt=0, le=86_400, description="Minimum time a step runs before it can be promoted.")
    ] = 60.0,
    min_requests: Annotated[
        int,
        Field(
            ge=1, le=10_000_000, description="Candidate requests a step's window needs before it is judged."
        ),
    ] = 100,
    max_wait_seconds: Annotated[
        float,
        Field(gt=0, le=604_800, description="A step without min_requests after this long fails the rollout."),
    ] = 600.0,
    max_error_rate: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Highest share of candidate requests failing (5xx) in a window; also the most extra rejections (4xx) vs stable.",
        ),
    ] = 0.01,
    max_p99_ms: Annotated[
        float, Field(gt=0, description="Highest candidate p99 latency in a window, in milliseconds.")
    ] = 250.0,
    max_error_rate_increase: Annotated[
        float | None,
        Field(ge=0, le=1, description="Highest candidate error rate minus stable's over the same window."),
    ] = None,
    max_p99_ratio: Annotated[
        float | None,
        Field(gt=0, description="Highest candidate p99 divided by stable's over the same window."),
    ] = None,
) -> CanaryStarted:
    """Start a canary rollout of a model version on an endpoint and return its id at once; the gateway moves traffic step by step and rolls back on its own when a limit is crossed."""
    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    checked = _check_steps(list(steps))
    if max_wait_seconds < step_seconds:
        raise InvalidInput(
            "max_wait_seconds must be at least step_seconds (a step needs its time to be judged)."
        )
    params = {
        "step_seconds": step_seconds,
        "min_requests": min_requests,
        "max_wait_seconds": max_wait_seconds,
        "max_error_rate": max_error_rate,
        "max_p99_ms": max_p99_ms,
        "max_error_rate_increase": max_error_rate_increase,
        "max_p99_ratio": max_p99_ratio,
    }
    return await run_blocking(
        _start_canary, app, endpoint, candidate_version, checked, params, deadline_s=app.settings.deadline_s
    )


async def deploy_canary_status(
    ctx: Ctx,
    endpoint: Annotated[
        str | None, Field(description="The endpoint (its latest canary); or give rollout_id.")
    ] = None,
    rollout_id: Annotated[str | None, Field(description="A rollout id from deploy_canary_start.")] = None,
) -> CanaryStatus:
    """Show a canary rollout: state, current step and weights, each version's metrics in the step's window and the reason for the last decision."""
    app = app_context(ctx)
    if endpoint is not None:
        check_name(endpoint, "endpoint name")
    if rollout_id is not None:
        check_name(rollout_id, "rollout_id")
    return await run_blocking(_canary_status, app, endpoint, rollout_id, deadline_s=30.0)


OptionalEndpoint = Annotated[
    str | None, Field(description="The endpoint whose canary is in progress; or give rollout_id.")
]
RolloutId = Annotated[
    str | None, Field(description="A rollout id from deploy_canary_start; or give endpoint.")
]


def _check_target(endpoint: str | None, rollout_id: str | None) -> None:
    if endpoint is not None:
        check_name(endpoint, "endpoint name")
    if rollout_id is not None:
        check_name(rollout_id, "rollout_id")


async def deploy_canary_promote(
    ctx: Ctx,
    endpoint: OptionalEndpoint = None,
    rollout_id: RolloutId = None,
    reason: Annotated[str | None, Field(max_length=500, description="Why, for the history.")] = None,
) -> RolloutDecision:
    """Finish a canary by hand: the candidate takes all traffic now and becomes the endpoint's stable version."""
    app = app_context(ctx)
    _check_target(endpoint, rollout_id)
    return await run_blocking(_finish, app, endpoint, rollout_id, "promote", reason, deadline_s=60.0)


async def deploy_canary_abort(
    ctx: Ctx,
    endpoint: OptionalEndpoint = None,
    rollout_id: RolloutId = None,
    reason: Annotated[str | None, Field(max_length=500, description="Why, for the history.")] = None,
) -> RolloutDecision:
    """Abort a canary: all traffic goes back to the stable version and the candidate is unloaded."""
    app = app_context(ctx)
    _check_target(endpoint, rollout_id)
    return await run_blocking(_finish, app, endpoint, rollout_id, "abort", reason, deadline_s=60.0)


async def deploy_blue_green_prepare(
    ctx: Ctx,
    endpoint: Endpoint,
    version: Annotated[
        str, Field(description="Registered version of the endpoint's model for the idle slot.")
    ],
    rows: Annotated[
        list[dict[str, Any]] | None,
        Field(
            description="Sample rows for the parity check (up to 100); generated from the model's inputs if omitted."
        ),
    ] = None,
    min_agreement: Annotated[
        float | None,
        Field(
            ge=0, le=1, description="Least share of sample rows where both slots must give the same output."
        ),
    ] = None,
) -> PrepareResult:
    """Load a model version into an endpoint's idle blue/green slot with no traffic, warm it, and check health and output parity with the live slot."""
    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    if rows is not None and not 1 <= len(rows) <= MAX_SAMPLE_ROWS:
        raise InvalidInput(f"Give 1 to {MAX_SAMPLE_ROWS} sample rows, or omit `rows`.")
    return await run_blocking(
        _prepare, app, endpoint, version, rows, min_agreement, deadline_s=PREPARE_DEADLINE_S
    )


async def deploy_blue_green_switch(
    ctx: Ctx,
    endpoint: Endpoint,
    reason: Annotated[str | None, Field(max_length=500, description="Why, for the history.")] = None,
) -> RolloutDecision:
    """Switch all of an endpoint's traffic to its prepared idle slot in one atomic step; the previous slot stays loaded for an instant switch back."""
    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(_move, app, endpoint, "switched", "idle", reason, deadline_s=60.0)


async def deploy_rollback(
    ctx: Ctx,
    endpoint: Endpoint,
    reason: Annotated[str | None, Field(max_length=500, description="Why, for the history.")] = None,
) -> RolloutDecision:
    """Move all of an endpoint's traffic back to its last stable version or slot (moves traffic; registry_rollback moves a model alias instead)."""
    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(_move, app, endpoint, "rollback", "previous", reason, deadline_s=60.0)


async def deploy_history(
    ctx: Ctx,
    endpoint: Endpoint,
    rollout_id: Annotated[str | None, Field(description="Only this rollout's events.")] = None,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Events per page.")] = 50,
) -> HistoryPage:
    """List an endpoint's events newest first (created, canary steps, waiting, promoted, rolled back, switched) with reasons and the metrics decided on."""
    from mcp_server.core.output import paginate

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    if rollout_id is not None:
        check_name(rollout_id, "rollout_id")
    events = await run_blocking(_history, app, endpoint, rollout_id, deadline_s=30.0)
    page = paginate(events, cursor, limit)
    return HistoryPage(endpoint=endpoint, items=page.items, total=page.total, next_cursor=page.next_cursor)


# -- tool specs (added to the deploy area's TOOLS) ---------------------------------------------------------

# Examples for the contract test: one trained run registered twice (versions 1 and 2), served by an endpoint.
_EP = "rollout-example"
_MODEL = "rollout-example"
_TRAIN = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": ["age", "income"],
        "name": "rollout-example",
    },
)
_REGISTER = ("registry_register_model", {"name": _MODEL, "source": "rollout-example"})
_SETUP = (
    _TRAIN,
    _REGISTER,
    _REGISTER,
    ("deploy_create_endpoint", {"endpoint": _EP, "model": _MODEL, "version": "1"}),
)
_CANARY = ("deploy_canary_start", {"endpoint": _EP, "candidate_version": "2"})
_GATEWAY = ("deploy_gateway_start", {"port": 0})
_PREPARE = ("deploy_blue_green_prepare", {"endpoint": _EP, "version": "2"})


def _specs() -> tuple[ToolSpec, ...]:
    from mcp_server.core.registry import ToolSpec

    return (
        ToolSpec(deploy_canary_start, core=True, read_only=False, example=dict(_CANARY[1]), setup=_SETUP),
        ToolSpec(
            deploy_canary_status,
            core=False,
            read_only=True,
            idempotent=True,
            example={"endpoint": _EP},
            setup=(*_SETUP, _CANARY),
        ),
        ToolSpec(
            deploy_canary_promote,
            core=False,
            read_only=False,
            example={"endpoint": _EP},
            setup=(*_SETUP, _CANARY),
        ),
        ToolSpec(
            deploy_canary_abort,
            core=False,
            read_only=False,
            destructive=True,
            example={"endpoint": _EP},
            setup=(*_SETUP, _CANARY),
        ),
        ToolSpec(
            deploy_blue_green_prepare,
            core=False,
            read_only=False,
            idempotent=True,
            example=dict(_PREPARE[1]),
            setup=(*_SETUP, _GATEWAY),
            deadline_s=PREPARE_DEADLINE_S,
        ),
        ToolSpec(
            deploy_blue_green_switch,
            core=False,
            read_only=False,
            destructive=True,
            example={"endpoint": _EP},
            setup=(*_SETUP, _GATEWAY, _PREPARE),
        ),
        ToolSpec(
            deploy_rollback,
            core=False,
            read_only=False,
            destructive=True,
            example={"endpoint": _EP, "reason": "example"},
            setup=(*_SETUP, _CANARY, ("deploy_canary_promote", {"endpoint": _EP})),
        ),
        ToolSpec(
            deploy_history,
            core=False,
            read_only=True,
            idempotent=True,
            example={"endpoint": _EP},
            setup=(_TRAIN, _REGISTER, _SETUP[-1]),
        ),
    )


ROLLOUT_TOOLS = _specs()

__all__ = [
    "ROLLOUT_TOOLS",
    "deploy_blue_green_prepare",
    "deploy_blue_green_switch",
    "deploy_canary_abort",
    "deploy_canary_promote",
    "deploy_canary_start",
    "deploy_canary_status",
    "deploy_history",
    "deploy_rollback",
]
