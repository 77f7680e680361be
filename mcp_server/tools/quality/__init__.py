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

_SCORE = {
    "dataset": "example.csv",
    "key": ["id"],
    "consistency_rules": [{"left": "age", "op": ">=", "right": 18}],
    "timestamp_column": "signup_date",
    "max_age": "365d",
    "as_of": "2024-07-01T00:00:00Z",
    "threshold": 80,
}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(quality_profile, core=True, read_only=True, example={"dataset": "example.csv"}),
    ToolSpec(quality_score, core=True, read_only=True, example=_SCORE),
    ToolSpec(
        quality_history,
        core=False,
        read_only=True,
        idempotent=True,
        example={"dataset": "example.csv"},
        setup=(("quality_score", {"dataset": "example.csv"}),),
    ),
    ToolSpec(
        quality_compare,
        core=True,
        read_only=True,
        idempotent=True,
        example={"dataset": "example.parquet", "baseline": "example.csv"},
    ),
    ToolSpec(quality_report, core=False, read_only=True, example={"dataset": "example.csv"}),
    ToolSpec(
        quality_detect_outliers,
        core=False,
        read_only=True,
        idempotent=True,
        example={"dataset": "example.csv", "columns": ["income"], "method": "iqr"},
    ),
    ToolSpec(
        quality_clean,
        core=False,
        read_only=False,
        destructive=True,
        example={
            "dataset": "example.csv",
            "plan": {"duplicates": {}, "missing": [{"strategy": "median", "columns": ["income"]}]},
            "output": "example_clean.parquet",
        },
    ),
    ToolSpec(
        quality_filter_dataset,
        core=False,
        read_only=False,
        destructive=True,
        example={
            "dataset": "example.csv",
            "rules": [["age", ">=", 30]],
            "output": "example_train.parquet",
            "label": "label",
            "dedupe": True,
        },
    ),
    ToolSpec(
        quality_check_homogeneity,
        core=False,
        read_only=True,
        idempotent=True,
        example={"dataset": "example.csv"},
    ),
)
