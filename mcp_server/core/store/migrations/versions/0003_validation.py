"""Validation results (validation area).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "mlops_validation_results",
        col.string("id", 32),
        col.string("kind", 16),
        *col.dataset_columns(),
        col.string("suite_name", 128, nullable=True),
        col.integer("suite_version", nullable=True),
        col.boolean("success"),
        col.big_integer("row_count"),
        col.integer("evaluated"),
        col.integer("successful"),
        col.integer("failed"),
        col.text("results"),
        col.text("report_path", nullable=True),
        col.string("engine", 64),
        col.float_("duration_ms"),
        col.timestamp("created_at"),
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
