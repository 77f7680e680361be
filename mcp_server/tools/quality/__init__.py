"""The quality area: data quality: profiles, scores, drift, cleaning, training-set filters (pandas, scipy, scikit-learn; GX suites for validity).

Work in progress (issue #5).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec

TOOLS: tuple[ToolSpec, ...] = ()
