"""The quality area: profiles, dimension scores, drift, reports, outliers, cleaning, training-set filters and
homogeneity checks (pandas, scipy, scikit-learn, Pillow; GX suites through the validation area for validity).

Importing this module is cheap: the libraries load inside the calls (adapter.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.quality.tools import (
    quality_check_homogeneity,
    quality_clean,
    quality_compare,
    quality_detect_outliers,
    quality_filter_dataset,
    quality_history,
    quality_profile,
    quality_report,
    quality_score,
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(quality_profile, core=True, read_only=True),
    ToolSpec(quality_score, core=True, read_only=True),
    ToolSpec(quality_history, core=False, read_only=True, idempotent=True),
    ToolSpec(quality_compare, core=True, read_only=True, idempotent=True),
    ToolSpec(quality_report, core=False, read_only=True),
    ToolSpec(quality_detect_outliers, core=False, read_only=True, idempotent=True),
    ToolSpec(quality_clean, core=False, read_only=False, destructive=True),
    ToolSpec(quality_filter_dataset, core=False, read_only=False, destructive=True),
    ToolSpec(quality_check_homogeneity, core=False, read_only=True, idempotent=True),
)
