"""A DriftReport as text for people (a table) or for programs (strict JSON)."""

from __future__ import annotations

import json
import math
from typing import Any

from aimon.drift.compare import DriftReport

__all__ = ["report_json", "report_table"]

_HEADERS = ("column", "kind", "method", "statistic", "p-value", "threshold", "drift")


def report_table(report: DriftReport) -> str:
    """A fixed-width table, drifted columns first, under a one-line verdict."""
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
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
    lines = [_verdict(report), ""]
    if rows:
        lines.append("  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths, strict=True)))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    for column, reason in report.skipped.items():
        lines.append(f"skipped {column}: {reason}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


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
