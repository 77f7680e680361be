"""The backup area's use cases: create, list, verify, prune and restore backups of everything the server
keeps. Plain synchronous functions `fn(app, control, ...) -> result model`, no MCP imports; archives,
database copies and the paths libraries store absolutely are adapter.py's.

Consistency: the metadata store's write lock (store.write_lock()) is held while the databases and the
small folders (GX, Feast) are captured; writers wait for it (or land before it). Artifacts and lake
files are immutable once written and are streamed into the archive after the lock is released.

A restore moves nothing the server stores itself: its records hold paths relative to the home or to the
roots (core/workspace.py), so lineage ids, endpoint routes and lake versions read the same in a restored
home. Only what a library stores absolutely is rewritten: MLflow's artifact locations and the Feast repo's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_server.core.boundary import Control
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.files import fsync_dir
from mcp_server.core.output import paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.backup import adapter
from mcp_server.tools.backup import models as m

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

BACKUPS_DIR = "backups"
PARTS: tuple[m.Part, ...] = ("metadata", "models", "suites", "features", "lake")
ALL_PARTS: tuple[m.Part, ...] = ("metadata", "models", "suites", "features")  # the lake when asked
# Home entries of each part (files/<entry> in the archive).
PART_ENTRIES: dict[str, tuple[str, ...]] = {
    "metadata": ("metadata.db",),
    "models": ("mlflow.db", "mlartifacts", "cache/onnx"),  # + the gateway's ONNX twins
    "suites": ("gx",),
    "features": ("feature_repo", "feature_repo.json"),
    "lake": ("lake",),
}
OLD_FORMAT_NOTE = (
    "This backup was written before the server stored paths relative to its home: records in its "
    "metadata store (dataset ids, lake versions, endpoint routes) may still name files under {home}; "
    "keep that folder where it is, or restore such a backup in place."
)


def backups_dir(app: AppContext) -> Path:
    return app.settings.home / BACKUPS_DIR


def archive_path(app: AppContext, backup_id: str) -> Path:
    return backups_dir(app) / f"{backup_id}{adapter.SUFFIX}"


def expand_scope(scope: Sequence[str]) -> list[m.Part]:
    wanted: set[str] = set()
    for s in scope:
        wanted.update(ALL_PARTS if s == "all" else (s,))
    if not wanted:
        raise InvalidInput(
            "The scope is empty; pass 'all' or some of metadata, models, suites, features, lake."
        )
    return [p for p in PARTS if p in wanted]


def resolve_id(app: AppContext, backup_id: str) -> str:
    """'latest' -> the newest backup's id; any other id is checked and returned."""
    adapter.check_id(backup_id)
    if backup_id != "latest":
        return backup_id
    backups = [b for b in list_backups(app) if b.present]
    if not backups:
        raise NotFound("There is no backup yet; create one with backup_create.")
    return backups[0].id


def _lake_root(app: AppContext) -> str:
    return app.settings.lake_root or str(app.settings.home / "lake")


def _feature_repo(app: AppContext) -> Path:
    return Path(app.settings.feature_repo or app.settings.home / "feature_repo").expanduser().resolve()


# -- create -------------------------------------------------------------------------------------------


def create(
    app: AppContext,
    control: Control,
    scope: Sequence[str],
    reason: str = "manual",
    on_locked: Callable[[], None] | None = None,
) -> m.BackupCreated:
    """Write one archive of `scope` and its record; `on_locked` runs while the write lock is held (tests)."""
    parts = expand_scope(scope)
    settings, store = app.settings, app.store
    store.ensure_ready()
    created_at = datetime.now(UTC)
    backup_id = adapter.new_id(created_at)
    out_dir = backups_dir(app)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    skipped: list[m.Excluded] = []

    def skip(what: str, why: str) -> None:
        skipped.append(m.Excluded(what=what, why=why))

    if "lake" not in parts:
        skip("lake", "lake datasets are included only when asked (scope 'lake').")
    workspace = settings.workspace_dir
    if workspace.is_dir() and any(workspace.iterdir()):
        skip(
            "workspace",
            "the data files under <home>/workspace are the user's own inputs; copy that folder with the "
            "archive (the restored server's records name them relative to it).",
        )
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{backup_id}-", dir=out_dir))
    try:
        (stage / "files").mkdir()
        control.step(1, None, "waiting for the metadata store's write lock")
        with store.write_lock(settings.backup_lock_timeout_s):
            locked_at = time.monotonic()
            if on_locked is not None:
                on_locked()
            included = _capture(app, parts, stage, skip)
            locked_ms = (time.monotonic() - locked_at) * 1000.0
        sources = [(entry, f"files/{entry.name}") for entry in sorted((stage / "files").iterdir())]
        if (stage / "pg" / "metadata.dump").is_file():
            sources.append((stage / "pg" / "metadata.dump", "pg/metadata.dump"))
        if "models" in included:
            # The artifacts and the ONNX twins the gateway serves (immutable once written).
            sources += [(settings.home / e, f"files/{e}") for e in PART_ENTRIES["models"][1:]]
        if "lake" in parts:
            root = _lake_root(app)
            if root.startswith("s3://"):
                skip(
                    "lake",
                    "the lake is on S3; its versioned objects stay there (use the bucket's versioning or "
                    "replication).",
                )
            elif Path(root).is_dir():
                sources.append((Path(root), "files/lake"))
                included.append("lake")
            else:
                skip("lake", "no lake datasets yet.")
        control.step(2, None, "writing the archive")
        manifest = {
            "format": adapter.FORMAT,
            "id": backup_id,
            "created_at": created_at.isoformat(),
            "reason": reason,
            "scope": included,
            "source_home": str(settings.home),
            "lake_root": _lake_root(app) if "lake" in included else None,
            "store": {"backend": store.dialect, "revision": store.schema_revision()},
            "versions": adapter.versions(),
            "not_included": [e.model_dump() for e in skipped],
        }
        final = archive_path(app, backup_id)
        members, size, digest = adapter.write_archive(
            final,
            [(s, n) for s, n in sources if s.exists()],
            manifest,
            adapter.signing_key(settings.home),
            control,
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    record(app, backup_id, reason, included, size, digest, members, created_at)
    return m.BackupCreated(
        id=backup_id,
        path=f"<home>/{BACKUPS_DIR}/{final.name}",
        reason=reason,  # type: ignore[arg-type]
        scope=included,
        members=members,
        bytes=size,
        sha256=digest,
        not_included=skipped,
        locked_ms=round(locked_ms, 3),
        created_at=created_at,
    )


# What is copied under the write lock; a part's other entries are streamed from the home afterwards.
LOCKED_ENTRIES = {
    "models": ("mlflow.db",),
    "suites": ("gx",),
    "features": ("feature_repo", "feature_repo.json"),
}


def _capture(
    app: AppContext, parts: list[m.Part], stage: Path, skip: Callable[[str, str], None]
) -> list[m.Part]:
    """Copy the databases and small folders of `parts` under `stage` (under the store's write lock)."""
    store, home = app.store, app.settings.home
    included: list[m.Part] = []
    if "metadata" in parts:
        if store.dialect == "sqlite":
            store.snapshot_to(stage / "files" / "metadata.db")
        else:
            (stage / "pg").mkdir()
            adapter.pg_dump(store.url, stage / "pg" / "metadata.dump")
        included.append("metadata")
    captured: tuple[m.Part, ...] = ("models", "suites", "features")
    for part in (p for p in captured if p in parts):
        why = _not_captured(app, part)
        if why is not None:
            skip(part, why)
            continue
        for entry in LOCKED_ENTRIES[part]:
            if (home / entry).exists():
                adapter.copy(home / entry, stage / "files" / entry)
        included.append(part)
    return included


def _not_captured(app: AppContext, part: str) -> str | None:
    """Why a part of the home cannot be in the archive, or None."""
    settings, home = app.settings, app.settings.home
    if part == "models" and settings.mlflow_uri is not None:
        return (
            "MLflow runs on a configured tracking backend (not SQLite in the home); back it up with that "
            "backend's own tools."
        )
    if part == "models":
        return None if (home / "mlflow.db").is_file() else "no MLflow store yet (nothing trained)."
    if part == "suites":
        return None if (home / "gx").is_dir() else "no Great Expectations project yet."
    repo = _feature_repo(app)
    if not repo.is_dir():
        return "no Feast repo yet."
    if repo != home / "feature_repo":
        return (
            "the Feast repo is configured outside the home (MLOPS_MCP_FEATURE_REPO); back that folder up "
            "with the code that defines it."
        )
    return None


def record(
    app: AppContext,
    backup_id: str,
    reason: str,
    scope: Sequence[str],
    size: int,
    digest: str,
    members: int,
    created_at: datetime,
) -> None:
    from mcp_server.core.store.models import BackupRecord

    with app.store.transaction() as session:
        if session.get(BackupRecord, backup_id) is None:
            session.add(
                BackupRecord(
                    id=backup_id,
                    reason=reason,
                    scope=json.dumps(list(scope)),
                    path=f"{BACKUPS_DIR}/{backup_id}{adapter.SUFFIX}",
                    sha256=digest,
                    bytes=size,
                    members=members,
                    store_backend=app.store.dialect,
                    created_at=created_at,
                )
            )


# -- verify, list, prune ------------------------------------------------------------------------------


@dataclass
class Located:
    id: str
    path: Path
    sha256: str | None  # from the record, else from the .sha256 file beside the archive
    recorded: bool


def locate(app: AppContext, backup_id: str) -> Located:
    from mcp_server.core.store.models import BackupRecord

    backup_id = resolve_id(app, backup_id)
    with app.store.read_session() as session:
        rec = session.get(BackupRecord, backup_id)
        if rec is not None:
            return Located(backup_id, app.settings.home / rec.path, rec.sha256, True)
    path = archive_path(app, backup_id)
    if path.is_file():
        return Located(backup_id, path, adapter.read_sidecar(path), False)
    raise NotFound(f"No backup '{backup_id}'; backup_list shows the backups that exist.")


def verify(app: AppContext, control: Control, backup_id: str) -> m.VerifyResult:
    """Read every member of the archive and check it against the manifest, the record or .sha256 file."""
    loc = locate(app, backup_id)
    result = adapter.read_archive(loc.path)
    problems = archive_problems(app, loc, result)
    if loc.recorded:
        _note_verified(app, loc.id, not problems)
    return m.VerifyResult(
        id=loc.id,
        ok=not problems,
        checked=result.checked,
        problems=problems,
        archive_sha256=result.archive_sha256,
    )


def archive_problems(app: AppContext, loc: Located, result: adapter.ReadResult) -> list[m.Problem]:
    """The member problems plus the whole-archive checks: SHA-256 against the record (or the .sha256
    file), for an archive without a record this home's signature, and the manifest's id."""
    problems = list(result.problems)
    if not loc.recorded and result.manifest_bytes is not None:
        why = adapter.signature_problem(
            result.manifest_bytes, result.signature, adapter.signing_key(app.settings.home)
        )
        if why is not None:
            problems.insert(0, m.Problem(member="<archive>", problem=why))
    if loc.sha256 is None:
        problems.insert(
            0,
            m.Problem(
                member="<archive>",
                problem="has no record and no .sha256 file beside it to check the whole archive against",
            ),
        )
    elif result.archive_sha256 is not None and result.archive_sha256 != loc.sha256:
        what = "its record" if loc.recorded else "its .sha256 file"
        problems.insert(
            0, m.Problem(member="<archive>", problem=f"SHA-256 of the archive does not match {what}")
        )
    if result.manifest is not None and result.manifest.id != loc.id:
        problems.append(m.Problem(member=adapter.MANIFEST, problem="belongs to another backup id"))
    return problems[: adapter.MAX_PROBLEMS]


def _note_verified(app: AppContext, backup_id: str, ok: bool) -> None:
    from mcp_server.core.store.models import BackupRecord

    with app.store.transaction() as session:
        rec = session.get(BackupRecord, backup_id)
        if rec is not None:
            rec.verified_at = datetime.now(UTC)
            rec.verified_ok = ok


def list_page(app: AppContext, control: Control, cursor: str | None, limit: int) -> m.BackupPage:
    page = paginate(list_backups(app), cursor, limit)
    return m.BackupPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


def list_backups(app: AppContext) -> list[m.BackupInfo]:
    """The recorded backups and the archives in <home>/backups without a record, newest first."""
    from sqlalchemy import select

    from mcp_server.core.store.models import BackupRecord

    home = app.settings.home
    items: dict[str, m.BackupInfo] = {}
    with app.store.read_session() as session:
        for rec in session.scalars(select(BackupRecord)):
            items[rec.id] = m.BackupInfo(
                id=rec.id,
                path=f"<home>/{rec.path}",
                reason=rec.reason,
                scope=json.loads(rec.scope),
                bytes=rec.bytes,
                members=rec.members,
                created_at=rec.created_at,
                recorded=True,
                present=(home / rec.path).is_file(),
                verified_ok=rec.verified_ok,
                verified_at=rec.verified_at,
            )
    folder = backups_dir(app)
    for path in folder.glob(f"bk-*{adapter.SUFFIX}") if folder.is_dir() else ():
        backup_id = path.name[: -len(adapter.SUFFIX)]
        if not adapter.ID_RE.match(backup_id) or backup_id in items:
            continue
        raw, _ = adapter.peek(path)
        manifest = adapter.parse_manifest(raw)[0] if raw is not None else None
        items[backup_id] = m.BackupInfo(
            id=backup_id,
            path=f"<home>/{BACKUPS_DIR}/{path.name}",
            reason=manifest.reason[:16] if manifest and manifest.reason else None,
            scope=list(manifest.scope) if manifest else [],
            bytes=path.stat().st_size,
            members=len(manifest.members) or None if manifest else None,
            created_at=manifest.created_at if manifest else None,
            recorded=False,
            present=True,
        )
    return sorted(items.values(), key=lambda b: b.id, reverse=True)  # ids sort by time


def reindex(app: AppContext) -> int:
    """Record archives in <home>/backups that the store does not know (after an in-place restore) and
    that this home signed: a record is trust, so a foreign archive never gets one this way."""
    added = 0
    key = adapter.signing_key(app.settings.home)
    for info in list_backups(app):
        if info.recorded:
            continue
        path = archive_path(app, info.id)
        raw, signature = adapter.peek(path)
        if raw is None or adapter.signature_problem(raw, signature, key) is not None:
            continue
        record(
            app,
            info.id,
            info.reason if info.reason in ("manual", "safety") else "manual",
            info.scope,
            info.bytes,
            adapter.sha256_file(path),
            info.members or 0,
            info.created_at or datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )
        added += 1
    return added


def prune(app: AppContext, control: Control, keep_last: int, keep_daily: int) -> m.PruneResult:
    from mcp_server.core.store.models import BackupRecord

    backups = [b for b in list_backups(app) if b.present or b.recorded]  # newest first
    keep: set[str] = {b.id for b in backups[:keep_last]}
    days: list[str] = []
    for b in backups:
        day = b.id[3:11]
        if day not in days:
            days.append(day)
            if len(days) <= keep_daily:
                keep.add(b.id)  # the newest backup of each of the last keep_daily days with backups
    deleted: list[str] = []
    freed = 0
    for b in backups:
        if b.id in keep:
            continue
        path = archive_path(app, b.id)
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
        adapter.sidecar(path).unlink(missing_ok=True)
        with app.store.transaction() as session:
            rec = session.get(BackupRecord, b.id)
            if rec is not None:
                session.delete(rec)
        deleted.append(b.id)
    kept = [b.id for b in backups if b.id in keep]
    return m.PruneResult(
        kept=kept[:200],
        deleted=deleted[:200],
        kept_count=len(kept),
        deleted_count=len(deleted),
        freed_bytes=freed,
    )


# -- restore ------------------------------------------------------------------------------------------


def restore_root(app: AppContext) -> Path:
    root = app.settings.backup_restore_root or app.settings.home.parent
    return Path(root).expanduser().resolve()


def restore(
    app: AppContext,
    control: Control,
    backup_id: str,
    target: m.Target,
    new_home: str | None = None,
    store_url: str | None = None,
) -> m.RestoreResult:
    """Verify a backup and restore it into a new home beside this one, or in place."""
    adapter.check_id(backup_id)
    if target == "in_place":
        if new_home is not None or store_url is not None:
            raise InvalidInput(
                "target 'in_place' restores into this server's own home and store; omit new_home and store_url."
            )
        return _restore_in_place(app, control, backup_id)
    if new_home is None:
        raise InvalidInput("target 'new_home' needs new_home: the name of the folder to create.")
    if ".." in new_home:
        raise InvalidInput("new_home is a folder name, not a path; use letters, digits, '.', '_' or '-'.")
    check_name(new_home, "new_home folder name")
    return _restore_new_home(app, control, backup_id, new_home, store_url)


@contextlib.contextmanager
def _staged(app: AppContext, backup_id: str, parent: Path) -> Iterator[tuple[Path, m.Manifest]]:
    """Verify and extract in one pass into a staging folder under `parent`; refuse on any problem."""
    loc = locate(app, backup_id)
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".restore-{loc.id}-", dir=parent))
    try:
        result = adapter.read_archive(loc.path, staging)
        problems = archive_problems(app, loc, result)
        if loc.recorded:
            _note_verified(app, loc.id, not problems and result.manifest is not None)
        if problems or result.manifest is None:
            first = problems[0] if problems else m.Problem(member=adapter.MANIFEST, problem="missing")
            more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
            raise Conflict(
                f"Backup {loc.id} failed verification ({first.member}: {first.problem}{more}); "
                "nothing was restored."
            )
        (staging / "files").mkdir(exist_ok=True)
        yield staging, result.manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _rewrite(files: Path, manifest: m.Manifest, home: Path, pg_url: str | None) -> list[m.Rewrite]:
    """Point what libraries store absolutely (MLflow's artifact root, the Feast repo) at `home`; the
    server's own records are relative and stay as they are."""
    old_home = manifest.source_home or ""
    pairs = adapter.path_pairs(old_home, home, manifest.lake_root) if old_home else []
    if not pairs:
        return []
    try:
        adapter.drop_fingerprints(files / "metadata.db", pg_url, old_home)
        out = adapter.rewrite_mlflow(files / "mlflow.db", pairs) if (files / "mlflow.db").is_file() else []
    except sqlite3.Error as err:  # a database that passed integrity_check but is not the one expected
        raise Conflict(
            f"A database in the backup does not hold what the server expects ({err}); nothing was restored."
        ) from None
    return out + adapter.rewrite_feast(files / "feature_repo", files / "feature_repo.json", pairs)


def _checked(files: Path, what: str) -> dict[str, str]:
    checks = adapter.integrity(files)
    if any(v != "ok" for v in checks.values()):
        raise Conflict(f"A restored database failed PRAGMA integrity_check ({checks}); nothing was {what}.")
    return checks


def _notes(manifest: m.Manifest, home: Path) -> list[str]:
    notes = []
    if manifest.format != adapter.FORMAT and manifest.source_home != str(home):
        notes.append(OLD_FORMAT_NOTE.format(home=manifest.source_home))
    return notes + [f"Not in the backup: {e.what}: {e.why}" for e in manifest.not_included]


def _restore_new_home(
    app: AppContext, control: Control, backup_id: str, name: str, store_url: str | None
) -> m.RestoreResult:
    backup_id = resolve_id(app, backup_id)
    root = restore_root(app)
    final = root / name
    if final.exists():
        raise Conflict(f"'{name}' already exists under the restore root; choose another new_home name.")
    if final == app.settings.home or app.settings.home.is_relative_to(final):
        raise InvalidInput("new_home must not be the current home; use target='in_place' to replace it.")
    control.step(1, 4, "verifying and extracting")
    pg_url = _check_pg_target(store_url, app.settings.url_allowlist) if store_url else None
    with _staged(app, backup_id, root) as (staging, manifest):
        files = staging / "files"
        checks = _checked(files, "restored")
        has_dump = (staging / "pg" / "metadata.dump").is_file()
        notes: list[str] = []
        if has_dump and pg_url is None:
            raise InvalidInput(
                "This backup holds a PostgreSQL metadata store; pass store_url (an empty database) to restore it."
            )
        if pg_url is not None and not has_dump:
            raise InvalidInput(
                "This backup holds a SQLite metadata store; omit store_url (it is restored into the new home)."
            )
        control.step(2, 4, "restoring the databases")
        if pg_url is not None:
            if not adapter.pg_is_empty(pg_url):
                raise Conflict(
                    "The database in store_url already holds mlops_* tables; give an empty database."
                )
            adapter.pg_restore(pg_url, staging / "pg" / "metadata.dump", clean=False)
            notes.append(
                "Start the restored server with MLOPS_MCP_STORE_URL set to the store_url given here."
            )
        control.step(3, 4, "pointing MLflow and Feast at the new home")
        rewrites = _rewrite(files, manifest, final, pg_url)
        for sub in ("workspace", BACKUPS_DIR, "reports"):
            (files / sub).mkdir(exist_ok=True)
        os.chmod(files, 0o700)
        control.step(4, 4, "moving the new home into place")
        os.rename(files, final)  # atomic: the new home appears whole or not at all
        fsync_dir(root)
    return m.RestoreResult(
        id=backup_id,
        target="new_home",
        home=name,
        parts=list(manifest.scope),
        rewrites=rewrites,
        integrity=checks,
        safety_backup=None,
        gateway=None,
        notes=notes + _notes(manifest, final),
    )


def _check_pg_target(url: str, allowlist: list[str]) -> str:
    from mcp_server.core.net import check_url
    from mcp_server.core.store.metadata import _normalize_url

    url = _normalize_url(url)
    if not url.startswith("postgresql"):
        raise InvalidInput("store_url must be a postgresql:// URL of an empty database.")
    check_url(url.replace("postgresql+psycopg://", "postgresql://", 1), allowlist, schemes=("postgresql",))
    return url


def _swap(app: AppContext, files: Path, parts: list[str], replaced: Path) -> list[tuple[Path, Path]]:
    """Move each live entry of `parts` aside into `replaced` and the staged one into its place; -> the
    moves made (for putting everything back)."""
    home, lake = app.settings.home, _lake_root(app)
    moves: list[tuple[Path, Path]] = []
    try:
        for part in parts:
            for entry in PART_ENTRIES.get(part, ()):
                if entry == "lake" and lake.startswith("s3://"):
                    continue
                live = Path(lake) if entry == "lake" else home / entry
                extras = (
                    [live.with_name(live.name + s) for s in ("-wal", "-shm")] if live.suffix == ".db" else []
                )
                for path in [live, *extras]:
                    if path.exists():
                        aside = replaced / f"{entry.replace('/', '_')}{path.name[len(live.name) :]}"
                        os.rename(path, aside)
                        moves.append((aside, path))
                if (files / entry).exists():
                    live.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(files / entry, live)
                    moves.append((live, files / entry))
    except BaseException:
        _undo(moves)
        raise
    return moves


def _undo(moves: list[tuple[Path, Path]]) -> None:
    for dst, src in reversed(moves):  # put every folder back as it was
        with contextlib.suppress(OSError):
            os.rename(dst, src)


def _restore_in_place(app: AppContext, control: Control, backup_id: str) -> m.RestoreResult:
    from mcp_server.core.tracking import tracking_uri
    from mcp_server.gateway import manager

    backup_id = resolve_id(app, backup_id)
    home, store = app.settings.home, app.store
    control.step(1, 5, "verifying and extracting")
    with _staged(app, backup_id, home) as (staging, manifest):
        files = staging / "files"
        checks = _checked(files, "replaced")  # before the safety backup: a bad archive costs nothing
        parts: list[str] = list(manifest.scope)
        has_dump = (staging / "pg" / "metadata.dump").is_file()
        if "metadata" in parts and has_dump != (store.dialect == "postgresql"):
            raise InvalidInput(
                f"This backup holds a {'PostgreSQL' if has_dump else 'SQLite'} metadata store and this server "
                f"uses {store.dialect}; restore it into a new home instead."
            )
        control.step(2, 5, "taking a safety backup")
        # The safety backup reports no progress of its own.
        quiet = Control(control.remaining(), None, control.what, budget=control.seconds)
        safety = create(app, quiet, [p for p in parts if p in PARTS] or ["all"], "safety")
        rewrites = _rewrite(files, manifest, home, None) if manifest.source_home != str(home) else []
        control.step(3, 5, "stopping the gateway")
        was_running = manager.status(app).running
        if was_running:
            manager.stop(app)
        replaced = staging / "replaced"
        replaced.mkdir()
        control.step(4, 5, "swapping folders")
        gateway = "not running"
        try:
            with store.write_lock(app.settings.backup_lock_timeout_s):
                store.dispose()
                app.drop_clients()  # MLflow, GX and Feast clients are built again on the new state
                adapter.dispose_mlflow_engines(tracking_uri(app.settings))
                try:
                    moves = _swap(app, files, parts, replaced)
                    if has_dump:
                        try:
                            adapter.pg_restore(store.url, staging / "pg" / "metadata.dump", clean=True)
                        except BaseException:
                            _undo(moves)
                            raise
                finally:
                    store.dispose()
        finally:
            if was_running:
                gateway = f"restarted: {manager.start(app).state}"
        fsync_dir(home)
        control.step(5, 5, "re-indexing the backups folder")
    reindex(app)  # backups taken after the restored one are records again
    return m.RestoreResult(
        id=backup_id,
        target="in_place",
        home="<home>",
        parts=parts,
        rewrites=rewrites,
        integrity=checks,
        safety_backup=safety.id,
        gateway=gateway,
        notes=_notes(manifest, home),
    )
