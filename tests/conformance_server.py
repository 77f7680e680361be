"""`mlops-mcp serve --transport http` plus the two fixture tools the conformance suite calls to check how a
server reports a tool's error and sends a tool's log lines (scripts/conformance.py starts this).

    python -m tests.conformance_server --port N

The fixtures go through the same boundary as every tool: `test_error_handling` fails with a project error
(an `isError` result with one sentence), `test_tool_with_logging` logs three lines with `logging`, which
core/client_log.py sends to the client at or above its `logging/setLevel`. Everything else is the product as
`serve` builds it.
"""

from __future__ import annotations

import argparse
import logging
import time

import anyio
from pydantic import BaseModel

from mcp_server.cli import _setup_logging
from mcp_server.core.app import create_server, run_http
from mcp_server.core.boundary import Control, service_call
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext, Ctx
from mcp_server.core.errors import InvalidInput
from mcp_server.core.registry import ToolSpec

log = logging.getLogger("mlops_mcp.conformance")


class Done(BaseModel):
    done: bool


async def test_error_handling(ctx: Ctx) -> Done:
    """Always fails with a tool error (conformance fixture)."""
    raise InvalidInput("This tool always fails; it checks how the server reports a tool error.")


def _three_lines(app: AppContext, control: Control) -> bool:
    for line in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        log.info(line)
        time.sleep(0.05)
    return True


async def test_tool_with_logging(ctx: Ctx) -> Done:
    """Logs three lines at info while it works (conformance fixture)."""
    return Done(done=await service_call(ctx, _three_lines))


FIXTURES = (
    ToolSpec(test_error_handling, core=True, read_only=True),
    ToolSpec(test_tool_with_logging, core=True, read_only=True),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    _setup_logging(settings.log_level)
    anyio.run(run_http, create_server(settings, extra_tools=FIXTURES), settings, args.host, args.port)


if __name__ == "__main__":
    main()
