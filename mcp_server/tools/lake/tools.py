"""The lake tools: immutable, versioned Parquet datasets on local disk or S3, read with push-down."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.args import AllowBreaking, Cursor, DatasetName, IncludeSamples, Limit100, Overwrite, Zone
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx
from mcp_server.tools.lake import service
from mcp_server.tools.lake.models import (
    LakeCompactResult,
    LakeConvertResult,
    LakeListResult,
    LakeReadResult,
    LakeVersionsResult,
    LakeWriteResult,
)

Compression = Annotated[Literal["zstd", "snappy", "gzip"], Field(description="Parquet compression codec.")]
RowGroupSize = Annotated[
    int | None, Field(description="Rows per Parquet row group (default 1,048,576).", ge=1_000, le=10_000_000)
]
FilterTriple = Annotated[
    list[Any],
    Field(
        min_length=3,
        max_length=3,
        description='[column, op, value], e.g. ["age", ">=", 30] or ["segment", "in", ["a", "b"]].',
    ),
]

LakeEngine = Annotated[
    Literal["auto", "arrow", "spark"],
    Field(
        description="arrow (pyarrow in this process, bounded by the server's row limit), spark (the "
        "configured Spark master, for versions over that limit) or auto (Spark when the version has more "
        "rows than the limit and Spark is configured)."
    ),
]


async def lake_write(
    ctx: Ctx,
    source: Annotated[
        str, Field(description="A .parquet, .csv, .tsv, .jsonl or .json file in the workspace.")
    ],
    dataset: DatasetName,
    zone: Annotated[
        Zone | None,
        Field(description="raw, processed or curated; default: the dataset's zone, or raw if new."),
    ] = None,
    partition_by: Annotated[
        list[str] | None, Field(description="Columns to partition by (hive folders col=value).", max_length=4)
    ] = None,
    compression: Compression = "zstd",
    row_group_size: RowGroupSize = None,
    allow_breaking: AllowBreaking = False,
) -> LakeWriteResult:
    """Write a file into the data lake as a new immutable Parquet version of a dataset, registered in the catalog with lineage; refuses breaking schema changes unless allow_breaking."""
    return await service_call(
        ctx, service.write, source, dataset, zone, partition_by, compression, row_group_size, allow_breaking
    )


async def lake_read(
    ctx: Ctx,
    dataset: DatasetName,
    version: Annotated[int | None, Field(description="Version number; default the newest.", ge=1)] = None,
    columns: Annotated[
        list[str] | None, Field(description="Columns to read (projection); default all.")
    ] = None,
    filters: Annotated[
        list[FilterTriple] | None,
        Field(
            description="[column, op, value] triples, all must hold; op: == != < <= > >= in 'not in'.",
            max_length=32,
        ),
    ] = None,
    limit: Annotated[int | None, Field(description="Return at most this many rows.", ge=1)] = None,
    include_samples: IncludeSamples = True,
    sample_rows: Annotated[int, Field(description="How many rows to return inline.", ge=1, le=50)] = 10,
    engine: LakeEngine = "auto",
    write_result: Annotated[
        bool,
        Field(description="Also write every returned row to a Parquet artifact and link it (result)."),
    ] = False,
) -> LakeReadResult:
    """Read a lake dataset version with column projection and [column, op, value] filter push-down; returns matched_rows and a sample, and with write_result=true a link to the full result as Parquet."""
    return await service_call(
        ctx,
        service.read,
        dataset,
        version,
        columns,
        filters,
        limit,
        include_samples,
        sample_rows,
        engine,
        write_result,
    )


async def lake_list(
    ctx: Ctx,
    zone: Annotated[Zone | None, Field(description="Only datasets in this zone.")] = None,
    cursor: Cursor = None,
    limit: Limit100 = 25,
) -> LakeListResult:
    """List the datasets in the lake and catalog with their newest version, rows and size; use catalog_search to filter by text, tag or owner."""
    return await service_call(ctx, service.list_datasets, zone, cursor, limit)


async def lake_versions(
    ctx: Ctx,
    dataset: DatasetName,
    cursor: Cursor = None,
    limit: Limit100 = 25,
) -> LakeVersionsResult:
    """List a dataset's immutable versions, newest first, with rows, size, files, layout and source."""
    return await service_call(ctx, service.versions, dataset, cursor, limit)


async def lake_convert(
    ctx: Ctx,
    path: Annotated[str, Field(description="A .csv, .tsv, .jsonl or .json file in the workspace.")],
    output: Annotated[
        str | None, Field(description="Parquet file to write; default: the same name with .parquet.")
    ] = None,
    compression: Compression = "zstd",
    overwrite: Overwrite = False,
) -> LakeConvertResult:
    """Convert a CSV or JSON file to Parquet in the workspace, reporting size and full-scan time before and after."""
    return await service_call(ctx, service.convert, path, output, compression, overwrite)


async def lake_compact(
    ctx: Ctx,
    dataset: DatasetName,
    row_group_size: RowGroupSize = None,
    engine: LakeEngine = "auto",
) -> LakeCompactResult:
    """Rewrite a dataset's newest version (small files and row groups) into right-sized Parquet files as a new version, keeping its partitioning."""
    return await service_call(ctx, service.compact, dataset, row_group_size, engine)
