"""OpenAI Realtime codec: golden files, the SDK's own models, hypothesis round trips, errors."""

from __future__ import annotations

import base64
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import attrs
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from openai.types.realtime.response_create_event_with_references_param import (
    ResponseCreateEventWithReferencesParam,
)

from trio_realtime._wire import NOT_GIVEN, NotGiven
from trio_realtime.errors import ProtocolError
from trio_realtime.openai import messages as m
from trio_realtime.openai.codec import (
    decode_client_event,
    decode_server_event,
    encode_audio_append,
    encode_client_event,
    encode_server_event,
    structure_wire,
)

DATA = Path(__file__).parent / "data" / "openai"
SERVER_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
CLIENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)
# The SDK's event models leave `item_reference` out of `response.create`'s
# `input`; its request type for that case is this one.
WITH_REFERENCES: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
    ResponseCreateEventWithReferencesParam
)


def _uses_item_reference(event: dict[str, Any]) -> bool:
    response = event.get("response") or {}
    return any(i.get("type") == "item_reference" for i in response.get("input") or [])


def validate_client_event(text: str) -> None:
    """Check `text` against the SDK's client event types (pydantic raises if it does not fit)."""
    event = json.loads(text)
    if event.get("type") == "response.create" and _uses_item_reference(event):
        WITH_REFERENCES.validate_python(event, strict=False)
    else:
        CLIENT_ADAPTER.validate_json(text)


def _golden(direction: str) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(DATA.glob(f"{direction}.*.json")):
        wire_type = path.name[len(direction) + 1 : -len(".json")]
        examples = json.loads(path.read_text())
        assert examples, path
        for ex in examples:
            assert ex["type"] == wire_type, path
            out.append((wire_type, ex))
    return out


SERVER_GOLDEN = _golden("server")
CLIENT_GOLDEN = _golden("client")


def _sdk_types(adapter_union: Any) -> set[str]:
    union = typing.get_args(adapter_union)[0]
    found: set[str] = set()
    for model in typing.get_args(union):
        found.update(typing.get_args(model.model_fields["type"].annotation))
    return found


def _has_extra(obj: Any) -> list[str]:
    """Paths of nested objects whose `extra` is not empty (fields we do not model)."""
    found: list[str] = []

    def walk(o: Any, path: str) -> None:
        if attrs.has(type(o)):
            if getattr(o, "extra", None):
                found.append(f"{path}: {sorted(o.extra)}")
            for f in attrs.fields(type(o)):
                if f.name not in ("extra", "raw"):
                    walk(getattr(o, f.name), f"{path}.{f.name}")
            if hasattr(o, "raw"):
                found.append(f"{path}: unknown {o.raw!r}")
        elif isinstance(o, list):
            for i, x in enumerate(o):
                walk(x, f"{path}[{i}]")

    walk(obj, "$")
    return found


# --------------------------------------------------------------------------- coverage


def test_every_sdk_event_type_has_a_class_and_a_golden_file() -> None:
    server_types = {c.TYPE for c in m.SERVER_EVENT_CLASSES}  # type: ignore[attr-defined]
    client_types = {c.TYPE for c in m.CLIENT_EVENT_CLASSES}  # type: ignore[attr-defined]
    assert server_types == _sdk_types(RealtimeServerEvent)
    assert client_types == _sdk_types(RealtimeClientEvent)
    assert len(server_types) == 46
    assert len(client_types) == 11
    assert {t for t, _ in SERVER_GOLDEN} == server_types
    assert {t for t, _ in CLIENT_GOLDEN} == client_types


def test_class_names_follow_the_wire_type() -> None:
    for cls in (*m.SERVER_EVENT_CLASSES, *m.CLIENT_EVENT_CLASSES):
        wire: str = cls.TYPE  # type: ignore[attr-defined]
        expected = "".join(p[:1].upper() + p[1:] for p in wire.replace(".", "_").split("_") if p)
        assert cls.__name__ == expected


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize(("wire_type", "example"), SERVER_GOLDEN)
def test_server_golden_decodes_typed_and_round_trips(
    wire_type: str, example: dict[str, Any]
) -> None:
    text = json.dumps(example)
    event = decode_server_event(text)
    assert not isinstance(event, m.UnknownServerEvent)
    assert wire_type == type(event).TYPE
    assert json.loads(encode_server_event(event)) == example
    assert decode_server_event(text.encode()) == event
    SERVER_ADAPTER.validate_python(example)  # the golden data is what the SDK accepts


@pytest.mark.parametrize(("wire_type", "example"), CLIENT_GOLDEN)
def test_client_golden_decodes_typed_and_round_trips(
    wire_type: str, example: dict[str, Any]
) -> None:
    event = decode_client_event(json.dumps(example))
    assert not isinstance(event, m.UnknownClientEvent)
    assert wire_type == type(event).TYPE
    encoded = encode_client_event(event)
    assert json.loads(encoded) == example
    validate_client_event(encoded)


def test_golden_examples_through_the_sdk_models() -> None:
    """Let the SDK parse and re-dump each golden example; ours reads its output the same."""
    cases: list[tuple[Any, Any, Any, Any]] = [
        (SERVER_ADAPTER, SERVER_GOLDEN, decode_server_event, encode_server_event),
        (CLIENT_ADAPTER, CLIENT_GOLDEN, decode_client_event, encode_client_event),
    ]
    for adapter, golden, decode, encode in cases:
        for _t, example in golden:
            if _uses_item_reference(example):
                continue  # a TypedDict in the SDK, no model to dump; validated above
            sdk_obj = adapter.validate_python(example)
            dumped = sdk_obj.model_dump(mode="json", exclude_unset=True, by_alias=True)
            ours = decode(json.dumps(dumped))
            assert not type(ours).__name__.startswith("Unknown")
            assert json.loads(encode(ours)) == dumped


# --------------------------------------------------------------------------- SDK-generated samples


def _sample(tp: Any, variant: int) -> Any:
    """A JSON value for an SDK annotation, every optional field filled in."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _sample(args[0], variant)
    if origin is Literal:
        return args[variant % len(args)]
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return _sample(members[variant % len(members)], variant // len(members))
    if origin in (list, typing.List):  # noqa: UP006
        return [_sample(args[0], variant)]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {"k": _sample(args[1], variant)}
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return {
            (f.alias or name): _sample(f.annotation, variant) for name, f in tp.model_fields.items()
        }
    if tp is str:
        return "AAEC"  # also valid base64, for the audio fields
    if tp is bool:
        return True
    if tp is int:
        return 7
    if tp is float:
        return 0.5
    if tp is object or tp is Any:
        return {"any": [1, "x"]}
    raise AssertionError(f"no sample for {tp!r}")


def _sdk_models(adapter_union: Any) -> list[Any]:
    union = typing.get_args(adapter_union)[0]
    return list(typing.get_args(union))


@pytest.mark.parametrize("variant", range(12))
def test_sdk_generated_server_samples_are_fully_modelled(variant: int) -> None:
    for model in _sdk_models(RealtimeServerEvent):
        wire = _sample(model, variant)
        sdk_obj = model.model_validate(wire)
        dumped = sdk_obj.model_dump(mode="json", exclude_unset=True, by_alias=True)
        event = decode_server_event(json.dumps(dumped))
        assert type(event).__name__ != "UnknownServerEvent", model
        assert _has_extra(event) == [], (model, dumped)
        assert json.loads(encode_server_event(event)) == dumped


@pytest.mark.parametrize("variant", range(12))
def test_sdk_generated_client_samples_are_fully_modelled(variant: int) -> None:
    for model in _sdk_models(RealtimeClientEvent):
        wire = _sample(model, variant)
        sdk_obj = model.model_validate(wire)
        dumped = sdk_obj.model_dump(mode="json", exclude_unset=True, by_alias=True)
        event = decode_client_event(json.dumps(dumped))
        assert type(event).__name__ != "UnknownClientEvent", model
        assert _has_extra(event) == [], (model, dumped)
        encoded = encode_client_event(event)
        assert json.loads(encoded) == dumped
        CLIENT_ADAPTER.validate_json(encoded)


# --------------------------------------------------------------------------- null vs absent


def test_null_and_absent_turn_detection_stay_apart() -> None:
    off = '{"type":"session.update","session":{"type":"realtime","audio":{"input":{"turn_detection":null}}}}'
    same = '{"type":"session.update","session":{"type":"realtime","audio":{"input":{}}}}'
    ev_off = decode_client_event(off)
    ev_same = decode_client_event(same)
    assert isinstance(ev_off, m.SessionUpdate)
    assert isinstance(ev_same, m.SessionUpdate)
    assert isinstance(ev_off.session, m.RealtimeSession)
    assert isinstance(ev_same.session, m.RealtimeSession)
    assert isinstance(ev_off.session.audio, m.AudioConfig)
    assert isinstance(ev_same.session.audio, m.AudioConfig)
    assert isinstance(ev_off.session.audio.input, m.AudioInput)
    assert isinstance(ev_same.session.audio.input, m.AudioInput)
    assert ev_off.session.audio.input.turn_detection is None
    assert ev_same.session.audio.input.turn_detection is NOT_GIVEN
    assert json.loads(encode_client_event(ev_off)) == json.loads(off)
    assert json.loads(encode_client_event(ev_same)) == json.loads(same)


def test_constructed_message_encodes_only_what_was_given() -> None:
    ev = m.SessionUpdate(
        session=m.RealtimeSession(
            audio=m.AudioConfig(input=m.AudioInput(turn_detection=None)),
            tools=[m.FunctionTool(name="f", parameters={"type": "object"})],
        ),
        event_id="e1",
    )
    assert json.loads(encode_client_event(ev)) == {
        "type": "session.update",
        "event_id": "e1",
        "session": {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None}},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        },
    }


# --------------------------------------------------------------------------- unknowns


def test_unknown_event_types_survive() -> None:
    raw = {"type": "response.audio.delta", "event_id": "e", "delta": "AAAA", "x": [1, None]}
    ev = decode_server_event(json.dumps(raw))
    assert isinstance(ev, m.UnknownServerEvent)
    assert ev.type == "response.audio.delta"
    assert json.loads(encode_server_event(ev)) == raw
    cev = decode_client_event('{"type":"session.close","event_id":"c"}')
    assert isinstance(cev, m.UnknownClientEvent)
    assert json.loads(encode_client_event(cev)) == {"type": "session.close", "event_id": "c"}


def test_unknown_fields_and_nested_types_survive() -> None:
    raw: dict[str, Any] = {
        "type": "response.output_item.done",
        "event_id": "e",
        "response_id": "r",
        "output_index": 0,
        "phase": "final",
        "item": {"type": "web_search_call", "id": "ws_1", "query": "x"},
    }
    ev = decode_server_event(json.dumps(raw))
    assert isinstance(ev, m.ResponseOutputItemDone)
    assert ev.extra == {"phase": "final"}
    assert ev.item == m.UnknownItem(raw=raw["item"])
    assert json.loads(encode_server_event(ev)) == raw
    delta = {
        "type": "response.output_audio_transcript.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "obfuscation": "Zx",
    }
    tev = decode_server_event(json.dumps(delta))
    assert isinstance(tev, m.ResponseOutputAudioTranscriptDelta)
    assert tev.extra == {"obfuscation": "Zx"}
    assert json.loads(encode_server_event(tev)) == delta


def test_update_without_session_type_decodes_as_unknown_session() -> None:
    # The server rejects it with `missing_required_parameter`; the fake server
    # needs to see it rather than a decoding failure.
    ev = decode_client_event('{"type":"session.update","session":{"instructions":"x"}}')
    assert isinstance(ev, m.SessionUpdate)
    assert ev.session == m.UnknownSession(raw={"instructions": "x"})


# --------------------------------------------------------------------------- hot paths


AUDIO = bytes(range(256)) * 8


def test_audio_delta_fast_path_matches_general_decoder() -> None:
    wire = {
        "type": "response.output_audio.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 1,
        "content_index": 0,
        "delta": base64.b64encode(AUDIO).decode(),
    }
    fast = decode_server_event(json.dumps(wire))
    slow = structure_wire(wire, m.ServerEvent)
    assert fast == slow
    assert isinstance(fast, m.ResponseOutputAudioDelta)
    assert fast.delta == AUDIO
    assert json.loads(encode_server_event(fast)) == wire
    with_extra = decode_server_event(json.dumps({**wire, "obfuscation": "q"}))
    assert isinstance(with_extra, m.ResponseOutputAudioDelta)
    assert with_extra.extra == {"obfuscation": "q"}
    assert with_extra.delta == AUDIO


def test_append_fast_path_matches_general_codec() -> None:
    text = encode_audio_append(memoryview(AUDIO))
    assert json.loads(text) == {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(AUDIO).decode(),
    }
    ev = decode_client_event(text)
    assert ev == m.InputAudioBufferAppend(audio=AUDIO)
    assert encode_client_event(ev) == text
    CLIENT_ADAPTER.validate_json(text)
    tagged = m.InputAudioBufferAppend(audio=AUDIO, event_id="a1")
    assert decode_client_event(encode_client_event(tagged)) == tagged


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "server event is not valid JSON"),
        (b"\xff\xfe", "server event is not valid JSON"),
        ("[1, 2]", "JSON but not an object (got list)"),
        ('{"event_id": "e"}', "required field missing @ $.type"),
        ('{"type": 5}', "expected str, got int @ $.type"),
        (
            '{"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":"1","item_id":"i"}',
            "expected int, got str @ $.audio_start_ms",
        ),
        (
            '{"type":"input_audio_buffer.speech_started","event_id":"e","item_id":"i"}',
            "required field missing @ $.audio_start_ms",
        ),
        (
            '{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i",'
            '"output_index":0,"content_index":0,"delta":"@@@@"}',
            "invalid base64",
        ),
        (
            '{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i",'
            '"output_index":0,"content_index":0,"delta":"@@@@"}',
            "@ $.delta",
        ),
        (
            '{"type":"response.done","event_id":"e","response":{"usage":{"total_tokens":"many"}}}',
            "expected int or null, got str @ $.response.usage.total_tokens",
        ),
        (
            '{"type":"conversation.item.added","event_id":"e","item":{"type":"message","role":"user",'
            '"content":[{"type":"input_audio","audio":"%%"}]}}',
            "@ $.item.content[0].audio",
        ),
        (
            '{"type":"session.created","event_id":"e","session":{"type":"realtime","audio":'
            '{"input":{"turn_detection":{"type":"server_vad","threshold":"high"}}}}}',
            "@ $.session.audio.input.turn_detection.threshold",
        ),
        (
            '{"type":"rate_limits.updated","event_id":"e","rate_limits":{"name":"tokens"}}',
            "@ $.rate_limits",
        ),
    ],
)
def test_malformed_server_input_names_the_path(data: str | bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_server_event(data)
    assert message in str(info.value)
    assert info.value.side == "remote"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"type":"input_audio_buffer.append","audio":"A"}', "invalid base64"),
        ('{"type":"input_audio_buffer.append","audio":5}', "@ $.audio"),
        ('{"type":"input_audio_buffer.append"}', "required field missing @ $.audio"),
        (
            '{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":1.5}',
            "expected int, got float @ $.audio_end_ms",
        ),
        (
            '{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"c"}}',
            "required field missing @ $.item.output",
        ),
    ],
)
def test_malformed_client_input_names_the_path(data: str, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client_event(data)
    assert message in str(info.value)
    assert "client event" in str(info.value)


# --------------------------------------------------------------------------- hypothesis


_JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_EXTRA = st.dictionaries(st.text(max_size=5).map(lambda s: "zz_" + s), _JSON, max_size=2)


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        parts = [st.just(NOT_GIVEN) if a is NotGiven else _strategy(a) for a in args]
        return st.one_of(*parts)
    if tp is type(None):
        return st.none()
    if tp is Any:
        return _JSON
    if tp is str:
        return st.text(max_size=10)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**53), 2**53)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is bytes:
        return st.binary(max_size=40)
    if origin is list:
        return st.lists(_strategy(args[0]), max_size=2)
    if origin is dict:
        if args[1] is Any:
            return st.dictionaries(st.text(max_size=5), _JSON, max_size=2)
        return st.dictionaries(st.text(max_size=5), _strategy(args[1]), max_size=2)
    if isinstance(tp, type) and attrs.has(tp):
        fields = attrs.fields(attrs.resolve_types(tp))
        if [f.name for f in fields] == ["raw"]:
            unknown: Any = tp
            raws = st.fixed_dictionaries(
                {"type": st.text(max_size=5).map(lambda s: "zz." + s), "v": _JSON}
            )
            return raws.map(lambda raw: unknown(raw=raw))
        kwargs: dict[str, st.SearchStrategy[Any]] = {
            f.name: (_EXTRA if f.name == "extra" else _deferred(f.type)) for f in fields
        }
        return st.builds(tp, **kwargs)
    raise AssertionError(f"no strategy for {tp!r}")


def _deferred(tp: Any) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: _strategy(tp))


_SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("cls", m.SERVER_EVENT_CLASSES, ids=lambda c: c.TYPE)
def test_hypothesis_server_round_trip(cls: type) -> None:
    @_SLOW
    @given(_strategy(cls))
    def check(event: Any) -> None:
        text = encode_server_event(event)
        assert decode_server_event(text) == event
        assert encode_server_event(decode_server_event(text)) == text

    check()


@pytest.mark.parametrize("cls", m.CLIENT_EVENT_CLASSES, ids=lambda c: c.TYPE)
def test_hypothesis_client_round_trip(cls: type) -> None:
    @_SLOW
    @given(_strategy(cls))
    def check(event: Any) -> None:
        text = encode_client_event(event)
        assert decode_client_event(text) == event
        assert encode_client_event(decode_client_event(text)) == text

    check()
