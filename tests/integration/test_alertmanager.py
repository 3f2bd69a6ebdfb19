"""aimon's alerts in a real Alertmanager: labels, re-sent while firing, back after an
Alertmanager restart, resolved when the rule resolves."""

import time

import pytest

import aimon
from aimon.alerts import AlertmanagerSink
from aimon.thresholds import Rule

from .conftest import wait_until

pytestmark = pytest.mark.integration


def test_alert_lifecycle_in_a_real_alertmanager(alertmanager):
    sink = AlertmanagerSink([alertmanager.url], evaluation_interval=0.5, resend_delay=0.5)
    rule = Rule(name="ErrorRateHigh", metric="error_rate", value=0.5, min_count=5,
                severity="critical", labels={"team": "risk"})  # fmt: skip
    mon = aimon.Monitor("fraud", version="1.4.0", thresholds=[rule], sinks=[sink],
                        evaluation_interval=3600)  # fmt: skip
    try:
        for _ in range(10):
            mon.observe(latency_s=0.01, error=RuntimeError)
        (firing,) = mon.check()
        assert firing.state == "firing"

        def held() -> dict | None:
            found = [a for a in alertmanager.alerts() if a["labels"]["alertname"] == rule.name]
            return found[0] if found else None

        got = wait_until(held, what="the alert in Alertmanager")
        expected = {"alertname": "ErrorRateHigh", "model": "fraud", "version": "1.4.0",
                    "severity": "critical", "team": "risk"}  # fmt: skip
        assert got["labels"] == expected
        assert got["annotations"]["value"] == "1"
        assert got["status"]["state"] == "active"
        assert got["fingerprint"]  # Alertmanager's own; ours is in the router's dedup

        # re-sent while firing: each check after the resend delay posts it again
        before = mon.snapshot().totals.notifications["alertmanager"]["delivered"]
        for _ in range(3):
            time.sleep(0.6)
            mon.check()
        assert mon._alerting.router.flush(10)
        after = mon.snapshot().totals.notifications["alertmanager"]["delivered"]
        assert after >= before + 3

        # Alertmanager restarts mid-incident: it forgets, aimon's re-send brings it back
        alertmanager.stop()
        mon.check()  # fails against the dead instance: retried in the background
        alertmanager.start()
        assert held() is None
        wait_until(lambda: mon.check() and held(), timeout=30, what="the alert back after restart")

        # the rule resolves: the alert is resolved in Alertmanager
        for _ in range(100):
            mon.observe(latency_s=0.01)
        assert mon.check() == []
        wait_until(lambda: held() is None, timeout=30, what="the alert resolved")
    finally:
        mon.close()
    assert mon.snapshot().totals.notifications["alertmanager"]["dropped"] == 0
