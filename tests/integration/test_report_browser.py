"""`aimon report` opened in a real headless Chromium (Debian's `chromium` and
`chromium-driver`): no console errors, no network request, and one drawn chart per feature."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from selenium import webdriver  # the dev extra, installed by `make test`

from aimon.cli import main
from aimon.cli.exits import EXIT_OK
from aimon.drift import Reference

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.fail(
        "needs Debian's chromium and chromium-driver: `make test` installs them",
        pytrace=False,
    )

ODD = '<b>&"x"</b>'  # escaped in the page, read back unchanged from the DOM

# Every chart, its feature, its size on screen, and its bars of non-zero drawn height.
CHARTS_JS = """
return Array.from(document.querySelectorAll('svg.chart')).map(svg => ({
  feature: svg.getAttribute('data-feature'),
  width: svg.getBoundingClientRect().width,
  height: svg.getBoundingClientRect().height,
  reference: Array.from(svg.querySelectorAll('rect.bar.reference'))
    .filter(r => r.getBoundingClientRect().height > 0).length,
  current: Array.from(svg.querySelectorAll('rect.bar.current'))
    .filter(r => r.getBoundingClientRect().height > 0).length,
}));
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # The Debian driver, given by path: Selenium Manager never looks for (or downloads) one.
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(11)
    n = 3000
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, n),
            "age": rng.normal(40, 10, n),
            ODD: rng.normal(0, 1, n),
            "country": rng.choice(["DE", "FR", "US"], n, p=[0.5, 0.3, 0.2]),
            "tier": rng.integers(0, 3, n),
            "zip": rng.choice([f"zip-{i:04d}" for i in range(80)], n),
        }
    )
    current = reference.sample(frac=1.0, random_state=2).reset_index(drop=True)
    current["amount"] *= 3.0
    current.loc[::5, "age"] = np.nan
    current.loc[::3, "country"] = "IT"
    root = tmp_path_factory.mktemp("browser")
    paths = {"reference": root / "ref.csv", "current": root / "cur.csv", "profile": root / "p.json"}
    reference.to_csv(paths["reference"], index=False)
    current.to_csv(paths["current"], index=False)
    Reference.from_frame(reference).save(paths["profile"])
    paths["root"] = root
    return paths


def write_report(files: dict[str, Path], ref: str) -> Path:
    target = files["root"] / f"{ref}.html"
    argv = ["report", str(files[ref]), str(files["current"]), "-o", str(target)]
    assert main(argv, out=io.StringIO()) == EXIT_OK
    return target


def open_page(driver: Any, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load a file; return the console entries and the URLs of every request it made."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(path.as_uri())
    console = driver.get_log("browser")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return console, requests


@pytest.mark.parametrize("ref", ["reference", "profile"])
def test_report_draws_a_chart_per_feature_without_errors_or_network(
    driver: Any, files: dict[str, Path], ref: str
) -> None:
    page = write_report(files, ref)
    console, requests = open_page(driver, page)
    assert [e for e in console if e["level"] == "SEVERE"] == []
    assert requests == [page.as_uri()]  # the file itself, nothing else
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    charts = driver.execute_script(CHARTS_JS)
    features = ["amount", "age", ODD, "country", "tier", "zip"]
    assert sorted(c["feature"] for c in charts) == sorted(features)
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["reference"] > 0 and chart["current"] > 0, chart
    drifted = {"amount", "country"}
    assert {c["feature"] for c in charts[: len(drifted)]} == drifted  # drifted first
    assert driver.title == "Drift report"


def test_a_page_that_loads_something_is_caught(driver: Any, files: dict[str, Path]) -> None:
    """The checks above can fail: a report that tried to fetch an image would be blocked by
    its Content-Security-Policy, and the blocked request shows as a console error."""
    page = write_report(files, "reference")
    tampered = files["root"] / "tampered.html"
    html = page.read_text(encoding="utf-8")
    tampered.write_text(html.replace("</h1>", '</h1><img src="http://127.0.0.1:9/x.png">'))
    console, _ = open_page(driver, tampered)
    severe = [e["message"] for e in console if e["level"] == "SEVERE"]
    assert any("Content Security Policy" in m for m in severe), console
