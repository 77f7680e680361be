"""The always-on tools: `health_check` (is every backend answering?), `health_history`, `server_info` (what is
this server?) and `server_enable_tools` (add the tools its profile left out, without a restart). Their specs
are core/server_specs.py."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from mcp_server import __version__
from mcp_server.core.args import Cursor, Limit200
from mcp_server.core.context import AppContext, Ctx, app_context
from mcp_server.core.output import NextCursor
from mcp_server.core.registry import ToolSpec, enableable, installed_extras


class BackendHealth(BaseModel):
    name: str
    status: Literal["ok", "down"]
    latency_ms: float
    detail: str
    fix: str | None = Field(None, description="One sentence on how to make it answer, when it is down.")


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    backends: list[BackendHealth]
    checked_at: str = ""
    run_id: str | None = Field(
        default=None, description="This run's id in the health history; null if not stored."
    )
    stored: bool = Field(default=False, description="Whether this run was written to the health history.")
    note: str | None = Field(default=None, description="Why the run was not stored, when it was not.")


async def _probe_home(app: AppContext) -> tuple[bool, str, str]:
    def check() -> None:
        app.settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=app.settings.home, prefix=".health-"):
            pass

    try:
        await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
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
        await anyio.to_thread.run_sync(app.store.ping, abandon_on_cancel=True)
    except MlopsError as err:
        return (
            False,
            err.message,
            ("Start the database or fix MLOPS_MCP_STORE_URL; unset it to use SQLite in the home."),
        )
    return True, app.store.backend, ""


CORE_PROBES = {"home": _probe_home, "metadata_store": _probe_store}
STORE_PROBE = "metadata_store"
MAX_DETAIL_CHARS = 300


def _run_probe_in_own_loop(probe: Any, app: AppContext) -> tuple[bool, str, str]:
    # A worker thread with its own event loop: when the probe hangs (even inside a thread it did not
    # mark abandonable), its caller gives up at the deadline and this thread is left to finish alone.
    result: tuple[bool, str, str] = anyio.run(probe, app)
    return result


async def _one_probe(app: AppContext, name: str, probe: Any, timeout: float) -> BackendHealth:
    from mcp_server.core.errors import MlopsError

    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            ok, detail, fix = await anyio.to_thread.run_sync(
                _run_probe_in_own_loop, probe, app, abandon_on_cancel=True
            )
    except TimeoutError:
        ok, detail, fix = (
            False,
            f"did not answer within {timeout:g}s",
            f"Check that the {name} backend is up and reachable, or raise MLOPS_MCP_HEALTH_PROBE_TIMEOUT_S.",
        )
    except MlopsError as err:
        ok, detail, fix = False, err.message, f"Fix the {name} configuration named in the detail."
    except Exception:
        log.exception("health probe %s failed", name)
        ok, detail, fix = (
            False,
            "the probe failed unexpectedly",
            "Read the server's log on stderr for the probe's error.",
        )
    return BackendHealth(
        name=name,
        status="ok" if ok else "down",
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        detail=detail[:MAX_DETAIL_CHARS],
        fix=None if ok else (fix or f"Check the {name} backend.")[:MAX_DETAIL_CHARS],
    )


async def run_probes(app: AppContext, only: list[str] | None = None) -> list[BackendHealth]:
    """Every probe at once, each with its own deadline (health_probe_timeout_s), in registration order."""
    probes = {**CORE_PROBES, **app.probes}
    if only:
        probes = {k: v for k, v in probes.items() if k in only}
    timeout = app.settings.health_probe_timeout_s
    results: dict[str, BackendHealth] = {}

    async def run(name: str, probe: Any) -> None:
        results[name] = await _one_probe(app, name, probe, timeout)

    async with anyio.create_task_group() as tg:
        for name, probe in probes.items():
            tg.start_soon(run, name, probe)
    return [results[name] for name in probes]


def store_run(app: AppContext, backends: list[BackendHealth], source: str, checked_at: datetime) -> str:
    """Write one run (one row per component) and prune runs older than health_history_days."""
    from sqlalchemy import delete

    from mcp_server.core.store.models import HealthCheck

    run_id = uuid.uuid4().hex
    cutoff = checked_at - timedelta(days=app.settings.health_history_days)
    with app.store.transaction() as tx:
        tx.add_all(
            HealthCheck(
                run_id=run_id,
                checked_at=checked_at,
                source=source,
                component=b.name[:64],
                status=b.status,
                latency_ms=b.latency_ms,
                detail=b.detail,
                fix=b.fix,
            )
            for b in backends
        )
        tx.execute(delete(HealthCheck).where(HealthCheck.checked_at < cutoff))
    return run_id


async def run_health(app: AppContext, source: str = "tool") -> HealthReport:
    """Probe every backend, then store the run best-effort: a store that is down (or slow) never turns
    the answer into an error; the report says it was not stored and why."""
    checked_at = datetime.now(UTC)
    backends = await run_probes(app)
    overall: Literal["ok", "degraded"] = "ok" if all(b.status == "ok" for b in backends) else "degraded"
    report = HealthReport(status=overall, backends=backends, checked_at=checked_at.isoformat())
    store_health = next((b for b in backends if b.name == STORE_PROBE), None)
    if store_health is not None and store_health.status == "down":
        report.note = "not stored: the metadata store is down"
        return report
    try:
        with anyio.fail_after(app.settings.health_probe_timeout_s):
            report.run_id = await anyio.to_thread.run_sync(
                lambda: store_run(app, backends, source, checked_at), abandon_on_cancel=True
            )
        report.stored = True
    except TimeoutError:
        report.note = "not stored: the metadata store did not answer in time"
    except Exception as err:  # storing is best-effort; the probes' answer is what matters
        log.warning("health run not stored: %s", err)
        report.note = "not stored: the metadata store refused the write"
    return report


async def health_check(ctx: Ctx) -> HealthReport:
    """Check that every configured backend answers (home, metadata store, MLflow, lake, MongoDB, gateway...) with latency and a fix for each that is down; use when a tool fails with a backend error."""
    return await run_health(app_context(ctx), source="tool")


class ComponentSummary(BaseModel):
    component: str
    checks: int
    down: int
    uptime: float = Field(description="Share of checks in the window that were ok (0-1).")
    latency_ms_avg: float
    latency_ms_max: float
    last_status: Literal["ok", "down"]
    last_checked_at: str
    last_detail: str


class HealthEntry(BaseModel):
    checked_at: str
    component: str
    status: Literal["ok", "down"]
    latency_ms: float
    source: str
    detail: str


class HealthHistory(BaseModel):
    since: str
    components: list[ComponentSummary]
    entries: list[HealthEntry] = Field(description="Checks in the window, newest first.")
    total: int
    next_cursor: NextCursor = None


_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str | None, now: datetime) -> datetime:
    """'24h', '30m', '7d', '2w' before now, or an ISO-8601 time (UTC when it has no zone)."""
    from mcp_server.core.errors import InvalidInput

    text = (value or "24h").strip()
    m = _RELATIVE.match(text)
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "`since` must be a duration such as '24h', '30m' or '7d', or an ISO-8601 time."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_history(
    app: AppContext, component: str | None, since: datetime, offset: int, limit: int
) -> tuple[list[ComponentSummary], list[HealthEntry], int]:
    from sqlalchemy import case, func, select

    from mcp_server.core.store.models import HealthCheck as H

    where = [H.checked_at >= since]
    if component:
        where.append(H.component == component)
    with app.store.read_session() as s:
        stats = s.execute(
            select(
                H.component,
                func.count(),
                func.sum(case((H.status == "down", 1), else_=0)),
                func.avg(H.latency_ms),
                func.max(H.latency_ms),
            )
            .where(*where)
            .group_by(H.component)
            .order_by(H.component)
        ).all()
        summaries = []
        for name, checks, down, avg, mx in stats:
            last = s.execute(
                select(H)
                .where(*where, H.component == name)
                .order_by(H.checked_at.desc(), H.id.desc())
                .limit(1)
            ).scalar_one()
            summaries.append(
                ComponentSummary(
                    component=name,
                    checks=int(checks),
                    down=int(down or 0),
                    uptime=round((int(checks) - int(down or 0)) / max(int(checks), 1), 4),
                    latency_ms_avg=round(float(avg or 0.0), 2),
                    latency_ms_max=round(float(mx or 0.0), 2),
                    last_status=last.status,  # type: ignore[arg-type]
                    last_checked_at=last.checked_at.isoformat(),
                    last_detail=last.detail[:200],
                )
            )
        total = int(s.scalar(select(func.count()).select_from(H).where(*where)) or 0)
        rows = s.scalars(
            select(H).where(*where).order_by(H.checked_at.desc(), H.id.desc()).offset(offset).limit(limit)
        ).all()
        entries = [
            HealthEntry(
                checked_at=r.checked_at.isoformat(),
                component=r.component,
                status=r.status,  # type: ignore[arg-type]
                latency_ms=r.latency_ms,
                source=r.source,
                detail=r.detail[:200],
            )
            for r in rows
        ]
    return summaries, entries, total


async def health_history(
    ctx: Ctx,
    component: Annotated[
        str | None, Field(description="One component, e.g. 'mongodb' or 'metadata_store'; default all.")
    ] = None,
    since: Annotated[
        str | None, Field(description="Window start: '24h', '30m', '7d' or an ISO-8601 time; default 24h.")
    ] = None,
    cursor: Cursor = None,
    limit: Limit200 = 50,
) -> HealthHistory:
    """Show stored health_check runs over time: per-component uptime, latency and last status, plus the checks newest first."""
    from mcp_server.core.output import decode_cursor, encode_cursor

    app = app_context(ctx)
    now = datetime.now(UTC)
    start = parse_since(since, now)
    if component is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", component):
        from mcp_server.core.errors import InvalidInput

        raise InvalidInput("`component` must be a component name such as 'mongodb' or 'metadata_store'.")
    offset = decode_cursor(cursor)
    summaries, entries, total = await anyio.to_thread.run_sync(
        lambda: read_history(app, component, start, offset, limit)
    )
    more = offset + len(entries) < total
    return HealthHistory(
        since=start.isoformat(),
        components=summaries,
        entries=entries,
        total=total,
        next_cursor=encode_cursor(offset + len(entries)) if more else None,
    )


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
    can_enable: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Tools this server can add without a restart (server_enable_tools), by area.",
    )


def _can_enable(ctx: Ctx) -> list[ToolSpec]:
    return enableable(app_context(ctx).settings, ctx.mcp_server.specs)  # type: ignore[attr-defined]


async def server_info(ctx: Ctx) -> ServerInfo:
    """Describe this server: version, home, allowed roots, profile, enabled areas, installed extras and the tools server_enable_tools can add."""
    app = app_context(ctx)
    extras = installed_extras()
    can_enable: dict[str, list[str]] = {}
    for spec in _can_enable(ctx):
        can_enable.setdefault(spec.area, []).append(spec.name)
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
        can_enable=can_enable,
    )


class ToolsEnabled(BaseModel):
    enabled: list[str] = Field(description="Tools added by this call (already there: not listed).")
    tool_count: int = Field(description="Tools this server offers now.")
    message: str


async def server_enable_tools(
    ctx: Ctx,
    areas: Annotated[
        list[str] | None,
        Field(None, max_length=20, description="Areas whose every tool to add, e.g. ['registry', 'deploy']."),
    ] = None,
    tools: Annotated[
        list[str] | None,
        Field(None, max_length=100, description="Tool names to add, e.g. ['registry_rollback']."),
    ] = None,
) -> ToolsEnabled:
    """Add tools the profile left out (server_info lists them under can_enable) to this server without a restart; clients are told the tool list changed."""
    from mcp_server.core.errors import InvalidInput

    if not areas and not tools:
        raise InvalidInput("Name the areas or tools to add; server_info lists them under can_enable.")
    server = ctx.mcp_server
    offered = {spec.name: spec for spec in _can_enable(ctx)}
    have = set(server.specs)  # type: ignore[attr-defined]
    known_areas = {spec.area for spec in offered.values()} | {server.specs[n].area for n in have}  # type: ignore[attr-defined]
    unknown = [a for a in areas or [] if a not in known_areas] + [
        t for t in tools or [] if t not in offered and t not in have
    ]
    if unknown:
        why = " (this server is read-only: it adds no writes)" if app_context(ctx).settings.read_only else ""
        raise InvalidInput(
            f"Cannot add {unknown[:10]}{why}; server_info lists what can be added under can_enable."
        )
    picked = [s for s in offered.values() if s.area in set(areas or []) or s.name in set(tools or [])]
    if picked:
        server.enable(picked)  # type: ignore[attr-defined]
        await _tell_tools_changed(ctx)
    names = [s.name for s in picked]
    return ToolsEnabled(
        enabled=names,
        tool_count=len(server.specs),  # type: ignore[attr-defined]
        message=f"Added {len(names)} tool(s); call tools/list to see them."
        if names
        else "Nothing to add: those tools are already on.",
    )


async def _tell_tools_changed(ctx: Ctx) -> None:
    """notifications/tools/list_changed to the calling connection (handshake versions) and on every
    subscriptions/listen stream (2026-07-28). Other handshake sessions of an HTTP server see the tools at
    their next tools/list (docs/architecture.md, "Tools on demand")."""
    import contextlib
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")  # the SDK marks the handshake-era method deprecated for 2026-07-28
        await ctx.request_context.session.send_tool_list_changed()
    with contextlib.suppress(Exception):
        await ctx.notify_tools_changed()


log = logging.getLogger("mlops_mcp")
