"""quality_compare through an MCP client: drift found on shifted columns and not on unshifted ones, with
the KS statistic equal to scipy's; a stored profile as the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency, ks_2samp

from mcp_server.tools.quality import adapter
from tests.tools.quality.conftest import Harness, write


def batch(
    n: int, seed: int, shift: float = 0.0, mix: tuple[float, float, float] = (0.5, 0.3, 0.2)
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "steady": rng.normal(5.0, 2.0, n),
            "moved": rng.normal(0.0 + shift, 1.0, n),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "plan": rng.choice(["a", "b", "c"], n, p=list(mix)),
            "note": [f"free text {i}" for i in range(n)],
        }
    )


async def test_drift_against_a_dataset(qh: Harness) -> None:
    base, cur = batch(2000, 1), batch(1500, 2, shift=0.4, mix=(0.2, 0.3, 0.5))
    write(base, qh.workspace / "base.parquet")
    write(cur, qh.workspace / "cur.csv")
    got = await qh.ok("quality_compare", {"dataset": "cur.csv", "baseline": "base.parquet"})
    assert got["baseline_kind"] == "dataset"
    assert sorted(got["drifted_columns"]) == ["moved", "plan"]
    cols = {c["column"]: c for c in got["columns"]}
    assert [c["column"] for c in got["columns"][:2]] == got["drifted_columns"]  # drifted first
    for name in ("moved", "steady"):
        want = ks_2samp(base[name], cur[name])
        assert cols[name]["statistic"] == pytest.approx(want.statistic, rel=1e-12)
        assert cols[name]["p_value"] == pytest.approx(want.pvalue, rel=1e-9)
    assert cols["steady"]["drifted"] is False and cols["steady"]["p_value"] > 0.05
    assert cols["colour"]["drifted"] is False
    table = pd.crosstab(
        np.r_[np.zeros(len(base)), np.ones(len(cur))], np.r_[base["plan"].to_numpy(), cur["plan"].to_numpy()]
    )
    stat, p, _, _ = chi2_contingency(table.to_numpy())
    assert cols["plan"]["statistic"] == pytest.approx(stat) and cols["plan"]["p_value"] == pytest.approx(p)
    assert cols["plan"]["psi"] > 0.2 and cols["colour"]["psi"] < 0.05
    assert cols["note"]["test"] == "none" and cols["note"]["drifted"] is False


async def test_drift_against_a_stored_profile(qh: Harness) -> None:
    base, cur = batch(3000, 3), batch(1000, 4, shift=0.5, mix=(0.2, 0.3, 0.5))
    write(base, qh.workspace / "base.csv")
    write(cur, qh.workspace / "cur.csv")
    prof = await qh.ok("quality_profile", {"dataset": "base.csv"})
    got = await qh.ok("quality_compare", {"dataset": "cur.csv", "baseline": f"profile:{prof['profile_id']}"})
    assert got["baseline_kind"] == "profile"
    assert sorted(got["drifted_columns"]) == ["moved", "plan"]
    cols = {c["column"]: c for c in got["columns"]}
    assert "kstest" in cols["moved"]["test"]
    # Against the profile's CDF the statistic stays close to the two-sample one on the raw data.
    assert cols["moved"]["statistic"] == pytest.approx(
        ks_2samp(base["moved"], cur["moved"]).statistic, abs=0.02
    )
    assert cols["steady"]["drifted"] is False


def test_psi_matches_its_formula() -> None:
    e, a = np.array([50, 30, 20]), np.array([20, 30, 50])
    pe, pa = e / e.sum(), a / a.sum()
    assert adapter._psi(e, a) == pytest.approx(float(np.sum((pa - pe) * np.log(pa / pe))))
    assert adapter._psi(e, e) == 0.0


async def test_a_type_change_is_drift(qh: Harness) -> None:
    base = batch(300, 5)
    cur = base.assign(steady=base["steady"].round(1).astype(str) + " kg")
    write(base, qh.workspace / "b.csv")
    write(cur, qh.workspace / "c.csv")
    got = await qh.ok("quality_compare", {"dataset": "c.csv", "baseline": "b.csv"})
    assert got["drifted_columns"] == ["steady"]
    assert got["columns"][0]["note"].startswith("type changed")
