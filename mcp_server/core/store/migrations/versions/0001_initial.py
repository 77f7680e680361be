"""Initial tables: the audit log and lineage edges.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("client", sa.String(256), nullable=True),
        sa.Column("args_digest", sa.String(64), nullable=False),
        sa.Column("args_redacted", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_audit_log"),
        sa.CheckConstraint("outcome IN ('ok', 'error', 'cancelled')", name="ck_mlops_audit_log_outcome"),
    )
    op.create_index("ix_mlops_audit_log_time", "mlops_audit_log", ["time"])
    op.create_table(
        "mlops_lineage_edges",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("upstream", sa.String(1024), nullable=False),
        sa.Column("downstream", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_lineage_edges"),
        sa.UniqueConstraint(
            "upstream", "downstream", "kind", name="uq_mlops_lineage_edges_upstream_downstream_kind"
        ),
    )


def downgrade() -> None:
    op.drop_table("mlops_lineage_edges")
    op.drop_index("ix_mlops_audit_log_time", table_name="mlops_audit_log")
    op.drop_table("mlops_audit_log")
