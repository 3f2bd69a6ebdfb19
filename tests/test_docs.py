"""The documentation cannot rot: every relative link in README.md and docs/*.md points at a file
or directory of the repository, every ``#anchor`` at a heading of its page (GitHub's anchors:
lowercase, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` for repeated headings), and
the README's Documentation list links every page of docs/."""

from __future__ import annotations

import re
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
