"""Run the gateway in this process: `mlops-mcp gateway` (foreground) or the managed subprocess."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import MlopsError

if TYPE_CHECKING:
    from mcp_server.core.config import Settings

log = logging.getLogger("mlops_mcp.gateway")


def gateway_token(settings: Settings) -> str | None:
    secret = settings.gateway_token or settings.token
    return secret.get_secret_value() if secret is not None else None


def _advertised(host: str, port: int) -> str | None:
    """Where this replica listens, for deploy_status (None when the port is picked at bind time)."""
    import socket

    if not port:
        return None
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def run(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    routes_file: Path | None = None,
    parent_pid: int | None = None,
) -> None:
    import uvicorn

    from mcp_server.core.net import is_loopback
    from mcp_server.gateway.app import Gateway, HealthOpen, LoopbackHosts, build_app
    from mcp_server.gateway.limits import BodyDeadline

    host = host or settings.gateway_host
    port = settings.gateway_port if port is None else port
    token = gateway_token(settings)
    if not is_loopback(host) and not token:
        raise MlopsError(
            f"Refusing to bind the gateway to {host}: a non-loopback bind needs a bearer token; "
            "set MLOPS_MCP_GATEWAY_TOKEN (or MLOPS_MCP_TOKEN)."
        )
    store = None
    if routes_file is None:
        from mcp_server.core.store import MetadataStore

        url = settings.store_url.get_secret_value() if settings.store_url else None
        store = MetadataStore.for_home(settings.home, url)
        store.ensure_ready()
    gateway = Gateway(settings, store=store, routes_file=routes_file)
    gateway.replica.url = _advertised(host, port)
    app = build_app(gateway, parent_pid=parent_pid)
    served: Any = HealthOpen(app, token) if token else app
    if is_loopback(host):
        served = LoopbackHosts(served)  # DNS rebinding; a foreign Host learns nothing else
    # Outermost, so every early refusal above also closes a connection whose body is still trickling in.
    served = BodyDeadline(served, settings.gateway_body_timeout_s, gateway.metrics.body_timeout)
    config = uvicorn.Config(
        served,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)

    def request_exit() -> None:
        server.should_exit = True

    gateway.request_exit = request_exit
    log.warning("gateway serving on http://%s:%s (pid file under %s)", host, port, settings.home / "gateway")
    try:
        server.run()
    finally:
        if store is not None:
            store.dispose()
