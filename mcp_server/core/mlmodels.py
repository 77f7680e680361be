"""The MLflow concerns the evaluation, registry, onnx and deploy areas share, written once.

- tags: the names the server writes on runs, model versions and logged models (`TAG`, ...);
- version resolution: `check_model_name`, `check_version`, `check_alias`, `get_version`,
  `resolve_entity`, `resolve_version` (registered versions) and `resolve_model_ref` (run ids, run names,
  `runs:/`, `models:/` URIs -> a run id);
- MLflow errors by `MlflowException.error_code`, never by message text (`call`, `is_missing`);
- trusted loading: skops with the server's own trusted-type list (`trusted`, `skops_types`,
  `trusted_loads`, `load_run_model`); pickle is never loaded here;
- the ONNX twin: `load_checked` (external data stays in the model's folder), the local cache
  `<home>/cache/onnx/<name>/<version>/` and `onnx_twin` (cache, else MLflow, else a conversion by the onnx
  area's service).

Heavy libraries (mlflow, skops, onnx, sklearn) are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_server.core.errors import InvalidInput, MlopsError, NotFound
from mcp_server.core.tracking import EXPERIMENT, backend_errors, fluent, mlflow_client, tracking_uri
from mcp_server.core.workspace import NAME_RE, check_name

if TYPE_CHECKING:
    from mcp_server.core.boundary import Control
    from mcp_server.core.context import AppContext
    from mcp_server.core.twin import OnnxTwin

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------------------------------

TAG = "mlops_mcp."
LOGGED_BY_TAG = TAG + "logged_by"  # on runs: the server logged the model (only those are loaded)
LOGGED_BY = "mlops-mcp"
SOURCE_TAG = TAG + "source"  # on versions: run | onnx_file | skops_file | pickle_file
ONNX_MODEL_TAG = TAG + "onnx_model_id"  # the logged ONNX twin of this version (MLflow LoggedModel id)
ONNX_URI_TAG = TAG + "onnx_uri"  # where its artifacts live
ONNX_OPSET_TAG = TAG + "onnx_opset"
ONNX_OF_TAG = "onnx_of"  # on the ONNX LoggedModel: "<name>/<version>" of its source version
ARCHIVED_TAG = TAG + "archived"

RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_VERSION_RE = re.compile(r"^[1-9][0-9]{0,9}$")
_ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,255}$")


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Library warnings (scikit-learn, MLflow, skl2onnx) off for the block: they would only reach stderr."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def short(value: Any, limit: int = 60) -> str:
    """A caller's value quoted for an error sentence, cut to `limit` characters."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# ---------------------------------------------------------------------------------------------------
# MLflow errors, by error code
# ---------------------------------------------------------------------------------------------------

MISSING = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND")
# get_model_version_by_alias answers INVALID_PARAMETER_VALUE for an alias that is not set (the name and
# alias were checked before the call, so that code can mean nothing else there).
MISSING_ALIAS = (*MISSING, "INVALID_PARAMETER_VALUE")


def error_code(err: BaseException) -> str:
    """An MLflow exception's error code (`MlflowException.error_code`), "" for anything else."""
    return str(getattr(err, "error_code", "") or "")


def is_missing(err: BaseException, codes: tuple[str, ...] = MISSING) -> bool:
    return error_code(err) in codes


def call(
    app: AppContext,
    fn: Callable[[], T],
    *,
    not_found: str | None = None,
    missing: tuple[str, ...] = MISSING,
) -> T:
    """One MLflow call: connection failures -> BackendUnavailable, a missing resource -> NotFound(not_found)."""
    try:
        with backend_errors(app.settings):
            return fn()
    except MlopsError:
        raise
    except Exception as err:
        if not_found is not None and is_missing(err, missing):
            raise NotFound(not_found) from None
        raise


# ---------------------------------------------------------------------------------------------------
# Names and version resolution
# ---------------------------------------------------------------------------------------------------


def check_model_name(name: str) -> str:
    return check_name(name, "model name")


def check_version(version: str | int) -> str:
    text = str(version).strip()
    if not _VERSION_RE.match(text):
        raise InvalidInput(f"The version {short(version)} is not a version number such as '3'.")
    return text


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"The alias {short(alias)} is not valid; use letters, digits, '_' or '-', starting with a "
            "letter (e.g. champion, challenger)."
        )
    if re.fullmatch(r"v\d+", alias, flags=re.IGNORECASE) or alias.lower() == "latest":
        raise InvalidInput(f"The alias {alias!r} is reserved by MLflow; choose another name.")
    return alias


def get_version(app: AppContext, name: str, version: str) -> Any:
    """The MLflow ModelVersion (NotFound with a clear sentence)."""
    check_model_name(name)
    number = check_version(version)
    client = mlflow_client(app)
    return call(
        app,
        lambda: client.get_model_version(name, number),
        not_found=f"No version {number} of registered model {name!r}; list them with "
        "registry_search_versions.",
    )


def resolve_entity(app: AppContext, name: str, version: str | None, alias: str | None) -> Any:
    """The MLflow ModelVersion of `name` given by exactly one of `version` and `alias` (one registry call)."""
    check_model_name(name)
    if (version is None) == (alias is None):
        raise InvalidInput("Give exactly one of `version` and `alias`.")
    if version is not None:
        return get_version(app, name, version)
    assert alias is not None
    check_alias(alias)
    client = mlflow_client(app)
    return call(
        app,
        lambda: client.get_model_version_by_alias(name, alias),
        not_found=f"Registered model {name!r} has no alias {alias!r}; set it with registry_set_alias.",
        missing=MISSING_ALIAS,
    )


def resolve_version(app: AppContext, name: str, version: str | None, alias: str | None) -> str:
    """The version number (as a string) of registered model `name` given by `version` or by `alias`.

    Exactly one of the two must be given. Raises InvalidInput (bad name/both/neither), NotFound.
    """
    return str(resolve_entity(app, name, version, alias).version)


def resolve_model_ref(app: AppContext, ref: str) -> str:
    """A run id from a run id, a run name, `runs:/<id>[/model]`, `models:/<name>/<version>` or `models:/<name>@<alias>`."""
    text = ref.strip()
    if RUN_ID_RE.match(text):
        return text
    if text.startswith("runs:/"):
        run_id = text[len("runs:/") :].split("/", 1)[0]
        if RUN_ID_RE.match(run_id):
            return run_id
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        client = mlflow_client(app)
        if "@" in rest:
            name, alias = rest.split("@", 1)
            fn: Callable[[], Any] = lambda: client.get_model_version_by_alias(name, alias)  # noqa: E731
        else:
            name, _, number = rest.partition("/")
            fn = lambda: client.get_model_version(name, number)  # noqa: E731
        version = call(
            app,
            fn,
            not_found=f"No registered model version {short(text, 80)}; check the name and version.",
            missing=MISSING_ALIAS,
        )
        if not version.run_id:
            raise InvalidInput(f"{short(text, 80)} was not registered from a run this server logged.")
        return str(version.run_id)
    if NAME_RE.match(text):
        return run_by_name(app, text)
    raise InvalidInput(
        f"{short(ref, 80)} is not a model reference; give a run id (32 hex digits), a run name, "
        "runs:/<run_id>/model, models:/<name>/<version> or models:/<name>@<alias>."
    )


def run_by_name(app: AppContext, name: str) -> str:
    """The latest run with this name in the server's experiment."""
    client = mlflow_client(app)
    with backend_errors(app.settings):
        exp = client.get_experiment_by_name(EXPERIMENT)
        runs = (
            client.search_runs(
                experiment_ids=[exp.experiment_id],
                filter_string=f"attributes.run_name = '{name}'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
            if exp is not None
            else []
        )
    if not runs:
        raise NotFound(f"No run named {name!r}; list runs with evaluation_list_runs.")
    return str(runs[0].info.run_id)


def get_run(app: AppContext, run_id: str) -> Any:
    client = mlflow_client(app)
    return call(
        app,
        lambda: client.get_run(run_id),
        not_found=f"No run {run_id} in the tracking store; list runs with evaluation_list_runs.",
    )


# ---------------------------------------------------------------------------------------------------
# Trusted loading (skops with the server's own list)
# ---------------------------------------------------------------------------------------------------

# Types skops must be told to trust for the allowlisted estimators and preprocessing (measured with
# skops.io.get_untrusted_types on each); anything else in a model file is refused.
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn._loss.link.Interval",
    }
)
_TRUSTED_PATTERN = re.compile(r"^sklearn\.metrics\._dist_metrics\.[A-Za-z]+Distance(32|64)$")


def trusted(type_name: str) -> bool:
    return type_name in TRUSTED_TYPES or bool(_TRUSTED_PATTERN.match(type_name))


def skops_types(model: Any) -> list[str]:
    """The types skops needs trusted to save and load `model`; all must be on the server's own list."""
    import skops.io as sio

    needed = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    unknown = [t for t in needed if not trusted(t)]
    if unknown:
        raise MlopsError(f"The model holds types outside the trusted list: {unknown[:5]}.")
    return needed


def trusted_loads(data: bytes, what: str) -> Any:
    """A skops file's object, loaded only when every type it needs is on the trusted list (InvalidInput)."""
    import skops.io as sio

    try:
        untrusted = sorted(sio.get_untrusted_types(data=data))
    except Exception:
        raise InvalidInput(f"{what} is not a readable skops file.") from None
    bad = [t for t in untrusted if not trusted(t)]
    if bad:
        raise InvalidInput(f"{what} holds types outside the trusted list ({bad[:3]}); refused.")
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as err:
        raise InvalidInput(f"{what} could not be loaded by skops ({type(err).__name__}).") from None


def sklearn_requirements() -> list[str]:
    """Explicit requirements (inferring them costs seconds per model): the sklearn flavor's pins."""
    import mlflow.sklearn
    import numpy
    import pandas

    reqs = list(mlflow.sklearn.get_default_pip_requirements(include_skops=True))
    return [*reqs, f"numpy=={numpy.__version__}", f"pandas=={pandas.__version__}"]


def log_skops_model(mlflow: Any, model: Any, types: list[str], signature: Any = None) -> Any:
    """Log `model` (in the active run) as the LoggedModel "model", saved with skops and its trusted types."""
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="skops",
        skops_trusted_types=types,
        pip_requirements=sklearn_requirements(),
        signature=signature,
    )


@dataclass
class LoadedModel:
    run_id: str
    model: Any
    task: str  # classifier | regressor
    estimator: str
    target: str | None
    features: list[str]
    dataset: str | None
    tags: dict[str, str]


_CACHE: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def load_run_model(app: AppContext, run_id: str) -> LoadedModel:
    """The fitted model of a run this server logged: skops with the server's own trusted-type list.

    MLflow's `mlflow.sklearn.load_model` trusts the type list written in the model's MLmodel file (and is
    disabled unless MLFLOW_ALLOW_PICKLE_DESERIALIZATION is set); here the artifact is downloaded, its
    flavor must say skops, and every type skops reports as untrusted must be on TRUSTED_TYPES.
    """
    from mcp_server.core.blocking import stdout_to_stderr

    if not RUN_ID_RE.match(run_id):
        run_id = resolve_model_ref(app, run_id)
    key = (tracking_uri(app.settings), run_id)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    tags = dict(get_run(app, run_id).data.tags)
    if tags.get(LOGGED_BY_TAG) != LOGGED_BY:
        raise InvalidInput(
            f"Run {run_id} was not logged by this server's evaluation_train_model; only those models are "
            "loaded (no foreign model files are deserialized)."
        )
    import yaml
    from sklearn.base import is_classifier

    with (
        tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp,
        fluent(app) as mlflow,
        stdout_to_stderr(),
    ):
        import mlflow.artifacts

        try:
            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=f"runs:/{run_id}/model", dst_path=tmp)
            )
        except MlopsError:
            raise
        except Exception:
            raise NotFound(f"Run {run_id} has no logged model artifact.") from None
        conf = yaml.safe_load((local / "MLmodel").read_text()).get("flavors", {}).get("sklearn", {})
        fname = str(conf.get("pickled_model", ""))
        if conf.get("serialization_format") != "skops" or not re.match(r"^[\w.-]+\.skops$", fname):
            raise InvalidInput(f"Run {run_id}'s model is not saved with skops; it is not loaded.")
        data = (local / fname).read_bytes()
    model = trusted_loads(data, f"Run {run_id}'s model")
    loaded = LoadedModel(
        run_id=run_id,
        model=model,
        task=tags.get(TAG + "task") or ("classifier" if is_classifier(model) else "regressor"),
        estimator=tags.get(TAG + "estimator", type(model).__name__),
        target=tags.get(TAG + "target"),
        features=[str(c) for c in getattr(model, "feature_names_in_", [])],
        dataset=tags.get(TAG + "dataset"),
        tags=tags,
    )
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


# ---------------------------------------------------------------------------------------------------
# ONNX: external data stays inside the model's folder
# ---------------------------------------------------------------------------------------------------


def _graph_tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _attr_tensors(node.attribute)


def _attr_tensors(attributes: Any) -> Iterator[Any]:
    for attr in attributes:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for sub in attr.graphs:
            yield from _graph_tensors(sub)


def _all_tensors(model: Any) -> Iterator[Any]:
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _attr_tensors(node.attribute)


def external_data_check(model: Any, folder: Path) -> tuple[bool, list[str], str]:
    """(safe, external files, detail): every external-data location must resolve inside `folder`."""
    from onnx import TensorProto

    base = folder.resolve()
    files: list[str] = []
    for tensor in _all_tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if not location:
            return False, files, f"tensor {tensor.name!r} has external data without a location"
        rel = Path(location)
        outside = rel.is_absolute() or ".." in rel.parts or location.startswith(("/", "\\"))
        if outside or not (base / rel).resolve().is_relative_to(base):
            return False, files, f"tensor {tensor.name!r} keeps its data at {location!r}, outside the folder"
        if location not in files:
            files.append(location)
    return (
        True,
        files,
        "no external data" if not files else f"{len(files)} external file(s) inside the folder",
    )


def load_checked(path: Path) -> Any:
    """The ONNX model at `path` with its external data, after the external-data check (InvalidInput)."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise InvalidInput(f"{path.name} is not a readable ONNX model ({type(err).__name__}).") from None
    safe, files, detail = external_data_check(model, path.parent)
    if not safe:
        raise InvalidInput(f"Refused {path.name}: {detail}; external data must stay in the model's folder.")
    if files:
        try:
            load_external_data_for_model(model, str(path.parent))
        except Exception as err:
            raise InvalidInput(
                f"{path.name}'s external data cannot be read ({type(err).__name__})."
            ) from None
    return model


# ---------------------------------------------------------------------------------------------------
# ONNX: the twin of a registered version
# ---------------------------------------------------------------------------------------------------

_TWIN_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_TWIN_GUARD = threading.Lock()


def twin_lock(app: AppContext, name: str, version: str) -> threading.Lock:
    """One conversion or download of a version's twin at a time in this process."""
    key = (str(app.settings.home), name, version)
    with _TWIN_GUARD:
        return _TWIN_LOCKS.setdefault(key, threading.Lock())


def onnx_cache(app: AppContext, name: str | None = None, version: str | None = None) -> Path:
    """`<home>/cache/onnx[/<name>/<version>]`: where twins are kept locally."""
    base = app.settings.home / "cache" / "onnx"
    return base / name / version if name is not None and version is not None else base


def install_twin(app: AppContext, name: str, version: str, source: Path) -> Path:
    """Copy model.onnx + twin.json from `source` into the version's cache folder (swap in a new folder)."""
    import shutil

    from mcp_server.core.twin import MODEL_FILE, TWIN_FILE

    final = onnx_cache(app, name, version)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=final.parent))
    for file in (MODEL_FILE, TWIN_FILE):
        shutil.copy2(source / file, staging / file)
    old = final.parent / f".{version}-old-{os.getpid()}-{time.monotonic_ns()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _download_twin(app: AppContext, name: str, version: str, model_id: str) -> Path:
    """Fetch a logged twin (model.onnx, twin.json) from MLflow into the cache, checked."""
    from mcp_server.core.blocking import stdout_to_stderr
    from mcp_server.core.twin import MODEL_FILE, TWIN_FILE, load_twin, write_twin

    client = mlflow_client(app)
    logged = call(
        app,
        lambda: client.get_logged_model(model_id),
        not_found=f"The ONNX twin of {name}/{version} ({model_id}) is gone from MLflow; convert it again.",
    )
    base = onnx_cache(app)
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="onnx-dl-", dir=base) as tmp:
        with fluent(app) as mlflow, stdout_to_stderr():
            import mlflow.artifacts

            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=logged.artifact_location, dst_path=tmp)
            )
        onnx_files = sorted(local.glob("*.onnx"))
        if not onnx_files:
            raise NotFound(f"The ONNX twin of {name}/{version} has no .onnx file.")
        load_checked(onnx_files[0])  # external data check before anything uses it
        if onnx_files[0].name != MODEL_FILE:
            os.replace(onnx_files[0], local / MODEL_FILE)
        twin_file = local / TWIN_FILE
        extra = local / "extra_files" / TWIN_FILE  # where MLflow keeps extra_files
        if not twin_file.is_file() and extra.is_file():
            os.replace(extra, twin_file)
        if not twin_file.is_file():
            raise NotFound(f"The ONNX twin of {name}/{version} has no {TWIN_FILE}; convert it again.")
        twin = load_twin(local)
        twin.spec["onnx_model_id"] = model_id
        write_twin(local, dataclasses.replace(twin, name=name, version=version, path=local / MODEL_FILE))
        return install_twin(app, name, version, local)


def stored_twin(app: AppContext, mv: Any) -> OnnxTwin | None:
    """The logged twin of ModelVersion `mv` (from the cache, else downloaded), None when it has none.

    Call under `twin_lock`.
    """
    from mcp_server.core.twin import load_twin

    model_id = (mv.tags or {}).get(ONNX_MODEL_TAG)
    if not model_id:
        return None
    with contextlib.suppress(ValueError, OSError, KeyError):
        cached = load_twin(onnx_cache(app, mv.name, str(mv.version)))
        if cached.spec.get("onnx_model_id") == model_id and cached.path.is_file():
            return cached
    return load_twin(_download_twin(app, mv.name, str(mv.version), model_id))


def onnx_twin(
    app: AppContext, name: str, version: str, *, convert: bool = True, control: Control | None = None
) -> OnnxTwin:
    """The ONNX twin of `name`/`version` as a local file, converted (with parity) when it has none.

    The conversion is the onnx area's (skl2onnx), reached through its service. Raises Conflict (parity
    failed), NotFound (no such version; or no twin and convert=False), InvalidInput (not convertible).
    """
    mv = get_version(app, name, version)
    version = str(mv.version)
    with twin_lock(app, name, version):
        twin = stored_twin(app, mv)
        if twin is not None:
            return twin
        if not convert:
            raise NotFound(f"{name}/{version} has no ONNX twin yet; create it with onnx_convert.")
        from mcp_server.core.boundary import Control
        from mcp_server.tools.onnx import service as onnx_service

        return onnx_service.convert_locked(
            app, control or Control.unbounded("The ONNX conversion"), name, version, None
        )[0]
