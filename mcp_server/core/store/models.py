"""SQLAlchemy models of the metadata store.

Conventions for every area that adds tables here:
- table names start with `mlops_` (the store may share a PostgreSQL database with MLflow or Feast);
- every change ships as a new revision in migrations/versions/ that upgrades the previous schema in
  place (never drop-and-recreate); tests/core/test_store.py checks these models against the migrations;
- timestamps are UTCDateTime (stored as UTC, read back timezone-aware).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Alembic's bookkeeping table; not `alembic_version`, which MLflow uses in a shared database.
VERSION_TABLE = "mlops_alembic_version"

# Fixed constraint names, so SQLite batch migrations and PostgreSQL agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Longest identifier (UTF-8 bytes) a lineage column holds; keeps PostgreSQL index entries in bounds.
MAX_IDENTIFIER_BYTES = 1024


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps no zone, so it stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# A UTC time that is set to now when the row is written without one.
UTCNow = Annotated[datetime, mapped_column(UTCDateTime, nullable=False, default=utcnow)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditRecord(Base):
    """One call of a tool that is not read-only (written by the tool boundary)."""

    __tablename__ = "mlops_audit_log"
    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'error', 'cancelled')", name="outcome"),
        Index("ix_mlops_audit_log_time", "time"),
        Index("ix_mlops_audit_log_tool_id", "tool", "id"),  # revision 0002
        Index("ix_mlops_audit_log_subject_id", "subject", "id"),  # revision 0014
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[UTCNow]
    tool: Mapped[str] = mapped_column(String(128), nullable=False)
    client: Mapped[str | None] = mapped_column(String(256), nullable=True)  # clientInfo.name (initialize)
    # Over OAuth (revision 0014): the verified token's `sub`, and its OAuth client (client_id, else azp).
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    args_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    args_redacted: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)


class LineageEdge(Base):
    """upstream -> downstream, e.g. dataset:... -> validation:..., with identifiers of the architecture."""

    __tablename__ = "mlops_lineage_edges"
    __table_args__ = (
        UniqueConstraint("upstream", "downstream", "kind"),  # also serves lookups by upstream
        Index("ix_mlops_lineage_edges_downstream", "downstream"),  # revision 0002
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upstream: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)
    downstream: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object text
    created_at: Mapped[UTCNow]


class DatasetFingerprint(Base):
    """Cached SHA-256 of a file, valid while its size, mtime, ctime and inode stay the same (0002)."""

    __tablename__ = "mlops_dataset_fingerprints"

    # sha256 of the resolved path: paths can be longer than an index entry may be.
    path_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ctime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    file_id: Mapped[str] = mapped_column(String(64), nullable=False)  # "<st_dev>:<st_ino>"
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    hashed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # when hashing started


# -- ab area (revision 0004) ---------------------------------------------------------------------


class AbExperiment(Base):
    """An A/B experiment's plan (variants live in mlops_ab_variants); the plan never changes after creation."""

    __tablename__ = "mlops_ab_experiments"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("metric_type IN ('proportion', 'mean')", name="metric_type"),
        CheckConstraint("direction IN ('increase', 'decrease')", name="direction"),
        CheckConstraint("status IN ('running', 'stopped')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    metric: Mapped[str] = mapped_column(String(128), nullable=False)
    metric_type: Mapped[str] = mapped_column(String(16), nullable=False)
    direction: Mapped[str] = mapped_column(String(16), nullable=False)
    control: Mapped[str] = mapped_column(String(128), nullable=False)
    alpha: Mapped[float] = mapped_column(Float, nullable=False)
    power: Mapped[float] = mapped_column(Float, nullable=False)
    mde: Mapped[float | None] = mapped_column(Float, nullable=True)
    mde_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    baseline: Mapped[float | None] = mapped_column(Float, nullable=True)
    std: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_size: Mapped[int] = mapped_column(BigInteger, nullable=False)  # planned units, all arms
    plan: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: design formula and inputs
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[UTCNow]
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AbVariant(Base):
    """One arm: its planned share and the sufficient statistics of what was recorded.

    Proportions: successes of n trials. Means: n, total (sum) and m2 (sum of squared deviations from the
    mean, merged with Chan et al.'s parallel formula: the numerically stable form of a sum of squares).
    """

    __tablename__ = "mlops_ab_variants"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name"),
        CheckConstraint("n >= 0 AND successes >= 0 AND successes <= n", name="counts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_ab_experiments.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    allocation: Mapped[float] = mapped_column(Float, nullable=False)
    planned_n: Mapped[int] = mapped_column(BigInteger, nullable=False)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    successes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    m2: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    units_kept: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class AbUnit(Base):
    """Per-unit values of a mean metric, kept (bounded per arm) only for the Mann-Whitney test."""

    __tablename__ = "mlops_ab_units"
    __table_args__ = (Index("ix_mlops_ab_units_variant_id", "variant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    variant_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_ab_variants.id", ondelete="CASCADE"), nullable=False
    )
    value: Mapped[float] = mapped_column(Float, nullable=False)


class AbIdempotencyKey(Base):
    """An `ab_record` call's idempotency key: a repeated key is not counted again (unique per experiment)."""

    __tablename__ = "mlops_ab_idempotency_keys"
    __table_args__ = (UniqueConstraint("experiment_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_ab_experiments.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    variant: Mapped[str] = mapped_column(String(128), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 of the observations
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[UTCNow]


class IdempotentCall(Base):
    """A write tool's call made with an `idempotency_key`: its result, replayed when the key comes again."""

    __tablename__ = "mlops_idempotent_calls"
    __table_args__ = (UniqueConstraint("tool", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tool: Mapped[str] = mapped_column(String(128), nullable=False)
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 of the other arguments
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # null while the first call runs
    created_at: Mapped[UTCNow]


class ValidationResultRecord(Base):
    """One validation run (a suite or integrity rules on a dataset), written by the validation area (0003)."""

    __tablename__ = "mlops_validation_results"
    __table_args__ = (
        CheckConstraint("kind IN ('suite', 'integrity')", name="kind"),
        Index("ix_mlops_validation_results_path_key_created_at", "path_key", "created_at"),
        Index("ix_mlops_validation_results_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex; lineage id validation:<id>
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    dataset: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)  # dataset:...@sha
    dataset_path: Mapped[str] = mapped_column(Text, nullable=False)  # resolved path
    path_key: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 of the resolved path
    suite_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    suite_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    evaluated: Mapped[int] = mapped_column(Integer, nullable=False)
    successful: Mapped[int] = mapped_column(Integer, nullable=False)
    failed: Mapped[int] = mapped_column(Integer, nullable=False)
    results: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of outcomes, failures first
    report_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # relative to the home
    engine: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. great_expectations 1.24.1
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[UTCNow]


# -- catalog and lake areas (revision 0005) ------------------------------------------------------


class CatalogDataset(Base):
    """A named dataset: lake-managed (zone set by lake_write) or registered at an outside location."""

    __tablename__ = "mlops_catalog_datasets"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("zone IS NULL OR zone IN ('raw', 'processed', 'curated')", name="zone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    zone: Mapped[str | None] = mapped_column(String(16), nullable=True)  # NULL: registered, not in the lake
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[UTCNow]
    updated_at: Mapped[UTCNow]


class CatalogTag(Base):
    """One tag of a catalog dataset (searchable by tag)."""

    __tablename__ = "mlops_catalog_tags"
    __table_args__ = (
        UniqueConstraint("dataset_id", "tag"),
        Index("ix_mlops_catalog_tags_tag", "tag"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_catalog_datasets.id", ondelete="CASCADE"), nullable=False
    )
    tag: Mapped[str] = mapped_column(String(64), nullable=False)


class CatalogVersion(Base):
    """One immutable version of a dataset: where it lives, its schema and size, and where it came from.

    A version is reserved as 'writing' before its files are written and becomes 'ready' (or 'failed')
    after; readers only see 'ready' versions. `identifier` is its lineage id dataset:<name>@<sha12>.
    """

    __tablename__ = "mlops_catalog_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        CheckConstraint("status IN ('writing', 'ready', 'failed')", name="status"),
        CheckConstraint("operation IN ('write', 'compact', 'register')", name="operation"),
        Index("ix_mlops_catalog_versions_identifier", "identifier"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_catalog_datasets.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    operation: Mapped[str] = mapped_column(String(16), nullable=False)
    identifier: Mapped[str | None] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=True)
    location: Mapped[str] = mapped_column(Text, nullable=False)  # local absolute path or s3://bucket/key
    format: Mapped[str] = mapped_column(String(16), nullable=False)  # parquet, csv, jsonl, json
    schema_json: Mapped[str] = mapped_column(Text, nullable=False)  # [{"name", "type", "nullable"}]
    arrow_schema: Mapped[str] = mapped_column(Text, nullable=False)  # base64 of the Arrow IPC schema
    partition_by: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of column names
    compression: Mapped[str | None] = mapped_column(String(16), nullable=True)
    row_group_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    files: Mapped[int | None] = mapped_column(Integer, nullable=True)
    row_groups: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str | None] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=True)
    created_at: Mapped[UTCNow]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# -- quality (revision 0006) ---------------------------------------------------------------------


class QualityProfileRecord(Base):
    """A stored column profile of one dataset version (quality_profile), kept for drift comparisons."""

    __tablename__ = "mlops_quality_profiles"
    __table_args__ = (Index("ix_mlops_quality_profiles_path_key_created_at", "path_key", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    dataset: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)  # dataset:...@sha
    dataset_path: Mapped[str] = mapped_column(Text, nullable=False)  # resolved path
    path_key: Mapped[str] = mapped_column(String(64), nullable=False)  # sha256 of the resolved path
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    column_count: Mapped[int] = mapped_column(Integer, nullable=False)
    profile: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: columns with percentiles, counts
    engine: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. pandas 2.3.3
    created_at: Mapped[UTCNow]


class QualityScoreRecord(Base):
    """One quality score of a dataset version: the six dimensions (null = not computed) and the overall."""

    __tablename__ = "mlops_quality_scores"
    __table_args__ = (
        CheckConstraint("threshold IS NULL OR (threshold >= 0 AND threshold <= 100)", name="threshold"),
        Index("ix_mlops_quality_scores_path_key_created_at", "path_key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    dataset: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)
    dataset_path: Mapped[str] = mapped_column(Text, nullable=False)
    path_key: Mapped[str] = mapped_column(String(64), nullable=False)
    row_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    overall: Mapped[float | None] = mapped_column(Float, nullable=True)
    completeness: Mapped[float | None] = mapped_column(Float, nullable=True)
    uniqueness: Mapped[float | None] = mapped_column(Float, nullable=True)
    validity: Mapped[float | None] = mapped_column(Float, nullable=True)
    consistency: Mapped[float | None] = mapped_column(Float, nullable=True)
    timeliness: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    suite: Mapped[str | None] = mapped_column(String(140), nullable=True)  # name@version used for validity
    validation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    details: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: dimensions, weights, left_out
    created_at: Mapped[UTCNow]


# -- registry (revision 0007) --------------------------------------------------------------------


class RegistryAliasEvent(Base):
    """One change of a registered model's alias (MLflow holds the alias; this is its history).

    action 'set' moved the alias from_version -> to_version; 'rollback' undid the newest 'set' row that was
    not undone yet (that row gets `popped_at`). A rollback pops the newest un-popped 'set' row and moves
    the alias back to that row's from_version.
    """

    __tablename__ = "mlops_registry_alias_events"
    __table_args__ = (
        CheckConstraint("action IN ('set', 'rollback')", name="action"),
        Index("ix_mlops_registry_alias_events_model_alias_id", "model", "alias", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(256), nullable=False)
    alias: Mapped[str] = mapped_column(String(256), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    from_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    client: Mapped[str | None] = mapped_column(String(256), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)  # the token's sub (0014)
    created_at: Mapped[UTCNow]
    popped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# -- health (revision 0008) ----------------------------------------------------------------------


class HealthCheck(Base):
    """One component's answer in one health run (health_check or `health watch`); a run is its run_id."""

    __tablename__ = "mlops_health_checks"
    __table_args__ = (
        CheckConstraint("status IN ('ok', 'down')", name="status"),
        Index("ix_mlops_health_checks_component_checked_at", "component", "checked_at"),
        Index("ix_mlops_health_checks_checked_at", "checked_at"),
        Index("ix_mlops_health_checks_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), nullable=False)  # uuid4 hex
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # 'tool' or 'watch'
    component: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    latency_ms: Mapped[float] = mapped_column(Float, nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    fix: Mapped[str | None] = mapped_column(Text, nullable=True)


# -- deploy (revision 0009) ----------------------------------------------------------------------


class DeployEndpoint(Base):
    """A serving endpoint on the gateway: which registered model it serves and its live blue/green slot."""

    __tablename__ = "mlops_deploy_endpoints"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint("live_slot IS NULL OR live_slot IN ('blue', 'green')", name="live_slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    model: Mapped[str] = mapped_column(String(256), nullable=False)
    stable_version: Mapped[str] = mapped_column(String(64), nullable=False)  # last version known good
    live_slot: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[UTCNow]
    updated_at: Mapped[UTCNow]


class DeployRoute(Base):
    """One model version routed by an endpoint: its traffic weight, its blue/green slot, its ONNX file."""

    __tablename__ = "mlops_deploy_routes"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "version"),
        CheckConstraint("weight >= 0 AND weight <= 100", name="weight"),
        CheckConstraint("slot IS NULL OR slot IN ('blue', 'green')", name="slot"),
        Index("ix_mlops_deploy_routes_model_version", "model", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("mlops_deploy_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    model: Mapped[str] = mapped_column(String(256), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False)  # percent of traffic, 0-100
    slot: Mapped[str | None] = mapped_column(String(8), nullable=True)
    onnx_dir: Mapped[str] = mapped_column(Text, nullable=False)  # folder holding model.onnx + twin.json
    created_at: Mapped[UTCNow]


class DeployGeneration(Base):
    """One row (id 1): bumped by every routing change in the same transaction; the gateway polls it."""

    __tablename__ = "mlops_deploy_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[UTCNow]


class DeployRollout(Base):
    """A canary or blue-green rollout; the controller in the gateway keeps its state here (issue #10)."""

    __tablename__ = "mlops_deploy_rollouts"
    __table_args__ = (
        CheckConstraint("kind IN ('canary', 'blue_green')", name="kind"),
        Index("ix_mlops_deploy_rollouts_endpoint_state", "endpoint", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(32), nullable=False)
    stable_version: Mapped[str] = mapped_column(String(64), nullable=False)
    candidate_version: Mapped[str] = mapped_column(String(64), nullable=False)
    steps: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of candidate weights
    step_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object: limits, step_seconds, ...
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[UTCNow]
    updated_at: Mapped[UTCNow]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Who started it (revision 0014): the MCP client's name and the token's sub.
    client: Mapped[str | None] = mapped_column(String(256), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)


class DeployEvent(Base):
    """Something that happened to an endpoint (created, step, promoted, rolled back, switched, deleted)."""

    __tablename__ = "mlops_deploy_events"
    __table_args__ = (Index("ix_mlops_deploy_events_endpoint_id", "endpoint", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(String(128), nullable=False)
    rollout_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: versions, weights, metrics
    time: Mapped[UTCNow]


# -- backup (revision 0010) ----------------------------------------------------------------------


class BackupRecord(Base):
    """One backup archive under <home>/backups: what it holds and the SHA-256 of the whole archive."""

    __tablename__ = "mlops_backups"
    __table_args__ = (
        CheckConstraint("reason IN ('manual', 'safety')", name="reason"),
        Index("ix_mlops_backups_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # lineage id backup:<id>
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    scope: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of the parts included
    path: Mapped[str] = mapped_column(Text, nullable=False)  # relative to the home: backups/<id>.tar.gz
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # of the archive file
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    members: Mapped[int] = mapped_column(Integer, nullable=False)
    store_backend: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[UTCNow]
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


# -- rollouts (revision 0011) ----------------------------------------------------------------------
# Rollouts and their events use mlops_deploy_rollouts / mlops_deploy_events (revision 0009); this table
# holds what only the controller inside the gateway knows: the live window of the current step.


class DeployRolloutWindow(Base):
    """The current step's window of a rollout (per-version metrics since the step began), kept by the controller."""

    __tablename__ = "mlops_deploy_rollout_windows"

    rollout_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # mlops_deploy_rollouts.id
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[UTCNow]
    metrics: Mapped[str] = mapped_column(
        Text, nullable=False
    )  # JSON: {version: {requests, errors, p99_ms, ...}}


# -- gateway replicas (revision 0015) ---------------------------------------------------------------
# Any number of gateway processes may serve one store (gateway/replicas.py): each keeps a heartbeat row and
# publishes its per-version counters; the lease row `rollouts` names the one replica that steps rollouts.


class GatewayReplica(Base):
    """One gateway process serving this store; gone once its heartbeat is older than a few heartbeats."""

    __tablename__ = "mlops_gateway_replicas"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex, new for every process
    host: Mapped[str] = mapped_column(String(256), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)  # where it listens, as it was started
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)  # the routing generation it serves
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # the database's clock


class GatewayCounters(Base):
    """A replica's counters of one endpoint version since the process started (as its /metrics has them)."""

    __tablename__ = "mlops_gateway_counters"

    replica_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("mlops_gateway_replicas.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, nullable=False)
    errors: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rejected: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    latency_sum: Mapped[float] = mapped_column(Float, nullable=False)  # seconds
    buckets: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: counts per metrics.BUCKETS (+ over)
    updated_at: Mapped[UTCNow]


class GatewayLease(Base):
    """A lease held by one replica until `expires_at` (the database's clock); `term` grows at each takeover."""

    __tablename__ = "mlops_gateway_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # "rollouts"
    holder: Mapped[str] = mapped_column(String(32), nullable=False)  # a replica id
    term: Mapped[int] = mapped_column(BigInteger, nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# -- workflow (revision 0012) ---------------------------------------------------------------------


class WorkflowRecord(Base):
    """One gated promotion started by workflow_promote; its gates are WorkflowGate rows."""

    __tablename__ = "mlops_workflows"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'succeeded', 'failed', 'interrupted')", name="state"),
        Index("ix_mlops_workflows_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex; lineage id workflow:<id>
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    candidate_version: Mapped[str] = mapped_column(String(32), nullable=False)
    champion_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    current_gate: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the call's arguments
    client: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)  # the token's sub (0014)
    created_at: Mapped[UTCNow]
    updated_at: Mapped[UTCNow]


class WorkflowGate(Base):
    __tablename__ = "mlops_workflow_gates"
    __table_args__ = (
        UniqueConstraint("workflow_id", "position"),
        CheckConstraint("state IN ('pending', 'running', 'passed', 'failed', 'skipped')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(32), ForeignKey("mlops_workflows.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    gate: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: the gate's evidence
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# -- monitor (revision 0016) ----------------------------------------------------------------------------
# Sketches of served traffic (gateway/monitoring.py), one row per replica, endpoint version and window, merged
# by the monitor area at read time; the reference sketches of each served version over its training data;
# request_id -> predictions (and the outcomes recorded later); stored drift results; watch rules.


class MonitorSketch(Base):
    """One replica's sketches of one endpoint version in one window (rewritten at each flush)."""

    __tablename__ = "mlops_monitor_sketches"
    __table_args__ = (Index("ix_mlops_monitor_sketches_endpoint_window", "endpoint", "window_start"),)

    replica_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    window_s: Mapped[float] = mapped_column(Float, nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sketches: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # monitoring.pack
    updated_at: Mapped[UTCNow]


class MonitorReference(Base):
    """The reference sketches of a model version over its training data (built once)."""

    __tablename__ = "mlops_monitor_references"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(MAX_IDENTIFIER_BYTES), nullable=False)
    rows: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sketches: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[UTCNow]


class MonitorPrediction(Base):
    """What one gateway response predicted, by its request_id; outcomes recorded later (JSON lists)."""

    __tablename__ = "mlops_monitor_predictions"
    __table_args__ = (
        Index("ix_mlops_monitor_predictions_endpoint_created_at", "endpoint", "created_at"),
        Index("ix_mlops_monitor_predictions_created_at", "created_at"),
    )

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    predictions: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list, one per row
    outcomes: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list aligned with predictions
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MonitorDrift(Base):
    """A stored monitor_drift result (lineage: model:<name>/<version> -> drift:<id>)."""

    __tablename__ = "mlops_monitor_drift"
    __table_args__ = (Index("ix_mlops_monitor_drift_endpoint_created_at", "endpoint", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(128), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    against: Mapped[str] = mapped_column(String(16), nullable=False)
    window_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_to: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    drifted: Mapped[int] = mapped_column(Integer, nullable=False)
    result: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    created_at: Mapped[UTCNow]


class MonitorRule(Base):
    """A watch rule on an endpoint and whether it held at the last evaluation (alerts go on changes)."""

    __tablename__ = "mlops_monitor_rules"

    endpoint: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the rule
    holding: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # the metric at the last evaluation
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[UTCNow]


class BatchPrediction(Base):
    """One deploy_batch_predict job: a dataset scored off the request into a new lake dataset (0017).

    `heartbeat_at` moves every few seconds while the job's thread runs; a `running` job whose heartbeat
    stopped belongs to a server that stopped, and reads (and is then stored) as `interrupted`.
    """

    __tablename__ = "mlops_batch_predictions"
    __table_args__ = (
        CheckConstraint(
            "state IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')", name="state"
        ),
        Index("ix_mlops_batch_predictions_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    endpoint: Mapped[str | None] = mapped_column(String(128), nullable=True)
    input: Mapped[str] = mapped_column(Text, nullable=False)  # the dataset (name vN) or file, as shown
    input_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)  # its lineage id
    output_dataset: Mapped[str] = mapped_column(String(128), nullable=False)
    output_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    output_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    engine: Mapped[str] = mapped_column(String(16), nullable=False)
    rows_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_done: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    rows_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of the call's arguments
    client: Mapped[str | None] = mapped_column(String(128), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[UTCNow]
    heartbeat_at: Mapped[UTCNow]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
