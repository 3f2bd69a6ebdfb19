"""The sidecar's own health on /metrics: lines, malformed reasons, tailer events, lag."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from aimon.exporters.http import MetricsServer
from aimon.exporters.sidecar_metrics import SidecarCollector
from aimon.sidecar import Sidecar
from tests.test_sidecar import append, line


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("aimon_sidecar_")
    }


def test_health_of_the_sidecar_is_served_with_the_metrics(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    append(log, line() * 12 + "not json\n" + '{"ts": "yesterday"}\n')
    sidecar = Sidecar(str(log), max_line_bytes=4096)
    server = MetricsServer(
        sidecar.all_monitors, port=0, ready=sidecar.ready, guard=sidecar.scrape,
        collectors=[SidecarCollector(sidecar)],
    )  # fmt: skip
    try:
        sidecar.step()
        os.rename(log, tmp_path / "p.log.1")
        append(log, line() * 3 + "x" * 5000 + "\n")
        sidecar.step()
        append(log, '{"ts": 1')  # a partial line: not read yet, so the sidecar lags
        seen = scrape(server.url)
    finally:
        server.close()
        sidecar.close()
    assert seen[("aimon_sidecar_lines_total", ())] == 17
    assert seen[("aimon_sidecar_malformed_lines_total", (("reason", "json"),))] == 1
    assert seen[("aimon_sidecar_malformed_lines_total", (("reason", "ts"),))] == 1
    assert seen[("aimon_sidecar_malformed_lines_total", (("reason", "too_long"),))] == 1
    assert seen[("aimon_sidecar_log_events_total", (("event", "rotations"),))] == 1
    assert seen[("aimon_sidecar_log_events_total", (("event", "long_lines"),))] == 1
    assert seen[("aimon_sidecar_log_bytes_total", (("kind", "skipped"),))] == 5001
    assert seen[("aimon_sidecar_lag_bytes", ())] == len('{"ts": 1')
    assert seen[("aimon_sidecar_ready", ())] == 1.0


def test_outcomes_that_came_in_are_served(tmp_path: Path) -> None:
    log, outcomes = tmp_path / "p.log", tmp_path / "o.log"
    append(log, line() * 3)
    append(outcomes, '{"request_id": "a", "actual": 1}\n' * 4 + "nope\n" + '{"request_id": "b"')
    sidecar = Sidecar(str(log), outcomes_file=str(outcomes))
    server = MetricsServer(
        sidecar.all_monitors, port=0, guard=sidecar.scrape, collectors=[SidecarCollector(sidecar)]
    )
    try:
        sidecar.step()
        assert sidecar.post_outcomes([{"request_id": "c", "actual": 0}] * 2) == 2
        seen = scrape(server.url)
    finally:
        server.close()
        sidecar.close()
    assert seen[("aimon_sidecar_outcome_lines_total", ())] == 5
    assert seen[("aimon_sidecar_malformed_outcome_lines_total", (("reason", "json"),))] == 1
    assert seen[("aimon_sidecar_outcomes_posted_total", ())] == 2
    assert seen[("aimon_sidecar_outcomes_lag_bytes", ())] == len('{"request_id": "b"')
