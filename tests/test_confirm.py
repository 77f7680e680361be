"""Issue #23 item 6: destructive calls that move production state ask the user first (core/confirm.py).

Through a real MCP client on an in-memory session: a client that declares elicitation is asked with one
line and its decline changes nothing; a client that does not needs `confirm: true`; a call that moves no
production state (a restore into a new home, one version of a suite) is not asked at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured, text_of

pytestmark = pytest.mark.timeout(300)

# Written by hand from issue #23 item 6, not from the ToolSpecs.
ASKING = {
    "deploy_blue_green_switch",
    "deploy_rollback",
    "deploy_canary_abort",
    "deploy_delete_endpoint",
    "registry_rollback",
    "registry_delete_version",
    "backup_restore",  # in place only
    "backup_prune",
    "validation_delete_suite",  # every version only
}
PRUNE = {"keep_last": 1, "keep_daily": 0}
QUESTION = "Delete every backup but the newest 1?"

Answer = Callable[[ElicitRequestParams], Awaitable[ElicitResult]]


class User:
    """An elicitation callback that answers as told and keeps the questions it was asked."""

    def __init__(self, action: str = "accept", content: dict[str, Any] | None = None) -> None:
        self.action, self.content = action, content if content is not None else {"confirm": True}
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        content = self.content if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


@asynccontextmanager
async def connect(
    settings: Settings, user: User | None = None, mode: str = "legacy"
) -> AsyncIterator[Client]:
    server = create_server(settings)
    try:
        async with Client(server, mode=mode, elicitation_callback=user) as client:  # type: ignore[arg-type]
            yield client
    finally:
        server.app.close()


async def _two_backups(settings: Settings) -> list[str]:
    async with connect(settings) as client:
        for _ in range(2):
            structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))
        ids = await _backups(client)
    assert len(ids) == 2
    return ids


async def _backups(client: Client) -> list[str]:
    page = structured(await client.call_tool("backup_list", {}))
    return [b["id"] for b in page["items"]]  # newest first


def _archives(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.home / "backups").glob("*.tar.gz"))


async def test_the_tools_that_move_production_state_take_confirm(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    taking = {name for name, t in tools.items() if "confirm" in t.input_schema.get("properties", {})}
    assert taking == ASKING
    for name in taking:
        tool = tools[name]
        assert tool.annotations is not None and tool.annotations.destructive_hint, name
        confirm = tool.input_schema["properties"]["confirm"]
        assert confirm["type"] == "boolean" and confirm["default"] is False, name
        assert "elicitation" in confirm["description"], name
        assert "confirm" not in tool.input_schema.get("required", []), name
        assert "confirmation" not in tool.input_schema["properties"], name  # filled by the server


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_a_declined_confirmation_changes_nothing(settings: Settings, action: str) -> None:
    """The must-show: the user says no through elicitation; the call is an isError result that says
    nothing was changed, and nothing was (both backups and their archives are still there)."""
    before = await _two_backups(settings)
    archives = _archives(settings)
    user = User(action)
    async with connect(settings, user) as client:
        # confirm: true from the assistant does not stand in for the user's answer.
        result = await client.call_tool("backup_prune", {**PRUNE, "confirm": True})
        assert user.asked == [QUESTION]
        how = "declined" if action == "decline" else "dismissed the question whether"
        message = assert_tool_error(
            result, f"Not done: the user {how} to delete every backup but the newest 1"
        )
        assert message.endswith("nothing was changed.") and "\n" not in message
        assert result.structured_content is None
        assert await _backups(client) == before
        audit = structured(await client.call_tool("audit_list", {"tool": "backup_prune"}))
        assert [e["outcome"] for e in audit["entries"]] == ["error"]
    assert _archives(settings) == archives


async def test_an_accepted_confirmation_runs_the_call(settings: Settings) -> None:
    before = await _two_backups(settings)
    user = User("accept")
    async with connect(settings, user) as client:
        pruned = structured(await client.call_tool("backup_prune", PRUNE))
        assert user.asked == [QUESTION]
        assert pruned["kept"] == before[:1] and pruned["deleted"] == before[1:]
        assert await _backups(client) == before[:1]


async def test_an_accept_with_the_box_unticked_is_a_no(settings: Settings) -> None:
    before = await _two_backups(settings)
    async with connect(settings, User("accept", {"confirm": False})) as client:
        assert_tool_error(await client.call_tool("backup_prune", PRUNE), "the user declined", "nothing was")
        assert await _backups(client) == before


async def test_without_elicitation_the_call_needs_confirm_true(settings: Settings) -> None:
    before = await _two_backups(settings)
    async with connect(settings) as client:
        for arguments in (PRUNE, {**PRUNE, "confirm": False}):
            message = assert_tool_error(await client.call_tool("backup_prune", arguments))
            assert message == (
                "Error executing tool backup_prune: Confirmation needed to delete every backup but the "
                "newest 1: ask the user, and once they agree repeat the call with confirm: true."
            )
            assert await _backups(client) == before
        pruned = structured(await client.call_tool("backup_prune", {**PRUNE, "confirm": True}))
        assert pruned["deleted"] == before[1:]
        assert await _backups(client) == before[:1]


async def test_a_restore_in_place_declined_touches_nothing(settings: Settings) -> None:
    """No safety backup, no restore: the home is as it was."""
    before = await _two_backups(settings)
    archives = _archives(settings)
    user = User("decline")
    async with connect(settings, user) as client:
        result = await client.call_tool(
            "backup_restore", {"id": before[0], "target": "in_place", "idempotency_key": "restore-1"}
        )
        assert user.asked == [
            f"Replace this server's state with backup '{before[0]}' (a safety backup is taken first)?"
        ]
        assert_tool_error(result, "the user declined to replace this server's state", "nothing was changed")
        assert await _backups(client) == before
    assert _archives(settings) == archives
    # The declined call claimed no idempotency key: a retry once the user agrees runs for real.
    from sqlalchemy import select

    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import IdempotentCall

    app = AppContext.from_settings(settings)
    try:
        with app.store.transaction() as session:
            assert session.scalars(select(IdempotentCall)).all() == []
    finally:
        app.close()
    async with connect(settings) as client:  # without elicitation
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": before[0], "target": "in_place", "idempotency_key": "restore-1"}
            ),
            "Confirmation needed to replace this server's state with backup",
            "confirm: true",
        )


async def test_a_restore_into_a_new_home_is_not_asked(settings: Settings) -> None:
    before = await _two_backups(settings)
    user = User("decline")  # it would say no if asked
    async with connect(settings, user) as client:
        restored = structured(
            await client.call_tool(
                "backup_restore", {"id": before[0], "target": "new_home", "new_home": "h2"}
            )
        )
        assert restored["target"] == "new_home"
    assert user.asked == []


async def test_one_suite_version_is_not_asked_every_version_is(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", tools=["validation"])
    suite = {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]}
    async with connect(settings) as client:
        for _ in range(2):
            structured(await client.call_tool("validation_create_suite", {"name": "s", **suite}))
        one = structured(await client.call_tool("validation_delete_suite", {"suite": "s@1"}))
        assert one["deleted_versions"] == [1] and one["remaining_versions"] == [2]
        assert_tool_error(
            await client.call_tool("validation_delete_suite", {"suite": "s"}),
            "Confirmation needed to delete every version of suite 's'",
            "confirm: true",
        )
        assert structured(await client.call_tool("validation_get_suite", {"suite": "s"}))["version"] == 2
    user = User("accept")
    async with connect(settings, user) as client:
        every = structured(await client.call_tool("validation_delete_suite", {"suite": "s"}))
        assert every["deleted_versions"] == [2] and every["remaining_versions"] == []
    assert user.asked == ["Delete every version of suite 's'?"]


async def test_the_2026_protocol_asks_through_an_input_required_round(settings: Settings) -> None:
    """On 2026-07-28 the question rides an InputRequiredResult and the retry carries the answer; the
    outcome is the same."""
    before = await _two_backups(settings)
    no = User("decline")
    async with connect(settings, no, mode="2026-07-28") as client:
        result = await client.call_tool("backup_prune", PRUNE)
        assert no.asked == [QUESTION]
        assert_tool_error(result, "the user declined", "nothing was changed")
        assert await _backups(client) == before
    yes = User("accept")
    async with connect(settings, yes, mode="2026-07-28") as client:
        pruned = structured(await client.call_tool("backup_prune", PRUNE))
        assert yes.asked == [QUESTION] and pruned["deleted"] == before[1:]
        # One audit row a call: the round that only asked the user did nothing and is not audited.
        audit = structured(await client.call_tool("audit_list", {"tool": "backup_prune"}))
        assert [e["outcome"] for e in audit["entries"]] == ["ok", "error"]
    async with connect(settings, mode="2026-07-28") as client:  # no elicitation declared
        assert "confirm: true" in text_of(await client.call_tool("backup_prune", PRUNE))
