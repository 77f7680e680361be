"""Reading tables inside the limits, with one clear error for each way a file can be unusable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mcp_server.core.errors import InvalidInput, LimitExceeded, NotFound
from mcp_server.core.tables import read_table, write_table

LIMITS = {"max_rows": 1000, "max_bytes": 1_000_000}


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.tsv", "t.json", "t.jsonl"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    write_table(df, tmp_path / name)
    back = read_table(tmp_path / name, **LIMITS)
    assert back.shape == (3, 2)
    assert back["a"].tolist() == [1, 2, 3]
    assert list(tmp_path.glob(".*.tmp")) == []


def test_unusable_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_table(tmp_path / "missing.csv", **LIMITS)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InvalidInput, match="empty"):
        read_table(tmp_path / "empty.csv", **LIMITS)
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n3,4,5,6\n"unterminated\n')
    with pytest.raises(InvalidInput, match="could not be read as CSV"):
        read_table(tmp_path / "bad.csv", **LIMITS)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(InvalidInput, match="could not be read as PARQUET"):
        read_table(tmp_path / "bad.parquet", **LIMITS)
    (tmp_path / "x.xlsx").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="not a supported table"):
        read_table(tmp_path / "x.xlsx", **LIMITS)


def test_limits(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": range(2000)})
    write_table(df, tmp_path / "big.parquet")
    write_table(df, tmp_path / "big.csv")
    for name in ("big.parquet", "big.csv"):
        with pytest.raises(LimitExceeded, match="more than 1000 rows"):
            read_table(tmp_path / name, **LIMITS)
    with pytest.raises(LimitExceeded, match="byte limit"):
        read_table(tmp_path / "big.csv", max_rows=10_000, max_bytes=100)
