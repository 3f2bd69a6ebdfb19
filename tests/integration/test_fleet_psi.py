"""Two sidecars (two replicas of one model) on different logs with one reference, scraped by a
real Prometheus that loads the shipped rules of deploy/prometheus/: the fleet PSI recorded by
``model_version_feature:aimon_feature_psi:increase1h`` is within 5 % of the PSI that
``aimon.drift.compare`` computes offline on the union of both logs, with the same bins.

What the rule computes is the PSI of the values that arrived in its window (``increase()``
over 1h), summed across replicas; values a replica counted before Prometheus first scraped
it are in no window. So each log starts with lines that carry no features: they create the
model's series (every bin counter at 0) before Prometheus starts, and every feature value
arrives while Prometheus watches. The union of both logs is then exactly the window.

``increase()`` also extrapolates from a replica's last scrape to the evaluation time, by up
to a scrape interval. Over an hour of history that is nothing; over this test's dozen
seconds it can weight the two replicas several per cent differently at any one evaluation (a
sawtooth with each replica's scrape phase), which moves the fleet PSI by about a per cent.
So the rules run ten times per scrape and the test averages the recorded PSI over whole
scrape intervals, over which both replicas' extrapolation is the same.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimon.drift import Reference, compare

from .conftest import SidecarProcess, wait_until

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
PSI = "model_version_feature:aimon_feature_psi:increase1h"
COUNT = "model_version_feature:aimon_feature_bin:increase1h"
AVERAGED = "3s"  # three scrape intervals

# Two replicas that see different traffic: "a" a little shifted, "b" further shifted and
# mostly from the US, with half the calls. Neither sends "GB" (an empty bin, filled as aimon
# fills it); "a" sends one label the reference never saw ("JP", the __unseen__ bin).
COUNTRIES = ["DE", "FR", "US", "GB", "JP"]
REPLICAS = {
    # name: (lines, amount mean, amount sd, country shares)
    "a": (2000, 0.5, 1.0, [0.5, 0.35, 0.1, 0.0, 0.05]),
    "b": (1000, 1.0, 1.0, [0.2, 0.1, 0.7, 0.0, 0.0]),
}
FEATURELESS = 20  # lines without features at the head of each log


def rows(rng: np.random.Generator, n: int, mean: float, sd: float, shares: list[float]):
    return pd.DataFrame(
        {"amount": rng.normal(mean, sd, n), "country": rng.choice(COUNTRIES, n, p=shares)}
    )


def append_log(path: Path, features: list[dict]) -> None:
    """Append one prediction log line per feature dict, in the design's JSON-line format."""
    now = time.time()
    with path.open("a") as out:
        for i, values in enumerate(features):
            record = {"ts": now + i * 1e-4, "model": "m", "version": "1", "latency_ms": 5.0,
                      "error": None, "features": values}  # fmt: skip
            out.write(json.dumps(record) + "\n")


def by_feature(result: list[dict]) -> dict[str, float]:
    return {r["metric"]["feature"]: float(r["value"][1]) for r in result}


def offline_psi(reference: Reference, frame: pd.DataFrame) -> dict[str, float]:
    report = compare(reference, frame, methods=["psi"])
    return {name: report[name]["psi"].statistic for name in ("amount", "country")}


def test_fleet_psi_recording_rule_matches_offline_psi_of_both_logs(
    tmp_path: Path, prometheus_factory
):
    rng = np.random.default_rng(20261124)
    train = pd.DataFrame(
        {"amount": rng.normal(0.0, 1.0, 5000),
         "country": rng.choice(COUNTRIES[:4], 5000, p=[0.4, 0.3, 0.2, 0.1])}
    )  # fmt: skip
    reference_path = tmp_path / "reference.json"
    Reference.from_frame(train, bins=10).save(reference_path)
    reference = Reference.load(reference_path)

    live = {name: rows(rng, *spec) for name, spec in REPLICAS.items()}
    logs = {name: tmp_path / f"{name}.log" for name in REPLICAS}
    sidecars: dict[str, SidecarProcess] = {}
    try:
        for name, log in logs.items():
            append_log(log, [{}] * FEATURELESS)
            sidecars[name] = SidecarProcess(
                log, tmp_path / f"state-{name}", tmp_path / f"{name}.out", reference=reference_path
            )
        # Prometheus starts with the sidecars (it scrapes them once they are up).
        instances = {f"127.0.0.1:{s.port}": name for name, s in sidecars.items()}
        prom = prometheus_factory(
            list(instances),
            [RULES / "aimon-recording.yml", RULES / "aimon-alerts.yml"],
            evaluation_interval="100ms",
        )
        for name, sidecar in sidecars.items():
            wait_until(
                lambda s=sidecar: s.predictions() == FEATURELESS,
                timeout=60, what=f"sidecar {name} read its featureless lines",
            )  # fmt: skip
        # Every bin counter scraped at 0 a few times: increase() counts every value from here
        # on, and the longer the history the smaller its extrapolation past the last scrape.
        history = 'count_over_time(aimon_predictions_total{model="m",outcome="ok"}[1m]) >= 8'
        wait_until(
            lambda: len(prom.query(history)) == len(REPLICAS)
            and len(prom.query(f'{COUNT}{{model="m"}} == 0')) == len(reference.features),
            timeout=30, what="eight scrapes of both replicas' empty bin counters",
        )  # fmt: skip

        for name, frame in live.items():
            append_log(logs[name], frame.to_dict("records"))
        expected = {instance: float(REPLICAS[name][0]) for instance, name in instances.items()}
        wait_until(
            lambda: {
                r["metric"]["instance"]: float(r["value"][1])
                for r in prom.query(
                    'sum by (instance) (aimon_feature_bin_total{model="m",feature="amount"})'
                )
            } == expected,
            timeout=30, what="Prometheus scraped every line of both logs",
        )  # fmt: skip
        # Every evaluation of the averaged interval came after the last line was scraped.
        after = time.time() + 3.2
        wait_until(
            lambda: prom.query(f'timestamp({PSI}{{model="m",feature="amount"}}) > {after}'),
            timeout=30, what=f"{AVERAGED} of rule evaluations after the last scrape",
        )  # fmt: skip

        rule = by_feature(prom.query(f'avg_over_time({PSI}{{model="m",version="1"}}[{AVERAGED}])'))
        latest = by_feature(prom.query(f'{PSI}{{model="m",version="1"}}'))
        counts = by_feature(
            prom.query(f'avg_over_time({COUNT}{{model="m",version="1"}}[{AVERAGED}])')
        )
        both_logs = pd.concat(
            [pd.read_json(path, lines=True)["features"].apply(pd.Series) for path in logs.values()],
            ignore_index=True,
        )  # fmt: skip
        values = len(both_logs.dropna(how="all"))
        offline = offline_psi(reference, both_logs)
        replicas = {name: offline_psi(reference, frame) for name, frame in live.items()}
        print(
            "fleet PSI, rule (averaged over 3 scrapes; latest evaluation) vs offline on both "
            "logs: "
            + ", ".join(f"{f} {rule[f]:.4f} ({latest[f]:.4f}) vs {offline[f]:.4f}" for f in offline)
            + f"; each replica alone: {replicas}; "
            f"values in the rule's window {counts} of {values} in the logs"
        )

        assert set(rule) == {"amount", "country"}
        assert values == sum(lines for lines, *_ in REPLICAS.values())
        for feature, psi in offline.items():
            assert rule[feature] == pytest.approx(psi, rel=0.05), (
                f"{feature}: fleet PSI from the recording rule {rule[feature]:.4f} is not within "
                f"5 % of the PSI of both logs {psi:.4f}"
            )
            # Summing the replicas is what makes it right: neither replica alone is close.
            for name, own in replicas.items():
                assert own[feature] != pytest.approx(psi, rel=0.05), (name, feature, own)
            # The window holds every value, extrapolated a little past the last scrape.
            assert values <= counts[feature] < values * 1.25, counts
        # The shipped alerting rules run on the same series: drift found, pending its 5m.
        alerts = prom.wait_for('ALERTS{alertname="FeatureDriftPSI",alertstate="pending",model="m"}')
        assert {a["metric"]["feature"] for a in alerts} == {"amount", "country"}
    finally:
        for sidecar in sidecars.values():
            sidecar.stop()
