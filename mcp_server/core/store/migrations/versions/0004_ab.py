"""A/B experiments, variants and observations (ab area).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "mlops_ab_experiments",
        col.serial_id(),
        col.string("name", 128),
        col.string("metric", 128),
        col.string("metric_type", 16),
        col.string("direction", 16),
        col.string("control", 128),
        col.float_("alpha"),
        col.float_("power"),
        col.float_("mde", nullable=True),
        col.string("mde_kind", 16),
        col.float_("baseline", nullable=True),
        col.float_("std", nullable=True),
        col.big_integer("sample_size"),
        col.text("plan"),
        col.string("status", 16),
        col.timestamp("created_at"),
        col.timestamp("stopped_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_experiments"),
        sa.UniqueConstraint("name", name="uq_mlops_ab_experiments_name"),
        sa.CheckConstraint(
            "metric_type IN ('proportion', 'mean')", name="ck_mlops_ab_experiments_metric_type"
        ),
        sa.CheckConstraint("direction IN ('increase', 'decrease')", name="ck_mlops_ab_experiments_direction"),
        sa.CheckConstraint("status IN ('running', 'stopped')", name="ck_mlops_ab_experiments_status"),
    )
    op.create_table(
        "mlops_ab_variants",
        col.serial_id(),
        col.integer("experiment_id"),
        col.string("name", 128),
        col.integer("position"),
        col.float_("allocation"),
        col.big_integer("planned_n"),
        col.big_integer("n"),
        col.big_integer("successes"),
        col.float_("total"),
        col.float_("m2"),
        col.integer("units_kept"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_variants"),
        col.cascade_key("mlops_ab_variants", "experiment_id", "mlops_ab_experiments"),
        sa.UniqueConstraint("experiment_id", "name", name="uq_mlops_ab_variants_experiment_id_name"),
        sa.CheckConstraint(
            "n >= 0 AND successes >= 0 AND successes <= n", name="ck_mlops_ab_variants_counts"
        ),
    )
    op.create_table(
        "mlops_ab_units",
        col.serial_id(),
        col.integer("variant_id"),
        col.float_("value"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_units"),
        col.cascade_key("mlops_ab_units", "variant_id", "mlops_ab_variants"),
    )
    op.create_index("ix_mlops_ab_units_variant_id", "mlops_ab_units", ["variant_id"])
    op.create_table(
        "mlops_ab_idempotency_keys",
        col.serial_id(),
        col.integer("experiment_id"),
        col.string("key", 128),
        col.string("variant", 128),
        col.string("digest", 64),
        col.big_integer("units"),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_idempotency_keys"),
        col.cascade_key("mlops_ab_idempotency_keys", "experiment_id", "mlops_ab_experiments"),
        sa.UniqueConstraint("experiment_id", "key", name="uq_mlops_ab_idempotency_keys_experiment_id_key"),
    )


def downgrade() -> None:
    op.drop_table("mlops_ab_idempotency_keys")
    op.drop_index("ix_mlops_ab_units_variant_id", table_name="mlops_ab_units")
    op.drop_table("mlops_ab_units")
    op.drop_table("mlops_ab_variants")
    op.drop_table("mlops_ab_experiments")
