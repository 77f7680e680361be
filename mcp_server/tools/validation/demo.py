"""`make demo` step of the validation area: breast-cancer data, a suggested suite, injected faults, failures.

Runs in the demo's client process (pandas and scikit-learn are fine here); every check goes through the
MCP client to the spawned server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Step = tuple[str, bool, str]


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)[:100]


async def demo_step(client: Any, workspace: Path) -> list[Step]:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    steps: list[Step] = []
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    workspace.mkdir(parents=True, exist_ok=True)
    frame.to_csv(workspace / "breast_cancer.csv", index=False)

    sug = await client.call_tool(
        "validation_suggest_suite", {"dataset": "breast_cancer.csv", "name": "breast_cancer", "save": True}
    )
    sc: dict[str, Any] = sug.structured_content or {}
    saved = (sc.get("saved") or {}).get("ref")
    steps.append(
        (
            "validation suggest + save",
            not sug.is_error and bool(saved),
            f"{sc.get('expectation_count')} GX expectations for {sc.get('column_count')} columns saved as {saved}"
            if not sug.is_error
            else _text(sug),
        )
    )
    if sug.is_error:
        return steps

    # Faults: nulls, out-of-range values, duplicated rows.
    rng = np.random.default_rng(0)
    bad = frame.copy()
    bad.loc[rng.choice(len(bad), 12, replace=False), "mean_radius"] = np.nan
    bad.loc[rng.choice(len(bad), 5, replace=False), "mean_area"] = 99_999.0
    bad.loc[rng.choice(len(bad), 3, replace=False), "target"] = 7
    bad = pd.concat([bad, bad.iloc[:4]], ignore_index=True)
    bad.to_csv(workspace / "breast_cancer_faulted.csv", index=False)

    clean = await client.call_tool(
        "validation_run", {"dataset": "breast_cancer.csv", "suite": "breast_cancer"}
    )
    cc: dict[str, Any] = clean.structured_content or {}
    steps.append(
        (
            "validation run (clean data)",
            not clean.is_error and cc.get("success") is True,
            f"passed: {cc.get('evaluated')} expectations on {cc.get('row_count')} rows"
            if not clean.is_error
            else _text(clean),
        )
    )
    faulted = await client.call_tool(
        "validation_run", {"dataset": "breast_cancer_faulted.csv", "suite": "breast_cancer"}
    )
    fc: dict[str, Any] = faulted.structured_content or {}
    failures = [r for r in fc.get("results", []) if not r["success"]]
    steps.append(
        (
            "validation run (faulted copy)",
            not faulted.is_error and fc.get("success") is False and len(failures) >= 3,
            f"failed as expected: {fc.get('failed')} of {fc.get('evaluated')} expectations, report {fc.get('report_uri')}"
            if not faulted.is_error
            else _text(faulted),
        )
    )
    for i, r in enumerate(failures, 1):
        column = str(r.get("column") or "")
        column = f" on {column[:40]}{'...' if len(column) > 40 else ''}" if column else ""
        scalars = [v for v in r.get("sample") or [] if not isinstance(v, dict | list)]
        sample = f", e.g. {scalars[:3]}" if scalars else ""
        steps.append(
            (
                f"  failure {i}",
                True,
                f"{r['type']}{column}: {r.get('unexpected_count')} unexpected "
                f"({r.get('unexpected_percent') or 0:.2g}%){sample}",
            )
        )
    return steps
