"""The gated promotion, run off the request that started it.

A workflow outlives its tool call, so it runs in a thread with its own event loop. It drives the areas
through their own tools, over an in-memory MCP session to a second server that registers every tool and
shares this server's AppContext (store, MLflow client, workspace): each gate gets exactly the checks,
errors and audit rows an assistant's call would. Its state lives in the metadata store; a workflow whose
thread is gone (the server stopped) reads as `interrupted`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import anyio

from mcp_server.core.context import AppContext
from mcp_server.core.errors import MlopsError
from mcp_server.tools.workflow.models import GATE_ORDER, Gates

log = logging.getLogger("mlops_mcp")

_LIVE: set[str] = set()  # workflows whose thread runs in this process
_LIVE_LOCK = threading.Lock()
TERMINAL_ROLLOUT = ("promoted", "rolled_back", "failed", "aborted")
CLIENT_NAME = "mlops-mcp workflow"


class GateFailed(Exception):
    def __init__(self, summary: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail or {}


class ToolFailed(Exception):
    def __init__(self, tool: str, message: str) -> None:
        super().__init__(f"{tool}: {message}")
        self.tool = tool
        self.message = message


def is_live(workflow_id: str) -> bool:
    with _LIVE_LOCK:
        return workflow_id in _LIVE


def start(app: AppContext, workflow_id: str, params: dict[str, Any]) -> None:
    with _LIVE_LOCK:
        _LIVE.add(workflow_id)
    thread = threading.Thread(
        target=_run, args=(app, workflow_id, params), name=f"workflow-{workflow_id[:8]}", daemon=True
    )
    thread.start()


def _run(app: AppContext, workflow_id: str, params: dict[str, Any]) -> None:
    try:
        anyio.run(_drive, app, workflow_id, params)
    except Exception:
        incident = uuid.uuid4().hex[:8]
        log.exception("workflow %s crashed (id %s)", workflow_id, incident)
        _finish(
            app, workflow_id, "failed", f"internal error (id {incident}); the server's log has the details."
        )
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(workflow_id)


# ---- store ----


def _now() -> datetime:
    return datetime.now(UTC)


def _set_gate(app: AppContext, workflow_id: str, gate: str, state: str, **fields: Any) -> None:
    from sqlalchemy import select

    from mcp_server.core.store.models import WorkflowGate, WorkflowRecord

    with app.store.transaction() as session:
        row = session.scalars(
            select(WorkflowGate).where(WorkflowGate.workflow_id == workflow_id, WorkflowGate.gate == gate)
        ).one()
        row.state = state
        for key, value in fields.items():
            setattr(row, key, json.dumps(value, default=str) if key == "detail" else value)
        wf = session.get(WorkflowRecord, workflow_id)
        assert wf is not None
        wf.current_gate = gate
        wf.updated_at = _now()


def _finish(app: AppContext, workflow_id: str, state: str, reason: str, champion: str | None = None) -> None:
    from mcp_server.core.store.models import WorkflowRecord

    with app.store.transaction() as session:
        wf = session.get(WorkflowRecord, workflow_id)
        if wf is None:
            return
        wf.state = state
        wf.reason = reason[:2000]
        wf.updated_at = _now()
        if champion is not None:
            wf.champion_version = champion


def _link(app: AppContext, upstream: str, workflow_id: str, kind: str, details: dict[str, Any]) -> None:
    from mcp_server.core.lineage import record_edge

    record_edge(app.store, upstream, f"workflow:{workflow_id}", kind, details)


# ---- the run ----


@dataclasses.dataclass
class Run:
    client: Any
    app: AppContext
    workflow_id: str
    model: str
    candidate: str
    dataset: str
    target: str
    endpoint: str | None
    traffic: str
    gates: Gates
    champion: str | None = None
    candidate_run: str | None = None
    champion_run: str | None = None

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        text = "".join(getattr(c, "text", "") for c in result.content)
        if result.is_error:
            raise ToolFailed(tool, text)
        return dict(result.structured_content or {})

    def link(self, upstream: str, kind: str, details: dict[str, Any]) -> None:
        _link(self.app, upstream, self.workflow_id, kind, details)


def _inner_app(app: AppContext) -> AppContext:
    """A view of the app for the all-tools server: same store and clients, every tool registered."""
    app.store  # noqa: B018 - build the store object now so the view shares it
    settings = app.settings.model_copy(update={"profile": "all", "tools": None, "read_only": False})
    return dataclasses.replace(app, settings=settings, enabled_areas=[], probes={})


async def _drive(app: AppContext, workflow_id: str, params: dict[str, Any]) -> None:
    from mcp import Client
    from mcp.types import Implementation

    from mcp_server import __version__
    from mcp_server.core.app import create_server

    view = _inner_app(app)
    inner = create_server(view.settings, app=view)
    async with Client(
        inner, mode="legacy", client_info=Implementation(name=CLIENT_NAME, version=__version__)
    ) as client:
        run = Run(
            client=client,
            app=app,
            workflow_id=workflow_id,
            model=params["model"],
            candidate=params["candidate_version"],
            dataset=params["dataset"],
            target=params["target"],
            endpoint=params.get("endpoint"),
            traffic=params.get("traffic", "live"),
            gates=Gates.model_validate(params.get("gates") or {}),
        )
        try:
            await run.call("registry_get_version", {"name": run.model, "version": run.candidate})
        except ToolFailed as missing:
            _finish(app, workflow_id, "failed", f"the candidate cannot be used: {missing.message}")
            return
        for gate in GATE_ORDER:
            _set_gate(app, workflow_id, gate, "running", started_at=_now())
            try:
                outcome = await GATES[gate](run)
            except GateFailed as failed:
                _set_gate(
                    app,
                    workflow_id,
                    gate,
                    "failed",
                    summary=failed.summary,
                    detail=failed.detail,
                    finished_at=_now(),
                )
                _finish(app, workflow_id, "failed", f"stopped at the {gate} gate: {failed.summary}")
                return
            except ToolFailed as failed:
                summary = f"{failed.tool} failed: {failed.message}"
                _set_gate(app, workflow_id, gate, "failed", summary=summary, finished_at=_now())
                _finish(app, workflow_id, "failed", f"stopped at the {gate} gate: {summary}")
                return
            state, summary, detail = outcome
            _set_gate(app, workflow_id, gate, state, summary=summary, detail=detail, finished_at=_now())
        previous = run.champion
        try:
            await run.call(
                "registry_set_alias",
                {
                    "name": run.model,
                    "alias": "champion",
                    "version": run.candidate,
                    "reason": f"workflow {workflow_id}: every gate passed",
                },
            )
        except ToolFailed as failed:
            _finish(
                app, workflow_id, "failed", f"every gate passed but the alias did not move: {failed.message}"
            )
            return
        run.link(
            f"model:{run.model}/{run.candidate}", "promoted", {"alias": "champion", "previous": previous}
        )
        _finish(
            app,
            workflow_id,
            "succeeded",
            f"every gate passed; champion moved to version {run.candidate}"
            + (f" (was {previous})" if previous else ""),
            champion=previous,
        )


Outcome = tuple[str, str, dict[str, Any]]


async def _data_gate(run: Run) -> Outcome:
    gate = run.gates.data
    if gate is None or (gate.suite is None and gate.min_quality is None):
        return "skipped", "no suite and no minimum quality given", {}
    detail: dict[str, Any] = {}
    lines = []
    if gate.suite is not None:
        report = await run.call(
            "validation_run", {"dataset": run.dataset, "suite": gate.suite, "include_samples": False}
        )
        detail["validation"] = {
            k: report[k] for k in ("result_id", "suite", "success", "evaluated", "failed", "row_count")
        }
        run.link(report["lineage_id"], "data_gate", {"success": report["success"]})
        if not report["success"]:
            raise GateFailed(
                f"the evaluation data failed suite {report['suite']}: {report['failed']} of "
                f"{report['evaluated']} expectations failed",
                detail,
            )
        lines.append(f"suite {report['suite']} passed ({report['evaluated']} expectations)")
    if gate.min_quality is not None:
        args: dict[str, Any] = {"dataset": run.dataset, "threshold": gate.min_quality}
        if gate.suite is not None:
            args["suite"] = gate.suite
        score = await run.call("quality_score", args)
        detail["quality"] = {k: score.get(k) for k in ("score_id", "overall", "threshold", "passed")}
        if not score.get("passed"):
            raise GateFailed(
                f"the evaluation data's quality score {score.get('overall')} is below {gate.min_quality:g}",
                detail,
            )
        lines.append(f"quality {score['overall']:.1f} >= {gate.min_quality:g}")
    return "passed", "; ".join(lines), detail


async def _version_run(run: Run, version: str) -> str:
    info = await run.call("registry_get_version", {"name": run.model, "version": version})
    run_id = info.get("run_id")
    if not run_id:
        raise GateFailed(f"version {version} of {run.model} has no MLflow run to cross-validate")
    return str(run_id)


async def _comparison_gate(run: Run) -> Outcome:
    gate = run.gates.comparison
    try:
        champion = await run.call("registry_get_version", {"name": run.model, "alias": "champion"})
    except ToolFailed:
        champion = None
    run.champion = str(champion["version"]) if champion else None
    if gate is None:
        return "skipped", "comparison gate turned off", {"champion": run.champion}
    if run.champion is None:
        return "passed", f"{run.model} has no champion yet: nothing to beat", {"champion": None}
    if run.champion == run.candidate:
        raise GateFailed(f"version {run.candidate} already is the champion of {run.model}")
    run.champion_run = champion.get("run_id") if champion else None
    if not run.champion_run:
        raise GateFailed(f"the champion (version {run.champion}) has no MLflow run to cross-validate")
    run.candidate_run = await _version_run(run, run.candidate)
    args: dict[str, Any] = {
        "dataset": run.dataset,
        "target": run.target,
        "candidates": [{"run_id": run.champion_run}, {"run_id": run.candidate_run}],
        "metric": gate.metric,
        "cv": {"strategy": "repeated", "n_splits": gate.n_folds, "n_repeats": 3, "random_state": 0},
    }
    if gate.margin is not None:
        args["margin"] = gate.margin
    result = await run.call("evaluation_compare_models", args)
    champ, cand = result["candidates"][0], result["candidates"][1]
    detail = {
        "champion": run.champion,
        "metric": result["metric"],
        "champion_mean": champ["reported_mean"],
        "candidate_mean": cand["reported_mean"],
        "p_value": result["p_value"],
        "significant": result["significant"],
        "test": "corrected repeated k-fold t-test (Nadeau-Bengio)",
    }
    run.link(f"model:{run.model}/{run.champion}", "compared_with", detail)
    if gate.margin is not None:
        ni = result["non_inferiority"][0]
        detail.update(
            test="one-sided non-inferiority, corrected t-test", p_value=ni["p_value"], margin=gate.margin
        )
        if not ni["non_inferior"]:
            raise GateFailed(
                f"the candidate is worse than champion {run.champion} by more than {gate.margin:g} "
                f"{result['metric']} ({cand['reported_mean']:.4f} vs {champ['reported_mean']:.4f}, "
                f"non-inferiority p={ni['p_value']:.3g})",
                detail,
            )
        return "passed", f"not worse than champion within {gate.margin:g} (p={ni['p_value']:.3g})", detail
    scores = f"{cand['reported_mean']:.4f} vs {champ['reported_mean']:.4f} {result['metric']}"
    if result["best"] != cand["name"]:
        raise GateFailed(
            f"the candidate does not beat champion {run.champion} ({scores}; difference p={result['p_value']:.3g})",
            detail,
        )
    if not result["significant"]:
        raise GateFailed(
            f"the candidate is not significantly better than champion {run.champion} ({scores}, "
            f"p={result['p_value']:.3g}); pass a `margin` to accept a candidate that is not worse",
            detail,
        )
    return (
        "passed",
        f"better than champion {run.champion}: {cand['reported_mean']:.4f} vs {champ['reported_mean']:.4f} "
        f"{result['metric']} (p={result['p_value']:.3g})",
        detail,
    )


async def _model_tests_gate(run: Run) -> Outcome:
    checks = run.gates.model_tests
    if not checks:
        return "skipped", "no model tests given", {}
    result = await run.call(
        "evaluation_test_model",
        {
            "model": f"models:/{run.model}/{run.candidate}",
            "dataset": run.dataset,
            "target": run.target,
            "checks": checks,
        },
    )
    detail = {"passed": result["passed"], "checks": result["checks"]}
    if not result["passed"]:
        failed = [c for c in result["checks"] if not c.get("passed")]
        raise GateFailed(f"{len(failed)} model test(s) failed: {result['summary']}", detail)
    return "passed", result["summary"], detail


async def _onnx_gate(run: Run) -> Outcome:
    if not run.gates.onnx_parity:
        return "skipped", "ONNX parity gate turned off", {}
    result = await run.call("onnx_convert", {"name": run.model, "version": run.candidate})
    parity = result["parity"]
    agreement = parity.get("label_agreement")
    summary = f"ONNX parity on {parity['rows']} training rows: max |diff| {parity['max_abs_diff']:.2g}" + (
        f", label agreement {agreement:.2%}" if agreement is not None else ""
    )
    run.link(f"onnx:{run.model}/{run.candidate}", "onnx_gate", {"passed": parity["passed"]})
    return "passed", summary, {"parity": parity}


async def _replay(run: Run, rows: list[dict[str, Any]], stop: anyio.Event) -> int:
    sent = 0
    batch = 4
    while not stop.is_set() and rows:
        start = (sent * batch) % len(rows)
        chunk = rows[start : start + batch] or rows[:batch]
        try:
            await run.call("deploy_predict", {"endpoint": run.endpoint, "rows": chunk})
        except ToolFailed as err:
            log.info("replay request failed: %s", err.message)
        sent += 1
        await anyio.sleep(0)
    return sent


def _replay_rows(run: Run) -> list[dict[str, Any]]:
    """Evaluation rows with exactly the candidate's input columns (the gateway refuses extra keys)."""
    from mcp_server.core.mlmodels import onnx_twin
    from mcp_server.core.tables import read_table

    columns = onnx_twin(run.app, run.model, run.candidate).columns
    path = run.app.workspace.resolve(run.dataset, must_exist=True)
    frame = read_table(path, max_rows=5_000, max_bytes=run.app.settings.max_file_bytes)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GateFailed(f"the evaluation data lacks the candidate's input column(s) {missing[:5]}")
    rows: list[dict[str, Any]] = json.loads(
        frame[columns].head(500).to_json(orient="records", date_format="iso")
    )
    return rows


async def _canary_gate(run: Run) -> Outcome:
    gate = run.gates.canary
    if gate is None or run.endpoint is None:
        return "skipped", "no endpoint given" if run.endpoint is None else "canary gate turned off", {}
    await run.call("deploy_gateway_start", {})
    try:
        await run.call("deploy_status", {"endpoint": run.endpoint})
        exists = True
    except ToolFailed:
        exists = False
    if not exists:
        await run.call(
            "deploy_create_endpoint", {"endpoint": run.endpoint, "model": run.model, "version": run.candidate}
        )
        run.link(f"endpoint:{run.endpoint}", "deployed", {"version": run.candidate})
        return "passed", f"endpoint {run.endpoint} created on the candidate (nothing to canary against)", {}
    rows = await anyio.to_thread.run_sync(_replay_rows, run) if run.traffic == "replay" else []
    started = await run.call(
        "deploy_canary_start",
        {
            "endpoint": run.endpoint,
            "candidate_version": run.candidate,
            "steps": gate.steps,
            "step_seconds": gate.step_seconds,
            "min_requests": gate.min_requests,
            "max_wait_seconds": gate.max_wait_seconds,
            "max_error_rate": gate.max_error_rate,
            "max_p99_ms": gate.max_p99_ms,
        },
    )
    rollout_id = started["rollout_id"]
    run.link(f"rollout:{rollout_id}", "canary_gate", {"endpoint": run.endpoint})
    stop = anyio.Event()
    status: dict[str, Any] = {}
    deadline = time.monotonic() + gate.max_wait_seconds + gate.step_seconds * len(gate.steps) * 4 + 30
    async with anyio.create_task_group() as tg:
        if rows:
            tg.start_soon(_replay, run, rows, stop)
        try:
            while time.monotonic() < deadline:
                status = await run.call("deploy_canary_status", {"rollout_id": rollout_id})
                if status.get("state") in TERMINAL_ROLLOUT:
                    break
                await anyio.sleep(0.25)
        except ToolFailed as failed:  # judged below as not promoted; the rollout is aborted
            status = {"state": "unknown", "reason": failed.message}
        finally:
            stop.set()
    state = status.get("state")
    detail = {"rollout_id": rollout_id, "state": state, "reason": status.get("reason")}
    if state != "promoted":
        if state not in TERMINAL_ROLLOUT:
            await run.call("deploy_canary_abort", {"rollout_id": rollout_id})
            why = "did not finish in time" if state is None or state != "unknown" else "could not be followed"
            raise GateFailed(f"the canary {why} and was aborted ({status.get('reason')})", detail)
        raise GateFailed(f"the canary ended {state}: {status.get('reason')}", detail)
    return "passed", f"canary promoted to 100% on {run.endpoint} (rollout {rollout_id})", detail


GATES = {
    "data": _data_gate,
    "comparison": _comparison_gate,
    "model_tests": _model_tests_gate,
    "onnx_parity": _onnx_gate,
    "canary": _canary_gate,
}


def check_ready(app: AppContext) -> None:
    """Refuse early what would fail every gate (used by workflow_promote before it starts the thread)."""
    if app.settings.read_only:
        raise MlopsError("workflow_promote changes aliases and traffic; this server is read-only.")
