"""`make demo` step of the features area: generated customer events -> definitions file -> apply ->
materialize -> online read, checked against the latest event per customer computed with pandas here.

Runs in the demo's client process; every Feast call happens in the spawned server through MCP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Step = tuple[str, bool, str]

DEFINITIONS = """\
project: demo
entities:
  - name: customer
    join_keys: [customer_id]
    value_type: int64
sources:
  - name: customer_events
    path: features_demo/customer_events.parquet
    timestamp_field: event_time
feature_views:
  - name: customer_activity
    entities: [customer]
    source: customer_events
    ttl: 30d
    schema: {orders_7d: int64, spend_7d: float64, segment: string}
feature_services:
  - name: churn_model_v1
    features: [customer_activity]
"""


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)[:100]


async def demo_step(client: Any, workspace: Path) -> list[Step]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(14)
    n = 2_000
    events = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 101, n).astype("int64"),
            "event_time": pd.Timestamp("2024-03-01", tz="UTC")
            + pd.to_timedelta(rng.permutation(n) * 17, unit="min"),
            "orders_7d": rng.poisson(3, n).astype("int64"),
            "spend_7d": rng.gamma(2.0, 40.0, n).round(2),
            "segment": rng.choice(["new", "loyal", "at_risk"], n),
        }
    )
    folder = workspace / "features_demo"
    folder.mkdir(parents=True, exist_ok=True)
    events.to_parquet(folder / "customer_events.parquet", index=False)
    (folder / "features.yaml").write_text(DEFINITIONS)

    applied = await client.call_tool("features_apply", {"definitions": "features_demo/features.yaml"})
    if applied.is_error:
        return [("features apply + materialize + online", False, _text(applied))]
    mat = await client.call_tool(
        "features_materialize", {"start": "2024-02-01T00:00:00Z", "end": "2024-05-01T00:00:00Z"}
    )
    if mat.is_error:
        return [("features apply + materialize + online", False, _text(mat))]
    ids = [1, 2, 3, 50, 100]
    online = await client.call_tool(
        "features_get_online",
        {"feature_service": "churn_model_v1", "entity_rows": [{"customer_id": i} for i in ids]},
    )
    if online.is_error:
        return [("features apply + materialize + online", False, _text(online))]
    rows = (online.structured_content or {}).get("rows", [])
    want = events.sort_values("event_time").groupby("customer_id").last()
    ok = len(rows) == len(ids) and all(
        r["orders_7d"] == int(want.loc[r["customer_id"], "orders_7d"])
        and abs(r["spend_7d"] - float(want.loc[r["customer_id"], "spend_7d"])) < 1e-9
        and r["segment"] == want.loc[r["customer_id"], "segment"]
        for r in rows
    )
    version = (applied.structured_content or {}).get("version", "")[:12]
    seconds = (mat.structured_content or {}).get("seconds", 0.0)
    detail = (
        f"{n} events -> view customer_activity (version {version}), materialized in {seconds:.2f}s, "
        f"{len(rows)} customers read online {'= pandas latest' if ok else '!= pandas latest'}"
    )
    return [("features apply + materialize + online", ok, detail)]
