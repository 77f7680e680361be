"""The monitor area: drift and accuracy of served traffic, and watch rules that alert.

The gateway sketches what it serves (gateway/monitoring.py: Apache DataSketches, never raw rows); tools.py
(arguments) -> service.py (use cases: merge the sketches, reference per version, outcomes by request id,
rules) -> adapter.py (datasketches, numpy, scikit-learn). `mlops-mcp health watch` judges the rules through
WATCHES and alerts through its channels (webhook, command) when a rule starts or stops holding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_server.core.registry import ToolSpec, tools_of

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext

t = tools_of("mcp_server.tools.monitor.tools")  # imported on a tool's first use
DRIFT_DEADLINE_S = 300.0


async def _watch_rules(app: AppContext) -> list[Any]:
    """The health watch's hook: alerts of the rules that started or stopped holding."""
    import anyio

    from mcp_server.core.boundary import Control
    from mcp_server.tools.monitor.service import evaluate_rules

    return await anyio.to_thread.run_sync(
        lambda: evaluate_rules(app, Control.unbounded("Judging the watch rules"))
    )


WATCHES = {"monitor_rules": _watch_rules}

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.monitor_drift, read_only=True, deadline_s=DRIFT_DEADLINE_S),
    ToolSpec(t.monitor_record_outcomes, idempotent=True),
    ToolSpec(t.monitor_performance, read_only=True, idempotent=True),
    ToolSpec(t.monitor_watch_rules, idempotent=True),
)
