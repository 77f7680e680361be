"""deploy_batch_predict / deploy_batch_status / deploy_batch_cancel through a real MCP client: a lake
dataset or a workspace file scored off the request into a new lake dataset, with lineage, compared row by
row with onnxruntime run directly on the same rows."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from mcp import Client

from mcp_server.core.context import AppContext
from tests.conftest import assert_tool_error, read_json, structured
from tests.tools.deploy.conftest import FEATURES, MODEL

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("batch_predict")]


def baseline(twin: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """onnxruntime directly on the frame's rows: the feed built here from the twin's input spec (not by the
    server's code), the label and probability outputs read by name."""
    from mcp_server.core.twin import open_session

    session = open_session(twin)
    feed = {}
    for spec in twin.spec["inputs"]:
        block = frame[spec["columns"]]
        if spec["dtype"] == "string":
            feed[spec["name"]] = block.astype(object).to_numpy()
        else:
            feed[spec["name"]] = block.to_numpy(dtype=spec["dtype"])
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, feed), strict=True))
    outputs = twin.spec["outputs"]
    if twin.task == "regression":
        return np.asarray(out[outputs["value"]]).reshape(len(frame), -1)[:, 0], None
    probs = out.get(outputs.get("probabilities") or "")
    return np.asarray(out[outputs["label"]]).ravel(), None if probs is None else np.asarray(probs)


async def wait_done(client: Client, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = structured(await client.call_tool("deploy_batch_status", {"job_id": job_id}))
        if status["state"] != "running":
            return status
        assert time.monotonic() < deadline, status
        await anyio.sleep(0.1)


def lake_frame(app: AppContext, dataset: str) -> pd.DataFrame:
    from mcp_server.core.boundary import Control
    from mcp_server.tools.lake import service as lake

    _found, data = lake.scan_version(app, Control.unbounded(), dataset)
    return data.to_table().to_pandas()


@pytest.fixture(scope="module")
async def scored_input(deploy_home: Path, versions: dict[str, Any]) -> dict[str, Any]:
    """example.csv (with nulls in a text column) as lake dataset `customers`, and an endpoint on v1."""
    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    frame = pd.read_csv(deploy_home / "workspace" / "example.csv")
    frame.loc[[3, 17], "segment"] = None  # text nulls score as '' (the twin's rule)
    frame.to_parquet(deploy_home / "workspace" / "customers.parquet", index=False)
    server = create_server(Settings(home=deploy_home, profile="all"))
    async with Client(server, mode="legacy") as client:
        structured(
            await client.call_tool("lake_write", {"source": "customers.parquet", "dataset": "customers"})
        )
        arguments = {"endpoint": "churn-batch", "model": MODEL, "version": versions["v1"]}
        structured(await client.call_tool("deploy_create_endpoint", arguments))
    server.app.close()
    return {"frame": frame}


async def test_scores_a_lake_dataset_with_the_endpoint_into_a_new_dataset_with_lineage(
    client: Client, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    v1 = versions["v1"]
    started = structured(
        await client.call_tool(
            "deploy_batch_predict",
            {
                "dataset": "customers",
                "endpoint": "churn-batch",
                "output_dataset": "customers-scored",
                "key_columns": ["id"],
                "batch_rows": 1000,
            },
        )
    )
    assert started["state"] == "running" and started["engine"] == "arrow"
    assert started["model"] == MODEL and started["version"] == v1 and started["rows_total"] == 200
    assert started["columns"][:2] == ["id", "prediction"]
    assert all(c.startswith("probability_") for c in started["columns"][2:]) and len(started["columns"]) == 4
    done = await wait_done(client, started["job_id"])
    assert done["state"] == "succeeded", done
    assert done["rows_done"] == 200 and done["output_version"] == 1 and done["error"] is None
    assert done["output_id"].startswith("dataset:customers-scored@") and done["rows_per_s"] > 0

    out = lake_frame(app, "customers-scored")
    frame = scored_input["frame"]
    assert out["id"].tolist() == frame["id"].tolist()  # one row per input row, in order
    from mcp_server.core.mlmodels import onnx_twin

    twin = onnx_twin(app, MODEL, v1, convert=False)
    labels, probs = baseline(twin, frame.assign(segment=frame["segment"].fillna("")))
    assert out["prediction"].tolist() == labels.tolist()
    assert probs is not None
    classes = [str(c) for c in twin.spec["classes"]]
    got = out[[f"probability_{c}" for c in classes]].to_numpy()
    assert np.array_equal(got, probs.astype(np.float64))

    # Lineage: the input dataset and the model version both lead to the output version.
    graph = structured(await client.call_tool("lineage_get", {"entity": done["output_id"]}))
    upstream = {(e["upstream"], e["kind"]) for e in graph["edges"] if e["downstream"] == done["output_id"]}
    assert (f"model:{MODEL}/{v1}", "batch_predicted") in upstream
    assert (done["input_id"], "batch_predicted") in upstream and done["input_id"].startswith(
        "dataset:customers@"
    )

    # The job as a resource.
    shown = await read_json(client, started["uri"])
    assert shown["state"] == "succeeded" and shown["output_version"] == 1


async def test_scores_a_workspace_file_with_a_named_version(
    client: Client, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    v2 = versions["v2"]
    started = structured(
        await client.call_tool(
            "deploy_batch_predict",
            {
                "path": "example.csv",
                "model": MODEL,
                "version": v2,
                "output_dataset": "example-scored-v2",
                "key_columns": ["id", "signup_date"],
            },
        )
    )
    done = await wait_done(client, started["job_id"])
    assert done["state"] == "succeeded", done
    out = lake_frame(app, "example-scored-v2")
    frame = pd.read_csv(app.settings.home / "workspace" / "example.csv")
    from mcp_server.core.mlmodels import onnx_twin

    labels, _probs = baseline(onnx_twin(app, MODEL, v2, convert=False), frame)
    assert out["id"].tolist() == frame["id"].tolist()
    # Key columns keep the type the reader gave them (pyarrow's CSV reader reads dates as dates).
    assert out["signup_date"].astype(str).tolist() == frame["signup_date"].tolist()
    assert out["prediction"].tolist() == labels.tolist()
    graph = structured(await client.call_tool("lineage_get", {"entity": done["output_id"]}))
    assert any(e["upstream"] == f"model:{MODEL}/{v2}" for e in graph["edges"])


async def test_clear_errors(
    client: Client, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    base = {"output_dataset": "never-written", "key_columns": ["id"]}

    async def call(**arguments: Any) -> str:
        return assert_tool_error(await client.call_tool("deploy_batch_predict", {**base, **arguments}))

    await call(dataset="no-such-dataset", endpoint="churn-batch")
    assert "no-such-dataset" in await call(dataset="no-such-dataset", endpoint="churn-batch")
    assert "deploy_list" in await call(dataset="customers", endpoint="no-such-endpoint")
    assert "999" in await call(dataset="customers", model=MODEL, version="999")
    assert "exactly one" in await call(dataset="customers", endpoint="churn-batch", model=MODEL, version="1")
    assert "exactly one" in await call(dataset="customers", path="example.csv", endpoint="churn-batch")
    message = await call(dataset="customers", endpoint="churn-batch", key_columns=["customer_id"])
    assert "'customer_id'" in message and "'id'" in message
    taken = await call(dataset="customers", endpoint="churn-batch", output_dataset="customers")
    assert "already exists" in taken and "new name" in taken

    # Missing feature columns: the error lists what the model expects.
    frame = pd.read_csv(app.settings.home / "workspace" / "example.csv").drop(columns=["income"])
    frame.to_csv(app.settings.home / "workspace" / "no-income.csv", index=False)
    message = await call(path="no-income.csv", endpoint="churn-batch")
    assert "'income'" in message and all(f"'{f}'" in message for f in FEATURES)

    # A key column named like an output column.
    renamed = pd.read_csv(app.settings.home / "workspace" / "example.csv").rename(
        columns={"id": "prediction"}
    )
    renamed.to_csv(app.settings.home / "workspace" / "clash.csv", index=False)
    assert "output column" in await call(path="clash.csv", endpoint="churn-batch", key_columns=["prediction"])

    # Text where the model takes numbers.
    typed = pd.read_csv(app.settings.home / "workspace" / "example.csv").assign(age="old")
    typed.to_csv(app.settings.home / "workspace" / "text-age.csv", index=False)
    assert "takes numbers" in await call(path="text-age.csv", endpoint="churn-batch")

    unknown = assert_tool_error(await client.call_tool("deploy_batch_status", {"job_id": "0" * 32}))
    assert "deploy_batch_predict" in unknown
    # Nothing was written under the refused name.
    assert not any(
        d["name"] == "never-written" for d in structured(await client.call_tool("lake_list", {}))["datasets"]
    )


async def test_interrupted_when_the_server_stopped_and_cancel(
    client: Client, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    """A running row whose heartbeat stopped reads as interrupted (and is stored so); cancel stops a live job."""
    import json
    from datetime import UTC, datetime, timedelta

    from mcp_server.core.store.models import BatchPrediction

    old = datetime.now(UTC) - timedelta(minutes=5)
    with app.store.transaction() as session:
        session.add(
            BatchPrediction(
                id="a" * 32,
                state="running",
                model=MODEL,
                version=versions["v1"],
                input="customers v1",
                output_dataset="lost",
                engine="arrow",
                rows_done=10,
                params=json.dumps({}),
                created_at=old,
                heartbeat_at=old,
            )
        )
    status = structured(await client.call_tool("deploy_batch_status", {"job_id": "a" * 32}))
    assert status["state"] == "interrupted" and "stopped" in status["error"]
    with app.store.read_session() as session:
        row = session.get(BatchPrediction, "a" * 32)
        assert row is not None and row.state == "interrupted"
    # Cancelling a job that ended reports it as it is.
    again = structured(await client.call_tool("deploy_batch_cancel", {"job_id": "a" * 32}))
    assert again["state"] == "interrupted"

    # A live job stops between batches when cancelled, and keeps no output.
    big_frame(400_000).to_parquet(app.settings.home / "workspace" / "cancel-me.parquet", index=False)
    started = structured(
        await client.call_tool(
            "deploy_batch_predict",
            {
                "path": "cancel-me.parquet",
                "endpoint": "churn-batch",
                "output_dataset": "cancelled-output",
                "key_columns": ["id"],
                "batch_rows": 1000,
            },
        )
    )
    cancelled = structured(
        await client.call_tool("deploy_batch_cancel", {"output_dataset": "cancelled-output"})
    )
    assert cancelled["job_id"] == started["job_id"] and cancelled["state"] == "cancelled", cancelled
    assert 0 <= cancelled["rows_done"] < 400_000 and cancelled["output_version"] is None
    listed = structured(await client.call_tool("lake_list", {}))["datasets"]
    assert not any(d["name"] == "cancelled-output" and d["latest_version"] for d in listed)
    # The name is free again: a failed or cancelled write does not take it.
    status = structured(
        await client.call_tool("deploy_batch_status", {"output_dataset": "cancelled-output", "wait_s": 1})
    )
    assert status["state"] == "cancelled" and "deploy_batch_cancel" in status["error"]


async def test_column_feed_matches_make_feed(app: AppContext, versions: dict[str, Any]) -> None:
    """The columnar feed (batch scoring) and the row feed (gateway, deploy_predict) give the same arrays."""
    from mcp_server.core.mlmodels import onnx_twin
    from mcp_server.core.twin import column_feed, make_feed

    twin = onnx_twin(app, MODEL, versions["v1"], convert=False)
    rows = [{"age": 30, "income": 1.5, "segment": "a"}, {"age": 61, "income": None, "segment": None}]
    columns = {
        "age": np.array([30.0, 61.0]),
        "income": np.array([1.5, np.nan]),
        "segment": np.array(["a", None], dtype=object),
    }
    by_rows, by_columns = make_feed(twin, rows), column_feed(twin, columns, 2)
    assert by_rows.keys() == by_columns.keys()
    for name in by_rows:
        a, b = by_rows[name], by_columns[name]
        assert a.dtype == b.dtype and a.shape == b.shape
        assert [str(x) for x in a.ravel()] == [str(x) for x in b.ravel()]
    with pytest.raises(ValueError, match="'income' is missing"):
        column_feed(twin, {"age": columns["age"]}, 2)


async def test_output_dataset_of_a_finished_job_is_readable_by_pyarrow(app: AppContext) -> None:
    from mcp_server.core.boundary import Control
    from mcp_server.tools.lake import service as lake

    found, data = lake.scan_version(app, Control.unbounded(), "customers-scored")
    assert isinstance(data, ds.Dataset) and found.rows == 200


def big_frame(rows: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "segment": rng.choice(np.array(["a", "b", "c"], dtype=object), rows),
        }
    )


def vm_hwm_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM in /proc/<pid>/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
async def test_two_million_rows_over_stdio_bounded_memory_same_predictions_and_lineage(
    deploy_home: Path, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    """Must-show 3: 2,000,000 rows of a lake dataset scored by a stdio server process: every prediction and
    probability equals onnxruntime's on the same rows, the server's peak RSS (VmHWM, which covers the
    lake_write of the input as well) stays under 1.5 GB, and the output's lineage leads to the model version
    and the input dataset."""
    from mcp import StdioServerParameters

    from mcp_server.core.mlmodels import onnx_twin
    from tests.conftest import PYTHON, server_env

    rows = 2_000_000
    frame = big_frame(rows)
    frame.to_parquet(deploy_home / "workspace" / "big.parquet", index=False, row_group_size=500_000)
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "mcp_server", "serve", "--profile", "all"],
        env=server_env(deploy_home),
        cwd=str(deploy_home),
    )
    async with Client(params, mode="legacy") as client:
        pid = structured(await client.call_tool("server_info", {}))["pid"]
        structured(await client.call_tool("lake_write", {"source": "big.parquet", "dataset": "big"}))
        started = structured(
            await client.call_tool(
                "deploy_batch_predict",
                {
                    "dataset": "big",
                    "endpoint": "churn-batch",
                    "output_dataset": "big-scored",
                    "key_columns": ["id"],
                },
            )
        )
        assert started["rows_total"] == rows and started["engine"] == "arrow"
        done = await wait_done(client, started["job_id"], timeout=240)
        peak = vm_hwm_mb(pid)
        assert done["state"] == "succeeded", done
        assert done["rows_done"] == rows
        graph = structured(await client.call_tool("lineage_get", {"entity": done["output_id"]}))
    print(
        f"2M rows: {done['rows_per_s']} rows/s, server peak RSS {peak:.0f} MB", file=__import__("sys").stderr
    )
    assert peak < 1536, f"server peak RSS {peak:.0f} MB"
    upstream = {e["upstream"] for e in graph["edges"] if e["downstream"] == done["output_id"]}
    assert {f"model:{MODEL}/{versions['v1']}", done["input_id"]} <= upstream
    assert done["input_id"].startswith("dataset:big@")

    out = pd.read_parquet(app.workspace.from_stored(_location(app, "big-scored")))
    assert len(out) == rows and out["id"].tolist() == frame["id"].tolist()
    twin = onnx_twin(app, MODEL, versions["v1"], convert=False)
    labels, probs = baseline(twin, frame)
    assert probs is not None
    assert np.array_equal(out["prediction"].to_numpy(), labels)
    classes = [str(c) for c in twin.spec["classes"]]
    assert np.array_equal(out[[f"probability_{c}" for c in classes]].to_numpy(), probs.astype(np.float64))


def _location(app: AppContext, dataset: str) -> str:
    from mcp_server.tools.catalog import records

    return records.get_version(app.store, dataset, None).location


@pytest.mark.spark
@pytest.mark.slow
async def test_spark_engine_above_the_auto_threshold_gives_the_same_predictions(
    deploy_home: Path, app: AppContext, versions: dict[str, Any], scored_input: dict[str, Any]
) -> None:
    """With spark_auto_rows lowered to 100, the 200-row dataset is scored on Spark (local mode): onnxruntime
    inside each partition; the rows, predictions, probabilities and lineage are those of the arrow engine."""
    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings
    from mcp_server.core.mlmodels import onnx_twin

    settings = Settings(home=deploy_home, profile="all", spark_master="local[2]", spark_auto_rows=100)
    server = create_server(settings)
    try:
        async with Client(server, mode="legacy") as client:
            started = structured(
                await client.call_tool(
                    "deploy_batch_predict",
                    {
                        "dataset": "customers",
                        "endpoint": "churn-batch",
                        "output_dataset": "customers-spark",
                        "key_columns": ["id", "segment"],
                    },
                )
            )
            assert started["engine"] == "spark"
            done = await wait_done(client, started["job_id"], timeout=240)
            assert done["state"] == "succeeded", done
            assert done["rows_done"] == 200 and done["engine"] == "spark"
            graph = structured(await client.call_tool("lineage_get", {"entity": done["output_id"]}))
    finally:
        server.app.close()
    upstream = {e["upstream"] for e in graph["edges"] if e["downstream"] == done["output_id"]}
    assert {f"model:{MODEL}/{versions['v1']}", done["input_id"]} <= upstream
    out = lake_frame(app, "customers-spark").sort_values("id").reset_index(drop=True)
    frame = scored_input["frame"]
    assert out["id"].tolist() == frame["id"].tolist()
    assert out["segment"].tolist() == frame["segment"].tolist()  # keys as they were, nulls included
    twin = onnx_twin(app, MODEL, versions["v1"], convert=False)
    labels, probs = baseline(twin, frame.assign(segment=frame["segment"].fillna("")))
    assert probs is not None
    assert out["prediction"].tolist() == labels.tolist()
    classes = [str(c) for c in twin.spec["classes"]]
    assert np.allclose(out[[f"probability_{c}" for c in classes]].to_numpy(), probs, rtol=0, atol=1e-12)
