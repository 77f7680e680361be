"""`completion/complete` (issue #23 item 3): the names a prompt argument or a resource-template variable can
take, from what the server holds, prefix-matched, at most 100. No MCP imports: core/app.py registers
`complete(app, argument, prefix, context)` with the SDK.

What each argument names is decided by its name: a prompt's `dataset`, `new_batch` and `training_data` are
data files under the first root (and `lake:<name>` datasets); `suite` and a suite template's `name` are
suites (`name@N` once an '@' is typed); `model`, `version`, `endpoint`, `result_id`, `workflow_id` and
`rollout_id` are what the model registry, the endpoints, the validation results, the workflows and the
rollouts hold.
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

log = logging.getLogger("mlops_mcp.completions")
MAX_VALUES = 100
MAX_SCANNED = 5_000  # directory entries looked at for data files, so a huge root stays fast
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".jsonl", ".json")
DATASET_ARGUMENTS = ("dataset", "new_batch", "training_data")


def complete(app: AppContext, argument: str, prefix: str, context: dict[str, str]) -> list[str]:
    """Sorted values of `argument` starting with `prefix`; [] for an argument that names nothing known."""
    try:
        if argument in DATASET_ARGUMENTS:
            found = _data_files(app, prefix) + _lake_datasets(app, prefix)
        elif argument in ("suite", "name"):
            found = _suites(app, prefix)
        elif argument == "endpoint":
            found = _store_names(app, "endpoint", prefix)
        elif argument in ("result_id", "workflow_id", "rollout_id"):
            found = _store_names(app, argument, prefix)
        elif argument == "model":
            found = _models(app, prefix)
        elif argument == "version":
            found = _versions(app, context.get("model", ""), prefix)
        else:
            return []
    except (
        Exception
    ):  # completion is a hint: a backend that is down or a name it does not know completes nothing
        log.debug("no completions for %s", argument, exc_info=True)
        return []
    return sorted(v for v in set(found) if v.startswith(prefix))[:MAX_VALUES]


def _data_files(app: AppContext, prefix: str) -> list[str]:
    """Data files under the first root, as the tools take them (root-relative), in the typed folder."""
    root = app.workspace.default_root
    folder = os.path.dirname(prefix)
    base = (root / folder).resolve()
    if not base.is_relative_to(root.resolve()) or not base.is_dir():
        return []
    out: list[str] = []
    with os.scandir(base) as entries:
        for n, entry in enumerate(entries):
            if n >= MAX_SCANNED:
                break
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                out.append(rel + "/")
            elif entry.name.lower().endswith(DATA_SUFFIXES):
                out.append(rel)
    return out


def _store_ready(app: AppContext) -> bool:
    return app.settings.store_url is not None or (app.settings.home / "metadata.db").exists()


def _lake_datasets(app: AppContext, prefix: str) -> list[str]:
    if not "lake:".startswith(prefix[:5]) or not _store_ready(app):
        return []
    from sqlalchemy import select

    from mcp_server.core.store.models import CatalogDataset

    name = prefix[5:] if prefix.startswith("lake:") else ""
    with app.store.read_session() as session:
        stmt = select(CatalogDataset.name).where(CatalogDataset.name.startswith(name, autoescape=True))
        return [f"lake:{n}" for n in session.scalars(stmt.order_by(CatalogDataset.name).limit(MAX_VALUES))]


_SUITE_FILE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})@(?P<version>[0-9]+)\.json$")


def _suites(app: AppContext, prefix: str) -> list[str]:
    folder = app.settings.home / "gx" / "expectations"
    if not folder.is_dir():
        return []
    found: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            m = _SUITE_FILE.match(entry.name)
            if m:
                found.add(f"{m['name']}@{m['version']}" if "@" in prefix else m["name"])
    return list(found)


def _store_names(app: AppContext, kind: str, prefix: str) -> list[str]:
    if not _store_ready(app):
        return []
    from sqlalchemy import select

    from mcp_server.core.store.models import (
        DeployEndpoint,
        DeployRollout,
        ValidationResultRecord,
        WorkflowRecord,
    )

    column: Any = {
        "endpoint": DeployEndpoint.name,
        "result_id": ValidationResultRecord.id,
        "workflow_id": WorkflowRecord.id,
        "rollout_id": DeployRollout.id,
    }[kind]
    with app.store.read_session() as session:
        stmt = select(column).where(column.startswith(prefix, autoescape=True)).order_by(column)
        return [str(v) for v in session.scalars(stmt.limit(MAX_VALUES))]


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _models(app: AppContext, prefix: str) -> list[str]:
    from mcp_server.core.tracking import mlflow_client

    found = mlflow_client(app).search_registered_models(
        filter_string=f"name LIKE '{_quoted(prefix)}%'", max_results=MAX_VALUES
    )
    return [m.name for m in found]


def _versions(app: AppContext, model: str, prefix: str) -> list[str]:
    """A model's versions, and its aliases (a version argument takes either)."""
    if not model:
        return []
    from mcp_server.core.tracking import mlflow_client

    client = mlflow_client(app)
    versions = [
        str(v.version) for v in client.search_model_versions(filter_string=f"name='{_quoted(model)}'")
    ]
    aliases = list(getattr(client.get_registered_model(model), "aliases", {}) or {})
    return versions + aliases
