import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimon.errors import MalformedEventError
from aimon.events import Event, EventCodec, FieldMap, decode_event, encode_event

DESIGN_LINE = (
    '{"ts": "2026-11-24T10:00:00.123Z", "model": "fraud", "version": "1.4.0",'
    ' "latency_ms": 12.5, "error": null, "input_size": 412, "output_size": 18,'
    ' "features": {"age": 41, "amount": 120.5, "country": "DE"}, "prediction": 0.07}'
)


def test_decodes_the_design_line():
    event = decode_event(DESIGN_LINE)
    assert event.ts == pytest.approx(1795514400.123)
    assert event.model == "fraud"
    assert event.version == "1.4.0"
    assert event.latency_s == pytest.approx(0.0125)
    assert event.error is None and event.outcome == "ok"
    assert (event.input_size, event.output_size) == (412, 18)
    assert event.features == {"age": 41, "amount": 120.5, "country": "DE"}
    assert event.prediction == 0.07


def test_round_trip_keeps_every_field():
    event = Event(
        ts=1795514400.123,
        model="fraud",
        version="1.4.0",
        latency_s=0.0125,
        error="TimeoutError",
        input_size=412,
        output_size=18,
        features={"age": 41, "country": "DE"},
        prediction=[0.1, 0.9],
    )
    back = decode_event(encode_event(event))
    assert back == event
    assert back.outcome == "error"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1795514400.5, 1795514400.5),
        ("1795514400.5", 1795514400.5),
        ("2026-11-24T10:00:00Z", 1795514400.0),
        ("2026-11-24T10:00:00+01:00", 1795510800.0),
        ("2026-11-24T10:00:00", 1795514400.0),  # naive is UTC
        ("2026-11-24 10:00:00.250z", 1795514400.25),
    ],
)
def test_timestamps_rfc3339_or_epoch(raw, expected):
    assert decode_event(json.dumps({"ts": raw, "model": "m"})).ts == pytest.approx(expected)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "json"),
        ("[1, 2]", "json"),
        ('{"model": "m"}', "ts"),
        ('{"ts": "yesterday"}', "ts"),
        ('{"ts": true}', "ts"),
        ('{"ts": -5}', "ts"),
        ('{"ts": 1, "latency_ms": "fast"}', "latency"),
        ('{"ts": 1, "latency_ms": -1}', "latency"),
        ('{"ts": 1, "features": [1, 2]}', "features"),
        ('{"ts": 1, "error": [1]}', "error"),
        ('{"ts": 1, "input_size": "big"}', "input_size"),
        (b"\xff\xfe", "json"),
    ],
)
def test_malformed_lines_name_the_reason(line, reason):
    with pytest.raises(MalformedEventError) as info:
        decode_event(line)
    assert info.value.reason == reason


def test_unknown_fields_are_ignored_and_defaults_apply():
    event = decode_event('{"ts": 1, "something": {"else": 1}}')
    assert event.model == "default"
    assert event.latency_s is None
    assert event.features is None


def test_error_field_forms():
    assert decode_event('{"ts": 1, "error": true}').error == "Error"
    assert decode_event('{"ts": 1, "error": false}').error is None
    assert decode_event('{"ts": 1, "error": ""}').error is None
    assert decode_event('{"ts": 1, "error": {"type": "KeyError"}}').error == "KeyError"


def test_field_map_reads_nested_and_renamed_fields():
    codec = EventCodec(
        FieldMap(
            ts="time",
            latency="duration",
            latency_unit="s",
            features="request.features",
            model="meta.model",
        )
    )
    line = json.dumps(
        {"time": 10, "duration": 0.25, "meta": {"model": "x"},
         "request": {"features": {"a": 1}}}
    )  # fmt: skip
    event = codec.decode(line)
    assert (event.model, event.latency_s, event.features) == ("x", 0.25, {"a": 1})
    assert codec.decode(codec.encode(event)) == event


def test_encode_writes_json_safe_values():
    event = Event(
        ts=0.0, model="m",
        features={"a": np.float32(1.5), "b": float("nan"), "c": np.int64(3), 4: "x"},
        prediction=np.array([1, 2]),
    )  # fmt: skip
    record = json.loads(encode_event(event))
    assert record["features"] == {"a": 1.5, "b": None, "c": 3, "4": "x"}
    assert record["error"] is None
    assert record["prediction"] == "[1 2]"


@settings(max_examples=200, deadline=None)
@given(
    ts=st.floats(0, 4e9),
    latency=st.none() | st.floats(0, 1e4),
    error=st.none() | st.text(min_size=1, max_size=20),
    features=st.dictionaries(
        st.text(max_size=10),
        st.none()
        | st.integers(-(2**53), 2**53)
        | st.text(max_size=10)
        | st.floats(allow_nan=False, allow_infinity=False),
        max_size=8,
    ),
)
def test_round_trip_property(ts, latency, error, features):
    event = Event(ts=ts, model="m", latency_s=latency, error=error, features=features)
    back = decode_event(encode_event(event))
    assert back.ts == pytest.approx(ts, abs=1e-3)  # the format keeps milliseconds
    if latency is None:
        assert back.latency_s is None
    else:
        assert math.isclose(back.latency_s, latency, rel_tol=1e-6, abs_tol=1e-9)
    assert back.error == error
    assert back.features == features


# -- decoding many lines at once ------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "Timeout", "2026-11-24T10:00:00.5Z", "2026-11-24 10:00:00",
                     "1700000000.5", "20261124", "-3", "1e-5", "2026-13-45T00:00:00Z"]),
    st.dictionaries(st.sampled_from(["a", "b", "type"]), st.integers(0, 3), max_size=2),
    st.lists(st.integers(0, 3), max_size=2),
)  # fmt: skip
_fields = ("ts", "model", "version", "latency_ms", "error", "input_size", "output_size",
           "features", "prediction", "request_id")  # fmt: skip


def _line(record: dict, raw: str | None) -> bytes:
    if raw is not None:
        return raw.encode()
    return json.dumps(record).encode()  # NaN and Infinity as the stdlib writes them


def _as_rows(groups) -> list[tuple]:
    rows = [
        (g.model, g.version, float(g.ts[i]), _nan_none(g.latency_s[i]), g.errors[i],
         _nan_none(g.input_size[i]), _nan_none(g.output_size[i]),
         json.dumps(g.features[i], sort_keys=True), json.dumps(g.predictions[i], sort_keys=True),
         g.request_ids[i])
        for g in groups
        for i in range(len(g))
    ]  # fmt: skip
    return sorted(rows, key=repr)


def _nan_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(_fields), _values | st.just({"a": 1.5, "b": "x"})),
            st.none() | st.sampled_from(["", "  ", "[1]", "{", "nope", '{"ts": NaN}', "1"]),
            st.booleans(),  # a good line, to mix the common path in
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_decode_many_equals_decoding_line_by_line(cases, nested):
    fields = FieldMap(features="request.features") if nested else FieldMap()
    codec = EventCodec(fields)
    lines = []
    good_record = {"ts": 1.7e9, "model": "m", "latency_ms": 3.0, "error": None,
                   "features": {"a": 1.0}, "prediction": 0.5, "request_id": "r1"}  # fmt: skip
    for drawn, drawn_raw, good in cases:
        record, raw = (dict(good_record), None) if good else (drawn, drawn_raw)
        if nested and "features" in record:
            record = {**record, "request": {"features": record.pop("features")}}
        lines.append(_line(record, raw))
    expected, reasons = [], {}
    for line in lines:
        if not line.strip():
            continue
        try:
            event = codec.decode(line)
        except MalformedEventError as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            continue
        size_in = event.input_size
        size_out = event.output_size
        expected.append((event.model, event.version, event.ts, event.latency_s, event.error,
                         None if size_in is None else float(size_in),
                         None if size_out is None else float(size_out),
                         json.dumps(event.features, sort_keys=True),
                         json.dumps(event.prediction, sort_keys=True),
                         event.request_id))  # fmt: skip
    groups, malformed = codec.decode_many(lines)
    assert dict(malformed) == reasons
    assert _as_rows(groups) == sorted(expected, key=repr)
    for g in groups:  # one group per model and version
        assert len({(g.model, g.version)}) == 1 and len(g) > 0


def test_decode_many_groups_models_in_order_of_first_appearance():
    lines = [json.dumps({"ts": 1.0, "model": m}).encode() for m in ["b", "a", "b", "c"]]
    groups, _ = EventCodec().decode_many(lines)
    assert [(g.model, len(g)) for g in groups] == [("b", 2), ("a", 1), ("c", 1)]


def test_request_id_round_trips_and_numbers_become_text():
    codec = EventCodec()
    line = codec.encode(Event(ts=1.0, model="m", request_id="abc"))
    assert '"request_id":"abc"' in line
    assert codec.decode(line).request_id == "abc"
    assert codec.decode('{"ts": 1, "request_id": 42}').request_id == "42"
    assert codec.decode('{"ts": 1}').request_id is None
    custom = EventCodec(FieldMap(request_id="meta.rid"))
    assert custom.decode(custom.encode(Event(ts=1.0, model="m", request_id="x"))).request_id == "x"
    groups, _ = codec.decode_many([b'{"ts": 1, "request_id": "a"}', b'{"ts": 2, "request_id": 7}'])
    assert sorted(r for g in groups for r in g.request_ids) == ["7", "a"]
    with pytest.raises(MalformedEventError):
        codec.decode('{"ts": 1, "request_id": true}')


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#: Lines an attacker (or a broken writer) can put in a log: each must be malformed, by reason.
HOSTILE_LINES = [
    ('{"ts": 1, "x": @}'.replace("@", _nested(100_000)), "json"),  # past every parser's depth
    (_nested(5000), "json"),
    (
        '{"ts": 1, "latency_ms": @}'.replace("@", _nested(1020)),
        "latency",
    ),  # orjson reads it; repr cannot
    ('{"ts": @}'.replace("@", _nested(1020)), "ts"),
    ('{"ts": 1, "model": @}'.replace("@", _nested(1020)), "model"),
    ('{"ts": 1, "model": "m\\ud800"}', "unicode"),
    ('{"ts": 1, "error": "E\\udfff"}', "unicode"),
    ('{"ts": 1, "version": "\\udc80"}', "unicode"),
    ('{"ts": 1, "features": {"\\ud800": 1}}', "unicode"),
    ('{"ts": 1, "features": {"a": ["\\ud83d"]}, "latency_ms": NaN}', "unicode"),
    ('{"ts": 1, "model": "a\x00b"}', "json"),  # a raw NUL: a control character in a string
    ("\x00\x00\x00{", "json"),
]


@pytest.mark.parametrize(("line", "reason"), HOSTILE_LINES)
def test_hostile_lines_are_malformed_never_an_exception(line: str, reason: str) -> None:
    with pytest.raises(MalformedEventError) as caught:
        decode_event(line)
    assert caught.value.reason == reason
    assert len(str(caught.value)) < 400  # the value is shown bounded, not whole
    groups, malformed = EventCodec().decode_many([line.encode(), b'{"ts": 5, "model": "m"}'])
    assert dict(malformed) == {reason: 1}
    assert [len(g) for g in groups] == [1]


def test_bytes_that_are_not_utf8_are_malformed_never_guessed_as_utf16() -> None:
    utf16 = '{"ts": 5, "model": "m"}'.encode("utf-16-le")  # NUL bytes the stdlib would sniff
    latin1 = '{"ts": 5, "model": "caf\xe9"}'.encode("latin-1")
    groups, malformed = EventCodec().decode_many([utf16, latin1, b"\xff\xfe{"])
    assert groups == [] and dict(malformed) == {"json": 3}


def test_an_error_type_nested_deeply_is_named_error() -> None:
    event = decode_event('{"ts": 1, "error": {"type": @}}'.replace("@", _nested(1020)))
    assert event.error == "Error"


def test_valid_surrogate_pairs_are_text_and_encode_writes_no_lone_surrogate() -> None:
    assert decode_event('{"ts": 1, "model": "\\ud83d\\ude00"}').model == "\U0001f600"
    features = {"a\ud800": "x\ud801", "b": [1, "\ud802"]}
    event = Event(ts=1.0, model="m\ud800", error="E\udfff", request_id="r\udc00",
                  features=features, prediction="\U0001f600")  # fmt: skip
    line = encode_event(event)
    back = decode_event(line)  # the sidecar reads what the library writes
    assert back.model == "m\ufffd" and back.error == "E\ufffd" and back.request_id == "r\ufffd"
    assert back.features == {"a\ufffd": "x\ufffd", "b": [1, "\ufffd"]}
    assert back.prediction == "\U0001f600"
