"""Store fixtures: each test gets a fresh metadata store on SQLite and on the local PostgreSQL.

PostgreSQL: one throwaway database per test session (per xdist worker), `mlops_test_<random>`, created
through the `test` database and dropped at the end; each test starts from an empty schema. When the
server is down the postgres tests fail with how to start it, unless MLOPS_MCP_SKIP_POSTGRES=1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_server.core.store import MetadataStore
from tests.services import PG_START, PG_URL, postgres_database

__all__ = ["PG_START", "PG_URL"]  # imported from here by other test modules

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the local PostgreSQL (127.0.0.1:5432, db test)")


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """URL of a fresh database for this test session; dropped afterwards."""
    with postgres_database("mlops_test") as url:
        yield url


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
