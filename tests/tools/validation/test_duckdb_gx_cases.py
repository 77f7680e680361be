"""#28 must-show 1: Great Expectations' own JSON test cases for SQL backends (the ones GX marks for sqlite or
postgresql, and for pandas; a vendored subset, see gx_test_definitions/README.md), run through validation_run
with engine=duckdb and engine=pandas on the same Parquet files: the same success and unexpected counts.
Each dataset's cases form one suite; each outcome says which engine ran it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mcp_server.core.errors import InvalidInput
from mcp_server.tools.validation.adapter import build_expectations, referenced_columns
from tests.conftest import structured
from tests.tools.validation.conftest import Harness

pytestmark = pytest.mark.timeout(600)

DEFINITIONS = Path(__file__).with_name("gx_test_definitions")
SQL = {"sqlite", "postgresql"}
DROPPED_KWARGS = {"result_format", "catch_exceptions", "include_config", "meta"}
# GX has no SQL implementation of these (GX 1.24): engine=duckdb runs them on pandas.
NO_SQL = {
    "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_increasing",
    "expect_column_values_to_be_json_parseable",
}


def _runs_on(backend: str, suppress: Any, only: Any) -> bool:
    """GX's own rule (great_expectations/self_check/util.py, should_we_generate_this_test)."""
    suppress = [suppress] if isinstance(suppress, str) else list(suppress or [])
    only = [only] if isinstance(only, str) else list(only or [])
    if backend in suppress or ("sqlalchemy" in suppress and backend in SQL):
        return False
    if only:
        return (
            backend in only
            or ("sqlalchemy" in only and backend in SQL)
            or (backend == "pandas" and "pandas>=024" in only)
        )
    return True


def _sql_cases(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for test in dataset["tests"]:
        on = {
            b: _runs_on(b, dataset.get("suppress_test_for"), dataset.get("only_for"))
            and _runs_on(b, test.get("suppress_test_for"), test.get("only_for"))
            for b in ("pandas", "sqlite", "postgresql")
        }
        if on["pandas"] and (on["sqlite"] or on["postgresql"]):
            out.append(test)
    return out


def _frame(dataset: dict[str, Any]) -> pd.DataFrame:
    """The dataset as GX's pandas tests build it, less the columns no Parquet file can hold (numbers and
    text mixed in one column: GX's SQL tests give them their own typed tables)."""
    import pyarrow as pa

    df = pd.DataFrame(dataset["data"])
    for column, dtype in ((dataset.get("schemas") or {}).get("pandas") or {}).items():
        if column in df and "datetime" not in dtype.lower():
            with contextlib.suppress(TypeError, ValueError):
                df[column] = df[column].astype(getattr(pd, dtype)() if dtype.endswith("Dtype") else dtype)
    mixed = []
    for column in df.columns:
        try:
            pa.array(df[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            mixed.append(column)
    return df.drop(columns=mixed)


def _spec(etype: str, test: dict[str, Any]) -> dict[str, Any] | None:
    """The case as an expectation this server accepts (GX 1.24 dropped some of 1.2's arguments)."""
    kwargs = {k: v for k, v in test["in"].items() if k not in DROPPED_KWARGS}
    if {"row_condition", "condition_parser"} & set(kwargs):
        return None  # refused by the server (SECURITY.md 9)
    spec = {"type": etype, "kwargs": kwargs}
    try:
        build_expectations([spec])
    except InvalidInput:
        return None
    return spec


async def test_gx_sql_test_cases_count_the_same_on_duckdb_as_on_pandas(vh: Harness) -> None:
    compared = 0
    types_compared: set[str] = set()
    routed: dict[str, set[str]] = {}
    for path in sorted(DEFINITIONS.glob("*.json")):
        definition = json.loads(path.read_text())
        etype = definition["expectation_type"]
        for k, dataset in enumerate(definition["datasets"]):
            frame = _frame(dataset)
            cases = [
                (t, s)
                for t in _sql_cases(dataset)
                if (s := _spec(etype, t)) is not None and set(referenced_columns([s])) <= set(frame.columns)
            ]
            if not cases:
                continue
            name = f"{path.stem}-{k}"
            frame.to_parquet(vh.workspace / f"{name}.parquet", index=False)
            specs = [s for _, s in cases]
            structured(await vh.call("validation_create_suite", {"name": name, "expectations": specs}))
            reports = {
                engine: structured(
                    await vh.call(
                        "validation_run",
                        {"dataset": f"{name}.parquet", "suite": name, "engine": engine, "limit": 500},
                    )
                )
                for engine in ("pandas", "duckdb")
            }
            assert reports["duckdb"]["row_count"] == reports["pandas"]["row_count"]
            pandas = {o["index"]: o for o in reports["pandas"]["results"]}
            duck = {o["index"]: o for o in reports["duckdb"]["results"]}
            assert pandas.keys() == duck.keys() == set(range(len(cases)))
            for i, (test, _) in enumerate(cases):
                p, d = pandas[i], duck[i]
                where = (path.name, k, test["title"], p, d)
                assert d["engine"] in ("duckdb", "pandas"), where
                assert p["engine"] is None, where  # engine=pandas: no per-expectation engine to tell
                assert d["success"] == p["success"], where
                assert d["unexpected_count"] == p["unexpected_count"], where
                assert (d["error"] is None) == (p["error"] is None), where
                if d["engine"] == "pandas":
                    assert d["engine_note"], where
                    routed.setdefault(etype, set()).add(d["engine_note"])
                compared += 1
                types_compared.add(etype)
    assert compared >= 150, compared
    assert len(types_compared) == len(list(DEFINITIONS.glob("*.json")))
    # Only the types GX has no SQL for, single cases DuckDB could not evaluate (GX's own argument errors,
    # a mean of booleans) and regexes on columns that are not text ran on pandas; the rest on DuckDB.
    for etype, notes in routed.items():
        if etype in NO_SQL:
            assert all("no SQL implementation" in n for n in notes), (etype, notes)
        else:
            assert all(n.startswith(("DuckDB could not evaluate it", "a regex on a")) for n in notes), (
                etype,
                notes,
            )
    assert routed.keys() >= NO_SQL
    print(
        f"{compared} cases of {len(types_compared)} types; on pandas: {json.dumps(routed, sort_keys=True, default=sorted)}"
    )
