"""The deploy area: endpoints on the serving gateway (mcp_server/gateway), predictions through it, packaging
(a Docker build context, Kubernetes manifests) and rollouts (canary, blue-green, rollback, history).

tools.py (arguments) -> service.py (use cases) -> adapter.py (ONNX twins) / packaging.py (docker, YAML) and
the gateway client (core/gateway_client.py). Importing this module is cheap: httpx, onnxruntime, MLflow and
the docker SDK load inside the calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp_server.core.auth import ADMIN, WRITE
from mcp_server.core.confirm import Confirm
from mcp_server.core.registry import ToolSpec, tools_of

t = tools_of("mcp_server.tools.deploy.tools")  # imported on a tool's first use
BUILD_DEADLINE_S = 900.0
PREPARE_DEADLINE_S = 120.0
START_DEADLINE_S = 90.0

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


async def _probe_gateway(app: AppContext) -> tuple[bool, str, str]:
    """ok when the gateway answers, or when it was never started and no endpoint needs it."""
    import anyio

    from mcp_server.tools.deploy.service import gateway_probe

    return await anyio.to_thread.run_sync(gateway_probe, app)


PROBES = {"gateway": _probe_gateway}


def _abort_what(arguments: Mapping[str, Any]) -> str:
    which = (
        f"canary rollout {arguments['rollout_id']!r}"
        if arguments.get("rollout_id")
        else f"the canary on endpoint {arguments.get('endpoint')!r}"
    )
    return f"abort {which}, sending all its traffic back to the stable version"


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(t.deploy_gateway_start, idempotent=True, deadline_s=START_DEADLINE_S),
    ToolSpec(t.deploy_gateway_stop, idempotent=True),
    ToolSpec(t.deploy_gateway_status, read_only=True, idempotent=True),
    ToolSpec(t.deploy_create_endpoint, core=True, idempotent=True),
    ToolSpec(t.deploy_list, read_only=True, idempotent=True),
    ToolSpec(t.deploy_status, read_only=True, idempotent=True),
    ToolSpec(t.deploy_predict, core=True, read_only=True, idempotent=True),
    ToolSpec(
        t.deploy_delete_endpoint,
        destructive=True,
        confirm=Confirm("delete endpoint {endpoint!r}, which the gateway then stops serving"),
        scope=ADMIN,  # a delete, not a traffic move
    ),
    ToolSpec(t.deploy_build_image, open_world=True, deadline_s=BUILD_DEADLINE_S),
    ToolSpec(t.deploy_export_manifests, read_only=True, idempotent=True),
    ToolSpec(t.deploy_canary_start, core=True),
    ToolSpec(t.deploy_canary_status, core=True, read_only=True, idempotent=True),
    ToolSpec(t.deploy_canary_promote),
    ToolSpec(t.deploy_canary_abort, destructive=True, confirm=Confirm(_abort_what)),
    ToolSpec(t.deploy_blue_green_prepare, idempotent=True, deadline_s=PREPARE_DEADLINE_S),
    ToolSpec(
        t.deploy_blue_green_switch,
        destructive=True,
        confirm=Confirm("switch all traffic of endpoint {endpoint!r} to its prepared idle slot"),
    ),
    ToolSpec(
        t.deploy_rollback,
        destructive=True,
        confirm=Confirm("move all traffic of endpoint {endpoint!r} back to its last stable version"),
    ),
    ToolSpec(t.deploy_history, read_only=True, idempotent=True),
    ToolSpec(
        t.deploy_batch_predict, scope=WRITE
    ),  # writes a new lake dataset (off the request), moves no traffic
    ToolSpec(t.deploy_batch_status, read_only=True, idempotent=True),
    ToolSpec(t.deploy_batch_cancel, idempotent=True, scope=WRITE),
)
