"""Model quality, batch and streaming, next to what users would pick instead, in one process.

Batch: ``quality_metrics(actual, predicted)`` on 1,000,000 pairs per task (the task inferred,
as users call it), next to ``sklearn.metrics`` computing the same metrics on the same numpy
arrays:

* ``binary``: scores of a positive class (30 % positives): accuracy, precision, recall and
  F1 (binary and macro) at threshold 0.5, log loss, ROC AUC;
* ``multiclass``: 5-class labels: accuracy, macro precision, recall and F1;
* ``regression``: MAE, RMSE, MAPE, R².

Two scikit-learn variants: ``sklearn (per metric)``, one call per metric
(``accuracy_score``, ``precision_score``, ``f1_score(average="macro")``...: what one writes),
and ``sklearn (shared)``, one ``precision_recall_fscore_support`` for every label metric (the
fastest one can ask scikit-learn; regression has no such shortcut). Every metric of
``quality_metrics`` is checked equal to scikit-learn's (1e-9 relative) before timing. If
``evidently`` is installed, its ``ClassificationPreset`` / ``RegressionPreset`` run on the first
``--evidently-pairs`` pairs (a data frame built from the arrays, a ``Report`` run and read
with ``.dict()``), timed next to ``quality_metrics`` on the same pairs.

Streaming: a live ``Monitor`` (the default window, 5m in 10 s slices; fake clock) fed binary
scores at 200 pairs per second of event time: each second ``observe_many(ts, predictions=,
request_ids=)`` with that second's predictions and ``record_outcomes`` with the outcomes of the
predictions made 5 s before; ``snapshot()`` every 15 s (the default ``evaluation_interval``).
Next to it, what one writes by hand: a dict of predictions by request id, each outcome popped
from it into a deque of (ts, actual, prediction), and at each evaluation the deque trimmed to
the monitor's window and the batch metrics above computed with ``sklearn.metrics`` (per metric)
on it. The first 100,000 pairs (``--stream-warmup``) are fed untimed, without evaluations: the
window fills and the join's remembered ids reach their cap, the steady state of a service
that has run a while. 100,000 pairs (``--stream-pairs``) are then timed. The hand-written dict
is unbounded; the monitor's join is bounded, expires, and counts duplicates, early and late
outcomes. Per evaluation, the windows are checked to hold the same pairs, every metric equal
(1e-9 relative) and the monitor's binned ROC AUC within its ``roc_auc_error_bound`` of
``roc_auc_score``. The monitor's cost is split into ``observe_many`` (of which holding the
predictions for the join: the same calls without request ids subtracted), ``record_outcomes``
(join and quality fold) and ``snapshot``. The hand-written cost grows with the window's pairs
per evaluation (``--rate``, ``--window``, ``--evaluate-every``); the monitor's does not.

Memory: tracemalloc's retained and peak bytes while a monitor's join fills with
``max_pending_predictions`` (100,000) predictions that wait for outcomes (fresh id strings and
floats, as requests bring them). Then 1,000,000 predictions arrive without outcomes: the held
count must stay at the cap, and outcomes for predictions that left are counted ``expired``.
The join's state (``export_state()["join"]``, what a checkpoint pickles) is rebuilt from its
pickle under tracemalloc at the cap and at the end, when every entry has been replaced (the
held predictions, and as many ids remembered after their predictions left); a rebuilt copy is
a little larger than the live join (pickling does not share the floats of the heap records).

Timed in interleaved rounds (median). Writes ``benchmarks/results/quality.json``.

Usage: ``python benchmarks/quality.py [--pairs 1000000] [--rounds 5] [--evidently-pairs 100000]
[--evidently-rounds 3] [--stream-pairs 100000] [--stream-warmup 100000] [--stream-rounds 3]
[--rate 200] [--window 300] [--slice 10] [--evaluate-every 15] [--max-pending 100000]
[--memory-predictions 1000000]``
"""

from __future__ import annotations

import argparse
import gc
import math
import pickle
import statistics
import sys
import time
import tracemalloc
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from reporting import report_targets, write_result
from sklearn import metrics as skm

import aimon
from aimon.quality import QualityMetrics, quality_metrics

TASKS = ("binary", "multiclass", "regression")
START = 1_700_000_000.0  # the fake clock's start (epoch seconds)
DELAY_S = 5  # an outcome arrives this many seconds after its prediction
MEMORY_RATE = 1000  # predictions per second of event time in the memory run
RELATIVE = 1e-9


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- batch


def make_pairs(task: str, n: int, seed: int = 0) -> tuple[NDArray[Any], NDArray[Any]]:
    """(actual, predicted) numpy arrays for one task."""
    rng = np.random.default_rng(seed)
    if task == "binary":
        actual = (rng.random(n) < 0.3).astype(np.int64)
        logit = rng.normal(0.0, 1.5, n) + 1.2 * (2 * actual - 1)
        return actual, 1.0 / (1.0 + np.exp(-logit))
    if task == "multiclass":
        actual = rng.integers(0, 5, n)
        return actual, np.where(rng.random(n) < 0.7, actual, rng.integers(0, 5, n))
    actual = rng.lognormal(3.0, 0.5, n)
    return actual, actual * (1.0 + rng.normal(0.0, 0.1, n)) + rng.normal(0.0, 1.0, n)


def sklearn_per_metric(
    task: str, actual: NDArray[Any], predicted: NDArray[Any]
) -> dict[str, float]:
    """The metrics of ``quality_metrics``, one ``sklearn.metrics`` call each."""
    if task == "regression":
        return {
            "mae": skm.mean_absolute_error(actual, predicted),
            "rmse": skm.root_mean_squared_error(actual, predicted),
            "mape": skm.mean_absolute_percentage_error(actual, predicted),
            "r2": skm.r2_score(actual, predicted),
        }
    labels = (predicted >= 0.5).astype(np.int64) if task == "binary" else predicted
    out = {
        "accuracy": skm.accuracy_score(actual, labels),
        "precision_macro": skm.precision_score(actual, labels, average="macro"),
        "recall_macro": skm.recall_score(actual, labels, average="macro"),
        "f1_macro": skm.f1_score(actual, labels, average="macro"),
    }
    if task == "binary":
        out["precision"] = skm.precision_score(actual, labels)
        out["recall"] = skm.recall_score(actual, labels)
        out["f1"] = skm.f1_score(actual, labels)
        out["log_loss"] = skm.log_loss(actual, predicted)
        out["roc_auc"] = skm.roc_auc_score(actual, predicted)
    return out


def sklearn_shared(task: str, actual: NDArray[Any], predicted: NDArray[Any]) -> dict[str, float]:
    """The same, with one ``precision_recall_fscore_support`` for every label metric
    (classification tasks only)."""
    labels = (predicted >= 0.5).astype(np.int64) if task == "binary" else predicted
    classes = np.unique(np.concatenate([actual, labels]))
    p, r, f, _ = skm.precision_recall_fscore_support(
        actual, labels, labels=classes, zero_division=0
    )
    out = {
        "accuracy": skm.accuracy_score(actual, labels),
        "precision_macro": float(np.mean(p)),
        "recall_macro": float(np.mean(r)),
        "f1_macro": float(np.mean(f)),
    }
    if task == "binary":
        positive = int(np.flatnonzero(classes == 1)[0])
        out.update(precision=p[positive], recall=r[positive], f1=f[positive])
        out["log_loss"] = skm.log_loss(actual, predicted)
        out["roc_auc"] = skm.roc_auc_score(actual, predicted)
    return out


def largest_difference(ours: QualityMetrics, theirs: dict[str, float]) -> float:
    """The largest relative difference between our metrics and theirs (inf if one lacks it)."""
    worst = 0.0
    for name, value in theirs.items():
        mine = getattr(ours, name)
        if mine is None:
            return math.inf
        worst = max(worst, abs(mine - value) / max(abs(value), 1e-300))
    return worst


def same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12)


def evidently_run(task: str) -> Callable[[NDArray[Any], NDArray[Any]], Any] | None:
    """A run of Evidently's preset for ``task``, or None when it is not installed."""
    try:
        from evidently import (
            BinaryClassification,
            DataDefinition,
            Dataset,
            MulticlassClassification,
            Regression,
            Report,
        )
        from evidently.presets import ClassificationPreset, RegressionPreset
    except ImportError:
        return None
    if task == "binary":
        definition = DataDefinition(
            numerical_columns=["prediction"],
            classification=[
                BinaryClassification(target="target", prediction_probas="prediction", pos_label=1)
            ],
        )
        preset: Any = ClassificationPreset()
    elif task == "multiclass":
        definition = DataDefinition(
            categorical_columns=["target", "prediction"],
            classification=[
                MulticlassClassification(target="target", prediction_labels="prediction")
            ],
        )
        preset = ClassificationPreset()
    else:
        definition = DataDefinition(
            numerical_columns=["target", "prediction"],
            regression=[Regression(target="target", prediction="prediction")],
        )
        preset = RegressionPreset()

    def run(actual: NDArray[Any], predicted: NDArray[Any]) -> Any:
        frame = pd.DataFrame({"target": actual, "prediction": predicted})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = Dataset.from_pandas(frame, data_definition=definition)
            return Report([preset]).run(data, None).dict()

    return run


def evidently_values(task: str, result: dict[str, Any]) -> dict[str, float]:
    """Evidently's values under our metric names (its label metrics are macro averages for
    more than two classes; MAE and MAPE are reported as mean and std, MAPE in percent)."""
    names = {
        "Accuracy": "accuracy",
        "Precision": "precision_macro" if task == "multiclass" else "precision",
        "Recall": "recall_macro" if task == "multiclass" else "recall",
        "F1Score": "f1_macro" if task == "multiclass" else "f1",
        "LogLoss": "log_loss",
        "RocAuc": "roc_auc",
        "MAE": "mae",
        "RMSE": "rmse",
        "MAPE": "mape",
        "R2Score": "r2",
    }
    percent = {"mape"}  # Evidently's MAPE is in percent
    out: dict[str, float] = {}
    for metric in result["metrics"]:
        name = names.get(metric["metric_name"].split("(")[0])
        value = metric["value"]
        if isinstance(value, dict):
            value = value.get("mean")
        if name is not None and isinstance(value, int | float):
            out[name] = float(value) / (100.0 if name in percent else 1.0)
    return out


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def batch(args: argparse.Namespace) -> dict[str, Any]:
    """Times per task and variant (median of interleaved rounds) and the equality checks."""
    data = {task: make_pairs(task, args.pairs, seed=i) for i, task in enumerate(TASKS)}
    variants: dict[str, Callable[[str, NDArray[Any], NDArray[Any]], Any]] = {
        "aimon quality_metrics": lambda task, a, p: quality_metrics(a, p),
        "sklearn (per metric)": sklearn_per_metric,
        "sklearn (shared)": sklearn_shared,
    }
    difference: dict[str, float] = {}
    for task, (actual, predicted) in data.items():  # checks first (also the warm-up)
        ours = quality_metrics(actual, predicted)
        expected_task = "classification" if task == "multiclass" else task
        expected_task = "binary_score" if task == "binary" else expected_task
        assert ours.task == expected_task and ours.count == args.pairs, ours
        per_metric = sklearn_per_metric(task, actual, predicted)
        if task != "regression":
            shared = sklearn_shared(task, actual, predicted)
            assert all(same(shared[k], v) for k, v in per_metric.items()), (per_metric, shared)
        difference[task] = largest_difference(ours, per_metric)

    samples = {task: {name: [] for name in variants} for task in TASKS}
    del samples["regression"]["sklearn (shared)"]  # no shortcut: the same calls
    for _ in range(args.rounds):
        for task, (actual, predicted) in data.items():
            for name, fn in variants.items():
                if name not in samples[task]:
                    continue
                samples[task][name].append(seconds(lambda fn=fn: fn(task, actual, predicted)))  # noqa: B023
    median = {
        task: {name: statistics.median(values) for name, values in by_name.items()}
        for task, by_name in samples.items()
    }

    evidently: dict[str, Any] = {}
    runs = {task: evidently_run(task) for task in TASKS} if args.evidently_rounds > 0 else {}
    if runs and all(run is not None for run in runs.values()):
        small = {
            task: (a[: args.evidently_pairs], p[: args.evidently_pairs])
            for task, (a, p) in data.items()
        }
        ev_samples: dict[str, dict[str, list[float]]] = {
            task: {"aimon quality_metrics": [], "Evidently preset": []} for task in TASKS
        }
        ev_difference: dict[str, float] = {}
        for task, (actual, predicted) in small.items():  # warm-up and values
            run = runs[task]
            assert run is not None
            theirs = evidently_values(task, run(actual, predicted))
            reference = sklearn_per_metric(task, actual, predicted)
            ev_difference[task] = max(
                abs(v - reference[k]) / max(abs(reference[k]), 1e-300) for k, v in theirs.items()
            )
        for _ in range(args.evidently_rounds):
            for task, (actual, predicted) in small.items():
                run = runs[task]
                assert run is not None
                ev_samples[task]["aimon quality_metrics"].append(
                    seconds(lambda a=actual, p=predicted: quality_metrics(a, p))
                )
                ev_samples[task]["Evidently preset"].append(
                    seconds(lambda run=run, a=actual, p=predicted: run(a, p))
                )
        evidently = {
            "pairs": min(args.evidently_pairs, args.pairs),
            "rounds": args.evidently_rounds,
            "median_seconds": {
                task: {name: statistics.median(v) for name, v in by_name.items()}
                for task, by_name in ev_samples.items()
            },
            "max_relative_difference_to_sklearn": ev_difference,
        }
    elif args.evidently_rounds > 0:
        print("evidently not installed: skipping its columns", file=sys.stderr)
    return {"median": median, "difference": difference, "evidently": evidently}


# --------------------------------------------------------------------------- streaming


@dataclass
class Stream:
    """Binary scores in one-second batches; per second: (now, prediction batch or None,
    outcome batch or None, evaluate?). Every list is built once, outside the timings."""

    pairs: int  # timed
    warm_batches: int  # the first seconds' batches, fed untimed, with no evaluation
    rate: int  # pairs per second of event time
    window_s: int
    slice_s: int
    evaluate_every_s: int
    ids: list[list[str]] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    ts: list[NDArray[np.float64]] = field(default_factory=list)
    outcomes: list[list[tuple[str, int, float]]] = field(default_factory=list)
    steps: list[tuple[float, int | None, int | None, bool]] = field(default_factory=list)


def make_stream(args: argparse.Namespace, seed: int = 7) -> Stream:
    rate = args.rate
    warm_batches = math.ceil(args.stream_warmup / rate)
    pairs = warm_batches * rate + args.stream_pairs
    actual, scores = make_pairs("binary", pairs, seed)
    actual_list, score_list = actual.tolist(), scores.tolist()
    stream = Stream(
        args.stream_pairs, warm_batches, rate, args.window, args.slice, args.evaluate_every
    )
    batches = math.ceil(pairs / rate)
    for b in range(batches):
        lo, hi = b * rate, min(pairs, (b + 1) * rate)
        stream.ids.append([f"req-{i}" for i in range(lo, hi)])
        stream.scores.append(score_list[lo:hi])
        stream.ts.append(np.full(hi - lo, START + b))
        arrives = START + b + DELAY_S
        stream.outcomes.append(
            [(f"req-{i}", actual_list[i], arrives) for i in range(lo, hi)]  # fresh ids
        )
    last = batches + DELAY_S - 1
    for second in range(last + 1):
        outcome = second - DELAY_S
        stream.steps.append(
            (
                START + second,
                second if second < batches else None,
                outcome if outcome >= 0 else None,
                second >= warm_batches
                and ((second + 1) % stream.evaluate_every_s == 0 or second == last),
            )
        )
    return stream


def aimon_stream(
    stream: Stream, join: bool = True, results: list[QualityMetrics] | None = None
) -> dict[str, float]:
    """Seconds spent in each Monitor call over the stream after the warm-up (``join=False``:
    observe_many without request ids and predictions, and nothing else)."""
    clock = FakeClock(START)
    mon = aimon.Monitor("bench", window=stream.window_s, slice=stream.slice_s, clock=clock)
    spent = {"observe_many": 0.0, "record_outcomes": 0.0, "snapshot": 0.0}
    perf, warm = time.perf_counter, stream.warm_batches
    try:
        for now, prediction_batch, outcome_batch, evaluate in stream.steps:
            clock.now = now
            if prediction_batch is not None:
                ts = stream.ts[prediction_batch]
                if join:
                    ids, scores = stream.ids[prediction_batch], stream.scores[prediction_batch]
                    start = perf()
                    mon.observe_many(ts, predictions=scores, request_ids=ids)
                else:
                    start = perf()
                    mon.observe_many(ts)
                if prediction_batch >= warm:
                    spent["observe_many"] += perf() - start
            if not join:
                continue
            if outcome_batch is not None:
                outcomes = stream.outcomes[outcome_batch]
                start = perf()
                mon.record_outcomes(outcomes)
                if outcome_batch >= warm:
                    spent["record_outcomes"] += perf() - start
            if evaluate:
                start = perf()
                quality = mon.snapshot().quality
                spent["snapshot"] += perf() - start
                if results is not None and quality is not None:
                    results.append(quality)
        if join:
            outcomes_seen = mon.snapshot().outcomes
            matched = sum(map(len, stream.outcomes))
            assert outcomes_seen is not None and outcomes_seen["matched"] == matched, outcomes_seen
    finally:
        mon.close()
    return spent


def naive_stream(stream: Stream, results: list[dict[str, float]] | None = None) -> dict[str, float]:
    """The hand-written alternative: a dict join, a deque window, sklearn per evaluation."""
    pending: dict[str, float] = {}
    window: deque[tuple[float, int, float]] = deque()
    spent = {"hold": 0.0, "join": 0.0, "evaluate": 0.0}
    perf, warm = time.perf_counter, stream.warm_batches
    slice_s = stream.slice_s
    n_slices = stream.window_s // slice_s
    for now, prediction_batch, outcome_batch, evaluate in stream.steps:
        if prediction_batch is not None:
            ids, scores = stream.ids[prediction_batch], stream.scores[prediction_batch]
            start = perf()
            pending.update(zip(ids, scores, strict=True))
            if prediction_batch >= warm:
                spent["hold"] += perf() - start
        if outcome_batch is not None:
            outcomes = stream.outcomes[outcome_batch]
            start = perf()
            take, append = pending.pop, window.append
            for rid, actual, ts in outcomes:
                prediction = take(rid, None)
                if prediction is not None:
                    append((ts, actual, prediction))
            if outcome_batch >= warm:
                spent["join"] += perf() - start
        if evaluate:
            start = perf()
            oldest = (math.floor(now / slice_s) - n_slices + 1) * slice_s  # the monitor's
            while window and window[0][0] < oldest:
                window.popleft()
            n = len(window)
            actual_arr = np.fromiter((a for _, a, _ in window), dtype=np.int64, count=n)
            score_arr = np.fromiter((p for _, _, p in window), dtype=np.float64, count=n)
            metrics = sklearn_per_metric("binary", actual_arr, score_arr)
            spent["evaluate"] += perf() - start
            if results is not None:
                results.append({**metrics, "count": n})
    return spent


def check_stream(stream: Stream) -> dict[str, float]:
    """Run both once (the warm-up) and compare them evaluation by evaluation."""
    ours: list[QualityMetrics] = []
    theirs: list[dict[str, float]] = []
    aimon_stream(stream, results=ours)
    naive_stream(stream, results=theirs)
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    worst = {"max_relative_difference": 0.0, "max_roc_auc_error": 0.0, "max_roc_auc_bound": 0.0}
    within = True
    for q, expected in zip(ours, theirs, strict=True):
        assert q.count == expected["count"], (q.count, expected["count"])
        labels = {k: v for k, v in expected.items() if k not in ("count", "roc_auc")}
        worst["max_relative_difference"] = max(
            worst["max_relative_difference"], largest_difference(q, labels)
        )
        assert q.roc_auc is not None and q.roc_auc_error_bound is not None
        error = abs(q.roc_auc - expected["roc_auc"])
        within = within and error <= q.roc_auc_error_bound + 1e-12
        worst["max_roc_auc_error"] = max(worst["max_roc_auc_error"], error)
        worst["max_roc_auc_bound"] = max(worst["max_roc_auc_bound"], q.roc_auc_error_bound)
    worst["evaluations"] = len(ours)
    worst["window_pairs"] = theirs[-2]["count"] if len(theirs) > 1 else theirs[0]["count"]
    worst["roc_auc_within_bound"] = within
    return worst


def streaming(args: argparse.Namespace) -> dict[str, Any]:
    stream = make_stream(args)
    checks = check_stream(stream)
    samples: dict[str, list[float]] = {}
    for _ in range(args.stream_rounds):
        for prefix, spent in (
            ("aimon", aimon_stream(stream)),
            ("aimon without ids", aimon_stream(stream, join=False)),
            ("naive", naive_stream(stream)),
        ):
            for name, value in spent.items():
                if prefix == "aimon without ids" and name != "observe_many":
                    continue
                samples.setdefault(f"{prefix} {name}", []).append(value)
            samples.setdefault(f"{prefix} total", []).append(sum(spent.values()))
    median = {name: statistics.median(values) for name, values in samples.items()}
    return {"median_seconds": median, "checks": checks}


# --------------------------------------------------------------------------- memory


def copy_bytes(obj: Any) -> int:
    """Bytes a copy of ``obj`` rebuilt from its pickle retains (tracemalloc), and the pickle's
    length: the size of a checkpoint of it."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        copy = pickle.loads(data)
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del copy
    return retained


def join_memory(cap: int, total: int) -> dict[str, Any]:
    """Bytes the join retains at the cap, and after ``total`` predictions without outcomes."""
    clock = FakeClock(START)
    mon = aimon.Monitor("memory", clock=clock, max_pending_predictions=cap)
    scores = np.random.default_rng(3).random(total)

    def feed(lo: int, hi: int) -> None:
        for b in range(lo, hi, MEMORY_RATE):
            end = min(hi, b + MEMORY_RATE)
            clock.now = START + b / MEMORY_RATE
            # fresh id strings and floats per request, as a service's requests bring them
            mon.observe_many(
                np.full(end - b, clock.now),
                predictions=scores[b:end].tolist(),
                request_ids=[f"req-{i}" for i in range(b, end)],
            )

    def held() -> int:
        outcomes = mon.snapshot().outcomes or {}
        return int(outcomes.get("predictions_held", 0))

    try:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            feed(0, cap)
            gc.collect()
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        fill_retained, fill_peak = current - base, peak - base
        held_at_cap = held()
        # The join's state (export_state's "join", what a checkpoint pickles) rebuilt, at the
        # cap and after every entry was replaced: predictions held, and the ids remembered
        # after their predictions left (max_remembered, by default the cap).
        join_at_cap = copy_bytes(mon.export_state()["join"])
        feed(cap, total)
        held_after = held()
        state = mon.export_state()["join"]
        join_after = copy_bytes(state)
        checkpoint_after = len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        clock.now += 1
        # Outcomes of the last 1000 predictions that left (remembered: expired) and of the
        # last 1000 held (matched).
        left = [(f"req-{i}", 1, clock.now) for i in range(total - cap - 1000, total - cap)]
        waiting = [(f"req-{i}", 1, clock.now) for i in range(total - 1000, total)]
        mon.record_outcomes(left + waiting)
        outcomes = mon.snapshot().outcomes or {}
    finally:
        mon.close()
    return {
        "max_pending_predictions": cap,
        "predictions": total,
        "held_at_cap": held_at_cap,
        "held_after": held_after,
        "fill_retained_bytes": fill_retained,
        "fill_peak_bytes": fill_peak,
        "bytes_per_held_prediction": fill_retained / cap,
        "peak_bytes_per_held_prediction": fill_peak / cap,
        "join_copy_bytes_at_cap": join_at_cap,
        "join_copy_bytes_after": join_after,
        "join_checkpoint_bytes_after": checkpoint_after,
        "outcomes_after": outcomes,
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--evidently-pairs", type=int, default=100_000)
    parser.add_argument("--evidently-rounds", type=int, default=3)
    parser.add_argument("--stream-pairs", type=int, default=100_000)
    parser.add_argument(
        "--stream-warmup",
        type=int,
        default=100_000,
        help="pairs fed untimed first: the "
        "join's remembered ids (max_pending_predictions) and the window fill up",
    )
    parser.add_argument("--rate", type=int, default=200, help="stream pairs per second")
    parser.add_argument("--window", type=int, default=300, help="seconds (Monitor's default)")
    parser.add_argument("--slice", type=int, default=10, help="seconds (Monitor's default)")
    parser.add_argument(
        "--evaluate-every",
        type=int,
        default=15,
        help="seconds between snapshots (15 s: the Monitor's default evaluation_interval)",
    )
    parser.add_argument("--stream-rounds", type=int, default=3)
    parser.add_argument("--max-pending", type=int, default=100_000)
    parser.add_argument("--memory-predictions", type=int, default=1_000_000)
    args = parser.parse_args()

    started = time.perf_counter()
    batch_result = batch(args)
    stream_result = streaming(args)
    memory = join_memory(args.max_pending, args.memory_predictions)

    median, difference = batch_result["median"], batch_result["difference"]
    ratios = {
        task: {name: value / by_name["aimon quality_metrics"] for name, value in by_name.items()}
        for task, by_name in median.items()
    }
    print(f"\nbatch: {args.pairs} pairs per task, median of {args.rounds} rounds")
    print(f"{'task':<12} {'variant':<24} {'seconds':>9} {'x aimon':>9}")
    for task, by_name in median.items():
        for name, value in by_name.items():
            print(f"{task:<12} {name:<24} {value:>9.4f} {ratios[task][name]:>9.2f}")
    print(
        "largest relative difference to sklearn: "
        + ", ".join(f"{task} {value:.1e}" for task, value in difference.items())
    )
    evidently = batch_result["evidently"]
    if evidently:
        print(
            f"Evidently presets on {evidently['pairs']} pairs, "
            f"median of {evidently['rounds']} rounds"
        )
        for task, by_name in evidently["median_seconds"].items():
            ours = by_name["aimon quality_metrics"]
            theirs = by_name["Evidently preset"]
            evidently.setdefault("ratio_to_aimon", {})[task] = theirs / ours
            print(
                f"{task:<12} aimon {ours:.4f} s, Evidently {theirs:.3f} s: {theirs / ours:.0f}x; "
                "largest relative difference to sklearn "
                f"{evidently['max_relative_difference_to_sklearn'][task]:.1e}"
            )

    s = stream_result["median_seconds"]
    n = args.stream_pairs
    checks = stream_result["checks"]
    hold = max(0.0, s["aimon observe_many"] - s["aimon without ids observe_many"])
    per_pair = {
        "aimon observe_many": s["aimon observe_many"] / n,
        "aimon of which holding for the join": hold / n,
        "aimon record_outcomes (join + quality fold)": s["aimon record_outcomes"] / n,
        "aimon snapshot": s["aimon snapshot"] / n,
        "aimon join + quality (hold + record_outcomes + snapshot)": (
            hold + s["aimon record_outcomes"] + s["aimon snapshot"]
        )
        / n,
        "aimon total": s["aimon total"] / n,
        "naive hold (dict)": s["naive hold"] / n,
        "naive join (dict pop, deque)": s["naive join"] / n,
        "naive evaluate (sklearn)": s["naive evaluate"] / n,
        "naive total": s["naive total"] / n,
    }
    outcome_rate = n / s["aimon record_outcomes"]
    join_quality = per_pair["aimon join + quality (hold + record_outcomes + snapshot)"]
    print(
        f"\nstreaming: {n} pairs at {args.rate}/s of event time, outcomes {DELAY_S} s later, "
        f"{args.window} s window in {args.slice} s slices (~{checks['window_pairs']} pairs), "
        f"a snapshot every {args.evaluate_every} s ({checks['evaluations']}), "
        f"median of {args.stream_rounds} rounds"
    )
    print(f"{'part':<58} {'us/pair':>9}")
    for name, value in per_pair.items():
        print(f"{name:<58} {value * 1e6:>9.3f}")
    print(
        f"record_outcomes: {outcome_rate:,.0f} pairs/s; join + quality: "
        f"{1 / join_quality:,.0f} pairs/s; naive / aimon join + quality: "
        f"{per_pair['naive total'] / join_quality:.2f}x, "
        f"naive / aimon total: {s['naive total'] / s['aimon total']:.2f}x"
    )
    print(
        f"vs sklearn per evaluation: largest relative difference "
        f"{checks['max_relative_difference']:.1e}, ROC AUC error "
        f"{checks['max_roc_auc_error']:.1e} (bound {checks['max_roc_auc_bound']:.1e})"
    )

    cap = memory["max_pending_predictions"]
    after = memory["outcomes_after"]
    print(
        f"\njoin memory, max_pending_predictions={cap}: "
        f"{memory['bytes_per_held_prediction']:.0f} bytes per held prediction retained, "
        f"{memory['peak_bytes_per_held_prediction']:.0f} at peak "
        f"({memory['fill_retained_bytes'] / 2**20:.1f} MiB for {memory['held_at_cap']} held)"
    )
    print(
        f"the join's state rebuilt: {memory['join_copy_bytes_at_cap'] / 2**20:.1f} MiB at the "
        f"cap, {memory['join_copy_bytes_after'] / 2**20:.1f} MiB after {memory['predictions']} "
        f"predictions without outcomes (held {memory['held_after']}, plus as many ids "
        f"remembered; checkpoint {memory['join_checkpoint_bytes_after'] / 2**20:.1f} MiB); "
        f"outcomes then: expired {after.get('expired')} of 1000 whose prediction left, "
        f"matched {after.get('matched')} of 1000 held"
    )
    print(f"ran in {time.perf_counter() - started:.0f} s")

    targets: dict[str, Any] = {
        "batch metrics equal to sklearn (1e-9 relative)": all(
            v <= RELATIVE for v in difference.values()
        ),
    }
    for task in TASKS:
        targets[f"batch {task} at least as fast as sklearn (per metric)"] = (
            ratios[task]["sklearn (per metric)"] >= 1.0
        )
    targets["streaming >= 100,000 matched pairs/s through record_outcomes"] = (
        outcome_rate >= 100_000
    )
    targets["streaming metrics equal to sklearn on the window (1e-9 relative)"] = (
        checks["max_relative_difference"] <= RELATIVE
    )
    targets["streaming ROC AUC within roc_auc_error_bound of sklearn"] = checks[
        "roc_auc_within_bound"
    ]
    targets["join memory bounded: held <= max_pending_predictions"] = (
        memory["held_at_cap"] <= cap and memory["held_after"] <= cap
    )
    targets["outcomes of predictions that left counted expired"] = after.get("expired") == 1000
    # Each slot of the cap holds at most a prediction and a remembered id (no larger).
    targets["join state after every entry replaced <= 2 x at the cap"] = (
        memory["join_copy_bytes_after"] <= 2 * memory["join_copy_bytes_at_cap"]
    )
    met = report_targets(targets)
    write_result(
        "quality",
        {
            "pairs": args.pairs,
            "rounds": args.rounds,
            "batch_median_seconds": median,
            "batch_ratio_to_aimon": ratios,
            "batch_max_relative_difference_to_sklearn": difference,
            "evidently": evidently or None,
            "streaming": {
                "pairs": n,
                "rate_per_s": args.rate,
                "outcome_delay_s": DELAY_S,
                "window_s": args.window,
                "slice_s": args.slice,
                "evaluate_every_s": args.evaluate_every,
                "rounds": args.stream_rounds,
                "median_seconds": s,
                "seconds_per_pair": per_pair,
                "record_outcomes_pairs_per_s": outcome_rate,
                "join_quality_pairs_per_s": 1 / join_quality,
                "ratio_naive_to_aimon_join_quality": per_pair["naive total"] / join_quality,
                "ratio_naive_to_aimon_total": s["naive total"] / s["aimon total"],
                "checks": checks,
            },
            "memory": memory,
            "targets_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
