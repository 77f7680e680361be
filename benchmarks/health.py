"""health_check wall time: every probe at once (each with its own deadline) vs the same probes in a row.

The server has its real probes (home, metadata store, GX, Feast, MLflow, lake, gateway, MongoDB) on a fresh
home, with MongoDB (1.5 s timeout) and Feast's Redis online store pointed at local ports that accept connections
and never answer: two hung backends. Figure: median health_check time through an MCP client; baseline: the same
probes awaited one after another in the same process (what health_check did before #12). Prints one JSON line.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.server_tools import CORE_PROBES

RUNS = 5


def blackhole() -> socket.socket:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung backend."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def port(s: socket.socket) -> int:
    return int(s.getsockname()[1])


async def main() -> dict[str, Any]:
    mongo_hole, redis_hole = blackhole(), blackhole()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            home=Path(tmp) / "home",
            profile="all",
            mongo_uri=f"mongodb://127.0.0.1:{port(mongo_hole)}/",
            mongo_timeout_s=1.5,
            feast_online_store="redis",
            redis_url=f"redis://127.0.0.1:{port(redis_hole)}/0",
        )
        server = create_server(settings)
        app = server.app
        concurrent: list[float] = []
        sequential: list[float] = []
        async with Client(server, mode="legacy") as client:
            await client.call_tool("health_check", {})  # warm: store migrated, libraries imported
            for _ in range(RUNS):
                started = time.perf_counter()
                result = await client.call_tool("health_check", {})
                concurrent.append(time.perf_counter() - started)
                assert not result.is_error
                started = time.perf_counter()
                for probe in {**CORE_PROBES, **app.probes}.values():
                    await probe(app)
                sequential.append(time.perf_counter() - started)
        app.close()
        mongo_hole.close()
        redis_hole.close()
        down = [
            b["name"] for b in (result.structured_content or {}).get("backends", []) if b["status"] == "down"
        ]
    value = statistics.median(concurrent)
    baseline = statistics.median(sequential)
    return {
        "figure": f"health_check wall time, {len(down)} backends down ({', '.join(down)})",
        "value": round(value, 3),
        "baseline": round(baseline, 3),
        "ratio": round(value / baseline, 3),
        "unit": "s (median of 5; baseline: the same probes one after another)",
    }


if __name__ == "__main__":
    print(json.dumps(anyio.run(main)))
