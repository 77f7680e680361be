"""Cross-area contract 3, as the registry area reads it today: which versions of a model the deploy area
serves (the registry refuses to delete or archive those). The use case is service.serving_versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


def serving_versions(app: AppContext, model: str) -> set[str]:
    """Versions of `model` that any endpoint routes to (with any weight, including an idle slot)."""
    from mcp_server.core.boundary import Control
    from mcp_server.tools.deploy import service

    return service.serving_versions(app, Control.unbounded(), model)
