"""The evaluation area: training, cross-validation, statistically sound comparison, diagnostics, model tests.

Adapter over scikit-learn, scipy, statsmodels and MLflow tracking (core/tracking.py, shared with the
registry area). Importing this module is cheap: the libraries load inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec, tools_of
from mcp_server.core.tracking import probe as _tracking_probe

t = tools_of("mcp_server.tools.evaluation.tools")  # imported on a tool's first use
# Fitting many folds takes longer than the default call deadline.
HEAVY_DEADLINE_S = 900.0
TRAIN_DEADLINE_S = 600.0

TOOLS = (
    # Interruptible: the time goes to fitting, and a run cut while it logs ends FAILED in MLflow.
    ToolSpec(t.evaluation_train_model, core=True, deadline_s=TRAIN_DEADLINE_S, interruptible=True),
    ToolSpec(t.evaluation_list_runs, read_only=True, idempotent=True),
    ToolSpec(t.evaluation_cross_validate, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S),
    ToolSpec(
        t.evaluation_compare_models, core=True, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S
    ),
    ToolSpec(t.evaluation_residuals, read_only=True, idempotent=True, deadline_s=TRAIN_DEADLINE_S),
    ToolSpec(t.evaluation_diagnostics, read_only=True, idempotent=True, deadline_s=TRAIN_DEADLINE_S),
    ToolSpec(t.evaluation_test_model, read_only=True, idempotent=True, deadline_s=HEAVY_DEADLINE_S),
)

PROBES = {"mlflow_tracking": _tracking_probe}
