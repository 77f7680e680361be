"""The evaluation area's adapter over scikit-learn, scipy, statsmodels and MLflow tracking.

Plain blocking functions (no MCP imports), called by service.py. With core/tracking.py and core/mlmodels.py
(tags, version resolution, trusted skops loading) this is the only place that imports mlflow, sklearn or
scipy, always inside functions.

Statistics (the reasons behind the numbers):
- Cross-validated scores come from scikit-learn's own `cross_validate`, one call per fold so progress
  can be reported per fold; folds run two at a time in worker processes (joblib/loky, one thread each).
- The confidence interval of a CV mean uses the Nadeau-Bengio corrected variance
  var * (1/J + n_test/n_train) with J = k*r folds and t with J-1 degrees of freedom: the training sets
  overlap, so the plain across-fold interval is too narrow.
- Comparisons: the corrected repeated k-fold t-test on paired per-fold differences (same folds for every
  candidate), each candidate against the best by mean, Holm-adjusted; Wilcoxon signed-rank as a
  secondary test; a one-sided corrected t-test for non-inferiority within a margin.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.blocking import stdout_to_stderr
from mcp_server.core.errors import InvalidInput, MissingExtra, MlopsError
from mcp_server.core.files import atomic_path
from mcp_server.core.mlmodels import (
    LOGGED_BY,
    LOGGED_BY_TAG,
    RUN_ID_RE,
    TAG,
    LoadedModel,
    error_code,
    load_run_model,
    log_skops_model,
    quiet_warnings,
    resolve_model_ref,
    short,
    skops_types,
)
from mcp_server.core.output import artifact_uri
from mcp_server.core.tables import TableLimits, read_table
from mcp_server.core.tracking import (
    EXPERIMENT,
    backend_errors,
    experiment_id,
    fluent,
    mlflow_client,
)
from mcp_server.core.values import number, plain
from mcp_server.tools.evaluation import models as m

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext

ALPHA = 0.05
CONFIDENCE = 0.95
N_JOBS = 2  # folds in parallel: the machine this was measured on has 2 cores (see docs/evaluation.md)
# Below this many cells (rows x features) folds run in this thread: starting worker processes and
# shipping the data costs more than the fits (measured; docs/evaluation.md).
PARALLEL_MIN_CELLS = 200_000
MAX_CATEGORIES = 50  # a text column with more distinct values is not one-hot encoded
MAX_FOLDS = 100
MAX_METRICS = 5
MAX_CANDIDATES = 10
MAX_WORST_ROWS = 50
MAX_SAMPLE_COLUMNS = 20
MAX_CLASSES_SHOWN = 30
SHAPIRO_MAX = 5000
REGRESSION_METRICS = frozenset(
    {
        "r2",
        "explained_variance",
        "d2_absolute_error_score",
        "neg_max_error",
        "neg_mean_absolute_error",
        "neg_mean_absolute_percentage_error",
        "neg_mean_gamma_deviance",
        "neg_mean_poisson_deviance",
        "neg_mean_squared_error",
        "neg_mean_squared_log_error",
        "neg_median_absolute_error",
        "neg_root_mean_squared_error",
        "neg_root_mean_squared_log_error",
    }
)
CLUSTERING_METRICS = frozenset(
    {
        "adjusted_mutual_info_score",
        "adjusted_rand_score",
        "completeness_score",
        "fowlkes_mallows_score",
        "homogeneity_score",
        "mutual_info_score",
        "normalized_mutual_info_score",
        "rand_score",
        "v_measure_score",
    }
)
REPORTED_NAMES = {
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae",
    "neg_median_absolute_error": "median_absolute_error",
    "neg_mean_absolute_percentage_error": "mape",
    "neg_root_mean_squared_log_error": "rmsle",
    "neg_mean_squared_log_error": "msle",
    "neg_max_error": "max_error",
    "neg_log_loss": "log_loss",
    "neg_brier_score": "brier_score",
}
# ---------------------------------------------------------------------------------------------------
# Estimators, metrics, data
# ---------------------------------------------------------------------------------------------------


def estimator_classes() -> dict[str, type]:
    """The allowlist: class name -> scikit-learn class. Nothing outside it is ever constructed."""
    from sklearn import dummy, ensemble, linear_model, neighbors, svm

    classes: dict[str, type] = {
        "LogisticRegression": linear_model.LogisticRegression,
        "RidgeClassifier": linear_model.RidgeClassifier,
        "LinearRegression": linear_model.LinearRegression,
        "Ridge": linear_model.Ridge,
        "Lasso": linear_model.Lasso,
        "ElasticNet": linear_model.ElasticNet,
        "RandomForestClassifier": ensemble.RandomForestClassifier,
        "RandomForestRegressor": ensemble.RandomForestRegressor,
        "ExtraTreesClassifier": ensemble.ExtraTreesClassifier,
        "ExtraTreesRegressor": ensemble.ExtraTreesRegressor,
        "GradientBoostingClassifier": ensemble.GradientBoostingClassifier,
        "GradientBoostingRegressor": ensemble.GradientBoostingRegressor,
        "HistGradientBoostingClassifier": ensemble.HistGradientBoostingClassifier,
        "HistGradientBoostingRegressor": ensemble.HistGradientBoostingRegressor,
        "SVC": svm.SVC,
        "SVR": svm.SVR,
        "KNeighborsClassifier": neighbors.KNeighborsClassifier,
        "KNeighborsRegressor": neighbors.KNeighborsRegressor,
        "DummyClassifier": dummy.DummyClassifier,
        "DummyRegressor": dummy.DummyRegressor,
    }
    assert set(classes) == set(m.ESTIMATOR_NAMES)
    return classes


def task_of(name: str) -> str:
    return "classifier" if name in m.CLASSIFIERS else "regressor"


def _short(value: Any, limit: int = 80) -> str:
    return short(value, limit)


def build_estimator(name: str, params: dict[str, Any]) -> Any:
    """An unfitted estimator from the allowlist, its params checked against get_params() and sklearn."""
    if not isinstance(name, str) or name not in m.ESTIMATOR_NAMES:
        raise InvalidInput(
            f"Unknown estimator {_short(name)}; use one of the allowed class names: "
            f"{', '.join(m.ESTIMATOR_NAMES)}."
        )
    cls = estimator_classes()[name]
    allowed = sorted(cls().get_params(deep=False))
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"{name} has no parameter(s) {', '.join(map(repr, unknown))}; its parameters are: "
            f"{', '.join(allowed)}."
        )
    try:
        est = cls(**params)
        validate = getattr(est, "_validate_params", None)
        if validate is not None:
            validate()
    except (ValueError, TypeError) as err:
        raise InvalidInput(f"Invalid params for {name}: {_first_line(err)}") from None
    return est


def _first_line(err: BaseException, limit: int = 300) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_metric(name: str, task: str) -> None:
    from sklearn.metrics import get_scorer_names

    if name not in get_scorer_names():
        raise InvalidInput(
            f"Unknown metric {_short(name)}; use a scikit-learn scorer name such as "
            + ("accuracy, roc_auc, f1_macro" if task == "classifier" else "r2, neg_root_mean_squared_error")
            + "."
        )
    if name in CLUSTERING_METRICS:
        raise InvalidInput(f"'{name}' is a clustering metric; use a classification or regression scorer.")
    if task == "classifier" and name in REGRESSION_METRICS:
        raise InvalidInput(
            f"'{name}' is a regression metric and the model is a classifier; use a classification "
            "scorer such as accuracy, roc_auc or f1_macro."
        )
    if task == "regressor" and name not in REGRESSION_METRICS:
        raise InvalidInput(
            f"'{name}' is a classification metric and the model is a regressor; use a regression "
            "scorer such as r2 or neg_root_mean_squared_error."
        )


def reported_name(metric: str) -> str:
    return REPORTED_NAMES.get(metric, metric.removeprefix("neg_") if metric.startswith("neg_") else metric)


def direction(metric: str) -> str:
    return "lower_is_better" if metric.startswith("neg_") else "higher_is_better"


def to_reported(metric: str, value: float) -> float:
    """Scorer units (always greater-is-better) -> reported units (the positive error for neg_*)."""
    return -value if metric.startswith("neg_") else value


@dataclass
class Table:
    df: Any  # the whole table (pandas)
    X: Any
    y: Any
    target: str
    features: list[str]
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def load_table(app: AppContext, path: Path, target: str, features: list[str] | None, task: str) -> Table:
    """Read the table inside the limits and split it into X and y, with one clear error per problem."""
    df = read_table(path, TableLimits.of(app.settings))
    return split_xy(df, target, features, task)


def split_xy(
    df: Any, target: str, features: list[str] | None, task: str, *, check_usable: bool = True
) -> Table:
    """X and y; `check_usable=False` for a fitted model's own columns (it decided on them in training)."""
    import numpy as np
    import pandas as pd

    columns = [str(c) for c in df.columns]
    df.columns = columns
    if target not in columns:
        shown = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
        raise InvalidInput(
            f"The target column {_short(target)} is not in the dataset; its columns are: {shown}."
        )
    notes: list[str] = []
    dropped: list[str] = []
    if features is not None:
        if not features:
            raise InvalidInput("`features` is empty; list the columns to use or omit it to use all.")
        missing = [f for f in features if f not in columns]
        if missing:
            raise InvalidInput(f"Feature column(s) {missing[:10]} are not in the dataset.")
        if target in features:
            raise InvalidInput(f"The target {_short(target)} cannot also be a feature.")
        chosen = list(dict.fromkeys(features))
    else:
        chosen = [c for c in columns if c != target]
    if not chosen:
        raise InvalidInput("The dataset has no feature columns besides the target.")
    y = df[target]
    keep = y.notna()
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} row(s) with a missing target")
        df = df.loc[keep].reset_index(drop=True)
        y = df[target]
    if len(df) == 0:
        raise InvalidInput(f"The target column {_short(target)} has no values.")
    if y.nunique() < 2:
        raise InvalidInput(
            f"The target column {_short(target)} is constant ({_short(y.iloc[0], 40)} in every row); "
            "a model needs at least two distinct target values."
        )
    if task == "regressor":
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise InvalidInput(f"The target {_short(target)} is not numeric; use a classifier for labels.")
    else:
        if pd.api.types.is_float_dtype(y) and not np.all(np.mod(y.to_numpy(), 1) == 0):
            raise InvalidInput(
                f"The target {_short(target)} holds continuous values; use a regressor, or a label column."
            )
    X = df[chosen]
    if not check_usable:
        return Table(df=df, X=X, y=y, target=target, features=chosen, notes=notes)
    # Columns a model cannot use as they are: dates/times and text with too many distinct values.
    usable: list[str] = []
    for col in chosen:
        s = X[col]
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            reason = "a date/time column"
        elif _is_categorical(s) and s.nunique(dropna=True) > MAX_CATEGORIES:
            reason = f"{s.nunique(dropna=True)} distinct text values, too many to one-hot encode"
        elif s.isna().all():
            reason = "every value is missing"
        else:
            usable.append(col)
            continue
        if features is not None:
            raise InvalidInput(f"Feature {_short(col)} cannot be used: {reason}; leave it out of `features`.")
        dropped.append(col)
        notes.append(f"left out {col!r}: {reason}")
    if not usable:
        raise InvalidInput(
            "No usable feature columns remain; pass `features` with numeric or low-cardinality text columns."
        )
    return Table(df=df, X=X[usable], y=y, target=target, features=usable, notes=notes, dropped=dropped)


def _is_categorical(s: Any) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def build_model(table: Table, estimator: Any, name: str) -> tuple[Any, m.Preprocessing]:
    """The estimator, wrapped in a ColumnTransformer only where a column needs it.

    Clean numeric columns pass through untouched and in their original order, so on clean numeric data the
    model IS the bare estimator (same scores). Numeric columns with missing values get median imputation
    (not for HistGradientBoosting, which handles NaN itself); text columns get one-hot encoding (after
    most-frequent imputation when they have missing values).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    native_nan = name.startswith("HistGradientBoosting")
    kinds: list[tuple[str, str]] = []
    for col in table.features:
        s = table.X[col]
        if _is_categorical(s):
            kinds.append((col, "onehot_impute" if s.isna().any() else "onehot"))
        elif s.isna().any() and not native_nan:
            kinds.append((col, "impute"))
        else:
            kinds.append((col, "passthrough"))
    report = m.Preprocessing(
        steps=[],
        passthrough_columns=sum(1 for _, k in kinds if k == "passthrough"),
        dropped_columns=table.dropped,
        notes=list(table.notes),
    )
    if all(k == "passthrough" for _, k in kinds):
        return estimator, report

    def transformer(kind: str) -> Any:
        if kind == "passthrough":
            return "passthrough"
        if kind == "impute":
            return SimpleImputer(strategy="median")
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        if kind == "onehot":
            return onehot
        return Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("onehot", onehot)])

    # Runs of consecutive columns with one treatment: the column order is kept.
    transformers = []
    by_kind: dict[str, list[str]] = {}
    start = 0
    while start < len(kinds):
        end = start
        while end + 1 < len(kinds) and kinds[end + 1][1] == kinds[start][1]:
            end += 1
        cols = [c for c, _ in kinds[start : end + 1]]
        kind = kinds[start][1]
        transformers.append((f"{kind}_{start}", transformer(kind), cols))
        by_kind.setdefault(kind, []).extend(cols)
        start = end + 1
    labels = {
        "impute": "median imputation (numeric columns with missing values)",
        "onehot": "one-hot encoding (text columns; unknown categories ignored)",
        "onehot_impute": "most-frequent imputation, then one-hot encoding (text columns with missing values)",
    }
    report.steps = [
        m.PreprocessStep(step=labels[k], columns=cols) for k, cols in by_kind.items() if k != "passthrough"
    ]
    pre = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("preprocess", pre), ("model", estimator)]), report


# ---------------------------------------------------------------------------------------------------
# Folds
# ---------------------------------------------------------------------------------------------------


@dataclass
class Folds:
    splits: list[tuple[Any, Any]]
    info: m.CvInfo


def make_folds(spec: m.CvSpec, task: str, table: Table, *, default_repeated: bool = False) -> Folds:
    """The splits of `spec` (scikit-learn's splitters, materialized once so every model gets the same)."""
    import numpy as np
    from sklearn import model_selection as ms

    strategy = spec.strategy
    if strategy == "auto":
        strategy = "repeated" if default_repeated else ("stratified" if task == "classifier" else "kfold")
    k = spec.n_splits
    n = len(table.y)
    repeats = 1
    groups = None
    if spec.random_state is not None and not spec.shuffle and strategy in ("kfold", "stratified", "group"):
        raise InvalidInput("`random_state` only applies with `shuffle: true` (or strategy 'repeated').")
    if strategy != "repeated" and spec.n_repeats not in (None, 1):
        raise InvalidInput("`n_repeats` only applies to strategy 'repeated'.")
    rs = spec.random_state if spec.shuffle else None
    if strategy == "kfold":
        splitter: Any = ms.KFold(k, shuffle=spec.shuffle, random_state=rs)
    elif strategy == "stratified":
        if task != "classifier":
            raise InvalidInput("Stratified folds need class labels; use 'kfold' for a regressor.")
        splitter = ms.StratifiedKFold(k, shuffle=spec.shuffle, random_state=rs)
    elif strategy == "group":
        if not spec.group_column:
            raise InvalidInput("Strategy 'group' needs `group_column`, the column that holds the groups.")
        if spec.group_column not in table.df.columns:
            raise InvalidInput(f"The group column {_short(spec.group_column)} is not in the dataset.")
        groups = table.df[spec.group_column].to_numpy()
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise InvalidInput(
                f"The group column has {n_groups} distinct groups, too few for {k} folds; use fewer folds."
            )
        splitter = ms.GroupKFold(k, shuffle=spec.shuffle, random_state=rs)
    elif strategy == "timeseries":
        if spec.shuffle:
            raise InvalidInput("Time-series folds keep the row order; drop `shuffle`.")
        splitter = ms.TimeSeriesSplit(k)
    else:
        repeats = spec.n_repeats or 5
        seed = spec.random_state if spec.random_state is not None else 0
        cls = ms.RepeatedStratifiedKFold if task == "classifier" else ms.RepeatedKFold
        splitter = cls(n_splits=k, n_repeats=repeats, random_state=seed)
    if k * repeats > MAX_FOLDS:
        raise InvalidInput(f"{k} folds x {repeats} repeats is over {MAX_FOLDS} fits per model; use fewer.")
    if n < k + (1 if strategy == "timeseries" else 0) or n < 2 * k:
        raise InvalidInput(f"The dataset has {n} rows, too few for {k} folds; use fewer folds or more rows.")
    if task == "classifier" and strategy in ("stratified", "repeated"):
        counts = table.y.value_counts()
        if counts.min() < k:
            raise InvalidInput(
                f"The class {_short(counts.idxmin(), 40)} has {int(counts.min())} row(s), too few for {k} "
                "stratified folds; use fewer folds or more rows."
            )
    try:
        splits = list(splitter.split(table.X, table.y, groups))
    except ValueError as err:
        raise InvalidInput(f"The folds cannot be made: {_first_line(err)}") from None
    n_train = float(np.mean([len(tr) for tr, _ in splits]))
    n_test = float(np.mean([len(te) for _, te in splits]))
    info = m.CvInfo(
        strategy=strategy,
        n_splits=k,
        n_repeats=repeats,
        shuffle=spec.shuffle or strategy == "repeated",
        random_state=spec.random_state if (spec.shuffle or strategy == "repeated") else None,
        n_folds=len(splits),
        n_train_mean=n_train,
        n_test_mean=n_test,
    )
    if strategy == "repeated" and spec.random_state is None:
        info.random_state = 0
    return Folds(splits=splits, info=info)


def run_folds(
    model: Any,
    X: Any,
    y: Any,
    folds: Folds,
    scoring: list[str],
    control: Control | None,
    *,
    label: str = "",
    offset: int = 0,
    total: int | None = None,
    n_jobs: int | None = None,
) -> dict[str, list[float]]:
    """Per-fold scores {metric: [fold0, fold1, ...]}, progress reported as each fold finishes.

    Each fold is scikit-learn's own `cross_validate` on that one split (so the scores are exactly
    cross_validate's); the jobs are that function itself, so worker processes import only sklearn.
    """
    import warnings

    from joblib import Parallel, delayed
    from sklearn.model_selection import cross_validate as sk_cross_validate

    total = total or len(folds.splits)
    scores: dict[str, list[float]] = {s: [] for s in scoring}
    scores["fit_time"] = []
    jobs = fold_jobs(X, len(folds.splits)) if n_jobs is None else n_jobs
    parallel = Parallel(n_jobs=jobs, return_as="generator")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = parallel(
                delayed(sk_cross_validate)(model, X, y, cv=[(tr, te)], scoring=scoring, error_score="raise")
                for tr, te in folds.splits
            )
            for i, out in enumerate(results, start=1):
                for s in scoring:
                    scores[s].append(float(out[f"test_{s}"][0]))
                scores["fit_time"].append(float(out["fit_time"][0]))
                if control is not None:
                    control.step(offset + i, total, f"{label}fold {i}/{len(folds.splits)}".strip())
    except MlopsError:
        raise
    except (ValueError, TypeError, AttributeError, IndexError) as err:
        raise InvalidInput(f"Fitting or scoring failed: {_first_line(err)}") from None
    return scores


def fold_jobs(X: Any, n_folds: int) -> int:
    cells = int(X.shape[0]) * int(X.shape[1]) if getattr(X, "ndim", 2) == 2 else int(X.shape[0])
    workers = min(N_JOBS, os.cpu_count() or 1)
    return workers if n_folds > 1 and cells >= PARALLEL_MIN_CELLS else 1


# ---------------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------------


def corrected_variance(values: Any, n_train: float, n_test: float) -> float:
    """Nadeau-Bengio: var(ddof=1) * (1/J + n_test/n_train)."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return float(np.var(arr, ddof=1) * (1.0 / len(arr) + n_test / n_train))


def summarize(metric: str, values: list[float], folds: Folds) -> m.MetricSummary:
    import numpy as np
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    j = len(arr)
    mean = float(arr.mean())
    std = float(arr.std(ddof=1))
    tcrit = float(stats.t.ppf(0.5 + CONFIDENCE / 2, j - 1))
    half = tcrit * math.sqrt(corrected_variance(arr, folds.info.n_train_mean, folds.info.n_test_mean))
    naive = tcrit * std / math.sqrt(j)
    return m.MetricSummary(
        metric=metric,
        reported_as=reported_name(metric),
        direction=direction(metric),  # type: ignore[arg-type]
        fold_scores=[float(v) for v in arr],
        mean=mean,
        std=std,
        ci_low=mean - half,
        ci_high=mean + half,
        naive_ci_low=mean - naive,
        naive_ci_high=mean + naive,
        reported_mean=to_reported(metric, mean),
    )


@dataclass
class TTest:
    mean: float
    t: float
    p: float
    df: int


def corrected_ttest(diff: Sequence[float], n_train: float, n_test: float, *, shift: float = 0.0) -> TTest:
    """Corrected repeated k-fold t-test of mean(diff) + shift = 0, two-sided p (df = J - 1)."""
    import numpy as np
    from scipy import stats

    arr = np.asarray(diff, dtype=float)
    mean = float(arr.mean())
    var = corrected_variance(arr, n_train, n_test)
    df = len(arr) - 1
    centred = mean + shift
    if var <= 0.0 or not math.isfinite(var):
        if centred == 0.0:
            return TTest(mean, 0.0, 1.0, df)
        return TTest(mean, math.copysign(math.inf, centred), 0.0, df)
    t = centred / math.sqrt(var)
    return TTest(mean, t, float(2 * stats.t.sf(abs(t), df)), df)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    m_ = len(pvalues)
    adjusted = [0.0] * m_
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m_ - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def wilcoxon_p(diff: Sequence[float]) -> float | None:
    import numpy as np
    from scipy import stats

    arr = np.asarray(diff, dtype=float)
    if np.all(arr == 0):
        return 1.0
    try:
        with np.errstate(all="ignore"):
            p = float(stats.wilcoxon(arr).pvalue)
    except ValueError:
        return None
    return number(p)


def effect_size(diff: Sequence[float]) -> float | None:
    import numpy as np

    arr = np.asarray(diff, dtype=float)
    sd = float(arr.std(ddof=1))
    if sd == 0.0:
        return 0.0 if float(arr.mean()) == 0.0 else None
    return float(arr.mean()) / sd


# ---------------------------------------------------------------------------------------------------
# MLflow: logging and loading server-logged models
# ---------------------------------------------------------------------------------------------------


def held_out_metrics(model: Any, X: Any, y: Any, task: str) -> dict[str, float]:
    from sklearn.metrics import get_scorer

    if task == "classifier":
        names = ["accuracy", "balanced_accuracy", "f1_macro"]
        n_classes = y.nunique()
        if hasattr(model, "predict_proba") or hasattr(model, "decision_function"):
            names.append("roc_auc" if n_classes == 2 else "roc_auc_ovr")
    else:
        names = ["r2", "neg_root_mean_squared_error", "neg_mean_absolute_error"]
    out: dict[str, float] = {}
    for name in names:
        try:
            value = float(get_scorer(name)(model, X, y))
        except (ValueError, AttributeError, TypeError):
            continue  # e.g. a class missing from the held-out part for roc_auc
        if math.isfinite(value):
            out[reported_name(name)] = to_reported(name, value)
    return out


def train(
    app: AppContext,
    path: Path,
    dataset_stored: str,  # the table as the store keeps it (Workspace.stored)
    target: str,
    estimator_name: str,
    params: dict[str, Any],
    features: list[str] | None,
    test_size: float,
    run_name: str | None,
    random_state: int,
    control: Control,
) -> m.TrainResult:
    from sklearn.model_selection import train_test_split

    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import make_id, record_edge

    estimator = build_estimator(estimator_name, params)
    task = task_of(estimator_name)
    table = load_table(app, path, target, features, task)
    model, prep = build_model(table, estimator, estimator_name)
    n = len(table.y)
    n_test = max(1, round(n * test_size))
    if n - n_test < 2 or n < 4:
        raise InvalidInput(f"The dataset has {n} rows, too few to hold out {test_size:.0%} and still train.")
    stratify = None
    if task == "classifier":
        counts = table.y.value_counts()
        if counts.min() >= 2 and n_test >= len(counts):
            stratify = table.y
        else:
            prep.notes.append("held-out split not stratified (a class has too few rows)")
    control.step(1, 4, "splitting and fitting")
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(
            table.X, table.y, test_size=test_size, random_state=random_state, stratify=stratify
        )
        with stdout_to_stderr():
            model.fit(X_tr, y_tr)
    except MlopsError:
        raise
    except (ValueError, TypeError) as err:
        raise InvalidInput(f"Fitting {estimator_name} failed: {_first_line(err)}") from None
    control.step(2, 4, "scoring the held-out rows")
    metrics = held_out_metrics(model, X_te, y_te, task)
    dataset = dataset_ref(app.store, path, workspace=app.workspace)
    types = skops_types(model)
    control.step(3, 4, "logging the run to MLflow")
    exp = experiment_id(app)
    tags = {
        LOGGED_BY_TAG: LOGGED_BY,
        TAG + "estimator": estimator_name,
        TAG + "task": task,
        TAG + "target": target,
        TAG + "dataset": dataset,
        TAG + "dataset_path": dataset_stored,
        TAG + "preprocessing": json.dumps([s.step for s in prep.steps])[:4000],
    }
    logged_params = {"estimator": estimator_name, "test_size": test_size, "split_random_state": random_state}
    for key, value in estimator.get_params(deep=False).items():
        logged_params[key] = str(value)[:500]
    with fluent(app) as mlflow, stdout_to_stderr(), quiet_warnings():
        import mlflow.data
        import mlflow.models

        with mlflow.start_run(experiment_id=exp, run_name=run_name, tags=tags) as run:
            mlflow.log_params(logged_params)
            mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
            mlflow.log_metrics({"n_train": float(len(y_tr)), "n_test": float(len(y_te))})
            frame = table.df[[*table.features, target]]
            mlflow.log_input(mlflow.data.from_pandas(frame, name=dataset, targets=target), context="training")
            sample = X_tr.head(20)
            signature = mlflow.models.infer_signature(sample, model.predict(sample))
            info = log_skops_model(mlflow, model, types, signature)
            run_id = run.info.run_id
    record_edge(
        app.store,
        dataset,
        make_id("run", run_id),
        "trained",
        {"estimator": estimator_name, "target": target, "model_id": getattr(info, "model_id", None)},
    )
    control.step(4, 4, "done")
    return m.TrainResult(
        run_id=run_id,
        model_uri=f"runs:/{run_id}/model",
        experiment=EXPERIMENT,
        estimator=estimator_name,
        task=task,  # type: ignore[arg-type]
        target=target,
        dataset=dataset,
        n_train=len(y_tr),
        n_test=len(y_te),
        metrics=metrics,
        preprocessing=prep,
    )


def list_runs(
    app: AppContext, filter_string: str | None, order_by: str | None, cursor: str | None, limit: int
) -> m.RunList:

    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return m.RunList(runs=[], next_cursor=None)  # nothing logged yet; do not create the store
    client = mlflow_client(app)
    with backend_errors(app.settings):
        exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return m.RunList(runs=[], next_cursor=None)
    try:
        with backend_errors(app.settings):
            page = client.search_runs(
                experiment_ids=[exp.experiment_id],
                filter_string=filter_string or "",
                order_by=[order_by] if order_by else ["attributes.start_time DESC"],
                max_results=limit,
                page_token=cursor,
            )
    except MlopsError:
        raise
    except Exception as err:
        if error_code(err) not in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
            raise
        raise InvalidInput(f"MLflow refused the query: {_first_line(err, 200)}") from None
    runs = []
    for run in page:
        tags = run.data.tags
        started = run.info.start_time
        runs.append(
            m.RunSummary(
                run_id=run.info.run_id,
                name=run.info.run_name,
                status=run.info.status,
                started=(
                    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started / 1000)) if started else None
                ),
                estimator=tags.get(TAG + "estimator"),
                task=tags.get(TAG + "task"),
                target=tags.get(TAG + "target"),
                dataset=tags.get(TAG + "dataset"),
                datasets=[f"{d.dataset.name}@{d.dataset.digest}" for d in (run.inputs.dataset_inputs or [])][
                    :5
                ],
                params={k: v[:200] for k, v in list(run.data.params.items())[:30]},
                metrics={k: float(v) for k, v in run.data.metrics.items() if math.isfinite(v)},
            )
        )
    return m.RunList(runs=runs, next_cursor=page.token or None)


# ---------------------------------------------------------------------------------------------------
# Cross-validation and comparison
# ---------------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    name: str
    source: str
    model: Any  # unfitted
    X: Any
    task: str
    preprocessing: m.Preprocessing | None


def _prepare_estimator(table: Table, name: str, params: dict[str, Any], label: str | None) -> Prepared:
    est = build_estimator(name, params)
    model, prep = build_model(table, est, name)
    return Prepared(label or name, f"estimator {name}", model, table.X, task_of(name), prep)


def _prepare_run(app: AppContext, table_df: Any, run_id: str, label: str | None) -> Prepared:
    from sklearn.base import clone

    loaded = load_run_model(app, run_id)
    missing = [f for f in loaded.features if f not in table_df.columns]
    if missing:
        raise InvalidInput(f"Run {run_id}'s model needs column(s) {missing[:10]} the dataset does not have.")
    return Prepared(
        label or (f"run:{run_id[:8]}" if RUN_ID_RE.match(run_id) else run_id),
        f"run {run_id} ({loaded.estimator})",
        clone(loaded.model),
        table_df[loaded.features] if loaded.features else None,
        loaded.task,
        None,
    )


def cross_validate(
    app: AppContext,
    path: Path,
    target: str,
    estimator_name: str | None,
    params: dict[str, Any],
    run_id: str | None,
    features: list[str] | None,
    cv: m.CvSpec,
    metrics: list[str],
    control: Control,
) -> m.CrossValidateResult:
    started = time.perf_counter()
    if (estimator_name is None) == (run_id is None):
        raise InvalidInput("Give exactly one of `estimator` or `run_id`.")
    if not metrics or len(metrics) > MAX_METRICS:
        raise InvalidInput(f"Give 1 to {MAX_METRICS} metrics (scikit-learn scorer names).")
    if estimator_name is not None:
        build_estimator(estimator_name, params)  # bad estimator/params fail before the file is read
        task = task_of(estimator_name)
    else:
        assert run_id is not None
        loaded = load_run_model(app, run_id)
        task = loaded.task
        if features is not None:
            raise InvalidInput("A run's model brings its own features; drop `features`.")
    for metric in metrics:
        check_metric(metric, task)
    table = load_table(app, path, target, features if run_id is None else None, task)
    if estimator_name is not None:
        prepared = _prepare_estimator(table, estimator_name, params, None)
    else:
        assert run_id is not None
        prepared = _prepare_run(app, table.df, run_id, None)
    folds = make_folds(cv, task, table)
    scores = run_folds(prepared.model, prepared.X, table.y, folds, list(dict.fromkeys(metrics)), control)
    return m.CrossValidateResult(
        model=prepared.source,
        task=task,  # type: ignore[arg-type]
        n_rows=len(table.y),
        cv=folds.info,
        metrics=[summarize(metric, scores[metric], folds) for metric in dict.fromkeys(metrics)],
        preprocessing=prepared.preprocessing,
        n_jobs=fold_jobs(prepared.X, len(folds.splits)),
        seconds=round(time.perf_counter() - started, 3),
    )


def compare(
    app: AppContext,
    path: Path,
    target: str,
    candidates: list[m.Candidate],
    features: list[str] | None,
    cv: m.CvSpec | None,
    metric: str,
    margin: float | None,
    control: Control,
) -> m.CompareResult:
    if not 2 <= len(candidates) <= MAX_CANDIDATES:
        raise InvalidInput(f"Give 2 to {MAX_CANDIDATES} candidates to compare.")
    tasks = set()
    for c in candidates:
        if c.estimator is not None:
            build_estimator(c.estimator, c.params)
            tasks.add(task_of(c.estimator))
        else:
            assert c.run_id is not None
            tasks.add(load_run_model(app, c.run_id).task)
    if len(tasks) > 1:
        raise InvalidInput("Candidates mix classifiers and regressors; compare models of one kind.")
    task = tasks.pop()
    check_metric(metric, task)
    table = load_table(app, path, target, features, task)
    prepared: list[Prepared] = []
    names: set[str] = set()
    for c in candidates:
        if c.estimator is not None:
            p = _prepare_estimator(table, c.estimator, c.params, c.name)
        else:
            assert c.run_id is not None
            p = _prepare_run(app, table.df, c.run_id, c.name)
        base, i = p.name, 2
        while p.name in names:
            p.name = f"{base}#{i}"
            i += 1
        names.add(p.name)
        prepared.append(p)
    folds = make_folds(cv or m.CvSpec(), task, table, default_repeated=cv is None)
    total = len(folds.splits) * len(prepared)
    fold_scores: list[list[float]] = []
    for idx, p in enumerate(prepared):
        scores = run_folds(
            p.model,
            p.X,
            table.y,
            folds,
            [metric],
            control,
            label=f"{p.name}: ",
            offset=idx * len(folds.splits),
            total=total,
        )
        fold_scores.append(scores[metric])
    return compare_scores(
        app, metric, [p.name for p in prepared], [p.source for p in prepared], fold_scores, folds, margin
    )


def compare_scores(
    app: AppContext | None,
    metric: str,
    names: list[str],
    sources: list[str],
    fold_scores: list[list[float]],
    folds: Folds,
    margin: float | None,
) -> m.CompareResult:
    """The decision from per-fold scores of every candidate on the same folds."""
    import numpy as np

    arrays = [np.asarray(s, dtype=float) for s in fold_scores]
    means = [float(a.mean()) for a in arrays]
    best = int(np.argmax(means))
    n_tr, n_te = folds.info.n_train_mean, folds.info.n_test_mean
    others = [i for i in range(len(arrays)) if i != best]
    tests = [corrected_ttest(arrays[best] - arrays[i], n_tr, n_te) for i in others]
    adjusted = holm([t.p for t in tests])
    comparisons = []
    for i, t, p_adj in zip(others, tests, adjusted, strict=True):
        diff = arrays[best] - arrays[i]
        comparisons.append(
            m.Comparison(
                candidate=names[i],
                versus=names[best],
                mean_difference=t.mean,
                reported_difference=abs(t.mean),
                t=number(t.t),
                df=t.df,
                p_value=t.p,
                p_value_holm=p_adj,
                significant=p_adj < ALPHA,
                effect_size=effect_size(diff),
                wilcoxon_p=wilcoxon_p(diff),
            )
        )
    weakest = max(range(len(comparisons)), key=lambda j: comparisons[j].p_value_holm)
    p_value = comparisons[weakest].p_value_holm
    significant = p_value < ALPHA
    ni: list[m.NonInferiority] = []
    non_inferior: bool | None = None
    if margin is not None:
        from scipy import stats

        raw: list[tuple[int, TTest, float]] = []
        for i in range(1, len(arrays)):
            t = corrected_ttest(arrays[i] - arrays[0], n_tr, n_te, shift=margin)
            p_one = (0.0 if t.t > 0 else 1.0) if math.isinf(t.t) else float(stats.t.sf(t.t, t.df))
            raw.append((i, t, p_one))
        adj = holm([r[2] for r in raw])
        for (i, t, p_one), p_adj in zip(raw, adj, strict=True):
            ni.append(
                m.NonInferiority(
                    candidate=names[i],
                    reference=names[0],
                    margin=margin,
                    mean_difference=t.mean,
                    t=number(t.t),
                    p_value=p_one,
                    p_value_holm=p_adj,
                    non_inferior=p_adj < ALPHA,
                )
            )
        non_inferior = all(x.non_inferior for x in ni)
    rep = reported_name(metric)
    gap = comparisons[weakest]
    verdict = "significant" if significant else "not significant"
    summary = (
        f"{names[best]} is best by mean {rep} ({to_reported(metric, means[best]):.4g}); "
        f"vs {gap.candidate} the gap of {gap.reported_difference:.4g} is {verdict} "
        f"(corrected t-test, Holm p={p_value:.3g}, {folds.info.n_folds} folds)."
    )
    if non_inferior is not None:
        summary += f" Non-inferior to {names[0]} within {margin:g}: {'yes' if non_inferior else 'no'}."
    plot = ""
    if app is not None:
        plot = plot_fold_scores(app, names, arrays, metric, best)
    return m.CompareResult(
        metric=metric,
        reported_as=rep,
        direction=direction(metric),  # type: ignore[arg-type]
        cv=folds.info,
        candidates=[
            m.CandidateScore(
                name=names[i],
                source=sources[i],
                fold_scores=[float(v) for v in arrays[i]],
                mean=means[i],
                std=float(arrays[i].std(ddof=1)),
                reported_mean=to_reported(metric, means[i]),
            )
            for i in range(len(arrays))
        ],
        best=names[best],
        significant=significant,
        p_value=p_value,
        effect_size=gap.effect_size,
        alpha=ALPHA,
        comparisons=comparisons,
        margin=margin,
        non_inferior=non_inferior,
        non_inferiority=ni,
        summary=summary,
        plot=plot,
    )


# ---------------------------------------------------------------------------------------------------
# Plots (matplotlib's object API on the Agg canvas: no pyplot global state)
# ---------------------------------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _save(app: AppContext, fig: Any, kind: str) -> str:
    path = app.settings.home / "reports" / "evaluation" / f"{kind}-{uuid.uuid4().hex[:12]}.png"
    with atomic_path(path) as tmp, quiet_warnings():
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return artifact_uri(app.settings.home, path)


def plot_fold_scores(app: AppContext, names: list[str], arrays: list[Any], metric: str, best: int) -> str:
    fig = _figure()
    ax = fig.add_subplot()
    values = [[to_reported(metric, float(v)) for v in a] for a in arrays]
    folds = range(1, len(values[0]) + 1)
    for i, (name, vals) in enumerate(zip(names, values, strict=True)):
        ax.plot(folds, vals, marker="o", linewidth=2.0 if i == best else 1.0, label=name)
    ax.set_xlabel("fold")
    ax.set_ylabel(reported_name(metric))
    ax.set_title(f"Per-fold {reported_name(metric)} ({direction(metric).replace('_', ' ')})")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(app, fig, "compare")


# ---------------------------------------------------------------------------------------------------
# Residuals (regressors) and diagnostics (classifiers)
# ---------------------------------------------------------------------------------------------------


def _model_and_data(
    app: AppContext, path: Path, run_id: str, target: str, want: str
) -> tuple[LoadedModel, Table]:
    loaded = load_run_model(app, run_id)
    if loaded.task != want:
        if want == "regressor":
            raise InvalidInput(
                f"Run {run_id} holds a classifier ({loaded.estimator}); residuals are for regressors, "
                "use evaluation_diagnostics."
            )
        raise InvalidInput(
            f"Run {run_id} holds a regressor ({loaded.estimator}); diagnostics are for classifiers, "
            "use evaluation_residuals."
        )
    return loaded, model_table(app, path, loaded, target, f"Run {run_id}'s model")


def model_table(app: AppContext, path: Path, loaded: LoadedModel, target: str, who: str) -> Table:
    """The table split for a fitted model: X holds exactly the model's own feature columns."""
    df = read_table(path, TableLimits.of(app.settings))
    df.columns = [str(c) for c in df.columns]
    missing = [f for f in loaded.features if f not in df.columns]
    if missing:
        raise InvalidInput(f"{who} needs column(s) {missing[:10]} the dataset does not have.")
    table = split_xy(df, target, loaded.features or None, loaded.task, check_usable=False)
    table.X = table.df[loaded.features] if loaded.features else table.X
    return table


def _predict(model: Any, X: Any, how: str = "predict") -> Any:
    try:
        with quiet_warnings():
            return getattr(model, how)(X)
    except (ValueError, TypeError, KeyError) as err:
        raise InvalidInput(f"The model could not predict on this data: {_first_line(err)}") from None


def residuals(
    app: AppContext,
    path: Path,
    run_id: str,
    target: str,
    top: int,
    include_samples: bool,
    control: Control,
) -> m.ResidualsResult:
    import numpy as np
    from scipy import stats

    try:
        from statsmodels.stats.diagnostic import het_breuschpagan
        from statsmodels.stats.stattools import durbin_watson
    except ImportError:
        raise MissingExtra("Residual tests need statsmodels: pip install 'mlops-mcp[stats]'.") from None
    loaded, table = _model_and_data(app, path, run_id, target, "regressor")
    control.step(1, 3, "predicting")
    y = table.y.to_numpy(dtype=float)
    fitted = np.asarray(_predict(loaded.model, table.X), dtype=float)
    res = y - fitted
    n = len(res)
    if n < 8:
        raise InvalidInput(f"The dataset has {n} rows; residual tests need at least 8.")
    control.step(2, 3, "testing residuals")
    # Shapiro-Wilk is the stronger test but is not meant for more than 5,000 points.
    name, test = (
        ("shapiro-wilk", stats.shapiro) if n <= SHAPIRO_MAX else ("dagostino-pearson", stats.normaltest)
    )
    s = test(res)
    normality = m.NormalityTest(
        test=name,
        statistic=float(s.statistic),
        p_value=float(s.pvalue),
        normal_at_5pct=bool(s.pvalue >= ALPHA),
        n=n,
    )
    exog = np.column_stack([np.ones(n), fitted])
    if np.ptp(fitted) == 0:
        bp = {"lm": 0.0, "lm_p_value": 1.0, "f": 0.0, "f_p_value": 1.0}
    else:
        lm, lm_p, f, f_p = het_breuschpagan(res, exog)
        bp = {"lm": float(lm), "lm_p_value": float(lm_p), "f": float(f), "f_p_value": float(f_p)}
    dw = float(durbin_watson(res))
    order = np.argsort(-np.abs(res), kind="stable")[: max(0, min(top, MAX_WORST_ROWS))]
    shown_cols = list(table.X.columns)[:MAX_SAMPLE_COLUMNS]
    worst = []
    for i in order:
        feats = None
        if include_samples:
            feats = {c: plain(table.X.iloc[int(i)][c], chars=100) for c in shown_cols}
        worst.append(
            m.WorstRow(
                row=int(i),
                actual=float(y[i]),
                predicted=float(fitted[i]),
                residual=float(res[i]),
                features=feats,
            )
        )
    control.step(3, 3, "plotting")
    plots = _residual_plots(app, y, fitted, res)
    summary = {
        "mean": float(res.mean()),
        "std": float(res.std(ddof=1)),
        "min": float(res.min()),
        "max": float(res.max()),
        "mae": float(np.abs(res).mean()),
        "rmse": float(np.sqrt(np.mean(res**2))),
        "r2": float(1 - np.sum(res**2) / np.sum((y - y.mean()) ** 2)),
    }
    return m.ResidualsResult(
        run_id=run_id,
        n=n,
        summary=summary,
        normality=normality,
        breusch_pagan=bp,
        durbin_watson=dw,
        worst_rows=worst,
        plots=plots,
    )


def _residual_plots(app: AppContext, y: Any, fitted: Any, res: Any) -> dict[str, str]:
    from scipy import stats
    from sklearn.metrics import PredictionErrorDisplay

    plots: dict[str, str] = {}
    fig = _figure()
    ax = fig.add_subplot()
    PredictionErrorDisplay.from_predictions(y, fitted, kind="residual_vs_predicted", subsample=5000, ax=ax)
    ax.set_title("Residuals vs fitted")
    plots["residuals_vs_fitted"] = _save(app, fig, "residuals-fitted")
    fig = _figure()
    ax = fig.add_subplot()
    (osm, osr), (slope, intercept, _r) = stats.probplot(res)
    ax.scatter(osm, osr, s=8, alpha=0.5)
    ax.plot(osm, slope * osm + intercept, color="red", linewidth=1)
    ax.set_xlabel("theoretical quantiles")
    ax.set_ylabel("ordered residuals")
    ax.set_title("Normal Q-Q")
    plots["qq"] = _save(app, fig, "residuals-qq")
    fig = _figure()
    ax = fig.add_subplot()
    ax.hist(res, bins="auto")
    ax.set_xlabel("residual")
    ax.set_title("Residual histogram")
    plots["histogram"] = _save(app, fig, "residuals-hist")
    return plots


def diagnostics(
    app: AppContext, path: Path, run_id: str, target: str, control: Control
) -> m.DiagnosticsResult:
    import numpy as np
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    loaded, table = _model_and_data(app, path, run_id, target, "classifier")
    model = loaded.model
    control.step(1, 3, "predicting")
    y = table.y.to_numpy()
    pred = _predict(model, table.X)
    classes = list(getattr(model, "classes_", np.unique(np.concatenate([y, pred]))))
    notes: list[str] = []
    unseen = sorted({str(v) for v in np.unique(y)} - {str(c) for c in classes})
    if unseen:
        raise InvalidInput(f"The target holds label(s) {unseen[:5]} the model never saw in training.")
    if len(classes) > MAX_CLASSES_SHOWN:
        raise InvalidInput(
            f"The model has {len(classes)} classes; diagnostics show at most {MAX_CLASSES_SHOWN}."
        )
    cm = skm.confusion_matrix(y, pred, labels=classes)
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    per_class = [
        m.ClassMetrics(
            label=str(c), precision=float(p[i]), recall=float(r[i]), f1=float(f[i]), support=int(s[i])
        )
        for i, c in enumerate(classes)
    ]
    control.step(2, 3, "curves")
    scores: Any = None
    if hasattr(model, "predict_proba"):
        scores = np.asarray(_predict(model, table.X, "predict_proba"), dtype=float)
    elif hasattr(model, "decision_function"):
        scores = np.asarray(_predict(model, table.X, "decision_function"), dtype=float)
        notes.append("no predict_proba: ROC/PR use decision_function; no Brier score or calibration")
    roc_auc = ap = brier = None
    calibration = None
    plots: dict[str, str] = {}
    present = len(np.unique(y)) >= 2
    if scores is not None and present:
        binary = len(classes) == 2
        if binary:
            pos = scores[:, 1] if scores.ndim == 2 else scores
            y_bin = (y == classes[1]).astype(int)
            roc_auc = float(skm.roc_auc_score(y_bin, pos))
            ap = float(skm.average_precision_score(y_bin, pos))
            curves = {str(classes[1]): (y_bin, pos)}
            if hasattr(model, "predict_proba"):
                brier = float(skm.brier_score_loss(y_bin, pos))
                frac, mean_pred = calibration_curve(y_bin, pos, n_bins=10, strategy="uniform")
                calibration = {
                    "mean_predicted": [float(v) for v in mean_pred],
                    "fraction_positive": [float(v) for v in frac],
                }
        else:
            notes.append("multiclass: ROC AUC is one-vs-rest macro; curves per class")
            if hasattr(model, "predict_proba"):
                with contextlib.suppress(ValueError):
                    roc_auc = float(skm.roc_auc_score(y, scores, multi_class="ovr", labels=classes))
                brier = float(skm.brier_score_loss(y, scores, labels=classes))
                notes.append("multiclass Brier score: mean squared distance of the probability vector")
            curves = {str(c): ((y == c).astype(int), scores[:, i]) for i, c in enumerate(classes[:10])}
            y_onehot = np.column_stack([(y == c).astype(int) for c in classes])
            with contextlib.suppress(ValueError):
                ap = float(skm.average_precision_score(y_onehot, scores, average="macro"))
        plots.update(_classifier_plots(app, curves, calibration is not None))
    elif scores is None:
        notes.append("the model gives no scores: no ROC/PR curves")
    plots["confusion_matrix"] = _confusion_plot(app, cm, [str(c) for c in classes])
    control.step(3, 3, "done")
    return m.DiagnosticsResult(
        run_id=run_id,
        n=len(y),
        labels=[str(c) for c in classes],
        confusion_matrix=cm.tolist(),
        per_class=per_class,
        accuracy=float(skm.accuracy_score(y, pred)),
        balanced_accuracy=float(skm.balanced_accuracy_score(y, pred)),
        roc_auc=roc_auc,
        average_precision=ap,
        brier_score=brier,
        calibration=calibration,
        notes=notes,
        plots=plots,
    )


def _classifier_plots(
    app: AppContext, curves: dict[str, tuple[Any, Any]], calibrated: bool
) -> dict[str, str]:
    """ROC, precision-recall (one curve per class shown) and, for a binary classifier, calibration."""
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    shown = {label: (yb, sc) for label, (yb, sc) in curves.items() if yb.min() != yb.max()}
    out: dict[str, str] = {}
    for key, kind, display in (
        ("roc", "roc", RocCurveDisplay),
        ("precision_recall", "pr", PrecisionRecallDisplay),
    ):
        fig = _figure()
        ax = fig.add_subplot()
        for i, (label, (yb, sc)) in enumerate(shown.items()):
            chance = key == "roc" and i == len(shown) - 1
            display.from_predictions(yb, sc, name=label, ax=ax, plot_chance_level=chance)
        ax.set_title("ROC" if key == "roc" else "Precision-recall")
        ax.legend(fontsize="small")
        out[key] = _save(app, fig, kind)
    if calibrated:
        ((yb, sc),) = curves.values()
        fig = _figure()
        ax = fig.add_subplot()
        CalibrationDisplay.from_predictions(yb, sc, n_bins=10, ax=ax)
        ax.set_title("Calibration")
        out["calibration"] = _save(app, fig, "calibration")
    return out


def _confusion_plot(app: AppContext, cm: Any, labels: list[str]) -> str:
    from sklearn.metrics import ConfusionMatrixDisplay

    fig = _figure(5.5, 4.8)
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(cm, display_labels=[lb[:12] for lb in labels]).plot(
        ax=ax, cmap="Blues", xticks_rotation=45, include_values=len(labels) <= 12
    )
    ax.set_title("Confusion matrix")
    return _save(app, fig, "confusion")


# ---------------------------------------------------------------------------------------------------
# Model test suite
# ---------------------------------------------------------------------------------------------------


def _score(model: Any, X: Any, y: Any, metric: str) -> float:
    from sklearn.metrics import get_scorer

    try:
        with quiet_warnings():
            return float(get_scorer(metric)(model, X, y))
    except (ValueError, TypeError, AttributeError) as err:
        raise InvalidInput(f"Scoring {metric} failed: {_first_line(err)}") from None


def _bounds(value: float, lo: float | None, hi: float | None) -> tuple[bool, str]:
    parts = []
    ok = True
    if lo is not None:
        ok &= value >= lo
        parts.append(f">= {lo:g}")
    if hi is not None:
        ok &= value <= hi
        parts.append(f"<= {hi:g}")
    return ok, " and ".join(parts)


def run_model_tests(
    app: AppContext,
    path: Path,
    model_ref: str,
    target: str,
    checks: list[Any],
    control: Control,
) -> m.ModelTestResult:
    if not checks:
        raise InvalidInput("Give at least one check (metric, no_regression, slice, invariance or latency).")
    run_id = resolve_model_ref(app, model_ref)
    loaded = load_run_model(app, run_id)
    model = loaded.model
    for c in checks:
        if isinstance(c, (m.MetricCheck, m.SliceCheck, m.NoRegressionCheck)):
            check_metric(c.metric, loaded.task)
        if isinstance(c, (m.MetricCheck, m.SliceCheck)) and c.min is None and c.max is None:
            raise InvalidInput(f"The {c.type} check on {c.metric} needs `min` or `max`.")
    table = model_table(app, path, loaded, target, "The model")
    X, y = table.X, table.y
    results: list[m.CheckResult] = []
    for idx, c in enumerate(checks, start=1):
        control.step(idx - 1, len(checks), f"check {idx}/{len(checks)}: {c.type}")
        if isinstance(c, m.MetricCheck):
            value = to_reported(c.metric, _score(model, X, y, c.metric))
            ok, rule = _bounds(value, c.min, c.max)
            results.append(
                m.CheckResult(
                    type="metric",
                    name=reported_name(c.metric),
                    passed=ok,
                    value=value,
                    detail=f"{reported_name(c.metric)} = {value:.4g}, required {rule}",
                )
            )
        elif isinstance(c, m.SliceCheck):
            results.extend(_slice_check(model, X, y, table.df, c))
        elif isinstance(c, m.InvarianceCheck):
            results.append(_invariance_check(model, X, loaded.task, c))
        elif isinstance(c, m.LatencyCheck):
            results.append(_latency_check(model, X, c))
        elif isinstance(c, m.NoRegressionCheck):
            results.append(_regression_check(app, path, target, run_id, c, control))
    control.step(len(checks), len(checks), "done")
    failed = [r for r in results if not r.passed and not r.skipped]
    passed = not failed
    summary = f"{len(results) - len(failed)}/{len(results)} checks passed" + (
        "" if passed else f"; failed: {', '.join(r.name for r in failed[:5])}"
    )
    return m.ModelTestResult(model=model_ref, run_id=run_id, passed=passed, checks=results, summary=summary)


def _slice_check(model: Any, X: Any, y: Any, df: Any, c: m.SliceCheck) -> list[m.CheckResult]:
    if c.column not in df.columns:
        raise InvalidInput(f"The slice column {_short(c.column)} is not in the dataset.")
    counts = df[c.column].value_counts(dropna=False)
    out: list[m.CheckResult] = []
    for value, count in list(counts.items())[:20]:
        label = f"{c.column}={plain(value, chars=100)}"
        mask = (df[c.column] == value).to_numpy() if value == value else df[c.column].isna().to_numpy()
        if count < c.min_rows:
            out.append(_skipped(label, f"{count} rows, fewer than min_rows={c.min_rows}"))
            continue
        try:
            value_ = to_reported(c.metric, _score(model, X[mask], y[mask], c.metric))
        except InvalidInput as err:
            out.append(_skipped(label, f"not computable on this slice: {err.message[:150]}"))
            continue
        ok, rule = _bounds(value_, c.min, c.max)
        out.append(
            m.CheckResult(
                type="slice",
                name=label,
                passed=ok,
                value=value_,
                detail=f"{reported_name(c.metric)} = {value_:.4g} on {count} rows, required {rule}",
            )
        )
    if len(counts) > 20:
        out.append(
            _skipped(
                f"{c.column}=<other>", f"{len(counts) - 20} smaller slices not checked (the 20 largest were)"
            )
        )
    return out


def _skipped(name: str, detail: str) -> m.CheckResult:
    return m.CheckResult(type="slice", name=name, passed=True, skipped=True, detail=detail)


def _invariance_check(model: Any, X: Any, task: str, c: m.InvarianceCheck) -> m.CheckResult:
    import numpy as np
    import pandas as pd

    missing = [col for col in c.columns if col not in X.columns]
    if missing:
        raise InvalidInput(f"Invariance column(s) {missing[:5]} are not features of the model.")
    rng = np.random.default_rng(c.seed)
    Xp = X.copy()
    for col in c.columns:
        if c.perturbation == "shuffle":
            Xp[col] = rng.permutation(Xp[col].to_numpy())
        elif c.perturbation == "noise":
            if not pd.api.types.is_numeric_dtype(Xp[col]):
                raise InvalidInput(
                    f"Noise needs numeric columns; {_short(col)} is not numeric (use shuffle)."
                )
            sd = float(Xp[col].std()) or 1.0
            Xp[col] = Xp[col] + rng.normal(0, c.scale * sd, len(Xp))
        else:
            if c.value is None:
                raise InvalidInput("The 'constant' perturbation needs `value`.")
            Xp[col] = c.value
    before = np.asarray(_predict(model, X))
    after = np.asarray(_predict(model, Xp))
    if task == "classifier":
        changed = before != after
    else:
        changed = np.abs(before.astype(float) - after.astype(float)) > c.tolerance
    frac = float(changed.mean())
    ok = frac <= c.max_changed_fraction
    return m.CheckResult(
        type="invariance",
        name=f"{c.perturbation}({', '.join(c.columns)[:60]})",
        passed=ok,
        value=frac,
        detail=f"{int(changed.sum())}/{len(changed)} predictions changed ({frac:.2%}); allowed {c.max_changed_fraction:.2%}",
    )


def _latency_check(model: Any, X: Any, c: m.LatencyCheck) -> m.CheckResult:
    import numpy as np

    rows = [X.iloc[[i % len(X)]] for i in range(min(c.n, max(len(X), 1) * 10))]
    with quiet_warnings():
        model.predict(rows[0])  # warm-up
        times = []
        for row in rows:
            t0 = time.perf_counter()
            model.predict(row)
            times.append((time.perf_counter() - t0) * 1000)
    p95 = float(np.percentile(times, 95))
    return m.CheckResult(
        type="latency",
        name="single-row p95",
        passed=p95 <= c.p95_ms,
        value=p95,
        detail=f"p95 {p95:.3g} ms over {len(times)} single-row predicts, budget {c.p95_ms:g} ms",
    )


def _regression_check(
    app: AppContext, path: Path, target: str, run_id: str, c: m.NoRegressionCheck, control: Control
) -> m.CheckResult:
    baseline = resolve_model_ref(app, c.baseline)
    if baseline == run_id:
        raise InvalidInput("The baseline is the model under test; give the run or version it replaces.")
    candidates = [m.Candidate(run_id=baseline, name="baseline"), m.Candidate(run_id=run_id, name="candidate")]
    result = compare(app, path, target, candidates, None, c.cv, c.metric, c.margin, control)
    scores = {s.name: s for s in result.candidates}
    diff = scores["candidate"].reported_mean - scores["baseline"].reported_mean
    rep = reported_name(c.metric)
    if c.margin is not None:
        ni = result.non_inferiority[0]
        ok = ni.non_inferior
        detail = (
            f"{rep} candidate {scores['candidate'].reported_mean:.4g} vs baseline "
            f"{scores['baseline'].reported_mean:.4g}; non-inferior within {c.margin:g}: "
            f"{'yes' if ok else 'no'} (one-sided p={ni.p_value:.3g})"
        )
        return m.CheckResult(
            type="no_regression", name=f"no regression ({rep})", passed=ok, value=diff, detail=detail
        )
    cmp = result.comparisons[0]
    worse = result.best == "baseline" and cmp.significant
    detail = (
        f"{rep} candidate {scores['candidate'].reported_mean:.4g} vs baseline "
        f"{scores['baseline'].reported_mean:.4g}; "
        + ("significantly worse" if worse else "not significantly worse")
        + f" (corrected t-test p={cmp.p_value:.3g}, {result.cv.n_folds} folds)"
    )
    return m.CheckResult(
        type="no_regression", name=f"no regression ({rep})", passed=not worse, value=diff, detail=detail
    )
