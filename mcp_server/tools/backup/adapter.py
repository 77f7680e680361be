"""Backup archives and the copies that go into them: plain functions over tarfile, sqlite3, pg_dump and
Feast's registry; no MCP imports and no store records (service.py keeps those).

Archive (`<home>/backups/<id>.tar.gz`, written through core.files.atomic_path):

    files/metadata.db            the metadata store (SQLite: sqlite3's online backup API)
    pg/metadata.dump             ... or PostgreSQL: `pg_dump -Fc` of the mlops_* tables
    files/mlflow.db              MLflow's SQLite store (online backup API), files/mlartifacts/... its artifacts
    files/gx/...                 Great Expectations' project (suites, validation definitions)
    files/feature_repo/...       the Feast repo (registry, online store, feature_store.yaml), feature_repo.json
    files/lake/...               the local lake, when asked (scope "lake")
    manifest.json                SHA-256 and size of every member, scope, what was left out and why,
                                 the source home, library versions
    manifest.sig                 last: HMAC-SHA256 of manifest.json with this home's key (keys/backup.key)

Trust: an archive the store has a record of is checked against the record's SHA-256; one without a record
(copied in, or re-indexed after an in-place restore) must carry a signature made with this home's key. The
key lives outside backups/, so an archive and `.sha256` file dropped there cannot vouch for themselves
(issue #22.7); to trust another server's backups, restore them on that server or copy its key file here.

Reading an archive is one streaming pass: every member name and type is checked (no absolute names, no
'..', no links or devices, only files/, pg/ and manifest.json, and tarfile's "data" filter on top),
every file is hashed as it is read and, for a restore, written to a staging folder that only becomes
live after every checksum matched.

Paths: the server stores paths relative to its home or roots (core/workspace.py), so a restore rewrites
only what a library keeps absolutely: MLflow's artifact locations (MLFLOW_PATHS) and the Feast repo's
file sources, registry path and pointer (rewrite_feast). Archives of format 1 were written before that;
their metadata store may still name the old home (service.py notes it on restore).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import hmac
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
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, get_args

from pydantic import ValidationError

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput
from mcp_server.core.files import atomic_path, fsync_dir, write_bytes_atomic, write_text_atomic
from mcp_server.tools.backup import models as m

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control

FORMATS: tuple[str, ...] = get_args(m.Format)
FORMAT = FORMATS[-1]
SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
KEY_FILE = "keys/backup.key"
KEY_BYTES = 32
ID_RE = re.compile(r"^bk-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
SQLITE_HEADER = b"SQLite format 3\x00"
SIDE_FILES = ("-wal", "-shm", "-journal")
CHUNK = 1 << 20
MAX_PROBLEMS = 50
MAX_MEMBERS = 1_000_000
# Unpacked bytes allowed per archive byte (a gzip bomb stops here) on top of a fixed allowance.
MAX_EXPANSION = 200
EXPANSION_ALLOWANCE = 1 << 30
PG_DUMP_TIMEOUT_S = 600
# Where MLflow keeps absolute artifact locations in its SQLite store: its artifact root.
MLFLOW_PATHS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


def new_id(at: datetime | None = None) -> str:
    return f"bk-{(at or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def check_id(backup_id: str) -> str:
    if not isinstance(backup_id, str) or not (backup_id == "latest" or ID_RE.match(backup_id)):
        raise InvalidInput(
            "The backup id must look like bk-20260101T000000Z-1a2b3c (or be 'latest'); backup_list shows them."
        )
    return backup_id


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for dist in ("mlops-mcp", "mlflow", "great_expectations", "feast", "SQLAlchemy"):
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            out[dist] = importlib_metadata.version(dist)
    return out


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- signing ------------------------------------------------------------------------------------------


def signing_key(home: Path) -> bytes:
    """This home's backup key: 32 random bytes in <home>/keys/backup.key (mode 0600), made on first use.
    Made under a temporary name and linked into place, so two processes never end up with two keys."""
    path = home / KEY_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process linked its key first: that one is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsync_dir(path.parent)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise Conflict(
            f"The backup signing key <home>/{KEY_FILE} is damaged (not {KEY_BYTES} bytes); put back a copy or "
            "delete it to make a new one (archives signed with the old key then verify only through their records)."
        )
    return key


def key_id(key: bytes) -> str:
    """A short public name of a key, so that an archive signed elsewhere can say so."""
    return hashlib.sha256(b"mlops-mcp backup key\0" + key).hexdigest()[:12]


def sign(manifest: bytes, key: bytes) -> bytes:
    mac = hmac.new(key, manifest, "sha256").hexdigest()
    return json.dumps({"alg": "HMAC-SHA256", "key_id": key_id(key), "mac": mac}).encode()


def signature_problem(manifest: bytes, signature: bytes | None, key: bytes) -> str | None:
    """Why `signature` does not vouch for `manifest` under `key`, or None when it does."""
    if signature is None:
        return (
            "has no signature, so it was not made by this server; only an archive signed with this home's "
            "key verifies without a record"
        )
    try:
        found = json.loads(signature)
        their_id, mac = str(found["key_id"]), str(found["mac"])
    except (ValueError, TypeError, KeyError):
        return "has an unreadable signature (manifest.sig)"
    if their_id != key_id(key):
        return (
            f"is signed with another server's key (key id {their_id[:12]}, this home's is {key_id(key)}); "
            "restore it on that server, or copy that server's keys/backup.key here"
        )
    if not hmac.compare_digest(mac, hmac.new(key, manifest, "sha256").hexdigest()):
        return "does not match its signature: manifest.json was changed after the backup was made"
    return None


def parse_manifest(raw: bytes) -> tuple[m.Manifest | None, str | None]:
    """The manifest, or why it is not one (one sentence naming the first field that is wrong)."""
    try:
        return m.Manifest.model_validate_json(raw), None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        if first["type"] == "json_invalid":
            return None, "is not valid JSON"
        return None, f"is not a {FORMAT} manifest ({where}: {first['msg'][:80]})"


# -- copying ------------------------------------------------------------------------------------------


def sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (online backup API), as one file without a WAL."""
    uri = f"{src.resolve().as_uri()}?mode=ro"
    with (
        closing(sqlite3.connect(uri, uri=True, timeout=30)) as source,
        closing(sqlite3.connect(dst)) as target,
    ):
        source.backup(target)
        target.execute("PRAGMA journal_mode = DELETE")


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_HEADER
    except OSError:
        return False


def _files(src: Path) -> Iterator[tuple[Path, str]]:
    """The regular files under `src`, sorted, with their relative names (links and SQLite side files left out)."""
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not (Path(root) / d).is_symlink())
        rel = Path(root).relative_to(src)
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_symlink() and path.is_file() and not name.endswith(SIDE_FILES):
                yield path, (rel / name).as_posix()


def copy(src: Path, dst: Path) -> None:
    """Copy a file or a folder of small files: SQLite databases through the backup API, links left out."""
    for path, target in ((p, dst / rel) for p, rel in _files(src)) if src.is_dir() else [(src, dst)]:
        target.parent.mkdir(parents=True, exist_ok=True)
        (sqlite_copy if _is_sqlite(path) else shutil.copyfile)(path, target)


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
    cmd = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--table=mlops_*", f"--file={dst}"]
    _run_pg([*cmd, *args], env, "back up the metadata store")


def pg_restore(url: str, dump: Path, *, clean: bool) -> None:
    args, env = _pg_conninfo(url)
    cmd = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        cmd += ["--clean", "--if-exists"]
    _run_pg([*cmd, *args, str(dump)], env, "restore the metadata store")


def pg_is_empty(url: str) -> bool:
    """True when the database holds no mlops_* table (a restore target)."""
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


# -- writing ------------------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """A file read through tarfile, hashed on the way (the bytes archived or read are the bytes hashed)."""

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

    def finish(self) -> str:
        """Hash the rest of the file too; its SHA-256 as a whole."""
        while self.read(CHUNK):
            pass
        return self.sha.hexdigest()


@dataclass
class _Writer:
    tar: tarfile.TarFile
    control: Control | None = None
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

    def add(self, source: Path, name: str) -> None:
        """A file, or every file of a folder, under the member name `name`."""
        if not source.is_dir():
            return self.add_file(source, name)
        for path, rel in _files(source):
            self.add_file(path, f"{name}/{rel}")
            if self.control is not None and len(self.members) % 200 == 0:
                self.control.step(len(self.members), None, f"{len(self.members)} files archived")

    def add_file(self, source: Path, name: str) -> None:
        with source.open("rb") as fh:
            st = os.fstat(fh.fileno())
            self._dir(name)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = st.st_size, 0o600, int(st.st_mtime)
            reader = _Hashing(fh)
            self.tar.addfile(info, reader)  # reads exactly st_size bytes (a shrinking file fails the call)
        self.members.append({"name": name, "sha256": reader.sha.hexdigest(), "size": reader.size})

    def add_bytes(self, data: bytes, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        self.tar.addfile(info, io.BytesIO(data))


def write_archive(
    path: Path,
    sources: Sequence[tuple[Path, str]],
    manifest: dict[str, Any],
    key: bytes,
    control: Control | None,
) -> tuple[int, int, str]:
    """Write each (file or folder, member name), then the manifest with every member's SHA-256 and its
    signature, as the gzip'd tar `path` (atomically) and its .sha256 file beside it;
    -> (members, bytes, SHA-256)."""
    with (
        atomic_path(path) as tmp,
        tmp.open("wb") as raw,
        tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar,
    ):
        tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # 1 MiB reads instead of 16 KiB
        writer = _Writer(tar, control)
        for source, name in sources:
            writer.add(source, name)
        text = json.dumps({**manifest, "members": writer.members}, indent=1, sort_keys=True)
        writer.add_bytes(text.encode(), MANIFEST)
        writer.add_bytes(sign(text.encode(), key), SIGNATURE)
    digest = sha256_file(path)
    write_text_atomic(sidecar(path), f"{digest}  {path.name}\n")
    fsync_dir(path.parent)
    return len(writer.members), path.stat().st_size, digest


def sidecar(archive: Path) -> Path:
    """`<id>.tar.gz.sha256` in sha256sum's format: the whole-archive check that travels with a copy."""
    return archive.with_name(archive.name + ".sha256")


def read_sidecar(archive: Path) -> str | None:
    try:
        text = sidecar(archive).read_text()[:200]
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(r"^([0-9a-f]{64})\s", text)
    return match.group(1) if match else None


# -- reading ------------------------------------------------------------------------------------------


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
    if name not in (MANIFEST, SIGNATURE) and top not in ("files", "pg"):
        return "a name outside files/, pg/, manifest.json and manifest.sig"
    if member.isfile() and name == MANIFEST and member.size > 64 * 1024 * 1024:
        return "a manifest over 64 MiB"
    if member.isfile() and name == SIGNATURE and member.size > 4096:
        return "a signature over 4 KiB"
    return None


class _TooBig(Exception):
    pass


@dataclass
class ReadResult:
    manifest: m.Manifest | None
    problems: list[m.Problem]
    checked: int
    archive_sha256: str | None
    manifest_bytes: bytes | None = None  # as signed
    signature: bytes | None = None


def read_archive(path: Path, staging: Path | None = None) -> ReadResult:
    """One pass: check every member, hash every file (writing it under `staging` when given), then
    compare with the manifest."""
    problems: list[m.Problem] = []
    seen: dict[str, tuple[str, int]] = {}
    kept: dict[str, bytes] = {}  # the manifest and its signature, as read
    checked = 0

    def fail(member: str, problem: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(m.Problem(member=member[:200], problem=problem))

    digest: str | None = None
    total = 0
    try:
        limit = path.stat().st_size * MAX_EXPANSION + EXPANSION_ALLOWANCE
        with path.open("rb") as raw:
            hashed = _Hashing(raw)
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
                        buffer = bytearray() if member.name in (MANIFEST, SIGNATURE) else None
                        out = None
                        if staging is not None and buffer is None:
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
                            kept[member.name] = bytes(buffer)
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
            except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
                fail(
                    "<archive>",
                    f"unreadable ({type(err).__name__}: {_relative_text(err, path, staging)[:120]})",
                )
            digest = hashed.finish()
    except FileNotFoundError:
        fail("<archive>", "the archive file is missing")
    signed, signature = kept.get(MANIFEST), kept.get(SIGNATURE)
    manifest, why = parse_manifest(signed) if signed is not None else (None, "missing")
    if manifest is None:
        fail(MANIFEST, why or "missing")
        return ReadResult(None, problems, checked, digest, signed, signature)
    listed = {entry.name: entry for entry in manifest.members}
    for name, entry in listed.items():
        got = seen.get(name)
        if got is None:
            fail(name, "listed in the manifest but missing from the archive")
        elif got[0] != entry.sha256:
            fail(name, "SHA-256 does not match the manifest")
        elif got[1] != entry.size:
            fail(name, "size does not match the manifest")
    for name in seen:
        if name not in (MANIFEST, SIGNATURE) and name not in listed:
            fail(name, "in the archive but not in the manifest")
    return ReadResult(manifest, problems, checked, digest, signed, signature)


def _relative_text(err: BaseException, archive: Path, staging: Path | None) -> str:
    """An error's text with the staging folder and the archive's folder taken out: a file the extraction
    wrote is named as its member in the archive ('files/...'), the archive by its file name; no absolute
    path outside the roots reaches the caller (issue #22.9)."""
    text = str(err)
    for folder in (staging, archive.parent):
        if folder is not None:
            for form in dict.fromkeys((str(folder), str(folder.resolve()))):
                text = text.replace(form + os.sep, "")
    return text


def peek(path: Path) -> tuple[bytes | None, bytes | None]:
    """The manifest and signature of an archive without a record, as stored (listing and re-indexing;
    verify reads everything); None for what is missing or unreadable."""
    found: dict[str, bytes] = {}
    with (
        contextlib.suppress(tarfile.TarError, OSError, ValueError, EOFError, zlib.error),
        tarfile.open(path, "r:gz") as tar,
    ):
        for member in tar:
            if member.name in (MANIFEST, SIGNATURE) and member_problem(member) is None and member.isfile():
                fh = tar.extractfile(member)
                if fh is not None:
                    found[member.name] = fh.read()
    return found.get(MANIFEST), found.get(SIGNATURE)


def integrity(staged_files: Path) -> dict[str, str]:
    """PRAGMA integrity_check of each SQLite database among the staged files."""
    out: dict[str, str] = {}
    for name in ("metadata.db", "mlflow.db"):
        if (staged_files / name).is_file():
            try:
                with closing(sqlite3.connect(staged_files / name)) as con:
                    rows = con.execute("PRAGMA integrity_check").fetchall()
            except sqlite3.DatabaseError as err:  # "file is not a database" and the like
                out[name] = f"not a readable SQLite database ({err})"
                continue
            out[name] = "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:3])
    return out


def dispose_mlflow_engines(uri: str) -> None:
    """Close MLflow's pooled connections to its SQLite store (after the file was swapped in place)."""
    for modname in ("mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"):
        store_class = getattr(sys.modules.get(modname), "SqlAlchemyStore", None)
        engine = getattr(store_class, "_engine_map", {}).get(uri)
        if engine is not None:
            engine.dispose()


# -- what libraries store absolutely ------------------------------------------------------------------


def path_pairs(old_home: str, new_home: Path, old_lake: str | None = None) -> list[tuple[str, str]]:
    """(old, new) prefixes: file URIs first, then plain paths, each ending in '/'."""
    pairs: list[tuple[str, str]] = []
    if old_lake and not old_lake.startswith("s3://") and not Path(old_lake).is_relative_to(old_home):
        pairs.append((Path(old_lake).as_uri() + "/", (new_home / "lake").as_uri() + "/"))
        pairs.append((old_lake.rstrip("/") + "/", str(new_home / "lake") + "/"))
    pairs.append((Path(old_home).as_uri() + "/", new_home.as_uri() + "/"))
    pairs.append((old_home.rstrip("/") + "/", str(new_home) + "/"))
    return [(o, n) for o, n in pairs if o != n]


def rewrite_mlflow(db: Path, pairs: list[tuple[str, str]]) -> list[m.Rewrite]:
    """MLflow's artifact root: the old-home prefix of the locations MLflow keeps absolutely (MLFLOW_PATHS)."""
    out: list[m.Rewrite] = []
    with closing(sqlite3.connect(db)) as con, con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, col in MLFLOW_PATHS:
            if table not in tables:
                continue
            sql = f'UPDATE "{table}" SET "{col}" = ? || substr("{col}", ?) WHERE substr("{col}", 1, ?) = ?'
            count = sum(con.execute(sql, (new, len(old) + 1, len(old), old)).rowcount for old, new in pairs)
            if count:
                out.append(m.Rewrite(where=f"mlflow:{table}.{col}", count=count))
    return out


FINGERPRINTS_UNDER = "DELETE FROM mlops_dataset_fingerprints WHERE substr(path, 1, :n) = :old"


def drop_fingerprints(db: Path | None, pg_url: str | None, old_home: str) -> None:
    """The fingerprint cache is keyed by absolute path (it describes this machine's files): entries for
    files of the old home are dropped; the restored home hashes its files again on first use."""
    old = old_home.rstrip("/") + "/"
    if db is not None and db.is_file():
        with closing(sqlite3.connect(db)) as con, con:
            con.execute(FINGERPRINTS_UNDER, {"n": len(old), "old": old})
    if pg_url is not None:
        import sqlalchemy as sa

        engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(FINGERPRINTS_UNDER), {"n": len(old), "old": old})
        finally:
            engine.dispose()


def rewrite_feast(repo: Path, pointer: Path, pairs: list[tuple[str, str]]) -> list[m.Rewrite]:
    """Feast's absolute paths: file sources in its registry, paths in feature_store.yaml, the repo pointer."""
    out = _rewrite_registry(repo / "data" / "registry.db", pairs)
    for path in (repo / "feature_store.yaml", pointer):
        if not path.is_file():
            continue
        text = new_text = path.read_text()
        for old, new in pairs:
            new_text = new_text.replace(old, new)
        if new_text != text:
            write_text_atomic(path, new_text)
            out.append(m.Rewrite(where=f"features:{path.name}", count=1))
    return out


def _rewrite_registry(registry: Path, pairs: list[tuple[str, str]]) -> list[m.Rewrite]:
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
        write_bytes_atomic(registry, proto.SerializeToString())
    return [m.Rewrite(where="features:registry.db", count=count)] if count else []
