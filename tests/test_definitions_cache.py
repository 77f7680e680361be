"""tools/list is answered from cached definitions on later starts (and from memory for the process's other
servers); tools register on their first call."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from mcp_server.core import app as app_module
from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import structured


async def _listing(settings: Settings, *, new_process: bool = True) -> tuple[list[dict], int]:
    if new_process:  # a start of a new process: nothing in memory, only the files under the home
        app_module._DEFINITIONS.clear()
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        tools = [t.model_dump(by_alias=True, exclude_none=True) for t in (await client.list_tools()).tools]
        unregistered_after_list = len(server._unregistered)
        info = structured(await client.call_tool("server_info", {}))
        assert info["profile"] == "all"
        assert "server_info" not in server._unregistered
    server.app.close()
    return tools, unregistered_after_list


async def test_second_start_lists_from_the_cache(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all")
    first, left_first = await _listing(settings)
    assert left_first == 0  # a miss registers every tool and writes the cache
    caches = list((settings.home / "cache").glob("tool-definitions-*.json"))
    assert len(caches) == 1

    second, left_second = await _listing(settings)
    assert second == first
    assert left_second == len(first)  # nothing was built to answer tools/list

    caches[0].write_text("{not json")  # a damaged cache is rebuilt, not trusted
    third, left_third = await _listing(settings)
    assert third == first and left_third == 0


async def test_another_selection_has_its_own_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    await _listing(Settings(home=home, profile="all"))
    server = create_server(Settings(home=home, profile="all", read_only=True))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert len(list((home / "cache").glob("tool-definitions-*.json"))) == 2


async def test_another_home_of_the_same_process_lists_from_memory(tmp_path: Path) -> None:
    first, _ = await _listing(Settings(home=tmp_path / "a", profile="all"))
    again, left = await _listing(Settings(home=tmp_path / "b", profile="all"), new_process=False)
    assert again == first
    assert left == len(first)  # nothing was built to answer tools/list
