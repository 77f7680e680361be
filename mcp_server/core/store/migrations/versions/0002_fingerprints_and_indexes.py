"""Dataset fingerprint cache; indexes for lineage walks downstream and audit queries by tool.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_dataset_fingerprints",
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("hashed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("path_key", name="pk_mlops_dataset_fingerprints"),
    )
    op.create_index("ix_mlops_lineage_edges_downstream", "mlops_lineage_edges", ["downstream"])
    op.create_index("ix_mlops_audit_log_tool_id", "mlops_audit_log", ["tool", "id"])


def downgrade() -> None:
    op.drop_index("ix_mlops_audit_log_tool_id", table_name="mlops_audit_log")
    op.drop_index("ix_mlops_lineage_edges_downstream", table_name="mlops_lineage_edges")
    op.drop_table("mlops_dataset_fingerprints")
