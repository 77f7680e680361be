"""Missing text is missing whatever the file format (issue #22, item 15).

CSV gives NaN for an empty text cell; Parquet and JSON give None, which scikit-learn's most-frequent
imputer does not count as missing (its marker is NaN): the encoder learned None as a category, the reported
imputation did not happen and the ONNX twin (whose imputer does run) disagreed with the native model. The
same rows as CSV, Parquet, JSON Lines and JSON must train the same model, and the Parquet one must convert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.mlmodels import load_run_model
from tests.conftest import structured

FEATURES = ["num_clean", "num_gaps", "colour", "size", "num_last"]
FILES = ("text.csv", "text.parquet", "text.jsonl", "text.json")


def _frame() -> pd.DataFrame:
    """Numbers rounded to 3 decimals, so every format gives back the very same values."""
    rng = np.random.default_rng(5)
    n = 200
    df = pd.DataFrame(
        {
            "num_clean": rng.normal(size=n).round(3),
            "num_gaps": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n).round(3)),
            "colour": rng.choice(["red", "green", "blue"], n),
            # "s" is the most frequent size by far: rows missing it must be read as "s".
            "size": np.where(rng.random(n) < 0.2, None, rng.choice(["s", "s", "s", "m", "l"], n)),
            "num_last": rng.normal(size=n).round(3),
        }
    )
    signal = df["num_clean"] + (df["colour"] == "red") - 1.5 * (df["size"] == "l")
    df["label"] = (signal > 0.2).astype(int)
    return df


@pytest.fixture(scope="module")
def text_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("missing-text") / "home"
    ws = home / "workspace"
    ws.mkdir(parents=True)
    df = _frame()
    df.to_csv(ws / "text.csv", index=False)
    df.to_parquet(ws / "text.parquet", index=False)
    df.to_json(ws / "text.jsonl", orient="records", lines=True)
    df.to_json(ws / "text.json", orient="records")
    return home


@pytest.fixture
def settings(text_home: Path) -> Settings:
    return Settings(home=text_home, profile="all")


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Client, object]]:
    """A real MCP client and the server's AppContext (to load the logged models back)."""
    server = create_server(settings)
    async with Client(server, mode="legacy") as session:
        yield session, server.app
    server.app.close()


def _size_encoder(model: object) -> object:
    """The fitted OneHotEncoder of the `size` column inside the logged pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = model.named_steps["preprocess"]  # type: ignore[attr-defined]
    for _, trans, cols in pre.transformers_:
        if "size" in list(cols):
            assert isinstance(trans, Pipeline)
            encoder = trans.named_steps["onehot"]
            assert isinstance(encoder, OneHotEncoder)
            return encoder
    raise AssertionError("no transformer for 'size'")


async def test_every_format_trains_the_same_model_and_parquet_converts(
    served: tuple[Client, object], text_home: Path
) -> None:
    client, app = served
    runs: dict[str, dict] = {}
    for name in FILES:
        runs[name] = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": name,
                    "target": "label",
                    "estimator": "LogisticRegression",
                    "params": {"max_iter": 500},
                    "features": FEATURES,
                    "name": "text-" + name.replace(".", "-"),
                },
            )
        )
    csv = runs["text.csv"]
    steps = {s["step"]: s["columns"] for s in csv["preprocessing"]["steps"]}
    assert steps["most-frequent imputation, then one-hot encoding (text columns with missing values)"] == [
        "size"
    ]
    frame = pd.read_csv(text_home / "workspace" / "text.csv")[FEATURES]
    native = load_run_model(app, csv["run_id"]).model  # type: ignore[arg-type]
    for name in FILES[1:]:
        got = runs[name]
        assert got["metrics"] == csv["metrics"], name
        assert got["preprocessing"] == csv["preprocessing"], name
        model = load_run_model(app, got["run_id"]).model  # type: ignore[arg-type]
        # The imputation happened: the encoder knows only the real sizes, not None.
        assert [list(c) for c in _size_encoder(model).categories_] == [["l", "m", "s"]], name
        # Equal up to the solver's rounding (the formats hand lbfgs differently laid-out arrays).
        np.testing.assert_array_equal(model.predict(frame), native.predict(frame))
        np.testing.assert_allclose(
            model.predict_proba(frame), native.predict_proba(frame), rtol=0, atol=1e-12
        )

    # Rows whose size is missing are scored as the most frequent size ("s").
    model = load_run_model(app, runs["text.parquet"]["run_id"]).model  # type: ignore[arg-type]
    gaps = frame[frame["size"].isna()]
    assert len(gaps) > 10
    np.testing.assert_array_equal(model.predict_proba(gaps), model.predict_proba(gaps.fillna({"size": "s"})))

    version = structured(
        await client.call_tool(
            "registry_register_model", {"name": "text-parquet", "source": runs["text.parquet"]["run_id"]}
        )
    )["version"]
    conv = structured(
        await client.call_tool("onnx_convert", {"name": "text-parquet", "version": str(version)})
    )
    assert conv["parity"]["passed"] is True and conv["parity"]["label_agreement"] == 1.0
    assert conv["parity"]["max_abs_diff"] <= 1e-9
    with anyio.fail_after(1):  # the server still answers at once
        assert not (await client.call_tool("server_info", {})).is_error


async def test_cross_validation_and_model_tests_agree_across_formats(served: tuple[Client, object]) -> None:
    client, _ = served
    folds = {}
    for name in FILES:
        result = structured(
            await client.call_tool(
                "evaluation_cross_validate",
                {
                    "dataset": name,
                    "target": "label",
                    "metrics": ["accuracy", "roc_auc"],
                    "estimator": "LogisticRegression",
                    "params": {"max_iter": 500},
                    "features": FEATURES,
                },
            )
        )
        folds[name] = [s["fold_scores"] for s in result["metrics"]]
    assert all(folds[name] == folds["text.csv"] for name in FILES), folds

    trained = structured(
        await client.call_tool(
            "evaluation_train_model",
            {
                "dataset": "text.csv",
                "target": "label",
                "estimator": "LogisticRegression",
                "params": {"max_iter": 500},
                "features": FEATURES,
            },
        )
    )
    checks = [
        {"type": "metric", "metric": "accuracy", "min": 0.0},
        {"type": "slice", "column": "size", "metric": "accuracy", "min": 0.0, "min_rows": 1},
    ]
    values = {}
    for name in FILES:
        result = structured(
            await client.call_tool(
                "evaluation_test_model",
                {"model": trained["run_id"], "dataset": name, "target": "label", "checks": checks},
            )
        )
        values[name] = [(c["name"], c["value"]) for c in result["checks"]]
    assert all(values[name] == values["text.csv"] for name in FILES), values
