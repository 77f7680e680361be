"""Rollouts (canary, blue-green): the live window of a rollout's current step (deploy area, issue #10).

The rollouts and their events are in mlops_deploy_rollouts / mlops_deploy_events (revision 0009).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "mlops_deploy_rollout_windows",
        col.string("rollout_id", 32),
        col.integer("step_index"),
        col.timestamp("started_at"),
        col.timestamp("updated_at"),
        col.text("metrics"),
        sa.PrimaryKeyConstraint("rollout_id", name="pk_mlops_deploy_rollout_windows"),
    )


def downgrade() -> None:
    op.drop_table("mlops_deploy_rollout_windows")
