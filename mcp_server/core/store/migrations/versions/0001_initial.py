"""Initial tables: the audit log and lineage edges.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "mlops_audit_log",
        col.serial_id(),
        col.timestamp("time"),
        col.string("tool", 128),
        col.string("client", 256, nullable=True),
        col.string("args_digest", 64),
        col.text("args_redacted"),
        col.string("outcome", 16),
        col.text("error", nullable=True),
        col.float_("duration_ms"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_audit_log"),
        sa.CheckConstraint("outcome IN ('ok', 'error', 'cancelled')", name="ck_mlops_audit_log_outcome"),
    )
    op.create_index("ix_mlops_audit_log_time", "mlops_audit_log", ["time"])
    op.create_table(
        "mlops_lineage_edges",
        col.serial_id(),
        col.string("upstream", 1024),
        col.string("downstream", 1024),
        col.string("kind", 64),
        col.text("details", nullable=True),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_lineage_edges"),
        sa.UniqueConstraint(
            "upstream", "downstream", "kind", name="uq_mlops_lineage_edges_upstream_downstream_kind"
        ),
    )


def downgrade() -> None:
    op.drop_table("mlops_lineage_edges")
    op.drop_index("ix_mlops_audit_log_time", table_name="mlops_audit_log")
    op.drop_table("mlops_audit_log")
