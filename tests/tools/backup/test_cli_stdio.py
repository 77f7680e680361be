"""`mlops-mcp backup create|verify|prune|restore` as cron runs it, and the area over a stdio server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, REPO, server_env, structured

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]  # spawns the CLI and a stdio server


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**server_env(home), "PYTHONPATH": str(REPO)}
    env.pop("MLOPS_MCP_HOME")
    return subprocess.run(
        [PYTHON, "-m", "mcp_server", "backup", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(home.parent),
        timeout=120,
        check=False,
    )


def test_cli_create_verify_prune_restore(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = _cli(home, "create", "--json")
    assert first.returncode == 0, first.stderr
    created = json.loads(first.stdout)
    assert created["scope"] == ["metadata"]
    second = _cli(home, "create", "--scope", "metadata")
    assert second.returncode == 0 and second.stdout.startswith("backup bk-"), second.stderr

    ok = _cli(home, "verify", created["id"])
    assert ok.returncode == 0 and " ok " in ok.stdout, ok.stdout + ok.stderr

    restored = _cli(home, "restore", created["id"], "--new-home", "home-restored")
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "home-restored" / "metadata.db").is_file()

    pruned = _cli(home, "prune", "--keep-last", "1", "--keep-daily", "0", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["deleted"] == [created["id"]]

    newest = json.loads(pruned.stdout)["kept"][0]
    archive = home / "backups" / f"{newest}.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    bad = _cli(home, "verify")  # default: the newest backup
    assert bad.returncode == 1 and "FAILED" in bad.stdout, bad.stdout
    refused = _cli(home, "restore", newest, "--new-home", "never")
    assert refused.returncode == 2 and "failed verification" in refused.stderr
    assert not (tmp_path / "never").exists()
    assert "Traceback" not in refused.stderr


async def test_stdio_backup_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "backup", "--profile", "all"],
        env=server_env(home),
        cwd=str(cwd),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"backup_create", "backup_list", "backup_verify", "backup_prune", "backup_restore"} <= names
        created = structured(await client.call_tool("backup_create", {}))
        assert structured(await client.call_tool("backup_verify", {"id": created["id"]}))["ok"] is True
        listed = structured(await client.call_tool("backup_list", {"limit": 1}))
        assert listed["items"][0]["id"] == created["id"]
    assert os.listdir(cwd) == []
