"""The backup area: consistent, verifiable backups of everything the server keeps, and verified restores.

tools.py (arguments) -> service.py (the use cases) -> adapter.py (archives, database copies, the paths MLflow
and Feast store absolutely). Importing this module is cheap: nothing heavy is imported before a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp_server.core.confirm import Confirm
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.backup.tools")  # imported on a tool's first use
BACKUP_DEADLINE_S = 1800.0


def _prune_what(arguments: Mapping[str, Any]) -> str:
    daily = arguments["keep_daily"]
    days = f" and the newest of each of the last {daily} day(s)" if daily else ""
    return f"delete every backup but the newest {arguments['keep_last']}{days}"


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.backup_create, core=True, deadline_s=BACKUP_DEADLINE_S),
    ToolSpec(t.backup_list, read_only=True, idempotent=True),
    ToolSpec(t.backup_verify, read_only=True, idempotent=True, deadline_s=BACKUP_DEADLINE_S),
    ToolSpec(t.backup_prune, destructive=True, idempotent=True, confirm=Confirm(_prune_what)),
    ToolSpec(
        t.backup_restore,
        destructive=True,
        secret_args=("store_url",),
        deadline_s=BACKUP_DEADLINE_S,
        # Into a new home it changes nothing live.
        confirm=Confirm(
            "replace this server's state with backup {id!r} (a safety backup is taken first)",
            when=lambda arguments: arguments["target"] == "in_place",
        ),
    ),
)
