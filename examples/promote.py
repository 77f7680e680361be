"""workflow_promote stops a worse candidate at the comparison gate, and nothing changes.

Run: .venv/bin/python examples/promote.py [HOME]   (after `make demo` has installed the venv)

It spawns `mlops-mcp serve` over stdio like any MCP client would, trains two models on scikit-learn's
breast-cancer data, makes the better one champion, then asks workflow_promote to promote the worse one.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise SystemExit(f"{tool} failed: {result.content[0].text}")  # type: ignore[union-attr]
    return dict(result.structured_content or {})


async def main(home: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    (home / "workspace").mkdir(parents=True, exist_ok=True)
    load_breast_cancer(as_frame=True).frame.to_csv(home / "workspace" / "cancer.csv", index=False)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env["MLOPS_MCP_HOME"] = str(home)
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "serve", "--profile", "all"], env=env
    )
    async with Client(server, mode="legacy") as client:
        versions = {}
        for label, estimator, params in (
            ("good", "LogisticRegression", {"solver": "liblinear"}),
            ("worse", "KNeighborsClassifier", {"n_neighbors": 1}),
        ):
            run = await call(
                client,
                "evaluation_train_model",
                {"dataset": "cancer.csv", "target": "target", "estimator": estimator, "params": params},
            )
            reg = await call(client, "registry_register_model", {"name": "cancer", "source": run["run_id"]})
            versions[label] = reg["version"]
        await call(
            client, "registry_set_alias", {"name": "cancer", "alias": "champion", "version": versions["good"]}
        )
        started = await call(
            client,
            "workflow_promote",
            {
                "model": "cancer",
                "candidate_version": versions["worse"],
                "dataset": "cancer.csv",
                "target": "target",
                "gates": {"data": None, "comparison": {"metric": "roc_auc"}, "canary": None},
            },
        )
        print(f"workflow {started['workflow_id']} started")
        while True:
            status = await call(client, "workflow_status", {"workflow_id": started["workflow_id"]})
            if status["state"] != "running":
                break
            await anyio.sleep(0.5)
        for gate in status["gates"]:
            print(f"  {gate['gate']:<12} {gate['state']:<8} {gate['summary'] or ''}")
        print(f"{status['state']}: {status['reason']}")
        champion = await call(client, "registry_get_version", {"name": "cancer", "alias": "champion"})
        print(f"champion is still version {champion['version']}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        anyio.run(main, Path(sys.argv[1]).resolve())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            anyio.run(main, Path(tmp))
