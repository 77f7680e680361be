"""Under stdio, stdout carries JSON-RPC messages only, even while a library prints during a call."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, REPO, server_env


def _rpc(id_: int | None, method: str, params: dict[str, Any] | None = None) -> str:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        msg["id"] = id_
    if params is not None:
        msg["params"] = params
    return json.dumps(msg) + "\n"


def test_every_stdout_line_is_jsonrpc_while_libraries_print(tmp_path: Path) -> None:
    script = "".join(
        [
            _rpc(
                1,
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "stdio-test", "version": "0"},
                },
            ),
            _rpc(None, "notifications/initialized"),
            _rpc(2, "tools/list"),
            _rpc(3, "tools/call", {"name": "health_check", "arguments": {}}),
            _rpc(4, "tools/call", {"name": "server_info", "arguments": {"bogus": 1}}),
            _rpc(5, "tools/call", {"name": "server_info", "arguments": {}}),
        ]
    )
    # Like a real client: keep stdin open until every answer is in, then close it.
    proc = subprocess.Popen(
        [PYTHON, str(REPO / "tests" / "noisy_server.py"), "--profile", "all"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(tmp_path / "home"),
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(script)
    proc.stdin.flush()
    raw: list[str] = []
    answered: set[int] = set()
    while answered != {1, 2, 3, 4, 5}:
        line = proc.stdout.readline()  # the test's own timeout bounds a hang
        if not line:
            break
        raw.append(line)
        answered |= {json.loads(line).get("id")} - {None}
    proc.stdin.close()
    rest = proc.stdout.read()
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.wait(60)
    raw.extend(rest.splitlines())
    proc_stdout_lines = raw
    lines = [line for line in proc_stdout_lines if line.strip()]
    messages = [json.loads(line) for line in lines]  # raises on any non-JSON line
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert set(by_id) == {1, 2, 3, 4, 5}, stderr[-2000:]

    health = by_id[3]["result"]
    assert health["isError"] is False
    noisy = [b for b in health["structuredContent"]["backends"] if b["name"] == "noisy"]
    assert noisy and noisy[0]["status"] == "ok"
    assert by_id[4]["result"]["isError"] is True
    assert by_id[5]["result"]["structuredContent"]["profile"] == "all"

    # What the libraries printed went to stderr instead.
    for text in ("print() from a library", "raw write to fd 1", "a child process printing"):
        assert text in stderr


async def test_stdio_smoke_through_the_sdk_client(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve"],
        env=server_env(tmp_path / "home"),
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"health_check", "server_info"} <= names
        info = await client.call_tool("server_info", {})
        assert info.structured_content is not None
        assert info.structured_content["home"] == str((tmp_path / "home").resolve())
        assert info.structured_content["roots"] == [str((tmp_path / "home" / "workspace").resolve())]
