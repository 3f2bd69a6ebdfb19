"""The house's import layers hold: ``lint-imports`` (the check ``make lint`` runs) keeps every
contract of ``[tool.importlinter]`` in pyproject.toml, cycles included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Installed next to the interpreter by the core-test extra, as pytest is.
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: pip install -e '.[core-test]'"
    run = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=ROOT,  # it reads pyproject.toml there and analyses that tree's aimon
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
