"""A SegmentedReport as one self-contained HTML page: a table of the segments (rows, verdict,
drifted features) first, then one section per segment holding that segment's report as
:func:`~aimon.drift.report.report_html` draws it, drifted segments first.

>>> import pandas as pd
>>> from aimon.drift.segmented import compare_segments
>>> ref = pd.DataFrame({"plan": ["a", "b"] * 50, "age": list(range(50)) * 2})
>>> cur = ref.assign(age=[a + 40 * (p == "b") for p, a in zip(ref.plan, ref.age)])
>>> page = segmented_html(compare_segments(ref, cur, "plan", methods=["ks"]))
>>> page.count('<section class="segment'), page.index("Segment b") < page.index("Segment a")
(2, True)
"""

from __future__ import annotations

from html import escape

from aimon.drift.report import html_page, report_body
from aimon.drift.segmented import OTHER, SegmentDrift, SegmentedReport

__all__ = ["segmented_html"]

_STYLE = """
table.segments tr.drifted td:first-child a { color: var(--bad); }
section.segment { border-top: 2px solid var(--line); padding-top: 12px; margin-top: 28px; }
section.segment.drifted { border-top-color: var(--bad); }
"""


def segmented_html(
    report: SegmentedReport,
    *,
    title: str = "Drift report per segment",
    reference_name: str | None = None,
    current_name: str | None = None,
) -> str:
    """The report as a self-contained HTML page (a string; write it as UTF-8).

    Args:
        report: what :func:`~aimon.drift.segmented.compare_segments` returned.
        title: the page's heading.
        reference_name: what the reference was (a file name), shown under the title.
        current_name: what the current data was.

    Returns:
        The page: a verdict, a table of the segments with their drifted features, then one
        ``<section class="segment">`` per segment (drifted ones first) with its summary,
        data quality and charts.
    """
    order = sorted(report, key=lambda value: not report[value].drifted)
    anchors = {value: f"segment-{i}" for i, value in enumerate(order)}
    body = [_verdict(report), _note(report), _table(report, order, anchors)]
    for value in order:
        body.extend(_section(report[value], anchors[value]))
    return html_page(title, reference_name, current_name, body, _STYLE)


def _verdict(report: SegmentedReport) -> str:
    drifted = report.drifted_segments
    text = f"{len(drifted)} of {len(report)} segments of {report.column} drifted" + (
        f": {', '.join(drifted)}" if drifted else ""
    )
    kind = "drift" if drifted else "ok"
    return f'<p class="verdict {kind}">{escape(text)}</p>'


def _note(report: SegmentedReport) -> str:
    against = (
        "the same value's reference rows"
        if report.against == "segment"
        else "the whole reference (a profile keeps no segments)"
    )
    notes = [f"Each segment is compared with {against}."]
    if report.pooled:
        notes.append(
            f"Beyond the {report.max_segments} values with the most current rows, "
            f"{report.pooled} values are pooled in {OTHER}."
        )
    if report.reference_only:
        notes.append(f"Values in the reference only (no current rows): {_few(report)}.")
    return f'<p class="note">{escape(" ".join(notes))}</p>'


def _few(report: SegmentedReport, most: int = 10) -> str:
    only = report.reference_only
    more = f" and {len(only) - most} more" if len(only) > most else ""
    return ", ".join(only[:most]) + more


def _table(report: SegmentedReport, order: list[str], anchors: dict[str, str]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("segment", "reference rows", "current rows", "drift", "drifted features")
    )
    rows = []
    for value in order:
        segment = report[value]
        verdict = _badge(segment)
        drifted = ", ".join(segment.drifted_columns) or segment.reason or "-"
        kind = "drifted" if segment.drifted else "stable"
        rows.append(
            f'<tr class="{kind}"><td><a href="#{anchors[value]}">{escape(value)}</a></td>'
            f'<td class="num">{segment.n_reference}</td>'
            f'<td class="num">{segment.n_current}</td>'
            f"<td>{verdict}</td><td>{escape(drifted)}</td></tr>"
        )
    return (
        f'<table class="segments"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _section(segment: SegmentDrift, anchor: str) -> list[str]:
    state = "drifted" if segment.drifted else "stable"
    parts = [
        f'<section class="segment {state}" id="{anchor}">',
        f"<h2>Segment {escape(segment.value)} {_badge(segment)}</h2>",
        f'<p class="meta">{segment.n_reference} reference rows, '
        f"{segment.n_current} current rows</p>",
    ]
    if segment.report is None:
        parts.append(f'<p class="note">No verdict: {escape(segment.reason)}.</p>')
    else:
        parts.extend(report_body(segment.report, anchor=f"{anchor}-feature", level=3))
    parts.append("</section>")
    return parts


def _badge(segment: SegmentDrift) -> str:
    if segment.report is None:
        return '<span class="badge">no verdict</span>'
    if segment.drifted:
        return '<span class="badge drift">drift</span>'
    return '<span class="badge ok">ok</span>'
