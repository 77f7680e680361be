"""Registry overhead: registry_register_model, registry_set_alias and registry_get_version through an MCP
client vs the same MLflow operations with MlflowClient directly, in the same run, on the same store
(SQLite in a fresh home); plus onnxruntime vs scikit-learn single-row predict of a 100-tree random forest.

The direct baseline does what a careful MlflowClient user does for each operation:
- register: get the run, find its logged model, create_model_version (source, run_id, model_id)
  (the registered model is created once, before the timed calls);
- set alias: set_registered_model_alias;
- get version: get_model_version (with its aliases), get_run (metrics, params).
The tool path does that plus its own records: lineage edges, alias history and the call's audit row in the
metadata store, one commit per write (a run the server trained is known from its `trained` lineage edge: one
logged-model read instead of get_run; registry_get_version without `details` reads no lineage, signature or
artifact list). Calls alternate between the two paths so machine noise hits both alike.
Prints one JSON line: value/baseline are the summed p50s of the three operations; ratio = value/baseline.
Target (issue 8): ratio <= 1.2 on p50.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

N = int(os.environ.get("BENCH_N", "40"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def main() -> None:
    from mcp import Client
    from sklearn.datasets import make_classification

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings
    from mcp_server.core.tracking import mlflow_client

    X, y = make_classification(2000, 10, n_informative=6, random_state=0)
    import pandas as pd

    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]).assign(label=y)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", profile="all")
        settings.workspace_dir.mkdir(parents=True)
        frame.to_csv(settings.workspace_dir / "bench.csv", index=False)
        server = create_server(settings)
        async with Client(server, mode="legacy") as client:
            train = await client.call_tool(
                "evaluation_train_model",
                {
                    "dataset": "bench.csv",
                    "target": "label",
                    "estimator": "RandomForestClassifier",
                    "params": {"n_estimators": 100, "random_state": 0},
                },
            )
            run_id = (train.structured_content or {})["run_id"]
            direct = mlflow_client(server.app)

            def direct_register() -> str:
                run = direct.get_run(run_id)
                logged = direct.get_logged_model(run.outputs.model_outputs[0].model_id)
                mv = direct.create_model_version(
                    "bench-direct", logged.artifact_location, run_id=run_id, model_id=logged.model_id
                )
                return str(mv.version)

            def direct_get(version: str) -> None:
                direct.get_model_version("bench-direct", version)  # carries its aliases
                direct.get_run(run_id)  # metrics, params

            times: dict[str, dict[str, list[float]]] = {
                op: {"mcp": [], "direct": []} for op in ("register", "set_alias", "get_version")
            }

            async def timed(op: str, path: str, coro_or_fn, *args):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                if path == "mcp":
                    result = await coro_or_fn(*args)
                    assert not result.is_error, result.content
                else:
                    result = await anyio.to_thread.run_sync(lambda: coro_or_fn(*args))
                times[op][path].append(time.perf_counter() - started)
                return result

            direct.create_registered_model("bench-direct")  # once, as a client user would
            # warm-up (imports, first signature read, connections)
            await client.call_tool("registry_register_model", {"name": "bench-mcp", "source": run_id})
            await anyio.to_thread.run_sync(direct_register)
            await client.call_tool("registry_get_version", {"name": "bench-mcp", "version": "1"})
            for _ in range(N):
                res = await timed(
                    "register",
                    "mcp",
                    client.call_tool,
                    "registry_register_model",
                    {"name": "bench-mcp", "source": run_id},
                )
                v_mcp = str(res.structured_content["version"])
                v_direct = await timed("register", "direct", direct_register)
                await timed(
                    "set_alias",
                    "mcp",
                    client.call_tool,
                    "registry_set_alias",
                    {"name": "bench-mcp", "alias": "champion", "version": v_mcp},
                )
                await timed(
                    "set_alias",
                    "direct",
                    direct.set_registered_model_alias,
                    "bench-direct",
                    "champion",
                    v_direct,
                )
                await timed(
                    "get_version",
                    "mcp",
                    client.call_tool,
                    "registry_get_version",
                    {"name": "bench-mcp", "version": v_mcp},
                )
                await timed("get_version", "direct", direct_get, v_direct)

            # ONNX vs scikit-learn, single-row predict, 100-tree random forest
            conv = await client.call_tool("onnx_convert", {"name": "bench-mcp", "version": "1"})
            assert not conv.is_error, conv.content
            from mcp_server.core.mlmodels import load_run_model, onnx_twin
            from mcp_server.core.twin import make_feed, open_session

            twin = onnx_twin(server.app, "bench-mcp", "1", convert=False)
            session = open_session(twin)
            model = load_run_model(server.app, run_id).model
            rows = frame.drop(columns="label").head(200)
            feeds = [make_feed(twin, [r]) for r in rows.to_dict("records")]
            singles = [rows.iloc[[i]] for i in range(len(rows))]
            session.run(None, feeds[0])
            model.predict(singles[0])
            ort_t, skl_t = [], []
            for feed, single in zip(feeds, singles, strict=True):
                t0 = time.perf_counter()
                session.run(None, feed)
                ort_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                model.predict(single)
                skl_t.append(time.perf_counter() - t0)
        server.app.close()

    ops = {
        op: {
            "mcp_p50_ms": pct(t["mcp"], 0.5),
            "mcp_p95_ms": pct(t["mcp"], 0.95),
            "direct_p50_ms": pct(t["direct"], 0.5),
            "direct_p95_ms": pct(t["direct"], 0.95),
            "ratio_p50": pct(t["mcp"], 0.5) / pct(t["direct"], 0.5),
        }
        for op, t in times.items()
    }
    value = sum(o["mcp_p50_ms"] for o in ops.values())
    baseline = sum(o["direct_p50_ms"] for o in ops.values())
    print(
        json.dumps(
            {
                "figure": "registry register+set_alias+get_version p50 via MCP vs MlflowClient (SQLite)",
                "value": round(value, 2),
                "baseline": round(baseline, 2),
                "ratio": round(value / baseline, 3),
                "unit": "ms",
                "n": N,
                "ops": {k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in ops.items()},
                "onnx_single_row": {
                    "onnxruntime_p50_us": round(statistics.median(ort_t) * 1e6, 1),
                    "sklearn_p50_us": round(statistics.median(skl_t) * 1e6, 1),
                    "speedup": round(statistics.median(skl_t) / statistics.median(ort_t), 1),
                    "model": "RandomForestClassifier(100 trees), 10 features",
                },
                "target_ratio": 1.2,
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
