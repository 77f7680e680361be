"""quality_score through an MCP client: every dimension equals an independent pandas computation, the
weighted overall, pass/fail, history, and the score rising after quality_clean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.tools.quality.conftest import AS_OF, STATUSES, SUITE, Harness, faulted, orders, write

RULES = [{"left": "start", "op": "<=", "right": "end"}, {"left": "qty", "op": ">=", "right": 1}]
WEIGHTS = {
    "completeness": 2,
    "uniqueness": 1,
    "validity": 3,
    "consistency": 1,
    "timeliness": 1,
    "accuracy": 2,
}


def expected_dimensions(df: pd.DataFrame, ref: pd.DataFrame) -> dict[str, float]:
    """The six dimensions computed directly with pandas, independently of the adapter."""
    n = len(df)
    completeness = 100 * df.notna().to_numpy().sum() / df.size
    uniqueness = 100 * (~df["order_id"].duplicated(keep=False) & df["order_id"].notna()).sum() / n
    amount, status = df["amount"], df["status"]
    passing_rows = (
        (n - amount.isna().sum())
        + (n - ((amount < 0) | (amount > 1000)).sum())
        + (n - (status.notna() & ~status.isin(STATUSES)).sum())
        + n  # the table-level row count expectation passes
    )
    validity = 100 * passing_rows / (4 * n)
    ok1 = (df["start"] <= df["end"]) | df["start"].isna() | df["end"].isna()
    ok2 = (df["qty"] >= 1) | df["qty"].isna()
    consistency = 100 * (ok1 & ok2).sum() / n
    stamps = pd.to_datetime(df["updated_at"], utc=True)
    timeliness = 100 * (stamps >= pd.Timestamp(AS_OF) - pd.Timedelta(days=30)).sum() / n
    cols = [c for c in df.columns if c != "order_id"]
    merged = df.merge(ref.drop_duplicates("order_id"), on="order_id", suffixes=("", "_r"))
    equal = sum(
        int(((merged[c] == merged[c + "_r"]) | (merged[c].isna() & merged[c + "_r"].isna())).sum())
        for c in cols
    )
    accuracy = 100 * equal / (len(merged) * len(cols))
    return {
        "completeness": completeness,
        "uniqueness": uniqueness,
        "validity": validity,
        "consistency": consistency,
        "timeliness": timeliness,
        "accuracy": accuracy,
    }


async def test_every_dimension_equals_pandas(qh: Harness) -> None:
    write(faulted(), qh.workspace / "orders.csv")
    write(orders(), qh.workspace / "truth.csv")
    await qh.ok("validation_create_suite", {"name": "orders", "expectations": SUITE})
    got = await qh.ok(
        "quality_score",
        {
            "dataset": "orders.csv",
            "suite": "orders",
            "reference": "truth.csv",
            "key": ["order_id"],
            "consistency_rules": RULES,
            "timestamp_column": "updated_at",
            "max_age": "30d",
            "as_of": AS_OF.isoformat(),
            "weights": WEIGHTS,
            "threshold": 95,
        },
    )
    df = pd.read_csv(qh.workspace / "orders.csv")
    want = expected_dimensions(df, pd.read_csv(qh.workspace / "truth.csv"))
    scores = {d["name"]: d["score"] for d in got["dimensions"]}
    for name, value in want.items():
        assert scores[name] == pytest.approx(value, abs=1e-6), name
    assert all(v < 100 for v in scores.values())  # every fault shows somewhere
    overall = sum(WEIGHTS[d] * want[d] for d in want) / sum(WEIGHTS.values())
    assert got["overall"] == pytest.approx(overall, abs=1e-6)
    assert got["passed"] is False and got["threshold"] == 95
    assert got["left_out"] == {}
    assert got["validation_id"].startswith("validation:")
    weights = {d["name"]: d["weight"] for d in got["dimensions"]}
    assert weights["validity"] == pytest.approx(3 / 10)
    validity = next(d for d in got["dimensions"] if d["name"] == "validity")
    assert validity["details"]["failed_expectations"] == 3
    # The suite run behind validity is an ordinary stored validation result.
    result = await qh.ok("validation_get_result", {"result_id": got["validation_id"]})
    assert result["suite"] == "orders@1" and result["row_count"] == len(df)


async def test_left_out_dimensions_renormalize_the_weights(qh: Harness) -> None:
    df = faulted()
    write(df, qh.workspace / "orders.parquet")
    got = await qh.ok(
        "quality_score",
        {"dataset": "orders.parquet", "weights": {"completeness": 3, "accuracy": 5}, "threshold": 90},
    )
    assert set(got["left_out"]) == {"validity", "consistency", "timeliness", "accuracy"}
    assert got["left_out"]["validity"] == "no suite given"
    assert got["left_out"]["accuracy"] == "no reference dataset given"
    completeness = 100 * df.notna().to_numpy().sum() / df.size
    # order_id is detected as the key (id-like name, >= 90% distinct).
    uniqueness = 100 * (~df["order_id"].duplicated(keep=False)).sum() / len(df)
    assert got["overall"] == pytest.approx((3 * completeness + uniqueness) / 4, abs=1e-6)
    dims = {d["name"]: d for d in got["dimensions"]}
    assert dims["uniqueness"]["details"] == {"key": ["order_id"], "detected": True}
    assert dims["completeness"]["weight"] == pytest.approx(0.75)
    assert dims["accuracy"]["weight"] == 0.0 and dims["accuracy"]["score"] is None
    assert got["passed"] is True  # about 97 >= 90


async def test_uniqueness_without_a_key_counts_whole_rows(qh: Harness) -> None:
    df = pd.DataFrame({"a": [1, 1, 2, 3, 3, 3], "b": ["x", "x", "y", "z", "z", "w"]})
    write(df, qh.workspace / "rows.csv")
    got = await qh.ok("quality_score", {"dataset": "rows.csv"})
    uniq = next(d for d in got["dimensions"] if d["name"] == "uniqueness")
    assert uniq["score"] == pytest.approx(100 * (~df.duplicated(keep=False)).sum() / len(df))
    assert uniq["details"]["key"] is None


async def test_score_rises_after_clean_and_history_shows_the_trend(qh: Harness) -> None:
    write(faulted(), qh.workspace / "orders.csv")
    await qh.ok("validation_create_suite", {"name": "orders", "expectations": SUITE})
    plan = {
        "strings": {"columns": ["status"], "case": "lower"},
        "duplicates": {"subset": ["order_id"]},
        "outliers": {"columns": ["amount"], "method": "iqr", "action": "clip"},
        "missing": [
            {"strategy": "median", "columns": ["amount"]},
            {"strategy": "mode", "columns": ["status"]},
        ],
    }
    cleaned = await qh.ok(
        "quality_clean",
        {
            "dataset": "orders.csv",
            "plan": plan,
            "output": "clean/orders",
            "suite": "orders",
            "key": ["order_id"],
        },
    )
    assert cleaned["output"] == "clean/orders.parquet"
    assert cleaned["improved"] is True
    assert cleaned["after"]["overall"] > cleaned["before"]["overall"]
    assert cleaned["after"]["scores"]["completeness"] == 100.0
    assert cleaned["after"]["scores"]["uniqueness"] == 100.0
    assert cleaned["after"]["scores"]["validity"] > cleaned["before"]["scores"]["validity"]
    out = pd.read_parquet(qh.workspace / "clean" / "orders.parquet")
    assert len(out) == 300 and out["order_id"].is_unique and not out["amount"].isna().any()
    assert (out["amount"] >= 0).all()

    # A fresh quality_score of the cleaned file agrees with the after-score quality_clean returned.
    again = await qh.ok(
        "quality_score", {"dataset": "clean/orders.parquet", "suite": "orders", "key": ["order_id"]}
    )
    assert again["overall"] == pytest.approx(cleaned["after"]["overall"])

    # History at one path: faulted, then the file replaced by its cleaned content.
    first = await qh.ok("quality_score", {"dataset": "orders.csv", "key": ["order_id"]})
    write(out, qh.workspace / "orders.csv")
    second = await qh.ok("quality_score", {"dataset": "orders.csv", "key": ["order_id"]})
    hist = await qh.ok("quality_history", {"dataset": "orders.csv"})
    assert [i["score_id"] for i in hist["items"][:2]] == [second["score_id"], first["score_id"]]
    assert hist["trend"] == "improving"
    assert hist["items"][0]["change"] == pytest.approx(second["overall"] - first["overall"], abs=1e-6)
    assert hist["items"][0]["dataset_id"] != hist["items"][1]["dataset_id"]  # a new version of the file
    page = await qh.ok("quality_history", {"dataset": "orders.csv", "limit": 1})
    assert page["total"] == hist["total"] and page["next_cursor"]
    rest = await qh.ok(
        "quality_history", {"dataset": "orders.csv", "limit": 1, "cursor": page["next_cursor"]}
    )
    assert rest["items"][0]["score_id"] == hist["items"][1]["score_id"]


async def test_clean_records_lineage(qh: Harness) -> None:
    write(faulted(), qh.workspace / "orders.csv")
    got = await qh.ok(
        "quality_clean",
        {"dataset": "orders.csv", "plan": {"duplicates": {}}, "output": "dedup.csv"},
    )
    assert got["rows_after"] == 300 and got["steps"][0]["detail"].startswith("dropped 6 duplicate")
    graph = await qh.ok("lineage_get", {"entity": got["output_id"], "direction": "upstream"})
    kinds = {e["kind"] for e in graph["edges"]}
    assert "cleaned_into" in kinds


async def test_timeliness_and_consistency_value_rules(qh: Harness) -> None:
    df = orders(50)
    df.loc[[1, 2], "updated_at"] = None
    write(df, qh.workspace / "o.csv")
    got = await qh.ok(
        "quality_score",
        {
            "dataset": "o.csv",
            "timestamp_column": "updated_at",
            "max_age": "P10D",
            "as_of": AS_OF.isoformat(),
            "consistency_rules": [{"left": "amount", "op": "<", "right": 120}],
        },
    )
    dims = {d["name"]: d for d in got["dimensions"]}
    stamps = pd.to_datetime(df["updated_at"], utc=True)
    fresh = (stamps >= pd.Timestamp(AS_OF) - pd.Timedelta(days=10)).sum()
    assert dims["timeliness"]["numerator"] == fresh and dims["timeliness"]["denominator"] == 50
    assert dims["consistency"]["score"] == pytest.approx(100 * np.mean(df["amount"] < 120))
