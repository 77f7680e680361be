"""Cross-validation overhead: `evaluation_cross_validate` through an MCP client vs scikit-learn directly.

5-fold CV of HistGradientBoostingClassifier on a generated 200,000-row, 20-feature dataset. The tool
reads the table from Parquet, checks it, runs the folds (two worker processes on large data) and
returns per-fold scores; the baseline is `cross_validate` on the same arrays with the same KFold(5)
folds, in the same run (also reported: the same call with n_jobs=2). Both must give identical fold
scores. Prints one JSON line.
Target (issue 6): ratio <= 1.10.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROWS, FEATURES, FOLDS = 200_000, 20, 5


async def main() -> None:
    import numpy as np
    import pandas as pd
    from mcp import Client
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import KFold, cross_validate

    from mcp_server.core.app import create_server
    from mcp_server.core.config import Settings

    X, y = make_classification(ROWS, FEATURES, n_informative=10, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(FEATURES)]).assign(label=y)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home", profile="all")
        settings.workspace_dir.mkdir(parents=True)
        frame.to_parquet(settings.workspace_dir / "big.parquet", index=False)
        Xf, yf = frame.drop(columns="label"), frame["label"]

        started = time.perf_counter()
        direct = cross_validate(
            HistGradientBoostingClassifier(random_state=0), Xf, yf, cv=KFold(FOLDS), scoring="accuracy"
        )
        baseline = time.perf_counter() - started
        # Context: the same cross_validate with two worker processes (the tool's own parallelism on big
        # data), so the tool's overhead over an equally parallel direct call is visible too.
        started = time.perf_counter()
        cross_validate(
            HistGradientBoostingClassifier(random_state=0),
            Xf,
            yf,
            cv=KFold(FOLDS),
            scoring="accuracy",
            n_jobs=2,
        )
        baseline_parallel = time.perf_counter() - started

        server = create_server(settings)
        async with Client(server, mode="legacy") as client:
            started = time.perf_counter()
            result = await client.call_tool(
                "evaluation_cross_validate",
                {
                    "dataset": "big.parquet",
                    "target": "label",
                    "estimator": "HistGradientBoostingClassifier",
                    "params": {"random_state": 0},
                    "metrics": ["accuracy"],
                    "cv": {"strategy": "kfold", "n_splits": FOLDS},
                },
            )
            value = time.perf_counter() - started
        server.app.close()
        assert not result.is_error, result.content
        sc = result.structured_content or {}
        tool_scores = sc["metrics"][0]["fold_scores"]
        same = bool(np.allclose(tool_scores, direct["test_score"], rtol=0, atol=1e-12))
    print(
        json.dumps(
            {
                "figure": "cross_validation_overhead",
                "value": round(value, 3),
                "baseline": round(baseline, 3),
                "ratio": round(value / baseline, 3),
                "unit": "s",
                "rows": ROWS,
                "features": FEATURES,
                "folds": FOLDS,
                "tool_n_jobs": sc.get("n_jobs"),
                "baseline_n_jobs_2": round(baseline_parallel, 3),
                "ratio_vs_n_jobs_2": round(value / baseline_parallel, 3),
                "same_fold_scores": same,
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "targets": {"ratio_max": 1.10},
            }
        )
    )


if __name__ == "__main__":
    anyio.run(main)
