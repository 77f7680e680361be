"""The lake on S3: moto's server mode on 127.0.0.1 is a real HTTP S3 endpoint (no in-process patching).

boto3 (checks, listing) and pyarrow's S3FileSystem (data) talk to it over HTTP; the test checks the
objects with its own boto3 client. A closed port stands for an endpoint that is down.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.services import moto_s3
from tests.tools.lake.helpers import make_frame, pandas_filter, read_artifact_frame, write_parquet

BUCKET = "mlops-lake"
FAKE_SECRET = "fake-secret-key-do-not-echo"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_s3(BUCKET, secret=FAKE_SECRET) as endpoint:
        yield endpoint


@pytest.fixture
def settings(tmp_path: Path, s3_endpoint: str) -> Settings:
    # Each test gets its own prefix in the bucket, so versions never collide across tests.
    prefix = tmp_path.name.replace("_", "-")
    return Settings(
        home=tmp_path / "home",
        profile="all",
        lake_root=f"s3://{BUCKET}/{prefix}",
        s3_endpoint_url=s3_endpoint,
    )


def objects(endpoint: str, prefix: str) -> dict[str, int]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: o["Size"] for o in listed if not o["Key"].endswith("/")}


async def test_s3_round_trip(client: Client, settings: Settings, s3_endpoint: str) -> None:
    frame = make_frame(3_000)
    write_parquet(frame, settings.workspace_dir / "events.parquet")
    prefix = settings.lake_root.split("/", 3)[3]  # type: ignore[union-attr]
    out = structured(
        await client.call_tool(
            "lake_write",
            {
                "source": "events.parquet",
                "dataset": "events",
                "partition_by": ["country"],
                "zone": "curated",
                "row_group_size": 1000,
            },
        )
    )
    assert out["location"] == f"{settings.lake_root}/curated/events/v1"
    stored = objects(s3_endpoint, f"{prefix}/curated/events/v1/")
    assert sorted(k.split("/")[-2] for k in stored) == ["country=de", "country=fr", "country=us"]
    assert out["bytes"] == sum(stored.values()) and out["files"] == len(stored)

    filters = [["country", "==", "fr"], ["age", ">=", 45]]
    read = structured(
        await client.call_tool("lake_read", {"dataset": "events", "filters": filters, "write_result": True})
    )
    expected = pandas_filter(frame, filters)
    assert read["matched_rows"] == len(expected)
    got = await read_artifact_frame(client, read["result"])
    assert sorted(got["id"]) == sorted(expected["id"])
    assert got["income"].sum() == pytest.approx(expected["income"].sum())

    # A breaking schema change is refused on S3 too, and leaves no objects behind.
    write_parquet(frame.drop(columns=["income"]), settings.workspace_dir / "narrow.parquet")
    assert_tool_error(
        await client.call_tool("lake_write", {"source": "narrow.parquet", "dataset": "events"}),
        "breaks the schema",
    )
    assert objects(s3_endpoint, f"{prefix}/curated/events/v2/") == {}

    compact = structured(await client.call_tool("lake_compact", {"dataset": "events"}))
    assert compact["version"] == 2 and compact["rows"] == len(frame)
    assert compact["row_groups_before"] > compact["row_groups_after"] == 3
    again = structured(await client.call_tool("lake_read", {"dataset": "events", "filters": filters}))
    assert again["matched_rows"] == len(expected) and again["version"] == 2
    got = structured(await client.call_tool("catalog_get", {"dataset": "events"}))
    assert [v["version"] for v in got["versions"]] == [2, 1]
    assert got["lineage"]["upstream"] == [out["identifier"]]


async def test_register_an_s3_location(client: Client, settings: Settings, s3_endpoint: str) -> None:
    frame = make_frame(500)
    local = write_parquet(frame, settings.workspace_dir / "x.parquet")
    key = f"external/{settings.home.parent.name}/x.parquet"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").upload_file(str(local), BUCKET, key)
    reg = structured(
        await client.call_tool(
            "catalog_register", {"dataset": "ext", "location": f"s3://{BUCKET}/{key}", "owner": "ops"}
        )
    )
    assert reg["rows"] == len(frame) and reg["location"] == f"s3://{BUCKET}/{key}"
    read = structured(
        await client.call_tool("lake_read", {"dataset": "ext", "filters": [["segment", "==", "a"]]})
    )
    assert read["matched_rows"] == int((frame["segment"] == "a").sum())
    missing = await client.call_tool(
        "catalog_register", {"dataset": "ext2", "location": "s3://no-such-bucket/x.parquet"}
    )
    assert_tool_error(missing, "no-such-bucket", "does not exist")


async def test_s3_endpoint_down_is_an_error_within_the_deadline(tmp_path: Path, s3_endpoint: str) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = Settings(
        home=tmp_path / "home",
        profile="all",
        lake_root=f"s3://{BUCKET}/down",
        s3_endpoint_url=f"http://127.0.0.1:{closed}",
        deadline_s=20,
    )
    write_parquet(make_frame(100), settings.workspace_dir / "x.parquet")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        started = time.perf_counter()
        message = assert_tool_error(
            await client.call_tool("lake_write", {"source": "x.parquet", "dataset": "x"}), "did not answer"
        )
        assert time.perf_counter() - started < 15
        assert FAKE_SECRET not in message and "testing" not in message
        health = structured(await client.call_tool("health_check", {}))
        lake = next(b for b in health["backends"] if b["name"] == "lake")
        assert lake["status"] == "down" and "did not answer" in lake["detail"]
        # Nothing was reserved, and the server still answers.
        assert structured(await client.call_tool("lake_list", {}))["total"] == 0
    server.app.close()


async def test_endpoint_outside_the_allowlist_is_refused(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", profile="all", lake_root="s3://b/p", s3_endpoint_url="http://169.254.169.254/"
    )
    write_parquet(make_frame(10), settings.workspace_dir / "x.parquet")
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        assert_tool_error(
            await client.call_tool("lake_write", {"source": "x.parquet", "dataset": "x"}), "metadata"
        )
    server.app.close()
