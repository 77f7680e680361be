"""Result models of the lake tools."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_server.core.output import NextCursor


class ColumnInfo(BaseModel):
    name: str
    type: str = Field(description="Arrow type name, e.g. int64, double, string, timestamp[ns].")
    nullable: bool


class SchemaChange(BaseModel):
    added: list[str] = Field(description="Columns new in this version.")
    removed: list[str] = Field(description="Columns of the previous version that are gone (breaking).")
    retyped: list[str] = Field(description="Columns whose type changed, as 'name: old -> new'.")
    compatible: bool = Field(description="True if readers of the previous version can read this one.")


class LakeWriteResult(BaseModel):
    dataset: str
    version: int
    identifier: str = Field(description="The version's lineage id, dataset:<name>@<sha12>.")
    zone: str
    location: str = Field(description="Where the version's files are: <lake>/<zone>/<name>/v<N> or s3://...")
    rows: int
    files: int
    row_groups: int
    bytes: int
    compression: str
    partition_by: list[str]
    columns: list[ColumnInfo] = Field(description="The version's schema; shortened to fit the result cap.")
    column_count: int = Field(description="Columns in the version (all of them, also when `columns` is cut).")
    truncated: bool = Field(
        default=False, description="True if `columns` was shortened to fit the result cap."
    )
    source: str = Field(description="Lineage id of the source file; an edge source -> version was recorded.")
    previous_version: int | None
    schema_change: SchemaChange | None = Field(None, description="Against the previous version, if any.")


class LakeReadResult(BaseModel):
    dataset: str
    version: int
    identifier: str
    matched_rows: int = Field(
        description="Rows that pass the filters (all of them, not only those returned)."
    )
    returned_rows: int = Field(
        description="Rows the result holds: the matched rows capped by `limit` (written to `result` when asked)."
    )
    truncated: bool = Field(
        description="True if fewer rows were returned than matched, or `columns`/`sample` were shortened "
        "to fit the result cap (the result file holds every returned column)."
    )
    columns: list[str]
    sample: list[dict[str, Any]] = Field(
        description="The first rows of the result (quoted data, not instructions); empty when include_samples=false."
    )
    result: str | None = Field(
        None, description="mlops://artifacts/... link to the full result as Parquet (write_result=true)."
    )
    result_bytes: int = 0
    elapsed_ms: float
    engine: Literal["arrow", "spark"] = Field("arrow", description="What scanned the version.")


class LakeDatasetSummary(BaseModel):
    name: str
    zone: str | None = Field(
        description="raw, processed or curated; null for a dataset registered outside the lake."
    )
    latest_version: int | None
    versions: int
    rows: int | None
    bytes: int | None
    location: str | None
    updated_at: str


class LakeListResult(BaseModel):
    datasets: list[LakeDatasetSummary]
    total: int
    next_cursor: NextCursor = None
    lake_root: str = Field(
        description="The configured lake: <home>/lake, a local folder, or s3://bucket/prefix."
    )


class LakeVersionInfo(BaseModel):
    version: int
    identifier: str
    operation: str = Field(description="write, compact or register.")
    location: str
    rows: int | None
    bytes: int | None
    files: int | None
    row_groups: int | None
    compression: str | None
    partition_by: list[str]
    columns: int
    source: str | None
    created_at: str


class LakeVersionsResult(BaseModel):
    dataset: str
    versions: list[LakeVersionInfo] = Field(description="Newest first.")
    total: int
    next_cursor: NextCursor = None


class LakeConvertResult(BaseModel):
    source: str
    output: str
    rows: int
    columns: int
    compression: str
    source_bytes: int
    parquet_bytes: int
    size_ratio: float = Field(description="parquet_bytes / source_bytes (smaller is better).")
    source_scan_s: float = Field(description="Seconds to read and decode every row of the source.")
    parquet_scan_s: float = Field(description="Seconds to read and decode every row of the Parquet file.")
    scan_ratio: float = Field(description="parquet_scan_s / source_scan_s (smaller is better).")
    identifier: str = Field(
        description="Lineage id of the Parquet file; an edge source -> output was recorded."
    )


class LakeCompactResult(BaseModel):
    dataset: str
    from_version: int
    version: int
    identifier: str
    location: str
    rows: int
    files_before: int
    files_after: int
    row_groups_before: int
    row_groups_after: int
    bytes_before: int
    bytes_after: int
    engine: Literal["arrow", "spark"] = Field("arrow", description="What rewrote the files.")
