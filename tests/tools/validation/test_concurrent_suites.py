"""Issue #22 item 10: several server processes on one home saving the same suite name at the same moment.

Each stdio server (its own GX context on the shared `<home>/gx`) saves suite `same` several times at once
while reading it back. Before the GX project lock, a fresh home's first calls read great_expectations.yml
while another process was writing it (InvalidDataContextConfigError), and two processes chose the same next
version and wrote `same@N.json` in place together (a file of interleaved bytes, JSONDecodeError): both
"internal error". Now every call gets its own version and every stored version holds what its call sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from tests.conftest import PYTHON, REPO, server_env, text_of

SERVERS = 4
SAVES = 8  # per server, all at once
READS = 3  # validation_get_suite calls per server, among the saves


def suite(server: int, call: int) -> list[dict[str, Any]]:
    """A version that says who saved it: its upper bound is unique to (server, call)."""
    return [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 0, "max_value": 1000 * (server + 1) + call},
        },
    ]


def upper(expectations: list[dict[str, Any]]) -> Any:
    return next(e["kwargs"]["max_value"] for e in expectations if e["type"].endswith("_between"))


def clear_error(result: CallToolResult) -> str:
    """An error is one short sentence of ours: never an internal error, a traceback or a library's text."""
    message = text_of(result)
    assert "internal error" not in message, message
    assert "Traceback" not in message and 'File "' not in message, message
    assert len(message) < 300 and message.count(". ") == 0, message
    return message


@pytest.mark.slow
async def test_servers_saving_one_suite_at_once_each_get_their_own_version(tmp_path: Path) -> None:
    home = tmp_path / "home"  # fresh: the servers also open the GX project for the first time together
    saved: list[tuple[int, int, dict[str, Any]]] = []  # (server, call, structured result)
    errors: list[str] = []
    infos: list[bool] = []
    ready, done = anyio.Event(), anyio.Event()
    connected = 0
    finished: list[int] = []
    overview: dict[str, Any] = {}
    latest: dict[str, Any] = {}

    async def server(index: int) -> None:
        nonlocal connected
        params = StdioServerParameters(
            command=PYTHON,
            args=["-m", "mcp_server", "serve", "--tools", "validation"],
            env=server_env(home),
            cwd=str(REPO),
        )
        with (tmp_path / f"server{index}.stderr").open("w") as err:
            async with Client(stdio_client(params, errlog=err), mode="legacy") as client:
                await client.list_tools()
                connected += 1
                if connected == SERVERS:
                    ready.set()
                await ready.wait()  # every server up before anyone saves: the calls overlap
                await _save_and_read(client, index, SAVES, READS, saved, errors)
                with anyio.fail_after(1):
                    info = await client.call_tool("server_info", {})
                infos.append(not info.is_error and info.structured_content is not None)
                finished.append(index)
                if len(finished) == SERVERS:
                    done.set()
                await done.wait()
                if index == 0:  # every save is in: one server reads them all back through GX
                    listed = await client.call_tool("validation_list_suites", {})
                    assert listed.structured_content is not None, text_of(listed)
                    overview.update(listed.structured_content)
                    got = await client.call_tool("validation_get_suite", {"suite": "same"})
                    assert got.structured_content is not None, text_of(got)
                    latest.update(got.structured_content)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for index in range(SERVERS):
                tg.start_soon(server, index)

    logs = "".join((tmp_path / f"server{i}.stderr").read_text() for i in range(SERVERS))
    assert "internal error" not in logs, logs[-4000:]
    assert errors == [], errors  # the store lock serializes the writers: nobody even needs to retry
    assert infos == [True] * SERVERS
    total = SERVERS * SAVES
    assert sorted(s["version"] for _, _, s in saved) == list(range(1, total + 1))

    # Every version file parses, none is left half written, and each holds what its own call sent.
    folder = home / "gx" / "expectations"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(
        f"same@{v}.json" for v in range(1, total + 1)
    )
    assert not list(folder.glob(".*.tmp"))
    for index, call, result in saved:
        stored = json.loads((folder / f"same@{result['version']}.json").read_text())
        assert upper(stored["expectations"]) == upper(suite(index, call)), result["ref"]

    [only] = overview["items"]
    assert only["name"] == "same" and only["versions"] == list(range(1, total + 1))
    index, call, _ = next(s for s in saved if s[2]["version"] == total)
    assert latest["version"] == total and upper(latest["expectations"]) == upper(suite(index, call))


@pytest.mark.slow
async def test_servers_in_one_process_saving_one_suite_at_once(tmp_path: Path) -> None:
    """The same race, cheaper and so repeated: several servers in this process (each its own GX context on
    the shared home, as separate processes have), through real client sessions, on a fresh home each round."""
    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    servers, saves, rounds = 4, 6, 3
    for r in range(rounds):
        home = tmp_path / f"home{r}"
        apps = [create_server(Settings(home=home, tools=["validation"])) for _ in range(servers)]
        saved: list[tuple[int, int, dict[str, Any]]] = []
        errors: list[str] = []
        try:
            async with anyio.create_task_group() as tg:
                for index, app in enumerate(apps):
                    tg.start_soon(_hammer, app, index, saves, saved, errors)
        finally:
            for app in apps:
                app.app.close()
        assert errors == [], errors
        assert sorted(s["version"] for _, _, s in saved) == list(range(1, servers * saves + 1))
        folder = home / "gx" / "expectations"
        for index, call, result in saved:
            stored = json.loads((folder / f"same@{result['version']}.json").read_text())
            assert upper(stored["expectations"]) == upper(suite(index, call)), result["ref"]


async def _hammer(
    server: Any, index: int, saves: int, saved: list[tuple[int, int, dict[str, Any]]], errors: list[str]
) -> None:
    async with Client(server, mode="legacy") as client:
        await _save_and_read(client, index, saves, saves, saved, errors)
        assert not (await client.call_tool("server_info", {})).is_error


async def _save_and_read(
    client: Client,
    index: int,
    saves: int,
    reads: int,
    saved: list[tuple[int, int, dict[str, Any]]],
    errors: list[str],
) -> None:
    """`saves` saves of suite 'same' and `reads` reads of it, all at once, from one client."""

    async def save(call: int) -> None:
        result = await client.call_tool(
            "validation_create_suite", {"name": "same", "expectations": suite(index, call)}
        )
        if result.is_error:
            errors.append(clear_error(result))
        else:
            assert result.structured_content is not None
            saved.append((index, call, result.structured_content))

    async def read() -> None:
        result = await client.call_tool("validation_get_suite", {"suite": "same"})
        if result.is_error:  # before the first save lands: "No suite named 'same'; ..."
            assert "No suite named 'same'" in clear_error(result)

    async with anyio.create_task_group() as tg:
        for call in range(saves):
            tg.start_soon(save, call)
            if call < reads:
                tg.start_soon(read)
