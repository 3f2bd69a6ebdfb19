"""Batch drift per segment (``aimon.drift.segmented``, its table, JSON and HTML page, and
``aimon drift|report --segment``), on scikit-learn's wine and breast-cancer data."""

from __future__ import annotations

import io
import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK
from aimon.drift import Reference, compare, compare_segments
from aimon.drift.render import report_json, segmented_json, segmented_table
from aimon.drift.segment_report import segmented_html
from aimon.drift.segmented import MISSING, OTHER, segment_labels

SEEDS = range(10)


def wine() -> tuple[pd.DataFrame, str]:
    """Wine, segmented by its class (59, 71 and 48 rows)."""
    bunch = load_wine(as_frame=True)
    return bunch.data.assign(cls=bunch.target), "cls"


def cancer() -> tuple[pd.DataFrame, str]:
    """Breast cancer, segmented by a random site of three (fixed seed), not by anything the
    features know."""
    data = load_breast_cancer(as_frame=True).data
    site = np.random.default_rng(42).choice(["north", "south", "west"], len(data))
    return data.assign(site=site), "site"


DATA = {"wine": wine, "cancer": cancer}
SHIFTED = {"wine": ("alcohol", 1), "cancer": ("mean radius", "south")}


def halves(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random split of the rows in two halves."""
    mask = np.random.default_rng(seed).random(len(data)) < 0.5
    return data[mask].reset_index(drop=True), data[~mask].reset_index(drop=True)


def shift(current: pd.DataFrame, segment: str, value: object, feature: str) -> pd.DataFrame:
    """``feature`` moved by one standard deviation in the rows of one segment value."""
    out = current.copy()
    rows = out[segment] == value
    out.loc[rows, feature] += current[feature].std()
    return out


# -- the comparison ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA)
def test_a_shift_in_one_segment_flags_that_segment_alone(name: str) -> None:
    """Per seed, the shifted segment drifts on the shifted feature, and every other segment's
    report is exactly what it is without the shift (a segment sees only its own rows). The
    other segments flag the shifted feature by chance alone: at KS's 5 % level, 1 of their 20
    comparisons over 10 seeds on wine, 0 of 20 on breast cancer (bound: 2)."""
    data, segment = DATA[name]()
    feature, value = SHIFTED[name]
    label = str(value)
    chance = 0
    for seed in SEEDS:
        reference, current = halves(data, seed)
        plain = compare_segments(reference, current, segment)
        found = compare_segments(reference, shift(current, segment, value, feature), segment)
        assert list(found) == list(plain)
        assert feature in found[label].drifted_columns, seed
        moved = found[label].report
        assert moved is not None
        pvalue = moved[feature]["ks"].pvalue
        assert pvalue is not None and pvalue < 1e-4
        for other in found:
            if other == label:
                continue
            ours, theirs = found[other].report, plain[other].report
            assert ours is not None and theirs is not None
            assert report_json(ours) == report_json(theirs)
            chance += feature in found[other].drifted_columns
    assert chance <= 2


@pytest.mark.parametrize("name", DATA)
def test_random_halves_are_quiet_in_every_segment(name: str) -> None:
    """No shift, 20 random splits: no segment drifts as a data set (Evidently's share of
    half the columns), and single columns drift at the tests' 5 % level or below: 26 of 780
    (3.3 %) segment-columns on wine, 66 of 1800 (3.7 %) on breast cancer. A segment of 13 or
    30 columns shows some drifted column by chance far more often (20 of 60 segments on
    wine, 33 of 60 on breast cancer): that is ``compare``'s per-column verdict, per segment,
    as ``aimon drift`` exits 1 on it; read ``dataset_drift_segments`` where that matters."""
    data, segment = DATA[name]()
    alarms = cells = 0
    for seed in range(20):
        found = compare_segments(*halves(data, seed), segment)
        assert found.dataset_drift_segments == []
        for part in found.values():
            assert part.report is not None and segment not in part.report
            alarms += len(part.drifted_columns)
            cells += len(part.report)
    assert cells == 20 * 3 * (len(data.columns) - 1)
    assert alarms / cells <= 0.05


def test_each_segment_is_compare_on_its_rows() -> None:
    data, segment = wine()
    reference, current = halves(data, 0)
    found = compare_segments(reference, current, segment, methods=["psi", "ks"])
    assert found.against == "segment"
    assert list(found) == ["1", "0", "2"]  # most current rows first
    for value in found:
        rows = (reference[segment] == int(value), current[segment] == int(value))
        alone = compare(
            reference[rows[0]].drop(columns=segment),
            current[rows[1]].drop(columns=segment),
            methods=["psi", "ks"],
        )
        part = found[value]
        assert (part.n_reference, part.n_current) == (int(rows[0].sum()), int(rows[1].sum()))
        assert part.report is not None and report_json(part.report) == report_json(alone)
    assert sum(p.n_current for p in found.values()) == len(current)


def test_the_cap_pools_the_rest_in_other() -> None:
    data = load_breast_cancer(as_frame=True).data
    rng = np.random.default_rng(5)
    letters = list("abcdefgh")  # shares falling from a to h
    weights = np.arange(len(letters), 0, -1) / sum(range(1, len(letters) + 1))
    data = data.assign(group=rng.choice(letters, len(data), p=weights))
    reference, current = halves(data, 1)
    found = compare_segments(reference, current, "group", max_segments=3)
    counts = current["group"].value_counts()
    top = sorted(counts.index, key=lambda v: (-counts[v], v))[:3]
    assert list(found) == [*top, OTHER]
    assert found.pooled == 5
    rest = [v for v in letters if v not in top]
    assert found[OTHER].n_current == int(current["group"].isin(rest).sum())
    assert found[OTHER].n_reference == int(reference["group"].isin(rest).sum())
    assert sum(p.n_current for p in found.values()) == len(current)
    assert found.to_dict()["pooled"] == 5
    assert list(compare_segments(reference, current, "group")) == sorted(
        counts.index, key=lambda v: (-counts[v], v)
    )  # 8 values: under the default cap of 20, none pooled


def test_against_a_profile_every_segment_meets_the_whole_reference() -> None:
    data, segment = wine()
    reference, current = halves(data, 2)
    profile = Reference.from_frame(reference)  # the segment column is one of its features
    assert segment in profile.features
    found = compare_segments(profile, current, segment)
    assert found.against == "reference" and found.to_dict()["against"] == "reference"
    for part in found.values():
        assert part.n_reference == len(reference)
        assert part.report is not None
        assert segment not in part.report
        assert segment not in part.report.skipped
        assert segment not in part.report.data_quality
        assert len(part.report) == len(data.columns) - 1
        rows = current[current[segment].astype(str) == part.value].drop(columns=segment)
        alone = compare(profile, rows)
        assert part.report.to_frame().equals(alone.to_frame())
    # Against the whole, a class differs where the classes differ (class 1: the least alcohol
    # and proline); against its own reference rows it does not.
    assert {"alcohol", "proline"} <= set(found["1"].drifted_columns)
    own = compare_segments(reference, current, segment)["1"].drifted_columns
    assert "alcohol" not in own and "proline" not in own


def test_small_and_one_sided_segments_get_no_verdict() -> None:
    data, segment = wine()
    reference, current = halves(data, 3)
    reference = reference[reference[segment] != 2]  # class 2 only in the current data
    current = current[current[segment] != 0]  # class 0 only in the reference
    found = compare_segments(reference, current, segment)
    assert found["2"].report is None and found["2"].n_reference == 0
    assert found["2"].reason == "no reference rows with this value"
    assert (
        found["2"].drifted is False
        and found.to_frame().set_index("segment").loc["2", "drifted"] is None
    )
    assert found.reference_only == ("0",)
    found = compare_segments(*halves(data, 0), segment, min_rows=25)
    assert (found["2"].n_reference, found["2"].n_current) == (21, 27)
    assert found["2"].report is None
    assert found["2"].reason == "fewer than 25 rows on a side (min_rows)"
    assert all(found[v].report is not None for v in ("0", "1"))


def test_segment_values_are_labelled_alike_on_both_sides() -> None:
    reference = pd.DataFrame({"tier": [1, 2, 3] * 40, "x": np.arange(120.0)})
    current = reference.astype({"tier": float})  # a CSV with a gap reads integers as floats
    current.loc[:9, "tier"] = np.nan
    found = compare_segments(reference, current, "tier")
    assert sorted(found) == ["1", "2", "3", MISSING]
    assert found[MISSING].report is None and found[MISSING].n_current == 10
    assert segment_labels(pd.Series([True, False, None], dtype=object)).tolist() == [
        "1",
        "0",
        MISSING,
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r, c: compare_segments(r, c, "region"), "'region' is not a column of the cur"),
        (lambda r, c: compare_segments(r.drop(columns="cls"), c, "cls"), "of the reference"),
        (lambda r, c: compare_segments(r, c, "cls", max_segments=0), "max_segments"),
        (lambda r, c: compare_segments(r, c, "cls", min_rows=0), "min_rows"),
    ],
)
def test_bad_arguments_name_what_is_wrong(call: object, message: str) -> None:
    data, _ = wine()
    reference, current = halves(data, 0)
    with pytest.raises(ValueError, match=message):
        call(reference, current)  # type: ignore[operator]


def test_table_and_json_hold_every_segment() -> None:
    data, segment = wine()
    reference, current = halves(data, 4)
    found = compare_segments(reference, shift(current, segment, 1, "alcohol"), segment)
    table = segmented_table(found)
    assert table.startswith("1 of 3 segments of cls drifted: 1\n")
    assert "each segment against the same value's reference rows" in table
    assert [line for line in table.splitlines() if line.startswith("== segment ")] == [
        f"== segment {v}: {found[v].n_reference} reference rows, {found[v].n_current} current "
        "rows =="
        for v in ("1", "0", "2")  # drifted first
    ]
    parsed = json.loads(segmented_json(found))
    assert parsed["segment_column"] == "cls" and parsed["drifted_segments"] == ["1"]
    assert set(parsed["segments"]) == {"0", "1", "2"}
    assert parsed["segments"]["1"]["report"]["columns"]["alcohol"]["drifted"] is True


# -- the HTML page ----------------------------------------------------------------------------


class Sections(HTMLParser):
    """The segment sections (id, class, heading), every id, and where the segment table is."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[tuple[str, str]] = []
        self.headings: list[str] = []
        self.ids: list[str] = []
        self.table_at: int | None = None
        self._heading: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "table" and a.get("class") == "segments":
            self.table_at = len(self.sections)
        if tag == "section" and a.get("class", "").startswith("segment"):
            self.sections.append((a["id"], a["class"]))
        if tag == "h2" and self.sections and self.headings.__len__() < len(self.sections):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


def test_the_page_has_the_segment_table_then_a_section_per_segment() -> None:
    data, segment = wine()
    reference, current = halves(data, 4)
    found = compare_segments(reference, shift(current, segment, 1, "alcohol"), segment)
    page = segmented_html(found, title="per class")
    parsed = Sections(page)
    assert parsed.table_at == 0  # the table of segments comes before any section
    assert [cls for _, cls in parsed.sections] == [
        "segment drifted",
        "segment stable",
        "segment stable",
    ]
    assert parsed.headings == ["Segment 1 drift", "Segment 0 ok", "Segment 2 ok"]
    assert len(parsed.ids) == len(set(parsed.ids))  # feature anchors unique across sections
    assert page.count('<svg class="chart"') == 3 * (len(data.columns) - 1)
    assert "Content-Security-Policy" in page and "<script" not in page


# -- the command line -------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wine halves: the reference, the current half as is, shuffled reference rows (the same
    data: quiet everywhere) and the current half with alcohol shifted in class 1."""
    data, segment = wine()
    reference, current = halves(data, 0)
    root = tmp_path_factory.mktemp("segments")
    paths = {name: root / f"{name}.csv" for name in ("reference", "current", "same", "shifted")}
    reference.to_csv(paths["reference"], index=False)
    current.to_csv(paths["current"], index=False)
    reference.sample(frac=1.0, random_state=1).to_csv(paths["same"], index=False)
    shift(current, segment, 1, "alcohol").to_csv(paths["shifted"], index=False)
    paths["root"] = root
    return paths


def test_drift_per_segment_exits_one_on_a_drifted_segment(files: dict[str, Path]) -> None:
    status, text = run("drift", str(files["reference"]), str(files["shifted"]), "--segment", "cls")
    assert status == EXIT_DRIFT
    assert text.startswith("1 of 3 segments of cls drifted: 1\n")
    row = next(line for line in text.splitlines() if line.startswith("1  "))
    assert row.split()[-2:] == ["DRIFT", "alcohol"]


def test_drift_per_segment_exits_zero_when_every_segment_is_quiet(files: dict[str, Path]) -> None:
    status, text = run("drift", str(files["reference"]), str(files["same"]), "--segment", "cls")
    assert status == EXIT_OK
    assert text.startswith("0 of 3 segments of cls drifted\n")
    assert "DRIFT" not in text


def test_json_per_segment_is_strict_and_complete(files: dict[str, Path]) -> None:
    argv = ["drift", str(files["reference"]), str(files["shifted"]), "--segment", "cls"]
    status, text = run(*argv, "--format", "json", "--max-segments", "2")
    assert status == EXIT_DRIFT
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    current = pd.read_csv(files["shifted"])
    counts = current["cls"].value_counts()
    assert parsed["max_segments"] == 2 and parsed["pooled"] == 1
    assert list(parsed["segments"]) == [str(v) for v in counts.index[:2]] + [OTHER]
    assert sum(s["n_current"] for s in parsed["segments"].values()) == len(current)
    features = [c for c in current.columns if c != "cls"]
    for part in parsed["segments"].values():
        assert sorted(part["report"]["columns"]) == sorted(features)
        assert part["report"]["data_quality"].keys() == set(features)
        assert part["drifted"] == bool(part["drifted_columns"])
    assert "1" in parsed["drifted_segments"]
    assert parsed["segments"]["1"]["drifted_columns"] == ["alcohol"]


def test_drift_per_segment_against_a_profile(files: dict[str, Path]) -> None:
    profile = files["root"] / "ref.json"
    assert run("reference", "build", str(files["reference"]), "-o", str(profile))[0] == EXIT_OK
    argv = ["drift", str(profile), str(files["shifted"]), "--segment", "cls", "--format", "json"]
    status, text = run(*argv)
    parsed = json.loads(text)
    assert status == EXIT_DRIFT and parsed["against"] == "reference"
    rows = len(pd.read_csv(files["reference"]))
    assert {s["n_reference"] for s in parsed["segments"].values()} == {rows}
    status, text = run(*argv[:-2])
    assert "each segment against the whole reference profile" in text.splitlines()[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--segment", "clss"), "--segment: 'clss' is not a column of {current} (did you mean"),
        (("--segment", "cls", "--multivariate"), "--multivariate: not measured per segment"),
    ],
)
def test_bad_segment_input_exits_two_naming_it(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    status, _ = run("drift", str(files["reference"]), str(files["current"]), *extra)
    assert status == EXIT_BAD_INPUT
    assert message.format(current=files["current"]) in capsys.readouterr().err


def test_a_segment_column_only_in_the_current_data_is_named(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reference = pd.read_csv(files["reference"]).drop(columns="cls")
    path = files["root"] / "no-segment.csv"
    reference.to_csv(path, index=False)
    status, _ = run("drift", str(path), str(files["current"]), "--segment", "cls")
    assert status == EXIT_BAD_INPUT
    assert f"--segment: 'cls' is not a column of {path}" in capsys.readouterr().err


def test_max_segments_below_one_is_refused(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["drift", str(files["reference"]), str(files["current"]), "--segment", "cls"]
    with pytest.raises(SystemExit) as exit_:
        run(*argv, "--max-segments", "0")
    assert exit_.value.code == EXIT_BAD_INPUT
    assert "--max-segments: expected at least 1" in capsys.readouterr().err


def test_report_per_segment_has_a_section_per_segment(files: dict[str, Path]) -> None:
    output = files["root"] / "segments.html"
    argv = ["report", str(files["reference"]), str(files["shifted"]), "--segment", "cls"]
    status, text = run(*argv, "-o", str(output))
    assert status == EXIT_OK
    assert text == f"wrote {output}: 1 of 3 segments drifted\n"
    parsed = Sections(output.read_text(encoding="utf-8"))
    assert parsed.table_at == 0
    assert Counter(cls for _, cls in parsed.sections) == {"segment drifted": 1, "segment stable": 2}
    assert [h.split()[1] for h in parsed.headings] == ["1", "0", "2"]
    evidently = run(*argv, "-o", str(output), "--engine", "evidently")
    assert evidently[0] == EXIT_BAD_INPUT


def test_fail_on_dataset_asks_a_segment_for_dataset_drift(files: dict[str, Path]) -> None:
    argv = ["drift", str(files["reference"]), str(files["shifted"]), "--segment", "cls"]
    assert run(*argv)[0] == EXIT_DRIFT
    status, text = run(*argv, "--fail-on", "dataset")
    assert status == EXIT_OK  # 1 of 13 columns: no dataset drift, and every check passes
    assert text.count("data quality: all 13 columns pass") == 3


def test_a_profile_with_segment_profiles_meets_each_value_with_its_own() -> None:
    """Wine, a profile built with segments: each cultivar's rows meet that cultivar's
    profile, as with the reference rows themselves; the unshifted ones stay quiet, the
    shifted one drifts in the shifted column; a value the profile has none of meets its
    ``__other__``."""
    data = load_wine(as_frame=True).frame
    profile = Reference.from_frame(data, segments=["target"], max_segment_values=2)
    current = data.copy()
    current.loc[current.target == 1, "alcohol"] += 1.0
    found = compare_segments(profile, current, "target")
    assert found.against == "segment"
    assert found["1"].drifted_columns == ["alcohol"]
    assert found["0"].drifted_columns == []
    assert found["1"].n_reference == int((data.target == 1).sum())
    # max_segment_values=2: the third cultivar has no profile of its own, its __other__ has it
    assert found["2"].report is not None and found["2"].drifted_columns == []
    assert found["1"].report is not None and "target" not in found["1"].report.columns
