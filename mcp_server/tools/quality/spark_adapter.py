"""Profiles and dimension scores on Spark: the same dicts as adapter.py's `profile_frame` and the
pandas dimensions, computed by Spark aggregations on a Spark DataFrame (for data that outgrows one process).

What differs from pandas, by design:
- distinct counts are exact (`countDistinct`), like pandas' `nunique`;
- quantiles come from `approxQuantile` with relative error `QUANTILE_ERROR` (0.1%): each one is a value of
  the data whose rank is within 0.001 x N of the exact rank, where pandas interpolates linearly between
  the two nearest values (on small data the rank is exact and the two differ by at most that gap);
- `dtype` is Spark's type name (`bigint`, `double`, `string`, `timestamp`), not pandas';
- NaN in a float column counts as missing, as pandas does; `top_values`/`value_counts` keys are the
  values written as pandas writes them (`True`, `1.0` for a float, `2024-01-01 00:00:00`), so a stored
  Spark profile can be the baseline of a pandas drift check;
- types are Spark's: a boolean column with nulls is `boolean` (pandas: `other`, an object column), and
  CSV columns are typed by Spark's schema inference (dates and timestamps pandas keeps as text);
- the reference of the accuracy dimension keeps the first row per key in file order.

pyspark is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput
from mcp_server.core.tables import id_like
from mcp_server.core.values import number, plain
from mcp_server.tools.quality import adapter as pd_adapter

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from mcp_server.core.boundary import Control

QUANTILE_ERROR = 1e-3


def _type_errors() -> tuple[type[Exception], ...]:
    """Spark's errors for values of types that cannot be compared or cast (the caller's input)."""
    from pyspark.errors import AnalysisException, NumberFormatException, SparkRuntimeException

    return (AnalysisException, NumberFormatException, SparkRuntimeException)


def _types(sdf: DataFrame) -> dict[str, Any]:
    return {f.name: f.dataType for f in sdf.schema.fields}


def _is_float(dtype: Any) -> bool:
    from pyspark.sql.types import DoubleType, FloatType

    return isinstance(dtype, DoubleType | FloatType)


def _is_number(dtype: Any) -> bool:
    from pyspark.sql.types import NumericType

    return isinstance(dtype, NumericType)


def _is_time(dtype: Any) -> bool:
    from pyspark.sql.types import DateType, TimestampNTZType, TimestampType

    return isinstance(dtype, TimestampType | TimestampNTZType | DateType)


def _integer(dtype: Any) -> bool:
    from pyspark.sql.types import ByteType, IntegerType, LongType, ShortType

    return isinstance(dtype, ByteType | ShortType | IntegerType | LongType)


def clean(sdf: DataFrame) -> DataFrame:
    """NaN in float columns as null (pandas counts NaN as missing)."""
    from pyspark.sql import functions as F

    types = _types(sdf)
    fixed = {
        c: F.when(F.isnan(_c(c)), F.lit(None)).otherwise(_c(c)) for c in sdf.columns if _is_float(types[c])
    }
    return sdf.withColumns(fixed) if fixed else sdf


def _c(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _text(value: Any, dtype: Any, ints_as_float: bool) -> str:
    """A value written as pandas' `astype(str)` writes it (`True`, `1.0` for a float; an integer column
    with nulls read from CSV/JSON is float in pandas)."""
    if _integer(dtype) and ints_as_float and not isinstance(value, bool):
        return str(float(value))
    return str(value)


def _time_text(col: Column) -> Column:
    """A timestamp as pandas prints it: 'yyyy-MM-dd HH:mm:ss' (with microseconds only when there are some)."""
    from pyspark.sql import functions as F

    full = F.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS")
    return F.when(F.substring(full, 20, 7) == ".000000", F.substring(full, 1, 19)).otherwise(full)


# -- profile ------------------------------------------------------------------------------------


def profile_spark(sdf: DataFrame, *, nullable_ints: bool = True) -> dict[str, Any]:
    """`adapter.profile_frame` on Spark: one aggregation pass for counts and moments, one approxQuantile
    pass for the numeric columns, one groupBy on (column, value) pairs for the top values.

    `nullable_ints`: pandas reads an integer column with nulls as nullable integers (Parquet, True) or as
    floats (CSV/JSON, False); the value-count keys follow, so a drift check on pandas finds them."""
    import numpy as np
    from pyspark.sql import functions as F

    sdf = clean(sdf)
    types = _types(sdf)
    names = list(sdf.columns)
    aggs = [F.count(F.lit(1)).alias("__n")]
    for i, c in enumerate(names):
        col, t = _c(c), types[c]
        aggs += [F.count(col).alias(f"n{i}"), F.countDistinct(col).alias(f"d{i}")]
        if _is_number(t):
            finite = F.when(~col.isin(float("inf"), float("-inf")), col.cast("double"))
            aggs += [
                F.min(col).alias(f"lo{i}"),
                F.max(col).alias(f"hi{i}"),
                F.avg(finite).alias(f"mean{i}"),
                F.stddev_samp(finite).alias(f"std{i}"),
                F.count(finite).alias(f"fin{i}"),
            ]
        elif _is_time(t):
            aggs += [_time_text(F.min(col)).alias(f"lo{i}"), _time_text(F.max(col)).alias(f"hi{i}")]
        else:
            aggs += [F.min(col).alias(f"lo{i}"), F.max(col).alias(f"hi{i}")]
    from pyspark.sql.types import BooleanType, StringType

    stats = sdf.agg(*aggs).collect()[0].asDict()
    n = int(stats["__n"])
    kinds: dict[str, str] = {}
    for i, c in enumerate(names):
        t, count, distinct = types[c], int(stats[f"n{i}"]), int(stats[f"d{i}"])
        if isinstance(t, BooleanType):
            kinds[c] = "boolean"
        elif _is_number(t):
            kinds[c] = "categorical" if distinct <= pd_adapter.CATEGORICAL_MAX_DISTINCT else "numeric"
        elif _is_time(t):
            kinds[c] = "datetime"
        elif isinstance(t, StringType):
            limit = max(pd_adapter.CATEGORICAL_MAX_DISTINCT, 0.05 * count)
            kinds[c] = "categorical" if distinct <= limit else "text"
        else:
            kinds[c] = "other"
    numeric = [
        c for i, c in enumerate(names) if kinds[c] in ("numeric", "categorical") and _is_number(types[c])
    ]
    numeric = [c for c in numeric if int(stats[f"fin{names.index(c)}"]) > 0]
    shown = list(pd_adapter.SHOWN_QUANTILES.values())
    grid = [float(x) for x in np.linspace(0, 1, pd_adapter.PERCENTILES)]
    probs = sorted(set(shown) | set(grid))
    quantiles: dict[str, list[float]] = {}
    if numeric:
        finite_frame = sdf.select(
            *[
                F.when(~_c(c).isin(float("inf"), float("-inf")), _c(c).cast("double")).alias(f"q{j}")
                for j, c in enumerate(numeric)
            ]
        )
        found = finite_frame.approxQuantile([f"q{j}" for j in range(len(numeric))], probs, QUANTILE_ERROR)
        quantiles = {c: [float(x) for x in found[j]] for j, c in enumerate(numeric)}
    top = _top_all(
        sdf,
        {
            c: (types[c], kinds[c])
            for i, c in enumerate(names)
            if int(stats[f"n{i}"]) and kinds[c] in ("categorical", "text", "boolean", "datetime", "numeric")
        },
    )
    columns = []
    for i, c in enumerate(names):
        t, kind = types[c], kinds[c]
        count = int(stats[f"n{i}"])
        nulls = n - count
        entry: dict[str, Any] = {
            "name": c,
            "dtype": t.simpleString(),
            "kind": kind,
            "count": count,
            "nulls": nulls,
            "null_pct": round(100.0 * nulls / n, 6) if n else 0.0,
            "distinct": int(stats[f"d{i}"]),
        }
        if c in quantiles:
            at = dict(zip(probs, quantiles[c], strict=True))
            fin = int(stats[f"fin{i}"])
            entry.update(
                min=plain(stats[f"lo{i}"]),
                max=plain(stats[f"hi{i}"]),
                mean=number(stats[f"mean{i}"]),
                std=number(stats[f"std{i}"]) if fin > 1 else None,
                quantiles={k: at[q] for k, q in pd_adapter.SHOWN_QUANTILES.items()},
            )
            if kind == "numeric":
                entry["percentiles"] = [at[q] for q in grid]
        elif kind == "datetime" and count:
            entry.update(min=_iso(stats[f"lo{i}"]), max=_iso(stats[f"hi{i}"]))
        elif kind in ("text", "categorical") and count:
            entry.update(min=plain(stats[f"lo{i}"]), max=plain(stats[f"hi{i}"]))
        if c in top:
            entry.update(_top(top[c], t, kind, count, nulls > 0 and not nullable_ints))
        columns.append(entry)
    return {"row_count": n, "column_count": len(names), "columns": columns}


def _iso(text: Any) -> Any:
    return None if text is None else str(text).replace(" ", "T", 1)


def _top_all(sdf: DataFrame, wanted: dict[str, tuple[Any, str]]) -> dict[str, list[tuple[str, int]]]:
    """The most frequent values of every wanted column (name -> (type, kind)) in one Spark job: (column,
    value as text) pairs counted, ranked per column by count then value, the first 50 (categorical,
    boolean) or 10 kept."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not wanted:
        return {}
    names = list(wanted)
    pairs = []
    for i, c in enumerate(names):
        kind = wanted[c][1]
        text = _time_text(_c(c)) if kind == "datetime" else _c(c).cast("string")
        pairs.append(F.struct(F.lit(i).alias("i"), text.alias("v")))
    stored = [i for i, c in enumerate(names) if wanted[c][1] in ("categorical", "boolean")]
    keep = F.when(F.col("i").isin(stored), pd_adapter.STORED_VALUES).otherwise(pd_adapter.TOP_VALUES)
    rank = Window.partitionBy("i").orderBy(F.col("k").desc(), F.col("v").asc())
    rows = (
        sdf.select(F.explode(F.array(*pairs)).alias("p"))
        .select("p.i", "p.v")
        .where(F.col("v").isNotNull())
        .groupBy("i", "v")
        .agg(F.count(F.lit(1)).alias("k"))
        .withColumn("r", F.row_number().over(rank))
        .where(F.col("r") <= keep)
        .collect()
    )
    out: dict[str, list[tuple[str, int, int]]] = {c: [] for c in names}
    for r in rows:
        out[names[int(r["i"])]].append((str(r["v"]), int(r["k"]), int(r["r"])))
    return {c: [(v, k) for v, k, _ in sorted(found, key=lambda x: x[2])] for c, found in out.items()}


def _typed(text: str, dtype: Any) -> Any:
    """A value Spark wrote as text, back to the Python value pandas would hold."""
    from pyspark.sql.types import BooleanType

    if _integer(dtype):
        return int(text)
    if _is_number(dtype):
        return float(text)
    if isinstance(dtype, BooleanType):
        return text == "true"
    return text


def _top(found: list[tuple[str, int]], t: Any, kind: str, count: int, ints_as_float: bool) -> dict[str, Any]:
    """top_values (and value_counts for categorical/boolean) as profile_frame writes them."""
    out: dict[str, Any] = {}
    if kind == "numeric":
        out["top_values"] = [
            {"value": plain(_typed(v, t)), "count": k} for v, k in found[: pd_adapter.TOP_VALUES]
        ]
        return out
    pairs = [(_text(_typed(v, t), t, ints_as_float), k) for v, k in found]
    out["top_values"] = [{"value": plain(v), "count": k} for v, k in pairs[: pd_adapter.TOP_VALUES]]
    if kind in ("categorical", "boolean"):
        out["value_counts"] = {v: k for v, k in pairs}
        other = count - sum(k for _, k in pairs)
        if other:
            out["value_counts"][pd_adapter.OTHER] = other
    return out


# -- dimensions ---------------------------------------------------------------------------------


def detect_key(sdf: DataFrame) -> list[str] | None:
    """`adapter.detect_key` on Spark: an id-like name, integer or string, at least 90% distinct."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    types = _types(sdf)
    for c in sdf.columns:
        if not id_like(c):
            continue
        if not (_integer(types[c]) or isinstance(types[c], StringType)):
            continue
        row = sdf.agg(F.count(_c(c)).alias("n"), F.countDistinct(_c(c)).alias("d")).collect()[0]
        if row["n"] and row["d"] >= 0.9 * row["n"]:
            return [c]
    return None


def dimensions_spark(
    sdf: DataFrame,
    key: list[str] | None,
    consistency: list[dict[str, Any]] | None,
    timestamp_column: str | None,
    max_age: str | None,
    as_of: dt.datetime | None,
    reference_sdf: DataFrame | None,
) -> tuple[dict[str, dict[str, Any]], int]:
    """Every dimension but validity (the same dicts as the pandas ones) and the row count."""
    sdf = clean(sdf)
    n = int(sdf.count())
    used_key = key or detect_key(sdf)
    dims = {
        "completeness": _completeness(sdf, n),
        "uniqueness": _uniqueness(sdf, used_key, n),
        "consistency": _consistency(sdf, consistency, n),
        "timeliness": _timeliness(sdf, timestamp_column, max_age, as_of, n),
    }
    if reference_sdf is None:
        dims["accuracy"] = {"score": None, "reason": "no reference dataset given"}
    else:
        dims["accuracy"] = _accuracy(sdf, clean(reference_sdf), used_key, n)
    if used_key and not key and dims["uniqueness"].get("details"):
        dims["uniqueness"]["details"]["detected"] = True
    return dims, n


def _completeness(sdf: DataFrame, n: int) -> dict[str, Any]:
    from pyspark.sql import functions as F

    cells = n * len(sdf.columns)
    if cells == 0:
        return {"score": None, "reason": "the dataset has no cells"}
    row = sdf.agg(*[F.count(_c(c)).alias(f"n{i}") for i, c in enumerate(sdf.columns)]).collect()[0]
    nonnull = int(sum(int(v) for v in row))
    return pd_adapter.share(nonnull, cells)


def _uniqueness(sdf: DataFrame, key: list[str] | None, n: int) -> dict[str, Any]:
    from pyspark.sql import functions as F

    if n == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    if key:
        pd_adapter.check_columns(sdf, key, "key")
        present = _c(key[0]).isNotNull()
        for k in key[1:]:
            present = present & _c(k).isNotNull()
        frame = sdf.where(present)
        groups = frame.groupBy(*[_c(k) for k in key])
        basis: dict[str, Any] = {"key": key}
    else:
        from pyspark.sql.types import ArrayType, MapType

        if any(isinstance(t, ArrayType | MapType) for t in _types(sdf).values()):
            return {
                "score": None,
                "reason": "rows hold unhashable values (lists), so duplicates cannot be found",
            }
        groups = sdf.groupBy(*[_c(c) for c in sdf.columns])
        basis = {"key": None, "basis": "whole rows (no key declared or detected)"}
    row = (
        groups.agg(F.count(F.lit(1)).alias("k"))
        .agg(F.sum(F.when(F.col("k") == 1, 1).otherwise(0)).alias("once"))
        .collect()[0]
    )
    count = int(row["once"] or 0)
    return pd_adapter.share(count, n, basis)


def _compare(a: Column, op: str, b: Column) -> Column:
    return {
        "==": a == b,
        "!=": a != b,
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
    }[op]


def _consistency(sdf: DataFrame, rules: list[dict[str, Any]] | None, n: int) -> dict[str, Any]:
    """Rows passing every rule; a rule with a missing side does not apply to that row."""
    from pyspark.sql import functions as F

    if not rules:
        return {"score": None, "reason": "no consistency rules given"}
    if n == 0:
        return {"score": None, "reason": "the dataset has no rows"}
    columns = set(sdf.columns)
    passes: list[Column] = []
    shown_all = []
    for i, rule in enumerate(rules):
        left, op, right = rule["left"], rule["op"], rule["right"]
        pd_adapter.check_columns(sdf, [left], f"Consistency rule {i}")
        a = _c(left)
        if isinstance(right, str) and right in columns:
            b: Column = _c(right)
            missing = a.isNull() | b.isNull()
            shown = f"{left} {op} {right}"
        else:
            if right is None or isinstance(right, dict | list):
                raise InvalidInput(
                    f"Consistency rule {i}: 'right' must be a column name or a number, string or boolean."
                )
            b = F.lit(right)
            missing = a.isNull()
            shown = f"{left} {op} {right!r}"
        passes.append(missing | F.coalesce(_compare(a, op, b), F.lit(False)))
        shown_all.append(shown)
    every = passes[0]
    for p in passes[1:]:
        every = every & p
    aggs = [F.sum(F.when(~p, 1).otherwise(0)).alias(f"f{i}") for i, p in enumerate(passes)]
    aggs.append(F.sum(F.when(every, 1).otherwise(0)).alias("ok"))
    try:
        row = sdf.agg(*aggs).collect()[0]
    except _type_errors():
        raise InvalidInput(
            "A consistency rule compares values of incompatible types; check its columns."
        ) from None
    per_rule = [{"rule": s, "failing_rows": int(row[f"f{i}"] or 0)} for i, s in enumerate(shown_all)]
    count = int(row["ok"] or 0)
    return pd_adapter.share(count, n, {"rules": per_rule})


def _timeliness(
    sdf: DataFrame, column: str | None, max_age: str | None, as_of: dt.datetime | None, n: int
) -> dict[str, Any]:
    """Rows whose timestamp is within max_age of as_of (UTC; naive timestamps are UTC); null is stale."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    window = pd_adapter.freshness_window(sdf, column, max_age, as_of, n)
    if isinstance(window, dict):
        return window
    assert column is not None
    t = _types(sdf)[column]
    if _is_number(t):
        raise InvalidInput(f"Column {column!r} holds numbers, not timestamps; give a date/time column.")
    if _is_time(t):
        stamps = _c(column).cast("timestamp")  # the session time zone is UTC
    elif isinstance(t, StringType):
        stamps = F.to_timestamp(_c(column))
    else:
        raise InvalidInput(f"Column {column!r} holds no parseable timestamps.")
    cutoff = window[1]
    literal = F.to_timestamp(F.lit(cutoff.tz_localize(None).isoformat(sep=" ")))
    row = sdf.agg(
        F.sum(F.when(stamps >= literal, 1).otherwise(0)).alias("fresh"),
        F.count(_c(column)).alias("given"),
        F.count(stamps).alias("parsed"),
    ).collect()[0]
    if int(row["given"]) and not int(row["parsed"]):
        raise InvalidInput(f"Column {column!r} holds no parseable timestamps.")
    return pd_adapter.fresh_share(int(row["fresh"] or 0), n, window, column)


def _accuracy(sdf: DataFrame, ref: DataFrame, key: list[str] | None, n: int) -> dict[str, Any]:
    """Equal cells / compared cells on rows matched by key (null-safe, both null = equal); the reference
    keeps its first row per key (file order)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    compared = pd_adapter.accuracy_columns(sdf, ref, key)
    if isinstance(compared, dict):
        return compared
    assert key is not None
    order = Window.partitionBy(*[_c(k) for k in key]).orderBy(F.col("__pos"))
    right = (
        ref.withColumn("__pos", F.monotonically_increasing_id())
        .withColumn("__rn", F.row_number().over(order))
        .where(F.col("__rn") == 1)
        .select(
            *[_c(k).alias(f"__key{j}") for j, k in enumerate(key)],
            *[_c(c).alias(f"__ref{j}") for j, c in enumerate(compared)],
        )
    )
    left = sdf.select(*[_c(k) for k in key], *[_c(c) for c in compared if c not in key])
    cond = None
    for j, k in enumerate(key):
        part = _c(k).eqNullSafe(F.col(f"__key{j}"))
        cond = part if cond is None else cond & part
    merged = left.join(right, on=cond, how="inner")
    aggs = [F.count(F.lit(1)).alias("rows")]
    aggs += [
        F.sum(F.when(_c(c).eqNullSafe(F.col(f"__ref{j}")), 1).otherwise(0)).alias(f"e{j}")
        for j, c in enumerate(compared)
    ]
    try:
        row = merged.agg(*aggs).collect()[0]
    except _type_errors():
        raise InvalidInput(
            f"The key {key} has different types in the dataset and the reference, so they cannot be joined."
        ) from None
    rows = int(row["rows"])
    if rows == 0:
        return {"score": None, "reason": "no row of the dataset has its key in the reference"}
    per_column = {c: rows - int(row[f"e{j}"] or 0) for j, c in enumerate(compared)}
    return pd_adapter.mismatch_share(per_column, rows, key, n - rows)


def spark_version() -> str:
    with contextlib.suppress(Exception):
        import pyspark

        return f"spark {pyspark.__version__}"
    return "spark"


def on_session(session: SparkSession, control: Control | None, what: str, work: Any) -> Any:
    """`work(read)` on the shared session: its Spark jobs in one group cancelled with the call, each input
    `read(path)` cached for the call when small (as validation does), Spark errors as one sentence."""
    from mcp_server.core.errors import MlopsError
    from mcp_server.core.spark import cached, job_group, read_spark, spark_error

    with contextlib.ExitStack() as stack, job_group(session, control, what):

        def read(path: Any) -> DataFrame:
            return stack.enter_context(cached(read_spark(session, str(path)), str(path)))

        try:
            return work(read)
        except MlopsError:
            raise
        except Exception as exc:
            if control is not None and control.cancelled:
                raise
            raise spark_error(exc, what) from None
