"""Input and result models of the monitor tools."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

RuleMetric = Literal["psi", "ks", "prediction_psi", "accuracy", "f1", "rmse", "mae"]


class FeatureDrift(BaseModel):
    feature: str
    kind: Literal["numeric", "categorical"]
    psi: float | None = Field(
        description="Population stability index against the baseline (>= threshold: drifted)."
    )
    ks: float | None = Field(
        description="Kolmogorov-Smirnov distance: the largest gap between the two CDFs (numeric features)."
    )
    drifted: bool
    rows: int = Field(description="Values served in the range (nulls excluded).")
    nulls: int
    note: str | None = None


class DriftResult(BaseModel):
    drift_id: str = Field(description="Stored result; lineage model:<name>/<version> -> drift:<id>.")
    endpoint: str
    model: str
    version: str
    against: Literal["reference", "window"]
    window_from: str = Field(description="Start of the served range compared (ISO 8601, UTC).")
    window_to: str
    windows: int = Field(description="Sketch windows merged for the range.")
    rows: int = Field(description="Rows served in the range.")
    baseline: str = Field(description="What the range is compared with (the training dataset, or a range).")
    baseline_rows: int
    method: str = Field(description="How PSI and KS are computed from the sketches.")
    error_bound: float = Field(
        description="Bound on each CDF value's error (normalized rank, 99% confidence); KS is within 2x it."
    )
    psi_threshold: float
    drifted_features: int
    features: list[FeatureDrift] = Field(description="Drifted features first, then by PSI.")
    prediction: FeatureDrift | None = Field(description="Drift of the predictions (labels or values).")
    truncated: bool = False


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        max_length=64, description="The request_id (X-Request-Id) of the gateway response."
    )
    outcome: Annotated[str, Field(max_length=256)] | float | int | bool = Field(
        description="The true label or value."
    )
    row: int = Field(0, ge=0, le=100_000, description="Row of the request's batch (0 for single rows).")


class OutcomesResult(BaseModel):
    endpoint: str
    received: int
    joined: int = Field(description="Outcomes matched to a stored prediction and recorded.")
    unknown: int = Field(
        description="request_ids not found (unknown, of another endpoint, or past retention)."
    )
    unknown_ids: list[str] = Field(description="Up to 10 of them.")
    bad_rows: int = Field(description="Outcomes whose row is past the request's batch.")


class WindowPerformance(BaseModel):
    window_start: str
    joined: int
    accuracy: float | None = None
    f1: float | None = None
    roc_auc: float | None = None
    rmse: float | None = None
    mae: float | None = None


class PerformanceResult(BaseModel):
    endpoint: str
    version: str | None
    task: Literal["classification", "regression", "unknown"]
    window_s: float
    joined: int = Field(description="Prediction/outcome pairs in the range.")
    overall: WindowPerformance | None
    windows: list[WindowPerformance] = Field(description="Newest first (up to 48).")
    note: str | None = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    metric: RuleMetric = Field(
        description="psi/ks (a feature's drift against the reference), prediction_psi, or accuracy/f1/rmse/mae."
    )
    op: Literal[">", "<"] = Field(
        description="The rule holds when the metric is above (>) or below (<) the threshold."
    )
    threshold: float
    windows: int = Field(1, ge=1, le=48, description="Consecutive windows (newest first) it must hold in.")
    feature: str | None = Field(None, max_length=256, description="psi/ks: one feature; default any feature.")
    min_rows: int = Field(
        100, ge=1, description="Windows with fewer rows (or joined outcomes) are not judged."
    )


class RuleState(BaseModel):
    endpoint: str
    rule: Rule
    holding: bool
    value: float | None = Field(description="The metric in the newest judged window at the last evaluation.")
    changed_at: str | None
    evaluated_at: str | None


class RulesResult(BaseModel):
    endpoint: str
    rules: list[RuleState]
    changed: bool = Field(description="True when this call replaced the endpoint's rules.")
