"""The validation service under the boundary: one thread hop per call, one row-condition semantics."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pandas as pd
import pytest

from tests.conftest import structured
from tests.tools.validation.conftest import Harness, people, write

NOT_NULL = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}}]


def count_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hop from the event loop into a worker thread from now on, by the function it runs."""
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__qualname__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return hops


async def test_validation_run_makes_one_thread_hop(vh: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    write(people(120), vh.workspace / "p.csv")
    structured(await vh.call("validation_create_suite", {"name": "nn", "expectations": NOT_NULL}))

    hops = count_hops(monkeypatch)
    report = structured(await vh.call("validation_run", {"dataset": "p.csv", "suite": "nn"}))
    assert report["success"] is True and report["row_count"] == 120
    assert len(hops) == 1, hops

    hops.clear()
    rules = [{"kind": "compare", "left": "income", "op": ">", "right": "age"}]
    checked = structured(await vh.call("validation_check_integrity", {"dataset": "p.csv", "rules": rules}))
    assert checked["kind"] == "integrity"
    assert len(hops) == 1, hops


# The must-show of issue 20: one condition, one set of rows, wherever it is used. A comparison with a null
# is false (core/conditions.py): `a != 5` holds for rows 0 and 3 only, never for the null in row 1.
A = [1.0, None, 5.0, 7.0]
B = ["x", None, "y", "x"]
CONDITIONS = [
    ("a", "!=", 5, [0, 3]),
    ("a", ">", 3, [2, 3]),
    ("b", "==", "x", [0, 3]),
]


@pytest.mark.parametrize(("column", "op", "value", "rows"), CONDITIONS)
async def test_one_condition_selects_the_same_rows_everywhere(
    vh: Harness, column: str, op: str, value: Any, rows: list[int]
) -> None:
    df = pd.DataFrame({"id": [0, 1, 2, 3], "a": A, "b": B, "t": [None] * 4})
    write(df, vh.workspace / "nulls.csv")
    nulls = [i for i in range(4) if df[column].isna()[i]]
    assert nulls == [1]

    # validation_check_integrity, required_if: `t` (null everywhere) is required exactly where it holds.
    rule = {"kind": "required_if", "column": "t", "when": {"column": column, "op": op, "value": value}}
    report = structured(
        await vh.call(
            "validation_check_integrity", {"dataset": "nulls.csv", "rules": [rule], "engine": "pandas"}
        )
    )
    outcome = report["results"][0]
    assert outcome["unexpected_count"] == len(rows)
    assert sorted(outcome["sample_rows"]) == rows

    # quality_filter_dataset keeps exactly those rows.
    kept = structured(
        await vh.call(
            "quality_filter_dataset",
            {"dataset": "nulls.csv", "rules": [[column, op, value]], "output": "kept.csv"},
        )
    )
    assert kept["rows_after"] == len(rows)
    assert pd.read_csv(vh.workspace / "kept.csv")["id"].tolist() == rows

    # A quality consistency rule reads the condition the same way: it holds on those rows, fails on the
    # other rows with a value, and does not apply where the value is null (an SQL CHECK constraint).
    scored = structured(
        await vh.call(
            "quality_score",
            {
                "dataset": "nulls.csv",
                "consistency_rules": [{"left": column, "op": op, "right": value}],
                "engine": "pandas",
            },
        )
    )
    consistency = {d["name"]: d for d in scored["dimensions"]}["consistency"]
    failing = [i for i in range(4) if i not in rows and i not in nulls]
    assert consistency["details"]["rules"][0]["failing_rows"] == len(failing) == 1
    assert consistency["numerator"] == len(rows) + len(nulls)
    assert consistency["denominator"] == 4
