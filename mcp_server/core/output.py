"""Keeping results small: size caps, pagination cursors and `mlops://` links to artifacts under the home."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from mcp_server.core.errors import InvalidInput, LimitExceeded, NotFound

T = TypeVar("T")
ARTIFACT_SCHEME = "mlops://artifacts/"
ARTIFACT_TEMPLATE = "mlops://artifacts/{+path}"  # {+path}: the path spans several segments
REPORTS_DIR = "reports"  # artifacts live under <home>/reports
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null at the end."
    )


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        offset = -1
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(
            "The cursor is not one this server returned; omit it to start from the first page."
        )
    return offset


def paginate(items: Sequence[T], cursor: str | None, limit: int) -> Page[T]:
    """One page of `items`; `limit` is clamped to 1..MAX_LIMIT."""
    offset = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    chunk = list(items[offset : offset + limit])
    more = offset + limit < len(items)
    return Page[T](items=chunk, total=len(items), next_cursor=encode_cursor(offset + limit) if more else None)


def check_size(payload: BaseModel, max_bytes: int) -> None:
    """Refuse a result over the cap rather than flood the assistant's context."""
    size = len(payload.model_dump_json(by_alias=True))
    if size > max_bytes:
        raise LimitExceeded(
            f"The result is {size} bytes, over the {max_bytes}-byte cap; ask for fewer items with "
            "`limit` or page through with `cursor`."
        )


def artifact_uri(home: Path, path: Path) -> str:
    """The `mlops://artifacts/...` link for a file written under the home."""
    return ARTIFACT_SCHEME + path.resolve().relative_to(home.resolve()).as_posix()


def read_artifact(home: Path, relative: str) -> tuple[bytes, str]:
    """Serve `resources/read` for an artifact link: files under `<home>/reports` only.

    The rest of the home (the metadata store, MLflow's database, backups) is never served this way.
    """
    from mcp_server.core.workspace import Workspace

    reports = (home / REPORTS_DIR).resolve()
    resolved = Workspace([home], home).resolve(relative)
    if not resolved.is_relative_to(reports) or not resolved.is_file():
        raise NotFound(f"No artifact '{relative}' among the server's reports.")
    mime = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
    return resolved.read_bytes(), mime
