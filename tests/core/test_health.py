"""health_check (concurrent probes, each bounded; every run stored best-effort), health_history, and
`mlops-mcp health watch` alerts (one per state change, to a local webhook or a command)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_server.core import health_watch, server_tools
from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from mcp_server.core.errors import InvalidInput
from tests.conftest import REPO, assert_tool_error, server_env, structured


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hook:
    """A local webhook that records every POST body."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


# -- health_check ---------------------------------------------------------------------------------


async def test_probes_run_concurrently_and_a_hung_one_does_not_stall_the_rest(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", health_probe_timeout_s=1.0)
    server = create_server(settings)

    async def hung(app: AppContext) -> tuple[bool, str, str]:
        await anyio.to_thread.run_sync(time.sleep, 3)  # a blocking call that cannot be cancelled
        return True, "never", ""

    async def half_second(app: AppContext) -> tuple[bool, str, str]:
        await anyio.sleep(0.5)
        return True, "slow but fine", ""

    server.app.probes.update({"hung": hung, "slow_a": half_second, "slow_b": half_second})
    async with Client(server, mode="legacy") as client:
        structured(await client.call_tool("health_check", {}))  # first use opens and migrates the store
        started = time.perf_counter()
        health = structured(await client.call_tool("health_check", {}))
        elapsed = time.perf_counter() - started
    server.app.close()
    by_name = {b["name"]: b for b in health["backends"]}
    assert elapsed < 2.5, elapsed  # not 3 s, and not 0.5 + 0.5 s in a row
    assert by_name["hung"]["status"] == "down" and "within 1s" in by_name["hung"]["detail"]
    assert "MLOPS_MCP_HEALTH_PROBE_TIMEOUT_S" in by_name["hung"]["fix"]
    assert by_name["slow_a"]["status"] == by_name["slow_b"]["status"] == "ok"
    assert 450 < by_name["slow_a"]["latency_ms"] < 1500
    assert by_name["home"]["status"] == by_name["metadata_store"]["status"] == "ok"
    assert health["status"] == "degraded" and health["stored"] is True
    # Registration order is kept.
    assert [b["name"] for b in health["backends"]][:2] == ["home", "metadata_store"]


async def test_a_down_metadata_store_is_reported_not_raised(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        profile="all",
        store_url=f"postgresql+psycopg://ops:pw-123@127.0.0.1:{closed_port()}/mlops",
        health_probe_timeout_s=8.0,
    )
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        health = structured(await client.call_tool("health_check", {}))
        history = await client.call_tool("health_history", {})
    server.app.close()
    by_name = {b["name"]: b for b in health["backends"]}
    assert by_name["metadata_store"]["status"] == "down"
    assert "MLOPS_MCP_STORE_URL" in by_name["metadata_store"]["fix"]
    assert by_name["home"]["status"] == by_name["lake"]["status"] == "ok"
    assert health["stored"] is False and health["run_id"] is None
    assert health["note"] == "not stored: the metadata store is down"
    assert "pw-123" not in json.dumps(health)
    assert_tool_error(history)


async def test_a_failed_write_of_the_run_never_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(server_tools, "store_run", refuse)
    server = create_server(Settings(home=tmp_path / "home", profile="all"))
    async with Client(server, mode="legacy") as client:
        health = structured(await client.call_tool("health_check", {}))
    server.app.close()
    assert health["status"] == "ok" and health["stored"] is False
    assert health["note"] == "not stored: the metadata store refused the write"


# -- health_history -------------------------------------------------------------------------------


async def test_history_over_time(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all")
    server = create_server(settings)
    app = server.app
    calls = {"n": 0}

    async def flaky(_: AppContext) -> tuple[bool, str, str]:
        calls["n"] += 1
        return (calls["n"] != 2, f"call {calls['n']}", "Restart the flaky service.")

    app.probes["flaky"] = flaky
    # An old run past the retention window is pruned by the next run.
    old = datetime.now(UTC) - timedelta(days=settings.health_history_days + 1)
    app.store.ensure_ready()
    server_tools.store_run(
        app,
        [server_tools.BackendHealth(name="flaky", status="ok", latency_ms=1.0, detail="old")],
        "watch",
        old,
    )
    async with Client(server, mode="legacy") as client:
        runs = [structured(await client.call_tool("health_check", {})) for _ in range(3)]
        assert all(r["stored"] for r in runs) and len({r["run_id"] for r in runs}) == 3
        history = structured(await client.call_tool("health_history", {"component": "flaky"}))
        assert history["total"] == 3
        (summary,) = history["components"]
        assert (summary["checks"], summary["down"], summary["uptime"], summary["last_status"]) == (
            3,
            1,
            0.6667,
            "ok",
        )
        assert [e["status"] for e in history["entries"]] == ["ok", "down", "ok"]  # newest first
        assert [e["detail"] for e in history["entries"]] == ["call 3", "call 2", "call 1"]
        assert summary["latency_ms_max"] >= summary["latency_ms_avg"] > 0

        everything = structured(await client.call_tool("health_history", {"limit": 4}))
        n_components = len(runs[0]["backends"])
        assert everything["total"] == 3 * n_components and len(everything["entries"]) == 4
        assert {c["component"] for c in everything["components"]} == {b["name"] for b in runs[0]["backends"]}
        page2 = structured(
            await client.call_tool("health_history", {"limit": 4, "cursor": everything["next_cursor"]})
        )
        assert page2["entries"][0] != everything["entries"][-1]

        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert structured(await client.call_tool("health_history", {"since": future}))["total"] == 0
        assert (
            structured(await client.call_tool("health_history", {"since": "7d"}))["total"] == 3 * n_components
        )
        assert_tool_error(await client.call_tool("health_history", {"since": "yesterday"}), "since")
        assert_tool_error(await client.call_tool("health_history", {"component": "a b;"}), "component")
    server.app.close()


def test_parse_since() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert server_tools.parse_since("30m", now) == now - timedelta(minutes=30)
    assert server_tools.parse_since(None, now) == now - timedelta(hours=24)
    assert server_tools.parse_since("2026-01-01T00:00:00", now) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        server_tools.parse_since("-5h", now)


# -- health watch ---------------------------------------------------------------------------------


async def test_watch_alerts_once_when_a_backend_goes_down_and_once_when_it_comes_back(
    tmp_path: Path, hook: Hook
) -> None:
    import mongomock

    from mcp_server.tools.mongo import adapter

    settings = Settings(
        home=tmp_path / "home",
        mongo_uri=f"mongodb://127.0.0.1:{closed_port()}/",
        mongo_timeout_s=1.0,
        health_probe_timeout_s=3.0,
        health_latency_threshold_ms=60_000,
    )
    app = health_watch.build_app(settings)
    up = mongomock.MongoClient()
    down = adapter.build_client(settings)  # real pymongo against a closed port
    app._clients[adapter.CLIENT_KEY] = up
    states: list[str] = []

    async def flip(report: Any, alerts: list[Any]) -> None:
        states.append({b.name: b.status for b in report.backends}["mongodb"])
        n = len(states)
        app._clients[adapter.CLIENT_KEY] = down if n in (2, 3, 4) else up  # down for ticks 3-5

    notify = health_watch.webhook_notifier(hook.url, settings.url_allowlist)
    sent = await health_watch.watch(app, 0.05, notify, count=7, on_tick=flip)
    app.close()
    down.close()
    assert states == ["ok", "ok", "down", "down", "down", "ok", "ok"]
    assert sent == 2
    assert [[(a["component"], a["event"]) for a in p["alerts"]] for p in hook.posts] == [
        [("mongodb", "down")],
        [("mongodb", "recovered")],
    ]
    first = hook.posts[0]
    assert first["source"] == "mlops-mcp" and "mongodb is DOWN" in first["text"]
    assert "Start MongoDB at 127.0.0.1" in first["alerts"][0]["fix"]
    # Every run was stored.
    with app.store.read_session() as s:
        from sqlalchemy import func, select

        from mcp_server.core.store.models import HealthCheck

        runs = s.scalar(select(func.count(func.distinct(HealthCheck.run_id))))
    assert runs == 7


async def test_latency_crossing_the_threshold_alerts_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    app = health_watch.build_app(settings)
    delay = {"s": 0.0}

    async def service(_: AppContext) -> tuple[bool, str, str]:
        await anyio.sleep(delay["s"])
        return True, "answers", ""

    app.probes = {"svc": service}  # only this component: the others' latency is not under test
    watcher = health_watch.Watcher(app, threshold_ms=200)
    events = []
    for d in (0.0, 0.3, 0.3, 0.0, 0.0):
        delay["s"] = d
        _report, alerts = await watcher.tick()
        events.append([(a.component, a.event) for a in alerts if a.component == "svc"])
    app.close()
    assert events == [[], [("svc", "slow")], [], [("svc", "latency_normal")], []]


def test_webhook_must_be_on_the_allowlist() -> None:
    with pytest.raises(InvalidInput, match="allowlist"):
        health_watch.webhook_notifier("https://hooks.example.com/x", ["127.0.0.1"])
    with pytest.raises(InvalidInput, match="metadata"):
        health_watch.webhook_notifier("http://169.254.169.254/latest", ["169.254.169.254"])
    with pytest.raises(InvalidInput, match="program"):
        health_watch.command_notifier("--help")


async def test_alert_command_gets_an_argument_list_never_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    script = tmp_path / "record.py"
    script.write_text(
        "import json, sys\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'stdin': json.load(sys.stdin)}) + '\\n')\n"
    )
    notify = health_watch.command_notifier(f"{sys.executable} {script} --tag 'ops team'")
    alert = health_watch.Alert(
        component="mongodb",
        event="down",
        status="down",
        previous="ok",
        latency_ms=12.0,
        threshold_ms=2000.0,
        detail="x; touch pwned && $(id)",
        fix="Start it.",
        checked_at="2026-01-01T00:00:00+00:00",
    )
    await notify([alert])
    (line,) = out.read_text().splitlines()
    got = json.loads(line)
    assert got["argv"] == [
        "--tag",
        "ops team",
        "mongodb",
        "down",
        "mongodb is DOWN: x; touch pwned && $(id) Fix: Start it.",
    ]
    assert got["stdin"]["detail"] == "x; touch pwned && $(id)"
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


@pytest.mark.slow
def test_cli_health_watch_posts_one_alert_and_cron_runs_remember(
    tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcp_server.cli import main

    home = tmp_path / "home"
    settings_env = {
        "MLOPS_MCP_MONGO_URI": f"mongodb://127.0.0.1:{closed_port()}/",
        "MLOPS_MCP_MONGO_TIMEOUT_S": "1",
        "MLOPS_MCP_HEALTH_PROBE_TIMEOUT_S": "3",
    }
    base = ["health", "watch", "--alert-webhook", hook.url]
    # The real command in its own process: three runs, one alert.
    run = subprocess.run(
        [sys.executable, "-m", "mcp_server", *base, "--interval", "0.2", "--count", "3"],
        env=server_env(home, **settings_env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3 and all("mongodb=down" in line and "degraded" in line for line in lines)
    assert run.stderr.count("ALERT mongodb is DOWN") == 1
    assert [[a["event"] for a in p["alerts"]] for p in hook.posts] == [["down"]]

    # A cron-style single run (in this process) starts from the stored state: still down, no new alert.
    for key, value in {**settings_env, "MLOPS_MCP_HOME": str(home)}.items():
        monkeypatch.setenv(key, value)
    assert main([*base, "--once"]) == 0
    assert len(hook.posts) == 1
    capsys.readouterr()
    assert main(["health", "check"]) == 1
    assert "Fix: Start MongoDB at 127.0.0.1" in capsys.readouterr().out
    assert main([*base[:-1], "http://example.com/hook", "--interval", "1"]) == 2
    assert "not on the URL allowlist" in capsys.readouterr().err
