"""Fleet latency quantiles from the summed buckets of several replicas, read by a real
Prometheus (issue 14 item 6: with the 1-2.5-5 buckets the fleet p95 was 35 % off)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import aimon
from tests.integration.conftest import wait_until

#: Three replicas, each its own latency distribution (lognormal: median s, sigma).
REPLICAS = [(0.020, 0.6), (0.060, 0.4), (0.150, 0.5)]
CALLS = 20_000


def test_fleet_quantiles_from_summed_buckets_are_within_two_percent(prometheus_factory) -> None:
    rng = np.random.default_rng(14)
    monitors = [aimon.Monitor("fleet", version="1", window="1h") for _ in REPLICAS]
    try:
        servers = [mon.serve(port=0) for mon in monitors]
        prom = prometheus_factory([f"127.0.0.1:{s.port}" for s in servers])
        pooled = []
        for mon, (median, sigma) in zip(monitors, REPLICAS, strict=True):
            latency = rng.lognormal(np.log(median), sigma, CALLS)
            mon.observe_many(ts=np.full(CALLS, time.time()), latency_s=latency)
            pooled.append(latency)
        everything = np.concatenate(pooled)
        count = "sum(aimon_prediction_latency_seconds_count)"
        wait_until(lambda: float(prom.query(count)[0]["value"][1]) == everything.size,
                   what="every replica's calls scraped")  # fmt: skip
        buckets = "sum by (le) (aimon_prediction_latency_seconds_bucket)"
        for q in (0.5, 0.95, 0.99):
            (result,) = prom.query(f"histogram_quantile({q}, {buckets})")
            fleet = float(result["value"][1])
            assert fleet == pytest.approx(np.quantile(everything, q), rel=0.02), q
        # Each replica's own window quantile (the sketch) agrees as well.
        for mon, latency in zip(monitors, pooled, strict=True):
            p95 = mon.snapshot().latency.p95
            assert p95 == pytest.approx(np.quantile(latency, 0.95), rel=0.02)
    finally:
        for mon in monitors:
            mon.close()
