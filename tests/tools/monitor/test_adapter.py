"""The monitor adapter against the real datasketches library on small data: packing, merging across
replicas, PSI with quality_compare's binning, KS, and the gateway's window sketches."""

from __future__ import annotations

import numpy as np
import pytest

from mcp_server.gateway.monitoring import INPUT, WindowSketches, new_request_id, pack, unpack
from mcp_server.tools.monitor import adapter
from mcp_server.tools.quality.adapter import _hist, _numeric_bins, _psi


def test_reference_psi_bins_as_quality_compare_and_merges_replicas() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, 4_000)
    served = rng.normal(0.5, 1, 3_000)
    ref = pack([adapter._numeric_entry("x", INPUT, train, 200)])
    # Two replicas each sketch half of the served values; the merge sees all of them.
    halves = []
    for part in (served[:1_500], served[1_500:]):
        w = WindowSketches(["x"], [], True, 200)
        w.add([{"x": float(v)} for v in part], [0.0] * len(part))
        halves.append(pack(w.entries()))
    cur = adapter.merge(halves, 200)[("input", "x")]
    assert cur.n == 3_000
    base = adapter.merge([ref], 200)[("input", "x")]
    found = adapter.compare(base, cur)
    edges = _numeric_bins(np.quantile(train, np.linspace(0, 1, 101)))
    exact = _psi(_hist(train, edges), _hist(served, edges))
    assert found["psi"] == pytest.approx(exact, abs=0.02)
    assert found["ks"] == pytest.approx(0.197, abs=0.04)  # two normals half a std apart
    assert 0 < found["error"] < 0.03


def test_categories_nulls_and_pack_round_trip() -> None:
    w = WindowSketches([], ["segment"], False, 200)
    w.add([{"segment": "a"}, {"segment": "b"}, {"segment": None}, {"segment": "a"}], [1, 0, 1, 1])
    entries, meta = unpack(pack(w.entries(), {"k": 200}))
    assert meta == {"k": 200}
    seg = next(e for e in entries if e.name == "segment")
    assert (seg.n, seg.nulls) == (3, 1)
    merged = adapter.merge([pack(entries)], 200)
    same = adapter.compare(merged[("input", "segment")], merged[("input", "segment")])
    assert same["psi"] == pytest.approx(0.0) and same["kind"] == "categorical"


def test_metrics_follow_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, mean_absolute_error

    y, p = ["1", "0", "1", "1"], ["1", "1", "1", "0"]
    assert adapter.metrics("classification", y, p)["accuracy"] == accuracy_score(y, p)
    assert adapter.metrics("regression", [1.0, 2.0], [1.5, 2.5])["mae"] == mean_absolute_error(
        [1, 2], [1.5, 2.5]
    )


def test_request_ids_are_unique_and_ordered_by_time() -> None:
    """The stored predictions' primary key: later requests sort after earlier ones (inserts land at the index's
    end), and ids drawn in the same millisecond still differ."""
    import time

    first = [new_request_id() for _ in range(1_000)]
    time.sleep(0.002)
    later = new_request_id()
    assert len(set(first)) == len(first)
    assert all(len(r) == 24 and int(r, 16) >= 0 for r in [*first, later])
    assert max(r[:12] for r in first) < later[:12] and max(first) < later
