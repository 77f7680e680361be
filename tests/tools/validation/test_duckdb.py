"""engine=duckdb (#28): GX's own SQL engine on a DuckDB view of the file gives pandas' answers; what DuckDB
must not run (a pattern RE2 reads otherwise, a type GX has no SQL for) runs on pandas and says so; the
engine choice; the deadline stops DuckDB's queries; quality's validity dimension on DuckDB."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mcp_server.core.config import Settings
from mcp_server.core.errors import BackendUnavailable, InvalidInput
from mcp_server.tools.validation import duckdb_adapter
from mcp_server.tools.validation.adapter import TYPE_EXPECTATIONS
from mcp_server.tools.validation.duckdb_adapter import TYPE_NOTE, NotPortable, re2_pattern, routes
from tests.conftest import assert_tool_error, structured
from tests.tools.validation.conftest import Harness
from tests.tools.validation.test_spark import dirty_orders, orders, write_parquet

pytestmark = pytest.mark.timeout(300)

# Python `re` vs RE2 corner cases: Unicode digits and spaces, a final newline before `$`, `\Z`, classes.
TEXTS = [
    "",
    "abc",
    "ab\n",
    "x\nab",
    "AB-1234",
    "AB-١٢٣٤",  # Arabic-Indic digits: Python's \d matches them, RE2's does not
    "AB-12345",
    "tab\there",
    "nbsp\u00a0here",
    "é",
    "e\u0301",
    "ß",
    "日本語",
    "a.b",
    "a+b",
    "[x]",
    "under_score",
    "line\u2028sep",
    "\x00nul",
    "aaaa!",
]
PORTABLE = [
    r"^AB-\d{4}$",
    r"^[a-c]$",
    r"b$",
    r"^ab$",
    r"ab\Z",
    r"\Aab",
    r"\s",
    r"\S+\s\S+",
    r"^\w+$",
    r"\W",
    r"[^\d\s]",
    r"[\D]",
    r"a.b",
    r"a\.b",
    r"(?s)a.b",
    r"(?a)^\w+$",
    r"(?x) a \+ b",
    r"[é-ü]",
    r"日本|ß",
    r"(a|b)*?c",
    r"x{2,3}|a{0,1000}",
    r"\[x\]",
    r"^$",
    r"\x00",
    "[^a]",
    r"(?P<name>a)(?:b)",
]
NOT_PORTABLE = {
    r"(?<=A)B": "assert",
    r"(a)\1": "groupref",
    r"\bword\b": "word boundary",
    r"(?i)abc": "flags",
    r"(?m)^a$": "flags",
    r"a(?i:b)": "flags inside a group",
    r"x$y": "'$' is followed",
    r"a{1001}": "1000",
    r"(?>a+)b": "atomic",
    r"a++": "possessive",
}


def test_rewritten_patterns_match_exactly_as_python_re_on_duckdb() -> None:
    import duckdb

    con = duckdb.connect()
    for pattern in PORTABLE:
        rewritten = re2_pattern(pattern)
        re.compile(rewritten)  # GX's expectation checks compile it too
        for text in TEXTS:
            expected = re.search(pattern, text) is not None
            got = con.execute("SELECT regexp_matches(?, ?)", [text, rewritten]).fetchone()[0]  # type: ignore[index]
            assert got is expected, (pattern, rewritten[:80], text)
    # The unmodified patterns would not: RE2's \d, $ and \s differ from Python's.
    assert con.execute("SELECT regexp_matches(?, ?)", ["AB-١٢٣٤", r"^AB-\d{4}$"]).fetchone() == (False,)
    assert con.execute("SELECT regexp_matches(?, ?)", ["ab\n", "b$"]).fetchone() == (False,)


def test_patterns_without_the_same_meaning_in_re2_are_refused() -> None:
    for pattern, why in NOT_PORTABLE.items():
        with pytest.raises(NotPortable) as err:
            re2_pattern(pattern)
        assert why in str(err.value).lower() or why in str(err.value), (pattern, str(err.value))


def test_routes_name_what_runs_on_pandas_and_why() -> None:
    types = {"code": "VARCHAR", "n": "BIGINT", "f": "DOUBLE"}
    specs = [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": r"^\d+$"}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": r"(?<=a)b"}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "n", "regex": r"^1"}},
        {
            "type": "expect_column_values_to_match_strftime_format",
            "kwargs": {"column": "code", "strftime_format": "%Y"},
        },
        {
            "type": "expect_column_values_to_be_in_type_list",
            "kwargs": {"column": "n", "type_list": ["integer"]},
        },
        {
            "type": "expect_column_values_to_not_match_regex_list",
            "kwargs": {"column": "code", "regex_list": ["a$", "^b"]},
        },
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "f", "min_value": 0}},
    ]
    on_duckdb, pandas = routes(specs, types)
    assert set(pandas) == {1, 2, 3}
    assert "RE2" in pandas[1] and "assert" in pandas[1]
    assert "BIGINT column" in pandas[2]
    assert "no SQL implementation" in pandas[3]
    assert on_duckdb[0]["kwargs"]["regex"] == re2_pattern(r"^\d+$")
    assert on_duckdb[4]["kwargs"]["type_list"][:4] == ["TINYINT", "SMALLINT", "INTEGER", "BIGINT"]
    assert on_duckdb[5]["kwargs"]["regex_list"] == [re2_pattern("a$"), re2_pattern("^b")]
    assert on_duckdb[6] is specs[6]


def test_engine_choice(tmp_path: Path) -> None:
    from mcp_server.core.context import AppContext
    from mcp_server.tools.validation.service import choose_engine

    settings = Settings(home=tmp_path / "home", spark_master="off", duckdb_auto_rows=1000)
    ws = settings.workspace_dir
    ws.mkdir(parents=True)
    write_parquet(orders(2000, 1), ws / "big.parquet")
    write_parquet(orders(500, 1), ws / "small.parquet")
    orders(10, 1).to_json(ws / "rows.json", orient="records")
    app = AppContext.from_settings(settings)
    try:
        assert choose_engine(app, "auto", ws / "big.parquet") == "duckdb"
        assert choose_engine(app, "auto", ws / "small.parquet") == "pandas"
        assert choose_engine(app, "auto", ws / "rows.json") == "pandas"  # DuckDB reads Parquet/CSV only
        assert choose_engine(app, "duckdb", ws / "small.parquet") == "duckdb"
        with pytest.raises(InvalidInput, match="Parquet, CSV or TSV"):
            choose_engine(app, "duckdb", ws / "rows.json")
    finally:
        app.close()
    # Spark, where configured, keeps what is above its own thresholds.
    spark = Settings(
        home=tmp_path / "h2", spark_master="local[1]", spark_auto_rows=1500, duckdb_auto_rows=1000
    )
    spark.workspace_dir.mkdir(parents=True)
    app = AppContext.from_settings(spark)
    try:
        assert choose_engine(app, "auto", ws / "big.parquet") == "spark"
    finally:
        app.close()


def test_without_duckdb_installed_the_engine_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_adapter, "installed", lambda: False)
    with pytest.raises(BackendUnavailable, match=r"mlops-mcp\[duckdb\]"):
        duckdb_adapter.check_usable(tmp_path / "x.parquet")
    assert not duckdb_adapter.auto_fits(
        Settings(home=tmp_path, duckdb_auto_rows=1), tmp_path / "x.parquet", 10, 10
    )


# -- through the tools --------------------------------------------------------------------------------

SUITE: list[dict[str, Any]] = [
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "qty", "min_value": 1, "max_value": 60},
    },
    {
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "plan", "value_set": ["basic", "plus", "pro"]},
    },
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "code", "regex": r"^AB-\d{4}$"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "income", "mostly": 0.97}},
    {
        "type": "expect_column_values_to_be_in_type_list",
        "kwargs": {"column": "qty", "type_list": ["integer"]},
    },
    {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "at", "type_": "timestamp"}},
    {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "income", "min_value": 1, "max_value": 1e6},
    },
    {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "code", "regex": r"(?<=A)X"}},
    {"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "order_id"}},
    {
        "type": "expect_table_columns_to_match_set",
        "kwargs": {"column_set": ["order_id", "qty", "income", "plan", "code", "at"]},
    },
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["order_id", "code"]}},
]


def _by_index(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {o["index"]: o for o in report["results"]}


async def _run(vh: Harness, dataset: str, suite: str, engine: str, **extra: Any) -> dict[str, Any]:
    return structured(
        await vh.call(
            "validation_run", {"dataset": dataset, "suite": suite, "engine": engine, "limit": 500, **extra}
        )
    )


async def test_a_suite_on_duckdb_counts_as_on_pandas_and_says_what_ran_where(vh: Harness) -> None:
    dirty = dirty_orders(orders(3000, 5), 6)
    write_parquet(dirty, vh.workspace / "orders.parquet")
    dirty.to_csv(vh.workspace / "orders.csv", index=False)
    structured(await vh.call("validation_create_suite", {"name": "orders", "expectations": SUITE}))
    for dataset in ("orders.parquet", "orders.csv"):
        on_pandas = await _run(vh, dataset, "orders", "pandas")
        on_duckdb = await _run(vh, dataset, "orders", "duckdb")
        assert "duckdb" in on_duckdb["engine"] and on_duckdb["engine"].endswith("+ pandas")
        for key in ("success", "row_count", "evaluated", "successful", "failed"):
            assert on_pandas[key] == on_duckdb[key], (dataset, key)
        p, d = _by_index(on_pandas), _by_index(on_duckdb)
        for i in p:
            assert d[i]["error"] is None, d[i]
            if p[i]["type"] in TYPE_EXPECTATIONS:  # the verdicts match; SQL has no per-value count
                assert p[i]["success"] == d[i]["success"] and d[i]["engine_note"] == TYPE_NOTE
                continue
            assert (p[i]["success"], p[i]["unexpected_count"]) == (
                d[i]["success"],
                d[i]["unexpected_count"],
            ), (
                dataset,
                p[i],
                d[i],
            )
        on_pandas_only = {i for i, o in d.items() if o["engine"] == "pandas"}
        assert on_pandas_only == {8, 9}, (dataset, d)
        assert "RE2" in d[8]["engine_note"] and "no SQL implementation" in d[9]["engine_note"]
        assert on_duckdb["isolated"] is True  # the look-behind regex ran in the killable worker
        assert d[2]["engine"] == "duckdb" and d[2]["unexpected_count"] == 6  # \d rewritten for RE2
        assert set(d[1]["sample"]) == {"enterprise"}
        assert d[3]["unexpected_count"] == 4  # rows 10-12 set to the id 9 of row 8
    # The stored result keeps each outcome's engine.
    stored = structured(await vh.call("validation_get_result", {"result_id": "latest", "limit": 500}))
    assert {o["engine"] for o in stored["results"]} == {"duckdb", "pandas"}


async def test_a_catastrophic_regex_routed_to_pandas_ends_at_the_deadline(vh: Harness) -> None:
    pd.DataFrame({"text": ["a" * 40_000 + "!"] * 3, "n": [1, 2, 3]}).to_parquet(vh.workspace / "evil.parquet")
    evil = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "n", "min_value": 0, "max_value": 5},
        },
        # RE2 runs this one in linear time: on DuckDB it is quick.
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "text", "regex": "(a+)+$"}},
    ]
    structured(await vh.call("validation_create_suite", {"name": "linear", "expectations": evil}))
    started = time.perf_counter()
    report = await _run(vh, "evil.parquet", "linear", "duckdb", deadline_s=20)
    assert time.perf_counter() - started < 15
    assert {o["engine"] for o in report["results"]} == {"duckdb"} and report["isolated"] is False
    assert _by_index(report)[1]["unexpected_count"] == 3
    # A look-ahead has no RE2 form: pandas, in the killable worker, stopped at the deadline.
    stuck = [{**evil[1], "kwargs": {"column": "text", "regex": "(?=a)(a+)+$"}}]
    structured(await vh.call("validation_create_suite", {"name": "stuck", "expectations": [evil[0], *stuck]}))
    started = time.perf_counter()
    late = await vh.call(
        "validation_run", {"dataset": "evil.parquet", "suite": "stuck", "engine": "duckdb", "deadline_s": 3}
    )
    assert_tool_error(late, "regular expression", "within its 3 s deadline")
    assert time.perf_counter() - started < 6


async def test_the_deadline_interrupts_duckdb_and_the_next_run_goes_ahead(vh: Harness) -> None:
    import duckdb

    big = vh.workspace / "big.parquet"
    duckdb.execute(
        f"COPY (SELECT range AS id, range % 7 AS k FROM range(20000000)) TO '{big}' (FORMAT parquet)"
    )
    heavy = [
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["id", "k"]}},
    ]
    structured(await vh.call("validation_create_suite", {"name": "heavy", "expectations": heavy}))
    started = time.perf_counter()
    late = await vh.call(
        "validation_run", {"dataset": "big.parquet", "suite": "heavy", "engine": "duckdb", "deadline_s": 1}
    )
    assert_tool_error(late, "within its 1 s deadline")
    assert time.perf_counter() - started < 3
    small = pd.DataFrame({"id": [1, 2, 2], "k": [0, 1, 2]})
    small.to_parquet(vh.workspace / "small.parquet")
    started = time.perf_counter()
    # The interrupted run released DuckDB (and the engine's lock) at once: this one is not queued behind it.
    report = await _run(vh, "small.parquet", "heavy", "duckdb", deadline_s=30)
    assert time.perf_counter() - started < 10
    assert _by_index(report)[0]["unexpected_count"] == 2


async def test_integrity_rules_on_duckdb_give_pandas_counts(vh: Harness) -> None:
    dirty = dirty_orders(orders(2000, 7), 8)
    write_parquet(dirty, vh.workspace / "orders.parquet")
    write_parquet(pd.DataFrame({"plan": ["basic", "plus"]}), vh.workspace / "plans.parquet")
    rules = [
        {"kind": "foreign_key", "column": "plan", "reference": "plans.parquet", "reference_column": "plan"},
        {"kind": "compare", "left": "income", "op": ">", "right": "qty"},
        {"kind": "sum_equals", "columns": ["qty", "qty"], "equals": "qty", "tolerance": 0.5},
        {"kind": "required_if", "column": "income", "when": {"column": "plan", "op": "==", "value": "pro"}},
        {"kind": "required_if", "column": "plan", "when": {"column": "qty", "op": "in", "value": [500, 3]}},
        {"kind": "expectation", "type": "expect_column_values_to_not_be_null", "kwargs": {"column": "plan"}},
    ]
    args = {"dataset": "orders.parquet", "rules": rules, "limit": 500}
    on_pandas = structured(await vh.call("validation_check_integrity", {**args, "engine": "pandas"}))
    on_duckdb = structured(await vh.call("validation_check_integrity", {**args, "engine": "duckdb"}))
    p, d = _by_index(on_pandas), _by_index(on_duckdb)
    for i in p:
        assert (p[i]["success"], p[i]["unexpected_count"], p[i]["rule"]) == (
            d[i]["success"],
            d[i]["unexpected_count"],
            d[i]["rule"],
        ), (i, p[i], d[i])
        assert d[i]["engine"] == "duckdb"
    assert on_pandas["failed"] == on_duckdb["failed"] >= 3
    # A business rule whose regex RE2 cannot take: the whole check on pandas, said so.
    odd = [
        *rules,
        {
            "kind": "expectation",
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "code", "regex": "(?<=A)B"},
        },
    ]
    mixed = structured(
        await vh.call("validation_check_integrity", {**args, "rules": odd, "engine": "duckdb"})
    )
    assert {o["engine"] for o in mixed["results"]} == {"pandas"} and mixed["isolated"] is True
    assert all("RE2" in o["engine_note"] for o in mixed["results"])
    m = _by_index(mixed)
    assert all(m[i]["unexpected_count"] == p[i]["unexpected_count"] for i in p)


async def test_quality_score_validity_on_duckdb(vh: Harness) -> None:
    dirty = dirty_orders(orders(1500, 9), 10)
    write_parquet(dirty, vh.workspace / "orders.parquet")
    structured(await vh.call("validation_create_suite", {"name": "orders", "expectations": SUITE[:8]}))
    scores = {}
    for engine in ("pandas", "duckdb"):
        scores[engine] = structured(
            await vh.call("quality_score", {"dataset": "orders.parquet", "suite": "orders", "engine": engine})
        )
    validity = {e: next(d for d in s["dimensions"] if d["name"] == "validity") for e, s in scores.items()}
    assert validity["pandas"]["score"] == validity["duckdb"]["score"] is not None
    assert scores["pandas"]["overall"] == scores["duckdb"]["overall"]
    result = structured(
        await vh.call("validation_get_result", {"result_id": validity["duckdb"]["details"]["validation_id"]})
    )
    assert "duckdb" in result["engine"]


async def test_engine_duckdb_refuses_what_it_cannot_read(vh: Harness) -> None:
    orders(5, 1).to_json(vh.workspace / "rows.jsonl", orient="records", lines=True)
    structured(await vh.call("validation_create_suite", {"name": "s", "expectations": SUITE[:1]}))
    refused = await vh.call("validation_run", {"dataset": "rows.jsonl", "suite": "s", "engine": "duckdb"})
    assert_tool_error(refused, "Parquet, CSV or TSV")
    refused = await vh.call("validation_run", {"dataset": "lake:x", "suite": "s", "engine": "duckdb"})
    assert_tool_error(refused, "validated on Spark")
    (vh.workspace / "broken.parquet").write_bytes(b"PAR1 not parquet at all")
    broken = await vh.call("validation_run", {"dataset": "broken.parquet", "suite": "s", "engine": "duckdb"})
    assert_tool_error(broken, "DuckDB could not read 'broken.parquet'")


def test_duckdb_reads_nothing_but_the_files_of_the_run(tmp_path: Path) -> None:
    """The run's database may read its file (and a rule's reference) only: no other file, no extension."""
    settings = Settings(home=tmp_path / "home")
    data = tmp_path / "d.parquet"
    other = tmp_path / "other.parquet"
    for p in (data, other):
        pd.DataFrame({"a": np.arange(3)}).to_parquet(p)
    con = duckdb_adapter.connect(settings, str(data), [])
    try:
        assert con.execute(
            f"SELECT count(*) FROM {duckdb_adapter.source_sql(str(data), 'parquet')}"
        ).fetchone() == (3,)
        with pytest.raises(Exception, match=r"(?i)permission|not allowed|disabled"):
            con.execute(f"SELECT count(*) FROM read_parquet('{other}')").fetchone()
        with pytest.raises(Exception, match=r"(?i)lock|configuration"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()
