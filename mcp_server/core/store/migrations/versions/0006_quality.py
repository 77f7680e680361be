"""Quality profiles and scores (quality area).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "mlops_quality_profiles",
        col.string("id", 32),
        *col.dataset_columns(),
        col.big_integer("row_count"),
        col.integer("column_count"),
        col.text("profile"),
        col.string("engine", 64),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_quality_profiles"),
    )
    op.create_index(
        "ix_mlops_quality_profiles_path_key_created_at", "mlops_quality_profiles", ["path_key", "created_at"]
    )
    op.create_table(
        "mlops_quality_scores",
        col.string("id", 32),
        *col.dataset_columns(),
        col.big_integer("row_count"),
        col.float_("overall", nullable=True),
        col.float_("completeness", nullable=True),
        col.float_("uniqueness", nullable=True),
        col.float_("validity", nullable=True),
        col.float_("consistency", nullable=True),
        col.float_("timeliness", nullable=True),
        col.float_("accuracy", nullable=True),
        col.float_("threshold", nullable=True),
        col.boolean("passed", nullable=True),
        col.string("suite", 140, nullable=True),
        col.string("validation_id", 32, nullable=True),
        col.text("details"),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_quality_scores"),
        sa.CheckConstraint(
            "threshold IS NULL OR (threshold >= 0 AND threshold <= 100)",
            name="ck_mlops_quality_scores_threshold",
        ),
    )
    op.create_index(
        "ix_mlops_quality_scores_path_key_created_at", "mlops_quality_scores", ["path_key", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_mlops_quality_scores_path_key_created_at", table_name="mlops_quality_scores")
    op.drop_table("mlops_quality_scores")
    op.drop_index("ix_mlops_quality_profiles_path_key_created_at", table_name="mlops_quality_profiles")
    op.drop_table("mlops_quality_profiles")
