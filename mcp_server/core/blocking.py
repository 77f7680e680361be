"""A killable process for work that can hang (Control.run_killable), and keeping stdout for the protocol.

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


def _worker_entry(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Child side: nothing it prints may reach a protocol stream.
    os.dup2(2, 1)
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        # A spawned child under `python -m ...` has a bare __main__; pyspark.sql.connect (imported by GX
        # when pyspark is installed) takes that for a doctest run and calls sys.exit(0).
        main.__file__ = "<mlops-mcp worker>"
    try:
        conn.send(("ok", fn(*args)))
    except MlopsError as err:
        conn.send(("mlops", (type(err).__name__, err.message)))
    except BaseException as err:  # reported as an internal error by the parent
        conn.send(("crash", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


class WorkerCrashed(Exception):
    """The worker process died or raised something unexpected; the boundary reports it as internal."""


def run_in_process(fn: Callable[..., T], args: tuple[Any, ...], control: Control) -> T:
    """Run `fn(*args)` in a fresh process that is killed at the control's deadline (a caller's regex,
    a huge parse), or as soon as the call is cancelled. Blocking: call it from a service's thread.

    `fn` must be importable at module level and its arguments and result picklable.
    """
    import time

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_entry, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        while not parent.poll(0.01):
            if not proc.is_alive() and not parent.poll():
                raise WorkerCrashed(f"worker exited with code {proc.exitcode}")
            if control.cancelled:
                control.check()
            if time.monotonic() >= control.deadline:
                raise control.late(worker=True)
        status, payload = parent.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    if status == "mlops":
        from mcp_server.core import errors

        cls = getattr(errors, payload[0], errors.MlopsError)
        raise cls(payload[1])
    raise WorkerCrashed(payload)
