"""The mongo area: raw and semi-structured documents in MongoDB through pymongo.

Importing this module is cheap: pymongo loads inside the calls (adapter.py). The filter and pipeline
allowlist is guard.py. With MLOPS_MCP_MONGO_URI unset the tools answer with how to configure it and the
health probe reports "not configured" (not a failure).
"""

from __future__ import annotations

from mcp_server.core.context import AppContext
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.mongo.tools")  # imported on a tool's first use


async def _probe_mongo(app: AppContext) -> tuple[bool, str, str]:
    """MongoDB answers a ping within the probe's timeout (skipped when no URI is configured)."""
    import anyio.to_thread

    from mcp_server.core.errors import MlopsError
    from mcp_server.tools.mongo import adapter

    if not adapter.configured(app):
        return True, "not configured (MLOPS_MCP_MONGO_URI unset)", ""
    # Its own deadline inside the probe's, so the answer is MongoDB's error rather than a bare timeout.
    timeout = min(app.settings.mongo_timeout_s, 0.8 * app.settings.health_probe_timeout_s)
    try:
        await anyio.to_thread.run_sync(lambda: adapter.ping(app, timeout), abandon_on_cancel=True)
    except MlopsError as err:
        return (
            False,
            err.message,
            f"Start MongoDB at {adapter.hosts(app.settings)} or fix MLOPS_MCP_MONGO_URI "
            "(host, port, user and network access).",
        )
    return True, f"database '{app.settings.mongo_database}' answers ping", ""


PROBES = {"mongodb": _probe_mongo}


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.mongo_insert),
    ToolSpec(t.mongo_find, read_only=True, idempotent=True),
    ToolSpec(t.mongo_aggregate, read_only=True, idempotent=True),
    ToolSpec(t.mongo_list_collections, read_only=True, idempotent=True),
    ToolSpec(t.mongo_create_index, idempotent=True),
    ToolSpec(t.mongo_export),
)
