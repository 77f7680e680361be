"""The lake area's use cases: versioned Parquet datasets on local disk or S3, written, read, listed,
converted and compacted.

Plain synchronous functions `fn(app, control, ...) -> result model` (no MCP imports), called by the tools
through the boundary and by other areas' services (catalog registers locations, mongo exports documents,
validation reads versions). Versions are recorded in the catalog's records (metadata store); files are
written and read by adapter.py (pyarrow, boto3) or spark_adapter.py.

Locations are stored as `app.workspace.stored` gives them (`home:lake/...` under the home, root-relative
under a root, s3:// URIs as they are); `location()` turns a stored one back into a real path or URI, and
absolute values in older rows pass through.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.datasets import dataset_ref
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.lineage import dataset_id, record_edge
from mcp_server.core.output import artifact_uri, paginate
from mcp_server.core.tables import TableLimits, table_format
from mcp_server.core.values import copied
from mcp_server.core.workspace import check_name
from mcp_server.tools.catalog import records
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

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.tools.lake.adapter import LakeConfig, WriteStats

Engine = Literal["arrow", "spark"]


# -- names, configuration, locations --------------------------------------------------------------


def check_dataset_name(name: str) -> str:
    """A catalog dataset name: the identifier rule, and never '..' (it becomes a folder name)."""
    if isinstance(name, str) and ".." in name:
        raise InvalidInput("The dataset name may not contain '..'; use letters, digits, '.', '_' or '-'.")
    return check_name(name, "dataset name")


def config(app: AppContext) -> LakeConfig:
    from mcp_server.tools.lake import adapter

    s = app.settings
    return adapter.make_config(s.lake_root, s.home, s.s3_endpoint_url, s.s3_region, s.url_allowlist)


def location(app: AppContext, stored: str) -> str:
    """A stored location as a real one: an s3:// URI as it is, a path through the workspace."""
    return stored if stored.startswith("s3://") else str(app.workspace.from_stored(stored))


def _stored(app: AppContext, real: str) -> str:
    return real if real.startswith("s3://") else app.workspace.stored(Path(real))


def show_location(app: AppContext, stored: str, cfg: LakeConfig | None = None) -> str:
    """How a location is shown: s3:// as is, <lake>/..., or a workspace path."""
    real = location(app, stored)
    if real.startswith("s3://"):
        return real
    shown = (cfg or config(app)).show(real)
    return shown if shown.startswith("<lake>") else app.workspace.display(Path(real))


def find_version(
    app: AppContext, control: Control, dataset: str, version: int | None = None
) -> records.VersionInfo:
    """One ready version of a catalogued dataset (the newest by default), with its real location."""
    found = records.get_version(app.store, check_dataset_name(dataset), version)
    return replace(found, location=location(app, found.location))


def _engine(app: AppContext, requested: str, rows: int | None) -> Engine:
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


# -- writing versions -----------------------------------------------------------------------------


def _new_version(
    app: AppContext,
    control: Control,
    cfg: LakeConfig,
    *,
    name: str,
    zone: str | None,
    operation: str,
    data: Any,
    partition_by: list[str],
    compression: str,
    row_group_size: int,
    source_id: str,
    edge_kind: str,
    allow_breaking: bool,
    max_rows_per_file: int = 0,
    write: Callable[[str], WriteStats] | None = None,
    also_from: Sequence[tuple[str, str, dict[str, Any]]] = (),
    new_dataset: bool = False,
) -> tuple[records.Reservation, WriteStats, str]:
    """Reserve the next version, write its files, then mark it ready with its lineage edges (or failed):
    source -> version, and one more edge from each (upstream, kind, details) of `also_from`. With
    `new_dataset` the name must not be taken (checked in the reservation's transaction)."""
    from mcp_server.tools.lake import adapter

    schema = data.schema.remove_metadata()
    adapter.check_partition_columns(schema, partition_by)
    if cfg.is_s3:
        adapter.s3_preflight(cfg, cfg.root)
    reservation = records.reserve_version(
        app.store,
        name=name,
        zone=zone,
        operation=operation,
        location=lambda z, n: _stored(app, cfg.version_dir(z or "raw", name, n)),
        fmt="parquet",
        schema=adapter.schema_fields(schema),
        arrow_schema=adapter.schema_to_b64(schema),
        partition_by=partition_by,
        compression=compression,
        row_group_size=row_group_size,
        source=source_id,
        allow_breaking=allow_breaking,
        new_only=new_dataset,
    )
    target = location(app, reservation.location)
    try:
        if write is not None:  # another engine writes the files (Spark: lake_compact engine=spark)
            stats = write(target)
        else:
            stats = adapter.write_version(
                cfg,
                data,
                target,
                partition_by=partition_by,
                compression=compression,
                row_group_size=row_group_size,
                max_rows=app.settings.max_rows,
                step=control.step,
                name=name,
                max_rows_per_file=max_rows_per_file,
            )
        identifier = dataset_id(name, stats.digest)
        details = {"version": reservation.version, "zone": reservation.zone, "rows": stats.rows}
        edges = [(source_id, identifier, edge_kind, details)]
        edges += [(up, identifier, kind, {**details, **more}) for up, kind, more in also_from]
        records.finish_version(
            app.store, reservation.version_id, identifier=identifier, stats=stats, edges=edges
        )
    except BaseException as exc:
        records.fail_version(app.store, reservation.version_id)
        if not isinstance(exc, Conflict):  # a Conflict here means files we did not write: keep them
            adapter.delete_location(cfg, target)
        raise
    return reservation, stats, identifier


def write(
    app: AppContext,
    control: Control,
    source: Any,
    dataset: str,
    zone: str | None = None,
    partition_by: list[str] | None = None,
    compression: str = "zstd",
    row_group_size: int | None = None,
    allow_breaking: bool = False,
    *,
    source_id: str | None = None,
    edge_kind: str = "lake_write",
    also_from: Sequence[tuple[str, str, dict[str, Any]]] = (),
    new_dataset: bool = False,
) -> LakeWriteResult:
    """lake_write: a workspace file as a new version of a dataset. Other areas pass a pyarrow table,
    dataset or RecordBatchReader (streamed: written as it is read) as `source` with its lineage
    `source_id` (mongo_export, deploy_batch_predict), more upstreams in `also_from` ((id, edge kind,
    details), recorded with the version), and `new_dataset=True` to refuse a name that is taken."""
    from mcp_server.tools.lake import adapter

    name = check_dataset_name(dataset)
    if isinstance(source, str):
        path = app.workspace.resolve(source, must_exist=True)
        data, _fmt = adapter.open_source(path, TableLimits.of(app.settings))
        source_id = dataset_ref(app.store, path, workspace=app.workspace)
    else:
        data = adapter.as_dataset(source)
    assert source_id is not None
    cfg = config(app)
    parts = list(partition_by or [])
    reservation, stats, identifier = _new_version(
        app,
        control,
        cfg,
        name=name,
        zone=zone,
        operation="write",
        data=data,
        partition_by=parts,
        compression=compression,
        row_group_size=row_group_size or adapter.DEFAULT_ROW_GROUP,
        source_id=source_id,
        edge_kind=edge_kind,
        allow_breaking=allow_breaking,
        also_from=also_from,
        new_dataset=new_dataset,
    )
    return _write_result(
        app, cfg, name, data.schema, reservation, stats, identifier, compression, parts, source_id
    )


def _write_result(
    app: AppContext,
    cfg: LakeConfig,
    name: str,
    schema: Any,
    reservation: records.Reservation,
    stats: WriteStats,
    identifier: str,
    compression: str,
    parts: list[str],
    source_id: str,
) -> LakeWriteResult:
    from mcp_server.tools.lake import adapter

    columns = [ColumnInfo(**f) for f in adapter.schema_fields(schema.remove_metadata())]
    diff = reservation.diff
    return LakeWriteResult(
        dataset=name,
        version=reservation.version,
        identifier=identifier,
        zone=reservation.zone or "raw",
        location=show_location(app, reservation.location, cfg),
        rows=stats.rows,
        files=stats.files,
        row_groups=stats.row_groups,
        bytes=stats.bytes,
        compression=compression,
        partition_by=parts,
        columns=columns,
        column_count=len(columns),
        source=source_id,
        previous_version=reservation.previous,
        schema_change=None
        if diff is None
        else SchemaChange(
            added=[a["name"] for a in diff.added],
            removed=[r["name"] for r in diff.removed],
            retyped=[f"{r['name']}: {r['from']} -> {r['to']}" for r in diff.retyped],
            compatible=diff.compatible,
        ),
    )


def register_location(
    app: AppContext, control: Control, dataset: str, where: str, *, allow_breaking: bool = False
) -> bool:
    """Record the data at `where` (a real path or an s3:// URI) as a new version of `dataset`, unless the
    newest version is that content at that place already; True when a version was added."""
    from mcp_server.tools.lake import adapter

    name = check_dataset_name(dataset)
    cfg = config(app)
    found = adapter.inspect_location(cfg, where, app.settings.max_rows)
    local = None if where.startswith("s3://") else Path(where)
    if local is not None and local.is_file():
        identifier = dataset_ref(app.store, local, name)
    else:
        identifier = dataset_id(name, adapter.content_digest(cfg, where))
    try:
        latest: records.VersionInfo | None = find_version(app, control, name)
    except NotFound:
        latest = None
    if latest is not None and latest.identifier == identifier and latest.location == where:
        return False
    reservation = records.reserve_version(
        app.store,
        name=name,
        zone=None,
        operation="register",
        location=lambda _zone, _n: _stored(app, where),
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
    records.finish_version(app.store, reservation.version_id, identifier=identifier, stats=found, edges=[])
    return True


# -- reading and listing --------------------------------------------------------------------------


def read(
    app: AppContext,
    control: Control,
    dataset: str,
    version: int | None = None,
    columns: list[str] | None = None,
    filters: list[list[Any]] | None = None,
    limit: int | None = None,
    include_samples: bool = True,
    sample_rows: int = 10,
    engine: str = "auto",
    write_result: bool = False,
) -> LakeReadResult:
    """lake_read: projection and filter push-down; a sample inline, and the result as a Parquet artifact
    when asked (writing it is most of a selective read's time)."""
    from mcp_server.tools.lake import adapter

    name = check_dataset_name(dataset)
    cfg = config(app)
    out = (
        app.settings.home / "reports" / "lake" / f"{name}-{uuid.uuid4().hex[:10]}.parquet"
        if write_result
        else None
    )
    started = time.perf_counter()
    found = find_version(app, control, name, version)
    chosen = _engine(app, engine, found.rows)
    what = f"{name} v{found.version}"
    samples = sample_rows if include_samples else 0
    if chosen == "spark":
        from mcp_server.tools.lake import spark_adapter

        if found.format != "parquet":
            raise InvalidInput("engine=spark reads Parquet versions; convert this one with lake_convert.")
        stats = spark_adapter.read_version(
            _spark_session(app),
            found.location,
            what,
            columns=columns,
            filters=filters,
            limit=limit,
            sample_rows=samples,
            out_path=out,
            control=control,
        )
    else:
        data = adapter.open_version(
            cfg,
            found.location,
            found.format,
            found.arrow_schema,
            found.partition_by,
            identity=(found.id, found.created_at),
        )
        stats = adapter.read_version(
            data,
            cfg,
            what,
            columns=columns,
            filters=filters,
            limit=limit,
            max_rows=app.settings.max_rows,
            sample_rows=samples,
            out_path=out,
            step=control.step,
            location=found.location,
        )
    return LakeReadResult(
        dataset=name,
        version=found.version,
        identifier=found.identifier or "",
        matched_rows=stats.matched_rows,
        returned_rows=stats.returned_rows,
        truncated=stats.truncated,
        columns=stats.columns,
        sample=stats.sample if include_samples else [],
        result=artifact_uri(app.settings.home, out) if out is not None else None,
        result_bytes=stats.result_bytes,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        engine=chosen,
    )


def list_datasets(
    app: AppContext, control: Control, zone: str | None = None, cursor: str | None = None, limit: int = 25
) -> LakeListResult:
    """lake_list: the catalogued datasets with their newest version, newest change first."""
    cfg = config(app)
    page = paginate(records.search(app.store, zone=zone), cursor, limit)
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
                location=None if latest is None else show_location(app, latest.location, cfg),
                updated_at=info.updated_at.isoformat(),
            )
        )
    root = cfg.root if cfg.is_s3 else show_location(app, cfg.root, cfg)
    return LakeListResult(datasets=items, total=page.total, next_cursor=page.next_cursor, lake_root=root)


def version_info(app: AppContext, v: records.VersionInfo, cfg: LakeConfig | None = None) -> LakeVersionInfo:
    """A catalogued version as the lake shows it (catalog_get shows the same fields)."""
    return copied(
        LakeVersionInfo,
        v,
        identifier=v.identifier or "",
        location=show_location(app, v.location, cfg),
        columns=len(v.schema),
        created_at=v.created_at.isoformat(),
    )


def versions(
    app: AppContext, control: Control, dataset: str, cursor: str | None = None, limit: int = 25
) -> LakeVersionsResult:
    """lake_versions: a dataset's versions, newest first."""
    name = check_dataset_name(dataset)
    cfg = config(app)
    info = records.get_dataset(app.store, name)
    page = paginate(list(reversed(info.versions)), cursor, limit)
    return LakeVersionsResult(
        dataset=name,
        versions=[version_info(app, v, cfg) for v in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


# -- scanning for another area's job (deploy_batch_predict) -------------------------------------


def scan_version(
    app: AppContext, control: Control, dataset: str, version: int | None = None
) -> tuple[records.VersionInfo, Any]:
    """(the version, a pyarrow dataset over it) for a caller that reads it in record batches (bounded
    memory, no row limit: the caller streams)."""
    from mcp_server.tools.lake import adapter

    found = find_version(app, control, dataset, version)
    data = adapter.open_version(
        config(app), found.location, found.format, found.arrow_schema, found.partition_by
    )
    return found, data


def scan_file(app: AppContext, control: Control, path: Path) -> Any:
    """A pyarrow dataset over a workspace file (CSV, TSV, JSONL, Parquet streamed; a JSON array read
    whole under the table limits), read in record batches by the caller."""
    from mcp_server.tools.lake import adapter

    data, _fmt = adapter.open_source(path, TableLimits.of(app.settings))
    return data


def spark_frame(app: AppContext, control: Control, found: records.VersionInfo, what: str) -> Any:
    """A Spark DataFrame over a version from `scan_version` (Parquet versions only)."""
    from mcp_server.tools.lake import spark_adapter

    if found.format != "parquet":
        raise InvalidInput("Spark reads Parquet versions; convert this one with lake_convert first.")
    return spark_adapter.read_location(_spark_session(app), found.location, what)


def write_spark(
    app: AppContext,
    control: Control,
    frame: Any,
    dataset: str,
    arrow_schema: Any,
    *,
    source_id: str,
    edge_kind: str,
    also_from: Sequence[tuple[str, str, dict[str, Any]]] = (),
    new_dataset: bool = False,
    compression: str = "zstd",
) -> LakeWriteResult:
    """A Spark DataFrame (whose rows have `arrow_schema`) written by Spark as a new version of `dataset`,
    recorded like lake_write's (reservation, stats, digest, lineage edges)."""
    from mcp_server.tools.lake import adapter, spark_adapter

    name = check_dataset_name(dataset)
    cfg = config(app)
    schema = arrow_schema.remove_metadata()
    rg = adapter.DEFAULT_ROW_GROUP

    def spark_write(target: str) -> WriteStats:
        what = f"the new version of {name}"
        return spark_adapter.write_frame(
            cfg, frame, target, recorded_schema=schema, compression=compression, what=what, control=control
        )

    reservation, stats, identifier = _new_version(
        app,
        control,
        cfg,
        name=name,
        zone=None,
        operation="write",
        data=schema.empty_table(),
        partition_by=[],
        compression=compression,
        row_group_size=rg,
        source_id=source_id,
        edge_kind=edge_kind,
        allow_breaking=False,
        write=spark_write,
        also_from=also_from,
        new_dataset=new_dataset,
    )
    return _write_result(app, cfg, name, schema, reservation, stats, identifier, compression, [], source_id)


# -- converting and compacting --------------------------------------------------------------------


def convert(
    app: AppContext,
    control: Control,
    path: str,
    output: str | None = None,
    compression: str = "zstd",
    overwrite: bool = False,
) -> LakeConvertResult:
    """lake_convert: a CSV or JSON file to Parquet, with size and full-scan time before and after."""
    from mcp_server.tools.lake import adapter

    src = app.workspace.resolve(path, must_exist=True)
    if table_format(src, "source") == "parquet":
        raise InvalidInput(f"'{src.name}' is already Parquet; give a CSV or JSON file.")
    # A longer suffix is checked too.
    out = app.workspace.resolve_output(output or str(src.with_suffix(".parquet")))
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidInput("The output must be a .parquet file.")
    if out == src:
        raise InvalidInput("The output must differ from the source file.")
    if out.exists() and not overwrite:
        raise Conflict(
            f"'{app.workspace.display(out)}' already exists; pass overwrite=true or another output."
        )
    source_id = dataset_ref(app.store, src, workspace=app.workspace)
    stats = adapter.convert_to_parquet(
        src,
        out,
        compression=compression,
        limits=TableLimits.of(app.settings),
        step=control.step,
    )
    out_id = dataset_ref(app.store, out, workspace=app.workspace)
    record_edge(app.store, source_id, out_id, "converted", {"format": "parquet", "compression": compression})
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


def compact(
    app: AppContext,
    control: Control,
    dataset: str,
    row_group_size: int | None = None,
    engine: str = "auto",
) -> LakeCompactResult:
    """lake_compact: the newest version rewritten into right-sized files as a new version."""
    from mcp_server.tools.lake import adapter

    name = check_dataset_name(dataset)
    cfg = config(app)
    rg = row_group_size or adapter.COMPACT_ROW_GROUP
    info = records.get_dataset(app.store, name)
    newest = info.version(None)
    old = replace(newest, location=location(app, newest.location))
    data = adapter.open_version(cfg, old.location, old.format, old.arrow_schema, old.partition_by)
    assert old.identifier is not None
    chosen = _engine(app, engine, old.rows)
    spark_write = None
    if chosen == "spark":
        from mcp_server.tools.lake import spark_adapter

        if old.format != "parquet":
            raise InvalidInput("engine=spark compacts Parquet versions; use engine=arrow for this one.")
        session = _spark_session(app)

        def spark_write(target: str) -> WriteStats:
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

    reservation, stats, identifier = _new_version(
        app,
        control,
        cfg,
        name=name,
        zone=info.zone,
        operation="compact",
        data=data,
        partition_by=old.partition_by,
        compression=old.compression or "zstd",
        row_group_size=rg,
        source_id=old.identifier,
        edge_kind="compacted",
        allow_breaking=False,
        max_rows_per_file=rg * 8,
        write=spark_write,
    )
    return LakeCompactResult(
        dataset=name,
        from_version=old.version,
        version=reservation.version,
        identifier=identifier,
        location=show_location(app, reservation.location, cfg),
        rows=stats.rows,
        files_before=old.files or 0,
        files_after=stats.files,
        row_groups_before=old.row_groups or 0,
        row_groups_after=stats.row_groups,
        bytes_before=old.bytes or 0,
        bytes_after=stats.bytes,
        engine=chosen,
    )


# -- health -----------------------------------------------------------------------------------------


def probe(app: AppContext) -> str:
    """The lake root answers: a writable local folder, or an S3 bucket that answers a HEAD."""
    import os

    from mcp_server.tools.lake import adapter

    cfg = config(app)
    if cfg.is_s3:
        adapter.s3_preflight(cfg, cfg.root)
        return f"S3 bucket of {cfg.root} answers"
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    check = root / f".health-{uuid.uuid4().hex[:8]}"
    payload = os.urandom(16)
    try:
        check.write_bytes(payload)
        if check.read_bytes() != payload:
            raise OSError(5, "read back different bytes")
    finally:
        check.unlink(missing_ok=True)
    return "local folder: write, read and delete ok"
