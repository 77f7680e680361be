"""The metadata store: the server's own records (audit log, lineage, dataset fingerprints, and the
areas' tables) in SQLite under the home or PostgreSQL by MLOPS_MCP_STORE_URL.

Importing this package and constructing a MetadataStore are cheap: SQLAlchemy and Alembic are imported,
the engine created and the schema migrated on the first call that needs them (ensure_ready()).
"""

from mcp_server.core.store.metadata import (
    AUDIT_OUTCOMES,
    AuditEntry,
    MetadataStore,
    PendingAudit,
    current_revision,
    head_revision,
    pending_audit,
    run_migrations,
)
from mcp_server.core.store.redact import mask_text, mask_url, redact

__all__ = [
    "AUDIT_OUTCOMES",
    "AuditEntry",
    "MetadataStore",
    "PendingAudit",
    "current_revision",
    "head_revision",
    "mask_text",
    "mask_url",
    "pending_audit",
    "redact",
    "run_migrations",
]
