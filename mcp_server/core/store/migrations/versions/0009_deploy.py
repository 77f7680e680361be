"""Endpoints, routes, rollouts and their events (deploy area and gateway).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "mlops_deploy_endpoints",
        col.serial_id(),
        col.string("name", 128),
        col.string("model", 256),
        col.string("stable_version", 64),
        col.string("live_slot", 8, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_endpoints"),
        sa.UniqueConstraint("name", name="uq_mlops_deploy_endpoints_name"),
        sa.CheckConstraint(
            "live_slot IS NULL OR live_slot IN ('blue', 'green')", name="ck_mlops_deploy_endpoints_live_slot"
        ),
    )
    op.create_table(
        "mlops_deploy_routes",
        col.serial_id(),
        col.integer("endpoint_id"),
        col.string("model", 256),
        col.string("version", 64),
        col.float_("weight"),
        col.string("slot", 8, nullable=True),
        col.text("onnx_dir"),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_routes"),
        col.cascade_key("mlops_deploy_routes", "endpoint_id", "mlops_deploy_endpoints"),
        sa.UniqueConstraint("endpoint_id", "version", name="uq_mlops_deploy_routes_endpoint_id_version"),
        sa.CheckConstraint("weight >= 0 AND weight <= 100", name="ck_mlops_deploy_routes_weight"),
        sa.CheckConstraint("slot IS NULL OR slot IN ('blue', 'green')", name="ck_mlops_deploy_routes_slot"),
    )
    op.create_index("ix_mlops_deploy_routes_model_version", "mlops_deploy_routes", ["model", "version"])
    op.create_table(
        "mlops_deploy_generation",
        col.integer("id"),
        col.big_integer("generation"),
        col.timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_generation"),
    )
    op.create_table(
        "mlops_deploy_rollouts",
        col.string("id", 32),
        col.string("endpoint", 128),
        col.string("kind", 16),
        col.string("state", 32),
        col.string("stable_version", 64),
        col.string("candidate_version", 64),
        col.text("steps"),
        col.integer("step_index"),
        col.text("params"),
        col.text("reason", nullable=True),
        col.timestamp("step_started_at", nullable=True),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        col.timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_rollouts"),
        sa.CheckConstraint("kind IN ('canary', 'blue_green')", name="ck_mlops_deploy_rollouts_kind"),
    )
    op.create_index("ix_mlops_deploy_rollouts_endpoint_state", "mlops_deploy_rollouts", ["endpoint", "state"])
    op.create_table(
        "mlops_deploy_events",
        col.serial_id(),
        col.string("endpoint", 128),
        col.string("rollout_id", 32, nullable=True),
        col.string("kind", 32),
        col.text("reason", nullable=True),
        col.text("details", nullable=True),
        col.timestamp("time"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_events"),
    )
    op.create_index("ix_mlops_deploy_events_endpoint_id", "mlops_deploy_events", ["endpoint", "id"])


def downgrade() -> None:
    op.drop_index("ix_mlops_deploy_events_endpoint_id", table_name="mlops_deploy_events")
    op.drop_table("mlops_deploy_events")
    op.drop_index("ix_mlops_deploy_rollouts_endpoint_state", table_name="mlops_deploy_rollouts")
    op.drop_table("mlops_deploy_rollouts")
    op.drop_table("mlops_deploy_generation")
    op.drop_index("ix_mlops_deploy_routes_model_version", table_name="mlops_deploy_routes")
    op.drop_table("mlops_deploy_routes")
    op.drop_table("mlops_deploy_endpoints")
