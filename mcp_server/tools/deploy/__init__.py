"""The deploy area: endpoints on the serving gateway (mcp_server/gateway), predictions through it, packaging
(a Docker build context, Kubernetes manifests) and rollouts (canary, blue-green, rollback, history).

tools.py (arguments) -> service.py (use cases) -> adapter.py (ONNX twins) / packaging.py (docker, YAML) and
the gateway client (core/gateway_client.py). Importing this module is cheap: httpx, onnxruntime, MLflow and
the docker SDK load inside the calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def _train(name: str) -> tuple[str, dict[str, Any]]:
    """Setup: a model trained on example.csv (the contract test's table) as run `name`."""
    return (
        "evaluation_train_model",
        {
            "dataset": "example.csv",
            "target": "label",
            "estimator": "LogisticRegression",
            "params": {"solver": "liblinear"},
            "features": ["age", "income"],
            "name": name,
        },
    )


# Examples for the contract test: a model trained and registered on example.csv, served on a gateway.
_MODEL = "deploy-example"
_TRAIN = _train(_MODEL)
_REGISTER = ("registry_register_model", {"name": _MODEL, "source": _MODEL})
_CREATE = {"endpoint": "example-endpoint", "model": _MODEL, "version": "1"}
_SETUP_ENDPOINT = (_TRAIN, _REGISTER, ("deploy_create_endpoint", _CREATE))
_START = ("deploy_gateway_start", {"port": 0})
_ROWS = [{"age": 50, "income": 52000.0}, {"age": 23, "income": 31000.5}]
# Rollouts: one trained run registered twice (versions 1 and 2), served by an endpoint.
_EP = "rollout-example"
_R_TRAIN = _train(_EP)
_R_REGISTER = ("registry_register_model", {"name": _EP, "source": _EP})
_R_CREATE = ("deploy_create_endpoint", {"endpoint": _EP, "model": _EP, "version": "1"})
_R_SETUP = (_R_TRAIN, _R_REGISTER, _R_REGISTER, _R_CREATE)
_CANARY = ("deploy_canary_start", {"endpoint": _EP, "candidate_version": "2"})
_PREPARE = ("deploy_blue_green_prepare", {"endpoint": _EP, "version": "2"})

_AT = {"endpoint": "example-endpoint"}
_AT_EP = {"endpoint": _EP}
_ON_CANARY = (*_R_SETUP, _CANARY)

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
        setup=_SETUP_ENDPOINT[:2],
    ),
    ToolSpec(deploy_list, core=False, read_only=True, idempotent=True, example={}),
    ToolSpec(deploy_status, core=False, read_only=True, idempotent=True, example=_AT, setup=_SETUP_ENDPOINT),
    ToolSpec(
        deploy_predict,
        core=True,
        read_only=True,
        idempotent=True,
        example={**_AT, "rows": _ROWS},
        setup=(*_SETUP_ENDPOINT, _START),
    ),
    ToolSpec(
        deploy_delete_endpoint,
        core=False,
        read_only=False,
        destructive=True,
        example=_AT,
        setup=_SETUP_ENDPOINT,
    ),
    ToolSpec(
        deploy_build_image,
        core=False,
        read_only=False,
        open_world=True,
        example={"model": _MODEL, "version": "1", "tag": "example-gateway:1"},
        setup=_SETUP_ENDPOINT[:2],
        deadline_s=BUILD_DEADLINE_S,
    ),
    ToolSpec(
        deploy_export_manifests,
        core=False,
        read_only=True,
        idempotent=True,
        example={**_AT, "strategy": "canary"},
        setup=_SETUP_ENDPOINT,
    ),
    ToolSpec(deploy_canary_start, core=True, read_only=False, example=dict(_CANARY[1]), setup=_R_SETUP),
    ToolSpec(
        deploy_canary_status, core=False, read_only=True, idempotent=True, example=_AT_EP, setup=_ON_CANARY
    ),
    ToolSpec(deploy_canary_promote, core=False, read_only=False, example=_AT_EP, setup=_ON_CANARY),
    ToolSpec(
        deploy_canary_abort, core=False, read_only=False, destructive=True, example=_AT_EP, setup=_ON_CANARY
    ),
    ToolSpec(
        deploy_blue_green_prepare,
        core=False,
        read_only=False,
        idempotent=True,
        example=dict(_PREPARE[1]),
        setup=(*_R_SETUP, _START),
        deadline_s=PREPARE_DEADLINE_S,
    ),
    ToolSpec(
        deploy_blue_green_switch,
        core=False,
        read_only=False,
        destructive=True,
        example=_AT_EP,
        setup=(*_R_SETUP, _START, _PREPARE),
    ),
    ToolSpec(
        deploy_rollback,
        core=False,
        read_only=False,
        destructive=True,
        example={**_AT_EP, "reason": "example"},
        setup=(*_ON_CANARY, ("deploy_canary_promote", _AT_EP)),
    ),
    ToolSpec(
        deploy_history,
        core=False,
        read_only=True,
        idempotent=True,
        example=_AT_EP,
        setup=(_R_TRAIN, _R_REGISTER, _R_CREATE),
    ),
)
