"""The demo's whole chain (the same `walk` as `make demo`) through an in-memory MCP client."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.demo import walk

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_whole_chain_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = create_server(Settings(home=home, profile="all", gateway_port=_free_port()))
    try:
        async with Client(server, mode="legacy") as client:
            steps = await walk(client, home)
    finally:
        server.app.close()
    failed = [(name, detail) for name, ok, detail in steps if not ok]
    assert not failed, failed
    names = [name for name, _, _ in steps]
    assert names[-4:] == ["prediction", "rolled back by hand (deploy_rollback)", "lineage", "backup"], names
    assert len(list((home / "backups").glob("*.tar.gz"))) == 1
