"""Bad input: one clear error each, through the MCP client; the server keeps answering."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.tools.validation.conftest import Harness, people, write

GOOD = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]


async def create(vh: Harness, expectations: list[dict], name: str = "s") -> object:
    return await vh.call("validation_create_suite", {"name": name, "expectations": expectations})


async def test_bad_expectations_are_refused_at_creation(vh: Harness) -> None:
    assert_tool_error(
        await create(vh, [*GOOD, {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "a"}}]),
        "Expectation 1",
        "unknown expectation type",
    )
    assert_tool_error(
        await create(
            vh,
            [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "a", "colour": 1, "min_value": 0},
                }
            ],
        ),
        "unknown argument",
        "colour",
    )
    assert_tool_error(
        await create(vh, [{"type": "expect_column_values_to_be_between", "kwargs": {"min_value": 0}}]),
        "missing required argument",
        "column",
    )
    assert_tool_error(
        await create(
            vh,
            [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "min_value": "low"}}],
        ),
        "min_value",
    )
    assert_tool_error(
        await create(
            vh,
            [
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "a", "regex": "(unclosed"},
                }
            ],
        ),
        "not a valid regular expression",
    )
    assert_tool_error(
        await create(
            vh,
            [
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": "a", "row_condition": "a > 1", "condition_parser": "pandas"},
                }
            ],
        ),
        "row_condition",
        "query strings",
    )
    assert_tool_error(await create(vh, [{"type": "drop table", "kwargs": {}}]), "GX expectation name")
    assert_tool_error(await create(vh, []), "at least one expectation")
    assert_tool_error(await create(vh, GOOD, name="../escape"), "suite name")
    assert_tool_error(await create(vh, [{"kwargs": {}}]), "Invalid arguments")
    # Nothing half-saved: no suite exists after all those refusals.
    assert structured(await vh.call("validation_list_suites", {}))["total"] == 0


async def test_bad_runs(vh: Harness) -> None:
    write(people(50), vh.workspace / "ok.csv")
    structured(await create(vh, GOOD, name="s"))
    structured(
        await create(
            vh, [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}], name="ghost"
        )
    )
    (vh.workspace / "empty.csv").write_text("")
    (vh.workspace / "broken.csv").write_text("a,b\n1,2\n3,4,5,6\n")
    (vh.workspace / "notes.txt").write_text("hello")
    outside = vh.settings.home.parent / "outside.csv"
    write(people(5), outside)

    async def run(dataset: str, suite: str = "s") -> object:
        return await vh.call("validation_run", {"dataset": dataset, "suite": suite})

    assert_tool_error(await run("missing.csv"), "missing.csv")
    assert_tool_error(await run(str(outside)), "outside")
    assert_tool_error(await run("../outside.csv"), "..")
    assert_tool_error(await run("ok.csv", "nosuch"), "No suite named 'nosuch'")
    assert_tool_error(await run("ok.csv", "s@7"), "no version 7", "1")
    assert_tool_error(await run("ok.csv", "s@0"), "start at 1")
    assert_tool_error(await run("ok.csv", "bad name!"), "not a suite reference")
    assert_tool_error(await run("ok.csv", "ghost"), "'nope'", "does not have")
    assert_tool_error(await run("empty.csv"), "empty")
    assert_tool_error(await run("broken.csv"), "could not be read as CSV")
    assert_tool_error(await run("notes.txt"), "not a supported table")
    assert_tool_error(await vh.call("validation_get_suite", {"suite": "nosuch@2"}), "No suite named")
    assert_tool_error(await vh.call("validation_delete_suite", {"suite": "s@3"}), "no version 3")
    assert_tool_error(await vh.call("validation_get_result", {"result_id": "0" * 32}), "No validation result")
    assert_tool_error(await vh.call("validation_get_result", {"result_id": "x'; drop"}), "32-character")
    assert_tool_error(
        await vh.call("validation_get_result", {"result_id": "latest"}), "No validation results yet"
    )
    assert_tool_error(await vh.call("validation_list_results", {"cursor": "garbage"}), "cursor")
    assert_tool_error(
        await vh.call("validation_suggest_suite", {"dataset": "empty.csv", "name": "e"}), "empty"
    )
    # Still answering.
    assert structured(await run("ok.csv"))["success"] is True


async def test_bad_integrity_rules(vh: Harness) -> None:
    write(people(50), vh.workspace / "p.csv")
    write(pd.DataFrame({"key": [1, 2]}), vh.workspace / "ref.csv")

    async def check(*rules: dict) -> object:
        return await vh.call("validation_check_integrity", {"dataset": "p.csv", "rules": list(rules)})

    assert_tool_error(
        await check(
            {"kind": "foreign_key", "column": "customer_id", "reference": "ref.csv", "reference_column": "id"}
        ),
        "'id'",
        "ref.csv",
    )
    assert_tool_error(
        await check(
            {
                "kind": "foreign_key",
                "column": "customer_id",
                "reference": "nope.csv",
                "reference_column": "id",
            }
        ),
        "nope.csv",
    )
    assert_tool_error(
        await check({"kind": "compare", "left": "age", "op": ">", "right": "height"}), "'height'"
    )
    assert_tool_error(
        await check({"kind": "compare", "left": "age", "op": "=~", "right": "income"}), "Invalid arguments"
    )
    assert_tool_error(
        await check({"kind": "sum_equals", "columns": ["plan"], "equals": "age"}), "not numeric"
    )
    assert_tool_error(
        await check(
            {"kind": "required_if", "column": "age", "when": {"column": "plan", "op": ">", "value": 3}}
        ),
        "cannot be compared",
    )
    assert_tool_error(
        await check(
            {"kind": "required_if", "column": "age", "when": {"column": "plan", "op": "in", "value": "pro"}}
        ),
        "must be a list",
    )
    assert_tool_error(
        await check({"kind": "expectation", "type": "expect_nothing_at_all", "kwargs": {}}),
        "unknown expectation type",
    )
    assert_tool_error(await check({"kind": "eval", "code": "__import__('os')"}), "Invalid arguments")
    assert_tool_error(
        await vh.call("validation_check_integrity", {"dataset": "p.csv", "rules": []}), "Invalid arguments"
    )


async def test_files_over_the_limits(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", max_rows=100, max_file_bytes=50_000)
    settings.workspace_dir.mkdir(parents=True)
    write(people(150), settings.workspace_dir / "rows.csv")
    write(people(150), settings.workspace_dir / "rows.parquet")
    big = pd.DataFrame({"text": ["x" * 1000] * 60})
    write(big, settings.workspace_dir / "big.csv")
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            structured(await client.call_tool("validation_create_suite", {"name": "s", "expectations": GOOD}))
            for name, needle in (
                ("rows.csv", "100 rows"),
                ("rows.parquet", "100 rows"),
                ("big.csv", "byte limit"),
            ):
                result = await client.call_tool("validation_run", {"dataset": name, "suite": "s"})
                assert_tool_error(result, needle)
            assert_tool_error(
                await client.call_tool("validation_suggest_suite", {"dataset": "big.csv", "name": "b"}),
                "byte limit",
            )
    finally:
        server.app.close()


async def test_strftime_format_that_cannot_parse_is_refused(vh: Harness) -> None:
    """#22 item 10: "%Y%Y" made GX's own format check raise re.error, reported as an internal error."""
    import anyio

    structured(await vh.call("server_info", {}))  # warm: the 1 s below is for a live server

    def strftime(fmt: str) -> list[dict]:
        kwargs = {"column": "day", "strftime_format": fmt}
        return [{"type": "expect_column_values_to_match_strftime_format", "kwargs": kwargs}]

    for fmt in ("%Y%Y", "%d-%d"):
        message = assert_tool_error(
            await create(vh, strftime(fmt), name="dates"), "'strftime_format'", "at most once"
        )
        assert "internal error" not in message
        with anyio.fail_after(1):
            structured(await vh.call("server_info", {}))
    assert structured(await vh.call("validation_list_suites", {}))["total"] == 0
    # A usable format still works end to end.
    pd.DataFrame({"day": ["2024-01-31", "2024-02-01", "31/01/2024"]}).to_csv(
        vh.workspace / "d.csv", index=False
    )
    structured(await create(vh, strftime("%Y-%m-%d"), name="dates"))
    report = structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "dates"}))
    assert report["success"] is False and report["evaluated"] == 1
