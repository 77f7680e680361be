"""The one gateway client (core/gateway_client.py) against a scripted transport: retries, typed answers, waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mcp_server.core.errors import BackendUnavailable, InvalidInput, NotFound
from mcp_server.core.gateway_client import ATTEMPTS, GatewayClient

Handler = Callable[[httpx.Request], httpx.Response]


def gateway(handler: Handler) -> GatewayClient:
    return GatewayClient("http://gateway.test", "secret", transport=httpx.MockTransport(handler))


STATS: dict[str, Any] = {
    "generation": 3,
    "endpoints": {
        "ep": {
            "model": "m",
            "stable_version": "1",
            "live_slot": "blue",
            "versions": [{"version": "1", "weight": 100.0, "slot": "blue", "loaded": True, "metrics": None}],
        }
    },
}


def test_connection_errors_are_retried_then_answered() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < ATTEMPTS:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=STATS)

    stats = gateway(handler).stats("ep")
    assert len(seen) == ATTEMPTS and seen[-1].headers["authorization"] == "Bearer secret"
    assert seen[-1].url.params["endpoint"] == "ep"
    info = stats.version("ep", "1")
    assert stats.generation == 3 and info is not None and info.loaded and stats.version("ep", "2") is None


def test_a_gateway_that_never_answers_is_backend_unavailable() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ConnectError("refused", request=request)

    client = gateway(handler)
    with pytest.raises(BackendUnavailable, match="did not answer"):
        client.predict("ep", [{"a": 1}])
    assert len(seen) == ATTEMPTS
    assert client.health() is None and len(seen) == ATTEMPTS + 1  # health asks once: waits loop themselves


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "The row lacks column 'a'."}, InvalidInput),
        (404, {"error": "No endpoint named 'ep' on this gateway."}, NotFound),
        (503, {"error": "no loaded version"}, BackendUnavailable),
        (502, None, BackendUnavailable),
    ],
)
def test_predict_answers_map_to_the_project_errors(
    status: int, body: dict[str, str] | None, error: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/endpoints/ep/predict" and request.url.params["version"] == "2"
        return (
            httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>")
        )

    answer = gateway(handler).predict("ep", [{"a": 1}], "2")
    assert not answer.ok and answer.status == status
    with pytest.raises(error, match=(body or {}).get("error", "without JSON").split("'")[0]):
        answer.checked()


def test_waits_poll_until_the_gateway_catches_up() -> None:
    looks = {"healthz": 0, "stats": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            looks["healthz"] += 1
            return httpx.Response(200, json={"status": "ok", "generation": looks["healthz"]})
        looks["stats"] += 1
        version = {"version": "2", "loaded": looks["stats"] >= 3}
        endpoint = {**STATS["endpoints"]["ep"], "versions": [version]}
        return httpx.Response(200, json={"generation": 1, "endpoints": {"ep": endpoint}})

    client = gateway(handler)
    assert client.wait_for_generation(3, timeout=5.0) is True and looks["healthz"] == 3
    assert client.wait_for_generation(10_000, timeout=0.3) is False
    loaded = client.wait_for_load("ep", "2", timeout=5.0)
    assert loaded is not None and loaded.loaded and looks["stats"] == 3
    assert client.wait_for_load("ep", "9", timeout=0.2) is None
