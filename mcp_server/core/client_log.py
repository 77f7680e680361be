"""Log lines to the client (MCP `notifications/message`): what the server logs during a tool call reaches
the client that made the call, at or above the level that client chose, masked like every text that leaves
the process.

One path for every line: services and adapters log with `logging` as usual (`Control.step` logs each new
step message at INFO), and `ClientLogHandler` on the `mlops_mcp` logger forwards the records of the call in
progress (a context variable, set by the boundary around each call, names its session) to that session.
Records from worker threads are handed to the event loop; the service never waits for the client.

Levels: a client on a handshake protocol version sets its level with `logging/setLevel`; until it does, it
gets what stderr gets (`MLOPS_MCP_LOG_LEVEL`). On 2026-07-28 and later the client opts in per request
(`_meta`) and the SDK drops what it did not ask for, so every record is offered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import warnings
import weakref
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

log = logging.getLogger("mlops_mcp")

# MCP's levels (RFC 5424), least severe first.
LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_FROM_PYTHON = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
}

# The level each client connection asked for with logging/setLevel (forgotten with the connection).
_levels: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_levels_lock = threading.Lock()


def connection_of(session: Any) -> Any:
    """The client's connection behind a request's session: the SDK builds a session per request, and the
    connection is what lives as long as the client (it has no public accessor on the session)."""
    return getattr(session, "_connection", session)


def set_level(session: Any, level: str) -> None:
    with _levels_lock:
        _levels[connection_of(session)] = level
    _let_through(level)


def _let_through(level: str) -> None:
    """Lower the `mlops_mcp` logger to a level a client asked for, so such records exist at all. It starts
    at stderr's level (install), so a server nobody asked for more logs no differently than before; what
    stderr shows is its handlers' level (cli._setup_logging)."""
    wanted = {"debug": logging.DEBUG, "info": logging.INFO}.get(level, logging.WARNING)
    if wanted < log.getEffectiveLevel():
        log.setLevel(wanted)


def mcp_level(levelno: int) -> str:
    """A Python logging level as MCP's: the nearest at or below it (CRITICAL is 'critical')."""
    if levelno >= logging.CRITICAL:
        return "critical"
    return _FROM_PYTHON.get(levelno - levelno % 10, "debug")


class _Sink:
    """Where one call's records go: its session, from the loop that serves it."""

    def __init__(self, session: Any, request_id: Any, threshold: str) -> None:
        self.session = session
        self.request_id = request_id
        self.threshold = LEVELS.index(threshold)
        self.loop = asyncio.get_running_loop()
        self.pending: list[asyncio.Future[None] | concurrent.futures.Future[None]] = []

    def offer(self, level: str, text: str, logger: str) -> None:
        if LEVELS.index(level) < self.threshold:
            return
        coro = self._send(level, text, logger)
        try:
            try:
                on_loop = asyncio.get_running_loop() is self.loop
            except RuntimeError:  # a worker thread
                on_loop = False
            if on_loop:
                self.pending.append(self.loop.create_task(coro))
            else:
                self.pending.append(asyncio.run_coroutine_threadsafe(coro, self.loop))
        except RuntimeError:  # the loop is closed: the call has ended and nobody listens
            coro.close()

    async def _send(self, level: str, text: str, logger: str) -> None:
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            # MCP deprecated server logging in 2026-07-28 (SEP-2577); clients on earlier versions still show it.
            warnings.simplefilter("ignore")
            await self.session.send_log_message(
                level=level, data=text, logger=logger, related_request_id=self.request_id
            )


_SINK: ContextVar[_Sink | None] = ContextVar("mlops_client_log", default=None)


class ClientLogHandler(logging.Handler):
    """Forwards the records of the call in progress to its client (masked); a no-op outside a call."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _SINK.get()
        if sink is None:
            return
        try:
            from mcp_server.core.store.redact import mask_text

            sink.offer(mcp_level(record.levelno), mask_text(record.getMessage()), record.name)
        except Exception:  # a log line must never fail the work that logged it
            self.handleError(record)


def install(stderr_level: str) -> None:
    """Put the handler on the `mlops_mcp` logger once, the logger at stderr's level until a client asks for
    more (`_let_through`)."""
    if not any(isinstance(h, ClientLogHandler) for h in log.handlers):
        log.addHandler(ClientLogHandler())
    if log.level == logging.NOTSET or log.level > getattr(logging, stderr_level):
        log.setLevel(getattr(logging, stderr_level))
    _default[0] = stderr_level.lower()


_default = ["warning"]
LOG_LEVEL_META = "io.modelcontextprotocol/logLevel"  # 2026-07-28: a request's log-level opt-in
# How long the end of a call waits for its log lines to be sent (a client that stopped reading).
FLUSH_S = 1.0


@contextlib.asynccontextmanager
async def forwarding(ctx: Any) -> AsyncIterator[None]:
    """Around one tool call: its log records go to the calling session, at or above its level, and are sent
    before the call's result is."""
    try:
        session = ctx.request_context.session
        request_id = ctx.request_id
        modern = ctx.request_context.protocol_version not in _HANDSHAKE
        if modern:  # the request's own opt-in (`_meta`); the SDK drops what it did not ask for
            meta = ctx.request_context.meta
            asked = (meta.model_dump() if hasattr(meta, "model_dump") else dict(meta or {})).get(
                LOG_LEVEL_META
            )
            if isinstance(asked, str):
                _let_through(asked)
        with _levels_lock:
            level = "debug" if modern else _levels.get(connection_of(session), _default[0])
        sink: _Sink | None = _Sink(session, request_id, level)
    except (ValueError, AttributeError, RuntimeError):  # no request in progress (a direct call in a test)
        sink = None
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
        if sink is not None and sink.pending:
            await asyncio.wait([asyncio.wrap_future(f) for f in sink.pending], timeout=FLUSH_S)


def _handshake_versions() -> frozenset[str]:
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    return frozenset(HANDSHAKE_PROTOCOL_VERSIONS)


_HANDSHAKE = _handshake_versions()
