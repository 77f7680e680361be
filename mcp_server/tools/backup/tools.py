"""The backup tools: create, list, verify, prune and restore backups of everything the server keeps.

Each tool declares its arguments and hands them to service.py through the boundary (one thread hop).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import Cursor
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.backup import service
from mcp_server.tools.backup.models import (
    BackupCreated,
    BackupPage,
    PruneResult,
    RestoreResult,
    Scope,
    Target,
    VerifyResult,
)

BackupId = Annotated[str, Field(description="A backup id from backup_create or backup_list (bk-...).")]


async def backup_create(
    ctx: Ctx,
    scope: Annotated[
        list[Scope],
        Field(
            description="What to back up: 'all' (metadata, models, suites, features) and/or any of "
            "metadata, models, suites, features, lake (lake datasets only when listed).",
            min_length=1,
            max_length=6,
        ),
    ] = ["all"],  # noqa: B006 (pydantic copies defaults)
) -> BackupCreated:
    """Write a consistent, checksummed backup archive of the metadata store, MLflow models, GX suites, the Feast repo and (when asked) the lake; returns its id and path."""
    return await service_call(ctx, service.create, list(scope))


async def backup_list(
    ctx: Ctx,
    cursor: Cursor = None,
    limit: Annotated[int, Field(ge=1, le=40, description="Backups per page.")] = 20,
) -> BackupPage:
    """List the backups (newest first) with scope, size and the last verification, including archives found in the backups folder without a record."""
    return await service_call(ctx, service.list_page, cursor, limit)


async def backup_verify(ctx: Ctx, id: BackupId) -> VerifyResult:
    """Read every member of a backup archive and check its SHA-256 against the manifest; ok is false with what failed."""
    return await service_call(ctx, service.verify, id)


async def backup_prune(
    ctx: Ctx,
    keep_last: Annotated[int, Field(ge=1, le=10_000, description="Keep this many newest backups.")] = 7,
    keep_daily: Annotated[
        int,
        Field(ge=0, le=10_000, description="Also keep the newest backup of each of this many latest days."),
    ] = 7,
) -> PruneResult:
    """Delete old backup archives and records, keeping the newest keep_last and the newest of each of the last keep_daily days."""
    return await service_call(ctx, service.prune, keep_last, keep_daily)


async def backup_restore(
    ctx: Ctx,
    id: BackupId,
    target: Annotated[
        Target,
        Field(
            description="'new_home': a new home folder beside this one (paths rewritten); 'in_place': "
            "replace this server's state (takes a safety backup first, restarts the gateway)."
        ),
    ],
    new_home: Annotated[
        str | None,
        Field(description="For new_home: the new home's folder name, created under the restore root."),
    ] = None,
    store_url: Annotated[
        str | None,
        Field(description="For a PostgreSQL backup restored to a new home: URL of an empty database."),
    ] = None,
) -> RestoreResult:
    """Verify a backup and restore it into a new home or in place (destructive; refuses a backup that fails verification)."""
    return await service_call(ctx, service.restore, id, target, new_home, store_url)
