"""The monitor area's use cases: drift of served traffic from the gateway's sketches, outcomes joined to
predictions by request id, performance per window, and watch rules (judged by `mlops-mcp health watch`).

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports). The gateway writes
the sketches and predictions (gateway/monitoring.py); this reads and merges them. A version's reference
(its sketches over the training data its MLflow run logged) is built on the first call that needs it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.workspace import check_name
from mcp_server.tools.monitor import adapter
from mcp_server.tools.monitor.models import (
    DriftResult,
    FeatureDrift,
    OutcomeIn,
    OutcomesResult,
    PerformanceResult,
    Rule,
    RulesResult,
    RuleState,
    WindowPerformance,
)

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.health_watch import Alert

log = logging.getLogger("mlops_mcp.monitor")

MAX_OUTCOMES = 10_000
MAX_WINDOWS_SHOWN = 48
MAX_PAIRS = 1_000_000
DRIFT_METRICS = ("psi", "ks", "prediction_psi")


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} must be an ISO 8601 time such as 2026-01-31T12:00:00Z.") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _endpoint(app: AppContext, endpoint: str) -> tuple[str, str, list[str]]:
    """(model, stable version, routed versions) of an endpoint."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployRoute

    check_name(endpoint, "endpoint name")
    with app.store.read_session() as s:
        ep = s.scalars(select(DeployEndpoint).where(DeployEndpoint.name == endpoint)).first()
        if ep is None:
            raise NotFound(f"No endpoint named '{endpoint}'; deploy_list shows them.")
        versions = [r.version for r in s.scalars(select(DeployRoute).where(DeployRoute.endpoint_id == ep.id))]
        return ep.model, ep.stable_version, versions


# -- the reference ------------------------------------------------------------------------------------


def ensure_reference(app: AppContext, control: Control, model: str, version: str) -> tuple[str, int, bytes]:
    """(dataset id, rows, packed sketches) of a version's reference; built and stored on first use."""
    from mcp_server.core.store.models import MonitorReference

    with app.store.read_session() as s:
        row = s.get(MonitorReference, (model, version))
        if row is not None:
            return row.dataset, int(row.rows), bytes(row.sketches)
    from mcp_server.core import mlmodels
    from mcp_server.core.tables import TableLimits, read_table

    control.step(0, 3, "finding the training data of the version")
    mv = mlmodels.get_version(app, model, version)
    run_id = getattr(mv, "run_id", None)
    tags = dict(mlmodels.get_run(app, run_id).data.tags) if run_id else {}
    stored = tags.get(mlmodels.TAG + "dataset_path")
    dataset = tags.get(mlmodels.TAG + "dataset") or ""
    if not stored:
        raise InvalidInput(
            f"Version {version} of model {model!r} has no training dataset logged by evaluation_train_model, "
            "so it has no reference; compare with an earlier window (against='window') instead."
        )
    path = app.workspace.from_stored(stored)
    if not path.is_file():
        raise NotFound(
            f"The training dataset of {model}/{version} ({app.workspace.display(path)}) is no longer there; "
            "restore it, or compare with an earlier window (against='window')."
        )
    twin = mlmodels.onnx_twin(app, model, version, convert=True, control=control)
    control.step(1, 3, "reading the training data")
    frame = read_table(path, TableLimits.of(app.settings), columns=list(twin.columns))
    control.step(2, 3, "sketching the training data and its predictions")
    outputs = adapter.predict_frame(twin, frame)
    blob = adapter.build_reference(twin, frame, outputs, app.settings.monitor_kll_k)
    with app.store.transaction() as s:
        if s.get(MonitorReference, (model, version)) is None:
            s.add(
                MonitorReference(
                    model=model,
                    version=version,
                    dataset=dataset,
                    rows=len(frame),
                    sketches=blob,
                    created_at=_now(),
                )
            )
    return dataset, len(frame), blob


# -- reading the gateway's sketches -------------------------------------------------------------------


def _windows(
    app: AppContext, endpoint: str, version: str, start: datetime | None, end: datetime | None
) -> dict[datetime, list[tuple[int, bytes]]]:
    """window start -> [(rows, packed sketches) of each replica]."""
    from sqlalchemy import select

    from mcp_server.core.store.models import MonitorSketch as S

    query = select(S.window_start, S.rows, S.sketches).where(S.endpoint == endpoint, S.version == version)
    if start is not None:
        query = query.where(S.window_start >= start)
    if end is not None:
        query = query.where(S.window_start < end)
    out: dict[datetime, list[tuple[int, bytes]]] = defaultdict(list)
    with app.store.read_session() as s:
        for w, rows, blob in s.execute(query):
            out[w].append((int(rows), bytes(blob)))
    return out


def _latest_window(app: AppContext, endpoint: str, version: str) -> datetime | None:
    from sqlalchemy import func, select

    from mcp_server.core.store.models import MonitorSketch as S

    with app.store.read_session() as s:
        value = s.scalar(select(func.max(S.window_start)).where(S.endpoint == endpoint, S.version == version))
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _window_s(app: AppContext) -> float:
    return float(app.settings.monitor_window_s)


def _drift_rows(
    base: dict[tuple[str, str], adapter.Merged],
    cur: dict[tuple[str, str], adapter.Merged],
    psi_threshold: float,
) -> tuple[list[FeatureDrift], FeatureDrift | None, float]:
    features: list[FeatureDrift] = []
    prediction = None
    bound = 0.0
    for key, b in base.items():
        c = cur.get(key)
        if c is None:
            continue
        found = adapter.compare(b, c)
        bound = max(bound, float(found["error"]))
        value = found["psi"]
        row = FeatureDrift(
            feature=b.name,
            kind=found["kind"],
            psi=None if value is None else round(value, 6),
            ks=None if found["ks"] is None else round(found["ks"], 6),
            drifted=value is not None and value >= psi_threshold,
            rows=c.n,
            nulls=c.nulls,
            note=found.get("note"),
        )
        if key[0] == "output":
            prediction = row
        else:
            features.append(row)
    features.sort(key=lambda f: (not f.drifted, -(f.psi or 0.0), f.feature))
    return features, prediction, bound


def drift(
    app: AppContext,
    control: Control,
    endpoint: str,
    version: str | None = None,
    since: str | None = None,
    until: str | None = None,
    against: str = "reference",
    baseline_since: str | None = None,
    baseline_until: str | None = None,
    psi_threshold: float = 0.2,
    limit: int = 50,
) -> DriftResult:
    """monitor_drift: PSI and KS per feature of the served range against the reference or an earlier range."""
    from mcp_server.core.lineage import make_id, record_edge
    from mcp_server.core.store.models import MonitorDrift

    model, stable, _versions = _endpoint(app, endpoint)
    version = version or stable
    start, end = _parse_time(since, "since"), _parse_time(until, "until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput("until must be after since.")
    if start is None and end is None:
        latest = _latest_window(app, endpoint, version)
        if latest is None:
            raise NotFound(
                f"Endpoint '{endpoint}' version {version} has no monitored traffic yet; send predictions "
                "through the gateway and retry after its next flush (a few seconds)."
            )
        start = latest
    windows = _windows(app, endpoint, version, start, end)
    if not windows:
        raise NotFound(f"Endpoint '{endpoint}' version {version} served nothing in that range.")
    blobs = [blob for parts in windows.values() for _rows, blob in parts]
    k = app.settings.monitor_kll_k
    current = adapter.merge(blobs, k)
    rows = sum(r for parts in windows.values() for r, _b in parts)
    first = min(windows)
    last = max(windows) + timedelta(seconds=_window_s(app))
    if against == "reference":
        dataset, base_rows, ref = ensure_reference(app, control, model, version)
        base = adapter.merge([ref], k)
        baseline = f"the training data of {model}/{version}: {dataset}"
    elif against == "window":
        b_start, b_end = (
            _parse_time(baseline_since, "baseline_since"),
            _parse_time(baseline_until, "baseline_until"),
        )
        if b_start is None:
            span = last - first
            b_end = b_end or first
            b_start = b_end - span
        elif b_end is None:
            b_end = first
        previous = _windows(app, endpoint, version, b_start, b_end)
        if not previous:
            raise NotFound(
                f"Endpoint '{endpoint}' version {version} served nothing in the baseline range; give "
                "baseline_since/baseline_until, or compare with the reference."
            )
        base = adapter.merge([b for parts in previous.values() for _r, b in parts], k)
        base_rows = sum(r for parts in previous.values() for r, _b in parts)
        baseline = f"served windows {min(previous).isoformat()} .. {max(previous).isoformat()}"
    else:
        raise InvalidInput("against must be 'reference' or 'window'.")
    features, prediction, bound = _drift_rows(base, current, psi_threshold)
    drifted = sum(1 for f in features if f.drifted)
    drift_id = uuid.uuid4().hex[:16]
    result = DriftResult(
        drift_id=drift_id,
        endpoint=endpoint,
        model=model,
        version=version,
        against=against,  # type: ignore[arg-type]
        window_from=first.isoformat(),
        window_to=last.isoformat(),
        windows=len(windows),
        rows=rows,
        baseline=baseline,
        baseline_rows=base_rows,
        method=adapter.METHOD.format(k=k),
        error_bound=round(bound, 6),
        psi_threshold=psi_threshold,
        drifted_features=drifted,
        features=features[:limit],
        prediction=prediction,
        truncated=len(features) > limit,
    )
    full = result.model_copy(update={"features": features, "truncated": False})
    with app.store.transaction() as s:
        s.add(
            MonitorDrift(
                id=drift_id,
                endpoint=endpoint,
                model=model,
                version=version,
                against=against,
                window_from=first,
                window_to=last,
                drifted=drifted,
                result=full.model_dump_json(),
                created_at=_now(),
            )
        )
    record_edge(
        app.store,
        make_id("model", model, version),
        make_id("drift", drift_id),
        "monitored",
        {"endpoint": endpoint, "against": against, "drifted_features": drifted},
    )
    return result


# -- outcomes and performance -------------------------------------------------------------------------


def record_outcomes(
    app: AppContext, control: Control, endpoint: str, outcomes: list[OutcomeIn]
) -> OutcomesResult:
    """monitor_record_outcomes: true outcomes joined to stored predictions by request_id."""
    from sqlalchemy import select

    from mcp_server.core.store.models import MonitorPrediction as P

    check_name(endpoint, "endpoint name")
    if not outcomes:
        raise InvalidInput("outcomes is empty; give at least one {request_id, outcome}.")
    if len(outcomes) > MAX_OUTCOMES:
        raise InvalidInput(
            f"{len(outcomes)} outcomes in one call, over the limit of {MAX_OUTCOMES}; split them."
        )
    by_id: dict[str, list[OutcomeIn]] = defaultdict(list)
    for o in outcomes:
        by_id[o.request_id].append(o)
    ids = list(by_id)
    joined = bad = 0
    found: set[str] = set()
    now = _now()
    with app.store.transaction() as s:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in s.scalars(select(P).where(P.request_id.in_(chunk), P.endpoint == endpoint)):
                found.add(row.request_id)
                n = len(json.loads(row.predictions))
                current = json.loads(row.outcomes) if row.outcomes else [None] * n
                for o in by_id[row.request_id]:
                    if o.row >= n:
                        bad += 1
                        continue
                    current[o.row] = o.outcome
                    joined += 1
                row.outcomes = json.dumps(current)
                row.outcome_at = now
    unknown = [i for i in ids if i not in found]
    return OutcomesResult(
        endpoint=endpoint,
        received=len(outcomes),
        joined=joined,
        unknown=sum(len(by_id[i]) for i in unknown),
        unknown_ids=unknown[:10],
        bad_rows=bad,
    )


def _task(app: AppContext, model: str, version: str) -> str:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRoute
    from mcp_server.core.twin import load_twin
    from mcp_server.gateway.table import onnx_path

    with app.store.read_session() as s:
        route = s.scalars(
            select(DeployRoute).where(DeployRoute.model == model, DeployRoute.version == version)
        ).first()
        onnx_dir = route.onnx_dir if route is not None else None
    if onnx_dir is None:
        return "unknown"
    try:
        return load_twin(Path(onnx_path(onnx_dir, app.settings.home))).task
    except (ValueError, OSError):
        return "unknown"


def _pairs(
    app: AppContext, endpoint: str, version: str | None, start: datetime | None, end: datetime | None
) -> list[tuple[datetime, Any, Any]]:
    from sqlalchemy import select

    from mcp_server.core.store.models import MonitorPrediction as P

    query = select(P.created_at, P.predictions, P.outcomes).where(
        P.endpoint == endpoint, P.outcomes.is_not(None)
    )
    if version is not None:
        query = query.where(P.version == version)
    if start is not None:
        query = query.where(P.created_at >= start)
    if end is not None:
        query = query.where(P.created_at < end)
    pairs: list[tuple[datetime, Any, Any]] = []
    with app.store.read_session() as s:
        for t, preds, outs in s.execute(query):
            for p, o in zip(json.loads(preds), json.loads(outs or "[]"), strict=False):
                if o is not None:
                    pairs.append((t if t.tzinfo else t.replace(tzinfo=UTC), p, o))
                    if len(pairs) >= MAX_PAIRS:
                        return pairs
    return pairs


def _label(value: Any) -> str:
    from mcp_server.gateway.monitoring import _label as label

    return label(value)


def _scores(task: str, pairs: list[tuple[datetime, Any, Any]]) -> dict[str, float | None]:
    if task == "regression":
        return adapter.metrics(task, [o for _t, _p, o in pairs], [p for _t, p, _o in pairs])
    return adapter.metrics(task, [_label(o) for _t, _p, o in pairs], [_label(p) for _t, p, _o in pairs])


def performance(
    app: AppContext,
    control: Control,
    endpoint: str,
    version: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> PerformanceResult:
    """monitor_performance: metrics per window of the predictions joined with their outcomes."""
    model, stable, _versions = _endpoint(app, endpoint)
    task = _task(app, model, version or stable)
    start, end = _parse_time(since, "since"), _parse_time(until, "until")
    pairs = _pairs(app, endpoint, version, start, end)
    window_s = _window_s(app)
    if not pairs:
        return PerformanceResult(
            endpoint=endpoint,
            version=version,
            task=task,  # type: ignore[arg-type]
            window_s=window_s,
            joined=0,
            overall=None,
            windows=[],
            note="No outcomes joined in this range yet; record them with monitor_record_outcomes.",
        )
    if task == "unknown":
        task = "classification"
    groups: dict[float, list[tuple[datetime, Any, Any]]] = defaultdict(list)
    for pair in pairs:
        groups[(pair[0].timestamp() // window_s) * window_s].append(pair)
    try:
        overall = WindowPerformance(window_start="all", joined=len(pairs), **_scores(task, pairs))
        windows = [
            WindowPerformance(
                window_start=datetime.fromtimestamp(w, UTC).isoformat(),
                joined=len(group),
                **_scores(task, group),
            )
            for w, group in sorted(groups.items(), reverse=True)[:MAX_WINDOWS_SHOWN]
        ]
    except (TypeError, ValueError) as err:
        raise InvalidInput(
            f"The outcomes do not fit the model's {task} predictions ({str(err)[:120]}); record numbers for "
            "a regression and labels for a classifier."
        ) from None
    return PerformanceResult(
        endpoint=endpoint,
        version=version,
        task=task,  # type: ignore[arg-type]
        window_s=window_s,
        joined=len(pairs),
        overall=overall,
        windows=windows,
        note="ROC AUC needs predicted scores; the gateway returns labels, so it is null."
        if task != "regression"
        else None,
    )


# -- watch rules ------------------------------------------------------------------------------------------


def _state(endpoint: str, row: Any) -> RuleState:
    return RuleState(
        endpoint=endpoint,
        rule=Rule.model_validate_json(row.rule),
        holding=bool(row.holding),
        value=row.value,
        changed_at=row.changed_at.isoformat() if row.changed_at else None,
        evaluated_at=row.evaluated_at.isoformat() if row.evaluated_at else None,
    )


def watch_rules(app: AppContext, control: Control, endpoint: str, rules: list[Rule] | None) -> RulesResult:
    """monitor_watch_rules: replace an endpoint's rules (when given) and show them with their state."""
    from sqlalchemy import delete, select

    from mcp_server.core.store.models import MonitorRule

    _endpoint(app, endpoint)
    if rules is not None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise InvalidInput("Two rules share a name; give each rule its own name.")
        for r in rules:
            if r.feature is not None and r.metric not in ("psi", "ks"):
                raise InvalidInput(f"Rule {r.name!r}: feature applies to psi and ks rules only.")
        with app.store.transaction() as s:
            existing = {
                row.name: row
                for row in s.scalars(select(MonitorRule).where(MonitorRule.endpoint == endpoint))
            }
            s.execute(
                delete(MonitorRule).where(
                    MonitorRule.endpoint == endpoint, MonitorRule.name.not_in(names or [""])
                )
            )
            for r in rules:
                text = r.model_dump_json()
                row = existing.get(r.name)
                if row is None:
                    s.add(
                        MonitorRule(
                            endpoint=endpoint, name=r.name, rule=text, holding=False, created_at=_now()
                        )
                    )
                elif row.rule != text:  # a changed rule starts over, as not holding
                    row.rule, row.holding, row.value, row.changed_at = text, False, None, None
    with app.store.read_session() as s:
        rows = list(
            s.scalars(select(MonitorRule).where(MonitorRule.endpoint == endpoint).order_by(MonitorRule.name))
        )
        states = [_state(endpoint, row) for row in rows]
    return RulesResult(endpoint=endpoint, rules=states, changed=rules is not None)


def _window_values(
    app: AppContext, control: Control, endpoint: str, rule: Rule
) -> list[tuple[datetime, float]]:
    """The rule's metric in each judged window, newest first (windows under min_rows left out)."""
    model, version, _versions = _endpoint(app, endpoint)
    if rule.metric in DRIFT_METRICS:
        _dataset, _rows, ref = ensure_reference(app, control, model, version)
        k = app.settings.monitor_kll_k
        base = adapter.merge([ref], k)
        since = _now() - timedelta(seconds=_window_s(app) * (rule.windows + 2))
        values = []
        for w, parts in sorted(_windows(app, endpoint, version, since, None).items(), reverse=True):
            if sum(r for r, _b in parts) < rule.min_rows:
                continue
            features, prediction, _bound = _drift_rows(base, adapter.merge([b for _r, b in parts], k), 0.2)
            if rule.metric == "prediction_psi":
                value = prediction.psi if prediction is not None else None
            else:
                picked = [f for f in features if rule.feature is None or f.feature == rule.feature]
                numbers = [getattr(f, rule.metric) for f in picked if getattr(f, rule.metric) is not None]
                value = max(numbers) if numbers else None
            if value is not None:
                values.append((w, float(value)))
        return values
    task = _task(app, model, version)
    since = _now() - timedelta(seconds=_window_s(app) * (rule.windows + 2))
    pairs = _pairs(app, endpoint, None, since, None)
    groups: dict[float, list[tuple[datetime, Any, Any]]] = defaultdict(list)
    for pair in pairs:
        groups[(pair[0].timestamp() // _window_s(app)) * _window_s(app)].append(pair)
    scored: list[tuple[datetime, float]] = []
    for begins, group in sorted(groups.items(), reverse=True):
        if len(group) < rule.min_rows:
            continue
        score = _scores("classification" if task == "unknown" else task, group).get(rule.metric)
        if score is not None:
            scored.append((datetime.fromtimestamp(begins, UTC), float(score)))
    return scored


def _holds(rule: Rule, values: list[tuple[datetime, float]]) -> bool:
    recent = values[: rule.windows]
    if len(recent) < rule.windows:
        return False
    return all((v > rule.threshold) if rule.op == ">" else (v < rule.threshold) for _w, v in recent)


def evaluate_rules(app: AppContext, control: Control) -> list[Alert]:
    """Judge every watch rule; an alert for each rule that started or stopped holding since last time."""
    from sqlalchemy import select

    from mcp_server.core.health_watch import Alert
    from mcp_server.core.store.models import MonitorRule

    with app.store.read_session() as s:
        rules = [(row.endpoint, row.name, row.rule) for row in s.scalars(select(MonitorRule))]
    alerts: list[Alert] = []
    for endpoint, name, text in rules:
        rule = Rule.model_validate_json(text)
        try:
            values = _window_values(app, control, endpoint, rule)
        except Exception as err:  # one rule's endpoint gone or no reference: the others are still judged
            log.warning("watch rule %s/%s not judged: %s", endpoint, name, err)
            continue
        holds = _holds(rule, values)
        value = values[0][1] if values else None
        now = _now()
        with app.store.transaction() as s:
            row = s.get(MonitorRule, (endpoint, name))
            if row is None or row.rule != text:
                continue
            changed = bool(row.holding) != holds
            row.value, row.evaluated_at = value, now
            if changed:
                row.holding, row.changed_at = holds, now
        if changed:
            where = rule.feature or ("any feature" if rule.metric in ("psi", "ks") else "")
            detail = (
                f"{rule.metric}{' on ' + where if where else ''} {rule.op} {rule.threshold:g} "
                f"for {rule.windows} window(s) {'now holds' if holds else 'no longer holds'}"
                + (f" (newest window: {value:.4g})" if value is not None else "")
            )
            alerts.append(
                Alert(
                    component=f"monitor:{endpoint}/{name}",
                    event="triggered" if holds else "resolved",
                    status="holds" if holds else "clear",
                    previous="clear" if holds else "holds",
                    latency_ms=0.0,
                    threshold_ms=0.0,
                    detail=detail,
                    fix=f"monitor_drift on endpoint '{endpoint}', then quality_compare on the raw data"
                    if holds and rule.metric in DRIFT_METRICS
                    else None,
                    checked_at=now.isoformat(),
                )
            )
    return alerts
