"""Batch prediction jobs: deploy_batch_predict's state, progress and output (deploy area, issue #26 item 5).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.create_table(
        "mlops_batch_predictions",
        sa.Column("id", sa.String(32), primary_key=True),
        col.string("state", 16),
        col.string("model", 128),
        col.string("version", 32),
        col.string("endpoint", 128, nullable=True),
        col.text("input"),
        col.string("input_id", 1024, nullable=True),
        col.string("output_dataset", 128),
        col.integer("output_version", nullable=True),
        col.string("output_id", 1024, nullable=True),
        col.string("engine", 16),
        col.big_integer("rows_total", nullable=True),
        col.big_integer("rows_done"),
        col.float_("rows_per_s", nullable=True),
        col.text("error", nullable=True),
        col.text("params"),
        col.string("client", 128, nullable=True),
        col.string("subject", 256, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("heartbeat_at"),
        col.timestamp("finished_at", nullable=True),
        sa.CheckConstraint(
            "state IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')",
            name="ck_mlops_batch_predictions_state",
        ),
    )
    op.create_index("ix_mlops_batch_predictions_created_at", "mlops_batch_predictions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_mlops_batch_predictions_created_at", table_name="mlops_batch_predictions")
    op.drop_table("mlops_batch_predictions")
