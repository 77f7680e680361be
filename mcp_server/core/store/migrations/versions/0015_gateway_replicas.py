"""Gateway replicas on one store: each process's heartbeat, its published per-version counters, and the
lease that lets exactly one of them step rollouts (deploy area, issue #24 item 4).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "mlops_gateway_replicas",
        col.string("id", 32),
        col.string("host", 256),
        col.integer("pid"),
        col.text("url", nullable=True),
        col.big_integer("generation"),
        col.timestamp("started_at"),
        col.timestamp("heartbeat_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_gateway_replicas"),
    )
    op.create_table(
        "mlops_gateway_counters",
        col.string("replica_id", 32),
        col.string("endpoint", 128),
        col.string("version", 64),
        col.big_integer("requests"),
        col.big_integer("errors"),
        col.big_integer("rejected"),
        col.big_integer("rows"),
        col.float_("latency_sum"),
        col.text("buckets"),
        col.timestamp("updated_at"),
        sa.PrimaryKeyConstraint("replica_id", "endpoint", "version", name="pk_mlops_gateway_counters"),
        col.cascade_key("mlops_gateway_counters", "replica_id", "mlops_gateway_replicas"),
    )
    op.create_table(
        "mlops_gateway_leases",
        col.string("name", 64),
        col.string("holder", 32),
        col.big_integer("term"),
        col.timestamp("acquired_at"),
        col.timestamp("expires_at"),
        sa.PrimaryKeyConstraint("name", name="pk_mlops_gateway_leases"),
    )


def downgrade() -> None:
    op.drop_table("mlops_gateway_leases")
    op.drop_table("mlops_gateway_counters")
    op.drop_table("mlops_gateway_replicas")
