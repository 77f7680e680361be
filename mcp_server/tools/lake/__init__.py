"""The lake area: versioned Parquet datasets on local disk or S3 (pyarrow datasets, boto3 for S3 checks)."""

from __future__ import annotations

import anyio.to_thread

from mcp_server.core.context import AppContext
from mcp_server.core.errors import MlopsError
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.lake.tools")  # imported on a tool's first use


async def _probe_lake(app: AppContext) -> tuple[bool, str, str]:
    """The lake root answers: a writable local folder, or an S3 bucket that answers a HEAD."""
    from mcp_server.tools.lake import service

    try:
        detail = await anyio.to_thread.run_sync(service.probe, app)
    except (MlopsError, OSError) as err:
        message = (
            err.message
            if isinstance(err, MlopsError)
            else f"the lake folder is not writable ({err.strerror})"
        )
        return False, message, "Fix MLOPS_MCP_LAKE_ROOT / MLOPS_MCP_S3_ENDPOINT_URL or start the S3 service."
    return True, detail, ""


PROBES = {"lake": _probe_lake}

TOOLS = (
    ToolSpec(t.lake_write, core=True),
    ToolSpec(t.lake_read, core=True, read_only=True, idempotent=True),
    ToolSpec(t.lake_list, read_only=True, idempotent=True),
    ToolSpec(t.lake_versions, read_only=True, idempotent=True),
    ToolSpec(t.lake_convert, destructive=True),  # overwrite=true replaces a file
    ToolSpec(t.lake_compact),
)
