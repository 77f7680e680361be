"""The registry tools: register, list, search, get, aliases with history and rollback, compare, archive,
delete, model cards. Thin MCP-facing functions; MLflow work runs in a worker thread (adapter.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context
from mcp_server.tools.registry.models import (
    AliasHistory,
    AliasResult,
    ChangeResult,
    CompareResult,
    Condition,
    ModelCard,
    ModelList,
    RegisterResult,
    VersionDetail,
    VersionList,
)

REGISTER_DEADLINE_S = 300.0

Name = Annotated[str, Field(description="Registered model name (letters, digits, '.', '_', '-').")]
Version = Annotated[str, Field(description="Version number, e.g. '3'.")]
Alias = Annotated[str, Field(description="Alias name, e.g. champion or challenger.")]
Reason = Annotated[
    str | None, Field(description="Why (kept in the alias history with the time and the client's name).")
]


def _deadline(app: AppContext, wanted: float = 120.0) -> float:
    return max(1.0, min(wanted, app.settings.max_deadline_s) - 1.0)


def client_name(ctx: Ctx) -> str | None:
    """The client's name from the MCP initialize handshake (as the audit log records it)."""
    try:
        params = ctx.request_context.session.client_params
        return params.client_info.name if params is not None else None
    except (ValueError, AttributeError):
        return None


async def registry_register_model(
    ctx: Ctx,
    name: Name,
    source: Annotated[
        str,
        Field(
            description="An MLflow run id from evaluation_train_model, or an .onnx / .skops model file in "
            "the workspace (pickle and joblib files are refused unless the operator allows them)."
        ),
    ],
    description: Annotated[str | None, Field(description="What the model is for.")] = None,
    tags: Annotated[dict[str, str] | None, Field(description='Version tags, e.g. {"team": "risk"}.')] = None,
    code_path: Annotated[
        str | None,
        Field(description="A folder in the workspace inside the git repository of the training code."),
    ] = None,
) -> RegisterResult:
    """Register a trained model as a new version in MLflow's model registry, recording its lineage (data, validation, quality, code commit)."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.register,
        app,
        name,
        source,
        description,
        tags,
        code_path,
        client_name(ctx),
        deadline_s=_deadline(app, REGISTER_DEADLINE_S),
    )


async def registry_list_models(
    ctx: Ctx,
    cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Models per page.")] = 20,
) -> ModelList:
    """List registered models with their latest version, aliases and tags."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.list_models, app, cursor, limit, deadline_s=_deadline(app))


async def registry_search_versions(
    ctx: Ctx,
    name: Annotated[str | None, Field(description="Only versions of this model.")] = None,
    filter: Annotated[
        list[Condition] | None,
        Field(
            max_length=20,
            description='Conditions that must all hold, e.g. [{"field": "metrics.test_accuracy", "op": ">", '
            '"value": 0.9}, {"field": "alias", "value": "champion"}, {"field": "tags.team", "value": "risk"}].',
        ),
    ] = None,
    cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Versions per page.")] = 20,
) -> VersionList:
    """Search model versions by tags, run metrics and aliases (newest first)."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.search_versions, app, name, list(filter or []), cursor, limit, deadline_s=_deadline(app)
    )


async def registry_get_version(
    ctx: Ctx,
    name: Name,
    version: Annotated[str | None, Field(description="Version number (or give alias).")] = None,
    alias: Annotated[str | None, Field(description="Alias, e.g. champion (or give version).")] = None,
) -> VersionDetail:
    """One model version: metrics, params, signature, tags, aliases, lineage, artifacts and its ONNX twin."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.get_version_detail, app, name, version, alias, deadline_s=_deadline(app)
    )


async def registry_set_alias(
    ctx: Ctx, name: Name, alias: Alias, version: Version, reason: Reason = None
) -> AliasResult:
    """Point an alias (champion, challenger, ...) at a version; the change is kept in the alias history (registry_rollback undoes it; traffic moves with deploy tools)."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.set_alias, app, name, alias, version, reason, client_name(ctx), deadline_s=_deadline(app)
    )


async def registry_rollback(ctx: Ctx, name: Name, alias: Alias, reason: Reason = None) -> AliasResult:
    """Move an alias back to the version it pointed to before its latest change (again: one further back); moves no traffic: deploy_rollback does that."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.rollback, app, name, alias, reason, client_name(ctx), deadline_s=_deadline(app)
    )


async def registry_alias_history(
    ctx: Ctx,
    name: Name,
    alias: Alias,
    cursor: Annotated[str | None, Field(description="next_cursor from the previous page.")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Events per page.")] = 50,
) -> AliasHistory:
    """The chain of changes of an alias (newest first): from -> to version, time, client and reason, and which were rolled back."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(
        adapter.alias_history, app, name, alias, cursor, limit, deadline_s=_deadline(app)
    )


async def registry_compare_versions(
    ctx: Ctx,
    name: Name,
    a: Annotated[str, Field(description="First version number.")],
    b: Annotated[str, Field(description="Second version number.")],
    metric: Annotated[
        str | None, Field(description="A run metric, e.g. test_accuracy or rmse: which version is better.")
    ] = None,
) -> CompareResult:
    """Two versions side by side (metrics, params, signature, lineage) and which is better for a metric."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.compare, app, name, a, b, metric, deadline_s=_deadline(app))


async def registry_archive_version(ctx: Ctx, name: Name, version: Version) -> ChangeResult:
    """Archive a version (tagged archived; kept); refused while it holds an alias or serves an endpoint."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.archive, app, name, version, deadline_s=_deadline(app))


async def registry_delete_version(ctx: Ctx, name: Name, version: Version) -> ChangeResult:
    """Delete a model version from the registry for good; refused while it holds an alias or serves an endpoint."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.delete, app, name, version, deadline_s=_deadline(app))


async def registry_model_card(ctx: Ctx, name: Name, version: Version) -> ModelCard:
    """Write a Markdown model card (purpose, data and its validation, metrics, comparisons, lineage) and return its mlops:// link."""
    from mcp_server.tools.registry import adapter

    app = app_context(ctx)
    return await run_blocking(adapter.model_card, app, name, version, deadline_s=_deadline(app))
