"""Parquet "bombs" (issue #22.3): a few KB that decode to gigabytes are refused before they are read."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mcp import Client, StdioServerParameters

from mcp_server.core.config import Settings
from mcp_server.core.errors import LimitExceeded
from mcp_server.core.tables import TableLimits, check_parquet_decoded, read_table
from tests.conftest import PYTHON, assert_tool_error, server_env, structured
from tests.tools.quality.conftest import Harness, faulted, write

MB = 1024**2


def bomb(path: Path, rows: int, value_bytes: int, *, dictionary: bool = True) -> Path:
    """One highly compressible string repeated `rows` times (zstd), with a small int column beside it.

    Written without the Arrow schema, as other writers do, so pandas decodes the strings (with the schema
    a dictionary column would come back as a compact categorical)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = pa.array(["a" * value_bytes])
    strings = (
        pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), value)
        if dictionary
        else pa.repeat(value[0], rows)
    )
    table = pa.table({"k": pa.array([7] * rows), "s": strings})
    pq.write_table(table, path, compression="zstd", use_dictionary=dictionary, store_schema=False)
    return path


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def server_pid() -> int:
    """The spawned server: the child of this process running mcp_server."""
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and b"mcp_server" in cmd:
            return int(proc.name)
    raise AssertionError("no server process")


@pytest.mark.slow
async def test_stdio_profile_refuses_bomb_with_little_memory(tmp_path: Path) -> None:
    """The issue's shape at the default limit: 20,000 rows of one 1 MB string (20 GB decoded) in a few KB."""
    home = tmp_path / "home"
    path = bomb(home / "workspace" / "bomb.parquet", 20_000, 1 * MB)
    assert path.stat().st_size < 10_000
    # A 4 GiB address-space cap on the server: were the check to fail, the read dies there, not the machine.
    guard = (
        "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
        "sys.argv = ['mcp_server', 'serve', '--tools', 'quality']; "
        "runpy.run_module('mcp_server', run_name='__main__')"
    )
    params = StdioServerParameters(
        command=PYTHON, args=["-c", guard], env=server_env(home), cwd=str(tmp_path)
    )
    async with Client(params, mode="legacy") as client:
        structured(await client.call_tool("server_info", {}))
        pid = server_pid()
        before = peak_mb(pid)
        started = time.monotonic()
        result = await client.call_tool("quality_profile", {"dataset": "bomb.parquet"})
        took = time.monotonic() - started
        grew = peak_mb(pid) - before
        assert_tool_error(result, "'bomb.parquet' decodes to more than", "MLOPS_MCP_MAX_DECODED_BYTES")
        started = time.monotonic()
        structured(await client.call_tool("server_info", {}))
        assert time.monotonic() - started < 1.0
    assert took < 5.0, took
    # Reading such a file (800 KB values) peaked at 1.3 GB for 1,000 rows and 7.8 GB for 10,000 (the issue);
    # the refusal costs little more than importing pyarrow.
    assert grew < 300, f"the server's peak memory grew by {grew:.0f} MB"


async def test_profile_refuses_bomb_at_the_configured_limit(qh: Harness) -> None:
    qh.settings.max_decoded_bytes = 64 * MB
    bomb(qh.workspace / "bomb.parquet", 200, 1 * MB)  # 200 MB decoded, a few hundred bytes on disk
    started = time.monotonic()
    result = await qh.call("quality_profile", {"dataset": "bomb.parquet"})
    assert_tool_error(result, f"more than {64 * MB} bytes", "MLOPS_MCP_MAX_DECODED_BYTES")
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    await qh.ok("server_info", {})
    assert time.monotonic() - started < 1.0


async def test_normal_parquet_still_profiles(qh: Harness) -> None:
    # 1 MB: below what the metadata can rule out for the string columns, so they are measured, and pass.
    qh.settings.max_decoded_bytes = 1 * MB
    write(faulted(), qh.workspace / "orders.parquet")
    found = await qh.ok("quality_profile", {"dataset": "orders.parquet"})
    assert found["row_count"] == 306


def test_plain_bomb_refused_from_the_metadata(tmp_path: Path) -> None:
    path = bomb(tmp_path / "plain.parquet", 40, 1 * MB, dictionary=False)
    assert path.stat().st_size < 100_000
    with pytest.raises(LimitExceeded, match="MLOPS_MCP_MAX_DECODED_BYTES"):
        read_table(path, TableLimits(rows=1000, file_bytes=MB, decoded_bytes=32 * MB))


def test_nested_dictionary_bomb_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    inner = pa.DictionaryArray.from_arrays(pa.array([0] * 2000, pa.int32()), pa.array(["b" * MB]))
    lists = pa.ListArray.from_arrays(pa.array(range(0, 2001, 2), pa.int32()), inner)
    pq.write_table(pa.table({"l": lists}), path, compression="zstd", store_schema=False)
    with pytest.raises(LimitExceeded, match="decodes to more than"):
        check_parquet_decoded(path, 1024 * MB)


def test_only_the_columns_read_count(tmp_path: Path) -> None:
    path = bomb(tmp_path / "bomb.parquet", 2000, 1 * MB)
    with pytest.raises(LimitExceeded):
        read_table(path, TableLimits(rows=10_000, file_bytes=MB, decoded_bytes=256 * MB))
    df = read_table(path, TableLimits(rows=10_000, file_bytes=MB, decoded_bytes=256 * MB), columns=["k"])
    assert list(df.columns) == ["k"] and len(df) == 2000


def test_every_reader_gets_the_settings_limits(tmp_path: Path) -> None:
    """One TableLimits from the settings: features, validation and lake read with the configured decoded
    limit too (they had only its default)."""
    settings = Settings(home=tmp_path, max_rows=7, max_file_bytes=8, max_decoded_bytes=9)
    assert TableLimits.of(settings) == TableLimits(rows=7, file_bytes=8, decoded_bytes=9)
    assert Settings.model_fields["max_decoded_bytes"].default == 2 * 1024**3
