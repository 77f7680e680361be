"""The quality computations on pandas, scipy, scikit-learn and Pillow (the only file of the area importing them).

Every computation takes a pandas DataFrame and returns plain data, so another engine (Spark, #16) can
slot in behind the same tools. Nothing here imports the MCP SDK or touches the store; rules are data
(`[column, op, value]` with an allowlist of operators), never query strings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.conditions import COMPARISONS, mask
from mcp_server.core.errors import InvalidInput, MissingExtra
from mcp_server.core.files import atomic_path
from mcp_server.core.tables import TableLimits, id_like
from mcp_server.core.values import number, plain

if TYPE_CHECKING:
    import pandas as pd

TOP_VALUES = 10
STORED_VALUES = 50  # categorical value counts kept in a stored profile (the rest is "other")
PERCENTILES = 101  # numeric percentiles kept in a stored profile (0, 1, ..., 100)
CATEGORICAL_MAX_DISTINCT = 20  # numbers with at most this many distinct values are categorical
SHOWN_QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
PSI_EPS = 1e-4
SAMPLE_ROWS = 10
SAMPLE_CHARS = 120
OTHER = "__other__"
DEFAULT_THRESHOLDS = {"iqr": 1.5, "zscore": 3.0, "mad": 3.5}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
MOJIBAKE_RE = re.compile("[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac")
MULTISPACE_RE = re.compile(r"\s{2,}")


def require(module: str, extra: str = "quality") -> None:
    """One clear error when a library the area needs is missing (the area's extra is partly installed)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"The quality area needs the Python package '{module}'; install it (pip install 'mlops-mcp[{extra}]')."
        )


# -- small helpers ------------------------------------------------------------------------------


def check_columns(df: Any, columns: Sequence[str], what: str) -> None:
    """Refuse columns the data (a pandas or Spark DataFrame) does not have."""
    names = [str(c) for c in df.columns]
    missing = [c for c in columns if c not in set(names)]
    if missing:
        shown = ", ".join(repr(c) for c in names[:12])
        raise InvalidInput(
            f"{what} refers to unknown column(s) {', '.join(repr(c) for c in missing[:5])}; "
            f"the dataset's columns are {shown}{' ...' if len(names) > 12 else ''}."
        )


def kind_of(series: pd.Series) -> str:
    import pandas as pd

    t = pd.api.types
    dtype = series.dtype
    if t.is_bool_dtype(dtype):
        return "boolean"
    if t.is_numeric_dtype(dtype):
        try:
            distinct = int(series.nunique(dropna=True))
        except TypeError:
            return "other"
        return "categorical" if distinct <= CATEGORICAL_MAX_DISTINCT else "numeric"
    if t.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if t.is_object_dtype(dtype) or t.is_string_dtype(dtype):
        values = series.dropna()
        if len(values) and not values.map(type).eq(str).all():
            return "other"
        try:
            distinct = int(values.nunique())
        except TypeError:
            return "other"
        return "categorical" if distinct <= max(CATEGORICAL_MAX_DISTINCT, 0.05 * len(values)) else "text"
    return "other"


def text_columns(df: pd.DataFrame) -> list[str]:
    import pandas as pd

    out = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            values = s.dropna()
            if len(values) == 0 or values.map(type).eq(str).all():
                out.append(str(col))
    return out


# -- profiles -----------------------------------------------------------------------------------


def profile_frame(df: pd.DataFrame) -> dict[str, Any]:
    """Per-column profile of a DataFrame; the stored form also keeps percentiles and value counts for drift."""
    import numpy as np

    columns = []
    n = len(df)
    for col in df.columns:
        s = df[col]
        kind = kind_of(s)
        nulls = int(s.isna().sum())
        values = s.dropna()
        entry: dict[str, Any] = {
            "name": str(col),
            "dtype": str(s.dtype),
            "kind": kind,
            "count": int(n - nulls),
            "nulls": nulls,
            "null_pct": round(100.0 * nulls / n, 6) if n else 0.0,
        }
        with contextlib.suppress(TypeError):
            entry["distinct"] = int(values.nunique())
        arr = values.astype("float64").to_numpy() if _is_number(s) else None
        if arr is not None:
            arr = arr[np.isfinite(arr)]
        if kind in ("numeric", "categorical") and arr is not None and len(arr):
            entry.update(
                min=plain(values.min()),
                max=plain(values.max()),
                mean=number(arr.mean()),
                std=number(arr.std(ddof=1)) if len(arr) > 1 else None,
                quantiles={k: float(np.quantile(arr, q)) for k, q in SHOWN_QUANTILES.items()},
            )
            if kind == "numeric":
                entry["percentiles"] = [float(x) for x in np.quantile(arr, np.linspace(0, 1, PERCENTILES))]
        elif kind == "datetime" and len(values):
            entry.update(min=plain(values.min()), max=plain(values.max()))
        elif kind in ("text", "categorical") and len(values):
            with contextlib.suppress(TypeError):
                entry.update(min=plain(values.min()), max=plain(values.max()))
        if kind in ("categorical", "text", "boolean", "datetime") and len(values):
            with contextlib.suppress(TypeError):
                counts = values.astype(str).value_counts()
                entry["top_values"] = [
                    {"value": plain(v), "count": int(c)} for v, c in counts.head(TOP_VALUES).items()
                ]
                if kind in ("categorical", "boolean"):
                    kept = counts.head(STORED_VALUES)
                    entry["value_counts"] = {str(k): int(v) for k, v in kept.items()}
                    other = int(counts.iloc[STORED_VALUES:].sum())
                    if other:
                        entry["value_counts"][OTHER] = other
        elif kind == "numeric" and len(values):
            counts = values.value_counts().head(TOP_VALUES)
            entry["top_values"] = [{"value": plain(v), "count": int(c)} for v, c in counts.items()]
        columns.append(entry)
    return {"row_count": n, "column_count": int(df.shape[1]), "columns": columns}


def _is_number(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype))


# -- dimension scores ---------------------------------------------------------------------------


def completeness(df: pd.DataFrame) -> dict[str, Any]:
    cells = int(df.size)
    if cells == 0:
        return {"score": None, "reason": "the dataset has no cells"}
    nonnull = int(df.notna().sum().sum())
    return share(nonnull, cells)


def detect_key(df: pd.DataFrame) -> list[str] | None:
    """An id-like column (by name, integer or string, at least 90% distinct), else None."""
    import pandas as pd

    for col in df.columns:
        name = str(col)
        if not id_like(name):
            continue
        s = df[col]
        if not (pd.api.types.is_integer_dtype(s.dtype) or kind_of(s) in ("text", "categorical")):
            continue
        values = s.dropna()
        with contextlib.suppress(TypeError):
            if len(values) and values.nunique() >= 0.9 * len(values):
                return [name]
    return None


def uniqueness(df: pd.DataFrame, key: list[str] | None) -> dict[str, Any]:
    """100 x rows whose key value occurs once (a null key is not unique) / rows; whole rows without a key."""
    n = len(df)
    if n == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    if key:
        check_columns(df, key, "key")
        unique = ~df.duplicated(subset=key, keep=False) & df[key].notna().all(axis=1)
        basis: dict[str, Any] = {"key": key}
    else:
        try:
            unique = ~df.duplicated(keep=False)
        except TypeError:
            return {
                "score": None,
                "reason": "rows hold unhashable values (lists), so duplicates cannot be found",
            }
        basis = {"key": None, "basis": "whole rows (no key declared or detected)"}
    count = int(unique.sum())
    return share(count, n, basis)


def consistency(df: pd.DataFrame, rules: list[dict[str, Any]] | None) -> dict[str, Any]:
    """100 x rows passing every rule / rows. A comparison follows core/conditions.py (with a null it is
    false); a rule with a missing side does not apply to that row (as an SQL CHECK constraint)."""
    import numpy as np

    if not rules:
        return {"score": None, "reason": "no consistency rules given"}
    n = len(df)
    if n == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    columns = {str(c) for c in df.columns}
    ok = np.ones(n, dtype=bool)
    per_rule = []
    for i, rule in enumerate(rules):
        left, op, right = rule["left"], rule["op"], rule["right"]
        where = f"Consistency rule {i}"
        check_columns(df, [left], where)
        a = df[left]
        if isinstance(right, str) and right in columns:
            missing = a.isna() | df[right].isna()
            shown = f"{left} {op} {right}"
            try:
                holds = COMPARISONS[op](a, df[right]).fillna(False).astype(bool) & ~missing
            except TypeError:
                raise InvalidInput(f"{where} ({shown}) compares values of incompatible types.") from None
        else:
            if right is None or isinstance(right, dict | list):
                raise InvalidInput(f"{where}: 'right' must be a column name or a number, string or boolean.")
            missing = a.isna()
            shown = f"{left} {op} {right!r}"
            holds = mask(df, left, op, right, f"{where} ({shown})")
        passes = (holds | missing).to_numpy(dtype=bool)
        ok &= passes
        per_rule.append({"rule": shown, "failing_rows": int((~passes).sum())})
    return share(int(ok.sum()), n, {"rules": per_rule})


def share(count: int, total: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A dimension's score: 100 x count / total, with its numerator and denominator (and details)."""
    out: dict[str, Any] = {"score": 100.0 * count / total, "numerator": count, "denominator": total}
    if details is not None:
        out["details"] = details
    return out


def parse_age(text: str) -> Any:
    import pandas as pd

    try:
        age = pd.Timedelta(text)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"max_age {text!r} is not a duration; use e.g. '30d', '12h', '90min' or 'P7D'."
        ) from None
    if pd.isna(age) or age <= pd.Timedelta(0):
        raise InvalidInput("max_age must be a positive duration such as '30d'.")
    return age


def freshness_window(
    df: Any, column: str | None, max_age: str | None, as_of: dt.datetime | None, n: int
) -> tuple[Any, Any] | dict[str, Any]:
    """(as_of, cutoff) of the timeliness dimension as UTC timestamps, or why it is not computed
    (pandas and Spark alike)."""
    import pandas as pd

    if column is None and max_age is None:
        return {"score": None, "reason": "no timestamp_column and max_age given"}
    if column is None:
        return {"score": None, "reason": "max_age given without timestamp_column"}
    check_columns(df, [column], "timestamp_column")
    if max_age is None:
        return {"score": None, "reason": "timestamp_column given without max_age"}
    age = parse_age(max_age)
    if n == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    now = pd.Timestamp(as_of or dt.datetime.now(dt.UTC))
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    return now, now - age


def fresh_share(fresh: int, n: int, window: tuple[Any, Any], column: str) -> dict[str, Any]:
    now, cutoff = window
    return share(fresh, n, {"as_of": now.isoformat(), "cutoff": cutoff.isoformat(), "column": column})


def timeliness(
    df: pd.DataFrame, column: str | None, max_age: str | None, as_of: dt.datetime | None
) -> dict[str, Any]:
    """100 x rows whose timestamp is within max_age of as_of (default now, UTC) / rows; null is stale."""
    window = freshness_window(df, column, max_age, as_of, len(df))
    if isinstance(window, dict):
        return window
    assert column is not None
    stamps = to_utc(df[column], column)
    return fresh_share(int((stamps >= window[1]).sum()), len(df), window, column)


def to_utc(series: pd.Series, column: str) -> pd.Series:
    """Timestamps as UTC (naive ones are taken as UTC); unparseable values become NaT."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype):
        raise InvalidInput(f"Column {column!r} holds numbers, not timestamps; give a date/time column.")
    with contextlib.suppress(TypeError, ValueError):
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            s = series
        else:
            s = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        s = s.dt.tz_localize("UTC") if getattr(s.dt, "tz", None) is None else s.dt.tz_convert("UTC")
        if series.notna().any() and s.notna().sum() == 0:
            raise InvalidInput(f"Column {column!r} holds no parseable timestamps.")
        return s
    raise InvalidInput(f"Column {column!r} holds no parseable timestamps.")


def accuracy(df: pd.DataFrame, ref: pd.DataFrame, key: list[str] | None) -> dict[str, Any]:
    """100 x equal cells / compared cells, on rows matched to the reference by key (both null = equal)."""
    import numpy as np

    compared = accuracy_columns(df, ref, key)
    if isinstance(compared, dict):
        return compared
    assert key is not None
    right = ref.drop_duplicates(subset=key, keep="first")[[*key, *compared]]
    try:
        merged = df[[*key, *compared]].merge(right, on=key, how="inner", suffixes=("", "__ref"))
    except (ValueError, TypeError):
        raise InvalidInput(
            f"The key {key} has different types in the dataset and the reference, so they cannot be joined."
        ) from None
    rows = len(merged)
    if rows == 0:
        return {"score": None, "reason": "no row of the dataset has its key in the reference"}
    per_column = {}
    for col in compared:
        a, b = merged[col], merged[col + "__ref"]
        with np.errstate(invalid="ignore"):
            same = (a == b).fillna(False).to_numpy(dtype=bool) | (a.isna() & b.isna()).to_numpy(dtype=bool)
        per_column[col] = rows - int(same.sum())
    return mismatch_share(per_column, rows, key, len(df) - rows)


def accuracy_columns(df: Any, ref: Any, key: list[str] | None) -> list[str] | dict[str, Any]:
    """The columns the accuracy dimension compares (shared, besides the key), or why it is not computed."""
    if not key:
        return {"score": None, "reason": "no key declared or detected to join the reference on"}
    check_columns(df, key, "key")
    ref_columns = {str(c) for c in ref.columns}
    missing = [k for k in key if k not in ref_columns]
    if missing:
        raise InvalidInput(f"The reference dataset has no key column(s) {missing}.")
    compared = [str(c) for c in df.columns if str(c) not in key and str(c) in ref_columns]
    if not compared:
        return {"score": None, "reason": "the reference shares no column with the dataset besides the key"}
    return compared


def mismatch_share(per_column: dict[str, int], rows: int, key: list[str], unmatched: int) -> dict[str, Any]:
    """The accuracy dimension from the mismatched cells per compared column of `rows` matched rows."""
    equal = sum(rows - v for v in per_column.values())
    worst = dict(sorted(per_column.items(), key=lambda kv: -kv[1])[:10])
    details = {
        "key": key,
        "matched_rows": rows,
        "unmatched_rows": int(unmatched),
        "columns": len(per_column),
        "mismatches_by_column": worst,
    }
    return share(equal, rows * len(per_column), details)


def validity_from_outcomes(outcomes: list[dict[str, Any]], row_count: int) -> dict[str, Any]:
    """100 x rows passing each expectation, summed over expectations / (expectations x rows).

    A row-level expectation passes `rows - unexpected_count` rows; a table-level one passes all rows
    when it succeeds and none when it fails (or could not be evaluated).
    """
    if not outcomes:
        return {"score": None, "reason": "the suite has no expectations"}
    if row_count == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    passed = 0
    for o in outcomes:
        if o.get("error"):
            continue
        unexpected = o.get("unexpected_count")
        if unexpected is None:
            passed += row_count if o["success"] else 0
        else:
            passed += max(0, row_count - int(unexpected))
    total = len(outcomes) * row_count
    failed = sum(1 for o in outcomes if not o["success"])
    return share(passed, total, {"expectations": len(outcomes), "failed_expectations": failed})


def combine(
    dims: dict[str, dict[str, Any]], weights: dict[str, float] | None, threshold: float | None
) -> dict[str, Any]:
    """Weighted overall of the computed dimensions, weights renormalized over them."""
    from mcp_server.tools.quality.models import DIMENSIONS

    raw = {d: 1.0 for d in DIMENSIONS}
    if weights:
        raw.update({k: float(v) for k, v in weights.items()})
    computed = {d: v for d, v in dims.items() if v.get("score") is not None and raw[d] > 0}
    left_out = {d: v["reason"] for d, v in dims.items() if v.get("score") is None}
    for d, v in dims.items():
        if v.get("score") is not None and raw[d] <= 0:
            left_out[d] = "weight 0"
    total = sum(raw[d] for d in computed)
    overall = None
    if total > 0:
        overall = sum(raw[d] * dims[d]["score"] for d in computed) / total
    out = []
    for d in DIMENSIONS:
        v = dims[d]
        out.append(
            {
                "name": d,
                "score": None if v.get("score") is None else round(float(v["score"]), 6),
                "weight": round(raw[d] / total, 6) if d in computed and total > 0 else 0.0,
                "numerator": v.get("numerator"),
                "denominator": v.get("denominator"),
                "reason": v.get("reason") or left_out.get(d),
                "details": v.get("details"),
            }
        )
    passed = None if threshold is None or overall is None else bool(overall >= threshold)
    return {
        "overall": None if overall is None else round(overall, 6),
        "passed": passed,
        "dimensions": out,
        "left_out": left_out,
    }


def check_weights(weights: dict[str, float] | None) -> None:
    from mcp_server.tools.quality.models import DIMENSIONS

    if not weights:
        return
    unknown = [k for k in weights if k not in DIMENSIONS]
    if unknown:
        raise InvalidInput(
            f"Unknown dimension(s) {', '.join(repr(k) for k in unknown[:5])} in weights; "
            f"use {', '.join(DIMENSIONS)}."
        )
    bad = [k for k, v in weights.items() if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0)]
    if bad:
        raise InvalidInput(f"The weight of {bad[0]!r} must be a finite number >= 0.")
    if sum(weights.values()) == 0 and len(weights) == len(DIMENSIONS):
        raise InvalidInput("At least one weight must be positive.")


# -- drift --------------------------------------------------------------------------------------


def _psi(expected: Any, actual: Any) -> float:
    import numpy as np

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e = np.maximum(e / max(e.sum(), 1e-12), PSI_EPS)
    a = np.maximum(a / max(a.sum(), 1e-12), PSI_EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_bins(base_percentiles: Sequence[float]) -> Any:
    """Decile edges of the baseline (distinct), open at both ends."""
    import numpy as np

    deciles = np.asarray(base_percentiles, dtype=float)[:: (PERCENTILES - 1) // 10]
    inner = np.unique(deciles[1:-1])
    return np.concatenate(([-np.inf], inner, [np.inf]))


def _hist(values: Any, edges: Any) -> Any:
    import numpy as np

    # Right-closed bins except the first: a value equal to an inner edge falls in the lower bin.
    idx = np.searchsorted(edges[1:-1], values, side="left")
    return np.bincount(idx, minlength=len(edges) - 1)


def _categorical(base_counts: dict[str, int], cur_counts: dict[str, int]) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import chi2_contingency

    cats = sorted(set(base_counts) | set(cur_counts))
    table = np.array(
        [[base_counts.get(c, 0) for c in cats], [cur_counts.get(c, 0) for c in cats]], dtype=float
    )
    if len(cats) < 2 or table.sum(axis=1).min() == 0:
        return {"statistic": 0.0, "p_value": 1.0, "psi": 0.0, "note": "a single category: nothing to compare"}
    stat, p, _, _ = chi2_contingency(table)
    return {"statistic": float(stat), "p_value": float(p), "psi": _psi(table[0], table[1])}


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.dropna().astype(str).value_counts().items()}


def _untested(
    row: dict[str, Any], kind: str, note: str, test: str = "none", drifted: bool = False
) -> dict[str, Any]:
    row.update(kind=kind, test=test, statistic=None, p_value=None, psi=None, drifted=drifted, note=note)
    return row


def drift(
    current: pd.DataFrame,
    baseline: pd.DataFrame | None,
    profile: dict[str, Any] | None,
    alpha: float,
    psi_threshold: float,
) -> dict[str, Any]:
    """Per common column: KS (numeric) or chi-square (categorical), PSI for both; drifted columns first."""
    import numpy as np
    from scipy.stats import kstest

    if baseline is not None:
        base_profile = profile_frame(baseline)
    else:
        assert profile is not None
        base_profile = profile
    base_cols = {c["name"]: c for c in base_profile["columns"]}
    cur_names = [str(c) for c in current.columns]
    rows = []
    for name in cur_names:
        if name not in base_cols:
            continue
        bc = base_cols[name]
        cur = current[name]
        cur_nulls = 100.0 * float(cur.isna().mean()) if len(cur) else None
        row: dict[str, Any] = {
            "column": name,
            "baseline_nulls_pct": bc.get("null_pct"),
            "current_nulls_pct": None if cur_nulls is None else round(cur_nulls, 6),
        }
        if bc["kind"] in ("text", "datetime", "other"):
            note = f"{bc['kind']} column (free text, identifiers or timestamps): not tested for drift"
            rows.append(_untested(row, "categorical", note))
            continue
        numeric = bc["kind"] == "numeric" and _is_number(cur)
        if bc["kind"] == "numeric" and not numeric:
            note = f"type changed: numeric in the baseline, {cur.dtype} now"
            rows.append(_untested(row, "numeric", note, drifted=True))
            continue
        if numeric:
            values = cur.dropna().astype("float64").to_numpy()
            if len(values) == 0 or bc["count"] == 0:
                rows.append(_untested(row, "numeric", "no values to compare", "Kolmogorov-Smirnov"))
                continue
            row["kind"] = "numeric"
            percentiles = bc["percentiles"]
            edges = _numeric_bins(percentiles)
            if baseline is not None:
                from scipy.stats import ks_2samp

                base_values = baseline[name].dropna().astype("float64").to_numpy()
                res = ks_2samp(base_values, values)
                base_hist = _hist(base_values, edges)
                row["test"] = "Kolmogorov-Smirnov two-sample (scipy ks_2samp)"
            else:
                xp = np.asarray(percentiles, dtype=float)
                fp = np.linspace(0.0, 1.0, PERCENTILES)

                def cdf(x: Any, xp: Any = xp, fp: Any = fp) -> Any:
                    return np.interp(x, xp, fp, left=0.0, right=1.0)

                res = kstest(values, cdf)
                base_hist = np.diff(
                    np.interp(edges[1:-1], xp, fp, left=0.0, right=1.0), prepend=0.0, append=1.0
                )
                row["test"] = "Kolmogorov-Smirnov one-sample against the stored profile's CDF (scipy kstest)"
            cur_hist = _hist(values, edges)
            row.update(
                statistic=float(res.statistic), p_value=float(res.pvalue), psi=_psi(base_hist, cur_hist)
            )
        else:
            row.update(kind="categorical", test="chi-square test of homogeneity (scipy chi2_contingency)")
            base_counts = _counts(baseline[name]) if baseline is not None else bc.get("value_counts")
            if not base_counts:
                note = "the baseline profile keeps no value counts for this column (free text)"
                rows.append(_untested(row, "categorical", note, row["test"]))
                continue
            cur_counts = _counts(cur)
            if baseline is None and OTHER in base_counts:
                kept = set(base_counts) - {OTHER}
                folded: Counter[str] = Counter()
                for k, v in cur_counts.items():
                    folded[k if k in kept else OTHER] += v
                cur_counts = dict(folded)
            res_c = _categorical(base_counts, cur_counts)
            row.update(statistic=res_c["statistic"], p_value=res_c["p_value"], psi=res_c["psi"])
            if res_c.get("note"):
                row["note"] = res_c["note"]
        p = row.get("p_value")
        psi = row.get("psi")
        row["drifted"] = bool((p is not None and p < alpha) or (psi is not None and psi >= psi_threshold))
        rows.append(row)
    rows.sort(
        key=lambda r: (not r["drifted"], r["p_value"] if r["p_value"] is not None else 2.0, r["column"])
    )
    return {
        "columns": rows,
        "missing_in_current": [n for n in base_cols if n not in set(cur_names)],
        "new_in_current": [n for n in cur_names if n not in base_cols],
    }


# -- outliers -----------------------------------------------------------------------------------


def numeric_columns(df: pd.DataFrame, columns: list[str] | None, what: str) -> list[str]:
    if columns:
        check_columns(df, columns, what)
        bad = [c for c in columns if not _is_number(df[c])]
        if bad:
            raise InvalidInput(f"{what}: column(s) {bad[:5]} are not numeric; outliers need numbers.")
        return list(columns)
    cols = [str(c) for c in df.columns if _is_number(df[c])]
    if not cols:
        raise InvalidInput(f"{what}: the dataset has no numeric column.")
    return cols


def bounds(series: pd.Series, method: str, threshold: float) -> tuple[float | None, float | None, str | None]:
    """(lower, upper) outside which a value is an outlier; a note when the spread is zero."""
    s = series.dropna().astype("float64")
    if len(s) == 0:
        return None, None, "no values"
    if method == "iqr":
        q1, q3 = float(s.quantile(0.25)), float(s.quantile(0.75))
        iqr = q3 - q1
        return q1 - threshold * iqr, q3 + threshold * iqr, None
    if method == "zscore":
        mean, std = float(s.mean()), float(s.std(ddof=0))
        if std == 0:
            return None, None, "zero standard deviation: no outliers by z-score"
        return mean - threshold * std, mean + threshold * std, None
    median = float(s.median())
    mad = float((s - median).abs().median())
    if mad == 0:
        return None, None, "zero median absolute deviation: no outliers by MAD"
    half = threshold * mad / 0.6745
    return median - half, median + half, None


def outlier_mask_univariate(
    df: pd.DataFrame, columns: list[str], method: str, threshold: float
) -> tuple[Any, list[dict[str, Any]]]:
    import numpy as np

    n = len(df)
    any_mask = np.zeros(n, dtype=bool)
    per = []
    for col in columns:
        lo, hi, note = bounds(df[col], method, threshold)
        s = df[col].astype("float64")
        if lo is None or hi is None:
            mask = np.zeros(n, dtype=bool)
        else:
            mask = ((s < lo) | (s > hi)).fillna(False).to_numpy(dtype=bool)
        any_mask |= mask
        per.append(
            {
                "column": col,
                "count": int(mask.sum()),
                "pct": round(100.0 * mask.sum() / n, 6) if n else 0.0,
                "lower": number(lo),
                "upper": number(hi),
                "note": note,
                "mask": mask,
            }
        )
    return any_mask, per


def detect_outliers(
    df: pd.DataFrame,
    columns: list[str] | None,
    method: str,
    threshold: float | None,
    include_samples: bool,
) -> dict[str, Any]:
    import numpy as np

    cols = numeric_columns(df, columns, "columns")
    n = len(df)
    if method == "isolation_forest":
        require("sklearn")
        from sklearn.ensemble import IsolationForest

        contamination: Any = "auto" if threshold is None else float(threshold)
        if contamination != "auto" and not 0 < contamination <= 0.5:
            raise InvalidInput("For isolation_forest, threshold is the contamination: a share in (0, 0.5].")
        x = df[cols].astype("float64")
        x = x.fillna(x.median()).fillna(0.0)
        if n < 2:
            raise InvalidInput("isolation_forest needs at least 2 rows.")
        model = IsolationForest(contamination=contamination, random_state=0, n_estimators=100)
        flags = model.fit_predict(x.to_numpy()) == -1
        per_cols = [
            {"column": ", ".join(cols), "count": int(flags.sum()), "pct": round(100.0 * flags.sum() / n, 6)}
        ]
        used = None if contamination == "auto" else float(contamination)
        note = (
            "scikit-learn IsolationForest(n_estimators=100, random_state=0, contamination="
            f"{contamination!r}) on the columns together, nulls filled with the median; "
            f"decision offset {float(model.offset_):.4g}"
        )
        mask = flags
    else:
        used = float(threshold if threshold is not None else DEFAULT_THRESHOLDS[method])
        mask, per = outlier_mask_univariate(df, cols, method, used)
        per_cols = [{k: v for k, v in p.items() if k != "mask"} for p in per]
        note = {
            "iqr": f"outside [Q1 - {used:g} x IQR, Q3 + {used:g} x IQR] (pandas quantiles, linear)",
            "zscore": f"|x - mean| / std > {used:g} (population std)",
            "mad": f"0.6745 x |x - median| / MAD > {used:g} (Iglewicz-Hoaglin modified z-score)",
        }[method]
    sample = None
    if include_samples:
        idx = np.flatnonzero(mask)[:SAMPLE_ROWS]
        sample = [{"row": int(i), **{c: plain(df[c].iloc[i]) for c in cols[:20]}} for i in idx]
    return {
        "threshold": used,
        "row_count": n,
        "outlier_rows": int(mask.sum()),
        "columns": per_cols,
        "sample": sample,
        "method_note": note,
        "mask": mask,
    }


# -- cleaning -----------------------------------------------------------------------------------


def _step(name: str, detail: str, before: int, after: int, cells: int = 0) -> dict[str, Any]:
    return {
        "step": name,
        "detail": detail,
        "rows_before": before,
        "rows_after": after,
        "cells_changed": cells,
    }


def _changed(a: pd.Series, b: pd.Series) -> int:
    same = (a == b) | (a.isna() & b.isna())
    return int((~same.fillna(False).astype(bool)).sum())


def _coerce(s: pd.Series, target: str) -> pd.Series:
    import pandas as pd

    if target == "int":
        return pd.to_numeric(s, errors="coerce").round().astype("Int64")
    if target == "float":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if target == "string":
        return s.astype("string")
    if target == "bool":
        mapping = {
            "true": True,
            "false": False,
            "1": True,
            "0": False,
            "yes": True,
            "no": False,
            "t": True,
            "f": False,
        }
        return s.map(
            lambda v: (
                None
                if v is None or (isinstance(v, float) and math.isnan(v))
                else mapping.get(str(v).strip().lower())
            )
        ).astype("boolean")
    if target == "datetime":
        return pd.to_datetime(s, errors="coerce", format="mixed")
    return s.astype("category")


def normalize_text(value: str, step: dict[str, Any]) -> str:
    if step.get("unicode_form", "NFC") != "keep":
        value = unicodedata.normalize(step.get("unicode_form", "NFC"), value)
    if step.get("remove_control", True):
        value = "".join(ch for ch in value if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf"))
    if step.get("collapse_whitespace", True):
        value = MULTISPACE_RE.sub(" ", value)
    if step.get("strip", True):
        value = value.strip()
    case = step.get("case", "keep")
    if case == "lower":
        value = value.lower()
    elif case == "upper":
        value = value.upper()
    return value


def clean_frame(df: pd.DataFrame, plan: dict[str, Any]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Apply a cleaning plan: coerce, strings, duplicates, outliers, missing (in this order)."""
    steps: list[dict[str, Any]] = []
    out = df.copy()
    if plan.get("coerce"):
        check_columns(out, list(plan["coerce"]), "plan.coerce")
        for col, target in plan["coerce"].items():
            before = out[col]
            nulls_before = int(before.isna().sum())
            out[col] = _coerce(before, target)
            failed = int(out[col].isna().sum()) - nulls_before
            steps.append(
                _step(
                    "coerce",
                    f"{col} -> {target}; {failed} value(s) did not convert and became null",
                    len(out),
                    len(out),
                    _changed(before.astype(object), out[col].astype(object)) if target != "category" else 0,
                )
            )
    if plan.get("strings") is not None:
        st = plan["strings"]
        cols = st.get("columns") or text_columns(out)
        check_columns(out, cols, "plan.strings")
        changed = 0
        for col in cols:
            before = out[col]
            out[col] = before.map(lambda v: normalize_text(v, st) if isinstance(v, str) else v)
            changed += _changed(before, out[col])
        steps.append(_step("strings", f"normalized {len(cols)} text column(s)", len(out), len(out), changed))
    if plan.get("duplicates") is not None:
        dp = plan["duplicates"]
        subset = dp.get("subset")
        if subset:
            check_columns(out, subset, "plan.duplicates.subset")
        n0 = len(out)
        out = out.drop_duplicates(subset=subset, keep=dp.get("keep", "first")).reset_index(drop=True)
        what = f"key {subset}" if subset else "whole rows"
        steps.append(_step("duplicates", f"dropped {n0 - len(out)} duplicate(s) by {what}", n0, len(out)))
    if plan.get("outliers") is not None:
        op = plan["outliers"]
        cols = numeric_columns(out, op.get("columns"), "plan.outliers.columns")
        method = op.get("method", "iqr")
        thr = float(op.get("threshold") or DEFAULT_THRESHOLDS[method])
        mask, per = outlier_mask_univariate(out, cols, method, thr)
        n0 = len(out)
        if op.get("action", "clip") == "drop":
            out = out.loc[~mask].reset_index(drop=True)
            steps.append(
                _step("outliers", f"dropped {int(mask.sum())} row(s) with {method} outliers", n0, len(out))
            )
        else:
            cells = 0
            for p in per:
                if p["lower"] is None:
                    continue
                before = out[p["column"]]
                if pd_is_integer(before):  # integer bounds inside the float ones keep the dtype
                    clipped = before.clip(lower=math.ceil(p["lower"]), upper=math.floor(p["upper"]))
                else:
                    clipped = before.clip(lower=p["lower"], upper=p["upper"])
                out[p["column"]] = clipped
                cells += int(p["count"])
            steps.append(_step("outliers", f"clipped {cells} {method} outlier cell(s)", n0, n0, cells))
    for i, mp in enumerate(plan.get("missing") or []):
        strategy = mp["strategy"]
        cols = mp.get("columns") or [str(c) for c in out.columns if out[c].isna().any()]
        check_columns(out, cols, f"plan.missing[{i}]")
        n0 = len(out)
        if strategy == "drop":
            out = out.dropna(subset=cols).reset_index(drop=True) if cols else out
            steps.append(
                _step(
                    "missing",
                    f"dropped {n0 - len(out)} row(s) with nulls in {len(cols)} column(s)",
                    n0,
                    len(out),
                )
            )
            continue
        cells = 0
        if strategy == "ffill":
            order = mp.get("order_by")
            if order:
                check_columns(out, [order], f"plan.missing[{i}].order_by")
            for col in cols:
                before = out[col]
                if order:
                    ordered = out.sort_values(order, kind="stable")
                    filled = ordered[col].ffill().reindex(out.index)
                else:
                    filled = before.ffill()
                out[col] = filled
                cells += int(before.isna().sum() - filled.isna().sum())
            steps.append(
                _step(
                    "missing",
                    f"forward-filled {cells} cell(s)" + (f" along {order}" if order else ""),
                    n0,
                    n0,
                    cells,
                )
            )
            continue
        for col in cols:
            s = out[col]
            nulls = int(s.isna().sum())
            if nulls == 0:
                continue
            if strategy in ("mean", "median"):
                if not _is_number(s):
                    raise InvalidInput(
                        f"plan.missing[{i}]: column {col!r} is not numeric, so it has no {strategy}; use 'mode' or 'constant'."
                    )
                fill: Any = float(s.mean() if strategy == "mean" else s.median())
                if pd_is_integer(s) or str(s.dtype) == "Int64":
                    fill = round(fill)
            elif strategy == "mode":
                modes = s.mode(dropna=True)
                if len(modes) == 0:
                    continue
                fill = modes.iloc[0]
            else:
                if mp.get("value") is None:
                    raise InvalidInput(f"plan.missing[{i}]: strategy 'constant' needs a 'value'.")
                fill = mp["value"]
            try:
                out[col] = s.fillna(fill)
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"plan.missing[{i}]: {plain(fill)!r} cannot fill column {col!r}."
                ) from None
            cells += nulls
        steps.append(_step("missing", f"filled {cells} cell(s) with the {strategy}", n0, n0, cells))
    return out, steps


def pd_is_integer(s: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_integer_dtype(s.dtype))


# -- training-set filter ------------------------------------------------------------------------


def filter_frame(
    df: pd.DataFrame,
    rules: list[dict[str, Any]],
    dedupe: bool | list[str],
    label: str | None,
    outliers: dict[str, Any] | None,
    max_row_null_fraction: float | None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    import numpy as np

    steps = []
    out = df
    for i, r in enumerate(rules):
        check_columns(df, [r["column"]], f"Rule {i}")
    if label:
        check_columns(df, [label], "label")
    for i, r in enumerate(rules):
        keep = mask(out, r["column"], r["op"], r["value"], f"Rule {i}")
        n0 = len(out)
        out = out.loc[np.asarray(keep, dtype=bool)]
        shown = f"{r['column']} {r['op']}" + (
            "" if r["op"] in ("is_null", "not_null") else f" {plain(r['value'])!r}"
        )
        steps.append(_step("rule", f"kept rows where {shown}", n0, len(out)))
    if label:
        n0 = len(out)
        out = out.loc[out[label].notna()]
        steps.append(_step("label", f"kept rows with a {label!r} label", n0, len(out)))
    if max_row_null_fraction is not None:
        n0 = len(out)
        frac = out.isna().mean(axis=1) if out.shape[1] else 0
        out = out.loc[frac <= max_row_null_fraction]
        steps.append(
            _step(
                "quality", f"dropped rows with more than {max_row_null_fraction:.0%} null cells", n0, len(out)
            )
        )
    if dedupe:
        subset = dedupe if isinstance(dedupe, list) else None
        if subset:
            check_columns(out, subset, "dedupe")
        n0 = len(out)
        out = out.drop_duplicates(subset=subset, keep="first")
        steps.append(_step("dedupe", f"dropped duplicates by {subset or 'whole rows'}", n0, len(out)))
    if outliers is not None:
        method = outliers.get("method", "iqr")
        cols = numeric_columns(out, outliers.get("columns"), "outliers.columns")
        n0 = len(out)
        if method == "isolation_forest":
            found = detect_outliers(
                out.reset_index(drop=True), cols, method, outliers.get("threshold"), False
            )
            flags = found.pop("mask")
        else:
            thr = float(outliers.get("threshold") or DEFAULT_THRESHOLDS[method])
            flags, _ = outlier_mask_univariate(out, cols, method, thr)
        out = out.loc[~np.asarray(flags, dtype=bool)]
        steps.append(_step("outliers", f"dropped {method} outlier rows", n0, len(out)))
    return out.reset_index(drop=True), steps


# -- homogeneity --------------------------------------------------------------------------------


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return "UNKNOWN"


def text_issues(df: pd.DataFrame, columns: list[str] | None, include_samples: bool) -> list[dict[str, Any]]:
    """Per text column: encoding errors, normalization forms, controls, whitespace, case and script mixes.

    Work is on distinct values (weighted by their counts), so long columns of repeated values stay cheap.
    """
    cols = columns or text_columns(df)
    if columns:
        check_columns(df, columns, "columns")
    out = []
    for col in cols:
        counts = df[col].dropna().astype(str).value_counts()
        found: Counter[str] = Counter()
        scripts: Counter[str] = Counter()
        examples: list[str] = []
        folded: dict[str, set[str]] = {}

        def example(v: str, examples: list[str] = examples) -> None:
            if include_samples and len(examples) < 5 and v not in examples:
                examples.append(plain(v, chars=60))

        for value, count in counts.items():
            v = str(value)
            if "\ufffd" in v or MOJIBAKE_RE.search(v):
                found["encoding_errors"] += count
                example(v)
            if not v.isascii():
                if unicodedata.is_normalized("NFC", v):
                    found["nfc_non_ascii"] += count
                else:
                    found["non_nfc"] += count
                    example(v)
            if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r" for ch in v):
                found["control_chars"] += count
                example(v)
            if v != v.strip():
                found["whitespace_padded"] += count
                example(v)
            if MULTISPACE_RE.search(v.strip()):
                found["repeated_whitespace"] += count
            letters = {_script(ch) for ch in v if ch.isalpha()}
            scripts.update({s: count for s in letters})
            if len(letters) > 1:
                found["mixed_script_values"] += count
                example(v)
            folded.setdefault(unicodedata.normalize("NFC", " ".join(v.split())).casefold(), set()).add(v)
        for _, variants in folded.items():
            if len({" ".join(x.split()) for x in variants}) > 1:
                found["case_variants"] += int(sum(counts[x] for x in variants))
                for x in list(variants)[:2]:
                    example(x)
        out.append(
            {
                "column": col,
                "values": int(counts.sum()),
                "encoding_errors": found["encoding_errors"],
                "non_nfc": found["non_nfc"],
                "nfc_non_ascii": found["nfc_non_ascii"],
                "mixed_normalization": bool(found["non_nfc"] and found["nfc_non_ascii"]),
                "control_chars": found["control_chars"],
                "whitespace_padded": found["whitespace_padded"],
                "repeated_whitespace": found["repeated_whitespace"],
                "case_variants": found["case_variants"],
                "mixed_script_values": found["mixed_script_values"],
                "scripts": dict(scripts.most_common(8)),
                "examples": examples if include_samples else None,
            }
        )
    return out


def text_fixes(issues: list[dict[str, Any]]) -> list[str]:
    fixes = []
    for c in issues:
        col = c["column"]
        if c["encoding_errors"]:
            fixes.append(
                f"{col}: {c['encoding_errors']} value(s) show encoding damage (U+FFFD or UTF-8 read as Latin-1); "
                "re-export the source as UTF-8 or repair it (e.g. ftfy) before training."
            )
        if c["non_nfc"]:
            fixes.append(
                f"{col}: {c['non_nfc']} value(s) are not NFC; quality_clean with "
                "plan.strings.unicode_form='NFC' makes equal-looking strings equal."
            )
        if c["control_chars"]:
            fixes.append(
                f"{col}: {c['control_chars']} value(s) hold control/zero-width characters; plan.strings.remove_control=true drops them."
            )
        if c["whitespace_padded"] or c["repeated_whitespace"]:
            fixes.append(
                f"{col}: {c['whitespace_padded']} padded and {c['repeated_whitespace']} multi-space value(s); "
                "plan.strings.strip and collapse_whitespace fix them."
            )
        if c["case_variants"]:
            fixes.append(
                f"{col}: {c['case_variants']} value(s) differ only by case from another; plan.strings.case='lower' unifies them."
            )
        if c["mixed_script_values"]:
            fixes.append(
                f"{col}: {c['mixed_script_values']} value(s) mix scripts (often look-alike letters such as "
                "Cyrillic a in Latin words); review them by hand."
            )
    return fixes


def read_text_tolerant(path: Path, limits: TableLimits) -> tuple[pd.DataFrame, bool]:
    """read_table, and for a CSV/TSV that is not valid UTF-8 a re-read with U+FFFD for each bad byte."""
    import pandas as pd

    from mcp_server.core.tables import read_table, table_format

    try:
        return read_table(path, limits), False
    except InvalidInput:
        fmt = table_format(path)
        if fmt not in ("csv", "tsv"):
            raise
        try:
            with open(path, "rb") as fh:
                fh.read().decode("utf-8")
            raise
        except UnicodeDecodeError:
            pass
    df = pd.read_csv(
        path, sep="," if fmt == "csv" else "\t", nrows=limits.rows + 1, encoding_errors="replace", engine="c"
    )
    if len(df) > limits.rows:
        from mcp_server.core.errors import LimitExceeded

        raise LimitExceeded(
            f"'{path.name}' has more than {limits.rows} rows, the limit (MLOPS_MCP_MAX_ROWS)."
        )
    return df, True


def image_issues(folder: Path, inside: Callable[[Path], bool], max_files: int) -> dict[str, Any]:
    """Open every image file under `folder` with Pillow: unreadable files, formats, modes, sizes, ratios."""
    import warnings

    require("PIL")
    from PIL import Image, UnidentifiedImageError

    formats: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    ratios: Counter[str] = Counter()
    unreadable: list[str] = []
    files = images = skipped = 0
    truncated = False
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            files += 1
            if files > max_files:
                truncated = True
                break
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped += 1
                continue
            if path.is_symlink() and not inside(path.resolve()):
                skipped += 1
                continue
            images += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(path) as img:
                        fmt, mode, (w, h) = img.format or "unknown", img.mode, img.size
                        img.verify()
            except (
                OSError,
                UnidentifiedImageError,
                SyntaxError,
                ValueError,
                Image.DecompressionBombError,
                Image.DecompressionBombWarning,
            ):
                unreadable.append(str(path.relative_to(folder)))
                continue
            formats[fmt] += 1
            modes[mode] += 1
            sizes[f"{w}x{h}"] += 1
            ratios[f"{w / h:.2f}" if h else "inf"] += 1
        if truncated:
            break
    return {
        "files": min(files, max_files),
        "images": images,
        "unreadable": len(unreadable),
        "unreadable_examples": [plain(u, chars=80) for u in unreadable[:5]],
        "formats": dict(formats.most_common()),
        "modes": dict(modes.most_common()),
        "sizes": dict(sizes.most_common(10)),
        "aspect_ratios": dict(ratios.most_common(10)),
        "skipped": skipped,
        "truncated": truncated,
    }


def image_fixes(s: dict[str, Any]) -> list[str]:
    fixes = []
    if s["unreadable"]:
        fixes.append(
            f"{s['unreadable']} file(s) cannot be opened by Pillow; remove or re-export them (e.g. {s['unreadable_examples'][0]})."
        )
    if len(s["formats"]) > 1:
        top = next(iter(s["formats"]))
        fixes.append(f"Mixed formats {list(s['formats'])}; convert all to {top} so decoding is uniform.")
    if len(s["modes"]) > 1:
        fixes.append(
            f"Mixed colour modes {list(s['modes'])}; convert every image to one mode (e.g. RGB) with Image.convert."
        )
    if len(s["sizes"]) > 1:
        top = next(iter(s["sizes"]))
        fixes.append(
            f"{len(s['sizes'])} different sizes; resize (or pad) to one size such as {top} before training."
        )
    if len(s["aspect_ratios"]) > 1:
        fixes.append(
            f"Aspect ratios vary ({list(s['aspect_ratios'])[:4]}); crop or letterbox to one ratio to avoid distortion."
        )
    return fixes


# -- report -------------------------------------------------------------------------------------


def render_chart(
    dims: list[dict[str, Any]], df: pd.DataFrame, path: Path, max_rows: int = 200, max_cols: int = 60
) -> None:
    """Two panels: the dimension scores and the null pattern (sampled rows x columns)."""
    import numpy as np

    require("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    names = [d["name"] for d in dims]
    values = [d["score"] if d["score"] is not None else 0.0 for d in dims]
    colors = [
        "#9e9e9e"
        if d["score"] is None
        else ("#2e7d32" if d["score"] >= 90 else "#f9a825" if d["score"] >= 70 else "#c62828")
        for d in dims
    ]
    ax1.barh(names, values, color=colors)
    ax1.set_xlim(0, 100)
    ax1.invert_yaxis()
    for i, d in enumerate(dims):
        ax1.text(
            2,
            i,
            "n/a" if d["score"] is None else f"{d['score']:.1f}",
            va="center",
            fontsize=8,
            color="white" if d["score"] else "black",
        )
    ax1.set_title("Quality dimensions (0-100)")
    sub = df.iloc[:, :max_cols]
    if len(sub) > max_rows:
        idx = np.linspace(0, len(sub) - 1, max_rows).astype(int)
        sub = sub.iloc[idx]
    pattern = sub.isna().to_numpy(dtype=float)
    ax2.imshow(
        pattern if pattern.size else np.zeros((1, 1)),
        aspect="auto",
        cmap="Greys",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax2.set_title(f"Null pattern (black = null; {len(sub)} of {len(df)} rows)")
    ax2.set_xticks(range(sub.shape[1]))
    ax2.set_xticklabels([str(c)[:14] for c in sub.columns], rotation=90, fontsize=6)
    ax2.set_ylabel("row")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
