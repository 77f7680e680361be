"""Pydantic input and result models of the ab area (cheap to import: no scipy, no numpy)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mcp_server.core.output import Page

MetricType = Literal["proportion", "mean"]
Direction = Literal["increase", "decrease"]
MdeKind = Literal["absolute", "relative"]
Decision = Literal[
    "keep_collecting", "ship", "keep_control", "no_difference", "investigate_srm", "stopped_early"
]


class CountObservations(BaseModel):
    """Aggregated conversions of a proportion metric."""

    model_config = ConfigDict(extra="forbid")

    successes: int = Field(description="Units that converted (0 <= successes <= trials).")
    trials: int = Field(description="Units exposed to the variant in this batch.")


class DesignResult(BaseModel):
    metric_type: MetricType
    per_arm: list[int] = Field(description="Units needed in each arm, in the order of the allocation.")
    total: int = Field(description="Units needed across all arms; pass as `sample_size` to ab_create.")
    allocation: list[float]
    alpha: float
    alpha_per_comparison: float = Field(
        description="alpha / (variants - 1): Bonferroni for the design, Holm at analysis is never less powerful."
    )
    power: float
    baseline: float
    target: float = Field(description="The rate (or mean) the treatment would reach at the MDE.")
    effect: float = Field(description="target - baseline.")
    std: float | None = None
    formula: str


class VariantPlan(BaseModel):
    name: str
    is_control: bool
    allocation: float
    planned_n: int
    n: int
    successes: int | None = Field(default=None, description="Proportions: units that converted.")
    rate: float | None = Field(default=None, description="Proportions: successes / n.")
    mean: float | None = Field(default=None, description="Means: the sample mean.")
    std: float | None = Field(default=None, description="Means: the sample standard deviation (n - 1).")
    units_kept: int | None = Field(
        default=None, description="Means: per-unit values kept for Mann-Whitney (bounded per arm)."
    )


class Experiment(BaseModel):
    name: str
    metric: str
    metric_type: MetricType
    direction: Direction
    control: str
    alpha: float
    power: float
    mde: float | None
    mde_kind: MdeKind
    baseline: float | None
    std: float | None
    sample_size: int = Field(description="Planned units across all arms.")
    sample_size_source: str = Field(description="'design' (computed here) or 'given'.")
    formula: str | None = Field(
        default=None, description="The sample-size formula, when the design computed it."
    )
    status: Literal["running", "stopped"]
    created_at: datetime
    stopped_at: datetime | None
    variants: list[VariantPlan]


class ExperimentSummary(BaseModel):
    name: str
    metric: str
    metric_type: MetricType
    status: Literal["running", "stopped"]
    variants: list[str]
    n: int = Field(description="Units recorded across all arms.")
    sample_size: int
    created_at: datetime


class ExperimentPage(Page[ExperimentSummary]):
    pass


class RecordResult(BaseModel):
    name: str
    variant: str
    counted: bool = Field(description="False when the idempotency key was seen before: nothing was added.")
    added_units: int
    added_successes: int | None = None
    variant_n: int
    variant_planned_n: int
    variant_successes: int | None = None
    variant_mean: float | None = None
    units_kept: int | None = Field(
        default=None, description="Means: per-unit values kept for Mann-Whitney (at most the cap per arm)."
    )
    note: str | None = None


class StopResult(BaseModel):
    name: str
    status: Literal["stopped"]
    was_running: bool
    stopped_at: datetime
    n: int
    sample_size: int


class SrmCheck(BaseModel):
    computed: bool
    statistic: float | None = None
    p_value: float | None = None
    threshold: float = Field(description="SRM is flagged when the chi-square p-value is below this.")
    flagged: bool
    observed: list[int]
    expected: list[float]
    note: str | None = None


class Comparison(BaseModel):
    variant: str
    control: str
    test: str
    statistic: float | None
    p_value: float | None = Field(description="Unadjusted two-sided p-value.")
    p_value_adjusted: float | None = Field(description="Holm-adjusted over all comparisons with the control.")
    significant: bool = Field(description="p_value_adjusted < alpha.")
    difference: float | None = Field(description="variant - control (rate or mean).")
    ci_difference: list[float] | None
    relative_lift: float | None = Field(description="variant / control - 1.")
    ci_relative_lift: list[float] | None
    ci_level: float
    favourable: bool | None = Field(description="The difference points the way `direction` wants.")


class MannWhitney(BaseModel):
    variant: str
    computed: bool
    statistic: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    prob_superiority: float | None = Field(
        default=None,
        description="P(variant unit > control unit) + half the ties: U / (n_variant * n_control).",
    )
    note: str = (
        "Tests a shift of the whole distribution, not a difference of means; not used for the verdict."
    )


class ProbBest(BaseModel):
    variant: str
    probability: float | None


class Analysis(BaseModel):
    name: str
    metric: str
    metric_type: MetricType
    direction: Direction
    alpha: float
    status: Literal["running", "stopped"]
    verdict: str
    decision: Decision
    planned_reached: bool
    variants: list[VariantPlan]
    srm: SrmCheck
    comparisons: list[Comparison]
    mann_whitney: list[MannWhitney] | None = None
    prob_best: list[ProbBest]
    prob_best_method: str
    methods: list[str] = Field(description="The tests, intervals and corrections used.")
