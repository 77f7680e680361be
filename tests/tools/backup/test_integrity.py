"""Must-show 2 and 3: tampered and hostile archives are refused before anything is written; writes during a
backup land before the snapshot or wait for it, and the restored store passes PRAGMA integrity_check."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tarfile
import threading
import time
from pathlib import Path

import pytest

from mcp_server.core.boundary import Control
from mcp_server.core.context import AppContext
from mcp_server.core.errors import Conflict
from mcp_server.core.lineage import record_edge
from mcp_server.tools.backup import adapter, service
from tests.conftest import assert_tool_error, structured
from tests.tools.backup.helpers import connect, evil_archive, make_settings, rebuild

pytestmark = pytest.mark.timeout(120)


def _edges(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT upstream FROM mlops_lineage_edges ORDER BY id")]
    finally:
        con.close()


async def test_a_flipped_byte_fails_verify_and_restore_refuses_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    async with connect(settings) as client:
        structured(
            await client.call_tool(
                "validation_create_suite",
                {
                    "name": "s",
                    "expectations": [
                        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}
                    ],
                },
            )
        )
        created = structured(await client.call_tool("backup_create", {"scope": ["all"]}))
        path = settings.home / "backups" / f"{created['id']}.tar.gz"
        good = path.read_bytes()

        # One flipped byte in the compressed archive.
        flipped = bytearray(good)
        flipped[len(flipped) // 2] ^= 0x01
        path.write_bytes(bytes(flipped))
        result = structured(await client.call_tool("backup_verify", {"id": created["id"]}))
        assert result["ok"] is False
        assert result["problems"][0] == {
            "member": "<archive>",
            "problem": "SHA-256 of the archive does not match its record",
        }
        msg = assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "r1"}
            ),
            "failed verification",
            "nothing was restored",
        )
        assert created["id"] in msg
        assert not (tmp_path / "r1").exists()
        assert not list(tmp_path.glob(".restore-*"))
        assert structured(await client.call_tool("backup_list", {}))["items"][0]["verified_ok"] is False

        # A member changed inside a well-formed archive (manifest untouched): named by verify.
        path.write_bytes(good)
        other = settings.home / "backups" / f"{adapter.new_id()}.tar.gz"
        rebuild(
            path,
            other,
            lambda name, data: (
                data.replace(b"expect_column", b"expect_COLUMN")
                if name.startswith("files/gx/expectations/")
                else data
            ),
        )
        other_id = other.name[: -len(".tar.gz")]
        # Its manifest names the original id: fix that so only the member differs.
        fixed = settings.home / "backups" / "fixed.tmp"
        rebuild(
            other,
            fixed,
            lambda name, data: (
                data.replace(created["id"].encode(), other_id.encode()) if name == "manifest.json" else data
            ),
        )
        fixed.replace(other)
        # ...and a .sha256 file that matches the changed archive: the manifest's signature (the id was
        # edited) and the member's checksum tell.
        digest = hashlib.sha256(other.read_bytes()).hexdigest()
        adapter.sidecar(other).write_text(f"{digest}  {other.name}\n")
        result = structured(await client.call_tool("backup_verify", {"id": other_id}))
        assert result["ok"] is False
        assert [p["problem"] for p in result["problems"]] == [
            "does not match its signature: manifest.json was changed after the backup was made",
            "SHA-256 does not match the manifest",
        ]
        assert result["problems"][1]["member"].startswith("files/gx/expectations/s@1")
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": other_id, "target": "new_home", "new_home": "r2"}
            ),
            "failed verification",
        )
        assert not (tmp_path / "r2").exists()
        # The untouched backup still verifies.
        assert structured(await client.call_tool("backup_verify", {"id": created["id"]}))["ok"] is True


def test_a_flipped_byte_anywhere_in_an_unrecorded_archive_fails(tmp_path: Path) -> None:
    app = AppContext.from_settings(make_settings(tmp_path / "home", tmp_path / "data"))
    try:
        from mcp_server.core.store.models import BackupRecord

        created = service.create(app, Control.unbounded(), ["all"], "manual")
        with app.store.transaction() as session:  # an archive copied in from elsewhere: no record
            session.delete(session.get(BackupRecord, created.id))
        path = tmp_path / "home" / "backups" / f"{created.id}.tar.gz"
        good = path.read_bytes()
        assert service.verify(app, Control.unbounded(), created.id).ok is True
        for pos in (10, 200, len(good) // 3, len(good) // 2, len(good) - 40, len(good) - 20, len(good) - 3):
            bad = bytearray(good)
            bad[pos] ^= 0x04
            path.write_bytes(bytes(bad))
            result = service.verify(app, Control.unbounded(), created.id)
            assert result.ok is False, pos
    finally:
        app.close()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("dotdot", "'..' component"),
        ("absolute", "absolute name"),
        ("symlink", "a link"),
        ("hardlink", "a link"),
    ],
)
async def test_hostile_archives_are_refused(tmp_path: Path, kind: str, reason: str) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    backup_id = adapter.new_id()
    (settings.home / "backups").mkdir(parents=True)
    evil_archive(settings.home / "backups" / f"{backup_id}.tar.gz", kind)
    async with connect(settings) as client:
        listed = structured(await client.call_tool("backup_list", {}))
        assert listed["items"][0]["id"] == backup_id and listed["items"][0]["recorded"] is False
        result = structured(await client.call_tool("backup_verify", {"id": backup_id}))
        assert result["ok"] is False
        assert any(reason in p["problem"] for p in result["problems"]), result
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": backup_id, "target": "new_home", "new_home": "evil"}
            ),
            "failed verification",
        )
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": backup_id, "target": "in_place", "confirm": True}
            ),
            "failed verification",
        )
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "home" / "escaped.txt").exists()
    assert not Path("/tmp/mlops-backup-absolute.txt").exists()
    assert not list(tmp_path.rglob(".restore-*"))


def test_member_checks() -> None:
    def info(name: str, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
        t = tarfile.TarInfo(name)
        t.type = kind
        return t

    assert adapter.member_problem(info("files/gx/a.json")) is None
    assert adapter.member_problem(info("manifest.json")) is None
    assert adapter.member_problem(info("files/../x")) == "a '..' component"
    assert adapter.member_problem(info("/etc/passwd")) == "an absolute name"
    assert adapter.member_problem(info("files/x", tarfile.SYMTYPE)) == "a link"
    assert adapter.member_problem(info("files/x", tarfile.LNKTYPE)) == "a link"
    assert adapter.member_problem(info("files/x", tarfile.CHRTYPE)) == "a device, FIFO or other special file"
    assert adapter.member_problem(info("files/x", tarfile.FIFOTYPE)) == "a device, FIFO or other special file"
    assert (
        adapter.member_problem(info("elsewhere/x"))
        == "a name outside files/, pg/, manifest.json and manifest.sig"
    )
    assert adapter.member_problem(info("C:/x")) == "an absolute name"


def test_writes_from_another_thread_land_before_the_snapshot_or_wait_for_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    app = AppContext.from_settings(settings)
    try:
        store = app.store
        store.ensure_ready()
        for i in range(20):
            record_edge(store, f"dataset:before-{i}@aaaaaaaaaaaa", "run:r", "trained")
        results: list[tuple[int, float, float]] = []  # (seq, started, finished)
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            seq = 0
            while not stop.is_set():
                started = time.monotonic()
                try:
                    record_edge(store, f"dataset:w-{seq}@aaaaaaaaaaaa", "run:r", "trained")
                except BaseException as err:  # pragma: no cover - reported below
                    errors.append(err)
                    return
                results.append((seq, started, time.monotonic()))
                seq += 1

        window: dict[str, float] = {}

        def on_locked() -> None:
            window["locked"] = time.monotonic()
            time.sleep(0.6)  # writers queue up behind the snapshot meanwhile
            window["snap"] = time.monotonic()

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.2)
        created = service.create(app, Control.unbounded(), ["metadata"], "manual", on_locked=on_locked)
        time.sleep(0.3)
        stop.set()
        thread.join(10)
        assert not errors, errors
        assert len(results) > 5

        staging = tmp_path / "extract"
        staging.mkdir()
        read = adapter.read_archive(settings.home / "backups" / f"{created.id}.tar.gz", staging)
        assert read.problems == []
        db = staging / "files" / "metadata.db"
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        finally:
            con.close()
        got = [e for e in _edges(db) if e.startswith("dataset:w-")]
        seqs = [int(e.split("-")[1].split("@")[0]) for e in got]
        # A consistent snapshot of sequential writes is a prefix of them.
        assert seqs == list(range(len(seqs)))
        finished = {s: f for s, _st, f in results}
        # Every write that had finished before the lock was taken is in it...
        assert all(s in seqs for s, f in finished.items() if f < window["locked"])
        # ...none that finished after the snapshot is, and at least one writer waited through it.
        assert all(s not in seqs for s, f in finished.items() if f > window["snap"] + 0.05)
        waited = [s for s, st, f in results if st < window["locked"] + 0.1 and f > window["snap"]]
        assert waited, "no write overlapped the snapshot"
        assert all(s not in seqs for s in waited if finished[s] > window["snap"])
        assert len(_edges(store.sqlite_path)) == 20 + len(results)  # type: ignore[arg-type]
        assert created.locked_ms >= 600
    finally:
        app.close()


def test_a_writer_that_cannot_wait_long_enough_gets_a_conflict_not_a_torn_snapshot(tmp_path: Path) -> None:
    app = AppContext.from_settings(make_settings(tmp_path / "home", tmp_path / "data"))
    try:
        app.store.ensure_ready()
        outcome: list[str] = []

        def on_locked() -> None:
            def short_writer() -> None:
                try:
                    with app.store.transaction(timeout_s=0.1) as session:
                        session.execute  # noqa: B018
                    outcome.append("ok")
                except Conflict as err:
                    outcome.append(str(err))

            t = threading.Thread(target=short_writer)
            t.start()
            t.join(5)

        service.create(app, Control.unbounded(), ["metadata"], "manual", on_locked=on_locked)
        assert outcome and "locked by a backup" in outcome[0]
    finally:
        app.close()


def test_manifest_lists_members_versions_and_exclusions(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data", mlflow_uri="http://127.0.0.1:1")
    app = AppContext.from_settings(settings)
    try:
        created = service.create(app, Control.unbounded(), ["all"], "manual")
        with tarfile.open(settings.home / "backups" / f"{created.id}.tar.gz") as tar:
            names = tar.getnames()
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert names[-2:] == ["manifest.json", "manifest.sig"]
        assert manifest["source_home"] == str(settings.home)
        assert manifest["scope"] == ["metadata"]
        assert {m["name"] for m in manifest["members"]} == {"files/metadata.db"}
        assert "mlflow" in manifest["versions"] and "python" in manifest["versions"]
        why = {e["what"]: e["why"] for e in manifest["not_included"]}
        assert "configured tracking backend" in why["models"]
        assert set(why) == {"lake", "models", "suites", "features"}
        assert manifest["store"]["revision"]
    finally:
        app.close()


def test_an_archive_that_unpacks_far_beyond_its_size_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AppContext.from_settings(make_settings(tmp_path / "home", tmp_path / "data"))
    try:
        created = service.create(app, Control.unbounded(), ["metadata"], "manual")
        monkeypatch.setattr(adapter, "MAX_EXPANSION", 1)
        monkeypatch.setattr(adapter, "EXPANSION_ALLOWANCE", 0)
        result = service.verify(app, Control.unbounded(), created.id)
        assert result.ok is False
        assert any("decompression bomb" in p.problem for p in result.problems)
    finally:
        app.close()


def test_prune_keeps_the_newest_and_one_per_day(tmp_path: Path) -> None:
    app = AppContext.from_settings(make_settings(tmp_path / "home", tmp_path / "data"))
    try:
        folder = tmp_path / "home" / "backups"
        folder.mkdir(parents=True)
        ids = [
            "bk-20260103T230000Z-000001",
            "bk-20260103T120000Z-000002",
            "bk-20260102T230000Z-000003",
            "bk-20260102T010000Z-000004",
            "bk-20260101T230000Z-000005",
        ]
        for backup_id in ids:
            (folder / f"{backup_id}.tar.gz").write_bytes(b"x" * 10)
            (folder / f"{backup_id}.tar.gz.sha256").write_text("0" * 64 + "  x\n")
        result = service.prune(app, Control.unbounded(), keep_last=2, keep_daily=2)
        assert result.kept == ids[:3]  # the newest two, and the newest of 2026-01-02
        assert result.deleted == ids[3:] and result.deleted_count == 2 and result.freed_bytes == 20
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{i}.tar.gz" for i in ids[:3]] + [f"{i}.tar.gz.sha256" for i in ids[:3]]
        )
    finally:
        app.close()
