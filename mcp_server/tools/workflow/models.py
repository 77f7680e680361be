"""Arguments and results of the workflow area."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mcp_server.core.output import NextCursor


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataGate(_Strict):
    suite: str | None = Field(None, description="GX suite (name or name@N) the evaluation data must pass.")
    min_quality: float | None = Field(
        None, ge=0, le=100, description="Minimum quality_score overall (0-100) of the evaluation data."
    )


class ComparisonGate(_Strict):
    metric: str = Field(
        "roc_auc", description="scikit-learn scorer the candidate and champion are compared on."
    )
    margin: float | None = Field(
        None,
        ge=0,
        description="Non-inferiority margin in metric units: pass when not worse by more than this. "
        "Without it the candidate must be significantly better.",
    )
    n_folds: int = Field(5, ge=2, le=20, description="Folds (repeated 3 times) shared by both models.")


class CanaryGate(_Strict):
    steps: list[float] = Field(
        default_factory=lambda: [25.0, 100.0],
        min_length=1,
        max_length=10,
        description="Candidate weights (%).",
    )
    step_seconds: float = Field(2.0, gt=0, le=3600)
    min_requests: int = Field(20, ge=1)
    max_wait_seconds: float = Field(120.0, gt=0, le=86_400)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_p99_ms: float = Field(500.0, gt=0)


class Gates(_Strict):
    """Which gates run, and their limits; a gate set to null is skipped (and reported as skipped)."""

    data: DataGate | None = Field(default_factory=lambda: DataGate.model_validate({}))
    comparison: ComparisonGate | None = Field(default_factory=lambda: ComparisonGate.model_validate({}))
    model_tests: list[dict[str, Any]] | None = Field(
        None, max_length=20, description="Checks for evaluation_test_model; null skips the gate."
    )
    onnx_parity: bool = True
    canary: CanaryGate | None = Field(default_factory=lambda: CanaryGate.model_validate({}))


GateName = Literal["data", "comparison", "model_tests", "onnx_parity", "canary"]
GATE_ORDER: tuple[GateName, ...] = ("data", "comparison", "model_tests", "onnx_parity", "canary")


class GateReport(BaseModel):
    gate: GateName
    state: Literal["pending", "running", "passed", "failed", "skipped"]
    summary: str | None = None
    detail: dict[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class WorkflowStarted(BaseModel):
    workflow_id: str
    state: Literal["running"]
    gates: list[GateName]
    status_tool: str = "workflow_status"


class WorkflowStatus(BaseModel):
    workflow_id: str
    kind: str
    model: str
    candidate_version: str
    champion_version: str | None
    endpoint: str | None
    state: Literal["running", "succeeded", "failed", "interrupted"]
    current_gate: str | None
    reason: str | None = Field(None, description="Why it stopped (the failed gate's summary) or what it did.")
    client: str | None = Field(None, description="The MCP client that started it.")
    subject: str | None = Field(None, description="Over OAuth: who started it (the token's subject).")
    gates: list[GateReport]
    created_at: datetime
    updated_at: datetime


class WorkflowList(BaseModel):
    workflows: list[WorkflowStatus]
    next_cursor: NextCursor = None
