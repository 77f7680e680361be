"""Network rules shared by the MCP server and the gateway: checking URLs that come from callers or configuration
before anything connects to them (SECURITY.md 10), loopback binds and bearer auth. No MCP import here: the
gateway uses it too."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from mcp_server.core.errors import InvalidInput

# Cloud metadata services: never a target, whatever the allowlist says.
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "169.254.169.254", "fd00:ec2::254"}


def _is_link_local_or_metadata(host: str) -> bool:
    if host.lower() in _METADATA_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_link_local or address.is_multicast or address.is_unspecified


def check_url(url: str, allowlist: list[str], *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """Return `url` if its scheme is allowed and its host is on the allowlist; raise InvalidInput otherwise.

    The allowlist holds host names or IP addresses (`*.example.com` allows subdomains). Link-local and
    metadata addresses are refused even when listed.
    """
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise InvalidInput(f"The URL must use {' or '.join(schemes)}; got '{parts.scheme or 'no scheme'}'.")
    host = (parts.hostname or "").strip("[]")
    if not host:
        raise InvalidInput("The URL has no host; give a full URL such as http://127.0.0.1:9000.")
    if _is_link_local_or_metadata(host):
        raise InvalidInput(f"The host '{host}' is a link-local or metadata address and is never contacted.")
    for allowed in allowlist:
        allowed = allowed.strip().lower()
        if host.lower() == allowed or (allowed.startswith("*.") and host.lower().endswith(allowed[1:])):
            return url
    raise InvalidInput(
        f"The host '{host}' is not on the URL allowlist; add it to MLOPS_MCP_URL_ALLOWLIST to allow it."
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header value, lowercased, without its port or IPv6 brackets ("" when absent)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    name, sep, port = value.rpartition(":")
    return name if sep and ":" not in name and port.isdigit() else value


class BearerAuth:
    """ASGI middleware: every request needs `Authorization: Bearer <token>` (constant-time compare)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = b'{"error": "missing or wrong bearer token"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
