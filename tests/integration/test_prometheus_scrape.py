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
