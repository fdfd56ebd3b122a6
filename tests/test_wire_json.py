"""What the orjson decoder of every received message treats differently from json.loads.

decode_json (trio_realtime/_wire.py) documents these; each is pinned here on
the public decoders of both providers, so a change of decoder cannot change
them silently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from trio_realtime.errors import ProtocolError
from trio_realtime.gemini import messages as gm
from trio_realtime.gemini.codec import decode_server_message
from trio_realtime.openai import messages as om
from trio_realtime.openai.codec import decode_server_event


def _raw(text: str) -> dict[str, Any]:
    """The raw dict of a server event this library does not know (kept as parsed)."""
    event = decode_server_event(text)
    assert isinstance(event, om.UnknownServerEvent)
    return event.raw


NOT_JSON = [
    pytest.param('{"type":"x","v":NaN}', id="NaN"),
    pytest.param('{"type":"x","v":Infinity}', id="Infinity"),
    pytest.param('{"type":"x","v":-Infinity}', id="-Infinity"),
    pytest.param('{"type":"x","v":1e400}', id="overflowing-double"),
    pytest.param('{"type":"x","v":"\\ud800"}', id="lone-high-surrogate"),
    pytest.param('{"type":"x","v":"\\udc00 tail"}', id="lone-low-surrogate"),
]


@pytest.mark.parametrize("text", NOT_JSON)
def test_non_json_values_are_a_protocol_error_for_both_providers(text: str) -> None:
    # The standard library accepted each of these.
    json.loads(text)
    with pytest.raises(ProtocolError, match=r"^The server event is not valid JSON \(") as info:
        decode_server_event(text)
    assert info.value.raw == text
    with pytest.raises(ProtocolError, match=r"^The Gemini server message is not valid JSON \("):
        decode_server_message(text.encode())


def test_escaped_surrogate_pairs_still_decode() -> None:
    assert _raw('{"type":"x.unknown","text":"\\ud83d\\ude00"}')["text"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("18446744073709551615", 2**64 - 1),  # the largest unsigned 64-bit: exact
        ("-9223372036854775808", -(2**63)),  # the smallest signed 64-bit: exact
    ],
)
def test_integers_within_64_bits_are_exact(literal: str, value: int) -> None:
    n = _raw(f'{{"type":"x.unknown","n":{literal}}}')["n"]
    assert (type(n), n) == (int, value)


@pytest.mark.parametrize(
    "literal", ["18446744073709551616", "-9223372036854775809", "123456789012345678901234567890"]
)
def test_integers_beyond_64_bits_arrive_as_floats(literal: str) -> None:
    # Documented difference: json.loads kept these exact; neither service sends one.
    n = _raw(f'{{"type":"x.unknown","n":{literal}}}')["n"]
    assert type(n) is float
    assert n == float(int(literal))
    gemini = decode_server_message(f'{{"futureField":{literal}}}'.encode())
    assert isinstance(gemini, gm.UnknownServerMessage)
    assert type(gemini.raw["futureField"]) is float


def test_an_integer_field_beyond_64_bits_is_a_protocol_error_naming_it() -> None:
    # A typed integer field refuses the float such an integer became.
    with pytest.raises(ProtocolError, match=r"@ \$\.usageMetadata\.totalTokenCount"):
        decode_server_message(b'{"usageMetadata":{"totalTokenCount":18446744073709551616}}')
    with pytest.raises(ProtocolError, match=r"output_index"):
        decode_server_event(
            '{"type":"response.output_item.added","event_id":"e","response_id":"r",'
            '"output_index":18446744073709551616,"item":{"type":"message","role":"assistant",'
            '"content":[]}}'
        )
