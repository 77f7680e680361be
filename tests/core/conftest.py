"""Store fixtures: each test gets a fresh metadata store on SQLite and on the local PostgreSQL.

PostgreSQL: one throwaway database per test session (per xdist worker), `mlops_test_<random>`, created
through the `test` database and dropped at the end; each test starts from an empty schema. When the
server is down the postgres tests fail with how to start it, unless MLOPS_MCP_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_server.core.store import MetadataStore

PG_URL = os.environ.get("MLOPS_MCP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the local PostgreSQL (127.0.0.1:5432, db test)")


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """URL of a fresh database for this test session; dropped afterwards."""
    if os.environ.get("MLOPS_MCP_SKIP_POSTGRES") == "1":
        pytest.skip("MLOPS_MCP_SKIP_POSTGRES=1")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    admin = create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 3}
    )
    name = f"mlops_test_{secrets.token_hex(6)}"
    reason = None
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if reason is not None:  # failed outside the except block: one message, no chained traceback
        pytest.fail(
            f"PostgreSQL at {make_url(PG_URL).render_as_string(hide_password=True)} is not reachable "
            f"({reason}); start it with `{PG_START}` or set MLOPS_MCP_SKIP_POSTGRES=1 to skip these tests.",
            pytrace=False,
        )
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    """The session database with an empty public schema."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(pg_database_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return pg_database_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'metadata.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(backend: str, store_url: str, tmp_path: Path) -> Iterator[MetadataStore]:
    """A store as the server builds it (for_home), not yet opened."""
    s = MetadataStore.for_home(tmp_path / "home", None if backend == "sqlite" else store_url)
    yield s
    s.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d
