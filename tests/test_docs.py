"""The documentation cannot rot: every relative link in README.md and docs/*.md points at a file
or directory of the repository, every ``#anchor`` at a heading of its page (GitHub's anchors:
lowercase, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for repeated headings), and
the README's Documentation list links every page of docs/, and the README's examples on
scikit-learn's bundled data run and print what the README shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[^)]*)?\)")
_REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s.*)?$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:...
#: The README section whose Python blocks are whole programs, each followed by a ``text``
#: block of what it prints (issue 15: a runnable example for each feature it shows).
EXAMPLES_SECTION = "Beyond per-feature statistics"


def _prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: markup and punctuation dropped, spaces to hyphens.

    >>> github_anchor("What happens on the caller's time, and what does not")
    'what-happens-on-the-callers-time-and-what-does-not'
    >>> github_anchor("From `make demo` to Prometheus and Grafana")
    'from-make-demo-to-prometheus-and-grafana'
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown page, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The link targets of a page (inline and reference links), code left out."""
    targets: list[str] = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        prose = _CODE_SPAN.sub("", line)
        targets += _INLINE_LINK.findall(prose)
        reference = _REFERENCE_LINK.match(prose)
        if reference:
            targets.append(reference.group(1))
    return targets


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The page's relative links whose file, directory or anchor does not exist."""
    broken: list[str] = []
    for target in links(page):
        if not target or _EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif root.resolve() not in resolved.parents and resolved != root.resolve():
            broken.append(f"{target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page() -> None:
    docs = {page.name for page in PAGES if page.parent.name == "docs"}
    assert docs, "docs/ holds no page"
    linked = {
        Path(target.partition("#")[0]).name
        for target in links(ROOT / "README.md")
        if target.startswith("docs/")
    }
    assert docs - linked == set()


def test_the_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Twice\n\n## Twice\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title, with punctuation!\n"
        "[ok](docs/other.md) [ok](docs/other.md#other-page) [ok](#title-with-punctuation)\n"
        "[ok](docs/other.md#twice-1) [ok](https://example.com/x.md) [ok](docs/)\n"
        "[gone](docs/missing.md) [bad anchor](docs/other.md#nope) [bad](#twice)\n"
        "`[in code](docs/nowhere.md)`\n"
        "```\n[in a fence](docs/nowhere.md)\n```\n"
        "[ref]: docs/also-missing.md\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "docs/missing.md: no such file",
        "docs/other.md#nope: no heading with the anchor #nope",
        "#twice: no heading with the anchor #twice",
        "docs/also-missing.md: no such file",
    ]


def test_an_exposed_sidecar_is_told_to_need_authentication(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16: POST /outcomes is open on 0.0.0.0 unless auth is set; --help and the
    security page say so."""
    from aimon.cli import main

    with pytest.raises(SystemExit):
        main(["sidecar", "--help"])
    assert "needs --bearer-token-file or basic auth" in " ".join(capsys.readouterr().out.split())
    security = (ROOT / "docs" / "security.md").read_text()
    assert "A sidecar reachable beyond loopback needs authentication" in " ".join(security.split())


def examples(text: str, section: str = EXAMPLES_SECTION) -> list[tuple[str, str | None]]:
    """The ``python`` blocks of a page's ``## section`` (up to the next ``##`` heading), each
    with the ``text`` block right after it (blank lines between), or None."""
    found: list[tuple[str, str | None]] = []
    inside = False
    block: list[str] | None = None
    kind = ""
    expect_output = False
    for line in text.splitlines():
        if block is not None:
            if line.startswith("```"):
                body = "\n".join(block) + "\n"
                if kind == "python":
                    found.append((body, None))
                    expect_output = True
                elif kind == "text" and expect_output:
                    found[-1] = (found[-1][0], body)
                    expect_output = False
                block = None
            else:
                block.append(line)
            continue
        if line.startswith("## "):
            inside = line[3:].strip() == section
        elif inside and line.startswith("```"):
            kind = line[3:].strip()
            expect_output = expect_output and kind == "text"
            block = []
        elif line.strip():
            expect_output = False
    return found


README_EXAMPLES = examples((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_shows_runnable_examples_with_their_output() -> None:
    assert len(README_EXAMPLES) >= 2, f"no examples under ## {EXAMPLES_SECTION}"
    assert all(output for _, output in README_EXAMPLES), "an example without its output"


@pytest.mark.parametrize(
    ("code", "shown"), README_EXAMPLES, ids=[f"example{i}" for i in range(len(README_EXAMPLES))]
)
def test_a_readme_example_runs_and_prints_what_the_readme_shows(
    code: str, shown: str | None
) -> None:
    """Each example, as a reader would paste it, in a fresh interpreter of this venv."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown


def test_the_shown_outputs_say_what_the_prose_claims() -> None:
    """The estimate's interval holds the realised accuracy; the flipped correlation drifts no
    feature and the whole rows above the band; the traded alcohol drifts the two segments and
    not the whole (the checks above tie the text to a run)."""
    shown = "".join(output or "" for _, output in README_EXAMPLES)
    estimated = re.search(r"estimated accuracy ([\d.]+) \(([\d.]+)-([\d.]+)\) from (\d+)", shown)
    realised = re.search(r"realised accuracy +([\d.]+)", shown)
    assert estimated is not None and realised is not None, shown
    low, high = float(estimated.group(2)), float(estimated.group(3))
    assert low <= float(estimated.group(1)) <= high
    assert low <= float(realised.group(1)) <= high
    assert "features drifted: []\n" in shown
    multivariate = re.search(
        r"multivariate drift: True \(reconstruction error ([\d.]+), upper bound ([\d.]+)\)", shown
    )
    assert multivariate is not None, shown
    assert float(multivariate.group(1)) > float(multivariate.group(2))
    assert "whole monitor, alcohol drifted: False\n" in shown
    for cultivar, drifted in (("barbera", True), ("barolo", True), ("grignolino", False)):
        assert re.search(rf"{cultivar} +\d+ calls, alcohol drifted: {drifted}\n", shown), shown


def test_examples_are_read_from_their_section_only() -> None:
    page = (
        "## Other\n```python\nprint(0)\n```\n"
        f"## {EXAMPLES_SECTION}\ntext\n```python\nprint(1)\n```\n\n```text\n1\n```\n"
        "### Sub\n```python\nprint(2)\n```\nprose, so no output\n```text\n2\n```\n"
        "## Next\n```python\nprint(3)\n```\n"
    )
    assert examples(page) == [("print(1)\n", "1\n"), ("print(2)\n", None)]
