"""Monitoring of served traffic (monitor area, issue #27): per-replica sketches of each endpoint version's
inputs and outputs per window, reference sketches per model version, request_id -> predictions with the
outcomes recorded later, stored drift results and watch rules.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "mlops_monitor_sketches",
        col.string("replica_id", 32),
        col.string("endpoint", 128),
        col.string("version", 64),
        col.timestamp("window_start"),
        col.float_("window_s"),
        col.big_integer("rows"),
        sa.Column("sketches", sa.LargeBinary(), nullable=False),
        col.timestamp("updated_at"),
        sa.PrimaryKeyConstraint(
            "replica_id", "endpoint", "version", "window_start", name="pk_mlops_monitor_sketches"
        ),
    )
    op.create_index(
        "ix_mlops_monitor_sketches_endpoint_window", "mlops_monitor_sketches", ["endpoint", "window_start"]
    )
    op.create_table(
        "mlops_monitor_references",
        col.string("model", 128),
        col.string("version", 64),
        col.string("dataset", 1024),
        col.big_integer("rows"),
        sa.Column("sketches", sa.LargeBinary(), nullable=False),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("model", "version", name="pk_mlops_monitor_references"),
    )
    op.create_table(
        "mlops_monitor_predictions",
        col.string("request_id", 32),
        col.string("endpoint", 128),
        col.string("version", 64),
        col.timestamp("created_at"),
        col.text("predictions"),
        col.text("outcomes", nullable=True),
        col.timestamp("outcome_at", nullable=True),
        sa.PrimaryKeyConstraint("request_id", name="pk_mlops_monitor_predictions"),
    )
    op.create_index(
        "ix_mlops_monitor_predictions_endpoint_created_at",
        "mlops_monitor_predictions",
        ["endpoint", "created_at"],
    )
    op.create_index("ix_mlops_monitor_predictions_created_at", "mlops_monitor_predictions", ["created_at"])
    op.create_table(
        "mlops_monitor_drift",
        col.string("id", 32),
        col.string("endpoint", 128),
        col.string("model", 128),
        col.string("version", 64),
        col.string("against", 16),
        col.timestamp("window_from"),
        col.timestamp("window_to"),
        col.integer("drifted"),
        col.text("result"),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_monitor_drift"),
    )
    op.create_index(
        "ix_mlops_monitor_drift_endpoint_created_at", "mlops_monitor_drift", ["endpoint", "created_at"]
    )
    op.create_table(
        "mlops_monitor_rules",
        col.string("endpoint", 128),
        col.string("name", 128),
        col.text("rule"),
        col.boolean("holding"),
        col.float_("value", nullable=True),
        col.timestamp("changed_at", nullable=True),
        col.timestamp("evaluated_at", nullable=True),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("endpoint", "name", name="pk_mlops_monitor_rules"),
    )


def downgrade() -> None:
    op.drop_table("mlops_monitor_rules")
    op.drop_index("ix_mlops_monitor_drift_endpoint_created_at", table_name="mlops_monitor_drift")
    op.drop_table("mlops_monitor_drift")
    op.drop_index("ix_mlops_monitor_predictions_created_at", table_name="mlops_monitor_predictions")
    op.drop_index("ix_mlops_monitor_predictions_endpoint_created_at", table_name="mlops_monitor_predictions")
    op.drop_table("mlops_monitor_predictions")
    op.drop_table("mlops_monitor_references")
    op.drop_index("ix_mlops_monitor_sketches_endpoint_window", table_name="mlops_monitor_sketches")
    op.drop_table("mlops_monitor_sketches")
