"""Error texts a model can act on (issue #22.9): no absolute path outside the roots, the roots named as a
caller can use them, a deadline error that says what was asked and what was running."""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import BaseModel

from mcp_server.core.app import create_server
from mcp_server.core.boundary import Control, seconds_text, service_call
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext, Ctx
from mcp_server.core.errors import OutsideWorkspace
from mcp_server.core.registry import ToolSpec
from mcp_server.core.workspace import Workspace
from mcp_server.tools.backup import adapter
from tests.conftest import assert_tool_error
from tests.tools.backup.helpers import connect, make_settings

# -- backup_restore: no staging folder in the error --------------------------------------------------------


def _clashing_archive(path: Path) -> None:
    """A file member 'files/x' and then 'files/x/y': extracting the second fails on the staged first."""
    with tarfile.open(path, "w:gz") as tar:
        for name in ("files/x", "files/x/y"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
        manifest = {"format": "mlops-mcp-backup/1", "id": path.name[: -len(".tar.gz")], "members": []}
        raw = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    adapter.sidecar(path).write_text(f"{adapter.sha256_file(path)}  {path.name}\n")


@pytest.mark.parametrize("target", ["new_home", "in_place"])
async def test_a_failed_restore_names_no_staging_folder(tmp_path: Path, target: str) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    backup_id = adapter.new_id()
    (settings.home / "backups").mkdir(parents=True)
    _clashing_archive(settings.home / "backups" / f"{backup_id}.tar.gz")
    args = {"id": backup_id, "target": target, "confirm": True}  # in place asks first (core/confirm.py)
    args.update({"new_home": "restored"} if target == "new_home" else {})
    async with connect(settings) as client:
        msg = assert_tool_error(await client.call_tool("backup_restore", args), "failed verification")
    # The failure is the staged member 'files/x', named as in the archive.
    assert "'files/x'" in msg, msg
    assert str(tmp_path) not in msg and str(tmp_path.resolve()) not in msg, msg
    assert ".restore-" not in msg, msg
    assert not re.search(r"(?<![<\w])/(tmp|home|var|private)/", msg), msg
    assert not list(tmp_path.rglob(".restore-*"))


# -- the outside-roots error -------------------------------------------------------------------------------


async def test_the_outside_roots_error_names_the_roots_as_usable_paths(tmp_path: Path) -> None:
    data, shared = tmp_path / "data", tmp_path / "shared"
    data.mkdir()
    shared.mkdir()
    settings = Settings(home=tmp_path / "home", roots=[data, shared], profile="all")
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            msg = assert_tool_error(
                await client.call_tool("quality_profile", {"dataset": "/etc/passwd"}),
                "outside the allowed roots",
            )
    finally:
        server.app.close()
    assert "use a path under '.'" not in msg, msg
    assert f"relative paths resolve under {str(data.resolve())!r}" in msg, msg
    assert repr(str(shared.resolve())) in msg, msg
    assert "--root" in msg and msg.count(". ") == 0, msg


def test_the_default_workspace_root_is_named_in_home_form(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ws = Workspace([home / "workspace", home / "workspace" / "shared"], home)
    with pytest.raises(OutsideWorkspace) as err:
        ws.resolve(str(tmp_path / "elsewhere.csv"))
    msg = str(err.value)
    assert "relative paths resolve under '<home>/workspace'" in msg, msg
    assert "a path under 'shared'" in msg, msg  # a second root inside the first: reachable relatively
    assert str(home) not in msg.split("outside the allowed roots")[1], msg


# -- the deadline error ------------------------------------------------------------------------------------


class Done(BaseModel):
    steps: int


def _reading(app: AppContext, control: Control) -> int:
    control.step(0, None, "reading the dataset")
    while True:  # stuck in the step it reported last, until the call's deadline stops it
        time.sleep(0.02)
        control.step(0)


async def demo_read_slowly(ctx: Ctx, deadline_s: float | None = None) -> Done:
    """A service that stays in one step past the call's deadline (test tool)."""
    return Done(steps=await service_call(ctx, _reading))


@pytest.fixture
async def tclient(tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(home=tmp_path / "home", profile="all")
    server = create_server(settings, extra_tools=(ToolSpec(demo_read_slowly, read_only=True),))
    async with Client(server, mode="legacy") as session:
        yield session
    server.app.close()


async def test_a_deadline_error_says_the_deadline_asked_and_what_was_running(tclient: Client) -> None:
    started = time.monotonic()
    msg = assert_tool_error(
        await tclient.call_tool("demo_read_slowly", {"deadline_s": 0.5}),
        "demo_read_slowly",
        "0.5 s deadline",
        "reading the dataset",
    )
    assert time.monotonic() - started < 3
    assert "1s" not in msg and "1 s" not in msg, msg
    assert "regex" not in msg.lower() and "regular expression" not in msg, msg


def test_seconds_are_shown_as_asked() -> None:
    assert [seconds_text(s) for s in (0.5, 0.25, 1.0, 120.0, 0.1, 1800.0)] == [
        "0.5",
        "0.25",
        "1",
        "120",
        "0.1",
        "1800",
    ]


def test_a_worker_cause_is_named_only_when_the_worker_was_stopped() -> None:
    from mcp_server.core.boundary import _WorkerControl

    call = Control(0.5, None, "validation_run")
    call.step(0, None, "reading the dataset")
    worker = _WorkerControl(call, "a regular expression in it may backtrack catastrophically")
    assert "regular expression" in worker.late(worker=True).message
    assert "worker was stopped" in worker.late(worker=True).message
    plain = worker.late().message
    assert "regular expression" not in plain and "0.5 s deadline" in plain and "reading the dataset" in plain


async def test_a_gateway_host_that_does_not_resolve_is_one_sentence(
    client: Client, settings: Settings
) -> None:
    """It was an internal error (socket.gaierror); a password in it is masked like any other."""
    # The client's first call lists the tools, which imports every area's tool module (about a second on
    # these machines): made before, so the bound below times only a call after the failed starts.
    assert not (await client.call_tool("server_info", {})).is_error
    for host in ("u:pw123@127.0.0.1", "no-such-host.invalid"):
        message = assert_tool_error(
            await client.call_tool("deploy_gateway_start", {"host": host, "port": 0}),
            "is not an address this machine can bind",
        )
        assert "internal error" not in message and "pw123" not in message
    with anyio.fail_after(1):
        assert not (await client.call_tool("server_info", {})).is_error
    assert not (settings.home / "gateway" / "gateway.json").exists()
