"""MLflow tracking, set up once for the whole server (the evaluation and registry areas share it).

- URI: `MLOPS_MCP_MLFLOW_URI` (PostgreSQL, a tracking server) or SQLite at `<home>/mlflow.db`.
- Artifacts: experiments the server creates get an explicit location, `<home>/mlartifacts` (MLflow's own
  default is `./mlruns` under whatever the working directory is).
- The client is built lazily by the first call that needs it (`app.client("mlflow", ...)`); for SQLite
  that first build runs MLflow's schema migrations (2-3 s), never at start-up.
- Telemetry is off (the CLI sets MLFLOW_DISABLE_TELEMETRY before anything imports MLflow; set again here
  for embedders), MLflow's loggers are quieted to WARNING, artifact progress bars are off, and HTTP
  retries are bounded so a tracking server that is down fails within a tool's deadline.
- Connection failures become `BackendUnavailable` with the URI masked (no password in any message).

mlflow is imported inside the functions only: `tools/list` never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.core.config import Settings
from mcp_server.core.errors import BackendUnavailable, MlopsError

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

EXPERIMENT = "mlops-mcp"
CLIENT_KEY = "mlflow"
# MLflow's fluent API (start_run, log_model) keeps its tracking URI in process-global state: every use
# of it sets this server's URI first, under one lock, so two servers in one process cannot cross.
_FLUENT_LOCK = threading.RLock()
_QUIET_LOGGERS = ("mlflow", "alembic", "skops", "urllib3")
_REMOTE_SCHEMES = ("http", "https", "databricks")


def tracking_uri(settings: Settings) -> str:
    """The tracking (and registry) URI: the configured secret or `sqlite:///<home>/mlflow.db`."""
    if settings.mlflow_uri is not None:
        return settings.mlflow_uri.get_secret_value()
    return f"sqlite:///{(settings.home / 'mlflow.db').as_posix()}"


def artifact_root(settings: Settings) -> Path:
    return settings.home / "mlartifacts"


def shown_uri(settings: Settings) -> str:
    """The URI as shown to the assistant: password masked, the default SQLite path relative to the home."""
    if settings.mlflow_uri is None:
        return "sqlite:///<home>/mlflow.db"
    return mask_uri(settings.mlflow_uri.get_secret_value())


def mask_uri(uri: str) -> str:
    """The URI with any password (and query string, which may carry tokens) replaced."""
    masked = re.sub(r"(//[^/:@]*):[^/@]*@", r"\1:***@", uri)
    return masked.split("?", 1)[0] + ("?***" if "?" in masked else "")


def _is_remote(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in _REMOTE_SCHEMES


def quiet_mlflow() -> None:
    """Environment and logging so MLflow neither phones home nor floods stderr."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def backend_errors(settings: Settings, what: str = "MLflow tracking") -> Iterator[None]:
    """Connection-level failures of the tracking store -> BackendUnavailable with the URI masked."""
    try:
        yield
    except MlopsError:
        raise
    except Exception as err:
        if not _is_connection_error(err):
            raise
        raise BackendUnavailable(
            f"{what} at {shown_uri(settings)} did not answer ({type(err).__name__}); "
            "start it or fix MLOPS_MCP_MLFLOW_URI (unset it to use SQLite in the home)."
        ) from None


def _connection_error_classes() -> tuple[type[BaseException], ...]:
    """The exception classes that mean "the tracking store did not answer", from the libraries loaded."""
    import sys

    classes: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, names in (
        ("sqlalchemy.exc", ("OperationalError", "InterfaceError")),
        ("requests.exceptions", ("ConnectionError", "Timeout")),
        ("urllib3.exceptions", ("MaxRetryError", "NewConnectionError")),
    ):
        loaded = sys.modules.get(module)
        classes += [getattr(loaded, name) for name in names if loaded is not None and hasattr(loaded, name)]
    return tuple(classes)


def _is_connection_error(err: BaseException) -> bool:
    """By exception class along the cause chain: MLflow wraps the HTTP or database error it got."""
    classes = _connection_error_classes()
    seen: BaseException | None = err
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, classes):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def build_client(settings: Settings) -> Any:
    """A new MlflowClient for this server; for SQLite this creates and migrates the database."""
    quiet_mlflow()
    from mcp_server.core.blocking import stdout_to_stderr
    from mcp_server.core.store.metadata import MIGRATION_LOCK

    with backend_errors(settings), stdout_to_stderr():
        from mlflow import MlflowClient

        uri = tracking_uri(settings)
        if uri.startswith("sqlite:"):
            settings.home.mkdir(parents=True, exist_ok=True)
        else:
            _preflight(uri)
        # Touch both stores so a dead backend fails here, inside the deadline, not halfway through a run.
        # Creating them runs MLflow's Alembic migrations, which must not overlap any other migration.
        with MIGRATION_LOCK:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    return client


_DB_SCHEMES = ("postgresql", "mysql", "mssql")


def _preflight(uri: str) -> None:
    """One quick connection to a database URI before MLflow opens it.

    MLflow's SQLAlchemy store retries a failed first connection 10 times with exponential sleeps (minutes
    in all, not configurable), far past any tool deadline; a dead database must fail fast instead.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _DB_SCHEMES:
        return
    import sqlalchemy

    connect_args = {"connect_timeout": 5} if scheme in ("postgresql", "mysql") else {}
    engine = sqlalchemy.create_engine(uri, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def mlflow_client(app: AppContext) -> Any:
    """The process-wide MlflowClient of this server (built on first use)."""
    return app.client(CLIENT_KEY, lambda: build_client(app.settings))


def experiment_id(app: AppContext, name: str = EXPERIMENT) -> str:
    """The id of the server's experiment, created with an explicit artifact location under the home."""
    client = mlflow_client(app)
    with backend_errors(app.settings):
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        uri = tracking_uri(app.settings)
        location = None
        if not _is_remote(uri):
            root = artifact_root(app.settings)
            root.mkdir(parents=True, exist_ok=True)
            location = root.resolve().as_uri()
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except Exception as err:  # a concurrent call created it first
            again = client.get_experiment_by_name(name)
            if again is None:
                raise err from None
            return str(again.experiment_id)


@contextlib.contextmanager
def fluent(app: AppContext) -> Iterator[Any]:
    """MLflow's fluent API (start_run, log_model) pointed at this server's store, one user at a time."""
    mlflow_client(app)  # builds (and migrates) first, outside the global lock's critical path
    uri = tracking_uri(app.settings)
    with _FLUENT_LOCK, backend_errors(app.settings):
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        yield mlflow


async def probe(app: AppContext) -> tuple[bool, str, str]:
    """Health probe: the tracking store answers (a fresh SQLite store is reported, not created)."""
    import anyio
    import anyio.to_thread

    shown = shown_uri(app.settings)
    fix = "Start the tracking backend or fix MLOPS_MCP_MLFLOW_URI; unset it to use SQLite in the home."
    if app.settings.mlflow_uri is None and not (app.settings.home / "mlflow.db").exists():
        return True, f"{shown} (created on first use)", ""

    def check() -> None:
        client = mlflow_client(app)
        with backend_errors(app.settings):
            client.search_experiments(max_results=1)

    try:
        with anyio.fail_after(20):
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except TimeoutError:
        return False, f"{shown} did not answer within 20 s", fix
    except MlopsError as err:
        return False, err.message, fix
    except Exception as err:
        return False, f"{shown}: {type(err).__name__}", fix
    return True, shown, ""
