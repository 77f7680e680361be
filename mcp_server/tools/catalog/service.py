"""The catalog area's use cases: register, search and describe datasets; the schema registry's diff.

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary. The catalog's rows are records.py (metadata store); the schema rules are adapter.py.
Data at a location is inspected and recorded as a version by the lake's service, which owns versions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.output import paginate
from mcp_server.core.values import plain
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
from mcp_server.tools.lake import service as lake
from mcp_server.tools.lake.models import ColumnInfo, LakeVersionInfo

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext

_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_COLUMNS_SHOWN = 60
MAX_DESCRIPTION_CHARS = 2000
# The fields catalog_get shows of a version as lake_versions does (`columns` differs: a list here).
_VERSION_FIELDS = (set(CatalogVersionDetail.model_fields) & set(LakeVersionInfo.model_fields)) - {"columns"}


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


def register(
    app: AppContext,
    control: Control,
    dataset: str,
    location: str | None = None,
    description: str | None = None,
    owner: str | None = None,
    tags: list[str] | None = None,
    allow_breaking: bool = False,
) -> CatalogRegisterResult:
    """catalog_register: a dataset at an existing location, or new metadata for a catalogued one."""
    name = lake.check_dataset_name(dataset)
    tag_list = _check_tags(tags)
    cfg = lake.config(app)
    where: str | None = None
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
            where = str(app.workspace.resolve(location, must_exist=True))
    try:
        records.get_dataset(app.store, name)
        created = False
    except NotFound:
        if where is None:
            raise NotFound(f"No dataset {name!r} in the catalog; give a location to register it.") from None
        created = True
    new_version = where is not None and lake.register_location(
        app, control, name, where, allow_breaking=allow_breaking
    )
    records.update_metadata(app.store, name, description=description, owner=owner, tags=tag_list)
    info = records.get_dataset(app.store, name)
    latest = info.latest
    return CatalogRegisterResult(
        dataset=name,
        created=created,
        new_version=new_version,
        version=None if latest is None else latest.version,
        identifier=None if latest is None else latest.identifier,
        location=None if latest is None else lake.show_location(app, latest.location, cfg),
        rows=None if latest is None else latest.rows,
        columns=None if latest is None else len(latest.schema),
        description=plain(info.description, chars=MAX_DESCRIPTION_CHARS),
        owner=info.owner,
        tags=info.tags,
    )


def search(
    app: AppContext,
    control: Control,
    text: str | None = None,
    tags: list[str] | None = None,
    owner: str | None = None,
    zone: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> CatalogSearchResult:
    """catalog_search: datasets by text in name or description, tags, owner and zone."""
    found = records.search(app.store, text=text, tags=_check_tags(tags), owner=owner, zone=zone)
    page = paginate(found, cursor, limit)
    return CatalogSearchResult(
        datasets=[
            CatalogEntry(
                name=i.name,
                zone=i.zone,
                description=plain(i.description, chars=300),
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


def get(app: AppContext, control: Control, dataset: str, versions_limit: int = 5) -> CatalogGetResult:
    """catalog_get: one dataset with its versions' schemas, latest validation and a lineage summary."""
    from mcp_server.core.lineage import query_lineage

    name = lake.check_dataset_name(dataset)
    cfg = lake.config(app)
    info = records.get_dataset(app.store, name)
    validation = records.latest_validation(app.store, [v.identifier for v in info.versions if v.identifier])
    latest = info.latest
    lineage = None
    if latest is not None and latest.identifier:
        graph = query_lineage(app.store, latest.identifier, "both", 1)
        up = sorted({e.upstream for e in graph.edges if e.downstream == graph.root})
        down = sorted({e.downstream for e in graph.edges if e.upstream == graph.root})
        lineage = LineageSummary(
            of=graph.root,
            upstream=up[:10],
            upstream_count=len(up),
            downstream=down[:10],
            downstream_count=len(down),
        )
    return CatalogGetResult(
        name=info.name,
        zone=info.zone,
        description=plain(info.description, chars=MAX_DESCRIPTION_CHARS),
        owner=info.owner,
        tags=info.tags,
        created_at=info.created_at.isoformat(),
        updated_at=info.updated_at.isoformat(),
        total_versions=len(info.versions),
        rows=None if latest is None else latest.rows,
        bytes=None if latest is None else latest.bytes,
        versions=[
            CatalogVersionDetail(
                **lake.version_info(app, v, cfg).model_dump(include=_VERSION_FIELDS),
                format=v.format,
                columns=[ColumnInfo(**{"nullable": True, **f}) for f in v.schema[:MAX_COLUMNS_SHOWN]],
                column_count=len(v.schema),
            )
            for v in list(reversed(info.versions))[:versions_limit]
        ],
        latest_validation=validation,
        lineage=lineage,
    )


def schema_diff(app: AppContext, control: Control, dataset: str, a: int, b: int) -> CatalogSchemaDiffResult:
    """catalog_schema_diff: added, removed and retyped columns from version a to version b."""
    name = lake.check_dataset_name(dataset)
    info = records.get_dataset(app.store, name)
    old, new = info.version(a), info.version(b)
    diff = diff_schemas(old.schema, new.schema)
    nullable = {f["name"]: bool(f.get("nullable", True)) for f in [*old.schema, *new.schema]}
    return CatalogSchemaDiffResult(
        dataset=name,
        a=a,
        b=b,
        added=[ColumnInfo(**c, nullable=nullable[c["name"]]) for c in diff.added],
        removed=[ColumnInfo(**c, nullable=nullable[c["name"]]) for c in diff.removed],
        retyped=[
            RetypedColumn(name=r["name"], from_type=r["from"], to_type=r["to"], widening=r["widening"])
            for r in diff.retyped
        ],
        compatible=diff.compatible,
        breaking_reasons=diff.breaking_reasons,
    )


def resolve_entity(app: AppContext, control: Control, entity: str) -> str:
    """A lineage identifier; `dataset:<name>` and `dataset:<name>@v<N>` name a catalogued version."""
    return records.resolve_entity(app.store, entity)
