"""The lake's Spark engine: `lake_read` and `lake_compact` on the shared Spark session, for versions too big
for one process (the pyarrow path bounds them by MLOPS_MCP_MAX_ROWS).

Versions are read where they live (a local folder, or s3a:// for an s3:// lake, which needs the hadoop-aws
package on Spark's classpath). Filters are the same `[column, op, value]` triples as on pyarrow, turned
into Spark column expressions from an allowlist of operators; nothing the caller sent is evaluated.
pyspark and pyarrow are imported inside the functions.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput, LimitExceeded
from mcp_server.core.spark import job_group, spark_error, spark_uri
from mcp_server.tools.lake import adapter

WRITE_BLOCK_BYTES = 128 * 1024**2  # Parquet row groups of frames written for other areas (Spark's default)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mcp_server.core.boundary import Control


def read_location(session: SparkSession, location: str, what: str) -> DataFrame:
    try:
        return session.read.option("basePath", spark_uri(location)).parquet(spark_uri(location))
    except Exception as exc:
        raise spark_error(exc, what) from None


def spark_filter(df: DataFrame, filters: list[list[Any]] | None) -> Any:
    """`[column, op, value]` triples -> one Spark boolean column (AND), or None without filters."""
    from pyspark.sql import functions as F

    if not filters:
        return None
    condition = None
    for index, triple in enumerate(filters):
        column, op, value = adapter.check_filter(index, triple, list(df.columns))
        ref = F.col(column)
        if op in ("in", "not in"):
            member = ref.isin(value)
            # pyarrow: a null is not in any list, and `not in` keeps only non-null values.
            term = F.coalesce(member, F.lit(False)) if op == "in" else F.coalesce(~member, F.lit(False))
        elif value is None:
            term = ref.isNull() if op == "==" else ref.isNotNull()
        else:
            term = F.coalesce(adapter.COMPARE[op](ref, F.lit(value)), F.lit(False))
        condition = term if condition is None else condition & term
    return condition


def read_version(
    session: SparkSession,
    location: str,
    what: str,
    *,
    columns: list[str] | None,
    filters: list[list[Any]] | None,
    limit: int | None,
    sample_rows: int,
    out_path: Path | None,
    control: Control,
) -> adapter.ReadStats:
    """Projection and filters on Spark; the matched rows (up to `limit`) written as one Parquet file when
    `out_path` is given."""
    with job_group(session, control, f"lake read of {what}"):
        df = read_location(session, location, what)
        columns = adapter.check_columns(list(df.columns), columns)
        condition = spark_filter(df, filters)
        try:
            matched_df = df.where(condition) if condition is not None else df
            control.step(0, None, "counting matching rows with Spark")
            matched = int(matched_df.count())
            result = matched_df.select(*(columns or df.columns))
            if limit is not None and limit < matched:
                result = result.limit(limit)
            returned = min(matched, limit) if limit is not None else matched
            sample = [row.asDict() for row in result.limit(sample_rows).collect()] if sample_rows else []
            if out_path is None:
                return adapter.ReadStats(
                    matched_rows=matched,
                    returned_rows=returned,
                    columns=list(columns or df.columns),
                    sample=adapter.json_rows(sample),
                    result_bytes=0,
                    truncated=returned < matched,
                )
            control.step(1, None, f"writing {returned} rows")
            out_path.parent.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", dir=out_path.parent))
            try:
                target = folder / "out"
                result.coalesce(1).write.option("compression", "none").parquet(str(target))
                parts = sorted(target.glob("part-*.parquet"))
                if len(parts) != 1:  # pragma: no cover - coalesce(1) writes one file
                    raise Conflict("Spark did not write a single result file; read again.")
                os.replace(parts[0], out_path)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        except (InvalidInput, Conflict):
            raise
        except Exception as exc:
            if control.cancelled:
                raise
            raise spark_error(exc, what) from None
    return adapter.ReadStats(
        matched_rows=matched,
        returned_rows=returned,
        columns=list(columns or df.columns),
        sample=adapter.json_rows(sample),
        result_bytes=out_path.stat().st_size,
        truncated=returned < matched,
    )


def write_version(
    session: SparkSession,
    cfg: adapter.LakeConfig,
    source_location: str,
    target: str,
    *,
    recorded_schema: Any,
    partition_by: list[str],
    compression: str,
    row_group_size: int,
    max_rows_per_file: int,
    source_bytes: int | None,
    source_rows: int | None,
    what: str,
    control: Control,
) -> adapter.WriteStats:
    """Rewrite a version with Spark into `target` (new and empty): right-sized files, the same partitions.

    Spark sizes row groups in bytes: the target is `row_group_size` rows at the source's bytes per row.
    The new files must read back under the version's recorded schema (checked with pyarrow).
    """
    per_row = (source_bytes or 0) / source_rows if source_rows else 0.0
    block = int(min(max(per_row * row_group_size * 3, 8 * 1024**2), 1024**3))  # ~3x: decoded vs compressed
    fs, base = adapter.check_free(cfg, target)
    with job_group(session, control, f"lake compaction of {what}"):
        df = read_location(session, source_location, what)
        try:
            rows = int(df.count()) if source_rows is None else source_rows
            files = max(1, math.ceil(rows / max_rows_per_file)) if max_rows_per_file else 1
            control.step(0, None, f"writing {rows} rows into {files} file(s) with Spark")
            out = df.repartition(*partition_by) if partition_by else df.repartition(files)
            writer = (
                out.write.mode("errorifexists")
                .option("compression", compression)
                .option("maxRecordsPerFile", max_rows_per_file or 0)
                .option("parquet.block.size", block)
            )
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.parquet(spark_uri(target))
        except Exception as exc:
            if control.cancelled:
                raise
            raise spark_error(exc, what) from None
    return _written(cfg, fs, base, target, recorded_schema, partition_by, what, rows)


def write_frame(
    cfg: adapter.LakeConfig,
    frame: DataFrame,
    target: str,
    *,
    recorded_schema: Any,
    compression: str,
    what: str,
    control: Control,
) -> adapter.WriteStats:
    """Write a DataFrame another area computed (deploy_batch_predict's scores) into `target` (new and
    empty) as Parquet, one file per partition of the frame; checked to read back under `recorded_schema`."""
    fs, base = adapter.check_free(cfg, target)
    session = frame.sparkSession
    with job_group(session, control, f"writing {what}"):
        try:
            (
                frame.write.mode("errorifexists")
                .option("compression", compression)
                .option("parquet.block.size", WRITE_BLOCK_BYTES)
                .parquet(spark_uri(target))
            )
        except Exception as exc:
            if control.cancelled:
                raise
            raise spark_error(exc, what) from None
    return _written(cfg, fs, base, target, recorded_schema, [], what, None)


def _written(
    cfg: adapter.LakeConfig,
    fs: Any,
    base: str,
    target: str,
    recorded_schema: Any,
    partition_by: list[str],
    what: str,
    rows: int | None,
) -> adapter.WriteStats:
    """The stats of the files Spark wrote under `target` (checksum files removed), after checking they read
    back under `recorded_schema` with `rows` rows (when known)."""
    import pyarrow.dataset as ds

    if not cfg.is_s3:  # Hadoop's local filesystem leaves checksum files beside the data
        for crc in Path(base).rglob(".*.crc"):
            crc.unlink(missing_ok=True)
    stats = adapter.WriteStats()
    import pyarrow.parquet as pq

    with adapter.storage_errors(cfg, f"the new version at {cfg.show(target)}", target):
        paths = [p for p in adapter._list_files(fs, base) if p.endswith(".parquet")]
        for path in paths:
            with fs.open_input_file(path) as fh:
                meta = pq.ParquetFile(fh).metadata
                stats.rows += meta.num_rows
                stats.row_groups += meta.num_row_groups
            stats.bytes += int(fs.get_file_info(path).size or 0)
            stats.files += 1
        stats.paths = paths
        try:
            check = ds.dataset(
                base,
                filesystem=fs,
                format="parquet",
                schema=recorded_schema,
                partitioning=adapter._partitioning(recorded_schema, partition_by),
            )
            readable = check.count_rows()
        except Exception as exc:
            raise InvalidInput(
                f"Spark wrote {what} with types the version's schema cannot read "
                f"({str(exc).splitlines()[0][:160]}); use engine=arrow."
            ) from None
    if readable != stats.rows or (rows is not None and stats.rows != rows):
        raise Conflict(f"The new {what} has {stats.rows} rows instead of {rows}; nothing was kept.")
    if (rows or 0) > 0 and stats.files == 0:  # pragma: no cover
        raise LimitExceeded("Spark wrote no files.")
    stats.digest = adapter.content_digest(cfg, target, paths if not cfg.is_s3 else None)
    return stats
