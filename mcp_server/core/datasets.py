"""Dataset references: a file's content fingerprint (SHA-256) and its lineage identifier.

A changed file is a new version: the identifier carries the hash of the bytes. Hashing is cached in the
store by resolved path and trusted only while size, mtime, ctime and inode are all unchanged (ctime and
inode catch a copy that kept the old mtime, which `cp -p`, rsync and tar do), and only when the file
was already older than the clock's granularity when it was hashed (a same-size write in the same tick
would otherwise look unchanged). Callers pass paths already checked by Workspace.resolve.

The cache is keyed by the absolute path on purpose: it describes this machine's file (its inode), and a
home restored elsewhere simply hashes again. The identifier names the path as stored (root-relative).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.lineage import dataset_id
from mcp_server.core.store import MetadataStore
from mcp_server.core.workspace import Workspace, check_name

CHUNK = 1 << 20  # 1 MiB
RACY_WINDOW_NS = 2_000_000_000  # coarser than any common filesystem's timestamps (FAT: 2 s)
_ATTEMPTS = 3


class _Signature(NamedTuple):
    size: int
    mtime_ns: int
    ctime_ns: int
    file_id: str


def _signature(st: os.stat_result) -> _Signature:
    return _Signature(st.st_size, st.st_mtime_ns, st.st_ctime_ns, f"{st.st_dev}:{st.st_ino}")


def _open_regular(path: Path) -> tuple[Path, int]:
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise NotFound(f"The file {path.name!r} does not exist; check the path.") from None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise InvalidInput(f"The path {path.name!r} cannot be resolved ({exc}); check it.") from None
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise InvalidInput(f"{path.name!r} is a folder; give a data file.") from None
    except PermissionError:
        raise InvalidInput(f"The file {path.name!r} cannot be read (permission denied).") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "is a folder" if stat.S_ISDIR(mode) else "is not a regular file"
        raise InvalidInput(f"{path.name!r} {what}; give a data file.")
    return resolved, fd


def _hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, CHUNK):
        h.update(chunk)
    return h.hexdigest()


def fingerprint(store: MetadataStore, path: Path) -> str:
    """SHA-256 hex of the file's bytes (streamed in 1 MiB chunks), from the cache when still valid."""
    from sqlalchemy.dialects import postgresql, sqlite

    from mcp_server.core.store.models import DatasetFingerprint

    resolved, fd = _open_regular(Path(path))
    try:
        key = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()
        sig = _signature(os.fstat(fd))
        with store.read_session() as session:
            cached = session.get(DatasetFingerprint, key)
            if cached is not None and _still_valid(cached, sig):
                return cached.sha256
        for _ in range(_ATTEMPTS):
            started_ns = time.time_ns()
            digest = _hash_fd(fd)
            after = _signature(os.fstat(fd))
            if after == sig:
                break
            sig = after  # written while we read it: hash again
        else:
            raise Conflict(
                f"The file {resolved.name!r} kept changing while it was fingerprinted; "
                "retry once it is no longer being written."
            )
    finally:
        os.close(fd)
    values = {
        "path_key": key,
        "path": str(resolved),
        "size": sig.size,
        "mtime_ns": sig.mtime_ns,
        "ctime_ns": sig.ctime_ns,
        "file_id": sig.file_id,
        "sha256": digest,
        "hashed_at": datetime.fromtimestamp(started_ns / 1e9, UTC),
    }
    with store.transaction() as session:
        insert = sqlite.insert if store.dialect == "sqlite" else postgresql.insert
        stmt = insert(DatasetFingerprint).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["path_key"], set_={k: stmt.excluded[k] for k in values if k != "path_key"}
        )
        session.execute(stmt)
    return digest


def _still_valid(cached: object, sig: _Signature) -> bool:
    from mcp_server.core.store.models import DatasetFingerprint

    assert isinstance(cached, DatasetFingerprint)
    if _Signature(cached.size, cached.mtime_ns, cached.ctime_ns, cached.file_id) != sig:
        return False
    hashed_ns = int(cached.hashed_at.timestamp() * 1e9)
    # Modified within the timestamp granularity of when we read it: a later same-size write in that
    # tick would keep this signature, so such an entry is re-hashed once (then it is old enough).
    return hashed_ns - cached.mtime_ns > RACY_WINDOW_NS


def dataset_ref(
    store: MetadataStore, path: Path, name: str | None = None, *, workspace: Workspace | None = None
) -> str:
    """The dataset's lineage identifier: dataset:<name or path>@<sha256 prefix>.

    With `workspace`, the path is the one the server stores (`Workspace.stored`): root-relative for a
    file under a root, `home:<rel>` under the home, so a home restored elsewhere keeps its ids. Without
    it, the absolute path (kept for callers not yet passing their workspace).
    """
    if name is not None:
        check_name(name, "dataset name")
    sha = fingerprint(store, path)
    # The resolved path: two spellings of one file must give one identifier.
    resolved = Path(path).resolve()
    return dataset_id(name or (workspace.stored(resolved) if workspace else str(resolved)), sha)
