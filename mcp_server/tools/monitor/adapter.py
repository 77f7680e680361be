"""The monitor area's library work: Apache DataSketches (KLL and frequent items), numpy and scikit-learn.

- reference sketch sets over a training table (with the exact percentiles and decile histogram that
  quality_compare's PSI uses, so a drift against the reference bins exactly as quality_compare does);
- merging the packed sketch sets of several windows and replicas;
- PSI and the Kolmogorov-Smirnov distance between two merged sketches;
- accuracy/F1/ROC AUC or RMSE/MAE of joined prediction/outcome pairs.

PSI follows quality_compare (tools/quality/adapter.py): bins at the baseline's deciles (distinct inner
edges, open at both ends, right-closed), proportions floored at 1e-4, PSI = sum((cur - base) ln(cur/base));
categories for text columns. The served side's proportions come from its KLL sketch's CDF at the edges.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp_server.gateway.monitoring import FREQ, FREQ_LG_K, INPUT, KLL, OUTPUT, Entry, pack, unpack

if TYPE_CHECKING:
    import pandas as pd

    from mcp_server.core.twin import OnnxTwin

PSI_EPS = 1e-4  # as quality_compare
PERCENTILES = 101
MAX_COUNTS = 1000  # exact category counts kept in a reference
REFERENCE_PREDICT_ROWS = 50_000  # training rows run through the twin for the reference predictions
METHOD = (
    "Sketches: Apache DataSketches KLL (numeric, k={k}) and frequent items (categories). PSI over the "
    "reference's deciles (right-closed bins, proportions floored at 1e-4, as quality_compare) with the served "
    "proportions from the KLL CDF; KS = max |CDF_baseline - CDF_served| over both sketches' retained values."
)


@dataclass
class Merged:
    name: str
    role: str
    kind: str
    sketch: Any
    n: int = 0
    nulls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _kll(k: int) -> Any:
    import datasketches as ds

    return ds.kll_floats_sketch(k)


def rank_error(sketch: Any) -> float:
    """The KLL sketch's normalized rank error (single-sided, 99%); 0 when it still holds every value."""
    import datasketches as ds

    if sketch.is_empty() or not sketch.is_estimation_mode():
        return 0.0
    return float(ds.kll_floats_sketch.get_normalized_rank_error(sketch.k, False))


def deciles_edges(percentiles: list[float]) -> Any:
    """quality_compare's bins: the baseline's deciles (distinct), open at both ends."""
    import numpy as np

    deciles = np.asarray(percentiles, dtype=float)[:: (PERCENTILES - 1) // 10]
    inner = np.unique(deciles[1:-1])
    return np.concatenate(([-np.inf], inner, [np.inf]))


def _hist(values: Any, edges: Any) -> Any:
    import numpy as np

    idx = np.searchsorted(edges[1:-1], values, side="left")
    return np.bincount(idx, minlength=len(edges) - 1)


def psi(expected: Any, actual: Any) -> float:
    import numpy as np

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    e = np.maximum(e / max(e.sum(), 1e-12), PSI_EPS)
    a = np.maximum(a / max(a.sum(), 1e-12), PSI_EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_entry(name: str, role: str, values: Any, k: int) -> Entry:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    finite = arr[~np.isnan(arr)]
    sketch = _kll(k)
    if len(finite):
        sketch.update(finite.astype(np.float32))
    extra: dict[str, Any] = {}
    if len(finite):
        percentiles = [float(x) for x in np.quantile(finite, np.linspace(0, 1, PERCENTILES))]
        edges = deciles_edges(percentiles)
        extra = {"percentiles": percentiles, "hist": [int(c) for c in _hist(finite, edges)]}
    return Entry(name, role, KLL, bytes(sketch.serialize()), len(finite), int(len(arr) - len(finite)), extra)


def _text_entry(name: str, role: str, values: Any) -> Entry:
    import datasketches as ds

    counts = collections.Counter(str(v) for v in values if v is not None and v == v)
    nulls = sum(1 for v in values if v is None or v != v)
    sketch = ds.frequent_strings_sketch(FREQ_LG_K)
    for value, weight in counts.items():
        sketch.update(value, weight)
    extra = {"counts": dict(counts.most_common(MAX_COUNTS))}
    return Entry(name, role, FREQ, bytes(sketch.serialize()), sum(counts.values()), nulls, extra)


def predict_frame(twin: OnnxTwin, frame: pd.DataFrame) -> list[Any]:
    """The twin's predictions on (up to REFERENCE_PREDICT_ROWS of) the training rows."""
    from mcp_server.core import twin as runtime

    session = runtime.open_session(twin, threads=1)
    part = frame[twin.columns]
    if len(part) > REFERENCE_PREDICT_ROWS:
        part = part.sample(REFERENCE_PREDICT_ROWS, random_state=0)
    rows = part.astype(object).where(part.notna(), None).to_dict("records")
    out: list[Any] = []
    for start in range(0, len(rows), 5000):
        out.extend(runtime.predict(session, twin, rows[start : start + 5000]))
    return out


def build_reference(twin: OnnxTwin, frame: pd.DataFrame, outputs: list[Any], k: int) -> bytes:
    """The reference sketch set of a version over its training rows (inputs and the model's predictions)."""
    dtypes = {c: str(spec["dtype"]) for spec in twin.spec["inputs"] for c in spec["columns"]}
    entries = []
    for col in twin.columns:
        values = frame[col]
        if dtypes.get(col) == "string":
            entries.append(_text_entry(col, INPUT, values.tolist()))
        else:
            import pandas as pd

            entries.append(_numeric_entry(col, INPUT, pd.to_numeric(values, errors="coerce").to_numpy(), k))
    if twin.task == "regression":
        entries.append(_numeric_entry("prediction", OUTPUT, outputs, k))
    else:
        from mcp_server.gateway.monitoring import _label

        entries.append(_text_entry("prediction", OUTPUT, [_label(v) for v in outputs]))
    return pack(entries, {"k": k, "rows": len(frame)})


def merge(blobs: list[bytes], k: int) -> dict[tuple[str, str], Merged]:
    """(role, name) -> the merged sketch of every packed set given (windows, replicas)."""
    import datasketches as ds

    merged: dict[tuple[str, str], Merged] = {}
    for blob in blobs:
        entries, meta = unpack(blob)
        for e in entries:
            sketch = (
                ds.kll_floats_sketch.deserialize(e.data)
                if e.kind == KLL
                else ds.frequent_strings_sketch.deserialize(e.data)
            )
            key = (e.role, e.name)
            have = merged.get(key)
            if have is None:
                if e.kind == KLL and len(blobs) > 1:
                    target = ds.kll_floats_sketch(int(meta.get("k", k)))
                    target.merge(sketch)
                    sketch = target
                merged[key] = Merged(e.name, e.role, e.kind, sketch, e.n, e.nulls, dict(e.extra))
            elif have.kind == e.kind:
                have.sketch.merge(sketch)
                have.n += e.n
                have.nulls += e.nulls
                have.extra = {}  # exact figures of one set do not hold for the merge
    return merged


def _freq_counts(m: Merged) -> dict[str, float]:
    import datasketches as ds

    if "counts" in m.extra:
        return {str(k): float(v) for k, v in m.extra["counts"].items()}
    items = m.sketch.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
    return {str(item[0]): float(item[1]) for item in items}


def compare(base: Merged, cur: Merged) -> dict[str, Any]:
    """PSI (and KS for numeric sketches) of `cur` against `base`; `error`: the CDF error bound."""
    import numpy as np

    if base.kind != cur.kind:
        return {"kind": "numeric", "psi": None, "ks": None, "error": 0.0, "note": "type changed"}
    if base.sketch.is_empty() or cur.sketch.is_empty():
        kind = "numeric" if base.kind == KLL else "categorical"
        return {"kind": kind, "psi": None, "ks": None, "error": 0.0, "note": "no values to compare"}
    if base.kind == FREQ:
        bc, cc = _freq_counts(base), _freq_counts(cur)
        cats = sorted(set(bc) | set(cc))
        if len(cats) < 2:
            return {"kind": "categorical", "psi": 0.0, "ks": None, "error": 0.0, "note": "a single category"}
        value = psi([bc.get(c, 0.0) for c in cats], [cc.get(c, 0.0) for c in cats])
        err = float(cur.sketch.epsilon) if cur.sketch.num_active_items >= 0.75 * 2**FREQ_LG_K else 0.0
        return {"kind": "categorical", "psi": value, "ks": None, "error": err}
    if "percentiles" in base.extra:
        edges = deciles_edges(base.extra["percentiles"])
        base_hist = np.asarray(base.extra["hist"], dtype=float)
    else:
        inner = np.unique(np.asarray(base.sketch.get_quantiles([i / 10 for i in range(1, 10)]), dtype=float))
        edges = np.concatenate(([-np.inf], inner, [np.inf]))
        base_hist = _sketch_hist(base.sketch, edges)
    cur_hist = _sketch_hist(cur.sketch, edges)
    points = np.unique(np.concatenate([_retained(base.sketch), _retained(cur.sketch)]))
    ks = float(
        np.max(
            np.abs(
                np.asarray(base.sketch.get_cdf(points.tolist(), True)[:-1])
                - np.asarray(cur.sketch.get_cdf(points.tolist(), True)[:-1])
            )
        )
    )
    return {
        "kind": "numeric",
        "psi": psi(base_hist, cur_hist),
        "ks": ks,
        "error": rank_error(base.sketch) + rank_error(cur.sketch),
    }


def _sketch_hist(sketch: Any, edges: Any) -> Any:
    import numpy as np

    inner = [float(x) for x in edges[1:-1]]
    if not inner:
        return np.asarray([1.0])
    cdf = np.asarray(sketch.get_cdf(inner, True), dtype=float)  # m + 1 values, the last is 1
    return np.diff(np.concatenate(([0.0], cdf)))


def _retained(sketch: Any) -> Any:
    import numpy as np

    return np.fromiter((float(item) for item, _w in sketch), dtype=float)


def kll_k(blob: bytes) -> int:
    return int(unpack(blob)[1].get("k", 200))


def metrics(task: str, y_true: list[Any], y_pred: list[Any]) -> dict[str, float | None]:
    """accuracy and macro F1 (classification; ROC AUC needs scores, which the gateway does not return) or
    RMSE and MAE (regression), with scikit-learn."""
    import numpy as np
    from sklearn import metrics as skm

    if task == "regression":
        t = np.asarray(y_true, dtype=float)
        p = np.asarray(y_pred, dtype=float)
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(t, p))),
            "mae": float(skm.mean_absolute_error(t, p)),
        }
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc": None,
    }
