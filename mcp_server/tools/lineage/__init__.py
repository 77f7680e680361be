"""The lineage area (lineage_get, lineage_export) and the audit area (audit_list), in one package."""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.lineage.tools import audit_list, lineage_export, lineage_get

_CHAIN = (("lake_write", {"source": "example.csv", "dataset": "example"}),)

TOOLS = (
    ToolSpec(
        lineage_get,
        core=True,
        read_only=True,
        idempotent=True,
        setup=_CHAIN,
        example={"entity": "dataset:example", "direction": "both", "depth": 3},
    ),
    ToolSpec(
        lineage_export,
        core=False,
        read_only=True,
        idempotent=True,
        setup=_CHAIN,
        example={"entity": "dataset:example@v1", "direction": "upstream"},
    ),
    ToolSpec(
        audit_list, core=False, read_only=True, idempotent=True, setup=_CHAIN, example={"tool": "lake_write"}
    ),
)
