"""Who may call what over HTTP: the OAuth 2.1 resource server and the role scopes (issue #24).

Three modes, one at a time (`auth_mode`): `none` (stdio, or HTTP on loopback with nothing set), `token` (the
static bearer token MLOPS_MCP_TOKEN, core/net.BearerAuth: one shared secret, every tool) and `oauth`
(MLOPS_MCP_AUTH_ISSUER: JWT access tokens from an authorization server, checked here with PyJWT against
the issuer's JWKS; each person's scopes choose their tools).

The scopes are roles, and they are hierarchical: mlops:admin implies mlops:deploy, which implies
mlops:write, which implies mlops:read (`effective_scopes`). Each tool needs exactly one of them
(`ToolSpec.required_scope` in core/registry.py decides which). A token carries the roles it was granted;
the server acts on their closure, so a deployer also writes and reads.

No MCP server import here (the SDK glue is in core/app.py and core/context.py): this module verifies
tokens into plain `VerifiedToken`s and holds the ASGI gate that answers 403 for a call beyond the scopes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from mcp_server.core.errors import BackendUnavailable, MlopsError
from mcp_server.core.net import is_loopback

if TYPE_CHECKING:
    from mcp_server.core.config import Settings

log = logging.getLogger("mlops_mcp")

READ = "mlops:read"  # read-only tools
WRITE = "mlops:write"  # writes that lose nothing: suites, datasets, training, registering
DEPLOY = "mlops:deploy"  # what serving sees: aliases, endpoints, rollouts, blue-green
ADMIN = "mlops:admin"  # what destroys: restores, prunes, deletes, overwrites
SCOPES: tuple[str, ...] = (READ, WRITE, DEPLOY, ADMIN)  # each implies every one before it

# Asymmetric signatures only: never HS* (a shared secret) or "none".
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_S = 30  # clock skew allowed on exp/nbf/iat
FETCH_TIMEOUT_S = 10.0  # the issuer's metadata and JWKS
RETRY_DISCOVERY_S = 30.0  # after the issuer's metadata could not be read
MAX_METADATA_BYTES = 1024 * 1024
# MCP methods other than tools/call that hand out stored data need mlops:read.
READ_METHODS = frozenset(
    {
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "subscriptions/listen",
        "prompts/get",
        "completion/complete",
    }
)

AuthMode = Literal["none", "token", "oauth"]


def effective_scopes(granted: Iterable[str]) -> frozenset[str]:
    """The granted scopes plus every role they imply (admin -> deploy -> write -> read)."""
    have = set(granted)
    for rank, scope in enumerate(SCOPES):
        if scope in have:
            have.update(SCOPES[:rank])
    return frozenset(have)


def allows(granted: Iterable[str], needed: str) -> bool:
    return needed in effective_scopes(granted)


def parse_scopes(value: object) -> list[str]:
    """Scopes from a setting or a claim: "a b", "a,b" or a list (scopes hold ':', so no os.pathsep split)."""
    if isinstance(value, str):
        return [s for s in value.replace(",", " ").split() if s]
    if isinstance(value, list | tuple):
        return [str(s) for s in value if str(s).strip()]
    return []


# -- configuration ---------------------------------------------------------------------------------------


def auth_mode(settings: Settings) -> AuthMode:
    """Which mode the settings choose; a clear one-line error when they choose two or an incomplete one."""
    oauth = settings.auth_issuer is not None
    if oauth and settings.token is not None:
        raise MlopsError(
            "MLOPS_MCP_TOKEN and MLOPS_MCP_AUTH_ISSUER are both set: use one, the static token (simple mode) "
            "or OAuth."
        )
    if not oauth:
        stray = [
            name
            for name, value in (
                ("MLOPS_MCP_AUTH_JWKS_URL", settings.auth_jwks_url),
                ("MLOPS_MCP_AUTH_AUDIENCE", settings.auth_audience),
                ("MLOPS_MCP_AUTH_REQUIRED_SCOPES", settings.auth_required_scopes),
            )
            if value
        ]
        if stray:
            raise MlopsError(f"{', '.join(stray)} set without MLOPS_MCP_AUTH_ISSUER; set the issuer too.")
    return "oauth" if oauth else "token" if settings.token is not None else "none"


def _check_endpoint(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MlopsError(f"{what} must be an http(s) URL; got {url!r}.")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise MlopsError(f"{what} must use https (plain http only on loopback); got {url!r}.")
    return url


def canonical_url(host: str, port: int) -> str:
    """This server's MCP endpoint as its clients name it: http://<host>:<port>/mcp."""
    if host in ("0.0.0.0", "::", ""):
        raise MlopsError(
            f"Binding {host or 'all addresses'} leaves this server's public URL unknown; set "
            "MLOPS_MCP_AUTH_AUDIENCE to it (e.g. https://mlops.example.com/mcp)."
        )
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{name}:{port}/mcp"


@dataclass(frozen=True)
class OAuthConfig:
    issuer: str
    audience: str  # the `aud` a token must hold: this server (RFC 8707: no token meant for another)
    resource: str  # RFC 9728 `resource`: the audience when it is a URL, else this server's URL
    jwks_url: str | None  # None: discovered from the issuer's metadata at first use
    required_scopes: tuple[str, ...]

    @property
    def scopes_supported(self) -> list[str]:
        return [*SCOPES, *(s for s in self.required_scopes if s not in SCOPES)]


def oauth_config(settings: Settings, host: str, port: int) -> OAuthConfig:
    assert settings.auth_issuer is not None
    issuer = _check_endpoint(settings.auth_issuer, "MLOPS_MCP_AUTH_ISSUER")
    jwks = (
        _check_endpoint(settings.auth_jwks_url, "MLOPS_MCP_AUTH_JWKS_URL") if settings.auth_jwks_url else None
    )
    audience = settings.auth_audience or canonical_url(host, port)
    resource = audience if urlsplit(audience).scheme in ("http", "https") else canonical_url(host, port)
    return OAuthConfig(issuer, audience, resource, jwks, tuple(settings.auth_required_scopes))


def describe(settings: Settings) -> str:
    """One line for `mlops-mcp doctor`: which mode is on (raises MlopsError when the settings clash)."""
    mode = auth_mode(settings)
    if mode == "token":
        return "static bearer token (MLOPS_MCP_TOKEN): every HTTP caller needs it and gets every tool"
    if mode == "none":
        return "off (stdio is one local user; HTTP serves loopback only without a token)"
    _check_endpoint(str(settings.auth_issuer), "MLOPS_MCP_AUTH_ISSUER")
    audience = settings.auth_audience or "this server's URL, http://<host>:<port>/mcp"
    jwks = settings.auth_jwks_url or "discovered from the issuer's metadata"
    required = ", ".join(settings.auth_required_scopes) or "none"
    return (
        f"OAuth 2.1 resource server: issuer {settings.auth_issuer}, audience {audience}, JWKS {jwks}, "
        f"required scopes {required}"
    )


# -- discovery and verification --------------------------------------------------------------------------


def _fetch_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:
        body = response.read(MAX_METADATA_BYTES + 1)
    if len(body) > MAX_METADATA_BYTES:
        raise ValueError("larger than 1 MB")
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be, in the order MCP clients try: RFC 8414, then OpenID Connect
    (path-inserted, then path-appended for an issuer with a path)."""
    parts = urlsplit(issuer)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    urls = [
        f"{base}/.well-known/oauth-authorization-server{path}",
        f"{base}/.well-known/openid-configuration{path}",
    ]
    if path:
        urls.append(f"{base}{path}/.well-known/openid-configuration")
    return urls


def discover_jwks_url(issuer: str) -> str:
    """The issuer's `jwks_uri`, from its authorization-server metadata (the metadata must name this issuer)."""
    reasons = []
    for url in metadata_urls(issuer):
        try:
            metadata = _fetch_json(url)
        except (OSError, ValueError) as err:
            reasons.append(f"{url}: {getattr(err, 'reason', None) or err}")
            continue
        if metadata.get("issuer") != issuer:
            raise BackendUnavailable(
                f"The metadata at {url} names the issuer {metadata.get('issuer')!r}, not {issuer!r}; set "
                "MLOPS_MCP_AUTH_ISSUER to the issuer exactly as the authorization server spells it."
            )
        jwks = metadata.get("jwks_uri")
        if not isinstance(jwks, str):
            raise BackendUnavailable(f"The metadata at {url} has no jwks_uri; set MLOPS_MCP_AUTH_JWKS_URL.")
        return _check_endpoint(jwks, f"The jwks_uri of {issuer}")
    raise BackendUnavailable(
        f"No authorization-server metadata found for {issuer} ({'; '.join(reasons)[:400]}); check "
        "MLOPS_MCP_AUTH_ISSUER or set MLOPS_MCP_AUTH_JWKS_URL."
    )


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    client_id: str | None  # the OAuth client: `client_id` (RFC 9068), else `azp` (OpenID Connect)
    granted: frozenset[str]  # the scopes the token carries
    expires_at: int | None
    issuer: str

    @property
    def scopes(self) -> frozenset[str]:
        return effective_scopes(self.granted)


class JwtVerifier:
    """Checks a JWT access token: signature (a key of the issuer's JWKS, asymmetric algorithms only),
    `iss`, `aud` (this server: a token issued for another resource is refused, so no token passes
    through), `exp`, `nbf`; requires `sub`. Synchronous (the JWKS may be fetched): run it in a thread.

    The JWKS is cached by PyJWKClient (5 minutes; an unknown key id refetches it at most every 30 s). A
    failed discovery is not retried for RETRY_DISCOVERY_S: tokens are refused at once meanwhile.
    """

    def __init__(self, config: OAuthConfig) -> None:
        self.config = config
        self._client: Any = None
        self._failed: tuple[float, BackendUnavailable] | None = None
        self._lock = threading.Lock()

    def jwks_url(self) -> str:
        return self.config.jwks_url or discover_jwks_url(self.config.issuer)

    def _jwks(self) -> Any:
        with self._lock:
            if self._client is None:
                from jwt import PyJWKClient

                if self._failed is not None and time.monotonic() - self._failed[0] < RETRY_DISCOVERY_S:
                    raise self._failed[1]
                try:
                    url = self.jwks_url()
                except BackendUnavailable as err:
                    self._failed = (time.monotonic(), err)
                    raise
                self._client = PyJWKClient(url, lifespan=300, timeout=FETCH_TIMEOUT_S)
            return self._client

    def verify(self, token: str) -> VerifiedToken | None:
        """The token's identity and scopes, or None (the reason is logged, never the token)."""
        import jwt

        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except MlopsError as err:  # the issuer's metadata could not be read
            log.warning("OAuth: bearer token refused: %s", err.message)
            return None
        except jwt.PyJWKClientConnectionError as err:
            log.warning("OAuth: bearer token refused: the JWKS could not be fetched (%s)", err)
            return None
        except jwt.PyJWTError as err:
            log.info("OAuth: bearer token refused: %s", type(err).__name__)
            return None
        client_id = claims.get("client_id") or claims.get("azp")
        return VerifiedToken(
            subject=str(claims["sub"]),
            client_id=str(client_id) if client_id else None,
            granted=frozenset(parse_scopes(claims.get("scope", claims.get("scp")))),
            expires_at=int(claims["exp"]),
            issuer=str(claims["iss"]),
        )


# -- the scope gate ---------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def insufficient_scope_header(needed: str, resource_metadata: str, why: str) -> str:
    """The step-up challenge of the MCP authorization spec (RFC 6750 section 3.1)."""
    return (
        f'Bearer error="insufficient_scope", scope="{needed}", resource_metadata="{resource_metadata}", '
        f'error_description="{why}"'
    )


class ScopeGate:
    """ASGI: a JSON-RPC request beyond the caller's scopes gets HTTP 403 with the step-up challenge
    before the MCP transport sees it (`tools/call` of a tool needing a scope the token lacks; reading
    stored data without mlops:read). Runs after authentication (the route's app, inside the SDK's auth
    middleware); a request without credentials passes on to the SDK's 401.

    `needed(name)` is the scope a tool needs (None: unknown here, the SDK answers it); `refused(name,
    arguments, why)` records a refused tool call (the audit log) before the 403 goes out. The body is read
    up to `max_body` bytes (a bigger one passes on untouched, and the transport refuses it).
    """

    def __init__(
        self,
        app: Any,
        needed: Callable[[str], str | None],
        resource_metadata: str,
        max_body: int,
        refused: Callable[[str, dict[str, Any], str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.needed = needed
        self.resource_metadata = resource_metadata
        self.max_body = max_body
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        credentials = scope.get("auth")
        signed_in = getattr(scope.get("user"), "is_authenticated", False)  # else the SDK answers 401
        if scope["type"] != "http" or scope.get("method") != "POST" or credentials is None or not signed_in:
            await self.app(scope, receive, send)
            return
        buffered: list[MutableMapping[str, Any]] = []
        body = b""
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False) or len(body) > self.max_body:
                break

        async def replay() -> MutableMapping[str, Any]:
            return buffered.pop(0) if buffered else await receive()

        refusal = self._refusal(body, effective_scopes(getattr(credentials, "scopes", ())))
        if refusal is None:
            await self.app(scope, replay, send)
            return
        needed, why, tool, arguments = refusal
        if tool is not None and self.refused is not None:
            await self.refused(tool, arguments, f"Refused: {why}, which the caller's token does not grant.")
        payload = json.dumps(
            {"error": "insufficient_scope", "error_description": why, "scope": needed}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (
                        b"www-authenticate",
                        insufficient_scope_header(needed, self.resource_metadata, why).encode(),
                    ),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _refusal(
        self, body: bytes, granted: frozenset[str]
    ) -> tuple[str, str, str | None, dict[str, Any]] | None:
        """(the scope needed, why, the tool refused or None, its arguments) for the first request of the
        body beyond the scopes; None when every request in it may go on."""
        if len(body) > self.max_body:
            return None
        try:
            message = json.loads(body)
        except ValueError:
            return None  # the transport answers a parse error
        for item in message if isinstance(message, list) else [message]:
            if not isinstance(item, dict):
                continue
            method, params = item.get("method"), item.get("params")
            needed: str | None = None
            what, tool, arguments = "", None, {}
            if method == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
                tool = params["name"]
                needed = self.needed(tool)
                what = f"{tool} needs the scope {needed}"
                given = params.get("arguments")
                arguments = given if isinstance(given, dict) else {}
            elif method in READ_METHODS:
                needed, what = READ, f"{method} needs the scope {READ}"
            if needed is not None and needed not in granted:
                return needed, what, tool, arguments
        return None
