"""What ``@mon.watch`` and ``mon.observe`` cost, whole cost first, next to prometheus_client.

Every aimon variant runs on a fresh ``aimon.Monitor`` at default settings (only its name set),
one per variant per round, and is measured two ways:

* the **whole cost**: from the start of the timed loop to the end of ``mon.snapshot()``, so it
  includes the fold (feature extraction, sizes, sketches) that the background thread does,
  wherever it ran;
* the **caller's cost**: the timed loop alone, what the caller of ``predict`` waits for.

From each the matching bare loop (the undecorated function, same argument) is subtracted, and
the medians over the rounds are compared with ``prometheus_client``'s ``Histogram.time()`` on
the same function (which does its work inline: its whole cost is its caller's cost).

The count is checked exact: the snapshot's ``totals.calls`` and ``count`` (the default
five-minute window holds every call of a round) must equal the calls made, and nothing may be
counted in ``dropped``. ``totals.features_skipped`` (inputs not profiled because the fold ran
behind) is reported too.

Variants, in interleaved rounds so that they share the machine's noise:

* ``aimon latency only``: ``@mon.watch(features=False, sizes=False)`` on ``predict(1)``;
* ``aimon 20 features: <form>``: ``@mon.watch`` at defaults on the same 20-float row as a dict,
  a list, a 1-D ndarray, a pydantic v2 model, a dataclass, a 1-row DataFrame, and a scalar
  float (one feature). The row's names are ``f0..f19``, which is what a list or ndarray is
  named by position, so each form's ``snap.features`` must equal the dict form's: same names,
  every profiled input counted once (``count == calls - features_skipped``), same means;
* ``aimon observe()``: ``mon.observe(latency_s=..., error=...)`` with log-normal latencies from
  a fixed seed and every ``--error-every``-th call an error: the error rate must be exact and
  p50/p95/p99 within 1 % of numpy's exact quantiles;
* ``whylogs track(row)``: ``DatasetProfile.track(row=...)`` on the dict row, fewer calls,
  whole cost up to ``profile.view()``, if whylogs is installed.

``--soak`` adds a memory run: 10,000,000 latency-only calls on one Monitor, the resident set
size read from ``/proc/self/statm`` every 1,000,000 calls; the first million is the warm-up,
and the largest reading after it may exceed the first by less than ``--soak-max-growth-mib``.

Targets are printed as met or NOT met and stored, never asserted: the script reports what the
code does today. A row that was not profiled costs the fold nothing, so the 3 us per row target
of a feature form is judged on its run at ``on_full="fold"`` (reported beside the default
run), where the caller waits for the fold and every row is profiled
(``features_skipped == 0`` is checked too). Writes
``benchmarks/results/overhead.json``.

Usage: ``python benchmarks/overhead.py [--rounds 5] [--calls 1000000] [--feature-calls 100000]
[--soak]``
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import os
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import prometheus_client
import pydantic
from reporting import report_targets, write_result

import aimon

N_FEATURES = 20
PROMETHEUS = "prometheus_client Histogram.time()"
LATENCY_ONLY = "aimon latency only"
OBSERVE = "aimon observe()"
WHYLOGS = "whylogs track(row)"
#: The variant of a form at on_full="fold": every input profiled, the caller waiting for it.
ALL_PROFILED = ", every row profiled (on_full=fold)"
# The forms whose whole cost per row has a target (the dataclass and the scalar are reported).
TARGET_FORMS = ("dict", "list", "1-D ndarray", "pydantic model", "1-row DataFrame")


def predict_plain(x: Any) -> float:
    """A stand-in model: returns a score, as a classifier would."""
    return 0.5


def observe_plain(latency_s: float | None = None, error: str | None = None) -> None:
    """The bare loop's stand-in for ``mon.observe``: same call, no work."""


def feature_forms() -> dict[str, Any]:
    """The same 20-float row in each input form ``@mon.watch`` profiles, plus a scalar."""
    row = {f"f{i}": 0.25 + 1.5 * i for i in range(N_FEATURES)}
    model = pydantic.create_model("Row", **dict.fromkeys(row, (float, ...)))  # type: ignore[call-overload]
    record = dataclasses.make_dataclass("Record", [(name, float) for name in row])
    return {
        "dict": row,
        "list": list(row.values()),
        "1-D ndarray": np.array(list(row.values()), dtype=np.float64),
        "pydantic model": model(**row),
        "dataclass": record(**row),
        "1-row DataFrame": pd.DataFrame([row]),
        "scalar float": 0.25,
    }


def rss_mib() -> float:
    """Resident set size now, in MiB (``/proc/self/statm``; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclasses.dataclass
class Run:
    """One variant's timed loop in one round; times in seconds per call."""

    caller_s: float
    whole_s: float
    calls: int
    counted: int  # totals.calls (or the baseline's own count)
    in_window: int  # snap.count
    dropped: dict[str, int]
    features_skipped: int = 0
    snapshot: Any = None  # the aimon Snapshot, for the checks

    @property
    def exact(self) -> bool:
        return self.counted == self.in_window == self.calls and not any(self.dropped.values())


def time_bare(fn: Callable[[Any], Any], arg: Any, calls: int) -> float:
    """Seconds per call of ``fn(arg)`` over ``calls`` calls."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter() - start) / calls


def time_watch(
    name: str, arg: Any, calls: int, *, features: bool, profile_all: bool = False
) -> Run:
    """``calls`` calls of ``predict_plain(arg)`` under ``@mon.watch`` on a fresh Monitor
    (``profile_all``: ``on_full="fold"``, the caller waits for the fold, which then profiles
    every input instead of a sample)."""
    mon = aimon.Monitor(name, on_full="fold") if profile_all else aimon.Monitor(name)
    if features:
        predict = mon.watch(predict_plain)
    else:
        predict = mon.watch(features=False, sizes=False)(predict_plain)
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        predict(arg)
    looped = time.perf_counter()
    snap = mon.snapshot()
    end = time.perf_counter()
    mon.close()
    return Run(
        (looped - start) / calls, (end - start) / calls, calls, snap.totals.calls, snap.count,
        dict(snap.dropped), snap.totals.features_skipped, snap,
    )  # fmt: skip


def time_prometheus(arg: Any, calls: int) -> Run:
    """``calls`` calls under ``Histogram.time()`` in a fresh registry; it counts inline."""
    registry = prometheus_client.CollectorRegistry()
    histogram = prometheus_client.Histogram("bench_latency_seconds", "bench", registry=registry)
    predict = histogram.time()(predict_plain)
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        predict(arg)
    elapsed = (time.perf_counter() - start) / calls
    counted = int(registry.get_sample_value("bench_latency_seconds_count") or 0)
    return Run(elapsed, elapsed, calls, counted, counted, {})


def time_observe_bare(latencies: list[float], errors: list[str | None]) -> float:
    gc.collect()
    start = time.perf_counter()
    for latency, error in zip(latencies, errors, strict=True):
        observe_plain(latency_s=latency, error=error)
    return (time.perf_counter() - start) / len(latencies)


def time_observe(latencies: list[float], errors: list[str | None]) -> Run:
    """One ``mon.observe`` per scripted latency and error, on a fresh Monitor."""
    mon = aimon.Monitor("overhead-observe")
    observe = mon.observe
    gc.collect()
    start = time.perf_counter()
    for latency, error in zip(latencies, errors, strict=True):
        observe(latency_s=latency, error=error)
    looped = time.perf_counter()
    snap = mon.snapshot()
    end = time.perf_counter()
    mon.close()
    calls = len(latencies)
    return Run(
        (looped - start) / calls, (end - start) / calls, calls, snap.totals.calls, snap.count,
        dict(snap.dropped), snap.totals.features_skipped, snap,
    )  # fmt: skip


def time_whylogs(profile_class: Any, row: dict[str, float], calls: int) -> Run:
    """``DatasetProfile.track(row=...)`` on a fresh profile; whole cost up to ``view()``."""
    profile = profile_class()
    track = profile.track
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        track(row=row)
    looped = time.perf_counter()
    view = profile.view()
    end = time.perf_counter()
    counted = int(view.get_column("f0").get_metric("counts").n.value)
    return Run((looped - start) / calls, (end - start) / calls, calls, counted, counted, {})


def feature_check(run: Run, dict_run: Run, form: str) -> list[str]:
    """What differs between a form's ``snap.features`` and the dict form's (empty: nothing)."""
    got, want = run.snapshot.features, dict_run.snapshot.features
    profiled = run.counted - run.features_skipped
    problems = []
    if form == "scalar float":  # one feature, f0, the row's first value
        want = {name: summary for name, summary in want.items() if name == "f0"}
    if list(got) != list(want):
        problems.append(f"names {sorted(got)} != {sorted(want)}")
    for name, summary in got.items():
        if summary.count != profiled:
            problems.append(f"{name}: count {summary.count} != {profiled} profiled inputs")
        expected = want.get(name)
        if expected is not None and not math.isclose(
            summary.mean or math.nan, expected.mean or math.nan, rel_tol=1e-9
        ):
            problems.append(f"{name}: mean {summary.mean} != {expected.mean}")
    return problems


def observe_check(run: Run, latencies: list[float], errors: list[str | None]) -> dict[str, Any]:
    """The observe run's error rate and quantiles against the exact ones."""
    snap = run.snapshot
    n_errors = sum(error is not None for error in errors)
    exact = np.quantile(np.asarray(latencies), [0.5, 0.95, 0.99]).tolist()
    got = [snap.latency.p50, snap.latency.p95, snap.latency.p99]
    rel = [math.inf if g is None else abs(g - e) / e for g, e in zip(got, exact, strict=True)]
    return {
        "error_rate": snap.error_rate,
        "error_rate_expected": n_errors / len(errors),
        "error_rate_exact": snap.error_count == n_errors
        and snap.error_rate == n_errors / len(errors),
        "quantiles": dict(zip(("p50", "p95", "p99"), got, strict=True)),
        "quantiles_numpy": dict(zip(("p50", "p95", "p99"), exact, strict=True)),
        "relative_error": dict(zip(("p50", "p95", "p99"), rel, strict=True)),
    }


def soak(calls: int, every: int, max_growth_mib: float) -> dict[str, Any]:
    """``calls`` latency-only calls on one default Monitor, reading RSS every ``every``."""
    mon = aimon.Monitor("overhead-soak")
    predict = mon.watch(features=False, sizes=False)(predict_plain)
    readings = []
    gc.collect()
    start = time.perf_counter()
    done = 0
    while done < calls:
        chunk = min(every, calls - done)
        for _ in range(chunk):
            predict(1)
        done += chunk
        readings.append(rss_mib())  # the first one ends the warm-up
    looped = time.perf_counter()
    snap = mon.snapshot()
    end = time.perf_counter()
    mon.close()
    growth = max(readings) - readings[0]
    result = {
        "calls": calls,
        "rss_every_calls": every,
        "rss_mib": readings,
        "rss_mib_first": readings[0],
        "rss_mib_last": readings[-1],
        "rss_mib_max": max(readings),
        "growth_mib": growth,
        "max_growth_mib": max_growth_mib,
        "caller_us_per_call": (looped - start) / calls * 1e6,
        "whole_us_per_call": (end - start) / calls * 1e6,
        "counted": snap.totals.calls,
        "in_window": snap.count,
        "dropped": dict(snap.dropped),
    }
    print(f"\nsoak: {calls} latency-only calls, whole {result['whole_us_per_call']:.3f} us/call, "
          f"caller {result['caller_us_per_call']:.3f} us/call")  # fmt: skip
    print(f"RSS after warm-up: first {readings[0]:.1f} MiB, last {readings[-1]:.1f} MiB, "
          f"max {max(readings):.1f} MiB (growth {growth:+.2f} MiB); counted {snap.totals.calls}, "
          f"in window {snap.count}, dropped {dict(snap.dropped) or 0}")  # fmt: skip
    return result


def summarise(runs: list[Run], bare: list[float]) -> dict[str, Any]:
    """Medians over the rounds (per call, bare subtracted) and the counts summed."""
    bare_s = statistics.median(bare)
    dropped: Counter[str] = Counter()
    for run in runs:
        dropped.update(run.dropped)
    return {
        "whole_us": (statistics.median(r.whole_s for r in runs) - bare_s) * 1e6,
        "caller_us": (statistics.median(r.caller_s for r in runs) - bare_s) * 1e6,
        "bare_us": bare_s * 1e6,
        "calls": sum(r.calls for r in runs),
        "counted": sum(r.counted for r in runs),
        "dropped": dict(dropped),
        "features_skipped": sum(r.features_skipped for r in runs),
        "calls_per_round": runs[0].calls,
        "counted_per_round": [r.counted for r in runs],
        "in_window_per_round": [r.in_window for r in runs],
        "exact": all(r.exact for r in runs),
        "whole_us_per_round": [r.whole_s * 1e6 for r in runs],
        "caller_us_per_round": [r.caller_s * 1e6 for r in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1_000_000, help="latency-only calls")
    parser.add_argument("--feature-calls", type=int, default=100_000, help="calls per form")
    parser.add_argument("--observe-calls", type=int, default=100_000)
    parser.add_argument("--error-every", type=int, default=50, help="observe: every n-th errs")
    parser.add_argument("--whylogs-calls", type=int, default=1_000)
    parser.add_argument("--soak", action="store_true", help="also run the memory soak")
    parser.add_argument("--soak-calls", type=int, default=10_000_000)
    parser.add_argument("--soak-every", type=int, default=1_000_000)
    parser.add_argument("--soak-max-growth-mib", type=float, default=5.0)
    args = parser.parse_args()

    forms = feature_forms()
    rng = np.random.default_rng(42)
    latencies = rng.lognormal(mean=-4.0, sigma=0.8, size=args.observe_calls).tolist()
    errors = [
        "ValueError" if i % args.error_every == args.error_every - 1 else None
        for i in range(args.observe_calls)
    ]
    profile_class: Any = None
    try:
        from whylogs.core import DatasetProfile

        profile_class = DatasetProfile
    except ImportError:
        print("whylogs not installed: skipping its row", file=sys.stderr)

    def one_round(scale: int) -> tuple[dict[str, float], dict[str, Run]]:
        """Every variant once, interleaved with its bare loop; counts divided by ``scale``."""
        bare: dict[str, float] = {}
        runs: dict[str, Run] = {}
        calls = max(1, args.calls // scale)
        bare["int"] = time_bare(predict_plain, 1, calls)
        runs[PROMETHEUS] = time_prometheus(1, calls)
        runs[LATENCY_ONLY] = time_watch("overhead-latency", 1, calls, features=False)
        feature_calls = max(1, args.feature_calls // scale)
        for form, arg in forms.items():
            bare[form] = time_bare(predict_plain, arg, feature_calls)
            runs[form] = time_watch(f"overhead-{form}", arg, feature_calls, features=True)
            runs[f"{form}{ALL_PROFILED}"] = time_watch(
                f"overhead-{form}-all", arg, feature_calls, features=True, profile_all=True
            )
        n = max(1, len(latencies) // scale)
        bare["observe"] = time_observe_bare(latencies[:n], errors[:n])
        runs[OBSERVE] = time_observe(latencies[:n], errors[:n])
        if profile_class is not None:
            runs[WHYLOGS] = time_whylogs(
                profile_class, forms["dict"], max(1, args.whylogs_calls // scale)
            )
        return bare, runs

    one_round(10)  # warm-up: imports, caches, first-call paths
    bare_rounds: list[dict[str, float]] = []
    run_rounds: list[dict[str, Run]] = []
    for _ in range(args.rounds):
        bare, runs = one_round(1)
        bare_rounds.append(bare)
        run_rounds.append(runs)

    baseline_of = {PROMETHEUS: "int", LATENCY_ONLY: "int", OBSERVE: "observe", WHYLOGS: "dict"}
    variants: dict[str, dict[str, Any]] = {}
    for key in run_rounds[0]:
        label = key if key in baseline_of else f"aimon 20 features: {key}"
        if key.startswith("scalar float"):
            label = f"aimon 1 feature: {key}"
        variants[label] = summarise(
            [runs[key] for runs in run_rounds],
            [bare[baseline_of.get(key, key.removesuffix(ALL_PROFILED))] for bare in bare_rounds],
        )
    reference = variants[PROMETHEUS]["whole_us"]
    for summary in variants.values():
        summary["ratio_to_prometheus_client"] = {
            "whole": summary["whole_us"] / reference,
            "caller": summary["caller_us"] / reference,
        }
    for label in list(variants):  # the whole cost first in the JSON
        variants[label] = {
            k: variants[label][k]
            for k in ("whole_us", "caller_us", "ratio_to_prometheus_client", *variants[label])
        }

    # Features: every form against the dict form, in every round.
    feature_problems: dict[str, list[str]] = {}
    for form in forms:
        if form == "dict":
            continue
        problems = []
        for i, runs in enumerate(run_rounds):
            problems += [f"round {i}: {p}" for p in feature_check(runs[form], runs["dict"], form)]
        feature_problems[form] = problems
    dict_problems = []
    for i, runs in enumerate(run_rounds):
        dict_run = runs["dict"]
        profiled = dict_run.counted - dict_run.features_skipped
        counts = {s.count for s in dict_run.snapshot.features.values()}
        if len(dict_run.snapshot.features) != N_FEATURES or counts != {profiled}:
            dict_problems.append(f"round {i}: {len(dict_run.snapshot.features)} features, "
                                 f"counts {sorted(counts)} != {profiled} profiled")  # fmt: skip
    feature_problems["dict"] = dict_problems
    observed = [observe_check(runs[OBSERVE], latencies, errors) for runs in run_rounds]
    worst_rel = {q: max(o["relative_error"][q] for o in observed) for q in ("p50", "p95", "p99")}

    print(f"\nper-call overhead (bare loop subtracted), median of {args.rounds} rounds; whole = "
          f"loop + mon.snapshot(), caller = loop alone; a fresh default Monitor each")  # fmt: skip
    print(f"{'variant':<70} {'whole':>10} {'caller':>10} {'whole x':>8} {'caller x':>8} "
          f"{'counted/calls':>21} {'dropped':>9} {'not profiled':>12}")  # fmt: skip
    print(f"{'':<70} {'us':>10} {'us':>10} {'prom':>8} {'prom':>8}")
    for label, s in variants.items():
        ratio = s["ratio_to_prometheus_client"]
        counted = f"{s['counted']}/{s['calls']}"
        print(f"{label:<70} {s['whole_us']:>10.3f} {s['caller_us']:>10.3f} "
              f"{ratio['whole']:>8.3f} {ratio['caller']:>8.3f} {counted:>21} "
              f"{sum(s['dropped'].values()):>9} {s['features_skipped']:>12}")  # fmt: skip
    for name, drops in ((k, v["dropped"]) for k, v in variants.items() if v["dropped"]):
        print(f"dropped by reason, {name}: {drops}")
    for form, problems in feature_problems.items():
        for problem in problems[:3]:
            print(f"features, {form}: {problem}")
        if len(problems) > 3:
            print(f"features, {form}: ... {len(problems) - 3} more")
    print(f"observe: error rate {observed[0]['error_rate']:.6f} "
          f"(exact {observed[0]['error_rate_expected']:.6f}); worst relative error of "
          + ", ".join(f"{q} {e:.5f}" for q, e in worst_rel.items()))  # fmt: skip

    lean = variants[LATENCY_ONLY]
    obs = variants[OBSERVE]
    targets: dict[str, bool] = {
        "latency only: whole <= 0.5 x prometheus_client": lean["whole_us"] <= 0.5 * reference,
        "latency only: every call counted, 0 dropped": lean["exact"],
    }
    for form in TARGET_FORMS:  # a row not profiled costs less: the target needs them all
        row = variants[f"aimon 20 features: {form}{ALL_PROFILED}"]
        targets[f"20-feature {form}: whole <= 3 us per row, every row profiled"] = (
            row["whole_us"] <= 3.0 and row["features_skipped"] == 0
        )
    targets["observe: every call counted, 0 dropped"] = obs["exact"]
    targets["observe: error rate exact"] = all(o["error_rate_exact"] for o in observed)
    targets["observe: p50/p95/p99 within 1 %"] = max(worst_rel.values()) <= 0.01
    soaked = None
    if args.soak:
        soaked = soak(args.soak_calls, args.soak_every, args.soak_max_growth_mib)
        bound = args.soak_max_growth_mib
        targets[f"soak: RSS growth < {bound:g} MiB over {args.soak_calls} calls"] = (
            soaked["growth_mib"] < bound
        )
        counts = (soaked["counted"], soaked["in_window"])
        targets["soak: every call counted, 0 dropped"] = counts == (
            args.soak_calls,
            args.soak_calls,
        ) and not any(soaked["dropped"].values())
    checks = {
        f"{label}: every call counted, 0 dropped": summary["exact"]
        for label, summary in variants.items()
        if label not in (LATENCY_ONLY, OBSERVE)
    }
    for form, problems in feature_problems.items():
        what = "20 features, each input counted once" if form == "dict" else "as the dict form's"
        checks[f"features, {form}: {what}"] = not problems
    met = report_targets(targets)
    checked = report_targets(checks, word="check")
    write_result(
        "overhead",
        {
            "rounds": args.rounds,
            "calls": args.calls,
            "feature_calls": args.feature_calls,
            "observe_calls": args.observe_calls,
            "whylogs_calls": args.whylogs_calls if profile_class is not None else None,
            "monitor": "aimon.Monitor(name) at default settings, fresh per variant per round",
            "overhead_us_per_call": variants,
            "feature_problems": feature_problems,
            "observe": {"error_every": args.error_every, "rounds": observed},
            "soak": soaked,
            "targets_met": met,
            "checks": checked,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
