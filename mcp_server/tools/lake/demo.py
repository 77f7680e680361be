"""Demo step for the lake, catalog and lineage areas: write, read with a filter, describe, trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Step = tuple[str, bool, str]


async def demo_step(client: Any, workspace: Path) -> list[Step]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    workspace.mkdir(parents=True, exist_ok=True)
    frame.to_csv(workspace / "breast_cancer.csv", index=False)
    results: list[Step] = []

    write = await client.call_tool(
        "lake_write", {"source": "breast_cancer.csv", "dataset": "breast_cancer", "partition_by": ["target"]}
    )
    w = write.structured_content or {}
    results.append(
        ("lake_write", not write.is_error, f"v{w.get('version')} {w.get('rows')} rows at {w.get('location')}")
    )

    filters = [["target", "==", 1], ["mean_radius", ">=", 15]]
    read = await client.call_tool(
        "lake_read", {"dataset": "breast_cancer", "filters": filters, "columns": ["mean_radius"]}
    )
    r = read.structured_content or {}
    expected = int(((frame["target"] == 1) & (frame["mean_radius"] >= 15)).sum())
    results.append(
        (
            "lake_read (filter push-down)",
            not read.is_error and r.get("matched_rows") == expected,
            f"matched_rows {r.get('matched_rows')} (pandas: {expected})",
        )
    )

    narrow = frame.drop(columns=["mean_radius"])
    narrow.to_csv(workspace / "breast_cancer_v2.csv", index=False)
    refused = await client.call_tool(
        "lake_write", {"source": "breast_cancer_v2.csv", "dataset": "breast_cancer"}
    )
    text = getattr(refused.content[0], "text", "") if refused.content else ""
    results.append(("breaking schema change -> isError", bool(refused.is_error), text[:70]))

    got = await client.call_tool("catalog_get", {"dataset": "breast_cancer"})
    g = got.structured_content or {}
    versions = g.get("versions") or [{}]
    results.append(
        (
            "catalog_get",
            not got.is_error,
            f"{g.get('total_versions')} version(s), {len(versions[0].get('columns', []))} columns",
        )
    )

    graph = await client.call_tool(
        "lineage_get", {"entity": "dataset:breast_cancer", "direction": "upstream"}
    )
    lg = graph.structured_content or {}
    results.append(
        (
            "lineage_get",
            not graph.is_error and lg.get("edge_count") == 1,
            f"{lg.get('edge_count')} edge(s) from the CSV",
        )
    )
    return results
