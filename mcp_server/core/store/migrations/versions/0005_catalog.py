"""Catalog entries and dataset versions (lake and catalog areas).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MAX_IDENTIFIER_BYTES = 1024


def upgrade() -> None:
    op.create_table(
        "mlops_catalog_datasets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("zone", sa.String(16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_datasets"),
        sa.UniqueConstraint("name", name="uq_mlops_catalog_datasets_name"),
        sa.CheckConstraint(
            "zone IS NULL OR zone IN ('raw', 'processed', 'curated')", name="ck_mlops_catalog_datasets_zone"
        ),
    )
    op.create_table(
        "mlops_catalog_tags",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_tags"),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["mlops_catalog_datasets.id"],
            name="fk_mlops_catalog_tags_dataset_id_mlops_catalog_datasets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("dataset_id", "tag", name="uq_mlops_catalog_tags_dataset_id_tag"),
    )
    op.create_index("ix_mlops_catalog_tags_tag", "mlops_catalog_tags", ["tag"])
    op.create_table(
        "mlops_catalog_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("identifier", sa.String(MAX_IDENTIFIER_BYTES), nullable=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("schema_json", sa.Text(), nullable=False),
        sa.Column("arrow_schema", sa.Text(), nullable=False),
        sa.Column("partition_by", sa.Text(), nullable=False),
        sa.Column("compression", sa.String(16), nullable=True),
        sa.Column("row_group_size", sa.Integer(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=True),
        sa.Column("row_groups", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(MAX_IDENTIFIER_BYTES), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_versions"),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["mlops_catalog_datasets.id"],
            name="fk_mlops_catalog_versions_dataset_id_mlops_catalog_datasets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("dataset_id", "version", name="uq_mlops_catalog_versions_dataset_id_version"),
        sa.CheckConstraint(
            "status IN ('writing', 'ready', 'failed')", name="ck_mlops_catalog_versions_status"
        ),
        sa.CheckConstraint(
            "operation IN ('write', 'compact', 'register')", name="ck_mlops_catalog_versions_operation"
        ),
    )
    op.create_index("ix_mlops_catalog_versions_identifier", "mlops_catalog_versions", ["identifier"])


def downgrade() -> None:
    op.drop_index("ix_mlops_catalog_versions_identifier", table_name="mlops_catalog_versions")
    op.drop_table("mlops_catalog_versions")
    op.drop_index("ix_mlops_catalog_tags_tag", table_name="mlops_catalog_tags")
    op.drop_table("mlops_catalog_tags")
    op.drop_table("mlops_catalog_datasets")
