"""AppContext: what every tool call can reach (settings, workspace, metadata store, lazily-built clients)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from mcp.server.mcpserver import Context

from mcp_server.core.boundary import progress_reporter as progress_reporter
from mcp_server.core.config import Settings
from mcp_server.core.errors import MlopsError
from mcp_server.core.workspace import Workspace, is_broad_root, own_locations

if TYPE_CHECKING:
    from mcp_server.core.store import MetadataStore

log = logging.getLogger("mlops_mcp")

# A health probe returns (ok, detail, fix); areas add theirs to AppContext.probes.
Probe: TypeAlias = Callable[["AppContext"], Awaitable[tuple[bool, str, str]]]


@dataclass
class AppContext:
    settings: Settings
    workspace: Workspace
    enabled_areas: list[str] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)
    _store: MetadataStore | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _client_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        roots = settings.effective_roots()
        broad = [r for r in roots if is_broad_root(r)]
        if broad and not settings.allow_broad_root:
            raise MlopsError(
                f"Refusing the root {broad[0]}: it exposes the whole disk or home folder; pass a narrower "
                "--root or add --allow-broad-root."
            )
        if not settings.roots:
            settings.workspace_dir.mkdir(parents=True, exist_ok=True)
        own = own_locations(settings.lake_root, settings.feature_repo)
        return cls(settings=settings, workspace=Workspace(roots, settings.home, own))

    @property
    def store(self) -> MetadataStore:
        """The metadata store object; it connects and migrates on its first real use, not here."""
        with self._lock:
            if self._store is None:
                from mcp_server.core.store import MetadataStore

                url = self.settings.store_url.get_secret_value() if self.settings.store_url else None
                self._store = MetadataStore.for_home(self.settings.home, url)
            return self._store

    @property
    def store_opened(self) -> bool:
        return self._store is not None and self._store.opened

    def client(self, key: str, build: Callable[[], Any]) -> Any:
        """A lazily-built, process-wide client (an MLflow client, a Feast store, ...).

        Each key has its own lock: building one (seconds of imports) does not hold up the others.
        """
        with self._lock:
            if key in self._clients:
                return self._clients[key]
            key_lock = self._client_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._clients:
                built = build()
                with self._lock:
                    self._clients[key] = built
            return self._clients[key]

    def drop_clients(self) -> None:
        """Forget every lazily-built client; the next use builds it again (after a restore in place)."""
        with self._lock:
            self._clients.clear()

    def close(self) -> None:
        from mcp_server.core.blocking import WorkerPool

        for client in list(self._clients.values()):  # warm worker processes end with the server
            if isinstance(client, WorkerPool):
                client.close()
        if "spark" in self._clients:  # the shared Spark session (core/spark.py) stops with the server
            from mcp_server.core.spark import stop_spark

            stop_spark(self)
        if self._store is not None:
            self._store.dispose()


# The typed Context every tool takes as `ctx: Ctx`.
Ctx: TypeAlias = Context[AppContext, Any]


def app_context(ctx: Ctx) -> AppContext:
    return ctx.request_context.lifespan_context


def client_name(ctx: Ctx | None) -> str | None:
    """The client's name from the MCP initialize handshake (as the audit log records it)."""
    try:
        params = ctx.request_context.session.client_params if ctx is not None else None
        return params.client_info.name if params is not None else None
    except (ValueError, AttributeError):
        return None


def access_token() -> Any:
    """The verified OAuth token of the request in progress (the SDK's AccessToken), or None: stdio, the
    static token, and work outside a request."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    return get_access_token()


def token_scopes() -> frozenset[str] | None:
    """The effective scopes of the request's OAuth token (core/auth.py), or None without one."""
    from mcp_server.core.auth import effective_scopes

    token = access_token()
    return None if token is None else effective_scopes(token.scopes)


def token_subject(ctx: Ctx | None = None) -> str | None:
    """Who called, over OAuth: the token's `sub` (None under stdio and the static token). `ctx` is the
    tool's, for symmetry with client_name; the token comes with the request."""
    token = access_token()
    return None if token is None else token.subject


def token_client(ctx: Ctx | None = None) -> str | None:
    """The OAuth client the token was issued to (`client_id`, else `azp`); None without a token."""
    token = access_token()
    return (token.client_id or None) if token is not None else None
