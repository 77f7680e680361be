"""Backup records (backup area).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_backups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("store_backend", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_ok", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_backups"),
        sa.CheckConstraint("reason IN ('manual', 'safety')", name="ck_mlops_backups_reason"),
    )
    op.create_index("ix_mlops_backups_created_at", "mlops_backups", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_mlops_backups_created_at", table_name="mlops_backups")
    op.drop_table("mlops_backups")
