"""Validation results (validation area).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_validation_results",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("dataset_path", sa.Text(), nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("suite_name", sa.String(128), nullable=True),
        sa.Column("suite_version", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_validation_results"),
        sa.CheckConstraint("kind IN ('suite', 'integrity')", name="ck_mlops_validation_results_kind"),
    )
    op.create_index(
        "ix_mlops_validation_results_path_key_created_at",
        "mlops_validation_results",
        ["path_key", "created_at"],
    )
    op.create_index("ix_mlops_validation_results_created_at", "mlops_validation_results", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_mlops_validation_results_created_at", table_name="mlops_validation_results")
    op.drop_index("ix_mlops_validation_results_path_key_created_at", table_name="mlops_validation_results")
    op.drop_table("mlops_validation_results")
