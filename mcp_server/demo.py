"""`mlops-mcp demo`: a real MCP client spawns `mlops-mcp serve` over stdio and walks what exists.

Each area adds its step to STEPS. Prints a short readable summary; exits non-zero if a step fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters


def _server_params(home: Path) -> StdioServerParameters:
    # stdio_client passes only a few variables to the child: hand it the settings explicitly.
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("MLOPS_MCP_", "PATH", "HOME", "LANG", "OPENBLAS"))
    }
    env["MLOPS_MCP_HOME"] = str(home)
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "serve", "--profile", "all"], env=env
    )


async def _walk(home: Path) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    started = time.perf_counter()
    async with Client(_server_params(home), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        results.append(("tools/list", True, f"{len(tools)} tools in {time.perf_counter() - started:.2f}s"))

        info = await client.call_tool("server_info", {})
        sc: dict[str, Any] = info.structured_content or {}
        results.append(
            ("server_info", not info.is_error, f"v{sc.get('version')}, areas {sc.get('enabled_areas')}")
        )

        health = await client.call_tool("health_check", {})
        hc: dict[str, Any] = health.structured_content or {}
        backends = ", ".join(f"{b['name']}={b['status']}" for b in hc.get("backends", []))
        results.append(("health_check", hc.get("status") == "ok", backends))

        bad = await client.call_tool("no_such_tool", {})
        results.append(("unknown tool -> isError", bool(bad.is_error), bad.content[0].text[:80]))  # type: ignore[union-attr]
    return results


def main(home: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="mlops-mcp-demo-") as tmp:
        where = home or Path(tmp)
        print(f"mlops-mcp demo: spawning `mlops-mcp serve` over stdio (home {where})")
        results = anyio.run(_walk, where)
    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        print(f"  [{'ok' if ok else 'FAIL'}] {name:<{width}}  {detail}")
    failed = [name for name, ok, _ in results if not ok]
    print("demo finished: " + ("all steps passed" if not failed else f"{len(failed)} step(s) failed"))
    return 1 if failed else 0
