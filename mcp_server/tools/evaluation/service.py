"""The evaluation use cases: train, list runs, cross-validate, compare, residuals, diagnostics, model tests.

Plain synchronous functions `fn(app, control, ...)` (no MCP imports) called by tools.py, the CLI
(`mlops-mcp test-model`) and other areas: paths through the workspace, then the adapter (scikit-learn,
scipy, statsmodels, MLflow tracking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput
from mcp_server.core.workspace import check_name
from mcp_server.tools.evaluation import adapter
from mcp_server.tools.evaluation import models as m

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext


def train(
    app: AppContext,
    control: Control,
    dataset: str,
    target: str,
    estimator: str,
    params: dict[str, Any] | None,
    features: list[str] | None,
    test_size: float,
    name: str | None,
    random_state: int,
) -> m.TrainResult:
    if name is not None:
        check_name(name, "run name")
    path = app.workspace.resolve(dataset, must_exist=True)
    stored = app.workspace.stored(path)
    return adapter.train(
        app, path, stored, target, estimator, params or {}, features, test_size, name, random_state, control
    )


def list_runs(
    app: AppContext,
    control: Control,
    filter: str | None,
    order_by: str | None,
    cursor: str | None,
    limit: int,
) -> m.RunList:
    return adapter.list_runs(app, filter, order_by, cursor, limit)


def cross_validate(
    app: AppContext,
    control: Control,
    dataset: str,
    target: str,
    metrics: list[str],
    estimator: str | None,
    params: dict[str, Any] | None,
    run_id: str | None,
    cv: m.CvSpec | None,
    features: list[str] | None,
) -> m.CrossValidateResult:
    if estimator is None and params:
        raise InvalidInput("`params` go with `estimator`; a run brings its own.")
    path = app.workspace.resolve(dataset, must_exist=True)
    return adapter.cross_validate(
        app, path, target, estimator, params or {}, run_id, features, cv or m.CvSpec(), metrics, control
    )


def compare_models(
    app: AppContext,
    control: Control,
    dataset: str,
    target: str,
    candidates: list[m.Candidate],
    metric: str,
    cv: m.CvSpec | None,
    margin: float | None,
    features: list[str] | None,
) -> m.CompareResult:
    path = app.workspace.resolve(dataset, must_exist=True)
    return adapter.compare(app, path, target, candidates, features, cv, metric, margin, control)


def residuals(
    app: AppContext, control: Control, run_id: str, dataset: str, target: str, top: int, include_samples: bool
) -> m.ResidualsResult:
    path = app.workspace.resolve(dataset, must_exist=True)
    return adapter.residuals(app, path, run_id.strip(), target, top, include_samples, control)


def diagnostics(
    app: AppContext, control: Control, run_id: str, dataset: str, target: str
) -> m.DiagnosticsResult:
    path = app.workspace.resolve(dataset, must_exist=True)
    return adapter.diagnostics(app, path, run_id.strip(), target, control)


def model_test(
    app: AppContext, control: Control, model: str, dataset: str, target: str, checks: list[Any]
) -> m.ModelTestResult:
    """evaluation_test_model, and `mlops-mcp test-model` (the model gate in CI)."""
    path = app.workspace.resolve(dataset, must_exist=True)
    return adapter.run_model_tests(app, path, model, target, checks, control)
