"""The registry area: the model registry on MLflow: versions, aliases with history and rollback, comparisons, model cards.

Aliases live in MLflow; their history (who, when, why, from -> to) lives in the metadata store
(revision 0007). `core.mlmodels.resolve_version` is the contract other areas use. Importing this module is
cheap: MLflow loads inside the calls.
"""

from __future__ import annotations

from mcp_server.core.auth import DEPLOY
from mcp_server.core.confirm import Confirm
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.registry.tools")  # imported on a tool's first use
REGISTER_DEADLINE_S = 300.0

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.registry_register_model, core=True, deadline_s=REGISTER_DEADLINE_S),
    ToolSpec(t.registry_list_models, read_only=True, idempotent=True),
    ToolSpec(t.registry_search_versions, read_only=True, idempotent=True),
    ToolSpec(t.registry_get_version, core=True, read_only=True, idempotent=True),
    ToolSpec(t.registry_set_alias, core=True, idempotent=True, scope=DEPLOY),  # serving follows aliases
    ToolSpec(
        t.registry_rollback,
        destructive=True,
        confirm=Confirm("move alias {alias!r} of model {name!r} back to the version it pointed to before"),
        scope=DEPLOY,  # an alias move, not a delete
    ),
    ToolSpec(t.registry_alias_history, read_only=True, idempotent=True),
    ToolSpec(t.registry_compare_versions, read_only=True, idempotent=True),
    ToolSpec(t.registry_archive_version, idempotent=True),
    ToolSpec(
        t.registry_delete_version,
        destructive=True,
        confirm=Confirm("delete version {version} of model {name!r} from the registry for good"),
    ),
    ToolSpec(t.registry_model_card, read_only=True, idempotent=True),
)
