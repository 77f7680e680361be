"""Endpoints, routes, rollouts and their events (deploy area and gateway).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_deploy_endpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("stable_version", sa.String(64), nullable=False),
        sa.Column("live_slot", sa.String(8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_endpoints"),
        sa.UniqueConstraint("name", name="uq_mlops_deploy_endpoints_name"),
        sa.CheckConstraint(
            "live_slot IS NULL OR live_slot IN ('blue', 'green')", name="ck_mlops_deploy_endpoints_live_slot"
        ),
    )
    op.create_table(
        "mlops_deploy_routes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("slot", sa.String(8), nullable=True),
        sa.Column("onnx_dir", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_routes"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["mlops_deploy_endpoints.id"],
            name="fk_mlops_deploy_routes_endpoint_id_mlops_deploy_endpoints",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("endpoint_id", "version", name="uq_mlops_deploy_routes_endpoint_id_version"),
        sa.CheckConstraint("weight >= 0 AND weight <= 100", name="ck_mlops_deploy_routes_weight"),
        sa.CheckConstraint("slot IS NULL OR slot IN ('blue', 'green')", name="ck_mlops_deploy_routes_slot"),
    )
    op.create_index("ix_mlops_deploy_routes_model_version", "mlops_deploy_routes", ["model", "version"])
    op.create_table(
        "mlops_deploy_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_generation"),
    )
    op.create_table(
        "mlops_deploy_rollouts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("stable_version", sa.String(64), nullable=False),
        sa.Column("candidate_version", sa.String(64), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_deploy_rollouts"),
        sa.CheckConstraint("kind IN ('canary', 'blue_green')", name="ck_mlops_deploy_rollouts_kind"),
    )
    op.create_index("ix_mlops_deploy_rollouts_endpoint_state", "mlops_deploy_rollouts", ["endpoint", "state"])
    op.create_table(
        "mlops_deploy_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("rollout_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
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
