"""The monitor area over stdio: a spawned server lists its tools (without importing datasketches, pandas or
scikit-learn at start) and answers a call with a one-sentence error for an endpoint that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, assert_tool_error, server_env, structured


@pytest.mark.slow
async def test_stdio_monitor_tools(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "monitor,deploy", "--profile", "all"],
        env=server_env(tmp_path / "home"),
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {
            "monitor_drift",
            "monitor_record_outcomes",
            "monitor_performance",
            "monitor_watch_rules",
        } <= names
        result = await client.call_tool("monitor_performance", {"endpoint": "nowhere"})
        assert_tool_error(result, "No endpoint named 'nowhere'")
        assert structured(await client.call_tool("deploy_list", {}))["total"] == 0
