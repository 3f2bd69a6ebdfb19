"""Two sidecars (two replicas of one model) scraped by a real Prometheus: the fleet-wide p95
from ``histogram_quantile`` over the summed buckets lies in the bucket holding the true p95 of
both logs together, and it is neither replica's own p95."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from aimon.totals import LATENCY_BUCKETS

from .conftest import SidecarProcess, wait_until

pytestmark = pytest.mark.integration

BUCKET = "aimon_prediction_latency_seconds_bucket"

# Replica "fast" answers around 8 ms, replica "slow" around 50 ms, with half as many calls.
# The fleet's top 5 % (450 of 9000 calls) is then the slow replica's top 15 %, so:
#   fast p95 ~ 18 ms  in (0.01, 0.025]
#   slow p95 ~ 114 ms in (0.1, 0.25]
#   fleet p95 ~ 84 ms in (0.05, 0.1]
# three different buckets, each quantile well inside its own.
REPLICAS = {"fast": (6000, 8.0, 0.5), "slow": (3000, 50.0, 0.5)}  # lines, median ms, sigma


def write_log(path: Path, rng: np.random.Generator, lines: int, median_ms: float, sigma: float):
    """A prediction log in the design's JSON-line format; returns the latencies (seconds) as
    the sidecar will read them."""
    latencies_ms = rng.lognormal(np.log(median_ms), sigma, lines)
    now = time.time()
    with path.open("w") as out:
        for i, latency in enumerate(latencies_ms):
            record = {"ts": now + i * 1e-3, "model": "m", "version": "1",
                      "latency_ms": float(latency), "error": None,
                      "features": {"x": float(rng.normal())}}  # fmt: skip
            out.write(json.dumps(record) + "\n")
    return latencies_ms / 1000.0


def bucket_of(value: float) -> tuple[float, float]:
    """The (lower, upper] bounds of the latency bucket holding ``value`` (``le`` semantics)."""
    bounds = (0.0, *LATENCY_BUCKETS, float("inf"))
    index = int(np.searchsorted(LATENCY_BUCKETS, value, side="left"))
    return bounds[index], bounds[index + 1]


def value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_fleet_p95_from_summed_buckets_matches_union_of_logs(tmp_path: Path, prometheus_factory):
    rng = np.random.default_rng(20261124)
    latencies: dict[str, np.ndarray] = {}
    sidecars: dict[str, SidecarProcess] = {}
    try:
        for name, (lines, median_ms, sigma) in REPLICAS.items():
            log = tmp_path / f"{name}.log"
            latencies[name] = write_log(log, rng, lines, median_ms, sigma)
            state, output = tmp_path / f"state-{name}", tmp_path / f"{name}.out"
            sidecars[name] = SidecarProcess(log, state, output)
        for name, sidecar in sidecars.items():
            wait_until(sidecar.ready, timeout=60, what=f"sidecar {name} read its log")
        instances = {f"127.0.0.1:{s.port}": name for name, s in sidecars.items()}
        prom = prometheus_factory(list(instances))

        # Every line is in both logs before Prometheus starts, so every scrape shows the same
        # cumulative counters: a rate() or increase() over them would be 0 (or undefined), not
        # the latency distribution. The summed cumulative bucket counters themselves are the
        # honest "all lines so far" fleet histogram, so the quantile is taken on them directly.
        # Wait until the latest sample of both targets carries every line.
        total = sum(lines for lines, _, _ in REPLICAS.values())
        wait_until(
            lambda: prom.query(f'sum(aimon_predictions_total{{model="m"}}) == {total}'),
            timeout=30, what=f"Prometheus saw all {total} predictions",
        )  # fmt: skip
        assert value(prom.query("sum(aimon_predictions_total)")) == total
        per_target = prom.query('sum by (instance) (aimon_predictions_total{model="m"})')
        assert {instances[r["metric"]["instance"]]: float(r["value"][1]) for r in per_target} == {
            name: float(lines) for name, (lines, _, _) in REPLICAS.items()
        }

        fleet = value(prom.query(f'histogram_quantile(0.95, sum by (le) ({BUCKET}{{model="m"}}))'))
        true_p95 = float(np.percentile(np.concatenate(list(latencies.values())), 95))
        lower, upper = bucket_of(true_p95)
        # histogram_quantile interpolates linearly inside the bucket holding the 95th rank, so
        # it can only say which bucket and where in it if the values were spread evenly.
        assert lower <= fleet <= upper, (
            f"PromQL fleet p95 {fleet:.6f}s is outside the bucket ({lower}, {upper}] that holds "
            f"the true p95 {true_p95:.6f}s of both logs together"
        )

        # Each replica's own p95 lies in another bucket: the sum over replicas is what matters.
        by_instance = prom.query(
            f'histogram_quantile(0.95, sum by (instance, le) ({BUCKET}{{model="m"}}))'
        )
        own = {instances[r["metric"]["instance"]]: float(r["value"][1]) for r in by_instance}
        assert set(own) == set(REPLICAS), by_instance
        for name, p95 in own.items():
            replica_true = float(np.percentile(latencies[name], 95))
            replica_lower, replica_upper = bucket_of(replica_true)
            assert replica_lower <= p95 <= replica_upper, (name, p95, replica_true)
            assert not lower <= p95 <= upper, (
                f"replica {name}'s own p95 {p95:.6f}s falls in the fleet p95's bucket "
                f"({lower}, {upper}]: the test would not show that summing buckets matters"
            )
        print(
            f"true fleet p95 {true_p95 * 1000:.2f} ms, PromQL {fleet * 1000:.2f} ms, bucket "
            f"({lower * 1000:g}, {upper * 1000:g}] ms; replicas "
            + ", ".join(f"{n} {p * 1000:.2f} ms" for n, p in sorted(own.items()))
        )
    finally:
        for sidecar in sidecars.values():
            sidecar.stop()
