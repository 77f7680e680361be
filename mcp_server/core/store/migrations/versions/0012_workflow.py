"""Workflows (gated promotion) and their gates (workflow area, issue #15).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "mlops_workflows",
        sa.Column("id", sa.String(32), primary_key=True),
        col.string("kind", 16),
        col.string("model", 128),
        col.string("candidate_version", 32),
        col.string("champion_version", 32, nullable=True),
        col.string("endpoint", 128, nullable=True),
        col.string("state", 16),
        col.string("current_gate", 32, nullable=True),
        col.text("reason", nullable=True),
        col.text("params"),
        col.string("client", 128, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        sa.CheckConstraint(
            "state IN ('running', 'succeeded', 'failed', 'interrupted')", name="ck_mlops_workflows_state"
        ),
    )
    op.create_index("ix_mlops_workflows_created_at", "mlops_workflows", ["created_at"])
    op.create_table(
        "mlops_workflow_gates",
        col.serial_id(),
        sa.Column(
            "workflow_id",
            sa.String(32),
            sa.ForeignKey("mlops_workflows.id", name="fk_mlops_workflow_gates_workflow_id_mlops_workflows"),
            nullable=False,
        ),
        col.integer("position"),
        col.string("gate", 32),
        col.string("state", 16),
        col.text("summary", nullable=True),
        col.text("detail", nullable=True),
        col.timestamp("started_at", nullable=True),
        col.timestamp("finished_at", nullable=True),
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
