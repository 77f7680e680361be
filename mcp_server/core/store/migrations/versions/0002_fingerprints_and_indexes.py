"""Dataset fingerprint cache; indexes for lineage walks downstream and audit queries by tool.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "mlops_dataset_fingerprints",
        col.string("path_key", 64),
        col.text("path"),
        col.big_integer("size"),
        col.big_integer("mtime_ns"),
        col.big_integer("ctime_ns"),
        col.string("file_id", 64),
        col.string("sha256", 64),
        col.timestamp("hashed_at"),
        sa.PrimaryKeyConstraint("path_key", name="pk_mlops_dataset_fingerprints"),
    )
    op.create_index("ix_mlops_lineage_edges_downstream", "mlops_lineage_edges", ["downstream"])
    op.create_index("ix_mlops_audit_log_tool_id", "mlops_audit_log", ["tool", "id"])


def downgrade() -> None:
    op.drop_index("ix_mlops_audit_log_tool_id", table_name="mlops_audit_log")
    op.drop_index("ix_mlops_lineage_edges_downstream", table_name="mlops_lineage_edges")
    op.drop_table("mlops_dataset_fingerprints")
