"""engine=spark for quality_score and quality_profile: the same numbers as engine=pandas, through an MCP
client, and engine=auto choosing Spark above the configured size.

One AppContext (so one Spark session, local[2]) is shared by the module; each test gets its own MCP
client session on a server built around it.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, structured
from tests.tools.quality.conftest import AS_OF, SUITE, faulted, orders

# One Spark session (a JVM) per module: its tests stay on one xdist worker (--dist loadgroup).
pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark-quality"),
    pytest.mark.timeout(600),
]

RULES = [{"left": "start", "op": "<=", "right": "end"}, {"left": "qty", "op": ">=", "right": 1}]
QUANTILE_ERROR = 1e-3  # spark_adapter.QUANTILE_ERROR, as documented


def enrich(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Add a real timestamp column, a boolean, free text and an integer column with nulls."""
    rng = np.random.default_rng(seed)
    n = len(df)
    out = df.copy()
    out["seen"] = pd.Timestamp("2025-05-01") + pd.to_timedelta(rng.integers(0, 86_400 * 60, n), unit="s")
    out["vip"] = rng.random(n) < 0.3
    out["free.note"] = [f"note {x}" for x in rng.integers(0, 100_000, n)]
    score = pd.array(rng.integers(0, 1000, n), dtype="Int64")
    score[rng.random(n) < 0.1] = pd.NA
    out["score"] = score
    grade = pd.array(rng.integers(1, 6, n), dtype="Int64")  # few values: categorical, with nulls
    grade[rng.random(n) < 0.1] = pd.NA
    out["grade"] = grade
    return out


def write_parquet(df: pd.DataFrame, path: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)


@pytest.fixture(scope="module")
def spark_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    home = tmp_path_factory.mktemp("spark_quality") / "home"
    settings = Settings(
        home=home, profile="all", spark_master="local[2]", spark_auto_rows=200, deadline_s=900
    )
    ws = settings.workspace_dir
    data = enrich(faulted(), 5)  # 306 rows: above the auto threshold
    write_parquet(data, ws / "orders.parquet")
    truth = enrich(orders(), 5)
    truth.loc[[2, 30, 31], "status"] = "paid"  # a few cells the data disagrees with
    truth.loc[[4, 44], "amount"] = 1.5
    write_parquet(pd.concat([truth, truth.iloc[:5]], ignore_index=True), ws / "truth.parquet")
    write_parquet(enrich(orders(100, 3), 6), ws / "small.parquet")  # 100 rows: below it
    # CSV: pandas reads an integer column with nulls as floats ('1.0' in value counts).
    data[["order_id", "amount", "qty", "status", "grade", "free.note"]].to_csv(ws / "grades.csv", index=False)
    app = AppContext.from_settings(settings)
    yield app
    app.close()


@pytest.fixture
async def sc(spark_app: AppContext) -> AsyncIterator[Client]:
    server = create_server(spark_app.settings, app=spark_app)
    async with Client(server, mode="legacy") as client:
        yield client


def stored_engine(app: AppContext, model: str, row_id: str) -> str:
    from mcp_server.core.store import models

    with app.store.read_session() as session:
        row = session.get(getattr(models, model), row_id)
        assert row is not None
        if model == "QualityScoreRecord":
            return str(json.loads(row.details)["engine"])
        return str(row.engine)


async def test_score_is_the_same_on_pandas_and_spark(sc: Client, spark_app: AppContext) -> None:
    structured(await sc.call_tool("validation_create_suite", {"name": "orders", "expectations": SUITE}))
    args = {
        "dataset": "orders.parquet",
        "suite": "orders",
        "reference": "truth.parquet",
        "key": ["order_id"],
        "consistency_rules": RULES,
        "timestamp_column": "updated_at",
        "max_age": "30d",
        "as_of": AS_OF.isoformat(),
        "threshold": 95,
    }
    on_pandas = structured(await sc.call_tool("quality_score", {**args, "engine": "pandas"}))
    on_spark = structured(await sc.call_tool("quality_score", {**args, "engine": "spark"}))
    assert set(on_pandas) == set(on_spark)  # the same shape
    assert on_spark["row_count"] == on_pandas["row_count"] == 306
    assert on_spark["overall"] == pytest.approx(on_pandas["overall"], abs=1e-9)
    assert on_spark["passed"] == on_pandas["passed"] and on_spark["left_out"] == on_pandas["left_out"] == {}
    p = {d["name"]: d for d in on_pandas["dimensions"]}
    s = {d["name"]: d for d in on_spark["dimensions"]}
    for name, pd_dim in p.items():
        sp_dim = s[name]
        assert pd_dim["score"] is not None and pd_dim["score"] < 100, name  # every fault shows
        assert sp_dim["score"] == pytest.approx(pd_dim["score"], abs=1e-9), name
        assert (sp_dim["numerator"], sp_dim["denominator"]) == (pd_dim["numerator"], pd_dim["denominator"])
        if name != "validity":  # validity details name its own validation result
            assert sp_dim["details"] == pd_dim["details"], name
    # Who ran what: the score record, and the validity run behind it (GX's Spark engine).
    assert stored_engine(spark_app, "QualityScoreRecord", on_pandas["score_id"]).startswith("pandas ")
    assert stored_engine(spark_app, "QualityScoreRecord", on_spark["score_id"]).startswith("spark ")
    run = structured(await sc.call_tool("validation_get_result", {"result_id": on_spark["validation_id"]}))
    assert run["engine"].endswith("spark local[2]")
    # A key detected rather than given, no reference: the same on both engines.
    short = {"dataset": "orders.parquet"}
    a = structured(await sc.call_tool("quality_score", {**short, "engine": "pandas"}))
    b = structured(await sc.call_tool("quality_score", {**short, "engine": "spark"}))
    assert [(d["score"], d["details"]) for d in a["dimensions"]] == [
        (pytest.approx(d["score"], abs=1e-9) if d["score"] is not None else None, d["details"])
        for d in b["dimensions"]
    ]


def rank_bounds(values: np.ndarray, q: float) -> tuple[float, float]:
    """The values a quantile within QUANTILE_ERROR of rank q may take (and pandas' interpolation)."""
    v = np.sort(values)
    n = len(v)
    lo = max(0, math.floor(q * (n - 1) - QUANTILE_ERROR * n) - 1)
    hi = min(n - 1, math.ceil(q * (n - 1) + QUANTILE_ERROR * n) + 1)
    return float(v[lo]), float(v[hi])


@pytest.mark.parametrize("dataset", ["orders.parquet", "grades.csv"])
async def test_profile_is_the_same_on_pandas_and_spark(
    sc: Client, spark_app: AppContext, dataset: str
) -> None:
    args = {"dataset": dataset, "limit": 500}
    on_pandas = structured(await sc.call_tool("quality_profile", {**args, "engine": "pandas"}))
    on_spark = structured(await sc.call_tool("quality_profile", {**args, "engine": "spark"}))
    assert set(on_pandas) == set(on_spark)
    assert (on_spark["row_count"], on_spark["column_count"]) == (306, 12 if dataset.endswith("t") else 6)
    assert stored_engine(spark_app, "QualityProfileRecord", on_spark["profile_id"]).startswith("spark ")
    assert stored_engine(spark_app, "QualityProfileRecord", on_pandas["profile_id"]).startswith("pandas ")
    path = spark_app.settings.workspace_dir / dataset
    df = pd.read_parquet(path) if dataset.endswith(".parquet") else pd.read_csv(path)
    kinds = set()
    for pc, scol in zip(on_pandas["columns"], on_spark["columns"], strict=True):
        name = pc["name"]
        assert set(pc) == set(scol)
        for field in ("name", "kind", "count", "nulls", "null_pct", "distinct", "min", "max"):
            assert pc[field] == scol[field], (name, field)
        kinds.add(pc["kind"])
        for field in ("mean", "std"):
            if pc[field] is None:
                assert scol[field] is None
            else:
                assert scol[field] == pytest.approx(pc[field], rel=1e-12, abs=1e-9), (name, field)
        if pc["quantiles"]:
            values = df[name].dropna().astype("float64").to_numpy()
            for label, q in (("p01", 0.01), ("p25", 0.25), ("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                lo, hi = rank_bounds(values, q)
                assert lo <= scol["quantiles"][label] <= hi, (name, label)
                assert lo <= pc["quantiles"][label] <= hi, (name, label)
        else:
            assert scol["quantiles"] is None
        if pc["top_values"] is None:
            assert scol["top_values"] is None
        else:
            pt = pc["top_values"]
            st = scol["top_values"]
            assert [t["count"] for t in pt] == [t["count"] for t in st], name
            cut = pt[-1]["count"]  # ties at the cut may be ordered differently
            assert {t["value"] for t in pt if t["count"] > cut} == {
                t["value"] for t in st if t["count"] > cut
            }, name
    if dataset.endswith(".parquet"):
        assert kinds >= {"numeric", "categorical", "text", "boolean", "datetime"}
    grade = next(c for c in on_spark["columns"] if c["name"] == "grade")
    assert grade["kind"] == "categorical"
    assert {t["value"] for t in grade["top_values"]} == {
        str(float(g)) if dataset.endswith(".csv") else str(g) for g in range(1, 6)
    }
    # The stored Spark profile is a baseline for a pandas drift check: the same data shows no drift
    # (the categorical value counts have the keys pandas computes).
    drift = structured(
        await sc.call_tool(
            "quality_compare", {"dataset": dataset, "baseline": f"profile:{on_spark['profile_id']}"}
        )
    )
    assert drift["drifted_columns"] == []
    compared = {c["column"]: c for c in drift["columns"]}
    assert compared["grade"]["kind"] == "categorical"
    assert compared["grade"]["psi"] == pytest.approx(0, abs=1e-9), compared["grade"]


async def test_auto_picks_spark_above_the_threshold(sc: Client, spark_app: AppContext) -> None:
    big = structured(await sc.call_tool("quality_profile", {"dataset": "orders.parquet"}))
    small = structured(await sc.call_tool("quality_profile", {"dataset": "small.parquet"}))
    assert stored_engine(spark_app, "QualityProfileRecord", big["profile_id"]).startswith("spark ")
    assert stored_engine(spark_app, "QualityProfileRecord", small["profile_id"]).startswith("pandas ")
    big_score = structured(await sc.call_tool("quality_score", {"dataset": "orders.parquet"}))
    small_score = structured(await sc.call_tool("quality_score", {"dataset": "small.parquet"}))
    assert stored_engine(spark_app, "QualityScoreRecord", big_score["score_id"]).startswith("spark ")
    assert stored_engine(spark_app, "QualityScoreRecord", small_score["score_id"]).startswith("pandas ")


async def test_bad_input_on_spark_is_one_sentence(sc: Client) -> None:
    assert_tool_error(
        await sc.call_tool(
            "quality_score", {"dataset": "orders.parquet", "key": ["nope"], "engine": "spark"}
        ),
        "unknown column",
    )
    assert_tool_error(
        await sc.call_tool("quality_profile", {"dataset": "orders.parquet", "engine": "dask"}), "engine"
    )


async def test_without_spark_engine_spark_is_refused_and_auto_stays_on_pandas(
    tmp_path: Any, spark_app: AppContext
) -> None:
    settings = Settings(home=tmp_path / "home", spark_master="off", spark_auto_rows=1)
    src = spark_app.settings.workspace_dir / "small.parquet"
    settings.workspace_dir.mkdir(parents=True)
    (settings.workspace_dir / "small.parquet").write_bytes(src.read_bytes())
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            assert_tool_error(
                await client.call_tool("quality_score", {"dataset": "small.parquet", "engine": "spark"}),
                "engine=spark needs Spark",
            )
            got = structured(await client.call_tool("quality_profile", {"dataset": "small.parquet"}))
            assert stored_engine(server.app, "QualityProfileRecord", got["profile_id"]).startswith("pandas ")
    finally:
        server.app.close()
