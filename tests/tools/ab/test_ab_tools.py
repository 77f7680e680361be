"""The ab tools through a real MCP client; every number is checked against scipy/numpy computed here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from scipy import stats

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from tests.conftest import PYTHON, assert_tool_error, server_env, structured


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    return structured(await client.call_tool(tool, args))


async def create(client: Client, name: str = "exp", **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": name,
        "variants": ["control", "treat"],
        "control": "control",
        "metric": "conversion",
        "sample_size": 2000,
    }
    args.update(kw)
    return await call(client, "ab_create", **args)


async def counts(client: Client, name: str, variant: str, k: int, n: int, **kw: Any) -> dict[str, Any]:
    obs = {"successes": k, "trials": n}
    return await call(client, "ab_record", name=name, variant=variant, observations=obs, **kw)


def pooled_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p1, p2 = x1 / n1, x2 / n2
    p = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return float(z), float(2 * stats.norm.sf(abs(z)))


# -- design ---------------------------------------------------------------------------------------


def fleiss_n(p1: float, p2: float, alpha: float, power: float, r: float = 1.0) -> float:
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pbar = (p1 + r * p2) / (1 + r)
    a = za * np.sqrt(pbar * (1 - pbar) * (1 + 1 / r))
    b = zb * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / r)
    return float((a + b) ** 2 / (p2 - p1) ** 2)


async def test_design_proportion_matches_the_formula(client: Client) -> None:
    d = await call(client, "ab_design", metric_type="proportion", baseline=0.1, mde=0.02)
    n = math.ceil(fleiss_n(0.10, 0.12, 0.05, 0.8))
    assert d["per_arm"] == [n, n] and d["total"] == 2 * n
    assert n == 3841  # the textbook figure for 10% -> 12% at 80% power
    assert "pbar" in d["formula"] and d["target"] == pytest.approx(0.12)

    rel = await call(
        client, "ab_design", metric_type="proportion", baseline=0.05, mde=0.1, mde_kind="relative", power=0.9
    )
    n = math.ceil(fleiss_n(0.05, 0.055, 0.05, 0.9))
    assert rel["per_arm"] == [n, n]


async def test_design_unequal_allocation_and_three_arms(client: Client) -> None:
    d = await call(
        client, "ab_design", metric_type="proportion", baseline=0.2, mde=0.05, allocation=[0.25, 0.75]
    )
    n_c = fleiss_n(0.2, 0.25, 0.05, 0.8, r=3.0)
    assert d["per_arm"] == [math.ceil(n_c), math.ceil(n_c * 3)]

    three = await call(client, "ab_design", metric_type="proportion", baseline=0.2, mde=0.05, n_variants=3)
    n = math.ceil(fleiss_n(0.2, 0.25, 0.05 / 2, 0.8))  # Bonferroni alpha for two comparisons
    assert three["per_arm"] == [n, n, n] and three["alpha_per_comparison"] == pytest.approx(0.025)


async def test_design_mean_matches_the_formula(client: Client) -> None:
    d = await call(client, "ab_design", metric_type="mean", baseline=50.0, mde=2.0, std=12.0)
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    n = math.ceil((za + zb) ** 2 * 12.0**2 * 2 / 2.0**2)
    assert d["per_arm"] == [n, n]
    assert_tool_error(
        await client.call_tool("ab_design", {"metric_type": "mean", "baseline": 50, "mde": 2}), "std"
    )


async def test_create_takes_its_sample_size_from_the_design(client: Client) -> None:
    exp = await call(
        client,
        "ab_create",
        name="designed",
        variants=["a", "b"],
        control="a",
        metric="conv",
        baseline=0.1,
        mde=0.02,
    )
    n = math.ceil(fleiss_n(0.10, 0.12, 0.05, 0.8))
    assert exp["sample_size"] == 2 * n and exp["sample_size_source"] == "design"
    assert [v["planned_n"] for v in exp["variants"]] == [n, n]
    assert exp["formula"] and exp["status"] == "running"


# -- proportions ----------------------------------------------------------------------------------


async def test_proportion_analysis_matches_scipy(client: Client) -> None:
    await create(client, sample_size=10_000)
    xc, nc, xt, nt = 500, 5_000, 580, 5_000
    await counts(client, "exp", "control", xc, nc)
    await counts(client, "exp", "treat", 200, 2_000)
    await counts(client, "exp", "treat", xt - 200, nt - 2_000)
    a = await call(client, "ab_analyze", name="exp")
    (cmp,) = a["comparisons"]
    z, p = pooled_z(xc, nc, xt, nt)
    assert abs(cmp["p_value"] - p) < 1e-9 and abs(cmp["statistic"] - z) < 1e-9

    pc, pt = xc / nc, xt / nt
    half = stats.norm.ppf(0.975) * math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    assert cmp["ci_difference"] == pytest.approx([pt - pc - half, pt - pc + half], abs=1e-12)
    se_log = math.sqrt(1 / xt - 1 / nt + 1 / xc - 1 / nc)
    ratio = pt / pc
    lift_ci = [
        ratio * math.exp(-stats.norm.ppf(0.975) * se_log) - 1,
        ratio * math.exp(stats.norm.ppf(0.975) * se_log) - 1,
    ]
    assert cmp["ci_relative_lift"] == pytest.approx(lift_ci, abs=1e-12)
    assert cmp["relative_lift"] == pytest.approx(ratio - 1)

    assert a["planned_reached"] and cmp["significant"] == (p < 0.05)
    assert a["decision"] == "ship" and a["verdict"].startswith("ship treat")
    # P(treat is best): exact integral of the two Beta posteriors.
    post_c, post_t = stats.beta(1 + xc, 1 + nc - xc), stats.beta(1 + xt, 1 + nt - xt)
    from scipy.integrate import quad

    exact = quad(lambda x: post_t.pdf(x) * post_c.cdf(x), 0.05, 0.2, points=[0.1, 0.116])[0]
    probs = {r["variant"]: r["probability"] for r in a["prob_best"]}
    assert probs["treat"] == pytest.approx(exact, abs=0.005)
    assert probs["control"] + probs["treat"] == pytest.approx(1.0)


async def test_srm_is_flagged_for_5000_vs_4600_on_a_50_50_plan(client: Client) -> None:
    await create(client, sample_size=9_000)
    await counts(client, "exp", "control", 500, 5_000)
    await counts(client, "exp", "treat", 470, 4_600)
    a = await call(client, "ab_analyze", name="exp")
    chi2, p = stats.chisquare([5_000, 4_600], f_exp=[4_800, 4_800])
    assert a["srm"]["flagged"] is True
    assert a["srm"]["statistic"] == pytest.approx(chi2, rel=1e-12) and a["srm"]["p_value"] == pytest.approx(p)
    assert a["decision"] == "investigate_srm" and "sample ratio mismatch" in a["verdict"]


async def test_no_srm_for_a_small_imbalance(client: Client) -> None:
    await create(client, sample_size=9_000)
    await counts(client, "exp", "control", 500, 5_000)
    await counts(client, "exp", "treat", 500, 4_950)
    a = await call(client, "ab_analyze", name="exp")
    assert a["srm"]["flagged"] is False and a["decision"] == "no_difference"
    assert a["verdict"].startswith("no detectable difference")


async def test_keep_collecting_before_the_planned_size_even_with_a_tiny_p(client: Client) -> None:
    await create(client, sample_size=100_000)
    await counts(client, "exp", "control", 200, 2_000)
    await counts(client, "exp", "treat", 400, 2_000)
    a = await call(client, "ab_analyze", name="exp")
    _, p = pooled_z(200, 2_000, 400, 2_000)
    assert p < 1e-15 and a["comparisons"][0]["p_value"] == pytest.approx(p, abs=1e-12)
    assert a["decision"] == "keep_collecting" and not a["planned_reached"]
    assert a["verdict"].startswith("keep collecting: 2,000 of 50,000")
    # Stopping early does not turn it into a decision either.
    await call(client, "ab_stop", name="exp")
    a = await call(client, "ab_analyze", name="exp")
    assert a["decision"] == "stopped_early" and "no decision" in a["verdict"]


async def test_direction_decides_between_ship_and_keep(client: Client) -> None:
    # Lower is better (e.g. a bounce rate): a significant increase means keep the control.
    await create(client, "bounce", direction="decrease")
    await counts(client, "bounce", "control", 300, 1_000)
    await counts(client, "bounce", "treat", 380, 1_000)
    a = await call(client, "ab_analyze", name="bounce")
    assert a["comparisons"][0]["significant"] and a["comparisons"][0]["favourable"] is False
    assert a["decision"] == "keep_control" and a["verdict"].startswith("keep control")
    assert {r["variant"]: r["probability"] for r in a["prob_best"]}["control"] > 0.99

    await create(client, "bounce2", direction="decrease")
    await counts(client, "bounce2", "control", 380, 1_000)
    await counts(client, "bounce2", "treat", 300, 1_000)
    b = await call(client, "ab_analyze", name="bounce2")
    assert b["decision"] == "ship" and b["verdict"].startswith("ship treat")


async def test_three_variants_are_holm_corrected(client: Client) -> None:
    await create(client, variants=["control", "b", "c"], sample_size=3_000)
    data = {"control": (100, 1_000), "b": (135, 1_000), "c": (118, 1_000)}
    for v, (k, n) in data.items():
        await counts(client, "exp", v, k, n)
    a = await call(client, "ab_analyze", name="exp")
    raw = {v: pooled_z(100, 1_000, k, n)[1] for v, (k, n) in data.items() if v != "control"}
    # Holm by hand: sort, multiply by (m - rank), running max, cap at 1.
    order = sorted(raw, key=raw.get)  # type: ignore[arg-type]
    adjusted, running = {}, 0.0
    for rank, v in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * raw[v]))
        adjusted[v] = running
    by_variant = {c["variant"]: c for c in a["comparisons"]}
    for v in raw:
        assert abs(by_variant[v]["p_value"] - raw[v]) < 1e-9
        assert abs(by_variant[v]["p_value_adjusted"] - adjusted[v]) < 1e-9
        assert by_variant[v]["ci_level"] == pytest.approx(1 - 0.05 / 2)
    assert by_variant["b"]["significant"] and not by_variant["c"]["significant"]
    assert a["verdict"].startswith("ship b")
    assert sum(r["probability"] for r in a["prob_best"]) == pytest.approx(1.0)


# -- means ----------------------------------------------------------------------------------------


async def test_welch_p_value_matches_scipy_on_the_raw_arrays(client: Client) -> None:
    rng = np.random.default_rng(11)
    a_vals = rng.normal(50.0, 12.0, 700)
    b_vals = rng.lognormal(3.95, 0.25, 650)
    await create(client, "revenue", metric="revenue", metric_type="mean", sample_size=1_200)
    for chunk in np.array_split(a_vals, 3):
        await call(client, "ab_record", name="revenue", variant="control", observations=chunk.tolist())
    for chunk in np.array_split(b_vals, 4):
        await call(client, "ab_record", name="revenue", variant="treat", observations=chunk.tolist())
    a = await call(client, "ab_analyze", name="revenue", include_mann_whitney=True)
    (cmp,) = a["comparisons"]
    expected = stats.ttest_ind(b_vals, a_vals, equal_var=False)
    assert abs(cmp["p_value"] - expected.pvalue) < 1e-9
    assert cmp["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert cmp["test"] == "Welch's t-test"
    ci = expected.confidence_interval(0.95)
    assert cmp["ci_difference"] == pytest.approx([ci.low, ci.high], rel=1e-9)
    assert cmp["difference"] == pytest.approx(b_vals.mean() - a_vals.mean(), rel=1e-12)
    variants = {v["name"]: v for v in a["variants"]}
    assert variants["treat"]["std"] == pytest.approx(b_vals.std(ddof=1), rel=1e-12)
    assert variants["control"]["units_kept"] == 700

    (mw,) = a["mann_whitney"]
    expected_mw = stats.mannwhitneyu(b_vals, a_vals, alternative="two-sided")
    assert mw["computed"] and abs(mw["p_value"] - expected_mw.pvalue) < 1e-12
    assert mw["prob_superiority"] == pytest.approx(expected_mw.statistic / (650 * 700))
    assert "distribution" in mw["note"]


async def test_mann_whitney_only_when_asked_and_only_for_means(client: Client) -> None:
    await create(client)
    await counts(client, "exp", "control", 10, 100)
    await counts(client, "exp", "treat", 12, 100)
    assert (await call(client, "ab_analyze", name="exp"))["mann_whitney"] is None
    assert_tool_error(
        await client.call_tool("ab_analyze", {"name": "exp", "include_mann_whitney": True}), "Mann-Whitney"
    )


# -- bad input ------------------------------------------------------------------------------------


async def test_bad_input_gives_one_clear_error_each(client: Client) -> None:
    await create(client)

    async def err(tool: str, args: dict[str, Any], *needles: str) -> None:
        assert_tool_error(await client.call_tool(tool, args), *needles)

    rec = {"name": "exp", "variant": "control"}
    await err(
        "ab_record", {**rec, "variant": "blue", "observations": [1]}, "'blue' is not a variant", "control"
    )
    await err("ab_record", {**rec, "observations": {"successes": -1, "trials": 10}}, "must not be negative")
    await err("ab_record", {**rec, "observations": {"successes": 5, "trials": -10}}, "must not be negative")
    await err("ab_record", {**rec, "observations": {"successes": 11, "trials": 10}}, "cannot exceed trials")
    await err("ab_record", {**rec, "observations": [0, 1, 2]}, "0 or 1")
    await err("ab_record", {**rec, "observations": []}, "empty")
    await err(
        "ab_record", {"name": "nope", "variant": "control", "observations": [1]}, "No experiment named 'nope'"
    )
    base = {"variants": ["a", "b"], "control": "a", "metric": "m", "sample_size": 100}
    await err("ab_create", {"name": "exp", **base}, "already exists")
    await err("ab_create", {"name": "x1", **base, "alpha": 1.5}, "alpha must be strictly between 0 and 1")
    await err("ab_create", {"name": "x2", **base, "alpha": 0}, "alpha must be strictly between 0 and 1")
    await err("ab_create", {"name": "x3", **base, "control": "z"}, "control 'z' is not one of")
    await err("ab_create", {"name": "x4", **base, "variants": ["a", "a"]}, "unique")
    await err("ab_create", {"name": "x5", **{**base, "sample_size": None}}, "baseline")
    await err("ab_create", {"name": "x6", **base, "allocation": [1, -1]}, "positive")
    await err(
        "ab_design", {"metric_type": "proportion", "baseline": 0.1, "mde": 0.02, "alpha": -0.1}, "alpha"
    )
    await err("ab_design", {"metric_type": "proportion", "baseline": 0.95, "mde": 0.1}, "outside (0, 1)")
    await err("ab_analyze", {"name": "../etc"}, "experiment name")
    # Nothing was half-written: the experiment is untouched.
    got = await call(client, "ab_get", name="exp")
    assert [v["n"] for v in got["variants"]] == [0, 0]
    listed = await call(client, "ab_list")
    assert [e["name"] for e in listed["items"]] == ["exp"]


async def test_mean_experiment_refuses_counts(client: Client) -> None:
    await create(client, metric_type="mean")
    assert_tool_error(
        await client.call_tool(
            "ab_record", {"name": "exp", "variant": "control", "observations": {"successes": 1, "trials": 2}}
        ),
        "measures a mean",
    )


# -- idempotency, concurrency, lifecycle -------------------------------------------------------------


async def test_a_repeated_idempotency_key_is_counted_once(client: Client) -> None:
    await create(client)
    first = await counts(client, "exp", "control", 30, 300, idempotency_key="day-1")
    again = await counts(client, "exp", "control", 30, 300, idempotency_key="day-1")
    assert first["counted"] is True and again["counted"] is False and again["added_units"] == 0
    assert again["variant_n"] == 300 and again["variant_successes"] == 30
    other = await client.call_tool(
        "ab_record",
        {
            "name": "exp",
            "variant": "control",
            "observations": {"successes": 31, "trials": 300},
            "idempotency_key": "day-1",
        },
    )
    assert_tool_error(other, "already used for other observations")
    await counts(client, "exp", "treat", 30, 300, idempotency_key="day-1-treat")
    got = await call(client, "ab_get", name="exp")
    assert [(v["n"], v["successes"]) for v in got["variants"]] == [(300, 30), (300, 30)]


async def parallel_records(client: Client, name: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    async def one(i: int) -> None:
        obs = {"successes": i + 1, "trials": 100}
        results.append(await call(client, "ab_record", name=name, variant="treat", observations=obs))

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(one, i)
        # The same key sent 4 times at once: counted once.
        for _ in range(4):
            tg.start_soon(
                lambda: counts(client, name, "control", 5, 50, idempotency_key="same"),
            )
    return results


async def test_eight_parallel_records_are_all_counted(client: Client) -> None:
    await create(client)
    results = await parallel_records(client, "exp")
    assert len(results) == 8 and all(r["counted"] for r in results)
    got = await call(client, "ab_get", name="exp")
    variants = {v["name"]: v for v in got["variants"]}
    assert (variants["treat"]["n"], variants["treat"]["successes"]) == (800, sum(range(1, 9)))
    assert (variants["control"]["n"], variants["control"]["successes"]) == (50, 5)


@pytest.mark.postgres
async def test_eight_parallel_records_on_postgres(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(home=tmp_path / "home", profile="all", store_url=pg_url)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            await create(client)
            await parallel_records(client, "exp")
            got = await call(client, "ab_get", name="exp")
    finally:
        server.app.close()
    variants = {v["name"]: v for v in got["variants"]}
    assert (variants["treat"]["n"], variants["treat"]["successes"]) == (800, 36)
    assert (variants["control"]["n"], variants["control"]["successes"]) == (50, 5)


async def test_list_get_and_stop(client: Client) -> None:
    await create(client, "first")
    await create(client, "second", variants=["control", "b", "c"], allocation=[2, 1, 1], sample_size=1000)
    await counts(client, "second", "b", 3, 40)
    listed = await call(client, "ab_list")
    assert [e["name"] for e in listed["items"]] == ["second", "first"] and listed["total"] == 2
    assert listed["items"][0]["n"] == 40 and listed["items"][0]["variants"] == ["control", "b", "c"]
    page = await call(client, "ab_list", limit=1)
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await call(client, "ab_list", limit=1, cursor=page["next_cursor"])
    assert [e["name"] for e in rest["items"]] == ["first"] and rest["next_cursor"] is None

    got = await call(client, "ab_get", name="second")
    assert [v["allocation"] for v in got["variants"]] == pytest.approx([0.5, 0.25, 0.25])
    assert [v["planned_n"] for v in got["variants"]] == [500, 250, 250]
    assert got["variants"][1]["rate"] == pytest.approx(3 / 40)

    stopped = await call(client, "ab_stop", name="first")
    assert stopped["was_running"] is True and stopped["status"] == "stopped"
    again = await call(client, "ab_stop", name="first")
    assert again["was_running"] is False and again["stopped_at"] == stopped["stopped_at"]
    assert_tool_error(
        await client.call_tool("ab_record", {"name": "first", "variant": "control", "observations": [1, 0]}),
        "is stopped",
    )
    running = await call(client, "ab_list", status="running")
    assert [e["name"] for e in running["items"]] == ["second"]
    assert_tool_error(await client.call_tool("ab_get", {"name": "missing"}), "No experiment named 'missing'")
    assert_tool_error(await client.call_tool("ab_stop", {"name": "missing"}), "No experiment named 'missing'")


async def test_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {n for n in tools if n.startswith("ab_")} == {
        "ab_design",
        "ab_create",
        "ab_record",
        "ab_analyze",
        "ab_list",
        "ab_get",
        "ab_stop",
    }
    for name in ("ab_design", "ab_analyze", "ab_list", "ab_get"):
        assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
    for name in ("ab_create", "ab_record", "ab_stop"):
        assert tools[name].annotations.read_only_hint is False  # type: ignore[union-attr]


@pytest.mark.slow
async def test_stdio_smoke(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all"],
        env=server_env(tmp_path / "home"),
        cwd=str(tmp_path),
    )
    async with Client(params, mode="legacy") as client:
        await create(client, sample_size=200)
        await counts(client, "exp", "control", 10, 100)
        await counts(client, "exp", "treat", 30, 100)
        a = await call(client, "ab_analyze", name="exp")
    _, p = pooled_z(10, 100, 30, 100)
    assert abs(a["comparisons"][0]["p_value"] - p) < 1e-9
    assert a["decision"] == "ship"


# -- alpha, power and mde at the edges of floating point (#22 item 10) ----------------------------------


async def test_unusable_alpha_and_effect_are_refused_with_a_sentence(client: Client) -> None:
    async def refused(tool: str, args: dict[str, Any], *needles: str) -> None:
        message = assert_tool_error(await client.call_tool(tool, args), *needles)
        assert "internal error" not in message
        with anyio.fail_after(1):
            structured(await client.call_tool("server_info", {}))

    structured(await client.call_tool("server_info", {}))  # warm: the 1 s below is for a live server
    base = {"metric_type": "proportion", "baseline": 0.1, "mde": 0.02}
    await refused("ab_design", {**base, "alpha": 5e-324}, "alpha 4.94066e-324 is too small", "1e-300")
    await refused("ab_design", {**base, "mde": 1e-300}, "more than 1e+12 units per arm", "larger mde")
    await refused(
        "ab_design",
        {"metric_type": "mean", "baseline": 0.0, "std": 1e300, "mde": 1.0, "mde_kind": "absolute"},
        "more than 1e+12 units per arm",
    )
    # Shares at the edges: [1e308, 1e308] summed to infinity (a division by zero), [1e-300, 1] planned 2e306
    # units for one arm past the per-arm limit.
    await refused("ab_design", {**base, "allocation": [1e308, 1e308, 0.0]}, "allocation has 3 shares")
    equal = await call(client, "ab_design", **base, allocation=[1e308, 1e308])
    assert equal["per_arm"] == (await call(client, "ab_design", **base))["per_arm"]
    await refused("ab_design", {**base, "allocation": [1e-300, 1]}, "at least a millionth of the largest")
    lopsided = await call(client, "ab_design", **base, allocation=[1, 1e-5])
    assert max(lopsided["per_arm"]) <= 1e12
    tiny_std = {"metric_type": "mean", "baseline": 0.0, "std": 5e-324, "mde": 1.0, "mde_kind": "absolute"}
    assert (await call(client, "ab_design", **tiny_std))["per_arm"] == [2, 2]
    design = {"baseline": 0.1, "mde": 0.02, "metric_type": "proportion"}
    exp = {"name": "tiny", "variants": ["a", "b"], "control": "a", "metric": "m"}
    await refused("ab_create", {**exp, **design, "alpha": 5e-324}, "too small")
    assert (await call(client, "ab_list"))["total"] == 0  # nothing stored


async def test_tiny_alpha_is_computed_in_the_tail(client: Client) -> None:
    # 1 - 1e-300/2 rounds to 1 in floating point; the critical value comes from the upper tail instead.
    d = await call(client, "ab_design", metric_type="proportion", baseline=0.1, mde=0.02, alpha=1e-300)
    za, zb = stats.norm.isf(0.5e-300), stats.norm.ppf(0.8)
    pbar = 0.11
    n = (za * math.sqrt(pbar * (1 - pbar) * 2) + zb * math.sqrt(0.1 * 0.9 + 0.12 * 0.88)) ** 2 / 0.02**2
    assert math.isfinite(za) and za > 37
    assert d["per_arm"] == [math.ceil(n), math.ceil(n)]
