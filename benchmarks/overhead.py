"""Per-call overhead of ``@mon.watch`` next to what users would pick instead, in one process.

Variants, timed in interleaved rounds so that they share the machine's noise:

* ``bare``: the undecorated predict function (the baseline subtracted from the others);
* ``prometheus_client``: the same function under ``Histogram.time()``;
* ``aimon latency+outcome``: ``@mon.watch(features=False, sizes=False)``;
* ``aimon 20 features``: ``@mon.watch`` on a predict that takes a 20-feature dict
  (hot path only: what the caller waits for);
* ``aimon 20 features, fold``: the fold step's cost per call (feature extraction, sizes,
  sketches), paid on the background thread; reported so the total CPU is visible too;
* ``whylogs``: ``DatasetProfile.track(row=...)`` per call with the same dict, if installed.

Reports the median per-call overhead over the rounds and the ratios to ``prometheus_client``;
writes ``benchmarks/results/overhead.json``.

Usage: ``python benchmarks/overhead.py [--rounds 15] [--calls 20000]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import prometheus_client
from reporting import report_targets, write_result

import aimon


def predict_plain(x: Any) -> float:
    """A stand-in model: returns a score, as a classifier would."""
    return 0.5


def time_loop(fn: Callable[[Any], Any], arg: Any, calls: int) -> float:
    """Seconds per call of ``fn(arg)`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter() - start) / calls


def make_row(n: int) -> dict[str, Any]:
    return {f"f{i}": float(i) * 1.5 for i in range(n)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    calls = args.calls

    registry = prometheus_client.CollectorRegistry()
    histogram = prometheus_client.Histogram("bench_latency_seconds", "bench", registry=registry)
    prom_predict = histogram.time()(predict_plain)

    # A buffer that holds a whole round, folded between rounds: the timed loop measures the
    # caller's cost alone; the fold is timed separately.
    mon = aimon.Monitor("bench", buffer_size=4 * calls, flush_interval=3600)
    lean_predict = mon.watch(features=False, sizes=False)(predict_plain)
    feature_predict = mon.watch(predict_plain)

    track: Callable[[Any], Any] | None = None
    try:
        from whylogs.core import DatasetProfile

        profile = DatasetProfile()
        track = lambda row: profile.track(row=row)  # noqa: E731
    except ImportError:
        print("whylogs not installed: skipping its column", file=sys.stderr)

    row = make_row(20)
    samples: dict[str, list[float]] = {
        "bare": [], "bare (dict arg)": [], "prometheus_client Histogram.time()": [],
        "aimon latency+outcome": [], "aimon 20 features (caller)": [],
        "aimon 20 features (fold, background)": [], "whylogs track(row)": [],
    }  # fmt: skip
    for _ in range(3):  # warm-up
        time_loop(predict_plain, 1, calls)
        time_loop(lean_predict, 1, calls)
        time_loop(feature_predict, row, calls)
        mon.flush()
    for _ in range(args.rounds):
        samples["bare"].append(time_loop(predict_plain, 1, calls))
        samples["prometheus_client Histogram.time()"].append(time_loop(prom_predict, 1, calls))
        samples["aimon latency+outcome"].append(time_loop(lean_predict, 1, calls))
        mon.flush()
        samples["bare (dict arg)"].append(time_loop(predict_plain, row, calls))
        samples["aimon 20 features (caller)"].append(time_loop(feature_predict, row, calls))
        start = time.perf_counter()
        mon.flush()
        samples["aimon 20 features (fold, background)"].append(
            (time.perf_counter() - start) / calls
        )
        if track is not None:
            whylogs_calls = max(200, calls // 50)
            samples["whylogs track(row)"].append(time_loop(track, row, whylogs_calls))
    snap = mon.snapshot()
    mon.close()
    assert snap.dropped.get("buffer_full", 0) == 0, snap.dropped

    median = {k: statistics.median(v) for k, v in samples.items() if v}
    overhead = {
        "prometheus_client Histogram.time()": median["prometheus_client Histogram.time()"]
        - median["bare"],
        "aimon latency+outcome": median["aimon latency+outcome"] - median["bare"],
        "aimon 20 features (caller)": median["aimon 20 features (caller)"]
        - median["bare (dict arg)"],
        "aimon 20 features (fold, background)": median["aimon 20 features (fold, background)"],
    }
    overhead["aimon 20 features (caller + fold)"] = (
        overhead["aimon 20 features (caller)"] + overhead["aimon 20 features (fold, background)"]
    )
    if "whylogs track(row)" in median:
        overhead["whylogs track(row)"] = median["whylogs track(row)"] - median["bare (dict arg)"]
    reference = overhead["prometheus_client Histogram.time()"]

    print(f"\nper-call overhead, median of {args.rounds} rounds x {calls} calls "
          f"(bare call: {median['bare'] * 1e9:.0f} ns)")  # fmt: skip
    print(f"{'variant':<42} {'overhead':>12} {'x prometheus_client':>20}")
    for name, value in overhead.items():
        print(f"{name:<42} {value * 1e6:>9.3f} us {value / reference:>20.3f}")
    targets = {
        "latency+outcome <= 0.25 x prometheus_client": overhead["aimon latency+outcome"]
        <= 0.25 * reference,
        "20-feature dict <= 3 us (caller)": overhead["aimon 20 features (caller)"] <= 3e-6,
        "20-feature dict <= 3 us (caller + fold)": overhead["aimon 20 features (caller + fold)"]
        <= 3e-6,
    }
    met = report_targets(targets)
    write_result(
        "overhead",
        {
            "rounds": args.rounds,
            "calls_per_round": calls,
            "median_seconds_per_call": median,
            "overhead_seconds_per_call": overhead,
            "ratio_to_prometheus_client": {k: v / reference for k, v in overhead.items()},
            "targets_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
