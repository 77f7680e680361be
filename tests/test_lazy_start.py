"""`tools/list` answers without importing any heavy library and without opening the metadata store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, REPO

HEAVY = ["pandas", "great_expectations", "feast", "mlflow", "sklearn", "onnxruntime", "boto3", "pymongo"]

PROBE = """
import json, sys, anyio
from mcp import Client
from mcp_server.core.app import create_server
from mcp_server.core.config import Settings

async def main():
    server = create_server(Settings(home=sys.argv[1], profile="all"))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r)
    print(json.dumps({"tools": len(tools), "heavy": heavy, "store_opened": server.app.store_opened,
                      "db_exists": (server.app.settings.home / "metadata.db").exists()}))

anyio.run(main)
"""


def test_tools_list_imports_nothing_heavy_and_opens_no_store(tmp_path: Path) -> None:
    out = subprocess.run(
        [PYTHON, "-c", PROBE % (HEAVY,), str(tmp_path / "home")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["tools"] >= 2
    assert report["heavy"] == []
    assert report["store_opened"] is False
    assert report["db_exists"] is False
