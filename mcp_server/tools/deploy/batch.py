"""Batch predictions (deploy_batch_predict): a lake dataset version or a workspace file scored with an
endpoint's stable version (or a named model version) into a NEW lake dataset, off the request.

The call checks everything that would fail the job (the model and its twin, the input and its columns,
the key columns, the output name) and returns a job id at once; the job runs in a thread of its own:

- engine `arrow`: the input is read in record batches (pyarrow, `batch_rows` at a time, only the key and
  feature columns), each batch scored with onnxruntime in this process on the version's ONNX twin, and
  the scored batches streamed into the lake's writer (lake service `write`): memory stays bounded by a
  few batches and one output row group, whatever the input's size;
- engine `spark` (auto above `spark_auto_rows` / `spark_auto_bytes`, as validation and the lake choose):
  the input is read by Spark and scored inside each partition (mapInArrow, one onnxruntime session per
  task), and Spark writes the new version through the lake service (`write_spark`).

The output holds the key columns, `prediction` and, for classifiers, `probability_<class>` per class. Its
lake version records lineage edges from the input dataset and from the model version (`batch_predicted`).
The job's state lives in the metadata store (mlops_batch_predictions): a heartbeat every HEARTBEAT_S
carries rows done and rows/s; a running job whose heartbeat stopped (the server stopped) reads as
`interrupted`. deploy_batch_cancel stops a job of this process between batches (Spark: its jobs).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.boundary import Cancelled, Control
from mcp_server.core.errors import Conflict, InvalidInput, LimitExceeded, MlopsError, NotFound
from mcp_server.core.workspace import check_name
from mcp_server.tools.deploy import adapter
from mcp_server.tools.deploy.batch_models import BatchStarted, BatchStatus

if TYPE_CHECKING:
    from mcp_server.core.context import AppContext
    from mcp_server.core.store.models import BatchPrediction
    from mcp_server.core.twin import OnnxTwin

log = logging.getLogger("mlops_mcp")

HEARTBEAT_S = 2.0  # a running job writes its progress this often
STALE_S = 20.0  # a running job with no heartbeat for this long belongs to a stopped server
EDGE_KIND = "batch_predicted"
URI = "mlops://batch-predictions/{}"
Engine = Literal["auto", "arrow", "spark"]


@dataclass
class _Live:
    """A job running in this process: its control (cancel) and counters (the heartbeat writes them)."""

    control: Control
    started: float = field(default_factory=time.monotonic)
    rows_done: int = 0
    rows_total: int | None = None
    spark: Any = None  # the Spark session while the job runs there (progress from its status tracker)


_LIVE: dict[str, _Live] = {}
_LIVE_LOCK = threading.Lock()


@dataclass
class _Plan:
    job_id: str
    model: str
    version: str
    endpoint: str | None
    twin: OnnxTwin
    input: str
    input_id: str
    found: Any  # the lake version (records.VersionInfo) or None for a file
    path: Path | None
    data: Any  # pyarrow dataset over the input
    keys: list[str]
    output: str
    engine: Literal["arrow", "spark"]
    batch_rows: int
    rows_total: int | None


def _now() -> datetime:
    return datetime.now(UTC)


# -- the call: check, store, start ------------------------------------------------------------------------


def _resolve_model(
    app: AppContext,
    control: Control,
    endpoint: str | None,
    model: str | None,
    version: str | None,
    alias: str | None,
) -> tuple[str, str, OnnxTwin]:
    """(model, version, its twin): the endpoint's stable version as its route serves it, or a named version."""
    from mcp_server.core.twin import load_twin

    if (endpoint is None) == (model is None):
        raise InvalidInput(
            "Give exactly one of `endpoint` (its stable version scores) or `model` (with `version` or `alias`)."
        )
    if model is not None:
        resolved, twin = adapter.resolve_twin(app, control, model, version, alias)
        return model, resolved, twin
    if version is not None or alias is not None:
        raise InvalidInput(
            "`version` and `alias` go with `model`; an endpoint scores with its stable version."
        )
    assert endpoint is not None
    check_name(endpoint, "endpoint name")
    from mcp_server.gateway import controller

    with app.store.read_session() as session:
        try:
            ep, routes = controller.load_endpoint(session, endpoint)
        except KeyError:
            raise NotFound(
                f"No endpoint named '{endpoint}'; deploy_list shows the endpoints that exist."
            ) from None
        route = routes.get(ep.stable_version)
        name, stable = ep.model, ep.stable_version
        stored = route.onnx_dir if route is not None else None
    if stored is None:
        resolved, twin = adapter.resolve_twin(app, control, name, stable, None)
        return name, resolved, twin
    try:
        return name, stable, load_twin(app.workspace.from_stored(stored))
    except ValueError as err:
        raise NotFound(f"The ONNX twin endpoint '{endpoint}' serves cannot be read ({err}).") from None


def _open_input(
    app: AppContext, control: Control, dataset: str | None, dataset_version: int | None, path: str | None
) -> tuple[str, str, Any, Path | None, Any, int | None, int]:
    """(shown name, lineage id, lake version or None, file path or None, pyarrow dataset, rows, bytes)."""
    from mcp_server.tools.lake import service as lake

    if (dataset is None) == (path is None):
        raise InvalidInput(
            "Give exactly one of `dataset` (a lake dataset) or `path` (a file in the workspace)."
        )
    if dataset is not None:
        found, data = lake.scan_version(app, control, dataset, dataset_version)
        return (
            f"{dataset} v{found.version}",
            found.identifier or "",
            found,
            None,
            data,
            found.rows,
            found.bytes or 0,
        )
    if dataset_version is not None:
        raise InvalidInput("`dataset_version` goes with `dataset`, not with `path`.")
    assert path is not None
    from mcp_server.core.datasets import dataset_ref
    from mcp_server.core.spark import table_size

    real = app.workspace.resolve(path, must_exist=True)
    if not real.is_file():
        raise InvalidInput(
            f"'{app.workspace.display(real)}' is not a file; give a CSV, JSONL or Parquet file."
        )
    data = lake.scan_file(app, control, real)
    rows, size = table_size(real)
    return (
        app.workspace.display(real),
        dataset_ref(app.store, real, workspace=app.workspace),
        None,
        real,
        data,
        rows,
        size,
    )


def _choose(
    app: AppContext, requested: str, rows: int | None, size: int, is_parquet: bool
) -> Literal["arrow", "spark"]:
    from mcp_server.core.spark import choose_engine

    if requested == "arrow":
        chosen: str = "pandas"
    else:
        chosen = choose_engine(app.settings, "spark" if requested == "spark" else "auto", rows, size)
    if chosen == "spark" and not is_parquet and requested != "spark":
        chosen = "pandas"  # auto reads lake versions on Spark; a big CSV stays streamed by pyarrow
    if chosen == "pandas" and rows is not None and rows > app.settings.max_rows:
        raise LimitExceeded(
            f"The input has {rows} rows, over the {app.settings.max_rows} one process writes "
            "(MLOPS_MCP_MAX_ROWS); use engine='spark' (Spark configured) or score it in parts."
        )
    return "spark" if chosen == "spark" else "arrow"


def _check_output(app: AppContext, control: Control, output: str) -> str:
    from sqlalchemy import select

    from mcp_server.core.store.models import BatchPrediction
    from mcp_server.tools.lake import service as lake

    name = lake.check_dataset_name(output)
    try:
        lake.find_version(app, control, name)
    except NotFound:
        pass
    else:
        raise Conflict(
            f"A lake dataset named {name!r} already exists; give output_dataset a new name "
            "(batch predictions always write a new dataset)."
        )
    with app.store.read_session() as session:
        busy = session.scalars(
            select(BatchPrediction.id).where(
                BatchPrediction.output_dataset == name, BatchPrediction.state == "running"
            )
        ).first()
    if busy is not None and _is_live(busy):
        raise Conflict(f"Batch job {busy} is writing {name!r} already; give output_dataset another name.")
    return name


def batch_predict(
    app: AppContext,
    control: Control,
    output_dataset: str,
    key_columns: list[str],
    dataset: str | None = None,
    dataset_version: int | None = None,
    path: str | None = None,
    endpoint: str | None = None,
    model: str | None = None,
    version: str | None = None,
    alias: str | None = None,
    engine: Engine = "auto",
    batch_rows: int = 65_536,
    client: str | None = None,
    subject: str | None = None,
) -> BatchStarted:
    """deploy_batch_predict: check what would fail the job, store it and start its thread; returns at once."""
    from mcp_server.tools.deploy import batch_adapter

    keys = list(dict.fromkeys(key_columns))
    if len(keys) != len(key_columns):
        raise InvalidInput("key_columns names a column twice.")
    output = _check_output(app, control, output_dataset)
    name, resolved, twin = _resolve_model(app, control, endpoint, model, version, alias)
    control.step(1, 3, "opening the input")
    shown, input_id, found, real, data, rows, size = _open_input(app, control, dataset, dataset_version, path)
    if not input_id:
        raise Conflict(f"{shown} has no content identifier yet (it is still being written); try again.")
    batch_adapter.check_input(twin, data.schema, keys, shown)
    is_parquet = (
        found.format == "parquet"
        if found is not None
        else real is not None and real.suffix.lower() in (".parquet", ".pq")
    )
    chosen = _choose(app, engine, rows, size, is_parquet)
    if chosen == "spark" and found is not None and found.format != "parquet":
        raise InvalidInput("engine=spark reads Parquet versions; use engine='arrow' for this one.")
    label_type, classes = _output_shape(twin)
    schema = batch_adapter.output_schema([data.schema.field(k) for k in keys], label_type, classes)
    job_id = uuid.uuid4().hex
    params = {
        "dataset": dataset,
        "dataset_version": None if found is None else found.version,
        "path": path,
        "endpoint": endpoint,
        "model": name,
        "version": resolved,
        "key_columns": keys,
        "output_dataset": output,
        "engine": chosen,
        "batch_rows": batch_rows,
    }
    _create(app, job_id, params, shown, input_id, rows, client, subject)
    plan = _Plan(
        job_id,
        name,
        resolved,
        endpoint,
        twin,
        shown,
        input_id,
        found,
        real,
        data,
        keys,
        output,
        chosen,
        batch_rows,
        rows,
    )
    _start(app, plan)
    return BatchStarted(
        job_id=job_id,
        state="running",
        model=name,
        version=resolved,
        endpoint=endpoint,
        input=shown,
        rows_total=rows,
        output_dataset=output,
        engine=chosen,
        columns=list(schema.names),
        uri=URI.format(job_id),
    )


def _output_shape(twin: OnnxTwin) -> tuple[str, list[str]]:
    from mcp_server.core.twin import open_session
    from mcp_server.tools.deploy import batch_adapter

    return batch_adapter.output_names(twin, open_session(twin, threads=1))


def _create(
    app: AppContext,
    job_id: str,
    params: dict[str, Any],
    shown: str,
    input_id: str,
    rows: int | None,
    client: str | None,
    subject: str | None,
) -> None:
    from mcp_server.core.store.models import BatchPrediction

    now = _now()
    with app.store.transaction(audit=True) as session:
        session.add(
            BatchPrediction(
                id=job_id,
                state="running",
                model=params["model"],
                version=params["version"],
                endpoint=params["endpoint"],
                input=shown[:2000],
                input_id=input_id,
                output_dataset=params["output_dataset"],
                engine=params["engine"],
                rows_total=rows,
                rows_done=0,
                params=json.dumps(params, default=str),
                client=client,
                subject=subject,
                created_at=now,
                heartbeat_at=now,
            )
        )


# -- the job's thread -------------------------------------------------------------------------------------


def _is_live(job_id: str) -> bool:
    with _LIVE_LOCK:
        return job_id in _LIVE


def _start(app: AppContext, plan: _Plan) -> None:
    live = _Live(Control.unbounded(f"Batch prediction {plan.job_id[:8]}"), rows_total=plan.rows_total)
    with _LIVE_LOCK:
        _LIVE[plan.job_id] = live
    threading.Thread(
        target=_run, args=(app, plan, live), name=f"batch-{plan.job_id[:8]}", daemon=True
    ).start()


def _run(app: AppContext, plan: _Plan, live: _Live) -> None:
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(app, plan.job_id, live, stop), daemon=True)
    beat.start()
    try:
        result = _score_spark(app, plan, live) if plan.engine == "spark" else _score_arrow(app, plan, live)
    except Cancelled:
        _finish(
            app, plan.job_id, live, "cancelled", "Cancelled with deploy_batch_cancel; no output was kept."
        )
    except MlopsError as err:
        if live.control.cancelled:
            _finish(
                app, plan.job_id, live, "cancelled", "Cancelled with deploy_batch_cancel; no output was kept."
            )
        else:
            _finish(app, plan.job_id, live, "failed", err.message)
    except BaseException:
        incident = uuid.uuid4().hex[:8]
        log.exception("batch prediction %s crashed (id %s)", plan.job_id, incident)
        _finish(
            app,
            plan.job_id,
            live,
            "failed",
            f"internal error (id {incident}); the server's log has the details.",
        )
    else:
        live.rows_done = result.rows
        _finish(
            app,
            plan.job_id,
            live,
            "succeeded",
            None,
            output_version=result.version,
            output_id=result.identifier,
        )
    finally:
        stop.set()
        with _LIVE_LOCK:
            _LIVE.pop(plan.job_id, None)


def _also_from(plan: _Plan) -> list[tuple[str, str, dict[str, Any]]]:
    details: dict[str, Any] = {"job": plan.job_id, "onnx": f"onnx:{plan.model}/{plan.version}"}
    if plan.endpoint is not None:
        details["endpoint"] = plan.endpoint
    return [(f"model:{plan.model}/{plan.version}", EDGE_KIND, details)]


def _score_arrow(app: AppContext, plan: _Plan, live: _Live) -> Any:
    from mcp_server.tools.deploy import batch_adapter
    from mcp_server.tools.lake import service as lake

    keys = [plan.data.schema.field(k) for k in plan.keys]
    scorer = batch_adapter.load_scorer(plan.twin.folder, plan.keys, keys)

    def done(rows: int) -> None:
        live.rows_done += rows
        live.control.step(live.rows_done, live.rows_total, None)

    batches = batch_adapter.scored_batches(scorer, plan.data, plan.batch_rows, done)
    return lake.write(
        app,
        live.control,
        batch_adapter.reader(scorer, batches),
        plan.output,
        "processed",
        source_id=plan.input_id,
        edge_kind=EDGE_KIND,
        also_from=_also_from(plan),
        new_dataset=True,
    )


def _score_spark(app: AppContext, plan: _Plan, live: _Live) -> Any:
    from mcp_server.core.spark import read_spark, spark_engine
    from mcp_server.tools.deploy import batch_adapter
    from mcp_server.tools.lake import service as lake

    session = spark_engine(app).session()
    live.spark = session
    if plan.found is not None:
        frame = lake.spark_frame(app, live.control, plan.found, plan.input)
    else:
        assert plan.path is not None
        frame = read_spark(session, str(plan.path))
    arrow = batch_adapter.frame_schema(frame)
    batch_adapter.check_input(plan.twin, arrow, plan.keys, plan.input)
    label_type, classes = _output_shape(plan.twin)
    schema = batch_adapter.output_schema([arrow.field(k) for k in plan.keys], label_type, classes)
    scored = batch_adapter.spark_score(frame, plan.twin, plan.keys, schema)
    return lake.write_spark(
        app,
        live.control,
        scored,
        plan.output,
        schema,
        source_id=plan.input_id,
        edge_kind=EDGE_KIND,
        also_from=_also_from(plan),
        new_dataset=True,
    )


def _spark_rows(live: _Live) -> int:
    """Rows done on Spark, estimated from the finished tasks of the running stages."""
    if live.spark is None or not live.rows_total:
        return live.rows_done
    try:
        tracker = live.spark.sparkContext.statusTracker()
        done = total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
                total += info.numTasks
    except Exception:
        return live.rows_done
    if total:
        live.rows_done = max(live.rows_done, int(live.rows_total * done / total))
    return live.rows_done


def _rate(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds > 0 and rows else None


def _heartbeat(app: AppContext, job_id: str, live: _Live, stop: threading.Event) -> None:
    from mcp_server.core.store.models import BatchPrediction

    while not stop.wait(HEARTBEAT_S):
        rows = _spark_rows(live)
        try:
            with app.store.transaction() as session:
                row = session.get(BatchPrediction, job_id)
                if row is None or row.state != "running":
                    return
                row.rows_done = rows
                row.rows_per_s = _rate(rows, time.monotonic() - live.started)
                row.heartbeat_at = _now()
        except MlopsError as err:  # a store hiccup: the next beat tries again
            log.warning("batch prediction %s: heartbeat failed: %s", job_id, err.message)


def _finish(
    app: AppContext,
    job_id: str,
    live: _Live,
    state: str,
    error: str | None,
    *,
    output_version: int | None = None,
    output_id: str | None = None,
) -> None:
    from mcp_server.core.store.models import BatchPrediction

    seconds = time.monotonic() - live.started
    with app.store.transaction() as session:
        row = session.get(BatchPrediction, job_id)
        if row is None:
            return
        row.state = state
        row.error = error[:2000] if error else None
        row.rows_done = live.rows_done
        row.rows_per_s = _rate(live.rows_done, seconds)
        row.output_version = output_version
        row.output_id = output_id
        row.heartbeat_at = row.finished_at = _now()


# -- status and cancel ------------------------------------------------------------------------------------


def _state(row: BatchPrediction) -> str:
    if row.state != "running" or _is_live(row.id):
        return row.state
    if _now() - row.heartbeat_at > timedelta(seconds=STALE_S):
        return "interrupted"  # its heartbeat stopped: the server that ran it stopped
    return "running"  # another server process on this store runs it


def _status(row: BatchPrediction, state: str) -> BatchStatus:
    end = row.finished_at or (row.heartbeat_at if state == "interrupted" else _now())
    return BatchStatus(
        job_id=row.id,
        state=state,  # type: ignore[arg-type]
        model=row.model,
        version=row.version,
        endpoint=row.endpoint,
        input=row.input,
        input_id=row.input_id,
        engine=row.engine,  # type: ignore[arg-type]
        rows_total=row.rows_total,
        rows_done=row.rows_done,
        rows_per_s=row.rows_per_s,
        output_dataset=row.output_dataset,
        output_version=row.output_version,
        output_id=row.output_id,
        error=row.error
        or (
            "The server running this job stopped before it finished; start it again."
            if state == "interrupted"
            else None
        ),
        created_at=row.created_at.isoformat(),
        updated_at=row.heartbeat_at.isoformat(),
        finished_at=row.finished_at.isoformat() if row.finished_at else None,
        elapsed_s=round(max(0.0, (end - row.created_at).total_seconds()), 3),
    )


def _job_missing(job_id: str) -> NotFound:
    return NotFound(f"No batch prediction job {job_id!r}; the id comes from deploy_batch_predict.")


def _job_id(app: AppContext, job_id: str | None, output_dataset: str | None) -> str:
    """The job given by its id, or the latest job writing `output_dataset`."""
    from sqlalchemy import select

    from mcp_server.core.store.models import BatchPrediction

    if (job_id is None) == (output_dataset is None):
        raise InvalidInput("Give exactly one of `job_id` or `output_dataset`.")
    if job_id is not None:
        return job_id
    with app.store.read_session() as session:
        found = session.scalars(
            select(BatchPrediction.id)
            .where(BatchPrediction.output_dataset == output_dataset)
            .order_by(BatchPrediction.created_at.desc())
            .limit(1)
        ).first()
    if found is None:
        raise NotFound(
            f"No batch prediction job writes {output_dataset!r}; start one with deploy_batch_predict."
        )
    return found


def _read(app: AppContext, job_id: str) -> BatchStatus:
    from mcp_server.core.store.models import BatchPrediction

    with app.store.read_session() as session:
        row = session.get(BatchPrediction, job_id)
        if row is None:
            raise _job_missing(job_id)
        state = _state(row)
        status = _status(row, state)
    if state == "interrupted" and status.finished_at is None:
        with app.store.transaction() as session:
            stored = session.get(BatchPrediction, job_id)
            if stored is not None and stored.state == "running":
                stored.state = "interrupted"
    return status


def batch_status(
    app: AppContext,
    control: Control,
    job_id: str | None,
    output_dataset: str | None = None,
    wait_s: float = 0.0,
) -> BatchStatus:
    """deploy_batch_status: the job's state, progress, output and error, after waiting up to `wait_s` for a
    running job to end (an orphaned job is stored as interrupted)."""
    found = _job_id(app, job_id, output_dataset)
    status = _read(app, found)
    deadline = time.monotonic() + min(wait_s, max(0.0, control.remaining() - 1.0))
    while status.state == "running" and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
        status = _read(app, found)
    return status


def batch_cancel(
    app: AppContext, control: Control, job_id: str | None, output_dataset: str | None = None
) -> BatchStatus:
    """deploy_batch_cancel: stop a running job of this server between batches (its partial output is
    removed); a job that ended already is reported as it is."""
    found = _job_id(app, job_id, output_dataset)
    with _LIVE_LOCK:
        live = _LIVE.get(found)
    if live is None:
        current = _read(app, found)
        if current.state == "running":
            raise Conflict(f"Batch job {found} runs in another server process; cancel it there.")
        return current
    live.control.cancel()
    deadline = time.monotonic() + control.timeout(30.0)
    while _is_live(found) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _read(app, found)


def read_resource(app: AppContext, job_id: str) -> str:
    """mlops://batch-predictions/{id}: the job as deploy_batch_status shows it."""
    return _read(app, job_id).model_dump_json(indent=1)


def watched_state(app: AppContext, job_id: str) -> str:
    """What a subscriber of the job's resource is told about: its state and output (not every heartbeat)."""
    status = _read(app, job_id)
    return f"{status.state}|{status.output_id}|{status.error}"
