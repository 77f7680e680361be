"""Demo step of the ab area: design and create a conversion experiment, record generated data, analyse it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NAME = "demo-checkout-button"


async def demo_step(client: Any, workspace: Path) -> list[tuple[str, bool, str]]:
    import numpy as np

    results: list[tuple[str, bool, str]] = []
    design = await client.call_tool("ab_design", {"metric_type": "proportion", "baseline": 0.10, "mde": 0.02})
    d: dict[str, Any] = design.structured_content or {}
    results.append(("ab_design", not design.is_error, f"{d.get('per_arm')} units per arm for 10% -> 12%"))

    created = await client.call_tool(
        "ab_create",
        {
            "name": NAME,
            "variants": ["control", "green_button"],
            "control": "control",
            "metric": "checkout_conversion",
            "baseline": 0.10,
            "mde": 0.02,
        },
    )
    results.append(
        (
            "ab_create",
            not created.is_error,
            f"'{NAME}', sample size {(created.structured_content or {}).get('sample_size')}",
        )
    )

    # Generated conversions (fixed seed): the green button really converts at 12.5% vs 10%.
    rng = np.random.default_rng(2024)
    per_arm = int((d.get("per_arm") or [4000])[0])
    ok = not created.is_error
    for variant, rate in (("control", 0.10), ("green_button", 0.125)):
        units = (rng.random(per_arm) < rate).astype(int)
        for i, chunk in enumerate(np.array_split(units, 4)):
            rec = await client.call_tool(
                "ab_record",
                {
                    "name": NAME,
                    "variant": variant,
                    "observations": chunk.tolist(),
                    "idempotency_key": f"{variant}-batch-{i}",
                },
            )
            ok = ok and not rec.is_error
    results.append(("ab_record", ok, f"{per_arm:,} generated visitors per arm in 4 batches"))

    analysis = await client.call_tool("ab_analyze", {"name": NAME})
    a: dict[str, Any] = analysis.structured_content or {}
    cmp = (a.get("comparisons") or [{}])[0]
    p = cmp.get("p_value")
    detail = f"{a.get('verdict')} | p={p:.3g}" if isinstance(p, float) else str(a.get("verdict"))
    results.append(("ab_analyze", not analysis.is_error and a.get("decision") == "ship", detail))
    return results
