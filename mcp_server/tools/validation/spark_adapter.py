"""Great Expectations on Spark: the same suites and integrity rules as adapter.py, run by GX's Spark
execution engine on a Spark DataFrame (for data that outgrows one process).

GX gets our session: a Spark data source's engine calls `SparkSession.builder.getOrCreate()`, which
returns the active session core/spark.py started (with the configured master). Runs go through an
ephemeral GX context (`mlops_spark` data source, a dataframe asset, a whole-dataframe batch definition);
suites stay in the file-backed store adapter.py manages, and their type checks are mapped to Spark's
names by `adapter.engine_specs`. Results come back in the same shape as on pandas (`adapter.convert`).

Like adapter.py, this module imports the heavy libraries (pyspark, GX) only inside functions.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput, LimitExceeded
from mcp_server.core.spark import job_group, spark_error, spark_uri
from mcp_server.tools.validation import adapter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mcp_server.core.blocking import StepControl

DATASOURCE = "mlops_spark"
MAX_REFERENCE_VALUES = 1_000_000
CACHE_MAX_BYTES = (
    64 * 1024**2
)  # files up to this size are cached in Spark for the run  # distinct values a foreign_key rule collects from its reference


def _on_disk_bytes(path: str) -> float:
    """Bytes of a local file or folder; unknown (infinite) for object stores."""
    if path.startswith(("s3://", "s3a://")):
        return math.inf
    p = Path(path)
    try:
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return math.inf


def spark_format(path: str) -> str:
    """The table format of a file or folder: its suffix decides; a folder without one is Parquet."""
    from mcp_server.core.tables import table_format

    if path.startswith(("s3://", "s3a://")):  # lake versions on S3 are Parquet folders
        return "parquet"
    p = Path(path)
    if p.is_dir() and not p.suffix:
        return "parquet"
    return table_format(p)


def read_spark(session: SparkSession, path: str) -> DataFrame:
    """A Spark DataFrame over a local file/folder or an s3a:// location (read lazily; no row limit)."""
    fmt = spark_format(path)
    uri = spark_uri(path)
    name = Path(path).name
    try:
        reader = session.read
        if fmt == "parquet":
            df = reader.parquet(uri)
        elif fmt in ("csv", "tsv"):
            df = reader.options(header=True, inferSchema=True, sep="," if fmt == "csv" else "\t").csv(uri)
        elif fmt == "jsonl":
            df = reader.json(uri)
        else:
            df = reader.option("multiLine", True).json(uri)
        columns = df.columns
    except Exception as exc:
        raise spark_error(exc, f"'{name}' as {fmt.upper()}") from None
    if not columns:
        raise InvalidInput(f"'{name}' has no columns.")
    return df


class SparkGx:
    """An ephemeral GX context whose Spark data source runs on the shared session; one run at a time."""

    def __init__(self) -> None:
        adapter.quiet_gx()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        adapter.quiet_gx()
        self._gx = gx
        self.lock = threading.RLock()
        with self.lock:
            self.context = gx.get_context(mode="ephemeral")
            self.context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            # persist=False: GX would cache every batch's DataFrame and never release it.
            source = self.context.data_sources.add_spark(DATASOURCE, persist=False)
            asset = source.add_dataframe_asset("dataframe")
            self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")

    def run(self, expectations: list[Any], df: DataFrame) -> tuple[Any, list[str]]:
        from great_expectations.core.expectation_suite import ExpectationSuite

        with self.lock:
            name = f"spark-{uuid.uuid4().hex}"
            suite = self.context.suites.add(ExpectationSuite(name=name, expectations=expectations))
            try:
                vd = self.context.validation_definitions.add(
                    self._gx.ValidationDefinition(name=name, data=self.batch_definition, suite=suite)
                )
                try:
                    result = vd.run(batch_parameters={"dataframe": df}, result_format=adapter.RESULT_FORMAT)
                    return result, [str(e.id) for e in suite.expectations]
                finally:
                    self.context.validation_definitions.delete(name)
            finally:
                self.context.suites.delete(name)


def run_job_spark(
    gx: SparkGx, session: SparkSession, job: adapter.Job, master: str, control: StepControl | None = None
) -> dict[str, Any]:
    """`adapter.run_job` on Spark: read, run the suite or the rules through GX's Spark engine, convert."""
    step = control.step if control is not None else (lambda *a: None)
    started = time.perf_counter()
    name = Path(job.path).name
    step(0, 4, "reading the dataset with Spark")
    with job_group(session, control, f"validation of {name}"):
        df = read_spark(session, job.path)
        labels: dict[int, tuple[str | None, str | None]] = {}
        if job.gx_name is not None:
            adapter._check_columns(
                df, adapter.referenced_columns(job.expectations), f"Suite '{job.gx_name}'", job.path
            )
            specs = adapter.engine_specs(job.expectations, "spark")
            frame = df
        else:
            frame, specs, labels = build_integrity_spark(df, session, job)
            specs = adapter.engine_specs(specs, "spark")
        expectations = adapter.build_expectations(specs)
        from pyspark import StorageLevel

        # GX runs one Spark job or more per expectation. Small data is decoded once and cached (the row
        # count fills the cache; released after the run); big data is read again by each job, as caching
        # it would need the executors' memory (a 1g local driver runs out at 20M rows x 10 columns).
        cached = _on_disk_bytes(job.path) <= CACHE_MAX_BYTES
        if cached:
            frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            step(1, 4, "reading the dataset into Spark's cache")
            rows = int(frame.count())
            step(2, 4, "validating with Great Expectations on Spark")
            result, ids = gx.run(expectations, frame)
        except (InvalidInput, LimitExceeded):
            raise
        except Exception as exc:
            if control is not None and control.cancelled:
                raise
            raise spark_error(exc, f"'{name}'") from None
        finally:
            if cached:
                with contextlib.suppress(Exception):
                    frame.unpersist()
    step(3, 4, "collecting results")
    outcomes = adapter.convert(result, ids, labels, job.include_samples)
    stats = result.statistics
    return {
        "success": bool(result.success),
        "row_count": rows,
        "evaluated": int(stats.get("evaluated_expectations", len(outcomes))),
        "successful": int(stats.get("successful_expectations", 0)),
        "failed": int(stats.get("unsuccessful_expectations", 0)),
        "outcomes": outcomes,
        "seconds": time.perf_counter() - started,
        "engine": f"spark {master}",
    }


# -- integrity rules on Spark: the pandas rules' semantics, derived columns built with Spark functions --


def build_integrity_spark(
    df: DataFrame, session: SparkSession, job: adapter.Job
) -> tuple[DataFrame, list[dict[str, Any]], dict[int, tuple[str | None, str | None]]]:
    """`adapter.build_integrity` for a Spark DataFrame: one GX expectation per rule; derived columns from
    an allowlist of Spark column operators, never from a string the caller wrote."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import NumericType

    derived: dict[str, Any] = {}
    specs: list[dict[str, Any]] = []
    labels: dict[int, tuple[str | None, str | None]] = {}
    names = set(df.columns)

    def need(cols: list[str], i: int) -> None:
        adapter._check_columns(df, cols, f"Rule {i}", job.path)

    def column_name(i: int) -> str:
        name = f"__rule_{i}__"
        while name in names:
            name = "_" + name
        return name

    for i, rule in enumerate(job.rules):
        kind = rule["kind"]
        if kind == "foreign_key":
            need([rule["column"]], i)
            ref_path = job.references[rule["reference"]]
            ref = read_spark(session, ref_path)
            adapter._check_columns(ref, [rule["reference_column"]], f"Rule {i}", ref_path)
            found = (
                ref.select(rule["reference_column"])
                .dropna()
                .distinct()
                .limit(MAX_REFERENCE_VALUES + 1)
                .collect()
            )
            if len(found) > MAX_REFERENCE_VALUES:
                raise LimitExceeded(
                    f"Rule {i}: the reference column has more than {MAX_REFERENCE_VALUES} distinct values; "
                    "check the key with a join instead."
                )
            values = adapter._plain([r[0] for r in found], items=10**9, strings=False)
            specs.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": rule["column"], "value_set": values},
                }
            )
            label = f"{rule['column']} in {Path(ref_path).name}.{rule['reference_column']}"
            labels[i] = (rule["column"], label)
        elif kind == "compare":
            a, op, b = rule["left"], rule["op"], rule["right"]
            need([a, b], i)
            specs.append(adapter.compare_spec(a, op, b))
            labels[i] = (f"{a}, {b}", f"{a} {op} {b}")
        elif kind == "sum_equals":
            cols, target, tol = list(rule["columns"]), rule["equals"], float(rule.get("tolerance") or 0.0)
            need([*cols, target], i)
            types = {f.name: f.dataType for f in df.schema.fields}
            numeric = [c for c in [*cols, target] if not isinstance(types[c], NumericType)]
            if numeric:
                raise InvalidInput(
                    f"Rule {i}: column(s) {numeric} are not numeric, so they cannot be summed."
                )
            name = column_name(i)
            total = F.col(cols[0])
            for c in cols[1:]:
                total = total + F.col(c)  # null when any part is null, as pandas' min_count does
            derived[name] = (total - F.col(target)).cast("double")
            specs.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": name, "min_value": -tol, "max_value": tol},
                }
            )
            labels[i] = (
                f"{' + '.join(cols)} - {target}",
                f"{' + '.join(cols)} == {target} (tolerance {tol:g})",
            )
        elif kind == "required_if":
            cond, target = rule["when"], rule["column"]
            need([cond["column"], target], i)
            mask = _condition(F, cond, i)
            name = column_name(i)
            # Null exactly where the condition holds and the target is null; the others a non-null filler.
            derived[name] = F.when(mask & F.col(target).isNull(), F.lit(None).cast("boolean")).otherwise(
                F.lit(True)
            )
            specs.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": name}})
            shown = (
                cond["op"] if cond["op"] in ("not_null", "is_null") else f"{cond['op']} {cond.get('value')!r}"
            )
            labels[i] = (target, f"{target} not null when {cond['column']} {shown}")
        elif kind == "expectation":
            spec = {"type": rule["type"], "kwargs": dict(rule.get("kwargs") or {})}
            if rule.get("meta"):
                spec["meta"] = rule["meta"]
            need(adapter.referenced_columns([spec]), i)
            specs.append(spec)
            labels[i] = (None, f"business rule {rule['type']}")
        else:  # pragma: no cover - the argument model allows only the kinds above
            raise InvalidInput(f"Rule {i}: unknown kind {adapter._show(kind)}.")
    frame = df.withColumns(derived) if derived else df
    return frame, specs, labels


def _condition(F: Any, cond: dict[str, Any], i: int) -> Any:
    """The rule's `when` as a Spark boolean column, null counted as false (pandas' fillna(False))."""
    col = F.col(cond["column"])
    op, value = cond["op"], cond.get("value")
    if op == "not_null":
        return col.isNotNull()
    if op == "is_null":
        return col.isNull()
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise InvalidInput(f"Rule {i}: 'when.value' must be a list for '{op}'.")
        member = F.coalesce(col.isin(value), F.lit(False))
        return ~member & col.isNotNull() if op == "not_in" else member
    if value is None or isinstance(value, dict | list):
        raise InvalidInput(f"Rule {i}: 'when.value' must be a number, string or boolean for '{op}'.")
    if op == "!=":  # pandas: a missing value differs from every value
        return col.isNull() | F.coalesce(col != F.lit(value), F.lit(True))
    compare = {
        "==": col == F.lit(value),
        ">": col > F.lit(value),
        ">=": col >= F.lit(value),
        "<": col < F.lit(value),
        "<=": col <= F.lit(value),
    }[op]
    return F.coalesce(compare, F.lit(False))
