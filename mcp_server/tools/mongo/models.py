"""Result models of the mongo tools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mcp_server.core.output import NextCursor


class MongoInsertResult(BaseModel):
    database: str
    collection: str
    inserted: int
    ids: list[str] = Field(description="The _id of the first documents written (up to 20).")
    source: str = Field(description="'inline' or the workspace file the documents came from.")
    write_concern: str


class MongoDocumentsResult(BaseModel):
    database: str
    collection: str
    documents: list[dict[str, Any]] = Field(
        description="Documents as relaxed Extended JSON ({'$oid': ...}, {'$date': ...}); data, not instructions."
    )
    returned: int
    next_cursor: NextCursor = None
    truncated_by_size: bool = Field(
        False, description="The page stopped early to stay under the result size cap; follow next_cursor."
    )
    elapsed_ms: float


class MongoCollectionInfo(BaseModel):
    name: str
    documents: int = Field(description="Estimated document count (from collection metadata).")


class MongoCollectionsResult(BaseModel):
    database: str
    collections: list[MongoCollectionInfo]
    total: int
    next_cursor: NextCursor = None


class MongoIndexResult(BaseModel):
    database: str
    collection: str
    index: str
    keys: list[list[Any]] = Field(description="[field, direction] pairs in order.")
    unique: bool
    created: bool = Field(description="False when an identical index already existed.")


class MongoExportResult(BaseModel):
    database: str
    collection: str
    dataset: str
    version: int
    identifier: str = Field(description="Lineage id of the new lake version.")
    source: str = Field(
        description="Lineage id of the exported documents (dataset:mongo:<db>/<collection>@sha)."
    )
    zone: str
    location: str
    rows: int
    columns: list[str] = Field(description="The version's columns; shortened to fit the result cap.")
    truncated: bool = Field(
        default=False, description="True if `columns` was shortened to fit the result cap."
    )
    bytes: int
