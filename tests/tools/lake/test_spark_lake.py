"""lake_read and lake_compact with engine=spark give what the pyarrow engine gives (one Spark session per
module, local[2])."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, structured
from tests.tools.lake.helpers import make_frame, pandas_filter, read_artifact_frame

# One Spark session (a JVM) per module: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark-lake"),
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = make_frame(3_000)
    df.loc[df.index % 97 == 0, "income"] = None
    return df


@pytest.fixture(scope="module")
def spark_app(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[AppContext]:
    home = tmp_path_factory.mktemp("spark-lake") / "home"
    settings = Settings(home=home, profile="all", spark_master="local[2]", deadline_s=900)
    settings.workspace_dir.mkdir(parents=True)
    # Spark reads micro- and millisecond Parquet timestamps (not nanoseconds).
    frame.to_parquet(settings.workspace_dir / "customers.parquet", index=False, coerce_timestamps="us")
    app = AppContext.from_settings(settings)
    yield app
    app.close()


@pytest.fixture(scope="module")
async def lake_c(spark_app: AppContext) -> str:
    """Version 1 of lake dataset `c`, written once (arrow) for every test that reads it, in any order: many
    small files, 3,000 rows in row groups and files of 1,000 per segment."""
    server = create_server(spark_app.settings, app=spark_app)
    async with Client(server, mode="legacy") as client:
        structured(
            await client.call_tool(
                "lake_write",
                {
                    "source": "customers.parquet",
                    "dataset": "c",
                    "partition_by": ["segment"],
                    "row_group_size": 1000,
                },
            )
        )
    return "c"


@pytest.fixture
async def sc(spark_app: AppContext) -> AsyncIterator[Client]:
    server = create_server(spark_app.settings, app=spark_app)
    async with Client(server, mode="legacy") as client:
        yield client


def ordered(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("id").reset_index(drop=True)


async def test_read_and_compact_on_spark_match_arrow(
    sc: Client, spark_app: AppContext, frame: pd.DataFrame, lake_c: str
) -> None:
    filters = [["age", ">=", 30], ["country", "in", ["fr", "de"]], ["income", "!=", None]]
    args = {
        "dataset": "c",
        "filters": filters,
        "columns": ["id", "age", "income", "country", "signup"],
        "write_result": True,
    }
    on_arrow = structured(await sc.call_tool("lake_read", {**args, "engine": "arrow"}))
    on_spark = structured(await sc.call_tool("lake_read", {**args, "engine": "spark"}))
    assert on_arrow["engine"] == "arrow" and on_spark["engine"] == "spark"
    expected = pandas_filter(frame, filters[:2])
    expected = expected[expected.income.notna()]
    assert on_spark["matched_rows"] == on_arrow["matched_rows"] == len(expected)
    assert on_spark["returned_rows"] == len(expected) and not on_spark["truncated"]
    assert on_spark["columns"] == args["columns"] and len(on_spark["sample"]) == 10
    got = ordered(await read_artifact_frame(sc, on_spark["result"]))
    want = ordered(await read_artifact_frame(sc, on_arrow["result"]))
    pd.testing.assert_frame_equal(got, want, check_dtype=False)

    # A limit caps the result, not the count; `not in` and `<` as on arrow.
    limited = structured(
        await sc.call_tool(
            "lake_read",
            {
                "dataset": "c",
                "filters": [["segment", "not in", ["a"]], ["age", "<", 40]],
                "limit": 7,
                "engine": "spark",
            },
        )
    )
    count = len(pandas_filter(frame, [["segment", "not in", ["a"]], ["age", "<", 40]]))
    assert (limited["matched_rows"], limited["returned_rows"], limited["truncated"]) == (count, 7, True)

    # Compaction on Spark: a new version with fewer files, the same rows, readable by the arrow engine.
    before = structured(await sc.call_tool("lake_versions", {"dataset": "c"}))["versions"][0]
    compacted = structured(await sc.call_tool("lake_compact", {"dataset": "c", "engine": "spark"}))
    assert compacted["engine"] == "spark" and compacted["version"] == 2 and compacted["rows"] == len(frame)
    assert compacted["files_after"] <= before["files"] and compacted["files_after"] == 4  # one per segment
    folder = spark_app.settings.home / "lake" / "raw" / "c" / "v2"
    assert not list(folder.rglob("*.crc")) and not list(folder.rglob("_SUCCESS"))
    assert ds.dataset(folder, format="parquet", partitioning="hive").count_rows() == len(frame)
    whole = structured(
        await sc.call_tool(
            "lake_read", {"dataset": "c", "version": 2, "engine": "arrow", "write_result": True}
        )
    )
    back = ordered(await read_artifact_frame(sc, whole["result"]))
    pd.testing.assert_frame_equal(
        back[frame.columns.tolist()].astype({"segment": str}), ordered(frame), check_dtype=False
    )


async def test_auto_uses_spark_over_the_row_limit(sc: Client, spark_app: AppContext, lake_c: str) -> None:
    settings = spark_app.settings
    small = structured(
        await sc.call_tool("lake_read", {"dataset": "c", "version": 1, "include_samples": False})
    )
    assert small["engine"] == "arrow"
    settings.max_rows = 1_000  # the version (3,000 rows) is now over the pandas/arrow limit
    try:
        big = structured(
            await sc.call_tool("lake_read", {"dataset": "c", "version": 1, "include_samples": False})
        )
        assert big["engine"] == "spark" and big["returned_rows"] == 3_000 and not big["truncated"]
        assert_tool_error(
            await sc.call_tool(
                "lake_read", {"dataset": "c", "filters": [["nope", "==", 1]], "engine": "spark"}
            ),
            "unknown column",
        )
    finally:
        settings.max_rows = 5_000_000


async def test_engine_spark_needs_spark(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", spark_master="off")
    settings.workspace_dir.mkdir(parents=True)
    pd.DataFrame({"id": [1, 2, 3]}).to_parquet(settings.workspace_dir / "t.parquet", index=False)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            structured(await client.call_tool("lake_write", {"source": "t.parquet", "dataset": "t"}))
            for tool in ("lake_read", "lake_compact"):
                assert_tool_error(
                    await client.call_tool(tool, {"dataset": "t", "engine": "spark"}),
                    "MLOPS_MCP_SPARK_MASTER",
                )
            auto = structured(await client.call_tool("lake_read", {"dataset": "t"}))
            assert auto["engine"] == "arrow" and auto["matched_rows"] == 3
    finally:
        server.app.close()


async def test_validation_run_on_a_lake_version(sc: Client, frame: pd.DataFrame, lake_c: str) -> None:
    """validation_run reads `lake:<name>@<version>` where it lives, on Spark; the result's dataset is the
    version's catalog identifier (lineage)."""
    suite = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 20, "max_value": 80},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "segment", "value_set": ["a", "b"]},
        },
        {
            "type": "expect_column_values_to_be_in_type_list",
            "kwargs": {"column": "signup", "type_list": ["timestamp"]},
        },
    ]
    structured(await sc.call_tool("validation_create_suite", {"name": "lakecheck", "expectations": suite}))
    version = structured(await sc.call_tool("lake_versions", {"dataset": "c"}))["versions"][-1]
    report = structured(await sc.call_tool("validation_run", {"dataset": "lake:c@1", "suite": "lakecheck"}))
    assert "spark" in report["engine"] and report["row_count"] == len(frame)
    assert report["dataset_id"] == version["identifier"]
    got = {o["index"]: o for o in report["results"]}
    assert got[0]["unexpected_count"] == int(frame.income.isna().sum())
    assert got[1]["unexpected_count"] == int(((frame.age < 20) | (frame.age > 80)).sum())
    assert got[2]["unexpected_count"] == int((~frame.segment.isin(["a", "b"])).sum())
    assert got[3]["success"] is True
    assert_tool_error(
        await sc.call_tool("validation_run", {"dataset": "lake:c", "suite": "lakecheck", "engine": "pandas"}),
        "engine=spark",
    )
    assert_tool_error(
        await sc.call_tool("validation_run", {"dataset": "lake:nope", "suite": "lakecheck"}),
    )
