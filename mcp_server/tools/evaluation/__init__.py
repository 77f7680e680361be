"""The evaluation area: training, cross-validation, statistically sound comparison, diagnostics, model tests.

Adapter over scikit-learn, scipy, statsmodels and MLflow tracking (core/tracking.py, shared with the
registry area). Importing this module is cheap: the libraries load inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.core.tracking import probe as _tracking_probe
from mcp_server.tools.evaluation.tools import (
    HEAVY_DEADLINE_S,
    TRAIN_DEADLINE_S,
    evaluation_compare_models,
    evaluation_cross_validate,
    evaluation_diagnostics,
    evaluation_list_runs,
    evaluation_residuals,
    evaluation_test_model,
    evaluation_train_model,
)

_LABEL_FEATURES = ["age", "income", "segment"]
_TRAIN_LABEL = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": _LABEL_FEATURES,
        "name": "example-label",
    },
)
_TRAIN_INCOME = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "income",
        "estimator": "Ridge",
        "features": ["age", "segment"],
        "name": "example-income",
    },
)

TOOLS = (
    ToolSpec(
        evaluation_train_model,
        core=True,
        read_only=False,
        example=_TRAIN_LABEL[1],
        deadline_s=TRAIN_DEADLINE_S,
    ),
    ToolSpec(
        evaluation_list_runs,
        core=False,
        read_only=True,
        idempotent=True,
        example={"limit": 5},
        setup=(_TRAIN_LABEL,),
    ),
    ToolSpec(
        evaluation_cross_validate,
        core=False,
        read_only=True,
        idempotent=True,
        example={
            "dataset": "example.csv",
            "target": "label",
            "estimator": "LogisticRegression",
            "params": {"solver": "liblinear"},
            "features": ["age", "income"],
            "metrics": ["accuracy", "roc_auc"],
        },
        deadline_s=HEAVY_DEADLINE_S,
    ),
    ToolSpec(
        evaluation_compare_models,
        core=True,
        read_only=True,
        idempotent=True,
        example={
            "dataset": "example.csv",
            "target": "label",
            "candidates": [
                {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}},
                {"estimator": "DummyClassifier"},
            ],
            "metric": "accuracy",
            "features": ["age", "income"],
            "cv": {"strategy": "stratified", "n_splits": 5},
        },
        deadline_s=HEAVY_DEADLINE_S,
    ),
    ToolSpec(
        evaluation_residuals,
        core=False,
        read_only=True,
        idempotent=True,
        example={"run_id": "example-income", "dataset": "example.csv", "target": "income", "top": 3},
        setup=(_TRAIN_INCOME,),
        deadline_s=TRAIN_DEADLINE_S,
    ),
    ToolSpec(
        evaluation_diagnostics,
        core=False,
        read_only=True,
        idempotent=True,
        example={"run_id": "example-label", "dataset": "example.csv", "target": "label"},
        setup=(_TRAIN_LABEL,),
        deadline_s=TRAIN_DEADLINE_S,
    ),
    ToolSpec(
        evaluation_test_model,
        core=False,
        read_only=True,
        idempotent=True,
        example={
            "model": "example-label",
            "dataset": "example.csv",
            "target": "label",
            "checks": [
                {"type": "metric", "metric": "accuracy", "min": 0.5},
                {"type": "slice", "column": "segment", "metric": "accuracy", "min": 0.3},
                {"type": "latency", "p95_ms": 2000, "n": 20},
            ],
        },
        setup=(_TRAIN_LABEL,),
        deadline_s=HEAVY_DEADLINE_S,
    ),
)

PROBES = {"mlflow_tracking": _tracking_probe}
