"""The backup tools: create, list, verify, prune and restore backups of everything the server keeps.

Thin MCP-facing functions; the work (archives, snapshots, path rewrites) is in adapter.py and runs in a
worker thread with progress. Nothing heavy is imported here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.errors import InvalidInput
from mcp_server.core.output import paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.backup.models import (
    BackupCreated,
    BackupPage,
    PruneResult,
    RestoreResult,
    Scope,
    Target,
    VerifyResult,
)

BACKUP_DEADLINE_S = 1800.0

BackupId = Annotated[str, Field(description="A backup id from backup_create or backup_list (bk-...).")]


def _deadline(app: AppContext) -> float:
    return min(BACKUP_DEADLINE_S, app.settings.max_deadline_s) - 1.0


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
    from mcp_server.tools.backup import adapter

    app = app_context(ctx)
    return await run_blocking(
        lambda control: adapter.create(app, list(scope), "manual", control),
        deadline_s=_deadline(app),
        report=progress_reporter(ctx),
        with_control=True,
    )


async def backup_list(
    ctx: Ctx,
    cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
    limit: Annotated[int, Field(ge=1, le=40, description="Backups per page.")] = 20,
) -> BackupPage:
    """List the backups (newest first) with scope, size and the last verification, including archives found in the backups folder without a record."""
    from mcp_server.tools.backup import adapter

    app = app_context(ctx)
    items = await run_blocking(adapter.list_backups, app, deadline_s=app.settings.deadline_s)
    page = paginate(items, cursor, limit)
    return BackupPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


async def backup_verify(ctx: Ctx, id: BackupId) -> VerifyResult:
    """Read every member of a backup archive and check its SHA-256 against the manifest; ok is false with what failed."""
    from mcp_server.tools.backup import adapter

    app = app_context(ctx)
    adapter.check_id(id)
    result, _ = await run_blocking(lambda: adapter.verify(app, id), deadline_s=_deadline(app))
    return result


async def backup_prune(
    ctx: Ctx,
    keep_last: Annotated[int, Field(ge=1, le=10_000, description="Keep this many newest backups.")] = 7,
    keep_daily: Annotated[
        int,
        Field(ge=0, le=10_000, description="Also keep the newest backup of each of this many latest days."),
    ] = 7,
) -> PruneResult:
    """Delete old backup archives and records, keeping the newest keep_last and the newest of each of the last keep_daily days."""
    from mcp_server.tools.backup import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.prune, app, keep_last, keep_daily, deadline_s=_deadline(app))


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
    from mcp_server.tools.backup import adapter

    app = app_context(ctx)
    adapter.check_id(id)
    if target == "new_home":
        if new_home is None:
            raise InvalidInput("target 'new_home' needs new_home: the name of the folder to create.")
        if ".." in new_home:
            raise InvalidInput("new_home is a folder name, not a path; use letters, digits, '.', '_' or '-'.")
        check_name(new_home, "new_home folder name")
        name = new_home
        return await run_blocking(
            lambda control: adapter.restore_new_home(app, id, name, store_url, control),
            deadline_s=_deadline(app),
            report=progress_reporter(ctx),
            with_control=True,
        )
    if new_home is not None or store_url is not None:
        raise InvalidInput(
            "target 'in_place' restores into this server's own home and store; omit new_home and store_url."
        )
    return await run_blocking(
        lambda control: adapter.restore_in_place(app, id, control),
        deadline_s=_deadline(app),
        report=progress_reporter(ctx),
        with_control=True,
    )
