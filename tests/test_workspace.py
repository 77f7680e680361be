"""Path arguments stay inside the configured roots (SECURITY.md 1-2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from mcp_server.core.errors import InvalidInput, MlopsError, NotFound, OutsideWorkspace
from mcp_server.core.workspace import Workspace, check_name
from tests.conftest import assert_tool_error, structured


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.csv").write_text("a\n1\n")
    (tmp_path / "data-evil").mkdir()
    (tmp_path / "data-evil" / "x.csv").write_text("secret")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "o.csv").write_text("o")
    return Workspace([root], tmp_path / "home")


def test_relative_and_absolute_inside(ws: Workspace) -> None:
    root = ws.default_root
    assert ws.resolve("sub/f.csv") == root / "sub" / "f.csv"
    assert ws.resolve(str(root / "sub" / "f.csv"), must_exist=True) == root / "sub" / "f.csv"
    assert ws.resolve("new/file.parquet") == root / "new" / "file.parquet"  # not yet existing: allowed
    assert ws.resolve(f"file://{root}/sub/f.csv") == root / "sub" / "f.csv"
    assert ws.resolve("file:///" + str(root / "sub" / "f%2Ecsv").lstrip("/")) == root / "sub" / "f.csv"


@pytest.mark.parametrize(
    "value",
    ["../outside/o.csv", "sub/../../outside/o.csv", "sub/../f.csv", "..", "./../data-evil/x.csv"],
)
def test_dot_dot_refused(ws: Workspace, value: str) -> None:
    with pytest.raises(OutsideWorkspace, match=r"'\.\.'"):
        ws.resolve(value)


def test_absolute_outside_and_prefix_sibling(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(OutsideWorkspace):
        ws.resolve(str(tmp_path / "outside" / "o.csv"))
    with pytest.raises(OutsideWorkspace):  # /data-evil shares the prefix of /data
        ws.resolve(str(tmp_path / "data-evil" / "x.csv"))
    with pytest.raises(OutsideWorkspace):
        ws.resolve("/etc/passwd")


@pytest.mark.parametrize("value", ["%2e%2e/outside/o.csv", "sub%2f..%2f..%2foutside", "%2E%2E", "a%00b"])
def test_percent_encoded_refused(ws: Workspace, value: str) -> None:
    with pytest.raises(InvalidInput, match="percent-encoded"):
        ws.resolve(value)


def test_file_uri_tricks(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(OutsideWorkspace):
        ws.resolve(f"file://{tmp_path}/data/%2e%2e/outside/o.csv")
    for value in (f"file://{ws.default_root}/sub/f.csv?x=1", f"file://{ws.default_root}/sub/f.csv#frag"):
        with pytest.raises(InvalidInput, match="'\\?' or '#'"):
            ws.resolve(value)
    with pytest.raises(InvalidInput, match="local file"):
        ws.resolve("file://evil.example/etc/passwd")


def test_symlinks_that_leave_a_root(ws: Workspace, tmp_path: Path) -> None:
    root = ws.default_root
    os.symlink(tmp_path / "outside", root / "link_dir")
    os.symlink(tmp_path / "outside" / "o.csv", root / "link_file")
    os.symlink(root / "sub" / "f.csv", root / "inner_link")
    with pytest.raises(OutsideWorkspace):
        ws.resolve("link_dir/o.csv")
    with pytest.raises(OutsideWorkspace):
        ws.resolve("link_file")
    with pytest.raises(OutsideWorkspace):  # a new file under a linked folder: judged by its real parent
        ws.resolve("link_dir/new.csv")
    assert ws.resolve("inner_link") == root / "sub" / "f.csv"


def test_nul_empty_and_missing(ws: Workspace) -> None:
    for value in ("", "   ", "a\x00b"):
        with pytest.raises(InvalidInput):
            ws.resolve(value)
    with pytest.raises(NotFound):
        ws.resolve("sub/missing.csv", must_exist=True)


def test_home_is_allowed_and_shown_without_its_absolute_path(ws: Workspace) -> None:
    path = ws.resolve(str(ws.home / "reports" / "r.html"))
    assert ws.display(path) == "<home>/reports/r.html"


def test_default_root_is_home_workspace(tmp_path: Path) -> None:
    app = AppContext.from_settings(Settings(home=tmp_path / "h"))
    assert app.workspace.roots == [(tmp_path / "h" / "workspace").resolve()]
    assert (tmp_path / "h" / "workspace").is_dir()


def test_client_roots_never_widen_the_allowlist(tmp_path: Path) -> None:
    # Only Settings.roots feed the Workspace; there is no path from a client's roots/list to it.
    app = AppContext.from_settings(Settings(home=tmp_path / "h", roots=[tmp_path / "a"]))
    assert app.workspace.allowed == [(tmp_path / "a").resolve(), (tmp_path / "h").resolve()]


def test_broad_root_needs_the_flag(tmp_path: Path) -> None:
    for broad in (Path("/"), Path.home()):
        with pytest.raises(MlopsError, match="allow-broad-root"):
            AppContext.from_settings(Settings(home=tmp_path / "h", roots=[broad]))
    app = AppContext.from_settings(Settings(home=tmp_path / "h", roots=[Path("/")], allow_broad_root=True))
    assert app.workspace.roots == [Path("/")]


@pytest.mark.parametrize("name", ["", "-rf", ".hidden", "a/b", "a b", "x" * 129, "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


def test_good_names() -> None:
    for name in ("iris", "model-1.2_x", "A" * 128):
        assert check_name(name) == name


# -- through a real MCP client (#22 item 10): names the kernel refuses get one sentence, not a crash --------

LONG_NAME = "a" * 300 + ".csv"


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("validation_run", {"dataset": LONG_NAME, "suite": "s"}),
        ("lake_write", {"source": f"sub/{LONG_NAME}", "dataset": "long"}),
        ("quality_profile", {"dataset": LONG_NAME}),
        ("lake_convert", {"path": "ok.csv", "output": "é" * 200 + ".parquet"}),  # 400+ bytes, 200 chars
    ],
)
async def test_component_over_255_bytes_is_refused(
    client: Client, settings: Settings, tool: str, args: dict[str, Any]
) -> None:
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    (settings.workspace_dir / "ok.csv").write_text("a\n1\n")
    structured(await client.call_tool("server_info", {}))  # warm: the 1 s after is for a live server
    message = assert_tool_error(await client.call_tool(tool, args), "over the 255-byte limit", "shorter")
    assert "internal error" not in message
    with anyio.fail_after(1):
        structured(await client.call_tool("server_info", {}))
    assert sorted(p.name for p in settings.workspace_dir.iterdir()) == ["ok.csv"]
    assert not (settings.home / "lake" / "raw" / "long").exists()


async def test_long_names_near_the_limit_still_work(client: Client, settings: Settings) -> None:
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    name = "b" * 251 + ".csv"  # 255 bytes; its default .parquet twin would be 259
    (settings.workspace_dir / name).write_text("a\n1\n")
    assert_tool_error(await client.call_tool("lake_convert", {"path": name}), "over the 255-byte limit")
    out = structured(await client.call_tool("lake_convert", {"path": name, "output": "c" * 247 + ".parquet"}))
    assert out["rows"] == 1  # the atomic write's temp name stays short too


async def test_path_with_a_lone_surrogate_is_refused(client: Client) -> None:
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "d\ud800.csv", "dataset": "x"}), "not valid Unicode"
    )


@pytest.mark.parametrize(
    "value",
    ["s3://user:pw123@host/x.parquet", "https://u:pw123@h:1/x.csv", "gs://bucket/x.csv", "HTTP://h/x"],
)
def test_a_url_is_not_a_local_path(ws: Workspace, value: str) -> None:
    """It became a local folder named 's3:' with the password in its name (issue #22 stress run)."""
    with pytest.raises(InvalidInput, match="is a URL") as err:
        ws.resolve(value)
    assert "pw123" not in str(err.value)


@pytest.mark.parametrize(
    "value", ["s3:/user:pw123@host/x.parquet", "user:pw123@host/x.parquet", "a/u:pw123@h/x.csv"]
)
def test_a_path_holding_a_credential_is_refused(ws: Workspace, value: str) -> None:
    """It became a local file whose name, shown in results and stored in lineage, held the password."""
    with pytest.raises(InvalidInput, match="looks like a user:password@ credential") as err:
        ws.resolve(value)
    assert "pw123" not in str(err.value)


@pytest.mark.parametrize("value", ["data/iris.csv", "people@2024.csv", "a:b.csv", "team/model@2.onnx"])
def test_paths_with_at_or_colon_alone_still_resolve(ws: Workspace, value: str) -> None:
    assert ws.resolve(value).name == Path(value).name
