"""SQLAlchemy models of the metadata store.

Conventions for every area that adds tables here:
- table names start with `mlops_` (the store may share a PostgreSQL database with MLflow or Feast);
- every change ships as a new revision in migrations/versions/ that upgrades the previous schema in
  place (never drop-and-recreate); tests/core/test_store.py checks these models against the migrations;
- timestamps are UTCDateTime (stored as UTC, read back timezone-aware).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditRecord(Base):
    """One call of a tool that is not read-only (written by the tool boundary)."""

    __tablename__ = "mlops_audit_log"
    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'error', 'cancelled')", name="outcome"),
        Index("ix_mlops_audit_log_time", "time"),
        Index("ix_mlops_audit_log_tool_id", "tool", "id"),  # revision 0002
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    tool: Mapped[str] = mapped_column(String(128), nullable=False)
    client: Mapped[str | None] = mapped_column(String(256), nullable=True)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


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
