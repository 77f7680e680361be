"""Training and logged runs: evaluation_train_model, _list_runs, _residuals, _diagnostics, _test_model and the
`mlops-mcp test-model` gate, with the expected numbers computed here with scikit-learn, scipy and numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mcp import Client
from scipy import stats
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split

from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.tools.evaluation.conftest import read


async def _train(client: Client, **args: object) -> dict:
    return structured(await client.call_tool("evaluation_train_model", dict(args)))


async def test_train_logs_a_run_with_held_out_metrics(client: Client, settings: Settings) -> None:
    data = await _train(
        client,
        dataset="bc.csv",
        target="target",
        estimator="RandomForestClassifier",
        params={"n_estimators": 15, "random_state": 0},
        name="train-rf",
        test_size=0.3,
        random_state=4,
    )
    df = read(settings.workspace_dir, "bc.csv")
    X, y = df.drop(columns="target"), df["target"]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=4, stratify=y)
    model = RandomForestClassifier(n_estimators=15, random_state=0).fit(X_tr, y_tr)
    assert data["n_train"] == len(y_tr) and data["n_test"] == len(y_te)
    assert data["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y_te, model.predict(X_te)))
    assert data["metrics"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
    )
    assert data["model_uri"] == f"runs:/{data['run_id']}/model"
    assert data["dataset"].startswith("dataset:") and data["dataset"].endswith(
        "@" + _sha12(settings, "bc.csv")
    )

    # MLflow holds the run: params, metrics, the dataset as a tag and an input, a skops model.
    from mlflow import MlflowClient

    from mcp_server.core.tracking import tracking_uri

    run = MlflowClient(tracking_uri(settings)).get_run(data["run_id"])
    assert run.data.params["n_estimators"] == "15"
    assert run.data.metrics["test_accuracy"] == pytest.approx(data["metrics"]["accuracy"])
    assert run.data.tags["mlops_mcp.dataset"] == data["dataset"]
    assert run.inputs.dataset_inputs[0].dataset.name == data["dataset"]
    # This run's model among the module home's other runs' models.
    (mlmodel_file,) = [
        f
        for f in (settings.home / "mlartifacts").rglob("MLmodel")
        if f"run_id: {data['run_id']}" in f.read_text()
    ]
    mlmodel = mlmodel_file.read_text()
    assert "serialization_format: skops" in mlmodel and "sklearn.tree._tree.Tree" in mlmodel
    requirements = (mlmodel_file.parent / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "skops==" in requirements

    # A lineage edge dataset -> run.
    from mcp_server.core.lineage import query_lineage
    from mcp_server.core.store import MetadataStore

    store = MetadataStore.for_home(settings.home, None)
    graph = query_lineage(store, f"run:{data['run_id']}", "upstream", 1)
    store.dispose()
    assert [e.upstream for e in graph.edges] == [data["dataset"]]


def _sha12(settings: Settings, name: str) -> str:
    import hashlib

    return hashlib.sha256((settings.workspace_dir / name).read_bytes()).hexdigest()[:12]


async def test_list_runs_filters_and_pages(client: Client) -> None:
    for alpha in (0.1, 1.0, 10.0):
        await _train(
            client,
            dataset="diabetes.csv",
            target="target",
            estimator="Ridge",
            params={"alpha": alpha},
            name="list-ridge",
        )
    page = structured(
        await client.call_tool(
            "evaluation_list_runs",
            {"filter": "attributes.run_name = 'list-ridge'", "order_by": "params.alpha ASC", "limit": 2},
        )
    )
    assert [r["params"]["alpha"] for r in page["runs"]] == ["0.1", "1.0"]
    assert page["runs"][0]["estimator"] == "Ridge" and "test_r2" in page["runs"][0]["metrics"]
    assert page["runs"][0]["dataset"].startswith("dataset:")
    rest = structured(
        await client.call_tool(
            "evaluation_list_runs",
            {
                "filter": "attributes.run_name = 'list-ridge'",
                "order_by": "params.alpha ASC",
                "limit": 2,
                "cursor": page["next_cursor"],
            },
        )
    )
    assert [r["params"]["alpha"] for r in rest["runs"]] == ["10.0"] and rest["next_cursor"] is None
    assert_tool_error(
        await client.call_tool("evaluation_list_runs", {"filter": "metrics.x >>> 1"}), "refused the query"
    )


async def test_cross_validate_a_logged_run_refits_its_configuration(
    client: Client, settings: Settings
) -> None:
    from sklearn.model_selection import KFold, cross_validate

    await _train(
        client,
        dataset="diabetes.csv",
        target="target",
        estimator="Ridge",
        params={"alpha": 0.3},
        name="cv-run",
    )
    data = structured(
        await client.call_tool(
            "evaluation_cross_validate",
            {
                "dataset": "diabetes.csv",
                "target": "target",
                "run_id": "cv-run",
                "metrics": ["r2"],
                "cv": {"n_splits": 3},
            },
        )
    )
    df = read(settings.workspace_dir, "diabetes.csv")
    expected = cross_validate(
        Ridge(alpha=0.3), df.drop(columns="target"), df["target"], cv=KFold(3), scoring="r2"
    )
    assert data["metrics"][0]["fold_scores"] == pytest.approx(expected["test_score"], abs=1e-12)


async def test_residuals_of_a_regressor(client: Client, settings: Settings) -> None:
    run = await _train(
        client,
        dataset="diabetes.csv",
        target="target",
        estimator="Ridge",
        params={"alpha": 0.5},
        name="resid",
    )
    data = structured(
        await client.call_tool(
            "evaluation_residuals",
            {"run_id": run["run_id"], "dataset": "diabetes.csv", "target": "target", "top": 4},
        )
    )
    df = read(settings.workspace_dir, "diabetes.csv")
    X, y = df.drop(columns="target"), df["target"].to_numpy(float)
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.25, random_state=0)
    fitted = Ridge(alpha=0.5).fit(X_tr, y_tr).predict(X)
    res = y - fitted
    assert data["summary"]["rmse"] == pytest.approx(np.sqrt(np.mean(res**2)))
    assert data["normality"]["test"] == "shapiro-wilk"
    assert data["normality"]["p_value"] == pytest.approx(stats.shapiro(res).pvalue)
    assert data["durbin_watson"] == pytest.approx(np.sum(np.diff(res) ** 2) / np.sum(res**2))
    # Breusch-Pagan by hand: n * R^2 of the squared residuals regressed on the fitted values.
    u = res**2
    A = np.column_stack([np.ones_like(fitted), fitted])
    coef, *_ = np.linalg.lstsq(A, u, rcond=None)
    r2 = 1 - np.sum((u - A @ coef) ** 2) / np.sum((u - u.mean()) ** 2)
    assert data["breusch_pagan"]["lm"] == pytest.approx(len(res) * r2)
    assert data["breusch_pagan"]["lm_p_value"] == pytest.approx(stats.chi2.sf(len(res) * r2, 1))
    worst = np.argsort(-np.abs(res))[:4]
    assert [w["row"] for w in data["worst_rows"]] == worst.tolist()
    assert set(data["worst_rows"][0]["features"]) == set(X.columns)
    assert set(data["plots"]) == {"residuals_vs_fitted", "qq", "histogram"}
    for uri in data["plots"].values():
        path = settings.home / uri.removeprefix("mlops://artifacts/")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hidden = structured(
        await client.call_tool(
            "evaluation_residuals",
            {
                "run_id": "resid",
                "dataset": "diabetes.csv",
                "target": "target",
                "top": 1,
                "include_samples": False,
            },
        )
    )
    assert hidden["worst_rows"][0]["features"] is None


async def test_diagnostics_of_a_classifier(client: Client, settings: Settings) -> None:
    run = await _train(
        client,
        dataset="bc.csv",
        target="target",
        estimator="LogisticRegression",
        params={"solver": "liblinear"},
        name="diag",
    )
    data = structured(
        await client.call_tool(
            "evaluation_diagnostics", {"run_id": run["run_id"], "dataset": "bc.csv", "target": "target"}
        )
    )
    df = read(settings.workspace_dir, "bc.csv")
    X, y = df.drop(columns="target"), df["target"]
    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    model = LogisticRegression(solver="liblinear").fit(X_tr, y_tr)
    pred, proba = model.predict(X), model.predict_proba(X)[:, 1]
    assert data["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    p, r, f, _support = skm.precision_recall_fscore_support(y, pred)
    assert [c["precision"] for c in data["per_class"]] == pytest.approx(p)
    assert [c["recall"] for c in data["per_class"]] == pytest.approx(r)
    assert [c["f1"] for c in data["per_class"]] == pytest.approx(f)
    assert data["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba))
    assert data["average_precision"] == pytest.approx(skm.average_precision_score(y, proba))
    assert data["brier_score"] == pytest.approx(skm.brier_score_loss(y, proba))
    from sklearn.calibration import calibration_curve

    frac, mean_pred = calibration_curve(y, proba, n_bins=10)
    assert data["calibration"]["fraction_positive"] == pytest.approx(frac)
    assert data["calibration"]["mean_predicted"] == pytest.approx(mean_pred)
    assert set(data["plots"]) == {"roc", "precision_recall", "calibration", "confusion_matrix"}


async def test_diagnostics_multiclass(client: Client, settings: Settings) -> None:
    await _train(
        client,
        dataset="three.csv",
        target="label",
        estimator="RandomForestClassifier",
        params={"n_estimators": 10, "random_state": 0},
        name="diag3",
    )
    data = structured(
        await client.call_tool(
            "evaluation_diagnostics", {"run_id": "diag3", "dataset": "three.csv", "target": "label"}
        )
    )
    assert data["labels"] == ["ant", "bee", "cat"]
    assert sum(map(sum, data["confusion_matrix"])) == 300
    assert data["roc_auc"] is not None and data["calibration"] is None


async def test_residuals_and_diagnostics_refuse_the_wrong_kind(client: Client) -> None:
    await _train(client, dataset="bc.csv", target="target", estimator="DummyClassifier", name="kind-clf")
    await _train(client, dataset="diabetes.csv", target="target", estimator="DummyRegressor", name="kind-reg")
    assert_tool_error(
        await client.call_tool(
            "evaluation_residuals", {"run_id": "kind-clf", "dataset": "bc.csv", "target": "target"}
        ),
        "classifier",
        "evaluation_diagnostics",
    )
    assert_tool_error(
        await client.call_tool(
            "evaluation_diagnostics", {"run_id": "kind-reg", "dataset": "diabetes.csv", "target": "target"}
        ),
        "regressor",
        "evaluation_residuals",
    )
    assert_tool_error(
        await client.call_tool(
            "evaluation_residuals", {"run_id": "0" * 32, "dataset": "bc.csv", "target": "target"}
        ),
        "No run",
    )
    assert_tool_error(
        await client.call_tool(
            "evaluation_diagnostics", {"run_id": "no-such-run", "dataset": "bc.csv", "target": "target"}
        ),
        "No run named",
    )
    assert_tool_error(
        await client.call_tool(
            "evaluation_train_model", {"dataset": "bc.csv", "target": "target", "estimator": "os.system"}
        ),
        "Unknown estimator",
    )
    assert_tool_error(
        await client.call_tool(
            "evaluation_train_model", {"dataset": "constant.csv", "target": "y", "estimator": "Ridge"}
        ),
        "constant",
    )


async def test_only_server_logged_skops_models_are_loaded(client: Client, settings: Settings) -> None:
    """A run without the server's tag (someone else's) is refused before any file is deserialized."""
    import mlflow

    from mcp_server.core.tracking import EXPERIMENT, tracking_uri

    await _train(client, dataset="bc.csv", target="target", estimator="DummyClassifier", name="ours")
    mlflow_client = mlflow.MlflowClient(tracking_uri(settings))
    exp = mlflow_client.get_experiment_by_name(EXPERIMENT)
    foreign = mlflow_client.create_run(exp.experiment_id, run_name="foreign")
    result = await client.call_tool(
        "evaluation_diagnostics", {"run_id": foreign.info.run_id, "dataset": "bc.csv", "target": "target"}
    )
    assert_tool_error(result, "not logged by this server")


async def test_model_test_suite_passes_and_fails_per_check(client: Client, settings: Settings) -> None:
    await _train(
        client,
        dataset="mixed.csv",
        target="label",
        estimator="LogisticRegression",
        features=["num_clean", "colour", "num_last"],
        name="suite-lr",
    )
    await _train(
        client,
        dataset="mixed.csv",
        target="label",
        estimator="DummyClassifier",
        features=["num_clean", "colour", "num_last"],
        name="suite-dummy",
    )
    df = read(settings.workspace_dir, "mixed.csv")
    checks = [
        {"type": "metric", "metric": "accuracy", "min": 0.7},
        {"type": "metric", "metric": "accuracy", "min": 0.999},
        {"type": "slice", "column": "colour", "metric": "accuracy", "min": 0.5, "min_rows": 10},
        {
            "type": "invariance",
            "columns": ["num_last"],
            "perturbation": "constant",
            "value": 0.0,
            "max_changed_fraction": 0.5,
        },
        {"type": "latency", "p95_ms": 5000, "n": 20},
        {
            "type": "no_regression",
            "baseline": "suite-dummy",
            "metric": "accuracy",
            "cv": {"strategy": "stratified", "n_splits": 5},
        },
    ]
    data = structured(
        await client.call_tool(
            "evaluation_test_model",
            {"model": "suite-lr", "dataset": "mixed.csv", "target": "label", "checks": checks},
        )
    )
    by_type: dict[str, list[dict]] = {}
    for c in data["checks"]:
        by_type.setdefault(c["type"], []).append(c)
    # Independent: the same model, refitted here, scored on the whole table.
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = df[["num_clean", "colour", "num_last"]]
    pre = ColumnTransformer(
        [
            ("a", "passthrough", ["num_clean"]),
            ("b", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["colour"]),
            ("c", "passthrough", ["num_last"]),
        ]
    )
    X_tr, _, y_tr, _ = train_test_split(X, df["label"], test_size=0.25, random_state=0, stratify=df["label"])
    model = make_pipeline(pre, LogisticRegression()).fit(X_tr, y_tr)
    acc = skm.accuracy_score(df["label"], model.predict(X))
    assert by_type["metric"][0]["value"] == pytest.approx(acc)
    assert by_type["metric"][0]["passed"] is True and by_type["metric"][1]["passed"] is False
    slices = {c["name"]: c for c in by_type["slice"]}
    for colour in ("red", "green", "blue"):
        mask = df["colour"] == colour
        assert slices[f"colour={colour}"]["value"] == pytest.approx(
            skm.accuracy_score(df["label"][mask], model.predict(X[mask]))
        )
    changed = np.mean(model.predict(X) != model.predict(X.assign(num_last=0.0)))
    assert by_type["invariance"][0]["value"] == pytest.approx(changed)
    assert by_type["latency"][0]["passed"] is True
    assert by_type["no_regression"][0]["passed"] is True
    assert data["passed"] is False and "accuracy" in data["summary"]

    # The CLI gate runs the same code path: exit 0 when every check passes, 1 when one fails.
    from mcp_server.cli import main

    checks_file = settings.workspace_dir / "checks.json"
    checks_file.write_text(json.dumps(checks[:1]))
    argv = [
        "test-model",
        "--home",
        str(settings.home),
        "--model",
        "suite-lr",
        "--dataset",
        "mixed.csv",
        "--target",
        "label",
        "--checks",
        str(checks_file),
    ]
    import anyio.to_thread

    assert await anyio.to_thread.run_sync(main, argv) == 0
    checks_file.write_text(json.dumps(checks[1:2]))
    assert await anyio.to_thread.run_sync(main, argv) == 1
    checks_file.write_text('[{"type": "metric"}]')
    assert await anyio.to_thread.run_sync(main, argv) == 2


async def test_no_regression_fails_against_a_better_baseline(client: Client) -> None:
    await _train(client, dataset="bc.csv", target="target", estimator="DummyClassifier", name="nr-dummy")
    await _train(
        client,
        dataset="bc.csv",
        target="target",
        estimator="LogisticRegression",
        params={"solver": "liblinear"},
        name="nr-lr",
    )
    data = structured(
        await client.call_tool(
            "evaluation_test_model",
            {
                "model": "nr-dummy",
                "dataset": "bc.csv",
                "target": "target",
                "checks": [
                    {
                        "type": "no_regression",
                        "baseline": "nr-lr",
                        "metric": "accuracy",
                        "cv": {"n_splits": 5},
                    },
                    {
                        "type": "no_regression",
                        "baseline": "nr-lr",
                        "metric": "accuracy",
                        "margin": 0.01,
                        "cv": {"n_splits": 5},
                    },
                ],
            },
        )
    )
    assert [c["passed"] for c in data["checks"]] == [False, False]
    assert data["passed"] is False


def test_cli_parser_has_test_model() -> None:
    from mcp_server.cli import main

    with pytest.raises(SystemExit):
        main(["test-model", "--help"])
