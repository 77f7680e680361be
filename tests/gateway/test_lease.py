"""The store side of gateway replicas (gateway/replicas.py) on SQLite and PostgreSQL: the rollout lease (taken,
renewed, taken over once expired, fencing the old holder, handed on at a clean stop) and the published
counters, whose histograms add up to the window one gateway would have seen. The processes themselves are
in tests/tools/deploy/test_replicas.py."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from mcp_server.core.store import MetadataStore
from mcp_server.gateway import replicas
from mcp_server.gateway.metrics import Metrics
from mcp_server.gateway.replicas import NotLeader, Replica
from tests.core.conftest import backend, pg_database_url, pg_url, store, store_url

__all__ = ["backend", "pg_database_url", "pg_url", "store", "store_url"]  # the store fixtures, both backends

LEASE_S = 0.5


def hold(store: MetadataStore, replica: Replica, term: int | None) -> None:
    with store.transaction() as session:
        replicas.hold(session, replica, term)


def test_the_lease_is_renewed_taken_over_once_expired_and_fences_its_old_holder(store: MetadataStore) -> None:
    a, b = Replica(), Replica()
    assert replicas.acquire(store, a, LEASE_S) == 1
    assert replicas.acquire(store, b, LEASE_S) is None  # held: b only looked
    assert replicas.acquire(store, a, LEASE_S) == 1  # renewed, same term
    hold(store, a, 1)
    with pytest.raises(NotLeader):
        hold(store, b, 1)

    time.sleep(LEASE_S + 0.1)  # a stalled (or died): b takes the lease over with the next term
    assert replicas.acquire(store, b, LEASE_S) == 2
    with pytest.raises(NotLeader):
        hold(store, a, 1)  # a's writes are refused from now on
    assert replicas.acquire(store, a, LEASE_S) is None

    time.sleep(LEASE_S + 0.1)  # expired, but nobody else wanted it: still b's term
    assert replicas.acquire(store, b, LEASE_S) == 2
    hold(store, b, 2)

    replicas.publish(store, b, 1, {}, [])
    replicas.leave(store, b)  # a clean stop hands the lease on at once
    assert replicas.acquire(store, a, LEASE_S) == 3
    with store.read_session() as session:
        published, leader = replicas.live(session, 60)
    assert published == [] and leader == a.id


def test_published_counters_add_up_to_the_window_of_one_gateway(store: MetadataStore) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    one, parts = Metrics(), [Metrics(), Metrics()]
    for i, seconds in enumerate(rng.lognormal(np.log(0.004), 0.8, size=3000)):
        for m in (one, parts[i % 2]):
            m.observe("e", "2", float(seconds), 1)
            if i % 50 == 0:
                m.error("e", "2")
    ids = [Replica(url="http://127.0.0.1:1"), Replica()]
    for r, m in zip(ids, parts, strict=True):
        snap = m.snapshot()
        assert replicas.publish(store, r, 5, snap, []) is True  # a new row: every counter written
    # A later heartbeat writes only what changed.
    parts[0].observe("e", "1", 0.002, 1)
    snap = parts[0].snapshot()
    assert replicas.publish(store, ids[0], 6, snap, [("e", "1")]) is False
    one.observe("e", "1", 0.002, 1)

    with store.read_session() as session:
        published, leader = replicas.live(session, 60, endpoint="e")
        others, _ = replicas.live(session, 60, exclude=ids[0].id)
    assert [p.id for p in published] == [r.id for r in ids] and leader is None
    assert [p.id for p in others] == [ids[1].id]
    assert published[0].generation == 6 and published[0].url == "http://127.0.0.1:1"
    total, whole = Metrics.total(p.stats for p in published), one.snapshot()
    assert total.keys() == whole.keys()
    for (
        key,
        stats,
    ) in whole.items():  # requests, errors, rows and every bucket; the latency sum up to rounding
        assert total[key].latency_sum == pytest.approx(stats.latency_sum)
        assert replace(total[key], latency_sum=0.0) == replace(stats, latency_sum=0.0)
    assert total[("e", "2")].quantile(0.99) == one.stats[("e", "2")].quantile(0.99)

    replicas.leave(store, ids[1])
    time.sleep(0.3)
    with store.read_session() as session:
        assert replicas.live(session, 60)[0][0].id == ids[0].id
        assert replicas.live(session, 0.2)[0] == []  # its heartbeat is too old: gone
    replicas.publish(store, Replica(), 1, {}, [], purge_after_s=0.2)  # another replica's heartbeat purges it
    with store.read_session() as session:
        assert replicas.live(session, 60)[0][0].id != ids[0].id
