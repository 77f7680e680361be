"""The boundary between a tool call and the work: the layers every tool shares, written once.

    MCP client
        │  tools/call
        ▼
    tool (tools/<area>/tools.py)      async; translates arguments, nothing else
        │  await service_call(ctx, service.fn, ...)
        ▼
    boundary (this module + registry.bind)
        │  one deadline per call (call_deadline), one thread hop, progress and cancellation (Control),
        │  library errors -> project errors (errors.from_library), output shaped to fit (output.fit)
        ▼
    service (tools/<area>/service.py)  sync use case: fn(app, control, ...) -> result model; no MCP imports
        ▼
    adapter (tools/<area>/adapter.py)  the only file that imports the area's library
        ▼
    library (GX, MLflow, Feast, scikit-learn, onnxruntime, pyarrow, pymongo, ...)

A service calls `control.step(...)` between steps (progress; stops a cancelled or late call), takes
inner library timeouts from `control.timeout(...)` and runs work that can hang the process (a caller's
regex, a user's model) with `control.run_killable(...)`, a worker process killed at the deadline.

A stopped call stops its work (issue #22.4): when the deadline passes or the client cancels, the caller
gets its answer at once and the service stops at its next `control.step`. A tool whose spec is
interruptible (read-only tools, and those that write only through one library transaction) goes further:
its thread gets `Stopped` raised inside it at the next Python instruction it runs, so a library loop
(pandas over columns, a forest over trees, joblib over folds, which kills its worker processes on the way
out) ends there instead of burning a core for minutes. Other writes are left to finish their step, so a
stop never cuts between two related commits.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

from mcp_server.core.errors import DeadlineExceeded, MlopsError

if TYPE_CHECKING:
    from mcp_server.core.blocking import WorkerPool
    from mcp_server.core.config import Settings
    from mcp_server.core.context import AppContext, Ctx

log = logging.getLogger("mlops_mcp")
T = TypeVar("T")
WORKER_MARGIN_S = 1.0  # a killable worker stops this much before the call's deadline
SCOPE_MARGIN_S = 0.05  # a service's thread is given up this much before the tool's scope ends
ProgressFn = Callable[[float, float | None, str | None], None]
ReportFn = Callable[[float, float | None, str | None], Coroutine[Any, Any, None]]


def seconds_text(seconds: float) -> str:
    """Seconds as asked: 0.5 -> '0.5', 120.0 -> '120', 0.25 -> '0.25' (never rounded up to a whole second)."""
    return f"{seconds:.2f}".rstrip("0").rstrip(".")


def call_deadline(settings: Settings, tool_default: float | None, requested: float | None = None) -> float:
    """The one deadline policy: the caller's `deadline_s` if given, else the tool's own default, else the
    server's; never more than `max_deadline_s`, never less than a tenth of a second."""
    seconds = requested or tool_default or settings.deadline_s
    return max(0.1, min(float(seconds), settings.max_deadline_s))


class Cancelled(MlopsError):
    kind = "cancelled"


class Stopped(BaseException):
    """Raised inside a service's thread once its call was stopped (deadline passed, client cancelled).
    A BaseException, so that no library's `except Exception` swallows it and goes on working; nobody
    sees it: the call was already answered."""


def _raise_in_thread(ident: int, exc: type[BaseException] | None) -> None:
    """Have thread `ident` raise `exc` at its next Python instruction (None: drop one still pending)."""
    import ctypes  # here: only a stopped call needs it, and start-up need not pay for it

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)


class Control:
    """What a service gets from its call: the deadline, cancellation, progress."""

    def __init__(
        self,
        seconds: float,
        progress: ProgressFn | None = None,
        what: str = "The call",
        *,
        budget: float | None = None,
    ) -> None:
        self.seconds = budget if budget is not None else seconds  # the whole call's deadline, as shown
        self.deadline = time.monotonic() + seconds
        self.what = what
        self.doing: str | None = None  # the last step message, named by the deadline error
        self._progress = progress
        self._cancelled = threading.Event()
        self._thread: int | None = None  # the thread running the work, while it runs (running())
        self._thread_lock = threading.Lock()

    @classmethod
    def unbounded(cls, what: str = "The work") -> Control:
        """For work outside a tool call (the CLI, a background job with its own limits)."""
        return cls(365 * 24 * 3600.0, None, what)

    def cancel(self) -> None:
        """Flag the call as stopped, and stop the thread running its work (once)."""
        self._cancelled.set()
        with self._thread_lock:
            if self._thread is not None:
                _raise_in_thread(self._thread, Stopped)
                self._thread = None

    def running(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in this thread as the call's work: `cancel()` stops it from now on."""
        me = threading.get_ident()
        with self._thread_lock:
            self._thread = me
        try:
            return fn(*args, **kwargs)
        finally:
            with self._thread_lock:
                if self._thread == me:
                    self._thread = None
                else:  # cancel() came as the work ended: its Stopped must not fire in the thread pool
                    _raise_in_thread(me, None)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def timeout(self, cap: float | None = None, floor: float = 0.05) -> float:
        """An inner library timeout that ends no later than the call: min(cap, time left), at least `floor`."""
        left = self.remaining()
        return max(floor, min(cap, left) if cap is not None else left)

    def check(self) -> None:
        """Raise if the call was cancelled or its deadline passed; nothing after this point runs then."""
        if self._cancelled.is_set():
            raise Cancelled("The call was cancelled; nothing after the last completed step was done.")
        if time.monotonic() >= self.deadline:
            raise self.late()

    def late(self, worker: bool = False) -> DeadlineExceeded:
        """The deadline error: the deadline as asked (0.5 s, not rounded) and the last step reported;
        a worker's likely cause (a regex, ...) only when that worker was the one stopped."""
        doing = f" (last step reported: '{self.doing[:80]}')" if self.doing else ""
        stopped = "its worker was stopped" if worker else "was stopped"
        return DeadlineExceeded(
            f"{self._what(worker)} did not finish within its {seconds_text(self.seconds)} s deadline{doing} "
            f"and {stopped}; try a smaller input or a longer deadline_s."
        )

    def _what(self, worker: bool) -> str:
        return self.what

    def step(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Call between steps: stops a cancelled or late call, otherwise reports progress."""
        self.check()
        if message and message != self.doing:
            log.info("%s: %s", self.what, message)  # to stderr and the client, at their levels
            self.doing = message
        if self._progress is not None:
            self._progress(done, total, message)

    def run_killable(
        self, fn: Callable[..., T], *args: Any, cause: str | None = None, pool: WorkerPool | None = None
    ) -> T:
        """`fn(*args)` in another process (core/blocking.py): a worker of `pool` (warm), else a fresh one;
        killed when the call is cancelled or a moment before its deadline, so that this error, naming the
        likely `cause`, answers the call rather than the boundary's generic one."""
        from mcp_server.core.blocking import run_in_process

        control = _WorkerControl(self, cause)
        return pool.run(fn, args, control) if pool is not None else run_in_process(fn, args, control)


class _WorkerControl(Control):
    """A worker's control: the call's cancellation, a deadline WORKER_MARGIN_S earlier than the call's."""

    def __init__(self, call: Control, cause: str | None) -> None:
        margin = min(WORKER_MARGIN_S, call.remaining() / 10)
        super().__init__(max(0.05, call.remaining() - margin), None, call.what, budget=call.seconds)
        self.call = call
        self.cause = cause
        self.doing = call.doing

    def _what(self, worker: bool) -> str:
        # The cause is named only when the worker running that work is the one stopped.
        return f"{self.what} ({self.cause})" if worker and self.cause else self.what

    @property
    def cancelled(self) -> bool:
        return self.call.cancelled

    def check(self) -> None:
        self.call.check()
        super().check()


@dataclass
class _Call:
    seconds: float
    tool: str
    report: ReportFn | None
    started: float
    interruptible: bool

    def left(self) -> float:
        return max(0.05, self.seconds - (time.monotonic() - self.started))


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("mlops_call", default=None)


@contextlib.contextmanager
def call_scope(
    seconds: float, tool: str, report: ReportFn | None = None, *, interruptible: bool = True
) -> Any:
    """Set by registry.bind around a tool: what service_call needs to build the call's Control."""
    token = _CALL.set(_Call(seconds, tool, report, time.monotonic(), interruptible))
    try:
        yield
    finally:
        _CALL.reset(token)


def progress_reporter(ctx: Ctx) -> ReportFn | None:
    """An async progress callback; None when the client sent no progress token, so that a step of the
    work does not wait for the event loop's thread to drop a report nobody asked for."""
    try:
        meta = ctx.request_context.meta
    except (AttributeError, ValueError):  # outside a request
        meta = None
    if not meta or (meta.get("progress_token") is None and meta.get("progressToken") is None):
        return None

    async def report(done: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(done, total, message)

    return report


async def service_call(ctx: Ctx, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The one thread hop of a tool call: `fn(app, control, *args, **kwargs)` in a worker thread.

    The Control carries the deadline the boundary set for this call (whatever is left of it), the
    client's progress token and cancellation: when the call is cancelled or late, the control is
    flagged so the service stops at its next step, and the caller gets the deadline error at once.
    """
    from mcp_server.core.context import app_context

    app = app_context(ctx)
    call = _CALL.get()
    report: ReportFn | None
    interruptible = call is None or call.interruptible
    if call is None:  # called outside registry.bind (a test calling a tool function directly)
        seconds = budget = call_deadline(app.settings, None)
        report, what = progress_reporter(ctx), getattr(fn, "__name__", "The call")
    else:
        # A hair before the tool's own scope ends (registry.bind), so that the error answering the call is
        # this Control's, naming the deadline as asked and the last step, not the scope's generic one.
        margin = min(SCOPE_MARGIN_S, call.seconds / 10)
        seconds, budget, report, what = max(0.05, call.left() - margin), call.seconds, call.report, call.tool
    return await run_sync(
        fn,
        app,
        *args,
        seconds=seconds,
        budget=budget,
        report=report,
        what=what,
        interruptible=interruptible,
        **kwargs,
    )


async def run_sync(
    fn: Callable[..., T],
    app: AppContext,
    *args: Any,
    seconds: float,
    budget: float | None = None,
    report: ReportFn | None = None,
    what: str = "The call",
    interruptible: bool = True,
    **kwargs: Any,
) -> T:
    """`fn(app, control, *args, **kwargs)` in a worker thread under a deadline of `seconds`; stopped inside
    that thread when the call is, if `interruptible`."""
    progress: ProgressFn | None = None
    if report is not None:
        token = anyio.lowlevel.current_token()

        def progress(done: float, total: float | None, message: str | None) -> None:
            with contextlib.suppress(Exception):
                anyio.from_thread.run(report, done, total, message, token=token)

    control = Control(seconds, progress, what, budget=budget)

    def work() -> T:
        if interruptible:
            return control.running(fn, app, control, *args, **kwargs)
        return fn(app, control, *args, **kwargs)

    try:
        with anyio.fail_after(seconds):
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except TimeoutError:
        control.cancel()
        raise control.late() from None
    except BaseException:
        control.cancel()
        raise
