"""`mlops-mcp demo`: a real MCP client spawns `mlops-mcp serve` over stdio and walks what exists.

Each area adds its step as `mcp_server/tools/<area>/demo.py` with `async def demo_step(client, workspace)`
returning `[(name, ok, detail), ...]`; steps run in the order of AREAS. Exits non-zero if a step fails.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_server.core.registry import AREAS

Step = tuple[str, bool, str]


def _server_params(home: Path) -> StdioServerParameters:
    # stdio_client passes only a few variables to the child: hand it the settings explicitly.
    keep = ("MLOPS_MCP_", "PATH", "HOME", "LANG", "OPENBLAS")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env["MLOPS_MCP_HOME"] = str(home)
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "serve", "--profile", "all"], env=env
    )


async def _core_step(client: Client, workspace: Path) -> list[Step]:
    results: list[Step] = []
    info = await client.call_tool("server_info", {})
    sc: dict[str, Any] = info.structured_content or {}
    results.append(
        ("server_info", not info.is_error, f"v{sc.get('version')}, areas {sc.get('enabled_areas')}")
    )
    health = await client.call_tool("health_check", {})
    hc: dict[str, Any] = health.structured_content or {}
    backends = ", ".join(f"{b['name']}={b['status']}" for b in hc.get("backends", []))
    results.append(("health_check", hc.get("status") == "ok", backends))
    bad = await client.call_tool("server_info", {"path": "../../etc/passwd"})
    results.append(("bad arguments -> isError", bool(bad.is_error), getattr(bad.content[0], "text", "")[:70]))
    return results


async def _walk(home: Path) -> list[Step]:
    results: list[Step] = []
    started = time.perf_counter()
    workspace = home / "workspace"
    # The server's stderr (its logs, and whatever libraries print) goes to a file, not over the summary.
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.log", "w") as errlog:
        return await _walk_with(home, errlog, results, started, workspace)


async def _walk_with(
    home: Path, errlog: TextIO, results: list[Step], started: float, workspace: Path
) -> list[Step]:
    async with Client(stdio_client(_server_params(home), errlog=errlog), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        results.append(("tools/list", True, f"{len(tools)} tools in {time.perf_counter() - started:.2f}s"))
        results.extend(await _core_step(client, workspace))
        names = {t.name for t in tools}
        for area in AREAS:
            if area.name in ("health", "server") or not any(n.startswith(area.name + "_") for n in names):
                continue
            try:
                demo = importlib.import_module(area.module + ".demo")
            except ModuleNotFoundError:
                continue
            results.extend(await demo.demo_step(client, workspace))
    return results


def main(home: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="mlops-mcp-demo-") as tmp:
        where = home or Path(tmp)
        print(f"mlops-mcp demo: spawning `mlops-mcp serve` over stdio (home {where})")
        started = time.perf_counter()
        results = anyio.run(_walk, where)
    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        print(f"  [{'ok' if ok else 'FAIL'}] {name:<{width}}  {detail}")
    failed = [name for name, ok, _ in results if not ok]
    verdict = "all steps passed" if not failed else f"{len(failed)} step(s) failed"
    print(f"demo finished in {time.perf_counter() - started:.1f}s: {verdict}")
    return 1 if failed else 0
