"""A real Prometheus scrapes a monitor's /metrics and answers queries on it."""

import pytest

import aimon

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_and_aggregates(prometheus_factory):
    mon = aimon.Monitor("scraped", version="1.0")
    try:
        predict = mon.watch(lambda x: x)

        @mon.watch
        def failing(x):
            raise RuntimeError(x)

        for i in range(40):
            predict({"x": i})
        for _ in range(10):
            try:
                failing(1)
            except RuntimeError:
                pass
        server = mon.serve(port=0)
        prom = prometheus_factory([f"127.0.0.1:{server.port}"])
        result = prom.wait_for('aimon_predictions_total{model="scraped",outcome="ok"}')
        assert float(result[0]["value"][1]) == 40
        assert result[0]["metric"]["version"] == "1.0"
        errors = prom.query('aimon_prediction_errors_total{error_type="RuntimeError"}')
        assert float(errors[0]["value"][1]) == 10
        ratio = prom.query('aimon_error_ratio{model="scraped"}')
        assert float(ratio[0]["value"][1]) == pytest.approx(0.2)
        # the fixed buckets aggregate in PromQL: every call took far less than 100 ms
        quantile = prom.query(
            "histogram_quantile(0.95, sum by (le) (aimon_prediction_latency_seconds_bucket))"
        )
        assert 0 < float(quantile[0]["value"][1]) <= 0.1
        up = prom.query('up{job="aimon"}')
        assert float(up[0]["value"][1]) == 1
    finally:
        mon.close()


def test_prometheus_scrapes_drift_and_computes_psi_from_bins(prometheus_factory):
    """The bin counters and reference ratios are enough for a fleet-wide PSI in PromQL."""
    import numpy as np

    from aimon.drift import Reference

    rng = np.random.default_rng(3)
    reference = Reference.from_frame({"amount": rng.normal(0, 1, 5000)}, bins=5)
    mon = aimon.Monitor("drifting", reference=reference, drift_window="1h")
    try:
        for value in rng.normal(1.0, 1, 2000):  # shifted by one standard deviation
            mon.observe(latency_s=0.01, features={"amount": float(value)})
        snap = mon.snapshot()
        server = mon.serve(port=0)
        prom = prometheus_factory([f"127.0.0.1:{server.port}"])
        bins = prom.wait_for('aimon_feature_bin_total{model="drifting",feature="amount"}')
        assert sum(float(b["value"][1]) for b in bins) == 2000
        assert len(bins) == len(reference.features["amount"].shares) == 5
        ratios = prom.query('aimon_reference_bin_ratio{model="drifting",feature="amount"}')
        assert sum(float(r["value"][1]) for r in ratios) == pytest.approx(1.0)
        drifted = prom.query('aimon_feature_drifted{model="drifting",feature="amount"}')
        assert float(drifted[0]["value"][1]) == 1
        psi = prom.query('aimon_feature_drift{model="drifting",feature="amount",method="psi"}')
        assert float(psi[0]["value"][1]) == pytest.approx(snap.drift["amount"].psi)
        # PSI over the bins the reference has, from the scraped series alone
        live = (
            'aimon_feature_bin_total{feature="amount"} / ignoring(bin) group_left '
            'sum without (bin) (aimon_feature_bin_total{feature="amount"})'
        )
        ref = 'aimon_reference_bin_ratio{feature="amount"}'
        promql_psi = prom.query(f"sum(({live} - {ref}) * ln(({live}) / {ref}))")
        assert float(promql_psi[0]["value"][1]) == pytest.approx(snap.drift["amount"].psi, rel=0.05)
    finally:
        mon.close()
