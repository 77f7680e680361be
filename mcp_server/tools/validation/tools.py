"""The validation tools: Great Expectations suites (versioned), runs, stored results, integrity checks.

Every expectation is a GX expectation and every run goes through GX (adapter.py). Runs of suites that hold
a caller's regular expression go to a worker process that is killed at the deadline; the others run in
a thread with progress notifications. Results live in the metadata store with lineage
dataset -> validation:<id>, and an HTML report under <home>/reports/validation/.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio.to_thread
from pydantic import Field

from mcp_server.core.blocking import run_blocking, run_in_worker
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.errors import DeadlineExceeded, InvalidInput, NotFound
from mcp_server.core.output import artifact_uri, decode_cursor, encode_cursor, paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.validation import adapter
from mcp_server.tools.validation.models import (
    ExpectationOut,
    ExpectationOutcome,
    ExpectationSpec,
    IntegrityRule,
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
    from mcp_server.core.store.models import ValidationResultRecord

DatasetArg = Annotated[
    str, Field(description="CSV, TSV, Parquet, JSON or JSON Lines file inside the allowed roots.")
]
RunDatasetArg = Annotated[
    str,
    Field(
        description="CSV, TSV, Parquet, JSON or JSON Lines file inside the allowed roots, or a lake dataset "
        "'lake:<name>[@<version>]' (validated on Spark)."
    ),
]
SuiteRefArg = Annotated[
    str, Field(description="Suite name (its latest version) or 'name@N' for version N.", max_length=140)
]
SamplesArg = Annotated[
    bool,
    Field(description="Include a few failing values per expectation; set false to keep data values out."),
]
LimitArg = Annotated[int, Field(50, ge=1, le=500, description="Results per page (failures come first).")]
CursorArg = Annotated[str | None, Field(None, description="next_cursor of the previous page.")]
DeadlineArg = Annotated[
    float | None,
    Field(
        None, gt=0, description="Stop after this many seconds (default and maximum: the server's deadline)."
    ),
]
EngineArg = Annotated[
    Literal["pandas", "spark", "auto"],
    Field(
        description="Where GX runs: pandas (in this process), spark (the configured Spark master) or auto "
        "(Spark above the configured size when Spark is configured)."
    ),
]
PAGE_BUDGET = 0.8  # share of the output cap a page may fill


# -- shared plumbing ----------------------------------------------------------------------------


async def gx_engine(app: AppContext) -> adapter.GxEngine:
    """The process-wide GX engine (built once; importing GX takes seconds, so off the event loop)."""
    home = app.settings.home

    def build() -> adapter.GxEngine:
        return app.client("gx", lambda: adapter.GxEngine(home))  # type: ignore[no-any-return]

    return await anyio.to_thread.run_sync(build)


def _deadline(app: AppContext, requested: float | None) -> float:
    limit = app.settings.deadline_s
    return min(requested, limit) if requested else limit


def _used_up_to(app: AppContext, name: str) -> int:
    """The highest version of `name` any stored result used (kept even after that version is deleted)."""
    from sqlalchemy import func, select

    from mcp_server.core.store.models import ValidationResultRecord as Row

    with app.store.read_session() as session:
        value = session.scalar(select(func.max(Row.suite_version)).where(Row.suite_name == name))
    return int(value or 0)


def _fit(build: Any, limit: int, budget: int) -> Any:
    """Build a page of `limit` items, halving it until the JSON stays within `budget` bytes."""
    while True:
        model = build(limit)
        if limit <= 1 or len(model.model_dump_json()) <= budget:
            return model
        limit = max(1, limit // 2)


def _budget(app: AppContext) -> int:
    return int(app.settings.max_output_bytes * PAGE_BUDGET)


async def _execute(
    ctx: Ctx, app: AppContext, job: adapter.Job, isolated: bool, deadline: float, started: float
) -> dict[str, Any]:
    remaining = max(1.0, deadline - (time.perf_counter() - started) - 0.5)
    if isolated:
        try:
            return await run_in_worker(adapter.run_job_isolated, job, deadline_s=remaining)
        except DeadlineExceeded:
            raise DeadlineExceeded(
                f"The validation did not finish within {remaining:.0f}s and its worker was stopped; a regular "
                "expression in it may backtrack catastrophically, or the data is too big for the deadline."
            ) from None
    engine = await gx_engine(app)
    return await run_blocking(
        adapter.run_job,
        engine,
        job,
        deadline_s=remaining,
        report=progress_reporter(ctx),
        with_control=True,
    )


async def choose_engine(app: AppContext, requested: str, path: Path) -> str:
    """pandas or spark for this dataset (core/spark.py decides; the size is read only for auto)."""
    from mcp_server.core.spark import choose_engine as choose
    from mcp_server.core.spark import spark_master, table_size

    settings = app.settings
    if requested == "auto" and spark_master(settings) is not None:
        rows, size = await anyio.to_thread.run_sync(table_size, path)
    else:
        rows, size = None, 0
    return choose(settings, requested, rows, size)


LAKE_PREFIX = "lake:"


async def lake_dataset(app: AppContext, ref: str) -> tuple[Path, str]:
    """`lake:<name>[@<version>]` -> (the version's location, its lineage identifier); Parquet versions only."""
    from mcp_server.tools.lake.tools import check_dataset_name

    name, _, number = ref.removeprefix(LAKE_PREFIX).partition("@")
    check_dataset_name(name)
    if number and not number.isdigit():
        raise InvalidInput("A lake dataset is 'lake:<name>' (newest version) or 'lake:<name>@<version>'.")

    def find() -> Any:
        from mcp_server.tools.catalog import records

        return records.get_version(app.store, name, int(number) if number else None)

    found = await anyio.to_thread.run_sync(find)
    if found.format != "parquet" or not found.identifier:
        raise InvalidInput(
            f"Lake dataset '{name}' v{found.version} is not Parquet; validate its source file."
        )
    return Path(found.location), found.identifier


async def _execute_spark(
    ctx: Ctx, app: AppContext, job: adapter.Job, deadline: float, started: float
) -> dict[str, Any]:
    """The job on GX's Spark engine with the shared session (started here on first use)."""
    from mcp_server.core.spark import spark_engine

    def build() -> Any:
        from mcp_server.tools.validation import spark_adapter

        engine = spark_engine(app)
        session = engine.session()
        gx = app.client("gx-spark", spark_adapter.SparkGx)
        return engine, session, gx

    remaining = max(1.0, deadline - (time.perf_counter() - started) - 0.5)
    engine, session, gx = await run_blocking(build, deadline_s=remaining)
    from mcp_server.tools.validation import spark_adapter

    remaining = max(1.0, deadline - (time.perf_counter() - started) - 0.5)
    return await run_blocking(
        spark_adapter.run_job_spark,
        gx,
        session,
        job,
        engine.master,
        deadline_s=remaining,
        report=progress_reporter(ctx),
        with_control=True,
    )


def engine_label(raw: dict[str, Any]) -> str:
    """What a stored result says ran it: the GX version and the engine (`pandas`, `spark <master>`)."""
    from mcp_server.core.store.redact import mask_url

    return f"{adapter.gx_version()} {mask_url(str(raw.get('engine') or 'pandas'))}"[:64]


def record_result(
    app: AppContext,
    path: Path,
    raw: dict[str, Any],
    kind: str,
    suite: adapter.SuiteVersion | None,
    references: list[Path],
    seconds: float,
    dataset_id: str | None = None,
) -> ValidationResultRecord:
    """Store the result and its lineage in one transaction, after writing the HTML report.

    `dataset_id` is given for data that is not a workspace file (a lake version: its catalog identifier)."""
    import hashlib

    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import make_id, record_edge
    from mcp_server.core.store.models import ValidationResultRecord as Row

    dataset_id = dataset_id or dataset_ref(app.store, path)
    reference_ids = [dataset_ref(app.store, ref) for ref in references]
    result_id = uuid.uuid4().hex
    created = datetime.now(UTC)
    engine_name = engine_label(raw)
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
    adapter.write_text_atomic(report, adapter.render_html(meta, raw["outcomes"]))
    row = Row(
        id=result_id,
        kind=kind,
        dataset=dataset_id,
        dataset_path=str(path),
        path_key=hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest(),
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


def result_report(
    app: AppContext,
    row: ValidationResultRecord,
    cursor: str | None,
    limit: int,
    failures_only: bool = False,
    isolated: bool = False,
) -> ValidationReport:
    """A stored result as the tools return it (also used by features_validate)."""
    outcomes = [ExpectationOutcome(**o) for o in json.loads(row.results)]
    if failures_only:
        outcomes = [o for o in outcomes if not o.success]
    offset = decode_cursor(cursor)
    path = Path(row.dataset_path)
    report_uri = None
    if row.report_path and (app.settings.home / row.report_path).is_file():
        report_uri = artifact_uri(app.settings.home, app.settings.home / row.report_path)

    def build(n: int) -> ValidationReport:
        page = paginate(outcomes, encode_cursor(offset) if offset else None, n)
        return ValidationReport(
            result_id=row.id,
            lineage_id=f"validation:{row.id}",
            kind=row.kind,  # type: ignore[arg-type]
            dataset=app.workspace.display(path),
            dataset_id=row.dataset,
            suite=f"{row.suite_name}@{row.suite_version}" if row.suite_name else None,
            success=row.success,
            row_count=row.row_count,
            evaluated=row.evaluated,
            successful=row.successful,
            failed=row.failed,
            results=page.items,
            results_total=page.total,
            next_cursor=page.next_cursor,
            report_uri=report_uri,
            isolated=isolated,
            engine=row.engine,
            duration_s=round(row.duration_ms / 1000, 3),
            created_at=row.created_at,
        )

    return _fit(build, limit, _budget(app))  # type: ignore[no-any-return]


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


async def validation_create_suite(
    ctx: Ctx,
    name: Annotated[str, Field(description="Suite name; saving an existing name makes its next version.")],
    expectations: Annotated[
        list[ExpectationSpec],
        Field(
            description="GX expectations as {type, kwargs[, meta]}, e.g. {type: 'expect_column_values_to_not_be_null', kwargs: {column: 'id'}}."
        ),
    ],
    description: Annotated[
        str | None, Field(None, max_length=2000, description="What the suite checks.")
    ] = None,
) -> SuiteSaved:
    """Save a Great Expectations suite (GX serialized expectations) as a new version of `name`; use before validation_run."""
    app = app_context(ctx)
    check_name(name, "suite name")
    engine = await gx_engine(app)
    specs = [e.model_dump(exclude_none=True) for e in expectations]

    def create() -> adapter.SuiteVersion:
        return engine.create_suite(name, specs, description, _used_up_to(app, name))

    return _saved(await run_blocking(create, deadline_s=app.settings.deadline_s))


async def validation_suggest_suite(
    ctx: Ctx,
    dataset: DatasetArg,
    name: Annotated[str, Field(description="Name for the proposed suite.")],
    save: Annotated[bool, Field(description="Also save the proposal as the next version of `name`.")] = False,
    max_categories: Annotated[
        int,
        Field(ge=1, le=200, description="Columns with at most this many distinct values get a value set."),
    ] = 20,
    include_samples: SamplesArg = True,
) -> SuggestedSuite:
    """Profile a dataset and propose a GX suite (types, null rates, ranges, value sets, uniqueness, patterns) to edit, saved only with save=true."""
    app = app_context(ctx)
    path = app.workspace.resolve(dataset, must_exist=True)
    check_name(name, "suite name")
    engine = await gx_engine(app) if save else None
    settings = app.settings

    def work() -> tuple[int, int, list[dict[str, Any]], Path, adapter.SuiteVersion | None]:
        df = adapter.read_profile(str(path), settings.max_rows, settings.max_file_bytes)
        specs = adapter.suggest(df, max_categories)
        adapter.build_expectations(specs)  # every proposal is a valid GX expectation
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = (
            settings.home
            / "reports"
            / "validation"
            / "suggestions"
            / f"{name}-{stamp}-{uuid.uuid4().hex[:6]}.json"
        )
        adapter.write_json_atomic(
            target, {"name": name, "dataset": app.workspace.display(path), "expectations": specs}
        )
        saved = None
        if engine is not None:
            saved = engine.create_suite(name, specs, f"suggested from {path.name}", _used_up_to(app, name))
        return len(df), df.shape[1], specs, target, saved

    rows, cols, specs, target, saved = await run_blocking(work, deadline_s=settings.deadline_s)
    items = [
        SuggestedExpectation(
            type=s["type"],
            column=adapter._column_of(s["kwargs"]),
            kwargs=s["kwargs"] if include_samples else None,
        )
        for s in specs
    ]

    def build(n: int) -> SuggestedSuite:
        return SuggestedSuite(
            dataset=app.workspace.display(path),
            row_count=rows,
            column_count=cols,
            expectation_count=len(specs),
            expectations=items[:n],
            truncated=n < len(items),
            suite_uri=artifact_uri(settings.home, target),
            saved=_saved(saved) if saved else None,
        )

    return _fit(build, len(items), _budget(app))  # type: ignore[no-any-return]


async def validation_list_suites(ctx: Ctx, cursor: CursorArg = None, limit: LimitArg = 50) -> SuiteList:
    """List the saved GX suites with their versions and expectation counts."""
    app = app_context(ctx)
    engine = await gx_engine(app)
    suites = await run_blocking(engine.list_suites, deadline_s=app.settings.deadline_s)
    summaries = [
        SuiteSummary(
            name=s.name,
            latest_version=s.version,
            versions=s.versions,
            expectation_count=len(s.expectations),
            created_at=s.created_at,
            description=s.description,
        )
        for s in suites
    ]
    page = paginate(summaries, cursor, limit)
    return SuiteList(items=page.items, total=page.total, next_cursor=page.next_cursor)


async def validation_get_suite(
    ctx: Ctx, suite: SuiteRefArg, cursor: CursorArg = None, limit: LimitArg = 50
) -> SuiteDetail:
    """Show one suite version's expectations in GX serialized form (name = latest, name@N = version N)."""
    app = app_context(ctx)
    adapter.parse_ref(suite)
    engine = await gx_engine(app)
    sv = await run_blocking(engine.resolve, suite, deadline_s=app.settings.deadline_s)
    expectations = [ExpectationOut(index=i, **e) for i, e in enumerate(sv.expectations)]
    offset = decode_cursor(cursor)

    def build(n: int) -> SuiteDetail:
        page = paginate(expectations, encode_cursor(offset) if offset else None, n)
        return SuiteDetail(
            name=sv.name,
            version=sv.version,
            ref=sv.ref,
            versions=sv.versions,
            created_at=sv.created_at,
            description=sv.description,
            expectation_count=len(expectations),
            expectations=page.items,
            next_cursor=page.next_cursor,
            gx_suite_name=sv.gx_name,
        )

    return _fit(build, limit, _budget(app))  # type: ignore[no-any-return]


async def validation_delete_suite(ctx: Ctx, suite: SuiteRefArg) -> SuiteDeleted:
    """Delete a suite from the GX store: 'name@N' deletes version N, 'name' deletes every version (stored results stay)."""
    app = app_context(ctx)
    adapter.parse_ref(suite)
    engine = await gx_engine(app)
    name, deleted, remaining = await run_blocking(engine.delete, suite, deadline_s=app.settings.deadline_s)
    return SuiteDeleted(name=name, deleted_versions=deleted, remaining_versions=remaining)


# -- runs and results ---------------------------------------------------------------------------


async def validation_run(
    ctx: Ctx,
    dataset: RunDatasetArg,
    suite: SuiteRefArg,
    include_samples: SamplesArg = True,
    limit: LimitArg = 50,
    deadline_s: DeadlineArg = None,
    engine: EngineArg = "auto",
) -> ValidationReport:
    """Validate a dataset against a saved GX suite; returns per-expectation results (failures first), a result id and an HTML report link."""
    app = app_context(ctx)
    started = time.perf_counter()
    adapter.parse_ref(suite)
    deadline = _deadline(app, deadline_s)
    lake_id = None
    if dataset.startswith(LAKE_PREFIX):  # a lake version: read where it lives, on Spark
        if engine == "pandas":
            raise InvalidInput("Lake datasets are validated on Spark; use engine=spark or auto.")
        path, lake_id = await lake_dataset(app, dataset)
        chosen = await choose_engine(app, "spark", path)
    else:
        path = app.workspace.resolve(dataset, must_exist=True)
        chosen = await choose_engine(app, engine, path)
    gx = await gx_engine(app)
    sv = await run_blocking(gx.resolve, suite, deadline_s=deadline)
    job = adapter.Job(
        home=str(app.settings.home),
        path=str(path),
        max_rows=app.settings.max_rows,
        max_bytes=app.settings.max_file_bytes,
        include_samples=include_samples,
        gx_name=sv.gx_name,
        expectations=sv.expectations,
    )
    if chosen == "spark":  # regexes run in Spark's JVM; the deadline cancels its jobs
        isolated = False
        raw = await _execute_spark(ctx, app, job, deadline, started)
    else:
        isolated = adapter.has_regex(sv.expectations)
        raw = await _execute(ctx, app, job, isolated, deadline, started)
    seconds = time.perf_counter() - started
    row = await run_blocking(
        record_result, app, path, raw, "suite", sv, [], seconds, lake_id, deadline_s=app.settings.deadline_s
    )
    return result_report(app, row, None, limit, isolated=isolated)


async def run_suite(
    ctx: Ctx,
    app: AppContext,
    path: Path,
    suite: str,
    *,
    include_samples: bool = False,
    engine: str = "pandas",
) -> ValidationResultRecord:
    """Run a stored suite on a resolved dataset path and store the result, as validation_run does.

    Public helper for other areas (the quality area's validity dimension): same GX path, same stored
    result and lineage (dataset -> validation:<id>), returned as the stored row. `engine` is the engine
    already chosen by the caller (`pandas` or `spark`).
    """
    started = time.perf_counter()
    adapter.parse_ref(suite)
    deadline = app.settings.deadline_s
    gx = await gx_engine(app)
    sv = await run_blocking(gx.resolve, suite, deadline_s=deadline)
    job = adapter.Job(
        home=str(app.settings.home),
        path=str(path),
        max_rows=app.settings.max_rows,
        max_bytes=app.settings.max_file_bytes,
        include_samples=include_samples,
        gx_name=sv.gx_name,
        expectations=sv.expectations,
    )
    if engine == "spark":
        raw = await _execute_spark(ctx, app, job, deadline, started)
    else:
        raw = await _execute(ctx, app, job, adapter.has_regex(sv.expectations), deadline, started)
    seconds = time.perf_counter() - started
    return await run_blocking(record_result, app, path, raw, "suite", sv, [], seconds, deadline_s=deadline)


async def validation_check_integrity(
    ctx: Ctx,
    dataset: DatasetArg,
    rules: Annotated[
        list[IntegrityRule],
        Field(
            min_length=1,
            max_length=100,
            description=(
                "Rules by kind: foreign_key {column, reference, reference_column}; compare {left, op, right}; "
                "sum_equals {columns, equals, tolerance}; required_if {column, when: {column, op, value}}; "
                "expectation {type, kwargs} for any GX business rule."
            ),
        ),
    ],
    include_samples: SamplesArg = True,
    limit: LimitArg = 50,
    deadline_s: DeadlineArg = None,
    engine: EngineArg = "auto",
) -> ValidationReport:
    """Check referential integrity, cross-field rules (A > B, A + B == C, B required if A) and business rules through GX."""
    app = app_context(ctx)
    started = time.perf_counter()
    path = app.workspace.resolve(dataset, must_exist=True)
    deadline = _deadline(app, deadline_s)
    chosen = await choose_engine(app, engine, path)
    references: dict[str, str] = {}
    plain_rules = [r.model_dump() for r in rules]
    for rule in plain_rules:
        if rule["kind"] == "foreign_key" and rule["reference"] not in references:
            references[rule["reference"]] = str(app.workspace.resolve(rule["reference"], must_exist=True))
    business = [
        {"type": r["type"], "kwargs": r["kwargs"] or {}} for r in plain_rules if r["kind"] == "expectation"
    ]
    if business:
        await run_blocking(adapter.build_expectations, business, deadline_s=deadline)
    job = adapter.Job(
        home=str(app.settings.home),
        path=str(path),
        max_rows=app.settings.max_rows,
        max_bytes=app.settings.max_file_bytes,
        include_samples=include_samples,
        rules=plain_rules,
        references=references,
    )
    if chosen == "spark":
        isolated = False
        raw = await _execute_spark(ctx, app, job, deadline, started)
    else:
        isolated = adapter.has_regex(business)
        raw = await _execute(ctx, app, job, isolated, deadline, started)
    seconds = time.perf_counter() - started
    refs = [Path(p) for p in dict.fromkeys(references.values())]
    row = await run_blocking(
        record_result, app, path, raw, "integrity", None, refs, seconds, deadline_s=app.settings.deadline_s
    )
    return result_report(app, row, None, limit, isolated=isolated)


def _load_row(app: AppContext, result_id: str) -> ValidationResultRecord:
    from sqlalchemy import select

    from mcp_server.core.store.models import ValidationResultRecord as Row

    with app.store.read_session() as session:
        if result_id == "latest":
            row = session.scalars(select(Row).order_by(Row.created_at.desc(), Row.id).limit(1)).first()
        else:
            row = session.get(Row, result_id)
        if row is None:
            raise NotFound(
                "No validation results yet; run validation_run first."
                if result_id == "latest"
                else f"No validation result '{result_id}'; list them with validation_list_results."
            )
        session.expunge(row)
        return row


async def validation_get_result(
    ctx: Ctx,
    result_id: Annotated[
        str, Field(description="Id from validation_run (or validation:<id>), or 'latest'.", max_length=64)
    ],
    cursor: CursorArg = None,
    limit: LimitArg = 50,
    failures_only: Annotated[bool, Field(description="Only the failed expectations.")] = False,
) -> ValidationReport:
    """Fetch a stored validation result by id (or 'latest') and page through its per-expectation results."""
    app = app_context(ctx)
    rid = result_id.removeprefix("validation:")
    if rid != "latest" and not (len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)):
        raise InvalidInput("The result id is the 32-character hex id validation_run returned, or 'latest'.")
    row = await run_blocking(_load_row, app, rid, deadline_s=app.settings.deadline_s)
    return result_report(app, row, cursor, limit, failures_only)


async def validation_list_results(
    ctx: Ctx,
    dataset: Annotated[str | None, Field(None, description="Only results for this file.")] = None,
    suite: Annotated[
        str | None, Field(None, description="Only results of this suite ('name' or 'name@N').")
    ] = None,
    cursor: CursorArg = None,
    limit: Annotated[int, Field(20, ge=1, le=200, description="Results per page, newest first.")] = 20,
) -> ResultList:
    """List stored validation results, newest first, optionally for one dataset or suite."""
    import hashlib

    app = app_context(ctx)
    path_key = None
    if dataset is not None:
        resolved = app.workspace.resolve(dataset)
        path_key = hashlib.sha256(str(resolved).encode("utf-8", "surrogateescape")).hexdigest()
    suite_filter = adapter.parse_ref(suite) if suite is not None else None
    offset = decode_cursor(cursor)

    def query() -> tuple[list[ValidationResultRecord], int]:
        from sqlalchemy import func, select

        from mcp_server.core.store.models import ValidationResultRecord as Row

        stmt = select(Row)
        if path_key is not None:
            stmt = stmt.where(Row.path_key == path_key)
        if suite_filter is not None:
            stmt = stmt.where(Row.suite_name == suite_filter[0])
            if suite_filter[1] is not None:
                stmt = stmt.where(Row.suite_version == suite_filter[1])
        with app.store.read_session() as session:
            total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = list(
                session.scalars(stmt.order_by(Row.created_at.desc(), Row.id).offset(offset).limit(limit))
            )
            for r in rows:
                session.expunge(r)
        return rows, total

    rows, total = await run_blocking(query, deadline_s=app.settings.deadline_s)
    items = [
        ResultSummary(
            result_id=r.id,
            kind=r.kind,  # type: ignore[arg-type]
            dataset=app.workspace.display(Path(r.dataset_path)),
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
