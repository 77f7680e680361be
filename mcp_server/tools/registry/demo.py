"""Demo step: register the better of two breast-cancer models, make it champion, convert it to ONNX, show its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL = "demo-breast-cancer"
CANDIDATES = [
    ("demo-bc-logreg", "LogisticRegression", {"solver": "liblinear"}),
    ("demo-bc-forest", "RandomForestClassifier", {"n_estimators": 30, "random_state": 0}),
]


def _text(result: Any) -> str:
    return getattr(result.content[0], "text", "")[:100] if result.content else ""


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    from sklearn.datasets import load_breast_cancer

    steps: list[tuple[str, bool, str]] = []
    workspace.mkdir(parents=True, exist_ok=True)
    if not (workspace / "breast_cancer.csv").exists():
        load_breast_cancer(as_frame=True).frame.to_csv(workspace / "breast_cancer.csv", index=False)
    versions: dict[str, str] = {}
    for run_name, estimator, params in CANDIDATES:
        trained = await client.call_tool(
            "evaluation_train_model",
            {
                "dataset": "breast_cancer.csv",
                "target": "target",
                "estimator": estimator,
                "params": params,
                "name": run_name,
            },
        )
        if trained.is_error:
            return [("evaluation_train_model", False, _text(trained))]
        reg = await client.call_tool(
            "registry_register_model",
            {
                "name": MODEL,
                "source": run_name,
                "description": "Flags malignant tumours (breast-cancer data)",
            },
        )
        if reg.is_error:
            return [("registry_register_model", False, _text(reg))]
        versions[estimator] = reg.structured_content["version"]
    a, b = versions["LogisticRegression"], versions["RandomForestClassifier"]
    cmp = await client.call_tool(
        "registry_compare_versions", {"name": MODEL, "a": a, "b": b, "metric": "roc_auc"}
    )
    sc: dict[str, Any] = cmp.structured_content or {}
    best = sc.get("better") or b
    metric = {m["key"]: m for m in sc.get("metrics", [])}.get("test_roc_auc", {})
    steps.append(
        (
            "registry_compare_versions",
            not cmp.is_error,
            f"held-out ROC AUC v{a} {metric.get('a', 0):.4f} vs v{b} {metric.get('b', 0):.4f}: v{best} is better",
        )
    )
    alias = await client.call_tool(
        "registry_set_alias",
        {"name": MODEL, "alias": "champion", "version": best, "reason": "better held-out ROC AUC"},
    )
    steps.append(("registry_set_alias", not alias.is_error, f"champion -> v{best}"))
    conv = await client.call_tool("onnx_convert", {"name": MODEL, "version": best})
    cv: dict[str, Any] = conv.structured_content or {}
    parity = cv.get("parity", {})
    steps.append(
        (
            "onnx_convert",
            not conv.is_error and bool(parity.get("passed")),
            f"opset {cv.get('opset')}, parity on {parity.get('rows')} rows: max |diff| "
            f"{parity.get('max_abs_diff', 0):.2g}, labels agree {parity.get('label_agreement', 0):.0%}"
            if not conv.is_error
            else _text(conv),
        )
    )
    card = await client.call_tool("registry_model_card", {"name": MODEL, "version": best})
    uri = (card.structured_content or {}).get("card", "")
    ok = not card.is_error
    detail = _text(card)
    if ok:
        import base64

        content = (await client.read_resource(uri)).contents[0]
        blob = getattr(content, "blob", None)
        text = base64.b64decode(blob).decode() if blob else str(getattr(content, "text", "") or "")
        ok = "## Metrics" in text and "## Lineage" in text
        detail = f"{uri} ({len(text.splitlines())} lines: purpose, data, metrics, comparisons, lineage)"
    steps.append(("registry_model_card", ok, detail))
    return steps
