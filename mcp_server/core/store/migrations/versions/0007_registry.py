"""Alias history (registry area).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_registry_alias_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("alias", sa.String(256), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.String(32), nullable=True),
        sa.Column("to_version", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("client", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("popped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_registry_alias_events"),
        sa.CheckConstraint("action IN ('set', 'rollback')", name="ck_mlops_registry_alias_events_action"),
    )
    op.create_index(
        "ix_mlops_registry_alias_events_model_alias_id",
        "mlops_registry_alias_events",
        ["model", "alias", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_mlops_registry_alias_events_model_alias_id", table_name="mlops_registry_alias_events")
    op.drop_table("mlops_registry_alias_events")
