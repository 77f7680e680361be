"""Backup records (backup area).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "mlops_backups",
        col.string("id", 64),
        col.string("reason", 16),
        col.text("scope"),
        col.text("path"),
        col.string("sha256", 64),
        col.big_integer("bytes"),
        col.integer("members"),
        col.string("store_backend", 16),
        col.timestamp("created_at"),
        col.timestamp("verified_at", nullable=True),
        col.boolean("verified_ok", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_backups"),
        sa.CheckConstraint("reason IN ('manual', 'safety')", name="ck_mlops_backups_reason"),
    )
    op.create_index("ix_mlops_backups_created_at", "mlops_backups", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_mlops_backups_created_at", table_name="mlops_backups")
    op.drop_table("mlops_backups")
