"""The registry and onnx areas over stdio: a spawned server trains, registers, moves an alias, converts to
ONNX and answers for the version; every stdout line stays a protocol message (the client would fail otherwise)
and nothing lands in the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import PYTHON, server_env, structured
from tests.tools.registry.conftest import FEATURES, write_mixed


@pytest.mark.slow
async def test_stdio_register_alias_convert(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_mixed(home / "workspace")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--tools", "evaluation,registry,onnx"],
        env=server_env(home),
        cwd=str(cwd),
    )
    async with Client(params, mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"registry_register_model", "registry_rollback", "onnx_convert"} <= names
        run = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "mixed.csv",
                    "target": "y",
                    "estimator": "Ridge",
                    "features": FEATURES,
                    "name": "io",
                },
            )
        )
        for _ in range(2):
            structured(
                await client.call_tool("registry_register_model", {"name": "io", "source": run["run_id"]})
            )
        for version in ("1", "2"):
            structured(
                await client.call_tool(
                    "registry_set_alias", {"name": "io", "alias": "champion", "version": version}
                )
            )
        back = structured(
            await client.call_tool("registry_rollback", {"name": "io", "alias": "champion", "confirm": True})
        )
        assert back["version"] == "1"
        conv = structured(await client.call_tool("onnx_convert", {"name": "io", "version": "1"}))
        assert conv["parity"]["passed"] and conv["parity"]["max_abs_diff"] < 1e-9
        got = structured(await client.call_tool("registry_get_version", {"name": "io", "alias": "champion"}))
        assert got["onnx"]["onnx_model_id"] == conv["onnx_model_id"]
    assert list(cwd.iterdir()) == []
