"""The HTML drift report (aimon/drift/report.py) and `aimon report`: page structure, escaping,
drifted-first order, one chart per feature drawn from compare's own bins, profile references,
and the Evidently engine."""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from aimon.drift import Reference, compare
from aimon.drift.compare import ColumnDrift, DriftReport
from aimon.drift.report import MAX_BARS, report_html
from aimon.drift.samples import as_sample, binned_counts, paired_counts

ODD = '<b>&"x"</b>'  # a feature name that must be escaped everywhere


@dataclass
class Chart:
    feature: str
    bins: int
    bars: dict[str, int] = field(default_factory=lambda: {"reference": 0, "current": 0})
    tips: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """What a browser would see: the charts and their drawn bars, the feature headings and
    the summary table's feature cells, in document order."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.charts: list[Chart] = []
        self.headings: list[str] = []
        self.summary: list[str] = []
        self.sections: list[tuple[str, str]] = []  # (id, class)
        self.urls: list[str] = []
        self._svg: Chart | None = None
        self._text: list[str] | None = None
        self._into: list[str] | None = None
        self._title = False
        self._in_section = False
        self._bin = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.urls += [v for k, v in a.items() if k in ("src", "href") and not v.startswith("#")]
        if tag == "svg" and "chart" in a.get("class", "").split():
            self._svg = Chart(a["data-feature"], int(a["data-bins"]))
            self.charts.append(self._svg)
        elif tag == "rect" and self._svg is not None and a["class"].startswith("bar "):
            assert float(a["height"]) > 0
            self._svg.bars[a["class"].split()[1]] += 1
        elif tag == "title" and self._svg is not None and self._bin:
            self._title, self._text = True, []
        elif tag == "g" and "bin" in a.get("class", "").split():
            self._bin = True
        elif tag == "section":
            self.sections.append((a["id"], a["class"]))
            self._in_section = True
        elif tag == "h2" and self._in_section:
            self._text, self._into = [], self.headings
        elif tag == "span" and self._into is self.headings:
            self._end_text()  # the badge after the name
        elif tag == "a" and a.get("href", "").startswith("#feature-"):
            self._text, self._into = [], self.summary

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg = None
        elif tag == "g":
            self._bin = False
        elif tag == "section":
            self._in_section = False
        elif tag == "title" and self._title and self._svg is not None and self._text is not None:
            self._svg.tips.append("".join(self._text))
            self._title, self._text = False, None
        elif tag in ("h2", "a"):
            self._end_text()

    def _end_text(self) -> None:
        if self._text is not None and self._into is not None:
            self._into.append("".join(self._text).strip())
            self._text = self._into = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def frames(n: int = 2000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "stable": rng.normal(0, 1, n),
            "amount": rng.lognormal(3, 1, n),
            ODD: rng.normal(5, 2, n),
            "country": rng.choice(["DE", "FR", "US"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    current["amount"] = current["amount"] * 3
    current[ODD] = current[ODD] + 3
    current.loc[::4, "country"] = "IT"
    return reference, current


@pytest.fixture(scope="module")
def report() -> DriftReport:
    return compare(*frames())


@pytest.fixture(scope="module")
def page(report: DriftReport) -> Page:
    return Page(report_html(report, reference_name="ref.csv", current_name="cur.csv"))


def test_the_page_is_whole_and_loads_nothing(report: DriftReport) -> None:
    text = report_html(report)
    assert text.startswith("<!DOCTYPE html>\n")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "<script" not in text
    assert not re.search(r"https?:", text)  # no URL of any kind, not even an SVG namespace
    assert Page(text).urls == ["data:,"]  # the empty favicon, so none is fetched


def test_summary_has_a_row_per_feature_and_method(report: DriftReport) -> None:
    twice = compare(*frames(), methods=["psi", "ks"])
    text = report_html(twice)
    summary = text.split('<table class="summary">')[1].split("</table>")[0]
    assert summary.count("<tr>") == 1 + len(twice.to_frame())  # the header and a row each
    for row in twice.to_frame().itertuples(index=False):
        assert f"<td>{row.method}</td>" in text
        assert f'<td class="num">{row.statistic:.4g}</td>' in text
    assert 'rowspan="2"' in text  # numeric features: psi and ks share the name cell
    verdict = re.search(r'<p class="verdict (\w+)">([^<]*)</p>', text)
    assert verdict is not None
    assert verdict.groups() == ("drift", "3 of 4 features drifted (75%); dataset drift: yes")


def test_feature_names_are_escaped(page: Page, report: DriftReport) -> None:
    text = report_html(report, title="<script>alert(1)</script>")
    assert ODD not in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;" in text
    # ...and a parser reads the original name back from every place it is written
    assert ODD in page.headings and ODD in page.summary
    assert ODD in {chart.feature for chart in page.charts}


def test_drifted_features_come_first(page: Page, report: DriftReport) -> None:
    drifted = set(report.drifted_columns)
    assert drifted == {"amount", ODD, "country"}
    order = [chart.feature for chart in page.charts]
    assert set(order[:3]) == drifted and order[3] == "stable"
    assert page.headings == order and page.summary == order
    assert [cls for _, cls in page.sections] == ["feature drifted"] * 3 + ["feature stable"]
    assert len({anchor for anchor, _ in page.sections}) == 4


def test_one_drawn_chart_per_feature(page: Page, report: DriftReport) -> None:
    assert sorted(chart.feature for chart in page.charts) == sorted(report)
    for chart in page.charts:
        assert chart.bars["reference"] > 0 and chart.bars["current"] > 0
        assert len(chart.tips) == chart.bins  # a tooltip per bin or category


def test_charts_use_the_bins_of_the_comparison() -> None:
    reference, current = frames()
    report = compare(reference, current, methods=["psi"], bins=4)
    amount = report.columns["amount"].histogram
    assert amount is not None and len(amount.labels) == 4
    ref_counts, cur_counts = binned_counts(
        as_sample(reference["amount"]), as_sample(current["amount"]), 4
    )
    assert amount.reference.tolist() == ref_counts.tolist()
    assert amount.current.tolist() == cur_counts.tolist()
    chart = next(c for c in Page(report_html(report)).charts if c.feature == "amount")
    assert chart.bins == 4
    top = int(amount.current.argmax())
    share = amount.current[top] / amount.current.sum()
    assert f"current {share:.1%} ({amount.current[top]:.0f})" in chart.tips[top]
    country = report.columns["country"].histogram
    assert country is not None and country.labels == ("DE", "FR", "IT", "US")
    assert country.reference[2] == 0 and country.current[2] == len(current[::4])


@pytest.mark.parametrize("values", [np.arange(500.0) % 7, np.linspace(0, 1, 500)])
def test_paired_counts_match_binned_counts_in_evidently_mode(values: np.ndarray) -> None:
    ref, cur = as_sample(values), as_sample(values[::-1] * 1.5)
    counts = binned_counts(ref, cur, "evidently")
    chart = paired_counts(ref, cur, "evidently")
    assert chart.reference.tolist() == counts[0].tolist()
    assert chart.current.tolist() == counts[1].tolist()
    assert len(chart.labels) == counts[0].size
    if chart.edges is not None:  # Sturges' bins: the last one is closed
        assert chart.labels[-1].endswith("]") and chart.edges.size == counts[0].size + 1


def test_a_saved_profile_as_reference(tmp_path: Path) -> None:
    reference, current = frames()
    current.loc[::3, "stable"] = np.nan
    profile = Reference.from_frame(reference, top_k=2)  # country: DE, FR and "other"
    report = compare(profile, current)
    amount = report.columns["amount"].histogram
    assert amount is not None and amount.edges is not None
    assert amount.labels == tuple(profile.features["amount"].bin_labels())
    assert amount.reference.sum() == len(reference)
    assert report.columns["stable"].histogram.current.sum() == current["stable"].notna().sum()
    country = report.columns["country"].histogram
    assert country is not None and country.labels == ("DE", "FR", "__other__")
    page = Page(report_html(report))
    assert sorted(c.feature for c in page.charts) == sorted(report)
    assert all(c.bars["current"] > 0 for c in page.charts)
    assert "(other)" in report_html(report)


def test_labels_the_profile_never_saw_get_bars_of_their_own() -> None:
    reference, current = frames()
    report = compare(Reference.from_frame(reference), current)
    country = report.columns["country"].histogram
    assert country is not None and country.labels == ("DE", "FR", "US", "IT")
    assert country.reference.tolist()[-1] == 0 and country.current.tolist()[-1] > 0


def test_many_categories_are_folded_into_one_bar() -> None:
    rng = np.random.default_rng(0)
    labels = [f"c{i:03d}" for i in range(100)]
    reference = pd.DataFrame({"code": rng.choice(labels, 5000)})
    current = pd.DataFrame({"code": rng.choice(labels, 5000)})
    chart = Page(report_html(compare(reference, current))).charts[0]
    assert chart.bins == MAX_BARS
    assert chart.tips[-1].startswith(f"{100 - MAX_BARS + 1} more: ")


def test_a_report_without_bins_or_features() -> None:
    reference, current = frames()
    found = compare(reference, current, columns=["stable"])
    bare = DriftReport({"stable": ColumnDrift("stable", "numeric", found["stable"])})
    text = report_html(bare)
    assert "No bin counts were kept" in text and '<svg class="chart"' not in text
    assert "No feature was compared" in report_html(DriftReport({}, {"when": "a datetime"}))
    assert "<b>when</b>: a datetime" in report_html(DriftReport({}, {"when": "a datetime"}))


# -- aimon report ------------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    reference, current = frames()
    paths = {"reference": root / "ref.csv", "current": root / "cur.csv", "root": root}
    reference.to_csv(paths["reference"], index=False)
    current.to_csv(paths["current"], index=False)
    paths["profile"] = root / "ref.json"
    Reference.from_frame(reference).save(paths["profile"])
    return paths


@pytest.mark.parametrize("ref", ["reference", "profile"])
def test_cli_writes_the_report(files: dict[str, Path], ref: str) -> None:
    target = files["root"] / f"{ref}.html"
    status, text = run("report", str(files[ref]), str(files["current"]), "-o", str(target))
    assert status == EXIT_OK
    assert text == f"wrote {target}: 3 of 4 features drifted\n"
    page = Page(target.read_text(encoding="utf-8"))
    assert len(page.charts) == 4 and page.charts[-1].feature == "stable"
    assert f"<b>{files[ref].name}</b>" in target.read_text(encoding="utf-8")


def test_cli_options_reach_compare(files: dict[str, Path]) -> None:
    target = files["root"] / "some.html"
    status, _ = run(
        "report",
        *(str(files["reference"]), str(files["current"]), "-o", str(target)),
        *("--columns", "amount,country", "--methods", "psi", "--bins", "5", "--title", "a&b"),
    )
    assert status == EXIT_OK
    text = target.read_text(encoding="utf-8")
    page = Page(text)
    assert [c.feature for c in page.charts] == ["amount", "country"]
    assert page.charts[0].bins == 5
    assert "<h1>a&amp;b</h1>" in text and "<td>psi</td>" in text


def test_cli_bad_output_names_the_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    target = files["root"] / "no" / "such" / "dir.html"
    status, _ = run("report", str(files["reference"]), str(files["current"]), "-o", str(target))
    assert status == EXIT_BAD_INPUT
    assert f"{target}: cannot write the report" in capsys.readouterr().err


def test_engine_evidently_writes_evidentlys_report(files: dict[str, Path]) -> None:
    pytest.importorskip("evidently")
    target = files["root"] / "evidently.html"
    status, text = run(
        "report",
        *(str(files["reference"]), str(files["current"]), "-o", str(target)),
        *("--engine", "evidently", "--columns", "amount,stable"),
    )
    assert status == EXIT_OK and "Evidently" in text
    page = target.read_text(encoding="utf-8")
    assert "drawDashboard" in page and "Dataset Drift" in page  # Evidently's own page
    assert '"column_name": "amount"' in page and "country" not in page


def test_engine_evidently_without_the_extra(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "evidently", None)  # import evidently now fails
    target = files["root"] / "none.html"
    argv = ("report", str(files["reference"]), str(files["current"]), "-o", str(target))
    status, _ = run(*argv, "--engine", "evidently")
    assert status == EXIT_BAD_INPUT and not target.exists()
    assert "pip install 'aimon[evidently]'" in capsys.readouterr().err


def test_engine_evidently_needs_data_not_a_profile(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    target = files["root"] / "none.html"
    argv = ("report", str(files["profile"]), str(files["current"]), "-o", str(target))
    assert run(*argv, "--engine", "evidently")[0] == EXIT_BAD_INPUT
    assert "not a profile" in capsys.readouterr().err
    argv = ("report", str(files["reference"]), str(files["current"]), "-o", str(target))
    assert run(*argv, "--engine", "evidently", "--methods", "psi")[0] == EXIT_BAD_INPUT
    assert "--methods and --bins apply to --engine aimon" in capsys.readouterr().err
