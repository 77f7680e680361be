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

TOOLS = (
    # Interruptible: the time goes to fitting, and a run cut while it logs ends FAILED in MLflow.
    ToolSpec(
        evaluation_train_model, core=True, read_only=False, deadline_s=TRAIN_DEADLINE_S, interruptible=True
    ),
    ToolSpec(evaluation_list_runs, core=False, read_only=True, idempotent=True),
    ToolSpec(
        evaluation_cross_validate, core=False, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S
    ),
    ToolSpec(
        evaluation_compare_models, core=True, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S
    ),
    ToolSpec(evaluation_residuals, core=False, read_only=True, idempotent=True, deadline_s=TRAIN_DEADLINE_S),
    ToolSpec(
        evaluation_diagnostics, core=False, read_only=True, idempotent=True, deadline_s=TRAIN_DEADLINE_S
    ),
    ToolSpec(evaluation_test_model, core=False, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S),
)

PROBES = {"mlflow_tracking": _tracking_probe}
