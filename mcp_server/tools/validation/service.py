"""The validation use cases: Great Expectations suites (versioned), runs, stored results, integrity checks.

Plain synchronous functions `fn(app, control, ...) -> result model`, called by the tools (through the
boundary's one thread hop), by other areas' services (quality's validity dimension, features_validate),
the workflow and the CLI alike. Every expectation is a GX expectation and every run goes through GX
(adapter.py, spark_adapter.py). Runs that hold a caller's pattern (a regex, a JSON schema) go to a worker
process killed at the call's deadline (`control.run_killable`); the others run in this thread with progress.
Results live in the metadata store with lineage dataset -> validation:<id>, and an HTML report under
<home>/reports/validation/ (core/reports.py).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from mcp_server.core.boundary import Control
from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.files import write_json_atomic, write_text_atomic
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor, fit_page, paginate
from mcp_server.core.tables import TableLimits
from mcp_server.core.values import copied
from mcp_server.core.workspace import check_name
from mcp_server.tools.validation import adapter
from mcp_server.tools.validation.models import (
    ExpectationOut,
    ExpectationOutcome,
    ResultList,
    ResultSummary,
    SuggestedExpectation,
    SuggestedSuite,
    SuiteDeleted,
    SuiteDetail,
    SuiteList,
    SuiteSaved,
    SuiteSummary,
    ValidationReport,
)

if TYPE_CHECKING:
    import pandas as pd

    from mcp_server.core.blocking import WorkerPool
    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import ValidationResultRecord

LAKE_PREFIX = "lake:"
OUTCOMES = TypeAdapter(list[ExpectationOutcome])


# -- shared plumbing ----------------------------------------------------------------------------


def gx_engine(app: AppContext) -> adapter.GxEngine:
    """The process-wide GX engine on <home>/gx (built once: importing GX takes seconds)."""
    home = app.settings.home
    return app.client("gx", lambda: adapter.GxEngine(home))  # type: ignore[no-any-return]


def parse_ref(ref: str) -> tuple[str, int | None]:
    """`name` -> (name, None) for the latest version; `name@N` -> (name, N); anything else is refused."""
    return adapter.parse_ref(ref)


def resolve_suite(app: AppContext, ref: str) -> adapter.SuiteVersion:
    """The suite version `ref` names (NotFound when there is none)."""
    return gx_engine(app).resolve(ref)


def referenced_columns(expectations: list[dict[str, Any]]) -> list[str]:
    """The columns a suite's expectations name (for callers that check them against their own data)."""
    return adapter.referenced_columns(expectations)


def choose_engine(app: AppContext, requested: str, path: Path) -> str:
    """pandas, duckdb or spark for this dataset (core/spark.py decides Spark's share, duckdb_adapter DuckDB's;
    the size is read only for auto)."""
    from mcp_server.core.spark import choose_engine as choose
    from mcp_server.core.spark import table_size
    from mcp_server.tools.validation import duckdb_adapter

    settings = app.settings
    if requested == "duckdb":
        duckdb_adapter.check_usable(path)
        return "duckdb"
    if requested != "auto":
        return choose(settings, requested, None, 0)
    rows, size = table_size(path)
    chosen = choose(settings, requested, rows, size)
    if chosen == "pandas" and duckdb_adapter.auto_fits(settings, path, rows, size):
        return "duckdb"
    return chosen


def path_keys(app: AppContext, path: Path) -> list[str]:
    """The lookup keys of a dataset's stored rows: its stored (relative) form, and the absolute form
    rows written before paths were stored relative used."""
    forms = dict.fromkeys((app.workspace.stored(path), str(path)))
    return [hashlib.sha256(f.encode("utf-8", "surrogateescape")).hexdigest() for f in forms]


def _used_up_to(app: AppContext, name: str) -> int:
    """The highest version of `name` any stored result used (kept even after that version is deleted)."""
    from sqlalchemy import func, select

    from mcp_server.core.store.models import ValidationResultRecord as Row

    with app.store.read_session() as session:
        value = session.scalar(select(func.max(Row.suite_version)).where(Row.suite_name == name))
    return int(value or 0)


def _saved(sv: adapter.SuiteVersion) -> SuiteSaved:
    return SuiteSaved(
        name=sv.name,
        version=sv.version,
        ref=sv.ref,
        lineage_id=f"suite:{sv.ref}",
        expectation_count=len(sv.expectations),
        created_at=sv.created_at or datetime.now(UTC),
    )


# -- suites -------------------------------------------------------------------------------------


def create_suite(
    app: AppContext,
    control: Control,
    name: str,
    expectations: list[dict[str, Any]],
    description: str | None = None,
) -> SuiteSaved:
    """Save `expectations` (GX serialized form) as the next version of suite `name`."""
    check_name(name, "suite name")
    return _saved(gx_engine(app).create_suite(name, expectations, description, _used_up_to(app, name)))


def suggest_suite(
    app: AppContext,
    control: Control,
    dataset: str,
    name: str,
    save: bool = False,
    max_categories: int = 20,
    include_samples: bool = True,
) -> SuggestedSuite:
    """Profile a dataset and propose a suite (written as JSON under the home; saved only with `save`)."""
    path = app.workspace.resolve(dataset, must_exist=True)
    check_name(name, "suite name")
    settings = app.settings
    df = adapter.read(str(path), TableLimits.of(settings))
    control.step(1, 3, "profiling the dataset")
    specs = adapter.suggest(df, max_categories)
    adapter.build_expectations(specs)  # every proposal is a valid GX expectation
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = settings.home / "reports" / "validation" / "suggestions"
    target = folder / f"{name}-{stamp}-{uuid.uuid4().hex[:6]}.json"
    shown = app.workspace.display(path)
    write_json_atomic(target, {"name": name, "dataset": shown, "expectations": specs})
    saved = None
    if save:
        control.step(2, 3, "saving the suite")
        engine = gx_engine(app)
        saved = _saved(
            engine.create_suite(name, specs, f"suggested from {path.name}", _used_up_to(app, name))
        )
    items = [
        SuggestedExpectation(
            type=s["type"],
            column=adapter.column_of(s["kwargs"]),
            kwargs=s["kwargs"] if include_samples else None,
        )
        for s in specs
    ]

    def build(n: int) -> SuggestedSuite:
        return SuggestedSuite(
            dataset=shown,
            row_count=len(df),
            column_count=df.shape[1],
            expectation_count=len(specs),
            expectations=items[:n],
            truncated=n < len(items),
            suite_uri=artifact_uri(settings.home, target),
            saved=saved,
        )

    return fit_page(build, len(items), app.settings.max_output_bytes)


def list_suites(app: AppContext, control: Control, cursor: str | None = None, limit: int = 50) -> SuiteList:
    summaries = [
        SuiteSummary(
            name=s.name,
            latest_version=s.version,
            versions=s.versions,
            expectation_count=len(s.expectations),
            created_at=s.created_at,
            description=s.description,
        )
        for s in gx_engine(app).list_suites()
    ]
    page = paginate(summaries, cursor, limit)
    return SuiteList(items=page.items, total=page.total, next_cursor=page.next_cursor)


def get_suite(
    app: AppContext, control: Control, suite: str, cursor: str | None = None, limit: int = 50
) -> SuiteDetail:
    parse_ref(suite)
    sv = resolve_suite(app, suite)
    expectations = [ExpectationOut(index=i, **e) for i, e in enumerate(sv.expectations)]
    offset = decode_cursor(cursor)

    def build(n: int) -> SuiteDetail:
        page = paginate(expectations, encode_cursor(offset) if offset else None, n)
        return copied(
            SuiteDetail,
            sv,
            expectation_count=len(expectations),
            expectations=page.items,
            next_cursor=page.next_cursor,
            gx_suite_name=sv.gx_name,
        )

    return fit_page(build, limit, app.settings.max_output_bytes)


def delete_suite(app: AppContext, control: Control, suite: str) -> SuiteDeleted:
    parse_ref(suite)
    name, deleted, remaining = gx_engine(app).delete(suite)
    return SuiteDeleted(name=name, deleted_versions=deleted, remaining_versions=remaining)


# -- runs ---------------------------------------------------------------------------------------


def _job(app: AppContext, path: Path, include_samples: bool, **kwargs: Any) -> adapter.Job:
    s = app.settings
    return adapter.Job(
        home=str(s.home),
        path=str(path),
        limits=TableLimits.of(s),
        include_samples=include_samples,
        **kwargs,
    )


def _execute(
    app: AppContext, control: Control, job: adapter.Job, chosen: str, frame: pd.DataFrame | None
) -> tuple[dict[str, Any], bool]:
    """Run the job where it belongs: Spark; DuckDB (its pandas part back here); a killable worker (a
    caller's pattern); or this thread."""
    if chosen == "duckdb":
        return _execute_duckdb(app, control, job)
    if chosen == "spark":  # regexes run in Spark's JVM; the deadline cancels its jobs
        from mcp_server.core.spark import spark_engine
        from mcp_server.tools.validation import spark_adapter

        spark = spark_engine(app)
        # The session first: GX's Spark data source (built by SparkGx) calls getOrCreate, which would
        # otherwise start pyspark's default session (local[*], none of our settings) and ours would reuse it.
        session = spark.session()
        gx = app.client("gx-spark", spark_adapter.SparkGx)
        return spark_adapter.run_job_spark(gx, session, job, spark.master, control), False
    if adapter.has_regex([*job.expectations, *job.rules]):
        return control.run_killable(
            adapter.run_job_isolated,
            job,
            cause="a regular expression in it may backtrack catastrophically",
            pool=workers(app),
        ), True
    return adapter.run_job(gx_engine(app), job, control, frame), False


def _execute_duckdb(app: AppContext, control: Control, job: adapter.Job) -> tuple[dict[str, Any], bool]:
    """GX's SQL engine on a DuckDB view of the file (duckdb_adapter); what must run on pandas goes through
    `_execute` as a pandas job (a killable worker when it holds a caller's regex)."""
    from mcp_server.tools.validation import duckdb_adapter

    isolated = False

    def on_pandas(part: adapter.Job) -> dict[str, Any]:
        nonlocal isolated
        raw, isolated = _execute(app, control, part, "pandas", None)
        return raw

    gx = app.client("gx-duckdb", duckdb_adapter.DuckGx)
    return duckdb_adapter.run_job_duckdb(gx, job, app.settings, control, on_pandas), isolated


def workers(app: AppContext) -> WorkerPool:
    """The warm validation workers (MLOPS_MCP_VALIDATION_WORKERS, default 1): GX imported once per worker,
    its engine kept; started on the first suite that needs one (or at server start, ON_START)."""
    from mcp_server.core.blocking import WorkerPool

    return app.client(  # type: ignore[no-any-return]
        "validation-workers", lambda: WorkerPool(app.settings.validation_workers, adapter.warm_worker)
    )


def _validate(
    app: AppContext,
    control: Control,
    path: Path,
    job: adapter.Job,
    chosen: str,
    *,
    suite: adapter.SuiteVersion | None = None,
    references: list[Path] | None = None,
    dataset_id: str | None = None,
    frame: pd.DataFrame | None = None,
    limit: int | None = None,
) -> ValidationReport:
    """Run the job, store its result (the outcomes become models once), return the report."""
    started = time.perf_counter()
    raw, isolated = _execute(app, control, job, chosen, frame)
    outcomes = [ExpectationOutcome(**o) for o in raw["outcomes"]]
    kind = "suite" if suite is not None else "integrity"
    seconds = time.perf_counter() - started
    row = _record(app, path, raw, outcomes, kind, suite, references or [], seconds, dataset_id)
    return report_of(app, row, outcomes, None, limit, isolated)


def _engine_label(raw: dict[str, Any]) -> str:
    """What a stored result says ran it: the GX version and the engine (`pandas`, `spark <master>`)."""
    from mcp_server.core.store.redact import mask_url

    return f"{adapter.gx_version()} {mask_url(str(raw.get('engine') or 'pandas'))}"[:64]


def _record(
    app: AppContext,
    path: Path,
    raw: dict[str, Any],
    outcomes: list[ExpectationOutcome],
    kind: str,
    suite: adapter.SuiteVersion | None,
    references: list[Path],
    seconds: float,
    dataset_id: str | None = None,
) -> ValidationResultRecord:
    """Store the result and its lineage in one transaction, after writing the HTML report.

    `dataset_id` is given for data that is not a workspace file (a lake version: its catalog identifier)."""
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import make_id, record_edge
    from mcp_server.core.reports import render
    from mcp_server.core.store.models import ValidationResultRecord as Row

    dataset_id = dataset_id or dataset_ref(app.store, path, workspace=app.workspace)
    reference_ids = [dataset_ref(app.store, ref, workspace=app.workspace) for ref in references]
    result_id = uuid.uuid4().hex
    created = datetime.now(UTC)
    engine_name = _engine_label(raw)
    report = app.settings.home / "reports" / "validation" / f"{result_id}.html"
    meta = {
        "result_id": result_id,
        "dataset": app.workspace.display(path),
        "suite": suite.ref if suite else None,
        "success": raw["success"],
        "row_count": raw["row_count"],
        "evaluated": raw["evaluated"],
        "failed": raw["failed"],
        "engine": engine_name,
        "created_at": created.isoformat(timespec="seconds"),
    }
    write_text_atomic(report, render("validation.html", meta=meta, outcomes=outcomes))
    row = Row(
        id=result_id,
        kind=kind,
        dataset=dataset_id,
        dataset_path=app.workspace.stored(path),
        path_key=path_keys(app, path)[0],
        suite_name=suite.name if suite else None,
        suite_version=suite.version if suite else None,
        success=raw["success"],
        row_count=raw["row_count"],
        evaluated=raw["evaluated"],
        successful=raw["successful"],
        failed=raw["failed"],
        results=json.dumps(raw["outcomes"], default=str),
        report_path=report.relative_to(app.settings.home).as_posix(),
        engine=engine_name,
        duration_ms=seconds * 1000,
        created_at=created,
    )
    downstream = make_id("validation", result_id)
    details = {"success": raw["success"], "failed": raw["failed"], "suite": suite.ref if suite else None}
    try:
        with app.store.transaction() as session:
            session.add(row)
            record_edge(app.store, dataset_id, downstream, "validated_by", details, session=session)
            if suite is not None:
                suite_id = make_id("suite", suite.name, suite.version)
                record_edge(app.store, suite_id, downstream, "validated_with", None, session=session)
            for ref_id in reference_ids:
                if ref_id != dataset_id:
                    record_edge(app.store, ref_id, downstream, "referenced_by", None, session=session)
    except BaseException:
        report.unlink(missing_ok=True)
        raise
    return row


def report_of(
    app: AppContext,
    row: ValidationResultRecord,
    outcomes: list[ExpectationOutcome],
    cursor: str | None = None,
    limit: int | None = None,
    isolated: bool = False,
) -> ValidationReport:
    """A stored result as the tools return it: a page of `limit` outcomes that fits the output cap, or
    every outcome when `limit` is None (for other services)."""
    offset = decode_cursor(cursor)
    home = app.settings.home
    report_uri = None
    if row.report_path and (home / row.report_path).is_file():
        report_uri = artifact_uri(home, home / row.report_path)

    def build(n: int | None) -> ValidationReport:
        page = paginate(outcomes, encode_cursor(offset) if offset else None, n) if n else None
        return ValidationReport(
            result_id=row.id,
            lineage_id=f"validation:{row.id}",
            kind=row.kind,  # type: ignore[arg-type]
            dataset=app.workspace.display(app.workspace.from_stored(row.dataset_path)),
            dataset_id=row.dataset,
            suite=f"{row.suite_name}@{row.suite_version}" if row.suite_name else None,
            success=row.success,
            row_count=row.row_count,
            evaluated=row.evaluated,
            successful=row.successful,
            failed=row.failed,
            results=page.items if page else outcomes,
            results_total=len(outcomes),
            next_cursor=page.next_cursor if page else None,
            report_uri=report_uri,
            isolated=isolated,
            engine=row.engine,
            duration_s=round(row.duration_ms / 1000, 3),
            created_at=row.created_at,
        )

    return build(None) if limit is None else fit_page(build, limit, app.settings.max_output_bytes)


def lake_dataset(app: AppContext, control: Control, ref: str) -> tuple[Path, str]:
    """`lake:<name>[@<version>]` -> (the version's location, its lineage identifier); Parquet versions only."""
    from mcp_server.tools.lake import service as lake

    name, _, number = ref.removeprefix(LAKE_PREFIX).partition("@")
    if number and not number.isdigit():
        raise InvalidInput("A lake dataset is 'lake:<name>' (newest version) or 'lake:<name>@<version>'.")
    found = lake.find_version(app, control, name, int(number) if number else None)
    if found.format != "parquet" or not found.identifier:
        raise InvalidInput(
            f"Lake dataset '{name}' v{found.version} is not Parquet; validate its source file."
        )
    return Path(found.location), found.identifier


def run(
    app: AppContext,
    control: Control,
    dataset: str,
    suite: str,
    include_samples: bool = True,
    limit: int = 50,
    engine: str = "auto",
) -> ValidationReport:
    """Validate a dataset (a file inside the roots, or `lake:<name>[@<version>]` on Spark) against a saved suite."""
    parse_ref(suite)
    lake_id = None
    if dataset.startswith(LAKE_PREFIX):  # a lake version: read where it lives, on Spark
        if engine in ("pandas", "duckdb"):
            raise InvalidInput("Lake datasets are validated on Spark; use engine=spark or auto.")
        path, lake_id = lake_dataset(app, control, dataset)
        chosen = choose_engine(app, "spark", path)
    else:
        path = app.workspace.resolve(dataset, must_exist=True)
        chosen = choose_engine(app, engine, path)
    return run_suite(
        app,
        control,
        path,
        suite,
        include_samples=include_samples,
        engine=chosen,
        limit=limit,
        dataset_id=lake_id,
    )


def run_suite(
    app: AppContext,
    control: Control,
    path: Path,
    suite: str | adapter.SuiteVersion,
    *,
    include_samples: bool = False,
    engine: str = "pandas",
    frame: pd.DataFrame | None = None,
    limit: int | None = None,
    dataset_id: str | None = None,
) -> ValidationReport:
    """Run a stored suite on a resolved dataset path and store the result, as validation_run does.

    For other areas (quality's validity dimension, features_validate): same GX path, same stored result
    and lineage (dataset -> validation:<id>). `engine` is the one the caller chose (`pandas`, `spark`);
    `frame` is the dataset already read (pandas; a suite with a regex still reads `path` in its worker).
    Every outcome comes back when `limit` is None; `dataset_id` names data that is not a workspace file.
    """
    sv = resolve_suite(app, suite) if isinstance(suite, str) else suite
    adapter.check_stored(sv)
    job = _job(app, path, include_samples, gx_name=sv.gx_name, expectations=sv.expectations)
    return _validate(
        app, control, path, job, engine, suite=sv, frame=frame, limit=limit, dataset_id=dataset_id
    )


def check_integrity(
    app: AppContext,
    control: Control,
    dataset: str,
    rules: list[dict[str, Any]],
    include_samples: bool = True,
    limit: int = 50,
    engine: str = "auto",
) -> ValidationReport:
    """Referential integrity, cross-field and business rules (plain dicts of the IntegrityRule kinds)."""
    path = app.workspace.resolve(dataset, must_exist=True)
    chosen = choose_engine(app, engine, path)
    references: dict[str, str] = {}
    for rule in rules:
        if rule["kind"] == "foreign_key" and rule["reference"] not in references:
            references[rule["reference"]] = str(app.workspace.resolve(rule["reference"], must_exist=True))
    business = [{"type": r["type"], "kwargs": r["kwargs"] or {}} for r in rules if r["kind"] == "expectation"]
    if business:
        adapter.build_expectations(business)
    job = _job(app, path, include_samples, rules=rules, references=references)
    refs = [Path(p) for p in dict.fromkeys(references.values())]
    return _validate(app, control, path, job, chosen, references=refs, limit=limit)


# -- stored results -----------------------------------------------------------------------------


def get_result(
    app: AppContext,
    control: Control,
    result_id: str,
    cursor: str | None = None,
    limit: int = 50,
    failures_only: bool = False,
) -> ValidationReport:
    """A stored result by id (or `validation:<id>`, or 'latest'), a page of its outcomes."""
    from sqlalchemy import select

    from mcp_server.core.store.models import ValidationResultRecord as Row

    rid = result_id.removeprefix("validation:")
    if rid != "latest" and not (len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)):
        raise InvalidInput("The result id is the 32-character hex id validation_run returned, or 'latest'.")
    with app.store.read_session() as session:
        if rid == "latest":
            row = session.scalars(select(Row).order_by(Row.created_at.desc(), Row.id).limit(1)).first()
        else:
            row = session.get(Row, rid)
        if row is None:
            raise NotFound(
                "No validation results yet; run validation_run first."
                if rid == "latest"
                else f"No validation result '{rid}'; list them with validation_list_results."
            )
        session.expunge(row)
    outcomes = OUTCOMES.validate_json(row.results)
    if failures_only:
        outcomes = [o for o in outcomes if not o.success]
    return report_of(app, row, outcomes, cursor, limit)


def list_results(
    app: AppContext,
    control: Control,
    dataset: str | None = None,
    suite: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> ResultList:
    """Stored results, newest first, optionally for one dataset or suite."""
    from sqlalchemy import func, select

    from mcp_server.core.store.models import ValidationResultRecord as Row

    suite_filter = parse_ref(suite) if suite is not None else None
    offset = decode_cursor(cursor)
    stmt = select(Row)
    if dataset is not None:
        stmt = stmt.where(Row.path_key.in_(path_keys(app, app.workspace.resolve(dataset))))
    if suite_filter is not None:
        stmt = stmt.where(Row.suite_name == suite_filter[0])
        if suite_filter[1] is not None:
            stmt = stmt.where(Row.suite_version == suite_filter[1])
    with app.store.read_session() as session:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(session.scalars(stmt.order_by(Row.created_at.desc(), Row.id).offset(offset).limit(limit)))
        for r in rows:
            session.expunge(r)
    items = [
        ResultSummary(
            result_id=r.id,
            kind=r.kind,  # type: ignore[arg-type]
            dataset=app.workspace.display(app.workspace.from_stored(r.dataset_path)),
            suite=f"{r.suite_name}@{r.suite_version}" if r.suite_name else None,
            success=r.success,
            row_count=r.row_count,
            evaluated=r.evaluated,
            failed=r.failed,
            created_at=r.created_at,
        )
        for r in rows
    ]
    more = offset + len(rows) < total
    return ResultList(
        items=items, total=total, next_cursor=encode_cursor(offset + len(rows)) if more else None
    )
