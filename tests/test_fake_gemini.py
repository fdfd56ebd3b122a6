"""The fake Gemini Live service over loopback, driven by a plain WebSocket client.

Every server message a test receives is decoded with our codec to a typed
class and validated with google-genai's own `types.LiveServerMessage`.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import pairwise
from typing import Any

import pytest
import trio
import trio_websocket
from google.genai import _live_converters, types

from trio_realtime._wire import NOT_GIVEN
from trio_realtime.audio import AudioFrame
from trio_realtime.gemini import codec
from trio_realtime.gemini import messages as m
from trio_realtime.testing.faults import CloseAt, truncate_reason
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.scenario import PlannedToolCall, Reply, ReplyContext, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import UNTRANSCRIBED, check_sequence, read_stamp, user_utterance

MODEL = "models/gemini-3.8-live"
WEATHER_TOOL = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}},
                "required": ["city"],
            },
        }
    ]
}


# --------------------------------------------------------------------------- helpers


def sdk_validate(data: bytes, *, vertex: bool = False) -> types.LiveServerMessage:
    """Parse a frame the way google-genai does (its converter, then its model)."""
    if vertex:
        converted = _live_converters._LiveServerMessage_from_vertex(json.loads(data))
    else:
        converted = _live_converters._LiveServerMessage_from_mldev(json.loads(data))
    return types.LiveServerMessage.model_validate(converted)


class Client:
    """A bare WebSocket client speaking our codec."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, *, vertex: bool = False) -> None:
        self.ws = ws
        self.vertex = vertex
        self.log: list[m.ServerMessage] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(message))

    async def setup(self, **fields: Any) -> m.ServerMessage:
        await self.send({"setup": {"model": MODEL, **fields}})
        return await self.recv()

    async def recv(self) -> m.ServerMessage:
        data = await self.ws.get_message()
        assert isinstance(data, bytes), "the service sends JSON in binary frames"
        msg = codec.decode_server_message(data)
        assert isinstance(msg, m.ServerMessage), data[:200]
        sdk_validate(data, vertex=self.vertex)
        self.log.append(msg)
        return msg

    async def until(self, done: Callable[[m.ServerMessage], bool]) -> list[m.ServerMessage]:
        out: list[m.ServerMessage] = []
        while True:
            msg = await self.recv()
            out.append(msg)
            if done(msg):
                return out

    async def turn(self) -> list[m.ServerMessage]:
        return await self.until(turn_complete)

    async def closed(self) -> trio_websocket.CloseReason:
        try:
            while True:
                await self.recv()
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
        assert reason is not None
        return reason

    async def send_audio(self, frame: AudioFrame, chunk_ms: int = 20) -> None:
        data = frame.to_bytes()
        step = frame.sample_rate * chunk_ms // 1000 * 2
        for i in range(0, len(data), step):
            await self.send(
                {
                    "realtimeInput": {
                        "audio": {
                            "mimeType": f"audio/pcm;rate={frame.sample_rate}",
                            "data": base64.b64encode(data[i : i + step]).decode(),
                        }
                    }
                }
            )


def turn_complete(msg: m.ServerMessage) -> bool:
    sc = msg.server_content
    return isinstance(sc, m.ServerContent) and sc.turn_complete is True


def content(msg: m.ServerMessage) -> m.ServerContent | None:
    sc = msg.server_content
    return sc if isinstance(sc, m.ServerContent) else None


def audio_chunks(msgs: list[m.ServerMessage]) -> list[bytes]:
    out: list[bytes] = []
    for msg in msgs:
        sc = content(msg)
        if sc is None or not isinstance(sc.model_turn, m.Content):
            continue
        assert isinstance(sc.model_turn.parts, list)
        for part in sc.model_turn.parts:
            assert isinstance(part.inline_data, m.Blob)
            assert part.inline_data.mime_type == "audio/pcm;rate=24000"
            assert isinstance(part.inline_data.data, bytes)
            out.append(part.inline_data.data)
    return out


def transcript(msgs: list[m.ServerMessage], field: str = "output_transcription") -> str:
    text = ""
    for msg in msgs:
        sc = content(msg)
        t = getattr(sc, field, None) if sc is not None else None
        if isinstance(t, m.Transcription) and isinstance(t.text, str):
            text += t.text
    return text


def kinds(msgs: list[m.ServerMessage]) -> list[str]:
    """A compact description of each message, for order assertions."""
    out: list[str] = []
    for msg in msgs:
        sc = content(msg)
        if isinstance(msg.setup_complete, m.SetupComplete):
            out.append("setupComplete")
        elif isinstance(msg.tool_call, m.ToolCall):
            out.append("toolCall")
        elif isinstance(msg.tool_call_cancellation, m.ToolCallCancellation):
            out.append("toolCallCancellation")
        elif isinstance(msg.go_away, m.GoAway):
            out.append("goAway")
        elif isinstance(msg.session_resumption_update, m.SessionResumptionUpdate):
            out.append("resumptionUpdate")
        elif isinstance(msg.voice_activity, m.VoiceActivity):
            out.append(str(msg.voice_activity.voice_activity_type))
        elif sc is not None:
            if isinstance(sc.model_turn, m.Content):
                out.append("audio")
            elif isinstance(sc.output_transcription, m.Transcription):
                out.append("outputTranscription")
            elif isinstance(sc.input_transcription, m.Transcription):
                out.append("inputTranscription")
            elif isinstance(sc.interim_input_transcription, m.Transcription):
                out.append("interim")
            elif sc.generation_complete is True:
                out.append("generationComplete")
            elif sc.interrupted is True:
                out.append("interrupted")
            elif sc.turn_complete is True:
                out.append("turnComplete")
            else:
                out.append("serverContent")
        else:
            out.append("other")
    return out


def squash(names: list[str]) -> list[str]:
    """Collapse runs of audio/transcription messages into one 'speech' entry."""
    out: list[str] = []
    for name in names:
        if name in ("audio", "outputTranscription"):
            name = "speech"
        if not out or out[-1] != name or name not in ("speech", "interim"):
            out.append(name)
    return out


@asynccontextmanager
async def gemini_server(
    speed: float = math.inf, scenario: Scenario | None = None, **options: Any
) -> AsyncIterator[tuple[FakeServer, FakeGemini]]:
    fake = FakeGemini(**options)
    async with open_fake_server(
        handlers={"gemini": fake}, speed=speed, scenario=scenario
    ) as server:
        yield server, fake
    # Every message the fake sent, read by the test or not, is one the SDK accepts
    # and that our codec decodes back to the same typed message.
    for record in fake.connections:
        for msg in record.sent:
            data = codec.encode_server_message(msg).encode()
            sdk_validate(data, vertex="aiplatform" in record.path)
            assert codec.decode_server_message(data) == msg


@asynccontextmanager
async def connect(
    server: FakeServer,
    *,
    key: str | None = "test-key",
    version: str = "v1beta",
    headers: list[tuple[bytes, bytes]] | None = None,
    path: str | None = None,
) -> AsyncIterator[Client]:
    url = server.gemini_url(version) if path is None else server.url + path
    if key is not None:
        url += f"?key={key}"
    async with trio_websocket.open_websocket_url(
        url, extra_headers=headers or [], message_queue_size=1000
    ) as ws:
        yield Client(ws, vertex=path is not None and "aiplatform" in path)


# --------------------------------------------------------------------------- setup


async def test_setup_complete_comes_in_a_binary_frame() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.send({"setup": {"model": MODEL}})
            data = await client.ws.get_message()
            assert data == b'{"setupComplete":{}}'
            record = fake.connections[0]
            assert isinstance(record.setup, m.Setup)
            assert record.setup.model == MODEL
            assert record.received[0] == m.ClientMessage(setup=m.Setup(model=MODEL))


async def test_sdk_style_snake_case_and_urlsafe_base64_are_accepted() -> None:
    # What google-genai actually sends: snake_case keys, URL-safe base64.
    frame = user_utterance("Hello there", 16000)
    raw = frame.to_bytes()
    with trio.fail_after(10):
        async with (
            gemini_server() as (server, fake),
            connect(server, key=None, headers=[(b"x-goog-api-key", b"k")]) as client,
        ):
            await client.send(
                {
                    "setup": {
                        "model": MODEL,
                        "generation_config": {"response_modalities": ["AUDIO"]},
                        "input_audio_transcription": {},
                        "realtime_input_config": {
                            "automatic_activity_detection": {"silence_duration_ms": 300}
                        },
                    }
                }
            )
            assert isinstance((await client.recv()).setup_complete, m.SetupComplete)
            step = 640
            for i in range(0, len(raw), step):
                data = base64.urlsafe_b64encode(raw[i : i + step]).decode()
                await client.send(
                    {
                        "realtime_input": {
                            "audio": {"mime_type": "audio/pcm;rate=16000", "data": data}
                        }
                    }
                )
            msgs = await client.turn()
            assert transcript(msgs, "input_transcription") == "Hello there"
            assert fake.connections[0].close_code is None


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (
            {"realtimeInput": {"text": "hi"}},
            "Request contains an invalid argument.",
        ),
        (
            {"clientContent": {"turnComplete": True}},
            "Request contains an invalid argument.",
        ),
        (
            {"setup": {"model": MODEL, "generationConfig": {"foo": 1}}},
            "Invalid JSON payload received. Unknown name \"foo\" at 'setup.generation_config': "
            "Cannot find field.",
        ),
        (
            {"setup": {"model": MODEL}, "bogus": {}},
            'Invalid JSON payload received. Unknown name "bogus": Cannot find field.',
        ),
        (
            {"bogus": {}},
            'Invalid JSON payload received. Unknown name "bogus": Cannot find field.',
        ),
        (
            {"setup": {"model": MODEL, "sessionResumption": {"transparent": True}}},
            'Invalid JSON payload received. Unknown name "transparent" at '
            "'setup.session_resumption': Cannot find field.",
        ),
        (
            {
                "setup": {
                    "model": MODEL,
                    "tools": [
                        {
                            "functionDeclarations": [
                                {"name": "f", "parameters": {"type": "OBJECT", "const": 1}}
                            ]
                        }
                    ],
                }
            },
            'Invalid JSON payload received. Unknown name "const" at '
            "'setup.tools[0].function_declarations[0].parameters': Cannot find field.",
        ),
    ],
)
async def test_bad_first_message_closes_with_1007(first: dict[str, Any], reason: str) -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.send(first)
            closed = await client.closed()
            # Reasons are cut to 123 bytes, as the service cuts them.
            assert (closed.code, closed.reason) == (1007, truncate_reason(reason))
            assert fake.connections[0].close_code == 1007


async def test_invalid_json_closes_with_1007() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.ws.send_message("{not json")
            closed = await client.closed()
            assert closed.code == 1007
            assert closed.reason == "Invalid JSON payload received. Unexpected token."


async def test_unknown_model_closes_with_1008() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.send({"setup": {"model": "models/gemini-nope"}})
            closed = await client.closed()
            assert closed.code == 1008
            assert closed.reason is not None
            assert closed.reason.startswith(
                "models/gemini-nope is not found for API version v1beta, or is not supported "
                "for bidiGenerateContent."
            )
            assert len(closed.reason.encode()) == 123  # cut as the service cuts it


async def test_missing_and_invalid_keys_close_like_the_service() -> None:
    with trio.fail_after(10):
        async with gemini_server(api_keys=["good-key"]) as (server, _):
            async with connect(server, key=None) as client:
                await client.send({"setup": {"model": MODEL}})
                closed = await client.closed()
                assert closed.code == 1008
                assert closed.reason is not None
                assert closed.reason.startswith(
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity)."
                )
            async with connect(server, key="bad-key") as client:
                await client.send({"setup": {"model": MODEL}})
                closed = await client.closed()
                assert (closed.code, closed.reason) == (
                    1007,
                    "API key not valid. Please pass a valid API key.",
                )
            async with connect(server, key="good-key") as client:
                assert isinstance((await client.setup()).setup_complete, m.SetupComplete)


async def test_second_setup_closes_with_1007() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup()
            await client.send({"setup": {"model": MODEL}})
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1007, "Request contains an invalid argument.")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            {"clientContent": {"turnComplete": "yes"}},
            "Invalid value at 'client_content.turn_complete' (TYPE_BOOL), \"yes\"",
        ),
        (
            {"realtime_input": {"audio": {"mime_type": "audio/pcm", "data": "!!!"}}},
            "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), "
            'Base64 decoding failed for "!!!"',
        ),
        (
            {"realtimeInput": {"text": 5}},
            "Invalid value at 'realtime_input.text' (TYPE_STRING), 5",
        ),
    ],
)
async def test_bad_value_closes_with_1007_naming_the_field(
    message: dict[str, Any], reason: str
) -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup()
            await client.send(message)
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1007, reason)


async def test_setup_value_errors_close_with_1007() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.send(
                {"setup": {"model": MODEL, "generationConfig": {"temperature": "hot"}}}
            )
            closed = await client.closed()
            assert (closed.code, closed.reason) == (
                1007,
                "Invalid value at 'setup.generation_config.temperature' (TYPE_FLOAT), \"hot\"",
            )


async def test_bad_client_does_not_disturb_other_connections() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake):
            async with connect(server) as good, connect(server) as bad:
                await good.setup(outputAudioTranscription={})
                await bad.ws.send_message(b"\xff\xfe not even utf-8")
                closed = await bad.closed()
                assert closed.code == 1007
                await good.send({"realtimeInput": {"text": "still there?"}})
                msgs = await good.turn()
                assert transcript(msgs) == "You said: still there. Thank you."
            assert [r.close_code for r in fake.connections] == [None, 1007]


# --------------------------------------------------------------------------- turns


async def test_text_turn_event_order_stamps_and_usage() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Hello there"}})
            msgs = await client.turn()
            names = kinds(msgs)
            assert squash(names) == ["speech", "generationComplete", "turnComplete"]
            assert names[0] == "audio"
            assert transcript(msgs) == "You said: Hello there. Thank you."
            chunks = audio_chunks(msgs)
            assert all(len(c) == 24000 * 40 // 1000 * 2 for c in chunks)  # 40 ms chunks
            assert check_sequence(read_stamp(c) for c in chunks) == len(chunks)
            usage = msgs[-1].usage_metadata
            assert isinstance(usage, m.UsageMetadata)
            assert usage.response_token_count == round(len(chunks) * 0.04 * 25)
            assert isinstance(usage.prompt_token_count, int)
            assert usage.prompt_token_count > 0
            assert usage.total_token_count == usage.prompt_token_count + usage.response_token_count
            assert usage.response_tokens_details == [
                m.ModalityTokenCount(modality="AUDIO", token_count=usage.response_token_count)
            ]
            assert fake.connections[0].session is not None
            assert fake.connections[0].session.history == [
                ("user", "Hello there"),
                ("assistant", "You said: Hello there. Thank you."),
            ]


async def test_client_content_turn_and_stamps_continue_across_turns() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup(outputAudioTranscription={})
            await client.send(
                {
                    "clientContent": {
                        "turns": [{"role": "user", "parts": [{"text": "First question"}]}],
                        "turnComplete": True,
                    }
                }
            )
            first = await client.turn()
            assert transcript(first) == "You said: First question. Thank you."
            await client.send({"client_content": {"turn_complete": True}})
            second = await client.turn()
            assert transcript(second) == "Hello! How can I help you today?"
            stamps = [read_stamp(c) for c in audio_chunks(first + second)]
            assert check_sequence(stamps) == len(stamps)


async def test_text_modality_replies_with_text_parts() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup(generationConfig={"responseModalities": ["TEXT"]})
            await client.send({"realtimeInput": {"text": "Hi"}})
            msgs = await client.turn()
            text = ""
            for msg in msgs:
                sc = content(msg)
                if sc is not None and isinstance(sc.model_turn, m.Content):
                    assert isinstance(sc.model_turn.parts, list)
                    text += "".join(str(p.text) for p in sc.model_turn.parts)
            assert text == "You said: Hi. Thank you."
            assert kinds(msgs)[-2:] == ["generationComplete", "turnComplete"]


async def test_audio_turn_with_server_vad() -> None:
    speech = user_utterance("What time is it", 16000)
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(inputAudioTranscription={}, outputAudioTranscription={})
            await client.send_audio(speech)
            msgs = await client.turn()
            names = kinds(msgs)
            assert squash(names) == [
                "ACTIVITY_START",
                "interim",
                "ACTIVITY_END",
                "inputTranscription",
                "speech",
                "generationComplete",
                "turnComplete",
            ]
            assert transcript(msgs, "input_transcription") == "What time is it"
            # Interim partials while speaking: cumulative, each replacing the last.
            interims = [
                str(x.server_content.interim_input_transcription.text)
                for x in msgs
                if isinstance(x.server_content, m.ServerContent)
                and isinstance(x.server_content.interim_input_transcription, m.Transcription)
            ]
            assert interims
            assert interims[-1] == "What time is it"
            assert all(later.startswith(earlier) for earlier, later in pairwise(interims))
            assert len(set(interims)) == len(interims)
            assert transcript(msgs) == "You said: What time is it. Thank you."
            start = msgs[0].voice_activity
            assert isinstance(start, m.VoiceActivity)
            assert isinstance(start.audio_offset, m.Duration)
            assert 0.35 <= start.audio_offset.seconds <= 0.45  # 400 ms of leading silence
            usage = msgs[-1].usage_metadata
            assert isinstance(usage, m.UsageMetadata)
            assert isinstance(usage.prompt_tokens_details, list)
            audio_tokens = [
                d.token_count for d in usage.prompt_tokens_details if d.modality == "AUDIO"
            ]
            assert audio_tokens
            assert isinstance(audio_tokens[0], int)
            assert audio_tokens[0] > 0
            record = fake.connections[0]
            assert all(isinstance(msg, m.ClientMessage) for msg in record.received), (
                "every received message is recorded decoded"
            )


async def test_scenario_decides_what_was_heard_and_said() -> None:
    scenario = Scenario(turns=[Turn(heard="book a table", reply="Booked for two.")])
    with trio.fail_after(10):
        async with gemini_server(scenario=scenario) as (server, _), connect(server) as client:
            await client.setup(inputAudioTranscription={}, outputAudioTranscription={})
            await client.send_audio(user_utterance("mumble mumble", 16000))
            msgs = await client.turn()
            assert transcript(msgs, "input_transcription") == "book a table"
            assert transcript(msgs) == "Booked for two."


async def test_audio_stream_end_flushes_the_turn() -> None:
    speech = user_utterance("Are you there", 16000, trail_ms=0)
    with trio.fail_after(10):
        async with gemini_server(voice_activity=False) as (server, _), connect(server) as client:
            await client.setup(inputAudioTranscription={})
            await client.send_audio(speech)
            await client.send({"realtimeInput": {"audioStreamEnd": True}})
            msgs = await client.turn()
            assert next(k for k in kinds(msgs) if k != "interim") == "inputTranscription"
            assert transcript(msgs, "input_transcription") == "Are you there"


async def test_manual_activity_turns() -> None:
    speech = user_utterance("Manual mode works", 16000)
    manual = {"automaticActivityDetection": {"disabled": True}}
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(realtimeInputConfig=manual, inputAudioTranscription={})
            # Audio outside an activity is ignored.
            await client.send_audio(speech)
            await client.send({"realtimeInput": {"activityStart": {}}})
            await client.send_audio(speech)
            await client.send({"realtimeInput": {"activityEnd": {}}})
            msgs = await client.turn()
            assert squash(kinds(msgs)) == [
                "ACTIVITY_START",
                "interim",
                "ACTIVITY_END",
                "inputTranscription",
                "speech",
                "generationComplete",
                "turnComplete",
            ]
            assert transcript(msgs, "input_transcription") == "Manual mode works"
            # An empty activity is fatal.
            await client.send({"realtimeInput": {"activityStart": {}}})
            await client.send({"realtimeInput": {"activityEnd": {}}})
            end = await client.until(turn_complete)
            assert end[-1].usage_metadata == m.UsageMetadata()
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1007, "Precondition check failed.")
            assert fake.connections[0].session is not None
            assert fake.connections[0].session.turns == 1


async def test_barge_in_interrupts_and_no_audio_of_that_turn_follows() -> None:
    long_reply = " ".join(["This is a rather long answer that keeps going."] * 6)
    scenario = Scenario(turns=[Turn(reply=long_reply), Turn(reply="Okay.")])
    with trio.fail_after(15):
        async with gemini_server(speed=1.0, scenario=scenario) as (server, fake):
            async with connect(server) as client:
                await client.setup(outputAudioTranscription={})
                await client.send({"realtimeInput": {"text": "Tell me everything"}})
                first = await client.until(lambda msg: bool(audio_chunks([msg])))
                await client.send_audio(user_utterance("Stop please", 16000))
                rest = await client.until(lambda msg: transcript([msg]).endswith("Okay."))
                rest += await client.turn()
                names = kinds(first + rest)
                cut = names.index("interrupted")
                assert names[cut - 1] == "ACTIVITY_START"
                assert names[cut + 1] == "turnComplete"
                assert "generationComplete" not in names[:cut]
                # After the interruption only the second reply speaks.
                after = rest[rest.index(next(x for x in rest if kinds([x]) == ["interrupted"])) :]
                assert transcript(after) == "Okay."
                spoken_first = transcript(first + rest[: len(rest) - len(after)])
                assert long_reply.startswith(spoken_first)
                assert len(spoken_first) < len(long_reply) / 2
                # Nothing lost, doubled or reordered across the two replies.
                stamps = [read_stamp(c) for c in audio_chunks(first + rest)]
                assert check_sequence(stamps) == len(stamps)
            session = fake.connections[0].session
            assert session is not None
            assert session.history[1] == ("assistant", spoken_first.strip())


async def test_no_interruption_mode_lets_the_reply_finish() -> None:
    scenario = Scenario(turns=[Turn(reply="One two three four five six."), Turn(reply="Next.")])
    config = {"activityHandling": "NO_INTERRUPTION"}
    with trio.fail_after(15):
        async with gemini_server(speed=2.0, scenario=scenario) as (server, _):
            async with connect(server) as client:
                await client.setup(outputAudioTranscription={}, realtimeInputConfig=config)
                await client.send({"realtimeInput": {"text": "Count"}})
                await client.until(lambda msg: bool(audio_chunks([msg])))
                await client.send_audio(user_utterance("Wait", 16000))
                first = await client.turn()
                second = await client.turn()
                assert "interrupted" not in kinds(first + second)
                assert transcript(first) == "One two three four five six."
                assert transcript(second) == "Next."


# --------------------------------------------------------------------------- tools


async def test_tool_call_then_response_then_speech() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(tools=[WEATHER_TOOL], outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Use get_weather for Paris"}})
            call_msg = await client.recv()
            assert isinstance(call_msg.tool_call, m.ToolCall)
            assert isinstance(call_msg.tool_call.function_calls, list)
            (call,) = call_msg.tool_call.function_calls
            assert call.name == "get_weather"
            assert call.args == {"city": "example"}
            assert isinstance(call.id, str)
            assert call.id.startswith("function-call-")
            await client.send(
                {
                    "toolResponse": {
                        "functionResponses": [
                            {
                                "id": call.id,
                                "name": "get_weather",
                                "response": {"output": {"tempC": 21}},
                            }
                        ]
                    }
                }
            )
            msgs = await client.turn()
            assert squash(kinds(msgs)) == ["speech", "generationComplete", "turnComplete"]
            assert transcript(msgs) == 'Done. get_weather returned {"tempC": 21}.'
            record = fake.connections[0]
            assert [r.id for r in record.tool_responses] == [call.id]
            assert record.unmatched_tool_responses == []


async def test_scripted_tool_call_and_unmatched_response() -> None:
    plan = PlannedToolCall("get_weather", {"city": "Oslo"}, call_id="function-call-7")
    scenario = Scenario(turns=[Turn(tool_calls=[plan], reply="It is cold in Oslo.")])
    with trio.fail_after(10):
        async with gemini_server(scenario=scenario) as (server, fake), connect(server) as client:
            await client.setup(tools=[WEATHER_TOOL], outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Anything"}})
            call_msg = await client.recv()
            assert isinstance(call_msg.tool_call, m.ToolCall)
            assert call_msg.tool_call.function_calls == [
                m.FunctionCall(id="function-call-7", name="get_weather", args={"city": "Oslo"})
            ]
            await client.send(
                {
                    "tool_response": {
                        "function_responses": [{"id": "nope", "name": "x", "response": {}}]
                    }
                }
            )
            await client.send(
                {
                    "toolResponse": {
                        "functionResponses": [
                            {
                                "id": "function-call-7",
                                "name": "get_weather",
                                "response": {"output": "-5C"},
                            }
                        ]
                    }
                }
            )
            msgs = await client.turn()
            assert transcript(msgs) == "It is cold in Oslo."
            record = fake.connections[0]
            assert [r.id for r in record.unmatched_tool_responses] == ["nope"]


async def test_tool_response_without_id_closes_with_1007() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup(tools=[WEATHER_TOOL])
            await client.send({"realtimeInput": {"text": "get weather please"}})
            assert isinstance((await client.recv()).tool_call, m.ToolCall)
            await client.send(
                {"toolResponse": {"functionResponses": [{"name": "get_weather", "response": {}}]}}
            )
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1007, "Request contains an invalid argument.")


async def test_barge_in_during_a_tool_call_cancels_it() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(tools=[WEATHER_TOOL], outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "call get_weather now"}})
            call_msg = await client.recv()
            assert isinstance(call_msg.tool_call, m.ToolCall)
            assert isinstance(call_msg.tool_call.function_calls, list)
            call_id = call_msg.tool_call.function_calls[0].id
            await client.send_audio(user_utterance("Never mind", 16000))
            msgs = await client.until(lambda msg: kinds([msg]) == ["turnComplete"])
            assert kinds(msgs) == [
                "ACTIVITY_START",
                "toolCallCancellation",
                "interrupted",
                "turnComplete",
            ]
            cancel = msgs[1].tool_call_cancellation
            assert isinstance(cancel, m.ToolCallCancellation)
            assert cancel.ids == [call_id]
            nxt = await client.turn()
            assert transcript(nxt) == "You said: Never mind. Thank you."
            # A late response to the cancelled call is recorded, not fatal.
            await client.send(
                {
                    "toolResponse": {
                        "functionResponses": [
                            {"id": call_id, "name": "get_weather", "response": {"output": 1}}
                        ]
                    }
                }
            )
            await client.send({"realtimeInput": {"text": "ok"}})
            assert transcript(await client.turn()) == "You said: ok. Thank you."
            assert [r.id for r in fake.connections[0].unmatched_tool_responses] == [call_id]


# --------------------------------------------------------------------------- resumption


async def test_resumption_go_away_and_resume_on_a_new_connection() -> None:
    scenario = Scenario(turns=[Turn(reply="First reply."), Turn(reply="Second reply.")])
    with trio.fail_after(15):
        async with gemini_server(
            scenario=scenario, connection_lifetime=1.5, go_away_notice=1.0
        ) as (server, fake):
            async with connect(server) as client:
                await client.setup(sessionResumption={}, outputAudioTranscription={})
                update = await client.recv()
                assert isinstance(update.session_resumption_update, m.SessionResumptionUpdate)
                assert update.session_resumption_update.resumable is True
                await client.send({"realtimeInput": {"text": "one"}})
                msgs = await client.until(
                    lambda msg: (
                        isinstance(msg.session_resumption_update, m.SessionResumptionUpdate)
                        and msg.session_resumption_update.resumable is True
                    )
                )
                assert transcript(msgs) == "First reply."
                # While the model generates, the session is not resumable (no handle).
                assert kinds(msgs)[0] == "resumptionUpdate"
                assert msgs[0].session_resumption_update == m.SessionResumptionUpdate(
                    resumable=False
                )
                assert kinds(msgs)[-2:] == ["turnComplete", "resumptionUpdate"]
                last = msgs[-1].session_resumption_update
                assert isinstance(last, m.SessionResumptionUpdate)
                handle = last.new_handle
                assert isinstance(handle, str)
                first_usage = next(
                    x.usage_metadata for x in msgs if isinstance(x.usage_metadata, m.UsageMetadata)
                )
                go_away = await client.recv()
                assert isinstance(go_away.go_away, m.GoAway)
                assert go_away.go_away.time_left == m.Duration("1s")
                closed = await client.closed()  # the client ignored the goAway
                assert closed.code == 1008
                assert closed.reason is not None
                assert closed.reason.startswith(
                    "Connection aborted because the client failed to close the connection "
                    "after receiving a GoAway signal"
                )
            async with connect(server) as client:
                await client.setup(
                    sessionResumption={"handle": handle}, outputAudioTranscription={}
                )
                await client.recv()  # a fresh handle
                await client.send({"realtimeInput": {"text": "two"}})
                msgs = await client.turn()
                assert transcript(msgs) == "Second reply."  # the conversation went on
                usage = msgs[-1].usage_metadata
                assert isinstance(usage, m.UsageMetadata)
                assert isinstance(usage.prompt_token_count, int)
                assert isinstance(first_usage.prompt_token_count, int)
                assert usage.prompt_token_count > first_usage.prompt_token_count
            session = fake.session_for_handle(handle)
            assert session is not None
            assert session.turns == 2
            assert session.connections == 2
            assert session.history == [
                ("user", "one"),
                ("assistant", "First reply."),
                ("user", "two"),
                ("assistant", "Second reply."),
            ]
            assert [r.resumed for r in fake.connections] == [False, True]


async def test_unknown_resumption_handle_closes_with_1008() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.send({"setup": {"model": MODEL, "sessionResumption": {"handle": "nope"}}})
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1008, "BidiGenerateContent session not found")


# --------------------------------------------------------------------------- faults


async def test_fault_hooks_fire_at_the_named_moments() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _):
            server.inject(CloseAt("mid_audio", 1011, "boom"))
            async with connect(server) as client:
                await client.setup()
                await client.send({"realtimeInput": {"text": "hello"}})
                msg = await client.recv()
                assert audio_chunks([msg])
                closed = await client.closed()
                assert (closed.code, closed.reason) == (1011, "boom")
            server.inject(CloseAt("before_setup", 1011, "early"))
            async with connect(server) as client:
                await client.send({"setup": {"model": MODEL}})
                closed = await client.closed()
                assert (closed.code, closed.reason) == (1011, "early")
            server.inject(CloseAt("mid_tool_call", 1011, "tool"))
            async with connect(server) as client:
                await client.setup(tools=[WEATHER_TOOL])
                await client.send({"realtimeInput": {"text": "get_weather"}})
                assert isinstance((await client.recv()).tool_call, m.ToolCall)
                closed = await client.closed()
                assert (closed.code, closed.reason) == (1011, "tool")
            assert all(conn.error is None for conn in server.connections)


# --------------------------------------------------------------------------- routes


async def test_constrained_endpoint_takes_an_access_token() -> None:
    path = (
        "//ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    )
    from trio_realtime.testing.tokens import GeminiTokenRecord

    with trio.fail_after(10):
        async with gemini_server() as (server, fake):
            # Tokens the server issued (its token endpoint fills this store).
            for name in ("auth_tokens/abc", "auth_tokens/x"):
                server.tokens.gemini[name] = GeminiTokenRecord(
                    name, time.time() + 600, time.time() + 60, 1, None, None
                )
            async with connect(server, key=None, path=path + "?access_token=auth_tokens/abc") as c:
                assert isinstance((await c.setup()).setup_complete, m.SetupComplete)
            async with connect(
                server, key=None, path=path, headers=[(b"authorization", b"Token auth_tokens/x")]
            ) as c:
                assert isinstance((await c.setup()).setup_complete, m.SetupComplete)
            # A token used up (one use each here), or one it never issued, is refused.
            for token in ("auth_tokens/abc", "auth_tokens/never-issued"):
                async with connect(server, key=None, path=f"{path}?access_token={token}") as c:
                    await c.send({"setup": {"model": MODEL}})
                    closed = await c.closed()
                    assert (closed.code, closed.reason) == (
                        1007,
                        "API key not valid. Please pass a valid API key.",
                    )
            assert [r.close_code for r in fake.connections] == [None, None, 1007, 1007]


async def test_vertex_route_uses_vertex_names() -> None:
    path = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    model = "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio"
    with trio.fail_after(10):
        async with (
            gemini_server() as (server, _),
            connect(
                server, key=None, path=path, headers=[(b"authorization", b"Bearer ya29.token")]
            ) as client,
        ):
            # ``transparent`` is a Vertex-only field: accepted here.
            await client.send(
                {"setup": {"model": model, "sessionResumption": {"transparent": True}}}
            )
            assert isinstance((await client.recv()).setup_complete, m.SetupComplete)
            await client.recv()  # resumption update
            await client.send({"realtimeInput": {"text": "hi"}})
            msgs = await client.turn()
            usage = msgs[-1].usage_metadata
            assert isinstance(usage, m.UsageMetadata)
            assert usage.response_token_count is NOT_GIVEN
            assert isinstance(usage.candidates_token_count, int)
            assert usage.candidates_token_count > 0


async def test_resuming_while_the_old_connection_is_open_is_refused() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _):  # the service does not wait
            async with connect(server) as old:
                await old.setup(sessionResumption={})
                update = (await old.recv()).session_resumption_update
                assert isinstance(update, m.SessionResumptionUpdate)
                async with connect(server) as new:
                    await new.send(
                        {
                            "setup": {
                                "model": MODEL,
                                "sessionResumption": {"handle": update.new_handle},
                            }
                        }
                    )
                    closed = await new.closed()
                    assert (closed.code, closed.reason) == (1011, "Internal error occurred.")
                # The old connection still works.
                await old.send({"realtimeInput": {"text": "still here"}})
                assert kinds(await old.turn())[-1] == "turnComplete"


async def test_connection_lifetime_is_in_service_seconds_scaled_by_speed() -> None:
    scenario = Scenario(turns=[Turn(reply="Hi.")])
    with trio.fail_after(10):
        async with gemini_server(
            speed=300.0, scenario=scenario, connection_lifetime=600.0, go_away_notice=60.0
        ) as (server, _):
            async with connect(server) as client:
                start = trio.current_time()
                await client.setup(sessionResumption={})
                go_away = await client.until(lambda msg: isinstance(msg.go_away, m.GoAway))
                assert isinstance(go_away[-1].go_away, m.GoAway)
                left = go_away[-1].go_away.time_left
                assert isinstance(left, m.Duration)
                assert left.seconds == pytest.approx(0.2)  # 60 s at 300x
                closed = await client.closed()
                assert closed.code == 1008
                assert 1.9 < trio.current_time() - start < 4.0  # 600 s at 300x


async def test_resuming_an_older_handle_rolls_the_conversation_back() -> None:
    scenario = Scenario(turns=[Turn(reply="One."), Turn(reply="Two."), Turn(reply="Again.")])
    with trio.fail_after(10):
        async with gemini_server(scenario=scenario) as (server, fake):
            async with connect(server) as client:
                await client.setup(sessionResumption={})
                first = (await client.recv()).session_resumption_update
                assert isinstance(first, m.SessionResumptionUpdate)
                await client.send({"realtimeInput": {"text": "a"}})
                await client.turn()
            async with connect(server) as client:
                await client.setup(sessionResumption={"handle": first.new_handle})
                await client.recv()
            assert isinstance(first.new_handle, str)
            session = fake.session_for_handle(first.new_handle)
            assert session is not None
            # The reply after the first handle is not part of the resumed session.
            assert session.history == []
            assert session.turns == 0


async def test_activity_signals_need_manual_mode() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup()
            await client.send({"realtimeInput": {"activityStart": {}}})
            closed = await client.closed()
            assert (closed.code, closed.reason) == (1007, "Precondition check failed.")


async def test_text_frames_switch() -> None:
    with trio.fail_after(10):
        async with gemini_server(text_frames=True) as (server, _), connect(server) as client:
            await client.send({"setup": {"model": MODEL}})
            assert await client.ws.get_message() == '{"setupComplete":{}}'


# --------------------------------------------------------------------------- robustness and timing


@pytest.mark.parametrize(
    "message",
    [
        "[]",
        "null",
        "{}",
        '{"realtimeInput": {"audio": {"mimeType": "image/jpeg", "data": "AAAA"}}}',
        '{"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=abc", "data": "AAAA"}}}',
        '{"realtimeInput": {"audio": {"data": "AAAA"}}}',
        '{"toolResponse": {"functionResponses": [{"id": 3}]}}',
        '{"clientContent": {"turns": "x"}}',
        '{"clientContent": {"turns": [{"parts": [{"inlineData": {"wat": 1}}]}]}}',
        '{"realtimeInput": {"activityEnd": {"x": 1}}}',
    ],
)
async def test_bad_input_closes_with_1007_and_never_crashes(message: str) -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, fake):
            async with connect(server) as good, connect(server) as bad:
                await good.setup(outputAudioTranscription={})
                await bad.setup()
                await bad.ws.send_message(message)
                closed = await bad.closed()
                assert closed.code == 1007
                await good.send({"realtimeInput": {"text": "fine"}})
                assert transcript(await good.turn()) == "You said: fine. Thank you."
            assert all(conn.error is None for conn in server.connections)
            assert fake.connections[1].close_code == 1007


async def test_reply_audio_is_paced_at_speed_times_real_time() -> None:
    speed = 4.0
    with trio.fail_after(15):
        async with gemini_server(speed=speed) as (server, _), connect(server) as client:
            await client.setup()
            await client.send({"realtimeInput": {"text": "Pace this reply please"}})
            first = await client.until(lambda msg: bool(audio_chunks([msg])))
            start = trio.current_time()
            rest = await client.turn()
            elapsed = trio.current_time() - start
            duration = len(audio_chunks(first + rest)) * 0.040
            # The first chunk comes at once; turnComplete when playback would end.
            assert elapsed >= 0.9 * duration / speed
            assert elapsed <= duration / speed + 1.0
            names = kinds(rest)
            assert names[-2:] == ["generationComplete", "turnComplete"]


async def test_client_content_interrupts_a_reply_in_progress() -> None:
    scenario = Scenario(turns=[Turn(reply="A long " * 30 + "reply."), Turn(reply="Sure.")])
    with trio.fail_after(15):
        async with (
            gemini_server(speed=1.0, scenario=scenario) as (server, _),
            connect(server) as client,
        ):
            await client.setup(outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Talk"}})
            await client.until(lambda msg: bool(audio_chunks([msg])))
            await client.send(
                {
                    "clientContent": {
                        "turns": [{"role": "user", "parts": [{"text": "Stop"}]}],
                        "turnComplete": True,
                    }
                }
            )
            msgs = await client.until(lambda msg: kinds([msg]) == ["interrupted"])
            assert "generationComplete" not in kinds(msgs)
            after = await client.turn()
            assert kinds(after)[0] == "turnComplete"
            assert transcript(await client.turn()) == "Sure."


async def test_initial_history_in_client_content_does_not_generate() -> None:
    def responder(heard: str, context: ReplyContext) -> Reply:
        return Reply(text=f"I know {len(context.history)} things.")

    with trio.fail_after(10):
        async with gemini_server(scenario=Scenario(responder=responder)) as (server, fake):
            async with connect(server) as client:
                await client.setup(
                    historyConfig={"initialHistoryInClientContent": True},
                    outputAudioTranscription={},
                )
                await client.send(
                    {
                        "clientContent": {
                            "turns": [
                                {"role": "user", "parts": [{"text": "My name is Ada"}]},
                                {"role": "model", "parts": [{"text": "Hello Ada"}]},
                            ],
                            "turnComplete": True,
                        }
                    }
                )
                await client.send({"realtimeInput": {"text": "What is my name?"}})
                msgs = await client.turn()
                assert transcript(msgs) == "I know 3 things."
            session = fake.connections[0].session
            assert session is not None
            assert session.history[:3] == [
                ("user", "My name is Ada"),
                ("assistant", "Hello Ada"),
                ("user", "What is my name?"),
            ]


async def test_resumption_handles_expire() -> None:
    with trio.fail_after(10):
        async with gemini_server(handle_ttl=0.1) as (server, fake):
            async with connect(server) as client:
                await client.setup(sessionResumption={})
                update = (await client.recv()).session_resumption_update
                assert isinstance(update, m.SessionResumptionUpdate)
            await (await server.connection(1)).wait_closed()
            assert fake.connections[0].session is not None
            assert fake.connections[0].session.attached is None
            await trio.sleep(0.2)
            async with connect(server) as client:
                await client.send(
                    {"setup": {"model": MODEL, "sessionResumption": {"handle": update.new_handle}}}
                )
                closed = await client.closed()
                assert (closed.code, closed.reason) == (
                    1008,
                    "BidiGenerateContent session not found",
                )


async def test_client_content_history_then_the_last_user_turn_is_answered() -> None:
    turns = [
        {"role": "user", "parts": [{"text": "What is the capital of France?"}]},
        {"role": "model", "parts": [{"text": "Paris."}]},
        {"role": "user", "parts": [{"text": "And of Germany?"}]},
    ]
    with trio.fail_after(10):
        async with gemini_server() as (server, fake), connect(server) as client:
            await client.setup(outputAudioTranscription={})
            await client.send({"clientContent": {"turns": turns[:2]}})
            await client.send({"clientContent": {"turns": turns[2:], "turnComplete": True}})
            msgs = await client.turn()
            assert transcript(msgs) == "You said: And of Germany. Thank you."
            session = fake.connections[0].session
            assert session is not None
            assert session.history == [
                ("user", "What is the capital of France?"),
                ("assistant", "Paris."),
                ("user", "And of Germany?"),
                ("assistant", "You said: And of Germany. Thank you."),
            ]


async def test_other_input_rates_are_resampled() -> None:
    # Resampling destroys the hidden transcript: the fake hears speech it cannot
    # transcribe, as it would real speech, and says so.
    speech = user_utterance("Resample me", 24000)
    with trio.fail_after(10):
        async with gemini_server() as (server, _fake), connect(server) as client:
            await client.setup(inputAudioTranscription={}, outputAudioTranscription={})
            await client.send_audio(speech)
            msgs = await client.turn()
            assert squash(kinds(msgs))[:2] == ["ACTIVITY_START", "ACTIVITY_END"]
            assert transcript(msgs, "input_transcription") == UNTRANSCRIBED
            assert transcript(msgs) == f"You said: {UNTRANSCRIBED}. Thank you."
            end = msgs[1].voice_activity
            assert isinstance(end, m.VoiceActivity)
            assert isinstance(end.audio_offset, m.Duration)
            # The offset is in input seconds, whatever the rate.
            assert end.audio_offset.seconds <= speech.duration + 0.05


async def test_a_client_that_stops_reading_cannot_hold_the_connection_open() -> None:
    long_reply = "Words and more words, going on and on. " * 10
    scenario = Scenario(turns=[Turn(reply=long_reply)])
    with trio.fail_after(20):
        async with (
            gemini_server(scenario=scenario, connection_lifetime=1.5, go_away_notice=0.5) as (
                server,
                fake,
            ),
            trio.open_nursery() as nursery,
        ):
            # A client with a tiny receive buffer and a one-message queue that
            # never reads again: the server's sends block once the socket fills.
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", server.port))
            resource = server.gemini_url().split(str(server.port), 1)[1] + "?key=k"
            ws = await trio_websocket.wrap_client_stream(
                nursery, trio.SocketStream(sock), "127.0.0.1", resource, message_queue_size=1
            )
            await ws.send_message(json.dumps({"setup": {"model": MODEL}}))
            await ws.send_message(json.dumps({"realtimeInput": {"text": "go"}}))
            conn = await server.connection(1)
            await conn.wait_closed()
            record = fake.connections[0]
            assert record.close_code == 1008
            sent = [msg for msg in record.sent if isinstance(msg, m.ServerMessage)]
            assert audio_chunks(sent)  # the reply was under way when the client stalled
            nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- history-aware replies


async def test_default_reply_recalls_initial_history() -> None:
    with trio.fail_after(10):
        async with gemini_server() as (server, _fake), connect(server) as client:
            await client.setup(
                historyConfig={"initialHistoryInClientContent": True}, outputAudioTranscription={}
            )
            seeded = [
                {"role": "user", "parts": [{"text": "My order number is 42"}]},
                {"role": "model", "parts": [{"text": "Noted."}]},
            ]
            await client.send({"clientContent": {"turns": seeded, "turnComplete": True}})
            await client.send({"realtimeInput": {"text": "What did I say before?"}})
            msgs = await client.turn()
            assert transcript(msgs) == "Before this you said: My order number is 42"


async def test_client_content_without_turn_complete_is_context_for_realtime_input() -> None:
    seen: list[list[tuple[str, str]]] = []

    def responder(heard: str, context: ReplyContext) -> Reply:
        seen.append(list(context.history))
        return Reply(text="Sure.")

    with trio.fail_after(10):
        async with gemini_server(scenario=Scenario(responder=responder)) as (server, fake):
            async with connect(server) as client:
                await client.setup(outputAudioTranscription={})
                seeded = [
                    {"role": "user", "parts": [{"text": "I live in Oslo"}]},
                    {"role": "model", "parts": [{"text": "Lovely city."}]},
                ]
                await client.send({"clientContent": {"turns": seeded}})  # no generation
                await client.send({"realtimeInput": {"text": "Any plans?"}})
                msgs = await client.turn()
                assert transcript(msgs) == "Sure."
            assert seen == [
                [("user", "I live in Oslo"), ("assistant", "Lovely city."), ("user", "Any plans?")]
            ]
            session = fake.connections[0].session
            assert session is not None
            assert session.history[-1] == ("assistant", "Sure.")


async def test_resumed_session_recalls_what_was_said_before() -> None:
    with trio.fail_after(15):
        async with gemini_server() as (server, _fake):
            async with connect(server) as client:
                await client.setup(sessionResumption={}, outputAudioTranscription={})
                await client.recv()  # the first handle
                await client.send({"realtimeInput": {"text": "My seat is 14C"}})
                msgs = await client.until(
                    lambda msg: (
                        isinstance(msg.session_resumption_update, m.SessionResumptionUpdate)
                        and msg.session_resumption_update.resumable is True
                    )
                )
                update = msgs[-1].session_resumption_update
                assert isinstance(update, m.SessionResumptionUpdate)
                handle = update.new_handle
                assert isinstance(handle, str)
            async with connect(server) as client:
                await client.setup(
                    sessionResumption={"handle": handle}, outputAudioTranscription={}
                )
                await client.recv()
                await client.send({"realtimeInput": {"text": "What did I say before?"}})
                msgs = await client.turn()
                assert transcript(msgs) == "Before this you said: My seat is 14C"


async def test_interim_transcription_needs_input_transcription_and_can_be_off() -> None:
    speech = user_utterance("What time is it", 16000)
    cases: list[tuple[bool, dict[str, Any]]] = [
        (True, {"outputAudioTranscription": {}}),
        (False, {"inputAudioTranscription": {}}),
    ]
    for interim, setup in cases:
        with trio.fail_after(10):
            async with (
                gemini_server(interim_transcription=interim) as (server, _),
                connect(server) as client,
            ):
                await client.setup(**setup)
                await client.send_audio(speech)
                msgs = await client.turn()
                assert "interim" not in kinds(msgs)
                assert "ACTIVITY_END" in kinds(msgs)


# --------------------------------------------------------------------------- NON_BLOCKING functions

LOOKUP = {
    "functionDeclarations": [
        {
            "name": "lookup_order",
            "description": "Find an order",
            "behavior": "NON_BLOCKING",
            "parameters": {"type": "OBJECT", "properties": {"id": {"type": "STRING"}}},
        }
    ]
}
STORY = "This is a rather long answer that keeps going for a while."


async def _non_blocking_turns(scheduling: str) -> tuple[list[str], list[str], FakeGemini]:
    """Call a NON_BLOCKING function, start a long reply, answer the call mid-reply."""
    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[PlannedToolCall("lookup_order", {"id": "42"})], reply="Order 42 ships."
            ),
            Turn(reply=STORY),
        ]
    )
    async with gemini_server(speed=2.0, scenario=scenario) as (server, fake):
        async with connect(server) as client:
            await client.setup(tools=[LOOKUP], outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Check order 42"}})
            first = await client.turn()
            # The model does not wait for the result: the turn ends after the call.
            assert kinds(first) == ["toolCall", "turnComplete"]
            call = first[0].tool_call
            assert isinstance(call, m.ToolCall)
            assert isinstance(call.function_calls, list)
            call_id = call.function_calls[0].id
            await client.send({"realtimeInput": {"text": "Tell me a story"}})
            story = await client.until(lambda msg: bool(audio_chunks([msg])))
            response = {
                "id": call_id,
                "name": "lookup_order",
                "response": {"output": {"status": "shipped"}},
                "scheduling": scheduling,
            }
            await client.send({"toolResponse": {"functionResponses": [response]}})
            story += await client.turn()
            later: list[m.ServerMessage] = []
            if scheduling != "SILENT":
                later = await client.turn()
            await client.send({"realtimeInput": {"text": "Anything else"}})
            last = await client.turn()
    said = [transcript(story), transcript(later), transcript(last)]
    return said, kinds(story), fake


async def test_non_blocking_when_idle_answers_after_the_current_reply() -> None:
    with trio.fail_after(20):
        said, story, _ = await _non_blocking_turns("WHEN_IDLE")
    assert "interrupted" not in story
    assert said == [STORY, "Order 42 ships.", "You said: Anything else. Thank you."]


async def test_non_blocking_interrupt_stops_the_reply_and_answers_now() -> None:
    with trio.fail_after(20):
        said, story, _ = await _non_blocking_turns("INTERRUPT")
    assert story[-2:] == ["interrupted", "turnComplete"]
    assert said[0] != STORY
    assert STORY.startswith(said[0])
    assert said[1:] == ["Order 42 ships.", "You said: Anything else. Thank you."]


async def test_non_blocking_silent_only_adds_the_result_to_the_context() -> None:
    with trio.fail_after(20):
        said, story, fake = await _non_blocking_turns("SILENT")
    assert "interrupted" not in story
    assert said == [STORY, "", "You said: Anything else. Thank you."]
    session = fake.connections[0].session
    assert session is not None
    assert ("tool", 'lookup_order returned {"status": "shipped"}') in session.history


async def test_blocking_functions_still_wait_for_their_result() -> None:
    blocking = {
        "functionDeclarations": [{**LOOKUP["functionDeclarations"][0], "behavior": "BLOCKING"}]
    }
    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("lookup_order", {"id": "42"})], reply="Shipped.")]
    )
    with trio.fail_after(10):
        async with gemini_server(scenario=scenario) as (server, _), connect(server) as client:
            await client.setup(tools=[blocking], outputAudioTranscription={})
            await client.send({"realtimeInput": {"text": "Check order 42"}})
            msg = await client.recv()
            assert isinstance(msg.tool_call, m.ToolCall)
            assert isinstance(msg.tool_call.function_calls, list)
            with trio.move_on_after(0.3):
                early = await client.recv()
                raise AssertionError(f"the turn went on without the result: {early}")
            call_id = msg.tool_call.function_calls[0].id
            response = {"id": call_id, "name": "lookup_order", "response": {"output": "ok"}}
            await client.send({"toolResponse": {"functionResponses": [response]}})
            assert transcript(await client.turn()) == "Shipped."


async def test_usage_details_count_image_frames() -> None:
    jpeg = base64.b64encode(b"\xff\xd8\xff" + bytes(2000)).decode()
    with trio.fail_after(10):
        async with gemini_server() as (server, _), connect(server) as client:
            await client.setup(outputAudioTranscription={})
            for _ in range(2):
                await client.send(
                    {"realtimeInput": {"video": {"mimeType": "image/jpeg", "data": jpeg}}}
                )
            await client.send({"realtimeInput": {"text": "What do you see?"}})
            msgs = await client.turn()
    usage = msgs[-1].usage_metadata
    assert isinstance(usage, m.UsageMetadata)
    assert isinstance(usage.prompt_tokens_details, list)
    by_modality = {d.modality: d.token_count for d in usage.prompt_tokens_details}
    assert by_modality["IMAGE"] == 2 * 258
    assert isinstance(by_modality["TEXT"], int)
    assert usage.prompt_token_count == sum(v for v in by_modality.values() if isinstance(v, int))
    assert isinstance(usage.response_tokens_details, list)
    assert [d.modality for d in usage.response_tokens_details] == ["AUDIO"]
