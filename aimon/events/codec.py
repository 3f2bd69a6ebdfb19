""":class:`EventCodec`: reads and writes prediction-log lines with one :class:`FieldMap`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from aimon.events.columnar import _decode_many
from aimon.events.decoding import _from_record, _parse_json
from aimon.events.encoding import _encode
from aimon.events.event import Event, EventColumns
from aimon.events.fields import FieldMap


class EventCodec:
    """Reads and writes prediction-log lines with one :class:`FieldMap`.

    >>> codec = EventCodec()
    >>> line = codec.encode(Event(ts=1.5, model="m", latency_s=0.0125))
    >>> line
    '{"ts":"1970-01-01T00:00:01.500Z","model":"m","latency_ms":12.5,"error":null}'
    >>> codec.decode(line).latency_s
    0.0125
    """

    def __init__(self, fields: FieldMap | None = None) -> None:
        self.fields = fields or FieldMap()

    def decode(self, line: str | bytes) -> Event:
        """Parse one line into an Event.

        Raises:
            MalformedEventError: the line is not a JSON object or a field has the wrong type;
                ``reason`` names the field (``json`` for unparseable text).
        """
        return _from_record(_parse_json(line), self.fields)

    def decode_many(self, lines: Iterable[bytes]) -> tuple[list[EventColumns], Counter[str]]:
        """Parse many lines at once into columns, one :class:`EventColumns` per model and
        version, and count the malformed lines by reason; blank lines are skipped.

        The result is what :meth:`decode` gives line by line (same values, same reasons),
        at a fraction of its cost: fields are read column by column and checked by numpy,
        and only lines off the common path (odd types, NaN, epoch strings...) are decoded
        one at a time. Order within a model's events is not kept.
        """
        return _decode_many(lines, self.fields)

    def encode(self, event: Event) -> str:
        """Render an Event as one JSON line (without the trailing newline).

        Fields that are ``None`` are left out, except ``error``, which is always written.
        Non-JSON values (numpy scalars, NaN) are written as numbers or ``null``.
        """
        return _encode(event, self.fields)


_DEFAULT_CODEC = EventCodec()


def decode_event(line: str | bytes) -> Event:
    """Parse one line of the default log format (see :class:`EventCodec`)."""
    return _DEFAULT_CODEC.decode(line)


def encode_event(event: Event) -> str:
    """Render an Event in the default log format (see :class:`EventCodec`)."""
    return _DEFAULT_CODEC.encode(event)
