"""Segments: what keeping a window, totals, features and drift per segment value costs.

Data: calls of 20 numeric features plus a ``country`` column, fed with ``observe()`` and
timed whole (the caller's loop plus the fold, to the end of ``snapshot()``), at default
settings, every call counted (checked). A reference of 20,000 rows of the same distribution
is built with ``segments=["country"]`` so each segment's drift is measured too. Variants,
timed in interleaved rounds (median):

* ``none``: no segments (the monitor-level work only);
* ``one``: ``segments=["country"]``, every call of one country;
* ``hundred``: ``segments=["country"]`` with a cap of 100, calls spread over 100 countries.

The snapshot that ends each run is also timed alone: it reads every segment's window and
drift (2,000 drift verdicts for 100 values of 20 features), a cost paid per snapshot (per
scrape), not per call; and so is one more snapshot with no new calls in between (the next
scrape of a quiet monitor: the drift verdicts are reused, the windows read again).

Memory: the traced allocations held by a monitor after the run (``tracemalloc``, a separate
untimed pass), with 100 values, and with 10,000 distinct values under the default cap of 20
(bounded by the cap, not by the values seen).

Writes ``benchmarks/results/segments.json``.

Usage: ``python benchmarks/segments.py [--calls 200000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from typing import Any

import numpy as np
from reporting import report_targets, write_result

from aimon import Monitor
from aimon.drift.reference import Reference
from aimon.settings import SegmentSettings

FEATURES = 20


def rows(calls: int, values: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(calls, FEATURES))
    countries = rng.integers(0, values, size=calls)
    names = [f"f{i}" for i in range(FEATURES)]
    out = []
    for line, country in zip(numbers.tolist(), countries.tolist(), strict=True):
        row: dict[str, Any] = dict(zip(names, line, strict=True))
        row["country"] = f"c{country}"
        out.append(row)
    return out


def monitor(variant: str, reference: Reference, max_values: int = 100) -> Monitor:
    segments = None if variant == "none" else SegmentSettings(("country",), max_values)
    return Monitor(f"bench-{variant}", reference=reference, segments=segments)


def run(
    variant: str, data: list[dict[str, Any]], reference: Reference
) -> tuple[float, float, float]:
    """Seconds for the whole cost of ``data``'s calls, of its one ``snapshot()`` alone (the
    fold of what waits, then every segment's window and drift read), and of a second
    snapshot with no new calls (the next scrape of a quiet monitor); checks every call
    counted."""
    mon = monitor(variant, reference)
    try:
        gc.collect()
        start = time.perf_counter()
        for row in data:
            mon.observe(latency_s=0.01, features=row)
        mon.flush()
        folded = time.perf_counter()
        snap = mon.snapshot()
        end = time.perf_counter()
        again = mon.snapshot()
        again_s = time.perf_counter() - end
    finally:
        mon.close()
    assert again.count == snap.count
    assert snap.count == len(data) and not snap.dropped, (snap.count, snap.dropped)
    if variant != "none":
        assert sum(part.count for part in snap.segments["country"].values()) == len(data)
    return end - start, end - folded, again_s


def held_bytes(data: list[dict[str, Any]], reference: Reference, max_values: int) -> int:
    """Bytes a segmented monitor holds after ``data`` (traced allocations)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    mon = monitor("hundred", reference, max_values)
    for row in data:
        mon.observe(latency_s=0.01, features=row)
    mon.snapshot()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    mon.close()
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import pandas as pd

    reference = Reference.from_frame(
        pd.DataFrame(rows(20_000, 100, seed=1)), segments=["country"], max_segment_values=100
    )
    data = {
        "none": rows(args.calls, 100, seed=2),
        "one": rows(args.calls, 1, seed=2),
        "hundred": rows(args.calls, 100, seed=2),
    }
    times: dict[str, list[float]] = {variant: [] for variant in data}
    snapshot_times: dict[str, list[float]] = {variant: [] for variant in data}
    again_times: dict[str, list[float]] = {variant: [] for variant in data}
    for _ in range(args.rounds):
        for variant, calls in data.items():
            whole, snapshot, again = run(variant, calls, reference)
            times[variant].append(whole)
            snapshot_times[variant].append(snapshot)
            again_times[variant].append(again)
    seconds = {variant: statistics.median(t) for variant, t in times.items()}
    snapshot_s = {variant: statistics.median(t) for variant, t in snapshot_times.items()}
    again_s = {variant: statistics.median(t) for variant, t in again_times.items()}
    per_call_us = {variant: s / args.calls * 1e6 for variant, s in seconds.items()}
    for variant, us in per_call_us.items():
        print(
            f"{variant:8s} {us:6.2f} us per call (whole cost); "
            f"the last snapshot {snapshot_s[variant] * 1e3:.0f} ms, "
            f"one more with no new calls {again_s[variant] * 1e3:.0f} ms"
        )
    ratio = seconds["hundred"] / seconds["one"]
    print(f"hundred / one: {ratio:.2f}x whole cost")
    memory_calls = min(args.calls, 100_000)
    memory = {
        "100_values_cap_100": held_bytes(rows(memory_calls, 100, seed=3), reference, 100),
        "10000_values_cap_20": held_bytes(rows(memory_calls, 10_000, seed=3), reference, 20),
    }
    for name, held in memory.items():
        print(f"memory {name}: {held / 1e6:.1f} MB after {memory_calls} calls")
    targets = report_targets({"hundred_values_within_2x_one": ratio <= 2.0})
    write_result(
        "segments",
        {
            "calls": args.calls,
            "features": FEATURES,
            "rounds": args.rounds,
            "seconds": seconds,
            "us_per_call_whole_cost": per_call_us,
            "ratio_hundred_to_one": ratio,
            "snapshot_seconds": snapshot_s,
            "snapshot_again_seconds": again_s,
            "memory_calls": memory_calls,
            "memory_bytes": memory,
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
