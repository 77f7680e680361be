"""Idempotency keys of write tools: one row per (tool, key) with the call's result (issue #20).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "mlops_idempotent_calls",
        col.serial_id(),
        col.string("tool", 128),
        col.string("key", 128),
        col.string("digest", 64),
        col.text("result", nullable=True),
        col.timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_mlops_idempotent_calls"),
        sa.UniqueConstraint("tool", "key", name="uq_mlops_idempotent_calls_tool_key"),
    )


def downgrade() -> None:
    op.drop_table("mlops_idempotent_calls")
