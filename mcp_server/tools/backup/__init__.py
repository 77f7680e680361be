"""The backup area: consistent, verifiable backups of everything the server keeps, and verified restores.

Work in progress (issue #13).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
