"""A registry write commits its own rows (alias history, lineage edges) and its audit row together, once,
and durably: a server killed with SIGKILL right after it answered has both rows in the store."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from sqlalchemy import event, select

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.store import MetadataStore
from mcp_server.core.store.models import LineageEdge, RegistryAliasEvent
from tests.conftest import PYTHON, assert_tool_error, server_env, structured
from tests.tools.registry.conftest import Trained


@contextmanager
def counted_commits(store: MetadataStore) -> Iterator[list[int]]:
    commits: list[int] = []

    def on_commit(_conn: Any) -> None:
        commits.append(1)

    event.listen(store.engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(store.engine, "commit", on_commit)


async def test_one_commit_per_registry_write(trained: Trained, settings: Settings) -> None:
    server = create_server(settings)
    store = server.app.store
    async with Client(server, mode="legacy") as client:
        reg = {"name": "one-commit", "source": trained.regressor_run}
        structured(await client.call_tool("registry_register_model", reg))  # warm: store opened, MLflow up
        with counted_commits(store) as commits:
            second = structured(await client.call_tool("registry_register_model", reg))
        assert len(commits) == 1  # two lineage edges and the audit row
        for version in ("1", second["version"]):
            with counted_commits(store) as commits:
                structured(
                    await client.call_tool(
                        "registry_set_alias", {"name": "one-commit", "alias": "champion", "version": version}
                    )
                )
            assert len(commits) == 1  # the history row and the audit row
        with counted_commits(store) as commits:
            structured(
                await client.call_tool(
                    "registry_rollback", {"name": "one-commit", "alias": "champion", "confirm": True}
                )
            )
        assert len(commits) == 1

        # A failed write is audited too, as an error, and leaves no history row.
        with counted_commits(store) as commits:
            assert_tool_error(
                await client.call_tool(
                    "registry_set_alias", {"name": "one-commit", "alias": "champion", "version": "99"}
                ),
                "No version 99",
            )
        assert len(commits) == 1  # the audit row alone
    server.app.close()

    entries = [e for e in store.audit_entries(limit=20) if '"one-commit"' in e.args_redacted]
    assert [(e.tool, e.outcome) for e in entries] == [
        ("registry_set_alias", "error"),
        ("registry_rollback", "ok"),
        ("registry_set_alias", "ok"),
        ("registry_set_alias", "ok"),
        ("registry_register_model", "ok"),
        ("registry_register_model", "ok"),
    ]
    assert "No version 99" in (entries[0].error or "")
    assert all(e.duration_ms > 0 and e.client for e in entries)
    with store.read_session() as session:
        history = session.scalars(
            select(RegistryAliasEvent.to_version)
            .where(RegistryAliasEvent.model == "one-commit")
            .order_by(RegistryAliasEvent.id)
        ).all()
    assert history == ["1", second["version"], "1"]
    store.dispose()


class StdioServer:
    """A server process spoken to line by line (JSON-RPC over its stdin/stdout), so that the test holds
    its pid and can kill it the moment an answer arrives."""

    def __init__(self, home: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "mcp_server", "serve", "--tools", "registry"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=server_env(home),
            cwd=cwd,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            reply = json.loads(self.lines.get(timeout=240))
            if reply.get("id") == self.next_id:
                return reply

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        reply = self.request("tools/call", {"name": tool, "arguments": arguments})
        result = reply["result"]
        assert not result.get("isError"), result
        structured_content: dict[str, Any] = result["structuredContent"]
        return structured_content


@pytest.mark.slow
def test_audit_and_history_rows_survive_sigkill_right_after_the_answer(
    trained: Trained, tmp_path: Path
) -> None:
    server = StdioServer(trained.home, tmp_path)
    try:
        server.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "killer", "version": "1"},
            },
        )
        server.send({"method": "notifications/initialized"})
        reg = server.call("registry_register_model", {"name": "sigkill", "source": trained.classifier_run})
        moved = server.call(
            "registry_set_alias",
            {"name": "sigkill", "alias": "champion", "version": reg["version"], "reason": "before the kill"},
        )
        os.kill(server.proc.pid, signal.SIGKILL)  # right after the answer: no shutdown, no flush, no atexit
    finally:
        server.proc.kill()
        server.proc.wait(timeout=30)
    assert server.proc.returncode == -signal.SIGKILL

    store = MetadataStore.for_home(trained.home)
    try:
        audit = {e.tool: e for e in store.audit_entries(limit=50) if '"sigkill"' in e.args_redacted}
        assert set(audit) == {"registry_register_model", "registry_set_alias"}
        assert all(e.outcome == "ok" and e.client == "killer" for e in audit.values())
        assert json.loads(audit["registry_set_alias"].args_redacted)["reason"] == "before the kill"
        with store.read_session() as session:
            events = session.scalars(
                select(RegistryAliasEvent).where(RegistryAliasEvent.model == "sigkill")
            ).all()
            edges = session.scalars(
                select(LineageEdge).where(LineageEdge.downstream == f"model:sigkill/{reg['version']}")
            ).all()
        assert [(e.action, e.to_version, e.reason, e.client) for e in events] == [
            ("set", reg["version"], "before the kill", "killer")
        ]
        assert moved["event"]["id"] == events[0].id
        assert f"run:{trained.classifier_run}" in {e.upstream for e in edges}
    finally:
        store.dispose()
