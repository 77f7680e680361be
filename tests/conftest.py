"""The harness every test uses: Settings on a temporary home and a connected MCP client session."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings

REPO = Path(__file__).resolve().parents[1]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` (the Makefile's): a module marked `xdist_group` runs on one worker. xdist 3.8 tags
    such a test by appending `@<group>` to `item._nodeid`, which pytest 9.2 no longer reads (its node ids
    are structured: pytest-dev/pytest-xdist#1386), so the groups were silently spread over the workers.
    Tag them where pytest 9.2 keeps the id; a no-op wherever xdist's own tag took.

    Work is handed out in collection order, so the long units go first (the groups, then the tests marked
    `slow`): collected last, as the alphabet has it, the workflow and Spark groups left one worker busy for
    a minute after the other had finished."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    grouped = set()
    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default"))
            for m in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)  # type: ignore[attr-defined]
        if names:
            grouped.add(item.nodeid)
    # A stable sort: each module keeps its own order.
    items.sort(key=lambda it: 0 if it.nodeid in grouped else 1 if it.get_closest_marker("slow") else 2)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # Every coroutine test runs on anyio (anyio_mode = "auto" in pyproject) with asyncio.
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", profile="all")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """A real MCP client session (initialize handshake, JSON-RPC) to an in-memory server."""
    server = create_server(settings)
    async with Client(server, mode="legacy") as session:
        yield session
    server.app.close()


def text_of(result: CallToolResult) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def assert_tool_error(result: CallToolResult, *needles: str) -> str:
    """An isError result with one short message, no traceback, containing each needle."""
    assert result.is_error, f"expected an error, got {result.structured_content}"
    message = text_of(result)
    assert "Traceback" not in message and 'File "' not in message, message
    assert len(message) < 600, message
    for needle in needles:
        assert needle in message, message
    return message


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


class Updates:
    """`notifications/resources/updated` a client received: pass `handler` as the Client's message_handler,
    then `await updates.after(uri, n)` waits until more than `n` came about `uri` (n: `count(uri)` taken
    before reading the resource, so an update between the read and the wait is not missed)."""

    def __init__(self) -> None:
        import anyio

        self.uris: list[str] = []
        self._changed = anyio.Event()

    async def handler(self, message: Any) -> None:
        from mcp.types import ResourceUpdatedNotification

        message = getattr(message, "root", message)
        if isinstance(message, ResourceUpdatedNotification):
            import anyio

            self.uris.append(str(message.params.uri))
            self._changed.set()
            self._changed = anyio.Event()

    def count(self, uri: str) -> int:
        return self.uris.count(uri)

    async def after(self, uri: str, seen: int, timeout: float = 60.0) -> None:
        import anyio

        with anyio.fail_after(timeout):
            while self.count(uri) <= seen:
                await self._changed.wait()


async def read_json(client: Client, uri: str) -> Any:
    content = (await client.read_resource(uri)).contents[0]
    return json.loads(getattr(content, "text", ""))


async def read_artifact(client: Client, uri: str) -> bytes:
    """An mlops://artifacts/... link read back through resources/read."""
    assert uri.startswith("mlops://artifacts/"), uri
    content = (await client.read_resource(uri)).contents[0]
    blob = getattr(content, "blob", None)
    return base64.b64decode(blob) if blob is not None else str(getattr(content, "text", "")).encode()


# Set by coverage's `patch = ["subprocess"]` (pyproject) in a measured run: a Python process started with
# one of them measures itself. Our servers, CLIs and gateways keep them; third-party processes drop them.
COVERAGE_ENV = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a spawned server (our code, measured when the run measures coverage): stdio_client
    passes only a few variables through."""
    keep = ("PATH", "HOME", "LANG", "OPENBLAS_CORETYPE", *COVERAGE_ENV)
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"MLOPS_MCP_HOME": str(home), "PYTHONPATH": str(REPO)}, **extra)
    return env


def third_party_env(**extra: str) -> dict[str, str]:
    """This process's environment without coverage's start-up variables, for a process that runs no code of
    ours (`mlflow server`): measuring it would only slow it down."""
    env = {k: v for k, v in os.environ.items() if k not in COVERAGE_ENV}
    env.update(extra)
    return env


PYTHON = sys.executable
