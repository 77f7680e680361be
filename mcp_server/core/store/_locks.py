"""The write lock's two halves: threads of one process (RWLock) and processes on one SQLite file (FileLock).

Writers take the shared side, a backup snapshot takes the exclusive side. Both halves give up at a
deadline (time.monotonic()) and report it by returning False/None; the store turns that into Conflict.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; only the threads of one process are coordinated there
    fcntl = None  # type: ignore[assignment]


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class RWLock:
    """Shared/exclusive lock for threads; a waiting exclusive request blocks new shared holders.

    The exclusive side is re-entrant for its owner thread, and the owner may also write (its shared
    requests are not needed: `owned_by_me()` lets the store skip them).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._shared = 0
        self._owner: int | None = None
        self._depth = 0
        self._waiting_exclusive = 0

    def owned_by_me(self) -> bool:
        return self._owner == threading.get_ident()

    def acquire_shared(self, deadline: float) -> bool:
        with self._cond:
            # Writer preference: a backup waiting for the lock is not starved by a stream of writers.
            while self._owner is not None or self._waiting_exclusive:
                left = remaining(deadline)
                if left <= 0:
                    return False
                self._cond.wait(left)
            self._shared += 1
            return True

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            if self._shared == 0:
                self._cond.notify_all()

    def acquire_exclusive(self, deadline: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            self._waiting_exclusive += 1
            try:
                while self._owner is not None or self._shared:
                    left = remaining(deadline)
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self._owner, self._depth = me, 1
                return True
            finally:
                self._waiting_exclusive -= 1
                # Shared waiters held back by this request may go on if it gave up.
                self._cond.notify_all()

    def release_exclusive(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


class FileLock:
    """flock(2) on `<lock>` (shared for writers, exclusive for the snapshot) behind a gate file.

    A pending LOCK_EX does not stop new LOCK_SH requests, so a busy process could starve a backup;
    writers therefore pass `<lock>.gate` (shared, only while they take `<lock>`) and the snapshot
    holder keeps the gate exclusive, which stops new writers while it waits for the running ones.
    Each acquisition opens its own file descriptions, so threads of one process exclude each other
    too, and the kernel drops the locks of a killed process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gate = path.with_name(path.name + ".gate")

    @staticmethod
    def available() -> bool:
        return fcntl is not None

    def _open(self, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)

    @staticmethod
    def _poll(fd: int, op: int, deadline: float) -> bool:
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
            left = remaining(deadline)
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)

    def acquire_shared(self, deadline: float) -> int | None:
        """The descriptor holding LOCK_SH (close it to release), or None at the deadline."""
        gate = self._open(self.gate)
        try:
            if not self._poll(gate, fcntl.LOCK_SH, deadline):
                return None
            fd = self._open(self.path)
            if not self._poll(fd, fcntl.LOCK_SH, deadline):
                os.close(fd)
                return None
            return fd
        finally:
            os.close(gate)

    def acquire_exclusive(self, deadline: float) -> tuple[int, int] | None:
        """(gate, lock) descriptors holding LOCK_EX, or None at the deadline."""
        gate = self._open(self.gate)
        if not self._poll(gate, fcntl.LOCK_EX, deadline):
            os.close(gate)
            return None
        fd = self._open(self.path)
        if not self._poll(fd, fcntl.LOCK_EX, deadline):
            os.close(fd)
            os.close(gate)
            return None
        return gate, fd
