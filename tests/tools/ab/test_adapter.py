"""The ab adapter against scipy/statsmodels/numpy directly, on small data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from mcp_server.core.errors import InvalidInput
from mcp_server.tools.ab import adapter
from mcp_server.tools.ab.adapter import Arm


def arm(
    name: str, n: int, k: int = 0, planned: int = 10, share: float = 0.5, values: list[float] | None = None
) -> Arm:
    if values is None:
        return Arm(name, share, planned, n, k, float(k), 0.0, 0)
    v = np.asarray(values)
    return Arm(name, share, planned, len(v), 0, float(v.sum()), float(((v - v.mean()) ** 2).sum()), len(v))


def test_mean_design_equals_statsmodels_normal_power() -> None:
    for ratio in (1.0, 2.0):
        d = adapter.design(
            metric_type="mean",
            baseline=10.0,
            mde=0.5,
            mde_kind="absolute",
            alpha=0.05,
            power=0.9,
            std=3.0,
            allocation=[1.0, ratio],
            n_variants=2,
        )
        n1 = NormalIndPower().solve_power(effect_size=0.5 / 3.0, alpha=0.05, power=0.9, ratio=ratio)
        assert d["per_arm"] == [math.ceil(n1), math.ceil(n1 * ratio)]


def test_design_refuses_bad_numbers() -> None:
    kw = dict(
        metric_type="proportion",
        baseline=0.1,
        mde=0.02,
        mde_kind="absolute",
        std=None,
        allocation=None,
        n_variants=2,
    )
    with pytest.raises(InvalidInput, match="alpha"):
        adapter.design(alpha=1.0, power=0.8, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="power"):
        adapter.design(alpha=0.05, power=0.0, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="non-zero"):
        adapter.design(alpha=0.05, power=0.8, **{**kw, "mde": 0.0})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="allocation"):
        adapter.design(alpha=0.05, power=0.8, **{**kw, "allocation": [1, 1, 1]})  # type: ignore[arg-type]


def test_merged_batches_equal_the_whole_sample() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(1e4, 5.0, 5_000)  # a large mean: a naive sum of squares would lose digits here
    n, total, m2 = 0, 0.0, 0.0
    for chunk in np.array_split(data, 7):
        n, total, m2 = adapter.merge_means(n, total, m2, adapter.summarize_values(chunk.tolist(), "mean"))
    assert n == data.size
    assert total / n == pytest.approx(data.mean(), rel=1e-14)
    assert m2 / (n - 1) == pytest.approx(data.var(ddof=1), rel=1e-10)


def test_summarize_values_refuses_what_is_not_a_unit_outcome() -> None:
    with pytest.raises(InvalidInput, match="0 or 1"):
        adapter.summarize_values([0, 1, 0.5], "proportion")
    with pytest.raises(InvalidInput, match="finite"):
        adapter.summarize_values([1.0, float("inf")], "mean")
    b = adapter.summarize_values([1, 0, 1, 1], "proportion")
    assert (b.n, b.successes) == (4, 3)


def test_holm_matches_a_hand_computation() -> None:
    p = [0.01, 0.04, 0.03, None]
    got = adapter.holm(p, 0.05)
    assert got[:3] == pytest.approx([0.03, 0.06, 0.06]) and got[3] is None
    assert adapter.holm([0.2], 0.05) == [0.2]


def test_prob_best_two_arms_close_to_the_exact_integral() -> None:
    arms = [arm("a", 200, 20), arm("b", 200, 30)]
    probs, method = adapter.prob_best(arms, "proportion", "increase")
    a, b = stats.beta(21, 181), stats.beta(31, 171)
    from scipy.integrate import quad

    exact = quad(lambda x: b.pdf(x) * a.cdf(x), 0, 1, limit=200)[0]
    assert probs[1] == pytest.approx(exact, abs=0.005)
    assert "seed" in method
    # Fixed seed: the same answer every time.
    assert adapter.prob_best(arms, "proportion", "increase")[0] == probs
    low, _ = adapter.prob_best(arms, "proportion", "decrease")
    assert low[0] == pytest.approx(1 - probs[0], abs=1e-9)


def test_degenerate_data_gives_answers_not_crashes() -> None:
    res = adapter.analyze(
        arms=[arm("c", 50, 0), arm("t", 50, 0)],
        metric="m",
        metric_type="proportion",
        direction="increase",
        alpha=0.05,
        status="running",
        units=None,
    )
    assert res["comparisons"][0]["p_value"] == 1.0 and res["comparisons"][0]["ci_relative_lift"] is None
    assert res["decision"] == "no_difference"
    empty = adapter.analyze(
        arms=[arm("c", 0), arm("t", 0)],
        metric="m",
        metric_type="proportion",
        direction="increase",
        alpha=0.05,
        status="running",
        units=None,
    )
    assert empty["comparisons"][0]["p_value"] is None and empty["decision"] == "keep_collecting"
    assert empty["srm"]["computed"] is False
    const = adapter.analyze(
        arms=[arm("c", 0, planned=2, values=[3.0, 3.0, 3.0]), arm("t", 0, planned=2, values=[3.0, 3.0])],
        metric="m",
        metric_type="mean",
        direction="increase",
        alpha=0.05,
        status="running",
        units=None,
    )
    assert const["comparisons"][0]["p_value"] is None and const["decision"] == "no_difference"


def test_welch_from_sufficient_statistics_equals_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.exponential(2.0, 40), rng.exponential(2.6, 55)
    res = adapter.analyze(
        arms=[arm("c", 0, planned=40, values=a.tolist()), arm("t", 0, planned=55, values=b.tolist())],
        metric="m",
        metric_type="mean",
        direction="increase",
        alpha=0.05,
        status="running",
        units={"c": a.tolist(), "t": b.tolist()},
    )
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert res["comparisons"][0]["p_value"] == pytest.approx(expected.pvalue, abs=1e-12)
    assert res["mann_whitney"][0]["p_value"] == pytest.approx(
        stats.mannwhitneyu(b, a, alternative="two-sided").pvalue, abs=1e-12
    )
