"""Rollouts (canary, blue-green): the live window of a rollout's current step (deploy area, issue #10).

The rollouts and their events are in mlops_deploy_rollouts / mlops_deploy_events (revision 0009).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_deploy_rollout_windows",
        sa.Column("rollout_id", sa.String(32), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("rollout_id", name="pk_mlops_deploy_rollout_windows"),
    )


def downgrade() -> None:
    op.drop_table("mlops_deploy_rollout_windows")
