"""Lines per second through the whole sidecar pipeline (tail, parse, aggregate, drift on 10
features), side by side with a bare ``json.loads`` loop over the same file, in one process;
and resident memory as the lines go by.

Writes ``benchmarks/results/sidecar.json``.

Usage: ``python benchmarks/sidecar.py [--lines 1000000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from reporting import report_targets, write_result

from aimon.drift import Reference
from aimon.sidecar import Sidecar

FEATURES = 10


def write_log(path: Path, lines: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(min(lines, 100_000), FEATURES)).round(4)
    now = time.time()
    with path.open("w") as out:
        for i in range(lines):
            row = values[i % len(values)]
            record = {"ts": now, "model": "fraud", "version": "1", "latency_ms": 12.5,
                      "error": None, "features": {f"f{j}": float(row[j]) for j in range(FEATURES)},
                      "prediction": 0.1}  # fmt: skip
            out.write(json.dumps(record) + "\n")


def bare_loop(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return time.perf_counter() - start


def sidecar_run(path: Path, reference: Reference) -> tuple[float, list[float]]:
    """Seconds to ingest the file, and RSS (MiB) after each tenth of it."""
    sidecar = Sidecar(str(path), monitor_settings={"reference": reference, "window": "5m"})
    rss: list[float] = []
    start = time.perf_counter()
    try:
        while sidecar.step(max_lines=100_000):
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        for monitor in sidecar.monitors.values():
            monitor.flush()
        elapsed = time.perf_counter() - start
        calls = sum(m.snapshot().totals.calls for m in sidecar.monitors.values())
    finally:
        sidecar.close()
    assert calls == sidecar.lines, (calls, sidecar.lines)
    return elapsed, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    reference = Reference.from_frame(
        {f"f{j}": rng.normal(size=20_000) for j in range(FEATURES)}, prediction=None
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.log"
        write_log(path, args.lines)
        bare, ours, rss = [], [], []
        for _ in range(args.rounds):
            bare.append(bare_loop(path))
            elapsed, memory = sidecar_run(path, reference)
            ours.append(elapsed)
            rss = memory
    bare_rate = args.lines / statistics.median(bare)
    our_rate = args.lines / statistics.median(ours)
    growth = rss[-1] - rss[len(rss) // 2] if len(rss) > 2 else 0.0
    print(f"\n{args.lines} lines, {FEATURES} features, median of {args.rounds} rounds")
    print(f"bare json.loads loop: {bare_rate:,.0f} lines/s")
    print(f"aimon sidecar (tail, parse, aggregate, drift): {our_rate:,.0f} lines/s "
          f"({our_rate / bare_rate:.2f}x the bare loop)")  # fmt: skip
    print(f"peak RSS {rss[-1]:.0f} MiB; growth over the second half {growth:+.1f} MiB")
    met = report_targets({
        ">= 100,000 lines/s": our_rate >= 100_000,
        "at least as fast as the bare json.loads loop": our_rate >= bare_rate,
    })  # fmt: skip
    write_result("sidecar", {
        "lines": args.lines, "features": FEATURES, "rounds": args.rounds,
        "bare_lines_per_second": bare_rate, "sidecar_lines_per_second": our_rate,
        "ratio_to_bare": our_rate / bare_rate, "peak_rss_mib": rss[-1] if rss else None,
        "rss_growth_second_half_mib": growth, "targets_met": met,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
