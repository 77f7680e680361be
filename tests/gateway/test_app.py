"""The gateway app in-process on a static routes file (no store): auth, the prediction log, metrics
windows, and predictions equal to onnxruntime's and scikit-learn's on the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from mcp_server.core.config import Settings
from mcp_server.core.errors import MlopsError
from mcp_server.gateway.app import Gateway, HealthOpen, build_app
from mcp_server.gateway.metrics import BUCKETS, Metrics

COLUMNS = ["a", "b", "c"]


def write_twin(folder: Path, version: str, model: Any, X: np.ndarray, task: str) -> None:
    from skl2onnx import to_onnx

    from mcp_server.core.twin import OnnxTwin, write_twin

    folder.mkdir(parents=True)
    onx = to_onnx(
        model, X[:1].astype(np.float32), options={"zipmap": False} if task == "classification" else None
    )
    (folder / "model.onnx").write_bytes(onx.SerializeToString())
    outputs = [o.name for o in onx.graph.output]
    spec = {
        "inputs": [{"name": onx.graph.input[0].name, "columns": COLUMNS, "dtype": "float32"}],
        "outputs": {"label": outputs[0], "probabilities": outputs[1]}
        if task == "classification"
        else {"value": outputs[0]},
    }
    write_twin(folder, OnnxTwin("m", version, folder / "model.onnx", task, COLUMNS, spec))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    root = tmp_path_factory.mktemp("gateway")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    clf = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    reg = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5]) + 3)
    write_twin(root / "clf1", "1", clf, X, "classification")
    write_twin(root / "reg1", "1", reg, X, "regression")
    (root / "routes.json").write_text(
        json.dumps(
            {
                "endpoints": [
                    {
                        "name": "clf",
                        "model": "m",
                        "routes": [{"version": "1", "weight": 100, "onnx_dir": "clf1"}],
                    },
                    {
                        "name": "reg",
                        "model": "m",
                        "routes": [{"version": "1", "weight": 100, "onnx_dir": "reg1"}],
                    },
                ]
            }
        )
    )
    return root / "routes.json", clf, reg


def client_for(routes_file: Path, settings: Settings, token: str | None = None) -> TestClient:
    app: Any = build_app(Gateway(settings, routes_file=routes_file))
    return TestClient(HealthOpen(app, token) if token else app)


def test_predictions_equal_sklearn_and_onnxruntime(routes: tuple[Path, Any, Any], tmp_path: Path) -> None:
    routes_file, clf, reg = routes
    rows = np.random.default_rng(1).normal(size=(50, 3)).round(3)
    body = {"rows": [dict(zip(COLUMNS, map(float, r), strict=True)) for r in rows]}
    with client_for(routes_file, Settings(home=tmp_path / "home")) as http:
        out = http.post("/v1/endpoints/clf/predict", json=body).json()
        assert out["version"] == "1" and out["predictions"] == clf.predict(rows.astype(np.float32)).tolist()
        values = http.post(
            "/v1/endpoints/reg/predict", json={"columns": COLUMNS, "data": rows.tolist()}
        ).json()
        np.testing.assert_allclose(values["predictions"], reg.predict(rows), rtol=1e-4, atol=1e-4)
        assert http.get("/healthz").json()["versions_loaded"] == 2


def test_token_guards_everything_but_healthz(routes: tuple[Path, Any, Any], tmp_path: Path) -> None:
    routes_file, _, _ = routes
    row = {"rows": [{"a": 1.0, "b": 2.0, "c": 3.0}]}
    with client_for(routes_file, Settings(home=tmp_path / "home"), token="s3cret") as http:
        assert http.get("/healthz").status_code == 200
        assert http.post("/v1/endpoints/clf/predict", json=row).status_code == 401
        assert http.get("/metrics").status_code == 401
        wrong = http.post("/v1/endpoints/clf/predict", json=row, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = http.post("/v1/endpoints/clf/predict", json=row, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    from mcp_server.gateway.server import run

    with pytest.raises(MlopsError, match="needs a bearer token"):
        run(Settings(home=tmp_path / "home"), "0.0.0.0", 0)


def test_prediction_log_is_off_by_default_and_sampled_when_on(
    routes: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    routes_file, clf, _ = routes
    row = {"a": 0.5, "b": -1.0, "c": 2.0}
    home = tmp_path / "home"
    with client_for(routes_file, Settings(home=home)) as http:
        http.post("/v1/endpoints/clf/predict", json={"rows": [row]})
    assert not (home / "gateway" / "predictions.jsonl").exists()
    with client_for(routes_file, Settings(home=home, gateway_prediction_log_rate=1.0)) as http:
        for _ in range(3):
            http.post("/v1/endpoints/clf/predict", json={"rows": [row, row]})
    lines = [json.loads(x) for x in (home / "gateway" / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    import hashlib

    fingerprint = hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()[:16]
    expected = clf.predict(np.array([[0.5, -1.0, 2.0]], dtype=np.float32))[0]
    assert {(x["endpoint"], x["version"], x["input_fingerprint"], x["output"]) for x in lines} == {
        ("clf", "1", fingerprint, int(expected))
    }
    assert all(x["latency_ms"] > 0 for x in lines)


def test_metric_windows_and_quantiles() -> None:
    m = Metrics()
    for _ in range(90):
        m.observe("e", "1", 0.0008, 1)
    before = m.snapshot("e")
    for _ in range(99):
        m.observe("e", "2", 0.004, 1)
    m.observe("e", "2", 0.2, 1)
    m.error("e", "2")
    m.error("e", "2", rejected=True)
    window = Metrics.window(before, m.snapshot("e"))
    assert window[("e", "1")].requests == 0
    w2 = window[("e", "2")]
    assert (w2.requests, w2.errors, w2.rejected, w2.observed) == (102, 1, 1, 100)
    p50, p99 = w2.quantile(0.5), w2.quantile(0.99)
    assert p50 is not None and BUCKETS[2] < p50 <= BUCKETS[3]  # 4 ms lies in (2.5 ms, 5 ms]
    assert p99 is not None and p99 <= BUCKETS[3]
    assert w2.quantile(0.999) is not None and w2.quantile(0.999) > BUCKETS[7]  # the 200 ms outlier
    text = m.prometheus_text().decode()
    assert 'mlops_gateway_requests_total{endpoint="e",version="2"} 102.0' in text
    assert 'mlops_gateway_latency_seconds_bucket{endpoint="e",le="+Inf",version="2"} 100.0' in text


def test_cli_gateway_serves_a_routes_file_and_stops_on_sigterm(
    routes: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    """`mlops-mcp gateway --routes` (the Docker image's command) in the foreground, stopped with SIGTERM."""
    import signal

    import httpx

    from tests.gateway.process import gateway_process

    routes_file, clf, _ = routes
    with gateway_process(routes_file, tmp_path / "home") as gateway:
        out = httpx.post(
            f"{gateway.url}/v1/endpoints/clf/predict",
            json={"rows": [{"a": 1.0, "b": 1.0, "c": 0.0}]},
            timeout=5,
        ).json()
        assert out["predictions"] == clf.predict(np.array([[1.0, 1.0, 0.0]], dtype=np.float32)).tolist()
    # uvicorn shuts down gracefully, then re-raises the captured SIGTERM (exit by that signal).
    assert gateway.proc.returncode in (0, -signal.SIGTERM) and gateway.stdout == b""
    assert not (tmp_path / "home" / "metadata.db").exists()  # a routes file needs no store


def test_hostile_bodies_get_400_and_the_gateway_keeps_serving(
    routes: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    routes_file, _, _ = routes
    with client_for(routes_file, Settings(home=tmp_path / "home")) as http:
        deep = b"[" * 100_000 + b"]" * 100_000
        response = http.post("/v1/endpoints/clf/predict", content=deep)
        assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
        nested = {"rows": [{"a": {"$gt": 1}, "b": 1.0, "c": 1.0}]}
        response = http.post("/v1/endpoints/clf/predict", json=nested)
        assert response.status_code == 400 and "takes a number" in response.json()["error"]
        response = http.post("/v1/endpoints/clf/predict", json={"rows": [{"a": 1.0, "b": 1.0, "c": 1.0}]})
        assert response.status_code == 200
        assert http.get("/v1/stats", params={"endpoint": "nope"}).status_code == 404
