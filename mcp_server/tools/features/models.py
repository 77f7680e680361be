"""Result models of the features area (cheap to import: no Feast, no pandas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_server.core.output import Page
from mcp_server.tools.validation.models import ValidationReport

Action = Literal["create", "update", "delete", "unchanged"]
Kind = Literal["project", "entity", "data_source", "feature_view", "feature_service"]


class InitResult(BaseModel):
    repo: str = Field(description="The Feast repo folder as shown to the assistant.")
    project: str = Field(description="The default project of the tools that take `project`.")
    created: bool = Field(description="True if this call created the repo's feature_store.yaml.")
    attached: bool = Field(
        description="True for a repo of the user's own (its feature_store.yaml is the config)."
    )
    provider: str
    online_store: str
    offline_store: str
    projects: list[str] = Field(description="Projects already in the registry.")


class PropertyChange(BaseModel):
    property: str
    current: str | None
    desired: str | None


class PlanChange(BaseModel):
    action: Action
    kind: str
    name: str
    changes: list[PropertyChange] = Field(default_factory=list, description="For updates: what changes.")


class PlanResult(BaseModel):
    project: str
    definitions: str
    version: str = Field(
        description="SHA-256 of the definitions file: the feature set's version once applied."
    )
    applied: bool
    summary: dict[str, int] = Field(description="Objects per action: create, update, delete, unchanged.")
    changes: list[PlanChange] = Field(description="Created, updated and deleted objects first.")
    lineage: list[str] = Field(
        default_factory=list, description="Edges recorded as 'upstream -> downstream'."
    )


class ObjectSummary(BaseModel):
    kind: Kind
    name: str
    project: str
    version: str | None = Field(None, description="SHA-256 of the definitions file that applied it.")
    description: str | None = None
    features: list[str] | None = None
    entities: list[str] | None = None


class ObjectPage(Page[ObjectSummary]):
    pass


class FeatureField(BaseModel):
    name: str
    type: str


class SourceInfo(BaseModel):
    name: str
    path: str
    timestamp_field: str
    created_timestamp_column: str | None = None


class Interval(BaseModel):
    start: datetime
    end: datetime


class DescribeResult(BaseModel):
    kind: Kind
    name: str
    project: str
    description: str | None = None
    version: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    join_keys: list[str] | None = None
    value_type: str | None = None
    entities: list[str] | None = None
    features: list[FeatureField] | None = None
    ttl_seconds: int | None = None
    online: bool | None = None
    source: SourceInfo | None = None
    feature_views: list[str] | None = Field(None, description="For a feature service: the views it reads.")
    materialized: list[Interval] | None = Field(
        None, description="Materialized windows, latest last (max 10)."
    )


class ViewMaterialization(BaseModel):
    name: str
    start: datetime | None = Field(None, description="Window start; null when incremental picked it.")
    end: datetime
    seconds: float


class MaterializeResult(BaseModel):
    project: str
    mode: Literal["window", "incremental"]
    online_store: str
    views: list[ViewMaterialization]
    seconds: float


class OnlineResult(BaseModel):
    project: str
    features: list[str] = Field(description="Feature columns, as 'view__feature' when full names are on.")
    rows: list[dict[str, Any]] = Field(description="One row per entity row, join keys first.")
    missing: int = Field(description="Entity rows with no value for any requested feature.")


class HistoricalResult(BaseModel):
    project: str
    output: str = Field(description="The training set written, as a workspace path.")
    dataset: str = Field(description="Lineage identifier of the written training set.")
    rows: int
    columns: list[str]
    features: list[str]
    null_counts: dict[str, int] = Field(
        description="Rows with no feature value in the TTL window, per feature."
    )
    sample: list[dict[str, Any]] = Field(default_factory=list, description="First rows (include_samples).")
    lineage: list[str] = Field(default_factory=list)
    seconds: float


class ScaffoldResult(BaseModel):
    definitions: str = Field(
        description="The drafted definitions file; review it, then features_plan / features_apply."
    )
    source: str = Field(description="The Parquet file the source reads.")
    converted: bool = Field(description="True if a Parquet copy with typed timestamps was written.")
    project: str
    feature_view: str
    features: dict[str, str] = Field(description="Feature -> type in the drafted view.")
    skipped: list[str] = Field(description="Columns left out (types Feast features here do not cover).")
    yaml: str = Field(description="The drafted file's text.")


class FeatureValidation(BaseModel):
    project: str
    feature_view: str
    source: str = Field(description="The view's offline data (its source file) as a workspace path.")
    columns: list[str] = Field(description="Columns validated: join keys, timestamp and the view's features.")
    lineage: list[str] = Field(default_factory=list)
    report: ValidationReport = Field(
        description="The stored validation result (validation_get_result reads it again)."
    )
