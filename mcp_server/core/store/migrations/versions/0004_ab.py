"""A/B experiments, variants and observations (ab area).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlops_ab_experiments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("metric_type", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("control", sa.String(128), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("power", sa.Float(), nullable=False),
        sa.Column("mde", sa.Float(), nullable=True),
        sa.Column("mde_kind", sa.String(16), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("std", sa.Float(), nullable=True),
        sa.Column("sample_size", sa.BigInteger(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("allocation", sa.Float(), nullable=False),
        sa.Column("planned_n", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("successes", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("m2", sa.Float(), nullable=False),
        sa.Column("units_kept", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_variants"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["mlops_ab_experiments.id"],
            name="fk_mlops_ab_variants_experiment_id_mlops_ab_experiments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("experiment_id", "name", name="uq_mlops_ab_variants_experiment_id_name"),
        sa.CheckConstraint(
            "n >= 0 AND successes >= 0 AND successes <= n", name="ck_mlops_ab_variants_counts"
        ),
    )
    op.create_table(
        "mlops_ab_units",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_units"),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["mlops_ab_variants.id"],
            name="fk_mlops_ab_units_variant_id_mlops_ab_variants",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_mlops_ab_units_variant_id", "mlops_ab_units", ["variant_id"])
    op.create_table(
        "mlops_ab_idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_ab_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["mlops_ab_experiments.id"],
            name="fk_mlops_ab_idempotency_keys_experiment_id_mlops_ab_experiments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("experiment_id", "key", name="uq_mlops_ab_idempotency_keys_experiment_id_key"),
    )


def downgrade() -> None:
    op.drop_table("mlops_ab_idempotency_keys")
    op.drop_index("ix_mlops_ab_units_variant_id", table_name="mlops_ab_units")
    op.drop_table("mlops_ab_units")
    op.drop_table("mlops_ab_variants")
    op.drop_table("mlops_ab_experiments")
