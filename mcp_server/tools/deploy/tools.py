"""The deploy area's MCP tools: the gateway process, endpoints on it, predictions through it, packaging,
and rollouts (canary, blue-green, rollback, history).

Each tool declares its arguments and hands them to service.py through the boundary (one thread hop).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mcp_server.core.args import Cursor, Limit200, ModelName
from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx, client_name, token_subject
from mcp_server.tools.deploy import batch, batch_models, models, rollout_models, service

Endpoint = Annotated[str, Field(description="The endpoint's name (letters, digits, '.', '_', '-').")]
Version = Annotated[str | None, Field(description="Model version to serve; give this or `alias`.")]
Alias = Annotated[
    str | None, Field(description="Alias (e.g. 'champion') resolved to a version once, at this call.")
]
Reason = Annotated[str | None, Field(max_length=500, description="Why, for the history.")]
OptionalEndpoint = Annotated[
    str | None, Field(description="The endpoint whose canary is in progress; or give rollout_id.")
]
RolloutId = Annotated[
    str | None, Field(description="A rollout id from deploy_canary_start; or give endpoint.")
]


async def deploy_gateway_start(
    ctx: Ctx,
    port: Annotated[
        int | None,
        Field(ge=0, le=65535, description="Port (default: settings' gateway_port; 0 picks a free one)."),
    ] = None,
    host: Annotated[
        str | None, Field(description="Bind address (default 127.0.0.1; any other needs the gateway token).")
    ] = None,
) -> models.GatewayStatus:
    """Start the model-serving gateway as a managed background process (or report the running one) and wait until it is healthy."""
    return await service_call(ctx, service.gateway_start, host, port)


async def deploy_gateway_stop(ctx: Ctx) -> models.GatewayStatus:
    """Stop the managed gateway cleanly (in-flight requests finish); endpoints stay in the store for the next start."""
    return await service_call(ctx, service.gateway_stop)


async def deploy_gateway_status(ctx: Ctx) -> models.GatewayStatus:
    """Report whether the gateway runs, its URL, pid, routing generation and loaded versions."""
    return await service_call(ctx, service.gateway_status)


async def deploy_create_endpoint(
    ctx: Ctx,
    endpoint: Endpoint,
    model: ModelName,
    version: Version = None,
    alias: Alias = None,
) -> models.EndpointResult:
    """Serve a registered model version on the gateway under an endpoint name, pinning the version (an alias is resolved once); converts to ONNX with a parity check when needed."""
    return await service_call(ctx, service.create_endpoint, endpoint, model, version, alias)


async def deploy_list(
    ctx: Ctx,
    cursor: Cursor = None,
    limit: Limit200 = 50,
) -> models.EndpointPage:
    """List the serving endpoints with their versions, traffic weights and blue/green slots."""
    return await service_call(ctx, service.list_endpoints, cursor, limit)


async def deploy_status(ctx: Ctx, endpoint: Endpoint) -> models.EndpointStatus:
    """Show one endpoint: versions, weights, slots, live per-version metrics from the gateway and recent events."""
    return await service_call(ctx, service.endpoint_status, endpoint)


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
) -> models.PredictResult:
    """Predict through the running gateway over HTTP: each row's prediction, the version that served it and the latency."""
    return await service_call(ctx, service.predict, endpoint, rows, version, per_row)


async def deploy_delete_endpoint(ctx: Ctx, endpoint: Endpoint) -> models.DeleteResult:
    """Delete an endpoint: the gateway stops serving it at once (in-flight requests finish); the model stays registered."""
    return await service_call(ctx, service.delete_endpoint, endpoint)


async def deploy_build_image(
    ctx: Ctx,
    model: ModelName,
    tag: Annotated[str, Field(description="Image tag, e.g. 'churn-gateway:3' (lower-case name[:tag]).")],
    version: Version = None,
    alias: Alias = None,
) -> models.BuildResult:
    """Write a Docker build context (Dockerfile, the ONNX model, the gateway, pinned requirements) and build it when a Docker engine answers."""
    return await service_call(ctx, service.build_image, model, tag, version, alias)


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
) -> models.ManifestsResult:
    """Write Kubernetes manifests for an endpoint (Deployment, Services, an Argo Rollouts canary or blueGreen spec) as a YAML artifact."""
    return await service_call(ctx, service.export_manifests, endpoint, strategy, image, replicas)


# -- rollouts -------------------------------------------------------------------------------------------------


async def deploy_canary_start(
    ctx: Ctx,
    endpoint: Endpoint,
    candidate_version: Annotated[
        str,
        Field(
            description="Registered version of the endpoint's model to roll out (converted to ONNX if needed)."
        ),
    ],
    steps: Annotated[
        list[float], Field(description="Candidate traffic percent per step, increasing, ending at 100.")
    ] = [5, 25, 50, 100],  # noqa: B006 - pydantic copies defaults
    step_seconds: Annotated[
        float, Field(gt=0, le=86_400, description="Minimum time a step runs before it can be promoted.")
    ] = 60.0,
    min_requests: Annotated[
        int,
        Field(
            ge=1, le=10_000_000, description="Candidate requests a step's window needs before it is judged."
        ),
    ] = 100,
    max_wait_seconds: Annotated[
        float,
        Field(gt=0, le=604_800, description="A step without min_requests after this long fails the rollout."),
    ] = 600.0,
    max_error_rate: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Highest share of candidate requests failing (5xx) in a window; also the most extra rejections (4xx) vs stable.",
        ),
    ] = 0.01,
    max_p99_ms: Annotated[
        float, Field(gt=0, description="Highest candidate p99 latency in a window, in milliseconds.")
    ] = 250.0,
    max_error_rate_increase: Annotated[
        float | None,
        Field(ge=0, le=1, description="Highest candidate error rate minus stable's over the same window."),
    ] = None,
    max_p99_ratio: Annotated[
        float | None,
        Field(gt=0, description="Highest candidate p99 divided by stable's over the same window."),
    ] = None,
) -> rollout_models.CanaryStarted:
    """Start a canary rollout of a model version on an endpoint and return its id at once; the gateway moves traffic step by step and rolls back on its own when a limit is crossed."""
    limits = rollout_models.CanaryLimits(
        step_seconds=step_seconds,
        min_requests=min_requests,
        max_wait_seconds=max_wait_seconds,
        max_error_rate=max_error_rate,
        max_p99_ms=max_p99_ms,
        max_error_rate_increase=max_error_rate_increase,
        max_p99_ratio=max_p99_ratio,
    )
    return await service_call(
        ctx,
        service.canary_start,
        endpoint,
        candidate_version,
        steps,
        limits,
        client_name(ctx),
        token_subject(ctx),
    )


async def deploy_canary_status(
    ctx: Ctx,
    endpoint: Annotated[
        str | None, Field(description="The endpoint (its latest canary); or give rollout_id.")
    ] = None,
    rollout_id: Annotated[str | None, Field(description="A rollout id from deploy_canary_start.")] = None,
) -> rollout_models.CanaryStatus:
    """Show a canary rollout: state, current step and weights, each version's metrics in the step's window and the reason for the last decision."""
    return await service_call(ctx, service.canary_status, endpoint, rollout_id)


async def deploy_canary_promote(
    ctx: Ctx, endpoint: OptionalEndpoint = None, rollout_id: RolloutId = None, reason: Reason = None
) -> rollout_models.RolloutDecision:
    """Finish a canary by hand: the candidate takes all traffic now and becomes the endpoint's stable version."""
    return await service_call(ctx, service.canary_finish, endpoint, rollout_id, "promote", reason)


async def deploy_canary_abort(
    ctx: Ctx, endpoint: OptionalEndpoint = None, rollout_id: RolloutId = None, reason: Reason = None
) -> rollout_models.RolloutDecision:
    """Abort a canary: all traffic goes back to the stable version and the candidate is unloaded."""
    return await service_call(ctx, service.canary_finish, endpoint, rollout_id, "abort", reason)


async def deploy_blue_green_prepare(
    ctx: Ctx,
    endpoint: Endpoint,
    version: Annotated[
        str, Field(description="Registered version of the endpoint's model for the idle slot.")
    ],
    rows: Annotated[
        list[dict[str, Any]] | None,
        Field(
            description="Sample rows for the parity check (up to 100); generated from the model's inputs if omitted."
        ),
    ] = None,
    min_agreement: Annotated[
        float | None,
        Field(
            ge=0, le=1, description="Least share of sample rows where both slots must give the same output."
        ),
    ] = None,
) -> rollout_models.PrepareResult:
    """Load a model version into an endpoint's idle blue/green slot with no traffic, warm it, and check health and output parity with the live slot."""
    return await service_call(ctx, service.blue_green_prepare, endpoint, version, rows, min_agreement)


async def deploy_blue_green_switch(
    ctx: Ctx, endpoint: Endpoint, reason: Reason = None
) -> rollout_models.RolloutDecision:
    """Switch all of an endpoint's traffic to its prepared idle slot in one atomic step; the previous slot stays loaded for an instant switch back."""
    return await service_call(ctx, service.blue_green_switch, endpoint, reason)


async def deploy_rollback(
    ctx: Ctx, endpoint: Endpoint, reason: Reason = None
) -> rollout_models.RolloutDecision:
    """Move all of an endpoint's traffic back to its last stable version or slot (moves traffic; registry_rollback moves a model alias instead)."""
    return await service_call(ctx, service.rollback, endpoint, reason)


async def deploy_history(
    ctx: Ctx,
    endpoint: Endpoint,
    rollout_id: Annotated[str | None, Field(description="Only this rollout's events.")] = None,
    cursor: Cursor = None,
    limit: Limit200 = 50,
) -> rollout_models.HistoryPage:
    """List an endpoint's events newest first (created, canary steps, waiting, promoted, rolled back, switched) with reasons and the metrics decided on."""
    return await service_call(ctx, service.history, endpoint, rollout_id, cursor, limit)


# -- batch predictions ----------------------------------------------------------------------------------------

BatchJobId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{32}$", description="The job id deploy_batch_predict returned.")
]


async def deploy_batch_predict(
    ctx: Ctx,
    output_dataset: Annotated[
        str, Field(description="Name of the NEW lake dataset for the predictions (must not exist yet).")
    ],
    key_columns: Annotated[
        list[str],
        Field(
            min_length=1,
            max_length=32,
            description="Input columns copied beside each prediction to join it back (e.g. a customer id).",
        ),
    ],
    dataset: Annotated[str | None, Field(description="Lake dataset to score; or give `path`.")] = None,
    dataset_version: Annotated[
        int | None, Field(ge=1, description="Version of `dataset` (default the newest).")
    ] = None,
    path: Annotated[
        str | None,
        Field(description="A CSV, TSV, JSONL or Parquet file in the workspace; or give `dataset`."),
    ] = None,
    endpoint: Annotated[
        str | None, Field(description="Score with this endpoint's stable version; or give `model`.")
    ] = None,
    model: Annotated[
        str | None, Field(description="Registered model to score with (with `version` or `alias`).")
    ] = None,
    version: Annotated[str | None, Field(description="The model's version (with `model`).")] = None,
    alias: Annotated[
        str | None, Field(description="The model's alias, resolved once at this call (with `model`).")
    ] = None,
    engine: Annotated[
        Literal["auto", "arrow", "spark"],
        Field(
            description="arrow (record batches in this process), spark (onnxruntime in each Spark partition) or auto (Spark above the spark_auto_rows/bytes thresholds)."
        ),
    ] = "auto",
    batch_rows: Annotated[
        int, Field(ge=1_000, le=1_000_000, description="Rows read and scored at a time (arrow engine).")
    ] = 65_536,
) -> batch_models.BatchStarted:
    """Score a lake dataset version or workspace file with an endpoint's stable version (or a model version) off the request into a new lake dataset (key columns, prediction, class probabilities) with lineage; returns a job id at once for deploy_batch_status."""
    return await service_call(
        ctx,
        batch.batch_predict,
        output_dataset,
        key_columns,
        dataset,
        dataset_version,
        path,
        endpoint,
        model,
        version,
        alias,
        engine,
        batch_rows,
        client_name(ctx),
        token_subject(ctx),
    )


async def deploy_batch_status(
    ctx: Ctx,
    job_id: BatchJobId | None = None,
    output_dataset: Annotated[
        str | None, Field(description="Instead of an id: the latest job writing this dataset.")
    ] = None,
    wait_s: Annotated[
        float, Field(ge=0, le=60, description="Wait up to this many seconds for a running job to end.")
    ] = 0.0,
) -> batch_models.BatchStatus:
    """Report a batch prediction job (by id, or the latest one writing a dataset): state, rows done and rows/s, the output dataset version and its lineage id, or the error."""
    return await service_call(ctx, batch.batch_status, job_id, output_dataset, wait_s)


async def deploy_batch_cancel(
    ctx: Ctx,
    job_id: BatchJobId | None = None,
    output_dataset: Annotated[
        str | None, Field(description="Instead of an id: the latest job writing this dataset.")
    ] = None,
) -> batch_models.BatchStatus:
    """Cancel a running batch prediction job of this server: it stops between batches and keeps no output; a job that ended is reported as it is."""
    return await service_call(ctx, batch.batch_cancel, job_id, output_dataset)
