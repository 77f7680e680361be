"""The features area's adapter over Feast: the only module that imports feast, pandas, pyarrow and yaml.

Plain functions and one holder class (`FeastRepo`), no MCP imports. Every Feast call runs in the call's
worker thread (service.py, through the boundary), under the holder's lock (FeatureStore is not
thread-safe), and inside `stdout_to_stderr()` (Feast prints materialization progress to stdout).

The repo: `<home>/feature_repo` unless the operator configured `feature_repo` or features_init attached
a repo of the user's own. A repo this server created holds a `.mlops-mcp` marker; for it the Feast
configuration is built from the server's settings (local provider, file offline store, SQLite or Redis
online store, entity_key_serialization_version 3), so a Redis password never lands in a file. A repo
of the user's own is configured by its own feature_store.yaml, accepted only for the local provider
with the file offline store and a SQLite or Redis online store (other types load classes by name),
unless the operator set `allow_feature_repo_code`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mcp_server.core.blocking import stdout_to_stderr
from mcp_server.core.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LimitExceeded,
    MlopsError,
    NotFound,
)
from mcp_server.core.files import write_text_atomic
from mcp_server.core.tables import TableLimits
from mcp_server.core.values import plain
from mcp_server.tools.features.definitions import (
    SUPPORTED_SOURCE_SUFFIXES,
    Definitions,
    check_project,
    parse_definitions,
)

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

    from mcp_server.core.boundary import Control
    from mcp_server.core.config import Settings
    from mcp_server.core.workspace import Workspace

MARKER = ".mlops-mcp"
POINTER = "feature_repo.json"
VERSION_TAG = "mlops-mcp.version"
DEFINITIONS_TAG = "mlops-mcp.definitions"
MAX_DEFINITIONS_BYTES = 1_000_000
MAX_ONLINE_ROWS = 1_000
REGISTRY_TTL_S = 10
DEFAULT_PROJECT = "default"

_MANAGED_YAML = """\
# Written by mlops-mcp (features_init). The server builds its Feast configuration from its own settings
# (MLOPS_MCP_FEAST_ONLINE_STORE, MLOPS_MCP_REDIS_URL); this file lets the feast CLI read the same repo.
project: {project}
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


# -- the repo holder ----------------------------------------------------------------------------------


@dataclass
class RepoInfo:
    path: Path
    project: str
    created: bool
    attached: bool
    provider: str
    online_store: str
    offline_store: str
    projects: list[str]


def redis_connection_string(url: str) -> str:
    """redis://[:password@]host:port/db -> Feast's 'host:port,db=N,password=...' with timeouts."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidInput("MLOPS_MCP_REDIS_URL must start with redis:// or rediss://.")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 6379
    db = (parts.path or "/0").strip("/") or "0"
    if not db.isdigit():
        raise InvalidInput("MLOPS_MCP_REDIS_URL must name a numeric database, e.g. redis://127.0.0.1:6379/0.")
    items = [f"{host}:{port}", f"db={db}", "socket_timeout=5", "socket_connect_timeout=3"]
    if parts.username:
        items.append(f"username={unquote(parts.username)}")
    if parts.password:
        password = unquote(parts.password)
        if "," in password:
            raise InvalidInput("The Redis password may not contain ',' (Feast splits its settings on it).")
        items.append(f"password={password}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    return ",".join(items)


class FeastRepo:
    """One per server (app.client("feast", ...)): where the repo is and one FeatureStore per project."""

    def __init__(self, settings: Settings, workspace: Workspace) -> None:
        self.settings = settings
        self.workspace = workspace
        self.lock = threading.RLock()
        self._stores: dict[str, FeatureStore] = {}
        self._base: dict[str, Any] | None = None
        self._default: str | None = None
        # (project, features, service) -> (when, Selection): lookups that would otherwise deserialize the
        # registry's protos on every online read; as fresh as Feast's own registry cache.
        self.selections: dict[tuple[Any, ...], tuple[float, Selection]] = {}
        self.path, self.attached = self._locate()

    # where the repo is ------------------------------------------------------------------------------

    def _pointer(self) -> Path:
        return self.settings.home / POINTER

    def _locate(self) -> tuple[Path, bool]:
        pointer = self._pointer()
        if pointer.is_file():
            try:
                text = json.loads(pointer.read_text())["repo"]  # Workspace.stored form (or absolute)
                path = self.workspace.resolve(str(self.workspace.from_stored(text)), must_exist=True)
            except (ValueError, KeyError, TypeError, MlopsError):
                path = None
            if path is not None:
                return path, not (path / MARKER).exists()
        path = Path(self.settings.feature_repo or self.settings.home / "feature_repo").expanduser().resolve()
        attached = (path / "feature_store.yaml").is_file() and not (path / MARKER).exists()
        return path, attached

    @property
    def exists(self) -> bool:
        return (self.path / "feature_store.yaml").is_file()

    def reset(self) -> None:
        with self.lock:
            self._stores.clear()
            self._base = None
            self._default = None
            self.selections.clear()
            self.path, self.attached = self._locate()

    def show(self, path: Path | str) -> str:
        return self.workspace.display(Path(path))

    def scrub(self, text: str) -> str:
        """A library message as shown to the assistant: no home path, no Redis password, one line."""
        first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
        first = first.replace(str(self.settings.home), "<home>")
        secret = self.settings.redis_url.get_secret_value()
        password = urlsplit(secret).password
        if password:
            first = first.replace(password, "***")
        return re.sub(r"\x1b\[[0-9;]*m", "", first)[:300]

    # configuration -----------------------------------------------------------------------------------

    def _read_yaml(self) -> dict[str, Any]:
        import yaml

        try:
            raw = yaml.safe_load(os.path.expandvars((self.path / "feature_store.yaml").read_text()))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise InvalidInput(
                f"The feature repo's feature_store.yaml could not be read ({type(err).__name__}); fix or "
                "re-create it with features_init."
            ) from None
        if not isinstance(raw, dict) or not isinstance(raw.get("project"), str):
            raise InvalidInput("The feature repo's feature_store.yaml has no 'project'; fix it.")
        return raw

    def _check_attached(self, raw: dict[str, Any]) -> None:
        if self.settings.allow_feature_repo_code:
            return
        provider = str(raw.get("provider", "local"))
        online = _kind(raw.get("online_store"), "sqlite")
        offline = _kind(raw.get("offline_store"), "file")
        registry = raw.get("registry", "")
        registry_type = _kind(registry, "file") if isinstance(registry, dict) else "file"
        if (
            provider != "local"
            or online not in ("sqlite", "redis")
            or offline not in ("file", "dask")
            or registry_type != "file"
        ):
            raise InvalidInput(
                f"The attached repo uses provider '{provider}', online store '{online}', offline store "
                f"'{offline}', registry '{registry_type}'; only local/sqlite|redis/file/file are accepted "
                "unless the operator sets MLOPS_MCP_ALLOW_FEATURE_REPO_CODE."
            )

    def base_config(self) -> dict[str, Any]:
        """The RepoConfig fields shared by every project of this repo."""
        with self.lock:
            if self._base is not None:
                return self._base
            if self.attached:
                raw = self._read_yaml()
                self._check_attached(raw)
                base = dict(raw)
                registry = base.get("registry", "data/registry.db")
                if isinstance(registry, str):
                    registry = {"path": registry}
                registry = dict(registry)
                reg_path = Path(str(registry.get("path", "data/registry.db")))
                registry["path"] = str(reg_path if reg_path.is_absolute() else self.path / reg_path)
                registry.setdefault("cache_ttl_seconds", REGISTRY_TTL_S)
                base["registry"] = registry
            elif self.settings.feast_online_store == "redis":
                secret = self.settings.redis_url.get_secret_value()
                base = local_config(self.path / "data", redis_connection_string(secret))
            else:
                base = local_config(self.path / "data")
            base.pop("project", None)
            base.pop("repo_path", None)
            self._base = base
            return base

    def default_project(self) -> str:
        if not self.exists:
            return DEFAULT_PROJECT
        if self._default is None:
            self._default = str(self._read_yaml()["project"])
        return self._default

    def online_kind(self) -> str:
        return _kind(self.base_config().get("online_store"), "sqlite")

    def store(self, project: str | None = None) -> FeatureStore:
        """The FeatureStore of `project` (the repo's default when None); built once, under the lock."""
        project = check_project(project or self.default_project())
        with self.lock:
            if project not in self._stores:
                if not self.exists:
                    raise NotFound(
                        "No feature repo yet; call features_init or features_apply with a definitions file."
                    )
                from feast import FeatureStore, RepoConfig

                (self.path / "data").mkdir(parents=True, exist_ok=True)
                try:
                    config = RepoConfig(**self.base_config(), project=project, repo_path=self.path)
                except MlopsError:
                    raise
                except Exception as err:  # pydantic ValidationError, Feast config errors
                    raise InvalidInput(
                        f"The feature repo's configuration is not valid: {self.scrub(str(err))}."
                    ) from None
                with stdout_to_stderr():
                    self._stores[project] = FeatureStore(repo_path=str(self.path), config=config)
            return self._stores[project]

    # init / attach -----------------------------------------------------------------------------------

    def create_managed(self, project: str) -> bool:
        """Write the repo (marker + feature_store.yaml) if it does not exist; True if written now."""
        check_project(project)
        with self.lock:
            if self.exists:
                return False
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "data").mkdir(exist_ok=True)
            (self.path / MARKER).write_text("created by mlops-mcp\n")
            self.set_default_project(project)
            return True

    def set_default_project(self, project: str) -> None:
        check_project(project)
        with self.lock:
            if self.attached:
                raise Conflict(
                    "The attached repo's project is set in its own feature_store.yaml; pass `project` to the "
                    "tools instead."
                )
            write_text_atomic(self.path / "feature_store.yaml", _MANAGED_YAML.format(project=project))
            self.reset()

    def attach(self, path: Path) -> None:
        if not (path / "feature_store.yaml").is_file():
            raise NotFound(
                f"'{self.show(path)}' has no feature_store.yaml; give the folder of an existing Feast repo."
            )
        with self.lock:
            previous = self._pointer().read_text() if self._pointer().is_file() else None
            write_text_atomic(self._pointer(), json.dumps({"repo": self.workspace.stored(path)}))
            self.reset()
            try:
                self._read_yaml()
                self.base_config()
            except MlopsError:
                if previous is None:
                    self._pointer().unlink(missing_ok=True)
                else:
                    write_text_atomic(self._pointer(), previous)
                self.reset()
                raise

    def info(self, created: bool) -> RepoInfo:
        base = self.base_config() if self.exists else {}
        projects: list[str] = []
        if self.exists:
            with self.lock, feast_errors(self, "listing projects"):
                projects = sorted(p.name for p in self.store().list_projects(allow_cache=False))
        return RepoInfo(
            path=self.path,
            project=self.default_project(),
            created=created,
            attached=self.attached,
            provider=str(base.get("provider", "local")),
            online_store=_kind(base.get("online_store"), "sqlite"),
            offline_store=_kind(base.get("offline_store"), "file"),
            projects=projects,
        )


def _kind(value: Any, default: str) -> str:
    """The type of a store setting: `sqlite` or `{type: sqlite, ...}` (registries: `registry_type`)."""
    if isinstance(value, dict):
        return str(value.get("type", value.get("registry_type", default)))
    return str(value or default)


def local_config(data: Path, redis: str | None = None) -> dict[str, Any]:
    """The RepoConfig fields of a repo this server manages: local provider, file registry and offline
    store, and a SQLite online store under `data` or Redis at the `redis` connection string."""
    online = (
        {"type": "redis", "connection_string": redis}
        if redis
        else {"type": "sqlite", "path": str(data / "online_store.db")}
    )
    return {
        "provider": "local",
        "registry": {
            "registry_type": "file",
            "path": str(data / "registry.db"),
            "cache_ttl_seconds": REGISTRY_TTL_S,
        },
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


@contextlib.contextmanager
def feast_errors(repo: FeastRepo, what: str) -> Iterator[None]:
    """Feast's and Redis's failures -> one project error sentence; everything prints to stderr."""
    from feast import errors as fe

    try:
        import redis.exceptions as rex

        redis_errors: tuple[type[BaseException], ...] = (rex.ConnectionError, rex.TimeoutError)
        redis_auth: tuple[type[BaseException], ...] = (rex.AuthenticationError, rex.ResponseError)
    except ImportError:  # pragma: no cover - redis ships with the feast extra
        redis_errors, redis_auth = (), ()
    try:
        with stdout_to_stderr():
            yield
    except MlopsError:
        raise
    except fe.FeastObjectNotFoundException as err:
        raise NotFound(f"{repo.scrub(str(err))}; features_list shows what is registered.") from None
    except redis_errors as err:
        raise BackendUnavailable(
            f"The Redis online store did not answer while {what} ({repo.scrub(str(err))}); start Redis or fix "
            "MLOPS_MCP_REDIS_URL."
        ) from None
    except redis_auth as err:
        raise BackendUnavailable(
            f"The Redis online store refused the request while {what} ({repo.scrub(str(err))}); check the "
            "credentials in MLOPS_MCP_REDIS_URL."
        ) from None
    except (fe.FeastError, ValueError, KeyError, TypeError) as err:
        raise InvalidInput(f"Feast refused {what}: {repo.scrub(str(err)) or type(err).__name__}.") from None


# -- definitions -> Feast objects ---------------------------------------------------------------------


@dataclass
class Loaded:
    project: str
    version: str
    definitions: Path
    entities: list[Any] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    views: list[Any] = field(default_factory=list)
    services: list[Any] = field(default_factory=list)
    # view name -> the resolved source file, for lineage
    view_sources: dict[str, Path] = field(default_factory=dict)


def file_sha256(path: Path) -> tuple[bytes, str]:
    size = path.stat().st_size
    if size > MAX_DEFINITIONS_BYTES:
        raise LimitExceeded(f"'{path.name}' is {size} bytes; a definitions file may be at most 1 MB.")
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _value_type(name: str) -> Any:
    """An entity's value_type name (definitions.ValueTypeName) -> Feast's ValueType: int64 -> INT64."""
    from feast import ValueType

    return ValueType[name.upper()]


def _feast_type(name: str) -> Any:
    """A feature type name (definitions.FeatureTypeName) -> feast.types: unix_timestamp -> UnixTimestamp."""
    from feast import types

    return getattr(types, name.title().replace("_", ""))


# declared type -> the pyarrow.types predicates of the Parquet column types that fit it
_ARROW_FITS = {
    "int32": ("is_integer",),
    "int64": ("is_integer",),
    "float32": ("is_floating", "is_integer"),
    "float64": ("is_floating", "is_integer"),
    "string": ("is_string", "is_large_string"),
    "bool": ("is_boolean",),
    "bytes": ("is_binary", "is_large_binary"),
    "unix_timestamp": ("is_timestamp",),
}


def _arrow_fits(declared: str, arrow_type: Any) -> bool:
    import pyarrow as pa

    return any(getattr(pa.types, check)(arrow_type) for check in _ARROW_FITS.get(declared, ()))


def _parquet_schema(path: Path, source: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix.lower() not in SUPPORTED_SOURCE_SUFFIXES:
        raise InvalidInput(
            f"Source '{source}' points at '{path.name}'; Feast's file offline store reads Parquet: convert it "
            "to .parquet first."
        )
    if not path.is_file():
        raise InvalidInput(f"Source '{source}' must point at a Parquet file, not a folder.")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as err:
        raise InvalidInput(
            f"Source '{source}': '{path.name}' is not a readable Parquet file ({str(err).splitlines()[0][:120]})."
        ) from None
    return {name: schema.field(name).type for name in schema.names}


def load_definitions(path: Path, resolve_source: Callable[[str], Path], shown: str) -> Loaded:
    """Parse and check a YAML definitions file (safe_load) and build the Feast objects it describes."""
    import yaml

    data, sha = file_sha256(path)
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"'{shown}' is not UTF-8 text; save the definitions file as UTF-8.") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"'{shown}' is not valid YAML{where}; fix the syntax.") from None
    defs = parse_definitions(raw, shown)
    return build_objects(defs, sha, path, resolve_source, shown)


def build_objects(
    defs: Definitions, sha: str, path: Path, resolve_source: Callable[[str], Path], shown: str
) -> Loaded:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource

    tags = {VERSION_TAG: sha, DEFINITIONS_TAG: shown[:256]}
    loaded = Loaded(project=defs.project, version=sha, definitions=path)
    entities = {}
    for e in defs.entities:
        entities[e.name] = Entity(
            name=e.name,
            join_keys=list(e.join_keys),
            value_type=_value_type(e.value_type),
            description=e.description,
        )
    entity_defs = {e.name: e for e in defs.entities}
    sources: dict[str, Any] = {}
    schemas: dict[str, dict[str, Any]] = {}
    source_paths: dict[str, Path] = {}
    for s in defs.sources:
        resolved = resolve_source(s.path)
        schema = _parquet_schema(resolved, s.name)
        for col, what in (
            (s.timestamp_field, "timestamp_field"),
            (s.created_timestamp_column, "created_timestamp_column"),
        ):
            if col is None:
                continue
            if col not in schema:
                raise InvalidInput(
                    f"Source '{s.name}': its {what} '{col}' is not a column of '{resolved.name}'."
                )
            if not _arrow_fits("unix_timestamp", schema[col]):
                raise InvalidInput(
                    f"Source '{s.name}': the {what} '{col}' is {schema[col]}, not a timestamp; store it as a "
                    "Parquet timestamp."
                )
        schemas[s.name] = schema
        source_paths[s.name] = resolved
        sources[s.name] = FileSource(
            name=s.name,
            path=str(resolved),
            timestamp_field=s.timestamp_field,
            created_timestamp_column=s.created_timestamp_column or "",
            description=s.description,
        )
    views = {}
    for v in defs.feature_views:
        schema = schemas[v.source]
        file_name = source_paths[v.source].name
        for ent in v.entities:
            edef = entity_defs[ent]
            for key in edef.join_keys:
                if key not in schema:
                    raise InvalidInput(
                        f"Feature view '{v.name}': join key '{key}' of entity '{ent}' is not a column of "
                        f"'{file_name}' (source '{v.source}')."
                    )
                if not _arrow_fits(edef.value_type, schema[key]):
                    raise InvalidInput(
                        f"Feature view '{v.name}': join key '{key}' is {schema[key]} in '{file_name}', which does "
                        f"not fit the entity's value_type {edef.value_type}."
                    )
        for feature, ftype in v.features.items():
            if feature not in schema:
                raise InvalidInput(
                    f"Feature view '{v.name}': feature '{feature}' is not a column of '{file_name}' "
                    f"(source '{v.source}'); its columns are {sorted(schema)[:30]}."
                )
            if not _arrow_fits(ftype, schema[feature]):
                raise InvalidInput(
                    f"Feature view '{v.name}': feature '{feature}' is {schema[feature]} in '{file_name}', which "
                    f"does not fit the declared type {ftype}."
                )
        views[v.name] = FeatureView(
            name=v.name,
            entities=[entities[e] for e in v.entities],
            ttl=timedelta(seconds=v.ttl_seconds),
            schema=[Field(name=f, dtype=_feast_type(t)) for f, t in v.features.items()],
            source=sources[v.source],
            online=v.online,
            description=v.description,
            tags={**v.tags, **tags},
        )
        loaded.view_sources[v.name] = source_paths[v.source]
    services = []
    for svc in defs.feature_services:
        selected: list[Any] = []
        for ref in svc.features:
            name, _, feature = ref.partition(":")
            selected.append(views[name][[feature]] if feature else views[name])
        services.append(
            FeatureService(name=svc.name, features=selected, description=svc.description, tags=dict(tags))
        )
    loaded.entities = list(entities.values())
    loaded.sources = list(sources.values())
    loaded.views = list(views.values())
    loaded.services = services
    return loaded


def load_python_repo(path: Path, project: str, shown: str) -> Loaded:
    """Feast's own style: import the .py file and collect its Feast objects (runs the file's code).

    Only reached when the operator set allow_feature_repo_code (checked by the tool).
    """
    from feast import Entity, FeatureService, FeatureView, FileSource
    from feast.data_source import DataSource
    from feast.stream_feature_view import StreamFeatureView

    _data, sha = file_sha256(path)
    spec = importlib.util.spec_from_file_location(f"mlops_mcp_feature_repo_{sha[:16]}", path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"'{shown}' cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    try:
        with stdout_to_stderr():
            spec.loader.exec_module(module)
    except MlopsError:
        raise
    except Exception as err:
        raise InvalidInput(
            f"'{shown}' failed while running: {type(err).__name__}: {str(err)[:200]}."
        ) from None
    loaded = Loaded(project=project, version=sha, definitions=path)
    tags = {VERSION_TAG: sha, DEFINITIONS_TAG: shown[:256]}

    def add(bucket: list[Any], obj: Any) -> None:
        if not any(obj is other for other in bucket):
            bucket.append(obj)

    for attr in sorted(vars(module)):
        obj = getattr(module, attr)
        if isinstance(obj, Entity):
            add(loaded.entities, obj)
        elif isinstance(obj, FeatureView) and not isinstance(obj, StreamFeatureView):
            add(loaded.views, obj)
            if obj.batch_source is not None:
                add(loaded.sources, obj.batch_source)
        elif isinstance(obj, DataSource):
            add(loaded.sources, obj)
        elif isinstance(obj, FeatureService):
            add(loaded.services, obj)
    for obj in [*loaded.views, *loaded.services]:
        obj.tags = {**(obj.tags or {}), **tags}
    for view in loaded.views:
        src = view.batch_source
        if isinstance(src, FileSource) and src.path and Path(src.path).is_absolute():
            loaded.view_sources[view.name] = Path(src.path)
    if not loaded.views and not loaded.entities:
        raise InvalidInput(f"'{shown}' defines no Feast entities or feature views.")
    return loaded


# -- plan / apply -------------------------------------------------------------------------------------


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("\n", " ").strip()
    return text[:200]


def _contents(loaded: Loaded) -> Any:
    from feast import Project
    from feast.repo_contents import RepoContents

    return RepoContents(
        projects=[Project(name=loaded.project)],
        data_sources=loaded.sources,
        feature_views=loaded.views,
        on_demand_feature_views=[],
        stream_feature_views=[],
        label_views=[],
        entities=loaded.entities,
        feature_services=loaded.services,
        permissions=[],
    )


def _diff(repo: FeastRepo, store: Any, loaded: Loaded) -> list[Any]:
    from feast.feature_view import DUMMY_ENTITY_NAME

    store.refresh_registry()
    registry_diff, _infra_diff, _infra = store.plan(_contents(loaded))
    return [d for d in registry_diff.feast_object_diffs if d.name != DUMMY_ENTITY_NAME]


_ORDER = {"create": 0, "update": 1, "delete": 2, "unchanged": 3}


def _without_meta(value: Any) -> Any:
    """A proto (or list of protos) with every `meta` field (creation/update timestamps) cleared."""
    from google.protobuf.message import Message

    if isinstance(value, Message):
        copy = type(value)()
        copy.CopyFrom(value)
        _clear_meta(copy)
        return copy
    if isinstance(value, (list, tuple)) or type(value).__name__.startswith("Repeated"):
        return [_without_meta(v) for v in value]
    return value


def _clear_meta(msg: Any) -> None:
    for fd, val in msg.ListFields():
        if fd.name == "meta":
            msg.ClearField("meta")
        elif fd.message_type is not None:
            if fd.is_repeated:
                if not fd.message_type.GetOptions().map_entry:
                    for item in val:
                        _clear_meta(item)
            else:
                _clear_meta(val)


def _changes(diffs: list[Any]) -> list[dict[str, Any]]:
    """Feast's diff, minus what only differs in timestamps Feast stamps on each object it builds."""
    out = []
    for d in diffs:
        action = d.transition_type.name.lower()
        props = [
            p
            for p in d.feast_object_property_diffs
            if p.property_name != "meta" and _without_meta(p.val_existing) != _without_meta(p.val_declared)
        ]
        if action == "update" and not props:
            action = "unchanged"
        out.append(
            {
                "action": action,
                "kind": d.feast_object_type.value.replace(" ", "_"),
                "name": d.name,
                "changes": [
                    {
                        "property": p.property_name,
                        "current": _short(p.val_existing),
                        "desired": _short(p.val_declared),
                    }
                    for p in props[:20]
                ],
            }
        )
    out.sort(key=lambda c: (_ORDER.get(c["action"], 9), c["kind"], c["name"]))
    return out


def plan(repo: FeastRepo, loaded: Loaded) -> list[dict[str, Any]]:
    """Feast's own registry diff of the file against the project; changes nothing."""
    with repo.lock, feast_errors(repo, "the plan"):
        if repo.exists:
            return _changes(_diff(repo, repo.store(loaded.project), loaded))
        # No repo yet (plan must not create one): Feast plans against an empty scratch registry.
        from feast import FeatureStore, RepoConfig

        with tempfile.TemporaryDirectory(prefix="mlops-mcp-plan-") as scratch:
            config = RepoConfig(**local_config(Path(scratch)), project=loaded.project, repo_path=scratch)
            return _changes(_diff(repo, FeatureStore(repo_path=scratch, config=config), loaded))


def apply(repo: FeastRepo, loaded: Loaded) -> list[dict[str, Any]]:
    """Register the file's objects and delete the project's objects the file no longer has."""
    from feast.diff.property_diff import TransitionType
    from feast.project import Project

    with repo.lock, feast_errors(repo, "the apply"):
        if not repo.exists:
            repo.create_managed(loaded.project)
        store = repo.store(loaded.project)
        diffs = _diff(repo, store, loaded)
        deletes = [
            d.current_feast_object
            for d in diffs
            if d.transition_type == TransitionType.DELETE
            and d.current_feast_object is not None
            and not isinstance(d.current_feast_object, Project)
        ]
        repo.selections.clear()
        store.apply(
            [
                Project(name=loaded.project),
                *loaded.sources,
                *loaded.entities,
                *loaded.views,
                *loaded.services,
            ],
            objects_to_delete=deletes,
            partial=False,
        )
        return _changes(diffs)


# -- reading the registry -----------------------------------------------------------------------------


def _version(obj: Any) -> str | None:
    return (getattr(obj, "tags", None) or {}).get(VERSION_TAG)


def _about(kind: str, obj: Any, project: str, **details: Any) -> dict[str, Any]:
    """What features_list and features_describe say of every registered object, plus its own details."""
    about = {"kind": kind, "name": obj.name, "project": project, "version": _version(obj)}
    return {**about, "description": obj.description or None, **details}


def _view_features(view: Any) -> list[str]:
    return [f.name for f in view.features]


def _service_features(svc: Any) -> list[str]:
    return [f"{p.name}:{f.name}" for p in svc.feature_view_projections for f in p.features]


def list_objects(repo: FeastRepo, kind: str | None, project: str | None) -> list[dict[str, Any]]:
    if not repo.exists:
        return []
    with repo.lock, feast_errors(repo, "listing the registry"):
        store = repo.store(project)
        store.refresh_registry()
        projects = [project] if project else sorted(p.name for p in store.list_projects(allow_cache=True))
        items: list[dict[str, Any]] = []
        for proj in projects:
            st = repo.store(proj)
            if st is not store:
                st.refresh_registry()
            if kind in (None, "entity"):
                items += [_about("entity", e, proj) for e in st.list_entities()]
            if kind in (None, "data_source"):
                items += [_about("data_source", s, proj) for s in st.list_data_sources()]
            if kind in (None, "feature_view"):
                items += [
                    _about(
                        "feature_view", v, proj, entities=list(v.entities), features=_view_features(v)[:50]
                    )
                    for v in st.list_feature_views()
                ]
            if kind in (None, "feature_service"):
                items += [
                    _about("feature_service", svc, proj, features=_service_features(svc)[:50])
                    for svc in st.list_feature_services()
                ]
        order = {"entity": 0, "data_source": 1, "feature_view": 2, "feature_service": 3}
        items.sort(key=lambda i: (i["project"], order[i["kind"]], i["name"]))
        return items


def _source_info(repo: FeastRepo, src: Any) -> dict[str, Any]:
    return {
        "name": src.name,
        "path": repo.show(getattr(src, "path", "") or ""),
        "timestamp_field": src.timestamp_field,
        "created_timestamp_column": src.created_timestamp_column or None,
    }


def describe(repo: FeastRepo, name: str, project: str | None) -> dict[str, Any]:
    from feast import errors as fe
    from feast.feature_view import DUMMY_ENTITY_NAME

    with repo.lock, feast_errors(repo, "describing"):
        store = repo.store(project)
        store.refresh_registry()
        proj = store.project
        with contextlib.suppress(fe.FeastObjectNotFoundException):
            v = store.get_feature_view(name)
            return _about(
                "feature_view",
                v,
                proj,
                tags=dict(v.tags),
                entities=[e for e in v.entities if e != DUMMY_ENTITY_NAME],
                join_keys=list(v.join_keys),
                features=[{"name": f.name, "type": str(f.dtype)} for f in v.features],
                ttl_seconds=int(v.ttl.total_seconds()) if v.ttl else 0,
                online=bool(v.online),
                source=_source_info(repo, v.batch_source) if v.batch_source is not None else None,
                materialized=[{"start": s, "end": e} for s, e in v.materialization_intervals][-10:],
            )
        with contextlib.suppress(fe.FeastObjectNotFoundException):
            svc = store.get_feature_service(name)
            typed = [
                {"name": f"{p.name}:{f.name}", "type": str(f.dtype)}
                for p in svc.feature_view_projections
                for f in p.features
            ]
            views = [p.name for p in svc.feature_view_projections]
            return _about(
                "feature_service", svc, proj, tags=dict(svc.tags), feature_views=views, features=typed
            )
        with contextlib.suppress(fe.FeastObjectNotFoundException):
            e = store.get_entity(name)
            kind = e.value_type.name.lower()
            return _about("entity", e, proj, tags=dict(e.tags), join_keys=[e.join_key], value_type=kind)
        with contextlib.suppress(fe.FeastObjectNotFoundException):
            src = store.get_data_source(name)
            return _about("data_source", src, proj, tags=dict(src.tags), source=_source_info(repo, src))
        raise NotFound(f"Nothing named '{name}' in project '{proj}'; features_list shows what is registered.")


# -- materialize --------------------------------------------------------------------------------------


def _views(store: Any, names: list[str] | None) -> list[Any]:
    registered = {v.name: v for v in store.list_feature_views()}
    if not names:
        chosen = [v for v in registered.values() if v.online]
        if not chosen:
            raise NotFound(
                f"Project '{store.project}' has no online feature views to materialize; apply a definitions "
                "file first."
            )
        return chosen
    missing = [n for n in names if n not in registered]
    if missing:
        raise NotFound(
            f"No feature view {missing[0]!r} in project '{store.project}'; registered: "
            f"{sorted(registered)[:20]}."
        )
    return [registered[n] for n in names]


def materialize(
    repo: FeastRepo,
    project: str | None,
    start: datetime | None,
    end: datetime,
    views: list[str] | None,
    control: Control,
) -> dict[str, Any]:
    """Offline -> online per view (window, or incremental from each view's last end when start is None)."""
    started = time.perf_counter()
    out: list[dict[str, Any]] = []
    with repo.lock, feast_errors(repo, "materializing"):
        store = repo.store(project)
        store.refresh_registry()
        chosen = _views(store, views)
        total = len(chosen)
        for i, view in enumerate(chosen):
            control.step(i, total, f"materializing {view.name} ({i + 1}/{total})")
            t0 = time.perf_counter()
            if start is None:
                # The start Feast picks (FeatureStore.materialize_incremental): the last end, else
                # now - ttl, else (ttl 0 = no expiry) now - 52 weeks.
                previous = view.most_recent_end_time
                if previous is None and view.ttl is None:
                    raise InvalidInput(
                        f"Feature view '{view.name}' has no ttl and was never materialized; give `start`."
                    )
                if previous is not None:
                    window_start = previous if previous.tzinfo else previous.replace(tzinfo=UTC)
                elif view.ttl.total_seconds() > 0:
                    window_start = now_utc() - view.ttl
                else:
                    window_start = now_utc() - timedelta(weeks=52)
                if window_start > end:
                    raise InvalidInput(
                        f"Feature view '{view.name}' is already materialized up to {window_start.isoformat()}, "
                        f"after the requested end {end.isoformat()}."
                    )
                store.materialize_incremental(end_date=end, feature_views=[view.name])
            else:
                window_start = start
                store.materialize(start_date=start, end_date=end, feature_views=[view.name])
            out.append(
                {
                    "name": view.name,
                    "start": window_start,
                    "end": end,
                    "seconds": round(time.perf_counter() - t0, 4),
                }
            )
        control.step(total, total, "materialized")
        return {
            "project": store.project,
            "mode": "incremental" if start is None else "window",
            "online_store": repo.online_kind(),
            "views": out,
            "seconds": round(time.perf_counter() - started, 4),
        }


# -- retrieval ----------------------------------------------------------------------------------------


@dataclass
class Selection:
    refs: list[str]  # view:feature
    by_view: dict[str, list[str]]  # view -> its refs
    join_keys: dict[str, list[str]]  # view -> join keys
    service: Any = None


def cached_selection(
    repo: FeastRepo, store: Any, features: list[str] | None, service: str | None
) -> Selection:
    key = (store.project, tuple(features or ()), service)
    hit = repo.selections.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < REGISTRY_TTL_S:
        return hit[1]
    sel = select_features(store, features, service)
    if len(repo.selections) > 256:
        repo.selections.clear()
    repo.selections[key] = (now, sel)
    return sel


def select_features(store: Any, features: list[str] | None, service: str | None) -> Selection:
    if bool(features) == bool(service):
        raise InvalidInput(
            "Give either `features` (e.g. ['player_form:pts']) or `feature_service`, not both."
        )
    views = {v.name: v for v in store.list_feature_views()}
    by_view: dict[str, list[str]] = {}
    svc = None
    if service:
        svc = store.get_feature_service(service)
        for proj in svc.feature_view_projections:
            by_view.setdefault(proj.name, []).extend(f"{proj.name}:{f.name}" for f in proj.features)
    else:
        for ref in features or []:
            name, sep, feature = ref.partition(":")
            if name not in views:
                raise NotFound(
                    f"No feature view '{name[:60]}' in project '{store.project}'; registered: {sorted(views)[:20]}."
                )
            names = [f.name for f in views[name].features]
            if not sep:
                chosen = names
            elif feature in names:
                chosen = [feature]
            else:
                raise NotFound(f"Feature view '{name}' has no feature '{feature[:60]}'; it has {names[:30]}.")
            refs = by_view.setdefault(name, [])
            refs.extend(f"{name}:{f}" for f in chosen if f"{name}:{f}" not in refs)
    join_keys = {name: list(views[name].join_keys) for name in by_view if name in views}
    refs = [r for rs in by_view.values() for r in rs]
    return Selection(refs=refs, by_view=by_view, join_keys=join_keys, service=svc)


def get_online(
    repo: FeastRepo,
    project: str | None,
    features: list[str] | None,
    service: str | None,
    entity_rows: list[dict[str, Any]],
    full_feature_names: bool,
) -> dict[str, Any]:
    if not entity_rows:
        raise InvalidInput("entity_rows is empty; give at least one row such as {'player_id': 1}.")
    if len(entity_rows) > MAX_ONLINE_ROWS:
        raise LimitExceeded(f"{len(entity_rows)} entity rows; at most {MAX_ONLINE_ROWS} per call.")
    with repo.lock, feast_errors(repo, "reading online features"):
        store = repo.store(project)
        sel = cached_selection(repo, store, features, service)
        keys = sorted({k for ks in sel.join_keys.values() for k in ks})
        for i, row in enumerate(entity_rows):
            missing = [k for k in keys if k not in row]
            if missing:
                owner = next(v for v, ks in sel.join_keys.items() if missing[0] in ks)
                raise InvalidInput(
                    f"Entity row {i} has no '{missing[0]}', the join key of feature view '{owner}'; give every "
                    f"row the keys {keys}."
                )
            extra = [k for k in row if k not in keys]
            if extra:
                raise InvalidInput(
                    f"Entity row {i} has '{str(extra[0])[:60]}', which is not a join key here; the join keys are "
                    f"{keys}."
                )
        response = store.get_online_features(
            features=sel.service if sel.service is not None else sel.refs,
            entity_rows=[dict(r) for r in entity_rows],
            full_feature_names=full_feature_names,
        ).to_dict()
    # Feature columns in the order asked for (Feast's response order is its own).
    wanted = [r.replace(":", "__") if full_feature_names else r.split(":", 1)[1] for r in sel.refs]
    rest = [c for c in response if c not in keys and c not in wanted]
    feature_cols = [c for c in wanted if c in response] + rest
    columns = {c: [plain(v) for v in response[c]] for c in [*keys, *feature_cols]}
    rows = [{c: values[i] for c, values in columns.items()} for i in range(len(entity_rows))]
    missing_rows = sum(1 for r in rows if all(r[c] is None for c in feature_cols))
    return {"project": store.project, "features": feature_cols, "rows": rows, "missing": missing_rows}


def read_entity_frame(path: Path, timestamp_column: str, limits: TableLimits) -> pd.DataFrame:

    from mcp_server.core.tables import read_table

    df = read_table(path, limits)
    if timestamp_column not in df.columns:
        raise InvalidInput(
            f"'{path.name}' has no '{timestamp_column}' column; give the entity rows' timestamps there or pass "
            "`timestamp_column`."
        )
    _parse_times(df, timestamp_column, path.name)
    return df


def _parse_times(df: pd.DataFrame, column: str, name: str, *, convert: bool = True) -> None:
    """`df[column]` as UTC timestamps in place (`convert=False`: only checked); every value must parse."""
    import pandas as pd

    if convert:
        try:
            df[column] = pd.to_datetime(df[column], utc=True)
        except (ValueError, TypeError):
            raise InvalidInput(
                f"The '{column}' column of '{name}' does not parse as timestamps; use ISO 8601."
            ) from None
    if df[column].isna().any():
        raise InvalidInput(f"The '{column}' column of '{name}' has empty values.")


def _utc_ns(series: pd.Series) -> pd.Series:
    """Timestamps as UTC nanoseconds with pytz's UTC: Feast's Dask join rewrites every value row by row
    (an `apply` in Python) unless the column's tz is exactly `pytz.UTC`, which pd.to_datetime does not give."""
    import pandas as pd
    import pytz

    return pd.to_datetime(series, utc=True).dt.tz_convert(pytz.UTC).dt.as_unit("ns")


def historical_frame(
    repo: FeastRepo,
    project: str | None,
    entity_df: pd.DataFrame,
    timestamp_column: str,
    features: list[str] | None,
    service: str | None,
    full_feature_names: bool,
    control: Control | None = None,
) -> tuple[pd.DataFrame, Selection, str]:
    """Point-in-time join of `entity_df` with the selected features, one Feast call per feature view.

    Feast's file (Dask) offline store returns one row per distinct (join keys, timestamp) and drops an
    entity row whose key has source rows but none inside [timestamp - ttl, timestamp]. The training set
    must keep every entity row in its order: the Feast result of each view is joined back on the join
    keys and timestamp, so such a row gets empty features (which is what point-in-time correctness
    means for it) instead of vanishing.
    """

    ts = "event_timestamp"
    with repo.lock, feast_errors(repo, "the historical retrieval"):
        store = repo.store(project)
        sel = select_features(store, features, service)
        frame = entity_df.copy()
        if timestamp_column != ts:
            if ts in frame.columns:
                raise InvalidInput(
                    f"The entity dataset has both '{timestamp_column}' and '{ts}'; drop or rename '{ts}'."
                )
            frame = frame.rename(columns={timestamp_column: ts})
        frame[ts] = _utc_ns(frame[ts])
        for view, keys in sel.join_keys.items():
            missing = [k for k in keys if k not in frame.columns]
            if missing:
                raise InvalidInput(
                    f"The entity dataset has no '{missing[0]}' column, the join key of feature view '{view}'."
                )
        total = len(sel.by_view)
        for i, (view, refs) in enumerate(sel.by_view.items()):
            if control is not None:
                control.step(i, total, f"joining {view} ({i + 1}/{total})")
            keys = sel.join_keys[view]
            left = frame[[*keys, ts]].drop_duplicates(ignore_index=True)
            got = store.get_historical_features(
                entity_df=left, features=refs, full_feature_names=full_feature_names
            ).to_df()
            got[ts] = _utc_ns(got[ts])
            new_cols = [c for c in got.columns if c not in (*keys, ts)]
            clash = [c for c in new_cols if c in frame.columns]
            if clash:
                raise InvalidInput(
                    f"The feature column '{clash[0]}' is already a column of the entity dataset or another "
                    "view; pass full_feature_names=true."
                )
            for k in keys:
                if got[k].dtype != frame[k].dtype:
                    with contextlib.suppress(ValueError, TypeError):
                        got[k] = got[k].astype(frame[k].dtype)
            # Feast's result is unique per (keys, timestamp): it deduplicates on exactly those columns.
            rows = len(frame)
            frame = frame.merge(got[[*keys, ts, *new_cols]], on=[*keys, ts], how="left")
            if len(frame) != rows:
                raise RuntimeError(f"Feast returned duplicate rows per entity key and time for view {view!r}")
        if control is not None:
            control.step(total, total, "joined")
        if timestamp_column != ts:
            frame = frame.rename(columns={ts: timestamp_column})
        return frame, sel, store.project


def offline_frame(
    repo: FeastRepo, project: str | None, view_name: str, limits: TableLimits
) -> tuple[pd.DataFrame, str, Path]:
    """A feature view's offline data: its source's join keys, timestamp and feature columns."""
    from feast import FileSource

    from mcp_server.core.tables import read_table

    with repo.lock, feast_errors(repo, "reading the offline data"):
        store = repo.store(project)
        store.refresh_registry()
        view = store.get_feature_view(view_name)
        src = view.batch_source
        if not isinstance(src, FileSource) or not src.path:
            raise InvalidInput(f"Feature view '{view_name}' does not read a file source.")
        path = Path(src.path)
        if not path.is_absolute():
            path = repo.path / path
        columns = [*view.join_keys, src.timestamp_field, *[f.name for f in view.features]]
        return read_table(path, limits, columns=columns), store.project, path


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str, what: str) -> datetime:
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"`{what}` {text[:40]!r} is not an ISO 8601 time such as 2024-05-01T00:00:00Z."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- scaffolding a definitions file from a table ------------------------------------------------------


def _feature_type(series: Any) -> str | None:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int64"
    if pd.api.types.is_float_dtype(series):
        return "float64"
    if pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series):
        non_null = series.dropna()
        if non_null.map(lambda v: isinstance(v, str)).all():
            return "string"
    return None


def scaffold(
    dataset: Path,
    entity_column: str,
    timestamp_column: str,
    definitions: Path,
    source_out: Path | None,
    source_ref: Callable[[Path], str],
    project: str,
    view: str,
    ttl: str,
    limits: TableLimits,
) -> dict[str, Any]:
    """Draft a definitions file for one table: one entity, one source, one view, one service.

    When the table is not already Parquet with a timestamp-typed time column, a Feast-ready Parquet copy
    (time column parsed to UTC timestamps) is written to `source_out`.
    """
    import pandas as pd
    import yaml

    from mcp_server.core.tables import read_table, write_table

    if definitions.exists():
        raise Conflict(f"'{definitions.name}' already exists; give a new `output` path.")
    df = read_table(dataset, limits)
    for col, what in ((entity_column, "entity_column"), (timestamp_column, "timestamp_column")):
        if col not in df.columns:
            raise InvalidInput(f"'{dataset.name}' has no column '{col}' (the {what}).")
    if df[entity_column].isna().any():
        raise InvalidInput(f"The entity column '{entity_column}' has empty values; every row needs its key.")
    key_type = _feature_type(df[entity_column])
    if key_type not in ("int64", "string"):
        raise InvalidInput(f"The entity column '{entity_column}' must hold integers or strings.")
    is_ts = pd.api.types.is_datetime64_any_dtype(df[timestamp_column])
    needs_copy = dataset.suffix.lower() not in SUPPORTED_SOURCE_SUFFIXES or not is_ts
    _parse_times(df, timestamp_column, dataset.name, convert=not is_ts)
    features: dict[str, str] = {}
    skipped: list[str] = []
    for col in df.columns:
        if col in (entity_column, timestamp_column):
            continue
        ftype = _feature_type(df[col])
        if ftype is None or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$", str(col)):
            skipped.append(str(col))
        else:
            features[str(col)] = ftype
    if not features:
        raise InvalidInput(f"'{dataset.name}' has no numeric, boolean or text columns to turn into features.")
    source_path = dataset
    if needs_copy:
        if source_out is None:
            raise InvalidInput("A Parquet copy with typed timestamps is needed; give `source_output`.")
        if source_out.exists():
            raise Conflict(f"'{source_out.name}' already exists; give another `source_output`.")
        write_table(df, source_out)
        source_path = source_out
    doc = {
        "project": project,
        "entities": [{"name": entity_column, "join_keys": [entity_column], "value_type": key_type}],
        "sources": [
            {"name": f"{view}_source", "path": source_ref(source_path), "timestamp_field": timestamp_column}
        ],
        "feature_views": [
            {
                "name": view,
                "entities": [entity_column],
                "source": f"{view}_source",
                "ttl": ttl,
                "schema": features,
            }
        ],
        "feature_services": [{"name": f"{view}_service", "features": [view]}],
    }
    text = yaml.safe_dump(doc, sort_keys=False)
    parse_definitions(yaml.safe_load(text), definitions.name)  # the draft must pass its own checks
    write_text_atomic(definitions, text)
    return {
        "definitions": definitions,
        "source": source_path,
        "converted": needs_copy,
        "features": features,
        "skipped": skipped,
        "yaml": text,
    }
