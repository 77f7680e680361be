"""Expectations that used to break a whole run or could never fail (issue #22, items 1, 12, 13, 14).

Through a real MCP client: one expectation's failure is its own error entry, suites that could never run
are refused when saved, column-presence expectations report success false, and an expectation that
evaluates a caller's pattern runs in the killable worker.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mcp_server.tools.validation import adapter, service
from tests.conftest import assert_tool_error, structured
from tests.tools.validation.conftest import Harness, write

QUANTILES = [0.25, 0.5, 0.75]


def data(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n), "plan": np.array(["basic", "pro"])[np.arange(n) % 2]})


def five() -> list[dict[str, Any]]:
    return [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
        {
            "type": "expect_column_quantile_values_to_be_between",
            "kwargs": {
                "column": "x",
                "quantile_ranges": {"quantiles": QUANTILES, "value_ranges": [[20, 30], [45, 55], [80, 90]]},
            },
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "x", "min_value": 0, "max_value": 50},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "pro"]},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "x", "min_value": 40, "max_value": 60},
        },
    ]


def by_index(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["index"]: r for r in report["results"]}


async def answers(vh: Harness) -> None:
    started = time.perf_counter()
    structured(await vh.call("server_info", {}))
    assert time.perf_counter() - started < 1.0


async def test_quantile_expectation_keeps_every_result(vh: Harness) -> None:
    df = data()
    write(df, vh.workspace / "d.csv")
    structured(await vh.call("validation_create_suite", {"name": "five", "expectations": five()}))
    report = structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "five"}))
    results = by_index(report)
    assert report["results_total"] == report["evaluated"] == 5 and set(results) == set(range(5))
    assert all(r["error"] is None for r in results.values())
    quantile = results[1]
    expected = df["x"].quantile(QUANTILES, interpolation="nearest").tolist()  # GX's pandas default
    assert quantile["observed_value"] == {"quantiles": QUANTILES, "values": expected}
    assert quantile["success"] is False  # the 0.75 quantile (74) is outside [80, 90]
    assert results[2]["success"] is False and results[2]["unexpected_count"] == int((df["x"] > 50).sum())
    assert results[0]["success"] and results[3]["success"] and results[4]["success"]
    assert results[4]["observed_value"] == df["x"].mean()
    assert (report["successful"], report["failed"], report["success"]) == (3, 2, False)
    # The stored result is the same.
    stored = structured(await vh.call("validation_get_result", {"result_id": report["result_id"]}))
    assert by_index(stored)[1]["observed_value"] == quantile["observed_value"]
    await answers(vh)


async def test_one_failing_expectation_is_its_own_error(vh: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    write(data(), vh.workspace / "d.csv")
    # GX itself fails on one expectation before it can catch the error (a suite stored before creation
    # checked partitions: its bins arrived as null): that expectation errs, the others keep their results.
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    broken_kl = ExpectationConfiguration(
        type="expect_column_kl_divergence_to_be_less_than",
        kwargs={
            "column": "x",
            "partition_object": {"bins": [None, 0, 50, None], "weights": [0.1, 0.4, 0.5]},
            "threshold": 0.5,
        },
    ).to_domain_obj()
    engine = service.gx_engine(vh.server.app)
    expectations = [*adapter.build_expectations(five()), broken_kl]
    suite = engine.context.suites.add(ExpectationSuite(name="old@1", expectations=expectations))
    engine.context.validation_definitions.add(
        gx.ValidationDefinition(name="old@1", data=engine.batch_definition, suite=suite)
    )
    report = structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "old"}))
    results = by_index(report)
    assert set(results) == set(range(6))
    assert results[5]["success"] is False and results[5]["error"]
    assert all(results[i]["error"] is None for i in range(5))
    assert [results[i]["success"] for i in range(5)] == [True, False, False, True, True]
    assert results[1]["observed_value"]["values"] == [25, 50, 74]

    # Our own reading of one result fails: again only that expectation errs.
    real = adapter._outcome

    def flaky(r: Any, index: int, *args: Any) -> dict[str, Any]:
        if r.expectation_config.type == "expect_column_mean_to_be_between":
            raise RuntimeError("boom")
        return real(r, index, *args)

    monkeypatch.setattr(adapter, "_outcome", flaky)
    structured(await vh.call("validation_create_suite", {"name": "five", "expectations": five()}))
    results = by_index(structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "five"})))
    assert results[4]["success"] is False and "could not read" in results[4]["error"]
    assert results[1]["observed_value"]["values"] == [25, 50, 74] and results[0]["success"] is True
    await answers(vh)


async def test_partitions_that_can_never_run_are_refused_when_saved(vh: Harness) -> None:
    def kl(partition: Any) -> list[dict[str, Any]]:
        kwargs = {"column": "x", "partition_object": partition, "threshold": 0.5}
        return [{"type": "expect_column_kl_divergence_to_be_less_than", "kwargs": kwargs}]

    async def create(partition: Any) -> Any:
        return await vh.call("validation_create_suite", {"name": "kl", "expectations": kl(partition)})

    # Infinite end bins arrive as null (JSON has no Infinity).
    message = assert_tool_error(
        await create({"bins": [None, 0, 50, 100, None], "weights": [0.05, 0.45, 0.45, 0.05]}),
        "Expectation 0",
        "bins must be finite numbers",
        "tail_weights",
    )
    assert message.count(". ") == 0  # one sentence
    assert_tool_error(
        await create({"bins": ["-Infinity", 0, 100, "Infinity"], "weights": [0.1, 0.8, 0.1]}), "tail_weights"
    )
    assert_tool_error(
        await create({"bins": [0, 50, 100], "weights": [0.2, 0.2, 0.6]}), "one more bin than weights"
    )
    assert_tool_error(await create({"bins": [0, 50, 100], "weights": [0.2, 0.2]}), "summing to 1")
    assert_tool_error(await create({"bins": [50, 0], "weights": [1.0]}), "increasing bins")
    assert_tool_error(await create({"values": ["a", "b"], "weights": [0.5]}), "partition_object")
    assert_tool_error(await create([1, 2]), "partition_object")
    assert structured(await vh.call("validation_list_suites", {}))["total"] == 0
    await answers(vh)

    # GX's documented form of open end bins: tail_weights [below the first edge, above the last].
    df = pd.DataFrame({"x": np.r_[np.arange(100), [-5, 150]]})
    write(df, vh.workspace / "d.csv")
    partition = {"bins": [0, 50, 100], "weights": [0.45, 0.45], "tail_weights": [0.05, 0.05]}
    structured(await create(partition))
    categorical = {"values": ["basic", "pro"], "weights": [0.5, 0.5]}
    structured(
        await vh.call(
            "validation_create_suite",
            {
                "name": "kl-categorical",
                "expectations": [
                    {
                        "type": "expect_column_kl_divergence_to_be_less_than",
                        "kwargs": {"column": "plan", "partition_object": categorical, "threshold": 0.1},
                    }
                ],
            },
        )
    )
    result = structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "kl"}))["results"][0]
    x = df["x"].to_numpy()
    observed = np.r_[(x < 0).sum(), np.histogram(x, bins=[0, 50, 100])[0], (x > 100).sum()] / len(x)
    assert result["error"] is None and result["success"] is True
    assert result["observed_value"] == pytest.approx(stats.entropy(observed, [0.05, 0.45, 0.45, 0.05]))
    write(data(), vh.workspace / "p.csv")
    categorical_result = structured(
        await vh.call("validation_run", {"dataset": "p.csv", "suite": "kl-categorical"})
    )["results"][0]
    assert categorical_result["success"] is True and categorical_result["observed_value"] == pytest.approx(
        0.0
    )


async def test_column_presence_expectations_can_fail(vh: Harness) -> None:
    write(data(), vh.workspace / "d.csv")
    suites = {
        "exists": [{"type": "expect_column_to_exist", "kwargs": {"column": "nope"}}],
        "ordered": [
            {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["x", "nope"]}}
        ],
    }
    for name, expectations in suites.items():
        structured(await vh.call("validation_create_suite", {"name": name, "expectations": expectations}))
        report = structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": name}))
        assert report["success"] is False and report["failed"] == 1, name
        assert report["results"][0]["success"] is False and report["results"][0]["error"] is None, name
    # Both pass on the data's own columns; other expectations still get the column pre-check.
    good = [
        {"type": "expect_column_to_exist", "kwargs": {"column": "plan"}},
        {"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": ["x", "plan"]}},
    ]
    structured(await vh.call("validation_create_suite", {"name": "good", "expectations": good}))
    assert (
        structured(await vh.call("validation_run", {"dataset": "d.csv", "suite": "good"}))["success"] is True
    )
    ghost = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}]
    structured(await vh.call("validation_create_suite", {"name": "ghost", "expectations": ghost}))
    assert_tool_error(
        await vh.call("validation_run", {"dataset": "d.csv", "suite": "ghost"}), "'nope'", "does not have"
    )
    await answers(vh)


def json_schema(pattern: str) -> list[dict[str, Any]]:
    schema = {"type": "object", "properties": {"k": {"type": "string", "pattern": pattern}}}
    return [
        {
            "type": "expect_column_values_to_match_json_schema",
            "kwargs": {"column": "j", "json_schema": schema},
        }
    ]


@pytest.mark.slow
async def test_json_schema_patterns_run_in_the_killable_worker(vh: Harness) -> None:
    import json

    values = [json.dumps({"k": "x" * (i % 5 + 1)}) for i in range(60)] + ['{"k": "y"}', '{"k": "xy"}']
    write(pd.DataFrame({"j": values}), vh.workspace / "j.csv")
    structured(
        await vh.call("validation_create_suite", {"name": "schema", "expectations": json_schema("^x+$")})
    )
    report = structured(await vh.call("validation_run", {"dataset": "j.csv", "suite": "schema"}))
    assert report["isolated"] is True
    assert report["results"][0]["unexpected_count"] == 2
    assert sorted(report["results"][0]["sample"]) == sorted(['{"k": "y"}', '{"k": "xy"}'])

    # A catastrophic pattern: the worker is killed at the deadline and the server keeps answering.
    write(pd.DataFrame({"j": [json.dumps({"k": "a" * 40 + "!"})] * 3}), vh.workspace / "evil.csv")
    structured(
        await vh.call("validation_create_suite", {"name": "evil", "expectations": json_schema("^(a+)+$")})
    )
    deadline = 5.0
    started = time.perf_counter()
    result = await vh.call("validation_run", {"dataset": "evil.csv", "suite": "evil", "deadline_s": deadline})
    elapsed = time.perf_counter() - started
    assert_tool_error(result, "deadline", "stopped", "regular expression")
    assert elapsed < deadline + 3, elapsed
    await answers(vh)


async def test_a_json_schema_may_not_refer_outside_itself(vh: Harness) -> None:
    """jsonschema fetches a remote `$ref` while it validates: a suite could make the server request any URL."""
    import http.server
    import threading

    hits: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *args: Any) -> None:
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.server_port}/evil.json"
        for schema in (
            {"$ref": url},
            {"type": "object", "properties": {"k": {"allOf": [{"$ref": url}]}}},
            {"$dynamicRef": "file:///etc/passwd"},
        ):
            kwargs = {"column": "j", "json_schema": schema}
            spec = [{"type": "expect_column_values_to_match_json_schema", "kwargs": kwargs}]
            rule = {
                "kind": "expectation",
                "type": "expect_column_values_to_match_json_schema",
                "kwargs": kwargs,
            }
            for tool, args in (
                ("validation_create_suite", {"name": "remote", "expectations": spec}),
                ("validation_check_integrity", {"dataset": "j.csv", "rules": [rule]}),
            ):
                write(pd.DataFrame({"j": ['{"k": "x"}']}), vh.workspace / "j.csv")
                assert_tool_error(
                    await vh.call(tool, args), "'json_schema' refers to", "outside itself", "$defs"
                )
        local = {"$defs": {"s": {"type": "string"}}, "properties": {"k": {"$ref": "#/$defs/s"}}}
        spec = [
            {
                "type": "expect_column_values_to_match_json_schema",
                "kwargs": {"column": "j", "json_schema": local},
            }
        ]
        structured(await vh.call("validation_create_suite", {"name": "local", "expectations": spec}))
        # A suite saved before the check (its file edited here to look like one) is refused when it runs.
        stored = vh.settings.home / "gx" / "expectations" / "local@1.json"
        stored.write_text(stored.read_text().replace("#/$defs/s", url))
        assert_tool_error(
            await vh.call("validation_run", {"dataset": "j.csv", "suite": "local"}),
            "Suite 'local@1', expectation 0",
            "outside itself",
        )
        assert hits == []
    finally:
        listener.shutdown()
    await answers(vh)
