"""The demo's drift report: the calls made while drifting compared with the training data,
written as an HTML page."""

from __future__ import annotations

from pathlib import Path

from aimon.demo.scenario import PSI_ALERT, REPORT_METHODS, training_data
from aimon.demo.traffic import DriftRows
from aimon.drift.compare import DriftReport, compare
from aimon.drift.report import report_html

__all__ = ["DEFAULT_REPORT", "compare_drift", "write_report"]

#: Where ``aimon demo`` writes its drift report unless told otherwise.
DEFAULT_REPORT = Path("aimon-demo-report.html")


def compare_drift(rows: DriftRows) -> DriftReport | None:
    """The drift phase's calls against the training data (None if the run never drifted)."""
    current = rows.frame()
    if current.empty:
        return None
    return compare(training_data(), current, methods=REPORT_METHODS, thresholds={"psi": PSI_ALERT})


def write_report(drift: DriftReport, rows: DriftRows, path: Path) -> Path:
    """Write the comparison as an HTML page at ``path``; its absolute path."""
    kept = len(rows.rows)
    sampled = f", a sample of {kept:,}" if rows.seen > kept else ""
    page = report_html(
        drift,
        title="aimon demo: fraud-demo, the drift phase against the training data",
        reference_name=f"synthetic training data ({len(training_data()):,} rows)",
        current_name=f"the {rows.seen:,} calls made while 'amount' drifted{sampled}",
    )
    path.write_text(page, encoding="utf-8")
    return path.resolve()
