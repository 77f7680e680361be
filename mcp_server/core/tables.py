"""Reading and writing tabular files (CSV, Parquet, JSON, JSON Lines) with the configured size limits.

pandas and pyarrow are imported inside the functions: the server starts without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mcp_server.core.errors import InvalidInput, LimitExceeded, NotFound

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def table_format(path: Path, what: str = "table") -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"'{path.name}' is not a supported {what}; use a .csv, .tsv, .parquet, .json or .jsonl file."
        )
    return fmt


def check_file(path: Path, max_bytes: int) -> None:
    """A data file to read: there, not empty and within MLOPS_MCP_MAX_FILE_BYTES."""
    if not path.is_file():
        raise NotFound(f"No file '{path.name}' at that path.")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"'{path.name}' is empty; there is nothing to read.")
    if size > max_bytes:
        raise LimitExceeded(
            f"'{path.name}' is {size} bytes, over the {max_bytes}-byte limit (MLOPS_MCP_MAX_FILE_BYTES)."
        )


def read_table(
    path: Path, *, max_rows: int, max_bytes: int, columns: list[str] | None = None
) -> pd.DataFrame:
    """Load a table inside the limits; every way a file can be unusable becomes one clear error."""
    import pandas as pd
    import pyarrow as pa

    fmt = table_format(path)
    check_file(path, max_bytes)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            rows = pq.ParquetFile(path).metadata.num_rows
            _check_rows(path, rows, max_rows)
            df = pd.read_parquet(path, columns=columns)
        elif fmt in ("csv", "tsv"):
            df = pd.read_csv(
                path, sep="," if fmt == "csv" else "\t", nrows=max_rows + 1, usecols=columns, engine="c"
            )
        elif fmt == "jsonl":
            df = pd.read_json(path, lines=True, nrows=max_rows + 1)
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
    _check_rows(path, len(df), max_rows)
    if columns is not None and fmt in ("json", "jsonl"):
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise InvalidInput(f"'{path.name}' has no column(s) {missing}.")
        df = df[columns]
    if df.shape[1] == 0:
        raise InvalidInput(f"'{path.name}' has no columns.")
    return df


def _check_rows(path: Path, rows: int, max_rows: int) -> None:
    if rows > max_rows:
        raise LimitExceeded(f"'{path.name}' has more than {max_rows} rows, the limit (MLOPS_MCP_MAX_ROWS).")


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
