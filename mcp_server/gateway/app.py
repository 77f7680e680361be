"""The gateway's HTTP app: predict, health, metrics and stats over the routing snapshot.

Routing changes are picked up by a poller that reads the store's generation counter every
`gateway_poll_s`; on a change it loads the new versions' onnxruntime sessions first (off the event loop)
and then swaps in a new immutable snapshot. A request keeps the loaded version it picked until it
finishes, so a swap never drops or breaks an in-flight request, and a version that loses its route is
released only once nothing uses it any more.

Background tasks start in the lifespan after the table is loaded and are cancelled at shutdown: the
canary controller (controller.run), this replica's heartbeat (replicas.run: several gateways may serve one
store) and any `async def run(gateway: Gateway) -> None` added to `BACKGROUND`. A clean stop removes the
replica's rows and hands the rollout lease on at once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from mcp_server.gateway import table as routing
from mcp_server.gateway.metrics import Metrics
from mcp_server.gateway.replicas import Replica

if TYPE_CHECKING:
    from mcp_server.core.config import Settings
    from mcp_server.core.store import MetadataStore

log = logging.getLogger("mlops_mcp.gateway")

BACKGROUND: list[Callable[[Gateway], Coroutine[Any, Any, None]]] = []
INLINE_ROWS = 64  # batches up to this size run on the event loop (microseconds); bigger ones in a thread


def runtime() -> Any:
    """The ONNX runtime helpers of contract 1 (numpy + onnxruntime only)."""
    from mcp_server.core import twin as onnx_runtime

    return onnx_runtime


@dataclass(frozen=True)
class Loaded:
    """One version's warm onnxruntime session and its twin."""

    onnx_dir: str
    twin: Any
    session: Any
    loaded_at: float
    dtypes: dict[str, str] = field(default_factory=dict)  # column -> the twin's input dtype
    nullable: frozenset[str] = frozenset()  # numeric columns with a missing-value rule (see _missing_rules)


@dataclass(frozen=True)
class Pick:
    """An endpoint's traffic split: loaded versions with weight > 0 and their cumulative weights."""

    versions: tuple[str, ...]
    cumulative: tuple[float, ...]

    def choose(self) -> str | None:
        if not self.versions:
            return None
        if len(self.versions) == 1:
            return self.versions[0]
        return self.versions[bisect.bisect_right(self.cumulative, random.random() * self.cumulative[-1])]


@dataclass(frozen=True)
class Snapshot:
    table: routing.Table
    loaded: dict[str, Loaded]  # onnx_dir -> session
    picks: dict[str, Pick]
    errors: dict[str, str]  # "endpoint/version" -> why it could not be loaded

    def version(self, endpoint: str, version: str) -> Loaded | None:
        ep = self.table.endpoints.get(endpoint)
        route = ep.route(version) if ep is not None else None
        return self.loaded.get(route.onnx_dir) if route is not None else None


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _load_version(onnx_dir: str) -> Loaded:
    import numpy as np

    rt = runtime()
    twin = rt.load_twin(Path(onnx_dir))
    session = rt.open_session(twin, threads=1)  # single-row requests: one thread is fastest
    # Warm it: one run on a zero/empty row of the right types, so the first request pays no set-up.
    feed: dict[str, Any] = {}
    for inp in session.get_inputs():
        shape = [1 if not isinstance(d, int) or d <= 0 else d for d in (inp.shape or [1])]
        if "string" in inp.type:
            feed[inp.name] = np.full(shape, "", dtype=object)
        elif "int" in inp.type:
            feed[inp.name] = np.zeros(shape, dtype=np.int64)
        elif "double" in inp.type:
            feed[inp.name] = np.zeros(shape, dtype=np.float64)
        else:
            feed[inp.name] = np.zeros(shape, dtype=np.float32)
    with contextlib.suppress(Exception):
        session.run(None, feed)
    dtypes = {c: str(spec["dtype"]) for spec in twin.spec["inputs"] for c in spec["columns"]}
    return Loaded(onnx_dir, twin, session, time.time(), dtypes, _missing_rules(rt, twin, session, dtypes))


_PROBE_ROWS = 256  # columns probed per session run (rows x columns floats stay small)


def _missing_rules(rt: Any, twin: Any, session: Any, dtypes: dict[str, str]) -> frozenset[str]:
    """The float columns where the served graph turns a missing value into a finite answer.

    twin.json does not record which columns had an imputer (evaluation adds a median imputer only for
    numeric columns with gaps; HistGradientBoosting and other trees route NaN themselves), so the graph is
    asked: one row per column with null there and zeros/"" elsewhere. A column counts only when every float
    output of its row is finite; a model with no float output (labels only) or that fails the probe gets
    none, so null is refused there.
    """
    import numpy as np

    probe = [c for c in twin.columns if dtypes.get(c) in ("float32", "float64")]
    if not probe:
        return frozenset()
    base: dict[str, Any] = {c: "" if dtypes.get(c) == "string" else 0 for c in twin.columns}
    allowed: set[str] = set()
    try:
        for start in range(0, len(probe), _PROBE_ROWS):
            chunk = probe[start : start + _PROBE_ROWS]
            rows = [base] + [{**base, c: None} for c in chunk]
            outputs = rt.run(session, twin, rt.make_feed(twin, rows)).values()
            floats = [np.asarray(o) for o in outputs if getattr(o, "dtype", None) is not None]
            floats = [o for o in floats if o.dtype.kind == "f" and o.shape[:1] == (len(rows),)]
            if not floats:
                return frozenset()
            finite = np.all([np.isfinite(o.reshape(len(rows), -1)).all(axis=1) for o in floats], axis=0)
            if not finite[0]:  # the neutral row itself gives NaN: the probe says nothing
                return frozenset()
            allowed.update(c for c, ok in zip(chunk, finite[1:], strict=True) if ok)
    except Exception as err:  # an odd graph: refuse null rather than guess
        log.info("missing-value probe failed on %s: %s", twin.name, err)
        return frozenset()
    return frozenset(allowed)


_FLOAT32_MAX = 3.4028234663852886e38


def _too_large(value: float, dtype: str) -> bool:
    """True when `value` cannot reach an input of `dtype` intact (it would become inf or wrap around)."""
    if dtype == "int64":
        return not -(2.0**63) <= value < 2.0**63
    try:
        number = float(value)
    except OverflowError:  # an integer past float64's range (float() raises, not inf)
        return True
    return dtype == "float32" and abs(number) > _FLOAT32_MAX


def check_values(loaded: Loaded, rows: list[dict[str, Any]]) -> None:
    """Raise ValueError (one sentence naming the row and feature) on a number the model must not get.

    NaN and +-Infinity (Python's json accepts both literals, and `1e999999` parses as inf) are refused in
    every column, as is a number the input's type cannot hold (it would reach the model as inf or wrap
    around); null is refused in a numeric column without a missing-value rule, where the model would
    answer NaN or a meaningless label. Missing, extra and ill-typed columns are left to the twin's feed.
    """
    dtypes, nullable = loaded.dtypes, loaded.nullable
    for i, row in enumerate(rows):
        for col, value in row.items():
            dtype = dtypes.get(col)
            if dtype is None:
                continue
            if value is None:
                if dtype != "string" and col not in nullable:
                    raise ValueError(
                        f"Row {i}: feature {col!r} is null, and the model has no rule for a missing "
                        "value there; send a number"
                    )
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            alt = " or null for a missing value" if col in nullable else ""
            if isinstance(value, float) and math.isnan(value):
                raise ValueError(f"Row {i}: feature {col!r} is NaN; send a finite number{alt}")
            if isinstance(value, float) and math.isinf(value):
                sign = "-" if value < 0 else ""
                raise ValueError(
                    f"Row {i}: feature {col!r} is {sign}Infinity (or a number too large for a float); "
                    f"send a finite number{alt}"
                )
            if dtype != "string" and _too_large(value, dtype):
                text = repr(value)
                shown = text if len(text) <= 24 else f"a {len(text.lstrip('-'))}-digit number"
                raise ValueError(
                    f"Row {i}: feature {col!r} is {shown}, too large for the model's {dtype} input; "
                    "send a smaller number"
                )


def _picks(table: routing.Table, loaded: dict[str, Loaded]) -> dict[str, Pick]:
    picks = {}
    for name, ep in table.endpoints.items():
        versions, cumulative, total = [], [], 0.0
        for r in ep.routes:
            if r.weight > 0 and r.onnx_dir in loaded:
                total += r.weight
                versions.append(r.version)
                cumulative.append(total)
        picks[name] = Pick(tuple(versions), tuple(cumulative))
    return picks


def static_table(path: Path) -> routing.Table:
    """A routing table from a JSON file (the Docker image serves one without a metadata store)."""
    data = json.loads(path.read_text())
    endpoints = {}
    for ep in data["endpoints"]:
        routes = tuple(
            routing.Route(
                ep["name"],
                ep["model"],
                str(r["version"]),
                float(r.get("weight", 100.0)),
                r.get("slot"),
                str((path.parent / r["onnx_dir"]).resolve()),
            )
            for r in ep["routes"]
        )
        endpoints[ep["name"]] = routing.EndpointTable(
            ep["name"],
            ep["model"],
            str(ep.get("stable_version", routes[0].version)),
            ep.get("live_slot"),
            routes,
        )
    return routing.Table(generation=int(data.get("generation", 1)), endpoints=endpoints)


@dataclass
class Gateway:
    settings: Settings
    store: MetadataStore | None = None  # None with a static routes file
    routes_file: Path | None = None
    metrics: Metrics = field(default_factory=Metrics)
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(routing.Table(-1, {}), {}, {}, {}))
    started_at: float = field(default_factory=time.time)
    request_exit: Callable[[], None] | None = None
    replica: Replica = field(default_factory=Replica)  # this process among the gateways of its store
    _reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _log_file: Any = None

    # -- routing ------------------------------------------------------------------------------------

    def _read_table(self) -> routing.Table:
        if self.routes_file is not None:
            return static_table(self.routes_file)
        assert self.store is not None
        return routing.load(self.store, self.settings.home)

    def _current_generation(self) -> int:
        if self.routes_file is not None:
            return self.snapshot.table.generation
        assert self.store is not None
        return routing.generation(self.store)

    async def reload(self, *, force: bool = False) -> bool:
        """Reload the table when its generation moved; load new versions before swapping. True if swapped."""
        async with self._reload_lock:
            if not force:
                gen = await asyncio.to_thread(self._current_generation)
                if gen == self.snapshot.table.generation:
                    return False
            table = await asyncio.to_thread(self._read_table)
            old = self.snapshot.loaded
            needed = {r.onnx_dir: r for ep in table.endpoints.values() for r in ep.routes}
            loaded: dict[str, Loaded] = {d: old[d] for d in needed if d in old}
            errors: dict[str, str] = {}
            for onnx_dir, route in needed.items():
                if onnx_dir in loaded:
                    continue
                try:
                    loaded[onnx_dir] = await asyncio.to_thread(_load_version, onnx_dir)
                except Exception as err:  # a broken file takes that version out, not the gateway
                    errors[f"{route.endpoint}/{route.version}"] = f"{type(err).__name__}: {str(err)[:200]}"
                    log.error("could not load %s/%s: %s", route.endpoint, route.version, err)
            self.snapshot = Snapshot(table, loaded, _picks(table, loaded), errors)
            log.info("routing generation %s: %d endpoint(s)", table.generation, len(table.endpoints))
            return True

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_poll_s)
            try:
                await self.reload()
            except Exception as err:  # a store hiccup: keep serving the current snapshot
                log.warning("routing poll failed: %s", err)

    async def watch_parent(self, parent: int) -> None:
        """A managed gateway ends with the server that started it (a standalone one has no parent to watch)."""
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                log.warning("parent process %s is gone; stopping the gateway", parent)
                if self.request_exit is not None:
                    self.request_exit()
                return

    # -- predictions ----------------------------------------------------------------------------------

    def log_prediction(
        self, endpoint: str, version: str, rows: list[dict[str, Any]], out: list[Any], ms: float
    ) -> None:
        rate = self.settings.gateway_prediction_log_rate
        if rate <= 0 or random.random() >= rate:
            return
        if self._log_file is None:
            folder = self.settings.home / "gateway"
            folder.mkdir(parents=True, exist_ok=True)
            self._log_file = open(folder / "predictions.jsonl", "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        now = datetime.now(UTC).isoformat()
        for row, value in zip(rows, out, strict=False):
            fingerprint = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[
                :16
            ]
            self._log_file.write(
                json.dumps(
                    {
                        "time": now,
                        "endpoint": endpoint,
                        "version": version,
                        "input_fingerprint": fingerprint,
                        "output": value,
                        "latency_ms": round(ms, 3),
                    },
                    default=str,
                )
                + "\n"
            )

    def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"The request body is over the limit of {limit} bytes; send smaller batches.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(
                413, f"The request body is over the limit of {limit} bytes; send smaller batches."
            )
    return bytes(body)


def parse_rows(payload: Any, max_batch: int) -> list[dict[str, Any]]:
    """`{"rows": [{...}, ...]}` or `{"columns": [...], "data": [[...], ...]}` -> rows as dicts."""
    if not isinstance(payload, dict):
        raise BadRequest(400, 'The body must be a JSON object with "rows" or "columns" and "data".')
    if "rows" in payload:
        rows = payload["rows"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRequest(400, '"rows" must be a list of objects mapping feature names to values.')
    elif "columns" in payload and "data" in payload:
        columns, data = payload["columns"], payload["data"]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadRequest(400, '"columns" must be a list of feature names.')
        if len(set(columns)) != len(columns):
            raise BadRequest(400, '"columns" names a feature twice.')
        if not isinstance(data, list) or not all(
            isinstance(r, list) and len(r) == len(columns) for r in data
        ):
            raise BadRequest(400, '"data" must be a list of rows, each with one value per column.')
        rows = [dict(zip(columns, r, strict=True)) for r in data]
    else:
        raise BadRequest(400, 'The body must have "rows" or "columns" and "data".')
    if not rows:
        raise BadRequest(400, "The batch is empty; send at least one row.")
    if len(rows) > max_batch:
        raise BadRequest(400, f"The batch has {len(rows)} rows, over the limit of {max_batch}; split it.")
    return rows


def _predict(rt: Any, loaded: Loaded, rows: list[dict[str, Any]]) -> list[Any]:
    check_values(loaded, rows)  # a ValueError here is a rejected row, like the feed's own checks
    return rt.predict(loaded.session, loaded.twin, rows)  # type: ignore[no-any-return]


def build_app(gateway: Gateway, *, parent_pid: int | None = None) -> Starlette:
    settings = gateway.settings
    rt = runtime()

    async def predict(request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        try:
            body = await _body(request, settings.gateway_max_body_bytes)
            snap = gateway.snapshot
            if endpoint not in snap.table.endpoints:
                return _error(404, f"No endpoint named '{endpoint}' on this gateway; deploy_list shows them.")
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
                return _error(400, "The body is not valid JSON (or is nested too deeply).")
            rows = parse_rows(payload, settings.gateway_max_batch)
        except BadRequest as err:
            return _error(err.status, err.message)
        pinned = request.query_params.get("version")
        version = pinned if pinned is not None else snap.picks[endpoint].choose()
        if version is None:
            return _error(
                503, f"Endpoint '{endpoint}' has no loaded version with traffic; see deploy_status."
            )
        loaded = snap.version(endpoint, version)
        if loaded is None:
            return _error(404, f"Endpoint '{endpoint}' has no loaded version '{version}'.")
        started = time.perf_counter()
        try:
            if len(rows) <= INLINE_ROWS:
                out = _predict(rt, loaded, rows)
            else:
                out = await asyncio.to_thread(_predict, rt, loaded, rows)
        except ValueError as err:
            gateway.metrics.error(endpoint, version, rejected=True)
            return _error(400, f"{str(err).rstrip('.')}.")
        except Exception as err:
            gateway.metrics.error(endpoint, version)
            log.warning("predict failed on %s/%s: %s", endpoint, version, err)
            return _error(
                500, f"Version {version} of endpoint '{endpoint}' failed to predict ({type(err).__name__})."
            )
        seconds = time.perf_counter() - started
        gateway.metrics.observe(endpoint, version, seconds, len(rows))
        ms = seconds * 1000
        gateway.log_prediction(endpoint, version, rows, out, ms)
        return JSONResponse(
            {
                "endpoint": endpoint,
                "model": loaded.twin.name,
                "version": version,
                "predictions": out,
                "latency_ms": round(ms, 4),
            }
        )

    async def healthz(_: Request) -> Response:
        snap = gateway.snapshot
        return JSONResponse(
            {
                "status": "ok",
                "pid": os.getpid(),
                "replica": gateway.replica.id,
                "generation": snap.table.generation,
                "endpoints": len(snap.table.endpoints),
                "versions_loaded": len(snap.loaded),
                "load_errors": snap.errors,
                "uptime_s": round(time.time() - gateway.started_at, 3),
            }
        )

    async def metrics(_: Request) -> Response:
        return Response(
            gateway.metrics.prometheus_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    async def stats(request: Request) -> Response:
        snap = gateway.snapshot
        wanted = request.query_params.get("endpoint")
        out = {}
        for name, ep in snap.table.endpoints.items():
            if wanted is not None and name != wanted:
                continue
            live = gateway.metrics.for_endpoint(name)
            out[name] = {
                "model": ep.model,
                "stable_version": ep.stable_version,
                "live_slot": ep.live_slot,
                "versions": [
                    {
                        "version": r.version,
                        "weight": r.weight,
                        "slot": r.slot,
                        "loaded": r.onnx_dir in snap.loaded,
                        "load_error": snap.errors.get(f"{name}/{r.version}"),
                        "metrics": live.get(r.version),
                    }
                    for r in ep.routes
                ],
            }
        if wanted is not None and wanted not in out:
            return _error(404, f"No endpoint named '{wanted}' on this gateway.")
        return JSONResponse({"generation": snap.table.generation, "endpoints": out})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await gateway.reload(force=True)
        tasks = []
        if gateway.routes_file is None:
            tasks.append(asyncio.create_task(gateway.poll(), name="routing-poll"))
        if parent_pid is not None:
            tasks.append(asyncio.create_task(gateway.watch_parent(parent_pid), name="parent-watch"))
        from mcp_server.gateway import controller, replicas

        for hook in [*BACKGROUND, replicas.run, controller.run]:
            tasks.append(asyncio.create_task(hook(gateway), name=getattr(hook, "__qualname__", "hook")))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            if gateway.store is not None:
                try:
                    await asyncio.to_thread(replicas.leave, gateway.store, gateway.replica)
                except Exception as err:  # its heartbeat stops anyway: the others see it gone in a moment
                    log.warning("could not remove this replica from the store: %s", err)
            gateway.close()

    return Starlette(
        routes=[
            HttpRoute("/v1/endpoints/{endpoint}/predict", predict, methods=["POST"]),
            HttpRoute("/v1/stats", stats, methods=["GET"]),
            HttpRoute("/healthz", healthz, methods=["GET"]),
            HttpRoute("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


class HealthOpen:
    """Bearer auth on every path but /healthz (probes from an orchestrator carry no token)."""

    def __init__(self, app: Any, token: str) -> None:
        from mcp_server.core.net import BearerAuth

        self.open = app
        self.guarded = BearerAuth(app, token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/healthz":
            await self.open(scope, receive, send)
        else:
            await self.guarded(scope, receive, send)


class LoopbackHosts:
    """Host and Origin checks for a gateway bound to a loopback address (as the MCP transport does).

    A page on evil.example that re-resolves its name to 127.0.0.1 reaches the gateway with
    `Host: evil.example` (DNS rebinding): only loopback names (localhost, 127.0.0.1, [::1], any port) are
    answered, others get 421. A page that posts to http://127.0.0.1:<port> directly sends a loopback Host
    but its own `Origin`: a browser's request from any origin that is not a loopback name gets 403 (clients
    that are not browsers send no Origin). A non-loopback bind has no such checks: it needs a bearer token,
    and no setting lists its public names.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from urllib.parse import urlsplit

        from mcp_server.core.net import host_name, is_loopback

        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"host", b"").decode("latin-1")
            origin = headers.get(b"origin", b"").decode("latin-1")
            refusal: tuple[int, str] | None = None
            if not is_loopback(host_name(given)):
                refusal = (
                    421,
                    f"The Host header {json.dumps(given[:80])} is not a loopback name; this gateway listens on "
                    "a loopback address and answers only localhost, 127.0.0.1 or [::1] (DNS-rebinding "
                    "protection).",
                )
            elif origin and not is_loopback(urlsplit(origin).hostname or ""):
                refusal = (
                    403,
                    f"Requests from the web page at {json.dumps(origin[:80])} are refused; this gateway on a "
                    "loopback address answers programs and pages served from localhost only.",
                )
            if refusal is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": refusal[0],
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": json.dumps({"error": refusal[1]}).encode()})
                return
        await self.app(scope, receive, send)
