"""Dataset fingerprints: SHA-256 of the bytes, cached by path while size, times and inode hold."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from mcp_server.core.datasets import CHUNK, dataset_ref, fingerprint
from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.store import MetadataStore
from mcp_server.core.store.models import DatasetFingerprint
from mcp_server.core.workspace import Workspace

OLD_NS = 1_600_000_000 * 10**9  # 2020: well outside the racy window


def write(path: Path, data: bytes, *, mtime_ns: int | None = OLD_NS) -> Path:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def poison_cache(store: MetadataStore) -> None:
    """Overwrite every cached hash, so a value that comes back unchanged proves a cache hit."""
    with store.transaction() as s:
        s.execute(update(DatasetFingerprint).values(sha256="f" * 64))


def test_fingerprint_is_sha256_of_the_bytes(store: MetadataStore, data_dir: Path) -> None:
    data = os.urandom(2 * CHUNK + 12_345)  # more than one chunk
    path = write(data_dir / "big.bin", data)
    assert fingerprint(store, path) == hashlib.sha256(data).hexdigest()
    empty = write(data_dir / "empty.csv", b"")
    assert fingerprint(store, empty) == hashlib.sha256(b"").hexdigest()


def test_unchanged_file_comes_from_the_cache(store: MetadataStore, data_dir: Path) -> None:
    path = write(data_dir / "iris.csv", b"a,b\n1,2\n")
    real = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert fingerprint(store, path) == real
    poison_cache(store)
    assert fingerprint(store, path) == "f" * 64  # not re-hashed
    # Another spelling of the same file shares the cache entry (keyed by the resolved path).
    assert fingerprint(store, data_dir / "." / "iris.csv") == "f" * 64


def test_changed_file_is_rehashed(store: MetadataStore, data_dir: Path) -> None:
    path = write(data_dir / "iris.csv", b"a,b\n1,2\n")
    first = fingerprint(store, path)
    poison_cache(store)
    write(path, b"a,b\n1,2\n3,4\n")  # new size
    assert fingerprint(store, path) == hashlib.sha256(b"a,b\n1,2\n3,4\n").hexdigest()
    poison_cache(store)
    # Same size, same mtime put back (as cp -p or rsync would): the ctime still changes.
    time.sleep(0.02)
    write(path, b"a,b\n9,9\n")
    second = fingerprint(store, path)
    assert second == hashlib.sha256(b"a,b\n9,9\n").hexdigest() != first
    # A file replaced by another one (new inode) with identical size and mtime.
    poison_cache(store)
    tmp = write(data_dir / "tmp.csv", b"a,b\n7,7\n")
    os.replace(tmp, path)
    assert fingerprint(store, path) == hashlib.sha256(b"a,b\n7,7\n").hexdigest()


def test_just_written_file_is_not_trusted_from_the_cache(store: MetadataStore, data_dir: Path) -> None:
    path = write(data_dir / "fresh.csv", b"x\n1\n", mtime_ns=None)  # mtime = now
    real = fingerprint(store, path)
    mtime = datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, UTC)

    def hashed(after_mtime: timedelta) -> str:
        """The entry as if hashing had started `after_mtime` after the write (set, not waited for: on a
        loaded machine the real gap is whatever it is), with a poisoned hash that shows a cache hit."""
        poison_cache(store)
        with store.transaction() as s:
            s.execute(update(DatasetFingerprint).values(hashed_at=mtime + after_mtime))
        return fingerprint(store, path)

    # Hashed within the racy window of its write: hashed again, since a same-size rewrite in the same
    # timestamp tick would look identical.
    assert hashed(timedelta(seconds=0.5)) == real
    # Hashed once the window had passed: the entry is trusted.
    assert hashed(timedelta(seconds=3)) == "f" * 64


def test_dataset_ref(store: MetadataStore, data_dir: Path) -> None:
    path = write(data_dir / "iris.csv", b"a,b\n1,2\n")
    sha = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert dataset_ref(store, path, "iris") == f"dataset:iris@{sha[:12]}"
    assert dataset_ref(store, data_dir / "." / "iris.csv") == f"dataset:{path.resolve()}@{sha[:12]}"
    # With the workspace: the path as stored, relative to its root (or `home:` under the home).
    workspace = Workspace([data_dir], data_dir.parent / "home")
    assert (
        dataset_ref(store, data_dir / "." / "iris.csv", workspace=workspace) == f"dataset:iris.csv@{sha[:12]}"
    )
    (data_dir.parent / "home").mkdir(exist_ok=True)
    at_home = write(data_dir.parent / "home" / "h.csv", b"a,b\n1,2\n")
    assert dataset_ref(store, at_home, workspace=workspace) == f"dataset:home:h.csv@{sha[:12]}"
    write(path, b"a,b\n1,3\n")
    assert dataset_ref(store, path, "iris") != f"dataset:iris@{sha[:12]}"  # a changed file: a new version
    with pytest.raises(InvalidInput, match="not a valid name"):
        dataset_ref(store, path, "../iris")


def test_missing_and_non_files(store: MetadataStore, data_dir: Path) -> None:
    with pytest.raises(NotFound, match=r"'nope\.csv' does not exist"):
        fingerprint(store, data_dir / "nope.csv")
    with pytest.raises(InvalidInput, match="is a folder"):
        fingerprint(store, data_dir)
    fifo = data_dir / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="not a regular file"):
        fingerprint(store, fifo)
