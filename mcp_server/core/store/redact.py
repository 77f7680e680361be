"""Secret masking, the one copy: every text that leaves the process or is stored goes through `mask_text`.

Tool error texts (core/app.py call_tool), audit rows (store.record_audit), log records (`RedactingFilter`
on the server's log handlers), health alerts (core/health_watch.py) and stored display texts.

Masked: the password of a URL's user-info with any number of slashes after the scheme (`s3:/u:pw@h`,
`s3://u:pw@h`, `postgresql+psycopg://u:pw@h/db`), a bare `user:password@host` (`registry/u:pw@x`),
`password=`/`token=`/`secret=`... pairs, bearer tokens, `Authorization:` values and bare JWTs (an OAuth
access token pasted anywhere: `eyJ...`.`eyJ...`.`...`). Left alone:
`name@version`, lineage ids (`dataset:iris@abc123`, `suite:s@3`), image digests (`name:tag@sha256:...`)
and `a:b` without an '@'.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
from typing import Any

REDACTED = "***"

# Substrings of argument names whose values are never stored (compared lower-case, without '_' and '-').
SECRET_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "secret_key",
    "credential",
    "authorization",
    "private_key",
    "passphrase",
    "cookie",
)

MAX_DEPTH = 32
MAX_STRING = 65_536

# Bounded repeats keep the patterns linear on long argument strings.
# user:password@ inside any URL-looking text, with one to three slashes after the scheme: a path
# normalised by the workspace turns "s3://" into "s3:/".
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}:/{1,3}[^\s/:@]{0,256}:)[^\s@]{0,1024}@")
# A bare user:password@host (a Docker reference "registry/u:pw@x", "u:pw@host:5432"): at the start of a
# token or after a '/'; the user has no ':', the password no '/' or '@'. Not an image digest after '@'.
_BARE_USERINFO = re.compile(
    r"(?<![^\s/'\"=(\[,;<`])([A-Za-z0-9._~%+-]{1,128}:)[^\s/@'\"`]{1,256}@"
    r"(?![a-z0-9]{1,16}:[0-9a-f]{16})(?=[A-Za-z0-9\[])"
)
_USER = re.compile(r"[A-Za-z0-9._~%+-]{1,128}")
# Besides the lineage kinds (core/lineage.py KINDS), words before "name:x@y" that make it an identifier.
_NOT_USERS_BESIDES_KINDS = ("alias", "home")


@functools.cache
def _not_users() -> frozenset[str]:
    from mcp_server.core.lineage import KINDS  # not at import: core.lineage imports the store

    return frozenset((*KINDS, *_NOT_USERS_BESIDES_KINDS))


# Bearer tokens and Authorization header values ("Authorization: Basic abc=", "Bearer eyJ...").
# A token has eight or more characters and a digit, so prose ("needs a bearer token") stays as it is.
_BEARER = re.compile(r"(?i)\b(bearer\s{1,8})(?=[A-Za-z._~+/-]{0,4096}[0-9])[A-Za-z0-9._~+/-]{8,4096}=*")
_AUTHORIZATION = re.compile(
    r"(?i)\b(authorization[\"']?\s{0,8}[:=]\s{0,8}[\"']?)(?!bearer\s)(?:(?:basic|token|digest)\s{1,8})?[^\s,;'\"]{1,4096}"
)
# A JWT on its own (header and payload are base64url JSON objects, so both start with "eyJ").
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,16384}\.[A-Za-z0-9_-]{0,4096}")
# key=value secrets inside DSNs and query strings ("... password=x", "?db_token=y&").
_KEY_VALUE = re.compile(
    r"(?i)((?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key)[a-z0-9_]{0,40})(\s{0,8}=\s{0,8})[^\s&;,'\"]+"
)


def mask_url(url: str) -> str:
    """The URL with the password of its user-info replaced by ***; a URL without one is unchanged."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return mask_text(url)
    netloc_end = len(rest)
    for stop in ("?", "#"):
        idx = rest.find(stop)
        if idx != -1:
            netloc_end = min(netloc_end, idx)
    # The last '@' before the query ends the user-info, so a password may itself contain '@' or '/'.
    at = rest.rfind("@", 0, netloc_end)
    if at != -1 and ":" in rest[:at]:
        user = rest[: rest.index(":")]
        rest = f"{user}:{REDACTED}{rest[at:]}"
    return mask_text(f"{scheme}{sep}{rest}")


def mask_text(text: str) -> str:
    """Mask URL passwords and key=value secrets inside free text (error messages, argument strings)."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _BARE_USERINFO.sub(_mask_bare, text)
    text = _AUTHORIZATION.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _mask_bare(match: re.Match[str]) -> str:
    user, whole = match.group(1), match.group(0)
    if whole.endswith(f"{REDACTED}@"):
        return whole
    if user[:-1].lower() in _not_users():
        # An identifier's kind ("dataset:"), but what follows may still be user:password@ of a path the
        # caller gave ("dataset:user:pw@host/x.csv@abc"); "dataset:home:x.csv@abc" stays.
        inner, sep, _ = whole[len(user) :].partition(":")
        if sep and _USER.fullmatch(inner) and inner.lower() not in _not_users():
            return f"{user}{inner}:{REDACTED}@"
        return whole
    return f"{user}{REDACTED}@"


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message, traceback and stack text masked by `mask_text`.

    On a handler (not a logger) so records propagated from every library's logger pass through it too.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it as logging does
            return True
        record.msg, record.args = mask_text(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Put one `RedactingFilter` on each handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


_FOLDED_PARTS = tuple(p.replace("_", "") for p in SECRET_KEY_PARTS)


def is_secret_key(key: str) -> bool:
    # "API-Key", "api_key", "apiKey" and "APIKEY" all fold to "apikey".
    folded = key.lower().replace("_", "").replace("-", "")
    return any(part in folded for part in _FOLDED_PARTS)


def redact(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of `value` with secret-named keys (at any depth) and URL passwords masked."""
    if _depth > MAX_DEPTH:
        return "<nested too deep>"
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            # Neither stored nor scanned: its hash keeps the digest telling different values apart.
            return f"<{len(value)} characters, sha256 {digest(value)}>"
        return mask_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, dict):
        return {
            str(k): REDACTED if is_secret_key(str(k)) else redact(v, _depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, _depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((redact(v, _depth + 1) for v in value), key=repr)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a pydantic model given as an argument
        try:
            return redact(dump(mode="json"), _depth + 1)
        except Exception:  # fall back to its text below
            pass
    return mask_text(str(value))


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: equal arguments give equal text, hence equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
