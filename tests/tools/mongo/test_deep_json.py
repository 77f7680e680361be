"""mongo_insert of a JSON file nested too deep (#22 item 2): one sentence, nothing inserted."""

from __future__ import annotations

import anyio
import pytest

from mcp_server.core.tables import MAX_JSON_DEPTH
from tests.conftest import assert_tool_error, structured
from tests.tools.mongo.conftest import MongoEnv


@pytest.mark.parametrize("levels", [100_000, 2_000])
@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json"])
async def test_insert_refuses_deep_json_file(env: MongoEnv, levels: int, name: str) -> None:
    deep = '{"a": ' * levels + "1" + "}" * levels
    docs = ['{"id": 1, "note": "{{{{"}', '{"id": 2}', '{"id": 3, "x": ' + deep + "}"]
    text = "\n".join(docs) + "\n" if name.endswith(".jsonl") else "[" + ",\n".join(docs) + "]"
    env.settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    (env.settings.workspace_dir / name).write_text(text)
    structured(await env.client.call_tool("server_info", {}))  # warm: the 1 s after is for a live server
    message = assert_tool_error(
        await env.client.call_tool("mongo_insert", {"collection": "deep", "file": name}),
        f"Line 3 of '{name}' nests deeper than {MAX_JSON_DEPTH} levels",
    )
    assert "internal error" not in message
    with anyio.fail_after(1):
        structured(await env.client.call_tool("server_info", {}))
    assert env.db["deep"].count_documents({}) == 0


async def test_insert_nested_documents_within_the_limit(env: MongoEnv) -> None:
    nested = '{"a": ' * 20 + "1" + "}" * 20
    env.settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    (env.settings.workspace_dir / "ok.jsonl").write_text('{"id": 1, "x": ' + nested + "}\n")
    out = structured(await env.client.call_tool("mongo_insert", {"collection": "ok", "file": "ok.jsonl"}))
    assert out["inserted"] == 1 and env.db["ok"].count_documents({}) == 1
