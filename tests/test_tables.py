"""Reading tables inside the limits, with one clear error for each way a file can be unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mcp_server.core.errors import InvalidInput, LimitExceeded, NotFound
from mcp_server.core.tables import TableLimits, columns_without_nulls, read_table, write_table

LIMITS = TableLimits(rows=1000, file_bytes=1_000_000, decoded_bytes=2**31)


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.tsv", "t.json", "t.jsonl"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    write_table(df, tmp_path / name)
    back = read_table(tmp_path / name, LIMITS)
    assert back.shape == (3, 2)
    assert back["a"].tolist() == [1, 2, 3]
    assert list(tmp_path.glob(".*.tmp")) == []


def test_parquet_text_nulls_become_nan_in_any_row_group_and_statistics_spare_complete_columns(
    tmp_path: Path,
) -> None:
    """Columns whose Parquet statistics count no null skip the None scan; a None in any row group (or a
    file written without statistics) still becomes NaN."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "full": ["a", "b", "c", "d"],
            "late_gap": ["a", "b", "c", None],  # the None is in the second row group
            "nested": [["x"], None, ["y"], ["z"]],
            "n": [1.0, None, 3.0, 4.0],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    pq.write_table(table, tmp_path / "bare.parquet", row_group_size=2, write_statistics=False)
    pf = pq.ParquetFile(tmp_path / "t.parquet")
    assert pf.metadata.num_row_groups == 2
    assert columns_without_nulls(pf) == {"full"}
    assert columns_without_nulls(pq.ParquetFile(tmp_path / "bare.parquet")) == set()
    for name in ("t.parquet", "bare.parquet"):
        back = read_table(tmp_path / name, LIMITS)
        assert back["full"].tolist() == ["a", "b", "c", "d"]
        assert back["late_gap"].tolist()[:3] == ["a", "b", "c"]
        assert isinstance(back["late_gap"][3], float) and pd.isna(back["late_gap"][3])
        assert back["nested"][1] is None  # not text: its None stays
    only = read_table(tmp_path / "t.parquet", LIMITS, columns=["late_gap"])
    assert list(only.columns) == ["late_gap"] and isinstance(only["late_gap"][3], float)

    # pandas names a column as the file's pandas metadata says, which need not be the field's own name:
    # here field `b` (complete) is shown as column `a` and field `a` (with a None) as column `b`.
    swapped = pa.Table.from_pandas(pd.DataFrame({"a": ["x", None], "b": ["p", "q"]}), preserve_index=False)
    meta = json.loads(swapped.schema.metadata[b"pandas"])
    meta["columns"][0]["name"], meta["columns"][1]["name"] = "b", "a"
    swapped = swapped.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})
    pq.write_table(swapped, tmp_path / "swapped.parquet")
    assert columns_without_nulls(pq.ParquetFile(tmp_path / "swapped.parquet")) == {"a"}
    back = read_table(tmp_path / "swapped.parquet", LIMITS)
    assert back["a"].tolist() == ["p", "q"]
    assert back["b"][0] == "x" and isinstance(back["b"][1], float)


def test_unusable_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_table(tmp_path / "missing.csv", LIMITS)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InvalidInput, match="empty"):
        read_table(tmp_path / "empty.csv", LIMITS)
    (tmp_path / "bad.csv").write_text('a,b\n1,2\n3,4,5,6\n"unterminated\n')
    with pytest.raises(InvalidInput, match="could not be read as CSV"):
        read_table(tmp_path / "bad.csv", LIMITS)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(InvalidInput, match="could not be read as PARQUET"):
        read_table(tmp_path / "bad.parquet", LIMITS)
    (tmp_path / "x.xlsx").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="not a supported table"):
        read_table(tmp_path / "x.xlsx", LIMITS)


def test_limits(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": range(2000)})
    write_table(df, tmp_path / "big.parquet")
    write_table(df, tmp_path / "big.csv")
    for name in ("big.parquet", "big.csv"):
        with pytest.raises(LimitExceeded, match="more than 1000 rows"):
            read_table(tmp_path / name, LIMITS)
    with pytest.raises(LimitExceeded, match="byte limit"):
        read_table(tmp_path / "big.csv", TableLimits(rows=10_000, file_bytes=100, decoded_bytes=2**31))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 22])
@pytest.mark.parametrize(
    ("text", "lines", "refused_line"),
    [
        ("[[1]]\n[[[1]]]\n", True, 2),
        ('{"a": "[[[[[[[[["}\n', True, None),  # brackets inside a string are text
        ('["\\\\", [[[1]]]]\n', True, 1),  # an escaped backslash does not escape the quote after it
        ('["\\"[[[[[[", 1]\n', True, None),  # an escaped quote does not end the string
        ('"]]]]]]]]\n[[[1]]]\n', True, 2),  # an unclosed string ends with its line in JSON Lines
        ('[1,\n"]]]]]]]]",\n[[[2]]]]', False, 3),
        ("[[1],\n[2]]", False, None),
    ],
)
def test_json_depth(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    text: str,
    lines: bool,
    refused_line: int | None,
) -> None:
    from mcp_server.core import tables

    monkeypatch.setattr(tables, "_DEPTH_CHUNK", chunk)
    path = tmp_path / ("t.jsonl" if lines else "t.json")
    path.write_text(text)
    if refused_line is None:
        tables.check_json_depth(path, lines=lines, limit=2)
    else:
        with pytest.raises(
            LimitExceeded, match=f"^Line {refused_line} of 't.json.?' nests deeper than 2 levels"
        ):
            tables.check_json_depth(path, lines=lines, limit=2)
