"""Gemini Live codec: golden frames, SDK-generated samples, round trips, errors."""

from __future__ import annotations

import datetime
import enum
import json
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import pydantic
import pytest
from google.genai import types as gt
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_realtime._wire import NOT_GIVEN, NotGiven
from trio_realtime.errors import ProtocolError
from trio_realtime.gemini import codec
from trio_realtime.gemini import messages as m

DATA = Path(__file__).parent / "data" / "gemini"
SERVER_FILES = sorted(DATA.glob("server_*.json"))
CLIENT_FILES = sorted(DATA.glob("client_*.json"))


def load(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text())
    return value


# --------------------------------------------------------------------------- SDK adapters
#
# The SDK's pydantic models are the reference for shapes, with two known gaps
# between them and the wire: `voiceActivity.type` is `voiceActivityType` in the
# model (its converter renames it), and `setup.realtimeInputConfig` is not a
# field of `LiveClientSetup` (the SDK builds it from `LiveConnectConfig`).


def sdk_server_to_wire(dump: dict[str, Any]) -> dict[str, Any]:
    out = dict(dump)
    if "voiceActivity" in out:
        va = dict(out["voiceActivity"])
        if "voiceActivityType" in va:
            va["type"] = va.pop("voiceActivityType")
        out["voiceActivity"] = va
    return out


def validate_server_with_sdk(wire: dict[str, Any]) -> gt.LiveServerMessage:
    value = dict(wire)
    if "voiceActivity" in value:
        va = dict(value["voiceActivity"])
        if "type" in va:
            va["voiceActivityType"] = va.pop("type")
        value["voiceActivity"] = va
    if "usageMetadata" in value:
        # Vertex spells the response counts `candidates…`; the SDK renames them.
        usage = dict(value["usageMetadata"])
        for vertex, gemini in (
            ("candidatesTokenCount", "responseTokenCount"),
            ("candidatesTokensDetails", "responseTokensDetails"),
        ):
            if vertex in usage:
                usage[gemini] = usage.pop(vertex)
        value["usageMetadata"] = usage
    return gt.LiveServerMessage.model_validate(value)


def validate_client_with_sdk(wire: dict[str, Any]) -> gt.LiveClientMessage:
    value = dict(wire)
    if "setup" in value and "realtimeInputConfig" in value["setup"]:
        setup = dict(value["setup"])
        gt.RealtimeInputConfig.model_validate(setup.pop("realtimeInputConfig"))
        value["setup"] = setup
    return gt.LiveClientMessage.model_validate(value)


# --------------------------------------------------------------------------- golden files


def test_golden_files_exist() -> None:
    assert len(SERVER_FILES) >= 20
    assert len(CLIENT_FILES) >= 12


@pytest.mark.parametrize("path", SERVER_FILES, ids=lambda p: p.stem)
def test_golden_server_round_trip(path: Path) -> None:
    wire = load(path)
    raw = path.read_bytes()
    msg = codec.decode_server_message(raw)  # binary frame, as the service sends
    assert isinstance(msg, m.ServerMessage)
    assert codec.decode_server_message(raw.decode()) == msg  # text frame
    encoded = codec.encode_server_message(msg)
    assert json.loads(encoded) == wire
    if "somethingNew" not in wire:
        validate_server_with_sdk(json.loads(encoded))


@pytest.mark.parametrize("path", CLIENT_FILES, ids=lambda p: p.stem)
def test_golden_client_round_trip(path: Path) -> None:
    wire = load(path)
    msg = codec.decode_client_message(path.read_bytes())
    assert isinstance(msg, m.ClientMessage)
    assert msg.extra == {}
    encoded = codec.encode_client_message(msg)
    assert json.loads(encoded) == wire
    validate_client_with_sdk(json.loads(encoded))


def test_golden_values_are_typed() -> None:
    audio = codec.decode_server_message((DATA / "server_audio_chunk.json").read_bytes())
    assert isinstance(audio, m.ServerMessage)
    assert isinstance(audio.server_content, m.ServerContent)
    assert isinstance(audio.server_content.model_turn, m.Content)
    parts = audio.server_content.model_turn.parts
    assert isinstance(parts, list)
    assert parts[0].inline_data == m.Blob(
        mime_type="audio/pcm;rate=24000", data=b"\x00\x00\x01\x00\xfe\xff\x01\x00"
    )

    done = codec.decode_server_message((DATA / "server_turn_complete_usage.json").read_text())
    assert isinstance(done, m.ServerMessage)
    assert isinstance(done.server_content, m.ServerContent)
    assert done.server_content.turn_complete is True
    assert isinstance(done.usage_metadata, m.UsageMetadata)
    assert done.usage_metadata.response_token_count == 179
    assert done.usage_metadata.prompt_tokens_details == [
        m.ModalityTokenCount(modality="TEXT", token_count=765),
        m.ModalityTokenCount(modality="AUDIO", token_count=1021),
    ]

    vertex = codec.decode_server_message(
        (DATA / "server_turn_complete_vertex_usage.json").read_text()
    )
    assert isinstance(vertex, m.ServerMessage)
    assert isinstance(vertex.usage_metadata, m.UsageMetadata)
    assert vertex.usage_metadata.candidates_token_count == 12
    assert vertex.usage_metadata.response_token_count is NOT_GIVEN

    away = codec.decode_server_message((DATA / "server_go_away.json").read_text())
    assert isinstance(away, m.ServerMessage)
    assert away.go_away == m.GoAway(time_left=m.Duration("50s"))
    assert isinstance(away.go_away, m.GoAway)
    assert isinstance(away.go_away.time_left, m.Duration)
    assert away.go_away.time_left.seconds == 50.0

    va = codec.decode_server_message((DATA / "server_voice_activity.json").read_text())
    assert isinstance(va, m.ServerMessage)
    assert va.server_content == m.ServerContent()
    assert isinstance(va.voice_activity, m.VoiceActivity)
    assert va.voice_activity.voice_activity_type == "ACTIVITY_END"
    assert isinstance(va.voice_activity.audio_offset, m.Duration)
    assert va.voice_activity.audio_offset.seconds == pytest.approx(6.68)

    call = codec.decode_server_message((DATA / "server_tool_call.json").read_text())
    assert isinstance(call, m.ServerMessage)
    assert call.tool_call == m.ToolCall(
        function_calls=[
            m.FunctionCall(id="function-call-6216", name="get_weather", args={"city": "Paris"}),
            m.FunctionCall(id="function-call-6217", name="turn_on_lights", args={}),
        ]
    )

    setup = codec.decode_client_message((DATA / "client_setup.json").read_text())
    assert isinstance(setup, m.ClientMessage)
    assert isinstance(setup.setup, m.Setup)
    gc = setup.setup.generation_config
    assert isinstance(gc, m.GenerationConfig)
    assert gc.top_k == 40
    assert type(gc.top_k) is int  # kept an int: re-encodes as 40, not 40.0
    assert gc.speech_config == m.SpeechConfig(
        voice_config=m.VoiceConfig(prebuilt_voice_config=m.PrebuiltVoiceConfig(voice_name="Kore")),
        language_code="en-US",
    )
    ric = setup.setup.realtime_input_config
    assert isinstance(ric, m.RealtimeInputConfig)
    assert ric.automatic_activity_detection == m.AutomaticActivityDetection(
        disabled=False,
        start_of_speech_sensitivity="START_SENSITIVITY_LOW",
        end_of_speech_sensitivity="END_SENSITIVITY_LOW",
        prefix_padding_ms=20,
        silence_duration_ms=500,
    )
    assert isinstance(setup.setup.tools, list)
    assert setup.setup.tools[1] == m.Tool(google_search={})


def test_future_fields_survive() -> None:
    msg = codec.decode_server_message((DATA / "server_future_fields.json").read_text())
    assert isinstance(msg, m.ServerMessage)
    assert msg.extra == {"somethingNew": {"x": [1, 2]}}
    assert isinstance(msg.server_content, m.ServerContent)
    assert msg.server_content.extra == {"brandNewFlag": True}
    assert isinstance(msg.server_content.model_turn, m.Content)
    assert isinstance(msg.server_content.model_turn.parts, list)
    assert msg.server_content.model_turn.parts[0].extra == {"partMetadata": {"a": 1}}


def test_unknown_messages_keep_the_raw_dict() -> None:
    for raw in ({}, {"error": {"code": 429, "message": "quota"}}, {"brandNew": {"a": 1}}):
        text = json.dumps(raw)
        server = codec.decode_server_message(text)
        assert server == m.UnknownServerMessage(raw=raw)
        assert json.loads(codec.encode_server_message(server)) == raw
        client = codec.decode_client_message(text)
        assert client == m.UnknownClientMessage(raw=raw)
        assert json.loads(codec.encode_client_message(client)) == raw


# --------------------------------------------------------------------------- SDK samples


def _sample(annotation: Any, name: str, depth: int) -> Any:
    """A sample value for an SDK field, or None to leave the field out."""
    if depth > 7:
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _sample(args[0], name, depth)
    if origin in (typing.Union, types.UnionType):
        choices = [a for a in args if a is not type(None)]
        models = [a for a in choices if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        return _sample(models[0] if models else choices[0], name, depth)
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        if name == "tools" and not args:
            return [_fill(gt.Tool, depth + 1)]
        item = _sample(args[0], name, depth + 1) if args else "x"
        return None if item is None else [item]
    if origin is dict:
        if args and args[1] is str:
            return {"key": "value"}
        if args and isinstance(args[1], type) and issubclass(args[1], pydantic.BaseModel):
            value = _sample(args[1], name, depth + 1)
            return None if value is None else {"key": value}
        return {"key": {"nested": [1, "two", None, True]}}
    if annotation is typing.Any:
        return {"any": 1}
    if isinstance(annotation, type):
        if issubclass(annotation, pydantic.BaseModel):
            return _fill(annotation, depth + 1)
        if issubclass(annotation, enum.Enum):
            members = [e for e in annotation if "UNSPECIFIED" not in e.name]
            return (members or list(annotation))[0]
        if annotation is bool:
            return True
        if annotation is int:
            return 7
        if annotation is float:
            return 0.5
        if annotation is bytes:
            return b"\x00\x01\x02\x03\x04\x05"
        if annotation is str:
            if name.endswith(("offset", "time_left")):
                return "1.250s"
            return f"{name}-value"
        if annotation is datetime.datetime:
            return None
    return None


def _fill(model: type[pydantic.BaseModel], depth: int = 0) -> Any:
    values = {}
    for fname, field in model.model_fields.items():
        value = _sample(field.annotation, fname, depth)
        if value is not None:
            values[fname] = value
    return model(**values)


SERVER_KEYS = list(gt.LiveServerMessage.model_fields)
CLIENT_KEYS = list(gt.LiveClientMessage.model_fields)

SERVER_CLASSES = {
    "setup_complete": m.SetupComplete,
    "server_content": m.ServerContent,
    "tool_call": m.ToolCall,
    "tool_call_cancellation": m.ToolCallCancellation,
    "usage_metadata": m.UsageMetadata,
    "go_away": m.GoAway,
    "session_resumption_update": m.SessionResumptionUpdate,
    "voice_activity_detection_signal": m.VoiceActivityDetectionSignal,
    "voice_activity": m.VoiceActivity,
}
CLIENT_CLASSES = {
    "setup": m.Setup,
    "client_content": m.ClientContent,
    "realtime_input": m.RealtimeInput,
    "tool_response": m.ToolResponse,
    "context_update": m.ContextUpdate,
}


def test_every_sdk_variant_is_covered() -> None:
    assert set(SERVER_KEYS) == set(SERVER_CLASSES)
    assert set(CLIENT_KEYS) == set(CLIENT_CLASSES)
    assert {
        gt.LiveServerMessage.model_fields[k].alias for k in SERVER_KEYS
    } == codec.SERVER_MESSAGE_KEYS
    assert {
        gt.LiveClientMessage.model_fields[k].alias for k in CLIENT_KEYS
    } == codec.CLIENT_MESSAGE_KEYS


@pytest.mark.parametrize("key", SERVER_KEYS)
def test_sdk_server_sample_round_trips(key: str) -> None:
    field = gt.LiveServerMessage.model_fields[key]
    sdk = gt.LiveServerMessage(**{key: _sample(field.annotation, key, 0)})
    wire = sdk_server_to_wire(sdk.model_dump(mode="json", by_alias=True, exclude_none=True))
    msg = codec.decode_server_message(json.dumps(wire).encode())
    assert isinstance(msg, m.ServerMessage)
    assert isinstance(getattr(msg, key), SERVER_CLASSES[key])
    encoded = json.loads(codec.encode_server_message(msg))
    assert encoded == wire
    assert validate_server_with_sdk(encoded) == sdk


@pytest.mark.parametrize("key", CLIENT_KEYS)
def test_sdk_client_sample_round_trips(key: str) -> None:
    field = gt.LiveClientMessage.model_fields[key]
    sdk = gt.LiveClientMessage(**{key: _sample(field.annotation, key, 0)})
    wire = sdk.model_dump(mode="json", by_alias=True, exclude_none=True)
    msg = codec.decode_client_message(json.dumps(wire))
    assert isinstance(msg, m.ClientMessage)
    assert isinstance(getattr(msg, key), CLIENT_CLASSES[key])
    encoded = json.loads(codec.encode_client_message(msg))
    assert encoded == wire
    assert validate_client_with_sdk(encoded) == sdk


def test_sdk_sample_fields_are_typed_where_modelled() -> None:
    field = gt.LiveServerMessage.model_fields["server_content"]
    sdk = gt.LiveServerMessage(server_content=_sample(field.annotation, "server_content", 0))
    msg = codec.decode_server_message(
        json.dumps(sdk.model_dump(mode="json", by_alias=True, exclude_none=True))
    )
    assert isinstance(msg, m.ServerMessage)
    sc = msg.server_content
    assert isinstance(sc, m.ServerContent)
    assert isinstance(sc.input_transcription, m.Transcription)
    assert sc.input_transcription.start_offset == m.Duration("1.250s")
    assert isinstance(sc.model_turn, m.Content)
    assert isinstance(sc.model_turn.parts, list)
    part = sc.model_turn.parts[0]
    assert part.inline_data == m.Blob(
        mime_type="mime_type-value",
        data=b"\x00\x01\x02\x03\x04\x05",
        display_name="display_name-value",
    )
    assert isinstance(part.function_call, m.FunctionCall)
    assert isinstance(part.function_response, m.FunctionResponse)
    # Fields the SDK has and we do not model are kept as extras.
    assert "speechMetadata" in part.extra


def test_sdk_python_client_frames_decode() -> None:
    # What google-genai itself sends: snake_case keys and URL-safe base64.
    sent = {
        "realtime_input": {"audio": {"mime_type": "audio/pcm;rate=16000", "data": "-_8="}},
    }
    camel = {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "+/8="}}}
    a = codec.decode_client_message(json.dumps(sent))
    b = codec.decode_client_message(json.dumps(camel))
    assert a == b
    assert isinstance(a, m.ClientMessage)
    assert isinstance(a.realtime_input, m.RealtimeInput)
    assert a.realtime_input.audio == m.Blob(mime_type="audio/pcm;rate=16000", data=b"\xfb\xff")
    assert json.loads(codec.encode_client_message(a)) == camel


def test_snake_case_setup_decodes_like_camel_case() -> None:
    camel = load(DATA / "client_setup.json")

    def snake(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                # `parameters` holds a schema whose keys are data, not field names.
                new = "".join("_" + c.lower() if c.isupper() else c for c in k)
                out[new] = v if k == "parameters" else snake(v)
            return out
        if isinstance(value, list):
            return [snake(v) for v in value]
        return value

    snaked = snake(camel)
    assert "generation_config" in snaked["setup"]
    assert codec.decode_client_message(json.dumps(snaked)) == codec.decode_client_message(
        json.dumps(camel)
    )


def test_server_snake_case_and_urlsafe_base64() -> None:
    snake = {
        "server_content": {
            "model_turn": {"parts": [{"inline_data": {"mime_type": "audio/pcm", "data": "-_8"}}]},
            "turn_complete": True,
        },
        "usage_metadata": {"total_token_count": 3},
    }
    camel = {
        "serverContent": {
            "modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "+/8="}}]},
            "turnComplete": True,
        },
        "usageMetadata": {"totalTokenCount": 3},
    }
    assert codec.decode_server_message(json.dumps(snake)) == codec.decode_server_message(
        json.dumps(camel)
    )
    assert (
        json.loads(codec.encode_server_message(codec.decode_server_message(json.dumps(snake))))
        == camel
    )


def test_audio_fast_path_matches_the_converter() -> None:
    frames = [
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAEC/w=="}}]}}},
        {"serverContent": {"modelTurn": {"role": "model", "parts": [
            {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAEC"}},
            {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": ""}},
        ]}}},
        {"serverContent": {"modelTurn": {"parts": []}}},
    ]  # fmt: skip
    for wire in frames:
        fast = codec.decode_server_message(json.dumps(wire))
        slow = codec.converter.structure(wire, m.ServerMessage)
        assert fast == slow
        assert json.loads(codec.encode_server_message(fast)) == wire


def test_audio_payload_is_decoded_once_into_bytes() -> None:
    pcm = bytes(range(256)) * 40
    import base64

    wire = {
        "serverContent": {
            "modelTurn": {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "audio/pcm;rate=24000",
                            "data": base64.b64encode(pcm).decode(),
                        }
                    }
                ]
            }
        }
    }
    msg = codec.decode_server_message(json.dumps(wire).encode())
    assert isinstance(msg, m.ServerMessage)
    assert isinstance(msg.server_content, m.ServerContent)
    assert isinstance(msg.server_content.model_turn, m.Content)
    assert isinstance(msg.server_content.model_turn.parts, list)
    blob = msg.server_content.model_turn.parts[0].inline_data
    assert isinstance(blob, m.Blob)
    assert type(blob.data) is bytes
    assert blob.data == pcm


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"goAway": {"timeLeft": "soon"}}', "invalid duration 'soon'"),
        ('{"goAway": {"timeLeft": "soon"}}', "@ $.goAway.timeLeft"),
        ('{"goAway": {"timeLeft": 50}}', "expected a duration string"),
        (
            '{"serverContent": {"turnComplete": "yes"}}',
            "expected bool, got str @ $.serverContent.turnComplete",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "!!"}}]}}}',
            "invalid base64",
        ),
        (
            '{"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "!!"}}]}}}',
            "@ $.serverContent.modelTurn.parts[0].inlineData.data",
        ),
        ('{"toolCall": {"functionCalls": [{"id": 5}]}}', "@ $.toolCall.functionCalls[0].id"),
        ('{"toolCall": {"functionCalls": {"id": "x"}}}', "$.toolCall.functionCalls"),
        ('{"voiceActivity": {"type": 1}}', "expected str, got int @ $.voiceActivity.type"),
        (
            '{"usageMetadata": {"totalTokenCount": true}}',
            "got a boolean @ $.usageMetadata.totalTokenCount",
        ),
        (
            '{"sessionResumptionUpdate": {"lastConsumedClientMessageIndex": "x1"}}',
            "expected an integer",
        ),
        ('{"setupComplete": []}', "expected a JSON object, got list @ $.setupComplete"),
        ("[1, 2]", "JSON but not an object"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_server_frames_raise_protocol_error(frame: str | bytes, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        codec.decode_server_message(frame)
    assert expected in str(info.value)
    assert info.value.side == "remote"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"setup": {"model": 3}}', "expected str, got int @ $.setup.model"),
        (
            '{"setup": {"generation_config": {"temperature": "hot"}}}',
            "expected a number, got str @ $.setup.generationConfig.temperature",
        ),
        (
            '{"realtime_input": {"audio": {"data": "%%%"}}}',
            "@ $.realtimeInput.audio.data",
        ),
        (
            '{"toolResponse": {"functionResponses": [{"response": [1]}]}}',
            "@ $.toolResponse.functionResponses[0].response",
        ),
    ],
)
def test_malformed_client_frames_raise_protocol_error(frame: str, expected: str) -> None:
    with pytest.raises(ProtocolError) as info:
        codec.decode_client_message(frame)
    assert expected in str(info.value)


def test_encoding_something_else_is_a_local_error() -> None:
    with pytest.raises(ProtocolError, match="Cannot encode Setup") as info:
        codec.encode_client_message(m.Setup())  # type: ignore[arg-type]
    assert info.value.side == "local"
    with pytest.raises(ProtocolError, match="Cannot encode ClientMessage"):
        codec.encode_server_message(m.ClientMessage())  # type: ignore[arg-type]


def test_duration_values() -> None:
    assert m.Duration("11.600s").seconds == pytest.approx(11.6)
    assert m.Duration.from_seconds(50).text == "50s"
    assert m.Duration.from_seconds(1.5).text == "1.500s"
    with pytest.raises(ValueError, match="invalid duration"):
        m.Duration("1.5")


# --------------------------------------------------------------------------- hypothesis

_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def strategy_for(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of one of our wire types, built from its annotations."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if NotGiven in args:
            rest = [a for a in args if a is not NotGiven]
            inner = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
            if depth > 4:
                return st.just(NOT_GIVEN)
            return st.one_of(st.just(NOT_GIVEN), strategy_for(inner, depth))
        if set(args) == {int, str}:
            return st.one_of(st.integers(0, 2**62), st.integers(0, 2**62).map(str))
    if origin is list:
        return st.lists(strategy_for(args[0], depth + 1), max_size=2)
    if origin is dict:
        if args[1] is str:
            return st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)
        return st.dictionaries(st.text(max_size=5), _json, max_size=2)
    if tp is typing.Any:
        return _json
    if tp is str:
        return st.text(max_size=10)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**31), 2**31)
    if tp is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000))
    if tp is bytes:
        return st.binary(max_size=24)
    if tp is m.Duration:
        return st.decimals(0, 10_000, places=3).map(lambda d: m.Duration(f"{d}s"))
    assert attrs.has(tp), tp
    hints = typing.get_type_hints(tp)
    kwargs = {
        f.name: strategy_for(hints[f.name], depth + 1)
        for f in attrs.fields(tp)
        if f.name != "extra"
    }
    return st.builds(tp, **kwargs)


@settings(max_examples=150, deadline=None)
@given(strategy_for(m.ServerMessage))
def test_hypothesis_server_round_trip(msg: m.ServerMessage) -> None:
    encoded = codec.encode_server_message(msg)
    decoded = codec.decode_server_message(encoded.encode())
    if json.loads(encoded) == {}:
        assert decoded == m.UnknownServerMessage(raw={})
    else:
        assert decoded == msg
        assert codec.encode_server_message(decoded) == encoded


@settings(max_examples=150, deadline=None)
@given(strategy_for(m.ClientMessage))
def test_hypothesis_client_round_trip(msg: m.ClientMessage) -> None:
    encoded = codec.encode_client_message(msg)
    decoded = codec.decode_client_message(encoded)
    if json.loads(encoded) == {}:
        assert decoded == m.UnknownClientMessage(raw={})
    else:
        assert decoded == msg
        assert codec.encode_client_message(decoded) == encoded


@settings(max_examples=100, deadline=None)
@given(
    st.binary(max_size=64),
    st.dictionaries(st.text(min_size=1, max_size=6).map(lambda s: "x" + s), _json, max_size=3),
)
def test_hypothesis_extras_and_urlsafe_base64(data: bytes, extra: dict[str, Any]) -> None:
    import base64

    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode().rstrip("=")
    frames = [
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm", "data": d, **extra}}]}}}
        for d in (std, url)
    ]  # fmt: skip
    a, b = (codec.decode_server_message(json.dumps(f)) for f in frames)
    assert a == b
    assert json.loads(codec.encode_server_message(a)) == frames[0]


# --------------------------------------------------------------------------- frames the SDK sends


def _sdk_frames() -> list[dict[str, Any]]:
    """Client frames built the way google-genai's live.py builds them (mixed casing)."""
    from google.genai import _common
    from google.genai import _live_converters as lc
    from google.genai._api_client import BaseApiClient

    api = BaseApiClient(api_key="test-key")
    config = gt.LiveConnectConfig(
        response_modalities=[gt.Modality.AUDIO],
        system_instruction="Be brief.",
        temperature=0.5,
        speech_config=gt.SpeechConfig(
            voice_config=gt.VoiceConfig(
                prebuilt_voice_config=gt.PrebuiltVoiceConfig(voice_name="Kore")
            ),
            language_code="en-US",
        ),
        realtime_input_config=gt.RealtimeInputConfig(
            automatic_activity_detection=gt.AutomaticActivityDetection(
                disabled=False, silence_duration_ms=500
            )
        ),
        session_resumption=gt.SessionResumptionConfig(handle="h-1"),
        context_window_compression=gt.ContextWindowCompressionConfig(
            trigger_tokens=1000, sliding_window=gt.SlidingWindow(target_tokens=500)
        ),
        input_audio_transcription=gt.AudioTranscriptionConfig(),
        output_audio_transcription=gt.AudioTranscriptionConfig(),
        thinking_config=gt.ThinkingConfig(thinking_budget=0),
        tools=[
            gt.Tool(
                function_declarations=[
                    gt.FunctionDeclaration(
                        name="f",
                        description="d",
                        parameters=gt.Schema(
                            type=gt.Type.OBJECT, properties={"a": gt.Schema(type=gt.Type.STRING)}
                        ),
                    )
                ]
            )
        ],
    )
    setup = _common.convert_to_dict(
        lc._LiveConnectParameters_to_mldev(
            api_client=api,
            from_object=gt.LiveConnectParameters(model="models/m", config=config).model_dump(
                exclude_none=True
            ),
        )
    )
    del setup["config"]
    audio = _common.convert_to_dict(
        lc._LiveSendRealtimeInputParameters_to_mldev(
            from_object=gt.LiveSendRealtimeInputParameters(
                audio=gt.Blob(data=b"\xfb\xff", mime_type="audio/pcm;rate=16000")
            )
        )
    )
    frames = [
        _common.encode_unserializable_types(setup),
        {"realtime_input": _common.encode_unserializable_types(audio)},
    ]
    return json.loads(json.dumps(frames))  # type: ignore[no-any-return]


def test_frames_built_by_the_sdk_decode_without_extras() -> None:
    setup_frame, audio_frame = _sdk_frames()
    # The SDK really does mix casings (this is what the fake server receives).
    assert "voice_config" in setup_frame["setup"]["generationConfig"]["speechConfig"]
    assert audio_frame["realtime_input"]["audio"]["data"] == "-_8="

    setup = codec.decode_client_message(json.dumps(setup_frame))
    assert isinstance(setup, m.ClientMessage)
    assert isinstance(setup.setup, m.Setup)
    assert setup.setup.generation_config == m.GenerationConfig(
        response_modalities=["AUDIO"],
        temperature=0.5,
        speech_config=m.SpeechConfig(
            voice_config=m.VoiceConfig(
                prebuilt_voice_config=m.PrebuiltVoiceConfig(voice_name="Kore")
            ),
            language_code="en-US",
        ),
        thinking_config=m.ThinkingConfig(thinking_budget=0),
    )
    assert setup.setup.realtime_input_config == m.RealtimeInputConfig(
        automatic_activity_detection=m.AutomaticActivityDetection(
            disabled=False, silence_duration_ms=500
        )
    )
    assert setup.setup.context_window_compression == m.ContextWindowCompressionConfig(
        trigger_tokens=1000, sliding_window=m.SlidingWindow(target_tokens=500)
    )
    assert setup.setup.session_resumption == m.SessionResumptionConfig(handle="h-1")

    def no_extras(obj: Any) -> None:
        if attrs.has(type(obj)):
            assert getattr(obj, "extra", {}) == {}, obj
            for f in attrs.fields(type(obj)):
                no_extras(getattr(obj, f.name))
        elif isinstance(obj, list):
            for item in obj:
                no_extras(item)

    no_extras(setup)
    audio = codec.decode_client_message(json.dumps(audio_frame))
    assert audio == m.ClientMessage(
        realtime_input=m.RealtimeInput(
            audio=m.Blob(mime_type="audio/pcm;rate=16000", data=b"\xfb\xff")
        )
    )
    # Our re-encoding is camelCase with standard base64, and still valid for the SDK.
    encoded = json.loads(codec.encode_client_message(audio))
    assert encoded == {
        "realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": "+/8="}}
    }
    validate_client_with_sdk(json.loads(codec.encode_client_message(setup)))
