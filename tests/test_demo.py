"""The demo's story holds: a spike, an error burst, the drifting feature named, and the
alerts firing and then resolving as traffic recovers."""

import io

from aimon.demo import DemoSettings, run_demo


def test_demo_names_the_drifting_feature() -> None:
    out = io.StringIO()
    history = run_demo(DemoSettings(duration_s=5.0, workers=8, port=0), out)
    text = out.getvalue()
    assert "drift first seen" in text
    assert "in: amount" in text
    assert "age" not in text.split("drift first seen")[1]
    assert any(s.drift_window and "amount" in s.drift_window.drifted for s in history)
    story = text.split("\nalerts:\n")[1]
    for name in ("ErrorRateHigh", "FeatureDriftPSI{feature=amount}", "LatencyP95High"):
        line = next(line for line in story.splitlines() if line.strip().startswith(name))
        assert "fired" in line and "resolved" in line, line
    assert "alert: [FIRING] ErrorRateHigh" in text and "alert: [RESOLVED] ErrorRateHigh" in text
    assert max(s.latency.p95 or 0 for s in history) > 0.1
    assert max(s.error_rate for s in history) > 0.05
