"""A local OAuth issuer and `mlops-mcp serve --transport http` processes that trust it, for the tests that
talk to the server as people with tokens (tests/test_oauth.py, tests/test_team.py).

The issuer: an RSA key made here, its authorization-server metadata and JWKS served on 127.0.0.1 (a server
discovers the JWKS from the metadata), tokens minted with PyJWT. The MCP SDK's client talks to a server with
a bearer header (`mcp_client`); raw httpx (`raw_tool_call`) sees the HTTP status of a refused call.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.core import auth
from tests.conftest import PYTHON, server_env
from tests.services import free_port

KID = "local-issuer-key-1"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-httpx", "version": "0"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class Issuer:
    """An authorization server as far as a resource server sees one: its RFC 8414 metadata and JWKS."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        documents: dict[str, Any] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = documents.get(self.path)
                body = json.dumps(found).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=KID, use="sig", alg="RS256")
        documents["/.well-known/oauth-authorization-server"] = {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks.json",
            "response_types_supported": ["code"],
            "scopes_supported": list(auth.SCOPES),
        }
        documents["/jwks.json"] = {"keys": [jwk]}
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def mint(self, key: Any = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "iat": now, "nbf": now, "exp": now + 600, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": KID})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Served:
    url: str  # the MCP endpoint, also the default audience
    issuer: Issuer
    log: Path  # the server's stderr
    home: Path | None = None

    @property
    def metadata_url(self) -> str:
        return self.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

    def token(self, scope: str, sub: str, **claims: Any) -> str:
        """A token of `sub` with `scope`, issued for this server (its URL is the audience)."""
        return self.issuer.mint(**{"aud": self.url, "sub": sub, "scope": scope, **claims})


@contextmanager
def oauth_servers(issuer: Issuer, *homes: Path, **env: str) -> Iterator[list[Served]]:
    """One `mlops-mcp serve --transport http --profile all` per home, each on a free port of 127.0.0.1 and
    trusting `issuer` (`env`: more MLOPS_MCP_* settings, the same for all). Started together, ready once
    each port accepts; stopped with SIGTERM on exit. Each one's stderr goes to <home's parent>/server-<port>.log."""
    started: list[tuple[subprocess.Popen[bytes], Served]] = []
    try:
        for home in homes:
            port = free_port()
            home.parent.mkdir(parents=True, exist_ok=True)
            log = home.parent / f"server-{port}.log"
            with log.open("wb") as stderr:
                proc = subprocess.Popen(
                    [
                        PYTHON,
                        "-m",
                        "mcp_server",
                        "serve",
                        "--transport=http",
                        f"--port={port}",
                        "--profile=all",
                    ],
                    env=server_env(home, MLOPS_MCP_AUTH_ISSUER=issuer.url, **env),
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            started.append((proc, Served(f"http://127.0.0.1:{port}/mcp", issuer, log, home)))
        deadline = time.monotonic() + 60
        for proc, served in started:
            port = int(served.url.rsplit(":", 1)[1].split("/")[0])
            while True:
                assert proc.poll() is None, served.log.read_text()
                assert time.monotonic() < deadline, f"the server did not open its port: {served.log}"
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.1)
        yield [served for _proc, served in started]
    finally:
        for proc, _served in started:
            proc.terminate()
        for proc, _served in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def mcp_client(served: Served, token: str) -> AsyncIterator[Client]:
    """The MCP SDK's client on the server's streamable HTTP endpoint, sending `token` as the bearer."""
    http = httpx2.AsyncClient(headers=bearer(token), timeout=120)
    async with Client(streamable_http_client(served.url, http_client=http), mode="legacy") as client:
        yield client


def raw_tool_call(served: Served, token: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    """A session opened with `token` over raw HTTP, then one tools/call: the answer as HTTP gives it (a call
    beyond the token's scopes is a 403 before the MCP transport sees it)."""
    opened = httpx.post(served.url, json=INIT, headers={**HEADERS, **bearer(token)}, timeout=30)
    assert opened.status_code == 200, opened.text
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    headers = {**HEADERS, **bearer(token), **session}
    httpx.post(served.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return httpx.post(served.url, json=call, headers=headers, timeout=30)
