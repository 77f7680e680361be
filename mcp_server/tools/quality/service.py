"""The quality use cases: profiles, dimension scores and their history, drift, reports, outliers, cleaning,
training-set filters and homogeneity checks.

Plain synchronous functions `fn(app, control, ...) -> result model`, called by the tools (through the
boundary's one thread hop), the workflow and tests alike. The computations are pandas/scipy/scikit-learn/
Pillow functions on a DataFrame (adapter.py) or Spark aggregations (spark_adapter.py); the validity
dimension runs a stored Great Expectations suite through the validation area's service. Profiles and
scores are stored in the metadata store; cleaned and filtered datasets get a lineage edge from their
source; reports are HTML pages from core/reports.py's templates.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput, NotFound
from mcp_server.core.files import write_json_atomic, write_text_atomic
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor, fit_page, paginate
from mcp_server.core.tables import TableLimits
from mcp_server.core.values import copied
from mcp_server.tools.quality import adapter
from mcp_server.tools.quality.models import (
    CleanResult,
    ColumnDrift,
    ColumnProfile,
    CompareResult,
    Condition,
    Dimension,
    FilterResult,
    HistoryItem,
    HistoryResult,
    HomogeneityResult,
    ImageSummary,
    OutlierColumn,
    OutlierResult,
    ProfileResult,
    ReportResult,
    ScoreBrief,
    ScoreResult,
    StepReport,
    TextColumnIssues,
)
from mcp_server.tools.validation import service as validation

if TYPE_CHECKING:
    import pandas as pd

    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import QualityScoreRecord

SCORED = ("completeness", "uniqueness", "validity", "consistency", "timeliness", "accuracy")


# -- shared plumbing ----------------------------------------------------------------------------


def _read(app: AppContext, path: Path) -> pd.DataFrame:
    from mcp_server.core.tables import read_table

    return read_table(path, TableLimits.of(app.settings))


def _engine_name() -> str:
    from importlib.metadata import version

    return f"pandas {version('pandas')}"


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 <= threshold <= 100:
        raise InvalidInput(f"threshold must be between 0 and 100 (a score), not {threshold:g}.")


def _output_path(app: AppContext, source: Path, output: str, overwrite: bool) -> Path:
    from mcp_server.core.tables import table_format

    target = app.workspace.resolve_output(output)
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


def _is_parquet(path: Path) -> bool:
    from mcp_server.core.spark import spark_format

    return bool(spark_format(str(path)) == "parquet")


def _on_spark(app: AppContext, control: Control, what: str, work: Callable[[Any], Any]) -> tuple[Any, str]:
    """`work(read)` on the shared Spark session (started on first use) and the engine's label, e.g.
    `spark 4.0.1 local[*]`."""
    from mcp_server.core.spark import spark_engine
    from mcp_server.core.store.redact import mask_url
    from mcp_server.tools.quality import spark_adapter

    engine = spark_engine(app)
    label = f"{spark_adapter.spark_version()} {mask_url(engine.master)}"[:64]
    return spark_adapter.on_session(engine.session(), control, what, work), label


def _dimensions(
    df: pd.DataFrame,
    key: list[str] | None,
    consistency: list[dict[str, Any]] | None,
    timestamp_column: str | None,
    max_age: str | None,
    as_of: datetime | None,
    reference: pd.DataFrame | None,
) -> dict[str, dict[str, Any]]:
    """Every dimension but validity, on one DataFrame."""
    used_key = key or adapter.detect_key(df)
    dims = {
        "completeness": adapter.completeness(df),
        "uniqueness": adapter.uniqueness(df, used_key),
        "consistency": adapter.consistency(df, consistency),
        "timeliness": adapter.timeliness(df, timestamp_column, max_age, as_of),
    }
    if reference is None:
        dims["accuracy"] = {"score": None, "reason": "no reference dataset given"}
    else:
        dims["accuracy"] = adapter.accuracy(df, reference, used_key)
    if used_key and not key and dims["uniqueness"].get("details"):
        dims["uniqueness"]["details"]["detected"] = True
    return dims


def _validity(
    app: AppContext, control: Control, path: Path, suite: str, engine: str
) -> tuple[dict[str, Any], str, str | None]:
    """The validity dimension from the suite run (and stored) by the validation area, the result's id
    and the suite version used."""
    report = validation.run_suite(app, control, path, suite, engine=engine)
    outcomes = [o.model_dump() for o in report.results]
    result: dict[str, Any] = adapter.validity_from_outcomes(outcomes, report.row_count)
    result.setdefault("details", {})
    if result["details"] is not None:
        result["details"].update(validation_id=report.lineage_id, suite=report.suite)
    return result, report.result_id, report.suite


def _score(
    app: AppContext,
    control: Control,
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
) -> tuple[QualityScoreRecord, dict[str, Any], pd.DataFrame | None]:
    """Compute, combine and store a score: the stored row, the combined dict and the pandas frame (None
    when Spark computed the score)."""
    if max_age is not None:
        adapter.parse_age(max_age)
    frame: pd.DataFrame | None
    if engine == "spark" and df is None:
        from mcp_server.tools.quality.spark_adapter import dimensions_spark

        def work(read: Any) -> Any:
            ref = read(reference) if reference is not None else None
            return dimensions_spark(read(path), key, consistency, timestamp_column, max_age, as_of, ref)

        (dims, row_count), label = _on_spark(app, control, f"the quality score of '{path.name}'", work)
        frame = None
    else:
        frame = df if df is not None else _read(app, path)
        ref = _read(app, reference) if reference is not None else None
        dims = _dimensions(frame, key, consistency, timestamp_column, max_age, as_of, ref)
        row_count, label = len(frame), _engine_name()
    validation_id = suite_ref = None
    if suite is None:
        dims["validity"] = {"score": None, "reason": "no suite given"}
    else:
        validity = _validity(app, control, path, suite, engine if df is None else "pandas")
        dims["validity"], validation_id, suite_ref = validity
    combined = adapter.combine(dims, weights, threshold)
    row = _store_score(app, path, row_count, combined, threshold, suite_ref, validation_id, weights, label)
    return row, combined, frame


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

    details = {"dimensions": combined["dimensions"], "left_out": combined["left_out"], "weights": weights}
    row = Row(
        id=uuid.uuid4().hex,
        dataset=dataset_ref(app.store, path, workspace=app.workspace),
        dataset_path=app.workspace.stored(path),
        path_key=validation.path_keys(app, path)[0],
        row_count=row_count,
        overall=combined["overall"],
        threshold=threshold,
        passed=combined["passed"],
        suite=suite_ref,
        validation_id=validation_id,
        details=json.dumps({**details, "engine": engine}, default=str),
        created_at=datetime.now(UTC),
        **{d["name"]: d["score"] for d in combined["dimensions"]},
    )
    with app.store.transaction() as session:
        session.add(row)
    return row


def _brief(row: QualityScoreRecord, combined: dict[str, Any]) -> ScoreBrief:
    return ScoreBrief(
        score_id=row.id,
        overall=combined["overall"],
        scores={d["name"]: d["score"] for d in combined["dimensions"]},
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _link(app: AppContext, source: Path, target: Path, kind: str, details: dict[str, Any]) -> str:
    """Record the lineage edge source -> target; the target's dataset id."""
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import record_edge

    up = dataset_ref(app.store, source, workspace=app.workspace)
    down = dataset_ref(app.store, target, workspace=app.workspace)
    if up != down:
        record_edge(app.store, up, down, kind, details)
    return down


# -- profile and score --------------------------------------------------------------------------


def profile(
    app: AppContext,
    control: Control,
    dataset: str,
    include_samples: bool = True,
    cursor: str | None = None,
    limit: int = 50,
    engine: str = "auto",
) -> ProfileResult:
    """Profile a dataset per column and store the profile (for later drift checks)."""
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.store.models import QualityProfileRecord as Row

    path = app.workspace.resolve(dataset, must_exist=True)
    offset = decode_cursor(cursor)
    if validation.choose_engine(app, engine, path) == "spark":
        from mcp_server.tools.quality.spark_adapter import profile_spark

        found, label = _on_spark(
            app,
            control,
            f"the profile of '{path.name}'",
            lambda read: profile_spark(read(path), nullable_ints=_is_parquet(path)),
        )
    else:
        found, label = adapter.profile_frame(_read(app, path)), _engine_name()
    dataset_id = dataset_ref(app.store, path, workspace=app.workspace)
    pid = uuid.uuid4().hex
    created = datetime.now(UTC)
    target = app.settings.home / "reports" / "quality" / "profiles" / f"{pid}.json"
    shown = app.workspace.display(path)
    write_json_atomic(target, {"dataset": shown, "dataset_id": dataset_id, **found})
    row = Row(
        id=pid,
        dataset=dataset_id,
        dataset_path=app.workspace.stored(path),
        path_key=validation.path_keys(app, path)[0],
        row_count=found["row_count"],
        column_count=found["column_count"],
        profile=json.dumps(found, allow_nan=False),
        engine=label,
        created_at=created,
    )
    try:
        with app.store.transaction() as session:
            session.add(row)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    shown_keys = set(ColumnProfile.model_fields)
    columns = []
    for c in found["columns"]:
        entry = {k: v for k, v in c.items() if k in shown_keys}
        if not include_samples:
            entry.update(top_values=None, min=None, max=None)
        columns.append(ColumnProfile(**entry))

    def build(n: int) -> ProfileResult:
        page = paginate(columns, encode_cursor(offset) if offset else None, n)
        return ProfileResult(
            profile_id=pid,
            dataset=shown,
            dataset_id=dataset_id,
            row_count=found["row_count"],
            column_count=found["column_count"],
            columns=page.items,
            columns_total=page.total,
            next_cursor=page.next_cursor,
            profile_uri=artifact_uri(app.settings.home, target),
            created_at=created,
        )

    return fit_page(build, limit, app.settings.max_output_bytes)


def score(
    app: AppContext,
    control: Control,
    dataset: str,
    suite: str | None = None,
    reference: str | None = None,
    key: list[str] | None = None,
    consistency_rules: list[dict[str, Any]] | None = None,
    timestamp_column: str | None = None,
    max_age: str | None = None,
    as_of: datetime | None = None,
    weights: dict[str, float] | None = None,
    threshold: float | None = None,
    engine: str = "auto",
) -> ScoreResult:
    """Score a dataset 0-100 on the six dimensions with a weighted overall, stored for history."""
    _check_threshold(threshold)
    adapter.check_weights(weights)
    path = app.workspace.resolve(dataset, must_exist=True)
    ref = app.workspace.resolve(reference, must_exist=True) if reference is not None else None
    if suite is not None:
        validation.parse_ref(suite)
    row, combined, _ = _score(
        app,
        control,
        path,
        engine=validation.choose_engine(app, engine, path),
        suite=suite,
        reference=ref,
        key=key,
        consistency=consistency_rules or None,
        timestamp_column=timestamp_column,
        max_age=max_age,
        as_of=as_of,
        weights=weights,
        threshold=threshold,
    )
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


def history(
    app: AppContext, control: Control, dataset: str, cursor: str | None = None, limit: int = 20
) -> HistoryResult:
    """Stored scores of a dataset (every version at that path), newest first, with the change and the trend."""
    from sqlalchemy import func, select

    from mcp_server.core.store.models import QualityScoreRecord as Row

    path = app.workspace.resolve(dataset)
    keys = validation.path_keys(app, path)
    offset = decode_cursor(cursor)
    stmt = select(Row).where(Row.path_key.in_(keys))
    newest = (Row.created_at.desc(), Row.id)
    with app.store.read_session() as session:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(session.scalars(stmt.order_by(*newest).offset(offset).limit(limit + 1)))
        latest = list(
            session.scalars(select(Row.overall).where(Row.path_key.in_(keys)).order_by(*newest).limit(2))
        )
        for r in rows:
            session.expunge(r)
    items = []
    for i, r in enumerate(rows[:limit]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        change = None
        if older is not None and r.overall is not None and older.overall is not None:
            change = round(r.overall - older.overall, 6)
        scores = {d: getattr(r, d) for d in SCORED}
        items.append(
            copied(HistoryItem, r, score_id=r.id, dataset_id=r.dataset, change=change, scores=scores)
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
        source = app.workspace.display(app.workspace.from_stored(row.dataset_path))
        return json.loads(row.profile), f"profile:{row.id} of {source}"


def compare(
    app: AppContext,
    control: Control,
    dataset: str,
    baseline: str,
    alpha: float = 0.05,
    psi_threshold: float = 0.2,
    cursor: str | None = None,
    limit: int = 50,
) -> CompareResult:
    """Drift of a dataset against a baseline dataset or a stored profile (`profile:<id>`)."""
    path = app.workspace.resolve(dataset, must_exist=True)
    pid = baseline.removeprefix("profile:")
    hex_id = len(pid) == 32 and all(c in "0123456789abcdef" for c in pid)
    is_profile = baseline.startswith("profile:") or (hex_id and not Path(baseline).suffix)
    if is_profile and not hex_id:
        raise InvalidInput(
            "A stored baseline is 'profile:<id>' with the 32-character id quality_profile returned."
        )
    base_path = None if is_profile else app.workspace.resolve(baseline, must_exist=True)
    offset = decode_cursor(cursor)
    current = _read(app, path)
    if base_path is not None:
        found = adapter.drift(current, _read(app, base_path), None, alpha, psi_threshold)
        label = app.workspace.display(base_path)
    else:
        stored, label = _load_profile(app, pid)
        found = adapter.drift(current, None, stored, alpha, psi_threshold)
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

    return fit_page(build, limit, app.settings.max_output_bytes)


# -- report -------------------------------------------------------------------------------------


def report(
    app: AppContext,
    control: Control,
    dataset: str,
    suite: str | None = None,
    key: list[str] | None = None,
    threshold: float | None = None,
) -> ReportResult:
    """Score a dataset and write an HTML report and a PNG chart under the home."""
    from mcp_server.core.reports import render

    _check_threshold(threshold)
    path = app.workspace.resolve(dataset, must_exist=True)
    if suite is not None:
        validation.parse_ref(suite)
    row, combined, frame = _score(app, control, path, suite=suite, key=key, threshold=threshold)
    assert frame is not None
    folder = app.settings.home / "reports" / "quality" / row.id
    display = app.workspace.display(path)
    chart = folder / "chart.png"
    adapter.render_chart(combined["dimensions"], frame, chart)
    meta = {
        "dataset": display,
        "dataset_id": row.dataset,
        "row_count": row.row_count,
        "overall": combined["overall"],
        "score_id": row.id,
        "created_at": row.created_at.isoformat(timespec="seconds"),
    }
    columns = adapter.profile_frame(frame)["columns"]
    page = folder / "report.html"
    html = render(
        "quality.html", meta=meta, dimensions=combined["dimensions"], columns=columns, chart=chart.name
    )
    write_text_atomic(page, html)
    lines = [f"**Quality of `{display}`**: overall {_fmt(combined['overall'])}"]
    if threshold is not None:
        lines[0] += f" ({'pass' if combined['passed'] else 'FAIL'} at {threshold:g})"
    lines += ["", "| dimension | score |", "|---|---|"]
    for d in combined["dimensions"]:
        why = "" if d["score"] is not None else f" ({d['reason']})"
        lines.append(f"| {d['name']} | {_fmt(d['score'])}{why} |")
    return ReportResult(
        dataset=display,
        score_id=row.id,
        overall=combined["overall"],
        summary="\n".join(lines),
        report_uri=artifact_uri(app.settings.home, page),
        chart_uri=artifact_uri(app.settings.home, chart),
    )


# -- outliers, cleaning, filtering ----------------------------------------------------------------


def detect_outliers(
    app: AppContext,
    control: Control,
    dataset: str,
    columns: list[str] | None = None,
    method: str = "iqr",
    threshold: float | None = None,
    include_samples: bool = True,
) -> OutlierResult:
    path = app.workspace.resolve(dataset, must_exist=True)
    found = adapter.detect_outliers(_read(app, path), columns, method, threshold, include_samples)
    return OutlierResult(
        dataset=app.workspace.display(path),
        method=method,  # type: ignore[arg-type]
        threshold=found["threshold"],
        row_count=found["row_count"],
        outlier_rows=found["outlier_rows"],
        columns=[OutlierColumn(**c) for c in found["columns"]],
        sample=found["sample"],
        method_note=found["method_note"],
    )


def clean(
    app: AppContext,
    control: Control,
    dataset: str,
    plan: dict[str, Any],
    output: str,
    suite: str | None = None,
    key: list[str] | None = None,
    overwrite: bool = False,
) -> CleanResult:
    """Clean a dataset by `plan` into `output` with lineage; the quality score before and after."""
    from mcp_server.core.tables import write_table

    path = app.workspace.resolve(dataset, must_exist=True)
    target = _output_path(app, path, output, overwrite)
    if suite is not None:  # an unknown suite is refused before anything is written
        validation.resolve_suite(app, suite)
    df = _read(app, path)
    cleaned, steps = adapter.clean_frame(df, plan)
    write_table(cleaned, target)
    control.step(1, 3, "scoring the dataset before and after")
    before_row, before, _ = _score(app, control, path, suite=suite, key=key, df=df)
    after_row, after, _ = _score(app, control, target, suite=suite, key=key, df=cleaned)
    details = {
        "tool": "quality_clean",
        "steps": [s["step"] for s in steps],
        "overall_before": before["overall"],
        "overall_after": after["overall"],
    }
    out_id = _link(app, path, target, "cleaned_into", details)
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
        shown = json.dumps(rule, default=str)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidInput(f"Rule {i} ({shown}) is not a valid [column, op, value] rule: {why}.") from None


def filter_dataset(
    app: AppContext,
    control: Control,
    dataset: str,
    rules: list[Any],
    output: str,
    dedupe: bool | list[str] = False,
    label: str | None = None,
    outliers: dict[str, Any] | None = None,
    max_row_null_fraction: float | None = None,
    overwrite: bool = False,
) -> FilterResult:
    """Keep the rows of a dataset where every `[column, op, value]` rule holds (core/conditions.py), and
    drop duplicates, unlabeled, outlier and mostly-null rows, into `output` with its rules beside it."""
    from mcp_server.core.tables import write_table

    path = app.workspace.resolve(dataset, must_exist=True)
    target = _output_path(app, path, output, overwrite)
    if not rules and not dedupe and label is None and outliers is None and max_row_null_fraction is None:
        raise InvalidInput(
            "Nothing to filter by; give rules, dedupe, label, outliers or max_row_null_fraction."
        )
    checked = [_rule(i, r) for i, r in enumerate(rules)]
    df = _read(app, path)
    kept, steps = adapter.filter_frame(df, checked, dedupe, label, outliers, max_row_null_fraction)
    write_table(kept, target)
    sidecar = target.with_name(target.name + ".rules.json")
    spec = {
        "source": app.workspace.display(path),
        "rules": [[r["column"], r["op"], r["value"]] for r in checked],
        "dedupe": dedupe,
        "label": label,
        "outliers": outliers,
        "max_row_null_fraction": max_row_null_fraction,
        "rows_before": len(df),
        "rows_after": len(kept),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(sidecar, spec)
    details = {
        "tool": "quality_filter_dataset",
        "rules_file": app.workspace.display(sidecar),
        "rows_kept": len(kept),
    }
    out_id = _link(app, path, target, "filtered_into", details)
    return FilterResult(
        dataset=app.workspace.display(path),
        output=app.workspace.display(target),
        output_id=out_id,
        rules_uri=app.workspace.display(sidecar),
        rows_before=len(df),
        rows_after=len(kept),
        steps=[StepReport(**s) for s in steps],
    )


# -- homogeneity --------------------------------------------------------------------------------

TEXT_ISSUES = (
    "encoding_errors",
    "non_nfc",
    "control_chars",
    "whitespace_padded",
    "repeated_whitespace",
    "case_variants",
    "mixed_script_values",
)


def check_homogeneity(
    app: AppContext,
    control: Control,
    dataset: str | None = None,
    folder: str | None = None,
    columns: list[str] | None = None,
    include_samples: bool = True,
) -> HomogeneityResult:
    """Text columns of a table (encodings, Unicode forms, ...) or a folder of images (formats, sizes, ...)."""
    if (dataset is None) == (folder is None):
        raise InvalidInput("Give either dataset (text columns) or folder (images), not both or neither.")
    s = app.settings
    if dataset is not None:
        path = app.workspace.resolve(dataset, must_exist=True)
        df, replaced = adapter.read_text_tolerant(path, TableLimits.of(s))
        issues = adapter.text_issues(df, columns, include_samples)
        fixes = adapter.text_fixes(issues)
        if replaced:
            fixes.insert(
                0,
                "The file is not valid UTF-8: undecodable bytes were read as U+FFFD; re-export it as UTF-8.",
            )
        return HomogeneityResult(
            target=app.workspace.display(path),
            kind="text",
            homogeneous=not replaced and not any(c[k] for c in issues for k in TEXT_ISSUES),
            text_columns=[TextColumnIssues(**c) for c in issues],
            fixes=fixes or ["Nothing to fix."],
        )
    assert folder is not None
    root = app.workspace.resolve(folder, must_exist=True)
    if not root.is_dir():
        raise InvalidInput(f"'{app.workspace.display(root)}' is not a folder; give a folder of images.")

    def inside(p: Path) -> bool:
        return any(p == r or p.is_relative_to(r) for r in app.workspace.allowed)

    summary: dict[str, Any] = adapter.image_issues(root, inside, s.quality_max_images)
    if summary["images"] == 0:
        raise InvalidInput(
            f"No image files (.png, .jpg, .jpeg, .gif, .bmp, .tif, .tiff, .webp) in '{app.workspace.display(root)}'."
        )
    fixes = adapter.image_fixes(summary)
    if not include_samples:
        summary["unreadable_examples"] = []
    return HomogeneityResult(
        target=app.workspace.display(root),
        kind="images",
        homogeneous=not fixes,
        images=ImageSummary(**summary),
        fixes=fixes or ["Nothing to fix."],
    )
