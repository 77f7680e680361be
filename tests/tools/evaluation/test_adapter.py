"""The adapter and core/tracking.py against the real libraries on small data (no MCP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import SecretStr
from scipy import stats

from mcp_server.core import mlmodels as mm
from mcp_server.core.config import Settings
from mcp_server.core.errors import BackendUnavailable, InvalidInput
from mcp_server.core.tracking import build_client, mask_uri, shown_uri, tracking_uri
from mcp_server.tools.evaluation import adapter as A
from mcp_server.tools.evaluation import models as M


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert A.holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_corrected_ttest_by_hand() -> None:
    rng = np.random.default_rng(0)
    diff = rng.normal(0.01, 0.02, 25)
    got = A.corrected_ttest(diff, 400.0, 100.0)
    var = np.sum((diff - diff.mean()) ** 2) / 24
    t = diff.mean() / np.sqrt(var * (1 / 25 + 100 / 400))
    assert got.t == pytest.approx(t) and got.df == 24
    assert got.p == pytest.approx(2 * stats.t.sf(abs(t), 24))
    zero = A.corrected_ttest(np.zeros(10), 80.0, 20.0)
    assert (zero.t, zero.p) == (0.0, 1.0)
    assert A.wilcoxon_p(np.zeros(10)) == 1.0
    assert A.wilcoxon_p(diff) == pytest.approx(stats.wilcoxon(diff).pvalue)


def test_estimator_allowlist_and_params() -> None:
    for name in ("os.system", "sklearn.svm.SVC", "__import__", "Pipeline", ""):
        with pytest.raises(InvalidInput, match="Unknown estimator"):
            A.build_estimator(name, {})
    with pytest.raises(InvalidInput, match="no parameter"):
        A.build_estimator("Ridge", {"n_estimators": 3})
    with pytest.raises(InvalidInput, match="Invalid params"):
        A.build_estimator("RandomForestClassifier", {"n_estimators": -1})
    assert A.build_estimator("Ridge", {"alpha": 2.0}).alpha == 2.0


def test_clean_numeric_data_gets_the_bare_estimator() -> None:
    from sklearn.linear_model import Ridge

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0, 1, 0, 1], "y": [1.0, 2.0, 2.5, 4.0]})
    table = A.split_xy(df, "y", None, "regressor")
    model, report = A.build_model(table, Ridge(), "Ridge")
    assert isinstance(model, Ridge) and report.steps == [] and report.passthrough_columns == 2


def test_high_cardinality_text_and_dates_are_left_out_or_refused() -> None:
    df = pd.DataFrame({"x": np.arange(100.0), "name": [f"n{i}" for i in range(100)], "y": np.arange(100) % 2})
    table = A.split_xy(df, "y", None, "classifier")
    assert table.features == ["x"] and table.dropped == ["name"]
    with pytest.raises(InvalidInput, match="too many to one-hot"):
        A.split_xy(df, "y", ["x", "name"], "classifier")
    with pytest.raises(InvalidInput, match="continuous"):
        A.split_xy(df.assign(y=np.linspace(0, 1, 100)), "y", None, "classifier")


def test_folds_are_sklearns() -> None:
    from sklearn.model_selection import KFold, RepeatedStratifiedKFold

    df = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40) % 2})
    table = A.split_xy(df, "y", None, "classifier")
    folds = A.make_folds(M.CvSpec(strategy="kfold", n_splits=4), "classifier", table)
    for (tr, te), (etr, ete) in zip(folds.splits, KFold(4).split(df), strict=True):
        assert tr.tolist() == etr.tolist() and te.tolist() == ete.tolist()
    rep = A.make_folds(M.CvSpec(), "classifier", table, default_repeated=True)
    expected = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=0).split(df, df["y"]))
    assert len(rep.splits) == 25
    assert all(a[1].tolist() == b[1].tolist() for a, b in zip(rep.splits, expected, strict=True))


@pytest.mark.parametrize("name", M.ESTIMATOR_NAMES)
def test_every_allowlisted_model_saves_with_trusted_skops_types(name: str) -> None:
    import skops.io as sio
    from sklearn.datasets import make_classification

    X, y = make_classification(60, 4, random_state=0)
    if A.task_of(name) == "regressor":
        y = X[:, 0] * 2.0 + 0.1
    frame = pd.DataFrame(X, columns=list("abcd")).assign(cat=np.where(X[:, 1] > 0, "p", "q"))
    frame.loc[3, "a"] = np.nan
    table = A.split_xy(frame.assign(y=y), "y", None, A.task_of(name))
    params = {"n_estimators": 3} if "Forest" in name or "Trees" in name or name.startswith("Gradient") else {}
    model, _ = A.build_model(table, A.build_estimator(name, params), name)
    model.fit(table.X, table.y)
    types = mm.skops_types(model)
    assert all(mm.trusted(t) for t in types)
    again = sio.loads(sio.dumps(model), trusted=types)
    assert np.allclose(again.predict(table.X.head(5)), model.predict(table.X.head(5)))


def test_tracking_uri_and_masking(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert tracking_uri(settings) == f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    assert shown_uri(settings) == "sqlite:///<home>/mlflow.db"
    assert (
        mask_uri("postgresql+psycopg://bob:hunter2@db:5432/ml") == "postgresql+psycopg://bob:***@db:5432/ml"
    )
    assert "tok" not in mask_uri("https://host/mlflow?token=tok")


def test_unreachable_backend_is_backend_unavailable_with_the_password_masked(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", mlflow_uri=SecretStr("postgresql+psycopg://bob:hunter2@127.0.0.1:9/ml")
    )
    with pytest.raises(BackendUnavailable) as info:
        build_client(settings)
    assert "hunter2" not in info.value.message and "bob:***@127.0.0.1:9" in info.value.message
