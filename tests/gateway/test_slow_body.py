"""Issue #22 item 5 over HTTP against a real gateway process: a request body trickled in at 2 bytes a second
gets 408 and a closed connection once MLOPS_MCP_GATEWAY_BODY_TIMEOUT_S is up, while other connections are
served; a refusal sent before the body was read closes the connection too; streaming responses, /healthz and
/metrics are untouched."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mcp_server.core.config import Settings
from mcp_server.gateway.limits import BodyDeadline
from tests.gateway.process import gateway_process, serve_plain

pytestmark = pytest.mark.slow  # spawns a gateway and waits out its body deadline

TIMEOUT_S = 1.5
GOOD = b'{"rows": [{"a": 0.5, "b": -1.0, "c": 2.0}]}'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("slowbody")
    routes = serve_plain(root)
    with gateway_process(
        routes, root / "home", versions=1, MLOPS_MCP_GATEWAY_BODY_TIMEOUT_S=str(TIMEOUT_S)
    ) as gateway:
        yield gateway.url
    # The abandoned requests leave no traceback in the gateway's log.
    assert b"Traceback" not in gateway.stderr, gateway.stderr.decode(errors="replace")[-2000:]


def body_timeouts(url: str) -> float:
    found = re.search(
        r"^mlops_gateway_body_timeouts_total (\S+)$", httpx.get(f"{url}/metrics", timeout=5).text, re.M
    )
    assert found is not None
    return float(found.group(1))


def trickle(url: str, head: bytes, *, every_s: float = 0.5, limit_s: float) -> tuple[bytes, float]:
    """Send `head` then one body byte every `every_s` until the gateway answers and closes (or `limit_s`);
    return what it sent back and when the connection closed, in seconds from the first byte."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        started = time.monotonic()
        sock.sendall(head)
        received = b""
        while time.monotonic() - started < limit_s:
            sock.settimeout(every_s)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = None
            if chunk == b"":  # the gateway closed the connection
                return received, time.monotonic() - started
            if chunk:
                received += chunk
                continue
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                return received, time.monotonic() - started
        raise AssertionError(f"the connection was still open after {limit_s} s; got {received!r}")


def test_a_trickled_body_gets_408_and_others_are_served_meanwhile(gateway: str) -> None:
    before = body_timeouts(gateway)
    predict = f"{gateway}/v1/endpoints/plain/predict"
    head = (
        b"POST /v1/endpoints/plain/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    result: dict[str, tuple[bytes, float]] = {}
    slow = threading.Thread(target=lambda: result.update(out=trickle(gateway, head, limit_s=TIMEOUT_S + 2)))
    slow.start()
    try:
        time.sleep(0.3)
        served = 0
        while slow.is_alive():  # other connections are served while the body trickles
            assert httpx.post(predict, content=GOOD, timeout=5).status_code == 200
            served += 1
            time.sleep(0.2)
    finally:
        slow.join()
    assert served >= 3
    answer, closed_after = result["out"]
    assert TIMEOUT_S - 0.2 < closed_after < TIMEOUT_S + 2
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    error = json.loads(body)["error"]
    assert (
        error
        == f"The request body did not arrive within {TIMEOUT_S:g} s, so the gateway closed the connection."
    )
    assert body_timeouts(gateway) == before + 1
    assert httpx.post(predict, content=GOOD, timeout=5).status_code == 200  # and afterwards


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n",  # a route that reads no body
        b"POST /v1/endpoints/plain/predict HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 100\r\n\r\n",  # 421
        b"POST /v1/endpoints/plain/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n",  # 413
    ],
)
def test_an_answer_before_the_body_closes_the_connection(gateway: str, head: bytes) -> None:
    """uvicorn would otherwise drop the rest of the body byte by byte for as long as the client cares to send."""
    answer, closed_after = trickle(gateway, head, limit_s=TIMEOUT_S + 2)
    assert closed_after < 1.5
    assert not answer.startswith(b"HTTP/1.1 408"), answer
    assert b"connection: close" in answer.partition(b"\r\n\r\n")[0].lower()


def test_normal_requests_keep_their_connection(gateway: str) -> None:
    with httpx.Client(base_url=gateway, timeout=5) as http:
        for _ in range(3):
            assert http.post("/v1/endpoints/plain/predict", content=GOOD).status_code == 200
            assert http.get("/healthz").json()["status"] == "ok"
            assert "mlops_gateway_body_timeouts_total" in http.get("/metrics").text
        time.sleep(TIMEOUT_S + 0.3)  # a kept-alive connection's next request gets a fresh deadline
        response = http.post("/v1/endpoints/plain/predict", content=GOOD)
        assert response.status_code == 200 and response.headers.get("connection") != "close"


async def test_a_streaming_response_outlives_the_deadline() -> None:
    """Past the body, `receive` is passed through: Starlette's wait for http.disconnect gets no deadline."""
    import asyncio

    from starlette.responses import StreamingResponse

    async def chunks() -> Any:
        for i in range(4):
            await asyncio.sleep(0.1)
            yield f"{i}\n".encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await StreamingResponse(chunks())(scope, receive, send)

    transport = httpx.ASGITransport(app=BodyDeadline(app, 0.15))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.post("/", content=b"x" * 10)
    assert response.status_code == 200 and response.text == "0\n1\n2\n3\n"


def test_the_timeout_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLOPS_MCP_GATEWAY_BODY_TIMEOUT_S", raising=False)
    assert Settings(home=tmp_path).gateway_body_timeout_s == 10.0
    monkeypatch.setenv("MLOPS_MCP_GATEWAY_BODY_TIMEOUT_S", "2.5")
    assert Settings(home=tmp_path).gateway_body_timeout_s == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon", "3601"):
        monkeypatch.setenv("MLOPS_MCP_GATEWAY_BODY_TIMEOUT_S", bad)
        with pytest.raises(ValidationError, match="gateway_body_timeout_s"):
            Settings(home=tmp_path)


def test_a_web_page_on_another_origin_is_refused(gateway: str) -> None:
    """A page anywhere on the web can post to http://127.0.0.1:<port> (its Host is loopback); the browser
    then sends that page's Origin. Programs send none, and pages from localhost still work."""
    predict = f"{gateway}/v1/endpoints/plain/predict"
    headers = {"content-type": "application/json"}
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example:8000", "null"):
        refused = httpx.post(predict, content=GOOD, headers={**headers, "origin": origin}, timeout=10)
        assert refused.status_code == 403, origin
        assert "are refused" in refused.json()["error"]
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173"):
        assert httpx.post(predict, content=GOOD, headers={**headers, "origin": origin}, timeout=10).is_success
    assert httpx.post(predict, content=GOOD, headers=headers, timeout=10).is_success
