"""The monitor area end to end: a served model's traffic sketched by a real gateway process, drift against
the training data (checked against quality_compare's exact PSI), outcomes joined by request_id
(accuracy checked against scikit-learn), and a watch rule alerting a webhook on 127.0.0.1 exactly once
when shifted traffic starts and once when it ends."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, structured
from tests.tools.deploy.conftest import register

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitor")]

FEATURES = ["x1", "x2", "x3", "x4"]
WINDOW_S = 2.0
SHIFTED = "x2"


def _rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "x1": rng.normal(0.0, 1.0, n),
            "x2": rng.normal(50.0, 10.0, n),
            "x3": rng.normal(-3.0, 2.0, n),
            "x4": rng.uniform(0.0, 1.0, n),
        }
    )
    score = df["x1"] + 0.05 * (df["x2"] - 50) - 0.2 * df["x3"] + rng.normal(0, 0.7, n)
    df["label"] = (score > 0.6).astype(int)
    return df


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("monitor") / "home"
    (home / "workspace").mkdir(parents=True)
    _rows(np.random.default_rng(1), 20_000).to_csv(home / "workspace" / "train.csv", index=False)
    yield home
    from mcp_server.gateway import manager

    app = AppContext.from_settings(Settings(home=home))
    try:
        manager.stop(app)
    finally:
        app.close()


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return Settings(home=home, profile="all", monitor_window_s=WINDOW_S, monitor_flush_s=0.3)


@pytest.fixture(scope="module")
async def served(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        run = structured(
            await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "train.csv",
                    "target": "label",
                    "estimator": "LogisticRegression",
                    "features": FEATURES,
                    "name": "monitored",
                },
            )
        )
        version = await register(client, settings, "scored", run["run_id"])
        structured(
            await client.call_tool(
                "deploy_create_endpoint", {"endpoint": "live", "model": "scored", "version": version}
            )
        )
        gw = structured(await client.call_tool("deploy_gateway_start", {"port": 0}))
    server.app.close()
    yield {"url": gw["url"], "version": version}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    server = create_server(settings)
    async with Client(server, mode="legacy") as session:
        yield session
    server.app.close()


def _send(url: str, frame: pd.DataFrame, batch: int = 500) -> list[tuple[str, int, Any]]:
    """(request_id, row, prediction) of every row served."""
    out = []
    with httpx.Client(timeout=30) as http:
        for start in range(0, len(frame), batch):
            part = frame.iloc[start : start + batch]
            r = http.post(
                f"{url}/v1/endpoints/live/predict", json={"rows": part[FEATURES].to_dict("records")}
            )
            r.raise_for_status()
            body = r.json()
            assert r.headers["x-request-id"] == body["request_id"]
            out.extend((body["request_id"], i, p) for i, p in enumerate(body["predictions"]))
    return out


def _next_window() -> None:
    """Sleep into the next window (phases never share one)."""
    now = time.time()
    time.sleep(math.floor(now / WINDOW_S) * WINDOW_S + WINDOW_S + 0.05 - now)


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


async def _drift(client: Client, start: float, end: float, rows: int) -> dict[str, Any]:
    """monitor_drift over the windows of [start, end) once the gateway has flushed all `rows`."""
    since, until = math.floor(start / WINDOW_S) * WINDOW_S, math.ceil(end / WINDOW_S) * WINDOW_S
    with anyio.fail_after(30):
        while True:
            result = await client.call_tool(
                "monitor_drift", {"endpoint": "live", "since": _iso(since), "until": _iso(until)}
            )
            if not result.is_error and result.structured_content["rows"] >= rows:
                return structured(result)
            await anyio.sleep(0.3)


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _monitor_alerts() -> list[dict[str, Any]]:
    return [a for body in Hook.received for a in body["alerts"] if a["component"].startswith("monitor:")]


async def test_drift_outcomes_and_watch_rule(
    served: dict[str, Any], client: Client, settings: Settings
) -> None:
    from sklearn.metrics import accuracy_score

    from mcp_server.core import health_watch

    rng = np.random.default_rng(2)
    url = served["url"]
    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    notify = health_watch.webhook_notifier(
        f"http://127.0.0.1:{hook.server_port}/alerts", settings.url_allowlist
    )
    watch_app = health_watch.build_app(settings)
    rule = {"name": "psi-any", "metric": "psi", "op": ">", "threshold": 0.2, "windows": 1, "min_rows": 200}
    rules = structured(await client.call_tool("monitor_watch_rules", {"endpoint": "live", "rules": [rule]}))
    assert rules["changed"] is True and rules["rules"][0]["holding"] is False

    async def tick() -> None:
        await health_watch.watch(watch_app, 0.0, notify, count=1)

    try:
        # Phase A: 5,000 rows from the training distribution: nothing drifts.
        _next_window()
        normal = _rows(rng, 5_000)
        t0 = time.time()
        served_a = _send(url, normal)
        t1 = time.time()
        drift_a = await _drift(client, t0, t1, 5_000)
        assert drift_a["rows"] == 5_000 and drift_a["against"] == "reference"
        assert drift_a["drifted_features"] == 0, drift_a["features"]
        assert "KLL" in drift_a["method"] and drift_a["error_bound"] > 0
        assert drift_a["prediction"]["psi"] < 0.2
        await tick()
        assert _monitor_alerts() == []

        # Phase B: the same with x2 shifted by half its standard deviation: x2 alone drifts.
        _next_window()
        shifted = _rows(rng, 5_000)
        shifted[SHIFTED] += 0.5 * 10.0
        t2 = time.time()
        _send(url, shifted)
        t3 = time.time()
        drift_b = await _drift(client, t2, t3, 5_000)
        flagged = {f["feature"]: f for f in drift_b["features"]}
        assert drift_b["features"][0]["feature"] == SHIFTED and flagged[SHIFTED]["drifted"]
        assert flagged[SHIFTED]["psi"] > 0.2
        assert [f for f in drift_b["features"] if f["drifted"]] == [flagged[SHIFTED]]
        # The sketch PSI against quality_compare's exact PSI on the same rows.
        shifted[FEATURES].to_csv(settings.home / "workspace" / "shifted.csv", index=False)
        exact = structured(
            await client.call_tool("quality_compare", {"dataset": "shifted.csv", "baseline": "train.csv"})
        )
        exact_psi = {c["column"]: c["psi"] for c in exact["columns"]}
        for name in FEATURES:
            assert abs(flagged[name]["psi"] - exact_psi[name]) <= 0.02, (
                name,
                flagged[name]["psi"],
                exact_psi[name],
            )
        await tick()
        assert [(a["event"], a["component"]) for a in _monitor_alerts()] == [
            ("triggered", "monitor:live/psi-any")
        ]

        # Phase C: back to the training distribution: the rule stops holding, one more alert.
        _next_window()
        t4 = time.time()
        _send(url, _rows(rng, 2_000))
        await _drift(client, t4, time.time(), 2_000)
        await tick()
        await tick()  # nothing changed since: no further alert
        events = [a["event"] for a in _monitor_alerts()]
        assert events == ["triggered", "resolved"], events
        state = structured(await client.call_tool("monitor_watch_rules", {"endpoint": "live"}))
        assert state["changed"] is False and state["rules"][0]["holding"] is False
    finally:
        hook.shutdown()
        watch_app.close()

    # Outcomes for 2,000 served rows of phase A: accuracy equals scikit-learn's on the same pairs.
    pairs = served_a[:2_000]
    truth = normal["label"].tolist()[:2_000]
    outcomes = [
        {"request_id": rid, "row": row, "outcome": int(y)}
        for (rid, row, _p), y in zip(pairs, truth, strict=True)
    ]
    recorded = structured(
        await client.call_tool("monitor_record_outcomes", {"endpoint": "live", "outcomes": outcomes})
    )
    assert recorded["joined"] == 2_000 and recorded["unknown"] == 0
    perf = structured(await client.call_tool("monitor_performance", {"endpoint": "live"}))
    expected = accuracy_score(truth, [p for _rid, _row, p in pairs])
    assert perf["joined"] == 2_000 and perf["task"] == "classification"
    assert perf["overall"]["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert sum(w["joined"] for w in perf["windows"]) == 2_000


async def test_request_id_on_every_format_and_bad_input(served: dict[str, Any], client: Client) -> None:
    url = served["url"]
    row = {"x1": 0.1, "x2": 50.0, "x3": -3.0, "x4": 0.5}
    with httpx.Client(timeout=30) as http:
        native = http.post(f"{url}/v1/endpoints/live/predict", json={"rows": [row]})
        assert native.status_code == 200 and native.headers["x-request-id"] == native.json()["request_id"]
        mlflow = http.post(f"{url}/v1/endpoints/live/invocations", json={"dataframe_records": [row]})
        assert mlflow.status_code == 200 and len(mlflow.headers["x-request-id"]) == 24
        v2 = http.post(
            f"{url}/v2/models/live/infer",
            json={
                "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in row.items()]
            },
        )
        assert v2.status_code == 200, v2.text
        assert len(v2.headers["x-request-id"]) == 24
    unknown = structured(
        await client.call_tool(
            "monitor_record_outcomes",
            {"endpoint": "live", "outcomes": [{"request_id": "nope", "outcome": 1}]},
        )
    )
    assert unknown["joined"] == 0 and unknown["unknown_ids"] == ["nope"]
    assert_tool_error(
        await client.call_tool("monitor_drift", {"endpoint": "ghost"}), "No endpoint named 'ghost'"
    )
    assert_tool_error(
        await client.call_tool("monitor_drift", {"endpoint": "live", "since": "yesterday"}), "ISO 8601"
    )
    bad = {"name": "r", "metric": "accuracy", "op": "<", "threshold": 0.9, "feature": "x1"}
    assert_tool_error(
        await client.call_tool("monitor_watch_rules", {"endpoint": "live", "rules": [bad]}),
        "psi and ks rules only",
    )
