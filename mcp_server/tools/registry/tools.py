"""The registry tools: register, list, search, get, aliases with history and rollback, compare, archive,
delete, model cards. Thin MCP-facing functions: arguments, then the use case (service.py) in one worker thread.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import Cursor, Limit100, Limit200, ModelName, ModelVersion
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx, client_name, token_subject
from mcp_server.tools.registry import service
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

Alias = Annotated[str, Field(description="Alias name, e.g. champion or challenger.")]
Reason = Annotated[
    str | None, Field(description="Why (kept in the alias history with the time and the client's name).")
]


async def registry_register_model(
    ctx: Ctx,
    name: ModelName,
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
    feature_names: Annotated[
        list[str] | None,
        Field(
            max_length=10_000,
            description="For an .onnx file whose input is one [N, k] tensor: the k column names in input "
            "order (default: the file's metadata_props feature_names, else x0..x(k-1)).",
        ),
    ] = None,
) -> RegisterResult:
    """Register a trained model as a new version in MLflow's model registry, recording its lineage (data, validation, quality, code commit)."""
    return await service_call(
        ctx, service.register, name, source, description, tags, code_path, client_name(ctx), feature_names
    )


async def registry_list_models(
    ctx: Ctx,
    cursor: Cursor = None,
    limit: Limit100 = 20,
) -> ModelList:
    """List registered models with their latest version, aliases and tags."""
    return await service_call(ctx, service.list_models, cursor, limit)


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
    cursor: Cursor = None,
    limit: Limit100 = 20,
) -> VersionList:
    """Search model versions by tags, run metrics and aliases (newest first)."""
    return await service_call(ctx, service.search_versions, name, list(filter or []), cursor, limit)


async def registry_get_version(
    ctx: Ctx,
    name: ModelName,
    version: Annotated[str | None, Field(description="Version number (or give alias).")] = None,
    alias: Annotated[str | None, Field(description="Alias, e.g. champion (or give version).")] = None,
    details: Annotated[
        bool, Field(description="Also the version's lineage, signature and artifact list.")
    ] = False,
) -> VersionDetail:
    """One model version: metrics, params, tags, aliases and its ONNX twin; lineage, signature and artifacts with details=true."""
    return await service_call(ctx, service.get_version_detail, name, version, alias, details)


async def registry_set_alias(
    ctx: Ctx, name: ModelName, alias: Alias, version: ModelVersion, reason: Reason = None
) -> AliasResult:
    """Point an alias (champion, challenger, ...) at a version; the change is kept in the alias history (registry_rollback undoes it; traffic moves with deploy tools)."""
    return await service_call(
        ctx, service.set_alias, name, alias, version, reason, client_name(ctx), token_subject(ctx)
    )


async def registry_rollback(ctx: Ctx, name: ModelName, alias: Alias, reason: Reason = None) -> AliasResult:
    """Move an alias back to the version it pointed to before its latest change (again: one further back); moves no traffic: deploy_rollback does that."""
    return await service_call(
        ctx, service.rollback, name, alias, reason, client_name(ctx), token_subject(ctx)
    )


async def registry_alias_history(
    ctx: Ctx,
    name: ModelName,
    alias: Alias,
    cursor: Cursor = None,
    limit: Limit200 = 50,
) -> AliasHistory:
    """The chain of changes of an alias (newest first): from -> to version, time, client and reason, and which were rolled back."""
    return await service_call(ctx, service.alias_history, name, alias, cursor, limit)


async def registry_compare_versions(
    ctx: Ctx,
    name: ModelName,
    a: Annotated[str, Field(description="First version number.")],
    b: Annotated[str, Field(description="Second version number.")],
    metric: Annotated[
        str | None, Field(description="A run metric, e.g. test_accuracy or rmse: which version is better.")
    ] = None,
) -> CompareResult:
    """Two versions side by side (metrics, params, signature, lineage) and which is better for a metric."""
    return await service_call(ctx, service.compare, name, a, b, metric)


async def registry_archive_version(ctx: Ctx, name: ModelName, version: ModelVersion) -> ChangeResult:
    """Archive a version (tagged archived; kept); refused while it holds an alias or serves an endpoint."""
    return await service_call(ctx, service.archive, name, version)


async def registry_delete_version(ctx: Ctx, name: ModelName, version: ModelVersion) -> ChangeResult:
    """Delete a model version from the registry for good; refused while it holds an alias or serves an endpoint."""
    return await service_call(ctx, service.delete, name, version)


async def registry_model_card(ctx: Ctx, name: ModelName, version: ModelVersion) -> ModelCard:
    """Write a Markdown model card (purpose, data and its validation, metrics, comparisons, lineage) and return its mlops:// link."""
    return await service_call(ctx, service.model_card, name, version)
