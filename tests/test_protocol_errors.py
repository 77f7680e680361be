"""Errors as the MCP spec says (issue #23 item 1): a caller's mistake in the protocol itself is a JSON-RPC
-32602 (invalid params) error with one sentence, not an isError tool result, code 0 or an internal error;
tool failures stay isError results."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    server = create_server(Settings(home=tmp_path / "home", profile="all"))
    async with Client(server, mode="legacy") as session:
        yield session
    server.app.close()


async def invalid_params(call: object) -> MCPError:
    with pytest.raises(MCPError) as err:
        await call  # type: ignore[misc]
    assert err.value.error.code == -32602, err.value.error
    assert "Traceback" not in err.value.error.message
    return err.value


async def test_unknown_tool(client: Client) -> None:
    err = await invalid_params(client.call_tool("no_such_tool", {}))
    assert err.error.message == "Unknown tool: no_such_tool; tools/list shows the tools."
    assert_tool_error(await client.call_tool("validation_get_suite", {"suite": "nope"}), "No suite named")


async def test_unknown_prompt_and_missing_arguments(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        err = await invalid_params(client.get_prompt("no_such_prompt", {}))
        assert (
            "Unknown prompt: no_such_prompt" in err.error.message and "validate_dataset" in err.error.message
        )
        err = await invalid_params(client.get_prompt("compare_and_promote", {"dataset": "d.csv"}))
        assert err.error.message == "Prompt compare_and_promote needs the argument(s) ['target', 'model']."
    assert "Traceback" not in caplog.text
    assert (await client.get_prompt("validate_dataset", {"dataset": "d.csv"})).messages


async def test_a_missing_resource_names_its_uri(client: Client) -> None:
    for uri in ("mlops://suites/nope", "mlops://validation-results/0123456789abcdef", "mlops://suites/..%2f"):
        err = await invalid_params(client.read_resource(uri))
        assert err.error.data == {"uri": uri}


async def test_a_cursor_tools_list_never_gave(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert len(tools) > 50
    err = await invalid_params(client.list_tools(cursor="garbage"))
    assert "Invalid cursor" in err.error.message


async def test_every_tool_has_a_human_title(client: Client) -> None:
    """Issue #23 item 7: clients show the title; none was set."""
    titles = {t.name: t.title for t in (await client.list_tools()).tools}
    assert all(titles.values()), [n for n, t in titles.items() if not t]
    assert titles["registry_set_alias"] == "Registry: set alias"
    assert titles["ab_analyze"] == "A/B test: analyze" and titles["onnx_convert"] == "ONNX: convert"
    assert len(set(titles.values())) == len(titles)
