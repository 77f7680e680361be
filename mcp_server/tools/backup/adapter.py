"""Backups of everything the server keeps, and verified restores: plain functions, no MCP imports.

Archive (`<home>/backups/<id>.tar.gz`, written to a temp name, fsynced and renamed):

    files/metadata.db            the metadata store (SQLite: sqlite3's online backup API)
    pg/metadata.dump             ... or PostgreSQL: `pg_dump -Fc` of the mlops_* tables
    files/mlflow.db              MLflow's SQLite store (online backup API), files/mlartifacts/... its artifacts
    files/gx/...                 Great Expectations' project (suites, validation definitions)
    files/feature_repo/...       the Feast repo (registry, online store, feature_store.yaml), feature_repo.json
    files/lake/...               the local lake, when asked (scope "lake")
    manifest.json                last: SHA-256 and size of every member, scope, what was left out and why,
                                 the source home, library versions

Consistency: the metadata store's write lock (store.write_lock()) is held while the databases and the
small folders (GX, Feast) are captured; writers wait for it (or land before it). Artifacts and lake
files are immutable once written and are streamed into the archive after the lock is released.

Reading an archive is one streaming pass: every member name and type is checked (no absolute names, no
'..', no links or devices, only files/, pg/ and manifest.json, and tarfile's "data" filter on top),
every file is hashed as it is read and, for a restore, written to a staging folder that only becomes
live after every checksum matched.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, NotFound
from mcp_server.tools.backup import models as m

if TYPE_CHECKING:
    from mcp_server.core.blocking import StepControl
    from mcp_server.core.context import AppContext

FORMAT = "mlops-mcp-backup/1"
BACKUPS_DIR = "backups"
SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
ID_RE = re.compile(r"^bk-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
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
SQLITE_HEADER = b"SQLite format 3\x00"
CHUNK = 1 << 20
MAX_PROBLEMS = 50
MAX_MEMBERS = 1_000_000
# Unpacked bytes allowed per archive byte (a gzip bomb stops here) on top of a fixed allowance.
MAX_EXPANSION = 200
EXPANSION_ALLOWANCE = 1 << 30
PG_DUMP_TIMEOUT_S = 600


def _now() -> datetime:
    return datetime.now(UTC)


def new_id(at: datetime | None = None) -> str:
    return f"bk-{(at or _now()).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def check_id(backup_id: str) -> str:
    if not isinstance(backup_id, str) or not (backup_id == "latest" or ID_RE.match(backup_id)):
        raise InvalidInput(
            "The backup id must look like bk-20260101T000000Z-1a2b3c (or be 'latest'); backup_list shows them."
        )
    return backup_id


def resolve_id(app: AppContext, backup_id: str) -> str:
    """'latest' -> the newest backup's id; any other id is checked and returned."""
    check_id(backup_id)
    if backup_id != "latest":
        return backup_id
    backups = [b for b in list_backups(app) if b.present]
    if not backups:
        raise NotFound("There is no backup yet; create one with backup_create.")
    return backups[0].id


def backups_dir(app: AppContext) -> Path:
    return app.settings.home / BACKUPS_DIR


def archive_path(app: AppContext, backup_id: str) -> Path:
    return backups_dir(app) / f"{backup_id}{SUFFIX}"


def expand_scope(scope: list[str]) -> list[m.Part]:
    wanted: set[str] = set()
    for s in scope:
        wanted.update(ALL_PARTS if s == "all" else (s,))
    if not wanted:
        raise InvalidInput(
            "The scope is empty; pass 'all' or some of metadata, models, suites, features, lake."
        )
    return [p for p in PARTS if p in wanted]


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for dist in ("mlops-mcp", "mlflow", "great_expectations", "feast", "SQLAlchemy"):
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            out[dist] = importlib_metadata.version(dist)
    return out


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- capturing ----------------------------------------------------------------------------------------


def sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (online backup API), as one file without a WAL."""
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    finally:
        source.close()


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_HEADER
    except OSError:
        return False


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a folder of small files: SQLite databases through the backup API, links left out."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
        for name in files:
            source = Path(root) / name
            if source.is_symlink() or not source.is_file() or name.endswith(("-wal", "-shm", "-journal")):
                continue
            if _is_sqlite(source):
                sqlite_copy(source, dst / rel / name)
            else:
                shutil.copyfile(source, dst / rel / name)


def _pg_conninfo(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment for a SQLAlchemy PostgreSQL URL (the password via PGPASSWORD)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    args = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    if not u.database or u.database.startswith("-"):
        raise InvalidInput("The PostgreSQL URL must name a database, e.g. postgresql://user@host/db.")
    env["PGCONNECT_TIMEOUT"] = "10"
    return [*args, "--no-password", f"--dbname={u.database}"], env


def _run_pg(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=PG_DUMP_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise BackendUnavailable(
            f"{cmd[0]} is not installed; install the PostgreSQL client tools to {what}."
        ) from None
    except subprocess.TimeoutExpired:
        raise BackendUnavailable(
            f"{cmd[0]} did not finish within {PG_DUMP_TIMEOUT_S}s; {what} again later."
        ) from None
    if proc.returncode != 0:
        from mcp_server.core.store.redact import mask_text

        first = next((ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()), "")
        raise BackendUnavailable(f"{cmd[0]} failed: {mask_text(first)[:200]}; check the PostgreSQL store.")


def pg_dump(url: str, dst: Path) -> None:
    args, env = _pg_conninfo(url)
    cmd = [
        "pg_dump",
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--table=mlops_*",
        f"--file={dst}",
        *args,
    ]
    _run_pg(cmd, env, "back up the metadata store")


def pg_restore(url: str, dump: Path, *, clean: bool) -> None:
    args, env = _pg_conninfo(url)
    cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        cmd += ["--clean", "--if-exists"]
    _run_pg([*cmd, *args, str(dump)], env, "restore the metadata store")


class _HashingReader(io.RawIOBase):
    """A file read through tarfile, hashed on the way (the bytes archived are the bytes hashed)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


@dataclass
class _Writer:
    tar: tarfile.TarFile
    members: list[dict[str, Any]] = field(default_factory=list)
    dirs: set[str] = field(default_factory=set)

    def _dir(self, name: str) -> None:
        parts = PurePosixPath(name).parts[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
                self.tar.addfile(info)

    def add_file(self, source: Path, name: str) -> None:
        with source.open("rb") as fh:
            st = os.fstat(fh.fileno())
            self._dir(name)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = st.st_size, 0o600, int(st.st_mtime)
            reader = _HashingReader(fh)
            self.tar.addfile(info, reader)  # reads exactly st_size bytes (a shrinking file fails the call)
        self.members.append({"name": name, "sha256": reader.sha.hexdigest(), "size": reader.size})

    def add_tree(self, source: Path, name: str, control: StepControl | None = None) -> None:
        for root, dirs, files in os.walk(source):
            dirs.sort()
            dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
            rel = Path(root).relative_to(source)
            for fname in sorted(files):
                path = Path(root) / fname
                if path.is_symlink() or not path.is_file() or fname.endswith(("-wal", "-shm", "-journal")):
                    continue
                self.add_file(
                    path, f"{name}/{(rel / fname).as_posix()}" if str(rel) != "." else f"{name}/{fname}"
                )
                if control is not None and len(self.members) % 200 == 0:
                    control.step(len(self.members), None, f"{len(self.members)} files archived")

    def add_bytes(self, data: bytes, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        self.tar.addfile(info, io.BytesIO(data))


def _lake_root(app: AppContext) -> str:
    return app.settings.lake_root or str(app.settings.home / "lake")


def _feature_repo(app: AppContext) -> Path:
    return Path(app.settings.feature_repo or app.settings.home / "feature_repo").expanduser().resolve()


def create(
    app: AppContext,
    scope: list[str],
    reason: str,
    control: StepControl | None = None,
    on_locked: Callable[[], None] | None = None,
) -> m.BackupCreated:
    """Write one archive of `scope` and its record; `on_locked` runs while the write lock is held (tests)."""
    parts = expand_scope(scope)
    settings = app.settings
    home = settings.home
    store = app.store
    store.ensure_ready()
    created_at = _now()
    backup_id = new_id(created_at)
    out_dir = backups_dir(app)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)
    not_included: list[m.Excluded] = []
    if "lake" not in parts:
        not_included.append(
            m.Excluded(what="lake", why="lake datasets are included only when asked (scope 'lake').")
        )
    workspace = settings.workspace_dir
    if workspace.is_dir() and any(workspace.iterdir()):
        not_included.append(
            m.Excluded(
                what="workspace",
                why="the data files under <home>/workspace are the user's own inputs; copy that folder with "
                "the archive (a restore rewrites paths into it to the new home).",
            )
        )
    included: list[m.Part] = []
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{backup_id}-", dir=out_dir))
    partial = out_dir / f".{backup_id}{SUFFIX}.partial"
    try:
        files = stage / "files"
        files.mkdir()
        pg_dump_file: Path | None = None
        # Captured under the write lock: the databases and the small folders.
        deadline_step = 0

        def step(message: str) -> None:
            nonlocal deadline_step
            deadline_step += 1
            if control is not None:
                control.step(deadline_step, None, message)

        step("waiting for the metadata store's write lock")
        with store.write_lock(settings.backup_lock_timeout_s):
            locked_at = time.monotonic()
            if on_locked is not None:
                on_locked()
            if "metadata" in parts:
                if store.dialect == "sqlite":
                    store.snapshot_to(files / "metadata.db")
                else:
                    (stage / "pg").mkdir()
                    pg_dump_file = stage / "pg" / "metadata.dump"
                    pg_dump(store.url, pg_dump_file)
                included.append("metadata")
            if "models" in parts:
                if settings.mlflow_uri is not None:
                    not_included.append(
                        m.Excluded(
                            what="models",
                            why="MLflow runs on a configured tracking backend (not SQLite in the home); "
                            "back it up with that backend's own tools.",
                        )
                    )
                elif (home / "mlflow.db").is_file():
                    sqlite_copy(home / "mlflow.db", files / "mlflow.db")
                    included.append("models")
                else:
                    not_included.append(
                        m.Excluded(what="models", why="no MLflow store yet (nothing trained).")
                    )
            if "suites" in parts:
                if (home / "gx").is_dir():
                    copy_tree(home / "gx", files / "gx")
                    included.append("suites")
                else:
                    not_included.append(m.Excluded(what="suites", why="no Great Expectations project yet."))
            if "features" in parts:
                repo = _feature_repo(app)
                if repo == home / "feature_repo" and repo.is_dir():
                    copy_tree(repo, files / "feature_repo")
                    if (home / "feature_repo.json").is_file():
                        shutil.copyfile(home / "feature_repo.json", files / "feature_repo.json")
                    included.append("features")
                elif repo.is_dir():
                    not_included.append(
                        m.Excluded(
                            what="features",
                            why="the Feast repo is configured outside the home (MLOPS_MCP_FEATURE_REPO); "
                            "back that folder up with the code that defines it.",
                        )
                    )
                else:
                    not_included.append(m.Excluded(what="features", why="no Feast repo yet."))
            unlocked_at = time.monotonic()
        locked_ms = (unlocked_at - locked_at) * 1000.0
        lake_dir: Path | None = None
        if "lake" in parts:
            root = _lake_root(app)
            if root.startswith("s3://"):
                not_included.append(
                    m.Excluded(
                        what="lake",
                        why="the lake is on S3; its versioned objects stay there (use the bucket's "
                        "versioning or replication).",
                    )
                )
            elif Path(root).is_dir():
                lake_dir = Path(root)
                included.append("lake")
            else:
                not_included.append(m.Excluded(what="lake", why="no lake datasets yet."))
        step("writing the archive")
        with partial.open("wb") as raw:
            os.chmod(partial, 0o600)
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # 1 MiB reads instead of 16 KiB
                writer = _Writer(tar)
                for entry in sorted(p for p in files.iterdir()):
                    if entry.is_dir():
                        writer.add_tree(entry, f"files/{entry.name}", control)
                    else:
                        writer.add_file(entry, f"files/{entry.name}")
                if pg_dump_file is not None:
                    writer.add_file(pg_dump_file, "pg/metadata.dump")
                if "models" in included and (home / "mlartifacts").is_dir():
                    writer.add_tree(home / "mlartifacts", "files/mlartifacts", control)
                if "models" in included and (home / "cache" / "onnx").is_dir():
                    # The ONNX twins the gateway serves (converted once, immutable per version).
                    writer.add_tree(home / "cache" / "onnx", "files/cache/onnx", control)
                if lake_dir is not None:
                    writer.add_tree(lake_dir, "files/lake", control)
                manifest = {
                    "format": FORMAT,
                    "id": backup_id,
                    "created_at": created_at.isoformat(),
                    "reason": reason,
                    "scope": included,
                    "source_home": str(home),
                    "lake_root": _lake_root(app) if "lake" in included else None,
                    "store": {"backend": store.dialect, "revision": store.schema_revision()},
                    "versions": _versions(),
                    "not_included": [e.model_dump() for e in not_included],
                    "members": writer.members,
                }
                writer.add_bytes(json.dumps(manifest, indent=1, sort_keys=True).encode(), MANIFEST)
            raw.flush()
            os.fsync(raw.fileno())
        digest = _sha256_file(partial)
        size = partial.stat().st_size
        final = archive_path(app, backup_id)
        os.replace(partial, final)
        _write_sidecar(final, digest)
        _fsync_dir(out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    record(app, backup_id, reason, included, size, digest, len(writer.members), created_at)
    return m.BackupCreated(
        id=backup_id,
        path=f"<home>/{BACKUPS_DIR}/{final.name}",
        reason=reason,  # type: ignore[arg-type]
        scope=included,
        members=len(writer.members),
        bytes=size,
        sha256=digest,
        not_included=not_included,
        locked_ms=round(locked_ms, 3),
        created_at=created_at,
    )


def sidecar(archive: Path) -> Path:
    """`<id>.tar.gz.sha256` in sha256sum's format: the whole-archive check that travels with a copy."""
    return archive.with_name(archive.name + ".sha256")


def _write_sidecar(archive: Path, digest: str) -> None:
    tmp = sidecar(archive).with_suffix(".tmp")
    with tmp.open("w") as fh:
        fh.write(f"{digest}  {archive.name}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, sidecar(archive))


def _read_sidecar(archive: Path) -> str | None:
    try:
        text = sidecar(archive).read_text()[:200]
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(r"^([0-9a-f]{64})\s", text)
    return match.group(1) if match else None


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


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
                    path=f"{BACKUPS_DIR}/{backup_id}{SUFFIX}",
                    sha256=digest,
                    bytes=size,
                    members=members,
                    store_backend=app.store.dialect,
                    created_at=created_at,
                )
            )


# -- reading ------------------------------------------------------------------------------------------


class _HashingFile(io.RawIOBase):
    """The archive file, hashed as tarfile's stream reader consumes it."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha.update(data)
        return data

    def finish(self) -> str:
        while chunk := self._fh.read(CHUNK):
            self.sha.update(chunk)
        return self.sha.hexdigest()


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a member is refused before anything is extracted, or None."""
    name = member.name
    if not name or "\x00" in name or "\\" in name:
        return "an empty name or one with NUL or backslash characters"
    if name.startswith("/") or PurePosixPath(name).is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "an absolute name"
    if ".." in PurePosixPath(name).parts:
        return "a '..' component"
    if member.issym() or member.islnk():
        return "a link"
    if not (member.isfile() or member.isdir()):
        return "a device, FIFO or other special file"
    top = PurePosixPath(name).parts[0]
    if name != MANIFEST and top not in ("files", "pg"):
        return "a name outside files/, pg/ and manifest.json"
    if member.isfile() and name == MANIFEST and member.size > 64 * 1024 * 1024:
        return "a manifest over 64 MiB"
    return None


class _TooBig(Exception):
    pass


@dataclass
class ReadResult:
    manifest: dict[str, Any] | None
    problems: list[m.Problem]
    checked: int
    archive_sha256: str | None


def read_archive(path: Path, staging: Path | None = None) -> ReadResult:
    """One pass: check every member, hash every file (writing it under `staging` when given), then
    compare with the manifest."""
    problems: list[m.Problem] = []
    seen: dict[str, tuple[str, int]] = {}
    manifest: dict[str, Any] | None = None
    checked = 0

    def fail(member: str, problem: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(m.Problem(member=member[:200], problem=problem))

    digest: str | None = None
    total = 0
    try:
        limit = path.stat().st_size * MAX_EXPANSION + EXPANSION_ALLOWANCE
        with path.open("rb") as raw:
            hashed = _HashingFile(raw)
            try:
                # GzipFile checks the CRC-32 and length at the end of the stream, which tarfile's own
                # stream reader does not; the rest after the tar's end must be zero padding.
                gz = gzip.GzipFile(fileobj=hashed, mode="rb")
                with tarfile.open(fileobj=gz, mode="r|") as tar:  # type: ignore[call-overload]
                    for member in tar:
                        if len(seen) >= MAX_MEMBERS:
                            fail("<archive>", f"more than {MAX_MEMBERS} members")
                            break
                        why = member_problem(member)
                        if why is None and staging is not None:
                            try:
                                tarfile.data_filter(member, str(staging))
                            except tarfile.FilterError as err:
                                why = f"refused by tarfile's data filter ({type(err).__name__})"
                        if why is not None:
                            fail(member.name, f"refused: {why}")
                            continue
                        if member.isdir():
                            if staging is not None:
                                (staging / member.name).mkdir(parents=True, exist_ok=True)
                            continue
                        if member.name in seen:
                            fail(member.name, "appears twice in the archive")
                            continue
                        fh = tar.extractfile(member)
                        assert fh is not None
                        sha = hashlib.sha256()
                        size = 0
                        buffer = bytearray() if member.name == MANIFEST else None
                        out = None
                        if staging is not None and member.name != MANIFEST:
                            target = staging / member.name
                            target.parent.mkdir(parents=True, exist_ok=True)
                            out = open(target, "xb")  # noqa: SIM115
                        try:
                            while chunk := fh.read(CHUNK):
                                sha.update(chunk)
                                size += len(chunk)
                                total += len(chunk)
                                if total > limit:
                                    raise _TooBig
                                if buffer is not None:
                                    buffer.extend(chunk)
                                if out is not None:
                                    out.write(chunk)
                        finally:
                            if out is not None:
                                out.close()
                        checked += 1
                        seen[member.name] = (sha.hexdigest(), size)
                        if buffer is not None:
                            try:
                                manifest = json.loads(bytes(buffer))
                            except ValueError:
                                fail(MANIFEST, "is not valid JSON")
                trailing = False
                while chunk := gz.read(CHUNK):
                    trailing = trailing or bool(chunk.strip(b"\0"))
                if trailing:
                    fail("<archive>", "holds data after the end of the tar stream (damaged or appended)")
            except _TooBig:
                fail(
                    "<archive>",
                    f"unpacks to more than {MAX_EXPANSION}x its size (refused as a decompression bomb)",
                )
            except (tarfile.TarError, EOFError, OSError, zlib_error()) as err:
                fail("<archive>", f"unreadable ({type(err).__name__}: {str(err)[:120]})")
            digest = hashed.finish()
    except FileNotFoundError:
        fail("<archive>", "the archive file is missing")
    if manifest is None:
        if not any(p.member == MANIFEST for p in problems):
            fail(MANIFEST, "missing")
        return ReadResult(None, problems, checked, digest)
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("members"), list):
        fail(MANIFEST, f"is not a {FORMAT} manifest")
        return ReadResult(manifest, problems, checked, digest)
    listed: dict[str, dict[str, Any]] = {}
    for entry in manifest["members"]:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            listed[entry["name"]] = entry
    for name, entry in listed.items():
        got = seen.get(name)
        if got is None:
            fail(name, "listed in the manifest but missing from the archive")
        elif got[0] != entry.get("sha256"):
            fail(name, "SHA-256 does not match the manifest")
        elif got[1] != entry.get("size"):
            fail(name, "size does not match the manifest")
    for name in seen:
        if name != MANIFEST and name not in listed:
            fail(name, "in the archive but not in the manifest")
    return ReadResult(manifest, problems, checked, digest)


def zlib_error() -> type[BaseException]:
    import zlib

    return zlib.error


# -- records and listing ------------------------------------------------------------------------------


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
        return Located(backup_id, path, _read_sidecar(path), False)
    raise NotFound(f"No backup '{backup_id}'; backup_list shows the backups that exist.")


def verify(app: AppContext, backup_id: str, *, note: bool = True) -> tuple[m.VerifyResult, ReadResult]:
    backup_id = resolve_id(app, backup_id)
    loc = locate(app, backup_id)
    result = read_archive(loc.path)
    problems = archive_problems(loc, result)
    ok = not problems
    if note and loc.recorded:
        _note_verified(app, backup_id, ok)
    return (
        m.VerifyResult(
            id=backup_id,
            ok=ok,
            checked=result.checked,
            problems=problems[:MAX_PROBLEMS],
            archive_sha256=result.archive_sha256,
        ),
        result,
    )


def archive_problems(loc: Located, result: ReadResult) -> list[m.Problem]:
    """The member problems plus the whole-archive checks: SHA-256 against the record (or the .sha256
    file) and the manifest's id."""
    problems = list(result.problems)
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
    if result.manifest is not None and result.manifest.get("id") != loc.id:
        problems.append(m.Problem(member=MANIFEST, problem="belongs to another backup id"))
    return problems[:MAX_PROBLEMS]


def _note_verified(app: AppContext, backup_id: str, ok: bool) -> None:
    from mcp_server.core.store.models import BackupRecord

    with app.store.transaction() as session:
        rec = session.get(BackupRecord, backup_id)
        if rec is not None:
            rec.verified_at = _now()
            rec.verified_ok = ok


def _peek_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of an archive without a record (listing only; verify reads everything)."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST and member.isfile() and member.size < 64 * 1024 * 1024:
                    fh = tar.extractfile(member)
                    return json.loads(fh.read()) if fh is not None else None
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return None
    return None


def list_backups(app: AppContext) -> list[m.BackupInfo]:
    from sqlalchemy import select

    from mcp_server.core.store.models import BackupRecord

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
                present=(app.settings.home / rec.path).is_file(),
                verified_ok=rec.verified_ok,
                verified_at=rec.verified_at,
            )
    folder = backups_dir(app)
    if folder.is_dir():
        for path in folder.glob(f"bk-*{SUFFIX}"):
            backup_id = path.name[: -len(SUFFIX)]
            if not ID_RE.match(backup_id) or backup_id in items:
                continue
            manifest = _peek_manifest(path)
            if not isinstance(manifest, dict):
                manifest = {}
            created = None
            with contextlib.suppress(KeyError, TypeError, ValueError):
                created = datetime.fromisoformat(manifest["created_at"])
            items[backup_id] = m.BackupInfo(
                id=backup_id,
                path=f"<home>/{BACKUPS_DIR}/{path.name}",
                reason=str(manifest["reason"])[:16] if manifest.get("reason") else None,
                scope=[str(s) for s in manifest.get("scope", [])][:10]
                if isinstance(manifest.get("scope"), list)
                else [],
                bytes=path.stat().st_size,
                members=len(manifest["members"])
                if isinstance(manifest.get("members"), list) and manifest["members"]
                else None,
                created_at=created,
                recorded=False,
                present=True,
            )
    return sorted(items.values(), key=lambda b: b.id, reverse=True)  # ids sort by time


def reindex(app: AppContext) -> int:
    """Record archives in <home>/backups that the store does not know (after an in-place restore)."""
    added = 0
    for info in list_backups(app):
        if info.recorded:
            continue
        path = archive_path(app, info.id)
        record(
            app,
            info.id,
            info.reason if info.reason in ("manual", "safety") else "manual",
            info.scope,
            info.bytes,
            _sha256_file(path),
            info.members or 0,
            info.created_at or datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )
        added += 1
    return added


def prune(app: AppContext, keep_last: int, keep_daily: int) -> m.PruneResult:
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
        sidecar(path).unlink(missing_ok=True)
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


# -- rewriting paths ----------------------------------------------------------------------------------


def path_pairs(old_home: str, new_home: Path, old_lake: str | None = None) -> list[tuple[str, str]]:
    """(old, new) prefixes: file URIs first, then plain paths, each ending in '/'."""
    pairs: list[tuple[str, str]] = []
    if old_lake and not old_lake.startswith("s3://") and not Path(old_lake).is_relative_to(old_home):
        pairs.append((Path(old_lake).as_uri() + "/", (new_home / "lake").as_uri() + "/"))
        pairs.append((old_lake.rstrip("/") + "/", str(new_home / "lake") + "/"))
    pairs.append((Path(old_home).as_uri() + "/", new_home.as_uri() + "/"))
    pairs.append((old_home.rstrip("/") + "/", str(new_home) + "/"))
    return [(o, n) for o, n in pairs if o != n]


_TEXT_TYPES = ("CHAR", "TEXT", "CLOB", "STRING")


def rewrite_sqlite(
    db: Path, pairs: list[tuple[str, str]], label: str, *, metadata: bool = False
) -> list[m.Rewrite]:
    """Replace old-home prefixes in every text column of every table of a SQLite file."""
    out: list[m.Rewrite] = []
    if not pairs:
        return out
    con = sqlite3.connect(db)
    try:
        con.create_function(
            "sha256_hex",
            1,
            lambda v: hashlib.sha256(str(v).encode("utf-8", "surrogateescape")).hexdigest(),
            deterministic=True,
        )
        with con:
            if metadata:
                # A cache keyed by the hash of the path: dropped rather than rewritten.
                for old, _new in pairs:
                    con.execute("DELETE FROM mlops_dataset_fingerprints WHERE instr(path, ?) = 1", (old,))
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                cols = [
                    r[1]
                    for r in con.execute(f'PRAGMA table_info("{table}")')
                    if any(t in str(r[2]).upper() for t in _TEXT_TYPES)
                ]
                for col in cols:
                    count = 0
                    for old, new in pairs:
                        cur = con.execute(
                            f'UPDATE "{table}" SET "{col}" = replace("{col}", ?, ?) WHERE instr("{col}", ?) > 0',
                            (old, new, old),
                        )
                        count += cur.rowcount
                    if count:
                        out.append(m.Rewrite(where=f"{label}:{table}.{col}", count=count))
            if metadata:
                con.execute(
                    "UPDATE mlops_validation_results SET path_key = sha256_hex(dataset_path) "
                    "WHERE path_key != sha256_hex(dataset_path)"
                )
        rows = con.execute("PRAGMA integrity_check").fetchall()
        if rows != [("ok",)]:
            raise Conflict(f"The restored {label} failed PRAGMA integrity_check; the restore was stopped.")
    finally:
        con.close()
    return out


def rewrite_pg(url: str, pairs: list[tuple[str, str]]) -> list[m.Rewrite]:
    import sqlalchemy as sa

    out: list[m.Rewrite] = []
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            for old, _new in pairs:
                conn.execute(
                    sa.text("DELETE FROM mlops_dataset_fingerprints WHERE strpos(path, :o) = 1"), {"o": old}
                )
            insp = sa.inspect(conn)
            for table in insp.get_table_names():
                if not table.startswith("mlops_"):
                    continue
                for col in insp.get_columns(table):
                    if not isinstance(col["type"], sa.String):
                        continue
                    name = col["name"]
                    count = 0
                    for old, new in pairs:
                        res = conn.execute(
                            sa.text(
                                f'UPDATE "{table}" SET "{name}" = replace("{name}", :o, :n) WHERE strpos("{name}", :o) > 0'
                            ),
                            {"o": old, "n": new},
                        )
                        count += res.rowcount
                    if count:
                        out.append(m.Rewrite(where=f"metadata:{table}.{name}", count=count))
            conn.execute(
                sa.text(
                    "UPDATE mlops_validation_results SET path_key = encode(sha256(convert_to(dataset_path, 'UTF8')), 'hex') "
                    "WHERE path_key != encode(sha256(convert_to(dataset_path, 'UTF8')), 'hex')"
                )
            )
    finally:
        engine.dispose()
    return out


def rewrite_text_files(folder: Path, pairs: list[tuple[str, str]], label: str) -> list[m.Rewrite]:
    """YAML/JSON/text configuration files that name old-home paths (GX, Feast's feature_store.yaml)."""
    out: list[m.Rewrite] = []
    if not folder.exists():
        return out
    paths = [folder] if folder.is_file() else [p for p in folder.rglob("*") if p.is_file()]
    for path in paths:
        if (
            path.suffix not in (".yml", ".yaml", ".json", ".txt", ".cfg", ".toml")
            or path.stat().st_size > 16 * 1024 * 1024
        ):
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        new_text = text
        for old, new in pairs:
            new_text = new_text.replace(old, new)
            new_text = new_text.replace(old.replace("/", "\\/"), new.replace("/", "\\/"))  # JSON-escaped
        if new_text != text:
            path.write_text(new_text)
            out.append(m.Rewrite(where=f"{label}:{path.relative_to(folder.parent).as_posix()}", count=1))
    return out


def rewrite_feast_registry(registry: Path, pairs: list[tuple[str, str]]) -> list[m.Rewrite]:
    """File sources in Feast's registry (a RegistryProto) that point into the old home."""
    if not registry.is_file():
        return []
    data = registry.read_bytes()
    if not any(old.encode() in data for old, _ in pairs):
        return []
    from feast.protos.feast.core.Registry_pb2 import Registry as RegistryProto

    proto = RegistryProto()
    proto.ParseFromString(data)
    count = 0

    def fix(source: Any) -> None:
        nonlocal count
        if source.HasField("file_options"):
            uri = source.file_options.uri
            for old, new in pairs:
                if uri.startswith(old):
                    source.file_options.uri = new + uri[len(old) :]
                    count += 1
                    break

    for ds in proto.data_sources:
        fix(ds)
    for fv in proto.feature_views:
        if fv.spec.HasField("batch_source"):
            fix(fv.spec.batch_source)
    if count:
        tmp = registry.with_name(registry.name + ".tmp")
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, registry)
    return [m.Rewrite(where="features:registry.db", count=count)] if count else []


def rewrite_home(
    staged_files: Path, manifest: dict[str, Any], new_home: Path, *, pg_url: str | None
) -> list[m.Rewrite]:
    old_home = str(manifest.get("source_home") or "")
    if not old_home:
        return []
    pairs = path_pairs(old_home, new_home, manifest.get("lake_root"))
    if not pairs:
        return []
    out: list[m.Rewrite] = []
    if (staged_files / "metadata.db").is_file():
        out += rewrite_sqlite(staged_files / "metadata.db", pairs, "metadata", metadata=True)
    if pg_url is not None:
        out += rewrite_pg(pg_url, pairs)
    if (staged_files / "mlflow.db").is_file():
        out += rewrite_sqlite(staged_files / "mlflow.db", pairs, "mlflow")
    out += rewrite_text_files(staged_files / "gx", pairs, "suites")
    out += rewrite_text_files(staged_files / "cache" / "onnx", pairs, "models")
    out += rewrite_text_files(staged_files / "feature_repo", pairs, "features")
    out += rewrite_text_files(staged_files / "feature_repo.json", pairs, "features")
    out += rewrite_feast_registry(staged_files / "feature_repo" / "data" / "registry.db", pairs)
    return out


def integrity(staged_files: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("metadata.db", "mlflow.db"):
        db = staged_files / name
        if db.is_file():
            con = sqlite3.connect(db)
            try:
                rows = con.execute("PRAGMA integrity_check").fetchall()
            finally:
                con.close()
            out[name] = "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])
    return out


# -- restoring ----------------------------------------------------------------------------------------


def restore_root(app: AppContext) -> Path:
    root = app.settings.backup_restore_root or app.settings.home.parent
    return Path(root).expanduser().resolve()


@contextlib.contextmanager
def _staged(app: AppContext, backup_id: str, parent: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Verify and extract in one pass into a staging folder under `parent`; refuse on any problem."""
    loc = locate(app, backup_id)
    backup_id = loc.id
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".restore-{backup_id}-", dir=parent))
    try:
        result = read_archive(loc.path, staging)
        problems = archive_problems(loc, result)
        if problems or result.manifest is None:
            if loc.recorded:
                _note_verified(app, backup_id, False)
            first = problems[0] if problems else m.Problem(member=MANIFEST, problem="missing")
            raise Conflict(
                f"Backup {backup_id} failed verification ({first.member}: {first.problem}"
                f"{f', and {len(problems) - 1} more' if len(problems) > 1 else ''}); nothing was restored."
            )
        if loc.recorded:
            _note_verified(app, backup_id, True)
        yield staging, result.manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_pg_target(url: str, allowlist: list[str]) -> str:
    from mcp_server.core.net import check_url
    from mcp_server.core.store.metadata import _normalize_url

    url = _normalize_url(url)
    if not url.startswith("postgresql"):
        raise InvalidInput("store_url must be a postgresql:// URL of an empty database.")
    check_url(url.replace("postgresql+psycopg://", "postgresql://", 1), allowlist, schemes=("postgresql",))
    return url


def _pg_is_empty(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
    except sa.exc.OperationalError:
        raise BackendUnavailable(
            "The PostgreSQL database in store_url did not answer; check the URL and that it runs."
        ) from None
    finally:
        engine.dispose()
    return not any(n.startswith("mlops_") for n in names)


def restore_new_home(
    app: AppContext, backup_id: str, name: str, store_url: str | None, control: StepControl | None
) -> m.RestoreResult:
    backup_id = resolve_id(app, backup_id)
    root = restore_root(app)
    final = root / name
    if final.exists():
        raise Conflict(f"'{name}' already exists under the restore root; choose another new_home name.")
    if final == app.settings.home or app.settings.home.is_relative_to(final):
        raise InvalidInput("new_home must not be the current home; use target='in_place' to replace it.")
    if control is not None:
        control.step(1, 4, "verifying and extracting")
    pg_url = _check_pg_target(store_url, app.settings.url_allowlist) if store_url else None
    with _staged(app, backup_id, root) as (staging, manifest):
        files = staging / "files"
        files.mkdir(exist_ok=True)
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
        if control is not None:
            control.step(2, 4, "restoring the databases")
        if pg_url is not None:
            if not _pg_is_empty(pg_url):
                raise Conflict(
                    "The database in store_url already holds mlops_* tables; give an empty database."
                )
            pg_restore(pg_url, staging / "pg" / "metadata.dump", clean=False)
            notes.append(
                "Start the restored server with MLOPS_MCP_STORE_URL set to the store_url given here."
            )
        if control is not None:
            control.step(3, 4, "rewriting paths into the new home")
        rewrites = rewrite_home(files, manifest, final, pg_url=pg_url)
        checks = integrity(files)
        if any(v != "ok" for v in checks.values()):
            raise Conflict(
                f"A restored database failed PRAGMA integrity_check ({checks}); nothing was restored."
            )
        for sub in ("workspace", BACKUPS_DIR, "reports"):
            (files / sub).mkdir(exist_ok=True)
        os.chmod(files, 0o700)
        if control is not None:
            control.step(4, 4, "moving the new home into place")
        os.rename(files, final)  # atomic: the new home appears whole or not at all
        _fsync_dir(root)
    for e in manifest.get("not_included", []):
        notes.append(f"Not in the backup: {e.get('what')}: {e.get('why')}")
    return m.RestoreResult(
        id=backup_id,
        target="new_home",
        home=name,
        parts=[str(p) for p in manifest.get("scope", [])],
        rewrites=rewrites,
        integrity=checks,
        safety_backup=None,
        gateway=None,
        notes=notes,
    )


def _drop_cached_clients(app: AppContext) -> None:
    """Forget every lazily-built client (MLflow, GX, Feast) and MLflow's pooled SQLite connections."""
    from mcp_server.core.tracking import tracking_uri

    app.drop_clients()
    if "mlflow" in sys.modules:
        uri = tracking_uri(app.settings)
        for modname in (
            "mlflow.store.tracking.sqlalchemy_store",
            "mlflow.store.model_registry.sqlalchemy_store",
        ):
            mod = sys.modules.get(modname)
            engine = getattr(getattr(mod, "SqlAlchemyStore", None), "_engine_map", {}).get(uri)
            if engine is not None:
                engine.dispose()


def _gateway(app: AppContext, action: str) -> str:
    try:
        from mcp_server.gateway import manager  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "no gateway in this installation"
    status = getattr(manager, action)(app)
    return str(getattr(status, "state", None) or getattr(status, "running", None) or status)


def _gateway_running(app: AppContext) -> bool:
    try:
        from mcp_server.gateway import manager  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    status = manager.status(app)
    running = getattr(status, "running", None)
    if running is None:
        running = str(getattr(status, "state", "")).lower() in ("running", "up", "ok")
    return bool(running)


def restore_in_place(app: AppContext, backup_id: str, control: StepControl | None) -> m.RestoreResult:
    backup_id = resolve_id(app, backup_id)
    home = app.settings.home
    store = app.store
    if control is not None:
        control.step(1, 5, "verifying and extracting")
    with _staged(app, backup_id, home) as (staging, manifest):
        files = staging / "files"
        files.mkdir(exist_ok=True)
        parts = [str(p) for p in manifest.get("scope", [])]
        has_dump = (staging / "pg" / "metadata.dump").is_file()
        if "metadata" in parts and has_dump != (store.dialect == "postgresql"):
            raise InvalidInput(
                f"This backup holds a {'PostgreSQL' if has_dump else 'SQLite'} metadata store and this server "
                f"uses {store.dialect}; restore it into a new home instead."
            )
        if control is not None:
            control.step(2, 5, "taking a safety backup")
        safety = create(app, [p for p in parts if p in PARTS] or ["all"], "safety")
        rewrites: list[m.Rewrite] = []
        if manifest.get("source_home") != str(home):
            rewrites = rewrite_home(files, manifest, home, pg_url=None)
        checks = integrity(files)
        if any(v != "ok" for v in checks.values()):
            raise Conflict(
                f"A restored database failed PRAGMA integrity_check ({checks}); nothing was replaced."
            )
        if control is not None:
            control.step(3, 5, "stopping the gateway")
        was_running = _gateway_running(app)
        gateway = "not running"
        if was_running:
            _gateway(app, "stop")
        replaced = staging / "replaced"
        replaced.mkdir()
        moves: list[tuple[Path, Path]] = []
        if control is not None:
            control.step(4, 5, "swapping folders")
        lake = _lake_root(app)
        try:
            with store.write_lock(app.settings.backup_lock_timeout_s):
                store.dispose()
                _drop_cached_clients(app)
                try:
                    for part in parts:
                        for entry in PART_ENTRIES.get(part, ()):
                            live = Path(lake) if entry == "lake" else home / entry
                            if entry == "lake" and lake.startswith("s3://"):
                                continue
                            staged = files / entry
                            extras = (
                                [live.with_name(live.name + s) for s in ("-wal", "-shm")]
                                if live.suffix == ".db"
                                else []
                            )
                            for path in [live, *extras]:
                                if path.exists():
                                    aside = (
                                        replaced / f"{entry.replace('/', '_')}{path.name[len(live.name) :]}"
                                    )
                                    os.rename(path, aside)
                                    moves.append((aside, path))
                            if staged.exists():
                                live.parent.mkdir(parents=True, exist_ok=True)
                                os.rename(staged, live)
                                moves.append((live, staged))
                    if has_dump:
                        pg_restore(store.url, staging / "pg" / "metadata.dump", clean=True)
                except BaseException:
                    for dst, src in reversed(moves):  # put every folder back as it was
                        with contextlib.suppress(OSError):
                            os.rename(dst, src)
                    raise
                finally:
                    store.dispose()
        finally:
            if was_running:
                gateway = f"restarted: {_gateway(app, 'start')}"
        _fsync_dir(home)
        if control is not None:
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
        notes=[
            f"Not in the backup: {e.get('what')}: {e.get('why')}" for e in manifest.get("not_included", [])
        ],
    )
