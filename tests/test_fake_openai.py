"""The fake OpenAI Realtime service over loopback, driven by a plain WebSocket client.

Every server event is checked twice on arrival: it must decode with our codec to
a typed (not ``Unknown…``) class, and validate against the official SDK's
``RealtimeServerEvent`` pydantic types.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pydantic
import pytest
import trio
import trio_websocket
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.realtime import RealtimeServerEvent

from trio_realtime.audio import AudioFrame
from trio_realtime.openai.codec import decode_server_event
from trio_realtime.testing.faults import CloseAt
from trio_realtime.testing.openai import (
    FakeOpenAI,
    OpenAIConnectionState,
    g711_decode,
    g711_encode,
)
from trio_realtime.testing.scenario import (
    PlannedToolCall,
    Reply,
    ReplyContext,
    Scenario,
    Turn,
    default_responder,
)
from trio_realtime.testing.server import FakeServer, Route, open_fake_server
from trio_realtime.testing.vad import EnergyVAD, SpeechStart, SpeechStop
from trio_realtime.testing.voice import check_sequence, read_stamps, synthesize, user_utterance

SDK_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
INF = float("inf")
ID = {
    "event": re.compile(r"^event_[A-Za-z0-9]{21}$"),
    "sess": re.compile(r"^sess_[A-Za-z0-9]{21}$"),
    "resp": re.compile(r"^resp_[A-Za-z0-9]{21}$"),
    "item": re.compile(r"^item_[A-Za-z0-9]{21}$"),
    "call": re.compile(r"^call_[A-Za-z0-9]{16}$"),
    "conv": re.compile(r"^conv_[A-Za-z0-9]{21}$"),
}
LONG_REPLY = (
    "Our store opens at nine in the morning and closes at six in the evening, every day "
    "of the week except Sunday, when we open at ten and close at four in the afternoon."
)


class Client:
    """A bare OpenAI Realtime client: JSON over trio-websocket, nothing else."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, **event: Any) -> None:
        await self.ws.send_message(json.dumps(event))

    async def recv(self) -> dict[str, Any]:
        text = await self.ws.get_message()
        assert isinstance(text, str), "the service sends text frames only"
        typed = decode_server_event(text)
        assert not type(typed).__name__.startswith("Unknown"), text[:200]
        event: dict[str, Any] = json.loads(text)
        SDK_EVENT.validate_python(event)
        assert ID["event"].match(event["event_id"]), event["event_id"]
        self.events.append(event)
        return event

    async def until(self, kind: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while True:
            event = await self.recv()
            got.append(event)
            if event["type"] == kind:
                return got

    async def append(self, frame: AudioFrame, chunk_ms: int = 20) -> None:
        data = frame.samples.astype("<i2").tobytes()
        step = 48 * chunk_ms
        for i in range(0, len(data), step):
            audio = base64.b64encode(data[i : i + step]).decode()
            await self.send(type="input_audio_buffer.append", audio=audio)


@asynccontextmanager
async def fake(
    *, speed: float = INF, scenario: Scenario | None = None, **options: Any
) -> AsyncIterator[tuple[FakeServer, FakeOpenAI]]:
    handler = FakeOpenAI(**options)
    async with open_fake_server(speed=speed, scenario=scenario, handlers={"openai": handler}) as s:
        yield s, handler


@asynccontextmanager
async def connect(
    server: FakeServer,
    query: str = "?model=gpt-realtime",
    headers: Sequence[tuple[str, str]] = (("Authorization", "Bearer sk-test"),),
) -> AsyncIterator[Client]:
    async with trio_websocket.open_websocket_url(
        server.openai_url + query,
        extra_headers=[(k.encode(), v.encode()) for k, v in headers],
        max_message_size=2**24,
    ) as ws:
        yield Client(ws)


async def configure(client: Client, **session: Any) -> dict[str, Any]:
    created = await client.recv()
    assert created["type"] == "session.created"
    if session:
        await client.send(type="session.update", session={"type": "realtime", **session})
        updated = await client.recv()
        assert updated["type"] == "session.updated", updated
        return updated["session"]  # type: ignore[no-any-return]
    return created["session"]  # type: ignore[no-any-return]


def types(events: Sequence[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def audio_of(events: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# --------------------------------------------------------------------------- session


async def test_session_created_is_full_default_and_update_merges() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            created = await client.recv()
            assert created["type"] == "session.created"
            s = created["session"]
            assert ID["sess"].match(s["id"])
            assert s["object"] == "realtime.session"
            assert s["model"] == "gpt-realtime"
            assert s["output_modalities"] == ["audio"]
            assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
            assert s["audio"]["input"]["turn_detection"] == {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            }
            assert s["audio"]["input"]["transcription"] is None
            assert s["audio"]["output"] == {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "alloy",
                "speed": 1.0,
            }
            assert abs(s["expires_at"] - (time.time() + 3600)) < 60
            assert s["tools"] == []
            assert s["tool_choice"] == "auto"
            assert s["max_output_tokens"] == "inf"

            await client.send(
                type="session.update",
                event_id="cli_1",
                session={
                    "type": "realtime",
                    "instructions": "Be terse.",
                    "audio": {
                        "input": {
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 600},
                            "transcription": {"model": "gpt-4o-mini-transcribe"},
                        },
                        "output": {"voice": "marin"},
                    },
                },
            )
            updated = await client.recv()
            assert updated["type"] == "session.updated"
            u = updated["session"]
            assert u["id"] == s["id"]
            assert u["instructions"] == "Be terse."
            td = u["audio"]["input"]["turn_detection"]
            assert td["silence_duration_ms"] == 600
            assert td["threshold"] == 0.5
            assert td["prefix_padding_ms"] == 300
            assert u["audio"]["input"]["transcription"] == {
                "model": "gpt-4o-mini-transcribe",
                "language": None,
                "prompt": None,
            }
            assert u["audio"]["output"]["voice"] == "marin"
            assert u["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize(
    ("session", "code", "message", "param"),
    [
        (
            {"instructions": "x"},
            "missing_required_parameter",
            "Missing required parameter: 'session.type'.",
            "session.type",
        ),
        (
            {"type": "realtime", "modalities": ["text"]},
            "unknown_parameter",
            "Unknown parameter: 'session.modalities'.",
            "session.modalities",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
            },
            "integer_below_min_value",
            "Invalid 'session.audio.input.format.rate': integer below minimum value. "
            "Expected a value >= 24000, but got 16000 instead.",
            "session.audio.input.format.rate",
        ),
        (
            {"type": "realtime", "audio": {"output": {"format": {"type": "audio/mp3"}}}},
            "invalid_value",
            "Invalid value: 'audio/mp3'. Supported values are: 'audio/pcm', 'audio/pcmu', "
            "and 'audio/pcma'.",
            "session.audio.output.format.type",
        ),
        (
            {"type": "session"},
            "invalid_value",
            "Invalid value: 'session'. Supported values are: 'realtime' and 'transcription'.",
            "session.type",
        ),
        (
            {"type": "realtime", "instructions": 5},
            "invalid_type",
            "Invalid type for 'session.instructions': expected a string, but got an integer "
            "instead.",
            "session.instructions",
        ),
        (
            {"type": "realtime", "output_modalities": ["audio", "text"]},
            "invalid_value",
            "Invalid modalities: ['audio', 'text']. Supported combinations are: ['text'] and "
            "['audio'].",
            "session.output_modalities",
        ),
    ],
)
async def test_session_update_rejected_whole_with_the_service_error(
    session: dict[str, Any], code: str, message: str, param: str
) -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            before = (await client.recv())["session"]
            bad = (
                {**session, "instructions": "changed"} if "instructions" not in session else session
            )
            await client.send(type="session.update", event_id="evt_bad", session=bad)
            error = await client.recv()
            assert error["type"] == "error"
            assert error["error"] == {
                "type": "invalid_request_error",
                "code": code,
                "message": message,
                "param": param,
                "event_id": "evt_bad",
            }
            # Nothing was applied; the session goes on.
            await client.send(type="session.update", session={"type": "realtime"})
            after = await client.recv()
            assert after["type"] == "session.updated"
            assert after["session"] == before


async def test_bad_frames_get_error_events_and_the_session_survives() -> None:
    with trio.fail_after(10):
        async with fake() as (server, handler), connect(server) as client:
            await configure(client, output_modalities=["text"])
            await client.send(type="nope", event_id="e1")
            err = (await client.recv())["error"]
            assert err["code"] == "invalid_value"
            assert err["param"] == "type"
            assert err["event_id"] == "e1"
            assert err["message"] == (
                "Invalid value: 'nope'. Supported values are: 'session.update', 'session.close', "
                "'input_audio_buffer.append', 'session.input_audio_buffer.append', "
                "'input_audio_buffer.commit', 'input_audio_buffer.clear', "
                "'conversation.item.create', 'conversation.item.truncate', "
                "'conversation.item.delete', 'conversation.item.retrieve', 'response.create', "
                "and 'response.cancel'."
            )
            await client.ws.send_message("not json")
            err = (await client.recv())["error"]
            assert err["code"] == "invalid_json"
            assert err["message"].startswith("Invalid event: failed to parse JSON value.")
            await client.ws.send_message(b"\x00\x01binary")
            err = (await client.recv())["error"]
            assert err == {
                "type": "invalid_request_error",
                "code": "invalid_event",
                "message": "Expected a text WebSocket message; binary frames are not supported.",
                "param": None,
                "event_id": None,
            }
            await client.ws.send_message(json.dumps({"event_id": "x"}))
            err = (await client.recv())["error"]
            assert err["code"] == "invalid_event"
            assert err["message"] == "The 'type' field is missing."
            await client.send(type="input_audio_buffer.append", audio="%%%")
            err = (await client.recv())["error"]
            assert err["param"] == "audio"
            await client.send(type="conversation.item.create", item={"type": "message"})
            err = (await client.recv())["error"]
            assert err["message"] == "Missing required parameter: 'item.role'."
            await client.send(
                type="conversation.item.create",
                item={"type": "message", "role": "user", "content": "hi"},
            )
            err = (await client.recv())["error"]
            assert err["message"] == (
                "Invalid type for 'item.content': expected an array of objects, but got a "
                "string instead."
            )
            # Still a working session after all that.
            await client.send(type="conversation.item.create", item=user_text("hello"))
            await client.send(type="response.create")
            done = (await client.until("response.done"))[-1]
            assert done["response"]["status"] == "completed"
            state = handler.connections[0]
            assert state.received[0]["type"] == "session.update"
            assert "not json" in state.received
            assert len(state.errors) == 7


async def test_other_connections_are_unaffected_by_bad_input() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _):
            async with connect(server) as bad, connect(server) as good:
                await configure(bad)
                await configure(good, output_modalities=["text"])
                for junk in ("[1, 2]", "{", '{"type": 5}', '{"type": "response.cancel"}'):
                    await bad.ws.send_message(junk)
                    assert (await bad.recv())["type"] == "error"
                await good.send(type="conversation.item.create", item=user_text("hi"))
                await good.send(type="response.create")
                assert (await good.until("response.done"))[-1]["response"]["status"] == "completed"
            assert all(c.error is None for c in server.connections)


# --------------------------------------------------------------------------- admission


async def _admission_close(
    server: FakeServer, query: str, headers: Sequence[tuple[str, str]]
) -> tuple[dict[str, Any], int | None, str | None]:
    async with connect(server, query, headers) as client:
        error = await client.recv()
        with pytest.raises(trio_websocket.ConnectionClosed) as info:
            await client.ws.get_message()
        reason = info.value.reason
        assert reason is not None
        return error, reason.code, reason.reason


async def test_admission_failures_close_like_the_service() -> None:
    with trio.fail_after(10):
        async with fake(invalid_keys={"sk-" + "revoked-0000000000000000AAAA"}) as (server, _):
            err, code, reason = await _admission_close(server, "?model=gpt-realtime", [])
            assert err["error"]["message"] == "Missing bearer or basic authentication in header"
            assert err["error"]["code"] is None
            assert (code, reason) == (3000, "invalid_request_error")

            err, code, reason = await _admission_close(
                server,
                "?model=gpt-realtime",
                [("Authorization", "Bearer sk-" + "revoked-0000000000000000AAAA")],
            )
            assert err["error"]["code"] == "invalid_api_key"
            assert "sk-" + "revoked-0000000000000000AAAA" not in err["error"]["message"]
            assert err["error"]["message"].startswith("Incorrect API key provided: sk-")
            assert (code, reason) == (3000, "invalid_request_error.invalid_api_key")

            auth = [("Authorization", "Bearer sk-test")]
            err, code, reason = await _admission_close(server, "?model=gpt-nope", auth)
            assert err["error"]["code"] == "invalid_model"
            assert err["error"]["message"] == 'Model "gpt-nope" is not supported in realtime mode.'
            assert (code, reason) == (4000, "invalid_request_error.invalid_model")

            err, code, reason = await _admission_close(server, "", auth)
            assert err["error"]["code"] == "missing_model"
            assert (code, reason) == (4000, "invalid_request_error.missing_model")

            err, code, reason = await _admission_close(
                server, "?model=gpt-realtime", [*auth, ("OpenAI-Beta", "realtime=v1")]
            )
            assert err["error"]["code"] == "beta_api_shape_disabled"
            assert (code, reason) == (4000, "invalid_request_error.beta_api_shape_disabled")


async def test_auth_failure_as_http_401_and_azure_api_key() -> None:
    with trio.fail_after(10):
        async with fake(auth_failure="http", api_keys={"good-key"}) as (server, _):
            with pytest.raises(trio_websocket.ConnectionRejected) as info:
                async with connect(server, headers=[("Authorization", "Bearer bad")]):
                    pass  # pragma: no cover
            assert info.value.status_code == 401
            assert info.value.body is not None
            assert json.loads(info.value.body)["error"]["code"] == "invalid_api_key"
            # Azure GA: api-key header, any deployment name.
            async with trio_websocket.open_websocket_url(
                server.azure_url + "?model=my-deployment", extra_headers=[(b"api-key", b"good-key")]
            ) as ws:
                client = Client(ws)
                created = await client.recv()
                assert created["session"]["model"] == "my-deployment"


# --------------------------------------------------------------------------- text turns

TEXT_TURN = [
    "conversation.item.added",
    "conversation.item.done",
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
TEXT_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]
AUDIO_TAIL = [
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]


async def test_text_turn_event_order_and_shapes() -> None:
    scenario = Scenario([Turn(reply="Hi there, friend!")])
    with trio.fail_after(10):
        async with fake(scenario=scenario) as (server, _), connect(server) as client:
            await configure(client, output_modalities=["text"])
            await client.send(type="conversation.item.create", item=user_text("Say hi"))
            await client.send(type="response.create")
            events = await client.until("rate_limits.updated")
            kinds = types(events)
            n = kinds.count("response.output_text.delta")
            assert kinds == TEXT_TURN + ["response.output_text.delta"] * n + TEXT_TAIL
            assert n == 3
            user_item = events[0]["item"]
            assert ID["item"].match(user_item["id"])
            assert user_item == {
                "id": user_item["id"],
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hi"}],
            }
            assert events[0]["previous_item_id"] is None
            created = events[2]["response"]
            assert ID["resp"].match(created["id"])
            assert created["status"] == "in_progress"
            assert created["output"] == []
            assert ID["conv"].match(created["conversation_id"])
            assert created["usage"] is None
            added = events[3]["item"]
            assert added["status"] == "in_progress"
            assert added["content"] == []
            assert events[4]["previous_item_id"] == user_item["id"]
            assert events[5]["part"] == {"type": "text", "text": ""}
            deltas = [e for e in events if e["type"] == "response.output_text.delta"]
            assert "".join(d["delta"] for d in deltas) == "Hi there, friend!"
            assert all(d["obfuscation"] for d in deltas)
            assert all(d["response_id"] == created["id"] for d in deltas)
            done = events[-2]["response"]
            assert done["status"] == "completed"
            assert done["status_details"] is None
            assert done["output"] == [
                {
                    "id": added["id"],
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hi there, friend!"}],
                }
            ]
            usage = done["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
            assert usage["output_token_details"]["text_tokens"] > 0
            assert usage["output_token_details"]["audio_tokens"] == 0
            assert events[-1]["rate_limits"][0]["name"] == "tokens"


async def test_audio_turn_event_order_and_stamps_survive() -> None:
    scenario = Scenario([Turn(reply="Yes, we have twelve."), Turn(reply=LONG_REPLY)])
    with trio.fail_after(10):
        async with fake(scenario=scenario) as (server, _), connect(server) as client:
            await configure(client)
            stamps: list[int | None] = []
            for text in ("Do you have sockets?", "When do you open?"):
                await client.send(type="conversation.item.create", item=user_text(text))
                await client.send(type="response.create")
                events = await client.until("rate_limits.updated")
                kinds = types(events)
                assert kinds[:6] == TEXT_TURN
                assert kinds[-7:] == AUDIO_TAIL
                middle = set(kinds[6:-7])
                assert middle == {
                    "response.output_audio.delta",
                    "response.output_audio_transcript.delta",
                }
                # The transcript runs ahead of the audio.
                assert kinds[6] == "response.output_audio_transcript.delta"
                assert events[5]["part"] == {"type": "audio", "transcript": ""}
                pcm = audio_of(events)
                # 100 ms deltas of PCM16 at 24 kHz.
                sizes = {
                    len(base64.b64decode(e["delta"]))
                    for e in events
                    if e["type"] == "response.output_audio.delta"
                }
                assert sizes == {4800}
                stamps += read_stamps(np.frombuffer(pcm, "<i2"), 2400)
                transcript = "".join(
                    e["delta"]
                    for e in events
                    if e["type"] == "response.output_audio_transcript.delta"
                )
                done = events[-2]["response"]
                assert done["output"][0]["content"] == [
                    {"type": "output_audio", "transcript": transcript}
                ]
                assert done["usage"]["output_token_details"]["audio_tokens"] > 0
                # Audio length follows the text: synthetic speech plus chunk padding.
                expected = synthesize(transcript, 24000).samples.shape[0]
                assert expected <= len(pcm) // 2 < expected + 2400
            # Sequence stamps run on across both replies: nothing lost, doubled or reordered.
            assert check_sequence(stamps) == len(stamps) > 20


async def test_second_response_while_one_is_active_is_refused() -> None:
    with trio.fail_after(15):
        async with fake(speed=1.0, scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client)
                await client.send(type="conversation.item.create", item=user_text("Hours?"))
                await client.send(type="response.create")
                first = (await client.until("response.created"))[-1]["response"]["id"]
                await client.send(type="response.create", event_id="again")
                err = await client.until("error")
                assert err[-1]["error"]["code"] == "conversation_already_has_active_response"
                assert err[-1]["error"]["message"] == (
                    f"Conversation already has an active response in progress: {first}. Wait "
                    "until the response is finished before creating a new one."
                )
                assert err[-1]["error"]["event_id"] == "again"
                await client.send(type="response.cancel")
                done = (await client.until("response.done"))[-1]["response"]
                assert done["id"] == first
                assert done["status"] == "cancelled"


# --------------------------------------------------------------------------- voice turns


def expected_vad(frame: AudioFrame, silence_ms: int) -> tuple[int, int]:
    vad = EnergyVAD(
        24000, threshold_db=-40.0, prefix_padding_ms=300, silence_duration_ms=silence_ms
    )
    events = vad.process(frame.samples)
    start = next(e for e in events if isinstance(e, SpeechStart)).audio_start_ms
    stop = next(e for e in events if isinstance(e, SpeechStop)).audio_end_ms
    return start, stop


async def test_voice_turn_with_server_vad() -> None:
    said = "What is the weather like in Oslo"
    speech = user_utterance(said, 24000, lead_ms=1000, trail_ms=800)
    with trio.fail_after(10):
        async with fake() as (server, handler), connect(server) as client:
            await configure(
                client,
                audio={"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
            )
            # Some silence first: audio_*_ms count all audio appended this session.
            await client.append(AudioFrame(np.zeros(24000 * 2, np.int16), 24000))
            await client.append(speech)
            events = await client.until("rate_limits.updated")
            kinds = types(events)
            n = kinds.count("conversation.item.input_audio_transcription.delta")
            assert kinds[: 7 + n] == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                *["conversation.item.input_audio_transcription.delta"] * n,
                "conversation.item.input_audio_transcription.completed",
                "response.created",
            ]
            assert n == len(said.split())
            start, stop = expected_vad(speech, 200)
            item_id = events[0]["item_id"]
            assert ID["item"].match(item_id)
            assert events[0]["audio_start_ms"] == 2000 + start
            assert events[1] == {**events[1], "audio_end_ms": 2000 + stop, "item_id": item_id}
            # Speech starts ~1 s in (minus 300 ms of padding), ends 200 ms after the voice.
            assert 2000 + 650 <= events[0]["audio_start_ms"] <= 2000 + 750
            voice_end = 1000 + synthesize(said, 24000, seed=None).duration * 1000
            assert abs(events[1]["audio_end_ms"] - (2000 + 200 + voice_end)) < 250
            assert events[2]["item_id"] == item_id
            assert events[2]["previous_item_id"] is None
            assert events[3]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
            completed = events[5 + n]
            assert completed["transcript"] == said
            assert completed["usage"]["type"] == "tokens"
            reply = "".join(
                e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
            )
            assert reply == f"You said: {said}. Thank you."
            # The committed item holds the audio between the two offsets.
            state = handler.connections[0]
            item = next(i for i in state.items if i.id == item_id)
            assert item.audio_ms == stop - start


async def test_push_to_talk_commit_rules_and_clear() -> None:
    speech = user_utterance("Check the stock please", 24000, lead_ms=200, trail_ms=200)
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            session = await configure(client, audio={"input": {"turn_detection": None}})
            assert session["audio"]["input"]["turn_detection"] is None
            await client.send(type="input_audio_buffer.commit", event_id="c0")
            err = (await client.recv())["error"]
            assert err == {
                "type": "invalid_request_error",
                "code": "input_audio_buffer_commit_empty",
                "message": "Error committing input audio buffer: buffer too small. Expected at "
                "least 100ms of audio, but buffer only has 0.00ms of audio.",
                "param": None,
                "event_id": "c0",
            }
            await client.append(AudioFrame(speech.samples[: 24 * 50], 24000))
            await client.send(type="input_audio_buffer.commit", event_id="c1")
            err = (await client.recv())["error"]
            assert err["message"].endswith("but buffer only has 50.00ms of audio.")
            await client.send(type="input_audio_buffer.clear")
            assert (await client.recv())["type"] == "input_audio_buffer.cleared"
            await client.append(speech)
            await client.send(type="input_audio_buffer.commit")
            events = await client.until("conversation.item.done")
            assert types(events) == [
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]
            # No VAD events and no automatic response: the client asks for one.
            await client.send(type="response.create")
            events = await client.until("response.done")
            assert events[0]["type"] == "response.created"
            reply = "".join(
                e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
            )
            assert reply == "You said: Check the stock please. Thank you."
            # The 50 ms before the clear were discarded: a new commit needs new audio.
            await client.send(type="input_audio_buffer.commit")
            err = (await client.until("error"))[-1]["error"]
            assert err["code"] == "input_audio_buffer_commit_empty"


async def test_barge_in_cancels_with_turn_detected_and_truncate_is_range_checked() -> None:
    interruption = user_utterance("Stop, wait", 24000, lead_ms=100, trail_ms=600)
    scenario = Scenario([Turn(reply=LONG_REPLY), Turn(reply="Sure.")])
    with trio.fail_after(15):
        async with fake(speed=1.0, scenario=scenario) as (server, _), connect(server) as client:
            await configure(client)
            await client.send(type="conversation.item.create", item=user_text("Opening hours?"))
            await client.send(type="response.create")
            head = await client.until("response.output_audio.delta")
            response_id = head[-1]["response_id"]
            item_id = head[-1]["item_id"]
            await client.append(interruption)
            events = await client.until("response.done")
            kinds = types(events)
            started = kinds.index("input_audio_buffer.speech_started")
            assert kinds[-6:] == AUDIO_TAIL[:-1]
            assert "response.output_audio.delta" not in kinds[started + 1 :]
            done = events[-1]["response"]
            assert done["id"] == response_id
            assert done["status"] == "cancelled"
            assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
            assert done["output"][0]["status"] == "incomplete"
            got_ms = len(audio_of(head + events)) // 48
            full_ms = synthesize(LONG_REPLY, 24000).duration * 1000
            assert 0 < got_ms < full_ms / 2
            # The user's turn then completes and gets its own answer.
            rest = await client.until("response.done")
            assert types(rest)[:4] == [
                "rate_limits.updated",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
            ]
            assert rest[-1]["response"]["status"] == "completed"
            # Truncate the interrupted item to what was "played".
            played = got_ms // 2
            await client.send(
                type="conversation.item.truncate",
                item_id=item_id,
                content_index=0,
                audio_end_ms=played,
            )
            truncated = await client.until("conversation.item.truncated")
            assert truncated[-1] == {
                **truncated[-1],
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": played,
            }
            await client.send(
                type="conversation.item.truncate",
                event_id="t2",
                item_id=item_id,
                content_index=0,
                audio_end_ms=5000,
            )
            err = (await client.until("error"))[-1]["error"]
            assert err["message"] == f"Audio content of {played}ms is already shorter than 5000ms"
            assert err["param"] == "audio_end_ms"
            assert err["event_id"] == "t2"
            await client.send(
                type="conversation.item.truncate",
                item_id="item_nope",
                content_index=0,
                audio_end_ms=0,
            )
            err = (await client.until("error"))[-1]["error"]
            assert err["code"] == "item_truncate_invalid_item_id"
            # The truncated item lost its transcript and its audio after the cut.
            await client.send(type="conversation.item.retrieve", item_id=item_id)
            item = (await client.until("conversation.item.retrieved"))[-1]["item"]
            part = item["content"][0]
            assert part["transcript"] == ""
            assert len(base64.b64decode(part["audio"])) == played * 48


async def test_response_cancel_and_cancel_without_response() -> None:
    with trio.fail_after(15):
        async with fake(speed=1.0, scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client)
                await client.send(type="response.cancel", event_id="early")
                err = (await client.recv())["error"]
                assert err == {
                    "type": "invalid_request_error",
                    "code": "response_cancel_not_active",
                    "message": "Cancellation failed: no active response found",
                    "param": None,
                    "event_id": "early",
                }
                await client.send(type="conversation.item.create", item=user_text("Hours?"))
                await client.send(type="response.create")
                await client.until("response.output_audio.delta")
                await client.send(type="response.cancel")
                events = await client.until("rate_limits.updated")
                assert types(events)[-7:] == AUDIO_TAIL
                done = events[-2]["response"]
                assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
                transcript = done["output"][0]["content"][0]["transcript"]
                assert transcript
                assert LONG_REPLY.startswith(transcript)
                await client.send(type="response.cancel", event_id="late")
                err = (await client.recv())["error"]
                assert err["code"] == "response_cancel_not_active"
                assert err["event_id"] == "late"


# --------------------------------------------------------------------------- tools

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}


async def test_function_call_turn_then_spoken_answer() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(client, tools=[WEATHER])
            await client.send(
                type="conversation.item.create", item=user_text("Use get_weather for Oslo")
            )
            await client.send(type="response.create")
            events = await client.until("rate_limits.updated")
            kinds = types(events)
            n = kinds.count("response.function_call_arguments.delta")
            assert kinds == [
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                *["response.function_call_arguments.delta"] * n,
                "response.function_call_arguments.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
                "rate_limits.updated",
            ]
            added = events[3]["item"]
            assert added["type"] == "function_call"
            assert added["status"] == "in_progress"
            assert added["arguments"] == ""
            assert added["name"] == "get_weather"
            call_id = added["call_id"]
            assert ID["call"].match(call_id)
            args_done = events[5 + n]
            assert json.loads(args_done["arguments"]) == {"city": "example", "unit": "c"}
            assert "".join(e["delta"] for e in events[5 : 5 + n]) == args_done["arguments"]
            assert all(e["call_id"] == call_id for e in events[5 : 6 + n])
            done = events[-2]["response"]
            assert done["output"][0]["status"] == "completed"
            assert done["output"][0]["arguments"] == args_done["arguments"]

            await client.send(
                type="conversation.item.create",
                item={
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": '{"temp_c": 4}',
                },
            )
            out = await client.until("conversation.item.done")
            assert out[-1]["item"]["call_id"] == call_id
            await client.send(type="response.create")
            events = await client.until("response.done")
            reply = "".join(
                e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
            )
            assert reply == 'Done. get_weather returned {"temp_c": 4}.'


async def test_tool_result_before_response_done_and_create_right_after_done() -> None:
    with trio.fail_after(10):
        async with fake(speed=1.0) as (server, _), connect(server) as client:
            await configure(client, tools=[WEATHER], output_modalities=["text"])
            await client.send(type="conversation.item.create", item=user_text("get weather now"))
            await client.send(type="response.create")
            call = (await client.until("response.function_call_arguments.done"))[-1]
            # The result may arrive while the response is still open...
            await client.send(
                type="conversation.item.create",
                item={"type": "function_call_output", "call_id": call["call_id"], "output": "9"},
            )
            await client.until("response.done")
            # ...and the next response.create may follow response.done at once.
            await client.send(type="response.create")
            events = await client.until("response.done")
            assert "error" not in types(events)
            text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
            assert text == "Done. get_weather returned 9."


async def test_scripted_tool_call_with_expected_result() -> None:
    scenario = Scenario(
        [
            Turn(
                tool_calls=[
                    PlannedToolCall("get_weather", {"city": "Oslo", "unit": "c"}, {"temp_c": 4})
                ],
                reply="It is four degrees in Oslo.",
            )
        ]
    )
    with trio.fail_after(10):
        async with fake(scenario=scenario) as (server, _), connect(server) as client:
            await configure(client, tools=[WEATHER], output_modalities=["text"])
            await client.send(type="conversation.item.create", item=user_text("Weather?"))
            await client.send(type="response.create")
            events = await client.until("response.done")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert json.loads(call["arguments"]) == {"city": "Oslo", "unit": "c"}
            await client.send(
                type="conversation.item.create",
                item={"type": "function_call_output", "call_id": call["call_id"], "output": "5"},
            )
            await client.send(type="response.create")
            events = await client.until("response.done")
            text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
            assert text == "It is four degrees in Oslo."
            assert scenario.runs[0].mismatches == [
                "turn 0: tool 'get_weather' returned 5, expected {'temp_c': 4}"
            ]


# --------------------------------------------------------------------------- out of band, items


async def test_out_of_band_response_stays_out_of_the_conversation() -> None:
    with trio.fail_after(10):
        async with fake() as (server, handler), connect(server) as client:
            await configure(client)
            await client.send(type="conversation.item.create", item=user_text("I want a refund"))
            await client.until("conversation.item.done")
            await client.send(
                type="response.create",
                response={
                    "conversation": "none",
                    "output_modalities": ["text"],
                    "metadata": {"purpose": "intent"},
                    "instructions": "Classify the intent in one word.",
                },
            )
            events = await client.until("rate_limits.updated")
            kinds = types(events)
            assert not any(k.startswith("conversation.item") for k in kinds)
            created = events[0]["response"]
            assert created["conversation_id"] is None
            assert created["metadata"] == {"purpose": "intent"}
            assert created["output_modalities"] == ["text"]
            text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
            assert text == "You said: I want a refund. Thank you."
            oob_item = events[1]["item"]["id"]
            await client.send(type="conversation.item.retrieve", item_id=oob_item, event_id="r")
            err = (await client.recv())["error"]
            assert err["code"] == "item_retrieve_invalid_item_id"
            assert err["event_id"] == "r"
            assert len(handler.connections[0].items) == 1
            # The scripted conversation did not advance.
            assert server.scenario.runs[0].turn_index == 0


async def test_item_create_retrieve_delete_and_previous_item() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(client)
            await client.send(
                type="conversation.item.create", item={**user_text("first"), "id": "item_mine"}
            )
            await client.until("conversation.item.done")
            await client.send(
                type="conversation.item.create", item=user_text("zeroth"), previous_item_id="root"
            )
            added = (await client.until("conversation.item.done"))[0]
            assert added["previous_item_id"] is None
            await client.send(
                type="conversation.item.create",
                item=user_text("x"),
                previous_item_id="item_missing",
                event_id="p",
            )
            err = (await client.recv())["error"]
            assert err["param"] == "previous_item_id"
            assert err["event_id"] == "p"
            await client.send(type="conversation.item.retrieve", item_id="item_mine")
            got = await client.recv()
            assert got["type"] == "conversation.item.retrieved"
            assert got["item"]["content"] == [{"type": "input_text", "text": "first"}]
            await client.send(type="conversation.item.delete", item_id="item_mine")
            assert await client.recv() == {
                **client.events[-1],
                "type": "conversation.item.deleted",
                "item_id": "item_mine",
            }
            await client.send(type="conversation.item.delete", item_id="item_mine")
            err = (await client.recv())["error"]
            assert err["code"] == "item_delete_invalid_item_id"
            assert (
                err["message"]
                == "Error deleting item: the item with id 'item_mine' does not exist."
            )


# --------------------------------------------------------------------------- misc


async def test_ids_are_deterministic_per_seed() -> None:
    async def first_ids(seed: int) -> tuple[str, str]:
        async with fake(seed=seed) as (server, _), connect(server) as client:
            created = await client.recv()
            return created["event_id"], created["session"]["id"]

    with trio.fail_after(10):
        a = await first_ids(7)
        b = await first_ids(7)
        c = await first_ids(8)
    assert a == b
    assert a != c


async def test_fault_checkpoint_mid_audio_closes_connection() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _):
            server.inject(CloseAt("mid_audio", 1011, "boom"))
            async with connect(server) as client:
                await configure(client)
                await client.send(type="conversation.item.create", item=user_text("hi"))
                await client.send(type="response.create")
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await client.until("response.done")
                assert info.value.reason is not None
                assert info.value.reason.code == 1011
                assert types(client.events).count("response.output_audio.delta") == 1


async def test_session_max_duration_closes_1001() -> None:
    with trio.fail_after(10):
        async with fake(max_session_seconds=0.6) as (server, _), connect(server) as client:
            await configure(client)
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await client.recv()
            reason = info.value.reason
            assert reason is not None
            assert reason.code == 1001
            assert reason.reason == "Your session hit the maximum duration of 0.01 minutes."


async def test_g711_round_trip_and_pcmu_vad() -> None:
    tone = (np.sin(np.arange(800) / 5.0) * 8000).astype(np.int16)
    for kind in ("audio/pcmu", "audio/pcma"):
        back = g711_decode(g711_encode(tone, kind), kind)
        assert np.max(np.abs(back.astype(int) - tone)) < 300
    speech = user_utterance("hello there", 8000, lead_ms=500, trail_ms=800)
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(
                client,
                audio={
                    "input": {"format": {"type": "audio/pcmu"}},
                    "output": {"format": {"type": "audio/pcmu"}},
                },
            )
            data = g711_encode(speech.samples, "audio/pcmu")
            for i in range(0, len(data), 160):
                await client.send(
                    type="input_audio_buffer.append",
                    audio=base64.b64encode(data[i : i + 160]).decode(),
                )
            events = await client.until("response.done")
            started = events[0]
            assert started["type"] == "input_audio_buffer.speech_started"
            assert 150 <= started["audio_start_ms"] <= 260
            sizes = [
                len(base64.b64decode(e["delta"]))
                for e in events
                if e["type"] == "response.output_audio.delta"
            ]
            assert len(sizes) > 5
            assert set(sizes[:-1]) == {800}
            reply = g711_decode(audio_of(events), "audio/pcmu").astype(np.float64)
            assert np.sqrt(np.mean(reply**2)) > 1000  # audible speech, not silence
            assert events[-1]["response"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}


async def test_trio_realtime_session_against_the_fake() -> None:
    import trio_realtime as rt

    @rt.tool
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return {"temp_c": 7}

    async def turn(session: rt.RealtimeSession) -> list[Any]:
        got: list[Any] = []
        async for event in session.events():
            got.append(event)
            if isinstance(event, rt.ResponseDone) and not any(
                isinstance(e, rt.ToolCall) for e in got
            ):
                return got
            if (
                isinstance(event, rt.ResponseDone)
                and sum(isinstance(e, rt.ResponseDone) for e in got) == 2
            ):
                return got
        raise AssertionError("the session ended")  # pragma: no cover

    with trio.fail_after(20):
        async with fake() as (server, _):
            config = rt.OpenAIRealtime(
                model="gpt-realtime", api_key="sk-test", url=server.openai_url, tools=[get_weather]
            )
            async with rt.connect(config) as session:
                await session.send_text("Hello")
                events = await turn(session)
                finals = [e.text for e in events if isinstance(e, rt.Transcript) and e.final]
                assert finals == ["You said: Hello. Thank you."]
                assert any(isinstance(e, rt.AudioOut) for e in events)

                await session.send_text("call get_weather for Rome")
                events = await turn(session)
                calls = [e for e in events if isinstance(e, rt.ToolCall)]
                assert [(c.name, c.arguments) for c in calls] == [
                    ("get_weather", {"city": "example"})
                ]
                finals = [e.text for e in events if isinstance(e, rt.Transcript) and e.final]
                assert finals == ['Done. get_weather returned {"temp_c": 7}.']

                await session.send_audio(user_utterance("What is up", 24000))
                events = await turn(session)
                spoken = [
                    (e.role, e.text) for e in events if isinstance(e, rt.Transcript) and e.final
                ]
                assert spoken == [
                    ("user", "What is up"),
                    ("assistant", "You said: What is up. Thank you."),
                ]


async def test_idle_timeout_triggers_a_response(autojump_clock: trio.testing.MockClock) -> None:
    with trio.fail_after(120):
        async with fake() as (server, _), connect(server) as client:
            await configure(
                client,
                audio={
                    "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}
                },
            )
            await client.send(type="conversation.item.create", item=user_text("Hi"))
            await client.send(type="response.create")
            await client.until("rate_limits.updated")
            done_at = trio.current_time()
            await client.append(AudioFrame(np.zeros(24000, np.int16), 24000))
            events = await client.until("response.done")
            assert trio.current_time() - done_at == pytest.approx(6.0, abs=0.1)
            assert types(events)[:4] == [
                "input_audio_buffer.timeout_triggered",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]
            timeout = events[0]
            assert (timeout["audio_start_ms"], timeout["audio_end_ms"]) == (0, 1000)
            assert events[1]["item_id"] == timeout["item_id"]
            assert events[-1]["response"]["status"] == "completed"


async def test_tool_choice_forces_a_call() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(
                client,
                tools=[WEATHER],
                tool_choice={"type": "function", "name": "get_weather"},
                output_modalities=["text"],
            )
            await client.send(type="conversation.item.create", item=user_text("Tell me a joke"))
            await client.send(type="response.create")
            events = await client.until("response.done")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert call["name"] == "get_weather"
            # A per-response tool_choice of "none" answers in words instead.
            await client.send(type="response.create", response={"tool_choice": "none"})
            events = await client.until("response.done")
            assert events[-1]["response"]["output"][0]["type"] == "message"


async def test_voice_cannot_change_after_audio() -> None:
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(client, audio={"output": {"voice": "cedar"}})
            await client.send(type="response.create")
            await client.until("response.done")
            await client.send(
                type="session.update",
                event_id="v",
                session={"type": "realtime", "audio": {"output": {"voice": "marin"}}},
            )
            err = (await client.until("error"))[-1]["error"]
            assert err == {
                "type": "invalid_request_error",
                "code": "cannot_update_voice",
                "message": "Cannot update a conversation's voice if assistant audio is present.",
                "param": "session.audio.output.voice",
                "event_id": "v",
            }


async def test_transcription_session() -> None:
    speech = user_utterance("Hello from the probe", 24000)
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server, "?intent=transcription") as client:
            created = await client.recv()
            session = created["session"]
            assert session["type"] == "transcription"
            assert session["object"] == "realtime.transcription_session"
            await client.send(
                type="session.update",
                session={
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            )
            updated = await client.recv()
            assert updated["session"]["audio"]["input"]["transcription"]["model"] == "whisper-1"
            await client.send(type="session.update", event_id="x", session={"type": "realtime"})
            err = (await client.recv())["error"]
            assert err["message"] == (
                "Passing a realtime session update event to a transcription session is not allowed."
            )
            await client.append(speech)
            events = await client.until("conversation.item.input_audio_transcription.completed")
            assert types(events) == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed",
            ]
            assert events[-1]["transcript"] == "Hello from the probe"
            assert events[-1]["usage"] == {"type": "duration", "seconds": 2}
            await client.send(type="response.create")
            assert (await client.recv())["type"] == "error"


async def test_max_output_tokens_cuts_the_reply_incomplete() -> None:
    with trio.fail_after(10):
        async with fake(scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client, output_modalities=["text"], max_output_tokens=10)
                await client.send(type="conversation.item.create", item=user_text("Hours?"))
                await client.send(type="response.create")
                events = await client.until("response.done")
                done = events[-1]["response"]
                assert done["status"] == "incomplete"
                assert done["status_details"] == {
                    "type": "incomplete",
                    "reason": "max_output_tokens",
                }
                text = done["output"][0]["content"][0]["text"]
                assert LONG_REPLY.startswith(text)
                assert 0 < len(text) <= 40
                assert done["output"][0]["status"] == "incomplete"


# --------------------------------------------------------------------------- fuzzing

_AUDIO = base64.b64encode(synthesize("ba", 24000).samples[:2400].astype("<i2").tobytes()).decode()
_BASES: list[dict[str, Any]] = [
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "x",
            "output_modalities": ["text"],
            "tools": [WEATHER],
            "tool_choice": "auto",
            "max_output_tokens": 200,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.5},
                    "noise_reduction": {"type": "near_field"},
                },
                "output": {"voice": "alloy", "speed": 1.0},
            },
        },
    },
    {"type": "input_audio_buffer.append", "audio": _AUDIO},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "conversation.item.create", "item": user_text("get weather")},
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_x", "output": "1"},
        "previous_item_id": "root",
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "name": "get_weather", "arguments": "{}"},
    },
    {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": 1},
    {"type": "conversation.item.delete", "item_id": "i"},
    {"type": "conversation.item.retrieve", "item_id": "i"},
    {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "input": [{"type": "item_reference", "id": "i"}, user_text("hi")],
            "metadata": {"a": "b"},
            "audio": {"output": {"voice": "ash"}},
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "output_modalities": ["audio"],
        },
    },
    {"type": "response.create"},
    {"type": "response.cancel", "response_id": "resp_x"},
]


def _json_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(10**6), 10**6)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _slots(value: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, v in value.items():
            out.append((value, key))
            out.extend(_slots(v))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((value, i))
            out.extend(_slots(v))
    return out


@st.composite
def _mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(_BASES)))
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(event)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            container[key] = draw(_json_values())
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=6))] = draw(_json_values())
    return event


class _StubConnection:
    """Just enough of the shell's FakeConnection to drive a handler without sockets."""

    def __init__(self, messages: list[str]) -> None:
        self.index = 1
        self.scenario = Scenario()
        self.speed = INF
        self.route = Route("openai", "openai", "/v1/realtime")
        self.query = {"model": "gpt-realtime"}
        self.headers = {"authorization": "Bearer sk-test"}
        self.subprotocols: tuple[str, ...] = ()
        self.api_key = "sk-test"
        self.state: dict[str, Any] = {}
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._messages = list(messages)

    async def accept(self, *, subprotocol: str | None = None) -> None:
        await trio.lowlevel.checkpoint()

    async def send(self, message: str) -> None:
        self.sent.append(message)
        await trio.lowlevel.checkpoint()

    async def checkpoint(self, name: str) -> None:
        await trio.lowlevel.checkpoint()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)
        await trio.lowlevel.checkpoint()

    async def receive(self) -> str:
        await trio.testing.wait_all_tasks_blocked()
        if not self._messages:
            raise trio_websocket.ConnectionClosed(trio_websocket.CloseReason(1000, None))
        return self._messages.pop(0)


@settings(max_examples=150, deadline=None)
@given(st.lists(_mutated_events(), min_size=1, max_size=6))
def test_fuzzed_client_events_never_break_the_session(events: list[dict[str, Any]]) -> None:
    probe = {"type": "session.update", "event_id": "probe", "session": {"type": "realtime"}}
    messages = [json.dumps(e) for e in events] + [json.dumps(probe)]
    conn = _StubConnection(messages)

    async def main() -> None:
        state = OpenAIConnectionState(FakeOpenAI(), conn)  # type: ignore[arg-type]
        failure: BaseException | None = None
        with trio.fail_after(20):
            try:
                await state.run()
            except BaseException as exc:  # the stub ends the connection like a client leaving
                failure = exc
        assert failure is not None
        assert _only_connection_closed(failure), failure

    trio.run(main)
    assert conn.closed is None
    for text in conn.sent:
        decoded = decode_server_event(text)
        assert not type(decoded).__name__.startswith("Unknown")
        SDK_EVENT.validate_json(text)
    # The probe, sent last, was answered: the session survived everything before it.
    assert json.loads(conn.sent[-1])["type"] == "session.updated"


def _only_connection_closed(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_connection_closed(e) for e in exc.exceptions)
    return isinstance(exc, trio_websocket.ConnectionClosed)


async def test_tool_schemas_are_checked() -> None:
    odd = {
        "type": "function",
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": True}, "required": ["q"]},
    }
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(client, tools=[odd], output_modalities=["text"])
            await client.send(type="conversation.item.create", item=user_text("lookup please"))
            await client.send(type="response.create")
            events = await client.until("response.done")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert json.loads(call["arguments"]) == {"q": "example"}
            broken = {**WEATHER, "parameters": {"type": "object", "properties": True}}
            await client.send(
                type="session.update", session={"type": "realtime", "tools": [broken]}
            )
            err = (await client.until("error"))[-1]["error"]
            assert err["code"] == "invalid_function_parameters"
            assert err["message"] == (
                "Invalid schema for function 'get_weather': true is not of type 'object'."
            )


async def test_transcription_can_arrive_during_the_reply() -> None:
    speech = user_utterance("Is the shop open", 24000)
    with trio.fail_after(15):
        async with fake(speed=1.0, transcription_delay=0.3) as (server, _):
            async with connect(server) as client:
                await configure(
                    client,
                    audio={"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                    include=["item.input_audio_transcription.logprobs"],
                )
                await client.append(speech)
                events = await client.until("response.done")
                kinds = types(events)
                completed = kinds.index("conversation.item.input_audio_transcription.completed")
                assert kinds.index("response.created") < completed
                assert kinds.index("response.output_audio.delta") < completed
                assert events[completed]["transcript"] == "Is the shop open"
                tokens = [p["token"] for p in events[completed]["logprobs"]]
                assert "".join(tokens) == "Is the shop open"


# --------------------------------------------------------------------------- live items


async def ask(client: Client, text: str) -> None:
    """A user text item, then ``response.create``."""
    await client.send(type="conversation.item.create", item=user_text(text))
    await client.send(type="response.create")


def _transcript_of(events: Sequence[dict[str, Any]]) -> str:
    return "".join(
        e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
    )


def _content_so_far(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The content an audio item has after `events` streamed (what retrieve must return)."""
    if "response.content_part.added" not in types(events):
        return []
    part: dict[str, Any] = {"type": "output_audio", "transcript": _transcript_of(events)}
    if audio_of(events):
        part["audio"] = base64.b64encode(audio_of(events)).decode()
    return [part]


async def test_streaming_item_is_kept_as_it_streams_and_retrieve_returns_it() -> None:
    # Paced at 4x: the reply (12 s of speech) streams for 3 s, long enough for the
    # retrieves to land mid-stream; at 1x the wait for response.done alone took
    # most of the 15 s budget and timed out on a loaded machine.
    with trio.fail_after(15):
        async with fake(speed=4.0, scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client)
                await ask(client, "Hours?")
                before = await client.until("response.output_item.added")
                item_id = before[-1]["item"]["id"]
                # Right after it was added: in progress, with what streamed so far
                # (no content until response.content_part.added went out).
                await client.send(type="conversation.item.retrieve", item_id=item_id)
                events = await client.until("conversation.item.retrieved")
                assert events[-1]["item"]["status"] == "in_progress"
                assert events[-1]["item"]["content"] == _content_so_far(events)
                events += await client.until("response.output_audio.delta")
                events += await client.until("response.output_audio.delta")
                await client.send(type="conversation.item.retrieve", item_id=item_id)
                events += await client.until("conversation.item.retrieved")
                item = events[-1]["item"]
                assert item["status"] == "in_progress"
                assert item["role"] == "assistant"
                [part] = item["content"]
                # Exactly what streamed before the retrieved event: audio and transcript.
                assert base64.b64decode(part["audio"]) == audio_of(events)
                assert len(audio_of(events)) >= 2 * 4800
                assert part["transcript"] == _transcript_of(events)
                assert LONG_REPLY.startswith(part["transcript"])
                assert part["type"] == "output_audio"
                rest = await client.until("response.done")
                done = rest[-1]["response"]
                assert done["status"] == "completed"
                await client.send(type="conversation.item.retrieve", item_id=item_id)
                final = (await client.until("conversation.item.retrieved"))[-1]["item"]
                assert final["status"] == "completed"
                assert final["content"][0]["transcript"] == LONG_REPLY
                assert base64.b64decode(final["content"][0]["audio"]) == audio_of(events + rest)


async def test_text_item_accumulates_while_streaming() -> None:
    with trio.fail_after(15):
        async with fake(speed=1.0, scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client, output_modalities=["text"])
                await ask(client, "Hours?")
                events = await client.until("response.output_text.delta")
                item_id = events[-1]["item_id"]
                await client.send(type="conversation.item.retrieve", item_id=item_id)
                events += await client.until("conversation.item.retrieved")
                sent = "".join(
                    e["delta"] for e in events if e["type"] == "response.output_text.delta"
                )
                assert events[-1]["item"]["content"] == [{"type": "output_text", "text": sent}]
                assert "response.done" not in types(events)


async def test_truncate_while_streaming_keeps_the_cut_item() -> None:
    # At 4x the 12 s reply streams for 3 s: time for the truncate to land mid-stream
    # without waiting out the whole reply in real time.
    with trio.fail_after(15):
        async with fake(speed=4.0, scenario=Scenario([Turn(reply=LONG_REPLY)])) as (server, _):
            async with connect(server) as client:
                await configure(client)
                await ask(client, "Hours?")
                events = await client.until("response.output_audio.delta")
                events += await client.until("response.output_audio.delta")
                item_id = events[-1]["item_id"]
                await client.send(
                    type="conversation.item.truncate",
                    item_id=item_id,
                    content_index=0,
                    audio_end_ms=150,
                )
                events = await client.until("conversation.item.truncated")
                assert events[-1]["audio_end_ms"] == 150
                assert "response.done" not in types(events)  # accepted mid-stream
                rest = await client.until("response.done")
                # The stream itself went on; the stored item stays cut.
                assert rest[-1]["response"]["status"] == "completed"
                await client.send(type="conversation.item.retrieve", item_id=item_id)
                item = (await client.until("conversation.item.retrieved"))[-1]["item"]
                assert item["content"][0]["transcript"] == ""
                assert len(base64.b64decode(item["content"][0]["audio"])) == 150 * 48
                # Beyond what is left: the service's own refusal.
                await client.send(
                    type="conversation.item.truncate",
                    item_id=item_id,
                    content_index=0,
                    audio_end_ms=151,
                )
                err = (await client.recv())["error"]
                assert err["message"] == "Audio content of 150ms is already shorter than 151ms"
                assert err["param"] == "audio_end_ms"


async def test_truncate_before_any_audio_part_is_refused() -> None:
    with trio.fail_after(15):
        async with fake(speed=1.0, scenario=Scenario([Turn(reply=LONG_REPLY, latency=0.5)])) as (
            server,
            _,
        ):
            async with connect(server) as client:
                await configure(client)
                await ask(client, "Hours?")
                await client.until("response.created")
                # No item yet: unknown id. The user item: not an assistant item.
                user_id = client.events[1]["item"]["id"]
                await client.send(
                    type="conversation.item.truncate",
                    item_id=user_id,
                    content_index=0,
                    audio_end_ms=0,
                )
                err = (await client.recv())["error"]
                assert err["message"] == "Only assistant messages with audio can be truncated."


# --------------------------------------------------------------------------- history-aware replies


def _message(role: str, text: str) -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


async def test_seeded_items_of_every_role_reach_the_scenario_and_the_default_reply() -> None:
    seen: list[list[tuple[str, str]]] = []

    def responder(heard: str, context: ReplyContext) -> Reply:
        seen.append(list(context.history))
        return default_responder(heard, context)

    with trio.fail_after(10):
        async with fake(scenario=Scenario(responder=responder)) as (server, _):
            async with connect(server) as client:
                await configure(client, output_modalities=["text"])
                for role, text in [
                    ("system", "The caller is a premium member."),
                    ("user", "My order number is 42."),
                    ("assistant", "Thanks, I found order 42."),
                    ("user", "What did I say before?"),
                ]:
                    await client.send(type="conversation.item.create", item=_message(role, text))
                    await client.until("conversation.item.done")
                await client.send(type="response.create")
                events = await client.until("response.done")
                done = events[-1]["response"]
                assert done["output"][0]["content"][0]["text"] == (
                    "Before this you said: My order number is 42."
                )
    assert seen == [
        [
            ("system", "The caller is a premium member."),
            ("user", "My order number is 42."),
            ("assistant", "Thanks, I found order 42."),
            ("user", "What did I say before?"),
        ]
    ]


async def test_history_follows_delete_and_truncate() -> None:
    seen: list[list[tuple[str, str]]] = []

    def responder(heard: str, context: ReplyContext) -> Reply:
        seen.append(list(context.history))
        return Reply(text="Our store opens at nine every day of the week.")

    with trio.fail_after(10):
        async with fake(scenario=Scenario(responder=responder)) as (server, _):
            async with connect(server) as client:
                await configure(client)
                await client.send(type="conversation.item.create", item=user_text("Forget me"))
                forgotten = (await client.until("conversation.item.done"))[-1]["item"]["id"]
                await client.send(type="conversation.item.delete", item_id=forgotten)
                await client.until("conversation.item.deleted")
                await ask(client, "Hours?")
                events = await client.until("response.done")
                spoken = events[-1]["response"]["output"][0]["id"]
                await client.send(
                    type="conversation.item.truncate",
                    item_id=spoken,
                    content_index=0,
                    audio_end_ms=200,
                )
                await client.until("conversation.item.truncated")
                await client.send(type="conversation.item.create", item=user_text("Sorry?"))
                await client.send(type="response.create")
                await client.until("response.done")
    assert seen[0] == [("user", "Hours?")]
    # The cut reply lost its text on the service: the model no longer "said" it.
    assert seen[1] == [("user", "Hours?"), ("assistant", ""), ("user", "Sorry?")]


async def test_usage_counts_image_tokens_per_modality() -> None:
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(3000)).decode()
    item = {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_image", "image_url": png, "detail": "low"},
            {"type": "input_text", "text": "What is this?"},
        ],
    }
    with trio.fail_after(10):
        async with fake() as (server, _), connect(server) as client:
            await configure(client, output_modalities=["text"])
            await client.send(type="conversation.item.create", item=item)
            await client.send(type="response.create")
            usage = (await client.until("response.done"))[-1]["response"]["usage"]
    details = usage["input_token_details"]
    assert details["image_tokens"] == 85
    assert details["audio_tokens"] == 0
    assert 0 < details["text_tokens"] < 400  # instructions and text; base64 would be ~1000
    assert usage["input_tokens"] == details["text_tokens"] + details["image_tokens"]
    assert usage["output_token_details"]["audio_tokens"] == 0
