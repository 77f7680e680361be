"""PostgreSQL fixtures for the ab area's concurrency test (shared with tests/core)."""

from tests.core.conftest import pg_database_url, pg_url

__all__ = ["pg_database_url", "pg_url"]
