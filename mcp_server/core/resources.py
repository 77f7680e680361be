"""MCP resources: what the areas keep, readable by URI and listed by `resources/list`.

Templates (`resources/templates/list`):
- `mlops://artifacts/{+path}`: a file written under `<home>/reports` (HTML reports, plots, model cards,
  lineage graphs, quality reports), served by core/output.py;
- `mlops://suites/{name}`: a GX suite's newest version (JSON) from GX's store under the home;
- `mlops://validation-results/{id}`: a stored validation result (JSON);
- `mlops://lineage/{+entity}`: the upstream lineage graph of an entity (JSON);
- `mlops://deployments/{endpoint}/history`: an endpoint's events, newest first (JSON).

`resources/list` enumerates what exists right now (capped): suites, recent validation results, reports and
model cards, endpoints. Listing never creates or migrates a store: an unopened home lists its files only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mcp.types import Resource as MCPResource

from mcp_server.core.errors import MlopsError, NotFound
from mcp_server.core.workspace import check_name

if TYPE_CHECKING:
    from mcp_server.core.app import MlopsServer
    from mcp_server.core.context import AppContext

LIST_CAP = 50  # entries per kind in resources/list
_SUITE_FILE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})@(?P<version>[0-9]+)\.json$")


def _suites_dir(app: AppContext) -> Path:
    return app.settings.home / "gx" / "expectations"


def _suite_files(app: AppContext) -> dict[str, tuple[int, Path]]:
    """Suite name -> (newest version, its file)."""
    newest: dict[str, tuple[int, Path]] = {}
    folder = _suites_dir(app)
    if folder.is_dir():
        for path in folder.iterdir():
            m = _SUITE_FILE.match(path.name)
            if m and int(m["version"]) > newest.get(m["name"], (0, path))[0]:
                newest[m["name"]] = (int(m["version"]), path)
    return newest


def read_suite(app: AppContext, name: str) -> str:
    check_name(name, "suite name")
    found = _suite_files(app).get(name)
    if found is None:
        raise NotFound(f"No suite named {name!r}; validation_list_suites shows the saved ones.")
    return found[1].read_text()


def _store_ready(app: AppContext) -> bool:
    """True when reading the store would not create one (a configured URL, or an existing SQLite file)."""
    return app.settings.store_url is not None or (app.settings.home / "metadata.db").exists()


def read_validation_result(app: AppContext, result_id: str) -> str:
    from mcp_server.core.store.models import ValidationResultRecord

    if not re.fullmatch(r"[0-9a-f]{32}", result_id):
        raise NotFound(f"{result_id!r} is not a validation result id (32 hex digits).")
    with app.store.read_session() as session:
        row = session.get(ValidationResultRecord, result_id)
        if row is None:
            raise NotFound(
                f"No validation result {result_id}; validation_list_results shows the stored ones."
            )
        return json.dumps(
            {
                "id": row.id,
                "dataset": row.dataset,
                "suite": f"{row.suite_name}@{row.suite_version}" if row.suite_name else None,
                "success": row.success,
                "row_count": row.row_count,
                "evaluated": row.evaluated,
                "failed": row.failed,
                "results": json.loads(row.results),
                "engine": row.engine,
                "created_at": row.created_at.isoformat(),
            },
            indent=1,
        )


def read_lineage(app: AppContext, entity: str) -> str:
    from mcp_server.core.lineage import query_lineage

    return json.dumps(query_lineage(app.store, entity, "upstream", 10).to_dict(), indent=1)


def read_deployment_history(app: AppContext, endpoint: str) -> str:
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, DeployEvent

    check_name(endpoint, "endpoint name")
    with app.store.read_session() as session:
        if session.scalars(select(DeployEndpoint.id).where(DeployEndpoint.name == endpoint)).first() is None:
            raise NotFound(f"No endpoint named {endpoint!r}; deploy_list shows the endpoints.")
        events = session.scalars(
            select(DeployEvent)
            .where(DeployEvent.endpoint == endpoint)
            .order_by(DeployEvent.id.desc())
            .limit(500)
        ).all()
        return json.dumps(
            {
                "endpoint": endpoint,
                "events": [
                    {
                        "time": e.time.isoformat(),
                        "kind": e.kind,
                        "rollout_id": e.rollout_id,
                        "reason": e.reason,
                        "details": json.loads(e.details) if e.details else None,
                    }
                    for e in events
                ],
            },
            indent=1,
        )


def _listing(app: AppContext) -> list[MCPResource]:
    from mcp_server.core.output import artifact_mime, artifact_uri

    items: list[MCPResource] = []
    for name, (version, _path) in sorted(_suite_files(app).items())[:LIST_CAP]:
        items.append(
            MCPResource(
                uri=f"mlops://suites/{name}",
                name=f"suite {name}@{version}",
                mime_type="application/json",
            )
        )
    reports = app.settings.home / "reports"
    if reports.is_dir():
        files = sorted(
            (p for p in reports.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for path in files[:LIST_CAP]:
            kind = "model card" if path.suffix == ".md" else f"{path.parent.name} {path.suffix.lstrip('.')}"
            items.append(
                MCPResource(
                    uri=artifact_uri(app.settings.home, path),
                    name=f"{kind}: {path.name}",
                    mime_type=artifact_mime(path.name),
                )
            )
    if not _store_ready(app):
        return items
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployEndpoint, ValidationResultRecord

    with app.store.read_session() as session:
        results = session.scalars(
            select(ValidationResultRecord).order_by(ValidationResultRecord.created_at.desc()).limit(LIST_CAP)
        ).all()
        for r in results:
            items.append(
                MCPResource(
                    uri=f"mlops://validation-results/{r.id}",
                    name=f"validation {'passed' if r.success else 'failed'}: {r.suite_name or r.kind} on {Path(r.dataset_path).name}",
                    mime_type="application/json",
                )
            )
        for name in session.scalars(
            select(DeployEndpoint.name).order_by(DeployEndpoint.name).limit(LIST_CAP)
        ):
            items.append(
                MCPResource(
                    uri=f"mlops://deployments/{name}/history",
                    name=f"deployment history: {name}",
                    mime_type="application/json",
                )
            )
            items.append(
                MCPResource(
                    uri=f"mlops://lineage/endpoint:{name}",
                    name=f"lineage graph: endpoint {name}",
                    mime_type="application/json",
                )
            )
    return items


async def list_dynamic(app: AppContext) -> list[MCPResource]:
    import anyio.to_thread

    try:
        return await anyio.to_thread.run_sync(_listing, app)
    except MlopsError:  # a store that is down lists the files only
        return []


def read_workflow(app: AppContext, workflow_id: str) -> str:
    from mcp_server.core.boundary import Control
    from mcp_server.tools.workflow import service

    status = service.status(app, Control.unbounded("Reading the workflow"), workflow_id, None)
    return status.model_dump_json(indent=1)


def read_rollout(app: AppContext, rollout_id: str) -> str:
    from mcp_server.core.boundary import Control
    from mcp_server.tools.deploy import service

    status = service.canary_status(app, Control.unbounded("Reading the rollout"), None, rollout_id)
    return status.model_dump_json(indent=1)


def read_batch_prediction(app: AppContext, job_id: str) -> str:
    from mcp_server.tools.deploy import batch

    return batch.read_resource(app, job_id)


def _batch_state(app: AppContext, job_id: str) -> str:
    """A batch job's subscribers hear when it ends (not at every progress heartbeat)."""
    from mcp_server.tools.deploy import batch

    return batch.watched_state(app, job_id)


def _rollout_state(app: AppContext, rollout_id: str) -> str:
    """What a rollout's subscribers are told about: its state, step and reason (not the traffic window,
    which the controller rewrites every few seconds)."""
    from mcp_server.core.store.models import DeployRollout

    with app.store.read_session() as session:
        r = session.get(DeployRollout, rollout_id)
        if r is None:
            raise NotFound(f"No rollout {rollout_id!r}.")
        return f"{r.state}|{r.step_index}|{r.reason}|{r.finished_at}"


# The resource templates: (uri template, name, what it is, reader(app, variable) -> JSON text).
TEMPLATES: tuple[tuple[str, str, str, Callable[[AppContext, str], str]], ...] = (
    ("mlops://suites/{name}", "suite", "A GX expectation suite's newest version.", read_suite),
    (
        "mlops://validation-results/{result_id}",
        "validation result",
        "A stored validation result.",
        read_validation_result,
    ),
    (
        "mlops://lineage/{+entity}",
        "lineage graph",
        "Where an entity came from: its upstream lineage graph.",
        read_lineage,
    ),
    (
        "mlops://deployments/{endpoint}/history",
        "deployment history",
        "An endpoint's events, newest first.",
        read_deployment_history,
    ),
    (
        "mlops://workflows/{workflow_id}",
        "workflow",
        "A gated promotion: its state and each gate's; subscribe to hear when a gate or the workflow ends.",
        read_workflow,
    ),
    (
        "mlops://rollouts/{rollout_id}",
        "canary rollout",
        "A canary rollout: its state, step and traffic window; subscribe to hear when it steps, promotes or rolls back.",
        read_rollout,
    ),
    (
        "mlops://batch-predictions/{job_id}",
        "batch prediction",
        "A deploy_batch_predict job: state, rows done, rows/s, output dataset; subscribe to hear when it ends.",
        read_batch_prediction,
    ),
)
_VARIABLE = re.compile(r"\{\+?(\w+)\}")  # {name}, or {+entity} (may hold '/')


def _pattern(uri: str) -> re.Pattern[str]:
    head, variable, tail = _VARIABLE.split(uri)
    value = ".+" if "{+" in uri else "[^/]+"
    return re.compile(f"^{re.escape(head)}(?P<{variable}>{value}){re.escape(tail)}$")


_TEMPLATE_PATTERNS = [(_pattern(uri), read) for uri, _name, _description, read in TEMPLATES]


# What a subscriber is told about where it is less than the whole resource.
_WATCHED_PART: dict[Callable[[AppContext, str], str], Callable[[AppContext, str], str]] = {
    read_rollout: _rollout_state,
    read_batch_prediction: _batch_state,
}


def fingerprint(app: AppContext, uri: str) -> str | None:
    """What a subscribed URI shows now, as a digest (core/watch.py); None when it is not there (yet)."""
    from mcp_server.core.watch import content_fingerprint

    for pattern, read in _TEMPLATE_PATTERNS:
        m = pattern.match(uri)
        if m is not None:
            try:
                return content_fingerprint(_WATCHED_PART.get(read, read)(app, *m.groups()))
            except MlopsError:
                return None
    return None


def register_resources(server: MlopsServer, resource_error: Callable[[MlopsError], Exception]) -> None:
    """The resource templates; `resource_error` makes the SDK's error for a resource that cannot be read
    (passed in by core/app.py, the one place that imports the SDK's server classes)."""
    import inspect

    app = server.app

    def handler(read: Callable[[AppContext, str], str], variable: str) -> Callable[..., Awaitable[str]]:
        async def reader(**kwargs: str) -> str:
            import anyio.to_thread

            try:
                return str(await anyio.to_thread.run_sync(read, app, kwargs[variable]))
            except MlopsError as err:
                raise resource_error(err) from None

        # The SDK matches a template's variable to the handler's parameter of that name.
        parameter = inspect.Parameter(variable, inspect.Parameter.KEYWORD_ONLY, annotation=str)
        reader.__signature__ = inspect.Signature([parameter], return_annotation=str)  # type: ignore[attr-defined]
        reader.__annotations__ = {variable: str, "return": str}
        reader.__name__ = read.__name__
        return reader

    for uri, name, description, read in TEMPLATES:
        variable = _VARIABLE.split(uri)[1]
        server.resource(uri, name=name, mime_type="application/json", description=description)(
            handler(read, variable)
        )
