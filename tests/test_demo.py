"""The demo's story holds: a spike, an error burst, and the drifting feature named."""

import io

from aimon.demo import DemoSettings, run_demo


def test_demo_names_the_drifting_feature() -> None:
    out = io.StringIO()
    history = run_demo(DemoSettings(duration_s=5.0, workers=8, port=0), out)
    text = out.getvalue()
    assert "drift first seen" in text
    assert "in: amount" in text
    assert "age" not in text.split("drift first seen")[1]
    final = history[-1]
    assert final.drift_window is not None and "amount" in final.drift_window.drifted
    assert max(s.latency.p95 or 0 for s in history) > 0.1
    assert max(s.error_rate for s in history) > 0.05
