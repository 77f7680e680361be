"""Quality profiles and scores (quality area).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_quality_profiles",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("dataset_path", sa.Text(), nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("column_count", sa.Integer(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_quality_profiles"),
    )
    op.create_index(
        "ix_mlops_quality_profiles_path_key_created_at", "mlops_quality_profiles", ["path_key", "created_at"]
    )
    op.create_table(
        "mlops_quality_scores",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dataset", sa.String(1024), nullable=False),
        sa.Column("dataset_path", sa.Text(), nullable=False),
        sa.Column("path_key", sa.String(64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("overall", sa.Float(), nullable=True),
        sa.Column("completeness", sa.Float(), nullable=True),
        sa.Column("uniqueness", sa.Float(), nullable=True),
        sa.Column("validity", sa.Float(), nullable=True),
        sa.Column("consistency", sa.Float(), nullable=True),
        sa.Column("timeliness", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("suite", sa.String(140), nullable=True),
        sa.Column("validation_id", sa.String(32), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
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
