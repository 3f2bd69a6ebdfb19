"""Batch drift and streaming drift, next to what users would pick instead, in one process.

Batch: 100k reference rows vs 100k current rows, 20 numeric columns (half of them shifted)
and 3 categorical ones. Variants, all computing PSI and KS on every column:

* ``aimon compare``: ``compare(ref, cur, methods=["psi", "ks"])`` (data set vs data set);
* ``aimon compare (profile)``: the same against a saved ``Reference`` profile (10 bins, a
  10k sorted sample per feature: the way a service keeps its reference);
* ``scipy loop``: what one writes by hand: per numeric column ``scipy.stats.ks_2samp`` and a
  PSI on ``numpy.histogram`` of the reference's quantile edges; per categorical column
  ``value_counts`` shares (KS skipped there, as ``compare`` does);
* ``Evidently psi`` / ``Evidently ks``: ``Report([DataDriftPreset(method=...)])``, one run
  per method (Evidently takes one method per run; KS on the numeric columns), and their sum.

Timed in interleaved rounds (median); peak memory is tracemalloc's peak of one run of each.
The KS statistics and p-values of ``compare`` are checked equal to scipy's.

Streaming: the cost per event that a reference adds to the Monitor's aggregation step, for
10 features (``DriftTracker.add`` on 4096-row batches), next to the step itself (feature
extraction of the same dict rows).

Writes ``benchmarks/results/drift.json``.

Usage: ``python benchmarks/drift.py [--rows 100000] [--rounds 5] [--evidently-rounds 2]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from reporting import report_targets, write_result
from scipy import stats

from aimon.drift import Reference, compare
from aimon.drift.tracker import DriftTracker
from aimon.features import extract_many

NUMERIC, CATEGORICAL = 20, 3


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; the current shifts every other numeric column."""
    rng = np.random.default_rng(seed)

    def frame(shift: float) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i in range(NUMERIC):
            moved = shift if i % 2 else 0.0
            data[f"num{i}"] = rng.normal(moved, 1.0 + i / 10, rows)
        for i in range(CATEGORICAL):
            levels = [f"c{k}" for k in range(4 + 3 * i)]
            p = np.linspace(1.0, 2.0 + shift, len(levels))
            data[f"cat{i}"] = rng.choice(levels, rows, p=p / p.sum())
        return pd.DataFrame(data)

    return frame(0.0), frame(0.1)


def scipy_loop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, dict[str, float]]:
    """PSI and KS column by column, the way one writes it with numpy and scipy."""
    out: dict[str, dict[str, float]] = {}
    for column in reference.columns:
        ref, cur = reference[column].dropna(), current[column].dropna()
        if pd.api.types.is_numeric_dtype(ref):
            edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
            ref_share = np.histogram(ref, edges)[0] / len(ref)
            cur_share = np.histogram(cur, edges)[0] / len(cur)
            ks = stats.ks_2samp(ref, cur)
            result = {"ks": float(ks.statistic), "ks_pvalue": float(ks.pvalue)}
        else:
            ref_counts = ref.value_counts(normalize=True)
            cur_counts = cur.value_counts(normalize=True)
            union = ref_counts.index.union(cur_counts.index)
            ref_share = ref_counts.reindex(union, fill_value=0).to_numpy()
            cur_share = cur_counts.reindex(union, fill_value=0).to_numpy()
            result = {}
        ref_share = np.clip(ref_share, 1e-4, None)
        cur_share = np.clip(cur_share, 1e-4, None)
        result["psi"] = float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
        out[column] = result
    return out


def evidently_run(method: str) -> Callable[[pd.DataFrame, pd.DataFrame], Any] | None:
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:
        return None

    def run(reference: pd.DataFrame, current: pd.DataFrame) -> Any:
        # KS applies to numeric columns only (as in compare), PSI to every column.
        numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
        preset = DataDriftPreset(method=method, columns=numeric if method == "ks" else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Report([preset]).run(current, reference).dict()

    return run


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def check_ks_equal(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    """The largest relative difference between compare's KS and scipy's, over columns."""
    report = compare(reference, current, methods=["ks"])
    worst = 0.0
    for i in range(NUMERIC):
        column = f"num{i}"
        theirs = stats.ks_2samp(reference[column], current[column])
        ours = report[column]["ks"]
        for a, b in ((ours.statistic, theirs.statistic), (ours.pvalue, theirs.pvalue)):
            assert a is not None
            worst = max(worst, abs(a - b) / max(abs(b), 1e-300))
    return worst


def streaming_cost(rounds: int, features: int = 10, batch_rows: int = 4096) -> dict[str, float]:
    """Seconds per event: the fold's feature extraction, and what a reference adds to it."""
    rng = np.random.default_rng(1)
    columns = {f"f{i}": rng.normal(0, 1, 100_000) for i in range(features)}
    reference = Reference.from_frame(columns)
    tracker = DriftTracker(reference, window_s=3600, seed=0)
    rows = [
        {name: float(values[j]) for name, values in columns.items()}
        for j in rng.integers(0, 100_000, batch_rows)
    ]
    batch = extract_many(rows, max_features=64)
    start_ts = time.time()
    extract_s, drift_s = [], []
    for r in range(rounds * 4):
        extract_s.append(seconds(lambda: extract_many(rows, max_features=64)) / batch_rows)
        drift_s.append(seconds(lambda r=r: tracker.add(batch, start_ts + r)) / batch_rows)
    return {
        "features": features,
        "batch_rows": batch_rows,
        "fold_extract_s_per_event": statistics.median(extract_s),
        "drift_add_s_per_event": statistics.median(drift_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--evidently-rounds", type=int, default=2)
    args = parser.parse_args()

    reference, current = make_data(args.rows)
    profile = Reference.from_frame(reference)
    variants: dict[str, Callable[[], Any]] = {
        "aimon compare": lambda: compare(reference, current, methods=["psi", "ks"]),
        "aimon compare (profile)": lambda: compare(profile, current, methods=["psi", "ks"]),
        "scipy loop": lambda: scipy_loop(reference, current),
    }
    slow: dict[str, Callable[[], Any]] = {}
    for method in ("psi", "ks") if args.evidently_rounds > 0 else ():
        run = evidently_run(method)
        if run is not None:
            slow[f"Evidently {method}"] = lambda run=run: run(reference, current)
    if not slow and args.evidently_rounds > 0:
        print("evidently not installed: skipping its columns", file=sys.stderr)

    ks_difference = check_ks_equal(reference, current)
    for fn in variants.values():  # warm-up (imports, caches)
        fn()
    samples: dict[str, list[float]] = {name: [] for name in (*variants, *slow)}
    for r in range(args.rounds):
        for name, fn in variants.items():
            samples[name].append(seconds(fn))
        if r < args.evidently_rounds:
            for name, fn in slow.items():
                samples[name].append(seconds(fn))
    median = {name: statistics.median(values) for name, values in samples.items()}
    peaks = {name: peak_bytes(fn) for name, fn in (*variants.items(), *slow.items())}
    if slow:
        median["Evidently psi + ks"] = sum(median[n] for n in slow)
        peaks["Evidently psi + ks"] = max(peaks[n] for n in slow)
    stream = streaming_cost(args.rounds)

    ours = median["aimon compare"]
    print(
        f"\n{args.rows} x {NUMERIC} numeric + {CATEGORICAL} categorical columns, psi + ks, "
        f"median of {args.rounds} rounds ({args.evidently_rounds} for Evidently)"
    )
    print(f"{'variant':<26} {'seconds':>9} {'x aimon compare':>16} {'peak MiB':>9}")
    for name, value in median.items():
        print(f"{name:<26} {value:>9.3f} {value / ours:>16.1f} {peaks[name] / 2**20:>9.1f}")
    print(f"KS vs scipy.stats.ks_2samp: largest relative difference {ks_difference:.1e}")
    per_10 = stream["drift_add_s_per_event"] * 10 / stream["features"]
    print(
        f"streaming, {stream['features']} features: fold extraction "
        f"{stream['fold_extract_s_per_event'] * 1e6:.3f} us/event, drift adds "
        f"{stream['drift_add_s_per_event'] * 1e6:.3f} us/event"
    )

    targets = {
        "KS equal to scipy (1e-9 relative)": ks_difference <= 1e-9,
        "compare <= 0.5 x scipy loop": ours <= 0.5 * median["scipy loop"],
        "streaming drift <= 1 us per event per 10 features": per_10 <= 1e-6,
    }
    if slow:
        targets["compare >= 50 x faster than Evidently (psi + ks)"] = (
            median["Evidently psi + ks"] >= 50 * ours
        )
        targets["peak memory below Evidently's"] = (
            peaks["aimon compare"] < peaks["Evidently psi + ks"]
        )
    met = report_targets(targets)
    write_result(
        "drift",
        {
            "rows": args.rows,
            "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
            "rounds": args.rounds,
            "evidently_rounds": args.evidently_rounds,
            "median_seconds": median,
            "ratio_to_aimon_compare": {k: v / ours for k, v in median.items()},
            "peak_bytes": peaks,
            "ks_max_relative_difference_to_scipy": ks_difference,
            "streaming": stream,
            "targets_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
