"""engine=spark: the same suites and rules on GX's Spark engine give the same answers as on pandas.

One AppContext (so one Spark session, local[2]) is shared by every test of this module; each test gets
its own MCP client session on a server built around it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import PYTHON, REPO, assert_tool_error, server_env, structured

# One Spark session (a JVM) per module: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark-validation"),
    pytest.mark.timeout(600),
]

# Every expectation type validation_suggest_suite proposes (adapter.suggest).
SUGGESTED_TYPES = {
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_compound_columns_to_be_unique",
}


def orders(n: int, seed: int) -> pd.DataFrame:
    """An id, ints, floats with nulls, a category, a code with a shape, timestamps."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 12_000, n).round(2)
    income[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "qty": rng.integers(1, 50, n),
            "income": income,
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "code": [f"AB-{x:04d}" for x in rng.integers(0, 10_000, n)],
            "at": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 86_400 * 90, n), unit="s"),
        }
    )


def readings(n: int, seed: int) -> pd.DataFrame:
    """No id column and no duplicate rows: the suggested suite checks compound uniqueness."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"sensor": rng.choice(["s1", "s2"], n), "value": rng.normal(0, 1, n).round(6)})


def dirty_orders(clean: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = clean.copy()
    n = len(df)
    pick = lambda k: rng.choice(n, k, replace=False)  # noqa: E731
    df.loc[pick(7), "qty"] = 500  # out of range
    df.loc[pick(30), "income"] = np.nan  # more nulls than `mostly` allows
    df.loc[pick(5), "plan"] = "enterprise"  # not in the set
    df.loc[pick(4), "plan"] = None
    df.loc[pick(6), "code"] = "bad code"  # off the pattern
    df.loc[pick(3), "at"] = pd.Timestamp("2030-06-01")  # out of the time range
    df.loc[[10, 11, 12], "order_id"] = 9  # duplicates
    return df


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)


@pytest.fixture(scope="module")
def spark_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    home = tmp_path_factory.mktemp("spark") / "home"
    settings = Settings(
        home=home, profile="all", spark_master="local[2]", spark_auto_rows=300, deadline_s=900
    )
    ws = settings.workspace_dir
    clean = orders(400, 1)
    write_parquet(clean, ws / "orders.parquet")
    write_parquet(dirty_orders(clean, 2), ws / "orders_dirty.parquet")
    write_parquet(orders(200, 3), ws / "small.parquet")
    r = readings(300, 4)
    write_parquet(r, ws / "readings.parquet")
    write_parquet(pd.concat([r, r.iloc[:9]], ignore_index=True), ws / "readings_dirty.parquet")
    write_parquet(pd.DataFrame({"plan": ["basic", "plus"]}), ws / "plans.parquet")
    app = AppContext.from_settings(settings)
    yield app
    app.close()
    # The session stopped with the server.
    from pyspark import SparkContext

    assert SparkContext._active_spark_context is None and not app._clients["spark"].started


@pytest.fixture
async def sc(spark_app: AppContext) -> AsyncIterator[Client]:
    server = create_server(spark_app.settings, app=spark_app)
    async with Client(server, mode="legacy") as client:
        yield client


def by_index(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {o["index"]: o for o in report["results"]}


async def run(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    return structured(await client.call_tool(tool, {**args, "limit": 500}))


async def test_same_counts_on_pandas_and_spark_for_every_suggested_type(sc: Client) -> None:
    used: set[str] = set()
    failed_types: set[str] = set()
    for clean, dirty, name in (
        ("orders.parquet", "orders_dirty.parquet", "orders"),
        ("readings.parquet", "readings_dirty.parquet", "readings"),
    ):
        suggested = structured(
            await sc.call_tool("validation_suggest_suite", {"dataset": clean, "name": name, "save": True})
        )
        used |= {e["type"] for e in suggested["expectations"]}
        # Dirty data (every expectation type fails somewhere) on both engines; the clean readings too.
        for dataset in (dirty, clean) if name == "readings" else (dirty,):
            on_pandas = await run(
                sc, "validation_run", {"dataset": dataset, "suite": name, "engine": "pandas"}
            )
            on_spark = await run(sc, "validation_run", {"dataset": dataset, "suite": name, "engine": "spark"})
            assert on_pandas["engine"].endswith("pandas") and on_spark["engine"].endswith("spark local[2]")
            # The same shape whichever engine ran.
            assert set(on_pandas) == set(on_spark)
            for key in ("success", "row_count", "evaluated", "successful", "failed", "results_total"):
                assert on_pandas[key] == on_spark[key], (dataset, key)
            p, s = by_index(on_pandas), by_index(on_spark)
            assert p.keys() == s.keys()
            for i, po in p.items():
                so = s[i]
                assert po["type"] == so["type"] and po["error"] is None and so["error"] is None, (po, so)
                assert po["success"] == so["success"], (dataset, po, so)
                if po["type"] == "expect_column_values_to_be_in_type_list":
                    # Spark checks the column's declared type (no per-row count); pandas counts values
                    # only on object columns. The verdicts match.
                    continue
                assert po["unexpected_count"] == so["unexpected_count"], (dataset, po, so)
                if dataset == dirty and not po["success"]:
                    failed_types.add(po["type"])
            assert on_spark["success"] is (dataset == clean)
    assert used == SUGGESTED_TYPES
    # Every type was compared on failing data too (the type checks and the table checks pass there).
    assert failed_types >= SUGGESTED_TYPES - {
        "expect_column_values_to_be_in_type_list",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
    }


async def test_counts_match_an_independent_computation(sc: Client, spark_app: AppContext) -> None:
    ws = spark_app.settings.workspace_dir
    df = pd.read_parquet(ws / "orders_dirty.parquet")
    suite = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "qty", "min_value": 1, "max_value": 60},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "plus", "pro"]},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "code", "regex": "^AB-[0-9]{4}$"},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
        # Engine-neutral type names: one suite for both engines.
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "qty", "type_": "integer"}},
        {
            "type": "expect_column_values_to_be_in_type_list",
            "kwargs": {"column": "at", "type_list": ["timestamp"]},
        },
        {
            "type": "expect_column_values_to_be_in_type_list",
            "kwargs": {"column": "qty", "type_list": ["float"]},
        },
    ]
    structured(await sc.call_tool("validation_create_suite", {"name": "hand", "expectations": suite}))
    expected = {
        0: int(((df.qty < 1) | (df.qty > 60)).sum()),
        1: int((~df.plan.isin(["basic", "plus", "pro"]) & df.plan.notna()).sum()),
        2: int((~df.code.str.match(r"^AB-[0-9]{4}$")).sum()),
        3: int(df.order_id.duplicated(keep=False).sum()),
    }
    for engine in ("pandas", "spark"):
        report = await run(
            sc, "validation_run", {"dataset": "orders_dirty.parquet", "suite": "hand", "engine": engine}
        )
        got = by_index(report)
        for i, count in expected.items():
            assert got[i]["unexpected_count"] == count, (engine, i, got[i])
        assert got[4]["success"] and got[5]["success"], (engine, got[4], got[5])
        assert not got[6]["success"], engine  # an integer column is not a float column
        assert report["row_count"] == len(df)


async def test_integrity_rules_give_the_same_counts(sc: Client) -> None:
    rules = [
        {"kind": "foreign_key", "column": "plan", "reference": "plans.parquet", "reference_column": "plan"},
        {"kind": "compare", "left": "income", "op": ">", "right": "qty"},
        {"kind": "sum_equals", "columns": ["qty", "qty"], "equals": "qty", "tolerance": 0.5},
        {"kind": "required_if", "column": "income", "when": {"column": "plan", "op": "==", "value": "pro"}},
        {"kind": "required_if", "column": "plan", "when": {"column": "qty", "op": "!=", "value": 500}},
        {"kind": "expectation", "type": "expect_column_values_to_not_be_null", "kwargs": {"column": "plan"}},
    ]
    args = {"dataset": "orders_dirty.parquet", "rules": rules}
    on_pandas = await run(sc, "validation_check_integrity", {**args, "engine": "pandas"})
    on_spark = await run(sc, "validation_check_integrity", {**args, "engine": "spark"})
    assert set(on_pandas) == set(on_spark)
    p, s = by_index(on_pandas), by_index(on_spark)
    for i in p:
        assert (p[i]["success"], p[i]["unexpected_count"], p[i]["rule"]) == (
            s[i]["success"],
            s[i]["unexpected_count"],
            s[i]["rule"],
        ), (i, p[i], s[i])
    assert on_pandas["failed"] == on_spark["failed"] >= 3


async def test_auto_picks_spark_above_the_size_limit_and_pandas_below(
    sc: Client, spark_app: AppContext
) -> None:
    structured(
        await sc.call_tool(
            "validation_create_suite",
            {
                "name": "ids",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}}
                ],
            },
        )
    )
    big = await run(sc, "validation_run", {"dataset": "orders.parquet", "suite": "ids"})  # 400 rows > 300
    session = spark_app._clients["spark"].session()
    dirty = await run(sc, "validation_run", {"dataset": "orders_dirty.parquet", "suite": "ids"})
    assert "spark" in dirty["engine"] and spark_app._clients["spark"].session() is session  # reused
    small = await run(sc, "validation_run", {"dataset": "small.parquet", "suite": "ids"})  # 200 rows
    assert "spark" in big["engine"] and big["row_count"] == 400
    assert small["engine"].endswith("pandas") and small["row_count"] == 200
    # The stored record says which engine ran.
    again = structured(await sc.call_tool("validation_get_result", {"result_id": big["result_id"]}))
    assert "spark" in again["engine"]


async def test_spark_off_refuses_engine_spark_and_auto_stays_on_pandas(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", spark_master="off", spark_auto_rows=1)
    write_parquet(orders(50, 5), settings.workspace_dir / "o.parquet")
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            structured(
                await client.call_tool(
                    "validation_create_suite",
                    {
                        "name": "s",
                        "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "qty"}}],
                    },
                )
            )
            assert_tool_error(
                await client.call_tool(
                    "validation_run", {"dataset": "o.parquet", "suite": "s", "engine": "spark"}
                ),
                "MLOPS_MCP_SPARK_MASTER",
            )
            auto = structured(
                await client.call_tool("validation_run", {"dataset": "o.parquet", "suite": "s"})
            )
            assert auto["engine"].endswith("pandas")
            assert_tool_error(
                await client.call_tool(
                    "validation_run", {"dataset": "o.parquet", "suite": "s", "engine": "dask"}
                ),
                "engine",
            )
    finally:
        server.app.close()


def _rpc(id_: int | None, method: str, params: dict[str, Any] | None = None) -> str:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        msg["id"] = id_
    if params is not None:
        msg["params"] = params
    return json.dumps(msg) + "\n"


@pytest.mark.slow
def test_stdio_spark_output_never_reaches_the_protocol_stream(tmp_path: Path) -> None:
    """A real stdio server starts its JVM inside a call: every stdout line is still JSON-RPC, and the
    server (and its JVM) exits when the client closes stdin."""
    home = tmp_path / "home"
    write_parquet(orders(100, 6), home / "workspace" / "o.parquet")
    suite = [
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "qty", "min_value": 1, "max_value": 10},
        }
    ]
    first = "".join(
        [
            _rpc(
                1,
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            ),
            _rpc(None, "notifications/initialized"),
            _rpc(
                2,
                "tools/call",
                {"name": "validation_create_suite", "arguments": {"name": "s", "expectations": suite}},
            ),
        ]
    )
    then = _rpc(
        3,
        "tools/call",
        {"name": "validation_run", "arguments": {"dataset": "o.parquet", "suite": "s", "engine": "spark"}},
    )
    proc = subprocess.Popen(
        [PYTHON, "-m", "mcp_server", "serve", "--profile", "all", "--tools", "validation"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(home, MLOPS_MCP_SPARK_MASTER="local[1]", MLOPS_MCP_DEADLINE_S="400"),
        cwd=str(REPO),
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(first)
    proc.stdin.flush()
    raw: list[str] = []
    answered: set[int] = set()
    sent = False
    while answered != {1, 2, 3}:
        line = proc.stdout.readline()
        if not line:
            break
        raw.append(line)
        answered |= {json.loads(line).get("id")} - {None}
        if answered == {1, 2} and not sent:  # the suite exists: now the Spark run
            proc.stdin.write(then)
            proc.stdin.flush()
            sent = True
    proc.stdin.close()
    raw.extend(proc.stdout.read().splitlines())
    stderr = proc.stderr.read()
    assert proc.wait(120) == 0
    messages = [json.loads(line) for line in raw if line.strip()]  # raises on any non-JSON line
    assert all(m.get("jsonrpc") == "2.0" for m in messages)
    by_id = {m["id"]: m for m in messages if "id" in m}
    run = by_id[3]["result"]
    assert run["isError"] is False, (run, stderr[-2000:])
    assert "spark local[1]" in run["structuredContent"]["engine"]
    assert run["structuredContent"]["failed"] == 1
