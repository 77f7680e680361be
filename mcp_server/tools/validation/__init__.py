"""The validation area: data validation on Great Expectations 1.x (suites, runs, results, integrity)."""

from __future__ import annotations

import importlib.util
import tempfile
from typing import TYPE_CHECKING

from mcp_server.core.confirm import Confirm
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.validation.tools")  # imported on a tool's first use

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


TOOLS = (
    ToolSpec(t.validation_create_suite, core=True),
    ToolSpec(t.validation_suggest_suite, core=True),
    ToolSpec(t.validation_list_suites, read_only=True, idempotent=True),
    ToolSpec(t.validation_get_suite, read_only=True, idempotent=True),
    ToolSpec(
        t.validation_delete_suite,
        destructive=True,
        idempotent=True,
        # 'name@N' deletes one version; 'name' every version.
        confirm=Confirm(
            "delete every version of suite {suite!r}", when=lambda arguments: "@" not in arguments["suite"]
        ),
    ),
    ToolSpec(t.validation_run, core=True, read_only=True),
    ToolSpec(t.validation_get_result, read_only=True, idempotent=True),
    ToolSpec(t.validation_list_results, read_only=True, idempotent=True),
    ToolSpec(t.validation_check_integrity, read_only=True),
)


async def _probe_gx(app: AppContext) -> tuple[bool, str, str]:
    """Cheap: the library is installed and the GX project folder is writable; GX itself is not imported."""
    if importlib.util.find_spec("great_expectations") is None:
        return False, "great_expectations is not installed", "pip install 'mlops-mcp[gx]'"
    gx_dir = app.settings.home / "gx"
    try:
        gx_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=gx_dir, prefix=".health-"):
            pass
    except OSError as err:
        return False, f"the GX project folder is not writable ({err.strerror})", "Make <home>/gx writable."
    suites = gx_dir / "expectations"
    count = sum(1 for p in suites.glob("*.json")) if suites.is_dir() else 0
    return True, f"GX project at <home>/gx, {count} suite version(s) stored", ""


PROBES = {"great_expectations": _probe_gx}


def _start_workers(app: AppContext) -> None:
    """MLOPS_MCP_VALIDATION_WORKERS_AT_START: the warm workers start importing GX with the server, so the
    first suite with a regex does not wait for them."""
    if app.settings.validation_workers_at_start:
        from mcp_server.tools.validation.service import workers

        workers(app)


ON_START = (_start_workers,)
