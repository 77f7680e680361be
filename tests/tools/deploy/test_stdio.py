"""The deploy area over stdio: a spawned server starts and stops a gateway; every stdout line is JSON-RPC
(the gateway's own output goes to its log file), and the gateway process is gone afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, server_env, structured


@pytest.mark.slow
async def test_stdio_gateway_start_status_stop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "deploy"],
        env=server_env(home),
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"deploy_gateway_start", "deploy_predict", "deploy_create_endpoint"} <= names
        assert structured(await client.call_tool("deploy_gateway_status", {}))["state"] == "stopped"
        started = structured(await client.call_tool("deploy_gateway_start", {"port": 0}))
        assert started["running"] is True
        assert httpx.get(f"{started['url']}/healthz", timeout=5).json()["status"] == "ok"
        assert structured(await client.call_tool("deploy_list", {}))["total"] == 0
        health = structured(await client.call_tool("health_check", {}))
        assert {b["name"]: b["status"] for b in health["backends"]}["gateway"] == "ok"
        stopped = structured(await client.call_tool("deploy_gateway_stop", {}))
        assert stopped["state"] == "stopped"
    try:
        os.kill(started["pid"], 0)
        alive = Path(f"/proc/{started['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except ProcessLookupError:
        alive = False
    assert not alive
    assert "gateway serving on" in (home / "gateway" / "gateway.log").read_text()
