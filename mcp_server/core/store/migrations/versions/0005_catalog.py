"""Catalog entries and dataset versions (lake and catalog areas).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0005"
down_revision = "0004"

MAX_IDENTIFIER_BYTES = 1024


def upgrade() -> None:
    op.create_table(
        "mlops_catalog_datasets",
        col.serial_id(),
        col.string("name", 128),
        col.string("zone", 16, nullable=True),
        col.text("description", nullable=True),
        col.string("owner", 128, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_datasets"),
        sa.UniqueConstraint("name", name="uq_mlops_catalog_datasets_name"),
        sa.CheckConstraint(
            "zone IS NULL OR zone IN ('raw', 'processed', 'curated')", name="ck_mlops_catalog_datasets_zone"
        ),
    )
    op.create_table(
        "mlops_catalog_tags",
        col.serial_id(),
        col.integer("dataset_id"),
        col.string("tag", 64),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_tags"),
        col.cascade_key("mlops_catalog_tags", "dataset_id", "mlops_catalog_datasets"),
        sa.UniqueConstraint("dataset_id", "tag", name="uq_mlops_catalog_tags_dataset_id_tag"),
    )
    op.create_index("ix_mlops_catalog_tags_tag", "mlops_catalog_tags", ["tag"])
    op.create_table(
        "mlops_catalog_versions",
        col.serial_id(),
        col.integer("dataset_id"),
        col.integer("version"),
        col.string("status", 16),
        col.string("operation", 16),
        col.string("identifier", MAX_IDENTIFIER_BYTES, nullable=True),
        col.text("location"),
        col.string("format", 16),
        col.text("schema_json"),
        col.text("arrow_schema"),
        col.text("partition_by"),
        col.string("compression", 16, nullable=True),
        col.integer("row_group_size", nullable=True),
        col.big_integer("rows", nullable=True),
        col.big_integer("bytes", nullable=True),
        col.integer("files", nullable=True),
        col.integer("row_groups", nullable=True),
        col.string("source", MAX_IDENTIFIER_BYTES, nullable=True),
        col.timestamp("created_at"),
        col.timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_catalog_versions"),
        col.cascade_key("mlops_catalog_versions", "dataset_id", "mlops_catalog_datasets"),
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
