"""Cross-area contract 3: which versions of a model the deploy area serves (the registry refuses to
delete or archive those)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


def serving_versions(app: AppContext, model: str) -> set[str]:
    """Versions of `model` that any endpoint routes to (with any weight, including an idle slot)."""
    from sqlalchemy import select

    from mcp_server.core.store.models import DeployRoute

    with app.store.read_session() as session:
        return set(session.scalars(select(DeployRoute.version).where(DeployRoute.model == model)).all())
