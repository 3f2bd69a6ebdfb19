from datetime import timedelta

import pytest

from aimon.durations import parse_duration
from aimon.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("10s", 10), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("1d", 86400),
     (" 2M ", 120), (30, 30), (0.5, 0.5), ("45", 45), (timedelta(minutes=2), 120)],
)  # fmt: skip
def test_parses(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "m5", "-5s", 0, -1, "0s", True, None, "1h x"])
def test_rejects_and_names_the_field(value):
    with pytest.raises(ConfigError, match=r"^window:"):
        parse_duration(value, "window")
