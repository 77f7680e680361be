"""The adapter against the real Great Expectations on small data (no MCP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.tables import TableLimits
from mcp_server.tools.validation import adapter
from tests.tools.validation.conftest import people, write


def test_parse_ref() -> None:
    assert adapter.parse_ref("churn") == ("churn", None)
    assert adapter.parse_ref("churn.v2@12") == ("churn.v2", 12)
    for bad in ("", "@1", "a@", "a@b", "a@1@2", "a b", "-x", "a@-1"):
        with pytest.raises(InvalidInput):
            adapter.parse_ref(bad)


def test_build_expectations_gives_gx_objects_and_refuses_silently_dropped_ones() -> None:
    from great_expectations.expectations.expectation import Expectation

    built = adapter.build_expectations(
        [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "min_value": 1}}]
    )
    assert isinstance(built[0], Expectation) and built[0].min_value == 1
    # GX's ExpectationSuite(...) would log and drop this one; the adapter refuses it.
    with pytest.raises(InvalidInput, match="Expectation 0"):
        adapter.build_expectations([{"type": "expect_no_such_thing", "kwargs": {}}])


def test_string_pattern() -> None:
    s = pd.Series(["2024-01-05", "1999-12-31"])
    pattern = adapter.string_pattern(s)
    assert pattern == r"^[0-9]{4}\-[0-9]{2}\-[0-9]{2}$"
    assert adapter.string_pattern(pd.Series(["AB-1", "XYZ-12345"])) == r"^[A-Za-z]{2,3}\-[0-9]{1,5}$"
    assert adapter.string_pattern(pd.Series(["alpha", "beta"])) is None  # letters only: no pattern
    assert adapter.string_pattern(pd.Series(["a-1", "a 1"])) is None  # different shapes
    assert adapter.string_pattern(pd.Series(["é-1"])) is None


def test_suggest_and_run_with_real_gx(tmp_path: Path) -> None:
    df = people(300)
    df["code"] = [f"C-{i:05d}" for i in range(300)]
    df["when"] = pd.date_range("2024-01-01", periods=300, freq="h")
    df["flag"] = np.arange(300) % 2 == 0
    path = write(df, tmp_path / "ws" / "p.parquet")
    specs = adapter.suggest(pd.read_parquet(path))
    types = {(s["type"], s["kwargs"].get("column")) for s in specs}
    assert ("expect_column_values_to_match_regex", "code") in types
    assert ("expect_column_values_to_be_unique", "customer_id") in types
    assert ("expect_column_values_to_be_in_set", "flag") in types
    assert ("expect_column_values_to_be_between", "when") in types
    assert adapter.has_regex(specs)

    engine = adapter.GxEngine(tmp_path / "home")
    sv = engine.create_suite("p", specs)
    assert (tmp_path / "home" / "gx" / "expectations" / "p@1.json").is_file()  # GX's own store
    job = adapter.Job(
        home=str(tmp_path / "home"),
        path=str(path),
        limits=TableLimits(rows=10_000, file_bytes=10**8, decoded_bytes=2**31),
        include_samples=True,
        gx_name=sv.gx_name,
        expectations=sv.expectations,
    )
    raw = adapter.run_job(engine, job)
    assert raw["success"] is True and raw["evaluated"] == len(specs)
    # GX's engine keeps no run's data: its batch cache would otherwise hold every DataFrame validated.
    assert adapter.run_job(engine, job)["success"] is True
    manager = engine.batch_definition.data_asset.datasource.get_execution_engine().batch_manager
    assert manager.batch_data_cache == {} and manager.batch_cache == {}
    # A second engine on the same home (another process) sees the same suites.
    other = adapter.GxEngine(tmp_path / "home")
    assert other.resolve("p").expectations == sv.expectations
    assert other.delete("p@1") == ("p", [1], [])
    with pytest.raises(NotFound):
        engine.resolve("p")


def test_html_report_escapes_data() -> None:
    from mcp_server.core.reports import render

    page = render(
        "validation.html",
        meta={
            "result_id": "r",
            "dataset": "<b>x</b>.csv",
            "suite": "s@1",
            "success": False,
            "row_count": 1,
            "evaluated": 1,
            "failed": 1,
            "engine": "gx",
            "created_at": "now",
        },
        outcomes=[
            {
                "index": 0,
                "type": "expect_column_values_to_be_in_set",
                "column": "c",
                "success": False,
                "sample": ["<script>alert(1)</script>"],
                "unexpected_count": 1,
                "unexpected_percent": 100.0,
            }
        ],
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;x" in page
