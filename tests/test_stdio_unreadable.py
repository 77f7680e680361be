"""A line the SDK cannot read (a lone UTF-16 surrogate, JSON nested past its reader's limit) gets a JSON-RPC
error with the request's id over stdio, instead of no answer at all (the SDK logs such a line at DEBUG and a
client would wait forever); the server goes on answering."""

from __future__ import annotations

import json
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mcp_server.core.app import top_level_id
from tests.conftest import PYTHON, REPO, server_env


def _read_reply(proc: subprocess.Popen[bytes], request_id: Any, timeout: float = 20) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            message = json.loads(proc.stdout.readline())
            if message.get("id") == request_id:
                return message  # type: ignore[no-any-return]
    raise AssertionError(f"no reply to request {request_id!r} within {timeout} s")


def _send(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode("utf-8", "surrogatepass") + b"\n")
    proc.stdin.flush()


def _call(request_id: Any, arguments: str) -> str:
    return (
        f'{{"jsonrpc":"2.0","id":{json.dumps(request_id)},"method":"tools/call",'
        f'"params":{{"name":"lake_write","arguments":{arguments}}}}}'
    )


@pytest.mark.timeout(90)
def test_unreadable_requests_get_an_error_with_their_id(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "mcp_server", "serve", "--profile", "all"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=server_env(tmp_path / "home"),
        cwd=REPO,
    )
    try:
        init = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        _send(proc, json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}))
        assert "result" in _read_reply(proc, 0)
        _send(proc, '{"jsonrpc":"2.0","method":"notifications/initialized"}')

        _send(proc, _call(1, '{"source":"d\\ud800.csv","dataset":"x"}'))  # an escaped lone surrogate
        reply = _read_reply(proc, 1)
        assert reply["error"]["code"] == -32700 and "lone UTF-16 surrogate" in reply["error"]["message"]

        deep = "[" * 100_000 + "]" * 100_000
        _send(proc, _call("deep-2", f'{{"source":"a.csv","dataset":"x","partition_by":{deep}}}'))
        reply = _read_reply(proc, "deep-2")
        assert reply["error"]["code"] == -32700 and "nests its JSON deeper" in reply["error"]["message"]

        _send(
            proc,
            '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"server_info","arguments":{}}}',
        )
        assert "result" in _read_reply(proc, 3, timeout=5)
    finally:
        proc.kill()
        proc.wait(10)


def test_the_top_level_id_is_found_without_parsing_the_rest() -> None:
    assert top_level_id('{"jsonrpc":"2.0","id":5,"params":{"id":"inner"}}') == 5
    assert top_level_id('{"params":{"id":"inner","s":"a\\"}{b"},"id":"outer"}') == "outer"
    assert top_level_id('{"method":"notifications/x","params":' + "[" * 50_000) is None
    assert top_level_id('{"id":true}') is None and top_level_id('{"id":1.5}') is None
