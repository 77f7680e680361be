"""The lake on local disk, through the MCP client: write, read with push-down, versions, convert, compact."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.tools.lake.helpers import make_frame, pandas_filter, read_artifact_frame, write_parquet


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def source(settings: Settings, frame: pd.DataFrame) -> Path:
    return write_parquet(frame, settings.workspace_dir / "customers.parquet")


async def test_write_then_read_round_trip(
    client: Client, settings: Settings, frame: pd.DataFrame, source: Path
) -> None:
    out = structured(
        await client.call_tool(
            "lake_write",
            {
                "source": "customers.parquet",
                "dataset": "customers",
                "partition_by": ["segment"],
                "row_group_size": 1000,
            },
        )
    )
    assert out["version"] == 1 and out["zone"] == "raw" and out["previous_version"] is None
    assert out["rows"] == len(frame)
    assert out["identifier"].startswith("dataset:customers@") and len(out["identifier"].split("@")[1]) == 12
    assert out["location"] == "<lake>/raw/customers/v1"
    assert out["source"].startswith("dataset:") and out["source"].endswith(out["source"][-12:])

    # The files on disk, read independently with pyarrow: hive partitions, every row, zstd.
    folder = settings.home / "lake" / "raw" / "customers" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == [f"segment={s}" for s in "abcd"]
    on_disk = ds.dataset(folder, format="parquet", partitioning="hive")
    assert on_disk.count_rows() == len(frame)
    meta = pq.ParquetFile(next(folder.glob("segment=a/*.parquet"))).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert meta.row_group(0).num_rows <= 1000
    assert out["files"] == len(list(folder.rglob("*.parquet")))
    assert out["bytes"] == sum(p.stat().st_size for p in folder.rglob("*.parquet"))

    read = structured(await client.call_tool("lake_read", {"dataset": "customers", "write_result": True}))
    assert read["matched_rows"] == read["returned_rows"] == len(frame)
    got = await read_artifact_frame(client, read["result"])
    got = got.sort_values("id").reset_index(drop=True)[list(frame.columns)]
    pd.testing.assert_frame_equal(got, frame, check_dtype=False)
    assert got["age"].dtype == "int32" and got["segment"].dtype == object


@pytest.mark.parametrize(
    "filters",
    [
        [["age", ">=", 40], ["segment", "==", "b"]],
        [["age", "<", 30]],
        [["age", "<=", 30], ["country", "!=", "fr"]],
        [["income", ">", 60000.5]],
        [["segment", "in", ["a", "c"]], ["id", "<", 2500]],
        [["country", "not in", ["us"]], ["age", "==", 50]],
        [["signup", ">=", "2024-06-01"], ["signup", "<", "2024-07-01"]],
    ],
)
async def test_matched_rows_equal_pandas(
    client: Client, frame: pd.DataFrame, source: Path, filters: list[list[object]]
) -> None:
    structured(
        await client.call_tool(
            "lake_write", {"source": "customers.parquet", "dataset": "c", "partition_by": ["segment"]}
        )
    )
    read = structured(
        await client.call_tool(
            "lake_read",
            {"dataset": "c", "filters": filters, "columns": ["id", "age", "segment"], "write_result": True},
        )
    )
    expected = pandas_filter(frame, filters)
    assert read["matched_rows"] == len(expected)
    assert read["columns"] == ["id", "age", "segment"]
    got = await read_artifact_frame(client, read["result"])
    assert list(got.columns) == ["id", "age", "segment"]
    assert sorted(got["id"]) == sorted(expected["id"])
    assert len(read["sample"]) == min(10, len(expected))
    for row in read["sample"]:
        assert set(row) == {"id", "age", "segment"}
        assert frame.loc[row["id"], "age"] == row["age"]


async def test_limit_caps_the_result_not_the_count(client: Client, frame: pd.DataFrame, source: Path) -> None:
    structured(await client.call_tool("lake_write", {"source": "customers.parquet", "dataset": "c"}))
    filters = [["age", ">", 50]]
    read = structured(
        await client.call_tool(
            "lake_read", {"dataset": "c", "filters": filters, "limit": 7, "include_samples": False}
        )
    )
    assert read["matched_rows"] == len(pandas_filter(frame, filters))
    assert read["returned_rows"] == 7 and read["truncated"] is True
    assert read["sample"] == []


async def test_versions_and_schema_compatibility(
    client: Client, settings: Settings, frame: pd.DataFrame, source: Path
) -> None:
    structured(
        await client.call_tool(
            "lake_write", {"source": "customers.parquet", "dataset": "c", "zone": "processed"}
        )
    )
    # Widening (age int32 -> int64) and an added column are compatible.
    wider = frame.assign(age=frame["age"].astype("int64"), score=1.0)
    write_parquet(wider, settings.workspace_dir / "wider.parquet")
    v2 = structured(await client.call_tool("lake_write", {"source": "wider.parquet", "dataset": "c"}))
    assert v2["version"] == 2 and v2["zone"] == "processed" and v2["previous_version"] == 1
    assert v2["schema_change"] == {
        "added": ["score"],
        "removed": [],
        "retyped": ["age: int32 -> int64"],
        "compatible": True,
    }
    # Removing a column and narrowing a type are breaking: refused, and no version is made.
    broken = wider.drop(columns=["country"]).assign(income=wider["income"].astype("float32"))
    write_parquet(broken, settings.workspace_dir / "broken.parquet")
    refused = await client.call_tool("lake_write", {"source": "broken.parquet", "dataset": "c"})
    assert_tool_error(refused, "breaks the schema", "country", "allow_breaking")
    versions = structured(await client.call_tool("lake_versions", {"dataset": "c"}))
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    assert not (settings.home / "lake" / "processed" / "c" / "v3").exists()
    # ... unless allow_breaking.
    v3 = structured(
        await client.call_tool(
            "lake_write", {"source": "broken.parquet", "dataset": "c", "allow_breaking": True}
        )
    )
    assert v3["version"] == 3 and v3["schema_change"]["compatible"] is False
    # Older versions stay readable and unchanged (immutable).
    old = structured(
        await client.call_tool("lake_read", {"dataset": "c", "version": 1, "columns": ["country"]})
    )
    assert old["matched_rows"] == len(frame)
    # A zone that differs from the dataset's is refused.
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "customers.parquet", "dataset": "c", "zone": "raw"}),
        "processed",
    )
    listed = structured(await client.call_tool("lake_list", {}))
    assert listed["total"] == 1
    assert listed["datasets"][0]["latest_version"] == 3 and listed["datasets"][0]["versions"] == 3
    assert listed["datasets"][0]["rows"] == len(frame)


async def test_convert_reports_sizes_and_scan_times(
    client: Client, settings: Settings, frame: pd.DataFrame
) -> None:
    csv = settings.workspace_dir / "big.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv, index=False)
    out = structured(await client.call_tool("lake_convert", {"path": "big.csv", "compression": "snappy"}))
    parquet = settings.workspace_dir / "big.parquet"
    assert out["output"] == "big.parquet" and out["rows"] == len(frame) and out["columns"] == frame.shape[1]
    assert out["source_bytes"] == csv.stat().st_size and out["parquet_bytes"] == parquet.stat().st_size
    assert out["size_ratio"] == pytest.approx(parquet.stat().st_size / csv.stat().st_size, abs=1e-4)
    assert out["source_scan_s"] > 0 and out["parquet_scan_s"] > 0
    back = pd.read_parquet(parquet)
    assert back["id"].tolist() == frame["id"].tolist()
    assert back["income"].tolist() == pytest.approx(frame["income"].tolist())
    assert pq.ParquetFile(parquet).metadata.row_group(0).column(0).compression == "SNAPPY"
    assert_tool_error(await client.call_tool("lake_convert", {"path": "big.csv"}), "already exists")
    jl = settings.workspace_dir / "rows.jsonl"
    frame.head(100).drop(columns=["signup"]).to_json(jl, orient="records", lines=True)
    out = structured(await client.call_tool("lake_convert", {"path": "rows.jsonl", "output": "rows.parquet"}))
    assert out["rows"] == 100


async def test_compact_merges_small_files(client: Client, settings: Settings, frame: pd.DataFrame) -> None:
    # A registered folder of many small files (as appends leave behind) ...
    folder = settings.workspace_dir / "events"
    folder.mkdir(parents=True)
    for i, chunk in enumerate(range(0, len(frame), 250)):
        pq.write_table(
            pa.Table.from_pandas(frame.iloc[chunk : chunk + 250], preserve_index=False),
            folder / f"part-{i}.parquet",
        )
    reg = structured(await client.call_tool("catalog_register", {"dataset": "events", "location": "events"}))
    assert reg["rows"] == len(frame)
    out = structured(await client.call_tool("lake_compact", {"dataset": "events"}))
    assert out["from_version"] == 1 and out["version"] == 2
    assert out["files_before"] == 20 and out["row_groups_before"] == 20
    assert out["files_after"] == 1 and out["row_groups_after"] == 1
    assert out["rows"] == len(frame)
    written = (
        ds.dataset(settings.home / "lake" / "raw" / "events" / "v2", format="parquet").to_table().to_pandas()
    )
    assert sorted(written["id"]) == frame["id"].tolist()
    # ... and a lake version with tiny row groups keeps its partitioning.
    write_parquet(frame, settings.workspace_dir / "c.parquet")
    structured(
        await client.call_tool(
            "lake_write",
            {"source": "c.parquet", "dataset": "c", "partition_by": ["country"], "row_group_size": 1000},
        )
    )
    out = structured(await client.call_tool("lake_compact", {"dataset": "c", "row_group_size": 100_000}))
    assert out["row_groups_before"] > out["row_groups_after"] == 3 and out["files_after"] == 3
    read = structured(
        await client.call_tool("lake_read", {"dataset": "c", "filters": [["country", "==", "fr"]]})
    )
    assert read["matched_rows"] == int((frame["country"] == "fr").sum())
    graph = structured(await client.call_tool("lineage_get", {"entity": "dataset:c@v2", "depth": 1}))
    assert [e["kind"] for e in graph["edges"]] == ["compacted"]


async def test_csv_source_and_inferred_types(client: Client, settings: Settings, frame: pd.DataFrame) -> None:
    csv = settings.workspace_dir / "c.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(csv, index=False)
    out = structured(await client.call_tool("lake_write", {"source": "c.csv", "dataset": "from_csv"}))
    assert out["rows"] == len(frame)
    types = {c["name"]: c["type"] for c in out["columns"]}
    assert types["id"] == "int64" and types["segment"] == "string" and types["income"] == "double"


# -- bad input: one clear error each -----------------------------------------------------------


async def test_bad_input(client: Client, settings: Settings, source: Path) -> None:
    structured(await client.call_tool("lake_write", {"source": "customers.parquet", "dataset": "c"}))
    cases = [
        ("lake_write", {"source": "customers.parquet", "dataset": "a..b"}, ("'..'",)),
        ("lake_write", {"source": "customers.parquet", "dataset": "../etc"}, ("'..'",)),
        ("lake_read", {"dataset": "../../x"}, ("'..'",)),
        ("lake_write", {"source": "../outside.parquet", "dataset": "x"}, ("'..'",)),
        ("lake_write", {"source": "customers.parquet", "dataset": "x", "partition_by": ["nope"]}, ("nope",)),
        (
            "lake_write",
            {"source": "customers.parquet", "dataset": "x", "partition_by": ["income"]},
            ("income", "double"),
        ),
        ("lake_read", {"dataset": "c", "filters": [["age", "~=", 3]]}, ("unknown operator", "'~='")),
        ("lake_read", {"dataset": "c", "filters": [["age", "like", "%"]]}, ("unknown operator",)),
        ("lake_read", {"dataset": "c", "filters": [["agee", ">", 3]]}, ("unknown column", "'agee'")),
        ("lake_read", {"dataset": "c", "columns": ["id", "nope"]}, ("Unknown column", "'nope'")),
        ("lake_read", {"dataset": "c", "filters": [["age", ">", "old"]]}, ("cannot be compared", "int32")),
        ("lake_read", {"dataset": "c", "filters": [["age", "in", 3]]}, ("non-empty list",)),
        ("lake_read", {"dataset": "c", "filters": [["age", ">", None]]}, ("null",)),
        ("lake_read", {"dataset": "c", "version": 9}, ("no version 9",)),
        ("lake_read", {"dataset": "missing"}, ("No dataset 'missing'",)),
        ("lake_versions", {"dataset": "missing"}, ("No dataset",)),
        ("lake_compact", {"dataset": "missing"}, ("No dataset",)),
        ("lake_convert", {"path": "customers.parquet"}, ("already Parquet",)),
        ("lake_convert", {"path": "nope.csv"}, ("No file",)),
    ]
    for tool, args, needles in cases:
        assert_tool_error(await client.call_tool(tool, args), *needles)
    (settings.workspace_dir / "broken.csv").write_text("a,b\n1,2\n3,4,5\n")
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "broken.csv", "dataset": "b"}), "could not be read"
    )
    (settings.workspace_dir / "notes.txt").write_text("hello")
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "notes.txt", "dataset": "b"}), "not a supported"
    )
    # The failed writes left no version behind, and the server still answers.
    assert structured(await client.call_tool("lake_list", {}))["total"] == 1


async def test_row_limit_is_enforced(tmp_path: Path, frame: pd.DataFrame) -> None:
    from mcp_server.core.app import create_server

    settings = Settings(home=tmp_path / "home", profile="all", max_rows=1000)
    write_parquet(frame, settings.workspace_dir / "c.parquet")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        started = time.perf_counter()
        assert_tool_error(
            await client.call_tool("lake_write", {"source": "c.parquet", "dataset": "c"}), "1000 rows"
        )
        assert time.perf_counter() - started < 30
        assert structured(await client.call_tool("lake_list", {}))["datasets"][0]["latest_version"] is None
    server.app.close()
