"""Batch prediction: `deploy_batch_predict` on a 2,000,000-row lake dataset vs onnxruntime in-process over the
same rows, same run.

A LogisticRegression on (age, income, segment) (a scikit-learn Pipeline: scaler + one-hot, so the ONNX twin
has one [N, 1] input per column, text included) is trained with `evaluation_train_model`, registered and
served by `deploy_create_endpoint` in an in-process server. A stdio server process (`mlops-mcp serve`, a
real MCP client over its pipes) then writes the generated table into the lake (`lake_write`) and scores it
with `deploy_batch_predict` (endpoint's stable version, engine arrow, key column `id`) into a new dataset;
the figure is the job's rows/s from its start to `succeeded` as deploy_batch_status reports it (reading,
scoring, writing and fingerprinting the output Parquet). The server's peak RSS is its VmHWM from
/proc/<pid>/status after the job (the lake_write of the input included).

Baseline: onnxruntime in this process on the same rows, already in memory as a DataFrame: the feed built
from the twin's input spec and the session run, 65,536 rows at a time (the job's batch size), no I/O.
Prints one JSON line. `--rows N` for a smaller run. The machine may be shared: re-run on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

BATCH = 65_536


def frame_of(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "segment": rng.choice(np.array(["a", "b", "c"], dtype=object), rows),
        }
    )
    return df


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def onnxruntime_rows_per_s(twin: Any, frame: pd.DataFrame) -> tuple[float, np.ndarray]:
    from mcp_server.core.twin import open_session

    session = open_session(twin)
    names = [o.name for o in session.get_outputs()]
    label = twin.spec["outputs"]["label"]
    labels = []
    started = time.perf_counter()
    for start in range(0, len(frame), BATCH):
        chunk = frame.iloc[start : start + BATCH]
        feed = {}
        for spec in twin.spec["inputs"]:
            block = chunk[spec["columns"]]
            feed[spec["name"]] = (
                block.astype(object).to_numpy()
                if spec["dtype"] == "string"
                else block.to_numpy(spec["dtype"])
            )
        out = dict(zip(names, session.run(None, feed), strict=True))
        labels.append(np.asarray(out[label]).ravel())
    seconds = time.perf_counter() - started
    return len(frame) / seconds, np.concatenate(labels)


async def run(rows: int) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings
    from mcp_server.core.context import AppContext

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        home = Path(tmp) / "home"
        workspace = home / "workspace"
        workspace.mkdir(parents=True)
        train = frame_of(5_000, 1)
        train["label"] = ((train["age"] > 45) ^ (train["segment"] == "c")).astype(int)
        train.drop(columns=["id"]).to_csv(workspace / "train.csv", index=False)
        settings = Settings(home=home, profile="all")
        server = create_server(settings)
        async with Client(server, mode="legacy") as client:

            async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content
                return dict(result.structured_content or {})

            trained = await call(
                "evaluation_train_model",
                {
                    "dataset": "train.csv",
                    "target": "label",
                    "estimator": "LogisticRegression",
                    "features": ["age", "income", "segment"],
                    "name": "bench-batch",
                },
            )
            version = (await call("registry_register_model", {"name": "bench", "source": trained["run_id"]}))[
                "version"
            ]
            await call(
                "deploy_create_endpoint", {"endpoint": "bench", "model": "bench", "version": str(version)}
            )
        server.app.close()

        frame = frame_of(rows, 2)
        frame.to_parquet(workspace / "score.parquet", index=False, row_group_size=500_000)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.update({"MLOPS_MCP_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "mcp_server", "serve", "--profile", "all"], env=env, cwd=tmp
        )
        async with Client(params, mode="legacy") as client:

            async def rcall(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content
                return dict(result.structured_content or {})

            pid = (await rcall("server_info", {}))["pid"]
            await rcall("lake_write", {"source": "score.parquet", "dataset": "score"})
            wall = time.perf_counter()
            started = await rcall(
                "deploy_batch_predict",
                {"dataset": "score", "endpoint": "bench", "output_dataset": "scored", "key_columns": ["id"]},
            )
            while True:
                status = await rcall("deploy_batch_status", {"job_id": started["job_id"]})
                if status["state"] != "running":
                    break
                await anyio.sleep(0.05)
            wall = time.perf_counter() - wall
            peak = peak_rss_mb(pid)
        assert status["state"] == "succeeded", status

        app = AppContext.from_settings(settings)
        try:
            from mcp_server.core.mlmodels import onnx_twin
            from mcp_server.tools.catalog import records

            twin = onnx_twin(app, "bench", str(version), convert=False)
            baseline, labels = onnxruntime_rows_per_s(twin, frame)
            out = pd.read_parquet(
                app.workspace.from_stored(records.get_version(app.store, "scored", None).location)
            )
        finally:
            app.close()
        same = bool(
            np.array_equal(out["prediction"].to_numpy(), labels)
            and out["id"].tolist() == frame["id"].tolist()
        )
    value = rows / wall
    return {
        "figure": "batch_predict_rows_per_s",
        "value": round(value),
        "baseline": round(baseline),
        "ratio": round(value / baseline, 3),
        "unit": "rows/s",
        "peak_rss_mb": round(peak),
        "details": {
            "rows": rows,
            "job_seconds": round(wall, 2),
            "job_rows_per_s_reported": status["rows_per_s"],
            "baseline": "onnxruntime in-process on the same rows in memory, 65,536 at a time, feed + run only",
            "server_peak_rss": "VmHWM of the stdio server process (lake_write of the input included)",
            "same_predictions": same,
            "engine": status["engine"],
            "cpus": os.cpu_count(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    print(json.dumps(anyio.run(run, args.rows)))


if __name__ == "__main__":
    main()
