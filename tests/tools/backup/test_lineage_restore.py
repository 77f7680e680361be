"""Issue 20, must-show 6: after backup_restore into a new home and deleting the old one, lineage_get on the
restored endpoint returns the same node ids as before the backup (the server stores paths relative to its
home and roots, so nothing in its records names the old home)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.config import Settings
from tests.conftest import structured
from tests.contract_cases import write_example_tables
from tests.tools.backup.helpers import connect

pytestmark = pytest.mark.timeout(300)

SUITE = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]


async def _graph(client: Client) -> dict[str, Any]:
    out = structured(
        await client.call_tool(
            "lineage_get",
            {"entity": "endpoint:churn-api", "direction": "upstream", "depth": 10, "max_items": 60},
        )
    )
    assert out["truncated"] is False and out["node_count"] == len(out["nodes"])
    return out


@pytest.mark.slow
async def test_lineage_of_a_restored_endpoint_reads_the_same_after_the_old_home_is_gone(
    tmp_path: Path,
) -> None:
    # No --root: the data lives in the home's own workspace, so an absolute path would name the old home.
    old = Settings(home=tmp_path / "old" / "home", profile="all")
    write_example_tables(old.workspace_dir)
    async with connect(old) as client:
        structured(
            await client.call_tool("validation_create_suite", {"name": "people", "expectations": SUITE})
        )
        run = structured(
            await client.call_tool("validation_run", {"dataset": "example.csv", "suite": "people"})
        )
        assert run["success"] is True
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
        before = await _graph(client)
        created = structured(await client.call_tool("backup_create", {"scope": ["all"]}))
        structured(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "home2"}
            )
        )
    ids = [n["id"] for n in before["nodes"]]
    kinds = {i.partition(":")[0] for i in ids}
    assert {"endpoint", "onnx", "model", "run", "dataset", "validation", "suite"} <= kinds, ids
    # Dataset ids name the file relative to its root, not by an absolute path into the home.
    datasets = [i for i in ids if i.startswith("dataset:")]
    assert datasets and all(i.startswith("dataset:example.csv@") for i in datasets), datasets
    assert not any(str(tmp_path) in i for i in ids)

    shutil.rmtree(tmp_path / "old" / "home")
    new = Settings(home=tmp_path / "old" / "home2", profile="all")
    async with connect(new) as client:
        after = await _graph(client)
    assert [n["id"] for n in after["nodes"]] == ids
    edges = [(e["upstream"], e["downstream"], e["kind"]) for e in after["edges"]]
    assert edges == [(e["upstream"], e["downstream"], e["kind"]) for e in before["edges"]]
