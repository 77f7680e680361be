"""A write's audit row rides on the call's last write transaction (`transaction(audit=True)`): one commit for
the call's rows and its audit row; a failure before that commit is audited on its own, one after it amends
the row; a call without such a transaction is audited on its own as before."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import BaseModel
from sqlalchemy import event, select

from mcp_server.core.app import create_server
from mcp_server.core.boundary import Control, service_call
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext, Ctx
from mcp_server.core.errors import Conflict, InvalidInput
from mcp_server.core.lineage import make_id, record_edge
from mcp_server.core.registry import ToolSpec
from mcp_server.core.store import MetadataStore, PendingAudit, pending_audit
from mcp_server.core.store.models import LineageEdge
from tests.conftest import assert_tool_error, structured


class Done(BaseModel):
    name: str


def _write(app: AppContext, control: Control, name: str, fail: str | None) -> Done:
    if fail == "before":
        with app.store.transaction(audit=True) as session:
            record_edge(
                app.store, make_id("run", "r1"), make_id("model", name, "1"), "registered", session=session
            )
            raise Conflict("Refused inside the transaction.")
    with app.store.transaction(audit=True) as session:
        record_edge(
            app.store, make_id("run", "r1"), make_id("model", name, "1"), "registered", session=session
        )
    if fail == "after":
        raise InvalidInput("Refused after the commit.")
    return Done(name=name)


async def demo_carried_write(ctx: Ctx, name: str, token: str = "", fail: str | None = None) -> Done:
    """A write whose last transaction carries the audit row (test tool)."""
    return await service_call(ctx, _write, name, fail)


def _plain(app: AppContext, control: Control, name: str) -> Done:
    with app.store.transaction() as session:
        record_edge(
            app.store, make_id("run", "r2"), make_id("model", name, "1"), "registered", session=session
        )
    return Done(name=name)


async def demo_plain_write(ctx: Ctx, name: str) -> Done:
    """A write without audit=True (test tool)."""
    return await service_call(ctx, _plain, name)


TOOLS = (
    ToolSpec(demo_carried_write, idempotent=True, secret_args=("token",)),
    ToolSpec(demo_plain_write, idempotent=True),
)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Client, MetadataStore]]:
    server = create_server(Settings(home=tmp_path / "home"), extra_tools=TOOLS)
    server.app.store.ensure_ready()
    async with Client(server, mode="legacy") as client:
        yield client, server.app.store
    server.app.close()


@contextmanager
def commits(store: MetadataStore) -> Iterator[list[int]]:
    seen: list[int] = []

    def on_commit(_conn: Any) -> None:
        seen.append(1)

    event.listen(store.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(store.engine, "commit", on_commit)


def _edges(store: MetadataStore, name: str) -> int:
    with store.read_session() as session:
        return len(
            session.scalars(select(LineageEdge).where(LineageEdge.downstream == f"model:{name}/1")).all()
        )


async def test_the_last_write_carries_the_audit_row(served: tuple[Client, MetadataStore]) -> None:
    client, store = served
    with commits(store) as seen:
        assert structured(await client.call_tool("demo_carried_write", {"name": "a", "token": "s3cret"}))
    assert len(seen) == 1
    (row,) = store.audit_entries(tool="demo_carried_write")
    assert (row.outcome, row.error, row.client) == ("ok", None, "mcp")
    assert "s3cret" not in row.args_redacted and row.duration_ms > 0
    assert _edges(store, "a") == 1


async def test_a_failure_before_the_commit_is_audited_on_its_own(
    served: tuple[Client, MetadataStore],
) -> None:
    client, store = served
    with commits(store) as seen:
        assert_tool_error(
            await client.call_tool("demo_carried_write", {"name": "b", "fail": "before"}), "Refused inside"
        )
    assert len(seen) == 1  # the audit row alone: the edge was rolled back
    (row,) = store.audit_entries(tool="demo_carried_write")
    assert row.outcome == "error" and "Refused inside" in (row.error or "")
    assert _edges(store, "b") == 0


async def test_a_failure_after_the_commit_amends_the_row(served: tuple[Client, MetadataStore]) -> None:
    client, store = served
    assert_tool_error(
        await client.call_tool("demo_carried_write", {"name": "c", "fail": "after"}), "after the commit"
    )
    (row,) = store.audit_entries(tool="demo_carried_write")  # one row: amended, not a second one
    assert row.outcome == "error" and "after the commit" in (row.error or "")
    assert _edges(store, "c") == 1  # the call's own rows stay committed


async def test_a_write_without_audit_true_is_audited_as_before(served: tuple[Client, MetadataStore]) -> None:
    client, store = served
    with commits(store) as seen:
        assert structured(await client.call_tool("demo_plain_write", {"name": "d"}))
    assert len(seen) == 2  # its own transaction, then the audit row's
    (row,) = store.audit_entries(tool="demo_plain_write")
    assert row.outcome == "ok"


def test_a_transaction_of_another_store_or_a_closed_call_takes_no_row(tmp_path: Path) -> None:
    store = MetadataStore.for_home(tmp_path / "a")
    other = MetadataStore.for_home(tmp_path / "b")
    pending = PendingAudit(store, tool="demo", client=None, arguments={"x": 1})
    with pending_audit(pending):
        with other.transaction(audit=True):
            pass  # another store: the row is not its to carry
        assert pending.joined_id() is None
        with store.transaction():  # not marked as the last write
            pass
        assert pending.joined_id() is None
        with store.transaction(audit=True):
            pass
        row_id = pending.joined_id()
        assert row_id is not None and pending.close() == row_id
    assert [e.id for e in store.audit_entries()] == [row_id]

    late = PendingAudit(store, tool="demo", client=None, arguments={})
    assert late.close() is None  # the call ended: a transaction that comes later takes nothing
    with pending_audit(late), store.transaction(audit=True):
        pass
    assert len(store.audit_entries()) == 1
    assert other.audit_entries() == []
    store.dispose()
    other.dispose()
