"""Outcome records: the lines of an outcomes log and the items of ``POST /outcomes``.

One JSON object per outcome::

    {"request_id": "8f3c...", "actual": 1, "ts": "2026-11-24T10:05:00Z"}

``request_id`` (a string, or a number read as text) and ``actual`` (the true label or value,
a JSON scalar) are required, a text of either at most 256 characters
(:data:`~aimon.quality.join.MAX_TEXT_CHARS`); ``ts`` (RFC 3339 or epoch seconds, default:
when it is read) and ``model`` / ``version`` (which monitor's prediction it belongs to,
when several models share a sidecar) are optional; unknown fields are ignored. A record
that cannot be read raises :class:`~aimon.errors.MalformedEventError` with a short reason
(``json``, ``request_id``, ``actual``, ``ts``, ``model``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aimon.errors import MalformedEventError
from aimon.events.decoding import _optional_text, _parse_json, _parse_ts
from aimon.quality.join import MAX_TEXT_CHARS

__all__ = ["Outcome", "decode_outcome", "decode_outcomes", "outcome_from_record"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The ground truth of one request."""

    request_id: str
    actual: Any
    ts: float | None = None
    model: str | None = None
    version: str | None = None


def outcome_from_record(record: Any) -> Outcome:
    """An :class:`Outcome` from a decoded JSON object (see the module's format)."""
    if not isinstance(record, dict):
        raise MalformedEventError("json", "an outcome must be a JSON object")
    rid = record.get("request_id")
    if rid is None or isinstance(rid, bool) or not isinstance(rid, str | int | float) or rid == "":
        raise MalformedEventError("request_id", f"request_id must be a string, got {rid!r}")
    if "actual" not in record:
        raise MalformedEventError("actual", "an outcome needs an 'actual' value")
    actual = record["actual"]
    if actual is not None and not isinstance(actual, str | int | float | bool):
        raise MalformedEventError("actual", f"actual must be a label or a number, got {actual!r}")
    for field, value in (("request_id", str(rid)), ("actual", actual)):
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise MalformedEventError(
                field, f"{field} is longer than {MAX_TEXT_CHARS} characters ({len(value)})"
            )
    raw_ts = record.get("ts")
    return Outcome(
        request_id=str(rid),
        actual=actual,
        ts=None if raw_ts is None else _parse_ts(raw_ts),
        model=_optional_text(record.get("model"), "model"),
        version=_optional_text(record.get("version"), "version"),
    )


def decode_outcome(line: str | bytes) -> Outcome:
    """One outcomes-log line."""
    return outcome_from_record(_parse_json(line))


def decode_outcomes(lines: Iterable[bytes | str]) -> tuple[list[Outcome], Counter[str]]:
    """Many lines: the outcomes, and the malformed lines by reason (blank lines skipped).

    >>> outs, bad = decode_outcomes([b'{"request_id": "r1", "actual": 1, "ts": 5}', b'{"x": 1}'])
    >>> outs[0].request_id, outs[0].ts, dict(bad)
    ('r1', 5.0, {'request_id': 1})
    """
    outcomes: list[Outcome] = []
    malformed: Counter[str] = Counter()
    for line in lines:
        if not line.strip():
            continue
        try:
            outcomes.append(decode_outcome(line))
        except MalformedEventError as exc:
            malformed[exc.reason] += 1
    return outcomes, malformed
