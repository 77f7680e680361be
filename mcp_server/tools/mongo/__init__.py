"""The mongo area: raw and semi-structured documents in MongoDB through pymongo.

Work in progress (issue #12).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
