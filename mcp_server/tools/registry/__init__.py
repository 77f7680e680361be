"""The registry area: the model registry on MLflow: versions, aliases with history and rollback, comparisons, model cards.

Work in progress (issue #8).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
