"""What every benchmark does with its findings: print the targets, write the JSON."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def report_targets(targets: dict[str, Any], word: str = "target") -> dict[str, bool]:
    """Print each target as met or not; return them as plain bools (JSON-ready)."""
    met = {name: bool(ok) for name, ok in targets.items()}
    for name, ok in met.items():
        print(f"{word} {name}: {'met' if ok else 'NOT met'}")
    return met


def write_result(benchmark: str, fields: dict[str, Any]) -> Path:
    """Write ``results/<benchmark>.json``: the fields, with when and where they were measured."""
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **fields,
    }
    path = RESULTS / f"{benchmark}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path
