"""MetadataStore: the server's own records in one database, opened and migrated on first use.

Constructing a store is free (no engine, no connection, no SQLAlchemy import), so `tools/list` never
touches it. SQLite (the default, in the home) runs in WAL mode with a busy timeout; PostgreSQL is
chosen by URL. Writes go through `transaction()`, which takes the shared side of the write lock;
`write_lock()` takes the exclusive side for a consistent backup snapshot.

The audit row of a tool call is written by the boundary when the call ends, in its own transaction,
unless the call's last write carries it: the boundary puts a `PendingAudit` in the call's context
(`pending_audit`), and a service's `transaction(audit=True)` adds that row and commits it with its own
rows, so the call costs one commit (and one fsync under synchronous=FULL) and its rows and audit row
are durable together before the answer is sent.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput, MlopsError
from mcp_server.core.store._locks import FileLock, RWLock, remaining
from mcp_server.core.store.redact import canonical_json, digest, mask_text, mask_url, redact
from mcp_server.core.values import copied

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions; a test keeps it equal to Alembic's head. A store already
# there opens without importing Alembic.
HEAD_REVISION = "0017"

AUDIT_OUTCOMES = ("ok", "error", "cancelled")
MAX_ARGS_CHARS = 4096
MAX_ERROR_CHARS = 1000

WRITER_LOCKED = "The metadata store is locked by a backup or another writer; retry in a moment."
HOLDER_LOCKED = (
    "The metadata store is busy with other writers and could not be locked in time; retry in a moment."
)


def _advisory_key(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big", signed=True)


# PostgreSQL advisory lock keys (per database): the write lock and the migration lock.
PG_WRITE_KEY = _advisory_key("mlops-mcp metadata store: write lock")
PG_MIGRATE_KEY = _advisory_key("mlops-mcp metadata store: migrations")

_SQLITE_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?]*)(?:\?.*)?$")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: datetime
    tool: str
    client: str | None
    args_digest: str
    args_redacted: str  # JSON text of the redacted arguments (a `_truncated` wrapper when too long)
    outcome: str
    error: str | None
    duration_ms: float
    subject: str | None = None  # over OAuth: the token's sub (revision 0014)
    client_id: str | None = None  # over OAuth: the token's client_id / azp


class PendingAudit:
    """The audit row of the tool call in progress, for the call's last write transaction to carry.

    States: open (no transaction took it yet) -> joining (a transaction added it and is committing) ->
    joined (committed, `row_id` known), or back to open when that transaction did not commit; the
    boundary `close()`s it when the call has its answer, after which no transaction takes it.
    """

    def __init__(
        self,
        store: MetadataStore,
        *,
        tool: str,
        client: str | None,
        arguments: dict[str, Any],
        subject: str | None = None,
        client_id: str | None = None,
    ) -> None:
        self.store = store
        self.fields: dict[str, Any] = {
            "tool": tool,
            "client": client,
            "arguments": arguments,
            "subject": subject,
            "client_id": client_id,
        }
        self.started = time.perf_counter()
        self.row_id: int | None = None
        self._state = "open"
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set while no transaction is committing the row
        self._settled.set()

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def take(self, store: MetadataStore) -> bool:
        """A transaction of `store` takes the row (True) unless another did or the call ended."""
        with self._lock:
            if self._state != "open" or store is not self.store:
                return False
            self._state = "joining"
            self._settled.clear()
            return True

    def committed(self, row_id: int | None) -> None:
        """The transaction that took the row ended: committed with it (row_id), or not (None)."""
        with self._lock:
            self._state, self.row_id = ("joined", row_id) if row_id is not None else ("open", None)
            self._settled.set()

    def joined_id(self) -> int | None:
        """The row's id when a transaction committed it (never waits)."""
        with self._lock:
            return self.row_id if self._state == "joined" else None

    def close(self, timeout_s: float = 60.0) -> int | None:
        """No transaction takes the row from now on. Returns its id when one committed it (waiting for a
        commit in progress), None when the boundary must write it."""
        self._settled.wait(timeout_s)
        with self._lock:
            if self._state == "joined":
                return self.row_id
            self._state = "closed"
            return None


_PENDING_AUDIT: ContextVar[PendingAudit | None] = ContextVar("mlops_pending_audit", default=None)


@contextmanager
def pending_audit(entry: PendingAudit | None) -> Iterator[PendingAudit | None]:
    """The tool call's audit row, for `transaction(audit=True)` in this context (and the worker threads
    it starts: they run in a copy of it) to carry."""
    token = _PENDING_AUDIT.set(entry)
    try:
        yield entry
    finally:
        _PENDING_AUDIT.reset(token)


def _normalize_url(url: str) -> str:
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        # The driver the project installs ([postgres] extra): psycopg 3, not SQLAlchemy's psycopg2 default.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _duration(ms: float) -> float:
    return max(0.0, float(ms)) if math.isfinite(ms) else 0.0


@functools.cache
def _audit_insert() -> Any:
    from sqlalchemy import insert

    from mcp_server.core.store.models import AuditRecord

    return insert(AuditRecord)


def _insert_audit(conn: Connection, values: dict[str, Any]) -> int:
    """One audit row, its id back. A Core insert: the ORM's unit of work costs more than the row."""
    key = conn.execute(_audit_insert(), values).inserted_primary_key
    assert key is not None
    return int(key[0])


def _short_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    text = lines[0] if lines else type(orig).__name__
    return mask_text(text)[:200].rstrip(" .;")


def _set_wal(cursor: Any, deadline: float) -> None:
    # Switching a new file to WAL needs a moment alone with it, and SQLite answers "locked" at once
    # (no busy wait) while another first connection holds it: retry until the deadline.
    import sqlite3

    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def head_revision() -> str:
    """The newest migration revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


# Alembic runs a migration through module-level proxies (alembic.context, alembic.op): two migrations at
# once in one process (this store's, MLflow's on its first use) trample each other's. Both take this lock.
MIGRATION_LOCK = threading.RLock()


def run_migrations(connection: Connection, revision: str = "head") -> None:
    """Upgrade the schema on `connection` (inside the caller's transaction, if one is open)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(stdout=sys.stderr)  # stdout is the protocol stream under stdio
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    with MIGRATION_LOCK:
        command.upgrade(cfg, revision)


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from mcp_server.core.store.models import VERSION_TABLE

    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


class MetadataStore:
    def __init__(self, url: str, *, lock_path: Path | None = None, busy_timeout_s: float = 10.0) -> None:
        self.url = _normalize_url(url)
        self.url_masked = mask_url(self.url)
        self.busy_timeout_s = float(busy_timeout_s)
        self.sqlite_path: Path | None = None
        if self.url.startswith("sqlite"):
            m = _SQLITE_URL.match(self.url)
            if not m or not m.group("path") or m.group("path") == ":memory:":
                raise InvalidInput(
                    f"The metadata store URL {self.url_masked} is not a SQLite file URL; "
                    "use sqlite:////absolute/path/metadata.db."
                )
            self.dialect = "sqlite"
            self.sqlite_path = Path(m.group("path")).expanduser()
            if lock_path is None:
                lock_path = self.sqlite_path.with_suffix(".lock")
        elif self.url.startswith("postgresql"):
            self.dialect = "postgresql"
            lock_path = None  # PostgreSQL: advisory locks in the database itself
        else:
            raise InvalidInput(
                f"The metadata store URL {self.url_masked} is not supported; "
                "use a sqlite:/// path or a postgresql:// URL in MLOPS_MCP_STORE_URL."
            )
        self.lock_path = lock_path
        self._file_lock = FileLock(lock_path) if lock_path is not None and FileLock.available() else None
        self._rw = RWLock()
        # SQLite has one writer at a time: this process's writers queue here instead of busy-waiting.
        self._sqlite_writer = threading.Lock()
        self._init_lock = threading.Lock()
        self._local = threading.local()
        self._engine: Engine | None = None
        self._ready = False

    @classmethod
    def for_home(cls, home: Path, url: str | None = None) -> MetadataStore:
        if url:
            return cls(url)
        return cls(f"sqlite:///{Path(home) / 'metadata.db'}", lock_path=Path(home) / "metadata.lock")

    def __repr__(self) -> str:
        return f"MetadataStore({self.url_masked!r}, opened={self.opened})"

    @property
    def opened(self) -> bool:
        return self._engine is not None

    @property
    def backend(self) -> str:
        """The database kind, "sqlite" or "postgresql" (for health reports: no path, no URL)."""
        return self.dialect

    def ping(self) -> None:
        """Open (and migrate) the store if needed and run one query; BackendUnavailable when down."""
        self.ensure_ready()
        with self.read_session() as session:
            session.connection().exec_driver_sql("SELECT 1")

    @property
    def engine(self) -> Engine:
        """The migrated engine (for the backup area's snapshot; everything else uses transaction())."""
        self.ensure_ready()
        assert self._engine is not None
        return self._engine

    # -- opening ---------------------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the engine and upgrade the schema to head, once per store object."""
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            engine = self._create_engine()
            self._engine = engine
            try:
                self._migrate(engine)
            except BaseException as exc:
                self._engine = None
                engine.dispose()
                self._raise_translated(exc, connecting=True)
            self._ready = True

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event

        if self.dialect == "sqlite":
            assert self.sqlite_path is not None
            self._prepare_sqlite_file(self.sqlite_path)
            engine = create_engine(
                self.url,
                connect_args={"timeout": self.busy_timeout_s, "check_same_thread": False},
                pool_size=5,
                max_overflow=20,
            )
            busy_ms = int(self.busy_timeout_s * 1000)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # We issue BEGIN ourselves (below): the sqlite3 module's implicit transactions would
                # leave DDL outside any transaction and cannot start a write transaction up front.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
                _set_wal(cur, time.monotonic() + self.busy_timeout_s)
                cur.execute("PRAGMA synchronous = FULL")
                cur.execute("PRAGMA foreign_keys = ON")
                cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                opts = conn.get_execution_options()
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(opts.get('mlops_busy_ms', busy_ms))}")
                # IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads and then
                # writes can fail with SQLITE_BUSY at once, without waiting for the busy timeout.
                conn.exec_driver_sql("BEGIN IMMEDIATE" if opts.get("mlops_write") else "BEGIN")

            return engine
        return create_engine(
            self.url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=20,
            pool_timeout=max(self.busy_timeout_s, 1.0),
            connect_args={
                "connect_timeout": max(1, round(self.busy_timeout_s)),
                "application_name": "mlops-mcp",
            },
        )

    @staticmethod
    def _prepare_sqlite_file(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the start: the audit log and lineage are nobody else's business.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise BackendUnavailable(
                f"The metadata store file {path.name} cannot be created ({exc.strerror}); "
                "check that MLOPS_MCP_HOME points at a writable folder."
            ) from exc

    def _migrate(self, engine: Engine) -> None:
        from sqlalchemy import text

        if self._at_head(engine):  # the common start: no Alembic import, no lock
            return
        deadline = time.monotonic() + self.busy_timeout_s
        # A migration is a write: a backup in progress must not see half a schema.
        with self._shared_lock(deadline), engine.connect() as conn:
            conn.execution_options(mlops_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{self._ms_left(deadline)}ms'")
                    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": PG_WRITE_KEY})
                    # Two servers starting at once: the second waits here and then finds head.
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '300s'")
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATE_KEY})
                try:
                    run_migrations(conn, "head")
                except Exception as exc:
                    if type(exc).__name__ == "CommandError":  # alembic: a revision we do not know
                        raise BackendUnavailable(
                            f"The metadata store at {self.url_masked} has a schema this version of "
                            "mlops-mcp does not know; upgrade mlops-mcp or point MLOPS_MCP_STORE_URL "
                            "at another store."
                        ) from exc
                    raise

    def _at_head(self, engine: Engine) -> bool:
        from sqlalchemy.exc import DBAPIError

        from mcp_server.core.store.models import VERSION_TABLE

        with engine.connect() as conn:
            try:
                versions = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars().all()
            except DBAPIError:  # no version table yet: a new store
                return False
        return versions == [HEAD_REVISION]

    def dispose(self) -> None:
        with self._init_lock:
            engine, self._engine, self._ready = self._engine, None, False
        if engine is not None:
            engine.dispose()

    # -- locking ---------------------------------------------------------------------------------

    @staticmethod
    def _ms_left(deadline: float) -> int:
        return max(1, int(remaining(deadline) * 1000))

    @contextmanager
    def _shared_lock(self, deadline: float) -> Iterator[None]:
        """The writers' side: this process's threads, then other processes (SQLite: the lock file)."""
        if self._rw.owned_by_me():  # the snapshot holder's own thread may write
            yield
            return
        if not self._rw.acquire_shared(deadline):
            raise Conflict(WRITER_LOCKED)
        try:
            fd = None
            if self._file_lock is not None:
                fd = self._file_lock.acquire_shared(deadline)
                if fd is None:
                    raise Conflict(WRITER_LOCKED)
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)
        finally:
            self._rw.release_shared()

    @contextmanager
    def write_lock(self, timeout_s: float = 30.0) -> Iterator[None]:
        """Exclusive: every other writer (threads here, other processes on this store) waits while held.

        The holder's own thread may still write through transaction(). Raises Conflict when the lock
        cannot be taken within timeout_s.
        """
        self._no_open_transaction("write_lock()")
        if self._rw.owned_by_me():  # re-entrant for its holder
            yield
            return
        self.ensure_ready()
        deadline = time.monotonic() + timeout_s
        if not self._rw.acquire_exclusive(deadline):
            raise Conflict(HOLDER_LOCKED)
        try:
            if self.dialect == "postgresql":
                with self._pg_exclusive(deadline):
                    yield
            elif self._file_lock is not None:
                fds = self._file_lock.acquire_exclusive(deadline)
                if fds is None:
                    raise Conflict(HOLDER_LOCKED)
                try:
                    yield
                finally:
                    os.close(fds[1])
                    os.close(fds[0])
            else:
                yield
        finally:
            self._rw.release_exclusive()

    def snapshot_to(self, path: Path, *, timeout_s: float = 30.0) -> None:
        """SQLite only: a consistent copy of the database at `path` (sqlite3's online backup API),
        taken under the write lock and left as one self-contained file (rollback journal, no WAL)."""
        import sqlite3

        if self.dialect != "sqlite" or self.sqlite_path is None:
            raise InvalidInput(
                "snapshot_to copies a SQLite store; a PostgreSQL store is dumped with pg_dump."
            )
        with self.write_lock(timeout_s):
            src = sqlite3.connect(self.sqlite_path, timeout=self.busy_timeout_s)
            try:
                dst = sqlite3.connect(path)
                try:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode = DELETE")
                finally:
                    dst.close()
            finally:
                src.close()

    @contextmanager
    def _pg_exclusive(self, deadline: float) -> Iterator[None]:
        from sqlalchemy import text

        assert self._engine is not None
        conn = self._connect(self._engine).execution_options(isolation_level="AUTOCOMMIT")
        try:
            try:
                conn.exec_driver_sql(f"SET lock_timeout = '{self._ms_left(deadline)}ms'")
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_WRITE_KEY})
                conn.exec_driver_sql("RESET lock_timeout")
            except Exception as exc:
                conn.invalidate()  # it carries our lock_timeout; do not hand it back to the pool
                if isinstance(self._translate(exc), Conflict):
                    raise Conflict(HOLDER_LOCKED) from exc
                self._raise_translated(exc)
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_WRITE_KEY})
                except Exception:
                    conn.invalidate()  # closing the session releases its advisory locks anyway
        finally:
            conn.close()

    def _no_open_transaction(self, what: str) -> None:
        if getattr(self._local, "depth", 0):
            # Nested transactions on one thread would wait for themselves until the timeout.
            raise RuntimeError(
                f"{what} called inside store.transaction() on the same thread; pass its session"
            )

    # -- sessions --------------------------------------------------------------------------------

    def _connect(self, engine: Engine) -> Connection:
        try:
            return engine.connect()
        except Exception as exc:
            self._raise_translated(exc, connecting=True)

    @contextmanager
    def transaction(self, *, timeout_s: float | None = None, audit: bool = False) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Waits up to timeout_s (default: the busy timeout) for the write lock, then raises Conflict.
        `audit=True` marks the last write of a tool call: the call's pending audit row (if any, and
        not taken yet) is added and committed with the block's rows, outcome ok.
        """
        from sqlalchemy import text
        from sqlalchemy.orm import Session

        pending = _PENDING_AUDIT.get() if audit else None
        self._no_open_transaction("transaction()")
        self.ensure_ready()
        assert self._engine is not None
        deadline = time.monotonic() + (self.busy_timeout_s if timeout_s is None else timeout_s)
        self._local.depth = 1
        try:
            with self._shared_lock(deadline), self._sqlite_turn(deadline):
                conn = self._connect(self._engine)
                session: Session | None = None
                try:
                    conn.execution_options(mlops_write=True, mlops_busy_ms=self._ms_left(deadline))
                    trans = conn.begin()
                    if self.dialect == "postgresql" and not self._rw.owned_by_me():
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{self._ms_left(deadline)}ms'")
                        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": PG_WRITE_KEY})
                        conn.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{int(self.busy_timeout_s * 1000)}ms'"
                        )
                    # rollback_only: a session.commit() inside the block flushes but does not end our
                    # transaction early; the block's end commits everything at once.
                    session = Session(
                        bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only"
                    )
                    carrier: PendingAudit | None = None  # the call's audit row rides on this commit
                    row_id: int | None = None
                    try:
                        yield session
                        session.flush()
                        if pending is not None and pending.take(self):
                            carrier = pending
                            row_id = _insert_audit(
                                conn,
                                self._audit_values(
                                    outcome="ok",
                                    error=None,
                                    duration_ms=carrier.seconds() * 1000,
                                    **carrier.fields,
                                ),
                            )
                        trans.commit()
                    except BaseException:
                        if carrier is not None:
                            carrier.committed(None)
                        if trans.is_active:
                            trans.rollback()
                        raise
                    if carrier is not None:
                        carrier.committed(row_id)
                except Exception as exc:
                    self._raise_translated(exc)
                finally:
                    if session is not None:
                        session.close()
                    conn.close()
        finally:
            self._local.depth = 0

    @contextmanager
    def _sqlite_turn(self, deadline: float) -> Iterator[None]:
        if self.dialect != "sqlite":
            yield
            return
        if not self._sqlite_writer.acquire(timeout=remaining(deadline)):
            raise Conflict(WRITER_LOCKED)
        try:
            yield
        finally:
            self._sqlite_writer.release()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads: no write lock, rolled back at the end (writes here are discarded)."""
        from sqlalchemy.orm import Session

        self.ensure_ready()
        assert self._engine is not None
        conn = self._connect(self._engine)
        session = Session(bind=conn, expire_on_commit=False)
        try:
            yield session
        except Exception as exc:
            self._raise_translated(exc)
        finally:
            session.close()
            conn.close()

    def _raise_translated(self, exc: BaseException, *, connecting: bool = False) -> NoReturn:
        translated = self._translate(exc, connecting=connecting)
        if translated is None or translated is exc:
            raise exc
        raise translated from exc

    def _translate(self, exc: BaseException, *, connecting: bool = False) -> MlopsError | None:
        """An MlopsError for lock waits and unreachable databases; None leaves `exc` as it is."""
        if isinstance(exc, MlopsError):
            return exc
        from sqlalchemy import exc as sa_exc

        # An OSError from the caller's own code inside a transaction is not the store's business.
        if not (isinstance(exc, sa_exc.DBAPIError) or (connecting and isinstance(exc, OSError))):
            return None
        orig = getattr(exc, "orig", None)
        sqlstate = getattr(orig, "sqlstate", None) or ""
        message = str(orig or exc).lower()
        if sqlstate in ("55P03", "40001", "40P01") or "database is locked" in message or "is busy" in message:
            return Conflict(WRITER_LOCKED)
        if "database or disk is full" in message or sqlstate == "53100":
            return BackendUnavailable(
                f"The disk holding the metadata store at {self.url_masked} is full; free space and retry."
            )
        if (
            connecting
            or getattr(exc, "connection_invalidated", False)
            or sqlstate.startswith("08")
            or "unable to open database" in message
            or "disk i/o error" in message
        ):
            hint = (
                "check MLOPS_MCP_STORE_URL"
                if self.dialect == "postgresql"
                else "check that MLOPS_MCP_HOME (or MLOPS_MCP_STORE_URL) points at a writable folder"
            )
            return BackendUnavailable(
                f"The metadata store at {self.url_masked} did not answer: {_short_reason(exc)}; {hint}."
            )
        return None

    # -- audit log -------------------------------------------------------------------------------

    def record_audit(self, *, timeout_s: float | None = None, **fields: Any) -> None:
        """Append one audit row (`fields` as `_audit_values` takes them). Secret-named keys and URL passwords
        are masked before anything is digested or stored; `at` defaults to now (UTC). `subject` and
        `client_id` are the OAuth token's `sub` and client (None under stdio and the static token)."""
        values = self._audit_values(**fields)
        with self.transaction(timeout_s=timeout_s) as session:
            _insert_audit(session.connection(), values)

    def amend_audit(
        self,
        row_id: int,
        *,
        outcome: str,
        error: str | None,
        duration_ms: float,
        timeout_s: float | None = None,
    ) -> None:
        """A call whose audit row its last write committed, and that failed after that: the row says so."""
        from mcp_server.core.store.models import AuditRecord

        if outcome not in AUDIT_OUTCOMES:
            raise ValueError(f"outcome must be one of {AUDIT_OUTCOMES}, not {outcome!r}")
        with self.transaction(timeout_s=timeout_s) as session:
            row = session.get(AuditRecord, row_id)
            if row is not None:
                row.outcome = outcome
                row.error = None if error is None else mask_text(str(error))[:MAX_ERROR_CHARS]
                row.duration_ms = _duration(duration_ms)

    @staticmethod
    def _audit_values(
        *,
        tool: str,
        client: str | None,
        arguments: dict[str, Any],
        outcome: str,
        error: str | None,
        duration_ms: float,
        at: datetime | None = None,
        subject: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """The audit table's columns for one call (inserted by _insert_audit)."""
        if outcome not in AUDIT_OUTCOMES:
            raise ValueError(f"outcome must be one of {AUDIT_OUTCOMES}, not {outcome!r}")
        text = canonical_json(redact(dict(arguments)))
        args_digest = digest(text)
        if len(text) > MAX_ARGS_CHARS:
            head = text[: MAX_ARGS_CHARS - 200]
            text = canonical_json({"_truncated": True, "_chars": len(text), "_head": head})
        return dict(
            time=(at or datetime.now(UTC)),
            tool=str(tool)[:128],
            client=None if client is None else mask_text(str(client))[:256],
            subject=None if subject is None else mask_text(str(subject))[:256],
            client_id=None if client_id is None else mask_text(str(client_id))[:256],
            args_digest=args_digest,
            args_redacted=text,
            outcome=outcome,
            error=None if error is None else mask_text(str(error))[:MAX_ERROR_CHARS],
            duration_ms=_duration(duration_ms),
        )

    def audit_entries(
        self,
        *,
        tool: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        subject: str | None = None,
    ) -> list[AuditEntry]:
        """Newest first; `before_id` pages on (pass the last entry's id); `subject`: one person's calls."""
        from sqlalchemy import select

        from mcp_server.core.store.models import AuditRecord

        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be between 1 and 1000, not {limit}.")
        stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if tool is not None:
            stmt = stmt.where(AuditRecord.tool == tool)
        if subject is not None:
            stmt = stmt.where(AuditRecord.subject == subject)
        if before_id is not None:
            stmt = stmt.where(AuditRecord.id < before_id)
        with self.read_session() as session:
            return [copied(AuditEntry, r) for r in session.scalars(stmt)]

    # -- schema ----------------------------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The revision the database is at (head once ensure_ready() has run)."""
        with self.read_session() as session:
            return current_revision(session.connection())
