"""The deploy area's MCP tools: the gateway process, endpoints on it, predictions through it, packaging.

The gateway (mcp_server/gateway) is a separate process; these tools start and stop it, write its routing
table in the metadata store and call it over HTTP. Library work runs in a worker thread.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.blocking import run_blocking
from mcp_server.core.context import Ctx, app_context
from mcp_server.core.errors import InvalidInput
from mcp_server.core.workspace import check_name
from mcp_server.tools.deploy.models import (
    BuildResult,
    DeleteResult,
    EndpointPage,
    EndpointResult,
    EndpointStatus,
    GatewayStatus,
    ManifestsResult,
    PredictResult,
)

Endpoint = Annotated[str, Field(description="The endpoint's name (letters, digits, '.', '_', '-').")]
Model = Annotated[str, Field(description="Registered model name (MLflow registry).")]
Version = Annotated[str | None, Field(description="Model version to serve; give this or `alias`.")]
Alias = Annotated[
    str | None, Field(description="Alias (e.g. 'champion') resolved to a version once, at this call.")
]
START_DEADLINE_S = 90.0
BUILD_DEADLINE_S = 900.0


def _one_of(version: str | None, alias: str | None) -> None:
    if (version is None) == (alias is None):
        raise InvalidInput("Give exactly one of `version` or `alias`.")


async def deploy_gateway_start(
    ctx: Ctx,
    port: Annotated[
        int | None,
        Field(ge=0, le=65535, description="Port (default: settings' gateway_port; 0 picks a free one)."),
    ] = None,
    host: Annotated[
        str | None, Field(description="Bind address (default 127.0.0.1; any other needs the gateway token).")
    ] = None,
) -> GatewayStatus:
    """Start the model-serving gateway as a managed background process (or report the running one) and wait until it is healthy."""
    from mcp_server.gateway import manager

    app = app_context(ctx)
    return await run_blocking(manager.start, app, host, port, deadline_s=START_DEADLINE_S)


async def deploy_gateway_stop(ctx: Ctx) -> GatewayStatus:
    """Stop the managed gateway cleanly (in-flight requests finish); endpoints stay in the store for the next start."""
    from mcp_server.gateway import manager

    app = app_context(ctx)
    return await run_blocking(manager.stop, app, deadline_s=60.0)


async def deploy_gateway_status(ctx: Ctx) -> GatewayStatus:
    """Report whether the gateway runs, its URL, pid, routing generation and loaded versions."""
    from mcp_server.gateway import manager

    app = app_context(ctx)
    return await run_blocking(manager.status, app, deadline_s=30.0)


async def deploy_create_endpoint(
    ctx: Ctx,
    endpoint: Endpoint,
    model: Model,
    version: Version = None,
    alias: Alias = None,
) -> EndpointResult:
    """Serve a registered model version on the gateway under an endpoint name, pinning the version (an alias is resolved once); converts to ONNX with a parity check when needed."""
    from mcp_server.tools.deploy import adapter

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    check_name(model, "model name")
    _one_of(version, alias)
    return await run_blocking(
        adapter.create_endpoint, app, endpoint, model, version, alias, deadline_s=app.settings.deadline_s
    )


async def deploy_list(
    ctx: Ctx,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="Endpoints per page.")] = 50,
) -> EndpointPage:
    """List the serving endpoints with their versions, traffic weights and blue/green slots."""
    from mcp_server.core.output import paginate
    from mcp_server.tools.deploy import adapter

    app = app_context(ctx)
    items = await run_blocking(adapter.list_endpoints, app, deadline_s=30.0)
    page = paginate(items, cursor, limit)
    return EndpointPage(items=page.items, total=page.total, next_cursor=page.next_cursor)


async def deploy_status(ctx: Ctx, endpoint: Endpoint) -> EndpointStatus:
    """Show one endpoint: versions, weights, slots, live per-version metrics from the gateway and recent events."""
    from mcp_server.tools.deploy import adapter

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(adapter.endpoint_status, app, endpoint, deadline_s=30.0)


async def deploy_predict(
    ctx: Ctx,
    endpoint: Endpoint,
    rows: Annotated[
        list[dict[str, Any]],
        Field(description="Rows of {feature: value} (up to 200); the model's feature columns exactly."),
    ],
    version: Annotated[
        str | None, Field(description="Ask one routed version directly instead of the traffic split.")
    ] = None,
    per_row: Annotated[
        bool, Field(description="One HTTP request per row (shows the traffic split); default one batch.")
    ] = False,
) -> PredictResult:
    """Predict through the running gateway over HTTP: each row's prediction, the version that served it and the latency."""
    from mcp_server.tools.deploy import adapter

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(
        adapter.predict, app, endpoint, rows, version, per_row, deadline_s=app.settings.deadline_s
    )


async def deploy_delete_endpoint(ctx: Ctx, endpoint: Endpoint) -> DeleteResult:
    """Delete an endpoint: the gateway stops serving it at once (in-flight requests finish); the model stays registered."""
    from mcp_server.tools.deploy import adapter

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(adapter.delete_endpoint, app, endpoint, deadline_s=60.0)


async def deploy_build_image(
    ctx: Ctx,
    model: Model,
    tag: Annotated[str, Field(description="Image tag, e.g. 'churn-gateway:3' (lower-case name[:tag]).")],
    version: Version = None,
    alias: Alias = None,
) -> BuildResult:
    """Write a Docker build context (Dockerfile, the ONNX model, the gateway, pinned requirements) and build it when a Docker engine answers."""
    from mcp_server.tools.deploy import adapter, packaging

    app = app_context(ctx)
    check_name(model, "model name")
    packaging.check_tag(tag)
    _one_of(version, alias)

    def work() -> BuildResult:
        resolved, twin = adapter.resolve_twin(app, model, version, alias)
        return packaging.build_image(app, model, resolved, twin, tag)

    return await run_blocking(work, deadline_s=BUILD_DEADLINE_S)


async def deploy_export_manifests(
    ctx: Ctx,
    endpoint: Endpoint,
    strategy: Annotated[
        Literal["canary", "blueGreen"], Field(description="Argo Rollouts strategy: 'canary' or 'blueGreen'.")
    ] = "canary",
    image: Annotated[
        str | None, Field(description="Image to run (default mlops-gateway-<model>:<version>).")
    ] = None,
    replicas: Annotated[int, Field(ge=1, le=100, description="Pods of the Rollout.")] = 2,
) -> ManifestsResult:
    """Write Kubernetes manifests for an endpoint (Deployment, Services, an Argo Rollouts canary or blueGreen spec) as a YAML artifact."""
    from mcp_server.tools.deploy import packaging

    app = app_context(ctx)
    check_name(endpoint, "endpoint name")
    return await run_blocking(
        packaging.export_manifests, app, endpoint, image, strategy, replicas, deadline_s=30.0
    )
