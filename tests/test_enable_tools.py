"""Tools on demand (#23 item 5): `server_enable_tools` adds what the core profile left out, without a
restart, and tells the client the tool list changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured


class ListChanged:
    def __init__(self) -> None:
        self.count = 0

    async def handler(self, message: Any) -> None:
        from mcp.types import ToolListChangedNotification

        if isinstance(getattr(message, "root", message), ToolListChangedNotification):
            self.count += 1


async def names(client: Client) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


async def test_a_core_session_adds_registry_rollback_and_is_told(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="core")
    changed = ListChanged()
    server = create_server(settings)
    async with Client(server, mode="legacy", message_handler=changed.handler) as client:
        caps = server._lowlevel_server.create_initialization_options().capabilities
        assert caps.tools is not None and caps.tools.list_changed is True
        before = await names(client)
        assert "registry_rollback" not in before and "server_enable_tools" in before and len(before) == 30
        info = structured(await client.call_tool("server_info", {}))
        assert "registry_rollback" in info["can_enable"]["registry"]
        assert "deploy_canary_abort" in info["can_enable"]["deploy"]

        out = structured(await client.call_tool("server_enable_tools", {"tools": ["registry_rollback"]}))
        assert out["enabled"] == ["registry_rollback"] and out["tool_count"] == 31
        assert changed.count == 1
        after = await names(client)
        assert after == before | {"registry_rollback"}
        # Callable at once: a rollback of a model that does not exist is the tool's own clear error.
        assert_tool_error(
            await client.call_tool(
                "registry_rollback", {"name": "nope", "alias": "champion", "confirm": True}
            )
        )

        out = structured(await client.call_tool("server_enable_tools", {"areas": ["deploy"]}))
        assert "deploy_canary_abort" in out["enabled"] and "deploy_predict" not in out["enabled"]
        assert changed.count == 2 and "deploy_canary_abort" in await names(client)
        again = structured(await client.call_tool("server_enable_tools", {"areas": ["deploy"]}))
        assert again["enabled"] == [] and changed.count == 2  # nothing new, nothing told
        info = structured(await client.call_tool("server_info", {}))
        assert "deploy" not in info["can_enable"] and "registry_rollback" not in str(info["can_enable"])

        assert_tool_error(await client.call_tool("server_enable_tools", {}), "can_enable")
        assert_tool_error(
            await client.call_tool("server_enable_tools", {"tools": ["no_such_tool"]}), "no_such_tool"
        )
    server.app.close()


async def test_a_read_only_server_adds_no_writes(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="core", read_only=True)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        info = structured(await client.call_tool("server_info", {}))
        assert "registry_rollback" not in str(info["can_enable"])
        assert "registry_alias_history" in info["can_enable"]["registry"]
        assert_tool_error(
            await client.call_tool("server_enable_tools", {"tools": ["registry_rollback"]}), "read-only"
        )
        out = structured(await client.call_tool("server_enable_tools", {"areas": ["registry"]}))
        assert out["enabled"] and all(n in info["can_enable"]["registry"] for n in out["enabled"])
    server.app.close()
