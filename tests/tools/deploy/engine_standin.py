"""The only allowed Docker stand-in: a local HTTP server that answers the Engine API calls the docker SDK
makes for a build and records each one (method, path, query, body) for the test to check."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class EngineStandIn:
    def __init__(self, fail_build: str | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_build = fail_build
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Api-Version", "1.43")
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, status: int, chunks: list[bytes]) -> None:
                # The Engine streams build progress as a chunked body of JSON messages (the SDK relies on it).
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Api-Version", "1.43")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def handle_one(self, method: str) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                outer.calls.append(
                    {
                        "method": method,
                        "path": parts.path,
                        "query": parse_qs(parts.query),
                        "content_type": self.headers.get("Content-Type"),
                        "body": body,
                    }
                )
                path = (
                    parts.path.split("/", 2)[-1] if parts.path.startswith("/v1.") else parts.path.lstrip("/")
                )
                if path == "_ping":
                    self._send(200, b"OK", "text/plain")
                elif path == "build" and method == "POST":
                    if outer.fail_build:
                        lines = [
                            {"stream": "Step 1/12 : FROM python:3.11-slim\n"},
                            {"error": outer.fail_build},
                        ]
                    else:
                        lines = [
                            {"stream": "Step 1/12 : FROM python:3.11-slim\n"},
                            {"aux": {"ID": "sha256:" + "ab" * 32}},
                            {"stream": "Successfully built abababababab\n"},
                        ]
                    self._stream(200, [json.dumps(x).encode() + b"\r\n" for x in lines])
                else:
                    self._send(404, json.dumps({"message": f"page not found: {parts.path}"}).encode())

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

            def do_HEAD(self) -> None:
                self.handle_one("HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EngineStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def build_context_members(self) -> dict[str, bytes]:
        (build,) = [c for c in self.calls if c["path"].endswith("/build")]
        with tarfile.open(fileobj=io.BytesIO(build["body"])) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
