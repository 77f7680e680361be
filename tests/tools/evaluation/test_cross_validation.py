"""evaluation_cross_validate and evaluation_compare_models through the MCP client, every number recomputed
here with scikit-learn, scipy and statsmodels directly."""

from __future__ import annotations

import numpy as np
import pytest
from mcp import Client
from scipy import stats
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
    TimeSeriesSplit,
    cross_validate,
)

from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.tools.evaluation.conftest import corrected_t, read


def _xy(settings: Settings, name: str, target: str, drop: tuple[str, ...] = ()):
    df = read(settings.workspace_dir, name)
    return df.drop(columns=[target, *drop]), df[target]


async def test_scores_equal_cross_validate_for_each_strategy(client: Client, settings: Settings) -> None:
    X, y = _xy(settings, "bc.csv", "target")
    est = LogisticRegression(solver="liblinear")
    cases = [
        ({}, StratifiedKFold(5)),  # auto = sklearn's default for a classifier
        ({"strategy": "kfold", "n_splits": 4}, KFold(4)),
        (
            {"strategy": "stratified", "n_splits": 3, "shuffle": True, "random_state": 7},
            StratifiedKFold(3, shuffle=True, random_state=7),
        ),
        ({"strategy": "timeseries", "n_splits": 3}, TimeSeriesSplit(3)),
    ]
    for cv, splitter in cases:
        data = structured(
            await client.call_tool(
                "evaluation_cross_validate",
                {
                    "dataset": "bc.csv",
                    "target": "target",
                    "estimator": "LogisticRegression",
                    "params": {"solver": "liblinear"},
                    "metrics": ["accuracy", "roc_auc"],
                    "cv": cv,
                },
            )
        )
        expected = cross_validate(est, X, y, cv=splitter, scoring=["accuracy", "roc_auc"])
        by_metric = {m["metric"]: m for m in data["metrics"]}
        for metric in ("accuracy", "roc_auc"):
            assert by_metric[metric]["fold_scores"] == pytest.approx(expected[f"test_{metric}"], abs=1e-12), (
                cv
            )
        assert data["preprocessing"]["steps"] == []  # clean numeric data: the bare estimator


async def test_ci_uses_the_corrected_variance(client: Client, settings: Settings) -> None:
    X, y = _xy(settings, "diabetes.csv", "target")
    data = structured(
        await client.call_tool(
            "evaluation_cross_validate",
            {
                "dataset": "diabetes.csv",
                "target": "target",
                "estimator": "Ridge",
                "params": {"alpha": 0.5},
                "metrics": ["neg_root_mean_squared_error", "r2"],
                "cv": {"strategy": "repeated", "n_splits": 5, "n_repeats": 2, "random_state": 3},
            },
        )
    )
    splitter = RepeatedKFold(n_splits=5, n_repeats=2, random_state=3)
    splits = list(splitter.split(X))
    expected = cross_validate(
        Ridge(alpha=0.5), X, y, cv=splits, scoring=["neg_root_mean_squared_error", "r2"]
    )
    scores = expected["test_neg_root_mean_squared_error"]
    summary = next(m for m in data["metrics"] if m["metric"] == "neg_root_mean_squared_error")
    assert summary["fold_scores"] == pytest.approx(scores, abs=1e-9)
    j = len(scores)
    n_train = np.mean([len(tr) for tr, _ in splits])
    n_test = np.mean([len(te) for _, te in splits])
    var = np.sum((scores - scores.mean()) ** 2) / (j - 1)
    half = stats.t.ppf(0.975, j - 1) * np.sqrt(var * (1 / j + n_test / n_train))
    naive = stats.t.ppf(0.975, j - 1) * np.sqrt(var / j)
    assert summary["mean"] == pytest.approx(scores.mean())
    assert summary["std"] == pytest.approx(np.sqrt(var))
    assert summary["ci_low"] == pytest.approx(scores.mean() - half)
    assert summary["ci_high"] == pytest.approx(scores.mean() + half)
    assert summary["naive_ci_high"] - summary["naive_ci_low"] == pytest.approx(2 * naive)
    assert summary["ci_high"] - summary["ci_low"] > summary["naive_ci_high"] - summary["naive_ci_low"]
    # A loss is reported as the positive error, lower is better.
    assert summary["reported_as"] == "rmse" and summary["direction"] == "lower_is_better"
    assert summary["reported_mean"] == pytest.approx(-scores.mean())
    assert data["cv"]["n_folds"] == 10 and data["cv"]["n_test_mean"] == pytest.approx(n_test)


async def test_group_folds_and_preprocessing_report(client: Client, settings: Settings) -> None:
    df = read(settings.workspace_dir, "mixed.csv")
    data = structured(
        await client.call_tool(
            "evaluation_cross_validate",
            {
                "dataset": "mixed.csv",
                "target": "label",
                "estimator": "LogisticRegression",
                "features": ["num_clean", "num_gaps", "colour", "size", "num_last"],
                "metrics": ["accuracy"],
                "cv": {"strategy": "group", "n_splits": 4, "group_column": "group"},
            },
        )
    )
    steps = {s["step"].split(" (")[0]: s["columns"] for s in data["preprocessing"]["steps"]}
    assert steps["median imputation"] == ["num_gaps"]
    assert steps["one-hot encoding"] == ["colour"]
    assert steps["most-frequent imputation, then one-hot encoding"] == ["size"]
    assert data["preprocessing"]["passthrough_columns"] == 2
    # Independent: the same preprocessing built by hand, the same group folds.
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer(
        [
            ("a", "passthrough", ["num_clean"]),
            ("b", SimpleImputer(strategy="median"), ["num_gaps"]),
            ("c", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["colour"]),
            (
                "d",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                ["size"],
            ),
            ("e", "passthrough", ["num_last"]),
        ]
    )
    X = df[["num_clean", "num_gaps", "colour", "size", "num_last"]]
    expected = cross_validate(
        make_pipeline(pre, LogisticRegression()),
        X,
        df["label"],
        cv=GroupKFold(4),
        groups=df["group"],
        scoring="accuracy",
    )
    assert data["metrics"][0]["fold_scores"] == pytest.approx(expected["test_score"], abs=1e-12)


async def test_progress_is_reported_per_fold(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    structured(
        await client.call_tool(
            "evaluation_cross_validate",
            {
                "dataset": "diabetes.csv",
                "target": "target",
                "estimator": "LinearRegression",
                "metrics": ["r2"],
            },
            progress_callback=on_progress,
        )
    )
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert seen[-1][1] == 5 and seen[-1][2] == "fold 5/5"


async def test_two_identical_candidates_are_not_significant(client: Client) -> None:
    data = structured(
        await client.call_tool(
            "evaluation_compare_models",
            {
                "dataset": "bc.csv",
                "target": "target",
                "candidates": [
                    {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}, "name": "a"},
                    {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}, "name": "b"},
                ],
                "metric": "accuracy",
                "cv": {"strategy": "stratified", "n_splits": 5},
            },
        )
    )
    assert data["significant"] is False
    assert data["p_value"] == 1.0
    assert data["comparisons"][0]["mean_difference"] == 0.0
    assert data["candidates"][0]["fold_scores"] == data["candidates"][1]["fold_scores"]
    assert data["plot"].startswith("mlops://artifacts/reports/")


async def test_loss_metric_picks_the_lower_error_model(client: Client, settings: Settings) -> None:
    X, y = _xy(settings, "diabetes.csv", "target")
    data = structured(
        await client.call_tool(
            "evaluation_compare_models",
            {
                "dataset": "diabetes.csv",
                "target": "target",
                "candidates": [{"estimator": "DummyRegressor"}, {"estimator": "LinearRegression"}],
                "metric": "neg_root_mean_squared_error",
                "cv": {"strategy": "repeated", "n_splits": 5, "n_repeats": 3, "random_state": 0},
            },
        )
    )
    splits = list(RepeatedKFold(n_splits=5, n_repeats=3, random_state=0).split(X))
    dummy = -cross_validate(DummyRegressor(), X, y, cv=splits, scoring="neg_root_mean_squared_error")[
        "test_score"
    ]
    linear = -cross_validate(LinearRegression(), X, y, cv=splits, scoring="neg_root_mean_squared_error")[
        "test_score"
    ]
    assert linear.mean() < dummy.mean()
    assert data["best"] == "LinearRegression"
    assert data["direction"] == "lower_is_better" and data["reported_as"] == "rmse"
    by_name = {c["name"]: c for c in data["candidates"]}
    assert by_name["LinearRegression"]["reported_mean"] == pytest.approx(linear.mean())
    assert by_name["DummyRegressor"]["reported_mean"] == pytest.approx(dummy.mean())
    # The corrected t statistic by hand from the paired differences (best minus other, scorer units).
    diff = dummy - linear  # = (-linear) - (-dummy)
    n_train = np.mean([len(tr) for tr, _ in splits])
    n_test = np.mean([len(te) for _, te in splits])
    t, p = corrected_t(diff, n_train, n_test)
    cmp = data["comparisons"][0]
    assert cmp["t"] == pytest.approx(t) and cmp["p_value"] == pytest.approx(p)
    assert cmp["df"] == 14
    assert cmp["reported_difference"] == pytest.approx(diff.mean())
    assert cmp["effect_size"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert cmp["wilcoxon_p"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    assert data["significant"] is (p < 0.05)
    assert data["significant"] is True


async def test_three_candidates_holm_and_default_repeated_folds(client: Client, settings: Settings) -> None:
    from statsmodels.stats.multitest import multipletests

    X, y = _xy(settings, "bc.csv", "target")
    data = structured(
        await client.call_tool(
            "evaluation_compare_models",
            {
                "dataset": "bc.csv",
                "target": "target",
                "candidates": [
                    {"estimator": "DummyClassifier"},
                    {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}},
                    {
                        "estimator": "RandomForestClassifier",
                        "params": {"n_estimators": 10, "random_state": 0},
                    },
                ],
                "metric": "roc_auc",
            },
        )
    )
    assert data["cv"]["strategy"] == "repeated" and data["cv"]["n_folds"] == 25
    splits = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=0).split(X, y))
    models = {
        "DummyClassifier": DummyClassifier(),
        "LogisticRegression": LogisticRegression(solver="liblinear"),
        "RandomForestClassifier": RandomForestClassifier(n_estimators=10, random_state=0),
    }
    scores = {
        k: cross_validate(v, X, y, cv=splits, scoring="roc_auc")["test_score"] for k, v in models.items()
    }
    best = max(scores, key=lambda k: scores[k].mean())
    assert data["best"] == best
    others = [k for k in models if k != best]
    n_train = np.mean([len(tr) for tr, _ in splits])
    n_test = np.mean([len(te) for _, te in splits])
    raw = [corrected_t(scores[best] - scores[o], n_train, n_test)[1] for o in others]
    holm = multipletests(raw, method="holm")[1]
    got = {c["candidate"]: c for c in data["comparisons"]}
    for name, p, p_holm in zip(others, raw, holm, strict=True):
        assert got[name]["p_value"] == pytest.approx(p)
        assert got[name]["p_value_holm"] == pytest.approx(p_holm)
        assert got[name]["significant"] is bool(p_holm < 0.05)
    assert data["p_value"] == pytest.approx(max(holm))


async def test_non_inferiority_with_a_margin(client: Client, settings: Settings) -> None:
    X, y = _xy(settings, "diabetes.csv", "target")
    args = {
        "dataset": "diabetes.csv",
        "target": "target",
        "candidates": [{"estimator": "LinearRegression"}, {"estimator": "Ridge", "params": {"alpha": 0.01}}],
        "metric": "neg_root_mean_squared_error",
        "cv": {"strategy": "kfold", "n_splits": 5},
    }
    wide = structured(await client.call_tool("evaluation_compare_models", {**args, "margin": 2.0}))
    narrow = structured(await client.call_tool("evaluation_compare_models", {**args, "margin": 0.0}))
    splits = list(KFold(5).split(X))
    ref = cross_validate(LinearRegression(), X, y, cv=splits, scoring="neg_root_mean_squared_error")[
        "test_score"
    ]
    cand = cross_validate(Ridge(alpha=0.01), X, y, cv=splits, scoring="neg_root_mean_squared_error")[
        "test_score"
    ]
    diff = cand - ref
    j = len(diff)
    se = np.sqrt(
        diff.var(ddof=1)
        * (1 / j + np.mean([len(te) for _, te in splits]) / np.mean([len(tr) for tr, _ in splits]))
    )
    for data, margin in ((wide, 2.0), (narrow, 0.0)):
        ni = data["non_inferiority"][0]
        t = (diff.mean() + margin) / se
        assert ni["t"] == pytest.approx(t)
        assert ni["p_value"] == pytest.approx(stats.t.sf(t, j - 1))
        assert ni["non_inferior"] is bool(stats.t.sf(t, j - 1) < 0.05)
        assert data["non_inferior"] is ni["non_inferior"]
    assert wide["non_inferior"] is True


async def test_bad_input_gets_one_clear_error_each(client: Client) -> None:
    base = {"dataset": "bc.csv", "target": "target", "metrics": ["accuracy"]}
    cases = [
        ({**base, "estimator": "os.system"}, ("Unknown estimator", "LogisticRegression")),
        ({**base, "estimator": "sklearn.linear_model.LogisticRegression"}, ("Unknown estimator",)),
        (
            {**base, "estimator": "LogisticRegression", "params": {"bogus": 1}},
            ("no parameter", "'bogus'", "max_iter"),
        ),
        ({**base, "estimator": "LogisticRegression", "params": {"C": -1}}, ("Invalid params", "C")),
        ({**base, "estimator": "LogisticRegression", "target": "nope"}, ("target column 'nope'",)),
        (
            {**base, "dataset": "constant.csv", "target": "y", "estimator": "Ridge", "metrics": ["r2"]},
            ("constant",),
        ),
        (
            {**base, "dataset": "tiny.csv", "target": "y", "estimator": "LogisticRegression"},
            ("too few", "folds"),
        ),
        ({**base, "estimator": "LogisticRegression", "metrics": ["r2"]}, ("regression metric", "classifier")),
        ({**base, "estimator": "Ridge", "metrics": ["accuracy"]}, ("classification metric", "regressor")),
        ({**base, "estimator": "LogisticRegression", "metrics": ["nope_score"]}, ("Unknown metric",)),
        ({**base, "estimator": "LogisticRegression", "cv": {"strategy": "group"}}, ("group_column",)),
        ({**base, "estimator": "LogisticRegression", "cv": {"random_state": 3}}, ("shuffle",)),
        ({**base, "dataset": "../outside.csv", "estimator": "LogisticRegression"}, ()),
        (
            {
                **base,
                "dataset": "three.csv",
                "target": "label",
                "estimator": "LogisticRegression",
                "metrics": ["roc_auc"],
            },
            ("failed",),
        ),
    ]
    for args, needles in cases:
        assert_tool_error(await client.call_tool("evaluation_cross_validate", args), *needles)
    bad_compare = await client.call_tool(
        "evaluation_compare_models",
        {
            "dataset": "bc.csv",
            "target": "target",
            "metric": "accuracy",
            "candidates": [{"estimator": "Ridge"}, {"estimator": "DummyClassifier"}],
        },
    )
    assert_tool_error(bad_compare, "mix classifiers and regressors")
    one_source = await client.call_tool(
        "evaluation_compare_models",
        {
            "dataset": "bc.csv",
            "target": "target",
            "metric": "accuracy",
            "candidates": [{"estimator": "Ridge", "run_id": "x"}, {"estimator": "Ridge"}],
        },
    )
    assert_tool_error(one_source, "exactly one of")
