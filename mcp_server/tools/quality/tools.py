"""The quality tools: profiles, dimension scores and their history, drift, reports, outliers, cleaning,
training-set filters and homogeneity checks.

The computations are pandas/scipy/scikit-learn/Pillow functions on a DataFrame (adapter.py, imported
inside the calls); the validity dimension runs a stored Great Expectations suite through the validation
area. Profiles and scores are stored in the metadata store; cleaned and filtered datasets get a lineage
edge from their source.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context
from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor, paginate
from mcp_server.tools.quality.models import (
    CleanPlan,
    CleanResult,
    ColumnDrift,
    ColumnProfile,
    CompareResult,
    Condition,
    ConsistencyRule,
    Dimension,
    FilterResult,
    HistoryItem,
    HistoryResult,
    HomogeneityResult,
    ImageSummary,
    OutlierColumn,
    OutlierFilter,
    OutlierMethod,
    OutlierResult,
    ProfileResult,
    ReportResult,
    ScoreBrief,
    ScoreResult,
    StepReport,
    TextColumnIssues,
)

if TYPE_CHECKING:
    import pandas as pd

    from mcp_server.core.store.models import QualityScoreRecord

DatasetArg = Annotated[
    str, Field(description="CSV, TSV, Parquet, JSON or JSON Lines file inside the allowed roots.")
]
SuiteArg = Annotated[
    str | None,
    Field(None, max_length=140, description="GX suite ('name' or 'name@N') for the validity dimension."),
]
KeyArg = Annotated[
    list[str] | None,
    Field(
        None,
        max_length=20,
        description="Key column(s) for uniqueness and the accuracy join (default: an id-like column if any).",
    ),
]
OutputArg = Annotated[
    str,
    Field(
        description="Path of the new dataset inside the roots; .parquet (default when no suffix), .csv, .jsonl."
    ),
]
OverwriteArg = Annotated[bool, Field(description="Replace `output` if it exists.")]
SamplesArg = Annotated[
    bool, Field(description="Include a few data values; set false to keep data out of the result.")
]
CursorArg = Annotated[str | None, Field(None, description="next_cursor of the previous page.")]
EngineArg = Annotated[
    Literal["pandas", "spark", "auto"],
    Field(
        description="Where it runs: pandas (in this process), spark (the configured Spark master) or auto "
        "(Spark above the configured size when Spark is configured)."
    ),
]
PAGE_BUDGET = 0.8


# -- shared plumbing ----------------------------------------------------------------------------


def _adapter() -> Any:
    from mcp_server.tools.quality import adapter

    return adapter


def _path_key(path: Path) -> str:
    return hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()


def _deadline(app: AppContext) -> float:
    return app.settings.deadline_s


def _budget(app: AppContext) -> int:
    return int(app.settings.max_output_bytes * PAGE_BUDGET)


def _fit(build: Any, limit: int, budget: int) -> Any:
    while True:
        model = build(limit)
        if limit <= 1 or len(model.model_dump_json()) <= budget:
            return model
        limit = max(1, limit // 2)


def _read(app: AppContext, path: Path) -> pd.DataFrame:
    from mcp_server.core.tables import read_table

    return read_table(path, max_rows=app.settings.max_rows, max_bytes=app.settings.max_file_bytes)


def _engine_name() -> str:
    from importlib.metadata import version

    return f"pandas {version('pandas')}"


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 <= threshold <= 100:
        raise InvalidInput(f"threshold must be between 0 and 100 (a score), not {threshold:g}.")


def _output_path(app: AppContext, source: Path, output: str, overwrite: bool) -> Path:
    from mcp_server.core.tables import table_format

    target = app.workspace.resolve(output)
    if not target.suffix:
        target = target.with_name(target.name + ".parquet")
    table_format(target)
    if target == source:
        raise InvalidInput("output is the input file; write the result to a new path.")
    if target.is_dir():
        raise InvalidInput(f"output '{app.workspace.display(target)}' is a folder; give a file path.")
    if target.exists() and not overwrite:
        raise Conflict(
            f"'{app.workspace.display(target)}' already exists; choose another output or pass overwrite=true."
        )
    return target


def _validity(record: Any) -> dict[str, Any]:
    outcomes = json.loads(record.results)
    result: dict[str, Any] = _adapter().validity_from_outcomes(outcomes, int(record.row_count))
    result.setdefault("details", {})
    if result["details"] is not None:
        result["details"]["validation_id"] = f"validation:{record.id}"
        result["details"]["suite"] = f"{record.suite_name}@{record.suite_version}"
    return result


async def _run_suite(ctx: Ctx, app: AppContext, path: Path, suite: str, engine: str = "pandas") -> Any:
    try:
        from mcp_server.tools.validation.tools import run_suite
    except ImportError:  # pragma: no cover - the validation area ships with this one
        return None
    return await run_suite(ctx, app, path, suite, engine=engine)


def _is_parquet(path: Path) -> bool:
    from mcp_server.tools.validation.spark_adapter import spark_format

    return bool(spark_format(str(path)) == "parquet")


async def _choose_engine(app: AppContext, engine: str, path: Path) -> str:
    """pandas or spark for this dataset: the validation area's rule (core/spark.py's thresholds)."""
    if engine == "pandas":
        return "pandas"
    from mcp_server.tools.validation.tools import choose_engine

    return await choose_engine(app, engine, path)


def _spark(app: AppContext) -> tuple[Any, Any]:
    """The shared Spark session (started on first use) and its engine label, e.g. `spark 4.0.1 local[*]`."""
    from mcp_server.core.spark import spark_engine
    from mcp_server.core.store.redact import mask_url
    from mcp_server.tools.quality.spark_adapter import spark_version

    engine = spark_engine(app)
    return engine.session(), f"{spark_version()} {mask_url(engine.master)}"[:64]


def _on_spark(app: AppContext, what: str, work: Any, control: Any) -> Any:
    """Run `work(session, read)` on the shared session, its jobs cancelled with the call, Spark errors
    turned into one sentence."""
    import contextlib

    from mcp_server.core.errors import MlopsError
    from mcp_server.core.spark import job_group, spark_error
    from mcp_server.tools.validation.spark_adapter import CACHE_MAX_BYTES, _on_disk_bytes, read_spark

    session, label = _spark(app)
    cached: list[Any] = []

    def read(p: Path) -> Any:
        # Several Spark jobs read the data: small files are decoded once and cached for this call (as
        # validation does); big ones are read again by each job rather than held in executor memory.
        df = read_spark(session, str(p))
        if _on_disk_bytes(str(p)) <= CACHE_MAX_BYTES:
            from pyspark import StorageLevel

            df = df.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(df)
        return df

    with job_group(session, control, what):
        try:
            return work(session, read), label
        except MlopsError:
            raise
        except Exception as exc:
            if control is not None and control.cancelled:
                raise
            raise spark_error(exc, what) from None
        finally:
            for df in cached:
                with contextlib.suppress(Exception):
                    df.unpersist()


def _dimensions(
    df: pd.DataFrame,
    key: list[str] | None,
    consistency: list[dict[str, Any]] | None,
    timestamp_column: str | None,
    max_age: str | None,
    as_of: datetime | None,
    reference: pd.DataFrame | None,
) -> dict[str, dict[str, Any]]:
    """Every dimension but validity, on one DataFrame (the seam where another engine can slot in)."""
    a = _adapter()
    used_key = key or a.detect_key(df)
    dims = {
        "completeness": a.completeness(df),
        "uniqueness": a.uniqueness(df, used_key),
        "consistency": a.consistency(df, consistency),
        "timeliness": a.timeliness(df, timestamp_column, max_age, as_of),
    }
    if reference is None:
        dims["accuracy"] = {"score": None, "reason": "no reference dataset given"}
    else:
        dims["accuracy"] = a.accuracy(df, reference, used_key)
    if used_key and not key and dims["uniqueness"].get("details"):
        dims["uniqueness"]["details"]["detected"] = True
    return dims


def _store_score(
    app: AppContext,
    path: Path,
    row_count: int,
    combined: dict[str, Any],
    threshold: float | None,
    suite_ref: str | None,
    validation_id: str | None,
    weights: dict[str, float] | None,
    engine: str | None = None,
) -> QualityScoreRecord:
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.store.models import QualityScoreRecord as Row

    dataset_id = dataset_ref(app.store, path)
    scores = {d["name"]: d["score"] for d in combined["dimensions"]}
    row = Row(
        id=uuid.uuid4().hex,
        dataset=dataset_id,
        dataset_path=str(path),
        path_key=_path_key(path),
        row_count=row_count,
        overall=combined["overall"],
        threshold=threshold,
        passed=combined["passed"],
        suite=suite_ref,
        validation_id=validation_id,
        details=json.dumps(
            {
                "dimensions": combined["dimensions"],
                "left_out": combined["left_out"],
                "weights": weights,
                "engine": engine,
            },
            default=str,
        ),
        created_at=datetime.now(UTC),
        **scores,
    )
    with app.store.transaction() as session:
        session.add(row)
    return row


async def _score(
    ctx: Ctx,
    app: AppContext,
    path: Path,
    *,
    suite: str | None = None,
    reference: Path | None = None,
    key: list[str] | None = None,
    consistency: list[dict[str, Any]] | None = None,
    timestamp_column: str | None = None,
    max_age: str | None = None,
    as_of: datetime | None = None,
    weights: dict[str, float] | None = None,
    threshold: float | None = None,
    df: pd.DataFrame | None = None,
    engine: str = "pandas",
) -> tuple[QualityScoreRecord, dict[str, Any], Any]:
    """Compute, combine and store a score; returns the stored row, the combined dict and the frame
    (the pandas DataFrame; None when Spark computed the score)."""
    a = _adapter()
    if max_age is not None:
        a.parse_age(max_age)

    def compute() -> tuple[dict[str, dict[str, Any]], pd.DataFrame, int, str]:
        frame = df if df is not None else _read(app, path)
        ref = _read(app, reference) if reference is not None else None
        dims = _dimensions(frame, key, consistency, timestamp_column, max_age, as_of, ref)
        return dims, frame, len(frame), _engine_name()

    def compute_spark(control: Any) -> tuple[dict[str, dict[str, Any]], None, int, str]:
        from mcp_server.tools.quality.spark_adapter import dimensions_spark

        def work(session: Any, read: Any) -> tuple[dict[str, dict[str, Any]], int]:
            ref = read(reference) if reference is not None else None
            return dimensions_spark(  # type: ignore[no-any-return]
                read(path), key, consistency, timestamp_column, max_age, as_of, ref
            )

        (dims, rows), label = _on_spark(app, f"the quality score of '{path.name}'", work, control)
        return dims, None, rows, label

    if engine == "spark" and df is None:
        dims, frame, row_count, engine_label = await run_blocking(
            compute_spark, deadline_s=_deadline(app), with_control=True
        )
    else:
        dims, frame, row_count, engine_label = await run_blocking(compute, deadline_s=_deadline(app))
    validation_id = suite_ref = None
    if suite is None:
        dims["validity"] = {"score": None, "reason": "no suite given"}
    else:
        record = await _run_suite(ctx, app, path, suite, engine if df is None else "pandas")
        if record is None:
            dims["validity"] = {"score": None, "reason": "the validation area is not available"}
        else:
            dims["validity"] = _validity(record)
            validation_id, suite_ref = record.id, f"{record.suite_name}@{record.suite_version}"
    combined = a.combine(dims, weights, threshold)
    row = await run_blocking(
        _store_score,
        app,
        path,
        row_count,
        combined,
        threshold,
        suite_ref,
        validation_id,
        weights,
        engine_label,
        deadline_s=_deadline(app),
    )
    return row, combined, frame


def _score_result(
    app: AppContext, path: Path, row: QualityScoreRecord, combined: dict[str, Any]
) -> ScoreResult:
    return ScoreResult(
        score_id=row.id,
        dataset=app.workspace.display(path),
        dataset_id=row.dataset,
        row_count=row.row_count,
        overall=combined["overall"],
        threshold=row.threshold,
        passed=combined["passed"],
        dimensions=[Dimension(**d) for d in combined["dimensions"]],
        left_out=combined["left_out"],
        validation_id=f"validation:{row.validation_id}" if row.validation_id else None,
        created_at=row.created_at,
    )


def _brief(row: QualityScoreRecord, combined: dict[str, Any]) -> ScoreBrief:
    return ScoreBrief(
        score_id=row.id,
        overall=combined["overall"],
        scores={d["name"]: d["score"] for d in combined["dimensions"]},
    )


# -- profile and score --------------------------------------------------------------------------


async def quality_profile(
    ctx: Ctx,
    dataset: DatasetArg,
    include_samples: SamplesArg = True,
    cursor: CursorArg = None,
    limit: Annotated[int, Field(50, ge=1, le=500, description="Columns per page.")] = 50,
    engine: EngineArg = "auto",
) -> ProfileResult:
    """Profile a dataset per column (type, nulls, distinct, min/max/mean/std/quantiles, top values) and store it for later drift checks."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)
    offset = decode_cursor(cursor)
    chosen = await _choose_engine(app, engine, path)

    def work(control: Any) -> tuple[dict[str, Any], str, Path, str, datetime]:
        from mcp_server.core.datasets import dataset_ref
        from mcp_server.core.store.models import QualityProfileRecord as Row

        if chosen == "spark":
            from mcp_server.tools.quality.spark_adapter import profile_spark

            profile, engine_label = _on_spark(
                app,
                f"the profile of '{path.name}'",
                lambda _s, read: profile_spark(read(path), nullable_ints=_is_parquet(path)),
                control,
            )
        else:
            profile, engine_label = _adapter().profile_frame(_read(app, path)), _engine_name()
        dataset_id = dataset_ref(app.store, path)
        pid = uuid.uuid4().hex
        created = datetime.now(UTC)
        target = app.settings.home / "reports" / "quality" / "profiles" / f"{pid}.json"
        stored = {"dataset": app.workspace.display(path), "dataset_id": dataset_id, **profile}
        _adapter().write_json_atomic(target, stored)
        row = Row(
            id=pid,
            dataset=dataset_id,
            dataset_path=str(path),
            path_key=_path_key(path),
            row_count=profile["row_count"],
            column_count=profile["column_count"],
            profile=json.dumps(profile, allow_nan=False),
            engine=engine_label,
            created_at=created,
        )
        try:
            with app.store.transaction() as session:
                session.add(row)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return profile, pid, target, dataset_id, created

    profile, pid, target, dataset_id, created = await run_blocking(
        work, deadline_s=_deadline(app), with_control=True
    )
    shown_keys = set(ColumnProfile.model_fields)
    columns = []
    for c in profile["columns"]:
        entry = {k: v for k, v in c.items() if k in shown_keys}
        if not include_samples:
            entry.update(top_values=None, min=None, max=None)
        columns.append(ColumnProfile(**entry))

    def build(n: int) -> ProfileResult:
        page = paginate(columns, encode_cursor(offset) if offset else None, n)
        return ProfileResult(
            profile_id=pid,
            dataset=app.workspace.display(path),
            dataset_id=dataset_id,
            row_count=profile["row_count"],
            column_count=profile["column_count"],
            columns=page.items,
            columns_total=page.total,
            next_cursor=page.next_cursor,
            profile_uri=artifact_uri(app.settings.home, target),
            created_at=created,
        )

    return _fit(build, limit, _budget(app))  # type: ignore[no-any-return]


async def quality_score(
    ctx: Ctx,
    dataset: DatasetArg,
    suite: SuiteArg = None,
    reference: Annotated[
        str | None,
        Field(None, description="Trusted dataset to compare cells with (accuracy), joined on the key."),
    ] = None,
    key: KeyArg = None,
    consistency_rules: Annotated[
        list[ConsistencyRule] | None,
        Field(
            None,
            max_length=100,
            description="Cross-field rules {left, op, right}: right is a column name or a value, e.g. {left: 'start', op: '<=', right: 'end'}.",
        ),
    ] = None,
    timestamp_column: Annotated[
        str | None, Field(None, description="Column with each row's time (timeliness).")
    ] = None,
    max_age: Annotated[
        str | None,
        Field(None, max_length=40, description="Rows older than this are stale, e.g. '30d', '12h', 'P7D'."),
    ] = None,
    as_of: Annotated[
        datetime | None, Field(None, description="Reference time for max_age (default: now, UTC).")
    ] = None,
    weights: Annotated[
        dict[str, float] | None,
        Field(
            None,
            description="Dimension -> weight in the overall (default 1 each); renormalized over computed ones.",
        ),
    ] = None,
    threshold: Annotated[
        float | None, Field(None, description="Pass when overall >= threshold (0-100).")
    ] = None,
    engine: EngineArg = "auto",
) -> ScoreResult:
    """Score a dataset 0-100 on completeness, uniqueness, validity (GX suite), consistency, timeliness and accuracy, with a weighted overall; stored for quality_history."""
    app = app_context(ctx)
    _check_threshold(threshold)
    _adapter().check_weights(weights)
    path = app.workspace.resolve(dataset, must_exist=True)
    ref = app.workspace.resolve(reference, must_exist=True) if reference is not None else None
    if suite is not None:
        from mcp_server.tools.validation.adapter import parse_ref

        parse_ref(suite)
    chosen = await _choose_engine(app, engine, path)
    row, combined, _ = await _score(
        ctx,
        app,
        path,
        engine=chosen,
        suite=suite,
        reference=ref,
        key=key,
        consistency=[r.model_dump() for r in consistency_rules] if consistency_rules else None,
        timestamp_column=timestamp_column,
        max_age=max_age,
        as_of=as_of,
        weights=weights,
        threshold=threshold,
    )
    return _score_result(app, path, row, combined)


async def quality_history(
    ctx: Ctx,
    dataset: DatasetArg,
    cursor: CursorArg = None,
    limit: Annotated[int, Field(20, ge=1, le=200, description="Scores per page, newest first.")] = 20,
) -> HistoryResult:
    """Stored quality scores of a dataset (every version at that path), newest first, with the change and the trend."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset)
    key = _path_key(path)
    offset = decode_cursor(cursor)

    def query() -> tuple[list[QualityScoreRecord], int, list[float | None]]:
        from sqlalchemy import func, select

        from mcp_server.core.store.models import QualityScoreRecord as Row

        stmt = select(Row).where(Row.path_key == key)
        with app.store.read_session() as session:
            total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = list(
                session.scalars(stmt.order_by(Row.created_at.desc(), Row.id).offset(offset).limit(limit + 1))
            )
            latest = list(
                session.scalars(
                    select(Row.overall)
                    .where(Row.path_key == key)
                    .order_by(Row.created_at.desc(), Row.id)
                    .limit(2)
                )
            )
            for r in rows:
                session.expunge(r)
        return rows, total, latest

    rows, total, latest = await run_blocking(query, deadline_s=_deadline(app))
    items = []
    for i, r in enumerate(rows[:limit]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        change = None
        if older is not None and r.overall is not None and older.overall is not None:
            change = round(r.overall - older.overall, 6)
        items.append(
            HistoryItem(
                score_id=r.id,
                dataset_id=r.dataset,
                overall=r.overall,
                change=change,
                passed=r.passed,
                threshold=r.threshold,
                scores={
                    d: getattr(r, d)
                    for d in (
                        "completeness",
                        "uniqueness",
                        "validity",
                        "consistency",
                        "timeliness",
                        "accuracy",
                    )
                },
                created_at=r.created_at,
            )
        )
    if total == 0:
        trend = "none"
    elif total == 1 or len(latest) < 2 or None in latest:
        trend = "single" if total == 1 else "stable"
    else:
        delta = float(latest[0]) - float(latest[1])  # type: ignore[arg-type]
        trend = "improving" if delta > 0.01 else "worsening" if delta < -0.01 else "stable"
    more = offset + len(items) < total
    return HistoryResult(
        dataset=app.workspace.display(path),
        items=items,
        total=total,
        trend=trend,  # type: ignore[arg-type]
        next_cursor=encode_cursor(offset + len(items)) if more else None,
    )


# -- drift --------------------------------------------------------------------------------------


def _load_profile(app: AppContext, pid: str) -> tuple[dict[str, Any], str]:
    from mcp_server.core.store.models import QualityProfileRecord as Row

    with app.store.read_session() as session:
        row = session.get(Row, pid)
        if row is None:
            raise NotFound(f"No stored profile '{pid}'; run quality_profile on the baseline first.")
        return json.loads(row.profile), f"profile:{row.id} of {app.workspace.display(Path(row.dataset_path))}"


async def quality_compare(
    ctx: Ctx,
    dataset: DatasetArg,
    baseline: Annotated[
        str,
        Field(description="Baseline: a dataset path, or 'profile:<id>' (a profile_id from quality_profile)."),
    ],
    alpha: Annotated[
        float, Field(0.05, gt=0, lt=1, description="Significance level of the KS and chi-square tests.")
    ] = 0.05,
    psi_threshold: Annotated[
        float, Field(0.2, gt=0, description="A PSI at or above this also counts as drift.")
    ] = 0.2,
    cursor: CursorArg = None,
    limit: Annotated[int, Field(50, ge=1, le=500, description="Columns per page (drifted first).")] = 50,
) -> CompareResult:
    """Drift of a new batch against a baseline dataset or stored profile: KS (numeric), chi-square (categorical) and PSI per column, drifted first."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)
    pid = baseline.removeprefix("profile:")
    is_profile = baseline.startswith("profile:") or (
        len(pid) == 32 and all(c in "0123456789abcdef" for c in pid) and not Path(baseline).suffix
    )
    if is_profile and not (len(pid) == 32 and all(c in "0123456789abcdef" for c in pid)):
        raise InvalidInput(
            "A stored baseline is 'profile:<id>' with the 32-character id quality_profile returned."
        )
    base_path = None if is_profile else app.workspace.resolve(baseline, must_exist=True)
    offset = decode_cursor(cursor)

    def work() -> tuple[dict[str, Any], str]:
        current = _read(app, path)
        if base_path is not None:
            return _adapter().drift(
                current, _read(app, base_path), None, alpha, psi_threshold
            ), app.workspace.display(base_path)
        profile, label = _load_profile(app, pid)
        return _adapter().drift(current, None, profile, alpha, psi_threshold), label

    found, label = await run_blocking(work, deadline_s=_deadline(app))
    columns = [ColumnDrift(**c) for c in found["columns"]]
    methods = [
        "numeric columns (more than 20 distinct numbers): Kolmogorov-Smirnov, two-sample against a dataset "
        "(scipy ks_2samp) or one-sample against a stored profile's CDF (101 percentiles, linear between)",
        "categorical columns: chi-square test of homogeneity on the value counts (scipy chi2_contingency)",
        f"PSI = sum((cur - base) x ln(cur / base)) over the baseline's deciles (numeric) or categories, "
        f"shares floored at {1e-4:g}",
        f"drifted: p-value < {alpha:g} or PSI >= {psi_threshold:g}",
    ]

    def build(n: int) -> CompareResult:
        page = paginate(columns, encode_cursor(offset) if offset else None, n)
        return CompareResult(
            dataset=app.workspace.display(path),
            baseline=label,
            baseline_kind="profile" if base_path is None else "dataset",
            alpha=alpha,
            psi_threshold=psi_threshold,
            drifted_columns=[c.column for c in columns if c.drifted][:200],
            columns=page.items,
            columns_total=page.total,
            next_cursor=page.next_cursor,
            missing_in_current=found["missing_in_current"][:200],
            new_in_current=found["new_in_current"][:200],
            methods=methods,
        )

    return _fit(build, limit, _budget(app))  # type: ignore[no-any-return]


# -- report -------------------------------------------------------------------------------------


async def quality_report(
    ctx: Ctx,
    dataset: DatasetArg,
    suite: SuiteArg = None,
    key: KeyArg = None,
    threshold: Annotated[
        float | None, Field(None, description="Pass when overall >= threshold (0-100).")
    ] = None,
) -> ReportResult:
    """Write an HTML quality report and a PNG chart (dimension scores, null pattern) as resources, with a short Markdown summary."""
    app = app_context(ctx)
    _check_threshold(threshold)
    path = app.workspace.resolve(dataset, must_exist=True)
    if suite is not None:
        from mcp_server.tools.validation.adapter import parse_ref

        parse_ref(suite)
    row, combined, frame = await _score(ctx, app, path, suite=suite, key=key, threshold=threshold)
    folder = app.settings.home / "reports" / "quality" / row.id
    display = app.workspace.display(path)

    def render() -> tuple[Path, Path]:
        a = _adapter()
        profile = a.profile_frame(frame)
        chart = folder / "chart.png"
        a.render_chart(combined["dimensions"], frame, chart)
        meta = {
            "dataset": display,
            "dataset_id": row.dataset,
            "row_count": row.row_count,
            "overall": combined["overall"],
            "score_id": row.id,
            "created_at": row.created_at.isoformat(timespec="seconds"),
        }
        page = folder / "report.html"
        a.write_text_atomic(page, a.render_html(meta, combined["dimensions"], profile, chart.name))
        return page, chart

    page, chart = await run_blocking(render, deadline_s=_deadline(app))
    lines = [f"**Quality of `{display}`**: overall {_fmt(combined['overall'])}"]
    if threshold is not None:
        lines[0] += f" ({'pass' if combined['passed'] else 'FAIL'} at {threshold:g})"
    lines.append("")
    lines.append("| dimension | score |")
    lines.append("|---|---|")
    for d in combined["dimensions"]:
        lines.append(
            f"| {d['name']} | {_fmt(d['score'])}{'' if d['score'] is not None else ' (' + str(d['reason']) + ')'} |"
        )
    return ReportResult(
        dataset=display,
        score_id=row.id,
        overall=combined["overall"],
        summary="\n".join(lines),
        report_uri=artifact_uri(app.settings.home, page),
        chart_uri=artifact_uri(app.settings.home, chart),
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


# -- outliers, cleaning, filtering ----------------------------------------------------------------


async def quality_detect_outliers(
    ctx: Ctx,
    dataset: DatasetArg,
    columns: Annotated[
        list[str] | None, Field(None, max_length=1000, description="Numeric columns (default: all numeric).")
    ] = None,
    method: Annotated[
        OutlierMethod, Field(description="iqr, zscore, mad (per column) or isolation_forest (together).")
    ] = "iqr",
    threshold: Annotated[
        float | None,
        Field(
            None,
            gt=0,
            description="k for IQR (1.5), |z| (3), modified z for MAD (3.5), contamination for isolation_forest.",
        ),
    ] = None,
    include_samples: SamplesArg = True,
) -> OutlierResult:
    """Find outliers by IQR, z-score, MAD or IsolationForest: counts per column, the thresholds used, a few sample rows."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)

    def work() -> dict[str, Any]:
        found: dict[str, Any] = _adapter().detect_outliers(
            _read(app, path), columns, method, threshold, include_samples
        )
        found.pop("mask", None)
        return found

    found = await run_blocking(work, deadline_s=_deadline(app))
    return OutlierResult(
        dataset=app.workspace.display(path),
        method=method,
        threshold=found["threshold"],
        row_count=found["row_count"],
        outlier_rows=found["outlier_rows"],
        columns=[OutlierColumn(**c) for c in found["columns"]],
        sample=found["sample"],
        method_note=found["method_note"],
    )


def _write_output(app: AppContext, df: pd.DataFrame, target: Path) -> None:
    from mcp_server.core.tables import write_table

    write_table(df, target)


def _link(app: AppContext, source: Path, target: Path, kind: str, details: dict[str, Any]) -> tuple[str, str]:
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import record_edge

    up = dataset_ref(app.store, source)
    down = dataset_ref(app.store, target)
    if up != down:
        record_edge(app.store, up, down, kind, details)
    return up, down


async def quality_clean(
    ctx: Ctx,
    dataset: DatasetArg,
    plan: Annotated[
        CleanPlan,
        Field(
            description=(
                "Steps, applied in this order: coerce {column: int|float|string|bool|datetime|category}; strings "
                "{columns, strip, collapse_whitespace, case, unicode_form, remove_control}; duplicates {subset, keep}; "
                "outliers {columns, method: iqr|zscore|mad, action: clip|drop, threshold}; missing [{strategy: "
                "drop|mean|median|mode|constant|ffill, columns, value, order_by}]."
            )
        ),
    ],
    output: OutputArg,
    suite: SuiteArg = None,
    key: KeyArg = None,
    overwrite: OverwriteArg = False,
) -> CleanResult:
    """Clean a dataset (missing values, outliers, duplicates, types, strings) into a new dataset with lineage, returning the quality score before and after."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)
    target = _output_path(app, path, output, overwrite)
    if suite is not None:  # an unknown suite is refused before anything is written
        from mcp_server.tools.validation.tools import gx_engine

        engine = await gx_engine(app)
        await run_blocking(engine.resolve, suite, deadline_s=_deadline(app))
    plan_dict = plan.model_dump(exclude_none=True)

    def work() -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
        df = _read(app, path)
        cleaned, steps = _adapter().clean_frame(df, plan_dict)
        _write_output(app, cleaned, target)
        return df, cleaned, steps

    df, cleaned, steps = await run_blocking(work, deadline_s=_deadline(app))
    before_row, before, _ = await _score(ctx, app, path, suite=suite, key=key, df=df)
    after_row, after, _ = await _score(ctx, app, target, suite=suite, key=key, df=cleaned)
    details = {
        "tool": "quality_clean",
        "steps": [s["step"] for s in steps],
        "overall_before": before["overall"],
        "overall_after": after["overall"],
    }
    _, out_id = await run_blocking(
        _link, app, path, target, "cleaned_into", details, deadline_s=_deadline(app)
    )
    improved = (
        before["overall"] is not None
        and after["overall"] is not None
        and after["overall"] > before["overall"]
    )
    return CleanResult(
        dataset=app.workspace.display(path),
        output=app.workspace.display(target),
        output_id=out_id,
        rows_before=len(df),
        rows_after=len(cleaned),
        steps=[StepReport(**s) for s in steps],
        before=_brief(before_row, before),
        after=_brief(after_row, after),
        improved=improved,
    )


def _rule(i: int, rule: Any) -> dict[str, Any]:
    """A `[column, op, value]` triple (or its object form) checked against the operator allowlist."""
    from pydantic import ValidationError

    if isinstance(rule, Condition):
        return rule.model_dump()
    try:
        return Condition.model_validate(rule).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        field = str(first.get("loc", ("rule",))[0])
        if field == "op":
            why = "op must be one of ==, !=, >, >=, <, <=, in, not_in, between, is_null, not_null"
        else:
            why = f"{field}: {first.get('msg', 'is not valid')}"
        raise InvalidInput(
            f"Rule {i} ({_show(rule)}) is not a valid [column, op, value] rule: {why}."
        ) from None


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


async def quality_filter_dataset(
    ctx: Ctx,
    dataset: DatasetArg,
    rules: Annotated[
        list[Annotated[list[Any], Field(min_length=2, max_length=3)] | Condition],
        Field(
            max_length=100,
            description=(
                "Rows to keep: [column, op, value] with op in ==, !=, >, >=, <, <=, in, not_in, between, is_null, "
                "not_null (e.g. ['age', '>=', 18]); all must hold."
            ),
        ),
    ],
    output: OutputArg,
    dedupe: Annotated[
        bool | list[str],
        Field(description="Drop duplicate rows (true) or rows duplicating these key columns."),
    ] = False,
    label: Annotated[
        str | None, Field(None, description="Label column: rows without a label are dropped.")
    ] = None,
    outliers: Annotated[
        OutlierFilter | None, Field(None, description="Drop outlier rows: {columns, method, threshold}.")
    ] = None,
    max_row_null_fraction: Annotated[
        float | None, Field(None, ge=0, le=1, description="Drop rows with a larger share of null cells.")
    ] = None,
    overwrite: OverwriteArg = False,
) -> FilterResult:
    """Filter a training set by [column, op, value] rules, dedupe, label presence, outlier and null flags into a new dataset; rules are stored beside it and linked in lineage."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)
    target = _output_path(app, path, output, overwrite)
    if not rules and not dedupe and label is None and outliers is None and max_row_null_fraction is None:
        raise InvalidInput(
            "Nothing to filter by; give rules, dedupe, label, outliers or max_row_null_fraction."
        )
    plain_rules = [_rule(i, r) for i, r in enumerate(rules)]
    spec = {
        "source": app.workspace.display(path),
        "rules": [[r["column"], r["op"], r["value"]] for r in plain_rules],
        "dedupe": dedupe,
        "label": label,
        "outliers": outliers.model_dump() if outliers else None,
        "max_row_null_fraction": max_row_null_fraction,
    }
    sidecar = target.with_name(target.name + ".rules.json")

    def work() -> tuple[int, int, list[dict[str, Any]]]:
        df = _read(app, path)
        kept, steps = _adapter().filter_frame(
            df, plain_rules, dedupe, label, outliers.model_dump() if outliers else None, max_row_null_fraction
        )
        _write_output(app, kept, target)
        spec["rows_before"], spec["rows_after"] = len(df), len(kept)
        spec["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        _adapter().write_json_atomic(sidecar, spec)
        return len(df), len(kept), steps

    before, after, steps = await run_blocking(work, deadline_s=_deadline(app))
    details = {
        "tool": "quality_filter_dataset",
        "rules_file": app.workspace.display(sidecar),
        "rows_kept": after,
    }
    _, out_id = await run_blocking(
        _link, app, path, target, "filtered_into", details, deadline_s=_deadline(app)
    )
    return FilterResult(
        dataset=app.workspace.display(path),
        output=app.workspace.display(target),
        output_id=out_id,
        rules_uri=app.workspace.display(sidecar),
        rows_before=before,
        rows_after=after,
        steps=[StepReport(**s) for s in steps],
    )


# -- homogeneity --------------------------------------------------------------------------------


async def quality_check_homogeneity(
    ctx: Ctx,
    dataset: Annotated[str | None, Field(None, description="A table whose text columns are checked.")] = None,
    folder: Annotated[str | None, Field(None, description="A folder of images checked with Pillow.")] = None,
    columns: Annotated[
        list[str] | None,
        Field(None, max_length=1000, description="Text columns to check (default: all text)."),
    ] = None,
    include_samples: SamplesArg = True,
) -> HomogeneityResult:
    """Check text columns (encoding errors, Unicode forms, control chars, case, whitespace, mixed scripts) or an image folder (unreadable, formats, modes, sizes) with fixes."""
    app = app_context(ctx)
    if (dataset is None) == (folder is None):
        raise InvalidInput("Give either dataset (text columns) or folder (images), not both or neither.")
    a = _adapter()
    if dataset is not None:
        path = app.workspace.resolve(dataset, must_exist=True)

        def text_work() -> tuple[list[dict[str, Any]], bool]:
            df, replaced = a.read_text_tolerant(path, app.settings.max_rows, app.settings.max_file_bytes)
            return a.text_issues(df, columns, include_samples), replaced

        issues, replaced = await run_blocking(text_work, deadline_s=_deadline(app))
        fixes = a.text_fixes(issues)
        if replaced:
            fixes.insert(
                0,
                "The file is not valid UTF-8: undecodable bytes were read as U+FFFD; re-export it as UTF-8.",
            )
        bad_keys = (
            "encoding_errors",
            "non_nfc",
            "control_chars",
            "whitespace_padded",
            "repeated_whitespace",
            "case_variants",
            "mixed_script_values",
        )
        homogeneous = not replaced and not any(c[k] for c in issues for k in bad_keys)
        return HomogeneityResult(
            target=app.workspace.display(path),
            kind="text",
            homogeneous=homogeneous,
            text_columns=[TextColumnIssues(**c) for c in issues],
            fixes=fixes or ["Nothing to fix."],
        )
    assert folder is not None
    root = app.workspace.resolve(folder, must_exist=True)
    if not root.is_dir():
        raise InvalidInput(f"'{app.workspace.display(root)}' is not a folder; give a folder of images.")

    def inside(p: Path) -> bool:
        return any(p == r or p.is_relative_to(r) for r in app.workspace.allowed)

    def image_work() -> dict[str, Any]:
        summary: dict[str, Any] = a.image_issues(root, inside, app.settings.quality_max_images)
        return summary

    summary = await run_blocking(image_work, deadline_s=_deadline(app))
    if summary["images"] == 0:
        raise InvalidInput(
            f"No image files (.png, .jpg, .jpeg, .gif, .bmp, .tif, .tiff, .webp) in '{app.workspace.display(root)}'."
        )
    fixes = a.image_fixes(summary)
    if not include_samples:
        summary["unreadable_examples"] = []
    return HomogeneityResult(
        target=app.workspace.display(root),
        kind="images",
        homogeneous=not fixes,
        images=ImageSummary(**summary),
        fixes=fixes or ["Nothing to fix."],
    )
