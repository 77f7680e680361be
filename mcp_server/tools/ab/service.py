"""The ab area's use cases: design, create, record, analyze, list, get and stop A/B experiments.

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary, and alike by the CLI, the workflow and tests. Experiments live in the metadata store
(mlops_ab_* tables); every write is one transaction. Statistics come from adapter.py (scipy, statsmodels,
numpy), imported inside the calls so `tools/list` stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from mcp_server.core.output import paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.ab.models import (
    Analysis,
    CountObservations,
    DesignResult,
    Experiment,
    ExperimentPage,
    ExperimentSummary,
    RecordResult,
    StopResult,
    VariantPlan,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import AbExperiment, AbVariant

MAX_VARIANTS = 20
MAX_OBSERVATIONS = 100_000  # per ab_record call; send bigger batches as {successes, trials} or split them
MAX_UNITS_PER_ARM = 20_000  # per-unit values kept for Mann-Whitney (means only)
MAX_TOTAL_UNITS = 10**12


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# -- store helpers ------------------------------------------------------------------------------------


def _load(session: Session, name: str, *, lock: bool = False) -> tuple[AbExperiment, list[AbVariant]]:
    from sqlalchemy import select

    from mcp_server.core.store.models import AbExperiment, AbVariant

    check_name(name, "experiment name")
    stmt = select(AbExperiment).where(AbExperiment.name == name)
    if lock:
        stmt = stmt.with_for_update()  # PostgreSQL: one ab_record at a time per experiment
    exp = session.scalars(stmt).first()
    if exp is None:
        raise NotFound(f"No experiment named '{name}'; ab_list shows the experiments that exist.")
    vstmt = select(AbVariant).where(AbVariant.experiment_id == exp.id).order_by(AbVariant.position)
    if lock:
        vstmt = vstmt.with_for_update()
    return exp, list(session.scalars(vstmt))


def _variant_plan(exp: AbExperiment, v: AbVariant) -> VariantPlan:
    plan = VariantPlan(
        name=v.name,
        is_control=v.name == exp.control,
        allocation=v.allocation,
        planned_n=v.planned_n,
        n=v.n,
    )
    if exp.metric_type == "proportion":
        plan.successes = v.successes
        plan.rate = v.successes / v.n if v.n else None
    else:
        plan.mean = v.total / v.n if v.n else None
        plan.std = math.sqrt(v.m2 / (v.n - 1)) if v.n > 1 else None
        plan.units_kept = v.units_kept
    return plan


def _experiment(exp: AbExperiment, variants: list[AbVariant]) -> Experiment:
    plan = json.loads(exp.plan)
    return Experiment(
        name=exp.name,
        metric=exp.metric,
        metric_type=exp.metric_type,  # type: ignore[arg-type]
        direction=exp.direction,  # type: ignore[arg-type]
        control=exp.control,
        alpha=exp.alpha,
        power=exp.power,
        mde=exp.mde,
        mde_kind=exp.mde_kind,  # type: ignore[arg-type]
        baseline=exp.baseline,
        std=exp.std,
        sample_size=exp.sample_size,
        sample_size_source=plan.get("source", "given"),
        formula=plan.get("formula"),
        status=exp.status,  # type: ignore[arg-type]
        created_at=exp.created_at,
        stopped_at=exp.stopped_at,
        variants=[_variant_plan(exp, v) for v in variants],
    )


# -- use cases ----------------------------------------------------------------------------------------


def design(
    app: AppContext,
    control: Control,
    metric_type: str,
    baseline: float,
    mde: float,
    mde_kind: str,
    alpha: float,
    power: float,
    std: float | None,
    allocation: list[float] | None,
    n_variants: int,
) -> DesignResult:
    """Units per arm to detect `mde` with `power` at two-sided `alpha` (allocation: control first)."""
    from mcp_server.tools.ab import adapter

    return DesignResult(
        **adapter.design(
            metric_type=metric_type,
            baseline=baseline,
            mde=mde,
            mde_kind=mde_kind,
            alpha=alpha,
            power=power,
            std=std,
            allocation=allocation,
            n_variants=n_variants,
        )
    )


def create(
    app: AppContext,
    control: Control,
    name: str,
    variants: list[str],
    control_variant: str,
    metric: str,
    metric_type: str = "proportion",
    direction: str = "increase",
    alpha: float = 0.05,
    power: float = 0.8,
    mde: float | None = None,
    mde_kind: str = "absolute",
    baseline: float | None = None,
    std: float | None = None,
    allocation: list[float] | None = None,
    sample_size: int | None = None,
) -> Experiment:
    """Check and store an experiment's plan; the sample size comes from the design unless given."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from mcp_server.core.store.models import AbExperiment, AbVariant, utcnow
    from mcp_server.tools.ab import adapter

    check_name(name, "experiment name")
    check_name(metric, "metric name")
    for v in variants:
        check_name(v, "variant name")
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise InvalidInput(f"An experiment needs 2 to {MAX_VARIANTS} variants, not {len(variants)}.")
    if len(set(variants)) != len(variants):
        raise InvalidInput("Variant names must be unique.")
    if control_variant not in variants:
        raise InvalidInput(f"The control '{control_variant}' is not one of the variants {variants}.")
    adapter.check_probability(alpha, "alpha")
    adapter.check_probability(power, "power")
    if mde is not None and mde == 0:
        raise InvalidInput("mde (the minimum detectable effect) must be a non-zero number.")
    if baseline is not None and metric_type == "proportion":
        adapter.check_probability(baseline, "baseline (the control's conversion rate)")
    if std is not None and std <= 0:
        raise InvalidInput("std must be a positive number.")
    order = [control_variant, *[v for v in variants if v != control_variant]]
    by_name = dict(zip(variants, adapter.normalize_allocation(allocation, len(variants)), strict=True))
    shares = [by_name[v] for v in order]

    plan: dict[str, Any]
    if sample_size is None:
        if mde is None or baseline is None:
            raise InvalidInput(
                "Give `baseline` and `mde` so the design can compute the sample size, or give `sample_size`."
            )
        d = design(app, control, metric_type, baseline, mde, mde_kind, alpha, power, std, shares, len(order))
        per_arm, total = d.per_arm, d.total
        plan = {"source": "design", "formula": d.formula, "design": d.model_dump(exclude={"formula"})}
    else:
        if sample_size < len(order) * 2:
            raise InvalidInput(f"sample_size {sample_size} is too small for {len(order)} variants.")
        if sample_size > MAX_TOTAL_UNITS:
            raise InvalidInput(f"sample_size must be at most {MAX_TOTAL_UNITS:,}.")
        per_arm, total = adapter.planned_per_arm(sample_size, shares), sample_size
        plan = {"source": "given"}

    exists = Conflict(f"An experiment named '{name}' already exists; choose another name or see ab_get.")
    try:
        with app.store.transaction() as session:
            if session.scalars(select(AbExperiment.id).where(AbExperiment.name == name)).first():
                raise exists
            exp = AbExperiment(
                name=name,
                metric=metric,
                metric_type=metric_type,
                direction=direction,
                control=control_variant,
                alpha=alpha,
                power=power,
                mde=mde,
                mde_kind=mde_kind,
                baseline=baseline,
                std=std,
                sample_size=total,
                plan=_json(plan),
                status="running",
                created_at=utcnow(),
            )
            session.add(exp)
            session.flush()
            rows = [
                AbVariant(
                    experiment_id=exp.id,
                    name=v,
                    position=i,
                    allocation=shares[i],
                    planned_n=per_arm[i],
                    n=0,
                    successes=0,
                    total=0.0,
                    m2=0.0,
                    units_kept=0,
                )
                for i, v in enumerate(order)
            ]
            session.add_all(rows)
            session.flush()
            return _experiment(exp, rows)
    except IntegrityError:  # a concurrent ab_create took the name first (PostgreSQL)
        raise exists from None


def record(
    app: AppContext,
    control: Control,
    name: str,
    variant: str,
    observations: list[float] | CountObservations,
    idempotency_key: str | None = None,
) -> RecordResult:
    """Add one batch of observations to one variant, atomically; a repeated idempotency_key counts once."""
    from sqlalchemy import insert, select

    from mcp_server.core.store.models import AbIdempotencyKey, AbUnit, utcnow
    from mcp_server.tools.ab import adapter

    check_name(name, "experiment name")
    check_name(variant, "variant name")
    if idempotency_key is not None:
        check_name(idempotency_key, "idempotency_key")
    if isinstance(observations, list) and len(observations) > MAX_OBSERVATIONS:
        raise LimitExceeded(
            f"{len(observations):,} observations in one call is over the {MAX_OBSERVATIONS:,} limit; "
            "split them into several calls or send {successes, trials}."
        )
    digest_src: Any = observations
    if isinstance(observations, CountObservations):
        k, n = observations.successes, observations.trials
        if k < 0 or n < 0:
            raise InvalidInput("successes and trials must not be negative.")
        if n == 0:
            raise InvalidInput("trials must be at least 1.")
        if k > n:
            raise InvalidInput(f"successes ({k}) cannot exceed trials ({n}).")
        if n > MAX_TOTAL_UNITS:
            raise InvalidInput(f"trials must be at most {MAX_TOTAL_UNITS:,} per call.")
        digest_src = {"successes": k, "trials": n}
    digest = hashlib.sha256(_json({"variant": variant, "observations": digest_src}).encode()).hexdigest()

    with app.store.transaction() as session:
        exp, variants = _load(session, name, lock=True)
        arm = next((v for v in variants if v.name == variant), None)
        if arm is None:
            raise InvalidInput(
                f"'{variant}' is not a variant of experiment '{name}'; its variants are "
                f"{[v.name for v in variants]}."
            )
        if isinstance(observations, CountObservations):
            if exp.metric_type != "proportion":
                raise InvalidInput(
                    f"Experiment '{name}' measures a mean: send per-unit values, not {{successes, trials}}."
                )
            k = observations.successes
            batch = adapter.Batch(n=observations.trials, successes=k, total=float(k), m2=0.0)
        else:
            batch = adapter.summarize_values(observations, exp.metric_type)
        result = RecordResult(
            name=name,
            variant=variant,
            counted=True,
            added_units=batch.n,
            variant_n=arm.n,
            variant_planned_n=arm.planned_n,
        )
        if idempotency_key is not None:
            seen = session.scalars(
                select(AbIdempotencyKey).where(
                    AbIdempotencyKey.experiment_id == exp.id, AbIdempotencyKey.key == idempotency_key
                )
            ).first()
            if seen is not None:
                if seen.digest != digest:
                    raise Conflict(
                        f"The idempotency_key '{idempotency_key}' was already used for other observations "
                        f"in '{name}'; use a new key for a new batch."
                    )
                result.counted, result.added_units = False, 0
                result.note = "This idempotency_key was recorded before; nothing was added."
                return _fill(result, exp.metric_type, arm)
        if exp.status != "running":
            raise Conflict(f"Experiment '{name}' is stopped; it takes no more observations.")
        if idempotency_key is not None:
            session.add(
                AbIdempotencyKey(
                    experiment_id=exp.id,
                    key=idempotency_key,
                    variant=variant,
                    digest=digest,
                    units=batch.n,
                    created_at=utcnow(),
                )
            )
        if arm.n + batch.n > MAX_TOTAL_UNITS:
            raise LimitExceeded(f"Variant '{variant}' would pass {MAX_TOTAL_UNITS:,} units.")
        if exp.metric_type == "proportion":
            arm.n += batch.n
            arm.successes += batch.successes
            arm.total += batch.total
            result.added_successes = batch.successes
        else:
            keep = (
                isinstance(observations, list)
                and arm.units_kept == arm.n
                and arm.units_kept + batch.n <= MAX_UNITS_PER_ARM
            )
            arm.n, arm.total, arm.m2 = adapter.merge_means(arm.n, arm.total, arm.m2, batch)
            if keep and isinstance(observations, list):
                session.execute(
                    insert(AbUnit), [{"variant_id": arm.id, "value": float(x)} for x in observations]
                )
                arm.units_kept += batch.n
            elif arm.units_kept < arm.n:
                result.note = (
                    f"Per-unit values are kept for at most {MAX_UNITS_PER_ARM:,} units per arm; "
                    "Mann-Whitney is no longer available for this arm (Welch's test is unaffected)."
                )
        session.flush()
        return _fill(result, exp.metric_type, arm)


def _fill(result: RecordResult, metric_type: str, arm: AbVariant) -> RecordResult:
    result.variant_n = arm.n
    result.variant_planned_n = arm.planned_n
    if metric_type == "proportion":
        result.variant_successes = arm.successes
    else:
        result.variant_mean = arm.total / arm.n if arm.n else None
        result.units_kept = arm.units_kept
    return result


def analyze(app: AppContext, control: Control, name: str, include_mann_whitney: bool = False) -> Analysis:
    """SRM check, tests against the control (Holm-corrected), intervals, P(best) and the verdict."""
    from sqlalchemy import select

    from mcp_server.core.store.models import AbUnit
    from mcp_server.tools.ab import adapter

    with app.store.read_session() as session:
        exp, variants = _load(session, name)
        units: dict[str, list[float]] | None = None
        if include_mann_whitney:
            if exp.metric_type != "mean":
                raise InvalidInput(
                    "Mann-Whitney applies to mean metrics with per-unit values; this experiment "
                    "measures a proportion (its z-test is the right test)."
                )
            units = {
                v.name: list(
                    session.scalars(select(AbUnit.value).where(AbUnit.variant_id == v.id).order_by(AbUnit.id))
                )
                for v in variants
                if v.units_kept == v.n
            }
        info = _experiment(exp, variants)
    arms = [
        adapter.Arm(v.name, v.allocation, v.planned_n, v.n, v.successes, v.total, v.m2, v.units_kept)
        for v in variants
    ]
    control.check()
    result = adapter.analyze(
        arms=arms,
        metric=info.metric,
        metric_type=info.metric_type,
        direction=info.direction,
        alpha=info.alpha,
        status=info.status,
        units=units,
    )
    return Analysis(**info.model_dump(include=set(Analysis.model_fields) - set(result)), **result)


def list_experiments(
    app: AppContext, control: Control, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> ExperimentPage:
    """Experiments, newest first, with their status and units so far."""
    from sqlalchemy import select

    from mcp_server.core.store.models import AbExperiment, AbVariant

    with app.store.read_session() as session:
        stmt = select(AbExperiment).order_by(AbExperiment.id.desc())
        if status is not None:
            stmt = stmt.where(AbExperiment.status == status)
        exps = list(session.scalars(stmt))
        arms: dict[int, list[AbVariant]] = {}
        for v in session.scalars(select(AbVariant).order_by(AbVariant.position)):
            arms.setdefault(v.experiment_id, []).append(v)
    rows = [
        ExperimentSummary(
            name=e.name,
            metric=e.metric,
            metric_type=e.metric_type,  # type: ignore[arg-type]
            status=e.status,  # type: ignore[arg-type]
            variants=[v.name for v in arms.get(e.id, [])],
            n=sum(v.n for v in arms.get(e.id, [])),
            sample_size=e.sample_size,
            created_at=e.created_at,
        )
        for e in exps
    ]
    return ExperimentPage(**dict(paginate(rows, cursor, limit)))


def get(app: AppContext, control: Control, name: str) -> Experiment:
    """One experiment's stored plan and the counts recorded per variant so far."""
    with app.store.read_session() as session:
        return _experiment(*_load(session, name))


def stop(app: AppContext, control: Control, name: str) -> StopResult:
    """Stop an experiment (idempotent); its data and plan stay."""
    from mcp_server.core.store.models import utcnow

    with app.store.transaction() as session:
        exp, variants = _load(session, name, lock=True)
        was_running = exp.status == "running"
        if was_running:
            exp.status = "stopped"
            exp.stopped_at = utcnow()
        session.flush()
        assert exp.stopped_at is not None
        return StopResult(
            name=name,
            status="stopped",
            was_running=was_running,
            stopped_at=exp.stopped_at,
            n=sum(v.n for v in variants),
            sample_size=exp.sample_size,
        )
