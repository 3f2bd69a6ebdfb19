"""The Event record and its JSON-line codec.

An :class:`Event` is the one record that flows through aimon: the decorator makes Events
from calls, the log tailer makes the same Events from JSON lines, and :class:`EventCodec`
reads and writes that line, so the embedded library can write the log the sidecar reads.

The line format (field names configurable with :class:`FieldMap`)::

    {"ts": "2026-11-24T10:00:00.123Z", "model": "fraud", "version": "1.4.0",
     "latency_ms": 12.5, "error": null, "input_size": 412, "output_size": 18,
     "features": {"age": 41, "amount": 120.5, "country": "DE"}, "prediction": 0.07,
     "request_id": "8f3c..."}

``request_id`` (optional) names the request, so that its outcome can be joined to it later.
``ts`` may be RFC 3339 (naive times are taken as UTC) or epoch seconds; unknown fields are
ignored; a line that cannot be read raises :class:`~aimon.errors.MalformedEventError` with a
short ``reason`` tag, which the tailer counts and skips.

Modules: ``event`` (the types), ``fields`` (:class:`FieldMap`), ``decoding`` (one line read
with care, the malformed reasons), ``columnar`` (many lines at once, the fast path),
``encoding`` (an Event as a line) and ``codec`` (:class:`EventCodec`, the face of all four).
"""

from aimon.events.codec import EventCodec, decode_event, encode_event
from aimon.events.event import Event, EventColumns
from aimon.events.fields import FieldMap

__all__ = ["Event", "EventCodec", "EventColumns", "FieldMap", "decode_event", "encode_event"]
