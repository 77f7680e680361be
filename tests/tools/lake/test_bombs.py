"""Parquet bombs into the lake (#22 item 3): `lake_write` streams a Parquet source a row group at a time, so a
row group that decodes past MLOPS_MCP_MAX_DECODED_BYTES is refused before it is read; a big file of small row
groups still streams."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.errors import LimitExceeded
from mcp_server.core.tables import check_parquet_decoded
from tests.conftest import assert_tool_error, structured
from tests.tools.lake.test_deep_json import still_answers
from tests.tools.quality.test_bombs import MB, bomb


async def test_lake_write_refuses_a_bomb_and_writes_no_version(client: Client, settings: Settings) -> None:
    bomb(settings.workspace_dir / "bomb.parquet", 20_000, 1 * MB)  # 20 GB decoded, one row group
    structured(await client.call_tool("server_info", {}))
    message = assert_tool_error(
        await client.call_tool("lake_write", {"source": "bomb.parquet", "dataset": "bomb"}),
        "'bomb.parquet' has a row group that decodes to more than",
        "MLOPS_MCP_MAX_DECODED_BYTES",
    )
    assert "internal error" not in message
    await still_answers(client)
    assert not (settings.home / "lake" / "raw" / "bomb").exists()


def _row_groups(path: Path, groups: int, rows: int, value_bytes: int) -> Path:
    """`groups` row groups of `rows` rows each, one dictionary string of `value_bytes` per row group."""
    with pq.ParquetWriter(path, pa.schema({"s": pa.string()}), compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(pa.table({"s": pa.array(["a" * value_bytes] * rows)}))
    return path


def test_per_row_group_bounds_each_group_not_the_file(tmp_path: Path) -> None:
    path = _row_groups(tmp_path / "groups.parquet", groups=8, rows=20, value_bytes=MB)  # 20 MB a group
    with pytest.raises(LimitExceeded, match=r"'groups\.parquet' decodes to more than"):
        check_parquet_decoded(path, 64 * MB)  # the whole file: 160 MB
    check_parquet_decoded(path, 64 * MB, per_row_group=True)  # streamed: 20 MB at a time
    with pytest.raises(LimitExceeded, match="has a row group that decodes to more than"):
        check_parquet_decoded(path, 16 * MB, per_row_group=True)
