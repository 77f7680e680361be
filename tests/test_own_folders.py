"""Issue #22.6: a tool's `output=` never overwrites the server's own state (lake versions, GX suites, ONNX twins,
MLflow artifacts, databases), whatever the roots say; outputs in the workspace still work."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.errors import OutsideWorkspace
from mcp_server.core.workspace import Workspace
from tests.conftest import assert_tool_error, structured

REFUSED = "server's own state"


def _frame(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "amount": [float(i) for i in range(n)], "at": ["2024-01-01"] * n})


@pytest.fixture
async def home_with_state(settings: Settings) -> AsyncIterator[tuple[Client, dict[str, Path]]]:
    """A server whose home holds a lake version and a GX suite made by their tools, and an ONNX twin and an
    MLflow artifact placed where the server keeps them."""
    ws = settings.workspace_dir
    ws.mkdir(parents=True, exist_ok=True)
    _frame().to_csv(ws / "rows.csv", index=False)
    _frame().to_parquet(ws / "rows.parquet")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        structured(await client.call_tool("lake_write", {"source": "rows.parquet", "dataset": "c"}))
        expectations = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]
        structured(
            await client.call_tool("validation_create_suite", {"name": "s", "expectations": expectations})
        )
        home = settings.home
        twin = home / "cache" / "onnx" / "m" / "1" / "twin.json"
        twin.parent.mkdir(parents=True)
        twin.write_text('{"inputs": []}')
        artifact = home / "mlartifacts" / "1" / "models" / "m-1" / "artifacts" / "data.parquet"
        artifact.parent.mkdir(parents=True)
        _frame(3).to_parquet(artifact)
        targets = {
            "lake": next((home / "lake" / "raw" / "c" / "v1").rglob("*.parquet")),
            "gx": next((home / "gx").rglob("*.json")),
            "twin": twin,
            "mlartifacts": artifact,
        }
        yield client, targets
    server.app.close()


def _calls(target: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every table-writing tool, pointed at `target` (overwrite where the tool has it)."""
    out = str(target)
    return [
        ("quality_filter_dataset", {"dataset": "rows.csv", "rules": [], "output": out, "overwrite": True}),
        (
            "quality_clean",
            {"dataset": "rows.csv", "plan": {"duplicates": {}}, "output": out, "overwrite": True},
        ),
        ("lake_convert", {"path": "rows.csv", "output": out, "overwrite": True}),
        (
            "features_scaffold",
            {"dataset": "rows.csv", "entity_column": "id", "timestamp_column": "at", "output": out},
        ),
        (
            "features_scaffold",
            {
                "dataset": "rows.csv",
                "entity_column": "id",
                "timestamp_column": "at",
                "output": "defs.yaml",
                "source_output": out,
            },
        ),
        (
            "features_get_historical",
            {"entity_dataset": "rows.parquet", "features": ["v"], "output": out},
        ),
    ]


@pytest.mark.parametrize("where", ["lake", "gx", "twin", "mlartifacts"])
async def test_outputs_into_the_servers_own_state_are_refused(
    home_with_state: tuple[Client, dict[str, Path]], where: str
) -> None:
    client, targets = home_with_state
    target = targets[where]
    before = target.read_bytes()
    for tool, args in _calls(target):
        message = assert_tool_error(await client.call_tool(tool, args), REFUSED)
        # One sentence, and no absolute path.
        assert message.count(". ") == 0 and str(target.parent) not in message, message
        assert target.read_bytes() == before, tool
        started = time.monotonic()
        structured(await client.call_tool("server_info", {}))
        assert time.monotonic() - started < 1.0
    # The whole folder is refused, not only existing files.
    new = target.parent / "new.parquet"
    assert_tool_error(
        await client.call_tool("lake_convert", {"path": "rows.csv", "output": str(new)}), REFUSED
    )
    assert not new.exists()


async def test_lake_versions_stay_whole_and_workspace_outputs_work(
    home_with_state: tuple[Client, dict[str, Path]], settings: Settings
) -> None:
    client, targets = home_with_state
    assert_tool_error(
        await client.call_tool(
            "quality_filter_dataset",
            {
                "dataset": "rows.csv",
                "rules": [["id", "==", 1]],
                "output": str(targets["lake"]),
                "overwrite": True,
            },
        ),
        REFUSED,
    )
    read = structured(await client.call_tool("lake_read", {"dataset": "c", "limit": 5}))
    assert read["matched_rows"] == 100
    structured(await client.call_tool("validation_run", {"dataset": "rows.csv", "suite": "s"}))

    # Outputs in the workspace (relative or absolute) still work.
    got = structured(
        await client.call_tool(
            "quality_filter_dataset",
            {"dataset": "rows.csv", "rules": [["id", "<", 10]], "output": "out/kept.parquet"},
        )
    )
    assert got["rows_after"] == 10
    converted = settings.workspace_dir / "conv.parquet"
    structured(await client.call_tool("lake_convert", {"path": "rows.csv", "output": str(converted)}))
    assert len(pd.read_parquet(converted)) == 100


def test_resolve_output_refuses_own_state_whatever_the_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lake = tmp_path / "elsewhere" / "lake"
    # The home itself configured as a root: its state is still not an output.
    ws = Workspace([home, tmp_path / "elsewhere"], home, own=[lake])
    for value in (
        "lake/raw/c/v1/part-0.parquet",
        "gx/expectations/s.json",
        "cache/onnx/m/1/twin.json",
        "mlartifacts",
        "mlflow.db",
        "metadata.db-wal",
        "feature_repo.json",
        "feature_repo/feature_store.yaml",
        "backups/x.tar.gz",
        "gateway/routes.json",
        "reports/validation/r.html",
        str(lake / "raw" / "x.parquet"),
        f"file://{home}/lake/raw/x.parquet",
    ):
        with pytest.raises(OutsideWorkspace, match=REFUSED):
            ws.resolve_output(value)
        ws.resolve(value)  # reading paths is unchanged
    for value in ("workspace/out.parquet", "lakes/x.parquet", "mlflow.db.parquet", "out.parquet"):
        assert ws.resolve_output(value) == (home / value).resolve()


def test_a_symlink_into_the_lake_is_refused_as_an_output(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "lake" / "raw").mkdir(parents=True)
    (home / "workspace").mkdir()
    (home / "workspace" / "link").symlink_to(home / "lake" / "raw")
    ws = Workspace([home / "workspace"], home)
    with pytest.raises(OutsideWorkspace, match=REFUSED):
        ws.resolve_output("link/x.parquet")
