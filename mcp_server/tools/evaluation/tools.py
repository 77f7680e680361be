"""The evaluation tools: train, list runs, cross-validate, compare, residuals, diagnostics, model tests.

Thin MCP-facing functions: arguments, then the use case (service.py) in one worker thread.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mcp_server.core.args import Cursor, DataFile, IncludeSamples, Limit100
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.evaluation import service
from mcp_server.tools.evaluation.models import (
    Candidate,
    Check,
    CompareResult,
    CrossValidateResult,
    CvSpec,
    DiagnosticsResult,
    ModelTestResult,
    ResidualsResult,
    RunList,
    TrainResult,
)

Target = Annotated[str, Field(description="The column to predict.")]
Estimator = Annotated[
    str,
    Field(
        description="scikit-learn class name from the allowlist, e.g. LogisticRegression, "
        "RandomForestRegressor, HistGradientBoostingClassifier, DummyClassifier."
    ),
]
Params = Annotated[
    dict[str, Any] | None, Field(description='The estimator\'s keyword arguments, e.g. {"C": 0.5}.')
]
Features = Annotated[
    list[str] | None, Field(description="Feature columns (default: every column but the target).")
]
RunId = Annotated[
    str, Field(description="A run id from evaluation_train_model, or the run's name (its latest run).")
]


async def evaluation_train_model(
    ctx: Ctx,
    dataset: DataFile,
    target: Target,
    estimator: Estimator,
    params: Params = None,
    features: Features = None,
    test_size: Annotated[float, Field(gt=0.0, lt=0.9, description="Held-out fraction.")] = 0.25,
    name: Annotated[str | None, Field(description="Run name (letters, digits, . _ -).")] = None,
    random_state: Annotated[int, Field(ge=0, le=2**32 - 1, description="Seed of the held-out split.")] = 0,
) -> TrainResult:
    """Fit an allowlisted scikit-learn estimator on a table, log params, held-out metrics and the model to MLflow; returns the run_id other evaluation and registry tools take."""
    return await service_call(
        ctx, service.train, dataset, target, estimator, params, features, test_size, name, random_state
    )


async def evaluation_list_runs(
    ctx: Ctx,
    filter: Annotated[
        str | None,
        Field(
            description='MLflow search filter, e.g. "metrics.test_accuracy > 0.9" or '
            "\"tags.`mlops_mcp.estimator` = 'Ridge'\"."
        ),
    ] = None,
    order_by: Annotated[
        str | None, Field(description='e.g. "metrics.test_r2 DESC" (default: newest first).')
    ] = None,
    cursor: Cursor = None,
    limit: Limit100 = 20,
) -> RunList:
    """List the training runs this server logged to MLflow, with their metrics, params and datasets (newest first)."""
    return await service_call(ctx, service.list_runs, filter, order_by, cursor, limit)


async def evaluation_cross_validate(
    ctx: Ctx,
    dataset: DataFile,
    target: Target,
    metrics: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=5,
            description='scikit-learn scorer names, e.g. ["accuracy", "roc_auc"] or '
            '["r2", "neg_root_mean_squared_error"].',
        ),
    ],
    estimator: Annotated[
        str | None, Field(description="Allowlisted class name (or give run_id instead).")
    ] = None,
    params: Params = None,
    run_id: Annotated[
        str | None,
        Field(description="Cross-validate the configuration of a logged run (id or name) instead."),
    ] = None,
    cv: Annotated[CvSpec | None, Field(description="How to split (default: 5 folds, no shuffle).")] = None,
    features: Features = None,
) -> CrossValidateResult:
    """Cross-validate an estimator (or a logged run's configuration): per-fold scores, mean, std and a 95% CI with the corrected variance for overlapping training sets."""
    return await service_call(
        ctx, service.cross_validate, dataset, target, metrics, estimator, params, run_id, cv, features
    )


async def evaluation_compare_models(
    ctx: Ctx,
    dataset: DataFile,
    target: Target,
    candidates: Annotated[
        list[Candidate],
        Field(
            min_length=2,
            max_length=10,
            description='Models to compare: {"estimator": ..., "params": {...}} or {"run_id": ...}; '
            "with `margin`, the first is the reference (the current model).",
        ),
    ],
    metric: Annotated[
        str, Field(description="One scikit-learn scorer name; neg_* scorers are reported as errors.")
    ],
    cv: Annotated[
        CvSpec | None, Field(description="Folds shared by all candidates (default: repeated 5x5).")
    ] = None,
    margin: Annotated[
        float | None,
        Field(
            ge=0,
            description="Non-inferiority margin in metric units: each candidate vs the first, one-sided.",
        ),
    ] = None,
    features: Features = None,
) -> CompareResult:
    """Compare models on the same folds with the corrected repeated k-fold t-test (Holm for >2, Wilcoxon secondary): which is best and whether the difference is significant."""
    return await service_call(
        ctx, service.compare_models, dataset, target, candidates, metric, cv, margin, features
    )


async def evaluation_residuals(
    ctx: Ctx,
    run_id: RunId,
    dataset: DataFile,
    target: Target,
    top: Annotated[int, Field(ge=0, le=50, description="Worst-predicted rows to return.")] = 10,
    include_samples: IncludeSamples = True,
) -> ResidualsResult:
    """Residual diagnostics of a logged regressor on a table: summary, normality, Breusch-Pagan, Durbin-Watson, worst rows and plots."""
    return await service_call(ctx, service.residuals, run_id, dataset, target, top, include_samples)


async def evaluation_diagnostics(
    ctx: Ctx,
    run_id: RunId,
    dataset: DataFile,
    target: Target,
) -> DiagnosticsResult:
    """Diagnostics of a logged classifier on a table: confusion matrix, per-class precision/recall/F1, ROC and PR AUC, calibration and Brier score, plots."""
    return await service_call(ctx, service.diagnostics, run_id, dataset, target)


async def evaluation_test_model(
    ctx: Ctx,
    model: Annotated[
        str,
        Field(
            description="Run id or run name, runs:/<id>/model, models:/<name>/<version> or "
            "models:/<name>@<alias>."
        ),
    ],
    dataset: DataFile,
    target: Target,
    checks: Annotated[
        list[Check],
        Field(
            min_length=1,
            max_length=20,
            description="Checks, each with a `type`: metric (min/max), no_regression (vs a baseline), "
            "slice (per-value floors), invariance (irrelevant columns perturbed), latency (p95_ms).",
        ),
    ],
) -> ModelTestResult:
    """Run a model test suite (metric thresholds, no regression vs a baseline, slice floors, invariance, latency): pass/fail per check and overall."""
    return await service_call(ctx, service.model_test, model, dataset, target, list(checks))
