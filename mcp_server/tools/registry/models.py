"""Pydantic results of the registry tools."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_server.core.output import NextCursor


class ValidationRef(BaseModel):
    id: str
    kind: str
    suite: str | None = None
    success: bool
    failed: int
    evaluated: int
    at: str


class CodeVersion(BaseModel):
    git_commit: str
    git_dirty: bool
    code_path: str


class Lineage(BaseModel):
    run: str | None = Field(default=None, description="run:<mlflow-run-id> the version was registered from.")
    datasets: list[str] = Field(default_factory=list, description="Training data (dataset:<name>@<sha>).")
    validations: list[ValidationRef] = Field(
        default_factory=list, description="Newest validation results of that data."
    )
    quality_score: float | None = None
    code: CodeVersion | None = None
    edges: list[str] = Field(
        default_factory=list, description="Upstream lineage edges (upstream -> downstream)."
    )


class RegisterResult(BaseModel):
    name: str
    version: str
    source: Literal["run", "onnx_file", "skops_file", "pickle_file"]
    run_id: str
    model_uri: str
    lineage: Lineage
    tags: dict[str, str]


class ModelSummary(BaseModel):
    name: str
    description: str | None
    latest_version: str | None
    aliases: dict[str, str] = Field(description="alias -> version")
    tags: dict[str, str]
    updated: str | None


class ModelList(BaseModel):
    models: list[ModelSummary]
    next_cursor: NextCursor = None


class VersionSummary(BaseModel):
    name: str
    version: str
    run_id: str | None
    aliases: list[str]
    tags: dict[str, str]
    metrics: dict[str, float]
    archived: bool
    created: str | None


class VersionList(BaseModel):
    versions: list[VersionSummary]
    total: int
    next_cursor: NextCursor = None


class Condition(BaseModel):
    """One filter condition: data, never code."""

    model_config = {"extra": "forbid"}

    field: str = Field(
        description="'tags.<key>', 'metrics.<name>' (the run's metrics, e.g. metrics.test_accuracy), "
        "'alias', 'version' or 'run_id'."
    )
    op: Literal["=", "!=", ">", ">=", "<", "<=", "contains", "exists"] = "="
    value: str | float | int | bool | None = None


class OnnxTwinInfo(BaseModel):
    onnx_model_id: str
    uri: str | None
    opset: str | None
    lineage_id: str


class VersionDetail(BaseModel):
    name: str
    version: str
    description: str | None
    source: str | None
    run_id: str | None
    status: str | None
    archived: bool
    created: str | None
    aliases: list[str]
    tags: dict[str, str]
    metrics: dict[str, float]
    params: dict[str, str]
    signature: dict[str, Any] | None = Field(
        None, description="MLflow signature: inputs/outputs column specs (with details=true; null without)."
    )
    lineage: Lineage | None = Field(None, description="Where the version came from (with details=true).")
    artifacts: list[str] | None = Field(None, description="The model's files (with details=true).")
    onnx: OnnxTwinInfo | None = Field(description="The version's ONNX twin (from onnx_convert), if any.")


class AliasEvent(BaseModel):
    id: int
    action: Literal["set", "rollback"]
    from_version: str | None
    to_version: str | None
    reason: str | None
    client: str | None
    subject: str | None = Field(None, description="Over OAuth: who made the change (the token's subject).")
    at: str
    undone: bool = Field(description="True when a later rollback undid this change.")


class AliasResult(BaseModel):
    name: str
    alias: str
    version: str
    previous: str | None
    event: AliasEvent


class AliasHistory(BaseModel):
    name: str
    alias: str
    current: str | None
    events: list[AliasEvent] = Field(description="Newest first.")
    next_cursor: NextCursor = None


class SideBySide(BaseModel):
    key: str
    a: Any
    b: Any
    same: bool


class CompareResult(BaseModel):
    name: str
    a: str
    b: str
    metrics: list[SideBySide]
    params: list[SideBySide]
    signature_same: bool
    signature: dict[str, Any]
    lineage: dict[str, Any]
    metric: str | None = None
    direction: Literal["higher_is_better", "lower_is_better"] | None = None
    better: str | None = Field(
        default=None, description="The better version for `metric`, or null on a tie / missing."
    )
    difference: float | None = Field(default=None, description="b - a for `metric`.")


class ChangeResult(BaseModel):
    name: str
    version: str
    action: Literal["archived", "deleted"]
    detail: str


class ModelCard(BaseModel):
    name: str
    version: str
    card: str = Field(description="mlops://artifacts/... link to the Markdown model card (resources/read).")
    sections: list[str]
    summary: str
