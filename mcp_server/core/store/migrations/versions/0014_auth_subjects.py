"""Who did it over OAuth: the token's subject (and OAuth client) on the audit log, the alias history, the
rollouts and the workflows (issue #24).

`client` stays what it was: the name the MCP client gave in its initialize handshake. `subject` is the
verified token's `sub` (None under stdio and with the static token); the audit log also keeps the token's
OAuth client (`client_id`, else `azp`). Rollouts had no `client` column: they get both.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11
"""

from __future__ import annotations

from alembic import op

from mcp_server.core.store.migrations import columns as col

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("mlops_audit_log", col.string("subject", 256, nullable=True))
    op.add_column("mlops_audit_log", col.string("client_id", 256, nullable=True))
    op.create_index("ix_mlops_audit_log_subject_id", "mlops_audit_log", ["subject", "id"])
    op.add_column("mlops_registry_alias_events", col.string("subject", 256, nullable=True))
    op.add_column("mlops_workflows", col.string("subject", 256, nullable=True))
    op.add_column("mlops_deploy_rollouts", col.string("client", 256, nullable=True))
    op.add_column("mlops_deploy_rollouts", col.string("subject", 256, nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN: PostgreSQL, and SQLite from 3.35 (none of these columns is in a key or constraint;
    # the one index goes first).
    op.drop_column("mlops_deploy_rollouts", "subject")
    op.drop_column("mlops_deploy_rollouts", "client")
    op.drop_column("mlops_workflows", "subject")
    op.drop_column("mlops_registry_alias_events", "subject")
    op.drop_index("ix_mlops_audit_log_subject_id", table_name="mlops_audit_log")
    op.drop_column("mlops_audit_log", "client_id")
    op.drop_column("mlops_audit_log", "subject")
