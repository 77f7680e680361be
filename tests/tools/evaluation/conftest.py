"""Evaluation tests share one home (one MLflow store) per module: MLflow's first SQLite migration costs
seconds per fresh store. Each test still starts its own server and names its own runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcp_server.core.config import Settings


def write_datasets(workspace: Path) -> None:
    from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification

    workspace.mkdir(parents=True, exist_ok=True)
    bc = load_breast_cancer(as_frame=True).frame
    bc.to_csv(workspace / "bc.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(workspace / "diabetes.csv", index=False)
    X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=1)
    three = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    three["label"] = np.array(["ant", "bee", "cat"])[y]
    three.to_csv(workspace / "three.csv", index=False)
    rng = np.random.default_rng(3)
    n = 240
    mixed = pd.DataFrame(
        {
            "num_clean": rng.normal(size=n),
            "num_gaps": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": np.where(rng.random(n) < 0.1, None, rng.choice(["s", "m", "l"], n)),
            "num_last": rng.normal(size=n),
            "group": np.repeat(np.arange(12), n // 12),
        }
    )
    mixed["label"] = ((mixed["num_clean"] + (mixed["colour"] == "red")) > 0.4).astype(int)
    mixed.to_csv(workspace / "mixed.csv", index=False)
    pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50), "y": 1}).to_csv(
        workspace / "constant.csv", index=False
    )
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]}).to_csv(workspace / "tiny.csv", index=False)


@pytest.fixture(scope="module")
def eval_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("evaluation") / "home"
    write_datasets(home / "workspace")
    return home


@pytest.fixture
def settings(eval_home: Path) -> Settings:
    return Settings(home=eval_home, profile="all")


def bc() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return frame.drop(columns="target"), frame["target"]


def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    return frame.drop(columns="target"), frame["target"]


def read(workspace: Path, name: str) -> pd.DataFrame:
    """The table as the server reads it (from the CSV), for independent computations."""
    return pd.read_csv(workspace / name)


def corrected_t(diff: np.ndarray, n_train: float, n_test: float) -> tuple[float, float]:
    """The Nadeau-Bengio corrected t statistic and its two-sided p, written out in full."""
    from scipy import stats

    j = len(diff)
    mean = diff.mean()
    var = ((diff - mean) ** 2).sum() / (j - 1)
    t = mean / np.sqrt(var * (1 / j + n_test / n_train))
    return float(t), float(2 * stats.t.sf(abs(t), j - 1))
