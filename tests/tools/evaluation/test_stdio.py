"""The evaluation area over stdio: a spawned server trains, compares and diagnoses; nothing MLflow or
scikit-learn prints reaches the protocol stream, and nothing lands in the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, server_env, structured
from tests.tools.evaluation.conftest import write_datasets


@pytest.mark.slow
async def test_stdio_train_compare_diagnose(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_datasets(home / "workspace")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "evaluation"],
        env=server_env(home),
        cwd=str(cwd),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "evaluation_compare_models" in names
        run = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "bc.csv",
                    "target": "target",
                    "estimator": "RandomForestClassifier",
                    "params": {"n_estimators": 5, "random_state": 0},
                    "name": "stdio-rf",
                },
            )
        )
        diag = structured(
            await client.call_tool(
                "evaluation_diagnostics", {"run_id": run["run_id"], "dataset": "bc.csv", "target": "target"}
            )
        )
        assert diag["n"] == 569
        cmp = structured(
            await client.call_tool(
                "evaluation_compare_models",
                {
                    "dataset": "bc.csv",
                    "target": "target",
                    "candidates": [{"run_id": "stdio-rf"}, {"estimator": "DummyClassifier"}],
                    "metric": "accuracy",
                    "cv": {"n_splits": 3},
                },
            )
        )
        assert cmp["best"] == "stdio-rf" and cmp["significant"] is True
        health = structured(await client.call_tool("health_check", {}))
        assert {b["name"]: b["status"] for b in health["backends"]}["mlflow_tracking"] == "ok"
    assert list(cwd.iterdir()) == []  # no ./mlruns, no stray files
    assert (home / "mlflow.db").exists() and (home / "mlartifacts").is_dir()
