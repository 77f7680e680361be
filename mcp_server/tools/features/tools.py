"""The features area's MCP tools: a Feast feature store whose definitions live in files.

init -> plan/apply a definitions file -> materialize -> online and point-in-time historical retrieval.
Feast (about 6 s to import) loads inside the first call, in a worker thread; the FeatureStore objects
are built once per server and project (app.client("feast", ...)) and used under one lock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import AppContext, Ctx, app_context, progress_reporter
from mcp_server.core.errors import Conflict, InvalidInput
from mcp_server.core.output import paginate
from mcp_server.core.workspace import check_name
from mcp_server.tools.features.models import (
    DescribeResult,
    FeatureValidation,
    HistoricalResult,
    InitResult,
    MaterializeResult,
    ObjectPage,
    ObjectSummary,
    OnlineResult,
    PlanChange,
    PlanResult,
    ScaffoldResult,
)

if TYPE_CHECKING:
    from mcp_server.tools.features.adapter import FeastRepo, Loaded

LONG_DEADLINE_S = 900.0
YAML_SUFFIXES = (".yaml", ".yml", ".json")

ProjectArg = Annotated[
    str | None,
    Field(description="Feast project; the repo's default project (features_init) when omitted."),
]
DefinitionsArg = Annotated[
    str,
    Field(
        description=(
            "Path of a feature definitions file (YAML: project, entities, sources, feature_views, "
            "feature_services) inside the workspace."
        )
    ),
]
FeaturesArg = Annotated[
    list[str] | None,
    Field(
        description="Feature references 'view:feature', or a view name for all its features; or use feature_service.",
        max_length=500,
    ),
]
ServiceArg = Annotated[str | None, Field(description="A feature service name, instead of `features`.")]
FullNamesArg = Annotated[
    bool,
    Field(description="Name feature columns 'view__feature' (needed when two views share a feature name)."),
]


def _repo(app: AppContext) -> FeastRepo:
    from mcp_server.tools.features.adapter import FeastRepo

    repo: FeastRepo = app.client("feast", lambda: FeastRepo(app.settings, app.workspace))
    return repo


def _check_project(project: str | None) -> str | None:
    if project is None:
        return None
    from mcp_server.tools.features.definitions import check_project

    return check_project(project)


# -- init ---------------------------------------------------------------------------------------------


async def features_init(
    ctx: Ctx,
    project: Annotated[
        str | None,
        Field(
            description="Default Feast project of the repo (letters, digits, '_'); 'default' when omitted."
        ),
    ] = None,
    path: Annotated[
        str | None,
        Field(
            description="Folder of an existing Feast repo (with feature_store.yaml) inside the workspace to attach."
        ),
    ] = None,
) -> InitResult:
    """Create the Feast feature repo under the server home (local provider, file offline store, SQLite or Redis online store) or attach an existing repo by path."""
    app = app_context(ctx)
    project = _check_project(project)
    folder = app.workspace.resolve(path, must_exist=True) if path is not None else None

    def work() -> InitResult:
        from mcp_server.tools.features import adapter

        repo = _repo(app)
        created = False
        if folder is not None:
            if project is not None:
                raise InvalidInput(
                    "An attached repo's project is set in its own feature_store.yaml; omit `project` when "
                    "attaching."
                )
            repo.attach(folder)
        elif not repo.exists:
            created = repo.create_managed(project or adapter.DEFAULT_PROJECT)
        elif project is not None and project != repo.default_project():
            repo.set_default_project(project)
        info = repo.info(created)
        return InitResult(
            repo=app.workspace.display(info.path),
            project=info.project,
            created=info.created,
            attached=info.attached,
            provider=info.provider,
            online_store=info.online_store,
            offline_store=info.offline_store,
            projects=info.projects,
        )

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


async def features_scaffold(
    ctx: Ctx,
    dataset: Annotated[str, Field(description="Table (csv/parquet) of entity events inside the workspace.")],
    entity_column: Annotated[str, Field(description="The column identifying the entity (the join key).")],
    timestamp_column: Annotated[str, Field(description="The column holding each event's time.")],
    output: Annotated[str, Field(description="New definitions file (.yaml) to write inside the workspace.")],
    source_output: Annotated[
        str | None,
        Field(
            description=(
                "Where to write a Feast-ready Parquet copy when the table is not Parquet with a typed time "
                "column; next to `output` when omitted."
            )
        ),
    ] = None,
    feature_view: Annotated[
        str | None,
        Field(description="Name of the drafted feature view; from the dataset's name when omitted."),
    ] = None,
    project: ProjectArg = None,
    ttl: Annotated[str, Field(description="The view's TTL, e.g. '30d', '12h', '0' (no expiry).")] = "30d",
) -> ScaffoldResult:
    """Draft a feature definitions file (entity, source, feature view, feature service) from a table's columns, with a Feast-ready Parquet copy when needed; review it, then features_plan."""
    import re

    from mcp_server.core.tables import table_format
    from mcp_server.tools.features.definitions import OBJECT_RE, parse_ttl

    app = app_context(ctx)
    project = _check_project(project)
    source = app.workspace.resolve(dataset, must_exist=True)
    table_format(source)
    target = app.workspace.resolve(output)
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise InvalidInput("`output` must be a .yaml (or .yml) file.")
    copy = app.workspace.resolve(source_output) if source_output else target.with_suffix(".parquet")
    if copy.suffix.lower() not in (".parquet", ".pq"):
        raise InvalidInput("`source_output` must be a .parquet file.")
    view = feature_view or re.sub(r"[^A-Za-z0-9_]", "_", source.stem)[:100]
    if not OBJECT_RE.match(view):
        view = f"fv_{view}"[:100]
    if not OBJECT_RE.match(view):
        raise InvalidInput(
            "The feature view name must be letters, digits or '_', starting with a letter or '_'."
        )
    try:
        parse_ttl(ttl)
    except ValueError as err:
        raise InvalidInput(f"{err}.") from None

    def ref(path: Path) -> str:
        root = app.workspace.default_root
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def work() -> ScaffoldResult:
        from mcp_server.tools.features import adapter

        proj = project or _repo(app).default_project()
        result = adapter.scaffold(
            source,
            entity_column,
            timestamp_column,
            target,
            copy,
            ref,
            proj,
            view,
            ttl,
            app.settings.max_rows,
            app.settings.max_file_bytes,
        )
        return ScaffoldResult(
            definitions=app.workspace.display(result["definitions"]),
            source=app.workspace.display(result["source"]),
            converted=result["converted"],
            project=proj,
            feature_view=view,
            features=result["features"],
            skipped=result["skipped"][:100],
            yaml=result["yaml"][:8000],
        )

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


# -- plan / apply -------------------------------------------------------------------------------------


def _load(app: AppContext, definitions: str) -> Loaded:
    """Resolve and parse the definitions file (YAML; Python only with allow_feature_repo_code)."""
    from mcp_server.tools.features import adapter

    path = app.workspace.resolve(definitions, must_exist=True)
    shown = app.workspace.display(path)
    if path.is_dir():
        raise InvalidInput(f"'{shown}' is a folder; give the definitions file (.yaml) itself.")
    suffix = path.suffix.lower()
    if suffix == ".py":
        if not app.settings.allow_feature_repo_code:
            raise InvalidInput(
                f"'{shown}' is a Python feature repository, which runs its code on plan and apply; write the "
                "definitions as YAML, or the operator must set MLOPS_MCP_ALLOW_FEATURE_REPO_CODE=true."
            )
        repo = _repo(app)
        return adapter.load_python_repo(path, repo.default_project(), shown)
    if suffix not in YAML_SUFFIXES:
        raise InvalidInput(f"'{shown}' is not a definitions file; use a .yaml (or .yml) file.")

    def resolve_source(text: str) -> Path:
        if text.startswith("lake:"):
            raise InvalidInput(
                f"The source '{text[:80]}' is a lake dataset, which feature definitions do not support yet; "
                "point `path` at the Parquet file inside the workspace."
            )
        return app.workspace.resolve(text, must_exist=True)

    return adapter.load_definitions(path, resolve_source, shown)


def _plan_result(loaded: Loaded, shown: str, changes: list[dict[str, Any]], applied: bool) -> PlanResult:
    summary = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
    for c in changes:
        summary[c["action"]] = summary.get(c["action"], 0) + 1
    return PlanResult(
        project=loaded.project,
        definitions=shown,
        version=loaded.version,
        applied=applied,
        summary=summary,
        changes=[PlanChange(**c) for c in changes],
    )


async def features_plan(ctx: Ctx, definitions: DefinitionsArg) -> PlanResult:
    """Show what applying a feature definitions file would create, update or delete in the Feast registry (Feast's own diff); changes nothing."""
    app = app_context(ctx)

    def work() -> PlanResult:
        from mcp_server.tools.features import adapter

        loaded = _load(app, definitions)
        changes = adapter.plan(_repo(app), loaded)
        return _plan_result(loaded, app.workspace.display(loaded.definitions), changes, applied=False)

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


async def features_apply(ctx: Ctx, definitions: DefinitionsArg) -> PlanResult:
    """Register a feature definitions file in Feast (deleting the project's objects the file no longer has), tag it with the file's SHA-256 as version and record source dataset -> feature view lineage."""
    app = app_context(ctx)

    def work() -> PlanResult:
        from mcp_server.core.datasets import dataset_ref
        from mcp_server.core.lineage import make_id, record_edge
        from mcp_server.tools.features import adapter

        loaded = _load(app, definitions)
        shown = app.workspace.display(loaded.definitions)
        changes = adapter.apply(_repo(app), loaded)
        result = _plan_result(loaded, shown, changes, applied=True)
        edges: list[tuple[str, str]] = []
        for view, source in loaded.view_sources.items():
            if not source.is_file() or not any(source.is_relative_to(r) for r in app.workspace.allowed):
                continue
            edges.append((dataset_ref(app.store, source), make_id("featureview", loaded.project, view)))
        if edges:
            details = {"version": loaded.version[:12], "definitions": shown[:200]}
            with app.store.transaction() as session:
                for up, down in edges:
                    record_edge(app.store, up, down, "defines_features", details, session=session)
        result.lineage = [f"{up} -> {down}" for up, down in edges]
        return result

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


# -- list / describe ----------------------------------------------------------------------------------


async def features_list(
    ctx: Ctx,
    kind: Annotated[
        Literal["entity", "data_source", "feature_view", "feature_service"] | None,
        Field(description="Only this kind of object; every kind when omitted."),
    ] = None,
    project: Annotated[
        str | None, Field(description="Only this Feast project; every project when omitted.")
    ] = None,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(description="Items per page (1-500).", ge=1, le=500)] = 100,
) -> ObjectPage:
    """List the registered Feast entities, data sources, feature views and feature services with their versions; use features_describe for one object."""
    app = app_context(ctx)
    project = _check_project(project)

    def work() -> list[dict[str, Any]]:
        from mcp_server.tools.features import adapter

        return adapter.list_objects(_repo(app), kind, project)

    items = await run_blocking(work, deadline_s=app.settings.deadline_s)
    page = paginate([ObjectSummary(**i) for i in items], cursor, limit)
    return ObjectPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


async def features_describe(
    ctx: Ctx,
    name: Annotated[
        str, Field(description="Name of a feature view, feature service, entity or data source.")
    ],
    project: ProjectArg = None,
) -> DescribeResult:
    """Describe one registered Feast object: features and types, entities and join keys, TTL, source, version and materialized windows."""
    app = app_context(ctx)
    project = _check_project(project)
    check_name(name, "feature object name")

    def work() -> DescribeResult:
        from mcp_server.tools.features import adapter

        return DescribeResult(**adapter.describe(_repo(app), name, project))

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


# -- materialize --------------------------------------------------------------------------------------


async def features_materialize(
    ctx: Ctx,
    start: Annotated[
        str | None,
        Field(
            description="ISO 8601 window start; omit for incremental (from each view's last materialized end)."
        ),
    ] = None,
    end: Annotated[str | None, Field(description="ISO 8601 window end; now when omitted.")] = None,
    views: Annotated[
        list[str] | None,
        Field(description="Feature views to materialize; every online view when omitted.", max_length=200),
    ] = None,
    project: ProjectArg = None,
) -> MaterializeResult:
    """Load feature values from the offline store into the online store for a time window, or incrementally since the last run, with progress per view."""
    from mcp_server.tools.features import adapter

    app = app_context(ctx)
    project = _check_project(project)
    for v in views or []:
        check_name(v, "feature view name")
    end_at = adapter.parse_time(end, "end") if end else adapter.now_utc()
    start_at = adapter.parse_time(start, "start") if start else None
    if start_at is not None and end_at <= start_at:
        raise InvalidInput(
            f"The window ends ({end_at.isoformat()}) before or when it starts ({start_at.isoformat()}); give an "
            "`end` after `start`."
        )

    def work(control: Any) -> MaterializeResult:
        result = adapter.materialize(_repo(app), project, start_at, end_at, views, control)
        return MaterializeResult(**result)

    return await run_blocking(
        work, deadline_s=LONG_DEADLINE_S, report=progress_reporter(ctx), with_control=True
    )


# -- retrieval ----------------------------------------------------------------------------------------


async def features_get_online(
    ctx: Ctx,
    entity_rows: Annotated[
        list[dict[str, str | int]],
        Field(
            description="Rows of join key values, e.g. [{'player_id': 1}] (at most 1000).", max_length=1000
        ),
    ],
    features: FeaturesArg = None,
    feature_service: ServiceArg = None,
    project: ProjectArg = None,
    full_feature_names: FullNamesArg = False,
) -> OnlineResult:
    """Read the latest materialized feature values from the online store for entity rows (features or a feature service)."""
    app = app_context(ctx)
    project = _check_project(project)
    if feature_service is not None:
        check_name(feature_service, "feature service name")

    def work() -> OnlineResult:
        from mcp_server.tools.features import adapter

        result = adapter.get_online(
            _repo(app), project, features, feature_service, entity_rows, full_feature_names
        )
        return OnlineResult(**result)

    return await run_blocking(work, deadline_s=app.settings.deadline_s)


async def features_get_historical(
    ctx: Ctx,
    entity_dataset: Annotated[
        str,
        Field(description="Table (csv/parquet) of join keys and the time of each row, inside the workspace."),
    ],
    output: Annotated[
        str, Field(description="New file (.parquet or .csv) inside the workspace for the training set.")
    ],
    features: FeaturesArg = None,
    feature_service: ServiceArg = None,
    timestamp_column: Annotated[
        str, Field(description="Column of entity_dataset holding each row's time.")
    ] = "event_timestamp",
    project: ProjectArg = None,
    full_feature_names: FullNamesArg = False,
    include_samples: Annotated[bool, Field(description="Return the first rows of the training set.")] = True,
) -> HistoricalResult:
    """Build a point-in-time correct training set (feature values as of each entity row's time) and write it as a new dataset with lineage."""
    from mcp_server.core.tables import table_format

    app = app_context(ctx)
    project = _check_project(project)
    if feature_service is not None:
        check_name(feature_service, "feature service name")
    source = app.workspace.resolve(entity_dataset, must_exist=True)
    target = app.workspace.resolve(output)
    table_format(target)
    if target.exists():
        raise Conflict(f"'{app.workspace.display(target)}' already exists; give a new output path.")
    if target == source:
        raise InvalidInput("The output must be a new file, not the entity dataset.")

    def work(control: Any) -> HistoricalResult:
        from mcp_server.core.datasets import dataset_ref
        from mcp_server.core.lineage import make_id, record_edge
        from mcp_server.core.tables import write_table
        from mcp_server.tools.features import adapter

        started = time.perf_counter()
        entity_df = adapter.read_entity_frame(
            source, timestamp_column, app.settings.max_rows, app.settings.max_file_bytes
        )
        control.step(0, None, f"read {len(entity_df)} entity rows")
        frame, sel, proj = adapter.historical_frame(
            _repo(app),
            project,
            entity_df,
            timestamp_column,
            features,
            feature_service,
            full_feature_names,
            control,
        )
        if target.exists():
            raise Conflict(
                f"'{app.workspace.display(target)}' appeared while the join ran; give a new output path."
            )
        write_table(frame, target)
        feature_cols = [c for c in frame.columns if c not in entity_df.columns]
        nulls = {c: int(frame[c].isna().sum()) for c in feature_cols}
        sample: list[dict[str, Any]] = []
        if include_samples:
            sample = [
                {k: adapter._plain(v) for k, v in row.items()}
                for row in frame.head(5).to_dict(orient="records")
            ]
        out_id = dataset_ref(app.store, target)
        edges = [(dataset_ref(app.store, source), out_id, "point_in_time_join")]
        edges += [(make_id("featureview", proj, view), out_id, "features_of") for view in sel.by_view]
        with app.store.transaction() as session:
            for up, down, kind in edges:
                record_edge(app.store, up, down, kind, {"rows": len(frame)}, session=session)
        return HistoricalResult(
            project=proj,
            output=app.workspace.display(target),
            dataset=out_id,
            rows=len(frame),
            columns=[str(c) for c in frame.columns][:200],
            features=feature_cols[:200],
            null_counts=dict(list(nulls.items())[:200]),
            sample=sample,
            lineage=[f"{up} -> {down}" for up, down, _ in edges],
            seconds=round(time.perf_counter() - started, 4),
        )

    return await run_blocking(
        work, deadline_s=LONG_DEADLINE_S, report=progress_reporter(ctx), with_control=True
    )


# -- validation ---------------------------------------------------------------------------------------


async def features_validate(
    ctx: Ctx,
    feature_view: Annotated[str, Field(description="The feature view whose offline data is validated.")],
    suite: Annotated[
        str, Field(description="A saved Great Expectations suite, 'name' (latest) or 'name@version'.")
    ],
    project: ProjectArg = None,
    include_samples: Annotated[bool, Field(description="Include sample failing values.")] = True,
    limit: Annotated[int, Field(description="Expectation results per page (1-500).", ge=1, le=500)] = 50,
) -> FeatureValidation:
    """Validate a feature view's offline data (join keys, timestamp, features) against a saved Great Expectations suite; the result is stored like validation_run's."""
    from mcp_server.core.blocking import run_in_worker
    from mcp_server.core.errors import MissingExtra
    from mcp_server.core.registry import extra_installed

    if not extra_installed("gx"):
        raise MissingExtra("features_validate needs Great Expectations: pip install 'mlops-mcp[gx]'.")
    from mcp_server.tools.validation import adapter as gx_adapter
    from mcp_server.tools.validation import tools as gx_tools

    app = app_context(ctx)
    project = _check_project(project)
    check_name(feature_view, "feature view name")
    gx_adapter.parse_ref(suite)
    started = time.perf_counter()
    deadline = app.settings.deadline_s

    def load() -> Any:
        from mcp_server.tools.features import adapter

        return adapter.offline_frame(
            _repo(app), project, feature_view, app.settings.max_rows, app.settings.max_file_bytes
        )

    df, proj, path = await run_blocking(load, deadline_s=deadline)
    engine = await gx_tools.gx_engine(app)
    sv = await run_blocking(engine.resolve, suite, deadline_s=deadline)
    wanted = gx_adapter.referenced_columns(sv.expectations)
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InvalidInput(
            f"Suite '{sv.ref}' checks column(s) {missing[:5]} that feature view '{feature_view}' does not have; "
            f"its columns are {[str(c) for c in df.columns][:20]}."
        )
    isolated = gx_adapter.has_regex(sv.expectations)
    remaining = max(1.0, deadline - (time.perf_counter() - started) - 0.5)
    if isolated:
        # A regex expectation can backtrack without end: a killable worker on the view's source file.
        job = gx_adapter.Job(
            home=str(app.settings.home),
            path=str(path),
            max_rows=app.settings.max_rows,
            max_bytes=app.settings.max_file_bytes,
            include_samples=include_samples,
            gx_name=sv.gx_name,
            expectations=sv.expectations,
        )
        raw = await run_in_worker(gx_adapter.run_job_isolated, job, deadline_s=remaining)
    else:

        def run() -> dict[str, Any]:
            t0 = time.perf_counter()
            result, ids = engine.run_stored(sv.gx_name, df)
            stats = result.statistics
            outcomes = gx_adapter.convert(result, ids, {}, include_samples)
            return {
                "success": bool(result.success),
                "row_count": len(df),
                "evaluated": int(stats.get("evaluated_expectations", len(outcomes))),
                "successful": int(stats.get("successful_expectations", 0)),
                "failed": int(stats.get("unsuccessful_expectations", 0)),
                "outcomes": outcomes,
                "seconds": time.perf_counter() - t0,
            }

        raw = await run_blocking(run, deadline_s=remaining)
    seconds = time.perf_counter() - started

    def record() -> tuple[Any, str]:
        from mcp_server.core.lineage import make_id, record_edge

        row = gx_tools.record_result(app, path, raw, "suite", sv, [], seconds)
        view_id = make_id("featureview", proj, feature_view)
        result_id = make_id("validation", row.id)
        record_edge(
            app.store, view_id, result_id, "validated_by", {"suite": sv.ref, "success": raw["success"]}
        )
        return row, f"{view_id} -> {result_id}"

    row, edge = await run_blocking(record, deadline_s=app.settings.deadline_s)
    report = gx_tools.result_report(app, row, None, limit, isolated=isolated)
    return FeatureValidation(
        project=proj,
        feature_view=feature_view,
        source=app.workspace.display(path),
        columns=[str(c) for c in df.columns][:200],
        lineage=[edge],
        report=report,
    )
