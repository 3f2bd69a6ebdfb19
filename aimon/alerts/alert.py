"""The Alert: what a rule says about a model at one evaluation, in Alertmanager's terms."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

__all__ = ["Alert", "AlertState", "fingerprint"]

AlertState = Literal["pending", "firing", "resolved"]


def fingerprint(labels: dict[str, str]) -> str:
    """A stable identity of a label set: 16 hex digits of SHA-256 over the sorted pairs."""
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Alert(BaseModel):
    """One alert: identifying ``labels`` (``alertname``, ``model``, ``version``, ``severity``,
    ``feature`` where the rule is per feature, ``segment`` and ``segment_value`` where it is
    per segment, and the rule's own labels), volatile
    ``annotations`` (summary, the value, the threshold), its ``state`` and times.

    ``starts_at`` is when the condition first held; ``ends_at`` is set once resolved.
    """

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    starts_at: datetime
    ends_at: datetime | None = None
    value: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """The identity of the alert's labels; the same alert across evaluations."""
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        """The rule's name (``alertname``)."""
        return self.labels["alertname"]

    def summary_line(self) -> str:
        """A one-line, human description: state, name, labels and summary."""
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        summary = self.annotations.get("summary", "")
        return f"[{self.state.upper()}] {self.name} ({extra}) {summary}".rstrip()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as RFC 3339)."""
        return self.model_dump(mode="json")
