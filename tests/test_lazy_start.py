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
    # An area's tools, models, services and adapters, and the always-on tools' own module.
    area_code = sorted(m for m in sys.modules if m.startswith("mcp_server.tools.") and m.count(".") > 2
                       or m == "mcp_server.core.server_tools")
    print(json.dumps({"tools": len(tools), "heavy": heavy, "store_opened": server.app.store_opened,
                      "db_exists": (server.app.settings.home / "metadata.db").exists(),
                      "area_code": area_code, "prompts_built": server.catalog is None}))

anyio.run(main)
"""


def _list_in_new_process(home: Path) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", PROBE % (HEAVY,), str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return report


def test_tools_list_imports_nothing_heavy_and_opens_no_store(tmp_path: Path) -> None:
    first = _list_in_new_process(tmp_path / "home")  # no definitions cache yet: every tool is built
    assert first["tools"] >= 2
    assert first["heavy"] == []
    assert first["store_opened"] is False
    assert first["db_exists"] is False

    # A later start answers from the cache: no area's tools, models or services are imported, and
    # the prompts and resource templates are not built (they are on their first use).
    again = _list_in_new_process(tmp_path / "home")
    assert again["tools"] == first["tools"]
    assert again["heavy"] == [] and again["store_opened"] is False
    assert again["area_code"] == []
    assert again["prompts_built"] is False
