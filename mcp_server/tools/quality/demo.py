"""`make demo` step of the quality area: score faulted breast-cancer data, clean it, re-validate, score again.

Runs in the demo's client process (pandas and scikit-learn are fine here); every step goes through the
MCP client to the spawned server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Step = tuple[str, bool, str]
SUITE = "quality_breast_cancer"
PLAN = {
    "duplicates": {},
    "outliers": {"columns": ["mean_area", "target"], "method": "zscore", "action": "drop"},
    "missing": [{"strategy": "median", "columns": ["mean_radius"]}],
}


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)[:100]


def _dims(sc: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in sc.items() if v is not None)


async def demo_step(client: Any, workspace: Path) -> list[Step]:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    steps: list[Step] = []
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    workspace.mkdir(parents=True, exist_ok=True)
    frame.to_csv(workspace / "qbc.csv", index=False)
    # Deterministic faults: nulls, out-of-range values, an invalid label, duplicated rows.
    rng = np.random.default_rng(5)
    bad = frame.copy()
    bad.loc[rng.choice(len(bad), 12, replace=False), "mean_radius"] = np.nan
    bad.loc[rng.choice(len(bad), 5, replace=False), "mean_area"] = 99_999.0
    bad.loc[rng.choice(len(bad), 3, replace=False), "target"] = 7
    bad = pd.concat([bad, bad.iloc[:4]], ignore_index=True)
    bad.to_csv(workspace / "qbc_faulted.csv", index=False)

    sug = await client.call_tool(
        "validation_suggest_suite", {"dataset": "qbc.csv", "name": SUITE, "save": True}
    )
    steps.append(
        ("quality: suite from clean data", not sug.is_error, _text(sug) if sug.is_error else f"{SUITE} saved")
    )
    if sug.is_error:
        return steps

    before = await client.call_tool("quality_score", {"dataset": "qbc_faulted.csv", "suite": SUITE})
    b: dict[str, Any] = before.structured_content or {}
    b_dims = {d["name"]: d["score"] for d in b.get("dimensions", [])}
    steps.append(
        (
            "quality_score (faulted)",
            not before.is_error and (b.get("overall") or 100) < 100,
            f"overall {b.get('overall', 0):.2f}: {_dims(b_dims)}" if not before.is_error else _text(before),
        )
    )

    cleaned = await client.call_tool(
        "quality_clean",
        {"dataset": "qbc_faulted.csv", "plan": PLAN, "output": "qbc_clean.parquet", "suite": SUITE},
    )
    c: dict[str, Any] = cleaned.structured_content or {}
    steps.append(
        (
            "quality_clean",
            not cleaned.is_error and c.get("improved") is True,
            f"{c.get('rows_before')} -> {c.get('rows_after')} rows, "
            + "; ".join(s["detail"] for s in c.get("steps", []))
            if not cleaned.is_error
            else _text(cleaned),
        )
    )
    if cleaned.is_error:
        return steps

    run = await client.call_tool("validation_run", {"dataset": "qbc_clean.parquet", "suite": SUITE})
    r: dict[str, Any] = run.structured_content or {}
    steps.append(
        (
            "validation_run (cleaned)",
            not run.is_error and r.get("success") is True,
            f"{r.get('evaluated')} expectations, {r.get('failed')} failed"
            if not run.is_error
            else _text(run),
        )
    )

    after = await client.call_tool("quality_score", {"dataset": "qbc_clean.parquet", "suite": SUITE})
    a: dict[str, Any] = after.structured_content or {}
    ok = not after.is_error and (a.get("overall") or 0) > (b.get("overall") or 100)
    steps.append(
        (
            "quality_score (cleaned)",
            ok,
            f"overall {b.get('overall', 0):.2f} -> {a.get('overall', 0):.2f}"
            if not after.is_error
            else _text(after),
        )
    )
    return steps
