"""Pre-built homes: a chain of set-up calls runs once per worker, and each test that needs its state gets
a copy of the home it left (training, registering and converting cost seconds; a copy, milliseconds).

A copy is moved the way `backup_restore` moves a home to a new place (tools/backup/adapter): SQLite files
through the backup API, MLflow's and Feast's absolute paths rewritten, the fingerprint cache of the old
place dropped; the server's own records are relative already. A chain is built from the copy of its
longest built prefix, so shared prefixes (train, then register, then alias) run once.

Calls that start a process or a background loop (a gateway, a rollout) are never part of a copy: they run
on the test's own home, after the copy (`split`).
"""

from __future__ import annotations

import json
from pathlib import Path

from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.tools.backup import adapter as backup
from tests.conftest import structured
from tests.contract_cases import Call, write_example_tables

# A call after which a home holds a live process or a loop that moves on by itself.
LIVE = frozenset(
    {
        "deploy_gateway_start",
        "deploy_canary_start",
        "deploy_blue_green_prepare",
        "workflow_promote",
        "deploy_batch_predict",  # its job runs in a thread of the server that started it
    }
)


def split(calls: tuple[Call, ...]) -> tuple[tuple[Call, ...], tuple[Call, ...]]:
    """(the prefix a copy can hold, the calls to run on the test's home after it)."""
    for i, (name, _) in enumerate(calls):
        if name in LIVE:
            return calls[:i], calls[i:]
    return calls, ()


def copy_home(src: Path, dst: Path) -> None:
    """`src` (a home no server has open) copied to `dst`, its absolute paths pointed at `dst`."""
    backup.copy(src, dst)
    pairs = backup.path_pairs(str(src), dst)
    backup.drop_fingerprints(dst / "metadata.db", None, str(src))
    if (dst / "mlflow.db").is_file():
        backup.rewrite_mlflow(dst / "mlflow.db", pairs)
    backup.rewrite_feast(dst / "feature_repo", dst / "feature_repo.json", pairs)


class Homes:
    """The homes built on this worker, by chain of calls (each one's example tables included)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    async def prepare(self, home: Path, calls: tuple[Call, ...]) -> tuple[Call, ...]:
        """Fill `home` (not open yet) with the state after `calls` where a copy can hold it; the calls
        still to run on it are returned."""
        kept, rest = split(calls)
        if kept:
            copy_home(await self._built(kept), home)
        else:
            write_example_tables(Settings(home=home).workspace_dir)
        return rest

    async def _built(self, calls: tuple[Call, ...]) -> Path:
        key = json.dumps(calls, sort_keys=True, default=str)
        if key in self.built:
            return self.built[key]
        parent = await self._built(calls[:-1]) if len(calls) > 1 else None
        home = self.root / f"h{len(self.built)}"
        settings = Settings(home=home, profile="all")
        if parent is not None:
            copy_home(parent, home)
        else:
            write_example_tables(settings.workspace_dir)
        server = create_server(settings)
        try:
            async with Client(server, mode="legacy") as client:
                name, arguments = calls[-1]
                structured(await client.call_tool(name, dict(arguments)))
        finally:
            server.app.close()
        self.built[key] = home
        return home
