"""The shared spine (issue 20): results shaped to fit instead of refused, idempotency keys on writes."""

from __future__ import annotations

import json

from mcp import Client

from mcp_server.core.config import Settings
from tests.conftest import structured


def _wide_csv(settings: Settings, columns: int = 600, rows: int = 20) -> str:
    header = ",".join(f"feature_with_a_long_name_{i:04d}" for i in range(columns))
    lines = [header] + [",".join(str(r * columns + c) for c in range(columns)) for r in range(rows)]
    path = settings.workspace_dir / "wide.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path.name


async def test_a_wide_write_succeeds_under_the_cap_and_a_repeated_key_writes_once(
    client: Client, settings: Settings
) -> None:
    source = _wide_csv(settings)
    args = {"source": source, "dataset": "wide", "idempotency_key": "wide-load-1"}
    first = structured(await client.call_tool("lake_write", args))
    assert first["version"] == 1 and first["rows"] == 20
    assert len(json.dumps(first)) <= settings.max_output_bytes
    assert 0 < len(first["columns"]) < 600  # shaped to fit: the written version has every column

    again = structured(await client.call_tool("lake_write", args))
    assert again == first
    versions = structured(await client.call_tool("lake_versions", {"dataset": "wide"}))
    assert versions["total"] == 1

    # Without the key a repeat is a new write: the key is what made the retry safe.
    third = structured(await client.call_tool("lake_write", {"source": source, "dataset": "wide"}))
    assert third["version"] == 2
    read = structured(await client.call_tool("lake_read", {"dataset": "wide", "limit": 1}))
    assert read["matched_rows"] == 20
