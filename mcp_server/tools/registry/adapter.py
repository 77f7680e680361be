"""The registry area's adapter over MLflow's model registry (core/tracking.py sets MLflow up).

Plain blocking functions (no MCP imports), called by service.py: creating registered models and versions
(retried by MLflow error code and SQLAlchemy exception class when another writer got there first),
logging a user's skops or pickle file, reading aliases, runs, signatures and artifacts, and git for the
code version. mlflow, skops and sklearn are imported inside functions only; the shared MLflow concerns
(tags, version resolution, trusted loading) are in core/mlmodels.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mcp_server.core.blocking import stdout_to_stderr
from mcp_server.core.errors import Conflict, InvalidInput, MlopsError, NotFound
from mcp_server.core.mlmodels import (
    LOGGED_BY,
    LOGGED_BY_TAG,
    MISSING_ALIAS,
    TAG,
    call,
    check_model_name,
    error_code,
    get_run,
    is_missing,
    log_skops_model,
    quiet_warnings,
    skops_types,
    trusted_loads,
)
from mcp_server.core.tracking import backend_errors, mlflow_client, tracking_uri

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


_REGISTER_LOCKS: dict[tuple[str, str], threading.Lock] = {}


_REGISTER_GUARD = threading.Lock()


def _register_lock(app: AppContext, name: str) -> threading.Lock:
    key = (tracking_uri(app.settings), name)
    with _REGISTER_GUARD:
        return _REGISTER_LOCKS.setdefault(key, threading.Lock())


_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}


_GIT_SAFE = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
]


def _git(folder: Path, *args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    import os

    env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}, **_GIT_ENV}
    return subprocess.run(
        ["git", "-C", str(folder), *_GIT_SAFE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def code_version(path: Path, shown: str) -> dict[str, Any]:
    """git commit and dirty flag of the repository holding `path` (argument lists, no shell, no repo programs)."""
    folder = path if path.is_dir() else path.parent
    try:
        commit = _git(folder, "rev-parse", "--verify", "HEAD")
        if commit.returncode != 0:
            raise InvalidInput(f"{shown!r} is not inside a git repository with a commit; omit code_path.")
        # Reading config runs nothing; every filter driver it names is then overridden with no command.
        filters = _git(folder, "config", "--get-regexp", r"^filter\.")
        overrides: list[str] = []
        for line in filters.stdout.splitlines():
            key = line.split(" ", 1)[0]
            driver = key[len("filter.") :].rsplit(".", 1)[0]
            for part in ("clean", "smudge", "process"):
                overrides += ["-c", f"filter.{driver}.{part}="]
        status = _git(folder, *overrides, "status", "--porcelain", "--untracked-files=no", timeout=20)
        if status.returncode != 0:
            raise InvalidInput(f"git status failed in {shown!r}; omit code_path.")
    except FileNotFoundError:
        raise InvalidInput("git is not installed on the server; omit code_path.") from None
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"git did not answer for {shown!r} in time; omit code_path.") from None
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip()), "code_path": shown}


def logged_model_of_run(app: AppContext, run_id: str) -> tuple[Any, Any]:
    """The scikit-learn model a server run logged (its LoggedModel named "model")."""
    client = mlflow_client(app)
    run = get_run(app, run_id)
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    candidates = []
    for out in outputs:
        model_id = str(out.model_id)
        logged = call(app, functools.partial(client.get_logged_model, model_id))
        if logged.name == "model":
            candidates.append(logged)
    if not candidates:
        raise InvalidInput(
            f"Run {run_id} has no logged model named 'model'; train it with evaluation_train_model."
        )
    return run, candidates[-1]


def logged_model_if_of(app: AppContext, model_id: str, run_id: str) -> Any | None:
    """The logged model `model_id` if run `run_id` logged it as its "model"; None when it is gone or not that."""
    client = mlflow_client(app)
    try:
        logged = call(app, functools.partial(client.get_logged_model, model_id), not_found="gone")
    except NotFound:
        return None
    if logged.name != "model" or getattr(logged, "source_run_id", None) != run_id:
        return None
    return logged


_KNOWN_MODELS: set[tuple[str, str]] = set()


def _ensure_registered_model(app: AppContext, name: str, description: str | None) -> None:
    key = (tracking_uri(app.settings), name)
    if key in _KNOWN_MODELS:  # created or seen by this process: skip MLflow's failing create
        return
    client = mlflow_client(app)
    try:
        with backend_errors(app.settings):
            client.create_registered_model(name, description=description)
    except MlopsError:
        raise
    except Exception as err:
        if error_code(err) != "RESOURCE_ALREADY_EXISTS":
            raise
    _KNOWN_MODELS.add(key)


def create_version(
    app: AppContext,
    name: str,
    source: str,
    run_id: str,
    model_id: str | None,
    tags: dict[str, str],
    description: str | None,
) -> Any:
    """create_model_version, one at a time per name in this process, retried when the store was busy."""
    client = mlflow_client(app)
    last: Exception | None = None
    with _register_lock(app, name):
        _ensure_registered_model(app, name, description)
        for attempt in range(8):
            try:
                with backend_errors(app.settings):
                    return client.create_model_version(
                        name,
                        source,
                        run_id=run_id,
                        tags=tags,
                        description=description,
                        model_id=model_id,
                        await_creation_for=0,
                    )
            except MlopsError:
                raise
            except Exception as err:
                if is_missing(err) and attempt == 0:  # the model was deleted since we saw it
                    _KNOWN_MODELS.discard((tracking_uri(app.settings), name))
                    _ensure_registered_model(app, name, description)
                    continue
                if not _store_busy(err):
                    raise
                last = err
                time.sleep(0.05 * (attempt + 1))
    raise Conflict(
        f"MLflow could not create a new version of {name!r} ({type(last).__name__}); retry in a moment."
    )


# Another writer got the same version number first, or the store was locked: the create is retried.
# MLflow's SQL store raises OperationalError as TEMPORARILY_UNAVAILABLE, other database errors as
# BAD_REQUEST (the SQLAlchemy error as the cause), and gives up on repeated IntegrityErrors with
# INTERNAL_ERROR; a tracking server answers with the same codes.
_BUSY_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "RESOURCE_ALREADY_EXISTS", "ABORTED", "INTERNAL_ERROR"})


def _store_busy(err: BaseException) -> bool:
    from sqlalchemy.exc import IntegrityError, OperationalError

    if error_code(err) in _BUSY_CODES:
        return True
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, IntegrityError | OperationalError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def load_skops(path: Path, shown: str) -> Any:
    return _check_estimator(trusted_loads(path.read_bytes(), repr(shown)), shown)


def load_pickle(path: Path, shown: str) -> Any:
    import pickle

    try:
        if path.suffix.lower() == ".joblib":
            import joblib

            model = joblib.load(path)
        else:
            with open(path, "rb") as fh:
                model = pickle.load(fh)
    except Exception as err:
        raise InvalidInput(f"{shown!r} could not be unpickled ({type(err).__name__}).") from None
    return _check_estimator(model, shown)


def _check_estimator(model: Any, shown: str) -> Any:
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict"):
        raise InvalidInput(f"{shown!r} does not hold a fitted scikit-learn estimator.")
    return model


def log_sklearn(app: AppContext, model: Any, shown: str, origin: str) -> str:
    """Log a user's scikit-learn model as skops (trusted types only) in a new run."""
    from sklearn.base import is_classifier

    from mcp_server.core.tracking import experiment_id, fluent

    try:
        types = skops_types(model)
    except MlopsError as err:
        raise InvalidInput(f"{shown!r}: {err.message}") from None
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    tags = {
        LOGGED_BY_TAG: LOGGED_BY,
        TAG + "estimator": type(final).__name__,
        TAG + "task": "classifier" if is_classifier(model) else "regressor",
        TAG + "origin": origin,
        TAG + "file": shown[:500],
    }
    exp = experiment_id(app)
    run_name = f"file-{Path(shown).stem}"[:100]
    with (
        fluent(app) as mlflow,
        stdout_to_stderr(),
        quiet_warnings(),
        mlflow.start_run(experiment_id=exp, run_name=run_name, tags=tags) as run,
    ):
        log_skops_model(mlflow, model, types)
        return str(run.info.run_id)


def iso(ms: Any) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat()


def aliases_of(app: AppContext, name: str) -> dict[str, str]:
    """alias -> version (MLflow's search results carry no aliases: read them from the registered model).
    NotFound when there is no registered model `name` (an MLflow prompt of that name is not one)."""
    client = mlflow_client(app)
    missing = f"No registered model {name!r}; register one with registry_register_model."
    rm = call(app, lambda: client.get_registered_model(name), not_found=missing)
    if PROMPT_TAG in (getattr(rm, "tags", None) or {}):
        raise NotFound(missing)
    aliases = getattr(rm, "aliases", {}) or {}
    return {str(k): str(v) for k, v in aliases.items()}


# MLflow keeps prompts as registered models with this tag (mlflow.prompt.constants.IS_PROMPT_TAG_KEY).
PROMPT_TAG = "mlflow.prompt.is_prompt"


def move_alias(app: AppContext, name: str, alias: str, version: str) -> None:
    """Point `alias` of registered model `name` at `version`. The caller has read the alias (current_alias:
    the model exists and is no prompt), which MlflowClient.set_registered_model_alias would read
    again before it sets the alias; so the registry client it wraps is called directly, when there is one."""
    client = mlflow_client(app)
    registry = getattr(client, "_get_registry_client", None)
    target = registry() if callable(registry) else client
    call(
        app,
        lambda: target.set_registered_model_alias(name, alias, version),
        not_found=f"No version {version} of registered model {name!r}; list them with registry_search_versions.",
    )


def run_data(app: AppContext, run_id: str | None) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """(metrics, params, tags) of a run; empty when it is gone."""
    if not run_id:
        return {}, {}, {}
    try:
        run = get_run(app, run_id)
    except NotFound:
        return {}, {}, {}
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)


def versions_of(app: AppContext, name: str | None, where: list[str] | None = None) -> list[Any]:
    """Model versions (of `name`), newest first per model, filtered in the store by the `where` clauses."""
    client = mlflow_client(app)
    clauses = list(where or [])
    if name is not None:
        check_model_name(name)
        clauses.insert(0, f"name = '{name}'")
    out: list[Any] = []
    token = None
    while True:
        page = call(
            app,
            functools.partial(
                client.search_model_versions,
                filter_string=" AND ".join(clauses),
                max_results=1000,
                order_by=["name ASC", "version_number DESC"],
                page_token=token,
            ),
        )
        out.extend(page)
        token = page.token
        if not token or len(out) >= 10_000:
            break
    return out


_SIGNATURE_CACHE: dict[tuple[str, str], dict[str, Any] | None] = {}


def signature_of(app: AppContext, mv: Any) -> dict[str, Any] | None:
    """The signature (inputs/outputs) of the version's model (`mlflow.models.get_model_info`)."""
    location = str(getattr(mv, "storage_location", None) or mv.source)
    key = (tracking_uri(app.settings), location)
    if key in _SIGNATURE_CACHE:
        return _SIGNATURE_CACHE[key]
    from mcp_server.core.tracking import fluent

    sig: dict[str, Any] | None = None
    try:
        with fluent(app) as mlflow, stdout_to_stderr():
            import mlflow.models

            # get_model_info reads a local folder by its path (a file:// URI is not found).
            local = unquote(urlsplit(location).path) if location.startswith("file:") else location
            signature = mlflow.models.get_model_info(local).signature
        if signature is not None:
            sig = {k: json.loads(v) if isinstance(v, str) else v for k, v in signature.to_dict().items()}
            sig = {k: v for k, v in sig.items() if k in ("inputs", "outputs")}
    except MlopsError:
        raise
    except Exception:
        sig = None
    _SIGNATURE_CACHE[key] = sig
    return sig


def artifacts_of(app: AppContext, mv: Any) -> list[str]:
    from mcp_server.core.tracking import fluent

    location = getattr(mv, "storage_location", None) or mv.source
    try:
        with fluent(app) as mlflow:
            import mlflow.artifacts

            files = mlflow.artifacts.list_artifacts(artifact_uri=str(location))
    except MlopsError:
        raise
    except Exception:
        return []
    shown = []
    for f in files:
        rel = str(f.path).rsplit("/", 1)[-1]  # list_artifacts prefixes the folder's own name
        shown.append(f"{rel}/" if f.is_dir else f"{rel} ({f.file_size} bytes)")
    return sorted(shown)[:50]


def current_alias(app: AppContext, name: str, alias: str) -> str | None:
    """The version `alias` points at in MLflow (None when unset); NotFound when there is no registered model
    `name` (a prompt of that name is not one). One version read: the registered model itself, with every
    version, is read only when the alias is unset."""
    client = mlflow_client(app)
    try:
        with backend_errors(app.settings):
            found = client.get_model_version_by_alias(name, alias)
        if PROMPT_TAG in (getattr(found, "tags", None) or {}):  # MLflow tags each prompt version too
            raise NotFound(f"No registered model {name!r}; register one with registry_register_model.")
        return str(found.version)
    except MlopsError:
        raise
    except Exception as err:
        if not is_missing(err, MISSING_ALIAS):
            raise
    aliases_of(app, name)  # NotFound when the model itself is missing
    return None


def restore_alias(app: AppContext, name: str, alias: str, previous: str | None) -> None:
    """Put MLflow's alias back after the store's history did not commit (best effort)."""
    client = mlflow_client(app)
    with contextlib.suppress(Exception):
        if previous is None:
            client.delete_registered_model_alias(name, alias)
        else:
            client.set_registered_model_alias(name, alias, previous)
