"""`mlops-mcp health watch`: run the health probes on an interval, store each run, alert on changes.

An alert is sent when a component changes state (ok -> down, down -> ok) or when its latency crosses the
threshold (either way), never once per interval: the watcher remembers each component's last state
(in memory, and across restarts from the stored history, so a cron job running `--once` alerts only on
a change too). Each run also judges the enabled areas' watch rules (`WATCHES` in an area's module: the
monitor area's drift and accuracy rules), which alert once when a rule starts to hold and once when it
stops (their state is in the store). Alerts go to a webhook (an HTTP POST of JSON; the host must be on
the URL allowlist) or to a command run with an argument list (never a shell), with the alert as JSON on
its stdin.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread

from mcp_server.core.context import AppContext
from mcp_server.core.errors import InvalidInput
from mcp_server.core.net import check_url
from mcp_server.core.store.redact import mask_text

log = logging.getLogger("mlops_mcp")

# triggered/resolved: an area's watch rule (WATCHES in its module, e.g. the monitor area's) started or
# stopped holding.
Event = Literal["down", "recovered", "slow", "latency_normal", "triggered", "resolved"]
WEBHOOK_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Alert:
    component: str
    event: Event
    status: str
    previous: str
    latency_ms: float
    threshold_ms: float
    detail: str
    fix: str | None
    checked_at: str

    @property
    def summary(self) -> str:
        text = {
            "down": f"{self.component} is DOWN: {self.detail}",
            "recovered": f"{self.component} recovered ({self.latency_ms:g} ms)",
            "slow": f"{self.component} is slow: {self.latency_ms:g} ms > {self.threshold_ms:g} ms",
            "latency_normal": f"{self.component} latency back under {self.threshold_ms:g} ms "
            f"({self.latency_ms:g} ms)",
            "triggered": f"{self.component}: {self.detail}",
            "resolved": f"{self.component}: {self.detail}",
        }[self.event]
        return text + (f" Fix: {self.fix}" if self.event == "down" and self.fix else "")


@dataclass
class _State:
    status: str
    slow: bool


Notifier = Callable[[list[Alert]], Awaitable[None]]


def build_app(settings: Any) -> AppContext:
    """An AppContext with the probes of every enabled area (what the server's health_check runs)."""
    from mcp_server.core.registry import area_probes, enabled_areas, select

    app = AppContext.from_settings(settings)
    _specs, enabled, _disabled = select(settings.model_copy(update={"profile": "all"}))
    app.enabled_areas = enabled
    for area in enabled_areas(enabled):
        app.probes.update(area_probes(area))
    return app


class Watcher:
    """Runs the probes, stores each run and turns state changes into alerts."""

    def __init__(self, app: AppContext, threshold_ms: float | None = None) -> None:
        self.app = app
        self.threshold_ms = threshold_ms or app.settings.health_latency_threshold_ms
        self.last: dict[str, _State] = {}
        self._seeded = False

    def _seed_from_history(self) -> None:
        """The last stored state of each component (best-effort: an empty memory when the store is down)."""
        from sqlalchemy import func, select

        from mcp_server.core.store.models import HealthCheck as H

        with self.app.store.read_session() as s:
            newest = select(H.component, func.max(H.id).label("id")).group_by(H.component).subquery("newest")
            rows = s.execute(select(H).join(newest, H.id == newest.c.id)).scalars().all()
            for r in rows:
                self.last[r.component] = _State(
                    r.status, r.status == "ok" and r.latency_ms > self.threshold_ms
                )

    async def tick(self) -> tuple[Any, list[Alert]]:
        from mcp_server.core.server_tools import run_health

        if not self._seeded:
            self._seeded = True
            try:
                await anyio.to_thread.run_sync(self._seed_from_history, abandon_on_cancel=True)
            except Exception as err:  # the store may be the thing that is down
                log.warning("health watch: no stored state to start from (%s)", err)
        report = await run_health(self.app, source="watch")
        alerts: list[Alert] = []
        for b in report.backends:
            slow = b.status == "ok" and b.latency_ms > self.threshold_ms
            prev = self.last.get(b.name, _State("ok", False))
            event: Event | None = None
            if b.status != prev.status:
                event = "down" if b.status == "down" else "recovered"
            elif b.status == "ok" and slow != prev.slow:
                event = "slow" if slow else "latency_normal"
            if event is not None:
                alerts.append(
                    Alert(
                        component=b.name,
                        event=event,
                        status=b.status,
                        previous=prev.status,
                        latency_ms=b.latency_ms,
                        threshold_ms=self.threshold_ms,
                        # What an alert says leaves the process (webhook, command): masked once here.
                        detail=mask_text(b.detail),
                        fix=None if b.fix is None else mask_text(b.fix),
                        checked_at=report.checked_at,
                    )
                )
            self.last[b.name] = _State(b.status, slow)
        alerts.extend(await self._area_watches())
        return report, alerts

    async def _area_watches(self) -> list[Alert]:
        """Alerts of the enabled areas' watch rules (`WATCHES = {"name": async hook(app) -> [Alert]}`)."""
        import importlib

        from mcp_server.core.registry import enabled_areas

        alerts: list[Alert] = []
        for area in enabled_areas(list(getattr(self.app, "enabled_areas", []) or [])):
            for name, hook in getattr(importlib.import_module(area.module), "WATCHES", {}).items():
                try:
                    alerts.extend(await hook(self.app))
                except Exception as err:  # one area's rules failing leaves the probes' alerts intact
                    log.warning("health watch: %s failed: %s", name, type(err).__name__)
        return alerts


def webhook_notifier(url: str, allowlist: list[str]) -> Notifier:
    """POST {"source", "host", "alerts": [...]} as JSON; the URL's host must be on the allowlist."""
    check_url(url, allowlist)

    async def notify(alerts: list[Alert]) -> None:
        import httpx

        body = {
            "source": "mlops-mcp",
            "host": socket.gethostname(),
            "text": "; ".join(a.summary for a in alerts),
            "alerts": [asdict(a) for a in alerts],
        }
        try:
            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False) as client:
                response = await client.post(url, json=body)
            if response.status_code >= 400:
                log.warning("alert webhook answered HTTP %s", response.status_code)
        except httpx.HTTPError as err:
            log.warning("alert webhook failed: %s", type(err).__name__)

    return notify


def _run_command(args: list[str], payload: bytes) -> subprocess.CompletedProcess[bytes]:
    # An argument list and shell=False: nothing in an alert is ever interpreted by a shell.
    return subprocess.run(
        args,
        input=payload,
        stdout=subprocess.DEVNULL,
        timeout=COMMAND_TIMEOUT_S,
        shell=False,
        check=False,
        env=os.environ.copy(),
    )


def command_notifier(command: str) -> Notifier:
    """Run `command` (split into an argument list, no shell) once per alert with the component, the event
    and a summary as extra arguments and the alert as JSON on stdin."""
    try:
        argv = shlex.split(command)
    except ValueError:
        raise InvalidInput("--alert-command is not a valid command line (unbalanced quotes).") from None
    if not argv or argv[0].startswith("-"):
        raise InvalidInput("--alert-command must start with a program, not an option.")

    async def notify(alerts: list[Alert]) -> None:
        for alert in alerts:
            args = [*argv, alert.component, alert.event, alert.summary]
            payload = json.dumps(asdict(alert)).encode()
            try:
                done = await anyio.to_thread.run_sync(_run_command, args, payload, abandon_on_cancel=True)
                if done.returncode != 0:
                    log.warning("alert command exited with %s", done.returncode)
            except (OSError, subprocess.TimeoutExpired) as err:
                log.warning("alert command failed: %s", type(err).__name__)

    return notify


async def watch(
    app: AppContext,
    interval_s: float,
    notify: Notifier | None,
    *,
    count: int | None = None,
    threshold_ms: float | None = None,
    on_tick: Callable[[Any, list[Alert]], Awaitable[None] | None] | None = None,
) -> int:
    """Run `count` ticks (forever when None) `interval_s` apart; the number of alerts sent."""
    watcher = Watcher(app, threshold_ms)
    sent = 0
    n = 0
    while count is None or n < count:
        started = anyio.current_time()
        report, alerts = await watcher.tick()
        if alerts and notify is not None:
            await notify(alerts)
            sent += len(alerts)
        if on_tick is not None:
            maybe = on_tick(report, alerts)
            if maybe is not None:
                await maybe
        n += 1
        if count is not None and n >= count:
            break
        await anyio.sleep(max(0.0, interval_s - (anyio.current_time() - started)))
    return sent
