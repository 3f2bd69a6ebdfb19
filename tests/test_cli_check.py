"""`aimon drift` and `aimon check` on scikit-learn's breast-cancer data: exit 1 only for drift
or a failed data-quality check, 2 for bad input with the file, column or flag named
(issue 14 items 1, 2 and the CLI)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from aimon.cli import main
from aimon.cli.exits import EXIT_BAD_INPUT, EXIT_DRIFT, EXIT_OK


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    data = load_breast_cancer(as_frame=True).frame
    shuffled = data.sample(frac=1.0, random_state=0).reset_index(drop=True)
    reference, current = shuffled.iloc[:285], shuffled.iloc[285:].reset_index(drop=True)
    root = tmp_path_factory.mktemp("check")
    frames = {
        "ref": reference,
        "same": current,
        "header": current.iloc[:0],
        "renamed": current.rename(columns={"mean radius": "radius_mean"}),
        "dropped": current.drop(columns=["mean area", "worst area"]),
        "nan": current.assign(**{"mean area": np.nan}),
        "text": current.assign(**{"mean area": current["mean area"].astype(str) + " sq"}),
    }
    paths = {name: root / f"{name}.csv" for name in frames}
    for name, frame in frames.items():
        frame.to_csv(paths[name], index=False)
    paths["profile"] = root / "ref.json"
    assert run("reference", "build", str(paths["ref"]), "-o", str(paths["profile"]))[0] == 0
    paths["folder.csv"] = root / "folder.csv"
    paths["folder.csv"].mkdir()
    return paths


@pytest.mark.parametrize("reference", ["ref", "profile"])
@pytest.mark.parametrize("command", ["drift", "check"])
def test_a_random_split_passes(files: dict[str, Path], command: str, reference: str) -> None:
    # per-column drift verdicts at 0.05 flag about 1.5 of 31 columns by chance (issue 14
    # item 3, not corrected per column in `aimon drift`): the dataset verdict only here
    flags = ["--fail-on", "dataset"] if command == "drift" else []
    status, text = run(command, str(files[reference]), str(files["same"]), *flags)
    assert status == EXIT_OK, text
    assert "data quality: all 31 columns pass" in text


@pytest.mark.parametrize("reference", ["ref", "profile"])
@pytest.mark.parametrize(
    ("damage", "reason"),
    [("nan", "missing 100.0% (reference 0.0%)"), ("text", "not a number 100.0%")],
)
@pytest.mark.parametrize("command", ["drift", "check"])
def test_a_column_without_values_fails(
    files: dict[str, Path], command: str, damage: str, reason: str, reference: str
) -> None:
    # before: `aimon drift` exited 0 with "skipped mean area: no values in the current data"
    argv = (command, str(files[reference]), str(files[damage]))
    status, text = run(*argv)
    assert status == EXIT_DRIFT
    assert f"  mean area: {reason}\n" in text
    if command == "drift":
        assert run(*argv, "--fail-on", "dataset")[0] == EXIT_DRIFT


def test_check_json_names_the_failing_checks(files: dict[str, Path]) -> None:
    status, text = run("check", str(files["ref"]), str(files["text"]), "--format", "json")
    assert status == EXIT_DRIFT
    parsed = json.loads(text)
    assert parsed["quality_failures"] == {"mean area": ["type_violation_share"]}
    assert parsed["data_quality"]["mean area"]["type_violation_share"] == 1.0


@pytest.mark.parametrize("reference", ["ref", "profile"])
@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("header", "header.csv: no rows"),
        ("renamed", "'mean radius' (renamed 'radius_mean'?)"),
        ("dropped", "columns of the reference not in the data: 'mean area', 'worst area'"),
        ("folder.csv", "folder.csv: cannot be read as csv"),
    ],
)
@pytest.mark.parametrize("command", ["drift", "check", "report"])
def test_bad_input_exits_two_naming_it(
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    current: str,
    message: str,
    reference: str,
) -> None:
    # before: a header-only CSV crashed render.py (TypeError, exit 1, read as "drift"), and
    # a renamed or dropped column exited 0
    extra = ["-o", str(files["ref"].parent / "r.html")] if command == "report" else []
    status, _ = run(command, str(files[reference]), str(files[current]), *extra)
    assert status == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--bins", "1"], "--bins: expected at least 2 bins, got 1"),
        (["--max-out-of-range", "5"], "--max-out-of-range: expected a share from 0 to 1"),
        (["--max-unseen", "lots"], "--max-unseen: expected a share from 0 to 1, got 'lots'"),
        (["--methods", "nope"], "methods: unknown method 'nope'"),
        (["--columns", "nope"], "columns: 'nope' is not in the reference"),
    ],
)
def test_bad_flags_exit_two_naming_them(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    argv = ["check", str(files["ref"]), str(files["same"]), *flags]
    try:
        status = main(argv, out=io.StringIO())
    except SystemExit as exc:  # argparse's own exit for a flag it refuses
        status = exc.code  # type: ignore[assignment]
    assert status == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_installed_command_exits_as_documented(files: dict[str, Path]) -> None:
    aimon = Path(sys.executable).with_name("aimon")
    codes = {
        name: subprocess.run(
            [str(aimon), "drift", str(files["ref"]), str(files[name]), "--fail-on", "dataset"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for name in ("same", "nan", "header")
    }
    assert {name: done.returncode for name, done in codes.items()} == {
        "same": EXIT_OK, "nan": EXIT_DRIFT, "header": EXIT_BAD_INPUT,
    }  # fmt: skip
    assert "Traceback" not in codes["header"].stderr
    assert codes["header"].stderr.startswith("aimon: ")
