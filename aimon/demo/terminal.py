"""What the demo prints: a status line per snapshot, the alerts as they are sent, and the
summary at the end (each phase at its peak, the alerts' story, the drift, the quality, and
when the estimated and the realised accuracy fell)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aimon.alerts import Alert
from aimon.demo.scenario import FRAUD_SCORE, PSI_ALERT, QUALITY_DROP, REPORT_METHODS
from aimon.drift.compare import DriftReport
from aimon.quality.cbpe import EstimatedQuality
from aimon.quality.metrics import QualityMetrics
from aimon.snapshot import Snapshot

__all__ = [
    "HEADER",
    "AlertStory",
    "alert_log",
    "estimate_lines",
    "print_summary",
    "quality_lines",
    "status_line",
]


HEADER = (
    "  time  phase           calls   req/s  p50 ms  p95 ms  p99 ms  errors  "
    "est. acc [interval]  realised  drifted"
)
#: Scores (or matched outcomes) a window needs before its accuracy counts as fallen: the
#: demo's quality rules' min_count.
_MIN_COUNT = 100


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:7.1f}"


def _drifted(snap: Snapshot) -> str:
    if snap.drift_window is None or not snap.drift_window.drifted:
        return "-"
    return ", ".join(
        f"{name} (psi {snap.drift[name].psi:.2f})" if snap.drift[name].psi is not None else name
        for name in snap.drift_window.drifted
    )


def _max_psi(snap: Snapshot) -> float:
    return max((d.psi or 0.0 for d in snap.drift.values()), default=0.0)


def _estimate(q: EstimatedQuality | None) -> str:
    """The estimated accuracy and its interval, ``0.91 [0.88, 0.94]``."""
    interval = None if q is None else q.interval("accuracy")
    if q is None or q.accuracy is None or interval is None:
        return "-"
    return f"{q.accuracy:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _realised(q: QualityMetrics | None) -> str:
    """The accuracy over the outcomes matched so far, ``-`` before any."""
    return "-" if q is None or not q.count or q.accuracy is None else f"{q.accuracy:.2f}"


def status_line(elapsed: float, phase: str, snap: Snapshot) -> str:
    """One row under :data:`HEADER`: the rolling window at ``elapsed`` seconds."""
    lat = snap.latency
    return (
        f"{elapsed:5.1f}s  {phase:<14} {snap.count:6d} {snap.throughput:7.1f} "
        f"{_ms(lat.p50)} {_ms(lat.p95)} {_ms(lat.p99)} {snap.error_rate * 100:6.2f}%  "
        f"{_estimate(snap.estimated_quality):<19}  {_realised(snap.quality):<8}  "
        f"{_drifted(snap)}"
    )


def _phases(
    history: list[tuple[float, str, Snapshot]],
) -> list[list[tuple[float, str, Snapshot]]]:
    """Consecutive rows of the same phase, grouped."""
    groups: list[list[tuple[float, str, Snapshot]]] = []
    for row in history:
        if groups and groups[-1][-1][1] == row[1]:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _peak(rows: list[tuple[float, str, Snapshot]]) -> tuple[float, str, Snapshot]:
    """The row that shows a phase best."""
    phase = rows[0][1]
    if phase == "latency spike":
        return max(rows, key=lambda row: row[2].latency.p95 or 0.0)
    if phase == "error burst":
        return max(rows, key=lambda row: row[2].error_rate)
    if phase == "drift":
        return max(rows, key=lambda row: _max_psi(row[2]))
    return rows[-1]


def _first_drift(history: list[tuple[float, str, Snapshot]]) -> str:
    for elapsed, _, snap in history:
        if snap.drift_window is not None and snap.drift_window.drifted:
            names = ", ".join(snap.drift_window.drifted)
            return f"drift first seen at {elapsed:.1f}s in: {names}"
    return "no drift seen"


@dataclass
class AlertStory:
    """When each alert fired and resolved, seconds into the run (a CallbackSink fills it)."""

    started: float
    events: list[tuple[float, str, str]]

    def record(self, alerts: list[Alert]) -> None:
        """The sink: note each notification."""
        now = time.monotonic() - self.started
        for alert in alerts:
            feature = alert.labels.get("feature")
            name = f"{alert.name}{{feature={feature}}}" if feature else alert.name
            self.events.append((now, alert.state, name))

    def lines(self) -> list[str]:
        """One line per alert: fired at, resolved at."""
        story: dict[str, dict[str, float]] = {}
        for at, state, name in list(self.events):
            story.setdefault(name, {}).setdefault(state, at)
        return [
            f"  {name:<36} fired {times.get('firing', 0):4.1f}s, "
            + (f"resolved {times['resolved']:4.1f}s" if "resolved" in times else "still firing")
            for name, times in story.items()
        ]


def alert_log(out: TextIO) -> logging.Handler:
    """Print the LogSink's lines in the terminal while the demo runs."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("        alert: %(message)s"))
    logger = logging.getLogger("aimon.alerts")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def _drift_lines(drift: DriftReport | None) -> list[str]:
    if drift is None:
        return ["  none compared: the run stopped before the drift phase"]
    lines = []
    for name in sorted(drift.columns, key=lambda n: not drift.columns[n].drifted):
        column = drift.columns[name]
        stats = ", ".join(
            f"{method} {result.statistic:.2f}" for method, result in column.results.items()
        )
        lines.append(f"  {name:<8} {'DRIFTED' if column.drifted else 'ok':<8} {stats}")
    return lines


def quality_lines(history: list[tuple[float, str, Snapshot]], delay_s: float) -> list[str]:
    """The model's quality over the window by phase, realised and estimated: the drift at
    its worst accuracy, any other phase at its end (outcomes arrive late, so a phase's last
    row shows most of its own)."""
    lines = [f"model quality (outcomes arrive {delay_s:.1f}s late; fraud flagged at score >= "
             f"{FRAUD_SCORE:g}), the drift at its worst, else each phase's end:"]  # fmt: skip
    reference = next((s.reference_quality for _, _, s in history if s.reference_quality), None)
    if reference is not None:
        estimated = next(
            (s.reference_estimated_quality for _, _, s in history if s.reference_estimated_quality),
            None,
        )
        lines.append(
            f"  {'training data':<14}         {_quality_text(reference, 'rows')}"
            + ("" if estimated is None else f"; estimated {_estimate(estimated)}")
        )
    for rows in _phases(history):
        elapsed, phase, snap = rows[-1]
        if phase == "drift":
            scored = [row for row in rows if _accuracy(row[2].quality) is not None]
            if scored:
                elapsed, phase, snap = min(scored, key=lambda row: _accuracy(row[2].quality) or 0.0)
        q = snap.quality
        estimated_text = f"; estimated {_estimate(snap.estimated_quality)}"
        if q is None or not q.count:
            lines.append(f"  {phase:<14} no outcomes yet{estimated_text}")
            continue
        change = snap.quality_change.get("accuracy")
        versus = "" if change is None else f" ({change:+.2f} accuracy vs training)"
        lines.append(
            f"  {phase:<14} at {elapsed:4.1f}s: {_quality_text(q)}{versus}{estimated_text}"
        )
    return lines


def _accuracy(q: QualityMetrics | None) -> float | None:
    return None if q is None or not q.count else q.accuracy


def _quality_text(q: QualityMetrics, of: str = "matched predictions") -> str:
    auc = "-" if q.roc_auc is None else f"{q.roc_auc:.2f}"
    return (
        f"accuracy {q.accuracy or 0.0:.2f}, f1 {q.f1 or 0.0:.2f}, roc_auc {auc} over {q.count} {of}"
    )


def _est_accuracy(snap: Snapshot) -> float | None:
    q = snap.estimated_quality
    return None if q is None or not q.count else q.accuracy


def _fell_estimated(snap: Snapshot) -> bool:
    """The estimated accuracy is QUALITY_DROP below the training data's estimate."""
    change = snap.estimated_quality_change.get("accuracy")
    count = snap.estimated_quality.count if snap.estimated_quality is not None else 0
    return change is not None and count >= _MIN_COUNT and change <= -QUALITY_DROP


def _fell_realised(snap: Snapshot) -> bool:
    """The realised accuracy is QUALITY_DROP below the training data's."""
    change = snap.quality_change.get("accuracy")
    count = snap.quality.count if snap.quality is not None else 0
    return change is not None and count >= _MIN_COUNT and change <= -QUALITY_DROP


def estimate_lines(history: list[tuple[float, str, Snapshot]], delay_s: float) -> list[str]:
    """When the accuracy estimated from the scores fell (QUALITY_DROP below the training
    data's estimate), what the labels in hand said then, and when the realised labels
    showed the fall."""
    lines = [
        f"estimated before the labels vs realised (accuracy {QUALITY_DROP:g} below the "
        f"training data's counts as fallen; outcomes arrive {delay_s:.1f}s late):"
    ]
    estimated = next((row for row in history if _fell_estimated(row[2])), None)
    realised = next((row for row in history if _fell_realised(row[2])), None)
    if estimated is None:
        scored = [(accuracy, row) for row in history if (accuracy := _est_accuracy(row[2]))]
        lowest = min(scored, key=lambda pair: pair[0], default=(None, None))[1]
        lines.append(
            "  the estimated accuracy never fell that far"
            + (
                ""
                if lowest is None
                else f" (lowest {_estimate(lowest[2].estimated_quality)} at {lowest[0]:.1f}s)"
            )
        )
    else:
        at, _, snap = estimated
        in_hand = _realised(snap.quality)
        lines.append(
            f"  estimated accuracy fell to {_estimate(snap.estimated_quality)} at {at:.1f}s, "
            + (
                "before any label had arrived"
                if in_hand == "-"
                else f"while the labels in hand still showed {in_hand}"
            )
        )
    if realised is None:
        lines.append("  the realised accuracy had not fallen that far by the end of the run")
    else:
        at, _, snap = realised
        later = "" if estimated is None else f", {at - estimated[0]:.1f}s after the estimate"
        lines.append(
            f"  realised labels arrived at {at:.1f}s and showed {_realised(snap.quality)}{later}"
        )
    return lines


def print_summary(
    history: list[tuple[float, str, Snapshot]],
    final: Snapshot,
    story: AlertStory,
    drift: DriftReport | None,
    report: Path | None,
    out: TextIO,
) -> None:
    """Tell the run's story: each phase at its peak, the totals, the alerts, the drift."""
    print("\neach phase at its peak (p95 in the spike, error rate in the burst, PSI in the "
          "drift, else the end)", file=out)  # fmt: skip
    print(HEADER, file=out)
    for rows in _phases(history):
        print(status_line(*_peak(rows)), file=out)
    totals = final.totals
    print(
        f"\ntotal: {totals.calls} calls, {totals.calls - totals.ok} errors "
        f"({', '.join(f'{k}={v}' for k, v in sorted(totals.errors.items())) or 'none'}), "
        f"dropped: {sum(final.dropped.values())}",
        file=out,
    )
    print(_first_drift(history), file=out)
    print("alerts:", file=out)
    for line in story.lines() or ["  none"]:
        print(line, file=out)
    print(f"drift phase vs training data ({', '.join(REPORT_METHODS)}; PSI at "
          f"{PSI_ALERT} as the alert):", file=out)  # fmt: skip
    for line in _drift_lines(drift):
        print(line, file=out)
    if report is not None:
        print(f"report: {report}  (open {report.as_uri()} in a browser)", file=out)
    elif drift is not None:
        print("report: not written", file=out)
