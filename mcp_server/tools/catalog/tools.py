"""The catalog tools: register, search and describe datasets; the schema registry's diff."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_server.core.args import AllowBreaking, Cursor, DatasetName, Limit100, Zone
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.catalog import service
from mcp_server.tools.catalog.models import (
    CatalogGetResult,
    CatalogRegisterResult,
    CatalogSchemaDiffResult,
    CatalogSearchResult,
)

Tags = Annotated[
    list[str], Field(description="Tags such as 'pii' or 'team:growth' (up to 20).", max_length=20)
]


async def catalog_register(
    ctx: Ctx,
    dataset: DatasetName,
    location: Annotated[
        str | None,
        Field(
            description="Data to register: a Parquet/CSV/JSONL file or a folder of Parquet files in the "
            "workspace, or an s3:// URI on the configured S3 endpoint. Omit to only update the metadata."
        ),
    ] = None,
    description: Annotated[str | None, Field(description="What the data is.", max_length=2000)] = None,
    owner: Annotated[
        str | None, Field(description="Who answers for it (a team or person).", max_length=128)
    ] = None,
    tags: Tags | None = None,
    allow_breaking: AllowBreaking = False,
) -> CatalogRegisterResult:
    """Register a dataset in the catalog (an existing file, folder or s3:// location) or update its description, owner and tags; a changed location becomes a new version."""
    return await service_call(
        ctx, service.register, dataset, location, description, owner, tags, allow_breaking
    )


async def catalog_search(
    ctx: Ctx,
    text: Annotated[
        str | None, Field(description="Words found in the name or description.", max_length=200)
    ] = None,
    tags: Annotated[
        list[str] | None, Field(description="Datasets carrying every one of these tags.", max_length=20)
    ] = None,
    owner: Annotated[str | None, Field(description="Exact owner.", max_length=128)] = None,
    zone: Annotated[Zone | None, Field(description="Only datasets in this lake zone.")] = None,
    cursor: Cursor = None,
    limit: Limit100 = 20,
) -> CatalogSearchResult:
    """Search the data catalog by text in name or description, tags and owner; use catalog_get for one dataset's details."""
    return await service_call(ctx, service.search, text, tags, owner, zone, cursor, limit)


async def catalog_get(
    ctx: Ctx,
    dataset: DatasetName,
    versions_limit: Annotated[
        int, Field(description="How many versions (newest first) to describe.", ge=1, le=20)
    ] = 5,
) -> CatalogGetResult:
    """Describe one catalogued dataset: schema per version, rows, size, latest validation result and quality score, and a lineage summary."""
    return await service_call(ctx, service.get, dataset, versions_limit)


async def catalog_schema_diff(
    ctx: Ctx,
    dataset: DatasetName,
    a: Annotated[int, Field(description="The older version.", ge=1)],
    b: Annotated[int, Field(description="The newer version.", ge=1)],
) -> CatalogSchemaDiffResult:
    """Compare the schemas of two versions of a dataset: added, removed and retyped columns, and whether b is backward compatible with a."""
    return await service_call(ctx, service.schema_diff, dataset, a, b)
