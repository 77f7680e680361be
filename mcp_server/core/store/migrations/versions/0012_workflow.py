"""Workflows (gated promotion) and their gates (workflow area, issue #15).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_workflows",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("candidate_version", sa.String(32), nullable=False),
        sa.Column("champion_version", sa.String(32), nullable=True),
        sa.Column("endpoint", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("current_gate", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("client", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'succeeded', 'failed', 'interrupted')", name="ck_mlops_workflows_state"
        ),
    )
    op.create_index("ix_mlops_workflows_created_at", "mlops_workflows", ["created_at"])
    op.create_table(
        "mlops_workflow_gates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "workflow_id",
            sa.String(32),
            sa.ForeignKey("mlops_workflows.id", name="fk_mlops_workflow_gates_workflow_id_mlops_workflows"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("workflow_id", "position", name="uq_mlops_workflow_gates_workflow_id_position"),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'passed', 'failed', 'skipped')",
            name="ck_mlops_workflow_gates_state",
        ),
    )


def downgrade() -> None:
    op.drop_table("mlops_workflow_gates")
    op.drop_index("ix_mlops_workflows_created_at", table_name="mlops_workflows")
    op.drop_table("mlops_workflows")
