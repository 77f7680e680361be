"""Gateway processes for tests that talk to them over real HTTP: one serving a routes file (`mlops-mcp
gateway --routes`, the Docker image's command), or several serving the routing table of one metadata store
(replicas)."""

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
    replica: str = ""  # its replica id (/healthz), for a gateway on a store
    log: Path | None = None  # where its output goes, for a gateway on a store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway_process(
    routes: Path, home: Path, *, versions: int | None = None, **env: str
) -> Iterator[GatewayProcess]:
    """Started on a free port and ready once /healthz answers (with `versions` loaded, when given); stopped
    with SIGTERM on exit, its output kept on the yielded object."""
    port = _free_port()
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


def serve_plain(root: Path, *others: str) -> Path:
    """The routes file of a gateway serving "plain" (a bare LogisticRegression on 3 float features, version 1
    in `<root>/plain1`) and each of `others` from `<root>/<name>1`, written by the caller."""
    import json

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from tests.gateway.test_app import write_twin

    X = np.random.default_rng(0).normal(size=(200, 3))
    write_twin(
        root / "plain1", "1", LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X, "classification"
    )
    endpoints = [
        {"name": n, "model": "m", "routes": [{"version": "1", "weight": 100, "onnx_dir": f"{n}1"}]}
        for n in ("plain", *others)
    ]
    routes = root / "routes.json"
    routes.write_text(json.dumps({"endpoints": endpoints}))
    return routes


@contextmanager
def store_gateways(home: Path, count: int, **env: str) -> Iterator[list[GatewayProcess]]:
    """`count` gateway processes on the routing table of the home's store (MLOPS_MCP_STORE_URL in `env`: one
    PostgreSQL store they share), each on a free port with its output in <home>/gateway-<port>.log (a pipe
    could fill up and stall it). Started together and ready once each /healthz answers; stopped with SIGTERM
    on exit (one the test killed is only reaped)."""
    started: list[GatewayProcess] = []
    try:
        for _ in range(count):
            port = _free_port()
            log = home / f"gateway-{port}.log"
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [PYTHON, "-m", "mcp_server", "gateway", "--port", str(port)],
                    cwd=REPO,
                    env=server_env(home, **env),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append(GatewayProcess(f"http://127.0.0.1:{port}", proc, log=log))
        deadline = time.monotonic() + 60
        for gateway in started:
            while not gateway.replica:
                try:
                    health = httpx.get(f"{gateway.url}/healthz", timeout=1)
                    if health.status_code == 200:
                        gateway.replica = str(health.json()["replica"])
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                alive = gateway.proc.poll() is None
                assert time.monotonic() < deadline and alive, f"a gateway did not start: {gateway.log}"
                time.sleep(0.1)
        yield started
    finally:
        for gateway in started:
            if gateway.proc.poll() is None:
                gateway.proc.send_signal(signal.SIGTERM)
        for gateway in started:
            try:
                gateway.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                gateway.proc.kill()
                gateway.proc.wait(timeout=5)
