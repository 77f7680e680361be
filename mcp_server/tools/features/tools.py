"""The features area's MCP tools: a Feast feature store whose definitions live in files.

Each tool declares its arguments and hands them to service.py through the boundary (one thread hop).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcp_server.core.args import Cursor, IncludeSamples, Limit500
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.features import models, service

ProjectArg = Annotated[
    str | None,
    Field(description="Feast project; the repo's default project (features_init) when omitted."),
]
DefinitionsArg = Annotated[
    str,
    Field(
        description=(
            "Path of a feature definitions file (YAML: project, entities, sources, feature_views, "
            "feature_services) inside the workspace."
        )
    ),
]
FeaturesArg = Annotated[
    list[str] | None,
    Field(
        description="Feature references 'view:feature', or a view name for all its features; or use feature_service.",
        max_length=500,
    ),
]
ServiceArg = Annotated[str | None, Field(description="A feature service name, instead of `features`.")]
FullNamesArg = Annotated[
    bool,
    Field(description="Name feature columns 'view__feature' (needed when two views share a feature name)."),
]


async def features_init(
    ctx: Ctx,
    project: Annotated[
        str | None,
        Field(
            description="Default Feast project of the repo (letters, digits, '_'); 'default' when omitted."
        ),
    ] = None,
    path: Annotated[
        str | None,
        Field(
            description="Folder of an existing Feast repo (with feature_store.yaml) inside the workspace to attach."
        ),
    ] = None,
) -> models.InitResult:
    """Create the Feast feature repo under the server home (local provider, file offline store, SQLite or Redis online store) or attach an existing repo by path."""
    return await service_call(ctx, service.init, project, path)


async def features_scaffold(
    ctx: Ctx,
    dataset: Annotated[str, Field(description="Table (csv/parquet) of entity events inside the workspace.")],
    entity_column: Annotated[str, Field(description="The column identifying the entity (the join key).")],
    timestamp_column: Annotated[str, Field(description="The column holding each event's time.")],
    output: Annotated[str, Field(description="New definitions file (.yaml) to write inside the workspace.")],
    source_output: Annotated[
        str | None,
        Field(
            description=(
                "Where to write a Feast-ready Parquet copy when the table is not Parquet with a typed time "
                "column; next to `output` when omitted."
            )
        ),
    ] = None,
    feature_view: Annotated[
        str | None,
        Field(description="Name of the drafted feature view; from the dataset's name when omitted."),
    ] = None,
    project: ProjectArg = None,
    ttl: Annotated[str, Field(description="The view's TTL, e.g. '30d', '12h', '0' (no expiry).")] = "30d",
) -> models.ScaffoldResult:
    """Draft a feature definitions file (entity, source, feature view, feature service) from a table's columns, with a Feast-ready Parquet copy when needed; review it, then features_plan."""
    return await service_call(
        ctx,
        service.scaffold,
        dataset,
        entity_column,
        timestamp_column,
        output,
        source_output,
        feature_view,
        project,
        ttl,
    )


async def features_plan(ctx: Ctx, definitions: DefinitionsArg) -> models.PlanResult:
    """Show what applying a feature definitions file would create, update or delete in the Feast registry (Feast's own diff); changes nothing."""
    return await service_call(ctx, service.plan, definitions)


async def features_apply(ctx: Ctx, definitions: DefinitionsArg) -> models.PlanResult:
    """Register a feature definitions file in Feast (deleting the project's objects the file no longer has), tag it with the file's SHA-256 as version and record source dataset -> feature view lineage."""
    return await service_call(ctx, service.apply, definitions)


async def features_list(
    ctx: Ctx,
    kind: Annotated[
        Literal["entity", "data_source", "feature_view", "feature_service"] | None,
        Field(description="Only this kind of object; every kind when omitted."),
    ] = None,
    project: Annotated[
        str | None, Field(description="Only this Feast project; every project when omitted.")
    ] = None,
    cursor: Cursor = None,
    limit: Limit500 = 100,
) -> models.ObjectPage:
    """List the registered Feast entities, data sources, feature views and feature services with their versions; use features_describe for one object."""
    return await service_call(ctx, service.list_objects, kind, project, cursor, limit)


async def features_describe(
    ctx: Ctx,
    name: Annotated[
        str, Field(description="Name of a feature view, feature service, entity or data source.")
    ],
    project: ProjectArg = None,
) -> models.DescribeResult:
    """Describe one registered Feast object: features and types, entities and join keys, TTL, source, version and materialized windows."""
    return await service_call(ctx, service.describe, name, project)


async def features_materialize(
    ctx: Ctx,
    start: Annotated[
        str | None,
        Field(
            description="ISO 8601 window start; omit for incremental (from each view's last materialized end)."
        ),
    ] = None,
    end: Annotated[str | None, Field(description="ISO 8601 window end; now when omitted.")] = None,
    views: Annotated[
        list[str] | None,
        Field(description="Feature views to materialize; every online view when omitted.", max_length=200),
    ] = None,
    project: ProjectArg = None,
) -> models.MaterializeResult:
    """Load feature values from the offline store into the online store for a time window, or incrementally since the last run, with progress per view."""
    return await service_call(ctx, service.materialize, start, end, views, project)


async def features_get_online(
    ctx: Ctx,
    entity_rows: Annotated[
        list[dict[str, str | int]],
        Field(
            description="Rows of join key values, e.g. [{'player_id': 1}] (at most 1000).", max_length=1000
        ),
    ],
    features: FeaturesArg = None,
    feature_service: ServiceArg = None,
    project: ProjectArg = None,
    full_feature_names: FullNamesArg = False,
) -> models.OnlineResult:
    """Read the latest materialized feature values from the online store for entity rows (features or a feature service)."""
    return await service_call(
        ctx, service.get_online, entity_rows, features, feature_service, project, full_feature_names
    )


async def features_get_historical(
    ctx: Ctx,
    entity_dataset: Annotated[
        str,
        Field(description="Table (csv/parquet) of join keys and the time of each row, inside the workspace."),
    ],
    output: Annotated[
        str, Field(description="New file (.parquet or .csv) inside the workspace for the training set.")
    ],
    features: FeaturesArg = None,
    feature_service: ServiceArg = None,
    timestamp_column: Annotated[
        str, Field(description="Column of entity_dataset holding each row's time.")
    ] = "event_timestamp",
    project: ProjectArg = None,
    full_feature_names: FullNamesArg = False,
    include_samples: IncludeSamples = True,
) -> models.HistoricalResult:
    """Build a point-in-time correct training set (feature values as of each entity row's time) and write it as a new dataset with lineage."""
    return await service_call(
        ctx,
        service.get_historical,
        entity_dataset,
        output,
        features,
        feature_service,
        timestamp_column,
        project,
        full_feature_names,
        include_samples,
    )


async def features_validate(
    ctx: Ctx,
    feature_view: Annotated[str, Field(description="The feature view whose offline data is validated.")],
    suite: Annotated[
        str, Field(description="A saved Great Expectations suite, 'name' (latest) or 'name@version'.")
    ],
    project: ProjectArg = None,
    include_samples: IncludeSamples = True,
    limit: Limit500 = 50,
) -> models.FeatureValidation:
    """Validate a feature view's offline data (join keys, timestamp, features) against a saved Great Expectations suite; the result is stored like validation_run's."""
    return await service_call(ctx, service.validate, feature_view, suite, project, include_samples, limit)
