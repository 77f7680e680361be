"""The tool contract of ARCHITECTURE.md, checked on one tool: the shared body of the tests/contract modules.

A case (tests/contract_cases.py) runs on its own home, a copy of the one its set-up calls left (built once
per worker: tests/homes.py), so the cases are independent of order and spread over xdist workers.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
from mcp import Client

from mcp_server.core.app import create_server
from mcp_server.core.config import Settings
from mcp_server.core.idempotency import PARAMETER as IDEMPOTENCY_KEY
from mcp_server.core.registry import ToolSpec, select
from tests.conftest import assert_tool_error, structured
from tests.contract.intent import hints
from tests.contract_cases import CASES, write_example_tables
from tests.homes import Homes

# The tools the `all` profile registers with the extras installed here.
REGISTERED: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in select(Settings(home=Path(tempfile.gettempdir()) / "mlops-contract", profile="all"))[0]
}

ROLLOUTS = ("deploy_canary_", "deploy_blue_green_", "deploy_rollback", "deploy_history")
# Test module (tests/contract/test_<group>.py) -> the areas it checks; deploy is split in two because
# its cases train, register and start gateways (the slowest).
GROUPS: dict[str, tuple[str, ...]] = {
    "data": (
        "health",
        "server",
        "validation",
        "quality",
        "lake",
        "catalog",
        "lineage",
        "audit",
        "mongo",
        "backup",
    ),
    "features": ("features",),
    "models": ("evaluation", "registry", "onnx", "ab", "workflow"),
    "deploy": ("deploy", "monitor"),  # monitor reads what the gateway served
    "rollouts": ("deploy",),
}


def group_of(spec: ToolSpec) -> str:
    if spec.name.startswith(ROLLOUTS):
        return "rollouts"
    (group,) = (g for g, areas in GROUPS.items() if g != "rollouts" and spec.area in areas)
    return group


def tools_in(group: str) -> list[str]:
    return [name for name, spec in REGISTERED.items() if group_of(spec) == group]


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}..."


def check_expected(name: str, data: dict[str, Any], expect: Any) -> None:
    assert expect, f"{name}: its case must say what the example's result implies"
    for key, want in expect.items():
        assert key in data, f"{name}: no field {key!r} in {sorted(data)}"
        if callable(want):
            assert want(data[key]), f"{name}: {key}={short(data[key])} does not satisfy {want.__name__}"
        else:
            assert data[key] == want, f"{name}: {key}={short(data[key])}, the example implies {want!r}"


async def check_contract(name: str, settings: Settings, homes: Homes) -> None:
    """The contract of tool `name`, on a home holding the state its case's set-up leaves."""
    case = CASES[name]
    if "mongomock" in case.needs:  # mongomock's data lives in the server process: no copy holds it
        write_example_tables(settings.workspace_dir)
        rest = case.setup
    else:
        rest = await homes.prepare(settings.home, case.setup)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            if (
                "mongomock" in case.needs
            ):  # no MongoDB server here: mongomock, where the product keeps its client
                from tests.tools.mongo.conftest import install_mongomock

                install_mongomock(server)
            for tool_name, arguments in rest:
                structured(await client.call_tool(tool_name, dict(arguments)))
            await _check(name, client)
    finally:
        server.app.close()


async def _check(name: str, client: Client) -> None:
    spec, case, intent = REGISTERED[name], CASES[name], hints(name)
    assert "ctx" in inspect.signature(spec.function).parameters, "every tool takes ctx: Ctx"
    tool = {t.name: t for t in (await client.list_tools()).tools}[name]
    assert tool.description and "\n" not in tool.description
    assert tool.output_schema is not None and tool.output_schema.get("type") == "object"
    assert tool.input_schema.get("additionalProperties") is False

    ann = tool.annotations
    assert ann is not None
    listed = (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint, ann.open_world_hint)
    meant = (intent.read_only, intent.destructive, intent.idempotent, intent.open_world)
    assert listed == meant, (
        f"{name}: annotations (readOnly, destructive, idempotent, openWorld) = {listed}, "
        f"tests/contract/intent.py says {meant}"
    )
    takes_key = IDEMPOTENCY_KEY in tool.input_schema.get("properties", {})
    assert takes_key == intent.keyed, (
        f"{name}: {'takes' if takes_key else 'takes no'} {IDEMPOTENCY_KEY}, "
        f"but it is {'a write that is not repeatable' if intent.keyed else 'a read or a repeatable write'}"
    )

    data = structured(await client.call_tool(name, dict(case.example)))
    jsonschema.validate(data, tool.output_schema, format_checker=jsonschema.FormatChecker())
    check_expected(name, data, case.expect)

    bad = await client.call_tool(name, {**case.example, "not_a_parameter": 1})
    assert_tool_error(bad, "Invalid arguments", "not_a_parameter")

    # The server still answers after the bad call.
    structured(await client.call_tool("server_info", {}))
