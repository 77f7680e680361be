"""The ab area: A/B experiments planned, recorded and analysed on scipy and statsmodels.

Importing this module is cheap: the statistics libraries load inside the calls (adapter.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.ab.tools import ab_analyze, ab_create, ab_design, ab_get, ab_list, ab_record, ab_stop

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(ab_design, core=False, read_only=True, idempotent=True),
    ToolSpec(ab_create, core=True, read_only=False),
    ToolSpec(ab_record, core=True, read_only=False),
    ToolSpec(ab_analyze, core=True, read_only=True, idempotent=True),
    ToolSpec(ab_list, core=False, read_only=True, idempotent=True),
    ToolSpec(ab_get, core=False, read_only=True, idempotent=True),
    ToolSpec(ab_stop, core=False, read_only=False, idempotent=True),
)
