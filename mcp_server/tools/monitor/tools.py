"""The monitor tools: drift of served traffic, outcomes, performance per window, watch rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.monitor import service
from mcp_server.tools.monitor.models import (
    DriftResult,
    OutcomeIn,
    OutcomesResult,
    PerformanceResult,
    Rule,
    RulesResult,
)

Endpoint = Annotated[str, Field(description="The serving endpoint's name (deploy_list shows them).")]
Version = Annotated[
    str | None,
    Field(description="A routed model version (default: the endpoint's stable version).", max_length=64),
]
Since = Annotated[
    str | None, Field(description="Start of the range, ISO 8601 (default: the newest window).", max_length=64)
]
Until = Annotated[str | None, Field(description="End of the range, ISO 8601 (default: now).", max_length=64)]


async def monitor_drift(
    ctx: Ctx,
    endpoint: Endpoint,
    version: Version = None,
    since: Since = None,
    until: Until = None,
    against: Annotated[
        Literal["reference", "window"],
        Field(description="reference: the version's training data; window: an earlier served range."),
    ] = "reference",
    baseline_since: Annotated[
        str | None,
        Field(
            description="against=window: start of the earlier range (default: just before).", max_length=64
        ),
    ] = None,
    baseline_until: Annotated[
        str | None, Field(description="against=window: end of the earlier range.", max_length=64)
    ] = None,
    psi_threshold: Annotated[float, Field(gt=0, le=10, description="A PSI at or above this is drift.")] = 0.2,
    limit: Annotated[int, Field(ge=1, le=100, description="Features listed (drifted first).")] = 50,
) -> DriftResult:
    """Drift of an endpoint's served traffic from its gateway sketches: PSI and KS per feature and of the predictions against the version's training data or an earlier window, drifted first; stored with lineage."""
    return await service_call(
        ctx,
        service.drift,
        endpoint,
        version,
        since,
        until,
        against,
        baseline_since,
        baseline_until,
        psi_threshold,
        limit,
    )


async def monitor_record_outcomes(
    ctx: Ctx,
    endpoint: Endpoint,
    outcomes: Annotated[
        list[OutcomeIn],
        Field(
            description="True outcomes keyed by the gateway response's request_id (up to 10,000).",
            max_length=10_000,
        ),
    ],
) -> OutcomesResult:
    """Record true outcomes (labels or values) that arrived later, joined to the gateway's predictions by request_id, for monitor_performance."""
    return await service_call(ctx, service.record_outcomes, endpoint, outcomes)


async def monitor_performance(
    ctx: Ctx,
    endpoint: Endpoint,
    version: Annotated[
        str | None, Field(description="Only this version's predictions.", max_length=64)
    ] = None,
    since: Annotated[str | None, Field(description="Start of the range, ISO 8601.", max_length=64)] = None,
    until: Until = None,
) -> PerformanceResult:
    """Accuracy and F1 (classifiers) or RMSE and MAE (regressors) per window of an endpoint's predictions joined with their recorded outcomes, with the count joined."""
    return await service_call(ctx, service.performance, endpoint, version, since, until)


async def monitor_watch_rules(
    ctx: Ctx,
    endpoint: Endpoint,
    rules: Annotated[
        list[Rule] | None,
        Field(
            description="Replace the endpoint's rules with these ([] removes them); omit to only list.",
            max_length=50,
        ),
    ] = None,
) -> RulesResult:
    """Set or list an endpoint's watch rules (e.g. PSI > 0.2 on any feature for 2 windows, accuracy < 0.9); `mlops-mcp health watch` alerts once when one starts holding and once when it stops."""
    return await service_call(ctx, service.watch_rules, endpoint, rules)
