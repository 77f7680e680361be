"""The workflow tools: a gated promotion started in one call and followed with another."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mcp_server.core.boundary import service_call
from mcp_server.core.context import Ctx, client_name, token_subject
from mcp_server.tools.workflow import service
from mcp_server.tools.workflow.models import Gates, WorkflowList, WorkflowStarted, WorkflowStatus

Name = Annotated[str, Field(min_length=1, max_length=128)]


async def workflow_promote(
    ctx: Ctx,
    model: Annotated[Name, Field(description="Registered model name.")],
    candidate_version: Annotated[str, Field(pattern=r"^[0-9]{1,9}$", description="The version to promote.")],
    dataset: Annotated[str, Field(description="Evaluation table inside the workspace (with the target).")],
    target: Annotated[str, Field(min_length=1, max_length=256, description="The label column.")],
    endpoint: Annotated[
        str | None, Field(description="Endpoint for the canary gate; null skips the canary.")
    ] = None,
    gates: Annotated[Gates | None, Field(description="Gate settings; a gate set to null is skipped.")] = None,
    traffic: Annotated[
        Literal["live", "replay"],
        Field(
            description="Canary traffic: live requests, or the evaluation rows replayed through the gateway."
        ),
    ] = "live",
) -> WorkflowStarted:
    """Start a gated promotion (data, comparison with the champion, model tests, ONNX parity, canary); returns its id at once, follow it with workflow_status; on success the champion alias moves."""
    return await service_call(
        ctx,
        service.promote,
        model,
        candidate_version,
        dataset,
        target,
        endpoint,
        gates,
        traffic,
        client_name(ctx),
        token_subject(ctx),
    )


async def workflow_status(
    ctx: Ctx,
    workflow_id: Annotated[
        str | None, Field(pattern=r"^[0-9a-f]{32}$", description="The id workflow_promote returned.")
    ] = None,
    model: Annotated[str | None, Field(description="Instead of an id: this model's latest workflow.")] = None,
) -> WorkflowStatus:
    """Report a workflow (by id, or a model's latest): its state, each gate's outcome and evidence, and why it stopped."""
    return await service_call(ctx, service.status, workflow_id, model)


async def workflow_list(
    ctx: Ctx,
    model: Annotated[str | None, Field(description="Only this model's workflows.")] = None,
    cursor: Annotated[str | None, Field(description="From a previous page's next_cursor.")] = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> WorkflowList:
    """List gated promotions, newest first, with their state and gates."""
    return await service_call(ctx, service.list_workflows, model, cursor, limit)
