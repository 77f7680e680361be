"""kill -9 in the middle of writes: the SQLite store stays intact and every transaction is all or nothing.

Real child processes, really killed with SIGKILL; no mocks.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mcp_server.core.errors import Conflict
from mcp_server.core.store import MetadataStore

REPO = Path(__file__).resolve().parents[2]
ROWS_PER_TX = 400

# Writes transactions of ROWS_PER_TX audit rows tagged "<round>-<n>", forever; reports each step and,
# at `pause_at` ("<n>:<half>") sleeps so the parent's SIGKILL lands inside it. A tiny page
# cache makes SQLite spill the uncommitted pages into the WAL before the commit, the hard case.
WRITER = """
import sys, time
from datetime import UTC, datetime
from sqlalchemy import insert
from mcp_server.core.store import MetadataStore
from mcp_server.core.store.models import AuditRecord

store = MetadataStore(sys.argv[1])
store.ensure_ready()
tag, rows, pause_at = sys.argv[2], int(sys.argv[3]), sys.argv[4]
n = 0
while True:
    print(f"begin {n}", flush=True)
    with store.transaction() as s:
        s.connection().exec_driver_sql("PRAGMA cache_size = 16")
        now = datetime.now(UTC)
        for half in range(2):
            s.execute(insert(AuditRecord), [
                {"time": now, "tool": f"{tag}-{n}", "client": "kill", "args_digest": "0" * 64,
                 "args_redacted": "x" * 1500, "outcome": "ok", "error": None, "duration_ms": float(i)}
                for i in range(rows // 2)
            ])
            print(f"flushed {n} {half}", flush=True)
            if f"{n}:{half}" == pause_at:
                time.sleep(30)
    print(f"commit {n}", flush=True)
    n += 1
"""

# Takes the write lock (as a backup would) and sleeps until killed.
HOLDER = """
import sys, time
from mcp_server.core.store import MetadataStore

store = MetadataStore(sys.argv[1])
with store.write_lock(timeout_s=10):
    print("locked", flush=True)
    time.sleep(60)
"""


def spawn(code: str, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(lines: queue.Queue[str], predicate: object, seen: list[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        seen.append(line)
        if predicate(line):  # type: ignore[operator]
            return line


@pytest.mark.parametrize(
    ("round_", "kill_on", "pause_at"),
    [
        (0, "flushed 3 0", "3:0"),  # half the rows of transaction 3 written, no commit
        (1, "flushed 3 1", "3:1"),  # all rows of transaction 3 written, commit not yet done
        (2, "begin 3", "none"),  # anywhere in transaction 3 (or just after it): no pause
    ],
)
def test_sigkill_mid_transaction_leaves_whole_transactions(
    tmp_path: Path, round_: int, kill_on: str, pause_at: str
) -> None:
    home = tmp_path / "home"
    store = MetadataStore.for_home(home)
    store.ensure_ready()  # the child finds a migrated store
    store.dispose()

    tag = f"r{round_}"
    proc, lines = spawn(WRITER, store.url, tag, str(ROWS_PER_TX), pause_at)
    seen: list[str] = []
    try:
        wait_for(lines, lambda line: line == "commit 2", seen)  # some transactions are committed
        wait_for(lines, lambda line: line == kill_on, seen)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    db = home / "metadata.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        groups = dict(conn.execute("SELECT tool, COUNT(*) FROM mlops_audit_log GROUP BY tool").fetchall())
    finally:
        conn.close()
    committed = {int(line.split()[1]) for line in seen if line.startswith("commit ")}
    assert committed >= {0, 1, 2}
    # Every transaction is wholly present or wholly absent...
    assert all(count == ROWS_PER_TX for count in groups.values()), groups
    # ...each one reported committed is there, and the one killed mid-way is not.
    assert {f"{tag}-{n}" for n in committed} <= set(groups)
    assert {f"{tag}-{n}" for n in range(3)} <= set(groups)
    if pause_at != "none":
        assert f"{tag}-3" not in groups
        assert len(groups) == 3

    # The store opens, recovers and takes new writes after the crash.
    store = MetadataStore.for_home(home)
    store.record_audit(tool="after", client=None, arguments={}, outcome="ok", error=None, duration_ms=0)
    assert store.audit_entries(limit=1)[0].tool == "after"
    store.dispose()


def test_a_killed_backup_holder_releases_the_write_lock(tmp_path: Path) -> None:
    store = MetadataStore.for_home(tmp_path / "home")
    store.ensure_ready()
    proc, lines = spawn(HOLDER, store.url)
    try:
        wait_for(lines, lambda line: line == "locked", [])
        with pytest.raises(Conflict, match="locked by a backup"), store.transaction(timeout_s=0.3):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        store.record_audit(tool="after", client=None, arguments={}, outcome="ok", error=None, duration_ms=0)
        assert [e.tool for e in store.audit_entries()] == ["after"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        store.dispose()
