"""The catalog area: the dataset catalog and schema registry over the lake's versions (metadata store)."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.catalog import tools as t

TOOLS = (
    ToolSpec(t.catalog_register, idempotent=True),
    ToolSpec(t.catalog_search, read_only=True, idempotent=True),
    ToolSpec(t.catalog_get, core=True, read_only=True, idempotent=True),
    ToolSpec(t.catalog_schema_diff, read_only=True, idempotent=True),
)
