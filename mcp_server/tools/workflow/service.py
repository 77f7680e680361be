"""The workflow use cases: start a gated promotion (runner.py runs it off the request), report, list."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from mcp_server.core.boundary import Control
from mcp_server.core.context import AppContext
from mcp_server.core.errors import InvalidInput, NotFound
from mcp_server.core.output import decode_cursor, encode_cursor
from mcp_server.core.values import copied
from mcp_server.core.workspace import check_name
from mcp_server.tools.workflow.models import (
    GATE_ORDER,
    GateReport,
    Gates,
    WorkflowList,
    WorkflowStarted,
    WorkflowStatus,
)


def _create(
    app: AppContext, workflow_id: str, params: dict[str, Any], client: str | None, subject: str | None
) -> None:
    from mcp_server.core.store.models import WorkflowGate, WorkflowRecord

    now = datetime.now(UTC)
    with app.store.transaction() as session:
        session.add(
            WorkflowRecord(
                id=workflow_id,
                kind="promote",
                model=params["model"],
                candidate_version=params["candidate_version"],
                endpoint=params.get("endpoint"),
                state="running",
                params=json.dumps(params, default=str),
                client=client,
                subject=subject,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        for position, gate in enumerate(GATE_ORDER):
            session.add(WorkflowGate(workflow_id=workflow_id, position=position, gate=gate, state="pending"))


def _status(app: AppContext, row: Any, gates: list[Any], live: frozenset[str]) -> WorkflowStatus:
    """`live`: runner.live() taken before `row` was read."""
    state = row.state
    if state == "running" and row.id not in live:
        state = "interrupted"  # its thread is gone: the server that ran it stopped
    return copied(
        WorkflowStatus,
        row,
        workflow_id=row.id,
        state=state,
        gates=[
            copied(GateReport, g, detail=json.loads(g.detail) if g.detail else None)
            for g in sorted(gates, key=lambda g: g.position)
        ],
    )


def _load(app: AppContext, workflow_id: str) -> WorkflowStatus:
    from sqlalchemy import select

    from mcp_server.core.store.models import WorkflowGate, WorkflowRecord
    from mcp_server.tools.workflow import runner

    live = runner.live()
    with app.store.read_session() as session:
        row = session.get(WorkflowRecord, workflow_id)
        if row is None:
            raise NotFound(f"No workflow {workflow_id!r}; workflow_list shows the ones there are.")
        gates = list(session.scalars(select(WorkflowGate).where(WorkflowGate.workflow_id == workflow_id)))
        return _status(app, row, gates, live)


def _latest(app: AppContext, model: str) -> str:
    from sqlalchemy import select

    from mcp_server.core.store.models import WorkflowRecord

    with app.store.read_session() as session:
        found = session.scalars(
            select(WorkflowRecord.id)
            .where(WorkflowRecord.model == model)
            .order_by(WorkflowRecord.created_at.desc())
            .limit(1)
        ).first()
    if found is None:
        raise NotFound(f"No workflow for model {model!r}; start one with workflow_promote.")
    return found


def promote(
    app: AppContext,
    control: Control,
    model: str,
    candidate_version: str,
    dataset: str,
    target: str,
    endpoint: str | None,
    gates: Gates | None,
    traffic: str,
    client: str | None,
    subject: str | None = None,
) -> WorkflowStarted:
    """Check what would fail every gate, store the workflow and start its thread; returns at once.
    `client` and `subject` (the OAuth token's sub) say who started it."""
    from mcp_server.tools.workflow import runner

    check_name(model, "model")
    if endpoint is not None:
        check_name(endpoint, "endpoint")
    app.workspace.resolve(dataset, must_exist=True)
    runner.check_ready(app)
    chosen = gates or Gates.model_validate({})
    if chosen.canary is not None and endpoint is None and traffic == "replay":
        raise InvalidInput("traffic='replay' needs an endpoint for the canary gate.")
    workflow_id = uuid.uuid4().hex
    params = {
        "model": model,
        "candidate_version": candidate_version,
        "dataset": dataset,
        "target": target,
        "endpoint": endpoint,
        "traffic": traffic,
        "gates": chosen.model_dump(mode="json"),
    }
    _create(app, workflow_id, params, client, subject)
    runner.start(app, workflow_id, params, subject)
    return WorkflowStarted(workflow_id=workflow_id, state="running", gates=list(GATE_ORDER))


def status(app: AppContext, control: Control, workflow_id: str | None, model: str | None) -> WorkflowStatus:
    if (workflow_id is None) == (model is None):
        raise InvalidInput("Give either workflow_id or model.")
    return _load(app, workflow_id or _latest(app, str(model)))


def list_workflows(
    app: AppContext, control: Control, model: str | None, cursor: str | None, limit: int
) -> WorkflowList:
    from sqlalchemy import select

    from mcp_server.core.store.models import WorkflowGate, WorkflowRecord
    from mcp_server.tools.workflow import runner

    offset = decode_cursor(cursor)
    live = runner.live()
    with app.store.read_session() as session:
        query = select(WorkflowRecord).order_by(WorkflowRecord.created_at.desc(), WorkflowRecord.id)
        if model is not None:
            query = query.where(WorkflowRecord.model == model)
        rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
        items = []
        for row in rows[:limit]:
            gates = list(session.scalars(select(WorkflowGate).where(WorkflowGate.workflow_id == row.id)))
            items.append(_status(app, row, gates, live))
    more = len(rows) > limit
    return WorkflowList(workflows=items, next_cursor=encode_cursor(offset + limit) if more else None)
