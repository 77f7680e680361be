"""The registry area: the model registry on MLflow: versions, aliases with history and rollback, comparisons, model cards.

Aliases live in MLflow; their history (who, when, why, from -> to) lives in the metadata store
(revision 0007). `core.mlmodels.resolve_version` is the contract other areas use. Importing this module is
cheap: MLflow loads inside the calls.
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.registry.tools import (
    REGISTER_DEADLINE_S,
    registry_alias_history,
    registry_archive_version,
    registry_compare_versions,
    registry_delete_version,
    registry_get_version,
    registry_list_models,
    registry_model_card,
    registry_register_model,
    registry_rollback,
    registry_search_versions,
    registry_set_alias,
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(registry_register_model, core=True, read_only=False, deadline_s=REGISTER_DEADLINE_S),
    ToolSpec(registry_list_models, core=False, read_only=True, idempotent=True),
    ToolSpec(registry_search_versions, core=False, read_only=True, idempotent=True),
    ToolSpec(registry_get_version, core=True, read_only=True, idempotent=True),
    ToolSpec(registry_set_alias, core=True, read_only=False, idempotent=True),
    ToolSpec(registry_rollback, core=False, read_only=False, destructive=True),
    ToolSpec(registry_alias_history, core=False, read_only=True, idempotent=True),
    ToolSpec(registry_compare_versions, core=False, read_only=True, idempotent=True),
    ToolSpec(registry_archive_version, core=False, read_only=False, idempotent=True),
    ToolSpec(registry_delete_version, core=False, read_only=False, destructive=True),
    ToolSpec(registry_model_card, core=False, read_only=True, idempotent=True),
)
