"""Pydantic result models of the backup area (cheap to import)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from mcp_server.core.output import Page

Part = Literal["metadata", "models", "suites", "features", "lake"]
Format = Literal["mlops-mcp-backup/1", "mlops-mcp-backup/2"]  # 2: the store holds relative paths (issue 20)
Scope = Literal["all", "metadata", "models", "suites", "features", "lake"]
Target = Literal["new_home", "in_place"]


class Excluded(BaseModel):
    what: str = Field(description="What was left out, e.g. 'models' or 'lake'.")
    why: str = Field(description="Why it is not in the archive and what to do about it.")


class Member(BaseModel):
    name: str
    sha256: str
    size: int


class Manifest(BaseModel):
    """manifest.json as read back: what verify, list and restore rely on. An archive whose manifest does
    not have this shape is refused as a whole, before any of its fields is used (issue #22.10)."""

    format: Format
    id: str
    created_at: datetime | None = None
    reason: str | None = Field(None, max_length=64)
    scope: list[Part]
    source_home: str | None = None
    lake_root: str | None = None
    not_included: list[Excluded] = Field(default_factory=list)
    members: list[Member]


class BackupCreated(BaseModel):
    id: str = Field(description="The backup's id; pass it to backup_verify and backup_restore.")
    path: str = Field(description="The archive, relative to the home: <home>/backups/<id>.tar.gz.")
    reason: Literal["manual", "safety"]
    scope: list[Part] = Field(description="The parts the archive holds.")
    members: int = Field(description="Files in the archive (the manifest not counted).")
    bytes: int
    sha256: str = Field(description="SHA-256 of the whole archive file.")
    not_included: list[Excluded]
    locked_ms: float = Field(description="How long writers to the metadata store waited for the snapshot.")
    created_at: datetime


class BackupInfo(BaseModel):
    id: str
    path: str
    reason: str | None = None
    scope: list[str]
    bytes: int
    members: int | None = None
    created_at: datetime | None = None
    recorded: bool = Field(description="False for an archive found in <home>/backups without a record.")
    present: bool = Field(description="False when the record's archive file is gone.")
    verified_ok: bool | None = None
    verified_at: datetime | None = None


class BackupPage(Page[BackupInfo]):
    pass


class Problem(BaseModel):
    member: str = Field(description="The archive member, or '<archive>' for the file as a whole.")
    problem: str


class VerifyResult(BaseModel):
    id: str
    ok: bool = Field(description="True when every member was read and matched its SHA-256.")
    checked: int = Field(description="Members read and hashed.")
    problems: list[Problem] = Field(description="What failed (at most 50), empty when ok.")
    archive_sha256: str | None = Field(None, description="SHA-256 of the archive file as read.")


class PruneResult(BaseModel):
    kept: list[str] = Field(description="Ids kept, newest first (at most 200 listed).")
    deleted: list[str] = Field(description="Ids deleted (at most 200 listed).")
    kept_count: int
    deleted_count: int
    freed_bytes: int


class Rewrite(BaseModel):
    where: str = Field(description="The database table.column or file whose paths were rewritten.")
    count: int


class RestoreResult(BaseModel):
    id: str
    target: Target
    home: str = Field(description="The restored home: its name under the restore root, or '<home>'.")
    parts: list[str] = Field(description="The parts restored.")
    rewrites: list[Rewrite] = Field(description="Paths that pointed into the backup's home, rewritten.")
    integrity: dict[str, str] = Field(description="PRAGMA integrity_check of each restored SQLite database.")
    safety_backup: str | None = Field(None, description="In place: the id of the backup taken first.")
    gateway: str | None = Field(None, description="In place: what happened to the serving gateway.")
    notes: list[str] = Field(default_factory=list)
