"""The features area's use cases over a Feast feature store whose definitions live in files.

init -> scaffold -> plan/apply a definitions file -> materialize -> online and point-in-time historical
retrieval, and validation of a view's offline data through the validation area's service. Plain
synchronous functions `fn(app, control, ...) -> result model` (no MCP imports). Feast (about 6 s to
import) loads inside the first call; the FeatureStore objects are built once per server and project
(app.client("feast", ...)) and used under one lock (adapter.FeastRepo).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput
from mcp_server.core.output import paginate
from mcp_server.core.tables import TableLimits
from mcp_server.core.values import plain
from mcp_server.core.workspace import check_name
from mcp_server.tools.features.definitions import OBJECT_RE, check_project, parse_ttl
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
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.tools.features.adapter import FeastRepo, Loaded

YAML_SUFFIXES = (".yaml", ".yml", ".json")


def feast_repo(app: AppContext) -> FeastRepo:
    """The server's Feast repo holder, built on first use."""
    from mcp_server.tools.features.adapter import FeastRepo

    repo: FeastRepo = app.client("feast", lambda: FeastRepo(app.settings, app.workspace))
    return repo


def _project(project: str | None) -> str | None:
    return None if project is None else check_project(project)


def _record_edges(app: AppContext, edges: list[tuple[str, str, str]], details: dict[str, Any]) -> list[str]:
    """Lineage edges (upstream, downstream, kind) in one transaction; returned as 'up -> down'."""
    from mcp_server.core.lineage import record_edge

    if edges:
        with app.store.transaction() as session:
            for up, down, kind in edges:
                record_edge(app.store, up, down, kind, details, session=session)
    return [f"{up} -> {down}" for up, down, _ in edges]


# -- init / scaffold ----------------------------------------------------------------------------------


def init(
    app: AppContext, control: Control, project: str | None = None, path: str | None = None
) -> InitResult:
    """Create the home repo (or switch its default project), or attach the user's repo at `path`."""
    from mcp_server.tools.features import adapter

    project = _project(project)
    folder = app.workspace.resolve(path, must_exist=True) if path is not None else None
    repo = feast_repo(app)
    created = False
    if folder is not None:
        if project is not None:
            raise InvalidInput(
                "An attached repo's project is set in its own feature_store.yaml; omit `project` when attaching."
            )
        repo.attach(folder)
    elif not repo.exists:
        created = repo.create_managed(project or adapter.DEFAULT_PROJECT)
    elif project is not None and project != repo.default_project():
        repo.set_default_project(project)
    info = repo.info(created)
    return InitResult(**{**vars(info), "repo": app.workspace.display(info.path)})


def scaffold(
    app: AppContext,
    control: Control,
    dataset: str,
    entity_column: str,
    timestamp_column: str,
    output: str,
    source_output: str | None = None,
    feature_view: str | None = None,
    project: str | None = None,
    ttl: str = "30d",
) -> ScaffoldResult:
    """Draft a definitions file from a table's columns, with a Feast-ready Parquet copy when needed."""
    from mcp_server.core.tables import table_format
    from mcp_server.tools.features import adapter

    project = _project(project)
    source = app.workspace.resolve(dataset, must_exist=True)
    table_format(source)
    target = app.workspace.resolve_output(output)
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise InvalidInput("`output` must be a .yaml (or .yml) file.")
    copy = app.workspace.resolve_output(source_output) if source_output else target.with_suffix(".parquet")
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
    root = app.workspace.default_root

    def ref(path: Path) -> str:  # how the drafted file names its source: root-relative where it can
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    proj = project or feast_repo(app).default_project()
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
        TableLimits.of(app.settings),
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
        return adapter.load_python_repo(path, feast_repo(app).default_project(), shown)
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


def plan(app: AppContext, control: Control, definitions: str) -> PlanResult:
    """Feast's own diff of the definitions file against the registry; changes nothing."""
    from mcp_server.tools.features import adapter

    loaded = _load(app, definitions)
    changes = adapter.plan(feast_repo(app), loaded)
    return _plan_result(loaded, app.workspace.display(loaded.definitions), changes, applied=False)


def apply(app: AppContext, control: Control, definitions: str) -> PlanResult:
    """Register the file in Feast, tagged with its SHA-256, with source dataset -> feature view lineage."""
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import make_id
    from mcp_server.tools.features import adapter

    loaded = _load(app, definitions)
    shown = app.workspace.display(loaded.definitions)
    changes = adapter.apply(feast_repo(app), loaded)
    control.step(1, 2, "applied")
    result = _plan_result(loaded, shown, changes, applied=True)
    edges = [
        (
            dataset_ref(app.store, source, workspace=app.workspace),
            make_id("featureview", loaded.project, view),
            "defines_features",
        )
        for view, source in loaded.view_sources.items()
        if source.is_file() and any(source.is_relative_to(r) for r in app.workspace.allowed)
    ]
    result.lineage = _record_edges(app, edges, {"version": loaded.version[:12], "definitions": shown[:200]})
    return result


# -- list / describe ----------------------------------------------------------------------------------


def list_objects(
    app: AppContext,
    control: Control,
    kind: str | None = None,
    project: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> ObjectPage:
    """The registered entities, sources, views and services (one page)."""
    from mcp_server.tools.features import adapter

    items = adapter.list_objects(feast_repo(app), kind, _project(project))
    return ObjectPage(**dict(paginate([ObjectSummary(**i) for i in items], cursor, limit)))


def describe(app: AppContext, control: Control, name: str, project: str | None = None) -> DescribeResult:
    """One registered object in full."""
    from mcp_server.tools.features import adapter

    project = _project(project)
    check_name(name, "feature object name")
    return DescribeResult(**adapter.describe(feast_repo(app), name, project))


# -- materialize --------------------------------------------------------------------------------------


def materialize(
    app: AppContext,
    control: Control,
    start: str | None = None,
    end: str | None = None,
    views: list[str] | None = None,
    project: str | None = None,
) -> MaterializeResult:
    """Offline -> online for a window, or incrementally from each view's last end; progress per view."""
    from mcp_server.tools.features import adapter

    project = _project(project)
    for v in views or []:
        check_name(v, "feature view name")
    end_at = adapter.parse_time(end, "end") if end else adapter.now_utc()
    start_at = adapter.parse_time(start, "start") if start else None
    if start_at is not None and end_at <= start_at:
        raise InvalidInput(
            f"The window ends ({end_at.isoformat()}) before or when it starts ({start_at.isoformat()}); give an "
            "`end` after `start`."
        )
    return MaterializeResult(
        **adapter.materialize(feast_repo(app), project, start_at, end_at, views, control)
    )


# -- retrieval ----------------------------------------------------------------------------------------


def get_online(
    app: AppContext,
    control: Control,
    entity_rows: list[dict[str, Any]],
    features: list[str] | None = None,
    feature_service: str | None = None,
    project: str | None = None,
    full_feature_names: bool = False,
) -> OnlineResult:
    """The latest materialized values for entity rows."""
    from mcp_server.tools.features import adapter

    project = _project(project)
    if feature_service is not None:
        check_name(feature_service, "feature service name")
    repo = feast_repo(app)
    return OnlineResult(
        **adapter.get_online(repo, project, features, feature_service, entity_rows, full_feature_names)
    )


def get_historical(
    app: AppContext,
    control: Control,
    entity_dataset: str,
    output: str,
    features: list[str] | None = None,
    feature_service: str | None = None,
    timestamp_column: str = "event_timestamp",
    project: str | None = None,
    full_feature_names: bool = False,
    include_samples: bool = True,
) -> HistoricalResult:
    """A point-in-time correct training set written as a new dataset, with lineage."""
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.lineage import make_id
    from mcp_server.core.tables import table_format, write_table
    from mcp_server.tools.features import adapter

    project = _project(project)
    if feature_service is not None:
        check_name(feature_service, "feature service name")
    source = app.workspace.resolve(entity_dataset, must_exist=True)
    target = app.workspace.resolve_output(output)
    table_format(target)
    taken = Conflict(f"'{app.workspace.display(target)}' already exists; give a new output path.")
    if target.exists():
        raise taken
    if target == source:
        raise InvalidInput("The output must be a new file, not the entity dataset.")

    started = time.perf_counter()
    entity_df = adapter.read_entity_frame(source, timestamp_column, TableLimits.of(app.settings))
    control.step(0, None, f"read {len(entity_df)} entity rows")
    frame, sel, proj = adapter.historical_frame(
        feast_repo(app),
        project,
        entity_df,
        timestamp_column,
        features,
        feature_service,
        full_feature_names,
        control,
    )
    if target.exists():  # written by someone else while the join ran
        raise taken
    write_table(frame, target)
    feature_cols = [c for c in frame.columns if c not in entity_df.columns]
    nulls = {c: int(frame[c].isna().sum()) for c in feature_cols[:200]}
    records = frame.head(5).to_dict(orient="records") if include_samples else []
    out_id = dataset_ref(app.store, target, workspace=app.workspace)
    edges = [(dataset_ref(app.store, source, workspace=app.workspace), out_id, "point_in_time_join")]
    edges += [(make_id("featureview", proj, view), out_id, "features_of") for view in sel.by_view]
    return HistoricalResult(
        project=proj,
        output=app.workspace.display(target),
        dataset=out_id,
        rows=len(frame),
        columns=[str(c) for c in frame.columns][:200],
        features=feature_cols[:200],
        null_counts=nulls,
        sample=[{str(k): plain(v) for k, v in row.items()} for row in records],
        lineage=_record_edges(app, edges, {"rows": len(frame)}),
        seconds=round(time.perf_counter() - started, 4),
    )


# -- validation ---------------------------------------------------------------------------------------


def validate(
    app: AppContext,
    control: Control,
    feature_view: str,
    suite: str,
    project: str | None = None,
    include_samples: bool = True,
    limit: int = 50,
) -> FeatureValidation:
    """A view's offline data against a saved GX suite, stored as validation_run stores its results."""
    from mcp_server.core.errors import MissingExtra
    from mcp_server.core.lineage import make_id
    from mcp_server.core.registry import extra_installed
    from mcp_server.tools.features import adapter

    if not extra_installed("gx"):
        raise MissingExtra("features_validate needs Great Expectations: pip install 'mlops-mcp[gx]'.")
    from mcp_server.tools.validation import service as validation

    project = _project(project)
    check_name(feature_view, "feature view name")
    validation.parse_ref(suite)
    df, proj, path = adapter.offline_frame(
        feast_repo(app), project, feature_view, TableLimits.of(app.settings)
    )
    sv = validation.resolve_suite(app, suite)
    missing = [c for c in validation.referenced_columns(sv.expectations) if c not in df.columns]
    if missing:
        raise InvalidInput(
            f"Suite '{sv.ref}' checks column(s) {missing[:5]} that feature view '{feature_view}' does not have; "
            f"its columns are {[str(c) for c in df.columns][:20]}."
        )
    control.step(1, 3, f"validating {len(df)} rows of feature view {feature_view}")
    report = validation.run_suite(
        app, control, path, suite, include_samples=include_samples, frame=df, limit=limit
    )
    edge = (make_id("featureview", proj, feature_view), report.lineage_id, "validated_by")
    return FeatureValidation(
        project=proj,
        feature_view=feature_view,
        source=app.workspace.display(path),
        columns=[str(c) for c in df.columns][:200],
        lineage=_record_edges(app, [edge], {"suite": report.suite, "success": report.success}),
        report=report,
    )
