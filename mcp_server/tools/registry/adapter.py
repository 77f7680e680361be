"""The registry area's adapter over MLflow's model registry (core/tracking.py sets MLflow up).

Plain blocking functions (no MCP imports), run from tools.py in a worker thread; mlflow is imported
inside functions only. Aliases live in MLflow (`set_registered_model_alias`); their history (who, when,
why, from -> to) lives in the metadata store (mlops_registry_alias_events, revision 0007), and every
alias change happens inside one store write transaction, so two changes of one alias never interleave
and a rollback always pops the history that MLflow's alias really reflects.

Cross-area contract 2: `resolve_version(app, name, version, alias) -> str`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_server.core.errors import Conflict, InvalidInput, MlopsError, NotFound
from mcp_server.core.files import write_text_atomic
from mcp_server.core.tracking import backend_errors, mlflow_client, tracking_uri
from mcp_server.core.workspace import check_name

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

T = TypeVar("T")

TAG = "mlops_mcp."
SOURCE_TAG = TAG + "source"  # run | onnx_file | skops_file | pickle_file
ONNX_MODEL_TAG = TAG + "onnx_model_id"  # the logged ONNX twin of this version (MLflow LoggedModel id)
ONNX_URI_TAG = TAG + "onnx_uri"  # where its artifacts live
ONNX_OPSET_TAG = TAG + "onnx_opset"
ONNX_OF_TAG = "onnx_of"  # on the ONNX LoggedModel: "<name>/<version>" of its source version
ARCHIVED_TAG = TAG + "archived"
RESERVED_TAG_PREFIX = TAG
_VERSION_RE = re.compile(r"^[1-9][0-9]{0,9}$")
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,255}$")
_RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def check_model_name(name: str) -> str:
    return check_name(name, "model name")


def check_version(version: str | int) -> str:
    text = str(version).strip()
    if not _VERSION_RE.match(text):
        raise InvalidInput(f"The version {_short(version)} is not a version number such as '3'.")
    return text


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"The alias {_short(alias)} is not valid; use letters, digits, '_' or '-', starting with a "
            "letter (e.g. champion, challenger)."
        )
    if re.fullmatch(r"v\d+", alias, flags=re.IGNORECASE) or alias.lower() == "latest":
        raise InvalidInput(f"The alias {alias!r} is reserved by MLflow; choose another name.")
    return alias


def _error_code(err: BaseException) -> str:
    return str(getattr(err, "error_code", "") or "")


def is_not_found(err: BaseException) -> bool:
    code = _error_code(err)
    text = str(err).lower()
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
        "MlflowException" in {c.__name__ for c in type(err).__mro__}  # RestException too (tracking servers)
        and ("not found" in text or "does not exist" in text)
    )


def is_already_exists(err: BaseException) -> bool:
    return (
        _error_code(err) in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")
        or "already exists" in str(err).lower()
    )


def call(app: AppContext, fn: Callable[[], T], *, not_found: str | None = None) -> T:
    """One MLflow call: connection failures -> BackendUnavailable, a missing resource -> NotFound."""
    try:
        with backend_errors(app.settings):
            return fn()
    except MlopsError:
        raise
    except Exception as err:
        if not_found is not None and is_not_found(err):
            raise NotFound(not_found) from None
        raise


def client_of(app: AppContext) -> Any:
    return mlflow_client(app)


# ---------------------------------------------------------------------------------------------------
# Contract 2: model version resolution
# ---------------------------------------------------------------------------------------------------


def resolve_version(app: AppContext, name: str, version: str | None, alias: str | None) -> str:
    """The version number (as a string) of registered model `name` given by `version` or by `alias`.

    Exactly one of the two must be given. Raises InvalidInput (bad name/both/neither), NotFound.
    """
    return str(resolve_entity(app, name, version, alias).version)


def resolve_entity(app: AppContext, name: str, version: str | None, alias: str | None) -> Any:
    """resolve_version's MLflow ModelVersion (one registry call)."""
    check_model_name(name)
    if (version is None) == (alias is None):
        raise InvalidInput("Give exactly one of `version` and `alias`.")
    if version is not None:
        return get_version(app, name, version)
    assert alias is not None
    check_alias(alias)
    client = client_of(app)
    return call(
        app,
        lambda: client.get_model_version_by_alias(name, alias),
        not_found=f"Registered model {name!r} has no alias {alias!r}; set it with registry_set_alias.",
    )


def get_version(app: AppContext, name: str, version: str) -> Any:
    """The MLflow ModelVersion (NotFound with a clear sentence)."""
    check_model_name(name)
    number = check_version(version)
    client = client_of(app)
    return call(
        app,
        lambda: client.get_model_version(name, number),
        not_found=f"No version {number} of registered model {name!r}; list them with "
        "registry_search_versions.",
    )


# ---------------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------------

_REGISTER_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_REGISTER_GUARD = threading.Lock()
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".cloudpickle", ".pck")
MAX_TAGS = 50


def _register_lock(app: AppContext, name: str) -> threading.Lock:
    key = (tracking_uri(app.settings), name)
    with _REGISTER_GUARD:
        return _REGISTER_LOCKS.setdefault(key, threading.Lock())


def check_tags(tags: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/ ]{1,250}", key):
            raise InvalidInput(
                f"The tag name {_short(key)} is not valid; use letters, digits, '_', '-', '.', '/'."
            )
        if key.startswith(RESERVED_TAG_PREFIX) or key == ONNX_OF_TAG:
            raise InvalidInput(f"Tag names starting with {RESERVED_TAG_PREFIX!r} are the server's own.")
        text = str(value)
        if len(text) > 5000:
            raise InvalidInput(f"The tag {key!r} is longer than 5000 characters.")
        out[key] = text
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"Give at most {MAX_TAGS} tags.")
    return out


_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}
# Repository config can name programs git runs (fsmonitor, hooks, clean/smudge filters): all turned off.
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


def _logged_model_of_run(app: AppContext, run_id: str) -> Any:
    """The scikit-learn model a server run logged (its LoggedModel named "model")."""
    client = client_of(app)
    run = call(
        app,
        lambda: client.get_run(run_id),
        not_found=f"No run {run_id} in the tracking store; list runs with evaluation_list_runs.",
    )
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


def lineage_of_run(app: AppContext, run: Any) -> dict[str, Any]:
    """Datasets, validation results and quality scores known for the run's training data."""
    from sqlalchemy import select

    from mcp_server.core.store.models import LineageEdge, ValidationResultRecord

    tags = run.data.tags
    dataset = tags.get(TAG + "dataset")
    info: dict[str, Any] = {"run": f"run:{run.info.run_id}", "datasets": [dataset] if dataset else []}
    if not dataset:
        return info
    with app.store.read_session() as session:
        rows = session.scalars(
            select(ValidationResultRecord)
            .where(ValidationResultRecord.dataset == dataset)
            .order_by(ValidationResultRecord.created_at.desc())
            .limit(5)
        ).all()
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
        edges = session.scalars(
            select(LineageEdge)
            .where(LineageEdge.upstream == dataset)
            .order_by(LineageEdge.id.desc())
            .limit(50)
        ).all()
    scores = []
    for edge in edges:
        if "quality" not in edge.kind and "score" not in (edge.details or ""):
            continue
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


_KNOWN_MODELS: set[tuple[str, str]] = set()


def _ensure_registered_model(app: AppContext, name: str, description: str | None) -> None:
    key = (tracking_uri(app.settings), name)
    if key in _KNOWN_MODELS:  # created or seen by this process: skip MLflow's failing create
        return
    client = client_of(app)
    try:
        with backend_errors(app.settings):
            client.create_registered_model(name, description=description)
    except MlopsError:
        raise
    except Exception as err:
        if not is_already_exists(err):
            raise
    _KNOWN_MODELS.add(key)


def _create_version(
    app: AppContext,
    name: str,
    source: str,
    run_id: str,
    model_id: str | None,
    tags: dict[str, str],
    description: str | None,
) -> Any:
    """create_model_version, one at a time per name in this process, retried when the store was busy."""
    client = client_of(app)
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
            except Exception as err:  # another process registered the same version number first
                if is_not_found(err) and attempt == 0:  # the model was deleted since we saw it
                    _KNOWN_MODELS.discard((tracking_uri(app.settings), name))
                    _ensure_registered_model(app, name, description)
                    continue
                text = str(err).lower()
                if (
                    "locked" not in text
                    and "integrity" not in text
                    and "giving up" not in text
                    and "unique" not in text
                ):
                    raise
                last = err
                time.sleep(0.05 * (attempt + 1))
    raise Conflict(
        f"MLflow could not create a new version of {name!r} ({type(last).__name__}); retry in a moment."
    )


def register(
    app: AppContext,
    name: str,
    source: str,
    description: str | None,
    tags: dict[str, str] | None,
    code_path: str | None,
    client_name: str | None,
) -> Any:
    """Register a run's model or a model file (ONNX, skops; pickle only with allow_pickle) as a new version."""
    from mcp_server.core.lineage import make_id, record_edge
    from mcp_server.tools.registry import models as rm

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
    if _RUN_ID_RE.match(text):
        run_id, kind = text, "run"
    else:
        path = app.workspace.resolve(source)
        suffix = path.suffix.lower()
        if path.exists() or suffix in (".onnx", ".skops", *PICKLE_SUFFIXES) or "/" in text or "\\" in text:
            if not path.exists():
                raise NotFound(f"No model file {app.workspace.display(path)!r} in the workspace.")
            run_id, kind = log_file(app, path, name)
        else:  # a run name from evaluation_train_model: its latest run
            from mcp_server.tools.evaluation.adapter import resolve_model_ref

            run_id, kind = resolve_model_ref(app, text), "run"
    run, logged = _logged_model_of_run(app, run_id)
    lineage = lineage_of_run(app, run)
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
    mv = _create_version(
        app, name, logged.artifact_location, run_id, str(logged.model_id), version_tags, description
    )
    version = str(mv.version)
    model_node = make_id("model", name, version)
    with app.store.transaction() as session:
        record_edge(
            app.store, make_id("run", run_id), model_node, "registered", {"source": kind}, session=session
        )
        for ds in lineage.get("datasets", []):
            record_edge(app.store, ds, model_node, "trained_on", {"run": run_id}, session=session)
        for v in lineage.get("validations", [])[:1]:
            record_edge(app.store, v["id"], model_node, "validated_data", None, session=session)
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


def log_file(app: AppContext, path: Path, name: str) -> tuple[str, str]:
    """Log a model file into a new run of the server's experiment: (run_id, kind)."""
    shown = app.workspace.display(path)
    if not path.is_file():
        raise InvalidInput(f"{shown!r} is not a file; give an .onnx or .skops model file or a run id.")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _log_onnx_file(app, path, shown, name), "onnx_file"
    if suffix == ".skops":
        model = _load_skops(path, shown)
        return _log_sklearn(app, model, shown, "skops_file"), "skops_file"
    if suffix in PICKLE_SUFFIXES:
        if not app.settings.allow_pickle:
            raise InvalidInput(
                f"{shown!r} is a pickle/joblib file, which can run code when loaded; it is refused unless the "
                "operator sets MLOPS_MCP_ALLOW_PICKLE=true (convert it to skops or ONNX instead)."
            )
        model = _load_pickle(path, shown)
        return _log_sklearn(app, model, shown, "pickle_file"), "pickle_file"
    raise InvalidInput(
        f"{shown!r} is not a model this server accepts; give an MLflow run id, an .onnx or a .skops file."
    )


def _load_skops(path: Path, shown: str) -> Any:
    import skops.io as sio

    from mcp_server.tools.evaluation.adapter import trusted

    data = path.read_bytes()
    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except Exception:
        raise InvalidInput(f"{shown!r} is not a readable skops file.") from None
    bad = [t for t in untrusted if not trusted(t)]
    if bad:
        raise InvalidInput(f"{shown!r} holds types outside the trusted list ({bad[:3]}); refused.")
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as err:
        raise InvalidInput(f"{shown!r} could not be loaded by skops ({type(err).__name__}).") from None
    return _check_estimator(model, shown)


def _load_pickle(path: Path, shown: str) -> Any:
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


def _log_sklearn(app: AppContext, model: Any, shown: str, origin: str) -> str:
    """Log a user's scikit-learn model as skops (trusted types only) in a new run."""
    from sklearn.base import is_classifier

    from mcp_server.core.blocking import stdout_to_stderr
    from mcp_server.core.tracking import experiment_id, fluent
    from mcp_server.tools.evaluation.adapter import (
        LOGGED_BY,
        LOGGED_BY_TAG,
        pip_requirements,
        skops_types,
    )
    from mcp_server.tools.evaluation.adapter import TAG as EVAL_TAG

    try:
        types = skops_types(model)
    except MlopsError as err:
        raise InvalidInput(f"{shown!r}: {err.message}") from None
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    task = "classifier" if is_classifier(model) else "regressor"
    tags = {
        LOGGED_BY_TAG: LOGGED_BY,
        EVAL_TAG + "estimator": type(final).__name__,
        EVAL_TAG + "task": task,
        EVAL_TAG + "origin": origin,
        EVAL_TAG + "file": shown[:500],
    }
    exp = experiment_id(app)
    with fluent(app) as mlflow, stdout_to_stderr(), _quiet():
        import mlflow.sklearn

        with mlflow.start_run(experiment_id=exp, run_name=f"file-{Path(shown).stem}"[:100], tags=tags) as run:
            mlflow.sklearn.log_model(
                model,
                name="model",
                serialization_format="skops",
                skops_trusted_types=types,
                pip_requirements=pip_requirements(),
            )
            return str(run.info.run_id)


def _log_onnx_file(app: AppContext, path: Path, shown: str, name: str) -> str:
    """Log a user's ONNX file (external data checked) with a twin.json derived from its graph."""
    import onnx
    import onnxruntime

    from mcp_server.core.blocking import stdout_to_stderr
    from mcp_server.core.tracking import experiment_id, fluent
    from mcp_server.tools.onnx.adapter import load_checked
    from mcp_server.tools.onnx.runtime import OnnxTwin, write_twin

    model = load_checked(path)
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise InvalidInput(
            f"{shown!r} is not a valid ONNX model ({str(err).splitlines()[0][:150]})."
        ) from None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="onnx-file-") as tmp:
        folder = Path(tmp)
        spec, columns, task = spec_from_graph(model)
        extra = []
        if spec is not None:
            write_twin(folder, OnnxTwin(name, "0", folder / "model.onnx", task, columns, spec))
            extra = [str(folder / "twin.json")]
        exp = experiment_id(app)
        with fluent(app) as mlflow, stdout_to_stderr(), _quiet():
            import mlflow.onnx

            tags = {
                "mlops_mcp.logged_by": "mlops-mcp",
                TAG + "origin": "onnx_file",
                TAG + "file": shown[:500],
            }
            with mlflow.start_run(experiment_id=exp, run_name=f"file-{path.stem}"[:100], tags=tags) as run:
                mlflow.onnx.log_model(
                    model,
                    name="model",
                    pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"],
                    extra_files=extra or None,
                    save_as_external_data=False,
                )
                return str(run.info.run_id)


def spec_from_graph(model: Any) -> tuple[dict[str, Any] | None, list[str], Any]:
    """A twin spec for a user's ONNX file: one column per [N, 1] input, or x0..xk-1 of a single [N, k] input."""
    from onnx import TensorProto

    kinds = {
        TensorProto.FLOAT: "float32",
        TensorProto.DOUBLE: "float64",
        TensorProto.INT64: "int64",
        TensorProto.STRING: "string",
    }
    init = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in init]
    spec_inputs: list[dict[str, Any]] = []
    columns: list[str] = []
    for v in inputs:
        tt = v.type.tensor_type
        dtype = kinds.get(tt.elem_type)
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if dtype is None or len(dims) != 2 or dims[1] is None:
            return None, [], "regression"
        if dims[1] == 1:
            cols = [v.name]
        elif len(inputs) == 1:
            cols = [f"x{i}" for i in range(dims[1])]
        else:
            return None, [], "regression"
        spec_inputs.append({"name": v.name, "columns": cols, "dtype": dtype})
        columns.extend(cols)
    outs = list(model.graph.output)
    label = next((o.name for o in outs if o.name == "label"), None)
    probs = next((o.name for o in outs if o.name in ("probabilities", "output_probability")), None)
    task = "classification" if label else "regression"
    outputs = (
        {"label": label, "probabilities": probs, "value": None}
        if label
        else {"label": None, "probabilities": None, "value": outs[0].name if outs else None}
    )
    return (
        {"format": 1, "inputs": spec_inputs, "outputs": outputs, "missing": "numeric null -> NaN"},
        columns,
        task,
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------------------------------------
# Reading: list, search, get
# ---------------------------------------------------------------------------------------------------


def _iso(ms: Any) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat()


def aliases_of(app: AppContext, name: str) -> dict[str, str]:
    """alias -> version (MLflow's search results carry no aliases: read them from the registered model)."""
    client = client_of(app)
    rm = call(
        app,
        lambda: client.get_registered_model(name),
        not_found=f"No registered model {name!r}; register one with registry_register_model.",
    )
    aliases = getattr(rm, "aliases", {}) or {}
    return {str(k): str(v) for k, v in aliases.items()}


def list_models(app: AppContext, cursor: str | None, limit: int) -> Any:
    from mcp_server.tools.registry import models as rm

    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return rm.ModelList(models=[], next_cursor=None)
    client = client_of(app)
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
                updated=_iso(r.last_updated_timestamp),
            )
        )
    return rm.ModelList(models=models, next_cursor=page.token or None)


def run_data(app: AppContext, run_id: str | None) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """(metrics, params, tags) of a run; empty when it is gone."""
    if not run_id:
        return {}, {}, {}
    client = client_of(app)
    try:
        run = call(app, lambda: client.get_run(run_id), not_found="gone")
    except NotFound:
        return {}, {}, {}
    return dict(run.data.metrics), dict(run.data.params), dict(run.data.tags)


def _versions_of(app: AppContext, name: str | None) -> list[Any]:
    client = client_of(app)
    flt = ""
    if name is not None:
        check_model_name(name)
        flt = f"name = '{name}'"
    out: list[Any] = []
    token = None
    while True:
        page = call(
            app, functools.partial(client.search_model_versions, flt, max_results=1000, page_token=token)
        )
        out.extend(page)
        token = page.token
        if not token or len(out) >= 10_000:
            break
    return sorted(out, key=lambda v: (v.name, -int(v.version)))


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
    if field == "run_id":
        return mv.run_id
    raise InvalidInput(
        f"Unknown filter field {_short(field)}; use tags.<key>, metrics.<name>, alias, version or run_id."
    )


def search_versions(
    app: AppContext, name: str | None, conditions: list[Any], cursor: str | None, limit: int
) -> Any:
    from mcp_server.core.output import paginate
    from mcp_server.tools.registry import models as rm

    for cond in conditions:
        _field_value(cond, _Blank(), [], {})  # unknown fields fail before any MLflow call
    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return rm.VersionList(versions=[], total=0)
    versions = _versions_of(app, name)
    alias_cache: dict[str, dict[str, list[str]]] = {}
    out = []
    for mv in versions:
        if mv.name not in alias_cache:
            by_version: dict[str, list[str]] = {}
            with contextlib.suppress(NotFound):
                for alias, ver in aliases_of(app, mv.name).items():
                    by_version.setdefault(ver, []).append(alias)
            alias_cache[mv.name] = by_version
        aliases = sorted(alias_cache[mv.name].get(str(mv.version), []))
        needs_metrics = any(c.field.startswith("metrics.") for c in conditions)
        metrics = run_data(app, mv.run_id)[0] if needs_metrics else {}
        if all(_matches(c, _field_value(c, mv, aliases, metrics)) for c in conditions):
            out.append((mv, aliases, metrics))
    page = paginate(out, cursor, limit)
    rows = []
    for mv, aliases, metrics in page.items:
        if not metrics:
            metrics = run_data(app, mv.run_id)[0]
        rows.append(
            rm.VersionSummary(
                name=mv.name,
                version=str(mv.version),
                run_id=mv.run_id,
                aliases=aliases,
                tags={k: v[:200] for k, v in (mv.tags or {}).items()},
                metrics={k: float(v) for k, v in list(metrics.items())[:30]},
                archived=(mv.tags or {}).get(ARCHIVED_TAG) == "true",
                created=_iso(mv.creation_timestamp),
            )
        )
    return rm.VersionList(versions=rows, total=page.total, next_cursor=page.next_cursor)


class _Blank:
    tags: dict[str, str] = {}
    version = "1"
    run_id = None


_SIGNATURE_CACHE: dict[tuple[str, str], dict[str, Any] | None] = {}


def signature_of(app: AppContext, mv: Any) -> dict[str, Any] | None:
    """The MLmodel signature (inputs/outputs) of the version's model artifact."""
    import yaml

    location = getattr(mv, "storage_location", None) or mv.source
    key = (tracking_uri(app.settings), str(location))
    if key in _SIGNATURE_CACHE:
        return _SIGNATURE_CACHE[key]
    from mcp_server.core.blocking import stdout_to_stderr
    from mcp_server.core.tracking import fluent

    sig: dict[str, Any] | None = None
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlmodel-") as tmp:
        try:
            with fluent(app) as mlflow, stdout_to_stderr():
                import mlflow.artifacts

                local = mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/MLmodel", dst_path=tmp)
            conf = yaml.safe_load(Path(local).read_text()) or {}
            raw = conf.get("signature") or None
            if raw:
                sig = {
                    k: json.loads(v) if isinstance(v, str) else v
                    for k, v in raw.items()
                    if k in ("inputs", "outputs")
                }
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


def version_lineage(
    app: AppContext,
    name: str,
    version: str,
    tags: dict[str, str],
    run_tags: dict[str, str],
    run_id: str | None,
) -> Any:
    from mcp_server.core.lineage import make_id, query_lineage
    from mcp_server.tools.registry import models as rm

    graph = query_lineage(app.store, make_id("model", name, version), "both", 2)
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


def get_version_detail(app: AppContext, name: str, version: str | None, alias: str | None) -> Any:
    from mcp_server.tools.registry import models as rm

    mv = resolve_entity(app, name, version, alias)
    number = str(mv.version)
    # MLflow's get_model_version carries the version's aliases (search results do not).
    found = getattr(mv, "aliases", None)
    aliases = (
        sorted(str(a) for a in found)
        if found is not None
        else sorted(a for a, v in aliases_of(app, name).items() if v == number)
    )
    metrics, params, run_tags = run_data(app, mv.run_id)
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
        created=_iso(mv.creation_timestamp),
        aliases=aliases,
        tags={k: v[:300] for k, v in tags.items()},
        metrics={k: float(v) for k, v in list(metrics.items())[:40]},
        params={k: str(v)[:200] for k, v in list(params.items())[:40]},
        signature=signature_of(app, mv),
        lineage=version_lineage(app, name, number, tags, run_tags, mv.run_id),
        artifacts=artifacts_of(app, mv),
        onnx=twin,
    )


# ---------------------------------------------------------------------------------------------------
# Aliases: MLflow holds them, the store holds their history
# ---------------------------------------------------------------------------------------------------


def _pg_lock(session: Any, name: str, alias: str) -> None:
    """PostgreSQL: one alias changes at a time (SQLite's write transaction already serializes writers)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    import hashlib

    from sqlalchemy import text

    key = int.from_bytes(hashlib.sha256(f"alias:{name}@{alias}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _current_alias(app: AppContext, name: str, alias: str) -> str | None:
    """The version `alias` points at in MLflow (None when unset); NotFound when the model does not exist."""
    client = client_of(app)
    try:
        with backend_errors(app.settings):
            return str(client.get_model_version_by_alias(name, alias).version)
    except MlopsError:
        raise
    except Exception as err:
        if not is_not_found(err):
            raise
    aliases_of(app, name)  # NotFound when the model itself is missing
    return None


def _event(row: Any) -> Any:
    from mcp_server.tools.registry import models as rm

    return rm.AliasEvent(
        id=row.id,
        action=row.action,
        from_version=row.from_version,
        to_version=row.to_version,
        reason=row.reason,
        client=row.client,
        at=row.created_at.isoformat(),
        undone=row.popped_at is not None,
    )


def set_alias(
    app: AppContext, name: str, alias: str, version: str, reason: str | None, client_name: str | None
) -> Any:
    """Point `alias` at `version` in MLflow and append the change to the history, in one store transaction."""

    check_model_name(name)
    check_alias(alias)
    number = check_version(version)  # MLflow refuses an alias on a version that does not exist
    if reason is not None and len(reason) > 2000:
        raise InvalidInput("The reason is longer than 2000 characters.")
    client = client_of(app)
    moved: list[str | None] = []
    try:
        return _set_alias_tx(app, client, name, alias, number, reason, client_name, moved)
    except BaseException:
        if moved:  # MLflow moved but the history did not commit: put MLflow back
            _restore_alias(app, client, name, alias, moved[0])
        raise


def _restore_alias(app: AppContext, client: Any, name: str, alias: str, previous: str | None) -> None:
    with contextlib.suppress(Exception):
        if previous is None:
            client.delete_registered_model_alias(name, alias)
        else:
            client.set_registered_model_alias(name, alias, previous)


def _set_alias_tx(
    app: AppContext,
    client: Any,
    name: str,
    alias: str,
    number: str,
    reason: str | None,
    client_name: str | None,
    moved: list[str | None],
) -> Any:
    from sqlalchemy import select

    from mcp_server.core.store.models import RegistryAliasEvent, utcnow
    from mcp_server.tools.registry import models as rm

    with app.store.transaction(timeout_s=60) as session:
        _pg_lock(session, name, alias)
        previous = _current_alias(app, name, alias)
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
        row = RegistryAliasEvent(
            model=name,
            alias=alias,
            action="set",
            from_version=previous,
            to_version=number,
            reason=reason,
            client=client_name[:256] if client_name else None,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        call(
            app,
            lambda: client.set_registered_model_alias(name, alias, number),
            not_found=f"No version {number} of registered model {name!r}; list them with registry_search_versions.",
        )
        moved.append(previous)
        event = _event(row)
    return rm.AliasResult(name=name, alias=alias, version=number, previous=previous, event=event)


def rollback(app: AppContext, name: str, alias: str, reason: str | None, client_name: str | None) -> Any:
    """Undo the newest not-yet-undone change of `alias`: it goes back to the version it pointed to before."""

    check_model_name(name)
    check_alias(alias)
    client = client_of(app)
    moved: list[str | None] = []
    try:
        return _rollback_tx(app, client, name, alias, reason, client_name, moved)
    except BaseException:
        if moved:
            _restore_alias(app, client, name, alias, moved[0])
        raise


def _rollback_tx(
    app: AppContext,
    client: Any,
    name: str,
    alias: str,
    reason: str | None,
    client_name: str | None,
    moved: list[str | None],
) -> Any:
    from sqlalchemy import select

    from mcp_server.core.store.models import RegistryAliasEvent, utcnow
    from mcp_server.tools.registry import models as rm

    with app.store.transaction(timeout_s=60) as session:
        _pg_lock(session, name, alias)
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
        current = _current_alias(app, name, alias)
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
        now = utcnow()
        row.popped_at = now
        event_row = RegistryAliasEvent(
            model=name,
            alias=alias,
            action="rollback",
            from_version=current,
            to_version=target,
            reason=reason,
            client=client_name[:256] if client_name else None,
            created_at=now,
        )
        session.add(event_row)
        session.flush()
        call(app, lambda: client.set_registered_model_alias(name, alias, target))
        moved.append(current)
        event = _event(event_row)
    return rm.AliasResult(name=name, alias=alias, version=target, previous=current, event=event)


def alias_history(app: AppContext, name: str, alias: str, cursor: str | None, limit: int) -> Any:
    from sqlalchemy import select

    from mcp_server.core.output import decode_cursor, encode_cursor
    from mcp_server.core.store.models import RegistryAliasEvent
    from mcp_server.tools.registry import models as rm

    check_model_name(name)
    check_alias(alias)
    current = None
    with contextlib.suppress(NotFound):
        current = _current_alias(app, name, alias)
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


# ---------------------------------------------------------------------------------------------------
# Compare, archive, delete
# ---------------------------------------------------------------------------------------------------

_LOWER_HINTS = ("rmse", "mse", "mae", "mape", "rmsle", "msle", "error", "loss", "brier", "deviance")


def metric_direction(metric: str) -> str:
    base = metric.removeprefix("test_").lower()
    if base.startswith("neg_"):
        return "higher_is_better"  # scikit-learn's negated errors
    return "lower_is_better" if any(h in base for h in _LOWER_HINTS) else "higher_is_better"


def _side(a: dict[str, Any], b: dict[str, Any]) -> list[Any]:
    from mcp_server.tools.registry import models as rm

    keys = sorted(set(a) | set(b))[:60]
    return [rm.SideBySide(key=k, a=a.get(k), b=b.get(k), same=a.get(k) == b.get(k)) for k in keys]


def compare(app: AppContext, name: str, a: str, b: str, metric: str | None) -> Any:
    from mcp_server.tools.registry import models as rm

    va = get_version(app, name, a)
    vb = get_version(app, name, b)
    a, b = str(va.version), str(vb.version)
    ma, pa, ta = run_data(app, va.run_id)
    mb, pb, tb = run_data(app, vb.run_id)
    sa, sb = signature_of(app, va), signature_of(app, vb)
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


def serving_versions(app: AppContext, name: str) -> set[str]:
    """Contract 3 (deploy area), read lazily: no deploy area means no endpoints."""
    try:
        from mcp_server.tools.deploy.routing import serving_versions as routed
    except ImportError:
        return set()
    return {str(v) for v in routed(app, name)}


def _refuse_if_in_use(app: AppContext, name: str, version: str, what: str) -> None:
    holders = sorted(a for a, v in aliases_of(app, name).items() if v == version)
    if holders:
        raise Conflict(
            f"Version {version} of {name!r} holds the alias(es) {holders}; move them with registry_set_alias "
            f"before you {what} it."
        )
    if version in serving_versions(app, name):
        raise Conflict(
            f"Version {version} of {name!r} serves an endpoint; move the endpoint's traffic off it before you "
            f"{what} it."
        )


def archive(app: AppContext, name: str, version: str) -> Any:
    from mcp_server.tools.registry import models as rm

    mv = get_version(app, name, version)
    number = str(mv.version)
    _refuse_if_in_use(app, name, number, "archive")
    client = client_of(app)
    call(app, lambda: client.set_model_version_tag(name, number, ARCHIVED_TAG, "true"))
    return rm.ChangeResult(
        name=name,
        version=number,
        action="archived",
        detail=f"tagged {ARCHIVED_TAG}=true; search with tags.{ARCHIVED_TAG} to list archived versions",
    )


def delete(app: AppContext, name: str, version: str) -> Any:
    import shutil

    from mcp_server.tools.registry import models as rm

    mv = get_version(app, name, version)
    number = str(mv.version)
    _refuse_if_in_use(app, name, number, "delete")
    client = client_of(app)
    call(app, lambda: client.delete_model_version(name, number))
    shutil.rmtree(app.settings.home / "cache" / "onnx" / name / number, ignore_errors=True)
    return rm.ChangeResult(
        name=name,
        version=number,
        action="deleted",
        detail="the version is gone from the registry; its run and artifacts stay in MLflow tracking",
    )


# ---------------------------------------------------------------------------------------------------
# Model card
# ---------------------------------------------------------------------------------------------------


def _md(value: Any) -> str:
    """A value as Markdown table text: data, never markup (pipes and newlines escaped)."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")[:300]


def model_card(app: AppContext, name: str, version: str) -> Any:
    """A Markdown model card under <home>/reports/registry/, returned as an mlops://artifacts link."""

    from mcp_server.core.output import artifact_uri
    from mcp_server.tools.registry import models as rm

    detail = get_version_detail(app, name, version, None)
    run_tags = run_data(app, detail.run_id)[2]
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
    validations = lineage_of_run_tags(app, run_tags)
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
    others = sorted({v for a, v in aliases_of(app, name).items() if v != detail.version}, key=int)
    for mv_other in _versions_of(app, name):
        if len(others) >= 5:
            break
        if str(mv_other.version) not in others and str(mv_other.version) != detail.version:
            others.append(str(mv_other.version))
    if others:
        lines.append("| version | aliases | " + " | ".join(_md(k) for k in sorted(detail.metrics)[:6]) + " |")
        lines.append("|---|---|" + "---|" * min(6, len(detail.metrics)))
        alias_map = aliases_of(app, name)
        for other in [detail.version, *others][:6]:
            mv = get_version(app, name, other)
            metrics = run_data(app, mv.run_id)[0]
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


def lineage_of_run_tags(app: AppContext, run_tags: dict[str, str]) -> list[dict[str, Any]]:
    class _Run:
        class data:
            tags = run_tags

        class info:
            run_id = "0" * 32

    return list(lineage_of_run(app, _Run).get("validations", []))
