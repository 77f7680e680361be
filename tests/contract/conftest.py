"""Contract cases run on copies of homes built once per worker (`homes`) and start gateways on their own
homes (deploy examples): stop them when a case ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_server.core.config import Settings
from tests.homes import Homes


@pytest.fixture(scope="session")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Homes:
    return Homes(tmp_path_factory.mktemp("homes"))


@pytest.fixture
def no_gateway_left(settings: Settings) -> Iterator[None]:
    yield
    if (settings.home / "gateway").exists():
        from mcp_server.core.context import AppContext
        from mcp_server.gateway import manager

        app = AppContext.from_settings(settings)
        try:
            manager.stop(app)
        finally:
            app.close()
