"""JSON nested too deep for the parsers (#22 item 2): refused with one sentence before any parser runs.

At 20,000 levels pyarrow's JSON reader overflowed the C stack and killed the server; at 1,000-5,000 the
readers' recursion limits gave "internal error".
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.tables import MAX_JSON_DEPTH
from tests.conftest import assert_tool_error, structured


def deep(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def write_deep(folder: Path, name: str, levels: int) -> Path:
    """Two fine records, then one nested `levels` deep on line 3 (.jsonl) or inside an array (.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"id": 1, "tag": "[[[["}), json.dumps({"id": 2, "tag": "x"})]
    row = '{"id": 3, "tag": ' + deep(levels) + "}"
    text = "\n".join([*rows, row]) + "\n" if name.endswith(".jsonl") else "[" + ",\n".join([*rows, row]) + "]"
    path = folder / name
    path.write_text(text)
    return path


async def still_answers(client: Client) -> None:
    with anyio.fail_after(1):
        structured(await client.call_tool("server_info", {}))


LEVELS = [100_000, 2_000]


@pytest.mark.parametrize("levels", LEVELS)
@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json"])
@pytest.mark.parametrize("tool", ["lake_write", "lake_convert"])
async def test_lake_tools_refuse_deep_json(
    client: Client, settings: Settings, tool: str, levels: int, name: str
) -> None:
    write_deep(settings.workspace_dir, name, levels)
    structured(await client.call_tool("server_info", {}))  # warm: the 1 s after is for a live server
    args = {"source": name, "dataset": "deep"} if tool == "lake_write" else {"path": name}
    message = assert_tool_error(
        await client.call_tool(tool, args),
        "Line 3 of 'deep.json",
        f"nests deeper than {MAX_JSON_DEPTH} levels",
    )
    assert "internal error" not in message
    await still_answers(client)
    # Nothing written: no lake version, no converted file.
    assert_tool_error(await client.call_tool("lake_versions", {"dataset": "deep"}), "deep")
    assert not (settings.home / "lake" / "raw" / "deep").exists()
    assert sorted(p.name for p in settings.workspace_dir.iterdir()) == [name]


async def test_nesting_at_the_limit_and_brackets_in_text_still_load(
    client: Client, settings: Settings
) -> None:
    path = settings.workspace_dir / "ok.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    nested = '{"a": ' * (MAX_JSON_DEPTH - 1) + "1" + "}" * (MAX_JSON_DEPTH - 1)
    lines = [
        '{"id": 1, "note": "' + "[" * 500 + '\\"{{{", "n": ' + nested + "}",
        '{"id": 2, "note": "\\\\", "n": null}',
    ]
    path.write_text("\n".join(lines) + "\n")
    out = structured(await client.call_tool("lake_convert", {"path": "ok.jsonl"}))
    assert out["rows"] == 2
    out = structured(await client.call_tool("lake_write", {"source": "ok.jsonl", "dataset": "ok"}))
    assert out["version"] == 1 and out["rows"] == 2
