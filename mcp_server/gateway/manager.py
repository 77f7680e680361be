"""The managed gateway subprocess (contract 4): start, stop and status, with a pid file under <home>/gateway/.

`start` spawns `python -m mcp_server gateway --home ... --parent-pid <this pid>` with its output going to
`<home>/gateway/gateway.log`, waits until `/healthz` answers, and records pid, host and port in
`gateway.json`. The record stays until `stop`: a record whose process is gone means the gateway died and
`ensure` starts it again. A managed gateway ends when the server that started it ends (it watches its
parent); run `mlops-mcp gateway` under a supervisor for one that outlives the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput
from mcp_server.core.files import write_text_atomic

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext
    from mcp_server.core.gateway_client import GatewayClient

STATE_FILE = "gateway.json"
LOG_FILE = "gateway.log"
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # reaped here so a killed child is not a zombie
_THREAD_LOCK: dict[str, Any] = {}  # per home: flock does not exclude threads of one process sharing it


class GatewayStatus(BaseModel):
    running: bool = Field(description="True when the gateway answers /healthz.")
    state: str = Field(description="running, stopped, dead (started but its process is gone) or unhealthy.")
    pid: int | None = None
    url: str | None = Field(default=None, description="Base URL, e.g. http://127.0.0.1:8780.")
    started_at: str | None = None
    generation: int | None = Field(default=None, description="Routing table generation the gateway serves.")
    endpoints: int | None = None
    versions_loaded: int | None = None
    load_errors: dict[str, str] = Field(default_factory=dict)
    restarted: bool = Field(
        default=False, description="True when this call found the gateway dead and restarted it."
    )
    log: str = Field(default="<home>/gateway/gateway.log", description="Where the gateway writes its log.")
    message: str = ""


def folder(app: AppContext) -> Path:
    return app.settings.home / "gateway"


def _read_state(app: AppContext) -> dict[str, Any] | None:
    try:
        return dict(json.loads((folder(app) / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return None


def _write_state(app: AppContext, state: dict[str, Any]) -> None:
    write_text_atomic(folder(app) / STATE_FILE, json.dumps(state))


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie of another parent counts as dead
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_our_gateway(pid: int) -> bool:
    """Guard against a recycled pid: the process must be a `mcp_server gateway` command."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid in _CHILDREN
    return b"mcp_server" in cmdline and b"gateway" in cmdline


def token(app: AppContext) -> str | None:
    from mcp_server.gateway.server import gateway_token

    return gateway_token(app.settings)


def client(app: AppContext, url: str) -> GatewayClient:
    """The client of this home's gateway at `url` (core/gateway_client.py), with its token."""
    from mcp_server.core.gateway_client import client as gateway_client

    return gateway_client(url, token(app))


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    return f"http://{shown}:{port}"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # As uvicorn binds: connections of a killed gateway left in TIME_WAIT do not hold the port,
        # a live listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def status(app: AppContext) -> GatewayStatus:
    state = _read_state(app)
    if state is None:
        return GatewayStatus(
            running=False,
            state="stopped",
            message="The gateway is not started; deploy_gateway_start starts it.",
        )
    pid, url = int(state["pid"]), str(state["url"])
    base: dict[str, Any] = {"pid": pid, "url": url, "started_at": state.get("started_at")}
    if not _alive(pid):
        return GatewayStatus(
            running=False,
            state="dead",
            **base,
            message="The gateway was started but its process is gone; deploy_gateway_start restarts it.",
        )
    health = client(app, url).health()
    if health is None:
        return GatewayStatus(
            running=False,
            state="unhealthy",
            **base,
            message="The gateway process runs but /healthz does not answer; see its log.",
        )
    return GatewayStatus(
        running=True,
        state="running",
        generation=health.generation,
        endpoints=health.endpoints,
        versions_loaded=health.versions_loaded,
        load_errors=health.load_errors,
        **base,
    )


def _log_tail(app: AppContext, lines: int = 5) -> str:
    try:
        text = (folder(app) / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    relevant = [line for line in text if "error" in line.lower() or "refusing" in line.lower()]
    return (relevant or text)[-1][:300] if text else ""


@contextlib.contextmanager
def _control_lock(app: AppContext, timeout: float = 60.0) -> Iterator[None]:
    """One start/stop at a time per home, across threads and processes (an flock on <home>/gateway/.lock)."""
    import fcntl
    import threading

    out = folder(app)
    out.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK.setdefault(str(out), threading.Lock()), open(out / ".lock", "a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Conflict("Another call is starting or stopping the gateway; try again.") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def start(app: AppContext, host: str | None = None, port: int | None = None) -> GatewayStatus:
    """Start the gateway (or return the running one); restarts it when its record says it died."""
    with _control_lock(app):
        return _start(app, host, port)


def _start(app: AppContext, host: str | None, port: int | None) -> GatewayStatus:
    current = status(app)
    if current.running:
        return current
    restarted = current.state == "dead"
    if current.state == "unhealthy" and current.pid is not None:
        _stop(app)
    settings = app.settings
    state = _read_state(app) if restarted else None
    host = host or (state or {}).get("host") or settings.gateway_host
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(
            f"The gateway host {host!r} is not an address this machine can bind; give an IP address such as "
            "127.0.0.1 (loopback) or 0.0.0.0 (every interface, with the gateway token)."
        ) from None
    if port is None:
        port = int((state or {}).get("port") or settings.gateway_port)
    if port == 0:
        port = _free_port(host)
    from mcp_server.core.net import is_loopback

    if not is_loopback(host) and not token(app):
        raise Conflict(
            f"Refusing to bind the gateway to {host}: a non-loopback bind needs a bearer token; "
            "set MLOPS_MCP_GATEWAY_TOKEN (or MLOPS_MCP_TOKEN)."
        )
    if _port_taken(host, port):
        raise Conflict(f"Port {port} on {host} is in use; pass another port or stop what listens there.")
    app.store.ensure_ready()  # migrate here, once, rather than racing in the child
    out = folder(app)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(_settings_env(settings))
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    command = [
        sys.executable,
        "-m",
        "mcp_server",
        "gateway",
        "--home",
        str(settings.home),
        "--host",
        host,
        "--port",
        str(port),
        "--parent-pid",
        str(os.getpid()),
    ]
    with open(out / LOG_FILE, "ab") as log:
        log.write(f"--- {datetime.now(UTC).isoformat()} starting on {host}:{port}\n".encode())
        log.flush()
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=str(out),
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    url = _url(host, port)
    _write_state(
        app,
        {
            "pid": child.pid,
            "host": host,
            "port": port,
            "url": url,
            "started_at": datetime.now(UTC).isoformat(),
        },
    )
    healthy = client(app, url).wait_healthy(
        settings.gateway_start_timeout_s, alive=lambda: child.poll() is None
    )
    if healthy is not None:
        result = status(app)
        result.restarted = restarted
        result.message = "Restarted the gateway, which had died." if restarted else "The gateway is running."
        return result
    if child.poll() is not None:
        _CHILDREN.pop(child.pid, None)
        (out / STATE_FILE).unlink(missing_ok=True)
        tail = _log_tail(app)
        raise BackendUnavailable(
            f"The gateway exited at start (code {child.returncode}){': ' + tail if tail else ''}; "
            "see <home>/gateway/gateway.log."
        )
    _terminate(child.pid)
    (out / STATE_FILE).unlink(missing_ok=True)
    raise BackendUnavailable(
        f"The gateway did not answer /healthz within {settings.gateway_start_timeout_s:g}s; "
        "see <home>/gateway/gateway.log."
    )


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL when the process is still there after `timeout` seconds."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if not _alive(pid):
            break
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=1)


def stop(app: AppContext) -> GatewayStatus:
    """Stop the gateway cleanly (SIGTERM: in-flight requests finish; SIGKILL after 10 s)."""
    with _control_lock(app):
        return _stop(app)


def _stop(app: AppContext) -> GatewayStatus:
    state = _read_state(app)
    if state is None:
        return GatewayStatus(running=False, state="stopped", message="The gateway was not running.")
    pid = int(state["pid"])
    if _alive(pid) and _is_our_gateway(pid):
        _terminate(pid)
        message = f"Stopped the gateway (pid {pid})."
    else:
        message = "The gateway's process was already gone; cleared its record."
    (folder(app) / STATE_FILE).unlink(missing_ok=True)
    return GatewayStatus(running=False, state="stopped", pid=pid, url=state.get("url"), message=message)


def ensure(app: AppContext) -> GatewayStatus:
    """The running gateway; restarted when it was started and died. Not started -> Conflict."""
    current = status(app)
    if current.running:
        return current
    if current.state == "stopped":
        raise Conflict("The gateway is not running; start it with deploy_gateway_start.")
    return start(app)


def _settings_env(settings: Any) -> dict[str, str]:
    """The settings the child needs, as MLOPS_MCP_* variables (tests build Settings in code, not env):
    the home, the store and tokens, the log level and every gateway_* / rollout_* / monitor_* setting."""
    from pydantic import SecretStr

    env: dict[str, str] = {"MLOPS_MCP_HOME": str(settings.home)}
    names = ["store_url", "token", "log_level"] + [
        n for n in type(settings).model_fields if n.startswith(("gateway_", "rollout_", "monitor_"))
    ]
    for name in names:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"MLOPS_MCP_{name.upper()}"] = str(value)
    return env
