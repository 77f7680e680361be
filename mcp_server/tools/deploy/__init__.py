"""The deploy area: endpoints on the serving gateway (mcp_server/gateway), predictions through it, and
packaging (a Docker build context, Kubernetes manifests). Rollouts (issue #10) build on the same table.

Importing this module is cheap: httpx, onnxruntime, MLflow and the docker SDK load inside the calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_server.core.registry import ToolSpec
from mcp_server.tools.deploy.rollouts import ROLLOUT_TOOLS
from mcp_server.tools.deploy.tools import (
    BUILD_DEADLINE_S,
    START_DEADLINE_S,
    deploy_build_image,
    deploy_create_endpoint,
    deploy_delete_endpoint,
    deploy_export_manifests,
    deploy_gateway_start,
    deploy_gateway_status,
    deploy_gateway_stop,
    deploy_list,
    deploy_predict,
    deploy_status,
)

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext


async def _probe_gateway(app: AppContext) -> tuple[bool, str, str]:
    """ok when the gateway answers, or when it was never started and no endpoint needs it."""
    import anyio

    from mcp_server.gateway import manager

    def check() -> tuple[bool, str, str]:
        current = manager.status(app)
        if current.running:
            return True, f"running at {current.url}, generation {current.generation}", ""
        if current.state == "stopped":
            from mcp_server.tools.deploy.adapter import list_endpoints

            count = len(list_endpoints(app))
            if count == 0:
                return True, "not started", ""
            return (
                False,
                f"not running while {count} endpoint(s) exist",
                "Start it with deploy_gateway_start.",
            )
        return (
            False,
            current.message,
            "Restart it with deploy_gateway_start; its log is <home>/gateway/gateway.log.",
        )

    return await anyio.to_thread.run_sync(check)


PROBES = {"gateway": _probe_gateway}

# Examples for the contract test: a model trained and registered on example.csv, served on a gateway.
_TRAIN = (
    "evaluation_train_model",
    {
        "dataset": "example.csv",
        "target": "label",
        "estimator": "LogisticRegression",
        "params": {"solver": "liblinear"},
        "features": ["age", "income"],
        "name": "deploy-example",
    },
)
_MODEL = "deploy-example"
_REGISTER = ("registry_register_model", {"name": _MODEL, "source": "deploy-example"})
_CREATE = {"endpoint": "example-endpoint", "model": _MODEL, "version": "1"}
_SETUP_ENDPOINT = (_TRAIN, _REGISTER, ("deploy_create_endpoint", _CREATE))
_START = ("deploy_gateway_start", {"port": 0})
_ROWS = [{"age": 50, "income": 52000.0}, {"age": 23, "income": 31000.5}]

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        deploy_gateway_start,
        core=False,
        read_only=False,
        idempotent=True,
        example={"port": 0},
        deadline_s=START_DEADLINE_S,
    ),
    ToolSpec(deploy_gateway_stop, core=False, read_only=False, idempotent=True, example={}, setup=(_START,)),
    ToolSpec(deploy_gateway_status, core=False, read_only=True, idempotent=True, example={}),
    ToolSpec(
        deploy_create_endpoint,
        core=True,
        read_only=False,
        idempotent=True,
        example=_CREATE,
        setup=(_TRAIN, _REGISTER),
    ),
    ToolSpec(deploy_list, core=False, read_only=True, idempotent=True, example={}),
    ToolSpec(
        deploy_status,
        core=False,
        read_only=True,
        idempotent=True,
        example={"endpoint": "example-endpoint"},
        setup=_SETUP_ENDPOINT,
    ),
    ToolSpec(
        deploy_predict,
        core=True,
        read_only=True,
        idempotent=True,
        example={"endpoint": "example-endpoint", "rows": _ROWS},
        setup=(*_SETUP_ENDPOINT, _START),
    ),
    ToolSpec(
        deploy_delete_endpoint,
        core=False,
        read_only=False,
        destructive=True,
        example={"endpoint": "example-endpoint"},
        setup=_SETUP_ENDPOINT,
    ),
    ToolSpec(
        deploy_build_image,
        core=False,
        read_only=False,
        open_world=True,
        example={"model": _MODEL, "version": "1", "tag": "example-gateway:1"},
        setup=(_TRAIN, _REGISTER),
        deadline_s=BUILD_DEADLINE_S,
    ),
    ToolSpec(
        deploy_export_manifests,
        core=False,
        read_only=True,
        idempotent=True,
        example={"endpoint": "example-endpoint", "strategy": "canary"},
        setup=_SETUP_ENDPOINT,
    ),
    *ROLLOUT_TOOLS,  # canary, blue-green, rollback, history (issue #10): mcp_server/tools/deploy/rollouts.py
)
