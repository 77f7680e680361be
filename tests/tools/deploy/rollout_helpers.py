"""Helpers of the rollout tests: a bounded HTTP load generator, a test ONNX model that fails on a marked
input, small waits on the store/tools, and canaries on gateway replicas through any MCP client (in memory
or over HTTP)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from tests.conftest import structured

if TYPE_CHECKING:
    from mcp import Client

    from tests.gateway.process import GatewayProcess

TERMINAL = ("promoted", "rolled_back", "failed", "aborted")  # a rollout that ended
MARK_AGE = 700.0  # rows with this age make the marked model fail (Gather index out of bounds)


def marked_onnx(path: Path, *, fails: bool = True, name: str = "marked") -> Path:
    """An ONNX classifier over (age, income, segment) that predicts round(age / 100) as its label and fails
    at run time (onnxruntime: Gather index out of bounds) on a row whose age is MARK_AGE; with
    `fails=False` the index is clipped to the last class, so it answers every row (a healthy version)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: Any) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))

    inputs = [
        helper.make_tensor_value_info("age", TensorProto.FLOAT, [None, 1]),
        helper.make_tensor_value_info("income", TensorProto.FLOAT, [None, 1]),
        helper.make_tensor_value_info("segment", TensorProto.STRING, [None, 1]),
    ]
    label = helper.make_tensor_value_info("label", TensorProto.INT64, [None])
    nodes = [
        const("classes", np.array([0, 1], dtype=np.int64)),
        const("hundred", np.array(100.0, dtype=np.float32)),
        const("half", np.array(0.5, dtype=np.float32)),
        const("flat", np.array([-1], dtype=np.int64)),
        helper.make_node("Div", ["age", "hundred"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], ["shifted"]),
        helper.make_node("Floor", ["shifted"], ["rounded"]),
        helper.make_node("Cast", ["rounded"], ["index2d"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["index2d", "flat"], ["index" if fails else "unclipped"]),
        helper.make_node("Gather", ["classes", "index"], ["label"], axis=0),
    ]
    if not fails:
        nodes[-1:-1] = [
            const("last", np.array([1], dtype=np.int64)),
            helper.make_node("Min", ["unclipped", "last"], ["index"]),
        ]
    model = helper.make_model(
        helper.make_graph(nodes, name, inputs, [label]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


class LoadGen:
    """A bounded closed-loop load generator on a thread: `rate` requests/s of one row each, over HTTP.

    Given several URLs (the replicas of one endpoint), the requests go to each in turn; `drop(url)` takes
    one out of the rotation (a replica that was killed). `by_url` counts the versions each URL answered."""

    def __init__(
        self,
        url: str | Sequence[str],
        rows: list[dict[str, Any]],
        *,
        rate: float = 50.0,
        marked_share: float = 0.0,
        seed: int = 0,
        protocol: str = "v1",
    ) -> None:
        self.protocol = protocol  # "v1": {"rows": [...]} to /predict; "v2": Open Inference tensors to /infer
        self.urls = [url] if isinstance(url, str) else list(url)
        self.url = self.urls[0]
        self.by_url: dict[str, Counter[str]] = {u: Counter() for u in self.urls}
        self.rows = rows
        self.rate = rate
        self.marked_share = marked_share
        self.rng = random.Random(seed)
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self.connection_errors = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadgen", daemon=True)

    def __enter__(self) -> LoadGen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def drop(self, url: str) -> None:
        """Send no more requests to `url` (one rebinding: the thread reads the list once per request)."""
        self.urls = [u for u in self.urls if u != url]

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def _run(self) -> None:
        period = 1.0 / self.rate
        with httpx.Client(timeout=10.0) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                row = dict(self.rows[self.sent % len(self.rows)])
                if self.marked_share and self.rng.random() < self.marked_share:
                    row["age"] = MARK_AGE
                urls = self.urls
                url = urls[self.sent % len(urls)]
                self.sent += 1
                try:
                    response = client.post(
                        url, json=v2_body(row) if self.protocol == "v2" else {"rows": [row]}
                    )
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        answer = response.json()
                        version = str(answer["model_version" if self.protocol == "v2" else "version"])
                        self.versions[version] += 1
                        self.by_url[url][version] += 1
                except httpx.TransportError:
                    self.connection_errors += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()


def v2_body(row: dict[str, Any]) -> dict[str, Any]:
    """An Open Inference Protocol v2 infer request of one row: each feature its own [1, 1] tensor."""
    return {
        "inputs": [
            {"name": k, "shape": [1, 1], "datatype": "BYTES", "data": [v]}
            if isinstance(v, str)
            else {"name": k, "shape": [1, 1], "datatype": "FP64", "data": [v]}
            for k, v in row.items()
        ]
    }


async def wait_for(
    probe: Callable[[], Awaitable[dict[str, Any]]],
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 60.0,
    every: float = 0.2,
) -> dict[str, Any]:
    """Call `probe` until `done(result)`; the last result on success, AssertionError with it on timeout."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = await probe()
        if done(last):
            return last
        await anyio.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s; last: {last}")


# -- canaries on gateway replicas, through any MCP client -------------------------------------------------


def rows_of(home: Path, n: int = 50) -> list[dict[str, Any]]:
    """The first `n` rows of the home's example.csv as predict rows (age, income, segment)."""
    import pandas as pd

    df = pd.read_csv(home / "workspace" / "example.csv").head(n)
    return [
        {"age": int(r.age), "income": float(r.income), "segment": str(r.segment)} for r in df.itertuples()
    ]


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    return structured(await client.call_tool(tool, args))


def canary_args(endpoint: str, candidate: str, **overrides: Any) -> dict[str, Any]:
    """deploy_canary_start's arguments: three short steps and loose limits, changed by `overrides`."""
    return {
        "endpoint": endpoint,
        "candidate_version": candidate,
        "steps": [25, 50, 100],
        "step_seconds": 0.6,
        "min_requests": 5,
        "max_wait_seconds": 30,
        "max_error_rate": 0.05,
        "max_p99_ms": 2000,
        "max_error_rate_increase": 0.05,
        **overrides,
    }


async def canary(client: Client, endpoint: str, candidate: str, **overrides: Any) -> dict[str, Any]:
    """A canary across gateway replicas: 1 s steps, 10 requests a window, unless overridden."""
    args = canary_args(
        endpoint, candidate, **{"step_seconds": 1.0, "min_requests": 10, "max_wait_seconds": 60, **overrides}
    )
    return await call(client, "deploy_canary_start", **args)


async def finished(client: Client, endpoint: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return await call(client, "deploy_canary_status", endpoint=endpoint)

    return await wait_for(probe, lambda s: s["state"] in TERMINAL, timeout=90, every=0.1)


async def events_of(client: Client, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
    out = await call(client, "deploy_history", endpoint=endpoint, rollout_id=rollout_id, limit=200)
    return list(reversed(out["items"]))  # oldest first


def urls(gateways: list[GatewayProcess], endpoint: str) -> list[str]:
    return [f"{g.url}/v1/endpoints/{endpoint}/predict" for g in gateways]


async def create(
    client: Client, gateways: list[GatewayProcess], endpoint: str, version: str, model: str = "churn"
) -> dict[str, Any]:
    """A new endpoint of `model` (the deploy tests' MODEL by default), once every replica serves it (they
    poll the routing generation); the tool's result."""
    created = await call(client, "deploy_create_endpoint", endpoint=endpoint, model=model, version=version)
    async with httpx.AsyncClient() as http:
        for g in gateways:
            await wait_for(
                lambda g=g: _stats(http, g, endpoint), lambda s: s.get("loaded", False), timeout=30, every=0.1
            )
    return created


async def _stats(http: Any, gateway: GatewayProcess, endpoint: str) -> dict[str, Any]:
    response = await http.get(f"{gateway.url}/v1/stats", params={"endpoint": endpoint})
    if response.status_code != 200:
        return {}
    versions = response.json()["endpoints"][endpoint]["versions"]
    return {"loaded": all(v["loaded"] for v in versions)}
