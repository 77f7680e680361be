"""Health check runs (health history and alerts).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_health_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("component", sa.String(64), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_health_checks"),
        sa.CheckConstraint("status IN ('ok', 'down')", name="ck_mlops_health_checks_status"),
    )
    op.create_index(
        "ix_mlops_health_checks_component_checked_at", "mlops_health_checks", ["component", "checked_at"]
    )
    op.create_index("ix_mlops_health_checks_checked_at", "mlops_health_checks", ["checked_at"])
    op.create_index("ix_mlops_health_checks_run_id", "mlops_health_checks", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_mlops_health_checks_run_id", table_name="mlops_health_checks")
    op.drop_index("ix_mlops_health_checks_checked_at", table_name="mlops_health_checks")
    op.drop_index("ix_mlops_health_checks_component_checked_at", table_name="mlops_health_checks")
    op.drop_table("mlops_health_checks")
