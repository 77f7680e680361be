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

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mcp_server.core.blocking import StepControl


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
    columns = df.columns
    condition = None
    for index, triple in enumerate(filters):
        if not isinstance(triple, list | tuple) or len(triple) != 3:
            raise InvalidInput(f"filters[{index}] must be a [column, op, value] triple.")
        column, op, value = triple
        if not isinstance(column, str) or column not in columns:
            raise InvalidInput(
                f"filters[{index}]: unknown column {adapter._show(column)}; the dataset has "
                f"{', '.join(repr(c) for c in columns[:20])}."
            )
        if not isinstance(op, str) or op not in adapter.OPS:
            raise InvalidInput(
                f"filters[{index}]: unknown operator {adapter._show(op)}; use one of {', '.join(adapter.OPS)}."
            )
        ref = F.col(column)
        if op in ("in", "not in"):
            if not isinstance(value, list) or not value:
                raise InvalidInput(f"filters[{index}]: '{op}' needs a non-empty list of values.")
            if len(value) > adapter.MAX_IN_VALUES:
                raise InvalidInput(f"filters[{index}]: '{op}' takes at most {adapter.MAX_IN_VALUES} values.")
            if any(isinstance(v, dict | list) for v in value):
                raise InvalidInput(f"filters[{index}]: the values for {adapter._show(column)} must be plain.")
            member = ref.isin(value)
            # pyarrow: a null is not in any list, and `not in` keeps only non-null values.
            term = F.coalesce(member, F.lit(False)) if op == "in" else F.coalesce(~member, F.lit(False))
        elif isinstance(value, dict | list):
            raise InvalidInput(
                f"filters[{index}]: the value for {adapter._show(column)} must be a plain value."
            )
        elif value is None:
            if op == "==":
                term = ref.isNull()
            elif op == "!=":
                term = ref.isNotNull()
            else:
                raise InvalidInput(f"filters[{index}]: null can only be compared with == or !=.")
        else:
            lit = F.lit(value)
            term = {
                "==": ref == lit,
                "!=": ref != lit,
                "<": ref < lit,
                "<=": ref <= lit,
                ">": ref > lit,
                ">=": ref >= lit,
            }[op]
            term = F.coalesce(term, F.lit(False))
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
    out_path: Path,
    control: StepControl | None = None,
) -> adapter.ReadStats:
    """Projection and filters on Spark; the matched rows (up to `limit`) written as one Parquet file."""
    step = control.step if control is not None else adapter._noop_step
    with job_group(session, control, f"lake read of {what}"):
        df = read_location(session, location, what)
        if columns is not None:
            if not columns:
                raise InvalidInput("columns is empty; omit it to read every column.")
            unknown = [c for c in columns if c not in df.columns]
            if unknown:
                raise InvalidInput(
                    f"Unknown column {adapter._show(unknown[0])}; the dataset has "
                    f"{', '.join(repr(c) for c in df.columns[:20])}."
                )
            if len(set(columns)) != len(columns):
                raise InvalidInput("columns lists a column twice; give each column once.")
        condition = spark_filter(df, filters)
        try:
            matched_df = df.where(condition) if condition is not None else df
            step(0, None, "counting matching rows with Spark")
            matched = int(matched_df.count())
            result = matched_df.select(*(columns or df.columns))
            if limit is not None and limit < matched:
                result = result.limit(limit)
            returned = min(matched, limit) if limit is not None else matched
            sample = [row.asDict() for row in result.limit(sample_rows).collect()] if sample_rows else []
            step(1, None, f"writing {returned} rows")
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
            if control is not None and control.cancelled:
                raise
            raise spark_error(exc, what) from None
    return adapter.ReadStats(
        matched_rows=matched,
        returned_rows=returned,
        columns=list(columns or df.columns),
        sample=[{k: adapter.json_safe(v) for k, v in row.items()} for row in sample],
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
    control: StepControl | None = None,
) -> adapter.WriteStats:
    """Rewrite a version with Spark into `target` (new and empty): right-sized files, the same partitions.

    Spark sizes row groups in bytes: the target is `row_group_size` rows at the source's bytes per row.
    The new files must read back under the version's recorded schema (checked with pyarrow).
    """
    import pyarrow.dataset as ds

    step = control.step if control is not None else adapter._noop_step
    per_row = (source_bytes or 0) / source_rows if source_rows else 0.0
    block = int(min(max(per_row * row_group_size * 3, 8 * 1024**2), 1024**3))  # ~3x: decoded vs compressed
    with job_group(session, control, f"lake compaction of {what}"):
        df = read_location(session, source_location, what)
        try:
            rows = int(df.count()) if source_rows is None else source_rows
            files = max(1, math.ceil(rows / max_rows_per_file)) if max_rows_per_file else 1
            step(0, None, f"writing {rows} rows into {files} file(s) with Spark")
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
            if control is not None and control.cancelled:
                raise
            text = str(exc)
            if "already exists" in text or "PATH_ALREADY_EXISTS" in text:
                raise Conflict(
                    f"The lake already holds files at {cfg.show(target)} that the catalog does not know; "
                    "remove them or write under another dataset name."
                ) from None
            raise spark_error(exc, what) from None
    fs, base = adapter.filesystem_for(cfg, target)
    if not cfg.is_s3:  # Hadoop's local filesystem leaves checksum files beside the data
        for crc in Path(base).rglob(".*.crc"):
            crc.unlink(missing_ok=True)
    stats = adapter.WriteStats()
    import pyarrow.parquet as pq

    with adapter.storage_errors(cfg, f"the new version at {cfg.show(target)}"):
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
                f"({str(exc).splitlines()[0][:160]}); compact it with engine=arrow."
            ) from None
    if readable != stats.rows or stats.rows != rows:
        raise Conflict(f"The compacted {what} has {stats.rows} rows instead of {rows}; nothing was kept.")
    if rows > 0 and stats.files == 0:  # pragma: no cover
        raise LimitExceeded("Spark wrote no files.")
    stats.digest = adapter.content_digest(cfg, target, paths if not cfg.is_s3 else None)
    return stats
