"""In-place restore (safety backup, swap, the live server sees the restored state) and the PostgreSQL
metadata store (pg_dump -Fc under the write lock, pg_restore into an empty database)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_server.core.context import AppContext
from mcp_server.tools.backup import adapter
from tests.conftest import assert_tool_error, structured
from tests.core.conftest import PG_START
from tests.tools.backup.helpers import connect, make_settings

pytestmark = pytest.mark.timeout(240)

EXPECT = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


async def test_restore_in_place_takes_a_safety_backup_and_swaps_the_state(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "data")
    async with connect(settings) as client:
        structured(await client.call_tool("validation_create_suite", {"name": "s", "expectations": EXPECT}))
        structured(
            await client.call_tool(
                "ab_create",
                {"name": "exp1", "variants": ["a", "b"], "control": "a", "metric": "m", "sample_size": 100},
            )
        )
        first = structured(await client.call_tool("backup_create", {"scope": ["all"]}))
        # Later changes that the restore must undo.
        structured(await client.call_tool("validation_create_suite", {"name": "s", "expectations": EXPECT}))
        structured(
            await client.call_tool(
                "ab_create",
                {"name": "exp2", "variants": ["a", "b"], "control": "a", "metric": "m", "sample_size": 100},
            )
        )
        later = structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))
        suites = structured(await client.call_tool("validation_list_suites", {}))
        assert suites["items"][0]["latest_version"] == 2

        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": first["id"], "target": "in_place", "confirm": True, "new_home": "x"}
            ),
            "omit new_home",
        )
        restored = structured(
            await client.call_tool(
                "backup_restore", {"id": first["id"], "target": "in_place", "confirm": True}
            )
        )
        assert restored["home"] == "<home>" and restored["parts"] == ["metadata", "suites"]
        assert restored["safety_backup"] and restored["rewrites"] == []
        assert restored["integrity"] == {"metadata.db": "ok"}

        # The same server now sees the restored state (its store and GX context were reopened).
        suites = structured(await client.call_tool("validation_list_suites", {}))
        assert suites["items"][0]["latest_version"] == 1
        names = [e["name"] for e in structured(await client.call_tool("ab_list", {}))["items"]]
        assert names == ["exp1"]
        # Backups taken after the restored one (and the safety backup) are records again.
        ids = {b["id"]: b for b in structured(await client.call_tool("backup_list", {}))["items"]}
        assert {first["id"], later["id"], restored["safety_backup"]} <= set(ids)
        assert ids[restored["safety_backup"]]["reason"] == "safety"
        # The safety backup holds the state just before the restore.
        safety = structured(await client.call_tool("backup_verify", {"id": restored["safety_backup"]}))
        assert safety["ok"] is True
    assert not list(settings.home.glob(".restore-*"))
    async with connect(settings) as client:  # a fresh server on the same home
        suites = structured(await client.call_tool("validation_list_suites", {}))
        assert suites["items"][0]["latest_version"] == 1


def _pg_unreachable() -> str | None:
    """Why the local PostgreSQL does not answer, or None when it does."""
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    engine = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    finally:
        engine.dispose()


@pytest.fixture
def pg_databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases (the live store and a restore target), dropped afterwards. As for the store's
    tests (tests/core/conftest.py): PostgreSQL down fails with how to start it, unless
    MLOPS_MCP_SKIP_POSTGRES=1 skips."""
    if os.environ.get("MLOPS_MCP_SKIP_POSTGRES") == "1":
        pytest.skip("MLOPS_MCP_SKIP_POSTGRES=1")
    reason = _pg_unreachable()
    if reason is not None:
        pytest.fail(
            f"PostgreSQL at 127.0.0.1:5432 is not reachable ({reason}); start it with `{PG_START}` "
            "or set MLOPS_MCP_SKIP_POSTGRES=1 to skip these tests.",
            pytrace=False,
        )
    import sqlalchemy as sa

    names = [f"mlops_bk_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = sa.create_engine(
        PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        for n in names:
            conn.exec_driver_sql(f'CREATE DATABASE "{n}"')
    try:
        yield tuple(f"postgresql://postgres@127.0.0.1:5432/{n}" for n in names)  # type: ignore[misc]
    finally:
        with admin.connect() as conn:
            for n in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
async def test_postgres_store_backup_and_restore_into_another_database(
    tmp_path: Path, pg_databases: tuple[str, str]
) -> None:
    live, target = pg_databases
    settings = make_settings(tmp_path / "old" / "home", tmp_path / "data", store_url=live)
    async with connect(settings) as client:
        structured(await client.call_tool("lake_write", {"source": "example.parquet", "dataset": "people"}))
        structured(
            await client.call_tool(
                "ab_create",
                {"name": "exp1", "variants": ["a", "b"], "control": "a", "metric": "m", "sample_size": 100},
            )
        )
        created = structured(await client.call_tool("backup_create", {"scope": ["all", "lake"]}))
        assert created["scope"] == ["metadata", "lake"]
        assert structured(await client.call_tool("backup_verify", {"id": created["id"]}))["ok"] is True
        assert_tool_error(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "new_home", "new_home": "h2"}
            ),
            "pass store_url",
        )
        assert_tool_error(
            await client.call_tool(
                "backup_restore",
                {"id": created["id"], "target": "new_home", "new_home": "h2", "store_url": live},
            ),
            "already holds mlops_",
        )
        assert_tool_error(
            await client.call_tool(
                "backup_restore",
                {
                    "id": created["id"],
                    "target": "new_home",
                    "new_home": "h2",
                    "store_url": "postgresql://postgres:hunter2@169.254.169.254/x",
                },
            ),
            "link-local",
        )
        restored = structured(
            await client.call_tool(
                "backup_restore",
                {"id": created["id"], "target": "new_home", "new_home": "h2", "store_url": target},
            )
        )
        assert restored["rewrites"] == []  # the store's records are relative; no MLflow or Feast in it
        assert any("MLOPS_MCP_STORE_URL" in n for n in restored["notes"])
        # The audit log never holds the store URL argument.
        app = AppContext.from_settings(settings)
        try:
            rows = app.store.audit_entries(tool="backup_restore")
            assert rows and all(
                json.loads(r.args_redacted).get("store_url") in (None, "<secret>") for r in rows
            )
        finally:
            app.close()
    import shutil

    shutil.rmtree(tmp_path / "old" / "home")
    new = make_settings(tmp_path / "old" / "h2", tmp_path / "data", store_url=target)
    async with connect(new) as client:
        assert [e["name"] for e in structured(await client.call_tool("ab_list", {}))["items"]] == ["exp1"]
        read = structured(await client.call_tool("lake_read", {"dataset": "people"}))
        assert read["matched_rows"] == 200


def test_pg_dump_failure_is_one_sentence_without_the_password(tmp_path: Path) -> None:
    from mcp_server.core.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable) as info:
        adapter.pg_dump("postgresql+psycopg://u:secretpw@127.0.0.1:1/db", tmp_path / "x.dump")
    assert "secretpw" not in str(info.value) and "pg_dump failed" in str(info.value)


@pytest.mark.slow
async def test_restore_in_place_stops_and_restarts_a_running_gateway(tmp_path: Path) -> None:
    from mcp_server.gateway import manager

    settings = make_settings(tmp_path / "home", tmp_path / "data")
    app = AppContext.from_settings(settings)
    try:
        async with connect(settings) as client:
            created = structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))
            started = manager.start(app)
            assert started.running
            pid = started.pid
            restored = structured(
                await client.call_tool(
                    "backup_restore", {"id": created["id"], "target": "in_place", "confirm": True}
                )
            )
            assert restored["gateway"] == "restarted: running"
            after = manager.status(app)
            assert after.running and after.pid != pid
    finally:
        manager.stop(app)
        app.close()


@pytest.mark.postgres
async def test_postgres_store_restored_in_place(tmp_path: Path, pg_databases: tuple[str, str]) -> None:
    live, _ = pg_databases
    settings = make_settings(tmp_path / "home", tmp_path / "data", store_url=live)
    exp = {"variants": ["a", "b"], "control": "a", "metric": "m", "sample_size": 100}
    async with connect(settings) as client:
        structured(await client.call_tool("ab_create", {"name": "exp1", **exp}))
        created = structured(await client.call_tool("backup_create", {"scope": ["metadata"]}))
        structured(await client.call_tool("ab_create", {"name": "exp2", **exp}))
        restored = structured(
            await client.call_tool(
                "backup_restore", {"id": created["id"], "target": "in_place", "confirm": True}
            )
        )
        assert restored["parts"] == ["metadata"] and restored["integrity"] == {}
        assert [e["name"] for e in structured(await client.call_tool("ab_list", {}))["items"]] == ["exp1"]
        ids = {b["id"] for b in structured(await client.call_tool("backup_list", {}))["items"]}
        assert {created["id"], restored["safety_backup"]} <= ids
        # The same server keeps writing to the restored store.
        structured(await client.call_tool("ab_create", {"name": "exp3", **exp}))
