"""The tool table: names, the core budget, and a case and a statement of intent for every tool."""

from __future__ import annotations

import re

import pytest
from mcp import Client

from mcp_server.core.registry import AREAS, CORE_TOOL_BUDGET, all_specs
from tests.contract.check import GROUPS, REGISTERED, group_of
from tests.contract.intent import INTENT, hints
from tests.contract_cases import CASES

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


def test_every_registered_tool_has_a_case_an_intent_and_a_group() -> None:
    registered = set(REGISTERED)
    assert registered == {s.name for s in all_specs()}, "the `all` profile registers every tool here"
    assert set(CASES) == registered, (
        f"cases missing: {registered - set(CASES)}, extra: {set(CASES) - registered}"
    )
    assert set(INTENT) == registered, (
        f"intent missing: {registered - set(INTENT)}, extra: {set(INTENT) - registered}"
    )
    for name, spec in REGISTERED.items():
        hints(name)  # the statement parses
        assert group_of(spec) in GROUPS


async def test_unknown_tool_is_a_json_rpc_invalid_params_error(client: Client) -> None:
    """The spec's "Unknown tool" is -32602, not an isError result (tests/test_protocol_errors.py has more)."""
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError) as err:
        await client.call_tool("no_such_tool", {})
    assert err.value.error.code == -32602 and "Unknown tool: no_such_tool" in err.value.error.message
