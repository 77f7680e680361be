"""The warm validation worker (#25): suites with a caller's regex run in a worker process that imported GX
once and keeps its engine; a catastrophic pattern still ends at the deadline, the worker is replaced and
the next run works; results stay GX's own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mcp import Client

from mcp_server.core.app import MlopsServer, create_server
from mcp_server.core.blocking import WorkerPool
from mcp_server.core.config import Settings
from tests.conftest import assert_tool_error, structured
from tests.tools.validation.test_spark import SUGGESTED_TYPES, by_index, dirty_orders, orders, write_parquet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CODES = [
    {
        "type": "expect_column_values_to_match_regex",
        "kwargs": {"column": "code", "regex": r"^[A-Z]{2}-[0-9]{4}$"},
    }
]
EVIL = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "text", "regex": "(a+)+$"}}]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Client, MlopsServer]]:
    settings = Settings(home=tmp_path / "home", profile="all", validation_workers_at_start=True)
    ws = settings.workspace_dir
    ws.mkdir(parents=True)
    clean = orders(2_000, 1)
    write_parquet(clean, ws / "orders.parquet")
    write_parquet(dirty_orders(clean, 2), ws / "orders_dirty.parquet")
    pd.DataFrame({"text": ["a" * 50_000 + "!"] * 3}).to_csv(ws / "evil.csv", index=False)
    server = create_server(settings)
    async with Client(server, mode="legacy") as client:
        yield client, server
    pool = pool_of(server)
    server.app.close()
    assert pool.alive() == 0  # the workers end with the server


def pool_of(server: MlopsServer) -> WorkerPool:
    pool = server.app._clients["validation-workers"]
    assert isinstance(pool, WorkerPool)
    return pool


def pids(pool: WorkerPool) -> list[int]:
    return [w.proc.pid for w in pool._workers if w.proc.pid is not None]


async def run(client: Client, dataset: str, suite: str, **extra: Any) -> Any:
    return await client.call_tool(
        "validation_run", {"dataset": dataset, "suite": suite, "limit": 500, **extra}
    )


async def test_a_catastrophic_regex_ends_at_the_deadline_and_the_next_run_works(
    served: tuple[Client, MlopsServer],
) -> None:
    client, server = served
    pool = pool_of(server)  # started with the server (validation_workers_at_start)
    assert pool.size == 1 and pool.alive() == 1
    structured(await client.call_tool("validation_create_suite", {"name": "codes", "expectations": CODES}))
    structured(await client.call_tool("validation_create_suite", {"name": "evil", "expectations": EVIL}))
    first = structured(await run(client, "orders.parquet", "codes"))
    assert first["isolated"] is True and first["success"] is True
    worker = pids(pool)
    started = time.perf_counter()
    again = structured(await run(client, "orders_dirty.parquet", "codes"))
    warm_s = time.perf_counter() - started
    assert pids(pool) == worker  # the same process: GX imported once, its engine kept
    assert again["results"][0]["unexpected_count"] == 6 and warm_s < 2, warm_s

    started = time.perf_counter()
    late = await run(client, "evil.csv", "evil", deadline_s=3)
    elapsed = time.perf_counter() - started
    assert_tool_error(late, "regular expression", "within its 3 s deadline")
    assert elapsed < 4.5, elapsed
    assert pool.alive() == 1 and pids(pool) != worker  # killed and replaced at once
    assert pool.warm(timeout=60) == 1  # the new worker has imported GX
    started = time.perf_counter()
    after = structured(await run(client, "orders_dirty.parquet", "codes"))
    assert time.perf_counter() - started < 2
    assert after["results"][0]["unexpected_count"] == 6
    assert pool.alive() == pool.size == 1


def gx_directly(path: Path, expectations: list[dict[str, Any]]) -> list[tuple[str, bool, int | None]]:
    """The suite run with GX's own API on the same file: an ephemeral context, a pandas batch."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    batch_definition = (
        context.data_sources.add_pandas("direct")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="direct"))
    for e in expectations:
        suite.add_expectation_configuration(ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": pd.read_parquet(path)})
    result = batch.validate(suite, result_format="SUMMARY")
    return [
        (r.expectation_config.type, bool(r.success), r.result.get("unexpected_count")) for r in result.results
    ]


async def test_a_suggested_suite_through_the_warm_worker_counts_as_gx_does(
    served: tuple[Client, MlopsServer],
) -> None:
    client, server = served
    suggested = structured(
        await client.call_tool(
            "validation_suggest_suite", {"dataset": "orders.parquet", "name": "orders", "save": True}
        )
    )
    types = {e["type"] for e in suggested["expectations"]}
    assert "expect_column_values_to_match_regex" in types  # so the suite runs in the worker
    suite = structured(await client.call_tool("validation_get_suite", {"suite": "orders"}))
    ws = server.app.settings.workspace_dir
    for dataset in ("orders.parquet", "orders_dirty.parquet"):
        report = structured(await run(client, dataset, "orders"))
        assert report["isolated"] is True
        ours = by_index(report)
        direct = gx_directly(ws / dataset, suite["expectations"])
        assert len(ours) == len(direct)
        for i, (kind, success, unexpected) in enumerate(direct):
            assert ours[i]["type"] == kind and ours[i]["success"] is success, (dataset, ours[i], kind)
            assert ours[i]["unexpected_count"] == unexpected, (dataset, ours[i], unexpected)
    assert types <= SUGGESTED_TYPES
