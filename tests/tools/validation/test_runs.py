"""Suites, versions, runs, results and integrity checks through an MCP client; numbers checked with pandas."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tests.conftest import assert_tool_error, read_artifact, structured
from tests.tools.validation.conftest import Harness, people, write


def by_index(report: dict) -> dict[int, dict]:
    return {r["index"]: r for r in report["results"]}


async def test_unexpected_counts_equal_pandas(vh: Harness) -> None:
    rng = np.random.default_rng(11)
    df = people(1000)
    df.loc[rng.choice(1000, 37, replace=False), "income"] = np.nan
    df.loc[rng.choice(1000, 23, replace=False), "age"] = 150
    df.loc[rng.choice(1000, 9, replace=False), "plan"] = "gold"
    df.loc[[5, 8], "customer_id"] = 7  # rows 5, 6 and 8 share the id 7
    write(df, vh.workspace / "people.csv")
    expectations = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 90},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "plus", "pro"]},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "customer_id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "score", "min_value": 0, "max_value": 1},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "score", "min_value": 0.4, "max_value": 0.6},
        },
    ]
    saved = structured(
        await vh.call("validation_create_suite", {"name": "people", "expectations": expectations})
    )
    assert (saved["name"], saved["version"], saved["ref"]) == ("people", 1, "people@1")

    report = structured(await vh.call("validation_run", {"dataset": "people.csv", "suite": "people"}))
    data = pd.read_csv(vh.workspace / "people.csv")
    r = by_index(report)
    assert r[0]["unexpected_count"] == int(data["income"].isna().sum()) == 37
    assert r[0]["unexpected_percent"] == 3.7
    assert r[1]["unexpected_count"] == int((~data["age"].between(18, 90)).sum()) == 23
    assert r[2]["unexpected_count"] == int((~data["plan"].isin(["basic", "plus", "pro"])).sum()) == 9
    assert r[3]["unexpected_count"] == int(data["customer_id"].duplicated(keep=False).sum()) == 3
    assert r[4]["success"] and r[4]["unexpected_count"] == 0
    assert r[5]["success"] and abs(r[5]["observed_value"] - data["score"].mean()) < 1e-9
    assert report["success"] is False
    assert (report["evaluated"], report["failed"], report["successful"]) == (6, 4, 2)
    assert report["row_count"] == len(data)
    assert report["suite"] == "people@1"
    # Failures first, each with a capped sample of failing values that really are failing.
    assert [x["success"] for x in report["results"]] == [False] * 4 + [True] * 2
    assert set(r[2]["sample"]) == {"gold"} and len(r[2]["sample"]) == 5
    assert all(v == 150 for v in r[1]["sample"])
    assert all(data.loc[i, "age"] == 150 for i in r[1]["sample_rows"])
    assert report["lineage_id"] == f"validation:{report['result_id']}"
    assert report["dataset_id"].startswith("dataset:") and report["isolated"] is False

    # The HTML report is a readable resource; data values in it are escaped.
    text = (await read_artifact(vh.client, report["report_uri"])).decode()
    assert "FAILED" in text and "expect_column_values_to_be_in_set" in text

    # Without samples, no data values travel.
    quiet = structured(
        await vh.call(
            "validation_run", {"dataset": "people.csv", "suite": "people", "include_samples": False}
        )
    )
    assert all(x["sample"] is None and x["sample_rows"] is None for x in quiet["results"])


async def test_suite_versions_resolve_as_specified(vh: Harness) -> None:
    write(people(200), vh.workspace / "p.parquet")
    v1 = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 40},
        }
    ]
    v2 = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 18, "max_value": 80},
        }
    ]
    assert (
        structured(await vh.call("validation_create_suite", {"name": "ages", "expectations": v1}))["version"]
        == 1
    )
    assert (
        structured(await vh.call("validation_create_suite", {"name": "ages", "expectations": v2}))["version"]
        == 2
    )

    latest = structured(await vh.call("validation_run", {"dataset": "p.parquet", "suite": "ages"}))
    first = structured(await vh.call("validation_run", {"dataset": "p.parquet", "suite": "ages@1"}))
    data = pd.read_parquet(vh.workspace / "p.parquet")
    assert latest["suite"] == "ages@2" and latest["success"] is True
    assert first["suite"] == "ages@1"
    assert first["results"][0]["unexpected_count"] == int((data["age"] > 40).sum()) > 0

    got = structured(await vh.call("validation_get_suite", {"suite": "ages@1"}))
    assert got["versions"] == [1, 2] and got["expectations"][0]["kwargs"]["max_value"] == 40
    assert structured(await vh.call("validation_get_suite", {"suite": "ages"}))["version"] == 2
    listed = structured(await vh.call("validation_list_suites", {}))
    assert [(s["name"], s["latest_version"], s["versions"]) for s in listed["items"]] == [("ages", 2, [1, 2])]

    # Results record the exact version; filters find them.
    by_suite = structured(await vh.call("validation_list_results", {"suite": "ages@1"}))
    assert [i["result_id"] for i in by_suite["items"]] == [first["result_id"]]

    # Deleting the latest makes the previous one latest; a used number is never given out again.
    gone = structured(await vh.call("validation_delete_suite", {"suite": "ages@2"}))
    assert gone["deleted_versions"] == [2] and gone["remaining_versions"] == [1]
    assert structured(await vh.call("validation_get_suite", {"suite": "ages"}))["version"] == 1
    again = structured(await vh.call("validation_create_suite", {"name": "ages", "expectations": v2}))
    assert again["version"] == 3
    all_gone = structured(await vh.call("validation_delete_suite", {"suite": "ages", "confirm": True}))
    assert all_gone["deleted_versions"] == [1, 3] and all_gone["remaining_versions"] == []
    assert structured(await vh.call("validation_list_suites", {}))["total"] == 0


async def test_suggested_suite_passes_on_its_data_and_fails_on_a_faulted_copy(vh: Harness) -> None:
    df = people(500)
    df.loc[df.index[::50], "score"] = np.nan  # 2% nulls: a `mostly` below 0.98
    write(df, vh.workspace / "train.csv")
    sug = structured(
        await vh.call("validation_suggest_suite", {"dataset": "train.csv", "name": "train", "save": True})
    )
    assert sug["saved"]["ref"] == "train@1" and sug["expectation_count"] == sug["saved"]["expectation_count"]
    kinds = {(e["type"], e["column"]) for e in sug["expectations"]}
    assert ("expect_column_values_to_be_unique", "customer_id") in kinds
    assert ("expect_column_values_to_be_in_set", "plan") in kinds
    assert ("expect_column_values_to_be_between", "income") in kinds
    nulls = next(
        e for e in sug["expectations"] if e["type"].endswith("not_be_null") and e["column"] == "score"
    )
    assert nulls["kwargs"]["mostly"] <= 1 - df["score"].isna().mean()
    assert sug["suite_uri"].startswith("mlops://artifacts/reports/validation/suggestions/")

    clean = structured(await vh.call("validation_run", {"dataset": "train.csv", "suite": "train"}))
    assert clean["success"] is True and clean["failed"] == 0

    bad = df.copy()
    bad.loc[[3, 4, 5], "income"] = np.nan
    bad.loc[[10, 11], "age"] = 500
    bad = pd.concat([bad, bad.iloc[[20, 21]]], ignore_index=True)  # duplicated rows (and ids)
    write(bad, vh.workspace / "faulted.csv")
    run = structured(await vh.call("validation_run", {"dataset": "faulted.csv", "suite": "train"}))
    assert run["success"] is False
    failed = {(r["type"], r["column"]): r for r in run["results"] if not r["success"]}
    data = pd.read_csv(vh.workspace / "faulted.csv")
    assert failed[("expect_column_values_to_not_be_null", "income")]["unexpected_count"] == int(
        data["income"].isna().sum()
    )
    age_range = next(
        e for e in sug["expectations"] if e["type"].endswith("be_between") and e["column"] == "age"
    )
    lo, hi = age_range["kwargs"]["min_value"], age_range["kwargs"]["max_value"]
    assert failed[("expect_column_values_to_be_between", "age")]["unexpected_count"] == int(
        (~data["age"].between(lo, hi)).sum()
    )
    assert failed[("expect_column_values_to_be_unique", "customer_id")]["unexpected_count"] == int(
        data["customer_id"].duplicated(keep=False).sum()
    )


async def test_results_page_and_filter(vh: Harness) -> None:
    write(people(100), vh.workspace / "a.csv")
    write(people(100, seed=4), vh.workspace / "b.csv")
    expectations = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": c, "min_value": 0, "max_value": 1},
        }
        for c in ("age", "income", "score", "label")
    ]
    structured(await vh.call("validation_create_suite", {"name": "unit", "expectations": expectations}))
    ra = structured(await vh.call("validation_run", {"dataset": "a.csv", "suite": "unit", "limit": 2}))
    assert len(ra["results"]) == 2 and ra["results_total"] == 4 and ra["next_cursor"]
    assert [r["success"] for r in ra["results"]] == [False, False]
    rest = structured(
        await vh.call("validation_get_result", {"result_id": ra["result_id"], "cursor": ra["next_cursor"]})
    )
    assert [r["index"] for r in ra["results"] + rest["results"]] == [0, 1, 2, 3]
    rb = structured(await vh.call("validation_run", {"dataset": "b.csv", "suite": "unit"}))
    only_failed = structured(
        await vh.call(
            "validation_get_result", {"result_id": f"validation:{rb['result_id']}", "failures_only": True}
        )
    )
    assert {r["index"] for r in only_failed["results"]} == {0, 1}  # score and label lie in [0, 1]
    latest = structured(await vh.call("validation_get_result", {"result_id": "latest"}))
    assert latest["result_id"] == rb["result_id"]
    for_a = structured(await vh.call("validation_list_results", {"dataset": "a.csv"}))
    assert [i["result_id"] for i in for_a["items"]] == [ra["result_id"]]
    everything = structured(await vh.call("validation_list_results", {"limit": 1}))
    assert everything["total"] == 2 and everything["items"][0]["result_id"] == rb["result_id"]
    second = structured(
        await vh.call("validation_list_results", {"limit": 1, "cursor": everything["next_cursor"]})
    )
    assert second["items"][0]["result_id"] == ra["result_id"] and second["next_cursor"] is None


async def test_integrity_rules_match_pandas_and_record_lineage(vh: Harness) -> None:
    rng = np.random.default_rng(5)
    customers = pd.DataFrame({"id": np.arange(1, 101), "segment": rng.choice(["a", "b"], 100)})
    n = 600
    orders = pd.DataFrame(
        {
            "order_id": np.arange(n),
            "customer_id": rng.integers(1, 121, n),  # ids 101..120 do not exist
            "price": rng.uniform(10, 100, n).round(2),
            "cost": rng.uniform(5, 60, n).round(2),
            "tax": rng.uniform(0, 5, n).round(2),
            "status": rng.choice(["new", "shipped"], n),
            "ship_date": np.where(rng.random(n) < 0.8, "2024-05-01", None),
        }
    )
    orders["total"] = (orders["price"] + orders["tax"]).round(2)
    orders.loc[::40, "total"] += 3.0
    orders.loc[orders.index[::7], "cost"] = np.nan
    write(customers, vh.workspace / "customers.parquet")
    write(orders, vh.workspace / "orders.csv")
    rules = [
        {
            "kind": "foreign_key",
            "column": "customer_id",
            "reference": "customers.parquet",
            "reference_column": "id",
        },
        {"kind": "compare", "left": "price", "op": ">", "right": "cost"},
        {"kind": "sum_equals", "columns": ["price", "tax"], "equals": "total", "tolerance": 0.011},
        {
            "kind": "required_if",
            "column": "ship_date",
            "when": {"column": "status", "op": "==", "value": "shipped"},
        },
        {
            "kind": "expectation",
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "price", "min_value": 20},
        },
    ]
    report = structured(
        await vh.call("validation_check_integrity", {"dataset": "orders.csv", "rules": rules})
    )
    data = pd.read_csv(vh.workspace / "orders.csv")
    r = by_index(report)
    assert report["kind"] == "integrity" and report["evaluated"] == 5
    assert r[0]["unexpected_count"] == int((~data["customer_id"].isin(customers["id"])).sum()) > 0
    both = data[["price", "cost"]].notna().all(axis=1)
    assert r[1]["unexpected_count"] == int((data.loc[both, "price"] <= data.loc[both, "cost"]).sum())
    assert (
        r[2]["unexpected_count"]
        == int(((data["price"] + data["tax"] - data["total"]).abs() > 0.011).sum())
        == 15
    )
    assert (
        r[3]["unexpected_count"] == int(((data["status"] == "shipped") & data["ship_date"].isna()).sum()) > 0
    )
    assert r[4]["unexpected_count"] == int((data["price"] < 20).sum())
    assert r[0]["rule"] == "customer_id in customers.parquet.id"
    assert r[2]["rule"].startswith("price + tax == total")

    from mcp_server.core.lineage import query_lineage

    graph = query_lineage(vh.server.app.store, report["lineage_id"], "upstream", 1)
    ups = {e.upstream.split("@")[0] for e in graph.edges}
    assert ups == {"dataset:orders.csv", "dataset:customers.parquet"}  # root-relative (issue 20)


async def test_suite_lineage_and_progress(vh: Harness) -> None:
    write(people(300), vh.workspace / "p.csv")
    exp = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]
    structured(await vh.call("validation_create_suite", {"name": "nn", "expectations": exp}))
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await vh.client.call_tool(
        "validation_run", {"dataset": "p.csv", "suite": "nn"}, progress_callback=on_progress
    )
    report = structured(result)
    assert seen and seen[0][1] == 4 and any("Great Expectations" in (m or "") for _, _, m in seen)
    from mcp_server.core.lineage import query_lineage

    graph = query_lineage(vh.server.app.store, report["lineage_id"], "upstream", 1)
    assert {(e.upstream.split(":")[0], e.kind) for e in graph.edges} == {
        ("dataset", "validated_by"),
        ("suite", "validated_with"),
    }


@pytest.mark.slow
async def test_regex_suites_run_in_a_killable_worker(vh: Harness) -> None:
    df = pd.DataFrame({"code": [f"AB-{i:04d}" for i in range(300)]})
    df.loc[[7, 70, 170], "code"] = ["ab_1", "XY-12", "AB-12345"]
    write(df, vh.workspace / "codes.csv")
    pattern = r"^[A-Z]{2}-[0-9]{4}$"
    exp = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": pattern}}]
    structured(await vh.call("validation_create_suite", {"name": "codes", "expectations": exp}))
    started = time.perf_counter()
    report = structured(await vh.call("validation_run", {"dataset": "codes.csv", "suite": "codes"}))
    worker_s = time.perf_counter() - started  # a whole worker run: spawn, import GX, read, validate
    data = pd.read_csv(vh.workspace / "codes.csv")
    assert report["isolated"] is True
    assert report["results"][0]["unexpected_count"] == int((~data["code"].str.contains(pattern)).sum()) == 3
    assert sorted(report["results"][0]["sample"]) == sorted(["ab_1", "XY-12", "AB-12345"])

    # A catastrophic regex: the worker reaches it (the deadline leaves room for a whole normal run) and
    # is killed at the deadline.
    write(pd.DataFrame({"text": ["a" * 40 + "!"] * 5}), vh.workspace / "evil.csv")
    exp = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "text", "regex": "^(a+)+$"}}]
    structured(await vh.call("validation_create_suite", {"name": "evil", "expectations": exp}))
    deadline = max(8.0, worker_s + 4)
    started = time.perf_counter()
    result = await vh.call("validation_run", {"dataset": "evil.csv", "suite": "evil", "deadline_s": deadline})
    elapsed = time.perf_counter() - started
    assert_tool_error(result, "regular expression", "stopped")
    assert elapsed < deadline + 5
    assert structured(await vh.call("validation_list_suites", {}))["total"] == 2  # still answering
