"""Secret masking for everything the store writes or says: URLs in messages, audit arguments."""

from __future__ import annotations

import hashlib
import json
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

# Bounded repeats keep both patterns linear on long argument strings.
# user:password@ inside any URL-looking text.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^\s/:@]{0,256}:)[^\s@]{0,1024}@")
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
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


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
