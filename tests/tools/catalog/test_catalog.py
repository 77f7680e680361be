"""The catalog through the MCP client: register, search, get (with a validation result) and schema diffs."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.tools.catalog.adapter import diff_schemas, is_widening
from tests.conftest import assert_tool_error, structured
from tests.tools.lake.helpers import make_frame, write_parquet


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(1_000)


async def test_register_search_and_get(client: Client, settings: Settings, frame: pd.DataFrame) -> None:
    write_parquet(frame, settings.workspace_dir / "customers.parquet")
    frame.to_csv(settings.workspace_dir / "orders.csv", index=False)
    reg = structured(
        await client.call_tool(
            "catalog_register",
            {
                "dataset": "customers",
                "location": "customers.parquet",
                "description": "Customer sign-ups by segment",
                "owner": "growth",
                "tags": ["pii", "daily"],
            },
        )
    )
    assert reg["created"] is True and reg["new_version"] is True and reg["version"] == 1
    assert reg["rows"] == len(frame) and reg["columns"] == frame.shape[1]
    assert reg["location"] == "customers.parquet" and reg["tags"] == ["daily", "pii"]
    # Registering the same file again changes nothing (idempotent); metadata can be updated alone.
    again = structured(
        await client.call_tool("catalog_register", {"dataset": "customers", "location": "customers.parquet"})
    )
    assert again["new_version"] is False and again["version"] == 1 and again["owner"] == "growth"
    structured(await client.call_tool("catalog_register", {"dataset": "customers", "tags": ["pii", "gold"]}))
    structured(
        await client.call_tool(
            "catalog_register",
            {"dataset": "orders", "location": "orders.csv", "owner": "sales", "tags": ["daily"]},
        )
    )
    structured(await client.call_tool("lake_write", {"source": "customers.parquet", "dataset": "cust_lake"}))

    async def names(**args: object) -> list[str]:
        out = structured(await client.call_tool("catalog_search", dict(args)))
        return sorted(d["name"] for d in out["datasets"])

    assert await names(text="sign-ups") == ["customers"]
    assert await names(text="CUST") == ["cust_lake", "customers"]
    assert await names(tags=["daily"]) == ["orders"]
    assert await names(tags=["pii", "gold"]) == ["customers"]
    assert await names(owner="sales") == ["orders"]
    assert await names(zone="raw") == ["cust_lake"]
    assert await names(text="%") == []  # LIKE wildcards are literal
    page = structured(await client.call_tool("catalog_search", {"limit": 2}))
    assert page["total"] == 3 and len(page["datasets"]) == 2 and page["next_cursor"]
    rest = structured(await client.call_tool("catalog_search", {"limit": 2, "cursor": page["next_cursor"]}))
    assert len(rest["datasets"]) == 1

    got = structured(await client.call_tool("catalog_get", {"dataset": "orders"}))
    assert (
        got["rows"] == len(frame) and got["bytes"] == (settings.workspace_dir / "orders.csv").stat().st_size
    )
    assert got["versions"][0]["format"] == "csv"
    assert [c["name"] for c in got["versions"][0]["columns"]] == list(frame.columns)
    assert got["latest_validation"] is None


async def test_get_reports_the_latest_validation_result(
    client: Client, settings: Settings, frame: pd.DataFrame
) -> None:
    write_parquet(frame, settings.workspace_dir / "c.parquet")
    out = structured(await client.call_tool("lake_write", {"source": "c.parquet", "dataset": "c"}))
    from mcp_server.core.store import MetadataStore
    from mcp_server.core.store.models import ValidationResultRecord, utcnow

    # A validation result on this version, as the validation area records it (same store, same home).

    store = MetadataStore.for_home(settings.home)
    with store.transaction() as session:
        session.add(
            ValidationResultRecord(
                id=uuid.uuid4().hex,
                kind="suite",
                dataset=out["identifier"],
                dataset_path="x",
                path_key="0" * 64,
                suite_name="basic",
                suite_version=1,
                success=False,
                row_count=len(frame),
                evaluated=8,
                successful=6,
                failed=2,
                results="[]",
                report_path=None,
                engine="great_expectations",
                duration_ms=1.0,
                created_at=utcnow(),
            )
        )
    store.dispose()
    got = structured(await client.call_tool("catalog_get", {"dataset": "c"}))
    assert got["latest_validation"]["success"] is False
    assert got["latest_validation"]["quality_score"] == pytest.approx(6 / 8)
    assert got["lineage"]["of"] == out["identifier"] and got["lineage"]["upstream"] == [out["source"]]


async def test_schema_diff(client: Client, settings: Settings, frame: pd.DataFrame) -> None:
    write_parquet(frame, settings.workspace_dir / "v1.parquet")
    changed = frame.drop(columns=["country"]).assign(
        age=frame["age"].astype("int64"), income=frame["income"].astype("float32"), extra="x"
    )
    write_parquet(changed, settings.workspace_dir / "v2.parquet")
    structured(await client.call_tool("lake_write", {"source": "v1.parquet", "dataset": "d"}))
    structured(
        await client.call_tool("lake_write", {"source": "v2.parquet", "dataset": "d", "allow_breaking": True})
    )
    diff = structured(await client.call_tool("catalog_schema_diff", {"dataset": "d", "a": 1, "b": 2}))
    assert [c["name"] for c in diff["added"]] == ["extra"]
    assert [c["name"] for c in diff["removed"]] == ["country"]
    assert {(r["name"], r["from_type"], r["to_type"], r["widening"]) for r in diff["retyped"]} == {
        ("age", "int32", "int64", True),
        ("income", "double", "float", False),
    }
    assert diff["compatible"] is False and len(diff["breaking_reasons"]) == 2
    same = structured(await client.call_tool("catalog_schema_diff", {"dataset": "d", "a": 2, "b": 2}))
    assert same["compatible"] is True and same["added"] == same["removed"] == same["retyped"] == []
    assert_tool_error(
        await client.call_tool("catalog_schema_diff", {"dataset": "d", "a": 1, "b": 5}), "no version 5"
    )


async def test_register_folder_and_bad_input(client: Client, settings: Settings, frame: pd.DataFrame) -> None:
    folder = settings.workspace_dir / "parts"
    for seg, part in frame.groupby("segment"):
        (folder / f"segment={seg}").mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pandas(part.drop(columns=["segment"]), preserve_index=False),
            folder / f"segment={seg}" / "0.parquet",
        )
    reg = structured(await client.call_tool("catalog_register", {"dataset": "parts", "location": "parts"}))
    assert reg["rows"] == len(frame)
    read = structured(
        await client.call_tool("lake_read", {"dataset": "parts", "filters": [["segment", "==", "b"]]})
    )
    assert read["matched_rows"] == int((frame["segment"] == "b").sum())
    cases = [
        ({"dataset": "x..y", "location": "parts"}, ("'..'",)),
        ({"dataset": "new"}, ("give a location",)),
        ({"dataset": "t", "location": "parts", "tags": ["no spaces"]}, ("Each tag",)),
        ({"dataset": "t", "location": "../etc/passwd"}, ("'..'",)),
        ({"dataset": "t", "location": "missing.parquet"}, ("No file or folder",)),
        ({"dataset": "t", "location": "s3://bucket/x.parquet"}, ("No S3 endpoint",)),
    ]
    for args, needles in cases:
        assert_tool_error(await client.call_tool("catalog_register", args), *needles)
    assert_tool_error(await client.call_tool("catalog_get", {"dataset": "missing"}), "No dataset 'missing'")


def test_widening_rules() -> None:
    assert is_widening("int32", "int64") and is_widening("float", "double") and is_widening("uint8", "int16")
    assert is_widening("string", "large_string") and is_widening("null", "string")
    assert is_widening("dictionary<values=string, indices=int32, ordered=0>", "string")
    assert is_widening("timestamp[ms]", "timestamp[ns]") and not is_widening("timestamp[ns]", "timestamp[ms]")
    assert (
        not is_widening("int64", "int32")
        and not is_widening("int64", "double")
        and not is_widening("string", "int64")
    )
    assert not is_widening("uint64", "int64") and not is_widening("timestamp[ns]", "timestamp[ns, tz=UTC]")
    old = [{"name": "a", "type": "int32"}, {"name": "b", "type": "string"}]
    assert diff_schemas(old, [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]).compatible
    assert not diff_schemas(old, [{"name": "a", "type": "int32"}]).compatible


def test_arrow_schema_round_trip(tmp_path: Path) -> None:
    from mcp_server.tools.lake import adapter

    schema = pa.schema(
        [
            ("a", pa.int32()),
            ("t", pa.timestamp("ns", tz="UTC")),
            ("d", pa.dictionary(pa.int32(), pa.string())),
        ]
    )
    assert adapter.schema_from_b64(adapter.schema_to_b64(schema)).equals(schema)
    fields = adapter.schema_fields(schema)
    assert [f["type"] for f in fields] == [str(f.type) for f in schema]


async def test_locations_are_stored_relative_and_old_absolute_rows_still_read(
    client: Client, settings: Settings, frame: pd.DataFrame
) -> None:
    """Versions store their place relative to the home or the root (a moved home reads the same);
    rows written with absolute paths by earlier servers keep working."""
    from sqlalchemy import select, update

    from mcp_server.core.store import MetadataStore
    from mcp_server.core.store.models import CatalogVersion

    write_parquet(frame, settings.workspace_dir / "c.parquet")
    structured(await client.call_tool("lake_write", {"source": "c.parquet", "dataset": "lk"}))
    structured(await client.call_tool("catalog_register", {"dataset": "reg", "location": "c.parquet"}))
    store = MetadataStore.for_home(settings.home)
    with store.read_session() as session:
        stored = sorted(session.scalars(select(CatalogVersion.location)))
    assert stored == ["c.parquet", "home:lake/raw/lk/v1"]

    absolute = str((settings.home / "lake" / "raw" / "lk" / "v1").resolve())
    with store.transaction() as session:
        session.execute(
            update(CatalogVersion)
            .where(CatalogVersion.location == "home:lake/raw/lk/v1")
            .values(location=absolute)
        )
    read = structured(await client.call_tool("lake_read", {"dataset": "lk", "limit": 5}))
    assert read["matched_rows"] == len(frame)
    versions = structured(await client.call_tool("lake_versions", {"dataset": "lk"}))
    assert versions["versions"][0]["location"] == "<lake>/raw/lk/v1"
    compacted = structured(await client.call_tool("lake_compact", {"dataset": "lk"}))
    assert compacted["version"] == 2 and compacted["rows"] == len(frame)
