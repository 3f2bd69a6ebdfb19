"""A DriftReport as text for people (a table) or for programs (strict JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from aimon.drift.compare import DriftReport
from aimon.drift.data_quality import describe_failure
from aimon.drift.segmented import OTHER, SegmentedReport

__all__ = [
    "QUALITY_HEADERS",
    "multivariate_lines",
    "quality_json",
    "quality_lines",
    "quality_rows",
    "quality_table",
    "report_json",
    "report_table",
    "segmented_json",
    "segmented_table",
]

_HEADERS = ("column", "kind", "method", "statistic", "p-value", "threshold", "drift")


def report_table(report: DriftReport) -> str:
    """A fixed-width table, drifted columns first, under a one-line verdict; then the
    columns not compared, and the data-quality verdict with each failing column's checks."""
    rows = [
        (
            str(row.column),
            str(row.kind),
            str(row.method),
            _number(row.statistic),
            _number(row.pvalue),
            _number(row.threshold),
            "DRIFT" if row.drifted else "-",
        )
        for row in report.to_frame().itertuples(index=False)
    ]
    skipped = [f"skipped {column}: {reason}" for column, reason in report.skipped.items()]
    tail = [*skipped, *quality_lines(report), *multivariate_lines(report)]
    return _table([_verdict(report)], _HEADERS, rows, tail)


def segmented_table(report: SegmentedReport) -> str:
    """A table of the segments (rows, verdict, drifted columns; drifted segments first)
    under a one-line verdict, then each segment's own :func:`report_table`."""
    drifted = report.drifted_segments
    against = (
        "the same value's reference rows (or profile)"
        if report.against == "segment"
        else ("the whole reference profile")
    )
    head = [
        f"{len(drifted)} of {len(report)} segments of {report.column} drifted"
        + (f": {', '.join(drifted)}" if drifted else ""),
        f"each segment against {against}",
    ]
    order = sorted(report, key=lambda value: not report[value].drifted)
    rows = [
        (
            value,
            str(segment.n_reference),
            str(segment.n_current),
            "no verdict" if segment.report is None else "DRIFT" if segment.drifted else "-",
            ", ".join(segment.drifted_columns) or segment.reason or "-",
        )
        for value in order
        for segment in (report[value],)
    ]
    tail = []
    if report.pooled:
        tail.append(f"{report.pooled} values beyond the {report.max_segments} largest pooled "
                    f"in {OTHER}")  # fmt: skip
    if report.reference_only:
        only = report.reference_only
        more = f" and {len(only) - 10} more" if len(only) > 10 else ""
        tail.append(f"in the reference only (no current rows): {', '.join(only[:10])}{more}")
    for value in order:
        segment = report[value]
        tail += ["", f"== segment {value}: {segment.n_reference} reference rows, "
                 f"{segment.n_current} current rows =="]  # fmt: skip
        if segment.report is None:
            tail.append(f"no verdict: {segment.reason}")
        else:
            tail.append(report_table(segment.report).rstrip("\n"))
    headers = ("segment", "reference rows", "current rows", "drift", "drifted columns")
    return _table(head, headers, rows, tail)


def segmented_json(report: SegmentedReport) -> str:
    """The segmented report as strict JSON: infinities and NaN become null."""
    return json.dumps(_finite(report.to_dict()), indent=2, allow_nan=False) + "\n"


def multivariate_lines(report: DriftReport) -> list[str]:
    """The multivariate verdict and each method's number against its limit (none when it
    was not asked for)."""
    found = report.multivariate
    if found is None:
        return []
    rebuilt, classifier = found.reconstruction, found.classifier
    band = f"{_number(rebuilt.lower)}-{_number(rebuilt.upper)}"
    if rebuilt.lower is None:
        band = f"below {_number(rebuilt.upper)}"
    return [
        f"multivariate drift on {len(found.columns)} numeric columns: "
        + ("DRIFT" if found.drifted else "none"),
        f"  reconstruction error {rebuilt.error:.4g} (band {band}): "
        + ("DRIFT" if rebuilt.drifted else "-"),
        f"  domain classifier AUC {classifier.auc:.4g} (drift above {classifier.threshold:.4g}, "
        f"p-value {classifier.pvalue:.3g}): " + ("DRIFT" if classifier.drifted else "-"),
    ]


def _table(
    head: list[str], headers: tuple[str, ...], rows: Sequence[tuple[str, ...]], tail: list[str]
) -> str:
    """``head``, a blank line, the rows under their headers in fixed-width columns, ``tail``."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [*head, ""]
    if rows:
        lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    lines.extend(tail)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def quality_lines(report: DriftReport) -> list[str]:
    """The data-quality verdict, then one line per failing column."""
    failures = report.quality_failures
    judged = len(report.data_quality)
    if not failures:
        return [f"data quality: all {judged} columns pass"]
    lines = [f"data quality: {len(failures)} of {judged} columns fail: {', '.join(failures)}"]
    for column, checks in failures.items():
        quality = report.data_quality[column]
        reasons = "; ".join(describe_failure(check, quality) for check in checks)
        lines.append(f"  {column}: {reasons}")
    return lines


#: The columns of the data-quality table.
QUALITY_HEADERS = (
    "column", "kind", "rows", "missing", "ref missing", "not a number", "out of range",
    "unseen", "constant", "verdict",
)  # fmt: skip


def quality_table(report: DriftReport) -> str:
    """Each column's data quality in a fixed-width table, failing columns first, under the
    data-quality verdict (``aimon check``)."""
    lines = quality_lines(report)
    return _table(lines[:1], QUALITY_HEADERS, quality_rows(report), lines[1:])


def quality_rows(report: DriftReport) -> list[tuple[str, ...]]:
    """One row of :data:`QUALITY_HEADERS` per column, failing columns first."""
    failures = report.quality_failures
    order = sorted(report.data_quality, key=lambda name: name not in failures)
    return [
        (
            name,
            q.kind,
            str(q.rows),
            "absent" if q.absent else _share(q.missing_share),
            _share(q.reference_missing_share),
            _share(q.type_violation_share),
            _share(q.out_of_range_share),
            _share(q.unseen_share),
            "yes" if q.constant else "-",
            "FAIL" if name in failures else "ok",
        )
        for name in order
        for q in (report.data_quality[name],)
    ]


def quality_json(report: DriftReport) -> str:
    """The data-quality part of the report as strict JSON."""
    summary = report.to_dict()
    parts = {key: summary[key] for key in ("quality_failures", "data_quality")}
    return json.dumps(_finite(parts), indent=2, allow_nan=False) + "\n"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def report_json(report: DriftReport) -> str:
    """The report as strict JSON: infinities and NaN become null (no threshold, no value)."""
    return json.dumps(_finite(report.to_dict()), indent=2, allow_nan=False) + "\n"


def _verdict(report: DriftReport) -> str:
    drifted = report.drifted_columns
    head = (
        f"{len(drifted)} of {len(report)} columns drifted ({report.share_drifted:.0%}); "
        f"dataset drift: {'yes' if report.dataset_drift else 'no'}"
    )
    return f"{head}: {', '.join(drifted)}" if drifted else head


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
