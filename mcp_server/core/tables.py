"""Reading and writing tabular files (CSV, Parquet, JSON, JSON Lines) with the configured size limits.

pandas and pyarrow are imported inside the functions: the server starts without them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_server.core.errors import InvalidInput, LimitExceeded, NotFound

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mcp_server.core.config import Settings

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# JSON parsers (pyarrow's RapidJSON, pandas' ujson, Python's json) recurse once per level: a line nested
# 20,000 deep overflows the C stack and kills the process. Real records nest a few levels; refuse more.
MAX_JSON_DEPTH = 64
_ID_NAME = re.compile(r"(^id$|_id$|^id_|uuid|guid|(^|_)key$)")
_DEPTH_CHUNK = 1 << 22
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}\n')


def table_format(path: Path, what: str = "table") -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"'{path.name}' is not a supported {what}; use a .csv, .tsv, .parquet, .json or .jsonl file."
        )
    return fmt


def check_file(path: Path, max_bytes: int) -> None:
    """A data file to read: there, not empty, within MLOPS_MCP_MAX_FILE_BYTES and, for JSON, not too deep."""
    if not path.is_file():
        raise NotFound(f"No file '{path.name}' at that path.")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"'{path.name}' is empty; there is nothing to read.")
    if size > max_bytes:
        raise LimitExceeded(
            f"'{path.name}' is {size} bytes, over the {max_bytes}-byte limit (MLOPS_MCP_MAX_FILE_BYTES)."
        )
    fmt = FORMATS.get(path.suffix.lower())
    if fmt in ("json", "jsonl"):
        check_json_depth(path, lines=fmt == "jsonl")


def check_json_depth(path: Path, *, lines: bool, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a JSON (`lines`: JSON Lines) file nested deeper than `limit` before any parser sees it.

    One streaming pass over the bytes, vectorised and without recursion: escapes are dropped, only quotes,
    brackets and newlines are kept, and brackets inside strings do not count. In JSON Lines every line
    starts afresh, as the readers split lines before parsing them.
    """
    import numpy as np

    depth = 0  # open brackets carried into the chunk (of the current line, in JSON Lines)
    quotes = 0  # 1 while the chunk starts inside a string
    carry = b""  # a trailing run of backslashes, kept with the character it escapes
    line = 1
    with path.open("rb") as fh:
        while True:
            raw = fh.read(_DEPTH_CHUNK)
            buf = carry + raw
            if not buf:
                return
            kept = len(buf.rstrip(b"\\")) if raw else len(buf)
            buf, carry = buf[:kept], buf[kept:]
            if b"\\" in buf:  # pairs first, so a run of backslashes keeps only its parity
                buf = buf.replace(b"\\\\", b"").replace(b'\\"', b"")
            marks = np.frombuffer(buf.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
            if marks.size == 0:
                continue
            quote = np.cumsum(marks == ord('"'), dtype=np.int64) + quotes
            step = (
                (marks == ord("[")).astype(np.int64)
                + (marks == ord("{"))
                - (marks == ord("]"))
                - (marks == ord("}"))
            )
            if lines:
                last_newline = np.maximum.accumulate(np.where(marks == ord("\n"), np.arange(marks.size), -1))
                started = last_newline >= 0
                at = np.maximum(last_newline, 0)
                quote = quote - np.where(started, quote[at], 0)
            level = np.cumsum(np.where(quote % 2 == 1, 0, step)) + depth
            if lines:
                level = level - np.where(started, level[at], 0)
            top = int(np.argmax(level))
            if level[top] > limit:
                where = line + int(np.count_nonzero(marks[:top] == ord("\n")))
                raise LimitExceeded(
                    f"Line {where} of '{path.name}' nests deeper than {limit} levels; flatten those records "
                    "(or store the nested part as a JSON string) and try again."
                )
            depth, quotes = int(level[-1]), int(quote[-1] % 2)
            line += int(np.count_nonzero(marks == ord("\n")))


@dataclass(frozen=True)
class TableLimits:
    """How much of a table one read may take: rows, bytes on disk and, for Parquet, bytes once decoded
    (MLOPS_MCP_MAX_ROWS, MLOPS_MCP_MAX_FILE_BYTES, MLOPS_MCP_MAX_DECODED_BYTES)."""

    rows: int
    file_bytes: int
    decoded_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> TableLimits:
        return cls(settings.max_rows, settings.max_file_bytes, settings.max_decoded_bytes)


def read_table(path: Path, limits: TableLimits, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Load a table inside the limits; every way a file can be unusable becomes one clear error. A Parquet
    file's decoded size is checked before it is read (check_parquet_decoded)."""
    import pandas as pd
    import pyarrow as pa

    fmt = table_format(path)
    check_file(path, limits.file_bytes)
    complete: frozenset[str] = frozenset()
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # One open file: the limit checks, the statistics and the read see the same bytes, even when
            # the file is replaced meanwhile.
            with pa.OSFile(str(path)) as source:
                pf = pq.ParquetFile(source)
                _check_rows(path, pf.metadata.num_rows, limits.rows)
                check_parquet_decoded(path, limits.decoded_bytes, columns, source=source)
                df = pd.read_parquet(source, columns=columns)
                complete = columns_without_nulls(pf)
        elif fmt in ("csv", "tsv"):
            df = pd.read_csv(
                path, sep="," if fmt == "csv" else "\t", nrows=limits.rows + 1, usecols=columns, engine="c"
            )
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, nrows=limits.rows + 1)
        else:
            df = pd.read_json(path)
    except (LimitExceeded, InvalidInput):
        raise
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        ValueError,
        pa.ArrowException,
    ) as err:
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise InvalidInput(f"'{path.name}' could not be read as {fmt.upper()}: {reason}.") from None
    _check_rows(path, len(df), limits.rows)
    df = missing_text_as_nan(df, complete)
    if columns is not None and fmt in ("json", "jsonl"):
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise InvalidInput(f"'{path.name}' has no column(s) {missing}.")
        df = df[columns]
    if df.shape[1] == 0:
        raise InvalidInput(f"'{path.name}' has no columns.")
    return df


# What one value costs in pandas beyond its bytes: numbers and pointers to Python objects are 8 bytes.
_SLOT = 8
_DICTIONARY = ("PLAIN_DICTIONARY", "RLE_DICTIONARY")


def check_parquet_decoded(
    path: Path,
    limit: int,
    columns: list[str] | None = None,
    *,
    per_row_group: bool = False,
    source: pa.NativeFile | None = None,
) -> None:
    """Refuse a Parquet file (its `columns`, else all) that decodes to more than `limit` bytes, before reading it;
    with `per_row_group`, for a reader that streams it, a file one of whose row groups does.

    A few KB of zstd can hold gigabytes (issue #22): the row and file-size limits do not see it. From the
    metadata: the decompressed pages (total_uncompressed_size) and a lower bound of the decoded values
    (8 bytes a value; the page bytes for plain strings). A dictionary-encoded string column can decode far
    beyond its pages (one 1 MB value repeated 20,000 times is 20 GB), and only its dictionary tells: when
    the metadata cannot rule that out, those columns alone are read as compact dictionaries, row group by
    row group, and their decoded length summed (dictionary value lengths taken by the indices), stopping
    at the limit. Memory stays within the pages already checked plus 4 bytes a value. `source` is `path`
    as the caller opened it (what it will read).
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path if source is None else source)
    md = pf.metadata
    leaves = _selected_leaves(pf.schema_arrow, md.num_columns, columns)
    # Per row group: [decompressed pages, decoded lower bound, how far dictionary strings could go past it].
    sizes: list[list[int]] = []
    suspects: dict[int, list[int]] = {}  # row group -> leaves to measure
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        pages = decoded = unsure = 0
        for j in leaves:
            c = rg.column(j)
            n, size = c.num_values, c.total_uncompressed_size
            pages += size
            if c.physical_type == "BYTE_ARRAY":
                if c.has_dictionary_page or any(e in _DICTIONARY for e in c.encodings):
                    decoded += n * _SLOT
                    unsure += n * size  # no value is longer than its chunk
                    suspects.setdefault(g, []).append(j)
                else:
                    decoded += size + n * _SLOT
            elif c.physical_type == "BOOLEAN":
                decoded += n
            elif c.physical_type == "FIXED_LEN_BYTE_ARRAY":
                decoded += n * max(md.schema.column(j).length or 0, _SLOT)
            else:
                decoded += n * _SLOT
        sizes.append([pages, decoded, unsure])
    scopes = [[g] for g in range(len(sizes))] if per_row_group else [list(range(len(sizes)))]
    reader = None
    for groups in scopes:
        pages, decoded, unsure = (sum(sizes[g][i] for g in groups) for i in range(3))
        if max(pages, decoded) > limit:
            raise _too_big(path, limit, per_row_group)
        if decoded + unsure <= limit:
            continue
        if reader is None:
            reader = pq.ParquetFile(
                path if source is None else source,
                read_dictionary=[md.schema.column(j).path for js in suspects.values() for j in js],
            )
        for g in groups:
            if g not in suspects:
                continue
            table = reader.read_row_group(g, columns=[md.schema.column(j).path for j in suspects[g]])
            for column in table.columns:
                for chunk in column.chunks:
                    decoded += _value_bytes(chunk)
            del table
            if decoded > limit:
                raise _too_big(path, limit, per_row_group)


def _too_big(path: Path, limit: int, per_row_group: bool = False) -> LimitExceeded:
    what = "a row group that decodes" if per_row_group else "decodes"
    where = f"'{path.name}' has {what}" if per_row_group else f"'{path.name}' {what}"
    return LimitExceeded(
        f"{where} to more than {limit} bytes in memory, the limit (MLOPS_MCP_MAX_DECODED_BYTES)."
    )


def _selected_leaves(schema: pa.Schema, total: int, columns: list[str] | None) -> list[int]:
    """The Parquet leaf columns that reading `columns` (and pandas' index columns) decodes."""
    import pyarrow as pa

    if columns is None:
        return list(range(total))

    def count(t: pa.DataType) -> int:
        if pa.types.is_struct(t):
            return sum(count(t.field(i).type) for i in range(t.num_fields))
        if pa.types.is_map(t):
            return count(t.key_type) + count(t.item_type)
        if hasattr(t, "value_type") and not pa.types.is_dictionary(t):
            return count(t.value_type)
        return 1

    wanted, start = set(columns), 0
    out: list[int] = []
    for field in schema:
        width = count(field.type)
        if field.name in wanted or field.name.startswith("__index_level_"):
            out.extend(range(start, start + width))
        start += width
    return out if start == total else list(range(total))  # unsure of the mapping: count every column


def _value_bytes(arr: pa.Array) -> int:
    """The value bytes `arr` holds once decoded (its 8-byte slots are counted from the metadata): a dictionary
    array counts each value's length wherever it is used."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if isinstance(arr, pa.DictionaryArray):
        values = arr.dictionary
        if (
            pa.types.is_binary(values.type)
            or pa.types.is_string(values.type)
            or pa.types.is_large_binary(values.type)
            or pa.types.is_large_string(values.type)
        ):
            lengths = pc.binary_length(values).cast(pa.int64())
            used = pc.sum(pc.take(lengths, arr.indices)).as_py() or 0
        else:
            used = values.nbytes // max(len(values), 1) * len(arr)
        return int(used)
    if isinstance(arr, pa.StructArray):
        return sum(_value_bytes(arr.field(i)) for i in range(t.num_fields))
    if hasattr(arr, "values") and hasattr(t, "value_type"):  # lists and maps
        return _value_bytes(arr.values)
    return int(arr.nbytes)


def _check_rows(path: Path, rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise LimitExceeded(f"'{path.name}' has more than {max_rows} rows, the limit (MLOPS_MCP_MAX_ROWS).")


def columns_without_nulls(pf: pq.ParquetFile) -> frozenset[str]:
    """The DataFrame columns (as pandas names them) read from top-level Parquet columns whose every row
    group's statistics count no null."""
    md = pf.metadata
    leaves: dict[str, bool] = {}
    for j in range(md.num_columns):
        leaf = md.schema.column(j).path
        if "." in leaf:  # a nested leaf (lists, structs): not a text column
            continue
        complete = True
        for g in range(md.num_row_groups):
            stats = md.row_group(g).column(j).statistics
            if stats is None or not stats.has_null_count or stats.null_count != 0:
                complete = False
                break
        leaves[leaf] = leaves.get(leaf, True) and complete
    # pandas labels a column by the name its metadata gives the field, which need not be the field's own.
    meta = pf.schema_arrow.pandas_metadata or {}
    named = {c.get("field_name"): c.get("name") for c in meta.get("columns", []) if isinstance(c, dict)}
    names = {leaf: named.get(leaf, leaf) for leaf in leaves}
    twice = {name for name, n in Counter(names.values()).items() if n > 1}
    return frozenset(
        name for leaf, name in names.items() if leaves[leaf] and isinstance(name, str) and name not in twice
    )


def missing_text_as_nan(df: pd.DataFrame, complete: Collection[str] = ()) -> pd.DataFrame:
    """Missing text as NaN, whatever the format: CSV gives NaN, Parquet and JSON give None (pd.NA in
    pandas' string dtype). scikit-learn's imputers count only NaN as missing, so a model trained on the
    Parquet copy of a CSV learned None as a category (issue #22). Only text columns change, to object dtype.

    `complete` names columns known to hold no missing value (columns_without_nulls): scanning a million
    Python strings for None costs more than reading them from Parquet."""
    import numpy as np
    import pandas as pd

    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if not (s.dtype == object or isinstance(s.dtype, pd.StringDtype)) or s.name in complete:
            continue
        missing = s.isna().to_numpy()
        # Nested JSON values (lists, dicts) and mixed columns keep their None: they are not text.
        if not missing.any() or pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
            continue
        values = s.to_numpy(dtype=object, copy=True)
        values[missing] = np.nan
        df.isetitem(i, values)
    return df


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Write atomically (core/files.py): readers see the old file or the new one, never half of it."""
    from mcp_server.core.files import atomic_path

    fmt = table_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        elif fmt in ("csv", "tsv"):
            df.to_csv(tmp, index=False, sep="," if fmt == "csv" else "\t")
        elif fmt == "jsonl":
            df.to_json(tmp, orient="records", lines=True)
        else:
            df.to_json(tmp, orient="records")


def id_like(column: str) -> bool:
    """A column whose name says it is a key (id, user_id, id_x, uuid, guid, key): what quality takes as the
    default key and what a suggested suite checks for uniqueness."""
    return _ID_NAME.search(column.lower()) is not None
