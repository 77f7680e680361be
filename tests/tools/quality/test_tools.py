"""quality_profile, quality_report, quality_detect_outliers, quality_filter_dataset and
quality_check_homogeneity through an MCP client, checked against pandas, scikit-learn and Pillow."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.ensemble import IsolationForest

from mcp_server.core.lineage import query_lineage
from tests.conftest import read_artifact
from tests.tools.quality.conftest import Harness, faulted, orders, write


async def test_profile_matches_pandas_and_is_stored(qh: Harness) -> None:
    df = faulted()
    write(df, qh.workspace / "orders.csv")
    got = await qh.ok("quality_profile", {"dataset": "orders.csv"})
    assert got["row_count"] == len(df) and got["column_count"] == df.shape[1]
    cols = {c["name"]: c for c in got["columns"]}
    amount = df["amount"]
    a = cols["amount"]
    assert a["kind"] == "numeric" and a["nulls"] == amount.isna().sum()
    assert a["distinct"] == amount.nunique()
    assert a["mean"] == pytest.approx(amount.mean()) and a["std"] == pytest.approx(amount.std())
    assert a["min"] == amount.min() and a["max"] == amount.max()
    assert a["quantiles"]["p50"] == pytest.approx(amount.median())
    assert a["quantiles"]["p95"] == pytest.approx(amount.quantile(0.95))
    s = cols["status"]
    assert s["kind"] == "categorical" and s["nulls"] == 2
    top = df["status"].value_counts()
    assert s["top_values"][0] == {"value": top.index[0], "count": int(top.iloc[0])}
    stored = json.loads(await read_artifact(qh.client, got["profile_uri"]))
    assert len(stored["columns"]) == df.shape[1]
    assert len(next(c for c in stored["columns"] if c["name"] == "amount")["percentiles"]) == 101
    # Paging and no-samples mode.
    page = await qh.ok("quality_profile", {"dataset": "orders.csv", "limit": 2, "include_samples": False})
    assert len(page["columns"]) == 2 and page["next_cursor"] and page["columns"][0]["top_values"] is None


async def test_report_writes_html_and_png(qh: Harness) -> None:
    write(faulted(), qh.workspace / "orders.csv")
    got = await qh.ok("quality_report", {"dataset": "orders.csv", "threshold": 99})
    assert "| completeness |" in got["summary"] and "FAIL at 99" in got["summary"]
    page = (await read_artifact(qh.client, got["report_uri"])).decode()
    assert "Data quality report" in page and "orders.csv" in page and "chart.png" in page
    png = await read_artifact(qh.client, got["chart_uri"])
    assert png.startswith(b"\x89PNG")
    with Image.open(__import__("io").BytesIO(png)) as img:
        assert img.size[0] > 500
    hist = await qh.ok("quality_history", {"dataset": "orders.csv"})
    assert hist["items"][0]["score_id"] == got["score_id"]


@pytest.mark.parametrize("method", ["iqr", "zscore", "mad"])
async def test_univariate_outliers_match_pandas(qh: Harness, method: str) -> None:
    df = faulted()
    write(df, qh.workspace / "orders.csv")
    got = await qh.ok(
        "quality_detect_outliers", {"dataset": "orders.csv", "columns": ["amount", "qty"], "method": method}
    )
    s = df["amount"].dropna()
    if method == "iqr":
        q1, q3 = s.quantile(0.25), s.quantile(0.75)
        lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    elif method == "zscore":
        lo, hi = s.mean() - 3 * s.std(ddof=0), s.mean() + 3 * s.std(ddof=0)
    else:
        med = s.median()
        mad = (s - med).abs().median()
        lo, hi = med - 3.5 * mad / 0.6745, med + 3.5 * mad / 0.6745
    amount = next(c for c in got["columns"] if c["column"] == "amount")
    assert amount["lower"] == pytest.approx(lo) and amount["upper"] == pytest.approx(hi)
    assert amount["count"] == int(((df["amount"] < lo) | (df["amount"] > hi)).sum())
    assert amount["count"] >= 3  # the injected -50s
    assert got["outlier_rows"] >= amount["count"]
    assert got["sample"] and all("row" in r for r in got["sample"])


async def test_isolation_forest_matches_sklearn(qh: Harness) -> None:
    df = orders(200)
    df.loc[[4, 9], "amount"] = 5000.0
    write(df, qh.workspace / "o.parquet")
    got = await qh.ok(
        "quality_detect_outliers",
        {
            "dataset": "o.parquet",
            "columns": ["amount", "qty"],
            "method": "isolation_forest",
            "threshold": 0.02,
        },
    )
    flags = (
        IsolationForest(contamination=0.02, random_state=0).fit_predict(df[["amount", "qty"]].astype(float))
        == -1
    )
    assert got["outlier_rows"] == int(flags.sum())
    assert {4, 9} <= {r["row"] for r in got["sample"]}
    quiet = await qh.ok(
        "quality_detect_outliers",
        {"dataset": "o.parquet", "columns": ["amount"], "method": "iqr", "include_samples": False},
    )
    assert quiet["sample"] is None


async def test_filter_dataset_writes_rules_beside_and_lineage(qh: Harness) -> None:
    df = faulted()
    write(df, qh.workspace / "orders.csv")
    rules = [["amount", ">", 50], ["status", "in", ["paid", "shipped"]], ["qty", "between", [1, 4]]]
    got = await qh.ok(
        "quality_filter_dataset",
        {
            "dataset": "orders.csv",
            "rules": rules,
            "output": "train/orders.parquet",
            "dedupe": ["order_id"],
            "label": "status",
        },
    )
    want = df[(df["amount"] > 50) & df["status"].isin(["paid", "shipped"]) & df["qty"].between(1, 4)]
    want = want.drop_duplicates("order_id")
    out = pd.read_parquet(qh.workspace / "train" / "orders.parquet")
    assert got["rows_after"] == len(out) == len(want)
    assert sorted(out["order_id"]) == sorted(want["order_id"])
    sidecar = json.loads((qh.workspace / "train" / "orders.parquet.rules.json").read_text())
    assert sidecar["rules"] == rules and sidecar["rows_after"] == len(out)
    assert got["rules_uri"] == "train/orders.parquet.rules.json"
    graph = query_lineage(qh.server.app.store, got["output_id"], "upstream", 1)
    edge = next(e for e in graph.edges if e.kind == "filtered_into")
    assert edge.details == {
        "tool": "quality_filter_dataset",
        "rules_file": "train/orders.parquet.rules.json",
        "rows_kept": len(out),
    }


async def test_filter_by_outliers_and_null_share(qh: Harness) -> None:
    df = faulted()
    write(df, qh.workspace / "orders.csv")
    got = await qh.ok(
        "quality_filter_dataset",
        {
            "dataset": "orders.csv",
            "rules": [],
            "output": "f.csv",
            "outliers": {"columns": ["amount"], "method": "zscore"},
            "max_row_null_fraction": 0.0,
        },
    )
    kept = df[df.isna().mean(axis=1) <= 0]
    s = kept["amount"]
    z = (s - s.mean()).abs() / s.std(ddof=0)
    assert got["rows_after"] == int((z <= 3).sum())


def _text_table(path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café")
    values = [
        "café",
        nfd,
        "Paris",
        "paris",
        " padded ",
        "a  b",
        "bell\x07",
        "zero\u200bwidth",
        "p\u0430ypal",
        "CafÃ©",
        "plain",
    ]
    pd.DataFrame({"city": values, "n": range(len(values))}).to_csv(path, index=False)


async def test_text_homogeneity(qh: Harness) -> None:
    _text_table(qh.workspace / "t.csv")
    got = await qh.ok("quality_check_homogeneity", {"dataset": "t.csv"})
    assert got["kind"] == "text" and got["homogeneous"] is False
    (col,) = got["text_columns"]
    assert col["column"] == "city" and col["values"] == 11
    assert col["non_nfc"] == 1 and col["mixed_normalization"] is True
    assert col["control_chars"] == 2  # BEL and the zero-width space
    assert col["whitespace_padded"] == 1 and col["repeated_whitespace"] == 1
    assert col["case_variants"] == 4  # Paris/paris and café (NFC)/café (NFD)
    assert col["mixed_script_values"] == 1 and col["scripts"]["CYRILLIC"] == 1
    assert col["encoding_errors"] == 1
    assert any("NFC" in f for f in got["fixes"]) and any("mix scripts" in f for f in got["fixes"])
    clean = await qh.ok(
        "quality_check_homogeneity", {"dataset": "t.csv", "columns": ["n"], "include_samples": False}
    )
    assert clean["text_columns"][0]["examples"] is None


async def test_text_homogeneity_of_a_file_that_is_not_utf8(qh: Harness) -> None:
    (qh.workspace / "latin1.csv").write_bytes("name\ncaf\xe9\nplain\n".encode("latin-1"))
    got = await qh.ok("quality_check_homogeneity", {"dataset": "latin1.csv"})
    assert got["text_columns"][0]["encoding_errors"] == 1
    assert "not valid UTF-8" in got["fixes"][0] and got["homogeneous"] is False


async def test_image_homogeneity(qh: Harness) -> None:
    folder = qh.workspace / "images"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(folder / f"ok{i}.png")
    Image.new("L", (64, 32)).save(folder / "sub" / "grey.jpg")
    Image.new("RGBA", (32, 32)).save(folder / "alpha.png")
    (folder / "broken.png").write_bytes(b"not an image at all")
    (folder / "notes.txt").write_text("hello")
    outside = qh.settings.home.parent / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    (folder / "link.png").symlink_to(outside)  # leaves the roots: skipped, never opened
    got = await qh.ok("quality_check_homogeneity", {"folder": "images"})
    im = got["images"]
    assert got["kind"] == "images" and got["homogeneous"] is False
    assert im["files"] == 8 and im["images"] == 6 and im["skipped"] == 2
    assert im["unreadable"] == 1 and im["unreadable_examples"] == ["broken.png"]
    assert im["formats"] == {"PNG": 4, "JPEG": 1}
    assert im["modes"] == {"RGB": 3, "L": 1, "RGBA": 1}
    assert im["sizes"] == {"32x32": 4, "64x32": 1}
    assert im["aspect_ratios"] == {"1.00": 4, "2.00": 1}
    text = " ".join(got["fixes"])
    assert "broken.png" in text and "RGB" in text and "32x32" in text

    uniform = qh.workspace / "uniform"
    uniform.mkdir()
    for i in range(2):
        Image.new("RGB", (16, 16)).save(uniform / f"{i}.png")
    same = await qh.ok("quality_check_homogeneity", {"folder": "uniform"})
    assert same["homogeneous"] is True and same["fixes"] == ["Nothing to fix."]


def test_numbers_reported_as_numpy_free_json() -> None:
    from mcp_server.tools.quality.adapter import plain

    assert plain(np.int64(3)) == 3 and plain(np.float64("nan")) is None and plain(pd.NaT) is None
    assert plain(pd.Timestamp("2024-01-01")) == "2024-01-01T00:00:00"
