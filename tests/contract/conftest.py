"""Contract cases start gateways on their own homes (deploy examples): stop them when a case ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_server.core.config import Settings


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
