"""The two always-on tools: `health_check` (is every backend answering?) and `server_info` (what is this server?)."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from mcp_server import __version__
from mcp_server.core.context import AppContext, Ctx, app_context
from mcp_server.core.registry import ToolSpec, installed_extras


class BackendHealth(BaseModel):
    name: str
    status: Literal["ok", "down"]
    latency_ms: float
    detail: str
    fix: str | None = Field(None, description="One sentence on how to make it answer, when it is down.")


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    backends: list[BackendHealth]


async def _probe_home(app: AppContext) -> tuple[bool, str, str]:
    def check() -> None:
        app.settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=app.settings.home, prefix=".health-"):
            pass

    try:
        await anyio.to_thread.run_sync(check)
    except OSError as err:
        return (
            False,
            f"the home folder is not writable ({err.strerror})",
            ("Point MLOPS_MCP_HOME (or --home) at a folder this user can write."),
        )
    return True, "writable", ""


async def _probe_store(app: AppContext) -> tuple[bool, str, str]:
    from mcp_server.core.errors import MlopsError

    try:
        await anyio.to_thread.run_sync(app.store.ping)
    except MlopsError as err:
        return (
            False,
            err.message,
            ("Start the database or fix MLOPS_MCP_STORE_URL; unset it to use SQLite in the home."),
        )
    return True, app.store.backend, ""


CORE_PROBES = {"home": _probe_home, "metadata_store": _probe_store}


async def health_check(ctx: Ctx) -> HealthReport:
    """Check that every configured backend answers (home folder, metadata store, each area's services); use when a tool fails with a backend error."""
    app = app_context(ctx)
    backends: list[BackendHealth] = []
    for name, probe in {**CORE_PROBES, **app.probes}.items():
        started = time.perf_counter()
        ok, detail, fix = await probe(app)
        backends.append(
            BackendHealth(
                name=name,
                status="ok" if ok else "down",
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
                detail=detail,
                fix=None if ok else fix,
            )
        )
    overall: Literal["ok", "degraded"] = "ok" if all(b.status == "ok" for b in backends) else "degraded"
    return HealthReport(status=overall, backends=backends)


class ServerInfo(BaseModel):
    version: str
    home: str
    roots: list[str]
    profile: str
    read_only: bool
    enabled_areas: list[str]
    installed_extras: list[str]
    missing_extras: list[str]
    pid: int


async def server_info(ctx: Ctx) -> ServerInfo:
    """Describe this server: version, home, allowed roots, profile, enabled areas and installed extras."""
    app = app_context(ctx)
    extras = installed_extras()
    return ServerInfo(
        version=__version__,
        home=str(app.settings.home),
        roots=[str(r) for r in app.workspace.roots],
        profile=app.settings.profile,
        read_only=app.settings.read_only,
        enabled_areas=app.enabled_areas,
        installed_extras=sorted(k for k, v in extras.items() if v),
        missing_extras=sorted(k for k, v in extras.items() if not v),
        pid=os.getpid(),
    )


TOOLS = (
    ToolSpec(health_check, core=True, read_only=True, idempotent=True),
    ToolSpec(server_info, core=True, read_only=True, idempotent=True),
)
