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


async def read_artifact(client: Client, uri: str) -> bytes:
    """An mlops://artifacts/... link read back through resources/read."""
    assert uri.startswith("mlops://artifacts/"), uri
    content = (await client.read_resource(uri)).contents[0]
    blob = getattr(content, "blob", None)
    return base64.b64decode(blob) if blob is not None else str(getattr(content, "text", "")).encode()


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a spawned server: stdio_client passes only a few variables through."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "OPENBLAS_CORETYPE")}
    env.update({"MLOPS_MCP_HOME": str(home), "PYTHONPATH": str(REPO)}, **extra)
    return env


PYTHON = sys.executable
