"""Idempotency keys for write tools: a call repeated with the same key returns the first call's result.

Every tool that writes and is not idempotent by nature gets an optional `idempotency_key` argument
(added by registry.bind). The first call with a key claims a row (tool, key) holding the digest of its
other arguments; when it succeeds the row keeps its result, when it fails the claim is dropped so a
retry runs again. A repeat with the same key and arguments gets the stored result and writes nothing;
the same key with other arguments is refused, as is a repeat while the first call still runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from mcp_server.core.store import MetadataStore

PARAMETER = "idempotency_key"
DESCRIPTION = (
    "Any string up to 128 characters; a repeated call with the same key and arguments returns the first "
    "call's result instead of writing again (safe retries)."
)


def arguments_digest(arguments: dict[str, Any]) -> str:
    from mcp_server.core.store.redact import canonical_json, digest

    return digest(canonical_json({k: v for k, v in arguments.items() if k not in ("ctx", PARAMETER)}))


def claim(store: MetadataStore, tool: str, key: str, args_digest: str, stale_after_s: float) -> str | None:
    """Claim (tool, key) for this call; returns the stored result JSON when the key was used before."""
    from sqlalchemy import select

    from mcp_server.core.store.models import IdempotentCall

    if not key or len(key) > 128:
        raise InvalidInput("The idempotency_key must be 1-128 characters.")
    with store.transaction() as session:
        row = session.scalars(
            select(IdempotentCall).where(IdempotentCall.tool == tool, IdempotentCall.key == key)
        ).first()
        if row is None:
            session.add(IdempotentCall(tool=tool, key=key, digest=args_digest, result=None))
            return None
        if row.digest != args_digest:
            raise InvalidInput(
                f"The idempotency_key {key!r} was used for a {tool} call with other arguments; use a new key."
            )
        if row.result is not None:
            return row.result
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        if datetime.now(UTC) - created < timedelta(seconds=stale_after_s):
            raise Conflict(
                f"A {tool} call with idempotency_key {key!r} is still running; repeat it once that call ends."
            )
        row.created_at = datetime.now(UTC)  # the first call died without an answer: this one takes over
        return None


def settle(store: MetadataStore, tool: str, key: str, result_json: str | None) -> None:
    """Keep the result of a call that succeeded; drop the claim of one that failed (None)."""
    from sqlalchemy import delete, update

    from mcp_server.core.store.models import IdempotentCall

    where = (IdempotentCall.tool == tool, IdempotentCall.key == key)
    with store.transaction() as session:
        if result_json is None:
            session.execute(delete(IdempotentCall).where(*where))
        else:
            session.execute(update(IdempotentCall).where(*where).values(result=result_json))
