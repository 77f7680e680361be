"""The Feast repo in a backup: its registry's file sources that pointed into the old home are rewritten, and
the restored repo serves the same online features after the old home is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcp_server.core.config import Settings
from tests.conftest import structured
from tests.tools.backup.helpers import connect
from tests.tools.features.helpers import write_workspace

pytestmark = pytest.mark.timeout(240)


async def test_feature_repo_restored_into_a_new_home(tmp_path: Path) -> None:
    old = Settings(home=tmp_path / "old", profile="all")  # default root: <home>/workspace
    write_workspace(old.workspace_dir, "bk_features")
    rows = [{"player_id": p} for p in range(1, 6)]
    async with connect(old) as client:
        structured(await client.call_tool("features_apply", {"definitions": "features.yaml"}))
        structured(await client.call_tool("features_materialize", {"start": "2023-12-01T00:00:00Z"}))
        before = structured(
            await client.call_tool("features_get_online", {"features": ["player_form"], "entity_rows": rows})
        )
        created = structured(await client.call_tool("backup_create", {"scope": ["features", "metadata"]}))
        assert created["scope"] == ["metadata", "features"]
        restored = structured(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "new"}
            )
        )
    assert {"features:registry.db"} <= {r["where"] for r in restored["rewrites"]}
    # The workspace is the user's own data and not in the backup (the notes say so): the operator copies it.
    assert any("workspace" in n for n in restored["notes"])
    shutil.copytree(old.workspace_dir, tmp_path / "new" / "workspace", dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "old")
    new = Settings(home=tmp_path / "new", profile="all")
    async with connect(new) as client:
        after = structured(
            await client.call_tool("features_get_online", {"features": ["player_form"], "entity_rows": rows})
        )
        assert after["rows"] == before["rows"]
        described = structured(await client.call_tool("features_describe", {"name": "player_form"}))
        assert "old" not in str(described)
        # Materializing again reads the sources at their new place.
        structured(await client.call_tool("features_materialize", {}))
