"""The lake tools: immutable, versioned Parquet datasets on local disk or S3, read with push-down."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

if TYPE_CHECKING:
    from mcp_server.tools.catalog import records

from mcp_server.core.blocking import StepControl, run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.datasets import dataset_ref
from mcp_server.core.errors import Conflict, InvalidInput
from mcp_server.core.lineage import dataset_id
from mcp_server.core.output import artifact_uri, paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.lake.models import (
    ColumnInfo,
    LakeCompactResult,
    LakeConvertResult,
    LakeDatasetSummary,
    LakeListResult,
    LakeReadResult,
    LakeVersionInfo,
    LakeVersionsResult,
    LakeWriteResult,
    SchemaChange,
)

Zone = Literal["raw", "processed", "curated"]
Compression = Literal["zstd", "snappy", "gzip"]
FilterTriple = Annotated[
    list[Any],
    Field(
        min_length=3,
        max_length=3,
        description='[column, op, value], e.g. ["age", ">=", 30] or ["segment", "in", ["a", "b"]].',
    ),
]

AllowBreaking = Annotated[
    bool, Field(description="Accept a schema that removes or retypes columns of the previous version.")
]
LakeEngine = Annotated[
    Literal["auto", "arrow", "spark"],
    Field(
        description="arrow (pyarrow in this process, bounded by the server's row limit), spark (the "
        "configured Spark master, for versions over that limit) or auto (Spark when the version has more "
        "rows than the limit and Spark is configured)."
    ),
]
DatasetName = Annotated[
    str,
    Field(
        description="Dataset name in the catalog: letters, digits, '.', '_', '-' (no '..').", max_length=128
    ),
]


def check_dataset_name(name: str) -> str:
    """A catalog dataset name: the identifier rule, and never '..' (it becomes a folder name)."""
    if isinstance(name, str) and ".." in name:
        raise InvalidInput("The dataset name may not contain '..'; use letters, digits, '.', '_' or '-'.")
    return check_name(name, "dataset name")


def lake_config(app: AppContext) -> Any:
    from mcp_server.tools.lake import adapter

    s = app.settings
    return adapter.make_config(s.lake_root, s.home, s.s3_endpoint_url, s.s3_region, s.url_allowlist)


def show_location(app: AppContext, cfg: Any, location: str) -> str:
    """How a version's location is shown: s3:// as is, <lake>/..., or a workspace path."""
    if location.startswith("s3://"):
        return location
    shown: str = cfg.show(location)
    if shown.startswith("<lake>"):
        return shown
    return app.workspace.display(Path(location))


def _columns(schema: list[dict[str, Any]]) -> list[ColumnInfo]:
    return [
        ColumnInfo(name=f["name"], type=f["type"], nullable=bool(f.get("nullable", True))) for f in schema
    ]


def _change(diff: Any) -> SchemaChange | None:
    if diff is None:
        return None
    return SchemaChange(
        added=[a["name"] for a in diff.added],
        removed=[r["name"] for r in diff.removed],
        retyped=[f"{r['name']}: {r['from']} -> {r['to']}" for r in diff.retyped],
        compatible=diff.compatible,
    )


def write_new_version(
    app: AppContext,
    cfg: Any,
    *,
    name: str,
    zone: str | None,
    operation: str,
    dataset: Any,
    partition_by: list[str],
    compression: str,
    row_group_size: int,
    source_id: str,
    edge_kind: str,
    allow_breaking: bool,
    control: StepControl,
    max_rows_per_file: int = 0,
    write: Any = None,
) -> tuple[records.Reservation, Any, str]:
    """Reserve the next version, write its files, then mark it ready with its lineage edge (or failed)."""
    from mcp_server.tools.catalog import records
    from mcp_server.tools.lake import adapter

    schema = dataset.schema.remove_metadata()
    adapter.check_partition_columns(schema, partition_by)
    if cfg.is_s3:
        adapter.s3_preflight(cfg, cfg.root)
    reservation = records.reserve_version(
        app.store,
        name=name,
        zone=zone,
        operation=operation,
        location=lambda z, n: cfg.version_dir(z or "raw", name, n),
        fmt="parquet",
        schema=adapter.schema_fields(schema),
        arrow_schema=adapter.schema_to_b64(schema),
        partition_by=partition_by,
        compression=compression,
        row_group_size=row_group_size,
        source=source_id,
        allow_breaking=allow_breaking,
    )
    try:
        if write is not None:  # another engine writes the files (Spark: lake_compact engine=spark)
            stats = write(reservation.location)
        else:
            stats = adapter.write_version(
                cfg,
                dataset,
                reservation.location,
                partition_by=partition_by,
                compression=compression,
                row_group_size=row_group_size,
                max_rows=app.settings.max_rows,
                step=control.step,
                name=name,
                max_rows_per_file=max_rows_per_file,
            )
        identifier = dataset_id(name, stats.digest)
        records.finish_version(
            app.store,
            reservation.version_id,
            identifier=identifier,
            rows=stats.rows,
            bytes_=stats.bytes,
            files=stats.files,
            row_groups=stats.row_groups,
            edges=[
                (
                    source_id,
                    identifier,
                    edge_kind,
                    {"version": reservation.version, "zone": reservation.zone, "rows": stats.rows},
                )
            ],
        )
    except BaseException as exc:
        records.fail_version(app.store, reservation.version_id)
        if not isinstance(exc, Conflict):  # a Conflict here means files we did not write: keep them
            adapter.delete_location(cfg, reservation.location)
        raise
    return reservation, stats, identifier


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
    compression: Annotated[Compression, Field(description="Parquet compression codec.")] = "zstd",
    row_group_size: Annotated[
        int | None,
        Field(description="Rows per Parquet row group (default 1,048,576).", ge=1_000, le=10_000_000),
    ] = None,
    allow_breaking: AllowBreaking = False,
) -> LakeWriteResult:
    """Write a file into the data lake as a new immutable Parquet version of a dataset, registered in the catalog with lineage; refuses breaking schema changes unless allow_breaking."""
    from mcp_server.tools.lake import adapter

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    path = app.workspace.resolve(source, must_exist=True)
    cfg = lake_config(app)
    parts = list(partition_by or [])
    rg = row_group_size or adapter.DEFAULT_ROW_GROUP

    def work(control: StepControl) -> tuple[Any, ...]:
        data, _fmt = adapter.open_source(path, app.settings.max_rows, app.settings.max_file_bytes)
        source_id = dataset_ref(app.store, path)
        reservation, stats, identifier = write_new_version(
            app,
            cfg,
            name=name,
            zone=zone,
            operation="write",
            dataset=data,
            partition_by=parts,
            compression=compression,
            row_group_size=rg,
            source_id=source_id,
            edge_kind="lake_write",
            allow_breaking=allow_breaking,
            control=control,
        )
        return reservation, stats, identifier, source_id, adapter.schema_fields(data.schema.remove_metadata())

    reservation, stats, identifier, source_id, fields = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return LakeWriteResult(
        dataset=name,
        version=reservation.version,
        identifier=identifier,
        zone=reservation.zone or "raw",
        location=show_location(app, cfg, reservation.location),
        rows=stats.rows,
        files=stats.files,
        row_groups=stats.row_groups,
        bytes=stats.bytes,
        compression=compression,
        partition_by=parts,
        columns=_columns(fields),
        source=source_id,
        previous_version=reservation.previous,
        schema_change=_change(reservation.diff),
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
    include_samples: Annotated[
        bool, Field(description="Return the first rows inline (they reach the model).")
    ] = True,
    sample_rows: Annotated[int, Field(description="How many rows to return inline.", ge=1, le=50)] = 10,
    engine: LakeEngine = "auto",
) -> LakeReadResult:
    """Read a lake dataset version with column projection and [column, op, value] filter push-down; returns matched_rows, a sample and a link to the full result as Parquet."""
    from mcp_server.tools.lake import adapter

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    cfg = lake_config(app)
    reports = app.settings.home / "reports" / "lake"
    out = reports / f"{name}-{uuid.uuid4().hex[:10]}.parquet"

    def work(control: StepControl) -> tuple[Any, Any, float, Literal["arrow", "spark"]]:
        from mcp_server.tools.catalog import records

        started = time.perf_counter()
        found = records.get_version(app.store, name, version)
        chosen = lake_engine(app, engine, found.rows)
        if chosen == "spark":
            from mcp_server.tools.lake import spark_adapter

            if found.format != "parquet":
                raise InvalidInput("engine=spark reads Parquet versions; convert this one with lake_convert.")
            stats = spark_adapter.read_version(
                _spark_session(app),
                found.location,
                f"{name} v{found.version}",
                columns=columns,
                filters=filters,
                limit=limit,
                sample_rows=sample_rows if include_samples else 0,
                out_path=out,
                control=control,
            )
            return found, stats, time.perf_counter() - started, chosen
        data = adapter.open_version(cfg, found.location, found.format, found.arrow_schema, found.partition_by)
        stats = adapter.read_version(
            data,
            cfg,
            f"{name} v{found.version}",
            columns=columns,
            filters=filters,
            limit=limit,
            max_rows=app.settings.max_rows,
            sample_rows=sample_rows if include_samples else 0,
            out_path=out,
            step=control.step,
        )
        return found, stats, time.perf_counter() - started, chosen

    found, stats, elapsed, chosen = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return LakeReadResult(
        dataset=name,
        version=found.version,
        identifier=found.identifier,
        matched_rows=stats.matched_rows,
        returned_rows=stats.returned_rows,
        truncated=stats.truncated,
        columns=stats.columns,
        sample=stats.sample if include_samples else [],
        result=artifact_uri(app.settings.home, out),
        result_bytes=stats.result_bytes,
        elapsed_ms=round(elapsed * 1000, 2),
        engine=chosen,
    )


async def lake_list(
    ctx: Ctx,
    zone: Annotated[Zone | None, Field(description="Only datasets in this zone.")] = None,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(description="Datasets per page.", ge=1, le=100)] = 25,
) -> LakeListResult:
    """List the datasets in the lake and catalog with their newest version, rows and size; use catalog_search to filter by text, tag or owner."""
    import anyio.to_thread

    from mcp_server.tools.catalog import records

    app = app_context(ctx)
    cfg = lake_config(app)
    found = await anyio.to_thread.run_sync(lambda: records.search(app.store, zone=zone))
    page = paginate(found, cursor, limit)
    items = []
    for info in page.items:
        latest = info.latest
        items.append(
            LakeDatasetSummary(
                name=info.name,
                zone=info.zone,
                latest_version=None if latest is None else latest.version,
                versions=len(info.versions),
                rows=None if latest is None else latest.rows,
                bytes=None if latest is None else latest.bytes,
                location=None if latest is None else show_location(app, cfg, latest.location),
                updated_at=info.updated_at.isoformat(),
            )
        )
    root = cfg.root if cfg.is_s3 else show_location(app, cfg, cfg.root)
    return LakeListResult(datasets=items, total=page.total, next_cursor=page.next_cursor, lake_root=root)


def lake_engine(app: AppContext, requested: str, rows: int | None) -> Literal["arrow", "spark"]:
    """arrow or spark for a version of `rows` rows (auto: Spark above the row limit when configured)."""
    from mcp_server.core.spark import choose_engine, spark_master

    if requested == "arrow":
        return "arrow"
    if requested == "spark":
        choose_engine(app.settings, "spark", rows, 0)  # refuses when Spark is not configured
        return "spark"
    big = rows is not None and rows > app.settings.max_rows
    return "spark" if big and spark_master(app.settings) is not None else "arrow"


def _spark_session(app: AppContext) -> Any:
    from mcp_server.core.spark import spark_engine

    return spark_engine(app).session()


def version_info(app: AppContext, cfg: Any, v: records.VersionInfo) -> LakeVersionInfo:
    return LakeVersionInfo(
        version=v.version,
        identifier=v.identifier or "",
        operation=v.operation,
        location=show_location(app, cfg, v.location),
        rows=v.rows,
        bytes=v.bytes,
        files=v.files,
        row_groups=v.row_groups,
        compression=v.compression,
        partition_by=v.partition_by,
        columns=len(v.schema),
        source=v.source,
        created_at=v.created_at.isoformat(),
    )


async def lake_versions(
    ctx: Ctx,
    dataset: DatasetName,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(description="Versions per page.", ge=1, le=100)] = 25,
) -> LakeVersionsResult:
    """List a dataset's immutable versions, newest first, with rows, size, files, layout and source."""
    import anyio.to_thread

    from mcp_server.tools.catalog import records

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    cfg = lake_config(app)
    info = await anyio.to_thread.run_sync(lambda: records.get_dataset(app.store, name))
    page = paginate(list(reversed(info.versions)), cursor, limit)
    return LakeVersionsResult(
        dataset=name,
        versions=[version_info(app, cfg, v) for v in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


async def lake_convert(
    ctx: Ctx,
    path: Annotated[str, Field(description="A .csv, .tsv, .jsonl or .json file in the workspace.")],
    output: Annotated[
        str | None, Field(description="Parquet file to write; default: the same name with .parquet.")
    ] = None,
    compression: Annotated[Compression, Field(description="Parquet compression codec.")] = "zstd",
    overwrite: Annotated[bool, Field(description="Replace an existing output file.")] = False,
) -> LakeConvertResult:
    """Convert a CSV or JSON file to Parquet in the workspace, reporting size and full-scan time before and after."""
    from mcp_server.tools.lake import adapter

    app = app_context(ctx)
    src = app.workspace.resolve(path, must_exist=True)
    if adapter.source_format(src) == "parquet":
        raise InvalidInput(f"'{src.name}' is already Parquet; give a CSV or JSON file.")
    out = app.workspace.resolve(output) if output else src.with_suffix(".parquet")
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidInput("The output must be a .parquet file.")
    if out == src:
        raise InvalidInput("The output must differ from the source file.")
    if out.exists() and not overwrite:
        raise Conflict(
            f"'{app.workspace.display(out)}' already exists; pass overwrite=true or another output."
        )

    def work(control: StepControl) -> tuple[Any, str, str]:
        source_id = dataset_ref(app.store, src)
        stats = adapter.convert_to_parquet(
            src,
            out,
            compression=compression,
            max_rows=app.settings.max_rows,
            max_bytes=app.settings.max_file_bytes,
            step=control.step,
        )
        out_id = dataset_ref(app.store, out)
        from mcp_server.core.lineage import record_edge

        record_edge(
            app.store, source_id, out_id, "converted", {"format": "parquet", "compression": compression}
        )
        return stats, source_id, out_id

    stats, _source_id, out_id = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return LakeConvertResult(
        source=app.workspace.display(src),
        output=app.workspace.display(out),
        rows=stats.rows,
        columns=stats.columns,
        compression=compression,
        source_bytes=stats.source_bytes,
        parquet_bytes=stats.parquet_bytes,
        size_ratio=round(stats.parquet_bytes / max(stats.source_bytes, 1), 4),
        source_scan_s=round(stats.source_scan_s, 4),
        parquet_scan_s=round(stats.parquet_scan_s, 4),
        scan_ratio=round(stats.parquet_scan_s / max(stats.source_scan_s, 1e-9), 4),
        identifier=out_id,
    )


async def lake_compact(
    ctx: Ctx,
    dataset: DatasetName,
    row_group_size: Annotated[
        int | None,
        Field(description="Target rows per row group (default 1,048,576).", ge=1_000, le=10_000_000),
    ] = None,
    engine: LakeEngine = "auto",
) -> LakeCompactResult:
    """Rewrite a dataset's newest version (small files and row groups) into right-sized Parquet files as a new version, keeping its partitioning."""
    from mcp_server.tools.lake import adapter

    app = app_context(ctx)
    name = check_dataset_name(dataset)
    cfg = lake_config(app)
    rg = row_group_size or adapter.COMPACT_ROW_GROUP

    def work(control: StepControl) -> tuple[Any, ...]:
        from mcp_server.tools.catalog import records

        info = records.get_dataset(app.store, name)
        old = info.version(None)
        data = adapter.open_version(cfg, old.location, old.format, old.arrow_schema, old.partition_by)
        assert old.identifier is not None
        chosen = lake_engine(app, engine, old.rows)
        write = None
        if chosen == "spark":
            from mcp_server.tools.lake import spark_adapter

            if old.format != "parquet":
                raise InvalidInput("engine=spark compacts Parquet versions; use engine=arrow for this one.")
            session = _spark_session(app)

            def write(target: str) -> Any:
                return spark_adapter.write_version(
                    session,
                    cfg,
                    old.location,
                    target,
                    recorded_schema=data.schema,
                    partition_by=old.partition_by,
                    compression=old.compression or "zstd",
                    row_group_size=rg,
                    max_rows_per_file=rg * 8,
                    source_bytes=old.bytes,
                    source_rows=old.rows,
                    what=f"{name} v{old.version}",
                    control=control,
                )

        reservation, stats, identifier = write_new_version(
            app,
            cfg,
            name=name,
            zone=info.zone,
            operation="compact",
            dataset=data,
            partition_by=old.partition_by,
            compression=old.compression or "zstd",
            row_group_size=rg,
            source_id=old.identifier,
            edge_kind="compacted",
            allow_breaking=False,
            control=control,
            max_rows_per_file=rg * 8,
            write=write,
        )
        return old, reservation, stats, identifier, chosen

    old, reservation, stats, identifier, chosen = await run_blocking(
        work, deadline_s=app.settings.deadline_s, report=progress_reporter(ctx), with_control=True
    )
    return LakeCompactResult(
        dataset=name,
        from_version=old.version,
        version=reservation.version,
        identifier=identifier,
        location=show_location(app, cfg, reservation.location),
        rows=stats.rows,
        files_before=old.files or 0,
        files_after=stats.files,
        row_groups_before=old.row_groups or 0,
        row_groups_after=stats.row_groups,
        bytes_before=old.bytes or 0,
        bytes_after=stats.bytes,
        engine=chosen,
    )
