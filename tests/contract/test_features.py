"""The tool contract (tests/contract/check.py) for the tools of features (Feast)."""

from __future__ import annotations

import pytest

from mcp_server.core.config import Settings
from tests.contract.check import check_contract, tools_in
from tests.homes import Homes


@pytest.mark.parametrize("name", tools_in("features"))
@pytest.mark.usefixtures("no_gateway_left")
async def test_tool_contract(name: str, settings: Settings, homes: Homes) -> None:
    await check_contract(name, settings, homes)
