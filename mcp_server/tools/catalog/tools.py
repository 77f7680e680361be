"""The catalog tools: register, search and describe datasets; the schema registry's diff."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import Ctx, app_context
from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.output import paginate
from mcp_server.tools.catalog import records
from mcp_server.tools.catalog.adapter import diff_schemas
from mcp_server.tools.catalog.models import (
    CatalogEntry,
    CatalogGetResult,
    CatalogRegisterResult,
    CatalogSchemaDiffResult,
    CatalogSearchResult,
    CatalogVersionDetail,
    LineageSummary,
    RetypedColumn,
)
from mcp_server.tools.lake.models import ColumnInfo
from mcp_server.tools.lake.tools import (
    AllowBreaking,
    DatasetName,
    Zone,
    check_dataset_name,
    lake_config,
    show_location,
)

_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_COLUMNS_SHOWN = 60

Tags = Annotated[
    list[str], Field(description="Tags such as 'pii' or 'team:growth' (up to 20).", max_length=20)
]


def _check_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    for tag in tags:
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            raise InvalidInput(
                "Each tag must be 1-64 characters of letters, digits, '.', '_', ':' or '-', starting with a "
                "letter or digit."
            )
    return sorted(set(tags))


def _short(text: str | None, limit: int = 300) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    from mcp_server.tools.lake import adapter

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    tag_list = _check_tags(tags)
    cfg = lake_config(app)
    where: str | None = None
    local: Path | None = None
    if location is not None:
        if location.startswith("s3://"):
            if not cfg.endpoint_url and not cfg.is_s3:
                raise InvalidInput(
                    "No S3 endpoint is configured; set MLOPS_MCP_S3_ENDPOINT_URL or MLOPS_MCP_LAKE_ROOT."
                )
            if ".." in location.split("/"):
                raise InvalidInput("The S3 location may not contain '..' segments.")
            where = location.rstrip("/")
        else:
            local = app.workspace.resolve(location, must_exist=True)
            where = str(local)

    def work() -> tuple[bool, bool, records.DatasetInfo]:
        created = new_version = False
        try:
            existing: records.DatasetInfo | None = records.get_dataset(app.store, name)
        except NotFound:
            existing = None
        if where is None and existing is None:
            raise NotFound(f"No dataset {name!r} in the catalog; give a location to register it.")
        if where is not None:
            found = adapter.inspect_location(cfg, where, app.settings.max_rows)
            if local is not None and local.is_file():
                from mcp_server.core.datasets import dataset_ref

                identifier = dataset_ref(app.store, local, name)
            else:
                from mcp_server.core.lineage import dataset_id

                identifier = dataset_id(name, adapter.content_digest(cfg, where))
            latest = existing.latest if existing is not None else None
            if latest is None or latest.identifier != identifier or latest.location != where:
                reservation = records.reserve_version(
                    app.store,
                    name=name,
                    zone=None,
                    operation="register",
                    location=lambda _zone, _n: where,
                    fmt=found.fmt,
                    schema=adapter.schema_fields(found.schema),
                    arrow_schema=adapter.schema_to_b64(found.schema),
                    partition_by=found.partition_by,
                    compression=None,
                    row_group_size=None,
                    source=None,
                    allow_breaking=allow_breaking,
                    lake=False,
                )
                records.finish_version(
                    app.store,
                    reservation.version_id,
                    identifier=identifier,
                    rows=found.rows,
                    bytes_=found.bytes,
                    files=found.files,
                    row_groups=found.row_groups,
                    edges=[],
                )
                created, new_version = existing is None, True
        records.update_metadata(app.store, name, description=description, owner=owner, tags=tag_list)
        return created, new_version, records.get_dataset(app.store, name)

    created, new_version, info = await run_blocking(work, deadline_s=app.settings.deadline_s)
    latest = info.latest
    return CatalogRegisterResult(
        dataset=name,
        created=created,
        new_version=new_version,
        version=None if latest is None else latest.version,
        identifier=None if latest is None else latest.identifier,
        location=None if latest is None else show_location(app, cfg, latest.location),
        rows=None if latest is None else latest.rows,
        columns=None if latest is None else len(latest.schema),
        description=_short(info.description, 2000),
        owner=info.owner,
        tags=info.tags,
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
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(description="Datasets per page.", ge=1, le=100)] = 20,
) -> CatalogSearchResult:
    """Search the data catalog by text in name or description, tags and owner; use catalog_get for one dataset's details."""
    app = app_context(ctx)
    tag_list = _check_tags(tags)
    found = await anyio.to_thread.run_sync(
        lambda: records.search(app.store, text=text, tags=tag_list, owner=owner, zone=zone)
    )
    page = paginate(found, cursor, limit)
    return CatalogSearchResult(
        datasets=[
            CatalogEntry(
                name=i.name,
                zone=i.zone,
                description=_short(i.description),
                owner=i.owner,
                tags=i.tags,
                latest_version=None if i.latest is None else i.latest.version,
                identifier=None if i.latest is None else i.latest.identifier,
                rows=None if i.latest is None else i.latest.rows,
                bytes=None if i.latest is None else i.latest.bytes,
                updated_at=i.updated_at.isoformat(),
            )
            for i in page.items
        ],
        total=page.total,
        next_cursor=page.next_cursor,
    )


def _columns(schema: list[dict[str, Any]]) -> list[ColumnInfo]:
    return [
        ColumnInfo(name=f["name"], type=f["type"], nullable=bool(f.get("nullable", True))) for f in schema
    ]


async def catalog_get(
    ctx: Ctx,
    dataset: DatasetName,
    versions_limit: Annotated[
        int, Field(description="How many versions (newest first) to describe.", ge=1, le=20)
    ] = 5,
) -> CatalogGetResult:
    """Describe one catalogued dataset: schema per version, rows, size, latest validation result and quality score, and a lineage summary."""
    from mcp_server.core.lineage import query_lineage

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    cfg = lake_config(app)

    def work() -> tuple[records.DatasetInfo, dict[str, Any] | None, Any]:
        info = records.get_dataset(app.store, name)
        ids = [v.identifier for v in info.versions if v.identifier]
        validation = records.latest_validation(app.store, ids)
        graph = None
        if info.latest is not None and info.latest.identifier:
            graph = query_lineage(app.store, info.latest.identifier, "both", 1)
        return info, validation, graph

    info, validation, graph = await anyio.to_thread.run_sync(work)
    lineage = None
    if graph is not None:
        up = sorted({e.upstream for e in graph.edges if e.downstream == graph.root})
        down = sorted({e.downstream for e in graph.edges if e.upstream == graph.root})
        lineage = LineageSummary(
            of=graph.root,
            upstream=up[:10],
            upstream_count=len(up),
            downstream=down[:10],
            downstream_count=len(down),
        )
    latest = info.latest
    return CatalogGetResult(
        name=info.name,
        zone=info.zone,
        description=_short(info.description, 2000),
        owner=info.owner,
        tags=info.tags,
        created_at=info.created_at.isoformat(),
        updated_at=info.updated_at.isoformat(),
        total_versions=len(info.versions),
        rows=None if latest is None else latest.rows,
        bytes=None if latest is None else latest.bytes,
        versions=[
            CatalogVersionDetail(
                version=v.version,
                identifier=v.identifier or "",
                operation=v.operation,
                location=show_location(app, cfg, v.location),
                format=v.format,
                rows=v.rows,
                bytes=v.bytes,
                files=v.files,
                partition_by=v.partition_by,
                columns=_columns(v.schema[:MAX_COLUMNS_SHOWN]),
                column_count=len(v.schema),
                source=v.source,
                created_at=v.created_at.isoformat(),
            )
            for v in list(reversed(info.versions))[:versions_limit]
        ],
        latest_validation=validation,
        lineage=lineage,
    )


async def catalog_schema_diff(
    ctx: Ctx,
    dataset: DatasetName,
    a: Annotated[int, Field(description="The older version.", ge=1)],
    b: Annotated[int, Field(description="The newer version.", ge=1)],
) -> CatalogSchemaDiffResult:
    """Compare the schemas of two versions of a dataset: added, removed and retyped columns, and whether b is backward compatible with a."""
    app = app_context(ctx)
    name = check_dataset_name(dataset)
    info = await anyio.to_thread.run_sync(lambda: records.get_dataset(app.store, name))
    old, new = info.version(a), info.version(b)
    diff = diff_schemas(old.schema, new.schema)
    nullable = {f["name"]: bool(f.get("nullable", True)) for f in [*old.schema, *new.schema]}
    return CatalogSchemaDiffResult(
        dataset=name,
        a=a,
        b=b,
        added=[ColumnInfo(name=c["name"], type=c["type"], nullable=nullable[c["name"]]) for c in diff.added],
        removed=[
            ColumnInfo(name=c["name"], type=c["type"], nullable=nullable[c["name"]]) for c in diff.removed
        ],
        retyped=[
            RetypedColumn(name=r["name"], from_type=r["from"], to_type=r["to"], widening=r["widening"])
            for r in diff.retyped
        ],
        compatible=diff.compatible,
        breaking_reasons=diff.breaking_reasons,
    )
