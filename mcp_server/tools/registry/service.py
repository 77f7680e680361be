"""The registry use cases: register, list, search, get, aliases with history and rollback, compare, archive,
delete, model cards.

Plain synchronous functions `fn(app, control, ...)` (no MCP imports) called by tools.py, the CLI and other
areas. MLflow holds models, versions and aliases (adapter.py talks to it); the metadata store holds the
alias history (mlops_registry_alias_events, revision 0007): every alias change happens inside one store
write transaction, so two changes of one alias never interleave and a rollback always pops the history
that MLflow's alias really reflects. Shared MLflow concerns (tags, version resolution) are core/mlmodels.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.errors import Conflict, InvalidInput, MlopsError, NotFound
from mcp_server.core.files import write_text_atomic
from mcp_server.core.mlmodels import (
    ARCHIVED_TAG,
    ONNX_MODEL_TAG,
    ONNX_OF_TAG,
    ONNX_OPSET_TAG,
    ONNX_URI_TAG,
    RUN_ID_RE,
    SOURCE_TAG,
    TAG,
    call,
    check_alias,
    check_model_name,
    check_version,
    get_version,
    onnx_cache,
    resolve_entity,
    resolve_model_ref,
    short,
)
from mcp_server.core.tracking import mlflow_client
from mcp_server.core.values import copied
from mcp_server.tools.onnx import service as onnx_service
from mcp_server.tools.registry import adapter
from mcp_server.tools.registry import models as rm
from mcp_server.tools.registry.adapter import code_version

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext


PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".pck")


MAX_TAGS = 50


def check_tags(tags: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/ ]{1,250}", key):
            raise InvalidInput(
                f"The tag name {short(key)} is not valid; use letters, digits, '_', '-', '.', '/'."
            )
        if key.startswith(TAG) or key == ONNX_OF_TAG:
            raise InvalidInput(f"Tag names starting with {TAG!r} are the server's own.")
        text = str(value)
        if len(text) > 5000:
            raise InvalidInput(f"The tag {key!r} is longer than 5000 characters.")
        out[key] = text
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"Give at most {MAX_TAGS} tags.")
    return out


@functools.cache
def _lineage_queries() -> tuple[Any, Any, Any]:
    """The three reads of lineage_of_run, built once (building a SQLAlchemy statement costs about as much as
    running it): the `trained` edge to a run, a dataset's newest validation results, and the edges from a
    dataset that may carry a quality score (the rest is filtered in SQL)."""
    from sqlalchemy import bindparam, or_, select

    from mcp_server.core.store.models import LineageEdge, ValidationResultRecord

    v, e = ValidationResultRecord, LineageEdge
    trained = (
        select(e.upstream, e.details)
        .where(e.downstream == bindparam("run"), e.kind == "trained")
        .order_by(e.id.desc())
        .limit(1)
    )
    validations = (
        select(v.id, v.kind, v.suite_name, v.success, v.failed, v.evaluated, v.created_at)
        .where(v.dataset == bindparam("dataset"))
        .order_by(v.created_at.desc())
        .limit(5)
    )
    scored = (
        select(e.downstream, e.details, e.created_at)
        .where(
            e.upstream == bindparam("dataset"), or_(e.kind.contains("quality"), e.details.contains("score"))
        )
        .order_by(e.id.desc())
        .limit(50)
    )
    return trained, validations, scored


def lineage_of_run(app: AppContext, run_id: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """Datasets, validation results and quality scores known for the run's training data, in one read.

    The data is the one the run's MLflow `tags` name. With `tags` None (the caller did not read the run) it
    is the one this server's `trained` edge to the run records, and "model_id" is the logged model that
    edge names (no "model_id": the server did not train this run)."""
    from mcp_server.core.lineage import make_id

    trained, validations, scored = _lineage_queries()
    dataset = (tags or {}).get(TAG + "dataset")
    info: dict[str, Any] = {"run": f"run:{run_id}", "datasets": []}
    with app.store.read_session() as session:
        conn = session.connection()
        if tags is None and (edge := conn.execute(trained, {"run": make_id("run", run_id)}).first()):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                model_id = (json.loads(edge.details) if edge.details else {}).get("model_id")
                if isinstance(model_id, str) and model_id:
                    dataset, info["model_id"] = edge.upstream, model_id
        if not dataset:
            return info
        info["datasets"] = [dataset]
        rows = conn.execute(validations, {"dataset": dataset}).all()
        edges = conn.execute(scored, {"dataset": dataset}).all()
    info["validations"] = [
        {
            "id": f"validation:{r.id}",
            "kind": r.kind,
            "suite": r.suite_name,
            "success": r.success,
            "failed": r.failed,
            "evaluated": r.evaluated,
            "at": r.created_at.isoformat(),
        }
        for r in rows
    ]
    scores = []
    for edge in edges:
        with contextlib.suppress(ValueError, TypeError):
            details = json.loads(edge.details) if edge.details else {}
            score = details.get("score", details.get("quality_score"))
            if isinstance(score, (int, float)):
                scores.append(
                    {"id": edge.downstream, "score": float(score), "at": edge.created_at.isoformat()}
                )
    if scores:
        info["quality_score"] = scores[0]["score"]
        info["quality"] = scores[:3]
    return info


def model_of_run(app: AppContext, run_id: str) -> tuple[dict[str, Any], Any]:
    """(lineage_of_run of the run, its logged model "model"). A run this server trained is known from its
    `trained` edge: one logged-model read instead of MLflow's whole run record (metrics, params, inputs,
    outputs), which registering does not need."""
    lineage = lineage_of_run(app, run_id, None)
    if "model_id" in lineage:
        logged = adapter.logged_model_if_of(app, lineage["model_id"], run_id)
        if logged is not None:
            return lineage, logged
    run, logged = adapter.logged_model_of_run(app, run_id)  # any other run, or its model was replaced
    return lineage_of_run(app, run_id, dict(run.data.tags)), logged


def register(
    app: AppContext,
    control: Control,
    name: str,
    source: str,
    description: str | None,
    tags: dict[str, str] | None,
    code_path: str | None,
    client_name: str | None,
    feature_names: list[str] | None = None,
) -> rm.RegisterResult:
    """Register a run's model or a model file (ONNX, skops; pickle only with allow_pickle) as a new version.

    `feature_names` applies to an ONNX file only (the columns of its [N, k] input)."""
    from mcp_server.core.lineage import make_id, record_edges

    check_model_name(name)
    user_tags = check_tags(tags)
    if description is not None and len(description) > 5000:
        raise InvalidInput("The description is longer than 5000 characters.")
    code = None
    if code_path is not None:
        resolved = app.workspace.resolve(code_path, must_exist=True)
        code = code_version(resolved, app.workspace.display(resolved))
    text = source.strip()
    if text.startswith("runs:/"):
        text = text[len("runs:/") :].split("/", 1)[0]
    if RUN_ID_RE.match(text):
        run_id, kind = text, "run"
    else:
        if feature_names is not None and Path(text).suffix.lower() != ".onnx":
            raise InvalidInput(
                "feature_names names the columns of an .onnx file's input; a run or a skops/pickle model "
                "records its own feature names, so leave it out."
            )
        path = app.workspace.resolve(source)
        suffix = path.suffix.lower()
        if path.exists() or suffix in (".onnx", ".skops", *PICKLE_SUFFIXES) or "/" in text or "\\" in text:
            if not path.exists():
                raise NotFound(f"No model file {app.workspace.display(path)!r} in the workspace.")
            run_id, kind = log_file(app, control, path, name, feature_names)
        else:  # a run name from evaluation_train_model: its latest run
            run_id, kind = resolve_model_ref(app, text), "run"
    lineage, logged = model_of_run(app, run_id)
    version_tags = {**user_tags, SOURCE_TAG: kind}
    if lineage.get("datasets"):
        version_tags[TAG + "dataset"] = lineage["datasets"][0]
    if lineage.get("validations"):
        v = lineage["validations"][0]
        version_tags[TAG + "validation"] = f"{v['id']} success={v['success']}"
    if "quality_score" in lineage:
        version_tags[TAG + "quality_score"] = str(lineage["quality_score"])
    if code is not None:
        version_tags[TAG + "git_commit"] = code["git_commit"]
        version_tags[TAG + "git_dirty"] = str(code["git_dirty"]).lower()
        lineage["code"] = code
    if client_name:
        version_tags[TAG + "registered_by"] = client_name[:250]
    if kind == "onnx_file":
        version_tags[ONNX_MODEL_TAG] = str(logged.model_id)
        version_tags[ONNX_URI_TAG] = f"models:/{logged.model_id}"
    mv = adapter.create_version(
        app, name, logged.artifact_location, run_id, str(logged.model_id), version_tags, description
    )
    version = str(mv.version)
    model_node = make_id("model", name, version)
    edges: list[tuple[str, str, str, dict[str, Any] | None]] = [
        (make_id("run", run_id), model_node, "registered", {"source": kind})
    ]
    edges += [(ds, model_node, "trained_on", {"run": run_id}) for ds in lineage.get("datasets", [])]
    edges += [(v["id"], model_node, "validated_data", None) for v in lineage.get("validations", [])[:1]]
    # The call's last write: its audit row commits with these edges (one commit for the call).
    with app.store.transaction(audit=True) as session:
        record_edges(app.store, edges, session=session)
    return rm.RegisterResult(
        name=name,
        version=version,
        source=kind,  # type: ignore[arg-type]
        run_id=run_id,
        model_uri=f"models:/{name}/{version}",
        lineage=rm.Lineage(
            run=f"run:{run_id}",
            datasets=lineage.get("datasets", []),
            validations=[rm.ValidationRef(**v) for v in lineage.get("validations", [])],
            quality_score=lineage.get("quality_score"),
            code=rm.CodeVersion(**code) if code else None,
        ),
        tags={k: v for k, v in version_tags.items()},
    )


def log_file(
    app: AppContext, control: Control, path: Path, name: str, feature_names: list[str] | None = None
) -> tuple[str, str]:
    """Log a model file into a new run of the server's experiment: (run_id, kind)."""
    shown = app.workspace.display(path)
    if not path.is_file():
        raise InvalidInput(f"{shown!r} is not a file; give an .onnx or .skops model file or a run id.")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return onnx_service.log_onnx_file(app, control, path, name, feature_names), "onnx_file"
    if suffix == ".skops":
        model = adapter.load_skops(path, shown)
        return adapter.log_sklearn(app, model, shown, "skops_file"), "skops_file"
    if suffix in PICKLE_SUFFIXES:
        if not app.settings.allow_pickle:
            raise InvalidInput(
                f"{shown!r} is a pickle/joblib file, which can run code when loaded; it is refused unless the "
                "operator sets MLOPS_MCP_ALLOW_PICKLE=true (convert it to skops or ONNX instead)."
            )
        model = adapter.load_pickle(path, shown)
        return adapter.log_sklearn(app, model, shown, "pickle_file"), "pickle_file"
    raise InvalidInput(
        f"{shown!r} is not a model this server accepts; give an MLflow run id, an .onnx or a .skops file."
    )


def list_models(app: AppContext, control: Control, cursor: str | None, limit: int) -> rm.ModelList:

    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return rm.ModelList(models=[], next_cursor=None)
    client = mlflow_client(app)
    try:
        page = call(app, lambda: client.search_registered_models(max_results=limit, page_token=cursor))
    except MlopsError:
        raise
    except Exception:
        raise InvalidInput("The cursor is not one this server returned; omit it to start again.") from None
    models = []
    for r in page:
        latest = max((int(v.version) for v in (r.latest_versions or [])), default=None)
        models.append(
            rm.ModelSummary(
                name=r.name,
                description=r.description or None,
                latest_version=str(latest) if latest is not None else None,
                aliases={str(k): str(v) for k, v in (getattr(r, "aliases", {}) or {}).items()},
                tags={k: v[:200] for k, v in (r.tags or {}).items()},
                updated=adapter.iso(r.last_updated_timestamp),
            )
        )
    return rm.ModelList(models=models, next_cursor=page.token or None)


def _matches(cond: Any, value: Any) -> bool:
    op = cond.op
    if op == "exists":
        return value is not None
    if value is None:
        return op == "!=" and cond.value is not None
    target = cond.value
    if op == "contains":
        return str(target) in str(value)
    if isinstance(value, (int, float)) or op in (">", ">=", "<", "<="):
        try:
            a, b = float(value), float(target)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return {"=": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
    a_s, b_s = str(value), str(target)
    return a_s == b_s if op == "=" else a_s != b_s


def _field_value(cond: Any, mv: Any, aliases: list[str], metrics: dict[str, float]) -> Any:
    field = cond.field
    if field.startswith("tags."):
        return (mv.tags or {}).get(field[5:])
    if field.startswith("metrics."):
        return metrics.get(field[8:])
    if field == "alias":
        if cond.op in ("=", "contains"):
            return cond.value if str(cond.value) in aliases else None
        return ",".join(aliases) or None
    if field == "version":
        return int(mv.version)
    return mv.run_id


def _check_field(cond: Any) -> None:
    if not cond.field.startswith(("tags.", "metrics.")) and cond.field not in ("alias", "version", "run_id"):
        raise InvalidInput(
            f"Unknown filter field {short(cond.field)}; use tags.<key>, metrics.<name>, alias, version or run_id."
        )


def _quoted(value: Any) -> str | None:
    text = str(value)
    if "'" not in text:
        return f"'{text}'"
    return f'"{text}"' if '"' not in text else None


def _store_clause(cond: Any) -> str | None:
    """The condition as an MLflow search clause where the store can narrow by it: a superset of the matches
    (every condition is still checked by `_matches`), so the store sends fewer versions."""
    value = cond.value
    if value is None or isinstance(value, bool):
        return None
    if cond.field == "version" and cond.op in ("=", "!=", ">", ">=", "<", "<="):
        return f"version_number {cond.op} {int(value)}" if str(value).isdigit() else None
    quoted = _quoted(value)
    if quoted is None:
        return None
    if cond.field == "run_id" and cond.op == "=":
        return f"run_id = {quoted}"
    key = cond.field.removeprefix("tags.")
    if not cond.field.startswith("tags.") or "`" in key:
        return None
    if cond.op == "=":
        return f"tags.`{key}` = {quoted}"
    if cond.op == "contains":
        return f"tags.`{key}` LIKE {quoted[0]}%{quoted[1:-1]}%{quoted[-1]}"
    return None


def search_versions(
    app: AppContext, control: Control, name: str | None, conditions: list[Any], cursor: str | None, limit: int
) -> rm.VersionList:
    from mcp_server.core.output import paginate

    for cond in conditions:
        _check_field(cond)  # unknown fields fail before any MLflow call
    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return rm.VersionList(versions=[], total=0)
    clauses = [c for c in map(_store_clause, conditions) if c is not None]
    versions = adapter.versions_of(app, name, clauses)
    alias_cache: dict[str, dict[str, list[str]]] = {}
    out = []
    for mv in versions:
        if mv.name not in alias_cache:
            by_version: dict[str, list[str]] = {}
            with contextlib.suppress(NotFound):
                for alias, ver in adapter.aliases_of(app, mv.name).items():
                    by_version.setdefault(ver, []).append(alias)
            alias_cache[mv.name] = by_version
        aliases = sorted(alias_cache[mv.name].get(str(mv.version), []))
        needs_metrics = any(c.field.startswith("metrics.") for c in conditions)
        metrics = adapter.run_data(app, mv.run_id)[0] if needs_metrics else {}
        if all(_matches(c, _field_value(c, mv, aliases, metrics)) for c in conditions):
            out.append((mv, aliases, metrics))
    page = paginate(out, cursor, limit)
    rows = []
    for mv, aliases, metrics in page.items:
        if not metrics:
            metrics = adapter.run_data(app, mv.run_id)[0]
        rows.append(
            rm.VersionSummary(
                name=mv.name,
                version=str(mv.version),
                run_id=mv.run_id,
                aliases=aliases,
                tags={k: v[:200] for k, v in (mv.tags or {}).items()},
                metrics={k: float(v) for k, v in list(metrics.items())[:30]},
                archived=(mv.tags or {}).get(ARCHIVED_TAG) == "true",
                created=adapter.iso(mv.creation_timestamp),
            )
        )
    return rm.VersionList(versions=rows, total=page.total, next_cursor=page.next_cursor)


def version_lineage(
    app: AppContext,
    name: str,
    version: str,
    tags: dict[str, str],
    run_tags: dict[str, str],
    run_id: str | None,
) -> Any:
    from mcp_server.core.lineage import make_id, neighbourhood

    graph = neighbourhood(app.store, make_id("model", name, version))  # two steps each way, one query
    edges = [f"{e.upstream} -> {e.downstream} ({e.kind})" for e in graph.edges][:40]
    datasets = [n.id for n in graph.nodes if n.kind == "dataset"]
    if not datasets and run_tags.get(TAG + "dataset"):
        datasets = [run_tags[TAG + "dataset"]]
    validations = []
    for node in graph.nodes:
        if node.kind == "validation":
            validations.append(node.id)
    code = None
    if TAG + "git_commit" in tags:
        code = rm.CodeVersion(
            git_commit=tags[TAG + "git_commit"],
            git_dirty=tags.get(TAG + "git_dirty") == "true",
            code_path="",
        )
    vals = []
    text = tags.get(TAG + "validation")
    if text:
        ident, _, rest = text.partition(" ")
        vals.append(
            rm.ValidationRef(
                id=ident, kind="suite", success=rest.endswith("True"), failed=0, evaluated=0, at=""
            )
        )
    quality = tags.get(TAG + "quality_score")
    return rm.Lineage(
        run=f"run:{run_id}" if run_id else None,
        datasets=datasets,
        validations=vals,
        quality_score=float(quality) if quality else None,
        code=code,
        edges=edges,
    )


def get_version_detail(
    app: AppContext,
    control: Control,
    name: str,
    version: str | None,
    alias: str | None,
    details: bool = False,
) -> rm.VersionDetail:
    """The version (with its aliases and tags: one registry read) and its run's metrics and params;
    with `details`, also its lineage, signature and artifact list (one more read each)."""
    mv = resolve_entity(app, name, version, alias)
    number = str(mv.version)
    # MLflow's get_model_version carries the version's aliases (search results do not).
    found = getattr(mv, "aliases", None)
    aliases = (
        sorted(str(a) for a in found)
        if found is not None
        else sorted(a for a, v in adapter.aliases_of(app, name).items() if v == number)
    )
    metrics, params, run_tags = adapter.run_data(app, mv.run_id)
    tags = dict(mv.tags or {})
    twin = None
    if tags.get(ONNX_MODEL_TAG):
        twin = rm.OnnxTwinInfo(
            onnx_model_id=tags[ONNX_MODEL_TAG],
            uri=f"models:/{tags[ONNX_MODEL_TAG]}",
            opset=tags.get(ONNX_OPSET_TAG),
            lineage_id=f"onnx:{name}/{number}",
        )
    return rm.VersionDetail(
        name=name,
        version=number,
        description=mv.description or None,
        source=tags.get(SOURCE_TAG),
        run_id=mv.run_id,
        status=str(mv.status) if mv.status else None,
        archived=tags.get(ARCHIVED_TAG) == "true",
        created=adapter.iso(mv.creation_timestamp),
        aliases=aliases,
        tags={k: v[:300] for k, v in tags.items()},
        metrics={k: float(v) for k, v in list(metrics.items())[:40]},
        params={k: str(v)[:200] for k, v in list(params.items())[:40]},
        signature=adapter.signature_of(app, mv) if details else None,
        lineage=version_lineage(app, name, number, tags, run_tags, mv.run_id) if details else None,
        artifacts=adapter.artifacts_of(app, mv) if details else None,
        onnx=twin,
    )


def _pg_lock(session: Any, name: str, alias: str) -> None:
    """PostgreSQL: one alias changes at a time (SQLite's write transaction already serializes writers)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    import hashlib

    from sqlalchemy import text

    key = int.from_bytes(hashlib.sha256(f"alias:{name}@{alias}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _event(row: Any) -> Any:
    return copied(rm.AliasEvent, row, at=row.created_at.isoformat(), undone=row.popped_at is not None)


def set_alias(
    app: AppContext,
    control: Control,
    name: str,
    alias: str,
    version: str,
    reason: str | None,
    client_name: str | None,
    subject: str | None = None,
) -> rm.AliasResult:
    """Point `alias` at `version` in MLflow and append the change to the history, in one store transaction.
    `client_name` and `subject` (the OAuth token's sub) say who asked."""
    from sqlalchemy import select

    from mcp_server.core.store.models import RegistryAliasEvent

    check_model_name(name)
    check_alias(alias)
    number = check_version(version)  # MLflow refuses an alias on a version that does not exist
    if reason is not None and len(reason) > 2000:
        raise InvalidInput("The reason is longer than 2000 characters.")

    def plan(session: Any, previous: str | None) -> rm.AliasResult | tuple[str, str | None, str]:
        if previous == number:  # no change: nothing to record, so a rollback never pops a no-op
            last = session.scalars(
                select(RegistryAliasEvent)
                .where(RegistryAliasEvent.model == name, RegistryAliasEvent.alias == alias)
                .order_by(RegistryAliasEvent.id.desc())
                .limit(1)
            ).first()
            if last is not None and last.to_version == number:
                return rm.AliasResult(
                    name=name, alias=alias, version=number, previous=previous, event=_event(last)
                )
        return "set", previous, number

    return _change_alias(app, name, alias, reason, client_name, subject, plan)


def rollback(
    app: AppContext,
    control: Control,
    name: str,
    alias: str,
    reason: str | None,
    client_name: str | None,
    subject: str | None = None,
) -> rm.AliasResult:
    """Undo the newest not-yet-undone change of `alias`: it goes back to the version it pointed to before."""
    from sqlalchemy import select

    from mcp_server.core.store.models import RegistryAliasEvent, utcnow

    check_model_name(name)
    check_alias(alias)

    def plan(session: Any, current: str | None) -> tuple[str, str | None, str]:
        row = session.scalars(
            select(RegistryAliasEvent)
            .where(
                RegistryAliasEvent.model == name,
                RegistryAliasEvent.alias == alias,
                RegistryAliasEvent.action == "set",
                RegistryAliasEvent.popped_at.is_(None),
            )
            .order_by(RegistryAliasEvent.id.desc())
            .limit(1)
        ).first()
        if row is None:
            raise Conflict(
                f"The alias {alias!r} of {name!r} has no recorded change to roll back; see registry_alias_history."
            )
        if current != row.to_version:
            raise Conflict(
                f"The alias {alias!r} points at version {current} in MLflow but its newest recorded change set "
                f"{row.to_version}; set it explicitly with registry_set_alias."
            )
        target = row.from_version
        if target is None:
            raise Conflict(
                f"The alias {alias!r} of {name!r} pointed at no version before its first recorded change; "
                "there is nothing earlier to roll back to."
            )
        try:
            get_version(app, name, target)
        except NotFound:
            raise Conflict(
                f"Version {target}, the alias's earlier target, was deleted; set the alias explicitly."
            ) from None
        row.popped_at = utcnow()
        return "rollback", current, target

    return _change_alias(app, name, alias, reason, client_name, subject, plan)


def _change_alias(
    app: AppContext,
    name: str,
    alias: str,
    reason: str | None,
    client_name: str | None,
    subject: str | None,
    plan: Callable[[Any, str | None], rm.AliasResult | tuple[str, str | None, str]],
) -> rm.AliasResult:
    """One alias change in one store write transaction: the alias's version now is read from MLflow
    (one version read), `plan(session, current)` decides (action, previous, target)
    or answers at once; the history row is written, MLflow's alias moves, and if the transaction then does
    not commit MLflow's alias is put back."""
    from mcp_server.core.store.models import RegistryAliasEvent, utcnow

    moved: list[str | None] = []
    try:
        # The call's last write: its audit row commits with the history row (one commit for the call).
        with app.store.transaction(timeout_s=60, audit=True) as session:
            _pg_lock(session, name, alias)
            planned = plan(session, adapter.current_alias(app, name, alias))  # NotFound: no such model
            if isinstance(planned, rm.AliasResult):
                return planned
            action, previous, target = planned
            row = RegistryAliasEvent(
                model=name,
                alias=alias,
                action=action,
                from_version=previous,
                to_version=target,
                reason=reason,
                client=client_name[:256] if client_name else None,
                subject=subject[:256] if subject else None,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            adapter.move_alias(app, name, alias, target)
            moved.append(previous)
            event = _event(row)
    except BaseException:
        if moved:  # MLflow moved but the history did not commit: put MLflow back
            adapter.restore_alias(app, name, alias, moved[0])
        raise
    return rm.AliasResult(name=name, alias=alias, version=target, previous=previous, event=event)


def alias_history(
    app: AppContext, control: Control, name: str, alias: str, cursor: str | None, limit: int
) -> rm.AliasHistory:
    from sqlalchemy import select

    from mcp_server.core.output import decode_cursor, encode_cursor
    from mcp_server.core.store.models import RegistryAliasEvent

    check_model_name(name)
    check_alias(alias)
    current = None
    with contextlib.suppress(NotFound):
        current = adapter.current_alias(app, name, alias)
    offset = decode_cursor(cursor)
    with app.store.read_session() as session:
        rows = session.scalars(
            select(RegistryAliasEvent)
            .where(RegistryAliasEvent.model == name, RegistryAliasEvent.alias == alias)
            .order_by(RegistryAliasEvent.id.desc())
            .offset(offset)
            .limit(limit + 1)
        ).all()
    more = len(rows) > limit
    return rm.AliasHistory(
        name=name,
        alias=alias,
        current=current,
        events=[_event(r) for r in rows[:limit]],
        next_cursor=encode_cursor(offset + limit) if more else None,
    )


_LOWER_HINTS = ("rmse", "mse", "mae", "mape", "rmsle", "msle", "error", "loss", "brier", "deviance")


def metric_direction(metric: str) -> str:
    base = metric.removeprefix("test_").lower()
    if base.startswith("neg_"):
        return "higher_is_better"  # scikit-learn's negated errors
    return "lower_is_better" if any(h in base for h in _LOWER_HINTS) else "higher_is_better"


def _side(a: dict[str, Any], b: dict[str, Any]) -> list[Any]:

    keys = sorted(set(a) | set(b))[:60]
    return [rm.SideBySide(key=k, a=a.get(k), b=b.get(k), same=a.get(k) == b.get(k)) for k in keys]


def compare(
    app: AppContext, control: Control, name: str, a: str, b: str, metric: str | None
) -> rm.CompareResult:

    va = get_version(app, name, a)
    vb = get_version(app, name, b)
    a, b = str(va.version), str(vb.version)
    ma, pa, ta = adapter.run_data(app, va.run_id)
    mb, pb, tb = adapter.run_data(app, vb.run_id)
    sa, sb = adapter.signature_of(app, va), adapter.signature_of(app, vb)
    la = version_lineage(app, name, a, dict(va.tags or {}), ta, va.run_id)
    lb = version_lineage(app, name, b, dict(vb.tags or {}), tb, vb.run_id)
    result = rm.CompareResult(
        name=name,
        a=a,
        b=b,
        metrics=_side(ma, mb),
        params=_side(pa, pb),
        signature_same=sa == sb,
        signature={"a": sa, "b": sb} if sa != sb else {"both": sa},
        lineage={
            "a": {"run": la.run, "datasets": la.datasets, "code": la.code.model_dump() if la.code else None},
            "b": {"run": lb.run, "datasets": lb.datasets, "code": lb.code.model_dump() if lb.code else None},
            "same_data": la.datasets == lb.datasets,
        },
    )
    if metric is not None:
        key = metric if metric in ma or metric in mb else f"test_{metric}"
        if key not in ma and key not in mb:
            known = sorted(set(ma) | set(mb))[:15]
            raise InvalidInput(f"Neither version has the metric {metric!r}; their metrics are {known}.")
        result.metric = key
        result.direction = metric_direction(key)  # type: ignore[assignment]
        x, y = ma.get(key), mb.get(key)
        if x is not None and y is not None:
            result.difference = float(y - x)
            if x != y:
                b_better = (y > x) == (result.direction == "higher_is_better")
                result.better = b if b_better else a
    return result


def _refuse_if_in_use(app: AppContext, control: Control, name: str, version: str, what: str) -> None:
    from mcp_server.tools.deploy import service as deploy_service  # lazy: deploy calls onnx, onnx registry

    holders = sorted(a for a, v in adapter.aliases_of(app, name).items() if v == version)
    if holders:
        raise Conflict(
            f"Version {version} of {name!r} holds the alias(es) {holders}; move them with registry_set_alias "
            f"before you {what} it."
        )
    if version in deploy_service.serving_versions(app, control, name):
        raise Conflict(
            f"Version {version} of {name!r} serves an endpoint; move the endpoint's traffic off it before you "
            f"{what} it."
        )


def archive(app: AppContext, control: Control, name: str, version: str) -> rm.ChangeResult:

    mv = get_version(app, name, version)
    number = str(mv.version)
    _refuse_if_in_use(app, control, name, number, "archive")
    client = mlflow_client(app)
    call(app, lambda: client.set_model_version_tag(name, number, ARCHIVED_TAG, "true"))
    return rm.ChangeResult(
        name=name,
        version=number,
        action="archived",
        detail=f"tagged {ARCHIVED_TAG}=true; search with tags.{ARCHIVED_TAG} to list archived versions",
    )


def delete(app: AppContext, control: Control, name: str, version: str) -> rm.ChangeResult:
    import shutil

    mv = get_version(app, name, version)
    number = str(mv.version)
    _refuse_if_in_use(app, control, name, number, "delete")
    client = mlflow_client(app)
    call(app, lambda: client.delete_model_version(name, number))
    shutil.rmtree(onnx_cache(app, name, number), ignore_errors=True)
    return rm.ChangeResult(
        name=name,
        version=number,
        action="deleted",
        detail="the version is gone from the registry; its run and artifacts stay in MLflow tracking",
    )


def _md(value: Any) -> str:
    """A value as Markdown table text: data, never markup (pipes and newlines escaped)."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")[:300]


def model_card(app: AppContext, control: Control, name: str, version: str) -> rm.ModelCard:
    """A Markdown model card under <home>/reports/registry/, returned as an mlops://artifacts link."""

    from mcp_server.core.output import artifact_uri

    detail = get_version_detail(app, control, name, version, None, details=True)
    assert detail.lineage is not None and detail.artifacts is not None
    run_tags = adapter.run_data(app, detail.run_id)[2]
    lines = [f"# Model card: {_md(name)} version {detail.version}", ""]
    sections = ["Purpose", "Data and validation", "Metrics", "Comparisons", "Lineage", "Artifacts"]
    estimator = run_tags.get(TAG + "estimator", "unknown")
    task = run_tags.get(TAG + "task", "unknown")
    lines += ["## Purpose", ""]
    lines.append(f"- Description: {_md(detail.description) or '(none given)'}")
    lines.append(
        f"- Estimator: `{_md(estimator)}` ({_md(task)}), target `{_md(run_tags.get(TAG + 'target'))}`"
    )
    lines.append(
        f"- Aliases: {', '.join(detail.aliases) or '(none)'}; archived: {'yes' if detail.archived else 'no'}"
    )
    lines.append(f"- Registered: {detail.created} from {detail.source or 'run'}")
    lines += ["", "## Data and validation", ""]
    for ds in detail.lineage.datasets or ["(training data not recorded)"]:
        lines.append(f"- Training data: `{_md(ds)}`")
    if run_tags.get(TAG + "preprocessing"):
        lines.append(f"- Preprocessing: {_md(run_tags[TAG + 'preprocessing'])}")
    validations = lineage_of_run(app, detail.run_id or "", run_tags).get("validations", [])
    if validations:
        for v in validations:
            lines.append(
                f"- Validation `{_md(v['id'])}` ({_md(v['kind'])} {_md(v.get('suite') or '')}): "
                f"{'passed' if v['success'] else 'FAILED'}, {v['failed']} of {v['evaluated']} checks failed, {v['at']}"
            )
    else:
        lines.append("- Validation: no validation result recorded for this data")
    if detail.lineage.quality_score is not None:
        lines.append(f"- Quality score: {detail.lineage.quality_score:g}")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    for key, value in sorted(detail.metrics.items()):
        lines.append(f"| {_md(key)} | {value:.6g} |")
    lines += ["", "## Comparisons", ""]
    # Aliased versions first, then the newest others: up to five next to this one.
    others = sorted({v for a, v in adapter.aliases_of(app, name).items() if v != detail.version}, key=int)
    for mv_other in adapter.versions_of(app, name):
        if len(others) >= 5:
            break
        if str(mv_other.version) not in others and str(mv_other.version) != detail.version:
            others.append(str(mv_other.version))
    if others:
        lines.append("| version | aliases | " + " | ".join(_md(k) for k in sorted(detail.metrics)[:6]) + " |")
        lines.append("|---|---|" + "---|" * min(6, len(detail.metrics)))
        alias_map = adapter.aliases_of(app, name)
        for other in [detail.version, *others][:6]:
            mv = get_version(app, name, other)
            metrics = adapter.run_data(app, mv.run_id)[0]
            names = ", ".join(sorted(a for a, v in alias_map.items() if v == other)) or "-"
            cells = " | ".join(
                f"{metrics[k]:.4g}" if k in metrics else "-" for k in sorted(detail.metrics)[:6]
            )
            lines.append(f"| {other} | {_md(names)} | {cells} |")
    else:
        lines.append("No other version of this model to compare with.")
    lines += ["", "## Lineage", ""]
    lines.append(f"- Run: `{_md(detail.lineage.run)}`")
    if detail.lineage.code is not None:
        lines.append(
            f"- Code: git {detail.lineage.code.git_commit[:12]}{' (dirty working tree)' if detail.lineage.code.git_dirty else ''}"
        )
    for edge in detail.lineage.edges[:20]:
        lines.append(f"- {_md(edge)}")
    if detail.onnx is not None:
        lines.append(f"- ONNX twin: `{_md(detail.onnx.lineage_id)}` (opset {_md(detail.onnx.opset)})")
    lines += ["", "## Artifacts", ""]
    lines += [f"- {_md(a)}" for a in detail.artifacts] or ["- (none listed)"]
    if detail.signature:
        lines += [
            "",
            "Signature inputs: "
            + _md(", ".join(str(c.get("name")) for c in detail.signature.get("inputs", []))),
        ]
    text = "\n".join(lines) + "\n"
    path = app.settings.home / "reports" / "registry" / f"{name}-v{detail.version}-card.md"
    write_text_atomic(path, text)
    summary = (
        f"{estimator} {task}; {len(detail.metrics)} metrics; aliases {detail.aliases or 'none'}; "
        f"{'ONNX twin' if detail.onnx else 'no ONNX twin'}"
    )
    return rm.ModelCard(
        name=name,
        version=detail.version,
        card=artifact_uri(app.settings.home, path),
        sections=sections,
        summary=summary,
    )
