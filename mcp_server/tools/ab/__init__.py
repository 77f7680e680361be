"""The ab area: A/B experiments planned, recorded and analysed on scipy and statsmodels.

Importing this module is cheap: the statistics libraries load inside the calls (adapter.py).
"""

from __future__ import annotations

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.ab.tools import ab_analyze, ab_create, ab_design, ab_get, ab_list, ab_record, ab_stop

_EXAMPLE = "checkout-button"
_CREATE = {
    "name": _EXAMPLE,
    "variants": ["control", "green"],
    "control": "control",
    "metric": "checkout_conversion",
    "baseline": 0.1,
    "mde": 0.02,
}
_SETUP_CREATE = (("ab_create", _CREATE),)
_SETUP_DATA = (
    *_SETUP_CREATE,
    ("ab_record", {"name": _EXAMPLE, "variant": "control", "observations": {"successes": 40, "trials": 400}}),
    ("ab_record", {"name": _EXAMPLE, "variant": "green", "observations": {"successes": 52, "trials": 410}}),
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        ab_design,
        core=False,
        read_only=True,
        idempotent=True,
        example={"metric_type": "proportion", "baseline": 0.1, "mde": 0.02},
    ),
    ToolSpec(ab_create, core=True, read_only=False, example=_CREATE),
    ToolSpec(
        ab_record,
        core=True,
        read_only=False,
        example={
            "name": _EXAMPLE,
            "variant": "green",
            "observations": [1, 0, 0, 1, 0],
            "idempotency_key": "batch-1",
        },
        setup=_SETUP_CREATE,
    ),
    ToolSpec(
        ab_analyze, core=True, read_only=True, idempotent=True, example={"name": _EXAMPLE}, setup=_SETUP_DATA
    ),
    ToolSpec(ab_list, core=False, read_only=True, idempotent=True, example={}, setup=_SETUP_CREATE),
    ToolSpec(
        ab_get, core=False, read_only=True, idempotent=True, example={"name": _EXAMPLE}, setup=_SETUP_DATA
    ),
    ToolSpec(
        ab_stop, core=False, read_only=False, idempotent=True, example={"name": _EXAMPLE}, setup=_SETUP_CREATE
    ),
)
