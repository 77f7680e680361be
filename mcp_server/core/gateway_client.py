"""The one client of the serving gateway (mcp_server/gateway): health, typed stats, predictions, and the
waits on a routing change (a generation served, a version loaded).

`client(url, token)` gives one `GatewayClient` per gateway: one `httpx.Client` (connection pool, the bearer
token header) shared by the threads that talk to it. A request that cannot connect (the gateway restarting,
a kept-alive connection it closed) is retried a bounded number of times (tenacity); what still fails is a
BackendUnavailable with one sentence. httpx and tenacity load on first use, never at start-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from mcp_server.core.errors import BackendUnavailable, InvalidInput, NotFound

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
ATTEMPTS = 3  # tries of a request whose connection fails
RETRY_WAIT_S = 0.1
POLL_S = 0.1  # between two looks of a wait
TIMEOUT_S = 10.0  # one request, unless the caller gives less


class Health(BaseModel):
    """`GET /healthz` (open without the token)."""

    status: str = "ok"
    pid: int | None = None
    generation: int = Field(-1, description="Routing table generation the gateway serves.")
    endpoints: int = 0
    versions_loaded: int = 0
    load_errors: dict[str, str] = Field(default_factory=dict)
    uptime_s: float | None = None


class VersionMetrics(BaseModel):
    requests: int = Field(description="Requests routed to this version since the gateway started.")
    errors: int = Field(description="Requests the version failed to answer (HTTP 5xx).")
    rejected: int = Field(description="Requests whose rows did not fit the model's inputs (HTTP 4xx).")
    rows: int
    error_rate: float | None = None
    mean_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None


class VersionStats(BaseModel):
    version: str
    weight: float = 0.0
    slot: str | None = None
    loaded: bool = False
    load_error: str | None = None
    metrics: VersionMetrics | None = None


class EndpointStats(BaseModel):
    model: str
    stable_version: str
    live_slot: str | None = None
    versions: list[VersionStats] = Field(default_factory=list)


class Stats(BaseModel):
    """`GET /v1/stats`: the routing snapshot the gateway serves and its per-version counters."""

    generation: int | None = None
    endpoints: dict[str, EndpointStats] = Field(default_factory=dict)

    def version(self, endpoint: str, version: str) -> VersionStats | None:
        ep = self.endpoints.get(endpoint)
        return next((v for v in ep.versions if v.version == version), None) if ep is not None else None


@dataclass(frozen=True)
class Answer:
    """A predict response: its HTTP status and JSON body (None when the body was not JSON)."""

    status: int
    body: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.body is not None

    @property
    def error(self) -> str:
        if self.body is None:
            return f"The gateway answered HTTP {self.status} without JSON."
        return str(self.body.get("error", f"HTTP {self.status}"))

    def checked(self) -> dict[str, Any]:
        """The body of a 200; otherwise the gateway's sentence as the project's error."""
        if self.ok:
            assert self.body is not None
            return self.body
        if self.body is None or self.status >= 500:
            raise BackendUnavailable(self.error)
        raise NotFound(self.error) if self.status == 404 else InvalidInput(self.error)


class GatewayClient:
    def __init__(
        self, url: str, token: str | None = None, transport: httpx.BaseTransport | None = None
    ) -> None:
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT_S, transport=transport)

    def close(self) -> None:
        self.http.close()

    def request(
        self, method: str, path: str, *, timeout: float | None = None, attempts: int = ATTEMPTS, **kwargs: Any
    ) -> httpx.Response:
        """One request; retried when the connection fails, BackendUnavailable when it still does."""
        import httpx
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_fixed(RETRY_WAIT_S),
            retry=tenacity.retry_if_exception_type((httpx.NetworkError, httpx.RemoteProtocolError)),
            reraise=True,
        )
        try:
            return retrying(self.http.request, method, path, timeout=timeout or TIMEOUT_S, **kwargs)
        except httpx.HTTPError as err:
            raise BackendUnavailable(
                f"The gateway at {self.url} did not answer ({type(err).__name__}); "
                "deploy_gateway_status shows its state and log."
            ) from None

    def health(self, timeout: float = 2.0) -> Health | None:
        """The gateway's health, or None when it does not answer (one try: waits loop themselves)."""
        try:
            response = self.request("GET", "/healthz", timeout=timeout, attempts=1)
            return Health.model_validate(response.json()) if response.status_code == 200 else None
        except (BackendUnavailable, ValueError):
            return None

    def stats(self, endpoint: str | None = None, timeout: float = 5.0) -> Stats:
        """The served table and counters (of one endpoint); empty when the gateway refuses the question."""
        params = {"endpoint": endpoint} if endpoint else {}
        response = self.request("GET", "/v1/stats", params=params, timeout=timeout)
        try:
            return Stats.model_validate(response.json()) if response.status_code == 200 else Stats()
        except ValueError:
            return Stats()

    def predict(
        self,
        endpoint: str,
        rows: list[dict[str, Any]],
        version: str | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """POST rows to an endpoint (to one routed `version` when given, else the traffic split)."""
        response = self.request(
            "POST",
            f"/v1/endpoints/{endpoint}/predict",
            json={"rows": rows},
            params={"version": version} if version else None,
            timeout=timeout,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, body if isinstance(body, dict) else None)

    def wait_for_generation(self, generation: int, timeout: float) -> bool:
        """Wait until the gateway serves routing `generation` (or a later one); False when it did not in time."""

        def look() -> Health | None:
            health = self.health()
            return health if health is not None and health.generation >= generation else None

        return _until(look, timeout) is not None

    def wait_healthy(self, timeout: float, alive: Callable[[], bool] = lambda: True) -> Health | None:
        """The first health answer within `timeout`; None when none came or `alive()` turned false."""

        def look() -> Health | None:
            if not alive():
                raise _GaveUp
            return self.health(timeout=1.0)

        try:
            return _until(look, timeout)
        except _GaveUp:
            return None

    def wait_for_load(self, endpoint: str, version: str, timeout: float) -> VersionStats | None:
        """Wait until a routed version is loaded (or failed to load); None when neither happened in time."""

        def look() -> VersionStats | None:
            try:
                info = self.stats(endpoint).version(endpoint, version)
            except BackendUnavailable:
                return None
            return info if info is not None and (info.loaded or info.load_error) else None

        return _until(look, timeout)


class _GaveUp(Exception):
    pass


def _until(look: Callable[[], T | None], timeout: float) -> T | None:
    """`look()` every POLL_S until it gives something, at most `timeout` seconds; None if it never did."""
    import tenacity

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(max(timeout, 0.0)),
        wait=tenacity.wait_fixed(POLL_S),
        retry=tenacity.retry_if_result(lambda found: found is None),
        retry_error_callback=lambda _state: None,
    )
    return retrying(look)


_CLIENTS: dict[tuple[str, str | None], GatewayClient] = {}
_LOCK = threading.Lock()
_KEEP = 32  # clients kept; older ones are dropped (their pools close when unused)


def client(url: str, token: str | None = None) -> GatewayClient:
    """The client of the gateway at `url` (one per gateway and token, shared across calls and threads)."""
    key = (url.rstrip("/"), token)
    with _LOCK:
        found = _CLIENTS.get(key)
        if found is None:
            if len(_CLIENTS) >= _KEEP:
                _CLIENTS.pop(next(iter(_CLIENTS)))
            found = _CLIENTS[key] = GatewayClient(url, token)
        return found
