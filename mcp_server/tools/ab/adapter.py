"""The statistics of the ab area on scipy, statsmodels and numpy (the only file of the area that imports them).

Plain functions on plain data (no MCP, no store): sample size, batch summaries, the merge of sufficient
statistics, and the analysis of one experiment. Every library is imported inside the function using it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp_server.core.errors import InvalidInput

SRM_THRESHOLD = 0.001  # the usual SRM alarm level: a real mismatch gives p far below it
BAYES_DRAWS = 200_000
BAYES_SEED = 20240611
BAYES_CHUNK = 50_000
MAX_UNITS_PER_ARM = 1e12  # beyond any real experiment; past it the float sizes stop being meaningful

PROPORTION_FORMULA = (
    "n_control = (z_(1-a/2) * sqrt(pbar*(1-pbar)*(1+1/r)) + z_power * sqrt(p1*(1-p1) + p2*(1-p2)/r))^2 "
    "/ (p2-p1)^2 with pbar = (p1 + r*p2)/(1+r), r = n_treatment/n_control from the allocation, "
    "a = alpha/(variants-1); each arm = ceil(n_control * share/control_share) with n_control the largest "
    "over treatments (two-sided pooled z-test, normal approximation, no continuity correction)"
)
MEAN_FORMULA = (
    "n_control = (z_(1-a/2) + z_power)^2 * std^2 * (1 + 1/r) / delta^2 with r = n_treatment/n_control "
    "from the allocation, a = alpha/(variants-1); each arm = ceil(n_control * share/control_share) with "
    "n_control the largest over treatments (two-sided test of means, normal approximation, common std)"
)


# -- design -----------------------------------------------------------------------------------------


def check_probability(value: float, what: str) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 < value < 1):
        raise InvalidInput(f"{what} must be strictly between 0 and 1, not {value!r}.")
    return float(value)


def normalize_allocation(allocation: Sequence[float] | None, k: int) -> list[float]:
    """Shares per arm (control first), normalised to sum 1; equal shares when not given."""
    if k < 2:
        raise InvalidInput("An experiment needs at least two variants (the control and one treatment).")
    if allocation is None:
        return [1.0 / k] * k
    if len(allocation) != k:
        raise InvalidInput(f"allocation has {len(allocation)} shares for {k} variants; give one per variant.")
    if any(not math.isfinite(w) or w <= 0 for w in allocation):
        raise InvalidInput("Every allocation share must be a positive number.")
    top = float(max(allocation))  # scaled first: shares like [1e308, 1e308] would sum to infinity
    scaled = [float(w) / top for w in allocation]
    if min(scaled) < 1e-6:
        raise InvalidInput("The smallest allocation share must be at least a millionth of the largest.")
    total = sum(scaled)
    return [w / total for w in scaled]


def design(
    *,
    metric_type: str,
    baseline: float,
    mde: float,
    mde_kind: str,
    alpha: float,
    power: float,
    std: float | None,
    allocation: Sequence[float] | None,
    n_variants: int,
) -> dict[str, Any]:
    """Units per arm to detect `mde` with `power` at two-sided `alpha` (control is the first share)."""
    from scipy.stats import norm

    check_probability(alpha, "alpha")
    check_probability(power, "power")
    shares = normalize_allocation(allocation, n_variants)
    if not math.isfinite(mde) or mde == 0:
        raise InvalidInput("mde (the minimum detectable effect) must be a non-zero number.")
    if metric_type == "proportion":
        p1 = check_probability(baseline, "baseline (the control's conversion rate)")
        delta = mde if mde_kind == "absolute" else baseline * mde
        p2 = p1 + delta
        if not 0 < p2 < 1:
            raise InvalidInput(
                f"baseline {p1:g} with an mde of {mde:g} ({mde_kind}) gives a target rate of {p2:g}, "
                "outside (0, 1); use a smaller mde."
            )
    elif metric_type == "mean":
        if std is None or not math.isfinite(std) or std <= 0:
            raise InvalidInput("A mean metric needs `std`, the metric's standard deviation (> 0).")
        if not math.isfinite(baseline):
            raise InvalidInput("baseline must be a finite number.")
        if mde_kind == "relative" and baseline == 0:
            raise InvalidInput("A relative mde needs a non-zero baseline mean; give an absolute mde.")
        delta = mde if mde_kind == "absolute" else baseline * mde
        p1, p2 = float(baseline), float(baseline) + delta
    else:
        raise InvalidInput(f"metric_type must be 'proportion' or 'mean', not {metric_type!r}.")

    comparisons = n_variants - 1
    alpha_c = alpha / comparisons
    # isf, not ppf(1 - a/2): 1 - a/2 rounds to 1 (z = inf) for any a/2 under 1e-17.
    z_a = float(norm.isf(alpha_c / 2))
    z_b = float(norm.ppf(power))
    if not math.isfinite(z_a):
        raise InvalidInput(
            f"alpha {alpha:g} is too small to compute with (its half per comparison underflows to 0); "
            "use an alpha of at least 1e-300."
        )
    control_share = shares[0]
    n_control = 0.0
    for share in shares[1:]:
        r = share / control_share
        if metric_type == "proportion":
            pbar = (p1 + r * p2) / (1 + r)
            root = z_a * math.sqrt(pbar * (1 - pbar) * (1 + 1 / r)) + z_b * math.sqrt(
                p1 * (1 - p1) + p2 * (1 - p2) / r
            )
            top = root * root
        else:
            assert std is not None
            top = (z_a + z_b) * (z_a + z_b) * std * std * (1 + 1 / r)
        # x * x, not x ** 2: a float product overflows to inf instead of raising.
        need = top / (delta * delta) if delta * delta > 0 else math.inf
        n_control = max(n_control, need)
    if not n_control * max(shares) / control_share <= MAX_UNITS_PER_ARM:
        raise InvalidInput(
            f"Detecting an effect of {delta:g} at alpha {alpha:g} and power {power:g} needs more than "
            f"{MAX_UNITS_PER_ARM:.0e} units per arm; use a larger mde or alpha, or a smaller power."
        )
    # At least 2 a arm: a variance needs two units (a std of 1e-300 would otherwise plan 0).
    per_arm = [max(2, math.ceil(n_control * share / control_share)) for share in shares]
    return {
        "metric_type": metric_type,
        "per_arm": per_arm,
        "total": sum(per_arm),
        "allocation": shares,
        "alpha": alpha,
        "alpha_per_comparison": alpha_c,
        "power": power,
        "baseline": p1,
        "target": p2,
        "effect": delta,
        "std": std,
        "formula": PROPORTION_FORMULA if metric_type == "proportion" else MEAN_FORMULA,
    }


def planned_per_arm(total: int, shares: Sequence[float]) -> list[int]:
    """A given total sample size split by the allocation (rounded up per arm)."""
    return [max(1, math.ceil(total * s - 1e-9)) for s in shares]


# -- recording --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    n: int
    successes: int
    total: float
    m2: float


def summarize_values(values: Sequence[float], metric_type: str) -> Batch:
    """A batch of per-unit outcomes as sufficient statistics (proportions: 0/1 only)."""
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise InvalidInput("observations is empty; give at least one unit's outcome.")
    if not np.isfinite(arr).all():
        raise InvalidInput("observations must be finite numbers.")
    if metric_type == "proportion":
        if not np.isin(arr, (0.0, 1.0)).all():
            raise InvalidInput(
                "A proportion metric takes per-unit outcomes of 0 or 1 (or {successes, trials})."
            )
        k = int(arr.sum())
        return Batch(n=int(arr.size), successes=k, total=float(k), m2=0.0)
    mean = float(arr.mean())
    return Batch(n=int(arr.size), successes=0, total=float(arr.sum()), m2=float(((arr - mean) ** 2).sum()))


def merge_means(n_a: int, total_a: float, m2_a: float, b: Batch) -> tuple[int, float, float]:
    """Chan et al.'s parallel update of (n, sum, sum of squared deviations)."""
    if n_a == 0:
        return b.n, b.total, b.m2
    n = n_a + b.n
    delta = b.total / b.n - total_a / n_a
    return n, total_a + b.total, m2_a + b.m2 + delta * delta * n_a * b.n / n


# -- analysis ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    name: str
    allocation: float
    planned_n: int
    n: int
    successes: int
    total: float
    m2: float
    units_kept: int


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _interval(lo: float, hi: float) -> list[float] | None:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return [float(lo), float(hi)]


def srm_check(arms: Sequence[Arm]) -> dict[str, Any]:
    """Chi-square goodness of fit of the arm sizes against the planned allocation."""
    from scipy.stats import chisquare

    observed = [a.n for a in arms]
    n = sum(observed)
    expected = [n * a.allocation for a in arms]
    result: dict[str, Any] = {
        "threshold": SRM_THRESHOLD,
        "observed": observed,
        "expected": [round(e, 3) for e in expected],
        "computed": False,
        "flagged": False,
    }
    if n == 0 or min(expected) < 5:
        result["note"] = "Too few units for the chi-square test (an expected count is below 5)."
        return result
    stat, p = chisquare(observed, f_exp=expected)
    result.update(computed=True, statistic=float(stat), p_value=float(p), flagged=bool(p < SRM_THRESHOLD))
    return result


def _compare_proportions(t: Arm, c: Arm, ci_alpha: float) -> dict[str, Any]:
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    out: dict[str, Any] = {"test": "pooled two-proportion z-test"}
    if t.n == 0 or c.n == 0:
        return out
    pt, pc = t.successes / t.n, c.successes / c.n
    out["difference"] = pt - pc
    pooled = (t.successes + c.successes) / (t.n + c.n)
    if 0 < pooled < 1:
        z, p = proportions_ztest([t.successes, c.successes], [t.n, c.n])
        out["statistic"], out["p_value"] = float(z), float(p)
    else:  # every unit in both arms converted, or none did: no difference to see
        out["statistic"], out["p_value"] = 0.0, 1.0
    lo, hi = confint_proportions_2indep(
        t.successes, t.n, c.successes, c.n, method="wald", compare="diff", alpha=ci_alpha
    )
    out["ci_difference"] = _interval(lo, hi)
    if pc > 0:
        out["relative_lift"] = pt / pc - 1
    if t.successes > 0 and c.successes > 0:
        lo, hi = confint_proportions_2indep(
            t.successes, t.n, c.successes, c.n, method="log", compare="ratio", alpha=ci_alpha
        )
        out["ci_relative_lift"] = _interval(lo - 1, hi - 1)
    return out


def _compare_means(t: Arm, c: Arm, ci_alpha: float) -> dict[str, Any]:
    from scipy.stats import norm, ttest_ind_from_stats
    from scipy.stats import t as student_t

    out: dict[str, Any] = {"test": "Welch's t-test"}
    if t.n < 2 or c.n < 2:
        return out
    mt, mc = t.total / t.n, c.total / c.n
    vt, vc = t.m2 / (t.n - 1), c.m2 / (c.n - 1)
    out["difference"] = mt - mc
    if mc != 0:
        out["relative_lift"] = mt / mc - 1
    se2 = vt / t.n + vc / c.n
    if se2 <= 0:  # both arms constant: no spread to test against
        return out
    stat, p = ttest_ind_from_stats(
        mt, math.sqrt(vt), t.n, mc, math.sqrt(vc), c.n, equal_var=False, alternative="two-sided"
    )
    out["statistic"], out["p_value"] = _finite(float(stat)), _finite(float(p))
    df = se2**2 / ((vt / t.n) ** 2 / (t.n - 1) + (vc / c.n) ** 2 / (c.n - 1))
    half = float(student_t.ppf(1 - ci_alpha / 2, df)) * math.sqrt(se2)
    out["ci_difference"] = _interval(mt - mc - half, mt - mc + half)
    if mt > 0 and mc > 0:
        log_ratio = math.log(mt / mc)
        se_log = math.sqrt(vt / (t.n * mt**2) + vc / (c.n * mc**2))
        z = float(norm.ppf(1 - ci_alpha / 2))
        out["ci_relative_lift"] = _interval(
            math.exp(log_ratio - z * se_log) - 1, math.exp(log_ratio + z * se_log) - 1
        )
    return out


def holm(p_values: Sequence[float | None], alpha: float) -> list[float | None]:
    """Holm-adjusted p-values (statsmodels' multipletests); None stays None."""
    from statsmodels.stats.multitest import multipletests

    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not present:
        return adjusted
    _, corrected, _, _ = multipletests([p for _, p in present], alpha=alpha, method="holm")
    for (i, _), q in zip(present, corrected, strict=True):
        adjusted[i] = float(q)
    return adjusted


def prob_best(arms: Sequence[Arm], metric_type: str, direction: str) -> tuple[list[float | None], str]:
    """P(each arm is best) by Monte Carlo from the posteriors, with a fixed seed."""
    import numpy as np

    if metric_type == "proportion":
        method = (
            f"Beta(1 + successes, 1 + failures) posteriors (uniform prior), {BAYES_DRAWS:,} Monte Carlo "
            f"draws with seed {BAYES_SEED}"
        )
        if any(a.n == 0 for a in arms):
            return [None] * len(arms), method
    else:
        method = (
            "normal approximation of each mean's posterior, N(mean, s^2/n) (flat prior), "
            f"{BAYES_DRAWS:,} Monte Carlo draws with seed {BAYES_SEED}"
        )
        if any(a.n < 2 for a in arms):
            return [None] * len(arms), method
    rng = np.random.default_rng(BAYES_SEED)
    wins = np.zeros(len(arms), dtype=np.int64)
    for _ in range(BAYES_DRAWS // BAYES_CHUNK):
        if metric_type == "proportion":
            draws = np.stack(
                [rng.beta(1 + a.successes, 1 + a.n - a.successes, BAYES_CHUNK) for a in arms], axis=1
            )
        else:
            draws = np.stack(
                [rng.normal(a.total / a.n, math.sqrt(a.m2 / (a.n - 1) / a.n), BAYES_CHUNK) for a in arms],
                axis=1,
            )
        best = draws.argmax(axis=1) if direction == "increase" else draws.argmin(axis=1)
        wins += np.bincount(best, minlength=len(arms))
    return [float(w) / BAYES_DRAWS for w in wins], method


def mann_whitney(arms: Sequence[Arm], units: dict[str, list[float]], alpha: float) -> list[dict[str, Any]]:
    """Mann-Whitney U of each treatment vs the control (arms[0]) on the kept per-unit values, Holm-adjusted."""
    from scipy.stats import mannwhitneyu

    control = arms[0]
    rows: list[dict[str, Any]] = []
    for arm in arms[1:]:
        row: dict[str, Any] = {"variant": arm.name, "computed": False}
        short = [a for a in (arm, control) if a.units_kept < a.n]
        if short:
            row["note"] = (
                f"Not computed: arm '{short[0].name}' has {short[0].n:,} units but only "
                f"{short[0].units_kept:,} per-unit values are kept (the cap per arm, or batches given "
                "without per-unit values)."
            )
        elif arm.n == 0 or control.n == 0:
            row["note"] = "Not computed: an arm has no units yet."
        else:
            res = mannwhitneyu(units[arm.name], units[control.name], alternative="two-sided")
            row.update(
                computed=True,
                statistic=float(res.statistic),
                p_value=float(res.pvalue),
                prob_superiority=float(res.statistic) / (arm.n * control.n),
            )
        rows.append(row)
    adjusted = holm([r.get("p_value") for r in rows], alpha)
    for row, q in zip(rows, adjusted, strict=True):
        if row["computed"]:
            row["p_value_adjusted"] = q
    return rows


def _value(arm: Arm, metric_type: str) -> float:
    return arm.successes / arm.n if metric_type == "proportion" else arm.total / arm.n


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else (f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}")


def analyze(
    *,
    arms: Sequence[Arm],
    metric: str,
    metric_type: str,
    direction: str,
    alpha: float,
    status: str,
    units: dict[str, list[float]] | None,
) -> dict[str, Any]:
    """The full analysis of one experiment; arms[0] is the control."""
    control = arms[0]
    treatments = arms[1:]
    m = len(treatments)
    ci_alpha = alpha / m  # Bonferroni intervals: simultaneous coverage of at least 1 - alpha
    compare = _compare_proportions if metric_type == "proportion" else _compare_means
    comparisons: list[dict[str, Any]] = []
    for arm in treatments:
        row: dict[str, Any] = {
            "variant": arm.name,
            "control": control.name,
            "statistic": None,
            "p_value": None,
            "difference": None,
            "ci_difference": None,
            "relative_lift": None,
            "ci_relative_lift": None,
            "ci_level": 1 - ci_alpha,
        }
        row.update(compare(arm, control, ci_alpha))
        comparisons.append(row)
    for row, q in zip(comparisons, holm([r["p_value"] for r in comparisons], alpha), strict=True):
        row["p_value_adjusted"] = q
        row["significant"] = q is not None and q < alpha
        diff = row["difference"]
        row["favourable"] = None if diff is None or diff == 0 else (diff > 0) == (direction == "increase")

    srm = srm_check(arms)
    probs, prob_method = prob_best(arms, metric_type, direction)
    mw = mann_whitney(arms, units or {}, alpha) if units is not None else None

    # The verdict: fixed horizon, so nothing is decided before every arm has its planned units.
    behind = min(arms, key=lambda a: a.n / a.planned_n)
    reached = all(a.n >= a.planned_n for a in arms)
    if srm["flagged"]:
        decision = "investigate_srm"
        verdict = (
            f"investigate: sample ratio mismatch (chi-square p={_fmt_p(srm['p_value'])} against the "
            f"planned allocation); fix the assignment before reading any result"
        )
    elif not reached and status == "stopped":
        decision = "stopped_early"
        verdict = (
            f"stopped early at {behind.n:,} of {behind.planned_n:,} units in arm '{behind.name}': "
            "no decision, the test is underpowered"
        )
    elif not reached:
        decision = "keep_collecting"
        where = f" in arm '{behind.name}'" if len(arms) > 1 else ""
        verdict = (
            f"keep collecting: {behind.n:,} of {behind.planned_n:,}{where} "
            "(no decision before the planned sample size, whatever the p-value)"
        )
    else:
        winners = [r for r in comparisons if r["significant"] and r["favourable"]]
        losers = [r for r in comparisons if r["significant"] and r["favourable"] is False]
        if winners:
            sign = 1 if direction == "increase" else -1
            best = max(winners, key=lambda r: sign * r["difference"])
            decision = "ship"
            arm = next(a for a in treatments if a.name == best["variant"])
            verdict = (
                f"ship {best['variant']}: {metric} {_value(control, metric_type):.4g} -> "
                f"{_value(arm, metric_type):.4g} vs {control.name} "
                f"(adjusted p={_fmt_p(best['p_value_adjusted'])})"
            )
        elif losers:
            decision = "keep_control"
            worst = min(losers, key=lambda r: r["p_value_adjusted"])
            verdict = (
                f"keep {control.name}: {worst['variant']} moved {metric} the wrong way "
                f"(adjusted p={_fmt_p(worst['p_value_adjusted'])})"
            )
        else:
            decision = "no_difference"
            best_p = min(
                (r["p_value_adjusted"] for r in comparisons if r["p_value_adjusted"] is not None),
                default=None,
            )
            verdict = f"no detectable difference (smallest adjusted p={_fmt_p(best_p)}, alpha={alpha:g})"

    methods = [
        "SRM: chi-square goodness of fit of arm sizes against the planned allocation, flagged below "
        f"p={SRM_THRESHOLD}",
        f"Holm correction over the {m} comparison(s) with the control; intervals at the Bonferroni level "
        f"1 - alpha/{m}",
        "fixed horizon: no sequential method, so no verdict before every arm reaches its planned size",
    ]
    if metric_type == "proportion":
        methods[1:1] = [
            "p-value: pooled two-proportion z-test (statsmodels proportions_ztest)",
            "difference CI: unpooled Wald interval",
            "relative lift CI: delta method on the log of the rate ratio (Katz), minus 1",
        ]
    else:
        methods[1:1] = [
            "p-value: Welch's t-test from sufficient statistics (scipy ttest_ind_from_stats, equal_var=False)",
            "difference CI: Welch-Satterthwaite t interval",
            "relative lift CI: delta method on the log of the ratio of means (both means > 0), minus 1",
        ]
    if mw is not None:
        methods.append(
            "Mann-Whitney U (two-sided, scipy) on kept per-unit values, Holm-adjusted; not in the verdict"
        )
    return {
        "verdict": verdict,
        "decision": decision,
        "planned_reached": reached,
        "srm": srm,
        "comparisons": comparisons,
        "mann_whitney": mw,
        "prob_best": [{"variant": a.name, "probability": p} for a, p in zip(arms, probs, strict=True)],
        "prob_best_method": prob_method,
        "methods": methods,
    }
