"""Killable processes for work that can hang (Control.run_killable): a fresh one per call, or a warm pool
(WorkerPool) whose workers keep what they imported and built across calls; and keeping stdout for the
protocol.

Also the fd-level stdout guard: under stdio, fd 1 belongs to the protocol, so anything a library, a
subprocess or a JVM prints must land on stderr instead.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from mcp_server.core.boundary import Control
from mcp_server.core.errors import MlopsError

T = TypeVar("T")


def guard_stdout() -> io.TextIOWrapper:
    """Keep the real stdout for the protocol and point fd 1 (and `sys.stdout`) at stderr for good.

    Returns a text stream on a duplicate of the original fd 1, for the transport alone.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return io.TextIOWrapper(os.fdopen(protocol_fd, "wb", buffering=0), encoding="utf-8", write_through=True)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Around a call into a library that prints (Feast's materialize): Python-level redirect.

    The fd-level guard already covers stdio serving; this also covers the in-memory and HTTP transports.
    """
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _child_setup() -> None:
    # Child side: nothing it prints may reach a protocol stream.
    os.dup2(2, 1)
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        # A spawned child under `python -m ...` has a bare __main__; pyspark.sql.connect (imported by GX
        # when pyspark is installed) takes that for a doctest run and calls sys.exit(0).
        main.__file__ = "<mlops-mcp worker>"


def _answer(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except MlopsError as err:
        conn.send(("mlops", (type(err).__name__, err.message)))
    except BaseException as err:  # reported as an internal error by the parent
        conn.send(("crash", f"{type(err).__name__}: {err}"))


def _worker_entry(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _child_setup()
    try:
        _answer(conn, fn, args)
    finally:
        conn.close()


def _pool_worker_entry(conn: Any, warm: Callable[[], None] | None) -> None:
    """A pool worker: warm up, say so, then answer one call at a time until the pool closes the pipe (or
    the server dies: the pipe's end is read as EOF, so no worker outlives its server)."""
    _child_setup()
    if warm is not None:
        warm()
    conn.send(("ready", None))
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        _answer(conn, fn, args)


class WorkerCrashed(Exception):
    """The worker process died or raised something unexpected; the boundary reports it as internal."""


def _await_answer(parent: Any, proc: Any, control: Control) -> tuple[str, Any]:
    """The worker's answer, or the deadline error (the worker is then the caller's to kill)."""
    import time

    while not parent.poll(0.01):
        if not proc.is_alive() and not parent.poll():
            raise WorkerCrashed(f"worker exited with code {proc.exitcode}")
        if control.cancelled:
            control.check()
        if time.monotonic() >= control.deadline:
            raise control.late(worker=True)
    status, payload = parent.recv()
    return status, payload


def _result(status: str, payload: Any) -> Any:
    if status == "ok":
        return payload
    if status == "mlops":
        from mcp_server.core import errors

        cls = getattr(errors, payload[0], errors.MlopsError)
        raise cls(payload[1])
    raise WorkerCrashed(payload)


def run_in_process(fn: Callable[..., T], args: tuple[Any, ...], control: Control) -> T:
    """Run `fn(*args)` in a fresh process that is killed at the control's deadline (a caller's regex,
    a huge parse), or as soon as the call is cancelled. Blocking: call it from a service's thread.

    `fn` must be importable at module level and its arguments and result picklable.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_entry, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        status, payload = _await_answer(parent, proc, control)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    return _result(status, payload)  # type: ignore[no-any-return]


class _Worker:
    def __init__(self, warm: Callable[[], None] | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_pool_worker_entry, args=(child, warm), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class WorkerPool:
    """Warm killable workers: each imports what `warm` imports once and keeps what the calls build (a
    module-level cache in the worker, such as a GX engine per home) for the next call. A call past its
    deadline or cancelled kills its worker, and a fresh one takes its place at once (it warms up in the
    background), so a catastrophic regex still ends at the deadline and the pool stays at its size.

    `fn` must be importable at module level and its arguments and result picklable, as for run_in_process.
    """

    def __init__(self, size: int, warm: Callable[[], None] | None = None) -> None:
        import queue
        import threading

        self.size = size
        self._warm = warm
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._closed = False
        for _ in range(size):
            self._add()

    def _add(self) -> None:
        with self._lock:
            if self._closed:
                return
            worker = _Worker(self._warm)
            self._workers.append(worker)
        self._idle.put(worker)

    def _drop(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.stop()

    def warm(self, timeout: float) -> int:
        """Wait (up to `timeout` s) until the idle workers have warmed up; how many are ready. For a caller
        that would rather wait now than in its first call (a benchmark, a test). The idle workers are taken
        out of the pool meanwhile, so no call shares their pipes."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        taken: list[_Worker] = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self._idle.get_nowait())
        try:
            for worker in taken:
                while not worker.ready and worker.proc.is_alive() and time.monotonic() < deadline:
                    if worker.conn.poll(0.05):
                        with contextlib.suppress(EOFError, OSError):
                            worker.ready = worker.conn.recv()[0] == "ready"
        finally:
            for worker in taken:
                self._idle.put(worker)
        return sum(1 for w in taken if w.ready)

    def alive(self) -> int:
        """Workers started and not stopped (warming up or idle or busy)."""
        with self._lock:
            return sum(1 for w in self._workers if w.proc.is_alive())

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], control: Control) -> T:
        import queue
        import time

        while True:  # a free worker, within the call's deadline
            try:
                worker = self._idle.get(timeout=0.05)
                break
            except queue.Empty:
                if control.cancelled:
                    control.check()
                if time.monotonic() >= control.deadline:
                    raise control.late(worker=True) from None
        try:
            if not worker.ready:  # its warm-up is part of this call's wait
                status, _ = _await_answer(worker.conn, worker.proc, control)
                worker.ready = status == "ready"
                if not worker.ready:
                    raise WorkerCrashed(f"the worker failed to start: {_}")
            worker.conn.send((fn, args))
            status, payload = _await_answer(worker.conn, worker.proc, control)
        except BaseException:
            self._drop(worker)  # late, cancelled or crashed: its state is unknown
            self._add()
            raise
        self._idle.put(worker)
        return _result(status, payload)  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
