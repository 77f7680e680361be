"""The `mlops-mcp` command a person runs: tools, doctor, profiles and --read-only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.errors import MlopsError
from mcp_server.core.registry import CORE_TOOL_BUDGET, all_specs, select
from tests.conftest import PYTHON, REPO, server_env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mcp_server", *args],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_tools_lists_the_core_tools_with_their_hints(tmp_path: Path) -> None:
    out = _cli(tmp_path / "home", "tools", "--profile", "all", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {r["name"]: r for r in report["tools"]}
    for name in ("health_check", "server_info"):
        assert rows[name]["readOnly"] is True and rows[name]["destructive"] is False
    assert (
        report["count"]
        == len(rows)
        == len([s for s in all_specs() if s.area in {r["area"] for r in rows.values()}])
    )
    assert report["definitions_bytes"] > 500
    human = _cli(tmp_path / "home", "tools")
    assert "health_check" in human.stdout and "bytes of JSON" in human.stdout


def test_doctor_reports_extras_areas_and_the_store(tmp_path: Path) -> None:
    out = _cli(tmp_path / "home", "doctor")
    assert out.returncode == 0, out.stderr
    assert f"home:  {(tmp_path / 'home').resolve()}" in out.stdout
    assert "metadata store: ok (sqlite)" in out.stdout
    assert "extras:" in out.stdout and "spark" in out.stdout


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    out = _cli(tmp_path / "home", "tools", "--tools", "nonsense")
    assert out.returncode == 2
    assert out.stderr.startswith("mlops-mcp: Unknown area") and "Traceback" not in out.stderr
    bad_env = subprocess.run(
        [PYTHON, "-m", "mcp_server", "tools"],
        env=server_env(tmp_path / "home", MLOPS_MCP_DEADLINE_S="-3"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert bad_env.returncode == 2
    assert "deadline_s" in bad_env.stderr and "Traceback" not in bad_env.stderr


async def test_read_only_registers_only_read_only_tools(tmp_path: Path) -> None:
    server = create_server(Settings(home=tmp_path / "h", profile="all", read_only=True))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
    writers = {s.name for s in all_specs() if not s.read_only}
    assert writers.isdisjoint({t.name for t in tools})


def test_profiles_and_tool_restriction(tmp_path: Path) -> None:
    core, _, _ = select(Settings(home=tmp_path, profile="core"))
    every, _, _ = select(Settings(home=tmp_path, profile="all"))
    assert len(core) <= CORE_TOOL_BUDGET
    assert all(s.core for s in core) and {s.name for s in core} <= {s.name for s in every}
    only, enabled, disabled = select(Settings(home=tmp_path, tools=["health"]))
    assert {s.area for s in only} <= {"health", "server"}
    assert set(enabled) == {"health", "server"} and all(v == "not in --tools" for v in disabled.values())
    with pytest.raises(MlopsError, match="Unknown area"):
        select(Settings(home=tmp_path, tools=["nope"]))
