"""Must-show 1 and 4: every backup tool through an MCP client; a restore into a new home works after the
old home is deleted (models load with MLflow, suites validate, endpoints serve)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from tests.conftest import assert_tool_error, structured
from tests.tools.backup.helpers import connect, make_settings

pytestmark = pytest.mark.timeout(300)

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "age", "min_value": 18, "max_value": 80},
    },
]


def _load_every_version(tracking_uri: str, data: Path) -> dict[str, int]:
    """Each registered model version, downloaded and loaded through MLflow (skops, types checked)."""
    import mlflow.artifacts
    import pandas as pd
    import skops.io as sio
    import yaml
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    df = pd.read_csv(data / "example.csv")
    loaded: dict[str, int] = {}
    for mv in client.search_model_versions():
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{mv.name}/{mv.version}", dst_path=tmp
                )
            )
            conf = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["sklearn"]
            blob = (local / conf["pickled_model"]).read_bytes()
        model = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
        preds = model.predict(df[list(model.feature_names_in_)])
        assert len(preds) == len(df)
        loaded[f"{mv.name}/{mv.version}"] = len(preds)
    return loaded


async def test_every_tool_and_restore_into_a_new_home_after_the_old_one_is_gone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = make_settings(tmp_path / "old" / "home", data)
    async with connect(old) as client:
        trained = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "example.csv",
                    "target": "label",
                    "estimator": "LogisticRegression",
                    "params": {"solver": "liblinear"},
                    "features": ["age", "income", "segment"],
                    "name": "churn",
                },
            )
        )
        names = {t.name for t in (await client.list_tools()).tools}
        if "registry_register_model" in names:
            structured(
                await client.call_tool(
                    "registry_register_model", {"name": "churn", "source": trained["run_id"]}
                )
            )
        else:  # the registry area (#8) is not there yet: register through MLflow itself
            import mlflow

            uri = f"sqlite:///{old.home / 'mlflow.db'}"
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            mlflow.register_model(f"runs:/{trained['run_id']}/model", "churn")
        structured(
            await client.call_tool("validation_create_suite", {"name": "people", "expectations": SUITE})
        )
        run = structured(
            await client.call_tool("validation_run", {"dataset": "example.csv", "suite": "people"})
        )
        assert run["success"] is True
        before = _load_every_version(f"sqlite:///{old.home / 'mlflow.db'}", data)
        assert before == {"churn/1": 200}
        structured(await client.call_tool("lake_write", {"source": "example.parquet", "dataset": "people"}))

        # Must-show 4: every tool through the client.
        created = structured(await client.call_tool("backup_create", {"scope": ["all", "lake"]}))
        assert created["scope"] == ["metadata", "models", "suites", "lake"]
        assert created["path"] == f"<home>/backups/{created['id']}.tar.gz"
        assert {e["what"] for e in created["not_included"]} == {"features"}  # no Feast repo yet
        assert (old.home / "backups" / f"{created['id']}.tar.gz").is_file()
        listed = structured(await client.call_tool("backup_list", {}))
        assert [b["id"] for b in listed["items"]] == [created["id"]]
        assert listed["items"][0]["recorded"] is True and listed["items"][0]["present"] is True
        verified = structured(await client.call_tool("backup_verify", {"id": created["id"]}))
        assert verified["ok"] is True and verified["problems"] == []
        assert verified["checked"] == created["members"] + 2  # + the manifest and its signature
        assert verified["archive_sha256"] == created["sha256"]
        listed = structured(await client.call_tool("backup_list", {}))
        assert listed["items"][0]["verified_ok"] is True

        restored = structured(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "home2"}
            )
        )
        assert restored["home"] == "home2"
        assert restored["integrity"] == {"metadata.db": "ok", "mlflow.db": "ok"}
        where = {r["where"] for r in restored["rewrites"]}
        assert "mlflow:experiments.artifact_location" in where
        assert "mlflow:runs.artifact_uri" in where
        # The server's own records hold relative paths: nothing in the metadata store is rewritten.
        assert not any(w.startswith("metadata:") for w in where)

        # Bad input: one clear error each.
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "home2"}
            ),
            "already exists",
        )
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "../x"}
            ),
            "folder name",
        )
        assert_tool_error(
            await client.call_tool("backup_restore", {"id": created["id"], "target": "new_home"}), "new_home"
        )
        assert_tool_error(await client.call_tool("backup_verify", {"id": "../../etc"}), "backup id")
        assert_tool_error(
            await client.call_tool("backup_verify", {"id": "bk-20200101T000000Z-abcdef"}), "No backup"
        )
        assert_tool_error(
            await client.call_tool("backup_create", {"scope": ["everything"]}), "Invalid arguments"
        )

        pruned = structured(
            await client.call_tool("backup_prune", {"keep_last": 1, "keep_daily": 0, "confirm": True})
        )
        assert pruned == {
            "kept": [created["id"]],
            "deleted": [],
            "kept_count": 1,
            "deleted_count": 0,
            "freed_bytes": 0,
        }

    new_home = tmp_path / "old" / "home2"
    assert (new_home / "metadata.db").is_file() and (new_home / "mlflow.db").is_file()
    shutil.rmtree(tmp_path / "old" / "home")
    # Nothing in the restored home still names the old one.
    old_text = str(tmp_path / "old" / "home") + "/"
    for db in ("metadata.db", "mlflow.db"):
        con = sqlite3.connect(new_home / db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            dump = "\n".join(con.iterdump())
        finally:
            con.close()
        assert old_text not in dump, db

    after = _load_every_version(f"sqlite:///{new_home / 'mlflow.db'}", data)
    assert after == before
    new = make_settings(new_home, data)
    async with connect(new) as client:
        run = structured(
            await client.call_tool("validation_run", {"dataset": "example.csv", "suite": "people"})
        )
        assert run["success"] is True and run["evaluated"] == 2
        runs = structured(await client.call_tool("evaluation_list_runs", {}))
        assert [r["run_id"] for r in runs["runs"]] == [trained["run_id"]]
        read = structured(await client.call_tool("lake_read", {"dataset": "people"}))
        assert read["matched_rows"] == 200
        diag = structured(
            await client.call_tool(
                "evaluation_diagnostics",
                {"run_id": trained["run_id"], "dataset": "example.csv", "target": "label"},
            )
        )
        assert diag["n"] == 200
        # The restored home's own backups folder starts empty; the restored store knows the old backup's
        # record only if it was taken before the snapshot (it is written after): none here.
        assert structured(await client.call_tool("backup_list", {}))["total"] == 0


@pytest.mark.slow
async def test_a_restored_endpoint_serves_predictions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = make_settings(tmp_path / "old" / "home", data)
    async with connect(old) as client:
        trained = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "example.csv",
                    "target": "label",
                    "estimator": "LogisticRegression",
                    "params": {"solver": "liblinear"},
                    "features": ["age", "income"],
                },
            )
        )
        structured(
            await client.call_tool("registry_register_model", {"name": "churn", "source": trained["run_id"]})
        )
        structured(
            await client.call_tool(
                "deploy_create_endpoint", {"endpoint": "churn-api", "model": "churn", "version": "1"}
            )
        )
        rows = [{"age": 30, "income": 40000.0}, {"age": 70, "income": 60000.0}]
        structured(await client.call_tool("deploy_gateway_start", {"port": 0}))
        first = structured(await client.call_tool("deploy_predict", {"endpoint": "churn-api", "rows": rows}))
        created = structured(await client.call_tool("backup_create", {"scope": ["all"]}))
        structured(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "home2"}
            )
        )
        from mcp_server.gateway import manager

        manager.stop(_app(old))
    shutil.rmtree(tmp_path / "old" / "home")
    new = make_settings(tmp_path / "old" / "home2", data)
    try:
        async with connect(new) as client:
            structured(await client.call_tool("deploy_gateway_start", {"port": 0}))
            again = structured(
                await client.call_tool("deploy_predict", {"endpoint": "churn-api", "rows": rows})
            )
            assert [p["prediction"] for p in again["predictions"]] == [
                p["prediction"] for p in first["predictions"]
            ]
            assert again["versions"] == {"1": 2}
    finally:
        from mcp_server.gateway import manager

        manager.stop(_app(new))


def _app(settings):  # type: ignore[no-untyped-def]
    from mcp_server.core.context import AppContext

    return AppContext.from_settings(settings)


def test_restore_root_defaults_to_the_homes_parent(tmp_path: Path) -> None:
    from mcp_server.core.context import AppContext
    from mcp_server.tools.backup.service import restore_root

    app = AppContext.from_settings(make_settings(tmp_path / "h", tmp_path / "d"))
    assert restore_root(app) == (tmp_path).resolve()
    app2 = AppContext.from_settings(
        make_settings(tmp_path / "h", tmp_path / "d", backup_restore_root=tmp_path / "r")
    )
    assert restore_root(app2) == (tmp_path / "r").resolve()
    assert os.path.isdir(tmp_path / "d")
