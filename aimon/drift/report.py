"""A DriftReport as one self-contained HTML page: a summary table and, per feature, the
reference and current distributions drawn as inline SVG bar charts, drifted features first.

The page needs nothing at view time: no script, no font, no stylesheet or image from
anywhere, and a Content-Security-Policy that forbids loading any. Charts show each side's
share per bin in the bins the binned methods used (numeric features) or per category,
read from :attr:`ColumnDrift.histogram <aimon.drift.compare.ColumnDrift>`. A data-quality
table follows the drift summary: every column's missing share, values that are not numbers,
out of range or unseen, a constant column, failing columns first.

>>> import pandas as pd
>>> from aimon.drift import compare
>>> ref = pd.DataFrame({"age": range(100), "plan": ["a", "b"] * 50})
>>> cur = pd.DataFrame({"age": range(50, 150), "plan": ["a"] * 100})
>>> page = report_html(compare(ref, cur, methods=["psi"]), title="nightly <check>")
>>> page.count('<svg class="chart"'), "nightly &lt;check&gt;" in page
(2, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from aimon._version import __version__
from aimon.drift.compare import ColumnDrift, DriftReport
from aimon.drift.reference import OTHER
from aimon.drift.render import QUALITY_HEADERS, quality_lines, quality_rows
from aimon.drift.samples import PairedCounts
from aimon.errors import AimonError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_BARS", "evidently_html", "html_page", "report_body", "report_html"]

#: Bars per chart at most: beyond it the bins or categories with the smallest shares are
#: drawn as one "other" bar (the statistics still use every one).
MAX_BARS = 40

# One chart's geometry, in SVG user units (the chart scales to the page width).
_WIDTH, _HEIGHT = 720, 240
_LEFT, _RIGHT, _TOP = 52, 16, 12
_CHAR = 6.6  # average width of a character of the 11-unit label font
_LABEL_CHARS = 18  # category labels are cut beyond this

_STYLE = """
:root { --ref: #4e79a7; --cur: #f28e2b; --bad: #c0392b; --ok: #2e7d32; --line: #d0d4da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; margin: 0 auto; max-width: 980px; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 0 0 4px; overflow-wrap: anywhere; }
h3 { font-size: 1.05em; margin: 0 0 4px; overflow-wrap: anywhere; }
.meta, .note { color: #57606a; margin: 0 0 12px; }
.verdict { padding: 10px 14px; border-radius: 6px; margin: 16px 0; font-weight: 600; }
.verdict.drift { background: #fdecea; color: var(--bad); }
.verdict.ok { background: #e8f5e9; color: var(--ok); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 24px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody.drifted td:first-child a { color: var(--bad); }
table.quality tr.failed td { color: var(--bad); font-weight: 600; }
a { color: #0969da; }
.badge { display: inline-block; font-size: 0.75em; padding: 1px 7px; border-radius: 10px;
  vertical-align: middle; font-weight: 600; }
.badge.drift { background: var(--bad); color: #fff; }
.badge.ok { background: #e8f5e9; color: var(--ok); }
section.feature { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  margin: 0 0 18px; }
section.feature.drifted { border-left: 4px solid var(--bad); }
.legend { margin: 4px 0; color: #57606a; font-size: 0.9em; }
.swatch { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 10px;
  vertical-align: -1px; }
.swatch.reference { background: var(--ref); }
.swatch.current { background: var(--cur); }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #57606a; }
svg.chart .grid { stroke: #eceef1; }
svg.chart .axis { stroke: #8c959f; }
svg.chart .bar.reference { fill: var(--ref); }
svg.chart .bar.current { fill: var(--cur); }
svg.chart .hit { fill: transparent; }
svg.chart g.bin:hover .hit { fill: #f3f4f6; }
"""


def report_html(
    report: DriftReport,
    *,
    title: str = "Drift report",
    reference_name: str | None = None,
    current_name: str | None = None,
) -> str:
    """The report as a self-contained HTML page (a string; write it as UTF-8).

    Args:
        report: what :func:`~aimon.drift.compare.compare` returned.
        title: the page's heading.
        reference_name: what the reference was (a file name), shown under the title.
        current_name: what the current data was.

    Returns:
        The page: a verdict, a summary table (per feature its methods, statistics,
        p-values, thresholds and verdicts) and one ``<svg class="chart">`` per feature that
        has bin data, drifted features first.
    """
    return html_page(title, reference_name, current_name, report_body(report))


def html_page(
    title: str,
    reference_name: str | None,
    current_name: str | None,
    body: Sequence[str],
    style: str = "",
) -> str:
    """A self-contained page: the title, a line naming the inputs, then ``body`` (HTML
    parts; empty ones are dropped) under the report's style and ``style``."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Nothing may load: the page is whole as written, and a viewer's network is not asked.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}{style}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{_meta(reference_name, current_name)}</p>',
        *body,
        "</body>",
        "</html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def report_body(report: DriftReport, *, anchor: str = "feature", level: int = 2) -> list[str]:
    """The HTML parts of one report, as :func:`report_html` shows them: the verdict, the
    summary, data quality, multivariate drift, one section per feature and the columns not
    compared. Feature sections are ``{anchor}-{i}`` and headed ``<h{level}>``, so that a
    page can hold several reports (one per segment)."""
    names = sorted(report.columns, key=lambda n: not report.columns[n].drifted)
    anchors = {name: f"{anchor}-{i}" for i, name in enumerate(names)}
    h = f"h{level}"
    return [
        _verdict(report),
        _summary(report, names, anchors),
        _data_quality(report, h),
        _multivariate(report, h),
        f"<{h}>Distributions</{h}>" if names else "",
        *(_feature(report.columns[name], anchors[name], h) for name in names),
        _skipped(report, h),
    ]


def evidently_html(reference: pd.DataFrame, current: pd.DataFrame) -> str:
    """Evidently's own data-drift report (``DataDriftPreset``) of the two data sets, as the
    standalone HTML page Evidently writes (its script and font embedded).

    Raises:
        AimonError: Evidently is not installed (the ``evidently`` extra).
    """
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        raise AimonError(
            "the Evidently report needs the 'evidently' extra: "
            f"pip install 'aimon[evidently]' ({exc})"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Evidently warns about its own internals
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        return str(snapshot.get_html_str(as_iframe=False))


def _meta(reference_name: str | None, current_name: str | None) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    items = []
    if reference_name is not None:
        items.append(f"reference: <b>{escape(reference_name)}</b>")
    if current_name is not None:
        items.append(f"current: <b>{escape(current_name)}</b>")
    items.append(f"generated {stamp} by aimon {escape(__version__)}")
    return " · ".join(items)


def _verdict(report: DriftReport) -> str:
    drifted = report.drifted_columns
    text = (
        f"{len(drifted)} of {len(report)} features drifted ({report.share_drifted:.0%}); "
        f"dataset drift: {'yes' if report.dataset_drift else 'no'}"
    )
    kind = "drift" if drifted else "ok"
    return f'<p class="verdict {kind}">{escape(text)}</p>'


def _summary(report: DriftReport, names: Sequence[str], anchors: dict[str, str]) -> str:
    if not names:
        return '<p class="note">No feature was compared.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("feature", "kind", "method", "statistic", "p-value", "threshold", "drift")
    )
    bodies = []
    for name in names:
        column = report.columns[name]
        results = list(column.results.values())
        span = f' rowspan="{len(results)}"' if len(results) > 1 else ""
        rows = []
        for i, result in enumerate(results):
            lead = (
                f'<td{span}><a href="#{anchors[name]}">{escape(name)}</a></td>'
                f"<td{span}>{escape(column.kind)}</td>"
                if i == 0
                else ""
            )
            rows.append(
                f"<tr>{lead}<td>{escape(result.method)}</td>"
                f'<td class="num">{_number(result.statistic)}</td>'
                f'<td class="num">{_number(result.pvalue)}</td>'
                f'<td class="num">{_number(result.threshold)}</td>'
                f"<td>{_badge(result.drifted)}</td></tr>"
            )
        kind = "drifted" if column.drifted else "stable"
        bodies.append(f'<tbody class="{kind}">{"".join(rows)}</tbody>')
    return f'<table class="summary"><thead><tr>{head}</tr></thead>{"".join(bodies)}</table>'


def _feature(column: ColumnDrift, anchor: str, h: str = "h2") -> str:
    results = ", ".join(
        f"{escape(r.method)} {_number(r.statistic)}"
        + ("" if r.pvalue is None else f" (p = {_number(r.pvalue)})")
        for r in column.results.values()
    )
    first = next(iter(column.results.values()))
    counts = (
        f"{first.n_reference} reference values ({first.missing_reference} missing), "
        f"{first.n_current} current values ({first.missing_current} missing)"
    )
    state = "drifted" if column.drifted else "stable"
    parts = [
        f'<section class="feature {state}" id="{anchor}">',
        f"<{h}>{escape(column.column)} {_badge(column.drifted)}</{h}>",
        f'<p class="note">{escape(column.kind)} · {results} · {counts}</p>',
    ]
    if column.histogram is None:
        parts.append('<p class="note">No bin counts were kept for this feature.</p>')
    else:
        what = "bin" if column.histogram.edges is not None else "value"
        if column.kind == "categorical":
            what = "category"
        parts.append(
            f'<p class="legend">share of values per {what}:'
            '<span class="swatch reference"></span>reference'
            '<span class="swatch current"></span>current</p>'
        )
        parts.append(_chart(column.column, column.histogram))
    parts.append("</section>")
    return "\n".join(parts)


def _data_quality(report: DriftReport, h: str = "h2") -> str:
    """The data-quality verdict and table (failing columns first, their rows marked)."""
    if not report.data_quality:
        return ""
    lines = quality_lines(report)
    kind = "drift" if report.quality_failures else "ok"
    failing = "".join(f"<li>{escape(line.strip())}</li>" for line in lines[1:])
    head = "".join(f"<th>{escape(h)}</th>" for h in QUALITY_HEADERS)
    body = "".join(
        f'<tr class="{"failed" if row[-1] == "FAIL" else "passed"}">'
        + "".join(f"<td>{escape(cell)}</td>" for cell in row)
        + "</tr>"
        for row in quality_rows(report)
    )
    return (
        f'<{h}>Data quality</{h}><p class="verdict {kind}">{escape(lines[0])}</p>'
        + (f'<ul class="failures">{failing}</ul>' if failing else "")
        + f'<table class="quality"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _multivariate(report: DriftReport, h: str = "h2") -> str:
    """Both multivariate methods' numbers against their limits, when they were measured."""
    found = report.multivariate
    if found is None:
        return ""
    rebuilt, classifier = found.reconstruction, found.classifier
    rows = (
        ("PCA reconstruction error", rebuilt.error,
         f"below {_number(rebuilt.upper)}"
         if rebuilt.lower is None
         else f"{_number(rebuilt.lower)} to {_number(rebuilt.upper)}", rebuilt.drifted),
        ("domain classifier AUC", classifier.auc, f"below {_number(classifier.threshold)}",
         classifier.drifted),
    )  # fmt: skip
    body = "".join(
        f'<tr class="{"failed" if drifted else "passed"}"><td>{name}</td>'
        f"<td>{_number(value)}</td><td>{limit}</td><td>{_badge(drifted)}</td></tr>"
        for name, value, limit, drifted in rows
    )
    columns = escape(", ".join(found.columns))
    return (
        f"<{h}>Multivariate drift {_badge(found.drifted)}</{h}>"
        f'<p class="meta">On the numeric columns together: {columns}.</p>'
        '<table class="quality"><thead><tr><th>method</th><th>value</th>'
        f"<th>no drift</th><th>verdict</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _skipped(report: DriftReport, h: str = "h2") -> str:
    if not report.skipped:
        return ""
    items = "".join(
        f"<li><b>{escape(name)}</b>: {escape(reason)}</li>"
        for name, reason in report.skipped.items()
    )
    return f'<{h}>Not compared</{h}><ul class="skipped">{items}</ul>'


@dataclass(frozen=True, slots=True)
class _Bars:
    """What one chart draws: a label and two shares per bar, and, for numeric bins, the
    ``len(labels) + 1`` bounds between and around the bars."""

    labels: list[str]
    reference: NDArray[np.float64]
    current: NDArray[np.float64]
    counts: tuple[NDArray[np.float64], NDArray[np.float64]]
    bounds: NDArray[np.float64] | None


def _bars(histogram: PairedCounts) -> _Bars:
    ref_share, cur_share = histogram.shares()
    labels = ["(other)" if label == OTHER else label for label in histogram.labels]
    ref_count, cur_count = histogram.reference, histogram.current
    if len(labels) <= MAX_BARS:
        return _Bars(labels, ref_share, cur_share, (ref_count, cur_count), histogram.edges)
    # Keep the largest bins in their order; fold the rest into one bar.
    weight = ref_share + cur_share
    keep = np.sort(np.argsort(-weight, kind="stable")[: MAX_BARS - 1])
    rest = np.setdiff1d(np.arange(len(labels)), keep)

    def fold(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.append(values[keep], values[rest].sum())

    kept_labels = [labels[i] for i in keep.tolist()] + [f"{rest.size} more"]
    return _Bars(
        kept_labels,
        fold(ref_share),
        fold(cur_share),
        (fold(ref_count), fold(cur_count)),
        None,
    )


def _chart(feature: str, histogram: PairedCounts) -> str:
    bars = _bars(histogram)
    n = len(bars.labels)
    plot_width = _WIDTH - _LEFT - _RIGHT
    slot = plot_width / max(n, 1)
    longest = max((len(_cut(label)) for label in bars.labels), default=0)
    rotate = bars.bounds is None and longest * _CHAR > slot - 4
    bottom = 30 if not rotate else 22 + int(min(longest, _LABEL_CHARS) * _CHAR * 0.6)
    height = _HEIGHT + (bottom - 30)
    plot_height = _HEIGHT - _TOP - 30
    base = _TOP + plot_height
    top_share = float(max(bars.reference.max(initial=0.0), bars.current.max(initial=0.0)))
    step, ceiling = _scale(top_share)

    def y(share: float) -> float:
        return base - plot_height * share / ceiling

    out = [
        f'<svg class="chart" data-feature="{escape(feature)}" data-bins="{n}" role="img" '
        f'viewBox="0 0 {_WIDTH} {height}">',
        f"<title>{escape(feature)}: reference and current share per bin</title>",
    ]
    for k in range(round(ceiling / step) + 1):
        share = k * step
        out.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" '
            f'y1="{y(share):.1f}" y2="{y(share):.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y(share) + 4:.1f}" text-anchor="end">'
            f"{_percent(share, step)}</text>"
        )
    ref_counts, cur_counts = bars.counts
    pad = slot * 0.12
    width = (slot - 2 * pad) / 2
    for i, label in enumerate(bars.labels):
        x = _LEFT + i * slot
        tip = (
            f"{label}: reference {bars.reference[i]:.1%} ({ref_counts[i]:.0f}), "
            f"current {bars.current[i]:.1%} ({cur_counts[i]:.0f})"
        )
        out.append(f'<g class="bin" data-bin="{i}"><title>{escape(tip)}</title>')
        out.append(
            f'<rect class="hit" x="{x:.2f}" y="{_TOP}" width="{slot:.2f}" height="{plot_height}"/>'
        )
        for side, share, offset in (
            ("reference", bars.reference[i], pad),
            ("current", bars.current[i], pad + width),
        ):
            if share <= 0:
                continue
            # At least one unit high, so that a small but present share stays visible.
            h = max(base - y(float(share)), 1.0)
            out.append(
                f'<rect class="bar {side}" x="{x + offset:.2f}" y="{base - h:.2f}" '
                f'width="{width:.2f}" height="{h:.2f}"/>'
            )
        out.append("</g>")
        if bars.bounds is None:
            out.append(_category_label(label, x + slot / 2, base, rotate))
    if bars.bounds is not None:
        out.extend(_bound_labels(bars.bounds, slot, base))
    out.append(f'<line class="axis" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{base}" y2="{base}"/>')
    out.append("</svg>")
    return "\n".join(out)


def _category_label(label: str, x: float, base: float, rotate: bool) -> str:
    text = escape(_cut(label))
    if rotate:
        return (
            f'<text x="{x:.1f}" y="{base + 12}" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {base + 12})">{text}</text>'
        )
    return f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{text}</text>'


def _bound_labels(bounds: NDArray[np.float64], slot: float, base: float) -> list[str]:
    """The numeric bounds under the bars, at the borders between them; every k-th one when
    they would overlap."""
    texts = [_edge(float(b)) for b in bounds]
    widest = max(len(t) for t in texts) * _CHAR + 6
    every = max(1, math.ceil(widest / slot))
    out = []
    for i, text in enumerate(texts):
        if i % every and i != len(texts) - 1:
            continue
        x = _LEFT + i * slot
        out.append(
            f'<line class="axis" x1="{x:.2f}" x2="{x:.2f}" y1="{base}" y2="{base + 4}"/>'
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{escape(text)}</text>'
        )
    return out


def _scale(top: float) -> tuple[float, float]:
    """A grid step and the axis' top share: at most five steps above the largest share."""
    if top <= 0:
        return 0.25, 1.0
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if top / step <= 5:
            return step, min(math.ceil(top / step - 1e-9) * step, 1.0)
    return 0.25, 1.0


def _percent(share: float, step: float) -> str:
    digits = 1 if step < 0.01 else 0
    return f"{share * 100:.{digits}f}%"


def _edge(value: float) -> str:
    if math.isinf(value):
        return "-∞" if value < 0 else "+∞"
    return f"{value:.3g}"


def _cut(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _badge(drifted: bool) -> str:
    return (
        '<span class="badge drift">drift</span>' if drifted else '<span class="badge ok">ok</span>'
    )


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"
