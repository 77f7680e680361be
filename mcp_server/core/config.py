"""Settings: one pydantic-settings model, read from `MLOPS_MCP_*` environment variables and CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Profile = Literal["core", "all"]


def _split_list(value: object) -> object:
    # Env values are plain text: "a,b" or "a:b" (os.pathsep) rather than JSON.
    if isinstance(value, str):
        parts = value.replace(os.pathsep, ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    return value


class Settings(BaseSettings):
    """Everything the server reads at start. `Settings(home=tmp_path)` is a complete test configuration."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_MCP_", extra="forbid")

    home: Path = Field(default_factory=lambda: Path(user_data_dir("mlops-mcp")))
    roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allow_broad_root: bool = False
    profile: Profile = "core"
    tools: Annotated[list[str] | None, NoDecode] = None
    read_only: bool = False

    store_url: SecretStr | None = None
    # MLflow tracking/registry: None -> SQLite at <home>/mlflow.db with artifacts in <home>/mlartifacts.
    mlflow_uri: SecretStr | None = None
    token: SecretStr | None = None
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
    # -- registry / onnx (#8) settings go here
    # -- gateway / deploy (#9, #10) settings go here
    # -- mongo / health (#12) settings go here
    # -- backup (#13) settings go here
    # -- spark (#16) settings go here

    deadline_s: float = Field(120.0, gt=0)
    max_deadline_s: float = Field(1800.0, gt=0)
    max_output_bytes: int = Field(20_000, ge=1_000)
    max_rows: int = Field(5_000_000, ge=1)
    max_file_bytes: int = Field(2 * 1024**3, ge=1)
    allow_pickle: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"

    @field_validator("roots", "tools", "allowed_origins", "url_allowlist", mode="before")
    @classmethod
    def _lists_from_text(cls, value: object) -> object:
        return _split_list(value)

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
