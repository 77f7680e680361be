"""The area over a real stdio server."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, REPO, server_env, structured
from tests.tools.quality.conftest import faulted, write


@pytest.mark.slow
async def test_stdio_smoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(faulted(), home / "workspace" / "orders.csv")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "quality"],
        env=server_env(home),
        cwd=str(cwd),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"quality_profile", "quality_score", "quality_clean", "quality_check_homogeneity"} <= names
        prof = structured(await client.call_tool("quality_profile", {"dataset": "orders.csv"}))
        score = structured(
            await client.call_tool("quality_score", {"dataset": "orders.csv", "threshold": 90})
        )
        assert prof["row_count"] == score["row_count"] == 306
        drift = structured(
            await client.call_tool(
                "quality_compare", {"dataset": "orders.csv", "baseline": f"profile:{prof['profile_id']}"}
            )
        )
        assert drift["drifted_columns"] == []
        report = structured(await client.call_tool("quality_report", {"dataset": "orders.csv"}))
        assert report["chart_uri"].endswith("chart.png")
        bad = await client.call_tool("quality_score", {"dataset": "orders.csv", "threshold": 101})
        assert bad.is_error
    assert list(cwd.iterdir()) == []  # nothing written to the working directory
    assert REPO.is_dir()
