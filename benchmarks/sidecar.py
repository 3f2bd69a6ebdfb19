"""Lines per second through the whole sidecar pipeline (tail, parse, aggregate, drift on 10
features), side by side with a bare ``json.loads`` loop over the same file, in one process;
and resident memory while 10 million lines go through one sidecar.

Speed: the median of ``--rounds`` runs over a file of ``--lines`` lines; a bare ``orjson``
loop is shown too, as the floor of parsing alone.

Memory: one sidecar reads ``--memory-lines`` lines from a log that is rotated (renamed and
replaced) every million lines, so the file on disk stays small. Its window is 30 s, so that
it fills early in the run and what is measured is the steady state (memory grows while a
window fills: its slices are bounded, not empty). After every million lines it samples the
resident set size (current, from /proc), the same after glibc's ``malloc_trim`` hands freed
memory back to the system (what is still in use, without the allocator's cache), and the
number of memory blocks Python has allocated.

Writes ``benchmarks/results/sidecar.json``.

Usage: ``python benchmarks/sidecar.py [--lines 1000000] [--rounds 3] [--memory-lines 10000000]``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from reporting import report_targets, write_result

from aimon.drift import Reference
from aimon.sidecar import MonitorSettings, Sidecar

FEATURES = 10
BLOCK = 100_000  # distinct lines; longer logs repeat them


def log_block(seed: int = 0, ts: float | None = None) -> bytes:
    """``BLOCK`` prediction lines in the design's format, 10 numeric features each."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(BLOCK, FEATURES)).round(4)
    now = time.time() if ts is None else ts
    lines = []
    for row in values:
        record = {"ts": now, "model": "fraud", "version": "1", "latency_ms": 12.5,
                  "error": None, "features": {f"f{j}": float(row[j]) for j in range(FEATURES)},
                  "prediction": 0.1}  # fmt: skip
        lines.append(json.dumps(record) + "\n")
    return "".join(lines).encode()


def write_log(path: Path, lines: int, block: bytes) -> None:
    with path.open("wb") as out:
        for _ in range(lines // BLOCK):
            out.write(block)
        out.write(b"".join(block.splitlines(keepends=True)[: lines % BLOCK]))


def loop_seconds(path: Path, loads) -> float:
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            loads(line)
    return time.perf_counter() - start


def reference() -> Reference:
    rng = np.random.default_rng(1)
    columns = {f"f{j}": rng.normal(size=20_000) for j in range(FEATURES)}
    return Reference.from_frame(columns, prediction=None)


def make_sidecar(path: Path, window: str = "5m") -> Sidecar:
    return Sidecar(
        str(path), monitor_settings=MonitorSettings(reference=reference(), window=window)
    )


def drain(sidecar: Sidecar) -> int:
    read = 0
    while batch := sidecar.step():  # the sidecar's own batch size
        read += batch
    return read


def sidecar_seconds(path: Path) -> float:
    sidecar = make_sidecar(path)
    try:
        start = time.perf_counter()
        drain(sidecar)
        elapsed = time.perf_counter() - start
        calls = sum(m.snapshot().totals.calls for m in sidecar.monitors.values())
    finally:
        sidecar.close()
    assert calls == sidecar.lines, (calls, sidecar.lines)
    return elapsed


def rss_mib() -> float:
    """The resident set size now (not the peak)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def trimmed_rss_mib() -> float:
    """The resident set size once glibc has returned the free memory it caches (as RSS when
    glibc is not there)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mib()


def memory_run(folder: Path, total: int, per_file: int = 1_000_000) -> dict[str, list[float]]:
    """Memory after each ``per_file`` lines of ``total``, through rotations."""
    path = folder / "rotating.log"
    write_log(path, per_file, log_block(seed=2))
    sidecar = make_sidecar(path, window="30s")
    samples: dict[str, list[float]] = {"rss_mib": [], "trimmed_rss_mib": [], "blocks": []}
    try:
        for written in range(per_file, total + 1, per_file):
            drain(sidecar)
            assert sidecar.lines == written, (sidecar.lines, written)
            samples["rss_mib"].append(rss_mib())
            samples["trimmed_rss_mib"].append(trimmed_rss_mib())
            samples["blocks"].append(float(sys.getallocatedblocks()))
            if written < total:
                rotated = path.with_name("rotating.log.1")
                rotated.unlink(missing_ok=True)
                path.rename(rotated)
                write_log(path, per_file, log_block(seed=2, ts=time.time()))
        calls = sum(m.snapshot().totals.calls for m in sidecar.monitors.values())
    finally:
        sidecar.close()
    assert calls == total, (calls, total)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-lines", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "predictions.log"
        write_log(path, args.lines, log_block())
        bare, fast, ours = [], [], []
        for _ in range(args.rounds):
            bare.append(loop_seconds(path, json.loads))
            fast.append(loop_seconds(path, orjson.loads))
            ours.append(sidecar_seconds(path))
        path.unlink()
        memory = memory_run(folder, args.memory_lines) if args.memory_lines else {}
    bare_rate = args.lines / statistics.median(bare)
    orjson_rate = args.lines / statistics.median(fast)
    our_rate = args.lines / statistics.median(ours)
    print(f"\n{args.lines:,} lines, {FEATURES} features, median of {args.rounds} rounds")
    print(f"bare json.loads loop: {bare_rate:,.0f} lines/s")
    print(f"bare orjson.loads loop (parsing alone): {orjson_rate:,.0f} lines/s")
    print(f"aimon sidecar (tail, parse, aggregate, drift): {our_rate:,.0f} lines/s "
          f"({our_rate / bare_rate:.2f}x the json.loads loop)")  # fmt: skip
    trimmed, blocks = memory.get("trimmed_rss_mib", []), memory.get("blocks", [])
    # From the second million on: the first fills the window and warms the caches.
    growth = max(trimmed[1:]) - trimmed[1] if len(trimmed) > 2 else 0.0
    block_growth = (max(blocks[1:]) - blocks[1]) / blocks[1] if len(blocks) > 2 else 0.0
    if memory:
        print(f"memory over {args.memory_lines:,} lines, after each million (MiB):")
        for name in ("rss_mib", "trimmed_rss_mib"):
            print(f"  {name:16} " + " ".join(f"{value:4.0f}" for value in memory[name]))
        print(f"growth after the second million: {growth:+.1f} MiB in use, "
              f"{block_growth:+.2%} Python blocks")  # fmt: skip
    met = report_targets({
        ">= 100,000 lines/s": our_rate >= 100_000,
        "at least as fast as the bare json.loads loop": our_rate >= bare_rate,
        "memory flat (< 16 MiB in use and < 1 % more Python blocks after 2M lines)":
            growth < 16 and block_growth < 0.01,
    })  # fmt: skip
    write_result("sidecar", {
        "lines": args.lines, "features": FEATURES, "rounds": args.rounds,
        "bare_lines_per_second": bare_rate, "orjson_lines_per_second": orjson_rate,
        "sidecar_lines_per_second": our_rate, "ratio_to_bare": our_rate / bare_rate,
        "memory_lines": args.memory_lines, "memory_per_million": memory,
        "memory_growth_after_two_million_mib": growth,
        "python_blocks_growth_after_two_million": block_growth, "targets_met": met,
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
