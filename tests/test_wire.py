"""Shared codec pieces: NOT_GIVEN vs null, extras, base64, tagged unions, errors."""

from __future__ import annotations

from typing import Any, ClassVar, Union

import attrs
import pytest

from trio_realtime._wire import (
    NOT_GIVEN,
    NotGiven,
    b64decode,
    b64encode,
    make_converter,
    register_tagged_union,
    register_wire_class,
    structure,
    to_camel,
    to_snake,
)
from trio_realtime.errors import ProtocolError


@attrs.frozen
class Inner:
    rate: int | NotGiven = NOT_GIVEN
    turn_detection: dict[str, Any] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Append:
    TYPE: ClassVar[str] = "input_audio_buffer.append"
    audio: bytes
    event_id: str | NotGiven = NOT_GIVEN
    inner: Inner | NotGiven = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownThing:
    raw: dict[str, Any]


Msg = Union[Append, UnknownThing]  # noqa: UP007

conv = make_converter(urlsafe_base64=True)
register_wire_class(conv, Inner, wire_name=to_camel, python_names_too=True)
register_wire_class(conv, Append)
register_tagged_union(conv, Msg, [Append], unknown=UnknownThing)


def test_round_trip_keeps_extras_nulls_and_absence() -> None:
    wire = {
        "type": "input_audio_buffer.append",
        "audio": "AAEC",
        "zzz": 1,
        "inner": {"rate": 5, "turnDetection": None, "q": [1]},
    }
    obj = structure(conv, wire, Msg, what="event")
    assert isinstance(obj, Append)
    assert obj.audio == b"\x00\x01\x02"
    assert obj.event_id is NOT_GIVEN
    assert isinstance(obj.inner, Inner)
    assert obj.inner.turn_detection is None
    assert obj.inner.extra == {"q": [1]}
    assert obj.extra == {"zzz": 1}
    assert conv.unstructure(obj) == wire
    absent = structure(conv, {"type": "input_audio_buffer.append", "audio": ""}, Msg, what="e")
    assert conv.unstructure(absent) == {"type": "input_audio_buffer.append", "audio": ""}


def test_unknown_tag_keeps_raw() -> None:
    obj = structure(conv, {"type": "x.y", "a": 1}, Msg, what="event")
    assert isinstance(obj, UnknownThing)
    assert conv.unstructure(obj) == {"type": "x.y", "a": 1}


def test_python_names_accepted_on_input() -> None:
    assert structure(conv, {"turn_detection": {}}, Inner, what="x") == Inner(turn_detection={})


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"type": "input_audio_buffer.append", "audio": "!!"}, "invalid base64"),
        ({"type": "input_audio_buffer.append", "audio": 5}, "expected a base64 string"),
        (
            {"type": "input_audio_buffer.append", "audio": "", "inner": {"rate": "5"}},
            "expected int, got str @ $.inner.rate",
        ),
        (
            {"type": "input_audio_buffer.append", "audio": "", "inner": {"rate": True}},
            "expected int, got a boolean @ $.inner.rate",
        ),
        ({"type": "input_audio_buffer.append"}, "required field missing @ $.audio"),
    ],
)
def test_malformed_fields_name_their_path(wire: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        structure(conv, wire, Msg, what="client event")
    assert message in str(info.value)
    assert info.value.problems


def test_base64_strict_and_urlsafe() -> None:
    data = bytes(range(256))
    assert b64decode(b64encode(data)) == data
    urlsafe = b64encode(data).replace("+", "-").replace("/", "_").rstrip("=")
    assert b64decode(urlsafe, urlsafe=True) == data
    with pytest.raises(ValueError, match="invalid base64"):
        b64decode(urlsafe)


def test_name_conversions() -> None:
    assert to_camel("audio_end_ms") == "audioEndMs"
    assert to_snake("audioEndMs") == "audio_end_ms"
    assert to_snake(to_camel("prefix_padding_ms")) == "prefix_padding_ms"
