"""Registry and onnx tests share one home (one MLflow store) and one trained model per task per test
session (per xdist worker): a fresh MLflow store's migrations and the first training cost 20-40 s on a
loaded 2-core machine. Each test registers under its own model names, so they do not interfere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcp_server.core.boundary import Control
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext

FEATURES = ["num_clean", "num_gaps", "colour", "size", "num_last"]


def write_mixed(workspace: Path) -> pd.DataFrame:
    """Numeric columns (one with gaps) and text columns (one with gaps): the ColumnTransformer path."""
    workspace.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    n = 240
    df = pd.DataFrame(
        {
            "num_clean": rng.normal(size=n),
            "num_gaps": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "colour": rng.choice(["red", "green", "blue"], n),
            "size": np.where(rng.random(n) < 0.1, None, rng.choice(["s", "m", "l"], n)),
            "num_last": rng.normal(size=n),
        }
    )
    df["label"] = ((df["num_clean"] + (df["colour"] == "red")) > 0.4).astype(int)
    df["y"] = 3 * df["num_clean"] + (df["colour"] == "red") + rng.normal(size=n) * 0.1
    df.to_csv(workspace / "mixed.csv", index=False)
    return df


@dataclass
class Trained:
    home: Path
    app: AppContext
    classifier_run: str
    regressor_run: str
    forest_run: str


def train(
    app: AppContext, estimator: str, target: str, params: dict | None = None, name: str | None = None
) -> str:
    from mcp_server.tools.evaluation import adapter as ev

    ws = app.settings.workspace_dir
    result = ev.train(
        app,
        ws / "mixed.csv",
        "mixed.csv",
        target,
        estimator,
        params or {},
        FEATURES,
        0.25,
        name,
        0,
        Control.unbounded(),
    )
    return result.run_id


_SHARED: list[Trained] = []  # one per process: onnx/conftest.py re-exports this fixture (a second FixtureDef)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    if _SHARED:
        return _SHARED[0]
    home = tmp_path_factory.mktemp("registry") / "home"
    write_mixed(home / "workspace")
    app = AppContext.from_settings(Settings(home=home, profile="all"))
    runs = Trained(
        home=home,
        app=app,
        classifier_run=train(app, "LogisticRegression", "label", {"max_iter": 500}, "clf"),
        regressor_run=train(app, "Ridge", "y", None, "ridge"),
        forest_run=train(app, "RandomForestRegressor", "y", {"n_estimators": 20, "random_state": 0}, "rf"),
    )
    _SHARED.append(runs)
    return runs


@pytest.fixture
def settings(trained: Trained) -> Settings:
    return Settings(home=trained.home, profile="all")
