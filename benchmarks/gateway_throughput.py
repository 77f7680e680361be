"""Serving throughput: the gateway (ONNX, onnxruntime) vs `mlflow models serve` (pyfunc) on the same models.

A LogisticRegression (HTTP and framework overhead dominate) and a 100-tree RandomForest (predict dominates),
trained on the same generated 20-feature table through `evaluation_train_model`, registered with
`registry_register_model` and deployed with `deploy_create_endpoint` (ONNX conversion with the parity check).
The baseline serves the same registered versions with `mlflow models serve --env-manager local -w 1`. Each
server is pinned to core 0 with taskset; the load generator (a closed loop over raw keep-alive HTTP/1.1,
4 connections, single-row requests; wrk is not installed here) runs in its own process pinned to core 1.
Every measurement: 2 s warm-up, then 8 s counted. Prints one JSON line; `details` has req/s, p50 and p99 of
both servers on both models.
Targets (issue 9): >= 3x MLflow's req/s on LogisticRegression, >= 10x on RandomForest, each with a lower p99.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

ROWS, FEATURES, CONNECTIONS, WARMUP_S, MEASURE_S = 5_000, 20, 4, 2.0, 8.0
SERVER_CORE, LOAD_CORE = "0", "1"

LOADGEN = r"""
import asyncio, json, sys, time
host, port, path, body, conns, warm, dur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode(), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
lat, errors = [], 0
async def worker(start, stop):
    global errors
    reader, writer = await asyncio.open_connection(host, port)
    while True:
        t0 = time.perf_counter()
        if t0 >= stop:
            break
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        t1 = time.perf_counter()
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
        if t0 >= start:
            lat.append(t1 - t0)
    writer.close()
async def main():
    now = time.perf_counter()
    await asyncio.gather(*(worker(now + warm, now + warm + dur) for _ in range(conns)))
asyncio.run(main())
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None
print(json.dumps({"requests": len(lat), "rps": len(lat) / dur, "p50_ms": q(0.5), "p99_ms": q(0.99), "errors": errors}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            sys.executable,
            "-c",
            LOADGEN,
            "127.0.0.1",
            str(port),
            path,
            json.dumps(body),
            str(CONNECTIONS),
            str(WARMUP_S),
            str(MEASURE_S),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def wait_http(url: str, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def mlflow_serve(home: Path, name: str, version: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    mlflow = shutil.which("mlflow", path=env["PATH"]) or "mlflow"
    proc = subprocess.Popen(  # its uvicorn workers inherit the affinity
        [
            "taskset",
            "-c",
            SERVER_CORE,
            mlflow,
            "models",
            "serve",
            "-m",
            f"models:/{name}/{version}",
            "--env-manager",
            "local",
            "-w",
            "1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, port


def bench_data(prefix: str) -> tuple[Path, Path, Any, list[str]]:
    """A fresh folder with a home whose workspace holds bench.csv: ROWS generated rows of FEATURES columns and a
    binary label. Returns (folder, home, X, columns)."""
    import pandas as pd
    from sklearn.datasets import make_classification

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    home = tmp / "home"
    (home / "workspace").mkdir(parents=True)
    X, y = make_classification(ROWS, FEATURES, n_informative=10, random_state=0)
    columns = [f"f{i}" for i in range(FEATURES)]
    pd.DataFrame(X, columns=columns).assign(label=y).to_csv(home / "workspace" / "bench.csv", index=False)
    return tmp, home, X, columns


async def deploy_models(
    call: Any, models: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[dict[str, str], dict[str, Any]]:
    """Train, register and deploy each model of `models` ({endpoint: (estimator, params)}, data bench.csv) through
    the tools (`call(tool, args)`), then start the gateway pinned to SERVER_CORE: (versions, gateway_start result)."""
    versions = {}
    for key, (estimator, params) in models.items():
        await call(
            "evaluation_train_model",
            {
                "dataset": "bench.csv",
                "target": "label",
                "estimator": estimator,
                "params": params,
                "name": f"bench-{key}",
            },
        )
        reg = await call("registry_register_model", {"name": f"bench-{key}", "source": f"bench-{key}"})
        versions[key] = reg["version"]
        await call(
            "deploy_create_endpoint", {"endpoint": key, "model": f"bench-{key}", "version": reg["version"]}
        )
    gw = await call("deploy_gateway_start", {"port": 0})
    subprocess.run(
        ["taskset", "-a", "-p", "-c", SERVER_CORE, str(gw["pid"])], check=True, capture_output=True
    )
    return versions, gw


async def main() -> None:
    import numpy as np
    from mcp import Client

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings
    from mcp_server.gateway import manager

    tmp, home, X, columns = bench_data("bench-gateway-")
    row = {c: float(v) for c, v in zip(columns, np.round(X[0], 6), strict=True)}
    models = {
        "logreg": ("LogisticRegression", {"max_iter": 1000}),
        "forest": ("RandomForestClassifier", {"n_estimators": 100, "random_state": 0, "n_jobs": 1}),
    }
    settings = Settings(home=home, profile="all")
    server = create_server(settings)
    details: dict[str, Any] = {}
    try:
        async with Client(server, mode="legacy") as client:

            async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(tool, args)
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content[0].text}")  # type: ignore[union-attr]
                return dict(result.structured_content or {})

            versions, gw = await deploy_models(call, models)
            gw_port = int(gw["url"].rsplit(":", 1)[1])
            for key in models:
                details[key] = {"gateway": load(gw_port, f"/v1/endpoints/{key}/predict", {"rows": [row]})}
            await call("deploy_gateway_stop", {})
        for key in models:
            proc, port = mlflow_serve(home, f"bench-{key}", versions[key])
            try:
                body = {"dataframe_split": {"columns": columns, "data": [list(row.values())]}}
                details[key]["mlflow"] = load(port, "/invocations", body)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
    finally:
        app = server.app
        manager.stop(app)
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    for key in models:
        g, m = details[key]["gateway"], details[key]["mlflow"]
        details[key]["rps_ratio"] = round(g["rps"] / m["rps"], 2)
        details[key]["lower_p99"] = g["p99_ms"] < m["p99_ms"]
    forest = details["forest"]
    print(
        json.dumps(
            {
                "figure": "gateway_vs_mlflow_serve_req_per_s_random_forest",
                "value": round(forest["gateway"]["rps"], 1),
                "baseline": round(forest["mlflow"]["rps"], 1),
                "ratio": forest["rps_ratio"],
                "unit": "req/s",
                "details": details,
                "setup": f"{CONNECTIONS} connections, single-row requests, closed loop, {MEASURE_S:g}s after {WARMUP_S:g}s "
                f"warm-up; servers on core {SERVER_CORE}, load on core {LOAD_CORE}; 1 worker each",
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
