"""Per endpoint and version counters: requests, errors, rejected requests, rows and a latency histogram
(plus one gateway-wide count of request bodies that timed out).

One set of counters serves both readers: `/metrics` exposes them in Prometheus text through a
prometheus_client collector, and a controller (issue #10) takes `snapshot()`s and diffs them into the
window of a rollout step (`window(before, after)`), so a step is judged on its own traffic only. Replicas
of one store publish their counters (gateway/replicas.py); fixed buckets make their histograms add up
(`total`), so a p99 over every replica's traffic comes out of the summed buckets.
Counters are touched only from the event loop thread.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# Latency bucket upper bounds in seconds (Prometheus `le`), +Inf implied.
BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass
class VersionStats:
    requests: int = 0  # every request routed to this version
    errors: int = 0  # the version failed to answer (HTTP 5xx)
    rejected: int = 0  # the rows did not fit the version's inputs (HTTP 4xx)
    rows: int = 0
    latency_sum: float = 0.0  # seconds, over answered requests
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))  # per bucket, not cumulative

    def copy(self) -> VersionStats:
        return VersionStats(
            self.requests, self.errors, self.rejected, self.rows, self.latency_sum, list(self.buckets)
        )

    def minus(self, before: VersionStats) -> VersionStats:
        return VersionStats(
            self.requests - before.requests,
            self.errors - before.errors,
            self.rejected - before.rejected,
            self.rows - before.rows,
            self.latency_sum - before.latency_sum,
            [a - b for a, b in zip(self.buckets, before.buckets, strict=True)],
        )

    def plus(self, other: VersionStats) -> VersionStats:
        """Both counts together (two replicas' windows of one version: the histograms add bucket by bucket)."""
        return VersionStats(
            self.requests + other.requests,
            self.errors + other.errors,
            self.rejected + other.rejected,
            self.rows + other.rows,
            self.latency_sum + other.latency_sum,
            [a + b for a, b in zip(self.buckets, other.buckets, strict=True)],
        )

    @property
    def observed(self) -> int:
        return sum(self.buckets)

    def quantile(self, q: float) -> float | None:
        """The q-quantile of latency in seconds, interpolated inside its bucket (as histogram_quantile)."""
        total = self.observed
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for i, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                lower = BUCKETS[i - 1] if i > 0 else 0.0
                upper = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1]
                return lower + (upper - lower) * ((rank - seen) / count)
            seen += count
        return BUCKETS[-1]

    def summary(self) -> dict[str, Any]:
        p50, p99 = self.quantile(0.5), self.quantile(0.99)
        answered = self.observed
        return {
            "requests": self.requests,
            "errors": self.errors,
            "rejected": self.rejected,
            "rows": self.rows,
            "error_rate": (self.errors / self.requests) if self.requests else None,
            "mean_ms": (self.latency_sum / answered * 1000) if answered else None,
            "p50_ms": p50 * 1000 if p50 is not None else None,
            "p99_ms": p99 * 1000 if p99 is not None else None,
        }


Snapshot = dict[tuple[str, str], VersionStats]


class Metrics:
    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], VersionStats] = {}
        self.body_timeouts = 0  # 408s: no endpoint or version is known before the body has arrived

    def body_timeout(self) -> None:
        self.body_timeouts += 1

    def _get(self, endpoint: str, version: str) -> VersionStats:
        key = (endpoint, version)
        s = self.stats.get(key)
        if s is None:
            s = self.stats[key] = VersionStats()
        return s

    def observe(self, endpoint: str, version: str, seconds: float, rows: int) -> None:
        s = self._get(endpoint, version)
        s.requests += 1
        s.rows += rows
        s.latency_sum += seconds
        s.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1

    def error(self, endpoint: str, version: str, *, rejected: bool = False) -> None:
        s = self._get(endpoint, version)
        s.requests += 1
        if rejected:
            s.rejected += 1
        else:
            s.errors += 1

    def snapshot(self, endpoint: str | None = None) -> Snapshot:
        return {k: v.copy() for k, v in self.stats.items() if endpoint is None or k[0] == endpoint}

    @staticmethod
    def window(before: Snapshot, after: Snapshot) -> Snapshot:
        """What happened between two snapshots (a rollout step's own window)."""
        return {k: v.minus(before[k]) if k in before else v.copy() for k, v in after.items()}

    @staticmethod
    def total(snapshots: Iterable[Snapshot]) -> Snapshot:
        """The sum of several snapshots or windows (the replicas of one store), key by key."""
        out: Snapshot = {}
        for snap in snapshots:
            for k, v in snap.items():
                out[k] = out[k].plus(v) if k in out else v.copy()
        return out

    def for_endpoint(self, endpoint: str) -> dict[str, dict[str, Any]]:
        return {v: s.summary() for (e, v), s in self.stats.items() if e == endpoint}

    # -- Prometheus exposition ------------------------------------------------------------------------

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        labels = ["endpoint", "version"]
        requests = CounterMetricFamily(
            "mlops_gateway_requests", "Predict requests routed to a version.", labels=labels
        )
        errors = CounterMetricFamily(
            "mlops_gateway_errors", "Requests the version failed to answer (HTTP 5xx).", labels=labels
        )
        rejected = CounterMetricFamily(
            "mlops_gateway_rejected", "Requests whose rows did not fit the version (HTTP 4xx).", labels=labels
        )
        rows = CounterMetricFamily("mlops_gateway_rows", "Rows predicted.", labels=labels)
        latency = HistogramMetricFamily(
            "mlops_gateway_latency_seconds", "Predict latency of answered requests.", labels=labels
        )
        for (endpoint, version), s in sorted(self.stats.items()):
            values = [endpoint, version]
            requests.add_metric(values, s.requests)
            errors.add_metric(values, s.errors)
            rejected.add_metric(values, s.rejected)
            rows.add_metric(values, s.rows)
            cumulative, running = [], 0
            for bound, count in zip([*BUCKETS, math.inf], s.buckets, strict=True):
                running += count
                cumulative.append(("+Inf" if math.isinf(bound) else repr(bound), running))
            latency.add_metric(values, cumulative, s.latency_sum)
        body_timeouts = CounterMetricFamily(
            "mlops_gateway_body_timeouts", "Requests whose body did not arrive in time (HTTP 408)."
        )
        body_timeouts.add_metric([], self.body_timeouts)
        yield from (requests, errors, rejected, rows, latency, body_timeouts)

    def prometheus_text(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        return generate_latest(registry)
