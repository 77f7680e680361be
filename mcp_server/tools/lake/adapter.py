"""pyarrow (and boto3 for S3) behind the lake tools: versioned, partitioned Parquet on local disk or S3.

Plain functions, no MCP imports. Every expected library failure becomes a project error here: a down S3
endpoint is BackendUnavailable (explicit connect/request timeouts, two attempts at most), a malformed
file or filter is InvalidInput. pyarrow, pandas and boto3 are imported inside the functions.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import operator
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, LimitExceeded, NotFound
from mcp_server.core.files import atomic_path
from mcp_server.core.net import check_url
from mcp_server.core.store.redact import mask_url
from mcp_server.core.tables import TableLimits, table_format
from mcp_server.core.values import plain

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

ZONES = ("raw", "processed", "curated")
COMPRESSIONS = ("zstd", "snappy", "gzip")
COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
OPS = (*COMPARE, "in", "not in")

CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 30.0
MAX_ATTEMPTS = 2  # bounded retries on S3: one try and one retry
MAX_PARTITIONS = 1024
DEFAULT_ROW_GROUP = 1_048_576  # pyarrow's own default maximum
COMPACT_ROW_GROUP = 1_048_576
MAX_IN_VALUES = 10_000
MAX_SAMPLE_ROWS = 50
MAX_CELL_CHARS = 200
BATCH_ROWS = 131_072

Step = Callable[[float, float | None, str | None], None]


def _noop_step(done: float, total: float | None = None, message: str | None = None) -> None:
    return None


# -- where the lake is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeConfig:
    root: str  # a local absolute path or s3://bucket/prefix
    endpoint_url: str | None
    region: str

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def version_dir(self, zone: str, name: str, version: int) -> str:
        return f"{self.root.rstrip('/')}/{zone}/{name}/v{version}"

    def show(self, location: str) -> str:
        """A location as shown to the assistant: s3:// URIs as they are, lake paths as <lake>/..., other
        local paths by their last component (the tools show workspace paths themselves)."""
        if location.startswith("s3://"):
            return location
        if location == self.root or location.startswith(self.root.rstrip("/") + "/"):
            return "<lake>" + location[len(self.root.rstrip("/")) :]
        return Path(location).name


def make_config(
    lake_root: str | None, home: Path, endpoint_url: str | None, region: str, allowlist: list[str]
) -> LakeConfig:
    """The lake's configuration, with the endpoint checked against the URL allowlist before any use."""
    if lake_root is None or not lake_root.strip():
        root = _resolved(str(home / "lake"))
    elif lake_root.startswith("s3://"):
        bucket, _, prefix = lake_root[5:].partition("/")
        if not bucket:
            raise InvalidInput("MLOPS_MCP_LAKE_ROOT must name a bucket, as in s3://bucket/prefix.")
        root = f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
    elif "://" in lake_root:
        raise InvalidInput("MLOPS_MCP_LAKE_ROOT must be a local folder or an s3://bucket/prefix URI.")
    else:
        root = _resolved(lake_root)
    if endpoint_url:
        check_url(endpoint_url, allowlist)
    return LakeConfig(root=root, endpoint_url=endpoint_url or None, region=region)


@functools.lru_cache(maxsize=16)
def _resolved(folder: str) -> str:
    # Cached: resolving walks every folder of the path on each call (a tenth of a selective lake_read),
    # and a running server's lake root does not move.
    return str(Path(folder).expanduser().resolve())


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@functools.lru_cache(maxsize=8)
def _s3_filesystem(endpoint_url: str | None, region: str) -> pafs.S3FileSystem:
    from urllib.parse import urlsplit

    import pyarrow.fs as pafs

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata address for keys
    kwargs: dict[str, Any] = {}
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        kwargs["endpoint_override"] = parts.netloc.rpartition("@")[2]
        kwargs["scheme"] = parts.scheme
    return pafs.S3FileSystem(
        region=region,
        connect_timeout=CONNECT_TIMEOUT_S,
        request_timeout=REQUEST_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=MAX_ATTEMPTS),
        **kwargs,
    )


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, region: str) -> Any:
    import boto3
    from botocore.config import Config

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=REQUEST_TIMEOUT_S,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _where(cfg: LakeConfig) -> str:
    return mask_url(cfg.endpoint_url) if cfg.endpoint_url else "the S3 endpoint"


@contextlib.contextmanager
def _s3_errors(cfg: LakeConfig, bucket: str) -> Iterator[None]:
    """botocore's errors -> project errors, by botocore's error codes and exception classes."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise InvalidInput(
            "No S3 credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the server."
        ) from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise NotFound(
                f"The bucket {bucket!r} does not exist at {_where(cfg)}; create it first."
            ) from None
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise InvalidInput(
                f"Access to the bucket {bucket!r} was denied; check the server's S3 credentials."
            ) from None
        raise BackendUnavailable(
            f"{_where(cfg)} answered with error {code or 'unknown'}; retry later."
        ) from None
    except BotoCoreError as exc:
        raise BackendUnavailable(
            f"{_where(cfg)} did not answer ({type(exc).__name__}); check that it is running and "
            "MLOPS_MCP_S3_ENDPOINT_URL."
        ) from None


def s3_preflight(cfg: LakeConfig, uri: str) -> None:
    """One HEAD on the bucket (boto3, explicit timeouts): a down endpoint or a missing bucket fails fast."""
    bucket, _ = _split_s3(uri)
    with _s3_errors(cfg, bucket):
        _s3_client(cfg.endpoint_url, cfg.region).head_bucket(Bucket=bucket)


@contextlib.contextmanager
def storage_errors(cfg: LakeConfig, what: str, location: str | None = None) -> Iterator[None]:
    """pyarrow's filesystem errors -> project errors.

    pyarrow's S3 errors are OSErrors without an error code, so an S3 failure is diagnosed by one HEAD on
    the bucket with boto3 (read by botocore's error codes); if the bucket answers, the store failed the
    request itself.
    """
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(
            f"The files of {what} are missing from the lake; the version cannot be read."
        ) from None
    except OSError:
        uri = location or cfg.root
        if not uri.startswith("s3://"):
            raise
        s3_preflight(cfg, uri)
        raise BackendUnavailable(
            f"{_where(cfg)} failed a request while handling {what}; retry, or run health_check."
        ) from None


def filesystem_for(cfg: LakeConfig, location: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path of a location (local path or s3:// URI)."""
    import pyarrow.fs as pafs

    if location.startswith("s3://"):
        bucket, key = _split_s3(location)
        return _s3_filesystem(cfg.endpoint_url, cfg.region), f"{bucket}/{key}".rstrip("/")
    return pafs.LocalFileSystem(), location


# -- schemas ---------------------------------------------------------------------------------------


def schema_fields(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def schema_to_b64(schema: pa.Schema) -> str:
    return base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode()


def schema_from_b64(text: str) -> pa.Schema:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _partitioning(schema: pa.Schema, partition_by: list[str]) -> ds.Partitioning | None:
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not partition_by:
        return None
    return ds.partitioning(pa.schema([schema.field(c) for c in partition_by]), flavor="hive")


def check_partition_columns(schema: pa.Schema, partition_by: list[str]) -> None:
    import pyarrow.types as pat

    if len(set(partition_by)) != len(partition_by):
        raise InvalidInput("partition_by lists a column twice; give each column once.")
    for column in partition_by:
        if column not in schema.names:
            raise InvalidInput(f"partition_by names {column!r}, which is not a column of the source.")
        t = schema.field(column).type
        if pat.is_dictionary(t):
            t = t.value_type
        if not (
            pat.is_integer(t)
            or pat.is_string(t)
            or pat.is_large_string(t)
            or pat.is_boolean(t)
            or pat.is_date(t)
        ):
            raise InvalidInput(
                f"Cannot partition by {column!r} of type {t}; use an integer, string, boolean or date column."
            )
    if len(partition_by) == len(schema.names):
        raise InvalidInput("partition_by cannot take every column; leave at least one data column.")


# -- sources ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _arrow_errors(name: str, fmt: str) -> Iterator[None]:
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidInput(f"'{name}' could not be read as {fmt.upper()}: {reason}.") from None


def _file_format(fmt: str, what: str) -> Any:
    """pyarrow's dataset format for a source format; a JSON array file has none (it is read whole)."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    if fmt in ("csv", "tsv"):
        return ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter="," if fmt == "csv" else "\t"))
    if fmt == "jsonl":
        return ds.JsonFileFormat()
    if fmt != "parquet":
        raise InvalidInput(f"{what} is a JSON array file; convert it to Parquet with lake_convert first.")
    return "parquet"


def open_source(path: Path, limits: TableLimits) -> tuple[ds.Dataset, str]:
    """A pyarrow dataset over a source file (streamed, never loaded whole unless it is a JSON array).
    Streamed Parquet is decoded a row group at a time, so no row group may decode past the limit."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mcp_server.core.tables import check_file, check_parquet_decoded, read_table

    fmt = table_format(path, "source")
    check_file(path, limits.file_bytes)
    with _arrow_errors(path.name, fmt):
        if fmt == "parquet":
            check_parquet_decoded(path, limits.decoded_bytes, per_row_group=True)
        if fmt != "json":
            dataset = ds.dataset(str(path), format=_file_format(fmt, path.name))
        else:
            df = read_table(path, limits)
            dataset = ds.dataset(pa.Table.from_pandas(df, preserve_index=False))
        _ = dataset.schema
    if len(dataset.schema) == 0:
        raise InvalidInput(f"'{path.name}' has no columns.")
    return dataset, fmt


def as_dataset(data: Any) -> ds.Dataset:
    """A pyarrow dataset over `data` (a dataset as it is, a table in memory)."""
    import pyarrow.dataset as ds

    return data if isinstance(data, ds.Dataset) else ds.dataset(data)


def _bounded_batches(
    dataset: ds.Dataset, max_rows: int, step: Step, name: str, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    rows = 0
    for batch in dataset.to_batches(columns=columns, batch_size=BATCH_ROWS):
        rows += batch.num_rows
        if rows > max_rows:
            raise LimitExceeded(f"'{name}' has more than {max_rows} rows, the limit (MLOPS_MCP_MAX_ROWS).")
        step(rows, None, f"{rows} rows")
        yield batch


# -- writing a version -----------------------------------------------------------------------------


@dataclass
class WriteStats:
    rows: int = 0
    bytes: int = 0
    files: int = 0
    row_groups: int = 0
    digest: str = ""
    paths: list[str] = field(default_factory=list)


def write_version(
    cfg: LakeConfig,
    dataset: ds.Dataset,
    target: str,
    *,
    partition_by: list[str],
    compression: str,
    row_group_size: int,
    max_rows: int,
    step: Step = _noop_step,
    name: str = "source",
    max_rows_per_file: int = 0,
) -> WriteStats:
    """Write `dataset` as Parquet under `target` (a new, empty version folder); stats and a content digest."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    schema = dataset.schema.remove_metadata()
    stats = WriteStats()

    def visit(written: Any) -> None:
        stats.paths.append(written.path)
        stats.files += 1
        stats.bytes += int(written.size or 0)
        if written.metadata is not None:
            stats.rows += written.metadata.num_rows
            stats.row_groups += written.metadata.num_row_groups

    fs, base = check_free(cfg, target)
    reader = pa.RecordBatchReader.from_batches(
        schema, (b.replace_schema_metadata(None) for b in _bounded_batches(dataset, max_rows, step, name))
    )
    options = ds.ParquetFileFormat().make_write_options(compression=compression)
    try:
        with (
            storage_errors(cfg, f"the new version at {cfg.show(target)}", target),
            _arrow_errors(name, "data"),
        ):
            ds.write_dataset(
                reader,
                base,
                filesystem=fs,
                format="parquet",
                file_options=options,
                partitioning=_partitioning(schema, partition_by),
                basename_template="part-{i}.parquet",
                max_rows_per_group=row_group_size,
                min_rows_per_group=row_group_size,
                max_rows_per_file=max_rows_per_file,
                max_partitions=MAX_PARTITIONS,
                existing_data_behavior="error",
                file_visitor=visit,
                preserve_order=True,  # sorted sources stay sorted: row-group statistics can skip
            )
    except InvalidInput as exc:  # pyarrow's errors carry no code: its message names the limit
        if "max_partitions" in exc.message or "Fragment would be written into" in exc.message:
            raise InvalidInput(
                f"partition_by {partition_by} makes more than {MAX_PARTITIONS} partitions; "
                "partition by a column with fewer distinct values."
            ) from None
        raise
    stats.digest = content_digest(cfg, target, stats.paths)
    return stats


def check_free(cfg: LakeConfig, target: str) -> tuple[pafs.FileSystem, str]:
    """A new version's place must hold no files (files the catalog does not know); its filesystem and path."""
    fs, base = filesystem_for(cfg, target)
    with storage_errors(cfg, cfg.show(target), target):
        found = _list_files(fs, base)
    if found:
        raise Conflict(
            f"The lake already holds files at {cfg.show(target)} that the catalog does not know; "
            "remove them or write under another dataset name."
        )
    return fs, base


def content_digest(cfg: LakeConfig, location: str, paths: list[str] | None = None) -> str:
    """SHA-256 identifying a version's content: over each file's relative path and content hash.

    Local files are hashed byte by byte; S3 objects by the ETag S3 computed from their bytes (no download).
    `location` is a folder (a version, a partitioned dataset) or a single file.
    """
    entries: list[tuple[str, str]] = []
    if location.startswith("s3://"):
        bucket, key = _split_s3(location)
        fs, base = filesystem_for(cfg, location)
        with storage_errors(cfg, cfg.show(location), location):
            is_dir = fs.get_file_info(base).type.name == "Directory"
        prefix = key.rstrip("/") + "/" if is_dir else key
        client = _s3_client(cfg.endpoint_url, cfg.region)
        with _s3_errors(cfg, bucket):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith("/"):
                        continue  # folder markers
                    rel = obj["Key"][len(prefix) :] or os.path.basename(obj["Key"])
                    entries.append((rel, f"{obj['Size']}:{obj['ETag'].strip(chr(34))}"))
    else:
        fs, base = filesystem_for(cfg, location)
        files = paths if paths is not None else _list_files(fs, base)
        for path in files:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            rel = os.path.relpath(path, base) if os.path.isdir(base) else os.path.basename(path)
            entries.append((rel, h.hexdigest()))
    outer = hashlib.sha256()
    for rel, digest in sorted(entries):
        outer.update(f"{rel}\0{digest}\n".encode())
    return outer.hexdigest()


def _list_files(fs: pafs.FileSystem, base: str) -> list[str]:
    import pyarrow.fs as pafs

    info = fs.get_file_info(base)
    if info.type == pafs.FileType.File:
        return [base]
    if info.type == pafs.FileType.NotFound:
        return []
    selector = pafs.FileSelector(base, recursive=True)
    return sorted(i.path for i in fs.get_file_info(selector) if i.type == pafs.FileType.File)


def delete_location(cfg: LakeConfig, location: str) -> None:
    """Best effort: remove a failed version's files."""
    with contextlib.suppress(Exception):
        fs, base = filesystem_for(cfg, location)
        fs.delete_dir(base)


# -- opening a version -----------------------------------------------------------------------------


def open_version(
    cfg: LakeConfig,
    location: str,
    fmt: str,
    schema_b64: str,
    partition_by: list[str],
    *,
    identity: tuple[Any, ...] | None = None,
) -> ds.Dataset:
    """The pyarrow dataset of a stored version, with its recorded schema and typed hive partitioning.

    A ready version's files never change, so with `identity` (the catalog row's id and creation time) the
    opened dataset is kept: listing its files again is a millisecond or more per read (much more on S3)."""
    if identity is None:
        return _open_version(cfg, location, fmt, schema_b64, tuple(partition_by))
    return _opened_version(cfg, location, fmt, schema_b64, tuple(partition_by), identity)


@functools.lru_cache(maxsize=32)
def _opened_version(
    cfg: LakeConfig,
    location: str,
    fmt: str,
    schema_b64: str,
    partition_by: tuple[str, ...],
    identity: tuple[Any, ...],
) -> ds.Dataset:
    return _open_version(cfg, location, fmt, schema_b64, partition_by)


def _open_version(
    cfg: LakeConfig, location: str, fmt: str, schema_b64: str, partition_by: tuple[str, ...]
) -> ds.Dataset:
    import pyarrow.dataset as ds

    schema = schema_from_b64(schema_b64)
    fs, base = filesystem_for(cfg, location)
    if location.startswith("s3://"):
        s3_preflight(cfg, location)
    with storage_errors(cfg, cfg.show(location), location), _arrow_errors(cfg.show(location), fmt):
        return ds.dataset(
            base,
            filesystem=fs,
            format=_file_format(fmt, "This version"),
            schema=schema,
            partitioning=_partitioning(schema, list(partition_by)),
            exclude_invalid_files=False,
        )


def _hive_keys(base: str, files: list[str]) -> list[str]:
    """The hive partition columns (key=value folders) shared by every file under `base`."""
    keys: list[str] | None = None
    for path in files:
        parts = path[len(base.rstrip("/")) + 1 :].split("/")[:-1]
        found = [p.split("=", 1)[0] for p in parts if "=" in p]
        if keys is None:
            keys = found
        elif keys != found:
            return []
    return keys or []


@dataclass
class Inspection:
    schema: pa.Schema
    fmt: str
    rows: int
    bytes: int
    files: int
    row_groups: int
    partition_by: list[str]


def inspect_location(cfg: LakeConfig, location: str, max_rows: int) -> Inspection:
    """Schema, rows, size and layout of data at a location (a file, or a folder of Parquet files)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if location.startswith("s3://"):
        s3_preflight(cfg, location)
    fs, base = filesystem_for(cfg, location)
    with storage_errors(cfg, cfg.show(location), location):
        info = fs.get_file_info(base)
        if info.type == pafs.FileType.NotFound:
            raise NotFound(f"Nothing exists at {cfg.show(location)}; check the location.")
        is_dir = info.type == pafs.FileType.Directory
        fmt = "parquet" if is_dir else table_format(Path(base), "source")
        with _arrow_errors(cfg.show(location), fmt):
            file_format = _file_format(fmt, cfg.show(location))
            dataset = ds.dataset(
                base, filesystem=fs, format=file_format, partitioning="hive" if is_dir else None
            )
            files = list(dataset.files)
            if not files:
                raise InvalidInput(f"{cfg.show(location)} holds no {fmt} files.")
            partition_by = _hive_keys(base, files) if is_dir else []
            size = sum(i.size or 0 for i in fs.get_file_info(files))
            row_groups = 0
            if fmt == "parquet":
                rows = 0
                for fragment in dataset.get_fragments():
                    meta = fragment.metadata
                    rows += meta.num_rows
                    row_groups += meta.num_row_groups
            else:
                rows = dataset.count_rows()
    if rows > max_rows:
        raise LimitExceeded(f"The data has more than {max_rows} rows, the limit (MLOPS_MCP_MAX_ROWS).")
    return Inspection(dataset.schema.remove_metadata(), fmt, rows, size, len(files), row_groups, partition_by)


# -- reading with push-down ------------------------------------------------------------------------


def _show(value: Any) -> str:
    return str(plain(repr(value), chars=60))


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def check_filter(index: int, triple: Any, names: list[str]) -> tuple[str, str, Any]:
    """One `[column, op, value]` triple checked for both engines: a known column, an operator from the
    allowlist, plain values (a non-empty list for in / not in), null only with == and !=."""
    if not isinstance(triple, list | tuple) or len(triple) != 3:
        raise InvalidInput(f"filters[{index}] must be a [column, op, value] triple.")
    column, op, value = triple
    if not isinstance(column, str):
        raise InvalidInput(f"filters[{index}]: the column must be a string.")
    if not isinstance(op, str) or op not in OPS:
        raise InvalidInput(f"filters[{index}]: unknown operator {_show(op)}; use one of {', '.join(OPS)}.")
    if column not in names:
        raise InvalidInput(
            f"filters[{index}]: unknown column {_show(column)}; the dataset has {_names(names)}."
        )
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"filters[{index}]: '{op}' needs a non-empty list of values.")
        if len(value) > MAX_IN_VALUES:
            raise InvalidInput(f"filters[{index}]: '{op}' takes at most {MAX_IN_VALUES} values.")
    elif value is None and op not in ("==", "!="):
        raise InvalidInput(f"filters[{index}]: null can only be compared with == or !=.")
    if any(isinstance(v, dict | list) for v in (value if op in ("in", "not in") else [value])):
        raise InvalidInput(f"filters[{index}]: the value for {_show(column)} must be a plain value.")
    return column, op, value


def build_filter(schema: pa.Schema, filters: list[list[Any]] | None) -> ds.Expression | None:
    """`[column, op, value]` triples -> one pyarrow expression (AND); ops from an allowlist, values cast
    to the column's type. Nothing the caller sent is evaluated as code."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.types as pat

    if not filters:
        return None
    expression: ds.Expression | None = None
    for index, triple in enumerate(filters):
        column, op, value = check_filter(index, triple, list(schema.names))
        ftype = schema.field(column).type
        if pat.is_dictionary(ftype):
            ftype = ftype.value_type
        ref = ds.field(column)

        def cast(item: Any, column: str = column, ftype: pa.DataType = ftype, index: int = index) -> Any:
            try:
                return pa.scalar(item).cast(ftype)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
                raise InvalidInput(
                    f"filters[{index}]: {_show(item)} cannot be compared with {_show(column)} of type {ftype}."
                ) from None

        if op in ("in", "not in"):
            term = ref.isin(pa.array([cast(v).as_py() for v in value], type=ftype))
            if op == "not in":
                term = ~term
        elif value is None:
            term = ref.is_null() if op == "==" else ref.is_valid()
        else:
            term = COMPARE[op](ref, cast(value))
        expression = term if expression is None else expression & term
    return expression


def check_columns(names: list[str], columns: list[str] | None) -> list[str] | None:
    """A projection: known columns, each once (None: every column)."""
    if columns is None:
        return None
    if not columns:
        raise InvalidInput("columns is empty; omit it to read every column.")
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise InvalidInput(f"Unknown column {_show(unknown[0])}; the dataset has {_names(names)}.")
    if len(set(columns)) != len(columns):
        raise InvalidInput("columns lists a column twice; give each column once.")
    return list(columns)


@dataclass
class ReadStats:
    matched_rows: int
    returned_rows: int
    columns: list[str]
    sample: list[dict[str, Any]]
    result_bytes: int
    truncated: bool


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON values: dates as ISO text, NaN as null, long text and bytes shortened."""
    return [{k: plain(v, items=20, chars=MAX_CELL_CHARS) for k, v in row.items()} for row in rows]


def _count_and_head(
    dataset: ds.Dataset, columns: list[str] | None, expression: Any, filtered: set[str], want: int
) -> tuple[int, pa.Table | None]:
    """The rows matching `expression` (on the columns `filtered`) and the first `want` of them, in the
    scanner's order.

    On a Parquet version both work on its row groups (those the statistics rule out are dropped): pyarrow
    counts a row group its statistics fully satisfy from the footer, where a whole file's count falls back to
    a scan as soon as one row group is undecided; and the sample stops at the first row groups that hold
    enough, where a scanner's head reads ahead whole files. A selective read costs its boundary row groups."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not isinstance(dataset, ds.FileSystemDataset) or not isinstance(dataset.format, ds.ParquetFileFormat):
        matched = dataset.count_rows(filter=expression)
        want = min(want, matched)
        return matched, dataset.scanner(columns=columns, filter=expression).head(want) if want else None
    groups = [
        group
        for fragment in dataset.get_fragments(filter=expression)
        for group in fragment.split_by_row_group(filter=expression, schema=dataset.schema)
    ]
    # The sample first: the row groups it reads are counted from that read (the boundary row group of a
    # selective filter is read once, not once to count and once to show).
    tables: list[pa.Table] = []
    got = seen = read = 0
    for group in groups:
        if got >= want:
            break
        table = group.to_table(schema=dataset.schema, columns=columns, filter=expression)
        read += 1
        seen += table.num_rows
        if table.num_rows:
            tables.append(table.slice(0, want - got))
            got += tables[-1].num_rows
    partition = set(dataset.partitioning.schema.names) if dataset.partitioning is not None else set()
    if filtered <= partition:
        # The partition folders decide the filter: every row of the kept row groups matches. (pyarrow would
        # count each row-group fragment of a file as the whole file here: its count for a predicate with no
        # column left to test reads the file's footer total.)
        matched = sum(group.row_groups[0].num_rows for group in groups)
    else:
        rest = groups[read:]
        by_group = ds.FileSystemDataset(rest, dataset.schema, dataset.format, dataset.filesystem)
        matched = seen + (by_group.count_rows(filter=expression) if rest else 0)
    return matched, pa.concat_tables(tables) if tables else None


def read_version(
    dataset: ds.Dataset,
    cfg: LakeConfig,
    what: str,
    *,
    columns: list[str] | None,
    filters: list[list[Any]] | None,
    limit: int | None,
    max_rows: int,
    sample_rows: int,
    out_path: Path | None,
    step: Step = _noop_step,
    location: str | None = None,
) -> ReadStats:
    """Scan with projection and filter push-down; stream the result into a Parquet file at `out_path`, or,
    with no `out_path`, only count the matched rows and take the sample's first rows."""
    import pyarrow.parquet as pq

    schema = dataset.schema
    columns = check_columns(list(schema.names), columns)
    expression = build_filter(schema, filters)
    cap = min(limit, max_rows) if limit is not None else max_rows
    if out_path is None:
        # Only the filter's columns are read to count (pyarrow's count_rows), and the sample's first rows
        # to show: much less than reading the matches, which is what writing the result file costs.
        with storage_errors(cfg, what, location), _arrow_errors(what, "parquet"):
            step(0, None, "counting the matching rows")
            filtered = {str(triple[0]) for triple in filters or []}
            matched, head = _count_and_head(dataset, columns, expression, filtered, min(sample_rows, cap))
        returned = min(matched, cap)
        return ReadStats(
            matched_rows=matched,
            returned_rows=returned,
            columns=columns or list(schema.names),
            sample=json_rows(head.to_pylist()) if head is not None else [],
            result_bytes=0,
            truncated=returned < matched,
        )
    returned = 0
    sample: list[dict[str, Any]] = []
    out_columns = columns or list(schema.names)
    stopped = False
    with (
        atomic_path(out_path) as tmp_name,
        storage_errors(cfg, what, location),
        _arrow_errors(what, "parquet"),
    ):
        scanner = dataset.scanner(columns=columns, filter=expression, batch_size=BATCH_ROWS)
        # A result file is read once: no codec, dictionary pages or statistics to build. It is
        # written on a second thread while the scan goes on (pyarrow releases the GIL in both).
        writer = pq.ParquetWriter(
            str(tmp_name),
            scanner.projected_schema,
            compression="none",
            use_dictionary=False,
            write_statistics=False,
        )
        pending: queue.Queue[Any] = queue.Queue(maxsize=4)  # bounded: memory stays bounded
        failure: list[BaseException] = []

        def drain() -> None:
            while (item := pending.get()) is not None:
                if not failure:
                    try:
                        writer.write_batch(item)
                    except BaseException as exc:  # reported after the scan
                        failure.append(exc)

        thread = threading.Thread(target=drain, name="lake-read-writer", daemon=True)
        thread.start()
        try:
            for batch in scanner.to_batches():
                if failure:
                    break
                if batch.num_rows == 0:
                    continue
                if returned + batch.num_rows > cap:
                    batch = batch.slice(0, cap - returned)
                    stopped = True
                pending.put(batch)
                if len(sample) < sample_rows:
                    sample.extend(batch.slice(0, sample_rows - len(sample)).to_pylist())
                returned += batch.num_rows
                step(returned, None, f"{returned} rows")
                if stopped or returned >= cap:
                    stopped = True
                    break
        finally:
            pending.put(None)
            thread.join()
            writer.close()
        if failure:
            raise failure[0]
        matched = dataset.count_rows(filter=expression) if stopped else returned
    return ReadStats(
        matched_rows=matched,
        returned_rows=returned,
        columns=out_columns,
        sample=json_rows(sample),
        result_bytes=out_path.stat().st_size,
        truncated=returned < matched,
    )


# -- conversion ------------------------------------------------------------------------------------


@dataclass
class ConvertStats:
    rows: int
    columns: int
    source_bytes: int
    parquet_bytes: int
    source_scan_s: float
    parquet_scan_s: float


def full_scan_seconds(path: Path, fmt: str) -> float:
    """Seconds to read and decode every row and column of a file, streaming (never held whole)."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    started = time.perf_counter()
    if fmt == "parquet":
        for _ in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
            pass
    elif fmt in ("csv", "tsv"):
        parse = pacsv.ParseOptions(delimiter="," if fmt == "csv" else "\t")
        for _ in pacsv.open_csv(path, parse_options=parse):
            pass
    elif fmt == "jsonl":
        pajson.read_json(path)
    else:
        import pandas as pd

        pd.read_json(path)
    return time.perf_counter() - started


def convert_to_parquet(
    source: Path, out: Path, *, compression: str, limits: TableLimits, step: Step = _noop_step
) -> ConvertStats:
    """CSV/TSV/JSON(L) -> one Parquet file, streamed batch by batch and written atomically."""
    import pyarrow.parquet as pq

    dataset, fmt = open_source(source, limits)
    schema = dataset.schema.remove_metadata()
    rows = 0
    with _arrow_errors(source.name, fmt):
        with atomic_path(out) as tmp, pq.ParquetWriter(str(tmp), schema, compression=compression) as writer:
            for batch in _bounded_batches(dataset, limits.rows, step, source.name):
                writer.write_batch(batch.replace_schema_metadata(None))
                rows += batch.num_rows
        source_scan = full_scan_seconds(source, fmt)
    parquet_scan = full_scan_seconds(out, "parquet")
    return ConvertStats(
        rows=rows,
        columns=len(schema),
        source_bytes=source.stat().st_size,
        parquet_bytes=out.stat().st_size,
        source_scan_s=source_scan,
        parquet_scan_s=parquet_scan,
    )
