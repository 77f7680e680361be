"""The deploy area's blocking work: resolve a model version to its ONNX twin, write the routing table,
talk to the gateway over HTTP (httpx). Run from tools.py in a worker thread.

MLflow and skl2onnx are reached only through the registry and onnx areas' adapters (contracts 1 and 2),
at create time; the gateway itself loads the local ONNX folder stored in the route.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, MissingExtra, NotFound
from mcp_server.gateway import manager
from mcp_server.gateway import table as routing
from mcp_server.tools.deploy.models import (
    DeleteResult,
    EndpointInfo,
    EndpointResult,
    EndpointStatus,
    PredictResult,
    RowPrediction,
    VersionInfo,
    VersionMetrics,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

SYNC_WAIT_S = 10.0  # how long a routing change waits for the running gateway to load it
MAX_PREDICT_ROWS = 200  # rows per deploy_predict call (the result stays under the size cap)


def resolve_twin(app: AppContext, model: str, version: str | None, alias: str | None) -> tuple[str, Any]:
    """(version, OnnxTwin): the alias resolved once; the twin converted (with parity) when missing."""
    try:
        from mcp_server.tools.onnx.adapter import onnx_twin
        from mcp_server.tools.registry.adapter import resolve_version
    except ImportError as err:  # pragma: no cover - the registry/onnx areas ship with the mlflow+onnx extras
        raise MissingExtra(
            f"Deploying a registered model needs the registry and onnx areas ({err.name} is missing); "
            "pip install 'mlops-mcp[mlflow,onnx]'."
        ) from None
    resolved = resolve_version(app, model, version, alias)
    return resolved, onnx_twin(app, model, resolved, convert=True)


def _find(session: Session, endpoint: str) -> tuple[DeployEndpoint, list[DeployRoute]]:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    ep = session.scalars(select(DeployEndpoint).where(DeployEndpoint.name == endpoint)).first()
    if ep is None:
        raise NotFound(f"No endpoint named '{endpoint}'; deploy_list shows the endpoints that exist.")
    routes = list(
        session.scalars(select(DeployRoute).where(DeployRoute.endpoint_id == ep.id).order_by(DeployRoute.id))
    )
    return ep, routes


def _info(ep: DeployEndpoint, routes: list[DeployRoute], live: dict[str, Any] | None = None) -> EndpointInfo:
    live_versions = {v["version"]: v for v in (live or {}).get("versions", [])}
    versions = []
    for r in routes:
        lv = live_versions.get(r.version)
        versions.append(
            VersionInfo(
                version=r.version,
                weight=r.weight,
                slot=r.slot,
                onnx=f"onnx:{r.model}/{r.version}",
                loaded=lv["loaded"] if lv is not None else None,
                load_error=lv.get("load_error") if lv is not None else None,
                metrics=VersionMetrics(**lv["metrics"]) if lv is not None and lv.get("metrics") else None,
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


def wait_for_generation(app: AppContext, generation: int) -> tuple[bool, str | None]:
    """Wait until a running gateway serves `generation`; (running, its url)."""
    current = manager.status(app)
    if not current.running:
        return False, None
    import httpx

    deadline = time.monotonic() + SYNC_WAIT_S
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{current.url}/healthz", timeout=2.0).json()
            if int(health.get("generation", -1)) >= generation:
                return True, current.url
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    return True, current.url


def create_endpoint(
    app: AppContext, endpoint: str, model: str, version: str | None, alias: str | None
) -> EndpointResult:
    from sqlalchemy import select

    from mcp_server.core.lineage import record_edge
    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    resolved, twin = resolve_twin(app, model, version, alias)
    onnx_id = f"onnx:{model}/{resolved}"
    now = datetime.now(UTC)
    with app.store.transaction() as session:
        existing = session.scalars(select(DeployEndpoint).where(DeployEndpoint.name == endpoint)).first()
        if existing is not None:
            _ep, routes = _find(session, endpoint)
            if existing.model == model and [r.version for r in routes] == [resolved]:
                generation = routing.read_generation(session)
                created = False
            else:
                raise Conflict(
                    f"Endpoint '{endpoint}' already exists and serves {existing.model} "
                    f"{', '.join(r.version for r in routes)}; pick another name or deploy_delete_endpoint it first."
                )
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
            session.add(
                DeployRoute(
                    endpoint_id=ep.id,
                    model=model,
                    version=resolved,
                    weight=100.0,
                    slot="blue",
                    onnx_dir=str(twin.path.parent),
                    created_at=now,
                )
            )
            routing.record_event(
                session,
                endpoint,
                "created",
                f"serves {model} version {resolved}" + (f" (alias '{alias}')" if alias else ""),
                {"model": model, "version": resolved, "alias": alias, "weights": {resolved: 100.0}},
            )
            record_edge(
                app.store,
                onnx_id,
                f"endpoint:{endpoint}",
                "deployed_to",
                {"version": resolved, "alias": alias},
                session=session,
            )
            generation = routing.bump_generation(session)
            created = True
    running, url = wait_for_generation(app, generation)
    return EndpointResult(
        endpoint=endpoint,
        model=model,
        version=resolved,
        resolved_from=alias,
        onnx=onnx_id,
        created=created,
        gateway="served by the running gateway" if running else "saved; deploy_gateway_start serves it",
        predict_url=f"{url}/v1/endpoints/{endpoint}/predict" if url else None,
    )


def _live(app: AppContext, endpoint: str | None = None) -> dict[str, Any] | None:
    """The running gateway's /v1/stats (None when it is not running)."""
    current = manager.status(app)
    if not current.running:
        return None
    import httpx

    params = {"endpoint": endpoint} if endpoint else {}
    try:
        response = httpx.get(
            f"{current.url}/v1/stats", params=params, headers=manager.headers(app), timeout=5.0
        )
    except httpx.HTTPError:
        return None
    return dict(response.json()) if response.status_code == 200 else {"generation": None, "endpoints": {}}


def list_endpoints(app: AppContext) -> list[EndpointInfo]:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    with app.store.read_session() as session:
        endpoints = list(session.scalars(select(DeployEndpoint).order_by(DeployEndpoint.name)))
        routes: dict[int, list[DeployRoute]] = {}
        for r in session.scalars(select(DeployRoute).order_by(DeployRoute.id)):
            routes.setdefault(r.endpoint_id, []).append(r)
        return [_info(ep, routes.get(ep.id, [])) for ep in endpoints]


def endpoint_status(app: AppContext, endpoint: str) -> EndpointStatus:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEvent

    with app.store.read_session() as session:
        ep, routes = _find(session, endpoint)
        events = list(
            session.scalars(
                select(DeployEvent)
                .where(DeployEvent.endpoint == endpoint)
                .order_by(DeployEvent.id.desc())
                .limit(10)
            )
        )
        recent = [
            {
                "time": e.time.isoformat(),
                "kind": e.kind,
                "reason": e.reason,
                "rollout_id": e.rollout_id,
                "details": json.loads(e.details) if e.details else None,
            }
            for e in events
        ]
        live = _live(app, endpoint)
        live_ep = (live or {}).get("endpoints", {}).get(endpoint)
        info = _info(ep, routes, live_ep)
    if live is None:
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
        generation=(live or {}).get("generation"),
        recent_events=recent,
        message=message,
    )


def delete_endpoint(app: AppContext, endpoint: str) -> DeleteResult:
    with app.store.transaction() as session:
        ep, routes = _find(session, endpoint)
        versions = [r.version for r in routes]
        for r in routes:
            session.delete(r)
        session.flush()
        session.delete(ep)
        routing.record_event(session, endpoint, "deleted", "endpoint deleted", {"versions": versions})
        generation = routing.bump_generation(session)
    running, _url = wait_for_generation(app, generation)
    return DeleteResult(
        endpoint=endpoint,
        deleted=True,
        versions=versions,
        message="Deleted; the gateway stopped serving it." if running else "Deleted.",
    )


def predict(
    app: AppContext, endpoint: str, rows: list[dict[str, Any]], version: str | None, per_row: bool
) -> PredictResult:
    import httpx

    if not rows:
        raise InvalidInput("Give at least one row (a list of {feature: value} objects).")
    if len(rows) > MAX_PREDICT_ROWS:
        raise InvalidInput(
            f"{len(rows)} rows is over the {MAX_PREDICT_ROWS} a call takes; split them or POST to the gateway."
        )
    with app.store.read_session() as session:
        _find(session, endpoint)  # NotFound with the usual sentence
    current = manager.ensure(app)
    url = f"{current.url}/v1/endpoints/{endpoint}/predict"
    params = {"version": version} if version else None
    batches = [[r] for r in rows] if per_row else [rows]
    out: list[RowPrediction] = []
    counts: dict[str, int] = {}
    started = time.perf_counter()
    with httpx.Client(headers=manager.headers(app), timeout=30.0) as client:
        for batch in batches:
            response = None
            for attempt in range(2):
                try:
                    response = client.post(url, json={"rows": batch}, params=params)
                    break
                except httpx.TransportError:
                    if attempt:
                        raise BackendUnavailable(
                            "The gateway did not answer; deploy_gateway_status shows its state and log."
                        ) from None
                    time.sleep(0.2)
            assert response is not None
            if response.status_code == 404 and "No endpoint named" in response.text:
                # Created a moment ago: the gateway loads a change within gateway_poll_s.
                time.sleep(app.settings.gateway_poll_s * 2)
                response = client.post(url, json={"rows": batch}, params=params)
            try:
                body = response.json()
            except ValueError:
                raise BackendUnavailable(
                    f"The gateway answered HTTP {response.status_code} without JSON."
                ) from None
            if response.status_code != 200:
                message = str(body.get("error", f"HTTP {response.status_code}"))
                if response.status_code >= 500:
                    raise BackendUnavailable(message)
                raise InvalidInput(message) if response.status_code != 404 else NotFound(message)
            base = len(out)
            for i, value in enumerate(body["predictions"]):
                out.append(
                    RowPrediction(
                        row=base + i, prediction=value, version=body["version"], latency_ms=body["latency_ms"]
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
