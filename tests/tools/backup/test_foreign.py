"""Issue #22 items 7 and 10: an archive this server did not make never verifies, whatever `.sha256` file
comes with it, and an in-place restore refuses it; archives whose checksums hold but whose contents are
wrong get one sentence, never an internal error."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_server.tools.backup import adapter
from tests.conftest import assert_tool_error, structured
from tests.tools.backup.helpers import connect, make_settings

pytestmark = pytest.mark.timeout(180)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write(path: Path, members: dict[str, bytes], manifest: Any, key: bytes | None) -> None:
    """A hand-made archive: `members`, then `manifest` (any JSON), its signature with `key`, a .sha256."""
    raw = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [*members.items(), ("manifest.json", raw)] + (
            [("manifest.sig", adapter.sign(raw, key))] if key is not None else []
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    adapter.sidecar(path).write_text(f"{_sha(path)}  {path.name}\n")


async def test_a_foreign_archive_with_its_own_checksum_does_not_verify_and_is_not_restored(
    tmp_path: Path,
) -> None:
    mine = make_settings(tmp_path / "home", tmp_path / "data")
    other = make_settings(tmp_path / "other", tmp_path / "data")
    async with connect(other) as client:  # another server, its own key: a well-formed, foreign backup
        foreign = structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))["id"]
    async with connect(mine) as client:
        mine_id = structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))["id"]
        for suffix in (".tar.gz", ".tar.gz.sha256"):
            shutil.copy(other.home / "backups" / f"{foreign}{suffix}", mine.home / "backups")
        live = _sha(mine.home / "metadata.db")

        result = structured(await client.call_tool("backup_verify", {"id": foreign}))
        assert result["ok"] is False
        assert result["problems"][0]["member"] == "<archive>"
        assert "signed with another server's key" in result["problems"][0]["problem"]
        assert_tool_error(
            await client.call_tool("backup_restore", {"id": foreign, "target": "in_place", "confirm": True}),
            "failed verification",
            "another server's key",
            "nothing was restored",
        )
        assert _sha(mine.home / "metadata.db") == live
        assert_tool_error(
            await client.call_tool("backup_restore", {"id": foreign, "target": "new_home", "new_home": "r"}),
            "failed verification",
        )
        assert not (tmp_path / "r").exists()

        # An unsigned archive (made by hand, or by a server before backups were signed) with a .sha256.
        unsigned = adapter.new_id()
        _write(
            mine.home / "backups" / f"{unsigned}.tar.gz",
            {},
            {"format": adapter.FORMAT, "id": unsigned, "scope": [], "members": []},
            key=None,
        )
        result = structured(await client.call_tool("backup_verify", {"id": unsigned}))
        assert result["ok"] is False and "has no signature" in result["problems"][0]["problem"]

        # An in-place restore of this server's own backup re-indexes the folder: the foreign and unsigned
        # archives get no record (a record would make them trusted), this server's own archives do.
        restored = structured(
            await client.call_tool("backup_restore", {"id": mine_id, "target": "in_place", "confirm": True})
        )
        listed = {
            b["id"]: b["recorded"] for b in structured(await client.call_tool("backup_list", {}))["items"]
        }
        assert listed[foreign] is False and listed[unsigned] is False
        assert listed[mine_id] is True and listed[restored["safety_backup"]] is True
        assert structured(await client.call_tool("backup_verify", {"id": foreign}))["ok"] is False
        with anyio.fail_after(1):  # the server still answers at once
            assert (await client.call_tool("server_info", {})).is_error is False

    # This server's key is outside backups/ and is not a tool output.
    key = mine.home / adapter.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == adapter.KEY_BYTES


BAD_MANIFESTS: list[tuple[str, Any, str]] = [
    ("a list", [1, 2], "is not a mlops-mcp-backup/2 manifest"),
    ("a string", "manifest", "is not a mlops-mcp-backup/2 manifest"),
    ("no members", {"format": adapter.FORMAT, "id": "<id>", "scope": []}, "members"),
    ("members not a list", {"format": adapter.FORMAT, "id": "<id>", "scope": [], "members": "x"}, "members"),
    (
        "a member without a checksum",
        {"format": adapter.FORMAT, "id": "<id>", "scope": [], "members": [{"name": "files/x"}]},
        "members.0.sha256",
    ),
    ("an unknown part", {"format": adapter.FORMAT, "id": "<id>", "scope": ["etc"], "members": []}, "scope.0"),
    ("an unknown format", {"format": "tar", "id": "<id>", "scope": [], "members": []}, "format"),
    (
        "a date that is not one",
        {"format": adapter.FORMAT, "id": "<id>", "scope": [], "members": [], "created_at": "yesterday"},
        "created_at",
    ),
    (
        "a home that is a number",
        {"format": adapter.FORMAT, "id": "<id>", "scope": [], "members": [], "source_home": 5},
        "source_home",
    ),
    (
        "exclusions of the wrong shape",
        {"format": adapter.FORMAT, "id": "<id>", "scope": [], "members": [], "not_included": "x"},
        "not_included",
    ),
]


async def test_signed_checksummed_archives_with_wrong_contents_get_one_sentence(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    async with connect(settings) as client:
        structured(await client.call_tool("backup_list", {}))
        key = adapter.signing_key(settings.home)
        folder = settings.home / "backups"
        folder.mkdir(exist_ok=True)
        ids = {}
        for what, manifest, needle in BAD_MANIFESTS:
            backup_id = adapter.new_id()
            ids[backup_id] = (what, needle)
            text = json.loads(json.dumps(manifest).replace("<id>", backup_id))
            _write(folder / f"{backup_id}.tar.gz", {}, text, key)  # signed by this very home
        # Well-formed and signed, but the "database" in it is not one.
        not_db = adapter.new_id()
        data = b"this is not a SQLite database" * 10
        _write(
            folder / f"{not_db}.tar.gz",
            {"files/metadata.db": data},
            {
                "format": adapter.FORMAT,
                "id": not_db,
                "scope": ["metadata"],
                "members": [
                    {
                        "name": "files/metadata.db",
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                    }
                ],
            },
            key,
        )
        listed = structured(await client.call_tool("backup_list", {}))
        assert {b["id"] for b in listed["items"]} >= {*ids, not_db}

        for backup_id, (what, needle) in ids.items():
            result = structured(await client.call_tool("backup_verify", {"id": backup_id}))
            assert result["ok"] is False, what
            assert result["problems"][-1]["member"] == "manifest.json", (what, result)
            assert needle in result["problems"][-1]["problem"], (what, result)
            for args in (
                {"target": "in_place", "confirm": True},
                {"target": "new_home", "new_home": f"r-{backup_id[-6:]}"},
            ):
                assert_tool_error(
                    await client.call_tool("backup_restore", {"id": backup_id, **args}),
                    "failed verification",
                    "nothing was restored",
                )
        assert structured(await client.call_tool("backup_verify", {"id": not_db}))["ok"] is True
        live = _sha(settings.home / "metadata.db")
        for args in ({"target": "in_place", "confirm": True}, {"target": "new_home", "new_home": "r-db"}):
            message = assert_tool_error(await client.call_tool("backup_restore", {"id": not_db, **args}))
            assert "internal error" not in message and "integrity_check" in message, message
        assert _sha(settings.home / "metadata.db") == live
        assert not list((tmp_path).glob("r-*")) and not list(tmp_path.rglob(".restore-*"))
        with anyio.fail_after(1):  # the server still answers at once
            assert (await client.call_tool("server_info", {})).is_error is False
