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

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import InvalidInput, LimitExceeded, MlopsError
from mcp_server.core.spark import cached, job_group, read_spark, spark_error
from mcp_server.core.values import plain
from mcp_server.tools.validation import adapter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mcp_server.core.boundary import Control

DATASOURCE = "mlops_spark"
MAX_REFERENCE_VALUES = 1_000_000  # distinct values a foreign_key rule collects from its reference


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

    def run(
        self, expectations: list[Any], df: DataFrame, check: Callable[[], None] | None = None
    ) -> tuple[list[Any], list[str]]:
        from great_expectations.core.expectation_suite import ExpectationSuite

        with self.lock:
            name = f"spark-{uuid.uuid4().hex}"
            # Added to the (in-memory) store only so that each expectation gets the id results map back by.
            suite = self.context.suites.add(ExpectationSuite(name=name, expectations=expectations))
            try:
                return adapter.validate(self.batch_definition, df, suite, check), [
                    str(e.id) for e in suite.expectations
                ]
            finally:
                self.context.suites.delete(name)


def run_job_spark(
    gx: SparkGx, session: SparkSession, job: adapter.Job, master: str, control: Control | None = None
) -> dict[str, Any]:
    """`adapter.run_job` on Spark: read, run the suite or the rules through GX's Spark engine, convert."""
    step = control.step if control is not None else adapter._no_step
    started = time.perf_counter()
    name = Path(job.path).name
    step(0, 4, "reading the dataset with Spark")
    with job_group(session, control, f"validation of {name}"):
        df = read_spark(session, job.path)
        labels: dict[int, tuple[str | None, str | None]] = {}
        if job.gx_name is not None:
            adapter.check_columns(
                df, adapter.referenced_columns(job.expectations), f"Suite '{job.gx_name}'", job.path
            )
            specs = adapter.engine_specs(job.expectations, "spark")
            frame = df
        else:
            frame, specs, labels = adapter.integrity(SparkRules(df, job, session))
            specs = adapter.engine_specs(specs, "spark")
        expectations = adapter.build_expectations(specs)
        # GX runs one Spark job or more per expectation. Small data is decoded once and cached (the row
        # count fills the cache; released after the run); big data is read again by each job, as caching
        # it would need the executors' memory (a 1g local driver runs out at 20M rows x 10 columns).
        with cached(frame, job.path) as frame:
            try:
                step(1, 4, "reading the dataset into Spark's cache")
                rows = int(frame.count())
                step(2, 4, "validating with Great Expectations on Spark")
                results, ids = gx.run(expectations, frame, control.check if control else None)
            except MlopsError:  # ours (a refused input, a limit, a late call's check): as it is
                raise
            except Exception as exc:
                if control is not None and control.cancelled:
                    raise
                raise spark_error(exc, f"'{name}'") from None
    step(3, 4, "collecting results")
    return adapter.summary(results, ids, labels, job.include_samples, rows, started, f"spark {master}")


# -- integrity rules on Spark: the pandas rules' semantics, derived columns built with Spark functions --


class SparkRules(adapter.Rules):
    """`adapter.PandasRules` for a Spark DataFrame."""

    def __init__(self, df: DataFrame, job: adapter.Job, session: SparkSession) -> None:
        super().__init__(df, job)
        self.session = session

    def reference_values(self, path: str, column: str, i: int) -> list[Any]:
        ref = read_spark(self.session, path)
        adapter.check_columns(ref, [column], f"Rule {i}", path)
        found = ref.select(column).dropna().distinct().limit(MAX_REFERENCE_VALUES + 1).collect()
        if len(found) > MAX_REFERENCE_VALUES:
            raise LimitExceeded(
                f"Rule {i}: the reference column has more than {MAX_REFERENCE_VALUES} distinct values; "
                "check the key with a join instead."
            )
        return list(plain([r[0] for r in found], chars=None, items=10**9))

    def difference(self, columns: list[str], target: str, i: int) -> Any:
        from pyspark.sql import functions as F
        from pyspark.sql.types import NumericType

        types = {f.name: f.dataType for f in self.df.schema.fields}
        numeric = [c for c in [*columns, target] if not isinstance(types[c], NumericType)]
        if numeric:
            raise InvalidInput(f"Rule {i}: column(s) {numeric} are not numeric, so they cannot be summed.")
        total = F.col(columns[0])
        for c in columns[1:]:
            total = total + F.col(c)  # null when any part is null, as pandas' min_count does
        return (total - F.col(target)).cast("double")

    def required(self, target: str, cond: dict[str, Any], i: int) -> Any:
        from pyspark.sql import functions as F

        holds = condition(self.df, cond["column"], cond["op"], cond.get("value"), f"Rule {i}")
        return F.when(holds & _missing(self.df, target), F.lit(None).cast("boolean")).otherwise(F.lit(True))

    def frame(self) -> DataFrame:
        return self.df.withColumns(self.derived) if self.derived else self.df


def _missing(df: DataFrame, column: str) -> Any:
    """Null, or NaN in a float column: missing, as pandas (and core/conditions.py) count it."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    col = F.col(column)
    dtype = {f.name: f.dataType for f in df.schema.fields}[column]
    return (col.isNull() | F.isnan(col)) if isinstance(dtype, DoubleType | FloatType) else col.isNull()


def condition(df: DataFrame, column: str, op: str, value: Any, where: str) -> Any:
    """`core.conditions.mask` as a Spark boolean column, with its null semantics: a comparison with a null
    (or NaN) is false; `not_in` is false for a null; only `is_null` holds for one."""
    from pyspark.sql import functions as F

    col, missing = F.col(column), _missing(df, column)
    if op == "is_null":
        return missing
    present = ~missing
    if op == "not_null":
        return present
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise InvalidInput(f"{where}: the value must be a list for '{op}'.")
        member = F.coalesce(col.isin(value), F.lit(False)) & present
        return (~member & present) if op == "not_in" else member
    if value is None or isinstance(value, dict | list):
        raise InvalidInput(f"{where}: the value must be a number, string or boolean for '{op}'.")
    compare = {
        "==": col == F.lit(value),
        "!=": col != F.lit(value),
        ">": col > F.lit(value),
        ">=": col >= F.lit(value),
        "<": col < F.lit(value),
        "<=": col <= F.lit(value),
    }[op]
    return F.coalesce(compare, F.lit(False)) & present
