"""The adapter's pandas functions on small data: every cleaning step, rules and keys."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest

from mcp_server.core.errors import InvalidInput
from mcp_server.tools.quality import adapter


def test_clean_steps_in_order() -> None:
    df = pd.DataFrame(
        {
            "t": ["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"],
            "v": [np.nan, 1.0, np.nan, 4.0, 100.0],
            "n": ["1", "2", "x", "4", "5"],
            "name": [" Zoe  Li ", "zoe li", unicodedata.normalize("NFD", "Chloé"), "Chlo\u00e9", "bob\u200b"],
            "k": [1, 2, 3, 4, 50],
        }
    )
    plan = {
        "coerce": {"n": "int"},
        "strings": {"columns": ["name"], "case": "lower"},
        "outliers": {"columns": ["k"], "method": "iqr", "action": "clip"},
        "missing": [{"strategy": "ffill", "columns": ["v"], "order_by": "t"}],
    }
    out, steps = adapter.clean_frame(df, plan)
    assert [s["step"] for s in steps] == ["coerce", "strings", "outliers", "missing"]
    assert out["n"].tolist()[:2] == [1, 2] and pd.isna(out["n"].iloc[2])
    assert "1 value(s) did not convert" in steps[0]["detail"]
    assert out["name"].tolist() == ["zoe li", "zoe li", "chloé", "chloé", "bob"]
    assert out["name"].iloc[2] == unicodedata.normalize("NFC", "chloé")
    q1, q3 = df["k"].quantile(0.25), df["k"].quantile(0.75)
    assert out["k"].dtype == df["k"].dtype and out["k"].max() == int(np.floor(q3 + 1.5 * (q3 - q1)))
    # Forward fill along t: 01-01 (1.0), 01-02 (null -> 1.0), 01-03 (null -> 1.0), 01-04, 01-05.
    assert out["v"].tolist() == [1.0, 1.0, 1.0, 4.0, 100.0]


def test_clean_duplicates_outlier_drop_and_fills() -> None:
    df = pd.DataFrame({"a": [1.0, 1.0, np.nan, 3.0, 1000.0, 2.0], "b": ["x", "x", None, "y", "y", "y"]})
    out, steps = adapter.clean_frame(
        df,
        {
            "duplicates": {},
            "outliers": {"columns": ["a"], "method": "zscore", "threshold": 1.5, "action": "drop"},
            "missing": [
                {"strategy": "mean", "columns": ["a"]},
                {"strategy": "constant", "columns": ["b"], "value": "?"},
            ],
        },
    )
    dedup = df.drop_duplicates()
    s = dedup["a"]
    z = (s - s.mean()).abs() / s.std(ddof=0)
    kept = dedup[~(z > 1.5)]
    assert len(out) == len(kept)
    assert out["a"].isna().sum() == 0 and out["a"].iloc[list(kept["a"].isna()).index(True)] == pytest.approx(
        kept["a"].mean()
    )
    assert (out["b"] == "?").sum() == 1
    assert steps[0]["rows_before"] == 6 and steps[0]["rows_after"] == 5


def test_condition_mask_allowlist() -> None:
    from mcp_server.core.conditions import mask

    df = pd.DataFrame({"x": [1, 2, None, 4], "s": ["a", "b", "c", None]})
    assert mask(df, "x", ">=", 2, "r").tolist() == [False, True, False, True]
    assert mask(df, "s", "not_in", ["a"], "r").tolist() == [False, True, True, False]
    assert mask(df, "x", "between", [1, 2], "r").tolist() == [True, True, False, False]
    assert mask(df, "s", "is_null", None, "r").tolist() == [False, False, False, True]
    with pytest.raises(InvalidInput, match="cannot be compared"):
        mask(df, "s", ">", 3, "Rule 0")
    with pytest.raises(InvalidInput, match=r"\[low, high\]"):
        mask(df, "x", "between", 3, "Rule 0")


def test_key_detection_and_kinds() -> None:
    df = pd.DataFrame({"customer_id": range(100), "v": np.linspace(0, 1, 100), "c": ["a", "b"] * 50})
    assert adapter.detect_key(df) == ["customer_id"]
    assert adapter.detect_key(df[["v", "c"]]) is None
    assert adapter.kind_of(df["v"]) == "numeric" and adapter.kind_of(df["c"]) == "categorical"
    assert adapter.kind_of(pd.Series([0, 1, 1, 0])) == "categorical"


def test_combine_renormalizes_and_reports_left_out() -> None:
    dims = {
        "completeness": {"score": 90.0},
        "uniqueness": {"score": 60.0},
        "validity": {"score": None, "reason": "no suite given"},
        "consistency": {"score": 100.0},
        "timeliness": {"score": None, "reason": "x"},
        "accuracy": {"score": None, "reason": "y"},
    }
    got = adapter.combine(dims, {"completeness": 2, "consistency": 0}, 81)
    assert got["overall"] == pytest.approx((2 * 90 + 60) / 3)
    assert got["passed"] is False
    assert got["left_out"] == {
        "validity": "no suite given",
        "timeliness": "x",
        "accuracy": "y",
        "consistency": "weight 0",
    }


def test_validity_weights_expectations_by_rows() -> None:
    outcomes = [
        {"success": False, "unexpected_count": 10},
        {"success": True, "unexpected_count": 0},
        {"success": False, "unexpected_count": None},  # a table-level expectation that failed
        {"success": False, "unexpected_count": None, "error": "boom"},
    ]
    got = adapter.validity_from_outcomes(outcomes, 100)
    assert got["score"] == pytest.approx(100 * (90 + 100 + 0 + 0) / 400)
