"""Bad input: one clear error (isError, one sentence) each, and the server answers the next call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error
from tests.tools.quality.conftest import Harness, faulted, write


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One home for the whole module: every case here fails before it changes anything."""
    settings = Settings(home=tmp_path_factory.mktemp("quality-bad") / "home", profile="all")
    settings.workspace_dir.mkdir(parents=True)
    write(faulted(), settings.workspace_dir / "orders.csv")
    write(
        faulted().assign(order_id=lambda d: "o" + d["order_id"].astype(str)),
        settings.workspace_dir / "ref.csv",
    )
    (settings.workspace_dir / "no_images").mkdir()
    (settings.workspace_dir / "no_images" / "readme.txt").write_text("not an image")
    return settings


@pytest.fixture
async def data(shared_home: Settings) -> AsyncIterator[Harness]:
    server = create_server(shared_home)
    async with Client(server, mode="legacy") as client:
        yield Harness(client, server, shared_home)
    server.app.close()


CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    # The five of the issue.
    (
        "quality_filter_dataset",
        {"dataset": "orders.csv", "rules": [["nope", ">", 1]], "output": "f.parquet"},
        ("unknown column", "'nope'", "order_id"),
    ),
    (
        "quality_score",
        {"dataset": "orders.csv", "weights": {"freshness": 1}},
        ("Unknown dimension", "'freshness'"),
    ),
    ("quality_score", {"dataset": "orders.csv", "threshold": 150}, ("between 0 and 100",)),
    ("quality_report", {"dataset": "orders.csv", "threshold": -1}, ("between 0 and 100",)),
    ("quality_check_homogeneity", {"folder": "no_images"}, ("No image files", "no_images")),
    (
        "quality_clean",
        {"dataset": "orders.csv", "plan": {"duplicates": {}}, "output": "../outside.parquet"},
        ("'..'",),
    ),
    (
        "quality_filter_dataset",
        {"dataset": "orders.csv", "rules": [["qty", ">", 1]], "output": "/etc/evil.parquet"},
        ("outside the allowed roots",),
    ),
    # More of the same kind.
    (
        "quality_score",
        {"dataset": "orders.csv", "consistency_rules": [{"left": "ghost", "op": "<", "right": 1}]},
        ("unknown column", "'ghost'"),
    ),
    ("quality_score", {"dataset": "orders.csv", "weights": {"validity": -2}}, ("'validity'", ">= 0")),
    (
        "quality_score",
        {"dataset": "orders.csv", "timestamp_column": "updated_at", "max_age": "soon"},
        ("not a duration",),
    ),
    (
        "quality_score",
        {"dataset": "orders.csv", "timestamp_column": "qty", "max_age": "1d"},
        ("holds numbers",),
    ),
    (
        "quality_score",
        {"dataset": "orders.csv", "suite": "missing_suite"},
        ("No suite named 'missing_suite'",),
    ),
    ("quality_score", {"dataset": "orders.csv", "key": ["nokey"]}, ("unknown column", "'nokey'")),
    ("quality_detect_outliers", {"dataset": "orders.csv", "columns": ["status"]}, ("not numeric",)),
    (
        "quality_score",
        {"dataset": "orders.csv", "reference": "ref.csv", "key": ["order_id"]},
        ("different types", "cannot be joined"),
    ),
    (
        "quality_detect_outliers",
        {"dataset": "orders.csv", "method": "isolation_forest", "threshold": 0.9},
        ("contamination",),
    ),
    ("quality_compare", {"dataset": "orders.csv", "baseline": "profile:" + "0" * 32}, ("No stored profile",)),
    ("quality_compare", {"dataset": "orders.csv", "baseline": "profile:abc"}, ("32-character id",)),
    ("quality_check_homogeneity", {}, ("either dataset",)),
    ("quality_check_homogeneity", {"folder": "orders.csv"}, ("not a folder",)),
    (
        "quality_clean",
        {
            "dataset": "orders.csv",
            "plan": {"missing": [{"strategy": "mean", "columns": ["status"]}]},
            "output": "c.csv",
        },
        ("not numeric",),
    ),
    (
        "quality_clean",
        {"dataset": "orders.csv", "plan": {"duplicates": {}}, "output": "orders.csv"},
        ("output is the input",),
    ),
    (
        "quality_clean",
        {"dataset": "orders.csv", "plan": {"duplicates": {}}, "output": "c.xlsx"},
        ("not a supported table",),
    ),
    (
        "quality_filter_dataset",
        {"dataset": "orders.csv", "rules": [["qty", "in", 3]], "output": "f.csv"},
        ("must be a list",),
    ),
    (
        "quality_filter_dataset",
        {"dataset": "orders.csv", "rules": [], "output": "f.csv"},
        ("Nothing to filter",),
    ),
    ("quality_profile", {"dataset": "missing.csv"}, ("No file or folder",)),
]


@pytest.mark.parametrize(("tool", "args", "needles"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_bad_input_is_one_clear_error(
    data: Harness, tool: str, args: dict[str, Any], needles: tuple[str, ...]
) -> None:
    message = assert_tool_error(await data.call(tool, args), *needles)
    assert "internal error" not in message
    assert message.count(". ") <= 2, message  # one sentence (column lists may hold a '.')
    assert not (data.workspace / "f.parquet").exists() and not (data.workspace / "c.csv").exists()
    assert (await data.call("server_info", {})).is_error is False


async def test_an_existing_output_needs_overwrite(data: Harness) -> None:
    args = {"dataset": "orders.csv", "plan": {"duplicates": {}}, "output": "again.parquet"}
    assert not (await data.call("quality_clean", args)).is_error
    assert_tool_error(await data.call("quality_clean", args), "already exists", "overwrite=true")
    assert not (await data.call("quality_clean", {**args, "overwrite": True})).is_error


async def test_schema_errors_stay_short(data: Harness) -> None:
    assert_tool_error(
        await data.call("quality_clean", {"dataset": "orders.csv", "plan": {}, "output": "c.csv"}),
        "plan is empty",
    )
    message = assert_tool_error(
        await data.call(
            "quality_filter_dataset",
            {"dataset": "orders.csv", "rules": [["qty", "~=", 1]], "output": "f.csv"},
        ),
        "Rule 0",
        "not_null",
    )
    assert "Invalid arguments" not in message  # the allowlist speaks, not the schema
    # The object form works too, and [column, op] for the null checks.
    rules = [{"column": "qty", "op": ">=", "value": 2}, ["status", "not_null"]]
    got = await data.call(
        "quality_filter_dataset", {"dataset": "orders.csv", "rules": rules, "output": "obj.csv"}
    )
    assert not got.is_error
