"""Demo step: which of two models is better on breast-cancer data, and does the difference matter?"""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    from sklearn.datasets import load_breast_cancer

    workspace.mkdir(parents=True, exist_ok=True)
    load_breast_cancer(as_frame=True).frame.to_csv(workspace / "breast_cancer.csv", index=False)
    result = await client.call_tool(
        "evaluation_compare_models",
        {
            "dataset": "breast_cancer.csv",
            "target": "target",
            "candidates": [
                {"estimator": "LogisticRegression", "params": {"solver": "liblinear"}},
                {"estimator": "RandomForestClassifier", "params": {"n_estimators": 30, "random_state": 0}},
            ],
            "metric": "roc_auc",
        },
    )
    sc: dict[str, Any] = result.structured_content or {}
    if result.is_error or not sc:
        text = getattr(result.content[0], "text", "") if result.content else ""
        return [("evaluation_compare_models", False, text[:100])]
    means = ", ".join(f"{c['name']} {c['reported_mean']:.4f}" for c in sc["candidates"])
    matters = "a significant difference" if sc["significant"] else "not a significant difference"
    detail = (
        f"best {sc['best']} by ROC AUC ({means}; {sc['cv']['n_folds']} folds): corrected t-test "
        f"p={sc['p_value']:.3g}, {matters}"
    )
    return [("evaluation_compare_models (breast cancer)", True, detail)]
