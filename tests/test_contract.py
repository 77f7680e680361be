"""Every tool registered in the `all` profile honours the tool contract of ARCHITECTURE.md."""

from __future__ import annotations

import inspect
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.core.registry import AREAS, CORE_TOOL_BUDGET, ToolSpec, all_specs, select
from tests.conftest import assert_tool_error, structured

SPECS, _, _ = select(Settings(home=Path(tempfile.gettempdir()) / "mlops-contract", profile="all"))
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def test_names_are_unique_and_prefixed_by_a_known_area() -> None:
    names = [s.name for s in all_specs()]
    assert len(names) == len(set(names))
    areas = {a.name for a in AREAS}
    for spec in all_specs():
        assert NAME_RE.match(spec.name), spec.name
        assert spec.area in areas, spec.name


def test_core_profile_stays_within_budget() -> None:
    assert sum(1 for s in all_specs() if s.core) <= CORE_TOOL_BUDGET


def write_example_tables(workspace: Path) -> None:
    """The tables every `example` may use: example.csv and example.parquet (200 clean rows, a binary label)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 200
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 12_000, n).round(2),
            "segment": rng.choice(["a", "b", "c"], n),
            "signup_date": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    df["label"] = ((df["age"] > 45) ^ (rng.random(n) < 0.1)).astype(int)
    workspace.mkdir(parents=True, exist_ok=True)
    df.to_csv(workspace / "example.csv", index=False)
    df.to_parquet(workspace / "example.parquet", index=False)


@pytest.fixture
def no_gateway_left(settings: Settings) -> Iterator[None]:
    """Deploy examples start a gateway on the test's home: stop it when the test ends."""
    yield
    if (settings.home / "gateway").exists():
        from mcp_server.core.context import AppContext
        from mcp_server.gateway import manager

        app = AppContext.from_settings(settings)
        try:
            manager.stop(app)
        finally:
            app.close()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.usefixtures("no_gateway_left")
async def test_tool_contract(spec: ToolSpec, client: Client, settings: Settings) -> None:
    write_example_tables(settings.workspace_dir)
    if spec.area == "mongo":  # no MongoDB server here: mongomock, where the product keeps its client
        from tests.tools.mongo.conftest import install_mongomock

        install_mongomock(client.server)  # type: ignore[arg-type]
    for tool_name, arguments in spec.setup:
        structured(await client.call_tool(tool_name, dict(arguments)))

    assert "ctx" in inspect.signature(spec.fn).parameters, "every tool takes ctx: Ctx"
    listed = {t.name: t for t in (await client.list_tools()).tools}
    tool = listed[spec.name]

    assert tool.description and "\n" not in tool.description
    assert tool.output_schema is not None and tool.output_schema.get("type") == "object"
    assert tool.input_schema.get("additionalProperties") is False
    ann = tool.annotations
    assert ann is not None
    assert (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint, ann.open_world_hint) == (
        spec.read_only,
        spec.destructive,
        spec.idempotent,
        spec.open_world,
    )

    data = structured(await client.call_tool(spec.name, dict(spec.example)))
    assert data, "the example call returns a non-empty result"

    bad = await client.call_tool(spec.name, {**spec.example, "not_a_parameter": 1})
    assert_tool_error(bad, "Invalid arguments", "not_a_parameter")

    # The server still answers after the bad call.
    structured(await client.call_tool("server_info", {}))


async def test_unknown_tool_is_a_tool_error(client: Client) -> None:
    assert_tool_error(await client.call_tool("no_such_tool", {}), "no_such_tool")
