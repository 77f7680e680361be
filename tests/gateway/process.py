"""A gateway process serving a routes file (`mlops-mcp gateway --routes`, the Docker image's command), for
tests that talk to it over real HTTP."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import PYTHON, REPO, server_env


@dataclass
class GatewayProcess:
    url: str
    proc: subprocess.Popen[bytes]
    stdout: bytes = b""  # both filled once the process has stopped
    stderr: bytes = b""


@contextmanager
def gateway_process(
    routes: Path, home: Path, *, versions: int | None = None, **env: str
) -> Iterator[GatewayProcess]:
    """Started on a free port and ready once /healthz answers (with `versions` loaded, when given); stopped
    with SIGTERM on exit, its output kept on the yielded object."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [PYTHON, "-m", "mcp_server", "gateway", "--routes", str(routes), "--port", str(port)],
        cwd=REPO,
        env=server_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    gateway = GatewayProcess(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{gateway.url}/healthz", timeout=1)
                if health.status_code == 200 and versions in (None, health.json()["versions_loaded"]):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the gateway did not start"
            time.sleep(0.1)
        yield gateway
    finally:
        proc.send_signal(signal.SIGTERM)
        gateway.stdout, gateway.stderr = proc.communicate(timeout=20)
