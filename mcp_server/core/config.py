"""Settings: one pydantic-settings model, read from `MLOPS_MCP_*` environment variables and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Profile = Literal["core", "all"]


def _split_list(value: object) -> object:
    # Env values are plain text: "a,b" or "a:b" (os.pathsep) rather than JSON.
    if isinstance(value, str):
        parts = value.replace(os.pathsep, ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    return value


def _default_home() -> Path:
    from platformdirs import user_data_dir  # only when MLOPS_MCP_HOME and --home are not given

    return Path(user_data_dir("mlops-mcp"))


class Settings(BaseSettings):
    """Everything the server reads at start. `Settings(home=tmp_path)` is a complete test configuration."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_MCP_", extra="forbid")

    home: Path = Field(default_factory=lambda: _default_home())
    roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allow_broad_root: bool = False
    profile: Profile = "core"
    tools: Annotated[list[str] | None, NoDecode] = None
    read_only: bool = False

    store_url: SecretStr | None = None
    # MLflow tracking/registry: None -> SQLite at <home>/mlflow.db with artifacts in <home>/mlartifacts.
    mlflow_uri: SecretStr | None = None
    token: SecretStr | None = None  # the static bearer token of the HTTP transport (simple mode)
    # OAuth 2.1 resource server (core/auth.py; exclusive with `token`): the authorization server that
    # issues the tokens, its JWKS (None: from the issuer's metadata), the `aud` tokens must hold (None:
    # this server's URL, http://<host>:<port>/mcp) and scopes every token must carry.
    auth_issuer: str | None = None
    auth_jwks_url: str | None = None
    auth_audience: str | None = None
    auth_required_scopes: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Feast: an existing repo to attach (None -> <home>/feature_repo), the online store and its Redis URL.
    feature_repo: Path | None = None
    feast_online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    allow_feature_repo_code: bool = False
    # The data lake: a local folder (default <home>/lake) or s3://bucket/prefix.
    lake_root: str | None = None
    s3_endpoint_url: str | None = (
        None  # for S3-compatible stores (MinIO, moto); checked against url_allowlist
    )
    s3_region: str = "us-east-1"
    # Hosts that caller-given or configured URLs (S3 endpoints, tracking servers, webhooks) may point at.
    url_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"]
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # -- quality (#5) settings go here
    quality_max_images: int = Field(20_000, ge=1)  # files quality_check_homogeneity opens in one folder
    # -- registry / onnx (#8) settings go here
    # Training rows compared between the ONNX twin and the native model before a conversion is kept.
    onnx_parity_rows: int = Field(1000, ge=10, le=100_000)
    # -- gateway / deploy (#9) settings go here
    gateway_host: str = "127.0.0.1"  # a non-loopback bind needs gateway_token (or token)
    gateway_port: int = Field(8780, ge=1, le=65535)
    gateway_token: SecretStr | None = None  # bearer token for the gateway; falls back to `token`
    gateway_max_batch: int = Field(1000, ge=1)  # rows per predict request
    gateway_max_body_bytes: int = Field(4 * 1024**2, ge=1024)  # bigger bodies get 413
    gateway_body_timeout_s: float = Field(10.0, gt=0, le=3600)  # a body not in by then gets 408
    gateway_poll_s: float = Field(0.5, gt=0, le=60)  # how often the gateway checks the routing generation
    gateway_prediction_log_rate: float = Field(0.0, ge=0.0, le=1.0)  # sampled prediction log; 0 = off
    gateway_start_timeout_s: float = Field(30.0, gt=0)
    # Gateways on one store (replicas): each writes its heartbeat and counters this often (every rollout tick
    # while a canary runs) and counts as gone after 3 missed; a dead leader's lease is taken over once it expires.
    gateway_heartbeat_s: float = Field(1.0, gt=0, le=60)
    gateway_lease_s: float = Field(2.0, gt=0, le=600)
    docker_host: str | None = None  # Engine API URL for deploy_build_image (else DOCKER_HOST / the socket)
    # -- rollouts (#10) settings go here
    rollout_tick_s: float = Field(
        0.2, gt=0, le=10
    )  # how often the gateway's canary controller looks at its rollouts
    rollout_load_timeout_s: float = Field(120.0, gt=0)  # a candidate not loaded by then fails the rollout
    # -- mongo / health (#12) settings go here
    # MongoDB: None -> the mongo tools are off and say how to configure it. The URI may hold a password.
    mongo_uri: SecretStr | None = None
    mongo_database: str = Field("mlops", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
    mongo_server_selection_timeout_s: float = Field(5.0, gt=0, le=300)
    mongo_connect_timeout_s: float = Field(5.0, gt=0, le=300)
    mongo_socket_timeout_s: float = Field(30.0, gt=0, le=3600)
    mongo_timeout_s: float = Field(60.0, gt=0, le=3600)  # total per operation (pymongo timeoutMS)
    mongo_write_concern: str = Field("majority", pattern=r"^(majority|[0-9]{1,2})$")  # w
    mongo_journal: bool = True  # j
    mongo_max_results: int = Field(500, ge=1, le=10_000)  # documents per page at most
    mongo_max_insert: int = Field(100_000, ge=1)  # documents per mongo_insert call
    # health_check: each probe's own deadline; `health watch` alerts past this latency.
    health_probe_timeout_s: float = Field(15.0, gt=0, le=120)
    health_latency_threshold_ms: float = Field(2000.0, gt=0)
    health_history_days: int = Field(30, ge=1, le=3650)  # older health runs are pruned
    # -- backup (#13) settings go here
    # Where backup_restore(target="new_home") creates new homes (default: the folder holding the home).
    backup_restore_root: Path | None = None
    # How long backup_create waits for the metadata store's write lock (writers then wait for it).
    backup_lock_timeout_s: float = Field(60.0, gt=0)
    # -- spark (#16) settings go here
    # Spark master for engine=spark: None -> local[*] when pyspark is installed; "off" disables Spark;
    # a cluster URL (spark://host:7077, yarn, k8s://...) in production.
    spark_master: str | None = None
    # engine=auto runs on Spark when a dataset has more rows (Parquet metadata) or bytes than these.
    spark_auto_rows: int = Field(5_000_000, ge=1)
    spark_auto_bytes: int = Field(2 * 1024**3, ge=1)
    spark_driver_memory: str = "1g"
    # Extra Spark settings as JSON, e.g. {"spark.jars.packages": "org.apache.hadoop:hadoop-aws:3.4.1"}.
    spark_conf: dict[str, str] = Field(default_factory=dict)
    # -- duckdb (#28) settings go here
    # engine=auto validates a Parquet/CSV file on DuckDB (GX's SQL engine over a view of the file) when it
    # has more rows (Parquet metadata) or bytes than these, and is below Spark's thresholds.
    duckdb_auto_rows: int = Field(1_000_000, ge=1)
    duckdb_auto_bytes: int = Field(256 * 1024**2, ge=1)
    # DuckDB's memory for one run (it spills to <home>/cache/duckdb beyond it) and its threads (None: all cores).
    duckdb_memory_limit: str = Field("1GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    duckdb_threads: int | None = Field(None, ge=1, le=256)
    # -- monitor (#27) settings go here
    # Sketches of served traffic (gateway/monitoring.py): per endpoint, version and window of this many
    # seconds; flushed to the store this often and at shutdown; windows older than the retention deleted.
    monitor_enabled: bool = True
    monitor_window_s: float = Field(3600.0, ge=1, le=7 * 86400)
    monitor_flush_s: float = Field(5.0, gt=0, le=300)
    monitor_retention_days: float = Field(30.0, gt=0, le=3650)
    monitor_kll_k: int = Field(200, ge=8, le=4096)  # KLL accuracy: rank error ~1.65/k^0.95 (k=200: 1.3%)
    # request_id -> prediction, for monitor_record_outcomes: kept this long; rows waiting for their
    # flush are capped (beyond it requests are still served, their monitoring is dropped and counted).
    monitor_prediction_retention_days: float = Field(7.0, gt=0, le=3650)
    monitor_max_pending_rows: int = Field(200_000, ge=100)

    deadline_s: float = Field(120.0, gt=0)
    max_deadline_s: float = Field(1800.0, gt=0)
    max_output_bytes: int = Field(20_000, ge=1_000)
    max_rows: int = Field(5_000_000, ge=1)
    max_file_bytes: int = Field(2 * 1024**3, ge=1)
    # A table's size once decoded (Parquet, checked from its metadata before reading): a few KB of zstd
    # can hold gigabytes.
    max_decoded_bytes: int = Field(2 * 1024**3, ge=1)
    allow_pickle: bool = False
    # Warm worker processes for validation work that must be killable (a suite with a caller's regex):
    # each imports GX once and keeps its engine; started on the first such call, or at server start.
    validation_workers: int = Field(1, ge=1, le=8)
    validation_workers_at_start: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    # How often subscribed resources (a rollout, a workflow) are read for changes while anyone subscribes.
    watch_interval_s: float = Field(1.0, gt=0, le=60)

    @field_validator("roots", "tools", "allowed_origins", "url_allowlist", mode="before")
    @classmethod
    def _lists_from_text(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("auth_required_scopes", mode="before")
    @classmethod
    def _scopes_from_text(cls, value: object) -> object:
        # "mlops:read mlops:write" or "a,b": a scope holds ':', so not _split_list's os.pathsep.
        if isinstance(value, str):
            return [s for s in value.replace(",", " ").split() if s]
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def workspace_dir(self) -> Path:
        return self.home / "workspace"

    def effective_roots(self) -> list[Path]:
        """The allowlist of data roots: the configured ones, or `<home>/workspace` when none is given."""
        roots = self.roots or [self.workspace_dir]
        return [Path(r).expanduser().resolve() for r in roots]
