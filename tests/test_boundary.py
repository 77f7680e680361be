"""The tool boundary: project errors become one-sentence tool errors, crashes are masked, deadlines hold."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from mcp import Client
from mcp.types import Implementation, LoggingMessageNotificationParams
from pydantic import BaseModel

from mcp_server.core.app import create_server
from mcp_server.core.boundary import Control, service_call
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext, Ctx
from mcp_server.core.errors import NotFound
from mcp_server.core.registry import ToolSpec
from tests.conftest import assert_tool_error, structured
from tests.workers import regex_search

log = logging.getLogger("mlops_mcp")


class Echo(BaseModel):
    value: str
    count: int


async def demo_echo(
    ctx: Ctx, value: str, count: int = 1, ratio: float = 0.5, tags: list | None = None
) -> Echo:
    """Echo a value (test tool)."""
    return Echo(value=value, count=count)


def _tell(app: AppContext, control: Control) -> int:
    log.warning("3 rows were dropped")
    log.info("reading s3://user:pw123@host/x.csv")  # a path the caller gave, with a password
    control.step(1, 2, "scoring the rows")
    log.debug("a detail")
    return 1


async def demo_tell(ctx: Ctx) -> Echo:
    """Logs to the client from its worker thread (test tool)."""
    return Echo(value="told", count=await service_call(ctx, _tell))


async def demo_missing(ctx: Ctx, name: str) -> Echo:
    """Always fails with NotFound (test tool)."""
    raise NotFound(f"No model named '{name}'; list models to see the names.")


async def demo_crash(ctx: Ctx) -> Echo:
    """Always crashes (test tool)."""
    raise RuntimeError("boom at /very/secret/path with password=hunter2")


async def demo_slow(ctx: Ctx) -> Echo:
    """Sleeps past its deadline (test tool)."""
    await anyio.sleep(30)
    return Echo(value="late", count=0)


class Rows(BaseModel):
    rows: list[str]
    total: int
    truncated: bool = False


async def demo_big(ctx: Ctx, count: int) -> Rows:
    """Returns a large result (test tool)."""
    return Rows(rows=[f"row {i:06d} " + "x" * 40 for i in range(count)], total=count)


WRITES: list[str] = []


async def demo_write(ctx: Ctx, name: str, password: str, fail: bool = False) -> Echo:
    """A write tool (test tool) with a secret argument."""
    if fail:
        raise NotFound(f"No dataset named '{name}'.")
    WRITES.append(name)
    return Echo(value=name, count=len(WRITES))


def _steps(app: AppContext, control: Control, steps: int, record: bool = False) -> int:
    for i in range(steps):
        time.sleep(0.02)
        control.step(i + 1, steps, f"step {i + 1}")
        if record:
            STEPS_DONE.append(i)
    return steps


async def demo_steps(ctx: Ctx, steps: int) -> Echo:
    """Blocking work in steps with progress (test tool)."""
    return Echo(value="done", count=await service_call(ctx, _steps, steps))


STEPS_DONE: list[int] = []


async def demo_long_steps(ctx: Ctx, steps: int) -> Echo:
    """Blocking work in many steps, for cancellation (test tool)."""
    return Echo(value="done", count=await service_call(ctx, _steps, steps, record=True))


def _late(app: AppContext, control: Control) -> int:
    while True:  # a service that keeps stepping until the call's deadline stops it
        time.sleep(0.02)
        control.step(0)


async def demo_late_service(ctx: Ctx, deadline_s: float | None = None) -> Echo:
    """A service past the call's deadline (test tool)."""
    return Echo(value="late", count=await service_call(ctx, _late))


def _regex(app: AppContext, control: Control, pattern: str, text: str) -> bool:
    return control.run_killable(regex_search, pattern, text)


async def demo_regex(ctx: Ctx, pattern: str, text: str) -> Echo:
    """Runs a caller's regex in a killable worker (test tool)."""
    found = await service_call(ctx, _regex, pattern, text)
    return Echo(value=str(found), count=int(found))


TEST_TOOLS = (
    ToolSpec(demo_long_steps, read_only=True),
    ToolSpec(demo_tell, read_only=True),
    ToolSpec(demo_steps, read_only=True),
    ToolSpec(demo_regex, read_only=True, deadline_s=2),
    ToolSpec(demo_echo, read_only=True),
    ToolSpec(demo_missing, read_only=True),
    ToolSpec(demo_crash, read_only=True),
    ToolSpec(demo_slow, read_only=True, deadline_s=0.3),
    ToolSpec(demo_big, read_only=True),
    ToolSpec(demo_write, secret_args=("password",)),
    ToolSpec(demo_late_service, read_only=True),
)


@pytest.fixture
async def tclient(settings: Settings) -> AsyncIterator[Client]:
    server = create_server(settings, extra_tools=TEST_TOOLS)
    info = Implementation(name="pytest-client", version="1")
    async with Client(server, mode="legacy", client_info=info) as session:
        yield session
    server.app.close()


async def test_success_has_structured_content_equal_to_text(tclient: Client) -> None:
    assert structured(await tclient.call_tool("demo_echo", {"value": "hi", "count": 3})) == {
        "value": "hi",
        "count": 3,
    }


async def test_project_error_is_one_sentence(tclient: Client) -> None:
    msg = assert_tool_error(
        await tclient.call_tool("demo_missing", {"name": "iris"}), "No model named 'iris'"
    )
    assert "\n" not in msg


async def test_crash_is_masked_with_an_id(tclient: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="mlops_mcp"):
        msg = assert_tool_error(await tclient.call_tool("demo_crash", {}), "internal error (id ")
    assert "boom" not in msg and "secret" not in msg and "hunter2" not in msg
    incident = msg.split("(id ")[1][:8]
    assert any(incident in r.getMessage() for r in caplog.records)


async def test_deadline_stops_the_call_and_the_server_still_answers(tclient: Client) -> None:
    with anyio.fail_after(10):
        assert_tool_error(await tclient.call_tool("demo_slow", {}), "deadline")
    structured(await tclient.call_tool("demo_echo", {"value": "after"}))


@pytest.mark.parametrize(
    "arguments, needle",
    [
        ({}, "'value' field required"),
        ({"value": 1}, "'value'"),
        ({"value": "a", "count": "many"}, "'count'"),
        ({"value": "a", "count": 10**40}, "'count'"),
        ({"value": "a", "extra": {"deep": [[[]]]}}, "'extra'"),
        ({"value": "a\x00b"}, "'value' contains a NUL character"),
        ({"value": "a", "ratio": float("nan")}, "'ratio'"),
        (
            {"value": "a", "tags": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
            "nested deeper",
        ),
    ],
)
async def test_schema_breaking_arguments(tclient: Client, arguments: dict, needle: str) -> None:
    msg = assert_tool_error(
        await tclient.call_tool("demo_echo", arguments), "Invalid arguments for demo_echo", needle
    )
    assert "input_value" not in msg and "\n" not in msg


async def test_oversized_result_is_shaped_to_fit_not_refused(tclient: Client, settings: Settings) -> None:
    big = await tclient.call_tool("demo_big", {"count": 5_000})
    data = structured(big)
    assert data["total"] == 5_000 and data["truncated"] is True
    assert 0 < len(data["rows"]) < 5_000 and data["rows"][0].startswith("row 000000")
    assert len(json.dumps(data)) <= settings.max_output_bytes
    small = structured(await tclient.call_tool("demo_big", {"count": 10}))
    assert len(small["rows"]) == 10 and small["truncated"] is False


async def test_a_repeated_idempotency_key_writes_once(tclient: Client) -> None:
    WRITES.clear()
    tool = next(t for t in (await tclient.list_tools()).tools if t.name == "demo_write")
    assert "idempotency_key" in tool.input_schema["properties"]
    echo = next(t for t in (await tclient.list_tools()).tools if t.name == "demo_echo")
    assert "idempotency_key" not in echo.input_schema["properties"]  # read-only tools take none
    args = {"name": "iris", "password": "pw", "idempotency_key": "batch-7"}
    first = structured(await tclient.call_tool("demo_write", args))
    again = structured(await tclient.call_tool("demo_write", args))
    assert first == again == {"value": "iris", "count": 1}
    assert WRITES == ["iris"]
    assert_tool_error(
        await tclient.call_tool("demo_write", {**args, "name": "wine"}), "idempotency_key", "other arguments"
    )
    # A call that failed does not keep its key: the retry runs.
    failed = {"name": "x", "password": "pw", "fail": True, "idempotency_key": "k2"}
    assert_tool_error(await tclient.call_tool("demo_write", failed), "No dataset")
    structured(await tclient.call_tool("demo_write", {**failed, "fail": False}))
    assert WRITES == ["iris", "x"]


async def test_the_call_deadline_reaches_the_service(tclient: Client) -> None:
    started = time.monotonic()
    late = await tclient.call_tool("demo_late_service", {"deadline_s": 0.5})
    assert_tool_error(late, "demo_late_service", "0.5 s deadline")
    assert time.monotonic() - started < 3
    structured(await tclient.call_tool("demo_echo", {"value": "still answering"}))


async def test_audit_log_records_write_calls_and_never_secrets(tclient: Client, settings: Settings) -> None:
    structured(await tclient.call_tool("demo_write", {"name": "iris", "password": "hunter2"}))
    assert_tool_error(
        await tclient.call_tool("demo_write", {"name": "gone", "password": "hunter2", "fail": True}),
        "No dataset",
    )
    assert_tool_error(
        await tclient.call_tool("demo_write", {"name": 5, "password": "hunter2"}), "Invalid arguments"
    )
    structured(await tclient.call_tool("demo_echo", {"value": "read-only calls are not audited"}))

    from mcp_server.core.store import MetadataStore

    store = MetadataStore.for_home(settings.home)
    rows = store.audit_entries(limit=10)
    assert [r.tool for r in rows] == ["demo_write"] * 3
    newest_first = [r.outcome for r in rows]
    assert newest_first == ["error", "error", "ok"]
    assert "No dataset named 'gone'" in (rows[1].error or "")
    assert {r.client for r in rows} == {"pytest-client"}
    assert all(r.duration_ms >= 0 for r in rows)
    store.dispose()
    raw = (settings.home / "metadata.db").read_bytes()
    wal = settings.home / "metadata.db-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert b"hunter2" not in raw


async def test_progress_is_reported_for_blocking_work(tclient: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await tclient.call_tool("demo_steps", {"steps": 5}, progress_callback=on_progress)
    assert structured(result) == {"value": "done", "count": 5}
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert seen[-1] == (5, 5, "step 5")


async def test_catastrophic_regex_is_killed_at_the_deadline(tclient: Client) -> None:
    assert structured(await tclient.call_tool("demo_regex", {"pattern": "a+b", "text": "aaab"}))["count"] == 1
    started = time.monotonic()
    evil = await tclient.call_tool("demo_regex", {"pattern": "(a+)+$", "text": "a" * 40 + "!"})
    assert_tool_error(evil, "deadline", "worker was stopped")
    assert time.monotonic() - started < 8
    structured(await tclient.call_tool("demo_echo", {"value": "still answering"}))


async def test_log_lines_reach_the_client_at_its_level_and_stderr(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[tuple[str, object]] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append((params.level, params.data))

    server = create_server(settings, extra_tools=TEST_TOOLS)
    with caplog.at_level(logging.WARNING):  # the handler's level, as stderr's; the logger passes all on
        async with Client(server, mode="legacy", logging_callback=on_log) as session:
            assert server._lowlevel_server.get_capabilities().logging is not None
            # Before logging/setLevel the client gets what stderr gets (MLOPS_MCP_LOG_LEVEL, WARNING).
            structured(await session.call_tool("demo_tell", {}))
            assert received == [("warning", "3 rows were dropped")]
            received.clear()
            await session.set_logging_level("info")
            structured(await session.call_tool("demo_tell", {}))
            assert received == [
                ("warning", "3 rows were dropped"),
                ("info", "reading s3://user:***@host/x.csv"),  # masked, like every text that leaves
                ("info", "demo_tell: scoring the rows"),  # each new step message of a service
            ]
            received.clear()
            await session.set_logging_level("error")
            structured(await session.call_tool("demo_tell", {}))
            assert received == []
    assert any(r.getMessage() == "3 rows were dropped" for r in caplog.records)
    assert "pw123" not in str(received) and "pw123" not in caplog.text


async def test_cancelling_a_call_stops_blocking_work_between_steps(tclient: Client) -> None:
    STEPS_DONE.clear()
    with anyio.move_on_after(0.3):
        await tclient.call_tool("demo_long_steps", {"steps": 500})
    await anyio.sleep(0.3)
    stopped_at = len(STEPS_DONE)
    await anyio.sleep(0.3)
    assert 0 < stopped_at < 500
    assert len(STEPS_DONE) == stopped_at, "the worker kept going after the call was cancelled"
    structured(await tclient.call_tool("demo_echo", {"value": "still answering"}))
