"""Argument and result models of the evaluation tools (pydantic only: cheap to import)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mcp_server.core.output import NextCursor

# The allowlist, by class name. adapter.py maps each name to its scikit-learn class (imported there).
CLASSIFIERS = (
    "LogisticRegression",
    "RidgeClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "SVC",
    "KNeighborsClassifier",
    "DummyClassifier",
)
REGRESSORS = (
    "LinearRegression",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
    "GradientBoostingRegressor",
    "HistGradientBoostingRegressor",
    "SVR",
    "KNeighborsRegressor",
    "DummyRegressor",
)
ESTIMATOR_NAMES = CLASSIFIERS + REGRESSORS

Task = Literal["classifier", "regressor"]
Direction = Literal["higher_is_better", "lower_is_better"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CvSpec(_Strict):
    """How to split: with `shuffle: false` the folds are exactly scikit-learn's for that strategy."""

    strategy: Literal["auto", "kfold", "stratified", "group", "timeseries", "repeated"] = Field(
        default="auto",
        description="auto = scikit-learn's default (stratified for classifiers, kfold for regressors); "
        "repeated = repeated (stratified) k-fold.",
    )
    n_splits: int = Field(default=5, ge=2, le=20, description="Folds per repetition.")
    shuffle: bool = Field(default=False, description="Shuffle before splitting (kfold, stratified, group).")
    random_state: int | None = Field(
        default=None, ge=0, le=2**32 - 1, description="Seed when shuffling/repeating."
    )
    group_column: str | None = Field(
        default=None, description="Column holding the groups (strategy 'group')."
    )
    n_repeats: int | None = Field(
        default=None, ge=1, le=10, description="Repetitions (strategy 'repeated'; 5)."
    )


class Candidate(_Strict):
    """One model to compare: an allowlisted estimator with its params, or a run this server logged."""

    estimator: str | None = Field(default=None, description="Allowlisted scikit-learn class name.")
    params: dict[str, Any] = Field(default_factory=dict, description="The estimator's keyword arguments.")
    run_id: str | None = Field(
        default=None, description="A run logged by evaluation_train_model (refit per fold)."
    )
    name: str | None = Field(
        default=None, max_length=64, description="Label in the results (default: derived)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Candidate:
        if (self.estimator is None) == (self.run_id is None):
            raise ValueError("each candidate needs exactly one of 'estimator' or 'run_id'")
        if self.run_id is not None and self.params:
            raise ValueError("'params' go with 'estimator'; a run candidate reuses the run's params")
        return self


# ---- test_model checks (a list; each item says its `type`) ----


class MetricCheck(_Strict):
    type: Literal["metric"]
    metric: str = Field(description="scikit-learn scorer name, e.g. accuracy, roc_auc, r2.")
    min: float | None = Field(
        default=None, description="Floor, in reported units (the positive error for neg_*)."
    )
    max: float | None = Field(default=None, description="Ceiling, in reported units (e.g. max RMSE).")


class NoRegressionCheck(_Strict):
    type: Literal["no_regression"]
    baseline: str = Field(description="Baseline: a run id, runs:/<id>, models:/<name>/<version> or @alias.")
    metric: str
    margin: float | None = Field(
        default=None,
        ge=0,
        description="With a margin: pass only if non-inferior within it (one-sided corrected t-test); "
        "without: pass unless significantly worse.",
    )
    cv: CvSpec | None = Field(default=None, description="Folds for the comparison (default repeated 5x5).")


class SliceCheck(_Strict):
    type: Literal["slice"]
    column: str
    metric: str
    min: float | None = None
    max: float | None = None
    min_rows: int = Field(default=20, ge=1, description="Slices with fewer rows are reported as skipped.")


class InvarianceCheck(_Strict):
    type: Literal["invariance"]
    columns: list[str] = Field(min_length=1, description="Columns declared irrelevant to the prediction.")
    perturbation: Literal["shuffle", "noise", "constant"] = "shuffle"
    value: float | str | None = Field(default=None, description="The value for 'constant'.")
    scale: float = Field(default=0.1, gt=0, description="Noise: standard deviations of each numeric column.")
    max_changed_fraction: float = Field(default=0.0, ge=0, le=1)
    tolerance: float = Field(
        default=1e-9, ge=0, description="Regressors: a prediction moving more counts changed."
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


class LatencyCheck(_Strict):
    type: Literal["latency"]
    p95_ms: float = Field(gt=0, description="Budget for the 95th percentile of single-row predict.")
    n: int = Field(default=100, ge=10, le=1000, description="Single-row calls timed.")


Check = Annotated[
    MetricCheck | NoRegressionCheck | SliceCheck | InvarianceCheck | LatencyCheck,
    Field(discriminator="type"),
]


# ---- results ----


class PreprocessStep(BaseModel):
    step: str
    columns: list[str]


class Preprocessing(BaseModel):
    steps: list[PreprocessStep] = Field(description="What the tool added; empty = the bare estimator.")
    passthrough_columns: int = Field(description="Columns given to the estimator unchanged.")
    dropped_columns: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class TrainResult(BaseModel):
    run_id: str
    model_uri: str = Field(description="runs:/<run_id>/model (what evaluation_* and registry tools take).")
    experiment: str
    estimator: str
    task: Task
    target: str
    dataset: str = Field(description="The dataset's lineage identifier.")
    n_train: int
    n_test: int
    metrics: dict[str, float] = Field(description="Held-out metrics (errors as positive numbers).")
    preprocessing: Preprocessing


class RunSummary(BaseModel):
    run_id: str
    name: str | None
    status: str
    started: str | None
    estimator: str | None
    task: str | None
    target: str | None
    dataset: str | None
    datasets: list[str] = Field(description="MLflow dataset inputs (name@digest).")
    params: dict[str, str]
    metrics: dict[str, float]


class RunList(BaseModel):
    runs: list[RunSummary]
    next_cursor: NextCursor = None


class CvInfo(BaseModel):
    strategy: str
    n_splits: int
    n_repeats: int
    shuffle: bool
    random_state: int | None
    n_folds: int
    n_train_mean: float
    n_test_mean: float


class MetricSummary(BaseModel):
    metric: str = Field(description="The scikit-learn scorer name (scores are greater-is-better).")
    reported_as: str = Field(description="For neg_* scorers, the positive error's name (e.g. rmse).")
    direction: Direction
    fold_scores: list[float] = Field(description="Per-fold scorer values, in fold order.")
    mean: float
    std: float = Field(description="Sample standard deviation (ddof=1) of the fold scores.")
    ci_low: float = Field(description="95% CI with the Nadeau-Bengio corrected variance (scorer units).")
    ci_high: float
    naive_ci_low: float = Field(description="The uncorrected across-fold 95% CI (too narrow; for contrast).")
    naive_ci_high: float
    reported_mean: float = Field(description="Mean in reported units (positive error for neg_* scorers).")


class CrossValidateResult(BaseModel):
    model: str
    task: Task
    n_rows: int
    cv: CvInfo
    metrics: list[MetricSummary]
    preprocessing: Preprocessing | None
    n_jobs: int
    seconds: float


class CandidateScore(BaseModel):
    name: str
    source: str
    fold_scores: list[float]
    mean: float
    std: float
    reported_mean: float


class NonInferiority(BaseModel):
    candidate: str
    reference: str = Field(description="The first candidate (put the current model first).")
    margin: float
    mean_difference: float = Field(description="Candidate minus reference, scorer units (higher = better).")
    t: float | None
    p_value: float
    p_value_holm: float
    non_inferior: bool


class Comparison(BaseModel):
    candidate: str
    versus: str = Field(description="The best candidate by mean.")
    mean_difference: float = Field(description="Best minus candidate, scorer units (>= 0).")
    reported_difference: float = Field(description="The same in reported units (error gap for neg_*).")
    t: float | None = Field(description="Corrected repeated k-fold t statistic (None when infinite).")
    df: int
    p_value: float = Field(description="Two-sided p of the corrected t-test.")
    p_value_holm: float = Field(description="Holm-adjusted over the comparisons with the best.")
    significant: bool
    effect_size: float | None = Field(description="Mean / SD of the paired fold differences (d_z).")
    wilcoxon_p: float | None = Field(description="Wilcoxon signed-rank p (secondary; ignores fold overlap).")


class CompareResult(BaseModel):
    metric: str
    reported_as: str
    direction: Direction
    cv: CvInfo
    candidates: list[CandidateScore]
    best: str
    significant: bool = Field(description="Best beats every other candidate (Holm-adjusted p < alpha).")
    p_value: float = Field(description="Largest Holm-adjusted p over the comparisons with the best.")
    effect_size: float | None
    alpha: float
    comparisons: list[Comparison]
    margin: float | None
    non_inferior: bool | None = Field(
        default=None,
        description="Every candidate after the first is non-inferior to the first within `margin`.",
    )
    non_inferiority: list[NonInferiority] = Field(default_factory=list)
    summary: str
    plot: str = Field(description="mlops://artifacts link to a PNG of per-fold scores.")


class NormalityTest(BaseModel):
    test: str
    statistic: float
    p_value: float
    normal_at_5pct: bool
    n: int


class WorstRow(BaseModel):
    row: int
    actual: float
    predicted: float
    residual: float
    features: dict[str, Any] | None = None


class ResidualsResult(BaseModel):
    run_id: str
    n: int
    summary: dict[str, float]
    normality: NormalityTest
    breusch_pagan: dict[str, float] = Field(description="LM test of squared residuals on fitted values.")
    durbin_watson: float
    worst_rows: list[WorstRow]
    plots: dict[str, str]


class ClassMetrics(BaseModel):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class DiagnosticsResult(BaseModel):
    run_id: str
    n: int
    labels: list[str]
    confusion_matrix: list[list[int]] = Field(description="Rows: actual, columns: predicted, in `labels`.")
    per_class: list[ClassMetrics]
    accuracy: float
    balanced_accuracy: float
    roc_auc: float | None
    average_precision: float | None
    brier_score: float | None
    calibration: dict[str, list[float]] | None = Field(
        default=None, description="Binary: mean predicted probability and observed fraction per bin."
    )
    notes: list[str] = Field(default_factory=list)
    plots: dict[str, str]


class CheckResult(BaseModel):
    type: str
    name: str
    passed: bool
    skipped: bool = False
    detail: str
    value: float | None = None


class ModelTestResult(BaseModel):
    model: str
    run_id: str
    passed: bool
    checks: list[CheckResult]
    summary: str
