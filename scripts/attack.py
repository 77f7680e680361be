#!/usr/bin/env python
"""Stress run of the attack list of issue #22 against the real server over stdio.

    .venv/bin/python scripts/attack.py [--rounds N] [--seed S] [--groups a,b] [--keep]

It makes a temporary folder with a home and a separate workspace root, starts `python -m mcp_server serve
--profile all` as a subprocess (MLOPS_MCP_HOME / MLOPS_MCP_ROOTS) and talks to it with the official MCP
client (`mcp.client.stdio.stdio_client` + `Client`, whose session is a `ClientSession`), capturing the
server's stderr to a file. Inputs the client cannot encode (a lone surrogate, NaN, JSON nested 100,000
deep) go to a second server on the same home over raw JSON-RPC lines.

Every call is classified:

  ok        a result, or an isError result (one short message)
  internal  the text says "internal error" (or a JSON-RPC internal error)
  crash     the server died, stopped answering (server_info within 5 s after each case), or the call got
            no answer within the per-call timeout; the server is then restarted
  escape    a file appeared or changed outside the home and the root, a file of the server's own state
            changed during the hostile-output cases, an archive the server did not make verified or was
            restored in place, or the content of a file outside the roots came back
  leak      a planted secret in a result, the audit log, stderr or a stored file; a Python traceback in a
            result; an absolute path of the temporary home in a result (server_info excepted)

Notes that are not in the five counts: "late" (a deadline error long after the deadline, or the server
still burning CPU 2 s after a deadline error) and "wordy" (an isError text over 600 characters).

Groups (issue #22's attack list): paths, own_state, deep_json, bomb, regex, secrets, numbers, strftime,
backups, concurrent (one suite created at once by four processes), fuzz (every tool of tools/list,
--rounds calls each, seeded by --seed). A memory watchdog kills a server whose process tree holds more than
--mem-limit-gb (the machine has no swap); that counts as a crash.

Per-case lines go to <temp>/logs/cases.jsonl and the servers' stderr to <temp>/logs/ (kept with --keep).
The last line is one JSON object: {"cases", "crashes", "internal_errors", "escapes", "leaks", "seconds", ...}
("dropped_requests" counts the crashes where the server still answered server_info: a request that never
got an answer).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import queue
import random
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TRACEBACK = "Traceback (most recent call last)"
MB = 1024**2
COUNTED = ("crash", "internal", "escape", "leak")
NOTES = ("late", "wordy")

# -- small helpers -------------------------------------------------------------------------------------


def short(value: Any, limit: int = 300) -> str:
    """A reproducible but bounded repr of arguments: long strings are shown as 'x'*N."""

    def shrink(v: Any, depth: int = 0) -> Any:
        if depth > 6:
            return "…"
        if isinstance(v, str) and len(v) > 80:
            head = v[:1]
            if v == head * len(v):
                return f"<{head!r}*{len(v)}>"
            return v[:60] + f"…<{len(v)} chars>"
        if isinstance(v, list):
            out = [shrink(x, depth + 1) for x in v[:8]]
            return [*out, f"…<{len(v)} items>"] if len(v) > 8 else out
        if isinstance(v, dict):
            return {str(k)[:60]: shrink(x, depth + 1) for k, x in list(v.items())[:12]}
        return v

    text = value if isinstance(value, str) else json.dumps(shrink(value), ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"…<{len(text)} chars>"


def proc_children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids[ppid].append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    kids = proc_children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    return total


def kill_tree(pid: int) -> None:
    for p in reversed(tree(pid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def file_digest(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as err:
        return f"<{type(err).__name__}>"


def snapshot(paths: list[Path], exclude: tuple[Path, ...] = ()) -> dict[str, str]:
    """path -> digest (or link target) of every file and link under `paths`."""
    out: dict[str, str] = {}
    for top in paths:
        if top.is_symlink() or top.is_file():
            out[str(top)] = ("link:" + os.readlink(top)) if top.is_symlink() else file_digest(top)
            continue
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            d = Path(dirpath)
            if any(d == e or e in d.parents for e in exclude):
                dirnames[:] = []
                continue
            dirnames[:] = [n for n in dirnames if not any(d / n == e for e in exclude)]
            for name in filenames + [n for n in dirnames if (d / n).is_symlink()]:
                p = d / name
                if any(p == e for e in exclude):
                    continue
                out[str(p)] = ("link:" + os.readlink(p)) if p.is_symlink() else file_digest(p)
            out[str(d) + "/"] = "dir"
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changes = []
    for path in sorted(set(before) | set(after)):
        if path not in before:
            changes.append(f"new {path}")
        elif path not in after:
            changes.append(f"gone {path}")
        elif before[path] != after[path]:
            changes.append(f"changed {path}")
    return changes


# -- data the cases use ---------------------------------------------------------------------------------


@dataclass
class Paths:
    base: Path
    hbox: Path  # the home's parent: the restore root, part of the home's zone
    home: Path
    root: Path
    outside: Path
    sibling: Path
    cwd: Path
    logs: Path
    other_home: Path
    tag: str


def make_paths(base: Path) -> Paths:
    tag = secrets.token_hex(4)
    p = Paths(
        base=base,
        hbox=base / "h",
        home=base / "h" / "home",
        root=base / "root",
        outside=base / "outside",
        sibling=base / "root-evil",  # shares the prefix of /root
        cwd=base / "cwd",
        logs=base / "logs",
        other_home=base / "other" / "home",
        tag=tag,
    )
    for d in (p.home, p.root, p.outside, p.sibling, p.cwd, p.logs):
        d.mkdir(parents=True, exist_ok=True)
    return p


def deep_text(levels: int, kind: str = "array") -> str:
    return "[" * levels + "1" + "]" * levels if kind == "array" else '{"a": ' * levels + "1" + "}" * levels


def write_deep(path: Path, levels: int, kind: str) -> None:
    rows = [json.dumps({"id": 1, "tag": "[[[["}), json.dumps({"id": 2, "tag": "x"})]
    row = '{"id": 3, "tag": ' + deep_text(levels, kind) + "}"
    text = (
        "\n".join([*rows, row]) + "\n"
        if path.suffix in (".jsonl", ".ndjson")
        else "[" + ",\n".join([*rows, row]) + "]"
    )
    path.write_text(text)


def write_bomb(path: Path, rows: int, value_bytes: int) -> None:
    """As tests/tools/quality/test_bombs.py: one string repeated `rows` times, dictionary-encoded, zstd."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    value = pa.array(["a" * value_bytes])
    strings = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), value)
    table = pa.table({"k": pa.array([7] * rows), "s": strings})
    pq.write_table(table, path, compression="zstd", use_dictionary=True, store_schema=False)


def make_data(p: Paths, marker: str) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(22)
    n = 120
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "amount": rng.normal(100, 20, n).round(2),
            "at": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
            "cat": rng.choice(["a", "b", "c"], n),
            "code": [f"AB-{i:04d}" for i in range(n)],
        }
    )
    df["label"] = (df["amount"] > 100).astype(int)
    df.to_csv(p.root / "rows.csv", index=False)
    df.to_parquet(p.root / "rows.parquet", index=False)
    df.to_csv(p.root / "ok.csv", index=False)
    (p.root / "sub").mkdir(exist_ok=True)
    df.head(10).to_csv(p.root / "sub" / "f.csv", index=False)
    pd.DataFrame({"day": ["2024-01-31", "2024-02-01", "31/01/2024"]}).to_csv(
        p.root / "dates.csv", index=False
    )
    evil = "a" * 40 + "!"
    pd.DataFrame({"text": [evil] * 5, "j": [json.dumps({"k": evil})] * 5}).to_csv(
        p.root / "evil.csv", index=False
    )
    # JSON nested too deep (#22 item 2), arrays and objects, at 100,000 and 2,000 levels.
    for levels in (100_000, 2_000):
        for kind in ("array", "object"):
            for suffix in (".jsonl", ".json"):
                write_deep(p.root / f"deep_{kind}_{levels}{suffix}", levels, kind)
    # The Parquet bomb (#22 item 3): 20,000 rows of one 1 MB string, a few KB on disk, ~20 GB decoded.
    write_bomb(p.root / "bomb.parquet", 20_000, 1 * MB)
    # What must never come back: a file outside the roots, and one in a prefix sibling of the root.
    for folder in (p.outside, p.sibling):
        (folder / "secret.csv").write_text(f"id,secret\n1,{marker}\n2,{marker}\n")
    (p.outside / "sub").mkdir(exist_ok=True)
    (p.outside / "sub" / "x.csv").write_text(f"id,secret\n1,{marker}\n")
    # Links in the root that leave it, and links into the server's own state.
    os.symlink(p.outside, p.root / "link_out")
    os.symlink(p.outside / "secret.csv", p.root / "link_file.csv")
    os.symlink(p.home / "lake", p.root / "link_lake")
    os.symlink(p.home, p.root / "link_home")


# -- backup archives the server did not make -------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes, **kw: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data))


def _manifest(backup_id: str, members: list | None = None) -> bytes:
    return json.dumps({"format": "mlops-mcp-backup/1", "id": backup_id, "members": members or []}).encode()


def write_sidecar(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def new_backup_id(i: int) -> str:
    return f"bk-20200101T0000{i:02d}Z-{secrets.token_hex(3)}"


def evil_archives(folder: Path, p: Paths) -> dict[str, str]:
    """kind -> backup id of hand-made archives (each with a matching .sha256) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    kinds = [
        "dotdot",
        "absolute",
        "symlink",
        "hardlink",
        "clash",
        "manifest_not_json",
        "manifest_deep",
        "manifest_wrong_id",
        "no_manifest",
        "truncated",
        "not_gzip",
        "gzip_bomb",
        "many_members",
        "metadata_swap",
    ]
    for i, kind in enumerate(kinds):
        bid = new_backup_id(i)
        ids[kind] = bid
        path = folder / f"{bid}.tar.gz"
        if kind == "not_gzip":
            path.write_bytes(os.urandom(4096))
        elif kind == "gzip_bomb":
            # One member of 2 GB of zeros: multi-member gzip of the same compressed 64 MB block (~2 MB).
            header = tarfile.TarInfo("files/big.bin")
            header.size = 2 * 1024**3
            zero_block = gzip.compress(b"\0" * (64 * MB), compresslevel=9)
            with path.open("wb") as fh:
                fh.write(gzip.compress(header.tobuf(format=tarfile.PAX_FORMAT)))
                for _ in range(32):
                    fh.write(zero_block)
                tail = io.BytesIO()
                with tarfile.open(fileobj=tail, mode="w") as t:
                    _add(t, "manifest.json", _manifest(bid))
                fh.write(gzip.compress(tail.getvalue()))
        else:
            with tarfile.open(path, "w:gz") as tar:
                if kind == "dotdot":
                    _add(tar, f"files/../../escaped-{p.tag}.txt", b"owned")
                elif kind == "absolute":
                    _add(tar, f"/tmp/mlops-attack-{p.tag}-absolute.txt", b"owned")
                elif kind == "symlink":
                    info = tarfile.TarInfo("files/gx")
                    info.type, info.linkname = tarfile.SYMTYPE, str(p.outside)
                    tar.addfile(info)
                    _add(tar, "files/gx/pwned.txt", b"owned")
                elif kind == "hardlink":
                    info = tarfile.TarInfo("files/metadata.db")
                    info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
                    tar.addfile(info)
                elif kind == "clash":
                    _add(tar, "files/x", b"hi")
                    _add(tar, "files/x/y", b"hi")
                elif kind == "many_members":
                    for j in range(20_000):
                        _add(tar, f"files/m/{j}", b"")
                elif kind == "metadata_swap":
                    # A well-formed archive with a foreign metadata.db (a tiny SQLite file) and a manifest
                    # that lists it with its real digest: only a signature can tell it was not made here.
                    db = p.base / f"foreign-{p.tag}.db"
                    con = sqlite3.connect(db)
                    con.execute("CREATE TABLE owned (x)")
                    con.execute("INSERT INTO owned VALUES ('owned')")
                    con.commit()
                    con.close()
                    data = db.read_bytes()
                    db.unlink()
                    _add(tar, "files/metadata.db", data)
                    members = [
                        {
                            "name": "files/metadata.db",
                            "size": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(),
                        }
                    ]
                    _add(tar, "manifest.json", _manifest(bid, members))
                elif kind == "manifest_not_json":
                    _add(tar, "manifest.json", b"{not json")
                elif kind == "manifest_deep":
                    _add(tar, "manifest.json", deep_text(100_000, "object").encode())
                elif kind == "manifest_wrong_id":
                    _add(tar, "manifest.json", _manifest("bk-19990101T000000Z-000000"))
                elif kind != "no_manifest":
                    _add(tar, "manifest.json", _manifest(bid))
                if kind in ("dotdot", "absolute", "symlink", "hardlink", "clash", "many_members"):
                    _add(tar, "manifest.json", _manifest(bid))
            if kind == "truncated":
                data = path.read_bytes()
                path.write_bytes(data[: len(data) // 2])
        write_sidecar(path)
    return ids


# -- the server over stdio: the official client, and raw JSON-RPC lines ---------------------------------


@dataclass
class Result:
    text: str = ""
    is_error: bool = False
    structured: Any = None
    failure: str | None = None  # "timeout", "closed", "protocol: ...", "client: ..."
    rpc_error: bool = False
    seconds: float = 0.0


class Watchdog:
    """Kills a server whose process tree holds more than `limit` bytes of memory (the machine has no swap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pids: set[int] = set()
        self.killed: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in list(self.pids):
                pids = tree(pid)
                used = rss_bytes(pids)
                if used > self.limit:
                    self.killed[pid] = used
                    kill_tree(pid)

    def stop(self) -> None:
        self._stop.set()


class McpServer:
    """One `python -m mcp_server serve` process, through mcp's stdio_client and Client.

    The client lives in a task of its own (entered and left there, as anyio wants), so that a server that
    died or hangs is shut down without disturbing the task that runs the cases."""

    def __init__(self, env: dict[str, str], cwd: Path, errlog: io.TextIOBase, timeout: float) -> None:
        self.env, self.cwd, self.errlog, self.timeout = env, cwd, errlog, timeout
        self.client: Any = None
        self.pid: int | None = None
        self.exit_error: str | None = None
        self._stop = anyio.Event()
        self._done = anyio.Event()

    async def _session(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=PYTHON,
            args=["-m", "mcp_server", "serve", "--profile", "all"],
            env=self.env,
            cwd=str(self.cwd),
        )
        started = False
        try:
            async with Client(stdio_client(params, errlog=self.errlog), mode="legacy") as client:
                self.client = client
                started = True
                task_status.started()
                await self._stop.wait()
        except Exception as err:  # the transport broke under a dead server: only the cases care
            if not started:
                raise
            self.exit_error = repr(err)[:300]
        finally:
            self._done.set()

    async def start(self, tg: Any) -> None:
        await tg.start(self._session)
        info = await self.client.call_tool("server_info", {}, read_timeout_seconds=120)
        self.pid = int(info.structured_content["pid"])

    async def call(self, name: str, args: dict[str, Any], timeout: float | None = None) -> Result:
        from mcp import MCPError

        started = time.monotonic()
        out = Result()
        try:
            with anyio.fail_after((timeout or self.timeout) + 5):
                res = await self.client.call_tool(name, args, read_timeout_seconds=timeout or self.timeout)
            out.text = "".join(getattr(c, "text", "") or "" for c in res.content)
            out.is_error = bool(res.is_error)
            out.structured = res.structured_content
        except MCPError as err:
            code = getattr(err, "code", None)
            message = str(getattr(err, "message", "") or err)
            if code == -32001 or "timed out" in message:
                out.failure = "timeout"
            elif code in (-32000,) or "closed" in message.lower():
                out.failure = f"closed: {message}"
            else:
                out.rpc_error = True
                out.is_error = True
                out.text = f"JSON-RPC error {code}: {message}"
                if code == -32603:
                    out.text += " (internal error)"
        except TimeoutError:
            out.failure = "timeout"
        except Exception as err:  # the transport broke, or the client refused the answer
            name_ = type(err).__name__
            if isinstance(
                err, (anyio.ClosedResourceError, anyio.BrokenResourceError, EOFError, ConnectionError)
            ):
                out.failure = f"closed: {name_}"
            else:
                out.failure = f"client: {name_}: {str(err)[:300]}"
        out.seconds = time.monotonic() - started
        return out

    async def alive(self, timeout: float = 5.0) -> bool:
        if self.pid is not None and not Path(f"/proc/{self.pid}").exists():
            return False
        res = await self.call("server_info", {}, timeout=timeout)
        return res.failure is None and not res.is_error

    async def stop(self) -> None:
        if self.pid is not None and Path(f"/proc/{self.pid}").exists():
            # A server stuck in a call (a regex holding the GIL) would only delay the client's own shutdown.
            for p in [p for p in tree(self.pid) if p != self.pid]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p, signal.SIGKILL)
        self._stop.set()
        with anyio.move_on_after(40):
            await self._done.wait()
        if self.pid is not None:
            kill_tree(self.pid)
        self.client = None


class RawServer:
    """A second server on the same home, fed raw JSON-RPC lines: for what the client cannot encode."""

    def __init__(self, env: dict[str, str], cwd: Path, errpath: Path, timeout: float) -> None:
        self.env, self.cwd, self.errpath, self.timeout = env, cwd, errpath, timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.next_id = 100

    def start(self) -> None:
        full_env = dict(self.env)
        self.err = self.errpath.open("ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "mcp_server", "serve", "--profile", "all"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            env=full_env,
            cwd=self.cwd,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        init = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "attack-raw", "version": "0"},
        }
        answer = self.request("initialize", json.dumps(init), 120)
        if answer is None:
            raise RuntimeError("the raw server did not answer initialize")
        self._send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')

    @staticmethod
    def _read(proc: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _send(self, text: str) -> bool:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode("utf-8", "surrogatepass") + b"\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def request(self, method: str, params_text: str, timeout: float) -> dict[str, Any] | None:
        self.next_id += 1
        rid = self.next_id
        if not self._send(
            f'{{"jsonrpc": "2.0", "id": {rid}, "method": "{method}", "params": {params_text}}}'
        ):
            return None
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put(None)
                return None
            try:
                msg = json.loads(line)
            except ValueError:
                return {"_stdout_garbage": line[:300].decode("utf-8", "replace")}
            if msg.get("id") == rid:
                return msg

    def call(self, name: str, args_text: str, timeout: float | None = None) -> Result:
        started = time.monotonic()
        msg = self.request(
            "tools/call", f'{{"name": {json.dumps(name)}, "arguments": {args_text}}}', timeout or self.timeout
        )
        out = Result(seconds=time.monotonic() - started)
        if msg is None:
            out.failure = (
                "timeout"
                if self.proc and self.proc.poll() is None
                else f"closed: exit {self.proc.poll() if self.proc else '?'}"
            )
        elif "_stdout_garbage" in msg:
            out.failure = f"protocol: non-JSON line on stdout: {msg['_stdout_garbage']}"
        elif "error" in msg:
            out.rpc_error = out.is_error = True
            code, text = msg["error"].get("code"), msg["error"].get("message", "")
            out.text = f"JSON-RPC error {code}: {text}" + (" (internal error)" if code == -32603 else "")
        else:
            result = msg.get("result", {})
            out.text = "".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))
            out.is_error = bool(result.get("isError"))
            out.structured = result.get("structuredContent")
        return out

    def alive(self, timeout: float = 5.0) -> bool:
        res = self.call("server_info", "{}", timeout)
        return res.failure is None and not res.is_error

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            kill_tree(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self.err.close()
        self.proc = None


# -- cases ----------------------------------------------------------------------------------------------


@dataclass
class Case:
    group: str
    tool: str
    args: Any  # a dict for the client, or JSON text for the raw server
    raw: bool = False
    timeout: float | None = None
    deadline: float | None = None  # a deadline_s asked for: checked for late stops
    after: Callable[[Attack, Case, Result], list[tuple[str, str]]] | None = None
    own_state: bool = False  # hash the server's own state around this case
    label: str = ""


@dataclass
class Finding:
    category: str
    case: Case
    message: str


@dataclass
class Attack:
    p: Paths
    opts: argparse.Namespace
    env: dict[str, str]
    marker: str
    pw: str  # planted in URL arguments: must never come back, nor be stored
    fuzz_pw: str  # planted in fuzzed strings: must not come back, nor reach the audit log or stderr
    env_pw: str  # in the server's configured Mongo URI
    stderr_path: Path
    raw_stderr_path: Path
    server: McpServer | None = None
    raw: RawServer | None = None
    watchdog: Watchdog | None = None
    findings: list[Finding] = field(default_factory=list)
    cases: int = 0
    by_group: Counter = field(default_factory=Counter)
    by_group_cat: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: Counter = field(default_factory=Counter)
    restarts: int = 0
    outside_before: dict[str, str] = field(default_factory=dict)
    legit_backup: str | None = None
    errlog: Any = None
    tg: Any = None
    prev_case: Case | None = None
    dropped: int = 0
    caselog: Any = None

    # -- lifecycle --

    async def start(self, tg: Any) -> None:
        self.tg = tg
        self.errlog = self.stderr_path.open("a")
        self.server = McpServer(self.env, self.p.cwd, self.errlog, self.opts.timeout)
        await self.server.start(tg)
        assert self.watchdog is not None and self.server.pid is not None
        self.watchdog.pids.add(self.server.pid)

    async def restart(self) -> None:
        self.restarts += 1
        assert self.server is not None and self.watchdog is not None
        if self.server.pid:
            self.watchdog.pids.discard(self.server.pid)
        await self.server.stop()
        self.server = McpServer(self.env, self.p.cwd, self.errlog, self.opts.timeout)
        await self.server.start(self.tg)
        assert self.server.pid is not None
        self.watchdog.pids.add(self.server.pid)

    def raw_server(self) -> RawServer:
        if self.raw is None or self.raw.proc is None or self.raw.proc.poll() is not None:
            if self.raw is not None:
                self.raw.stop()
            self.raw = RawServer(self.env, self.p.cwd, self.raw_stderr_path, self.opts.timeout)
            self.raw.start()
            assert self.watchdog is not None and self.raw.pid is not None
            self.watchdog.pids.add(self.raw.pid)
        return self.raw

    # -- state outside the home, and the home's own state --

    def outside_zone(self) -> dict[str, str]:
        snap = snapshot([self.p.base], exclude=(self.p.hbox, self.p.root, self.p.logs))
        for extra in Path("/tmp").glob(f"mlops-attack-{self.p.tag}*"):
            snap[str(extra)] = file_digest(extra)
        return snap

    def own_state(self) -> dict[str, str]:
        h = self.p.home
        parts = [
            h / n
            for n in ("lake", "gx", "mlartifacts", "gateway", "backups", "reports", "feature_repo", "keys")
        ]
        parts += [h / "cache" / "onnx", h / "feature_repo.json", h / "mlflow.db"]
        snap = snapshot(parts)
        for name in ("metadata.db",):
            db = h / name
            if db.exists():
                with db.open("rb") as fh:
                    snap[f"{db} header"] = fh.read(16).hex()
                snap[f"{db} inode"] = str(db.stat().st_ino)
        return snap

    # -- one case --

    def note(self, category: str, case: Case, message: str) -> None:
        self.findings.append(Finding(category, case, message))
        self.by_group_cat[case.group][category] += 1

    def scan_text(self, case: Case, res: Result) -> None:
        text = res.text
        if res.failure is None and "internal error" in text.lower():
            self.note("internal", case, text[:400])
        for secret, what in (
            (self.pw, "planted URL password"),
            (self.fuzz_pw, "fuzz password"),
            (self.env_pw, "configured Mongo password"),
        ):
            if secret in text:
                i = text.index(secret)
                self.note("leak", case, f"{what} in the result: …{text[max(0, i - 120) : i + 40]}…")
        if TRACEBACK in text or re.search(r'File "[^"]+", line \d+', text):
            self.note("leak", case, f"traceback in the result: {text[:300]}")
        if case.tool != "server_info":
            for form in {str(self.p.hbox), str(self.p.hbox.resolve())}:
                if form in text:
                    i = text.index(form)
                    kind = "error" if res.is_error else "result"
                    self.note(
                        "leak", case, f"absolute home path in the {kind}: …{text[max(0, i - 100) : i + 120]}…"
                    )
                    break
        if self.marker in text or "root:x:0:0" in text:
            self.note("escape", case, f"content from outside the roots came back: {text[:300]}")
        if res.is_error and not res.rpc_error and len(text) > 600:
            self.note("wordy", case, f"{len(text)} characters: {text[:200]}…")

    def record(self, case: Case, res: Result) -> None:
        """Scan the answer, and log it to logs/cases.jsonl (one line a case, for reproducing)."""
        self.scan_text(case, res)
        if self.caselog is not None:
            outcome = res.failure or ("error" if res.is_error else "ok")
            entry = {
                "n": self.cases,
                "group": case.group,
                "tool": case.tool,
                "label": case.label,
                "raw": case.raw,
                "args": short(case.args, 400),
                "outcome": outcome,
                "seconds": round(res.seconds, 2),
                "text": res.text[:400],
            }
            self.caselog.write(json.dumps(entry) + "\n")
            self.caselog.flush()
        internal = "internal error" in res.text.lower()
        self.outcomes[
            "internal" if internal else "error" if res.is_error else "failed" if res.failure else "ok"
        ] += 1

    async def run(self, case: Case) -> Result:
        self.cases += 1
        self.by_group[case.group] += 1
        assert self.server is not None and self.watchdog is not None
        own_before = self.own_state() if case.own_state else None
        killed_before = dict(self.watchdog.killed)
        if case.raw:
            raw = await anyio.to_thread.run_sync(self.raw_server)
            res = await anyio.to_thread.run_sync(lambda: raw.call(case.tool, case.args, case.timeout))
            target_pid = raw.pid
        else:
            res = await self.server.call(case.tool, case.args, case.timeout)
            target_pid = self.server.pid
        self.record(case, res)

        # Deadline errors: late, or work still burning a core afterwards (#22 item 4).
        if case.deadline is not None and res.failure is None and res.seconds > case.deadline + 10:
            self.note(
                "late",
                case,
                f"answered after {res.seconds:.1f} s for deadline_s={case.deadline}: {res.text[:200]}",
            )
        if res.failure is None and target_pid and res.is_error and "did not finish within" in res.text:
            await anyio.sleep(2)
            c1 = cpu_seconds(tree(target_pid))
            await anyio.sleep(1.0)
            c2 = cpu_seconds(tree(target_pid))
            if c2 - c1 > 0.4:
                self.note(
                    "late",
                    case,
                    f"the server used {c2 - c1:.1f} s of CPU in the 1 s from 2 s after the deadline error",
                )

        # Still answering?
        if case.raw:
            assert self.raw is not None
            raw_up = self.raw.proc is not None and self.raw.proc.poll() is None
            alive = raw_up and await anyio.to_thread.run_sync(self.raw.alive)
        else:
            alive = await self.server.alive(5.0)
        if res.failure is not None or not alive:
            why = res.failure or "server_info got no answer within 5 s"
            if res.failure == "timeout":
                limit = case.timeout or self.opts.timeout
                why = f"no answer within {limit:g} s" + (
                    "; server_info still answers (the request was dropped, or its work goes on)"
                    if alive
                    else "; server_info got no answer within 5 s either"
                )
            if target_pid in self.watchdog.killed and target_pid not in killed_before:
                why = f"memory: the server held {self.watchdog.killed[target_pid] / 1024**3:.1f} GiB and was killed ({why})"
                if self.prev_case is not None:
                    prev = self.prev_case
                    why += f"; previous case: {prev.group}/{prev.tool} {short(prev.args, 120)}"
            elif alive and res.failure == "timeout":
                self.dropped += 1
            elif target_pid and not Path(f"/proc/{target_pid}").exists():
                why = f"the server process died ({why})"
            if why.startswith("client:"):
                # The client refused an answer (e.g. a result off its output schema): the server is fine.
                self.note("internal", case, why)
                if await self.server.alive(5.0):
                    self.prev_case = case
                    return res
            self.note("crash", case, why)
            if case.raw:
                assert self.raw is not None
                self.watchdog.pids.discard(self.raw.pid or -1)
                await anyio.to_thread.run_sync(self.raw.stop)
                self.raw = None
            else:
                await self.restart()

        # Files outside the home and root, and the server's own state.
        now = self.outside_zone()
        changes = diff(self.outside_before, now)
        if changes:
            self.note("escape", case, "outside the home and root: " + "; ".join(changes[:5]))
            self.outside_before = now
        if own_before is not None:
            own_changes = diff(own_before, self.own_state())
            if own_changes:
                self.note("escape", case, "the server's own state changed: " + "; ".join(own_changes[:5]))
        if case.after is not None:
            for category, message in case.after(self, case, res):
                self.note(category, case, message)
        self.prev_case = case
        return res

    async def must(self, tool: str, args: dict[str, Any], timeout: float = 180) -> Any:
        """A setup call that has to work."""
        assert self.server is not None
        res = await self.server.call(tool, args, timeout)
        if res.failure or res.is_error:
            raise RuntimeError(f"setup call {tool} {short(args)} failed: {res.failure or res.text[:500]}")
        return res.structured


# -- the catalogue -----------------------------------------------------------------------------------------

READ_TOOLS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("validation_run", lambda x: {"dataset": x, "suite": "s"}),
    ("validation_suggest_suite", lambda x: {"dataset": x, "name": "sg", "save": False}),
    (
        "validation_check_integrity",
        lambda x: {"dataset": x, "rules": [{"kind": "compare", "left": "id", "op": ">=", "right": 0}]},
    ),
    ("quality_profile", lambda x: {"dataset": x, "include_samples": True}),
    ("quality_compare", lambda x: {"dataset": "rows.csv", "baseline": x}),
    ("quality_check_homogeneity", lambda x: {"folder": x}),
    ("lake_write", lambda x: {"source": x, "dataset": "esc"}),
    ("lake_convert", lambda x: {"path": x}),
    ("onnx_inspect", lambda x: {"path": x}),
    ("mongo_insert", lambda x: {"collection": "esc", "file": x}),
    (
        "evaluation_train_model",
        lambda x: {"dataset": x, "target": "label", "estimator": "LogisticRegression"},
    ),
    ("registry_register_model", lambda x: {"name": "esc", "source": x}),
    ("features_plan", lambda x: {"definitions": x}),
    ("catalog_register", lambda x: {"dataset": "esc", "location": x}),
    (
        "features_scaffold",
        lambda x: {"dataset": x, "entity_column": "id", "timestamp_column": "at", "output": "esc_defs.yaml"},
    ),
]

WRITE_TOOLS: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("lake_convert", lambda x: {"path": "rows.csv", "output": x, "overwrite": True}),
    (
        "quality_filter_dataset",
        lambda x: {"dataset": "rows.csv", "rules": [], "output": x, "overwrite": True},
    ),
    (
        "quality_clean",
        lambda x: {"dataset": "rows.csv", "plan": {"duplicates": {}}, "output": x, "overwrite": True},
    ),
    (
        "features_scaffold",
        lambda x: {"dataset": "rows.csv", "entity_column": "id", "timestamp_column": "at", "output": x},
    ),
    (
        "features_scaffold",
        lambda x: {
            "dataset": "rows.csv",
            "entity_column": "id",
            "timestamp_column": "at",
            "output": "esc2_defs.yaml",
            "source_output": x,
        },
    ),
    (
        "features_get_historical",
        lambda x: {"entity_dataset": "rows.parquet", "features": ["v:x"], "output": x},
    ),
    ("features_init", lambda x: {"path": x}),
]


def path_cases(a: Attack) -> list[Case]:
    p = a.p
    reads = {
        "dotdot": "../outside/secret.csv",
        "dotdot_inner": "sub/../../outside/secret.csv",
        "dotdot_home": f"{p.home}/../../outside/secret.csv",
        "absolute_outside": str(p.outside / "secret.csv"),
        "etc_passwd": "/etc/passwd",
        "file_uri": f"file://{p.outside}/secret.csv",
        "file_uri_pct": f"file://{p.root}/%2e%2e/outside/secret.csv",
        "file_uri_host": "file://evil.example/etc/passwd",
        "percent": "%2e%2e/outside/secret.csv",
        "symlink_dir": "link_out/secret.csv",
        "symlink_file": "link_file.csv",
        "prefix_sibling": str(p.sibling / "secret.csv"),
        "long_component": "a" * 300 + ".csv",
        "long_component_utf8": "é" * 200 + ".csv",
        "long_path": ("d" * 200 + "/") * 21 + "x.csv",
        "long_abs_path": str(p.root) + "/" + ("e" * 200 + "/") * 21 + "x.csv",
        "nul": "a\x00b.csv",
        "tilde": "~/.bashrc",
        "backslash": "..\\outside\\secret.csv",
        "empty": "",
        "dot": ".",
        "proc": "/proc/self/environ",
        "dev": "/dev/zero",
    }
    cases = []
    for tool, make in READ_TOOLS:
        for label, value in reads.items():
            cases.append(Case("paths", tool, make(value), label=label))
        # A lone surrogate cannot be sent by the client (it cannot be encoded as UTF-8): raw JSON-RPC.
        if tool in ("lake_write", "validation_run", "quality_profile"):
            cases.append(
                Case(
                    "paths",
                    tool,
                    json.dumps(make("d\ud800.csv")),
                    raw=True,
                    timeout=a.opts.raw_timeout,
                    label="surrogate",
                )
            )
    for i, (tool, make) in enumerate(WRITE_TOOLS):
        writes = {
            "dotdot": f"../outside/pwned-{i}.parquet",
            "absolute_outside": str(p.outside / f"pwned-{i}.parquet"),
            "absolute_tmp": f"/tmp/mlops-attack-{p.tag}-{i}.parquet",
            "file_uri": f"file://{p.outside}/pwned-f{i}.parquet",
            "symlink_dir": f"link_out/pwned-l{i}.parquet",
            "symlink_file": "link_file.csv",
            "prefix_sibling": str(p.sibling / f"pwned-{i}.parquet"),
            "long_component": "b" * 300 + ".parquet",
            "long_path": ("d" * 200 + "/") * 21 + "x.parquet",
            "nul": "out\x00.parquet",
            "dev_null": "/dev/null",
        }
        for label, value in writes.items():
            cases.append(Case("paths", tool, make(value), label=label))
        if tool == "lake_convert":
            cases.append(
                Case(
                    "paths",
                    tool,
                    json.dumps(make("o\udc80.parquet")),
                    raw=True,
                    timeout=a.opts.raw_timeout,
                    label="surrogate",
                )
            )
    # backup_restore into a new home outside the restore root.
    for label, value in {
        "dotdot": "../outside/restored",
        "absolute_outside": str(p.outside / "restored"),
        "symlink": str(p.root / "link_out" / "restored"),
        "long": "r" * 300,
        "nul": "r\x00",
    }.items():
        cases.append(
            Case(
                "paths",
                "backup_restore",
                {"id": "latest", "target": "new_home", "new_home": value},
                label=label,
            )
        )
    return cases


def own_state_cases(a: Attack) -> list[Case]:
    h = a.p.home
    lake_file = next((h / "lake").rglob("*.parquet"))
    gx_file = next((h / "gx").rglob("*.json"))
    backup = next((h / "backups").glob("*.tar.gz"))
    targets = {
        "lake_version": str(lake_file),
        "lake_new": str(lake_file.parent / "new.parquet"),
        "lake_symlink": "link_lake/" + str(lake_file.relative_to(h / "lake")),
        "lake_file_uri": f"file://{lake_file}",
        "gx_suite": str(gx_file),
        "gx_new": str(gx_file.parent / "new.parquet"),
        "onnx_twin": str(h / "cache" / "onnx" / "m" / "1" / "twin.json"),
        "mlartifacts": str(h / "mlartifacts" / "1" / "models" / "m-1" / "artifacts" / "data.parquet"),
        "gateway": str(h / "gateway" / "routes.json"),
        "backup_archive": str(backup),
        "backups_new": str(h / "backups" / "new.parquet"),
        "reports": str(h / "reports" / "x.parquet"),
        "feature_repo": str(h / "feature_repo" / "feature_store.yaml"),
        "feature_repo_json": str(h / "feature_repo.json"),
        "metadata_db": str(h / "metadata.db"),
        "metadata_wal": str(h / "metadata.db-wal"),
        "mlflow_db": str(h / "mlflow.db"),
        "keys": str(h / "keys" / "backup.key"),
        "home_symlink_db": "link_home/metadata.db",
        "home_symlink_gx": "link_home/" + str(gx_file.relative_to(h)),
    }
    cases = []
    for label, target in targets.items():
        for tool, make in WRITE_TOOLS:
            cases.append(Case("own_state", tool, make(target), own_state=True, label=label))
    for label, target in {
        "into_home": str(h),
        "into_gx": str(h / "gx"),
        "into_lake": str(h / "lake" / "restored"),
        "into_backups": str(h / "backups" / "restored"),
    }.items():
        cases.append(
            Case(
                "own_state",
                "backup_restore",
                {"id": "latest", "target": "new_home", "new_home": target},
                own_state=True,
                label=label,
            )
        )
    return cases


def deep_json_cases(a: Attack) -> list[Case]:
    cases = []
    tools: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("lake_write", lambda x: {"source": x, "dataset": "deep"}),
        ("lake_convert", lambda x: {"path": x}),
        ("mongo_insert", lambda x: {"collection": "deep", "file": x}),
        ("validation_run", lambda x: {"dataset": x, "suite": "s"}),
        ("validation_suggest_suite", lambda x: {"dataset": x, "name": "deep", "save": False}),
        ("quality_profile", lambda x: {"dataset": x}),
        ("quality_score", lambda x: {"dataset": x}),
        ("evaluation_train_model", lambda x: {"dataset": x, "target": "id", "estimator": "LinearRegression"}),
        (
            "features_scaffold",
            lambda x: {
                "dataset": x,
                "entity_column": "id",
                "timestamp_column": "tag",
                "output": "deep_defs.yaml",
            },
        ),
    ]
    for levels in (100_000, 2_000):
        for kind in ("array", "object"):
            for suffix in (".jsonl", ".json"):
                name = f"deep_{kind}_{levels}{suffix}"
                for tool, make in tools:
                    if levels == 2_000 and tool not in ("lake_write", "lake_convert", "mongo_insert"):
                        continue
                    cases.append(Case("deep_json", tool, make(name), label=name))

    # Deep JSON inside the arguments themselves.
    def nested(levels: int) -> Any:
        v: Any = 1
        for _ in range(levels):
            v = {"a": v}
        return v

    for levels in (30, 33, 120, 200):
        cases.append(
            Case(
                "deep_json",
                "mongo_insert",
                {"collection": "deep", "documents": [nested(levels)]},
                timeout=a.opts.raw_timeout,
                label=f"inline {levels}",
            )
        )
        if levels != 200:  # at 200 every request is dropped by the transport alike: two tools show it
            cases.append(
                Case(
                    "deep_json",
                    "mongo_find",
                    {"collection": "deep", "filter": nested(levels)},
                    timeout=a.opts.raw_timeout,
                    label=f"inline {levels}",
                )
            )
            cases.append(
                Case(
                    "deep_json",
                    "deploy_predict",
                    {"endpoint": "e", "rows": [nested(levels)]},
                    timeout=a.opts.raw_timeout,
                    label=f"inline {levels}",
                )
            )
        cases.append(
            Case(
                "deep_json",
                "validation_create_suite",
                {
                    "name": "deepkw",
                    "expectations": [
                        {
                            "type": "expect_column_values_to_be_in_set",
                            "kwargs": {"column": "id", "value_set": [nested(levels)]},
                        }
                    ],
                },
                timeout=a.opts.raw_timeout,
                label=f"inline {levels}",
            )
        )
    for levels in (1_000, 100_000):
        text = deep_text(levels, "object")
        cases.append(
            Case(
                "deep_json",
                "mongo_insert",
                '{"collection": "deep", "documents": [' + text + "]}",
                raw=True,
                timeout=a.opts.raw_timeout,
                label=f"raw {levels}",
            )
        )
        cases.append(
            Case(
                "deep_json",
                "lake_read",
                '{"dataset": "c", "filters": ' + deep_text(levels) + "}",
                raw=True,
                timeout=a.opts.raw_timeout,
                label=f"raw {levels}",
            )
        )
    return cases


def bomb_cases(a: Attack) -> list[Case]:
    tools: list[tuple[str, dict[str, Any]]] = [
        ("quality_profile", {"dataset": "bomb.parquet"}),
        ("quality_score", {"dataset": "bomb.parquet"}),
        ("quality_report", {"dataset": "bomb.parquet"}),
        ("quality_detect_outliers", {"dataset": "bomb.parquet"}),
        ("quality_compare", {"dataset": "bomb.parquet", "baseline": "bomb.parquet"}),
        ("quality_filter_dataset", {"dataset": "bomb.parquet", "rules": [], "output": "bomb_out.parquet"}),
        (
            "quality_clean",
            {"dataset": "bomb.parquet", "plan": {"duplicates": {}}, "output": "bomb_clean.parquet"},
        ),
        ("validation_run", {"dataset": "bomb.parquet", "suite": "s"}),
        ("validation_suggest_suite", {"dataset": "bomb.parquet", "name": "bomb", "save": False}),
        (
            "evaluation_train_model",
            {"dataset": "bomb.parquet", "target": "k", "estimator": "LinearRegression"},
        ),
        (
            "features_scaffold",
            {
                "dataset": "bomb.parquet",
                "entity_column": "k",
                "timestamp_column": "s",
                "output": "bomb_defs.yaml",
            },
        ),
        ("lake_convert", {"path": "bomb.parquet", "output": "bomb_conv.csv"}),
        ("lake_write", {"source": "bomb.parquet", "dataset": "bomb"}),
    ]
    return [Case("bomb", tool, args) for tool, args in tools]


def regex_cases(a: Attack) -> list[Case]:
    deadline = a.opts.regex_deadline
    evil = {
        "evil_regex": {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "text", "regex": "^(a+)+$"},
        },
        "evil_not_regex": {
            "type": "expect_column_values_to_not_match_regex",
            "kwargs": {"column": "text", "regex": "^(a|aa)+$"},
        },
        "evil_regex_list": {
            "type": "expect_column_values_to_match_regex_list",
            "kwargs": {"column": "text", "regex_list": ["^(a+)+$", "^(a*)*$"]},
        },
        "evil_schema": {
            "type": "expect_column_values_to_match_json_schema",
            "kwargs": {
                "column": "j",
                "json_schema": {
                    "type": "object",
                    "properties": {"k": {"type": "string", "pattern": "^(a+)+$"}},
                },
            },
        },
        "evil_like": {
            "type": "expect_column_values_to_match_like_pattern",
            "kwargs": {"column": "text", "like_pattern": "%a" * 20 + "%b"},
        },
    }
    cases = []
    for name, exp in evil.items():
        cases.append(
            Case("regex", "validation_create_suite", {"name": name, "expectations": [exp]}, label="create")
        )
        cases.append(
            Case(
                "regex",
                "validation_run",
                {"dataset": "evil.csv", "suite": name, "deadline_s": deadline},
                deadline=deadline,
                timeout=deadline + 50,
                label=name,
            )
        )
        rule = {"kind": "expectation", "type": exp["type"], "kwargs": exp["kwargs"]}
        cases.append(
            Case(
                "regex",
                "validation_check_integrity",
                {"dataset": "evil.csv", "rules": [rule], "deadline_s": deadline},
                deadline=deadline,
                timeout=deadline + 50,
                label=name,
            )
        )
    # Tools that run a saved suite without a deadline argument: the server's default deadline applies.
    default = float(a.env["MLOPS_MCP_DEADLINE_S"])
    for tool, name in (("quality_score", "evil_regex"), ("quality_report", "evil_schema")):
        cases.append(
            Case("regex", tool, {"dataset": "evil.csv", "suite": name}, deadline=default, label=name)
        )
    cases.append(Case("regex", "catalog_search", {"text": "%" * 100 + "_" * 90 + "x"}, label="like"))
    cases.append(Case("regex", "audit_list", {"tool": "%" * 60 + "x", "since": "(a+)+$"}, label="like"))
    cases.append(
        Case(
            "regex",
            "mongo_find",
            {"collection": "c", "filter": {"text": {"$regex": "^(a+)+$"}}},
            label="regex",
        )
    )
    return cases


def secret_cases(a: Attack) -> list[Case]:
    pw = a.pw
    urls = [
        f"s3://user:{pw}@host/x.csv",
        f"s3:/user:{pw}@host/x.csv",
        f"s3:///user:{pw}@host/x.csv",
        f"https://user:{pw}@127.0.0.1:1/x.csv",
        f"gs://user:{pw}@bucket/x.parquet",
        f"user:{pw}@host/x.csv",
        f"file://user:{pw}@localhost{a.p.root}/rows.csv",
    ]
    cases = []
    for url in urls:
        for tool, make in [
            ("lake_convert", lambda x: {"path": x}),
            ("lake_convert", lambda x: {"path": "rows.csv", "output": x.replace(".csv", ".parquet")}),
            ("lake_write", lambda x: {"source": x, "dataset": "sec"}),
            ("validation_run", lambda x: {"dataset": x, "suite": "s"}),
            ("quality_profile", lambda x: {"dataset": x}),
            ("mongo_insert", lambda x: {"collection": "sec", "file": x}),
            ("catalog_register", lambda x: {"dataset": "sec", "location": x}),
            ("registry_register_model", lambda x: {"name": "sec", "source": x}),
            ("onnx_inspect", lambda x: {"path": x}),
            (
                "evaluation_train_model",
                lambda x: {"dataset": x, "target": "label", "estimator": "LogisticRegression"},
            ),
            ("lineage_get", lambda x: {"entity": f"dataset:{x}@abc123"}),
        ]:
            cases.append(Case("secrets", tool, make(url), label=url.split(":")[0]))
    for dsn in (
        f"postgresql+psycopg://u:{pw}@127.0.0.1:1/db",
        f"postgresql://u:{pw}@127.0.0.1:1/db?sslmode=disable",
        f"host=127.0.0.1 port=1 user=u password={pw} dbname=x",
        f"sqlite:////tmp/u:{pw}@x.db",
    ):
        cases.append(
            Case(
                "secrets",
                "backup_restore",
                {"id": "latest", "target": "new_home", "new_home": f"sec-{len(cases)}", "store_url": dsn},
                label="store_url",
            )
        )
        cases.append(
            Case(
                "secrets",
                "backup_restore",
                {"id": "latest", "target": "in_place", "store_url": dsn, "confirm": True},
                label="store_url in_place",
            )
        )
    for tag in (f"registry/u:{pw}@x", f"registry.example.com/team/u:{pw}@x:1", f"u:{pw}@registry:5000/x"):
        cases.append(
            Case("secrets", "deploy_build_image", {"model": "m", "version": "1", "tag": tag}, label="tag")
        )
        cases.append(
            Case("secrets", "deploy_export_manifests", {"endpoint": "e", "image": tag}, label="image")
        )
    cases.append(
        Case("secrets", "deploy_gateway_start", {"host": f"u:{pw}@127.0.0.1", "port": 0}, label="host")
    )
    cases.append(
        Case(
            "secrets",
            "evaluation_list_runs",
            {"filter": f"params.url = 'https://u:{pw}@h/x'"},
            label="filter",
        )
    )
    cases.append(Case("secrets", "mongo_find", {"collection": f"u:{pw}@h"}, label="collection"))
    # The configured Mongo URI carries a password too: a connection failure must not show it.
    cases.append(Case("secrets", "mongo_list_collections", {}, label="configured uri"))
    cases.append(
        Case("secrets", "mongo_insert", {"collection": "c", "documents": [{"a": 1}]}, label="configured uri")
    )
    cases.append(Case("secrets", "health_check", {}, label="configured uri"))
    return cases


def number_cases(a: Attack) -> list[Case]:
    base = {"metric_type": "proportion", "baseline": 0.1, "mde": 0.02}
    mean = {"metric_type": "mean", "baseline": 10.0, "mde": 1.0, "std": 2.0}
    cases = []
    for alpha in (5e-324, 1e-310, 1e-300, 1e-200, 0.0, -0.0, 1.0, 1 - 1e-16, 2.0):
        cases.append(Case("numbers", "ab_design", {**base, "alpha": alpha}, label=f"alpha={alpha!r}"))
    for power in (1e-300, 5e-324, 1 - 1e-16, 0.5, 1.0):
        cases.append(Case("numbers", "ab_design", {**base, "power": power}, label=f"power={power!r}"))
    for mde in (1e-300, 5e-324, 1e300, -0.02, 0.9):
        cases.append(Case("numbers", "ab_design", {**base, "mde": mde}, label=f"mde={mde!r}"))
    for baseline in (0.0, 1.0, 1e-300, 1 - 1e-16, 1e308):
        cases.append(
            Case("numbers", "ab_design", {**base, "baseline": baseline}, label=f"baseline={baseline!r}")
        )
    for std in (1e300, 5e-324, 0.0, -1.0, 1e-300):
        cases.append(Case("numbers", "ab_design", {**mean, "std": std}, label=f"std={std!r}"))
    for extra in (
        {"n_variants": 2**62},
        {"n_variants": 10**6},
        {"n_variants": 0},
        {"allocation": [0, 0]},
        {"allocation": [1e-300, 1]},
        {"allocation": [1e308, 1e308]},
        {"allocation": []},
        {"mde_kind": "relative", "mde": 1e-300},
    ):
        cases.append(Case("numbers", "ab_design", {**base, **extra}, label=short(extra)))
    exp = {
        "variants": ["a", "b"],
        "control": "a",
        "metric": "conv",
        "metric_type": "proportion",
        "baseline": 0.1,
        "mde": 0.02,
    }
    for i, alpha in enumerate((5e-324, 1e-300, 1e-310)):
        cases.append(
            Case("numbers", "ab_create", {"name": f"num{i}", **exp, "alpha": alpha}, label=f"alpha={alpha!r}")
        )
    # NaN and infinities cannot be sent by the client as numbers: raw JSON-RPC (Python's json writes NaN).
    for token in ("NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "1e-999999"):
        cases.append(
            Case(
                "numbers",
                "ab_design",
                '{"metric_type": "proportion", "baseline": 0.1, "mde": 0.02, "alpha": ' + token + "}",
                raw=True,
                timeout=a.opts.raw_timeout,
                label=f"alpha={token}",
            )
        )
    cases.append(
        Case(
            "numbers",
            "ab_record",
            '{"name": "num1", "variant": "a", "observations": [1, NaN, Infinity, 1e999999]}',
            raw=True,
            timeout=a.opts.raw_timeout,
            label="observations",
        )
    )
    cases.append(
        Case(
            "numbers",
            "ab_record",
            {"name": "num1", "variant": "a", "observations": [1e308, -1e308, 5e-324]},
            label="observations",
        )
    )
    cases.append(
        Case(
            "numbers",
            "ab_record",
            {"name": "num1", "variant": "a", "observations": {"successes": 2**62, "trials": 2**62}},
            label="counts",
        )
    )
    cases.append(Case("numbers", "ab_analyze", {"name": "num1"}, label="after huge counts"))
    return cases


def strftime_cases(a: Attack) -> list[Case]:
    formats = [
        "%Y%Y",
        "%d-%d",
        "%",
        "%Q",
        "",
        "%%",
        "%Y-%m-%d" * 200,
        "%" * 1001,
        "%-d",
        "%s",
        "%c",
        "%x%X",
        "%G-%V-%u",
        "%z%Z",
        "%Y-%m-%d %H:%M:%S.%f%z",
        "%y%y%y",
        "%j%j",
        "%H%I",
        "%p",
        "%U%W",
    ]
    cases = []
    for i, fmt in enumerate(formats):
        name = f"dates{i}"
        exp = [
            {
                "type": "expect_column_values_to_match_strftime_format",
                "kwargs": {"column": "day", "strftime_format": fmt},
            }
        ]

        cases.append(
            Case(
                "strftime",
                "validation_create_suite",
                {"name": name, "expectations": exp},
                label=repr(fmt)[:40],
            )
        )
        cases.append(
            Case("strftime", "validation_run", {"dataset": "dates.csv", "suite": name}, label=repr(fmt)[:40])
        )
        cases.append(
            Case(
                "strftime",
                "validation_check_integrity",
                {
                    "dataset": "dates.csv",
                    "rules": [{"kind": "expectation", "type": exp[0]["type"], "kwargs": exp[0]["kwargs"]}],
                },
                label=repr(fmt)[:40],
            )
        )
    cases.append(
        Case(
            "strftime",
            "quality_score",
            {"dataset": "dates.csv", "timestamp_column": "day", "max_age": "%Y%Y"},
            label="max_age",
        )
    )
    cases.append(
        Case("strftime", "features_materialize", {"start": "%Y%Y", "end": "2024-13-45"}, label="dates")
    )
    cases.append(Case("strftime", "health_history", {"since": "%Y%Y"}, label="since"))
    cases.append(Case("strftime", "audit_list", {"since": "9999-99-99T99:99:99"}, label="since"))
    return cases


async def concurrent_group(a: Attack, servers: int = 4, rounds: int = 20) -> None:
    """#22 item 10: the same suite created at the same moment by several server processes on one home (the
    issue saw 1 internal error in 80). Each process is a raw-JSON-RPC server; a barrier releases the calls."""
    assert a.watchdog is not None
    procs = [RawServer(a.env, a.p.cwd, a.raw_stderr_path, a.opts.timeout) for _ in range(servers)]
    try:
        await anyio.to_thread.run_sync(lambda: [r.start() for r in procs])
        for r in procs:
            a.watchdog.pids.add(r.pid or -1)
        exp = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]
        for n in range(rounds):
            args = {"name": f"conc{n}", "expectations": exp}
            barrier = threading.Barrier(servers)
            results: list[Result | None] = [None] * servers

            def one(
                i: int,
                args: dict[str, Any] = args,
                barrier: threading.Barrier = barrier,
                results: list[Result | None] = results,
            ) -> None:
                barrier.wait()
                results[i] = procs[i].call("validation_create_suite", json.dumps(args))

            threads = [threading.Thread(target=one, args=(i,)) for i in range(servers)]
            for t in threads:
                t.start()
            await anyio.to_thread.run_sync(lambda threads=threads: [t.join() for t in threads])
            for i, res in enumerate(results):
                case = Case(
                    "concurrent", "validation_create_suite", args, label=f"process {i + 1} of {servers}"
                )
                a.cases += 1
                a.by_group[case.group] += 1
                assert res is not None
                a.record(case, res)
                if res.failure is not None:
                    a.note("crash", case, res.failure)
        for i, r in enumerate(procs):
            if not await anyio.to_thread.run_sync(r.alive):
                a.note(
                    "crash",
                    Case("concurrent", "server_info", {}, label=f"process {i + 1}"),
                    "no answer after the race",
                )
    finally:
        for r in procs:
            a.watchdog.pids.discard(r.pid or -1)
        await anyio.to_thread.run_sync(lambda: [r.stop() for r in procs])


def backup_cases(a: Attack, ids: dict[str, str], foreign_id: str | None) -> list[Case]:
    cases: list[Case] = []

    def verify_must_fail(at: Attack, case: Case, res: Result) -> list[tuple[str, str]]:
        if (
            res.failure is None
            and not res.is_error
            and isinstance(res.structured, dict)
            and res.structured.get("ok") is True
        ):
            return [
                ("escape", f"an archive the server did not make verified ok: {short(res.structured, 300)}")
            ]
        return []

    def restore_must_fail(at: Attack, case: Case, res: Result) -> list[tuple[str, str]]:
        if res.failure is None and not res.is_error:
            return [("escape", f"an archive the server did not make was restored: {res.text[:300]}")]
        return []

    kinds = dict(ids)
    if foreign_id:
        kinds["foreign_signed_elsewhere"] = foreign_id
    for kind, bid in kinds.items():
        cases.append(
            Case("backups", "backup_verify", {"id": bid}, label=kind, after=verify_must_fail, own_state=True)
        )
        cases.append(
            Case(
                "backups",
                "backup_restore",
                {"id": bid, "target": "new_home", "new_home": f"restored-{kind}"},
                label=kind,
                after=restore_must_fail,
                own_state=True,
            )
        )
        cases.append(
            Case(
                "backups",
                "backup_restore",
                {"id": bid, "target": "in_place", "confirm": True},  # past the confirmation
                label=kind,
                after=restore_must_fail,
                own_state=True,
            )
        )
    cases.append(Case("backups", "backup_list", {}, label="with foreign archives"))
    for bad in (
        "../x",
        "bk-" + "x" * 300,
        "",
        "bk-20200101T000000Z-zzzzzz",
        "latest/../../x",
        "bk-20200101T000000Z-000000\n",
    ):
        cases.append(Case("backups", "backup_verify", {"id": bad}, label=repr(bad)[:30]))
        cases.append(
            Case(
                "backups",
                "backup_restore",
                {"id": bad, "target": "new_home", "new_home": "r"},
                label=repr(bad)[:30],
            )
        )
    cases.append(Case("backups", "backup_restore", {"id": "latest", "target": "sideways"}, label="target"))
    cases.append(Case("backups", "backup_create", {"scope": ["../../etc", "all"]}, label="scope"))
    return cases


# -- the fuzz -----------------------------------------------------------------------------------------------

FUZZ_STRINGS = [
    "",
    " ",
    "x" * 100_000,
    "é" * 3000,
    "🙂" * 1000,
    "../../../../etc/passwd",
    "/etc/passwd",
    "%2e%2e%2f%2e%2e",
    "a\nb\rc\td",
    "-1",
    "1e999",
    "NaN",
    "null",
    "[]",
    "{}",
    "*",
    "?",
    "$where",
    "'; DROP TABLE mlops_audit_log; --",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "\u202etxt.exe",
    "CON",
    "a" * 129,
    "-rf",
    "lake:c@1",
    "suite:s@1",
    "dataset:c@1",
    "latest",
    "0" * 32,
    "f" * 32,
    "bk-20200101T000000Z-000000",
    "rows.csv",
    "rows.parquet",
    "bomb.parquet",
    "deep_array_100000.jsonl",
    "evil.csv",
    "s",
    "c",
    "m",
    "1",
    "2024-01-01",
    "P1D",
    "1d",
    "\\\\server\\share",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "link_out/secret.csv",
]


class Fuzzer:
    def __init__(self, rng: random.Random, fuzz_pw: str) -> None:
        self.rng = rng
        self.secret_strings = [
            f"s3://fuzz:{fuzz_pw}@host/x.csv",
            f"postgresql://u:{fuzz_pw}@127.0.0.1:1/db",
            f"registry/u:{fuzz_pw}@x",
        ]

    def hostile(self, depth: int = 0) -> Any:
        r = self.rng
        kind = r.choice(
            ["str", "str", "str", "int", "float", "bool", "none", "list", "dict", "deep", "secret"]
        )
        if kind == "str":
            return r.choice(FUZZ_STRINGS)
        if kind == "secret":
            return r.choice(self.secret_strings)
        if kind == "int":
            return r.choice(
                [
                    0,
                    -1,
                    1,
                    -(2**31),
                    2**31,
                    2**53 + 1,
                    2**63 - 1,
                    -(2**63),
                    2**63,
                    10**30,
                    -(10**30),
                    65536,
                    10**9,
                ]
            )
        if kind == "float":
            return r.choice([0.0, -0.0, 1e-300, 5e-324, 1e308, -1e308, 0.5, 1.0000001, -0.5, 3.14])
        if kind == "bool":
            return r.choice([True, False])
        if kind == "none":
            return None
        if kind == "list":
            return r.choice(
                [
                    [],
                    [None],
                    [[[[]]]],
                    ["x"] * 1000,
                    list(range(10_000)),
                    [{"a": 1}],
                    ["id", "amount"],
                    [1, "a", None, {}],
                ]
            )
        if kind == "dict":
            return r.choice(
                [
                    {},
                    {"a": {"b": {"c": [1, {"d": None}]}}},
                    {"$where": "1"},
                    {"__class__": "x"},
                    {"": ""},
                    {"column": "id"},
                    {"x" * 1000: 1},
                ]
            )
        v: Any = "deep"
        for _ in range(r.choice([20, 31, 40])):
            v = r.choice([[v], {"k": v}])
        return v

    def plausible(self, schema: dict[str, Any], defs: dict[str, Any], name: str, depth: int = 0) -> Any:
        r = self.rng
        if depth > 6:
            return None
        if "$ref" in schema:
            return self.plausible(defs.get(schema["$ref"].split("/")[-1], {}), defs, name, depth + 1)
        if "anyOf" in schema:
            return self.plausible(r.choice(schema["anyOf"]), defs, name, depth + 1)
        if "oneOf" in schema:
            return self.plausible(r.choice(schema["oneOf"]), defs, name, depth + 1)
        if "enum" in schema:
            return r.choice(schema["enum"])
        if "const" in schema:
            return schema["const"]
        t = schema.get("type")
        if isinstance(t, list):
            t = r.choice(t)
        if t == "string":
            lname = name.lower()
            if any(
                k in lname
                for k in (
                    "dataset",
                    "path",
                    "source",
                    "file",
                    "output",
                    "folder",
                    "definitions",
                    "baseline",
                    "reference",
                )
            ):
                return r.choice(
                    [
                        "rows.csv",
                        "rows.parquet",
                        "ok.csv",
                        "out/fuzz.parquet",
                        "dates.csv",
                        "evil.csv",
                        "sub/f.csv",
                    ]
                )
            if "suite" in lname:
                return r.choice(["s", "canary", "s@1"])
            if any(k in lname for k in ("column", "target", "timestamp", "entity", "key", "left")):
                return r.choice(["id", "amount", "at", "cat", "label"])
            return r.choice(["c", "m", "s", "e", "a", "1", "fuzz"])
        if t == "integer":
            lo, hi = schema.get("minimum", 0), schema.get("maximum", 10)
            return r.randint(int(lo), int(min(hi, lo + 10)))
        if t == "number":
            return round(
                r.uniform(schema.get("minimum", 0.0) or 0.0, min(schema.get("maximum", 1.0), 1.0) or 1.0), 3
            )
        if t == "boolean":
            return r.choice([True, False])
        if t == "null":
            return None
        if t == "array":
            items = schema.get("items", {})
            return [self.plausible(items, defs, name, depth + 1) for _ in range(r.randint(0, 3))]
        if t == "object":
            props = schema.get("properties", {})
            out = {
                k: self.plausible(v, defs, k, depth + 1)
                for k, v in props.items()
                if k in schema.get("required", []) or r.random() < 0.5
            }
            if not props and schema.get("additionalProperties"):
                out = {r.choice(["a", "id", "x"]): r.choice([1, "a", None])}
            return out
        return r.choice(["x", 1, None])

    def extreme(self, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
        """A value of the right JSON type at its edge: negative, huge, empty, very long."""
        r = self.rng
        if "$ref" in schema:
            return self.extreme(defs.get(schema["$ref"].split("/")[-1], {}), defs)
        if "anyOf" in schema:
            return self.extreme(r.choice(schema["anyOf"]), defs)
        t = schema.get("type")
        if t == "integer":
            return r.choice([-1, 0, -(2**62), 2**62, 2**31 - 1, 10**12])
        if t == "number":
            return r.choice([-1.0, 0.0, 1e-300, 1e300, -1e300, 5e-324])
        if t == "string":
            return r.choice(["", "x" * 100_000, "é" * 3000, "../../x", "a\nb"])
        if t == "array":
            return r.choice([[], [None] * 5000, [self.hostile()]])
        if t == "object":
            return r.choice([{}, {"x" * 300: 1}, {"a": self.hostile()}])
        return self.hostile()

    def arguments(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Plausible arguments with one to three made hostile: type-confused (a string for an int, a nested
        object, huge ints, NUL-free odd strings) or extreme for their type; one call in five stays plausible
        so that the deeper code runs too."""
        r = self.rng
        defs = schema.get("$defs", {})
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        args = {k: self.plausible(v, defs, k) for k, v in props.items() if k in required or r.random() < 0.4}
        mode = r.random()
        if props and mode >= 0.2:
            for key in r.sample(sorted(props), k=min(len(props), 1 if mode < 0.75 else r.randint(2, 3))):
                args[key] = self.hostile() if r.random() < 0.6 else self.extreme(props[key], defs)
        if required and r.random() < 0.05:
            args.pop(r.choice(sorted(required)), None)
        if r.random() < 0.03:
            args[r.choice(["bogus", "__proto__", "x" * 300])] = self.hostile()
        return args


def fuzz_cases(a: Attack, tools: list[Any]) -> list[Case]:
    rng = random.Random(a.opts.seed)
    fz = Fuzzer(rng, a.fuzz_pw)
    cases = []
    for tool in sorted(tools, key=lambda t: t.name):
        for _ in range(a.opts.rounds):
            cases.append(Case("fuzz", tool.name, fz.arguments(tool.input_schema or {})))
    return cases


# -- after the run: what was stored and logged ---------------------------------------------------------------


def stored_leaks(a: Attack) -> list[str]:
    out: list[str] = []
    # Every file in the home: the targeted password and the configured one must not be stored anywhere.
    for path in a.p.hbox.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            if path.stat().st_size > 512 * MB:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        for secret, what in ((a.pw, "planted URL password"), (a.env_pw, "configured Mongo password")):
            if secret.encode() in data:
                out.append(f"{what} stored in {path.relative_to(a.p.base)}")
    # The audit log: no password in its arguments or errors (fuzzed ones included).
    db = a.p.home / "metadata.db"
    if db.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT tool, args_redacted, coalesce(error, '') FROM mlops_audit_log"
            ).fetchall()
        except sqlite3.Error as err:
            rows = []
            out.append(f"could not read the audit log: {err}")
        finally:
            con.close()
        for tool, args_text, error in rows:
            for secret, what in (
                (a.pw, "planted URL password"),
                (a.fuzz_pw, "fuzz password"),
                (a.env_pw, "configured Mongo password"),
            ):
                if secret in args_text or secret in error:
                    where = "arguments" if secret in args_text else "error"
                    text = args_text if secret in args_text else error
                    i = text.index(secret)
                    out.append(
                        f"{what} in the audit row of {tool} ({where}): …{text[max(0, i - 100) : i + 30]}…"
                    )
    # stderr of both servers.
    for log in (a.stderr_path, a.raw_stderr_path):
        if not log.exists():
            continue
        text = log.read_text(errors="replace")
        for secret, what in (
            (a.pw, "planted URL password"),
            (a.fuzz_pw, "fuzz password"),
            (a.env_pw, "configured Mongo password"),
        ):
            for line in text.splitlines():
                if secret in line:
                    i = line.index(secret)
                    out.append(f"{what} on stderr ({log.name}): …{line[max(0, i - 120) : i + 30]}…")
                    break
    return out


def stderr_fatal(a: Attack) -> list[str]:
    out = []
    for log in (a.stderr_path, a.raw_stderr_path):
        if log.exists():
            text = log.read_text(errors="replace")
            for needle in (
                "Segmentation fault",
                "Fatal Python error",
                "core dumped",
                "MemoryError",
                "RecursionError",
            ):
                if needle in text:
                    out.append(f"{needle!r} on stderr ({log.name}, {text.count(needle)}x)")
    return out


def incident_detail(a: Attack, text: str) -> str:
    """The exception line logged on stderr for an 'internal error (id X)'."""
    m = re.search(r"internal error \(id ([0-9a-zA-Z_-]+)\)", text)
    if not m:
        return ""
    for log in (a.stderr_path, a.raw_stderr_path):
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if m.group(1) in line and "internal error in" in line:
                for follow in lines[i + 1 : i + 400]:
                    if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", follow) or re.match(
                        r"^[\w.]+: ", follow
                    ):
                        return follow.strip()[:300]
    return ""


# -- main ------------------------------------------------------------------------------------------------------


def server_env(p: Paths, a_env_pw: str, gateway_port: int) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "OPENBLAS_CORETYPE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "MLOPS_MCP_HOME": str(p.home),
            "MLOPS_MCP_ROOTS": str(p.root),
            "PYTHONPATH": str(REPO),
            "MLOPS_MCP_LOG_LEVEL": "DEBUG",  # the SDK logs every incoming message: secrets must be masked there too
            "MLOPS_MCP_DEADLINE_S": "20",
            "MLOPS_MCP_MONGO_URI": f"mongodb://attacker:{a_env_pw}@127.0.0.1:1/?authSource=admin",
            "MLOPS_MCP_MONGO_SERVER_SELECTION_TIMEOUT_S": "1",
            "MLOPS_MCP_MONGO_CONNECT_TIMEOUT_S": "1",
            "MLOPS_MCP_MONGO_TIMEOUT_S": "2",
            "MLOPS_MCP_DOCKER_HOST": "http://127.0.0.1:1",
            "MLOPS_MCP_GATEWAY_PORT": str(gateway_port),
            "MLOPS_MCP_GATEWAY_START_TIMEOUT_S": "20",
        }
    )
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def setup_state(a: Attack) -> None:
    """What the hostile-output cases aim at: a lake version, GX suites, an ONNX twin, an MLflow artifact, a
    gateway file, a backup, a feature repo."""
    h = a.p.home
    await a.must("lake_write", {"source": "rows.parquet", "dataset": "c"})
    for name in ("s", "canary"):
        await a.must(
            "validation_create_suite",
            {
                "name": name,
                "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
            },
        )
    import pandas as pd

    twin = h / "cache" / "onnx" / "m" / "1" / "twin.json"
    twin.parent.mkdir(parents=True, exist_ok=True)
    twin.write_text('{"inputs": []}')
    artifact = h / "mlartifacts" / "1" / "models" / "m-1" / "artifacts" / "data.parquet"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(artifact)
    (h / "gateway").mkdir(exist_ok=True)
    (h / "gateway" / "routes.json").write_text("{}")
    (h / "reports").mkdir(exist_ok=True)
    res = await a.server.call("features_init", {}, 180)  # type: ignore[union-attr]
    if res.failure or res.is_error:
        print(f"  (features_init failed during setup: {res.failure or res.text[:200]})", flush=True)
    created = await a.must("backup_create", {"scope": ["all"]}, timeout=300)
    a.legit_backup = created.get("id") if isinstance(created, dict) else None


def foreign_archive(a: Attack) -> str | None:
    """A real backup made by another server (another home, another key), copied with its .sha256 into our
    home's backups: #22 item 7."""
    env = {k: v for k, v in a.env.items() if not k.startswith("MLOPS_MCP_")}
    env["PYTHONPATH"] = str(REPO)
    a.p.other_home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [PYTHON, "-m", "mcp_server", "backup", "create", "--json", "--home", str(a.p.other_home)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(a.p.other_home.parent),
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        print(f"  (could not make a foreign backup: {done.stderr[-300:]})", flush=True)
        return None
    bid = json.loads(done.stdout)["id"]
    src = a.p.other_home / "backups" / f"{bid}.tar.gz"
    dst = a.p.home / "backups"
    shutil.copy2(src, dst / src.name)
    shutil.copy2(src.with_name(src.name + ".sha256"), dst / (src.name + ".sha256"))
    return bid


async def main_async(opts: argparse.Namespace) -> int:
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="mlops-attack-"))
    p = make_paths(base)
    marker = "OUTSIDE-" + secrets.token_hex(8)
    pw = "PlantedPw" + secrets.token_hex(6)
    fuzz_pw = "FuzzPw" + secrets.token_hex(6)
    env_pw = "EnvPw" + secrets.token_hex(6)
    env = server_env(p, env_pw, free_port())
    a = Attack(
        p,
        opts,
        env,
        marker,
        pw,
        fuzz_pw,
        env_pw,
        p.logs / "server-stderr.log",
        p.logs / "raw-server-stderr.log",
    )
    a.watchdog = Watchdog(int(opts.mem_limit_gb * 1024**3))
    a.caselog = (p.logs / "cases.jsonl").open("w")
    print(
        f"attack: temp {base} (home {p.home}, root {p.root}), seed {opts.seed}, rounds {opts.rounds}",
        flush=True,
    )
    make_data(p, marker)
    groups = (
        [g for g in opts.groups.split(",") if g]
        if opts.groups
        else [
            "paths",
            "own_state",
            "deep_json",
            "bomb",
            "regex",
            "secrets",
            "numbers",
            "strftime",
            "backups",
            "concurrent",
            "fuzz",
        ]
    )
    async with anyio.create_task_group() as tg:
        try:
            await a.start(tg)
            await setup_state(a)
            a.outside_before = a.outside_zone()
            for group in groups:
                t0 = time.monotonic()
                if group == "paths":
                    cases = path_cases(a)
                elif group == "own_state":
                    cases = own_state_cases(a)
                elif group == "deep_json":
                    cases = deep_json_cases(a)
                elif group == "bomb":
                    cases = bomb_cases(a)
                elif group == "regex":
                    cases = regex_cases(a)
                elif group == "secrets":
                    cases = secret_cases(a)
                elif group == "numbers":
                    cases = number_cases(a)
                elif group == "strftime":
                    cases = strftime_cases(a)
                elif group == "backups":
                    foreign = await anyio.to_thread.run_sync(lambda: foreign_archive(a))
                    ids = await anyio.to_thread.run_sync(lambda: evil_archives(p.home / "backups", p))
                    a.outside_before = a.outside_zone()
                    cases = backup_cases(a, ids, foreign)
                elif group == "concurrent":
                    await concurrent_group(a)
                    cases = []
                elif group == "fuzz":
                    assert a.server is not None
                    tools = (await a.server.client.list_tools()).tools
                    cases = fuzz_cases(a, tools)
                else:
                    raise SystemExit(f"unknown group {group!r}")
                for case in cases:
                    await a.run(case)
                counts = a.by_group_cat[group]
                print(
                    f"  {group:<10} {a.by_group[group]:>5} cases {time.monotonic() - t0:6.1f} s  "
                    + "  ".join(f"{c}={counts[c]}" for c in (*COUNTED, *NOTES)),
                    flush=True,
                )
            # Clean-up calls: a gateway the fuzz may have started.
            if a.server is not None:
                with contextlib.suppress(Exception):
                    await a.server.call("deploy_gateway_stop", {}, 30)
        finally:
            if a.server is not None:
                if a.server.pid:
                    a.watchdog.pids.discard(a.server.pid)
                await a.server.stop()
            if a.raw is not None:
                a.watchdog.pids.discard(a.raw.pid or -1)
                a.raw.stop()
            a.watchdog.stop()
            if a.errlog is not None:
                a.errlog.close()
            # Anything still running on our home was started by this run (a gateway, a worker): stop it by pid.
            for entry in os.listdir("/proc"):
                if entry.isdigit() and int(entry) != os.getpid():
                    with contextlib.suppress(OSError):
                        if f"MLOPS_MCP_HOME={p.home}".encode() in Path(f"/proc/{entry}/environ").read_bytes():
                            kill_tree(int(entry))

    # After the run: files outside, what was stored and logged.
    final_outside = diff(a.outside_before, a.outside_zone())
    after_case = Case("after", "-", {})
    for change in final_outside:
        a.note("escape", after_case, f"outside the home and root after the run: {change}")
    for what in stored_leaks(a):
        a.note("leak", after_case, what)
    fatal = stderr_fatal(a)

    seconds = time.monotonic() - started
    counts = Counter(f.category for f in a.findings)
    print(f"\nper group ({a.cases} cases, {a.restarts} restarts):")
    for group in a.by_group:
        c = a.by_group_cat[group]
        print(
            f"  {group:<10} {a.by_group[group]:>5}  " + "  ".join(f"{k}={c[k]}" for k in (*COUNTED, *NOTES))
        )
    print("outcomes: " + ", ".join(f"{k}={v}" for k, v in sorted(a.outcomes.items())))
    if fatal:
        print("stderr: " + "; ".join(fatal))
    for category in (*COUNTED, *NOTES):
        items = [f for f in a.findings if f.category == category]
        if not items:
            continue
        print(f"\n{category}: {len(items)} (up to 20 shown)")
        for f in items[:20]:
            detail = incident_detail(a, f.message) if category == "internal" else ""
            args = f.case.args
            label = f" [{f.case.label}]" if f.case.label else ""
            raw = " (raw JSON-RPC)" if f.case.raw else ""
            print(f"  - {f.case.group}/{f.case.tool}{label}{raw} args={short(args, 260)}")
            print(f"      {f.message[:500]}" + (f"\n      stderr: {detail}" if detail else ""))
    summary = {
        "cases": a.cases,
        "crashes": counts["crash"],
        "internal_errors": counts["internal"],
        "escapes": counts["escape"],
        "leaks": counts["leak"],
        "seconds": round(seconds, 1),
        "dropped_requests": a.dropped,
        "late": counts["late"],
        "wordy": counts["wordy"],
        "restarts": a.restarts,
        "seed": opts.seed,
        "rounds": opts.rounds,
    }
    if opts.keep:
        print(f"\nkept {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(summary), flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fuzz calls per tool (default 5)")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per call (default 60)")
    parser.add_argument(
        "--raw-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for an answer to a request the transport may drop (raw JSON-RPC, JSON nested 200 deep; default 10)",
    )
    parser.add_argument(
        "--regex-deadline", type=float, default=8.0, help="deadline_s of the catastrophic-regex runs"
    )
    parser.add_argument(
        "--mem-limit-gb", type=float, default=6.0, help="kill a server holding more (counts as a crash)"
    )
    parser.add_argument(
        "--groups",
        default="",
        help="comma-separated subset: paths,own_state,deep_json,bomb,regex,secrets,numbers,strftime,backups,concurrent,fuzz",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, home) for inspection"
    )
    opts = parser.parse_args()
    return anyio.run(main_async, opts)


if __name__ == "__main__":
    sys.exit(main())
