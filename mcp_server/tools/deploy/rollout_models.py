"""Result models of the rollout tools (canary, blue-green, rollback, history) of the deploy area."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_server.core.output import NextCursor

RolloutState = Literal[
    "starting", "waiting_for_traffic", "running", "promoted", "rolled_back", "failed", "aborted"
]


class WindowMetrics(BaseModel):
    """One version's traffic in the current step's window (since the step began)."""

    requests: int
    errors: int = Field(description="Requests the version failed to answer (HTTP 5xx).")
    rejected: int = Field(description="Requests whose rows did not fit the version's inputs (HTTP 4xx).")
    error_rate: float | None = Field(None, description="errors / requests; null without requests.")
    rejected_rate: float | None = Field(None, description="rejected / requests; null without requests.")
    p50_ms: float | None = None
    p99_ms: float | None = Field(
        None, description="From the gateway's latency histogram, interpolated inside its bucket."
    )


class CanaryLimits(BaseModel):
    step_seconds: float
    min_requests: int
    max_wait_seconds: float
    max_error_rate: float
    max_p99_ms: float
    max_error_rate_increase: float | None = None
    max_p99_ratio: float | None = None


class CanaryStarted(BaseModel):
    rollout_id: str = Field(description="Pass to deploy_canary_status; lineage id rollout:<id>.")
    endpoint: str
    model: str
    stable_version: str
    candidate_version: str
    state: RolloutState
    steps: list[float] = Field(description="The candidate's traffic percent at each step.")
    limits: CanaryLimits
    gateway_running: bool
    message: str


class CanaryStatus(BaseModel):
    rollout_id: str
    endpoint: str
    state: RolloutState
    stable_version: str
    candidate_version: str
    steps: list[float]
    step: int = Field(description="The current step, 1-based (the last step reached once finished).")
    candidate_weight: float = Field(description="The candidate's traffic percent at the current step.")
    weights: dict[str, float] = Field(description="The endpoint's routing weights now, by version.")
    window: dict[str, WindowMetrics] = Field(
        default_factory=dict,
        description="The current step's window per version, as the controller last saw it.",
    )
    window_by_replica: dict[str, dict[str, WindowMetrics]] = Field(
        default_factory=dict,
        description="The same window per gateway replica (by replica id) that served the step; they add up to it.",
    )
    window_seconds: float | None = Field(None, description="How long the current step's window has run.")
    window_updated_at: str | None = None
    reason: str | None = Field(None, description="Why the last decision was taken.")
    limits: CanaryLimits
    created_at: str
    updated_at: str
    finished_at: str | None = None
    client: str | None = Field(None, description="The MCP client that started the rollout.")
    subject: str | None = Field(
        None, description="Over OAuth: who started the rollout (the token's subject)."
    )
    gateway_running: bool
    message: str


class RolloutDecision(BaseModel):
    rollout_id: str | None
    endpoint: str
    state: str = Field(description="The rollout's state after the call (or 'switched' / 'rolled_back').")
    version: str = Field(description="The version that now takes all traffic.")
    previous_version: str | None = None
    weights: dict[str, float]
    live_slot: str | None = None
    generation: int = Field(description="The routing generation this change created.")
    gateway_applied: bool = Field(description="True when the running gateway already serves this generation.")
    reason: str
    message: str


class ParityRow(BaseModel):
    row: int
    live: Any
    candidate: Any
    same: bool


class PrepareResult(BaseModel):
    endpoint: str
    version: str
    slot: str = Field(description="The idle slot that now holds the version (weight 0).")
    live_slot: str
    live_version: str
    loaded: bool
    healthz: bool
    warm_ms: float | None = Field(None, description="Latency of the version's first pinned request.")
    parity_rows: int
    agreement: float = Field(description="Share of sample rows where both slots gave the same output.")
    output_types_match: bool = Field(
        description="Both slots answered every row with outputs of the same type."
    )
    samples: list[ParityRow] = Field(default_factory=list, description="Up to 10 rows, disagreements first.")
    ready: bool = Field(description="True when deploy_blue_green_switch may move traffic to this slot.")
    message: str


class HistoryEvent(BaseModel):
    id: int
    time: str
    kind: str = Field(
        description="created, canary_started, step, waiting, resumed, promoted, rolled_back, failed, aborted, "
        "prepared, switched, rollback, deleted, ..."
    )
    rollout_id: str | None = None
    reason: str | None = None
    details: dict[str, Any] | None = Field(None, description="Weights, versions and the metrics decided on.")
    started_by_client: str | None = Field(
        None, description="The MCP client that started this event's rollout."
    )
    started_by_subject: str | None = Field(
        None, description="Over OAuth: who started this event's rollout (the token's subject)."
    )


class HistoryPage(BaseModel):
    endpoint: str
    items: list[HistoryEvent]
    total: int
    next_cursor: NextCursor = None
