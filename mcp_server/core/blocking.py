"""Running work off the event loop: threads for blocking library calls, a killable process for work that can hang.

Also the fd-level stdout guard: under stdio, fd 1 belongs to the protocol, so anything a library, a
subprocess or a JVM prints must land on stderr instead.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from mcp_server.core.errors import DeadlineExceeded, MlopsError

T = TypeVar("T")
ProgressFn = Callable[[float, float | None, str | None], None]


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


class Cancelled(MlopsError):
    kind = "cancelled"


class StepControl:
    """Handed to blocking work: report progress and stop between steps when the call is cancelled."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self._progress = progress
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def step(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Call between steps: raises `Cancelled` if the call was cancelled, otherwise reports progress."""
        if self._cancelled.is_set():
            raise Cancelled("The call was cancelled; nothing after the last completed step was done.")
        if self._progress is not None:
            self._progress(done, total, message)


async def run_blocking(
    fn: Callable[..., T],
    *args: Any,
    deadline_s: float,
    report: Callable[[float, float | None, str | None], Coroutine[Any, Any, None]] | None = None,
    with_control: bool = False,
) -> T:
    """Run `fn(*args)` in a worker thread; with `with_control` it also receives a StepControl as last argument.

    Progress reported from the thread is forwarded to the client from the event loop. On cancellation
    or deadline the control is flagged so cooperative work stops at its next step.
    """
    progress: ProgressFn | None = None
    if report is not None:
        token = anyio.lowlevel.current_token()

        def progress(done: float, total: float | None, message: str | None) -> None:
            with contextlib.suppress(Exception):
                anyio.from_thread.run(report, done, total, message, token=token)

    control = StepControl(progress)
    call_args = (*args, control) if with_control else args
    try:
        with anyio.fail_after(deadline_s):
            return await anyio.to_thread.run_sync(lambda: fn(*call_args), abandon_on_cancel=True)
    except TimeoutError:
        control.cancel()
        raise DeadlineExceeded(
            f"The work did not finish within its {deadline_s:g}s deadline and was stopped; "
            "try a smaller input or a longer deadline."
        ) from None
    except BaseException:
        control.cancel()
        raise


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


async def run_in_worker(fn: Callable[..., T], *args: Any, deadline_s: float) -> T:
    """Run `fn(*args)` in a fresh process that is killed at the deadline (a caller's regex, a huge parse).

    `fn` must be importable at module level and its arguments and result picklable.
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_entry, args=(child, fn, args), daemon=True)
    proc.start()
    child.close()
    try:
        with anyio.fail_after(deadline_s):
            while not parent.poll():
                if not proc.is_alive() and not parent.poll():
                    raise WorkerCrashed(f"worker exited with code {proc.exitcode}")
                await anyio.sleep(0.01)
            status, payload = parent.recv()
    except TimeoutError:
        raise DeadlineExceeded(
            f"The work did not finish within its {deadline_s:g}s deadline and its worker was stopped; "
            "try a smaller input or a longer deadline."
        ) from None
    finally:
        if proc.is_alive():
            proc.kill()
        await anyio.to_thread.run_sync(proc.join, 5)
        parent.close()
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    if status == "mlops":
        from mcp_server.core import errors

        cls = getattr(errors, payload[0], errors.MlopsError)
        raise cls(payload[1])
    raise WorkerCrashed(payload)
