"""`aimon reference build` and `aimon drift`: outputs, exit codes and error messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimon import Monitor
from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK
from aimon.drift import Reference, compare
from aimon.segments import OTHER


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(7)
    n = 3000
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, n),
            "age": rng.normal(40, 10, n),
            "country": rng.choice(["DE", "FR", "US"], n, p=[0.5, 0.3, 0.2]),
            "tier": rng.integers(0, 3, n),
        }
    )
    same = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shifted = reference.copy()
    shifted["amount"] *= 3.0
    shifted.loc[::5, "age"] = np.nan
    root = tmp_path_factory.mktemp("cli")
    paths = {"reference": root / "ref.csv", "same": root / "same.csv", "shifted": root / "cur.csv"}
    reference.to_csv(paths["reference"], index=False)
    same.to_csv(paths["same"], index=False)
    shifted.to_csv(paths["shifted"], index=False)
    paths["root"] = root
    return paths


def test_no_drift_exits_zero_with_a_table(files: dict[str, Path]) -> None:
    status, text = run("drift", str(files["reference"]), str(files["same"]))
    assert status == EXIT_OK
    assert text.startswith("0 of 4 columns drifted (0%); dataset drift: no\n")
    assert "column" in text and "amount" in text and "DRIFT" not in text


def test_drift_exits_one_and_names_the_column_first(files: dict[str, Path]) -> None:
    status, text = run("drift", str(files["reference"]), str(files["shifted"]))
    assert status == EXIT_DRIFT
    head, _, table = text.partition("\n\n")
    assert head == "1 of 4 columns drifted (25%); dataset drift: no: amount"
    first_row = table.splitlines()[1].split()
    assert first_row[0] == "amount" and first_row[-1] == "DRIFT"


def test_fail_on_dataset_ignores_a_single_column(files: dict[str, Path]) -> None:
    argv = ("drift", str(files["reference"]), str(files["shifted"]), "--fail-on", "dataset")
    # a fifth of age is missing: a data-quality failure whatever --fail-on says
    status, text = run(*argv)
    assert status == EXIT_DRIFT
    assert text.splitlines()[-1] == "  age: missing 20.0% (reference 0.0%)"
    assert run(*argv, "--max-missing-increase", "0.25")[0] == EXIT_OK


def test_json_equals_compare_and_is_strict(files: dict[str, Path]) -> None:
    argv = ["drift", str(files["reference"]), str(files["shifted"])]
    status, text = run(*argv, "--methods", "psi,ks,wasserstein_raw", "--format", "json")
    assert status == EXIT_DRIFT
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    expected = compare(
        pd.read_csv(files["reference"]),
        pd.read_csv(files["shifted"]),
        methods=["psi", "ks", "wasserstein_raw"],
    )
    assert parsed["drifted_columns"] == ["amount"]
    for column in ("amount", "age"):
        for method in ("psi", "ks"):
            got = parsed["columns"][column]["results"][method]
            assert got["statistic"] == expected[column][method].statistic
            assert got["pvalue"] == expected[column][method].pvalue
    raw = parsed["columns"]["amount"]["results"]["wasserstein_raw"]
    assert raw["threshold"] is None  # infinite: reported, never a verdict
    assert parsed["columns"]["age"]["results"]["ks"]["missing_current"] == 600


def test_reference_build_then_drift_against_the_profile(files: dict[str, Path]) -> None:
    profile = files["root"] / "ref.json"
    status, text = run(
        "reference",
        "build",
        str(files["reference"]),
        "-o",
        str(profile),
        "--bins",
        "8",
        "--categorical",
        "tier",
        "--sample-size",
        "500",
    )
    assert status == EXIT_OK
    assert text == f"wrote {profile}: 3000 rows, 2 numeric and 2 categorical features\n"
    loaded = Reference.load(profile)
    assert loaded.bins == 8 and loaded.features["tier"].kind == "categorical"
    assert len(loaded.features["age"].sample) == 500

    assert run("drift", str(profile), str(files["same"]))[0] == EXIT_OK
    status, text = run("drift", str(profile), str(files["shifted"]), "--methods", "psi")
    assert status == EXIT_DRIFT and "amount" in text.splitlines()[0]


def test_reference_build_with_segments_profiles_each_value(files: dict[str, Path]) -> None:
    """``--segment`` (repeatable) keeps a profile per value, the busiest
    ``--max-segment-values`` and ``__other__``; a Monitor with the same segments measures
    each live segment's drift against its value's profile."""
    profile = files["root"] / "segmented.json"
    argv = ["reference", "build", str(files["reference"]), "-o", str(profile)]
    status, text = run(*argv, "--segment", "country", "--segment", "tier",
                       "--max-segment-values", "2")  # fmt: skip
    assert status == EXIT_OK
    assert text.splitlines()[1] == (
        "profiles per segment: country (2 values and __other__), tier (2 values and __other__)"
    )
    loaded = Reference.load(profile)
    data = pd.read_csv(files["reference"])
    assert sorted(loaded.segments["country"]) == ["DE", "FR", OTHER]  # US: the fewest rows
    assert loaded.segments["country"]["DE"].rows == int((data.country == "DE").sum())
    assert loaded.segments["country"][OTHER].rows == int((data.country == "US").sum())
    assert "country" not in loaded.segments["country"]["DE"].features

    status, text = run(*argv, "--segment", "country")
    assert status == EXIT_OK and text.splitlines()[1] == "profiles per segment: country (3 values)"
    mon = Monitor("m", reference=Reference.load(profile), segments=["country"])
    try:
        for row in pd.read_csv(files["shifted"]).head(1500).to_dict("records"):
            mon.observe(latency_s=0.01, features=row)
        parts = mon.snapshot().segments["country"]
    finally:
        mon.close()
    assert sorted(parts) == ["DE", "FR", "US"]
    for part in parts.values():  # amounts tripled everywhere, tiers as they were
        assert (part.drift["tier"].psi or 1.0) < 0.1
        assert (part.drift["amount"].psi or 0.0) > 0.5


def test_reference_build_without_segments_keeps_none(files: dict[str, Path]) -> None:
    profile = files["root"] / "plain.json"
    status, text = run("reference", "build", str(files["reference"]), "-o", str(profile))
    assert status == EXIT_OK and "segment" not in text
    assert Reference.load(profile).segments == {}


def test_max_segment_values_must_be_a_whole_number(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reference", "build", str(files["reference"]), "-o", str(files["root"] / "r.json")]
    with pytest.raises(SystemExit) as exited:
        run(*argv, "--segment", "country", "--max-segment-values", "0")
    assert exited.value.code == EXIT_BAD_INPUT
    assert "--max-segment-values: expected at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("drift", "{root}/missing.csv", "{same}"), "missing.csv: no such file"),
        (("drift", "{reference}", "{root}/data.xlsx"), "data.xlsx: no such file"),
        (("drift", "{reference}", "{same}", "--columns", "zip"), "columns: 'zip'"),
        (("drift", "{reference}", "{same}", "--methods", "psi,nope"), "unknown method 'nope'"),
        (("drift", "{root}/bad.json", "{same}"), "bad.json: not a JSON reference profile"),
        (("drift", "{root}/future.json", "{same}"), "schema_version"),
        (("reference", "build", "{reference}", "-o", "{root}/r.json", "--bins", "1"), "bins:"),
        (
            ("reference", "build", "{reference}", "-o", "{root}/r.json", "--categorical", "zip"),
            "categorical: no column named 'zip'",
        ),
        (("reference", "build", "{reference}", "-o", "{root}/no/dir/r.json"), "r.json"),
        (
            ("reference", "build", "{reference}", "-o", "{root}/r.json", "--segment", "zip"),
            "segments: no column named 'zip'",
        ),
    ],
)
def test_bad_input_exits_two_naming_what_is_wrong(
    files: dict[str, Path], argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (files["root"] / "bad.json").write_text("{not json")
    future = Reference.from_frame({"x": [1.0, 2.0, 3.0]}).model_dump(mode="json")
    future["schema_version"] = 99
    (files["root"] / "future.json").write_text(json.dumps(future))
    names = {key: str(path) for key, path in files.items()}
    status, _ = run(*(a.format(**names) for a in argv))
    assert status == EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert error.startswith("aimon: ") and message in error


def test_python_dash_m_aimon_runs_the_command(files: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aimon", "drift", str(files["reference"]), str(files["shifted"])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_DRIFT, done.stderr
    assert done.stdout.startswith("1 of 4 columns drifted")
