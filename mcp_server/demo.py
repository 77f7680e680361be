"""`mlops-mcp demo`: the whole chain, through a real MCP client that spawns `mlops-mcp serve` over stdio.

Breast-cancer data -> suggested suite -> faults found and cleaned -> quality score -> lake dataset and
catalog entry -> features -> two models compared -> register -> ONNX -> gateway -> canary to 100% (a gated
workflow_promote fed by replayed rows) -> prediction -> rollback by hand -> lineage of the endpoint back to the raw data ->
backup. One line per step; exits non-zero if a step fails. Every step is a tool call the server answers
with the real library (GX, pandas, Feast, scikit-learn, MLflow, skl2onnx, onnxruntime).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

Step = tuple[str, bool, str]
SUITE = "breast_cancer"
MODEL = "cancer"
ENDPOINT = "cancer-api"
CLEAN_PLAN = {
    "duplicates": {},
    "outliers": {"columns": ["mean_area", "target"], "method": "zscore", "action": "drop"},
    "missing": [{"strategy": "median", "columns": ["mean_radius"]}],
}
FEATURES = """\
project: demo
entities:
  - {name: patient, join_keys: [patient_id], value_type: int64}
sources:
  - {name: exams, path: exams.parquet, timestamp_field: exam_time}
feature_views:
  - name: exam_features
    entities: [patient]
    source: exams
    ttl: 3650d
    schema: {mean_radius: float64, mean_texture: float64, mean_area: float64}
"""


class StepFailed(Exception):
    pass


def _server_params(home: Path) -> StdioServerParameters:
    # stdio_client passes only a few variables to the child: hand it the settings explicitly.
    keep = ("MLOPS_MCP_", "PATH", "HOME", "LANG", "OPENBLAS")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env["MLOPS_MCP_HOME"] = str(home)
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "serve", "--profile", "all"], env=env
    )


class Story:
    def __init__(self, client: Client, home: Path) -> None:
        self.client = client
        self.home = home
        self.workspace = home / "workspace"
        self.steps: list[Step] = []
        self.state: dict[str, Any] = {}

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            text = "".join(getattr(c, "text", "") for c in result.content)
            raise StepFailed(f"{tool}: {text[:200]}")
        return dict(result.structured_content or {})

    def ok(self, name: str, detail: str, passed: bool = True) -> None:
        self.steps.append((name, passed, detail))
        if not passed:
            raise StepFailed(f"{name}: {detail}")

    # -- the chain ------------------------------------------------------------------------------

    async def data(self) -> None:
        import numpy as np
        import pandas as pd
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
        frame.columns = [c.replace(" ", "_") for c in frame.columns]
        self.workspace.mkdir(parents=True, exist_ok=True)
        frame.to_csv(self.workspace / "reference.csv", index=False)
        rng = np.random.default_rng(5)  # deterministic faults: nulls, out-of-range values, bad labels, dupes
        raw = frame.copy()
        raw.loc[rng.choice(len(raw), 12, replace=False), "mean_radius"] = np.nan
        raw.loc[rng.choice(len(raw), 5, replace=False), "mean_area"] = 99_999.0
        raw.loc[rng.choice(len(raw), 3, replace=False), "target"] = 7
        raw = pd.concat([raw, raw.iloc[:4]], ignore_index=True)
        raw.to_csv(self.workspace / "raw.csv", index=False)
        suite = await self.call(
            "validation_suggest_suite", {"dataset": "reference.csv", "name": SUITE, "save": True}
        )
        self.ok("suggested suite", f"{suite['saved']['ref']} from the clean reference data")
        run = await self.call(
            "validation_run", {"dataset": "raw.csv", "suite": SUITE, "include_samples": False}
        )
        self.ok(
            "faults found",
            f"raw batch fails {run['failed']} of {run['evaluated']} expectations",
            not run["success"],
        )
        before = await self.call("quality_score", {"dataset": "raw.csv", "suite": SUITE})
        cleaned = await self.call(
            "quality_clean",
            {"dataset": "raw.csv", "plan": CLEAN_PLAN, "output": "clean.parquet", "suite": SUITE},
        )
        self.ok(
            "cleaned",
            f"{cleaned['rows_before']} -> {cleaned['rows_after']} rows (duplicates, outliers, nulls)",
        )
        rerun = await self.call("validation_run", {"dataset": "clean.parquet", "suite": SUITE})
        self.ok("re-validated", f"clean data passes {rerun['evaluated']} expectations", rerun["success"])
        after = await self.call(
            "quality_score", {"dataset": "clean.parquet", "suite": SUITE, "threshold": 95}
        )
        self.ok(
            "quality score",
            f"overall {before['overall']:.2f} -> {after['overall']:.2f}",
            bool(after["passed"]),
        )

    async def lake(self) -> None:
        written = await self.call(
            "lake_write", {"source": "clean.parquet", "dataset": "breast_cancer", "zone": "curated"}
        )
        entry = await self.call("catalog_get", {"dataset": "breast_cancer"})
        self.ok(
            "lake + catalog",
            f"breast_cancer v{written['version']} ({written['rows']} rows), catalogued with "
            f"{len(entry.get('versions') or [])} version(s)",
        )

    async def features(self) -> None:
        import pandas as pd

        frame = pd.read_parquet(self.workspace / "clean.parquet")
        exams = frame[["mean_radius", "mean_texture", "mean_area"]].copy()
        exams.insert(0, "patient_id", range(1, len(exams) + 1))
        exams["exam_time"] = pd.Timestamp("2026-01-01", tz="UTC")
        exams.to_parquet(self.workspace / "exams.parquet", index=False)
        (self.workspace / "features.yaml").write_text(FEATURES)
        await self.call("features_apply", {"definitions": "features.yaml"})
        await self.call(
            "features_materialize", {"start": "2025-12-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}
        )
        online = await self.call(
            "features_get_online",
            {
                "features": ["exam_features:mean_radius"],
                "entity_rows": [{"patient_id": 1}, {"patient_id": 2}],
            },
        )
        rows = online.get("rows", [])
        self.ok("features", f"exam_features applied and materialized; online read of {len(rows)} patients")

    async def models(self) -> None:
        compare = await self.call(
            "evaluation_compare_models",
            {
                "dataset": "clean.parquet",
                "target": "target",
                "candidates": [
                    {"estimator": "KNeighborsClassifier", "params": {"n_neighbors": 1}},
                    {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}},
                ],
                "metric": "roc_auc",
                "cv": {"strategy": "repeated", "n_splits": 5, "n_repeats": 2, "random_state": 0},
            },
        )
        means = ", ".join(f"{c['name']} {c['reported_mean']:.4f}" for c in compare["candidates"])
        self.ok("two models compared", f"ROC AUC {means}; p={compare['p_value']:.3g}")
        versions = []
        for estimator, params, name in (
            ("KNeighborsClassifier", {"n_neighbors": 1}, "cancer-knn"),
            ("LogisticRegression", {"solver": "liblinear"}, "cancer-logreg"),
        ):
            run = await self.call(
                "evaluation_train_model",
                {
                    "dataset": "clean.parquet",
                    "target": "target",
                    "estimator": estimator,
                    "params": params,
                    "name": name,
                },
            )
            reg = await self.call("registry_register_model", {"name": MODEL, "source": run["run_id"]})
            versions.append(str(reg["version"]))
        self.state["current"], self.state["candidate"] = versions
        await self.call(
            "registry_set_alias",
            {"name": MODEL, "alias": "champion", "version": versions[0], "reason": "the model in production"},
        )
        self.ok(
            "registered", f"{MODEL} v{versions[0]} (1-NN, champion) and v{versions[1]} (logistic regression)"
        )
        onnx = await self.call("onnx_convert", {"name": MODEL, "version": versions[1]})
        parity = onnx["parity"]
        self.ok(
            "ONNX",
            f"v{versions[1]} converted, parity on {parity['rows']} rows: max |diff| {parity['max_abs_diff']:.2g}",
        )

    async def serve(self) -> None:
        gateway = await self.call("deploy_gateway_start", {"port": 0})
        await self.call(
            "deploy_create_endpoint", {"endpoint": ENDPOINT, "model": MODEL, "version": self.state["current"]}
        )
        self.ok("gateway", f"{ENDPOINT} serves v{self.state['current']} at {gateway['url']}")
        started = await self.call(
            "workflow_promote",
            {
                "model": MODEL,
                "candidate_version": self.state["candidate"],
                "dataset": "clean.parquet",
                "target": "target",
                "endpoint": ENDPOINT,
                "traffic": "replay",
                "gates": {
                    "data": {"suite": SUITE, "min_quality": 95},
                    "comparison": {"metric": "roc_auc", "n_folds": 5},
                    "canary": {"steps": [25, 100], "step_seconds": 1, "min_requests": 10, "max_p99_ms": 2000},
                },
            },
        )
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            status = await self.call("workflow_status", {"workflow_id": started["workflow_id"]})
            if status["state"] != "running":
                break
            await anyio.sleep(0.5)
        gates = ", ".join(f"{g['gate']} {g['state']}" for g in status.get("gates", []))
        self.ok(
            "canary to 100% (workflow_promote)",
            f"{status.get('state')}: {gates}",
            status.get("state") == "succeeded",
        )
        import pandas as pd

        rows = pd.read_parquet(self.workspace / "clean.parquet").drop(columns="target").head(3)
        out = await self.call(
            "deploy_predict", {"endpoint": ENDPOINT, "rows": rows.to_dict(orient="records")}
        )
        preds = [p["prediction"] for p in out["predictions"]]
        served = sorted({str(p["version"]) for p in out["predictions"]})
        self.ok("prediction", f"{preds} served by v{', v'.join(served)}", served == [self.state["candidate"]])
        # The hand rollback: traffic goes back at once (the old version stayed loaded); the alias does not
        # move (registry_rollback would move it).
        # confirm: true is how a client that cannot ask its user (no elicitation) confirms (core/confirm.py).
        await self.call(
            "deploy_rollback", {"endpoint": ENDPOINT, "reason": "demo: roll back by hand", "confirm": True}
        )
        back = await self.call(
            "deploy_predict", {"endpoint": ENDPOINT, "rows": rows.to_dict(orient="records")}
        )
        served = sorted({str(p["version"]) for p in back["predictions"]})
        self.ok(
            "rolled back by hand (deploy_rollback)",
            f"{ENDPOINT} serves v{', v'.join(served)} again; champion alias unchanged",
            served == [self.state["current"]],
        )

    async def lineage(self) -> None:
        graph = await self.call(
            "lineage_get", {"entity": f"endpoint:{ENDPOINT}", "direction": "upstream", "depth": 10}
        )
        nodes = [n["id"] for n in graph.get("nodes", [])]
        raw = [n for n in nodes if n.startswith("dataset:") and "raw.csv" in n]
        self.ok(
            "lineage", f"{len(nodes)} upstream nodes from endpoint:{ENDPOINT}, back to {raw[:1]}", bool(raw)
        )

    async def backup(self) -> None:
        created = await self.call("backup_create", {"scope": ["all"]})
        verified = await self.call("backup_verify", {"id": created["id"]})
        self.ok(
            "backup",
            f"{created['id']}: {created['members']} files, verified={verified['ok']}",
            bool(verified["ok"]),
        )


CHAPTERS: tuple[Callable[[Story], Awaitable[None]], ...] = (
    Story.data,
    Story.lake,
    Story.features,
    Story.models,
    Story.serve,
    Story.lineage,
    Story.backup,
)


async def walk(client: Client, home: Path) -> list[Step]:
    """Run the chain on a connected client; stops at the first failing step (later ones need it)."""
    story = Story(client, home)
    info = await story.call("server_info", {})
    health = await story.call("health_check", {})
    story.ok("server", f"v{info['version']}, {len(info['enabled_areas'])} areas, health {health['status']}")
    try:
        for chapter in CHAPTERS:
            await chapter(story)
    except StepFailed as failed:
        if not story.steps or story.steps[-1][1]:
            story.steps.append((chapter.__name__, False, str(failed)))
    finally:
        with contextlib.suppress(Exception):  # the summary matters more than a failed stop
            await client.call_tool("deploy_gateway_stop", {})
    return story.steps


async def _walk(home: Path) -> list[Step]:
    home.mkdir(parents=True, exist_ok=True)
    # The server's stderr (its logs, and whatever libraries print) goes to a file, not over the summary.
    with open(home / "server.log", "w") as errlog:
        return await _spawned(home, errlog)


async def _spawned(home: Path, errlog: TextIO) -> list[Step]:
    async with Client(stdio_client(_server_params(home), errlog=errlog), mode="legacy") as client:
        return await walk(client, home)


def main(home: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="mlops-mcp-demo-") as tmp:
        where = home or Path(tmp)
        print(f"mlops-mcp demo: spawning `mlops-mcp serve` over stdio (home {where})")
        started = time.perf_counter()
        results = anyio.run(_walk, where)
        width = max(len(name) for name, _, _ in results)
        for name, ok, detail in results:
            print(f"  [{'ok' if ok else 'FAIL'}] {name:<{width}}  {detail}")
        failed = [name for name, ok, _ in results if not ok]
        verdict = "all steps passed" if not failed else f"{len(failed)} step(s) failed"
        print(f"demo finished in {time.perf_counter() - started:.1f}s: {verdict}")
        print(
            f"Look at: {where}/server.log (the server's log), {where}/reports (HTML reports, plots, model "
            f"cards), {where}/backups (the archive)"
            + ("" if home else "; pass --home DIR to keep them (this temporary home is removed now)")
        )
    return 1 if failed else 0
