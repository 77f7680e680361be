"""The mongo tools: insert, find, aggregate, list collections, create indexes and export to the lake.

Arguments only: the use cases, the allowlist check of filters and pipelines and the timeouts are in
service.py, guard.py and adapter.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.args import Cursor, Limit200, Zone
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.mongo import service
from mcp_server.tools.mongo.models import (
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
    return await service_call(ctx, service.insert, collection, documents, file)


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
    return await service_call(ctx, service.find, collection, filter, projection, sort, limit, cursor)


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
    return await service_call(ctx, service.aggregate, collection, pipeline, limit, cursor)


async def mongo_list_collections(
    ctx: Ctx,
    cursor: Cursor = None,
    limit: Limit200 = 50,
) -> MongoCollectionsResult:
    """List the collections of the configured MongoDB database with their estimated document counts."""
    return await service_call(ctx, service.list_collections, cursor, limit)


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
    return await service_call(ctx, service.create_index, collection, keys, unique, name)


async def mongo_export(
    ctx: Ctx,
    collection: Collection,
    dataset: Annotated[
        str, Field(description="Lake dataset to write a new version of (letters, digits, '.', '_', '-').")
    ],
    filter: Filter | None = None,
    projection: Projection = None,
    zone: Annotated[
        Zone | None, Field(description="Lake zone; default the dataset's zone, or raw if new.")
    ] = None,
) -> MongoExportResult:
    """Export the documents matching a filter to a new lake dataset version (Parquet, one column per top-level field) with lineage from the collection."""
    return await service_call(ctx, service.export, collection, dataset, filter, projection, zone)
