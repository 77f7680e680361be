"""Resource subscriptions: a client that subscribed to a resource gets `notifications/resources/updated` when
it changes (a canary steps or rolls back, a workflow's gate passes or the workflow ends), so it can wait
without polling.

Both protocol eras: `resources/subscribe` / `resources/unsubscribe` on the handshake versions (the update
goes to the subscribing connection), and the 2026-07-28 `subscriptions/listen` stream (the SDK's listen
handler, which this module wraps to learn which URIs a stream watches; the update is published on the
server's subscription bus). The state these resources show is written by other processes too (the gateway's
canary controller, another server on the same home), so the watcher reads it: while anything is subscribed,
one task reads each watched resource's fingerprint every `MLOPS_MCP_WATCH_INTERVAL_S` and tells the
subscribers of the ones that changed. Nothing runs while nobody watches.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

log = logging.getLogger("mlops_mcp")

# A fingerprint of what a URI shows now; None when it does not exist (yet).
Fingerprint = Callable[[str], str | None]
Notify = Callable[[str], Awaitable[None]]


def content_fingerprint(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


class Watcher:
    """Who watches which URI, and the one polling task that runs while anyone does."""

    def __init__(self, fingerprint: Fingerprint, interval_s: float, max_uris: int = 1000) -> None:
        self._fingerprint = fingerprint
        self._interval_s = interval_s
        self._max_uris = max_uris
        # uri -> {watcher key -> how to tell it}; a key is a client connection or a listen stream.
        self._watchers: dict[str, dict[Any, Notify]] = {}
        self._seen: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    def watching(self, uri: str) -> bool:
        return bool(self._watchers.get(uri))

    async def add(self, uri: str, key: Any, notify: Notify) -> None:
        if uri not in self._watchers and len(self._watchers) >= self._max_uris:
            from mcp_server.core.errors import LimitExceeded

            raise LimitExceeded(
                f"This server watches {self._max_uris} resources already; unsubscribe some first."
            )
        if uri not in self._seen:
            self._seen[uri] = await self._read(uri)
        self._watchers.setdefault(uri, {})[key] = notify
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def remove(self, uri: str, key: Any) -> None:
        keys = self._watchers.get(uri)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._watchers[uri]
                self._seen.pop(uri, None)

    def remove_key(self, key: Any) -> None:
        for uri in list(self._watchers):
            self.remove(uri, key)

    async def _read(self, uri: str) -> str | None:
        try:
            return await anyio.to_thread.run_sync(self._fingerprint, uri)
        except Exception as err:  # a store that is down: no change seen this round
            log.debug("watch: %s not read: %s", uri, err)
            return self._seen.get(uri)

    async def _poll(self) -> None:
        while self._watchers:
            await asyncio.sleep(self._interval_s)
            for uri in list(self._watchers):
                now = await self._read(uri)
                if uri not in self._watchers or now == self._seen.get(uri):
                    continue
                self._seen[uri] = now
                for key, notify in list(self._watchers.get(uri, {}).items()):
                    try:
                        await notify(uri)
                    except Exception as err:  # a client that went away: forget it
                        log.debug("watch: dropping a subscriber of %s: %s", uri, err)
                        self.remove(uri, key)
        self._task = None
