"""The mongo tools: insert, find, aggregate, list collections, create indexes and export to the lake.

Filters, projections, sorts and pipelines are checked against an allowlist (guard.py) before anything
is sent; pymongo work runs off the event loop in adapter.py with the configured timeouts, so a server
that does not answer is an error within the deadline. Results are capped and paginated with cursors.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.blocking import StepControl, run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.errors import InvalidInput
from mcp_server.core.output import decode_cursor, encode_cursor
from mcp_server.tools.mongo import guard
from mcp_server.tools.mongo.models import (
    MongoCollectionInfo,
    MongoCollectionsResult,
    MongoDocumentsResult,
    MongoExportResult,
    MongoIndexResult,
    MongoInsertResult,
)

Collection = Annotated[
    str, Field(description="Collection name in the configured database (letters, digits, '.', '_', '-').")
]
Filter = Annotated[
    dict[str, Any],
    Field(
        description=(
            'MongoDB filter, e.g. {"status": "active", "age": {"$gte": 30}}; allowed operators only '
            "($where, $function and other server-side code are refused)."
        )
    ),
]
Projection = Annotated[
    dict[str, Any] | None, Field(description='Fields to return, e.g. {"name": 1, "_id": 0}; default all.')
]
Cursor = Annotated[str | None, Field(description="From a previous page's next_cursor.")]

RESULT_ENVELOPE_BYTES = 1_500  # room for the fields around the documents


def _budget(app: AppContext) -> int:
    return max(1_000, app.settings.max_output_bytes - RESULT_ENVELOPE_BYTES)


def _ready(app: AppContext) -> None:
    from mcp_server.tools.mongo import adapter

    if not adapter.configured(app):
        raise InvalidInput(adapter.NOT_CONFIGURED)


def _deadline(app: AppContext) -> float:
    # pymongo's own total timeout fires first; this bounds the thread as well.
    return min(app.settings.deadline_s, app.settings.mongo_timeout_s + 5.0)


async def mongo_insert(
    ctx: Ctx,
    collection: Collection,
    documents: Annotated[
        list[dict[str, Any]] | None,
        Field(
            description="Documents to insert (JSON objects; no '$' keys). Give this or `file`.",
            max_length=1000,
        ),
    ] = None,
    file: Annotated[
        str | None, Field(description="A .json (array) or .jsonl file of documents in the workspace.")
    ] = None,
) -> MongoInsertResult:
    """Insert documents (inline or from a JSON/JSONL file in the workspace) into a MongoDB collection with the configured write concern."""
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    name = guard.check_collection(collection)
    if (documents is None) == (file is None):
        raise InvalidInput("Give either `documents` or `file`, not both and not neither.")
    _ready(app)
    path = app.workspace.resolve(file, must_exist=True) if file is not None else None

    def work(control: StepControl) -> tuple[list[str], int]:
        docs: list[Any] = (
            list(documents or [])
            if path is None
            else adapter.read_documents(path, app.settings.mongo_max_insert, app.settings.max_file_bytes)
        )
        if not docs:
            raise InvalidInput("There are no documents to insert.")
        checked = [guard.check_document(d, f"documents[{i}]") for i, d in enumerate(docs)]
        return adapter.insert(app, name, checked, control.step), len(checked)

    ids, count = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return MongoInsertResult(
        database=app.settings.mongo_database,
        collection=name,
        inserted=count,
        ids=ids[: adapter.MAX_IDS_SHOWN],
        source="inline" if path is None else app.workspace.display(path),
        write_concern=adapter.write_concern_text(app.settings),
    )


async def mongo_find(
    ctx: Ctx,
    collection: Collection,
    filter: Filter | None = None,
    projection: Projection = None,
    sort: Annotated[
        dict[str, Literal[1, -1]] | None,
        Field(description='Sort order, e.g. {"created": -1}; default by _id.'),
    ] = None,
    limit: Annotated[int, Field(description="Documents per page (capped by the server).", ge=1)] = 20,
    cursor: Cursor = None,
) -> MongoDocumentsResult:
    """Find documents in a MongoDB collection with a checked filter, projection and sort; paginated with cursors."""
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    name = guard.check_collection(collection)
    checked = guard.check_filter(filter or {})
    proj = guard.check_projection(projection) if projection else None
    order = guard.check_sort(sort) if sort else None
    offset = decode_cursor(cursor)
    size = min(limit, app.settings.mongo_max_results)
    _ready(app)
    started = time.perf_counter()
    page = await run_blocking(
        adapter.find_page,
        app,
        name,
        checked,
        proj,
        order,
        offset,
        size,
        _budget(app),
        deadline_s=_deadline(app),
    )
    return MongoDocumentsResult(
        database=app.settings.mongo_database,
        collection=name,
        documents=page.documents,
        returned=len(page.documents),
        next_cursor=None if page.next_offset is None else encode_cursor(page.next_offset),
        truncated_by_size=page.truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


async def mongo_aggregate(
    ctx: Ctx,
    collection: Collection,
    pipeline: Annotated[
        list[dict[str, Any]],
        Field(
            description=(
                'Aggregation stages, e.g. [{"$match": {...}}, {"$group": {"_id": "$segment", "n": {"$sum": 1}}}]; '
                "read-only stages only ($out/$merge are refused)."
            ),
            max_length=50,
        ),
    ],
    limit: Annotated[int, Field(description="Result documents per page (capped by the server).", ge=1)] = 50,
    cursor: Cursor = None,
) -> MongoDocumentsResult:
    """Run a checked, read-only aggregation pipeline on a MongoDB collection; results paginated with cursors."""
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    name = guard.check_collection(collection)
    checked = guard.check_pipeline(pipeline)
    offset = decode_cursor(cursor)
    size = min(limit, app.settings.mongo_max_results)
    _ready(app)
    started = time.perf_counter()
    page = await run_blocking(
        adapter.aggregate_page, app, name, checked, offset, size, _budget(app), deadline_s=_deadline(app)
    )
    return MongoDocumentsResult(
        database=app.settings.mongo_database,
        collection=name,
        documents=page.documents,
        returned=len(page.documents),
        next_cursor=None if page.next_offset is None else encode_cursor(page.next_offset),
        truncated_by_size=page.truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


async def mongo_list_collections(
    ctx: Ctx,
    cursor: Cursor = None,
    limit: Annotated[int, Field(description="Collections per page.", ge=1, le=200)] = 50,
) -> MongoCollectionsResult:
    """List the collections of the configured MongoDB database with their estimated document counts."""
    from mcp_server.core.output import paginate
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    _ready(app)
    found = await run_blocking(adapter.list_collections, app, deadline_s=_deadline(app))
    page = paginate(found, cursor, limit)
    return MongoCollectionsResult(
        database=app.settings.mongo_database,
        collections=[MongoCollectionInfo(name=c.name, documents=c.documents) for c in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


async def mongo_create_index(
    ctx: Ctx,
    collection: Collection,
    keys: Annotated[
        dict[str, Literal[1, -1, "text", "hashed", "2dsphere"]],
        Field(
            description='Index keys in order, e.g. {"user_id": 1, "created": -1}.',
            min_length=1,
            max_length=16,
        ),
    ],
    unique: Annotated[bool, Field(description="Refuse documents that repeat the key.")] = False,
    name: Annotated[
        str | None, Field(description="Index name; default MongoDB's (field_direction_...).", max_length=128)
    ] = None,
) -> MongoIndexResult:
    """Create an index on a MongoDB collection (optionally unique); an identical existing index is reported, not an error."""
    from mcp_server.core.workspace import check_name
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    coll = guard.check_collection(collection)
    pairs: list[tuple[str, Any]] = []
    for field_name, direction in keys.items():
        guard.check_plain({field_name: 1}, "keys")
        if field_name.startswith("$") or not field_name:
            raise InvalidInput("Index key fields must be field names, not operators.")
        pairs.append((field_name, direction))
    index_name = check_name(name, "index name") if name else None
    _ready(app)
    made, created = await run_blocking(
        adapter.create_index, app, coll, pairs, unique, index_name, deadline_s=app.settings.deadline_s
    )
    return MongoIndexResult(
        database=app.settings.mongo_database,
        collection=coll,
        index=made,
        keys=[[k, v] for k, v in pairs],
        unique=unique,
        created=created,
    )


async def mongo_export(
    ctx: Ctx,
    collection: Collection,
    dataset: Annotated[
        str, Field(description="Lake dataset to write a new version of (letters, digits, '.', '_', '-').")
    ],
    filter: Filter | None = None,
    projection: Projection = None,
    zone: Annotated[
        Literal["raw", "processed", "curated"] | None,
        Field(description="Lake zone; default the dataset's zone, or raw if new."),
    ] = None,
) -> MongoExportResult:
    """Export the documents matching a filter to a new lake dataset version (Parquet, one column per top-level field) with lineage from the collection."""
    from mcp_server.core.lineage import dataset_id
    from mcp_server.tools.mongo import adapter

    app = app_context(ctx)
    coll = guard.check_collection(collection)
    checked = guard.check_filter(filter or {})
    proj = guard.check_projection(projection) if projection else None
    _ready(app)
    try:
        from mcp_server.tools.lake.tools import (
            check_dataset_name,
            lake_config,
            show_location,
            write_new_version,
        )
    except ImportError:  # pragma: no cover - the lake extra is part of mongo's install
        raise InvalidInput("mongo_export needs the lake area (pip install 'mlops-mcp[lake]').") from None
    name = check_dataset_name(dataset)
    cfg = lake_config(app)
    db_name = app.settings.mongo_database

    def work(control: StepControl) -> tuple[Any, ...]:
        import pyarrow.dataset as ds

        from mcp_server.tools.lake import adapter as lake_adapter

        table, digest = adapter.export_table(app, coll, checked, proj, app.settings.max_rows, control.step)
        source_id = dataset_id(f"mongo:{db_name}/{coll}", digest)
        reservation, stats, identifier = write_new_version(
            app,
            cfg,
            name=name,
            zone=zone,
            operation="write",
            dataset=ds.dataset(table),
            partition_by=[],
            compression="zstd",
            row_group_size=lake_adapter.DEFAULT_ROW_GROUP,
            source_id=source_id,
            edge_kind="mongo_export",
            allow_breaking=False,
            control=control,
        )
        return reservation, stats, identifier, source_id, table.column_names

    reservation, stats, identifier, source_id, columns = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return MongoExportResult(
        database=db_name,
        collection=coll,
        dataset=name,
        version=reservation.version,
        identifier=identifier,
        source=source_id,
        zone=reservation.zone or "raw",
        location=show_location(app, cfg, reservation.location),
        rows=stats.rows,
        columns=list(columns),
        bytes=stats.bytes,
    )
