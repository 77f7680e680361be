"""The gated promotion, run off the request that started it.

A workflow outlives its tool call, so it runs in a thread of its own. Each gate calls the areas' service
functions directly (validation, quality, evaluation, registry, onnx, deploy), the same use cases their
tools run, with this server's AppContext and a Control bounded by the gate's own limits. Its state lives
in the metadata store; a workflow whose thread is gone (the server stopped) reads as `interrupted`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from mcp_server.core.boundary import Control
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


def live() -> frozenset[str]:
    """The workflows whose thread runs in this process now. Taken before their rows are read: a thread
    commits its final state before it leaves this set, so a row still `running` after the snapshot missed
    it had no thread (read the other way round, a workflow that finishes between the two reads as
    `interrupted`)."""
    with _LIVE_LOCK:
        return frozenset(_LIVE)


def start(app: AppContext, workflow_id: str, params: dict[str, Any], subject: str | None = None) -> None:
    """Run the workflow in its own thread; what it changes (the alias, the canary) names `subject`, the
    person who started it (over OAuth), beside the client name CLIENT_NAME."""
    with _LIVE_LOCK:
        _LIVE.add(workflow_id)
    thread = threading.Thread(
        target=_run,
        args=(app, workflow_id, params, subject),
        name=f"workflow-{workflow_id[:8]}",
        daemon=True,
    )
    thread.start()


def _run(app: AppContext, workflow_id: str, params: dict[str, Any], subject: str | None = None) -> None:
    try:
        _drive(app, workflow_id, params, subject)
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
    subject: str | None = None  # who started the workflow (the OAuth token's sub), named by its changes

    def call(
        self, fn: Callable[..., BaseModel], *args: Any, seconds: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """One area use case, as its tool would run it; its result as the tool's structured content."""
        from mcp_server.core.errors import from_library

        control = Control(seconds or self.app.settings.deadline_s, None, fn.__qualname__)
        try:
            return fn(self.app, control, *args, **kwargs).model_dump(mode="json")
        except MlopsError as err:
            raise ToolFailed(_tool_name(fn), err.message) from None
        except Exception as exc:
            mapped = from_library(exc)
            if mapped is None:
                raise
            raise ToolFailed(_tool_name(fn), mapped.message) from None

    def link(self, upstream: str, kind: str, details: dict[str, Any]) -> None:
        _link(self.app, upstream, self.workflow_id, kind, details)


def _tool_name(fn: Callable[..., Any]) -> str:
    """`mcp_server.tools.registry.service.set_alias` -> `registry.set_alias`, for the gate's summary."""
    return f"{fn.__module__.split('.')[-2]}.{fn.__name__}"


def _drive(app: AppContext, workflow_id: str, params: dict[str, Any], subject: str | None = None) -> None:
    from mcp_server.tools.registry import service as registry

    run = Run(
        subject=subject,
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
        run.call(registry.get_version_detail, run.model, run.candidate, None)
    except ToolFailed as missing:
        _finish(app, workflow_id, "failed", f"the candidate cannot be used: {missing.message}")
        return
    for gate in GATE_ORDER:
        _set_gate(app, workflow_id, gate, "running", started_at=_now())
        try:
            state, summary, detail = GATES[gate](run)
        except (GateFailed, ToolFailed) as failed:
            if isinstance(failed, GateFailed):
                summary, detail = failed.summary, failed.detail
            else:
                summary, detail = f"{failed.tool} failed: {failed.message}", None
            _set_gate(app, workflow_id, gate, "failed", summary=summary, detail=detail, finished_at=_now())
            _finish(app, workflow_id, "failed", f"stopped at the {gate} gate: {summary}")
            return
        _set_gate(app, workflow_id, gate, state, summary=summary, detail=detail, finished_at=_now())
    previous = run.champion
    try:
        reason = f"workflow {workflow_id}: every gate passed"
        run.call(registry.set_alias, run.model, "champion", run.candidate, reason, CLIENT_NAME, run.subject)
    except ToolFailed as failed:
        _finish(app, workflow_id, "failed", f"every gate passed but the alias did not move: {failed.message}")
        return
    run.link(f"model:{run.model}/{run.candidate}", "promoted", {"alias": "champion", "previous": previous})
    _finish(
        app,
        workflow_id,
        "succeeded",
        f"every gate passed; champion moved to version {run.candidate}"
        + (f" (was {previous})" if previous else ""),
        champion=previous,
    )


Outcome = tuple[str, str, dict[str, Any]]


def _data_gate(run: Run) -> Outcome:
    from mcp_server.tools.quality import service as quality
    from mcp_server.tools.validation import service as validation

    gate = run.gates.data
    if gate is None or (gate.suite is None and gate.min_quality is None):
        return "skipped", "no suite and no minimum quality given", {}
    detail: dict[str, Any] = {}
    lines = []
    if gate.suite is not None:
        report = run.call(validation.run, run.dataset, gate.suite, False)
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
        score = run.call(quality.score, run.dataset, gate.suite, threshold=gate.min_quality)
        detail["quality"] = {k: score.get(k) for k in ("score_id", "overall", "threshold", "passed")}
        if not score.get("passed"):
            raise GateFailed(
                f"the evaluation data's quality score {score.get('overall')} is below {gate.min_quality:g}",
                detail,
            )
        lines.append(f"quality {score['overall']:.1f} >= {gate.min_quality:g}")
    return "passed", "; ".join(lines), detail


def _version_run(run: Run, version: str) -> str:
    from mcp_server.tools.registry import service as registry

    info = run.call(registry.get_version_detail, run.model, version, None)
    run_id = info.get("run_id")
    if not run_id:
        raise GateFailed(f"version {version} of {run.model} has no MLflow run to cross-validate")
    return str(run_id)


def _comparison_gate(run: Run) -> Outcome:
    from mcp_server.tools.evaluation import service as evaluation
    from mcp_server.tools.evaluation.models import Candidate, CvSpec
    from mcp_server.tools.registry import service as registry

    gate = run.gates.comparison
    try:
        champion = run.call(registry.get_version_detail, run.model, None, "champion")
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
    run.candidate_run = _version_run(run, run.candidate)
    candidates = [Candidate(run_id=run.champion_run), Candidate(run_id=run.candidate_run)]
    cv = CvSpec(strategy="repeated", n_splits=gate.n_folds, n_repeats=3, random_state=0)
    result = run.call(
        evaluation.compare_models,
        run.dataset,
        run.target,
        candidates,
        gate.metric,
        cv,
        gate.margin,
        None,
        seconds=run.app.settings.max_deadline_s,
    )
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


def _model_tests_gate(run: Run) -> Outcome:
    from pydantic import TypeAdapter

    from mcp_server.tools.evaluation import service as evaluation
    from mcp_server.tools.evaluation.models import Check

    checks = run.gates.model_tests
    if not checks:
        return "skipped", "no model tests given", {}
    try:
        typed = TypeAdapter(list[Check]).validate_python(checks)
    except ValueError as err:
        raise GateFailed(f"the model tests are not valid checks: {str(err).splitlines()[0]}") from None
    model = f"models:/{run.model}/{run.candidate}"
    result = run.call(evaluation.model_test, model, run.dataset, run.target, typed)
    detail = {"passed": result["passed"], "checks": result["checks"]}
    if not result["passed"]:
        failed = [c for c in result["checks"] if not c.get("passed")]
        raise GateFailed(f"{len(failed)} model test(s) failed: {result['summary']}", detail)
    return "passed", result["summary"], detail


def _onnx_gate(run: Run) -> Outcome:
    from mcp_server.tools.onnx import service as onnx

    if not run.gates.onnx_parity:
        return "skipped", "ONNX parity gate turned off", {}
    result = run.call(onnx.convert, run.model, run.candidate, None)
    parity = result["parity"]
    agreement = parity.get("label_agreement")
    summary = f"ONNX parity on {parity['rows']} training rows: max |diff| {parity['max_abs_diff']:.2g}" + (
        f", label agreement {agreement:.2%}" if agreement is not None else ""
    )
    run.link(f"onnx:{run.model}/{run.candidate}", "onnx_gate", {"passed": parity["passed"]})
    return "passed", summary, {"parity": parity}


def _replay(run: Run, rows: list[dict[str, Any]], stop: threading.Event) -> int:
    """Send the evaluation rows to the endpoint, a few at a time, until the canary ends."""
    from mcp_server.tools.deploy import service as deploy

    sent = 0
    batch = 4
    while not stop.is_set() and rows:
        start = (sent * batch) % len(rows)
        chunk = rows[start : start + batch] or rows[:batch]
        try:
            run.call(deploy.predict, run.endpoint, chunk, None, False)
        except ToolFailed as err:
            log.info("replay request failed: %s", err.message)
        sent += 1
    return sent


def _replay_rows(run: Run) -> list[dict[str, Any]]:
    """Evaluation rows with exactly the candidate's input columns (the gateway refuses extra keys)."""
    from mcp_server.core.mlmodels import onnx_twin
    from mcp_server.core.tables import TableLimits, read_table

    columns = onnx_twin(run.app, run.model, run.candidate).columns
    path = run.app.workspace.resolve(run.dataset, must_exist=True)
    frame = read_table(path, dataclasses.replace(TableLimits.of(run.app.settings), rows=5_000))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GateFailed(f"the evaluation data lacks the candidate's input column(s) {missing[:5]}")
    rows: list[dict[str, Any]] = json.loads(
        frame[columns].head(500).to_json(orient="records", date_format="iso")
    )
    return rows


def _canary_gate(run: Run) -> Outcome:
    from mcp_server.tools.deploy import service as deploy
    from mcp_server.tools.deploy.rollout_models import CanaryLimits

    gate = run.gates.canary
    if gate is None or run.endpoint is None:
        return "skipped", "no endpoint given" if run.endpoint is None else "canary gate turned off", {}
    run.call(deploy.gateway_start, None, None)
    try:
        run.call(deploy.endpoint_status, run.endpoint)
        exists = True
    except ToolFailed:
        exists = False
    if not exists:
        run.call(deploy.create_endpoint, run.endpoint, run.model, run.candidate, None)
        run.link(f"endpoint:{run.endpoint}", "deployed", {"version": run.candidate})
        return "passed", f"endpoint {run.endpoint} created on the candidate (nothing to canary against)", {}
    rows = _replay_rows(run) if run.traffic == "replay" else []
    limits = CanaryLimits(
        step_seconds=gate.step_seconds,
        min_requests=gate.min_requests,
        max_wait_seconds=gate.max_wait_seconds,
        max_error_rate=gate.max_error_rate,
        max_p99_ms=gate.max_p99_ms,
    )
    started = run.call(
        deploy.canary_start,
        run.endpoint,
        run.candidate,
        list(gate.steps),
        limits,
        CLIENT_NAME,
        run.subject,
        seconds=run.app.settings.max_deadline_s,
    )
    rollout_id = started["rollout_id"]
    run.link(f"rollout:{rollout_id}", "canary_gate", {"endpoint": run.endpoint})
    stop = threading.Event()
    replay = threading.Thread(target=_replay, args=(run, rows, stop), daemon=True) if rows else None
    if replay is not None:
        replay.start()
    status: dict[str, Any] = {}
    deadline = time.monotonic() + gate.max_wait_seconds + gate.step_seconds * len(gate.steps) * 4 + 30
    try:
        while time.monotonic() < deadline:
            status = run.call(deploy.canary_status, None, rollout_id)
            if status.get("state") in TERMINAL_ROLLOUT:
                break
            time.sleep(0.25)
    except ToolFailed as failed:  # judged below as not promoted; the rollout is aborted
        status = {"state": "unknown", "reason": failed.message}
    finally:
        stop.set()
        if replay is not None:
            replay.join(10)
    state = status.get("state")
    detail = {"rollout_id": rollout_id, "state": state, "reason": status.get("reason")}
    if state != "promoted":
        if state not in TERMINAL_ROLLOUT:
            run.call(deploy.canary_finish, None, rollout_id, "abort", "the workflow's canary gate gave up")
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
