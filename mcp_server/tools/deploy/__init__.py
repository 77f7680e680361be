"""The deploy area: endpoints on the serving gateway (mcp_server/gateway), predictions through it, packaging
(a Docker build context, Kubernetes manifests) and rollouts (canary, blue-green, rollback, history).

tools.py (arguments) -> service.py (use cases) -> adapter.py (ONNX twins) / packaging.py (docker, YAML) and
the gateway client (core/gateway_client.py). Importing this module is cheap: httpx, onnxruntime, MLflow and
the docker SDK load inside the calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.deploy.tools import (
    BUILD_DEADLINE_S,
    PREPARE_DEADLINE_S,
    START_DEADLINE_S,
    deploy_blue_green_prepare,
    deploy_blue_green_switch,
    deploy_build_image,
    deploy_canary_abort,
    deploy_canary_promote,
    deploy_canary_start,
    deploy_canary_status,
    deploy_create_endpoint,
    deploy_delete_endpoint,
    deploy_export_manifests,
    deploy_gateway_start,
    deploy_gateway_status,
    deploy_gateway_stop,
    deploy_history,
    deploy_list,
    deploy_predict,
    deploy_rollback,
    deploy_status,
)

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


async def _probe_gateway(app: AppContext) -> tuple[bool, str, str]:
    """ok when the gateway answers, or when it was never started and no endpoint needs it."""
    import anyio

    from mcp_server.tools.deploy.service import gateway_probe

    return await anyio.to_thread.run_sync(gateway_probe, app)


PROBES = {"gateway": _probe_gateway}


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(deploy_gateway_start, core=False, read_only=False, idempotent=True, deadline_s=START_DEADLINE_S),
    ToolSpec(deploy_gateway_stop, core=False, read_only=False, idempotent=True),
    ToolSpec(deploy_gateway_status, core=False, read_only=True, idempotent=True),
    ToolSpec(deploy_create_endpoint, core=True, read_only=False, idempotent=True),
    ToolSpec(deploy_list, core=False, read_only=True, idempotent=True),
    ToolSpec(deploy_status, core=False, read_only=True, idempotent=True),
    ToolSpec(deploy_predict, core=True, read_only=True, idempotent=True),
    ToolSpec(deploy_delete_endpoint, core=False, read_only=False, destructive=True),
    ToolSpec(deploy_build_image, core=False, read_only=False, open_world=True, deadline_s=BUILD_DEADLINE_S),
    ToolSpec(deploy_export_manifests, core=False, read_only=True, idempotent=True),
    ToolSpec(deploy_canary_start, core=True, read_only=False),
    ToolSpec(deploy_canary_status, core=True, read_only=True, idempotent=True),
    ToolSpec(deploy_canary_promote, core=False, read_only=False),
    ToolSpec(deploy_canary_abort, core=False, read_only=False, destructive=True),
    ToolSpec(
        deploy_blue_green_prepare, core=False, read_only=False, idempotent=True, deadline_s=PREPARE_DEADLINE_S
    ),
    ToolSpec(deploy_blue_green_switch, core=False, read_only=False, destructive=True),
    ToolSpec(deploy_rollback, core=False, read_only=False, destructive=True),
    ToolSpec(deploy_history, core=False, read_only=True, idempotent=True),
)
