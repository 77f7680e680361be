"""Every registry tool through a real MCP client session against MLflow's store (SQLite in the home)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
from mcp import Client

from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, read_artifact, structured
from tests.tools.registry.conftest import Trained


async def _register(client: Client, name: str, source: str, **extra: object) -> dict:
    return structured(
        await client.call_tool("registry_register_model", {"name": name, "source": source, **extra})
    )


async def test_register_get_list_and_search(client: Client, trained: Trained) -> None:
    from mlflow import MlflowClient

    reg = await _register(
        client, "churn", trained.classifier_run, description="who leaves", tags={"team": "risk"}
    )
    assert reg["version"] == "1" and reg["source"] == "run" and reg["run_id"] == trained.classifier_run
    assert reg["lineage"]["run"] == f"run:{trained.classifier_run}"
    assert (
        reg["lineage"]["datasets"][0].startswith("dataset:") and "mixed.csv@" in reg["lineage"]["datasets"][0]
    )
    # by run name too (the latest run with that name)
    assert (await _register(client, "churn", "clf"))["version"] == "2"

    direct = MlflowClient(tracking_uri=f"sqlite:///{trained.home / 'mlflow.db'}")
    run = direct.get_run(trained.classifier_run)
    plain = structured(await client.call_tool("registry_get_version", {"name": "churn", "version": "1"}))
    # lineage, signature and artifacts only when asked
    assert plain["lineage"] is None and plain["signature"] is None and plain["artifacts"] is None
    assert plain["metrics"] == run.data.metrics and plain["tags"]["team"] == "risk"
    got = structured(
        await client.call_tool("registry_get_version", {"name": "churn", "version": "1", "details": True})
    )
    assert {k: v for k, v in got.items() if k not in ("lineage", "signature", "artifacts")} == {
        k: v for k, v in plain.items() if k not in ("lineage", "signature", "artifacts")
    }
    assert got["metrics"] == run.data.metrics
    assert got["params"]["estimator"] == "LogisticRegression"
    assert got["tags"]["team"] == "risk" and got["description"] == "who leaves"
    assert [c["name"] for c in got["signature"]["inputs"]] == [
        "num_clean",
        "num_gaps",
        "colour",
        "size",
        "num_last",
    ]
    assert any(a.startswith("MLmodel") for a in got["artifacts"])
    assert f"run:{trained.classifier_run} -> model:churn/1 (registered)" in got["lineage"]["edges"]
    assert got["onnx"] is None and got["aliases"] == []

    models = structured(await client.call_tool("registry_list_models", {"limit": 100}))
    churn = next(m for m in models["models"] if m["name"] == "churn")
    assert churn["latest_version"] == "2" and churn["description"] == "who leaves"

    structured(
        await client.call_tool("registry_set_alias", {"name": "churn", "alias": "champion", "version": "2"})
    )
    acc = run.data.metrics["test_accuracy"]
    found = structured(
        await client.call_tool(
            "registry_search_versions",
            {"name": "churn", "filter": [{"field": "metrics.test_accuracy", "op": ">=", "value": acc}]},
        )
    )
    assert [v["version"] for v in found["versions"]] == ["2", "1"]
    by_alias = structured(
        await client.call_tool(
            "registry_search_versions", {"name": "churn", "filter": [{"field": "alias", "value": "champion"}]}
        )
    )
    assert [(v["version"], v["aliases"]) for v in by_alias["versions"]] == [("2", ["champion"])]
    by_tag = structured(
        await client.call_tool(
            "registry_search_versions", {"filter": [{"field": "tags.team", "op": "=", "value": "risk"}]}
        )
    )
    assert {(v["name"], v["version"]) for v in by_tag["versions"]} == {("churn", "1")}
    none = structured(
        await client.call_tool(
            "registry_search_versions",
            {"name": "churn", "filter": [{"field": "metrics.test_accuracy", "op": ">", "value": 1.5}]},
        )
    )
    assert none["versions"] == [] and none["total"] == 0
    champion = structured(
        await client.call_tool("registry_get_version", {"name": "churn", "alias": "champion"})
    )
    assert champion["version"] == "2" and champion["aliases"] == ["champion"]


async def test_a_trained_run_registers_from_its_edge_and_a_doubtful_edge_falls_back(
    client: Client, trained: Trained
) -> None:
    """A run evaluation_train_model trained is registered from its `trained` lineage edge (one logged-model
    read, not MLflow's whole run record), with the same lineage as the run's own record gives; an edge that
    names another run's model is not trusted: the run's record decides."""
    from mlflow import MlflowClient

    from mcp_server.core.lineage import record_edge
    from mcp_server.tools.registry import adapter, service
    from tests.tools.registry.conftest import train

    app = trained.app
    direct = MlflowClient(tracking_uri=f"sqlite:///{trained.home / 'mlflow.db'}")
    run = direct.get_run(trained.regressor_run)
    lineage, logged = service.model_of_run(app, trained.regressor_run)
    # The model the run record names "model" (an ONNX twin other tests logged into the run is another output).
    _, from_run = adapter.logged_model_of_run(app, trained.regressor_run)
    assert lineage["model_id"] == logged.model_id == from_run.model_id
    from_record = service.lineage_of_run(app, trained.regressor_run, dict(run.data.tags))
    assert {k: v for k, v in lineage.items() if k != "model_id"} == from_record
    assert from_record["datasets"] == [run.data.tags["mlops_mcp.dataset"]]

    # A newer `trained` edge to a fresh run naming the classifier's model and another dataset.
    run_id = train(app, "Ridge", "y", None, "edge-check")
    other_model = adapter.logged_model_of_run(app, trained.classifier_run)[1].model_id
    record_edge(
        app.store, "dataset:elsewhere.csv@0123456789ab", f"run:{run_id}", "trained", {"model_id": other_model}
    )
    assert "model_id" not in service.model_of_run(app, run_id)[0]  # the run's own record was read
    reg = await _register(client, "edge-check", run_id)
    own = direct.get_run(run_id)
    assert reg["run_id"] == run_id and reg["lineage"]["datasets"] == [own.data.tags["mlops_mcp.dataset"]]
    source = direct.get_model_version("edge-check", reg["version"]).source
    own_model = adapter.logged_model_of_run(app, run_id)[1]
    assert source == own_model.artifact_location != direct.get_logged_model(other_model).artifact_location


async def test_champion_moves_and_rolls_back_with_history(client: Client, trained: Trained) -> None:
    for _ in range(3):
        await _register(client, "fraud", trained.regressor_run)
    for v, why in (("1", "first"), ("2", "better rmse"), ("3", "retrained")):
        moved = structured(
            await client.call_tool(
                "registry_set_alias", {"name": "fraud", "alias": "champion", "version": v, "reason": why}
            )
        )
        assert moved["version"] == v
    first = structured(
        await client.call_tool(
            "registry_rollback",
            {"name": "fraud", "alias": "champion", "reason": "v3 drifts", "confirm": True},
        )
    )
    assert (first["previous"], first["version"]) == ("3", "2")
    got = structured(await client.call_tool("registry_get_version", {"name": "fraud", "alias": "champion"}))
    assert got["version"] == "2"
    second = structured(
        await client.call_tool("registry_rollback", {"name": "fraud", "alias": "champion", "confirm": True})
    )
    assert (second["previous"], second["version"]) == ("2", "1")
    assert_tool_error(
        await client.call_tool("registry_rollback", {"name": "fraud", "alias": "champion", "confirm": True}),
        "nothing earlier",
    )
    history = structured(
        await client.call_tool("registry_alias_history", {"name": "fraud", "alias": "champion"})
    )
    assert history["current"] == "1"
    chain = [(e["action"], e["from_version"], e["to_version"], e["undone"]) for e in history["events"]]
    assert chain == [
        ("rollback", "2", "1", False),
        ("rollback", "3", "2", False),
        ("set", "2", "3", True),
        ("set", "1", "2", True),
        ("set", None, "1", False),
    ]
    assert history["events"][1]["reason"] == "v3 drifts"
    assert all(e["client"] for e in history["events"])  # the client's name from the handshake
    # A change after rollbacks is pushed on top: rolling it back returns to 1.
    structured(
        await client.call_tool("registry_set_alias", {"name": "fraud", "alias": "champion", "version": "3"})
    )
    back = structured(
        await client.call_tool("registry_rollback", {"name": "fraud", "alias": "champion", "confirm": True})
    )
    assert back["version"] == "1"


async def test_delete_and_archive_refuse_an_aliased_version(client: Client, trained: Trained) -> None:
    await _register(client, "spam", trained.regressor_run)
    await _register(client, "spam", trained.regressor_run)
    structured(
        await client.call_tool("registry_set_alias", {"name": "spam", "alias": "champion", "version": "1"})
    )
    assert_tool_error(
        await client.call_tool("registry_delete_version", {"name": "spam", "version": "1", "confirm": True}),
        "champion",
    )
    assert_tool_error(
        await client.call_tool("registry_archive_version", {"name": "spam", "version": "1"}), "champion"
    )
    archived = structured(
        await client.call_tool("registry_archive_version", {"name": "spam", "version": "2"})
    )
    assert archived["action"] == "archived"
    got = structured(await client.call_tool("registry_get_version", {"name": "spam", "version": "2"}))
    assert got["archived"] is True
    deleted = structured(
        await client.call_tool("registry_delete_version", {"name": "spam", "version": "2", "confirm": True})
    )
    assert deleted["action"] == "deleted"
    assert_tool_error(
        await client.call_tool("registry_get_version", {"name": "spam", "version": "2"}), "No version 2"
    )
    # the aliased version is still there
    assert structured(await client.call_tool("registry_get_version", {"name": "spam", "alias": "champion"}))


async def test_compare_versions_and_direction(client: Client, trained: Trained) -> None:
    from mlflow import MlflowClient

    await _register(client, "price", trained.regressor_run)
    await _register(client, "price", trained.forest_run)
    cmp = structured(
        await client.call_tool(
            "registry_compare_versions", {"name": "price", "a": "1", "b": "2", "metric": "rmse"}
        )
    )
    direct = MlflowClient(tracking_uri=f"sqlite:///{trained.home / 'mlflow.db'}")
    ra = direct.get_run(trained.regressor_run).data.metrics["test_rmse"]
    rb = direct.get_run(trained.forest_run).data.metrics["test_rmse"]
    assert cmp["metric"] == "test_rmse" and cmp["direction"] == "lower_is_better"
    assert cmp["better"] == ("1" if ra < rb else "2")
    assert abs(cmp["difference"] - (rb - ra)) < 1e-12
    params = {p["key"]: p for p in cmp["params"]}
    assert params["estimator"]["a"] == "Ridge" and params["estimator"]["b"] == "RandomForestRegressor"
    assert cmp["signature_same"] is True and cmp["lineage"]["same_data"] is True
    r2 = structured(
        await client.call_tool(
            "registry_compare_versions", {"name": "price", "a": "1", "b": "2", "metric": "test_r2"}
        )
    )
    assert r2["direction"] == "higher_is_better"
    assert_tool_error(
        await client.call_tool(
            "registry_compare_versions", {"name": "price", "a": "1", "b": "2", "metric": "auc"}
        ),
        "Neither version",
    )


async def test_model_card_is_a_resource(client: Client, trained: Trained) -> None:
    await _register(client, "card-model", trained.classifier_run, description="Flags churners | weekly")
    await _register(client, "card-model", trained.classifier_run)
    structured(
        await client.call_tool(
            "registry_set_alias", {"name": "card-model", "alias": "champion", "version": "2"}
        )
    )
    card = structured(await client.call_tool("registry_model_card", {"name": "card-model", "version": "1"}))
    text = (await read_artifact(client, card["card"])).decode()
    for heading in ("## Purpose", "## Data and validation", "## Metrics", "## Comparisons", "## Lineage"):
        assert heading in text
    assert "LogisticRegression" in text and "test_accuracy" in text
    assert "Flags churners \\| weekly" in text  # data is escaped, not markup
    assert "| 2 | champion |" in text and "| 1 | - |" in text


async def test_eight_concurrent_registrations_get_eight_versions(client: Client, trained: Trained) -> None:
    results: list[dict] = []

    async def one() -> None:
        results.append(
            structured(
                await client.call_tool(
                    "registry_register_model", {"name": "busy", "source": trained.regressor_run}
                )
            )
        )

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(one)
    assert sorted(int(r["version"]) for r in results) == list(range(1, 9))


async def test_model_files_pickle_refused_skops_and_onnx_accepted(
    client: Client, trained: Trained, settings: Settings
) -> None:
    import pickle

    import pandas as pd
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    ws = settings.workspace_dir
    df = pd.read_csv(ws / "mixed.csv")
    X = df[["num_clean", "num_last"]].to_numpy()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, df["label"])
    (ws / "m.pkl").write_bytes(pickle.dumps(model))
    (ws / "m.joblib").write_bytes(pickle.dumps(model))
    assert_tool_error(
        await client.call_tool("registry_register_model", {"name": "files", "source": "m.pkl"}), "refused"
    )
    assert_tool_error(
        await client.call_tool("registry_register_model", {"name": "files", "source": "m.joblib"}), "refused"
    )
    sio.dump(model, ws / "m.skops")
    skops_v = await _register(client, "files", "m.skops")
    assert skops_v["source"] == "skops_file"
    onx = to_onnx(model, X[:1].astype("float32"), options={"zipmap": False})
    (ws / "m.onnx").write_bytes(onx.SerializeToString())
    onnx_v = await _register(client, "files", "m.onnx")
    assert onnx_v["source"] == "onnx_file"
    got = structured(
        await client.call_tool("registry_get_version", {"name": "files", "version": onnx_v["version"]})
    )
    assert got["onnx"] is not None  # a file registered as ONNX is its own twin
    assert_tool_error(
        await client.call_tool("registry_register_model", {"name": "files", "source": "../outside.onnx"}),
        "'..'",
    )
    assert_tool_error(
        await client.call_tool("registry_register_model", {"name": "files", "source": "gone.onnx"}),
        "No model file",
    )


async def test_pickle_allowed_by_the_operator(trained: Trained, tmp_path: Path) -> None:
    import pickle

    from sklearn.linear_model import LinearRegression

    from mcp_server.core.app import create_server

    settings = Settings(home=trained.home, profile="all", allow_pickle=True)
    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    (settings.workspace_dir / "lr.pkl").write_bytes(pickle.dumps(model))
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        reg = await _register(client, "pickled", "lr.pkl")
        assert reg["source"] == "pickle_file"
    server.app.close()


async def test_code_version_from_git(client: Client, trained: Trained, settings: Settings) -> None:
    repo = settings.workspace_dir / "train_code"
    repo.mkdir()
    (repo / "train.py").write_text("print('train')\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    head = subprocess.run(
        [*git[:3], "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clean = await _register(client, "coded", trained.regressor_run, code_path="train_code")
    assert clean["lineage"]["code"] == {"git_commit": head, "git_dirty": False, "code_path": "train_code"}
    (repo / "train.py").write_text("print('changed')\n")
    dirty = await _register(client, "coded", trained.regressor_run, code_path="train_code")
    assert dirty["lineage"]["code"]["git_dirty"] is True
    got = structured(
        await client.call_tool("registry_get_version", {"name": "coded", "version": dirty["version"]})
    )
    assert got["tags"]["mlops_mcp.git_commit"] == head and got["tags"]["mlops_mcp.git_dirty"] == "true"
    (settings.workspace_dir / "not_git").mkdir()
    assert_tool_error(
        await client.call_tool(
            "registry_register_model",
            {"name": "coded", "source": trained.regressor_run, "code_path": "not_git"},
        ),
        "git",
    )


async def test_bad_input_is_one_clear_error(client: Client, trained: Trained) -> None:
    await _register(client, "bad-input", trained.regressor_run)
    cases = [
        ("registry_register_model", {"name": "bad name!", "source": trained.regressor_run}, "model name"),
        ("registry_register_model", {"name": "x", "source": "0" * 32}, "No run"),
        ("registry_register_model", {"name": "x", "source": "no-such-run"}, "No run named"),
        (
            "registry_register_model",
            {"name": "x", "source": trained.regressor_run, "tags": {"mlops_mcp.x": "1"}},
            "server's own",
        ),
        ("registry_get_version", {"name": "bad-input"}, "exactly one"),
        ("registry_get_version", {"name": "bad-input", "version": "1", "alias": "champion"}, "exactly one"),
        ("registry_get_version", {"name": "bad-input", "version": "x1"}, "version number"),
        ("registry_get_version", {"name": "nope", "version": "1"}, "No version 1"),
        ("registry_set_alias", {"name": "bad-input", "alias": "v3", "version": "1"}, "reserved"),
        ("registry_set_alias", {"name": "bad-input", "alias": "champion", "version": "7"}, "No version 7"),
        (
            "registry_rollback",
            {"name": "bad-input", "alias": "champion", "confirm": True},
            "no recorded change",
        ),
        ("registry_search_versions", {"filter": [{"field": "params.x", "value": 1}]}, "Unknown filter field"),
        ("registry_list_models", {"cursor": "garbage"}, "cursor"),
        ("registry_delete_version", {"name": "bad-input", "version": "9", "confirm": True}, "No version 9"),
    ]
    for tool, args, needle in cases:
        assert_tool_error(await client.call_tool(tool, args), needle)


async def test_delete_refuses_a_version_that_serves_an_endpoint(client: Client, trained: Trained) -> None:
    await _register(client, "served", trained.regressor_run)
    await _register(client, "served", trained.regressor_run)
    created = await client.call_tool(
        "deploy_create_endpoint", {"endpoint": "served-ep", "model": "served", "version": "2"}
    )
    structured(created)
    assert_tool_error(
        await client.call_tool(
            "registry_delete_version", {"name": "served", "version": "2", "confirm": True}
        ),
        "serves an endpoint",
    )
    assert_tool_error(
        await client.call_tool("registry_archive_version", {"name": "served", "version": "2"}),
        "serves an endpoint",
    )
    assert structured(
        await client.call_tool("registry_delete_version", {"name": "served", "version": "1", "confirm": True})
    )
