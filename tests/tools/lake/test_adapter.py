"""The lake adapter against pyarrow itself on small data: filters, reads, digests, configuration."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from mcp_server.core.errors import InvalidInput
from mcp_server.tools.lake import adapter


@pytest.fixture
def table() -> pa.Table:
    return pa.table(
        {
            "x": pa.array([1, 2, 3, 4, None], type=pa.int32()),
            "s": ["a", "b", "a", "c", "b"],
            "d": pa.array([0, 10, 20, 30, 40], type=pa.date32()),
        }
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([["x", ">", 2]], pc.greater(pc.field("x"), 2)),
        ([["s", "in", ["a", "c"]]], pc.field("s").isin(["a", "c"])),
        ([["s", "not in", ["a"]], ["x", "<=", 4]], (~pc.field("s").isin(["a"])) & (pc.field("x") <= 4)),
        ([["x", "==", None]], pc.field("x").is_null()),
        ([["d", ">=", "1970-01-21"]], pc.field("d") >= pa.scalar(20, type=pa.date32())),
    ],
)
def test_build_filter_matches_pyarrow(
    table: pa.Table, filters: list[list[object]], expected: pc.Expression
) -> None:
    data = ds.dataset(table)
    ours = adapter.build_filter(table.schema, filters)
    assert data.to_table(filter=ours).equals(data.to_table(filter=expected))


def test_build_filter_refuses_what_it_does_not_know(table: pa.Table) -> None:
    for filters, needle in [
        ([["x", "=~", 1]], "unknown operator"),
        ([["y", "==", 1]], "unknown column"),
        ([["x", "==", 1.5]], "cannot be compared"),
        ([["x", "==", {"$gt": 1}]], "plain value"),
        ([["x", "in", []]], "non-empty list"),
        ([["x", ">"]], "triple"),
    ]:
        with pytest.raises(InvalidInput, match=needle):
            adapter.build_filter(table.schema, filters)  # type: ignore[arg-type]


def test_write_and_read_version_on_local_disk(tmp_path: Path, table: pa.Table) -> None:
    cfg = adapter.make_config(None, tmp_path, None, "us-east-1", ["127.0.0.1"])
    target = cfg.version_dir("raw", "t", 1)
    stats = adapter.write_version(
        cfg,
        ds.dataset(table),
        target,
        partition_by=["s"],
        compression="gzip",
        row_group_size=1000,
        max_rows=100,
    )
    assert stats.rows == 5 and stats.files == 3 and len(stats.digest) == 64
    assert adapter.content_digest(cfg, target) == stats.digest  # recomputed from the files: the same
    opened = adapter.open_version(cfg, target, "parquet", adapter.schema_to_b64(table.schema), ["s"])
    assert opened.schema.equals(table.schema)  # partition column keeps its type and place
    out = tmp_path / "out.parquet"
    got = adapter.read_version(
        opened,
        cfg,
        "t",
        columns=["x"],
        filters=[["s", "==", "b"]],
        limit=None,
        max_rows=10,
        sample_rows=5,
        out_path=out,
    )
    assert got.matched_rows == 2 and got.sample == [{"x": 2}, {"x": None}]
    assert pa.parquet.read_table(out).column("x").to_pylist() == [2, None]  # type: ignore[attr-defined]


def test_config_checks_the_endpoint_and_root(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="allowlist"):
        adapter.make_config("s3://b/p", tmp_path, "http://example.com:9000", "us-east-1", ["127.0.0.1"])
    with pytest.raises(InvalidInput, match="local folder or an s3"):
        adapter.make_config("gs://b/p", tmp_path, None, "us-east-1", [])
    cfg = adapter.make_config("s3://b/p/", tmp_path, "http://127.0.0.1:9000", "us-east-1", ["127.0.0.1"])
    assert cfg.root == "s3://b/p" and cfg.version_dir("raw", "n", 2) == "s3://b/p/raw/n/v2"
    assert cfg.show(cfg.version_dir("raw", "n", 2)) == "s3://b/p/raw/n/v2"


@pytest.mark.parametrize(
    "filters",
    [
        [["g", "==", 3], ["id", ">=", 1234]],  # one partition, a boundary row group, the rest whole
        [["id", "<", 50]],
        [["g", "==", 3]],  # the partition alone
        [["g", "in", [1, 2]], ["g", "!=", 2]],
        [["v", ">", 0.9]],  # no statistics decide it: every row group is scanned
        [["g", "==", 99]],  # nothing
        None,
    ],
)
def test_count_and_sample_equal_pyarrow_scanner(tmp_path: Path, filters: list[list[object]] | None) -> None:
    """The sample path counts and samples by row group: the same count and first rows as pyarrow's own
    count_rows and scanner head on the same version."""
    import numpy as np

    n = 5000
    source = pa.table(
        {
            "id": pa.array(np.arange(n), type=pa.int64()),
            "g": pa.array(np.arange(n) % 7, type=pa.int32()),
            "v": np.random.default_rng(1).random(n),
        }
    )
    cfg = adapter.make_config(None, tmp_path, None, "us-east-1", ["127.0.0.1"])
    target = cfg.version_dir("raw", "t", 1)
    adapter.write_version(
        cfg,
        ds.dataset(source),
        target,
        partition_by=["g"],
        compression="zstd",
        row_group_size=100,
        max_rows=n,
    )
    schema_b64 = adapter.schema_to_b64(source.schema)
    opened = adapter.open_version(cfg, target, "parquet", schema_b64, ["g"], identity=(1, "t0"))
    assert adapter.open_version(cfg, target, "parquet", schema_b64, ["g"], identity=(1, "t0")) is opened
    assert adapter.open_version(cfg, target, "parquet", schema_b64, ["g"], identity=(2, "t1")) is not opened
    got = adapter.read_version(
        opened, cfg, "t", columns=None, filters=filters, limit=None, max_rows=n, sample_rows=10, out_path=None
    )
    expression = adapter.build_filter(opened.schema, filters)
    assert got.matched_rows == opened.count_rows(filter=expression)
    assert got.sample == adapter.json_rows(opened.scanner(filter=expression).head(10).to_pylist())
