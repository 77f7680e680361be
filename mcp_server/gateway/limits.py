"""A deadline on receiving a request body (issue #22 item 5: a body sent at 1 byte per second).

uvicorn times out idle keep-alive connections but not a request whose body trickles in: every byte re-arms
nothing and the request waits forever, holding a connection and a task. `BodyDeadline` bounds the time from
the request reaching the app (its headers are in) to the end of its body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any


class _BodyTimedOut(Exception):
    """Raised into the app from `receive`; caught again by BodyDeadline once it has answered 408."""


def _has_body(scope: Any) -> bool:
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() not in (b"", b"0"))


class BodyDeadline:
    """Pure ASGI (no BaseHTTPMiddleware, which would buffer streaming responses).

    - `receive` is wrapped until the body is complete: past the deadline the client gets 408 with one JSON
      sentence and `connection: close`, and the app's own reading ends with an exception it cannot answer.
      A body that has fully arrived is still handed over after the deadline (a busy server is not the
      client's fault). Once the body is complete `receive` is passed through untouched, so a streaming
      response's wait for `http.disconnect` has no deadline.
    - A response sent before the body was read (401, 404, 413 on Content-Length, 421) gets
      `connection: close`: uvicorn would otherwise discard the rest of the trickle byte by byte for ever.
    """

    def __init__(self, app: Any, timeout_s: float, on_timeout: Callable[[], None] | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.on_timeout = on_timeout

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = not _has_body(scope)
        started = timed_out = False

        async def timed_receive() -> Any:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if self.on_timeout is not None:
                    self.on_timeout()
                if not started:
                    await _reject(send, self.timeout_s)
                raise _BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if timed_out:
                return  # the 408 went out; the app's error response to our exception must not follow it
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except _BodyTimedOut:
            if started:
                raise  # a response was under way: uvicorn drops the connection


async def _reject(send: Any, timeout_s: float) -> None:
    body = json.dumps(
        {
            "error": f"The request body did not arrive within {timeout_s:g} s, so the gateway closed the connection."
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
