"""Helpers of the rollout tests: a bounded HTTP load generator, a test ONNX model that fails on a marked
input, and small waits on the store/tools."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

MARK_AGE = 700.0  # rows with this age make the marked model fail (Gather index out of bounds)


def marked_onnx(path: Path) -> Path:
    """An ONNX classifier over (age, income, segment) that predicts round(age / 100) as its label and fails
    at run time (onnxruntime: Gather index out of bounds) on a row whose age is MARK_AGE."""
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
        helper.make_node("Reshape", ["index2d", "flat"], ["index"]),
        helper.make_node("Gather", ["classes", "index"], ["label"], axis=0),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "marked", inputs, [label]), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


class LoadGen:
    """A bounded closed-loop load generator on a thread: `rate` requests/s of one row each, over HTTP."""

    def __init__(
        self,
        url: str,
        rows: list[dict[str, Any]],
        *,
        rate: float = 50.0,
        marked_share: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.url = url
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
                self.sent += 1
                try:
                    response = client.post(self.url, json={"rows": [row]})
                    self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.versions[str(response.json()["version"])] += 1
                except httpx.TransportError:
                    self.connection_errors += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()


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
