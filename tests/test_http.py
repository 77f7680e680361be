"""Streamable HTTP: loopback by default, Origin/Host checked, bearer token required off loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import PYTHON, server_env
from tests.oauth_issuer import HEADERS, INIT  # a raw initialize over HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(home: Path, **env: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "mcp_server", "serve", "--transport", "http", "--port", str(port)],
        env=server_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def test_origin_and_host_are_checked(tmp_path: Path) -> None:
    with http_server(tmp_path / "home") as url:
        foreign = httpx.post(url, json=INIT, headers={**HEADERS, "Origin": "http://evil.example"})
        assert foreign.status_code == 403
        rebinding = httpx.post(url, json=INIT, headers={**HEADERS, "Host": "evil.example"})
        assert rebinding.status_code == 421
        ok = httpx.post(url, json=INIT, headers=HEADERS)
        assert ok.status_code == 200


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PYTHON, "-m", "mcp_server", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "1"],
        env=server_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "needs a bearer token" in proc.stderr and "MLOPS_MCP_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_token_is_required_when_set(tmp_path: Path) -> None:
    with http_server(tmp_path / "home", MLOPS_MCP_TOKEN="s3cret-token") as url:
        assert httpx.post(url, json=INIT, headers=HEADERS).status_code == 401
        wrong = httpx.post(url, json=INIT, headers={**HEADERS, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "s3cret" not in wrong.text

        auth = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"})
        async with Client(streamable_http_client(url, http_client=auth), mode="legacy") as client:
            info = await client.call_tool("server_info", {})
            assert info.structured_content is not None and not info.is_error
            assert info.structured_content["version"]
