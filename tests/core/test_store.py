"""The metadata store on SQLite and PostgreSQL: lazy opening, migrations, audit log, write lock."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.pool import NullPool

from mcp_server.core.errors import BackendUnavailable, Conflict, InvalidInput
from mcp_server.core.lineage import record_edge
from mcp_server.core.store import MetadataStore, current_revision, head_revision, redact, run_migrations
from mcp_server.core.store.metadata import HEAD_REVISION
from mcp_server.core.store.models import VERSION_TABLE, AuditRecord, Base, LineageEdge
from mcp_server.core.store.redact import canonical_json, digest

REPO = Path(__file__).resolve().parents[2]
TABLES = {"mlops_audit_log", "mlops_lineage_edges", "mlops_dataset_fingerprints", VERSION_TABLE}


def count(store: MetadataStore, model: type[Base]) -> int:
    with store.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def audit(store: MetadataStore, tool: str = "registry_set_alias", **kw: object) -> None:
    args: dict[str, object] = {
        "client": "claude",
        "arguments": {"name": "churn"},
        "outcome": "ok",
        "error": None,
        "duration_ms": 1.5,
    }
    args.update(kw)
    store.record_audit(tool=tool, **args)  # type: ignore[arg-type]


# -- opening and migrations ---------------------------------------------------------------------


def test_constructing_a_store_connects_to_nothing(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from mcp_server.core.store import MetadataStore\n"
        "import mcp_server.core.lineage, mcp_server.core.datasets\n"
        f"s = MetadataStore.for_home(Path({str(tmp_path / 'home')!r}))\n"
        "p = MetadataStore('postgresql://u:pw@127.0.0.1:1/x')\n"
        "assert not s.opened and not p.opened\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "home").exists()  # no file, no folder until the first use


def test_ensure_ready_migrates_once_to_head(store: MetadataStore) -> None:
    assert not store.opened
    store.ensure_ready()
    assert store.opened
    store.ping()
    assert store.backend == ("sqlite" if store.url.startswith("sqlite") else "postgresql")
    assert store.schema_revision() == head_revision() == HEAD_REVISION
    assert set(inspect(store.engine).get_table_names()) >= TABLES
    store.ensure_ready()  # a no-op
    again = MetadataStore(store.url)  # another server on the same store finds it migrated
    again.ensure_ready()
    assert again.schema_revision() == HEAD_REVISION
    again.dispose()


OLD_TIME = "2025-01-02 03:04:05.000000"


def test_upgrade_from_first_revision_keeps_rows(store_url: str, tmp_path: Path) -> None:
    engine = create_engine(store_url, poolclass=NullPool)
    if store_url.startswith("sqlite"):
        Path(store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with engine.begin() as conn:
        run_migrations(conn, "0001")
        assert current_revision(conn) == "0001"
        assert "mlops_dataset_fingerprints" not in inspect(conn).get_table_names()
        conn.execute(
            text(
                "INSERT INTO mlops_lineage_edges (upstream, downstream, kind, details, created_at) "
                "VALUES ('dataset:iris@0123456789ab', 'validation:v1', 'validated_by', NULL, :t)"
            ),
            # A string, not a datetime: Feast's import registers a process-wide sqlite3 datetime
            # adapter (epoch numbers) that would otherwise change what this raw insert stores.
            {"t": OLD_TIME},
        )
        conn.execute(
            text(
                "INSERT INTO mlops_audit_log (time, tool, client, args_digest, args_redacted, outcome,"
                " error, duration_ms) VALUES (:t, 'validation_run', 'old', :d, '{}', 'ok', NULL, 2.0)"
            ),
            {"t": OLD_TIME, "d": "0" * 64},
        )
    engine.dispose()

    store = MetadataStore(store_url)
    store.ensure_ready()  # upgrades 0001 -> head in place
    try:
        assert store.schema_revision() == HEAD_REVISION
        with store.read_session() as s:
            edges = s.scalars(select(LineageEdge)).all()
            assert [(e.upstream, e.downstream) for e in edges] == [
                ("dataset:iris@0123456789ab", "validation:v1")
            ]
        entries = store.audit_entries()
        assert [(e.tool, e.client) for e in entries] == [("validation_run", "old")]
        assert entries[0].time == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("mlops_lineage_edges")}
        assert "ix_mlops_lineage_edges_downstream" in indexes
        # The new table works on the upgraded schema.
        record_edge(store, "dataset:iris@0123456789ab", "validation:v2", "validated_by")
        assert count(store, LineageEdge) == 2
    finally:
        store.dispose()


def test_downgrade_to_first_and_back(store: MetadataStore) -> None:
    from alembic import command
    from alembic.config import Config

    from mcp_server.core.store.metadata import MIGRATIONS_DIR

    store.ensure_ready()
    audit(store)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        assert current_revision(conn) == "0001"
        command.upgrade(cfg, "head")
        assert current_revision(conn) == HEAD_REVISION
    assert count(store, AuditRecord) == 1


def test_a_schema_newer_than_the_code_is_refused(store: MetadataStore) -> None:
    store.ensure_ready()
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
    newer = MetadataStore(store.url, lock_path=store.lock_path)
    with pytest.raises(BackendUnavailable, match="schema this version of mlops-mcp does not know"):
        newer.ensure_ready()
    assert not newer.opened
    assert count(store, AuditRecord) == 0  # nothing was dropped or recreated


def test_models_match_migrations(store: MetadataStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store.ensure_ready()
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_two_servers_opening_a_new_store_at_once(store_url: str) -> None:
    stores = [MetadataStore(store_url) for _ in range(4)]
    errors: list[BaseException] = []

    def open_it(s: MetadataStore) -> None:
        try:
            s.ensure_ready()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert {s.schema_revision() for s in stores} == {HEAD_REVISION}
    for s in stores:
        s.dispose()


def test_sqlite_settings_on_every_connection(tmp_path: Path) -> None:
    store = MetadataStore.for_home(tmp_path / "home", None)
    store.ensure_ready()
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        db = tmp_path / "home" / "metadata.db"
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert (tmp_path / "home" / "metadata.lock").exists()
    finally:
        store.dispose()


def test_sqlite_write_transactions_take_the_database_lock_at_begin(tmp_path: Path) -> None:
    # BEGIN IMMEDIATE: a deferred transaction that reads and then writes could fail with "locked"
    # at once instead of waiting; an immediate one owns the write lock from its first statement.
    import sqlite3

    store = MetadataStore.for_home(tmp_path / "home", None)
    store.ensure_ready()
    other = sqlite3.connect(tmp_path / "home" / "metadata.db", timeout=0, isolation_level=None)
    try:
        with store.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free once the transaction ended
        other.execute("ROLLBACK")
        with store.read_session() as s:
            s.scalar(select(func.count()).select_from(AuditRecord))
            other.execute("BEGIN IMMEDIATE")  # reads take no write lock
            other.execute("ROLLBACK")
    finally:
        other.close()
        store.dispose()


def test_unreachable_postgres_is_backend_unavailable_and_masks_the_password() -> None:
    store = MetadataStore("postgresql://mlops:hunter2@127.0.0.1:1/metadata", busy_timeout_s=2)
    with pytest.raises(BackendUnavailable) as err:
        store.ping()
    message = str(err.value)
    assert "hunter2" not in message
    assert message.startswith("The metadata store at postgresql+psycopg://mlops:***@127.0.0.1:1/metadata")
    assert message.endswith("check MLOPS_MCP_STORE_URL.")
    assert not store.opened  # the next call tries again


@pytest.mark.parametrize("url", ["mysql://root:pw@db/x", "sqlite://", "sqlite:///:memory:"])
def test_unsupported_urls_are_refused_without_the_password(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        MetadataStore(url)
    assert ":pw@" not in str(err.value)


def test_sqlite_in_an_unwritable_place_is_backend_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = MetadataStore(f"sqlite:///{tmp_path / 'file' / 'metadata.db'}")
    with pytest.raises(BackendUnavailable, match="writable folder"):
        store.ensure_ready()


# -- transactions -------------------------------------------------------------------------------


def test_a_failing_transaction_leaves_nothing(store: MetadataStore) -> None:
    with pytest.raises(ValueError, match="boom"), store.transaction() as s:
        s.add(LineageEdge(upstream="run:abc", downstream="model:m/1", kind="trained"))
        s.flush()
        raise ValueError("boom")
    assert count(store, LineageEdge) == 0
    with store.transaction() as s:
        s.add(LineageEdge(upstream="run:abc", downstream="model:m/1", kind="trained"))
        s.commit()  # inside the block only flushes; the block's end commits
        s.add(LineageEdge(upstream="run:abc", downstream="model:m/2", kind="trained"))
    assert count(store, LineageEdge) == 2


def test_nested_transaction_on_one_thread_is_refused(store: MetadataStore) -> None:
    with store.transaction(), pytest.raises(RuntimeError, match="same thread"), store.transaction():
        pass
    with store.transaction():  # the store is still usable
        pass


def test_sixteen_threads_write_edges_and_audit_rows(store: MetadataStore) -> None:
    store.ensure_ready()
    threads_n, per_thread = 16, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                record_edge(store, f"dataset:d{t}@{i:012x}", f"validation:v{t}-{i}", "validated_by", {"i": i})
                # Every thread also records one shared edge: idempotent under contention.
                record_edge(store, "run:shared", "model:m/1", "trained")
                audit(store, tool=f"tool_{t}", arguments={"i": i, "token": f"secret-{t}-{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert count(store, LineageEdge) == threads_n * per_thread + 1
    assert count(store, AuditRecord) == threads_n * per_thread
    for n in (0, 7, 15):
        assert len(store.audit_entries(tool=f"tool_{n}")) == per_thread


# -- audit log ----------------------------------------------------------------------------------


def test_audit_records_success_and_failure(store: MetadataStore) -> None:
    audit(store, tool="registry_register_model", duration_ms=12.25)
    audit(
        store,
        tool="deploy_canary_start",
        outcome="error",
        error="The endpoint 'web' does not exist; create it with deploy_create_endpoint.",
        duration_ms=3.0,
    )
    newest, oldest = store.audit_entries()
    assert (newest.tool, newest.outcome, newest.duration_ms) == ("deploy_canary_start", "error", 3.0)
    assert newest.error == "The endpoint 'web' does not exist; create it with deploy_create_endpoint."
    assert (oldest.tool, oldest.outcome, oldest.error, oldest.client) == (
        "registry_register_model",
        "ok",
        None,
        "claude",
    )
    assert newest.id > oldest.id
    assert oldest.time.tzinfo is UTC and abs((datetime.now(UTC) - oldest.time).total_seconds()) < 60
    with pytest.raises(ValueError):
        audit(store, outcome="maybe")


def test_audit_never_stores_secret_values(store: MetadataStore) -> None:
    arguments = {
        "name": "churn",
        "Password": "pw-one",
        "options": {
            "api-key": "pw-two",
            "nested": [{"AWS_SECRET_ACCESS_KEY": "pw-three"}, {"client_secret": "pw-four"}],
            "Authorization": "Bearer pw-five",
        },
        "tracking_uri": "postgresql://mlflow:pw-six@db:5432/mlflow",
        "dsn": "host=db user=u password=pw-seven",
        "accessKey": "pw-eight",
        "refresh_token": "pw-nine",
        "db_credentials": {"user": "u", "pass": "pw-ten"},
    }
    store.record_audit(
        tool="lake_register",
        client="client pw-ok",
        arguments=arguments,
        outcome="error",
        error="could not connect to s3://key:pw-eleven@minio/bucket",
        duration_ms=1.0,
    )
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM mlops_audit_log")).all()
    dumped = json.dumps([list(map(str, r)) for r in rows])
    for n in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"):
        assert f"pw-{n}" not in dumped
    stored = json.loads(store.audit_entries()[0].args_redacted)
    assert stored["name"] == "churn"
    assert stored["Password"] == "***"
    assert stored["options"]["nested"][0] == {"AWS_SECRET_ACCESS_KEY": "***"}
    assert stored["tracking_uri"] == "postgresql://mlflow:***@db:5432/mlflow"
    assert stored["db_credentials"] == "***"


def test_audit_digest_is_of_the_redacted_arguments(store: MetadataStore) -> None:
    audit(store, arguments={"b": 1, "a": {"token": "first"}})
    audit(store, arguments={"a": {"token": "second"}, "b": 1})
    second, first = store.audit_entries()
    assert first.args_digest == second.args_digest
    expected = digest(canonical_json(redact({"a": {"token": "x"}, "b": 1})))
    assert first.args_digest == expected == digest('{"a":{"token":"***"},"b":1}')
    audit(store, arguments={"a": {"token": "first"}, "b": 2})
    assert store.audit_entries(limit=1)[0].args_digest != first.args_digest


def test_audit_truncates_long_arguments_and_errors(store: MetadataStore) -> None:
    audit(store, arguments={"rows": ["x" * 100] * 200}, outcome="error", error="e" * 5000)
    entry = store.audit_entries()[0]
    assert len(entry.args_redacted) <= 4096
    wrapper = json.loads(entry.args_redacted)
    assert wrapper["_truncated"] is True and wrapper["_chars"] > 20_000
    assert entry.error == "e" * 1000
    assert entry.args_digest == digest(canonical_json({"rows": ["x" * 100] * 200}))


def test_audit_entries_filter_limit_and_pages(store: MetadataStore) -> None:
    for i in range(7):
        audit(store, tool="a_tool" if i % 2 else "b_tool", arguments={"i": i})
    assert len(store.audit_entries()) == 7
    a = store.audit_entries(tool="a_tool")
    assert [json.loads(e.args_redacted)["i"] for e in a] == [5, 3, 1]
    page1 = store.audit_entries(limit=4)
    page2 = store.audit_entries(limit=4, before_id=page1[-1].id)
    assert [json.loads(e.args_redacted)["i"] for e in page1 + page2] == [6, 5, 4, 3, 2, 1, 0]
    with pytest.raises(InvalidInput):
        store.audit_entries(limit=0)


# -- the write lock -----------------------------------------------------------------------------


def test_write_lock_makes_writers_wait_then_go_on(store: MetadataStore) -> None:
    store.ensure_ready()
    released_at: list[float] = []
    committed_at: list[float] = []
    errors: list[BaseException] = []

    def late_writer() -> None:
        try:
            audit(store, tool="waits")
            committed_at.append(time.monotonic())
        except BaseException as exc:
            errors.append(exc)

    def impatient_writer() -> None:
        try:
            store.record_audit(
                tool="t", client=None, arguments={}, outcome="ok", error=None, duration_ms=0, timeout_s=0.2
            )
        except BaseException as exc:
            errors.append(exc)

    with store.write_lock(timeout_s=5):
        impatient = threading.Thread(target=impatient_writer)
        impatient.start()
        impatient.join(5)
        assert [type(e) for e in errors] == [Conflict]
        assert (
            str(errors.pop())
            == "The metadata store is locked by a backup or another writer; retry in a moment."
        )
        waiter = threading.Thread(target=late_writer)
        waiter.start()
        time.sleep(0.4)
        assert committed_at == []  # still waiting
        assert count(store, AuditRecord) == 0  # reads go on under the lock
        audit(store, tool="holder")  # the holder's own thread may write
        released_at.append(time.monotonic())
    waiter.join(10)
    assert errors == []
    assert committed_at and committed_at[0] >= released_at[0]
    assert [e.tool for e in store.audit_entries()] == ["waits", "holder"]


def test_write_lock_holds_off_another_store_on_the_same_database(store: MetadataStore) -> None:
    # A second MetadataStore object has its own in-process lock, as another server process would:
    # only the cross-process half (flock on SQLite, advisory locks on PostgreSQL) can stop it.
    other = MetadataStore(store.url, lock_path=store.lock_path)
    other.ensure_ready()
    try:
        with store.write_lock(timeout_s=5), pytest.raises(Conflict, match="locked by a backup"):
            record_edge_in(other, timeout_s=0.3)
        record_edge_in(other, timeout_s=2)
        assert count(store, LineageEdge) == 1
    finally:
        other.dispose()


def record_edge_in(store: MetadataStore, *, timeout_s: float) -> None:
    with store.transaction(timeout_s=timeout_s) as s:
        s.add(LineageEdge(upstream="model:m/1", downstream="onnx:m/1", kind="exported"))


def test_write_lock_gives_up_while_a_writer_is_busy(store: MetadataStore) -> None:
    store.ensure_ready()
    inside, finish = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.transaction() as s:
            s.add(LineageEdge(upstream="run:r", downstream="model:m/1", kind="trained"))
            inside.set()
            finish.wait(10)

    t = threading.Thread(target=slow_writer)
    t.start()
    assert inside.wait(10)
    started = time.monotonic()
    with pytest.raises(Conflict, match="could not be locked"), store.write_lock(timeout_s=0.3):
        pass
    assert 0.25 < time.monotonic() - started < 3
    finish.set()
    t.join(10)
    with store.write_lock(timeout_s=5):  # free again
        pass
    assert count(store, LineageEdge) == 1


def test_write_lock_is_waited_for_by_new_writers_while_pending(store: MetadataStore) -> None:
    """A backup waiting for running writers is not starved by writers that arrive after it."""
    store.ensure_ready()
    inside, finish = threading.Event(), threading.Event()
    order: list[str] = []

    def first_writer() -> None:
        with store.transaction():
            inside.set()
            finish.wait(10)
        order.append("first")

    def holder() -> None:
        with store.write_lock(timeout_s=10):
            order.append("lock")

    threading.Thread(target=first_writer).start()
    assert inside.wait(10)
    h = threading.Thread(target=holder)
    h.start()
    time.sleep(0.1)
    with pytest.raises(Conflict):  # arrives while the lock is pending: waits, times out
        record_edge_in(store, timeout_s=0.2)
    finish.set()
    h.join(10)
    assert order == ["first", "lock"]
