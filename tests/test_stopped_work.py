"""Issue #22 item 4: a call stopped at its deadline (or cancelled) stops its work. The caller gets the
deadline error, and the server's CPU time (its own and its worker processes') stops growing within 2 s."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import anyio
import numpy as np
import pandas as pd
import psutil
import pytest
from mcp import Client, StdioServerParameters
from pydantic import BaseModel

from mcp_server.core.app import create_server
from mcp_server.core.boundary import Control, Stopped, service_call
from mcp_server.core.config import Settings
from mcp_server.core.context import Ctx
from mcp_server.core.registry import ToolSpec
from tests.conftest import PYTHON, assert_tool_error, server_env


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its living descendants (joblib's worker processes included)."""
    total = 0.0
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _big_table(path: Path, rows: int = 300_000) -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({f"f{i}": rng.normal(size=rows) for i in range(12)})
    df["segment"] = rng.choice(["a", "b", "c"], rows)
    df["y"] = (df["f0"] + rng.normal(size=rows) > 0).astype(int)
    df.to_parquet(path)


HEAVY_CALLS = [
    # pandas and scipy over every column, in the service's thread (1,000,000 rows: a profile of 300,000
    # once finished within the 2 s on a quiet machine)
    ("quality_profile", {"dataset": "huge.parquet"}),
    # folds in joblib's worker processes: they must go too
    (
        "evaluation_cross_validate",
        {
            "dataset": "big.parquet",
            "target": "y",
            "estimator": "RandomForestClassifier",
            "metrics": ["accuracy"],
        },
    ),
    # one forest, tree after tree, in the service's thread
    (
        "evaluation_train_model",
        {"dataset": "big.parquet", "target": "y", "estimator": "RandomForestClassifier"},
    ),
]


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_stopped_call_stops_burning_cpu(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    data = tmp_path / "data"
    data.mkdir()
    _big_table(data / "big.parquet")
    _big_table(data / "huge.parquet", rows=1_000_000)
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all"],
        # Every tool's deadline capped at 2 s: each call below needs far longer.
        env=server_env(tmp_path / "home", MLOPS_MCP_ROOTS=str(data), MLOPS_MCP_MAX_DEADLINE_S="2"),
        cwd=str(tmp_path),
    )
    from mcp.client.stdio import stdio_client

    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            await client.call_tool("server_info", {})
            server = next(p for p in psutil.Process().children(recursive=True) if "mcp_server" in p.cmdline())
            for tool, args in HEAVY_CALLS:
                started = time.monotonic()
                assert_tool_error(
                    await client.call_tool(tool, args), "did not finish within its 2 s deadline"
                )
                assert time.monotonic() - started < 4, tool
                await anyio.sleep(2)  # the work has 2 s to notice
                before = _tree_cpu(server.pid)
                await anyio.sleep(2)
                burnt = _tree_cpu(server.pid) - before
                assert burnt < 0.3, f"{tool}: {burnt:.2f} CPU seconds in the 2 s after the work was stopped"
                asked = time.monotonic()
                assert not (await client.call_tool("server_info", {})).is_error
                assert time.monotonic() - asked < 1


def _spin(app: object, control: Control, seconds: float) -> str:
    """Pure Python work with no steps: only the thread stop can end it early."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return "finished"


def test_cancel_raises_stopped_in_the_thread_running_the_work() -> None:
    control = Control(60.0)
    outcome: list[object] = []

    def work() -> None:
        try:
            outcome.append(control.running(_spin, None, control, 30.0))
        except Stopped:
            outcome.append("stopped")

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    control.cancel()
    thread.join(5)
    assert outcome == ["stopped"] and time.monotonic() - started < 1


def test_a_cancel_that_comes_as_the_work_ends_never_fires_later_in_the_thread() -> None:
    """The thread is reused for other work (anyio's pool): a stop that lost the race must not land there."""
    leaked = 0
    for i in range(300):
        control = Control(60.0)
        fired = threading.Event()

        def work(
            control: Control = control, fired: threading.Event = fired, seconds: float = 0.001 * (i % 3)
        ) -> None:
            with contextlib.suppress(Stopped):  # stopped while it ran: fine
                control.running(_spin, None, control, seconds)
            try:  # whatever comes next in this thread
                _spin(None, control, 0.02)
            except Stopped:
                fired.set()

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(0.001 * (i % 4))
        control.cancel()
        thread.join(5)
        leaked += fired.is_set()
    assert leaked == 0


FINISHED: list[str] = []


def _spin_then_note(app: object, control: Control, name: str) -> str:
    _spin(app, control, 1.0)  # one step with no control.step inside
    FINISHED.append(name)
    return name


class Done(BaseModel):
    name: str


async def demo_read_spin(ctx: Ctx) -> Done:
    """Read-only work past its deadline (test tool)."""
    return Done(name=await service_call(ctx, _spin_then_note, "read"))


async def demo_write_spin(ctx: Ctx) -> Done:
    """A write past its deadline (test tool): its step is left to finish."""
    return Done(name=await service_call(ctx, _spin_then_note, "write"))


async def test_read_only_work_is_cut_and_a_write_finishes_its_step(tmp_path: Path) -> None:
    tools = (
        ToolSpec(demo_read_spin, read_only=True, deadline_s=0.3),
        ToolSpec(demo_write_spin, deadline_s=0.3),
    )
    server = create_server(Settings(home=tmp_path / "home"), extra_tools=tools)
    FINISHED.clear()
    async with Client(server, mode="legacy") as client:
        for tool in ("demo_read_spin", "demo_write_spin"):
            assert_tool_error(await client.call_tool(tool, {}), "deadline")
        await anyio.sleep(2)
    server.app.close()
    assert FINISHED == ["write"]  # cut mid-step: read-only; never cut between two commits: a write
