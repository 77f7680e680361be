"""The mongo area's use cases: insert, find, aggregate, list collections, create indexes, export to the lake.

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary. Filters, projections, sorts and pipelines are checked against guard.py's allowlist
before anything is sent; pymongo work is adapter.py, each operation within MLOPS_MCP_MONGO_TIMEOUT_S and
the call's deadline. Pages stop early to stay under the result size cap and continue with a cursor. An
export becomes a lake version through the lake's service.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput
from mcp_server.core.lineage import dataset_id
from mcp_server.core.output import decode_cursor, encode_cursor, paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.mongo import adapter, guard
from mcp_server.tools.mongo.models import (
    MongoCollectionInfo,
    MongoCollectionsResult,
    MongoDocumentsResult,
    MongoExportResult,
    MongoIndexResult,
    MongoInsertResult,
)

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext

RESULT_ENVELOPE_BYTES = 1_500  # room for the fields around the documents


def _ready(app: AppContext) -> None:
    if not adapter.configured(app):
        raise InvalidInput(adapter.NOT_CONFIGURED)


def _budget(app: AppContext) -> int:
    return max(1_000, app.settings.max_output_bytes - RESULT_ENVELOPE_BYTES)


def _documents(app: AppContext, collection: str, page: adapter.Page, started: float) -> MongoDocumentsResult:
    return MongoDocumentsResult(
        database=app.settings.mongo_database,
        collection=collection,
        documents=page.documents,
        returned=len(page.documents),
        next_cursor=None if page.next_offset is None else encode_cursor(page.next_offset),
        truncated_by_size=page.truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def insert(
    app: AppContext,
    control: Control,
    collection: str,
    documents: list[dict[str, Any]] | None = None,
    file: str | None = None,
) -> MongoInsertResult:
    """mongo_insert: documents given inline or in a JSON/JSONL workspace file."""
    name = guard.check_collection(collection)
    if (documents is None) == (file is None):
        raise InvalidInput("Give either `documents` or `file`, not both and not neither.")
    _ready(app)
    path = app.workspace.resolve(file, must_exist=True) if file is not None else None
    docs: list[Any] = (
        list(documents or [])
        if path is None
        else adapter.read_documents(path, app.settings.mongo_max_insert, app.settings.max_file_bytes)
    )
    if not docs:
        raise InvalidInput("There are no documents to insert.")
    checked = [guard.check_document(d, f"documents[{i}]") for i, d in enumerate(docs)]
    ids = adapter.insert(app, control, name, checked)
    return MongoInsertResult(
        database=app.settings.mongo_database,
        collection=name,
        inserted=len(checked),
        ids=ids[: adapter.MAX_IDS_SHOWN],
        source="inline" if path is None else app.workspace.display(path),
        write_concern=adapter.write_concern_text(app.settings),
    )


def find(
    app: AppContext,
    control: Control,
    collection: str,
    filter: dict[str, Any] | None = None,
    projection: dict[str, Any] | None = None,
    sort: dict[str, Any] | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> MongoDocumentsResult:
    """mongo_find: one page of the documents matching a checked filter."""
    name = guard.check_collection(collection)
    checked = guard.check_filter(filter or {})
    proj = guard.check_projection(projection) if projection else None
    order = guard.check_sort(sort) if sort else None
    offset = decode_cursor(cursor)
    _ready(app)
    started = time.perf_counter()
    size = min(limit, app.settings.mongo_max_results)
    page = adapter.find_page(app, control, name, checked, proj, order, offset, size, _budget(app))
    return _documents(app, name, page, started)


def aggregate(
    app: AppContext,
    control: Control,
    collection: str,
    pipeline: list[dict[str, Any]],
    limit: int = 50,
    cursor: str | None = None,
) -> MongoDocumentsResult:
    """mongo_aggregate: one page of a checked, read-only pipeline's results."""
    name = guard.check_collection(collection)
    checked = guard.check_pipeline(pipeline)
    offset = decode_cursor(cursor)
    _ready(app)
    started = time.perf_counter()
    size = min(limit, app.settings.mongo_max_results)
    page = adapter.aggregate_page(app, control, name, checked, offset, size, _budget(app))
    return _documents(app, name, page, started)


def list_collections(
    app: AppContext, control: Control, cursor: str | None = None, limit: int = 50
) -> MongoCollectionsResult:
    """mongo_list_collections: the database's collections with estimated counts."""
    _ready(app)
    page = paginate(adapter.list_collections(app, control), cursor, limit)
    return MongoCollectionsResult(
        database=app.settings.mongo_database,
        collections=[MongoCollectionInfo(name=c.name, documents=c.documents) for c in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


def create_index(
    app: AppContext,
    control: Control,
    collection: str,
    keys: dict[str, Any],
    unique: bool = False,
    name: str | None = None,
) -> MongoIndexResult:
    """mongo_create_index: an index on field names (an identical existing index is reported)."""
    coll = guard.check_collection(collection)
    pairs: list[tuple[str, Any]] = []
    for field_name, direction in keys.items():
        guard.check_plain({field_name: 1}, "keys")
        if field_name.startswith("$") or not field_name:
            raise InvalidInput("Index key fields must be field names, not operators.")
        pairs.append((field_name, direction))
    index_name = check_name(name, "index name") if name else None
    _ready(app)
    made, created = adapter.create_index(app, control, coll, pairs, unique, index_name)
    return MongoIndexResult(
        database=app.settings.mongo_database,
        collection=coll,
        index=made,
        keys=[[k, v] for k, v in pairs],
        unique=unique,
        created=created,
    )


def export(
    app: AppContext,
    control: Control,
    collection: str,
    dataset: str,
    filter: dict[str, Any] | None = None,
    projection: dict[str, Any] | None = None,
    zone: str | None = None,
) -> MongoExportResult:
    """mongo_export: the matching documents as a new lake version, with an edge from the collection."""
    from mcp_server.tools.lake import service as lake

    coll = guard.check_collection(collection)
    checked = guard.check_filter(filter or {})
    proj = guard.check_projection(projection) if projection else None
    _ready(app)
    name = lake.check_dataset_name(dataset)
    db_name = app.settings.mongo_database
    table, digest = adapter.export_table(app, control, coll, checked, proj, app.settings.max_rows)
    source_id = dataset_id(f"mongo:{db_name}/{coll}", digest)
    written = lake.write(app, control, table, name, zone, source_id=source_id, edge_kind="mongo_export")
    return MongoExportResult(
        database=db_name,
        collection=coll,
        dataset=name,
        version=written.version,
        identifier=written.identifier,
        source=source_id,
        zone=written.zone,
        location=written.location,
        rows=written.rows,
        columns=list(table.column_names),
        bytes=written.bytes,
    )
