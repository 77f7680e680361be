"""Health check runs (health history and alerts).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "mlops_health_checks",
        col.serial_id(),
        col.string("run_id", 32),
        col.timestamp("checked_at"),
        col.string("source", 16),
        col.string("component", 64),
        col.string("status", 8),
        col.float_("latency_ms"),
        col.text("detail"),
        col.text("fix", nullable=True),
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
