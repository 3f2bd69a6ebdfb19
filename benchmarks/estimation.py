"""CBPE per window: performance estimated from 100,000 scored predictions, next to NannyML.

A reference of 10,000 labelled scores (logit-normal, labels drawn from a miscalibrated
version of the scores so that calibration has work to do) fits a ``PerformanceEstimator``
once per calibration map (identity, sigmoid, isotonic). Timed per window of ``--rows``
(100,000) live scores:

* ``one batch``: ``new_stats()``, ``add(stats, scores)`` (calibrate, then count into the
  sums) and ``estimate(stats)``: accuracy, precision, recall, F1 and ROC AUC with their
  intervals;
* ``sliced``: the window as the Monitor holds it, ``--slices`` (30) slices each added apart,
  merged and estimated (the snapshot's work is the merge and the estimate).

The target is one batch <= 10 ms. With ``--nannyml-python`` (an interpreter that has NannyML,
see tests/data/make_cbpe_oracle.py), NannyML's ``CBPE.estimate`` on the same 100,000 rows as one
chunk (isotonic calibration, the five metrics) is timed in that interpreter in the same run,
its fit excluded as ours is. Timed in interleaved rounds (median). Writes
``benchmarks/results/estimation.json``.

Usage: ``python benchmarks/estimation.py [--rows 100000] [--slices 30] [--rounds 7]
[--nannyml-python /tmp/nannyml-venv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import numpy as np
from reporting import report_targets, write_result

from aimon.quality.cbpe import PerformanceEstimator

TARGET_MS = 10.0

_NANNYML = """
import json, sys, time, warnings
import numpy as np, pandas as pd, nannyml
warnings.simplefilter("ignore")
data = np.load(sys.argv[1])
frame = lambda s, y: pd.DataFrame({"p": s, "yp": (s >= 0.5).astype(int), "y": y})
cbpe = nannyml.CBPE(y_pred_proba="p", y_pred="yp", y_true="y",
                    problem_type="classification_binary", chunk_size=len(data["live"]),
                    metrics=["accuracy", "precision", "recall", "f1", "roc_auc"])
started = time.perf_counter()
cbpe.fit(frame(data["ref"], data["ref_y"]))
fit = time.perf_counter() - started
analysis = frame(data["live"], np.zeros(len(data["live"]))).drop(columns="y")
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    cbpe.estimate(analysis)
    times.append(time.perf_counter() - started)
print(json.dumps({"version": nannyml.__version__, "fit_s": fit, "estimate_s": times,
                  "calibrated": bool(cbpe.needs_calibration)}))
"""


def _data(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref_logit = rng.normal(0.0, 2.0, 10_000)
    live_logit = rng.normal(0.3, 2.0, rows)
    ref = 1.0 / (1.0 + np.exp(-ref_logit))
    # the truth is sharper than the scores: calibration has work to do
    ref_y = rng.uniform(size=ref.size) < 1.0 / (1.0 + np.exp(-1.5 * ref_logit))
    return {"ref": ref, "ref_y": ref_y, "live": 1.0 / (1.0 + np.exp(-live_logit))}


def _one_batch(est: PerformanceEstimator, live: np.ndarray) -> float:
    started = time.perf_counter()
    stats = est.new_stats()
    est.add(stats, live)
    est.estimate(stats)
    return time.perf_counter() - started


def _sliced(est: PerformanceEstimator, parts: list[np.ndarray]) -> tuple[float, float]:
    started = time.perf_counter()
    slices = []
    for part in parts:
        stats = est.new_stats()
        est.add(stats, part)
        slices.append(stats)
    added = time.perf_counter()
    window = est.new_stats()
    for stats in slices:
        window.merge(stats)
    est.estimate(window)
    return added - started, time.perf_counter() - added


def _nannyml(python: str, data: dict[str, np.ndarray], rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.npz")
        np.savez(path, ref=data["ref"], ref_y=data["ref_y"], live=data["live"])
        out = subprocess.run(
            [python, "-c", _NANNYML, path, str(rounds)], capture_output=True, text=True, check=True
        )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--nannyml-python", default=None)
    args = parser.parse_args()

    data = _data(args.rows)
    parts = np.array_split(data["live"], args.slices)
    estimators: dict[str, PerformanceEstimator] = {}
    fit_s: dict[str, float] = {}
    for method in ("identity", "sigmoid", "isotonic"):
        started = time.perf_counter()
        estimators[method] = PerformanceEstimator.fit(
            data["ref"], data["ref_y"], calibration=method
        )  # type: ignore[arg-type]
        fit_s[method] = time.perf_counter() - started
    auto = PerformanceEstimator.fit(data["ref"], data["ref_y"])
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for method in ("identity", "sigmoid", "isotonic"):
            est = estimators[method]
            times.setdefault(f"{method} one batch", []).append(_one_batch(est, data["live"]))
            add, merge_estimate = _sliced(est, parts)
            times.setdefault(f"{method} sliced: adds", []).append(add)
            times.setdefault(f"{method} sliced: merge + estimate", []).append(merge_estimate)
    median_ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}

    print(f"CBPE on {args.rows:,} scores, median of {args.rounds} rounds")
    for name, ms in median_ms.items():
        print(f"  {name:38s} {ms:8.2f} ms")
    print(
        f"  fit on 10,000 reference rows: {', '.join(f'{m} {s:.3f} s' for m, s in fit_s.items())}"
    )
    print(f"  'auto' chose {auto.calibration.method}")

    nannyml = None
    if args.nannyml_python:
        nannyml = _nannyml(args.nannyml_python, data, args.rounds)
        nml_ms = 1e3 * statistics.median(nannyml["estimate_s"])  # type: ignore[arg-type]
        nannyml["estimate_median_ms"] = nml_ms
        ratio = nml_ms / median_ms["isotonic one batch"]
        nannyml["ratio_to_aimon_isotonic"] = ratio
        print(f"  NannyML {nannyml['version']} CBPE.estimate: {nml_ms:.1f} ms ({ratio:.0f}x)")

    worst = max(median_ms[f"{m} one batch"] for m in ("identity", "sigmoid", "isotonic"))
    met = report_targets(
        {f"one batch <= {TARGET_MS:g} ms (worst map: {worst:.2f} ms)": worst <= TARGET_MS}
    )
    write_result(
        "estimation",
        {
            "rows": args.rows,
            "slices": args.slices,
            "rounds": args.rounds,
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "median_ms": median_ms,
            "fit_s": fit_s,
            "auto_calibration": auto.calibration.method,
            "nannyml": nannyml,
            "targets": met,
        },
    )


if __name__ == "__main__":
    main()
