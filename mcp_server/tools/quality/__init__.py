"""The quality area: profiles, dimension scores, drift, reports, outliers, cleaning, training-set filters and
homogeneity checks (pandas, scipy, scikit-learn, Pillow; GX suites through the validation area for validity).

Importing this module is cheap: the libraries load inside the calls (adapter.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.quality.tools")  # imported on a tool's first use

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.quality_profile, core=True, read_only=True),
    ToolSpec(t.quality_score, core=True, read_only=True),
    ToolSpec(t.quality_history, read_only=True, idempotent=True),
    ToolSpec(t.quality_compare, core=True, read_only=True, idempotent=True),
    ToolSpec(t.quality_report, read_only=True),
    ToolSpec(t.quality_detect_outliers, read_only=True, idempotent=True),
    ToolSpec(t.quality_clean, destructive=True),
    ToolSpec(t.quality_filter_dataset, destructive=True),
    ToolSpec(t.quality_check_homogeneity, read_only=True, idempotent=True),
)
