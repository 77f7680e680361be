"""The ab area's MCP tools: design, create, record, analyze, list, get and stop A/B experiments.

Each tool declares its arguments and hands them to service.py through the boundary (one thread hop).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcp_server.core.args import Cursor, Limit500
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.ab import models, service
from mcp_server.tools.ab.service import MAX_VARIANTS

ExperimentName = Annotated[str, Field(description="The experiment's name (letters, digits, '.', '_', '-').")]
Alpha = Annotated[float, Field(description="Two-sided significance level, strictly between 0 and 1.")]
Power = Annotated[float, Field(description="Probability of detecting the MDE, strictly between 0 and 1.")]
MdeKindArg = Annotated[
    models.MdeKind, Field(description="'absolute' (rate points) or 'relative' (0.1 = +10%).")
]
StdArg = Annotated[float | None, Field(description="Standard deviation of the metric; required for 'mean'.")]
Allocation = Annotated[
    list[float] | None,
    Field(description="Traffic share of each variant in `variants` order (normalised); equal when omitted."),
]


async def ab_design(
    ctx: Ctx,
    metric_type: Annotated[models.MetricType, Field(description="'proportion' (conversion rate) or 'mean'.")],
    baseline: Annotated[float, Field(description="The control's expected rate (proportion) or mean.")],
    mde: Annotated[
        float, Field(description="Minimum detectable effect: the smallest change worth detecting (signed).")
    ],
    mde_kind: MdeKindArg = "absolute",
    alpha: Alpha = 0.05,
    power: Power = 0.8,
    std: StdArg = None,
    allocation: Annotated[
        list[float] | None,
        Field(description="Traffic share per arm, control first (normalised); equal when omitted."),
    ] = None,
    n_variants: Annotated[
        int, Field(description="Arms including the control (2 for a plain A/B test).", ge=2, le=MAX_VARIANTS)
    ] = 2,
) -> models.DesignResult:
    """Compute the sample size per arm for an A/B test on a conversion rate or a mean, with the formula used; use before ab_create."""
    return await service_call(
        ctx, service.design, metric_type, baseline, mde, mde_kind, alpha, power, std, allocation, n_variants
    )


async def ab_create(
    ctx: Ctx,
    name: ExperimentName,
    variants: Annotated[list[str], Field(description="Variant names, e.g. ['control', 'green_button'].")],
    control: Annotated[str, Field(description="The variant every other one is compared against.")],
    metric: Annotated[str, Field(description="What is measured, e.g. 'checkout_conversion'.")],
    metric_type: Annotated[models.MetricType, Field(description="'proportion' (0/1 per unit) or 'mean'.")] = (
        "proportion"
    ),
    direction: Annotated[
        models.Direction, Field(description="Which way is better: 'increase' or 'decrease'.")
    ] = ("increase"),
    alpha: Alpha = 0.05,
    power: Power = 0.8,
    mde: Annotated[
        float | None, Field(description="Minimum detectable effect (needed unless sample_size is given).")
    ] = None,
    mde_kind: MdeKindArg = "absolute",
    baseline: Annotated[
        float | None,
        Field(description="Control's expected rate or mean, for the design (needed unless sample_size)."),
    ] = None,
    std: StdArg = None,
    allocation: Allocation = None,
    sample_size: Annotated[
        int | None,
        Field(description="Planned units across all variants; computed by the design when omitted.", ge=1),
    ] = None,
) -> models.Experiment:
    """Create an A/B experiment and store its plan (variants, control, metric, alpha, power, MDE, allocation, sample size); record data with ab_record."""
    return await service_call(
        ctx,
        service.create,
        name,
        variants,
        control,
        metric,
        metric_type,
        direction,
        alpha,
        power,
        mde,
        mde_kind,
        baseline,
        std,
        allocation,
        sample_size,
    )


async def ab_record(
    ctx: Ctx,
    name: ExperimentName,
    variant: Annotated[str, Field(description="The variant these observations belong to.")],
    observations: Annotated[
        list[float] | models.CountObservations,
        Field(
            description=(
                "Per-unit outcomes (0/1 for a proportion, numbers for a mean) or, for a proportion, "
                "{successes, trials}."
            )
        ),
    ],
    idempotency_key: Annotated[
        str | None,
        Field(description="Optional key for this batch: a repeated key is not counted twice (safe retries)."),
    ] = None,
) -> models.RecordResult:
    """Add observations to one variant of a running A/B experiment (atomically; a repeated idempotency_key counts once); use after ab_create."""
    return await service_call(ctx, service.record, name, variant, observations, idempotency_key)


async def ab_analyze(
    ctx: Ctx,
    name: ExperimentName,
    include_mann_whitney: Annotated[
        bool,
        Field(
            description="Also run Mann-Whitney U on per-unit values (mean metrics; tests distribution shift, not the mean)."
        ),
    ] = False,
) -> models.Analysis:
    """Analyse an A/B experiment: SRM check, z-test or Welch's t-test vs control (Holm-corrected), CIs, P(best) and a verdict that waits for the planned sample size."""
    return await service_call(ctx, service.analyze, name, include_mann_whitney)


async def ab_list(
    ctx: Ctx,
    status: Annotated[
        Literal["running", "stopped"] | None, Field(description="Only experiments with this status.")
    ] = None,
    cursor: Cursor = None,
    limit: Limit500 = 50,
) -> models.ExperimentPage:
    """List A/B experiments (newest first) with their status and progress; use ab_get for one experiment's plan."""
    return await service_call(ctx, service.list_experiments, status, cursor, limit)


async def ab_get(ctx: Ctx, name: ExperimentName) -> models.Experiment:
    """Show one A/B experiment's stored plan and the counts recorded per variant so far; use ab_analyze for the statistics."""
    return await service_call(ctx, service.get, name)


async def ab_stop(ctx: Ctx, name: ExperimentName) -> models.StopResult:
    """Stop an A/B experiment so it takes no more observations (its data and plan stay for ab_analyze)."""
    return await service_call(ctx, service.stop, name)
