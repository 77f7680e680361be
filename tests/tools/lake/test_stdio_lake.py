"""The lake, catalog and lineage areas over a real stdio server process."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, server_env, structured
from tests.tools.lake.helpers import make_frame, write_parquet


@pytest.mark.slow
async def test_stdio_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    frame = make_frame(300)
    write_parquet(frame, home / "workspace" / "a.parquet")
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all"],
        env=server_env(home),
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"lake_write", "lake_read", "catalog_get", "lineage_get", "audit_list"} <= names
        out = structured(await client.call_tool("lake_write", {"source": "a.parquet", "dataset": "a"}))
        read = structured(
            await client.call_tool("lake_read", {"dataset": "a", "filters": [["age", "<", 40]]})
        )
        assert read["matched_rows"] == int((frame["age"] < 40).sum())
        graph = structured(await client.call_tool("lineage_get", {"entity": "dataset:a"}))
        assert graph["root"] == out["identifier"] and graph["edge_count"] == 1
        assert structured(await client.call_tool("audit_list", {}))["entries"][0]["tool"] == "lake_write"
