"""Alias history (registry area).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "mlops_registry_alias_events",
        col.serial_id(),
        col.string("model", 256),
        col.string("alias", 256),
        col.string("action", 16),
        col.string("from_version", 32, nullable=True),
        col.string("to_version", 32, nullable=True),
        col.text("reason", nullable=True),
        col.string("client", 256, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("popped_at", nullable=True),
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
