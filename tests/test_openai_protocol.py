"""OpenAIProtocol: the digest's event orders replayed as wire messages (no sockets, no Trio)."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import numpy as np
import pydantic
import pytest
from openai.types.realtime import RealtimeClientEvent

from trio_realtime.audio import AudioError, AudioFrame
from trio_realtime.errors import ProtocolError
from trio_realtime.events import (
    AudioOut,
    ClearAudio,
    CommitAudio,
    EndActivity,
    EndAudioStream,
    Event,
    InputCommitted,
    Interrupt,
    Interrupted,
    InvalidToolCall,
    ReportPlayback,
    Respond,
    ResponseDone,
    ResponseStarted,
    SendImage,
    SendText,
    SendToolResult,
    ServerErrorEvent,
    SessionReady,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    StartActivity,
    TextOut,
    ToolCall,
    ToolSpec,
    Transcript,
    TurnDone,
    UpdateSession,
    Usage,
)
from trio_realtime.openai import OpenAIProtocol, OpenAIRealtime
from trio_realtime.openai import messages as m

CLIENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)
CONV = "conv_1"
R1, R2 = "resp_1", "resp_2"
USER, ASST, ASST2 = "item_user1", "item_asst1", "item_asst2"
_ids = itertools.count(1)


def pcm(ms: int, value: int = 0) -> bytes:
    """`ms` milliseconds of 24 kHz PCM16 (48 bytes per ms)."""
    return np.full(ms * 24, value, dtype="<i2").tobytes()


# --------------------------------------------------------------------------- server messages


def srv(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, "event_id": f"event_{next(_ids)}", **fields})


def session_obj(turn_detection: Any = "default", **extra: Any) -> dict[str, Any]:
    td = (
        {
            "type": "server_vad",
            "threshold": 0.5,
            "create_response": True,
            "interrupt_response": True,
        }
        if turn_detection == "default"
        else turn_detection
    )
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_1",
        "model": "gpt-realtime",
        "audio": {"input": {"turn_detection": td}},
        **extra,
    }


def response_obj(rid: str, status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "object": "realtime.response",
        "id": rid,
        "status": status,
        "status_details": None,
        "output": [],
        "conversation_id": CONV,
        "output_modalities": ["audio"],
        "usage": None,
        "metadata": None,
    }
    base.update(fields)
    return base


def ids(rid: str, iid: str) -> dict[str, Any]:
    return {"response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0}


def asst_item(iid: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": iid, "type": "message", "status": status, "role": "assistant", "content": content}


def audio_delta(rid: str, iid: str, data: bytes) -> str:
    return srv(
        "response.output_audio.delta", **ids(rid, iid), delta=base64.b64encode(data).decode()
    )


def response_done(
    rid: str,
    status: str = "completed",
    details: dict[str, Any] | None = None,
    output: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    **fields: Any,
) -> str:
    return srv(
        "response.done",
        response=response_obj(
            rid, status, status_details=details, output=output or [], usage=usage, **fields
        ),
    )


def audio_response_start(rid: str, iid: str) -> list[str]:
    return [
        srv("response.created", response=response_obj(rid)),
        srv(
            "response.output_item.added",
            response_id=rid,
            output_index=0,
            item=asst_item(iid, "in_progress", []),
        ),
        srv(
            "conversation.item.added", previous_item_id=USER, item=asst_item(iid, "in_progress", [])
        ),
        srv(
            "response.content_part.added", **ids(rid, iid), part={"type": "audio", "transcript": ""}
        ),
    ]


def audio_response_end(rid: str, iid: str, transcript: str, status: str = "completed") -> list[str]:
    final = asst_item(iid, status, [{"type": "output_audio", "transcript": transcript}])
    return [
        srv("response.output_audio.done", **ids(rid, iid)),
        srv("response.output_audio_transcript.done", **ids(rid, iid), transcript=transcript),
        srv(
            "response.content_part.done",
            **ids(rid, iid),
            part={"type": "audio", "transcript": transcript},
        ),
        srv("response.output_item.done", response_id=rid, output_index=0, item=final),
        srv("conversation.item.done", previous_item_id=USER, item=final),
    ]


# --------------------------------------------------------------------------- harness


class Harness:
    def __init__(self, config: OpenAIRealtime | None = None) -> None:
        self.proto = (config or OpenAIRealtime()).new_protocol()

    def feed(self, *messages: str) -> list[Event]:
        events: list[Event] = []
        for msg in messages:
            events += self.proto.receive(msg)
        return events

    def do(self, command: Any) -> list[Event]:
        return self.proto.handle(command)

    def sent(self) -> list[dict[str, Any]]:
        out = []
        for text in self.proto.data_to_send():
            CLIENT_ADAPTER.validate_json(text)  # everything we send fits the SDK's types
            out.append(json.loads(text))
        return out


def ready(config: OpenAIRealtime | None = None, turn_detection: Any = "default") -> Harness:
    h = Harness(config)
    assert h.feed(srv("session.created", session=session_obj())) == []
    [update] = h.sent()
    assert update["type"] == "session.update"
    assert h.feed(srv("session.updated", session=session_obj(turn_detection))) == [
        SessionReady(session_id="sess_1")
    ]
    return h


def test_the_machine_takes_a_plain_session_dict() -> None:
    """No configuration object needed: the dict given is what ``session.update`` carries."""
    session = {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "x"}}}
    proto = OpenAIProtocol(session)
    session["instructions"] = "changed after the fact"  # the machine keeps its own copy
    assert proto.receive(srv("session.created", session=session_obj())) == []
    [update] = [json.loads(t) for t in proto.data_to_send()]
    assert update["session"] == {
        "type": "realtime",
        "instructions": "Be brief.",
        "audio": {"output": {"voice": "x"}},
    }
    bare = OpenAIProtocol()
    bare.receive(srv("session.created", session=session_obj()))
    [update] = [json.loads(t) for t in bare.data_to_send()]
    assert update["session"] == {"type": "realtime"}  # the service's defaults
    assert bare.updates_live
    assert bare.resumption_handle is None


def is_ready(h: Harness) -> bool:
    return h.proto.ready


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def audio_frames(events: list[Event]) -> list[AudioOut]:
    return [e for e in events if isinstance(e, AudioOut)]


# --------------------------------------------------------------------------- 10.1 handshake


def test_handshake_sends_configuration_and_becomes_ready() -> None:
    h = Harness(OpenAIRealtime(instructions="Be brief.", voice="marin"))
    h.proto.start()
    assert h.sent() == []
    assert not is_ready(h)
    assert h.feed(srv("session.created", session=session_obj())) == []
    assert h.sent() == [
        {
            "type": "session.update",
            "event_id": "trio_1",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "audio": {
                    "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
                    "output": {"voice": "marin"},
                },
            },
        }
    ]
    with pytest.raises(ProtocolError) as info:
        h.do(SendText("hi"))
    assert info.value.side == "local"
    assert (
        str(info.value) == "Cannot SendText yet: the session is not ready (wait for SessionReady)."
    )
    [ready_ev] = h.feed(srv("session.updated", session=session_obj()))
    assert ready_ev == SessionReady(session_id="sess_1")
    assert isinstance(ready_ev.raw, m.SessionUpdated)
    assert is_ready(h)
    assert kinds(h.feed(srv("session.updated", session=session_obj()))) == ["SessionUpdated"]
    assert h.feed(srv("conversation.created", conversation={"id": CONV})) == []


def test_rejected_configuration_is_a_fatal_error() -> None:
    h = Harness()
    h.feed(srv("session.created", session=session_obj()))
    h.sent()
    [err] = h.feed(
        srv(
            "error",
            error={
                "type": "invalid_request_error",
                "code": "unknown_parameter",
                "message": "Unknown parameter: 'session.bogus'.",
                "param": "session.bogus",
                "event_id": "trio_1",
            },
        )
    )
    assert err == ServerErrorEvent(
        message="Unknown parameter: 'session.bogus'.",
        code="unknown_parameter",
        type="invalid_request_error",
        param="session.bogus",
        event_id="trio_1",
        fatal=True,
    )
    assert not h.proto.ready


def test_later_errors_are_not_fatal() -> None:
    h = ready()
    [err] = h.feed(
        srv(
            "error",
            error={
                "type": "invalid_request_error",
                "code": "conversation_already_has_active_response",
                "message": "Conversation already has an active response in progress: resp_x.",
                "param": None,
                "event_id": None,
            },
        )
    )
    assert isinstance(err, ServerErrorEvent)
    assert not err.fatal
    assert err.code == "conversation_already_has_active_response"
    assert err.event_id is None


# --------------------------------------------------------------------------- 10.2 text turn


def test_text_turn() -> None:
    h = ready()
    assert h.do(SendText("Is the 10mm socket in stock?")) == []
    assert h.sent() == [
        {
            "type": "conversation.item.create",
            "event_id": "trio_2",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Is the 10mm socket in stock?"}],
            },
        },
        {"type": "response.create", "event_id": "trio_3"},
    ]
    user_item = {
        "id": USER,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": "Is the 10mm socket in stock?"}],
    }
    final = asst_item(ASST, "completed", [{"type": "output_text", "text": "Twelve in stock."}])
    usage = {
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 10,
        "input_token_details": {"text_tokens": 20},
        "output_token_details": {"text_tokens": 10},
    }
    events = h.feed(
        srv("conversation.item.added", previous_item_id=None, item=user_item),
        srv("conversation.item.done", previous_item_id=None, item=user_item),
        srv("response.created", response=response_obj(R1, output_modalities=["text"])),
        srv(
            "response.output_item.added",
            response_id=R1,
            output_index=0,
            item=asst_item(ASST, "in_progress", []),
        ),
        srv(
            "conversation.item.added",
            previous_item_id=USER,
            item=asst_item(ASST, "in_progress", []),
        ),
        srv("response.content_part.added", **ids(R1, ASST), part={"type": "text", "text": ""}),
        srv("response.output_text.delta", **ids(R1, ASST), delta="Twelve in"),
        srv("response.output_text.delta", **ids(R1, ASST), delta=" stock."),
        srv("response.output_text.done", **ids(R1, ASST), text="Twelve in stock."),
        srv(
            "response.content_part.done",
            **ids(R1, ASST),
            part={"type": "text", "text": "Twelve in stock."},
        ),
        srv("response.output_item.done", response_id=R1, output_index=0, item=final),
        srv("conversation.item.done", previous_item_id=USER, item=final),
        response_done(R1, output=[final], usage=usage, output_modalities=["text"]),
        srv(
            "rate_limits.updated",
            rate_limits=[{"name": "tokens", "limit": 100, "remaining": 70, "reset_seconds": 1.5}],
        ),
    )
    usage_r1 = Usage(
        input_tokens=20,
        output_tokens=10,
        total_tokens=30,
        details={
            "input_token_details": {"text_tokens": 20},
            "output_token_details": {"text_tokens": 10},
        },
    )
    assert events == [
        ResponseStarted(response_id=R1),
        TextOut(text="Twelve in", response_id=R1, item_id=ASST),
        TextOut(text=" stock.", response_id=R1, item_id=ASST),
        ResponseDone(response_id=R1, status="completed", usage=usage_r1),
        TurnDone(status="completed", response_ids=(R1,), usage=usage_r1),
    ]
    assert h.sent() == []
    assert h.proto.response_in_progress is None


def test_send_image_as_data_url() -> None:
    h = ready()
    h.do(SendImage(b"\x89PNG\r\n", mime_type="image/png"))
    [create] = h.sent()
    assert create["item"]["content"] == [
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"}
    ]


# --------------------------------------------------------------------------- 10.3 voice turn


def test_voice_turn_with_server_vad() -> None:
    h = ready()
    frame = AudioFrame.from_bytes(pcm(20, 7), 24000)
    append = json.loads(h.proto.audio_message(frame))
    assert append == {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(pcm(20, 7)).decode(),
    }
    CLIENT_ADAPTER.validate_python(append)
    chunk1, chunk2 = pcm(100, 1), pcm(60, 2)
    user_item = {
        "id": USER,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    events = h.feed(
        srv("input_audio_buffer.speech_started", audio_start_ms=1236, item_id=USER),
        srv(
            "conversation.item.input_audio_transcription.delta",
            item_id=USER,
            content_index=0,
            delta="Is the",
            obfuscation="q",
        ),
        srv("input_audio_buffer.speech_stopped", audio_end_ms=3808, item_id=USER),
        srv("input_audio_buffer.committed", previous_item_id=None, item_id=USER),
        srv("conversation.item.added", previous_item_id=None, item=user_item),
        srv("conversation.item.done", previous_item_id=None, item=user_item),
        *audio_response_start(R1, ASST),
        srv("response.output_audio_transcript.delta", **ids(R1, ASST), delta="Yes,"),
        audio_delta(R1, ASST, chunk1),
        srv(
            "conversation.item.input_audio_transcription.completed",
            item_id=USER,
            content_index=0,
            transcript="Is the socket in stock?",
            usage={"type": "duration", "seconds": 3},
        ),
        srv("response.output_audio_transcript.delta", **ids(R1, ASST), delta=" twelve."),
        audio_delta(R1, ASST, chunk2),
        *audio_response_end(R1, ASST, "Yes, twelve."),
        response_done(
            R1,
            output=[
                asst_item(
                    ASST, "completed", [{"type": "output_audio", "transcript": "Yes, twelve."}]
                )
            ],
            usage={"total_tokens": 5, "input_tokens": 3, "output_tokens": 2},
        ),
        srv("rate_limits.updated", rate_limits=[]),
    )
    assert kinds(events) == [
        "SpeechStarted",
        "Transcript",
        "SpeechStopped",
        "InputCommitted",
        "ResponseStarted",
        "Transcript",
        "AudioOut",
        "Transcript",
        "Transcript",
        "AudioOut",
        "Transcript",
        "ResponseDone",
        "TurnDone",
    ]
    assert events[0] == SpeechStarted(audio_start_ms=1236, item_id=USER)
    assert events[1] == Transcript(role="user", text="Is the", final=False, item_id=USER)
    assert events[2] == SpeechStopped(audio_end_ms=3808, item_id=USER)
    assert events[3] == InputCommitted(item_id=USER)
    assert events[5] == Transcript(
        role="assistant", text="Yes,", final=False, item_id=ASST, response_id=R1
    )
    assert events[7] == Transcript(
        role="user", text="Is the socket in stock?", final=True, item_id=USER
    )
    assert events[10] == Transcript(
        role="assistant", text="Yes, twelve.", final=True, item_id=ASST, response_id=R1
    )
    out1, out2 = audio_frames(events)
    assert out1.frame.to_bytes() == chunk1
    assert out1.frame.sample_rate == 24000
    assert (out1.response_id, out1.item_id, out1.generation) == (R1, ASST, 0)
    assert out2.frame.to_bytes() == chunk2
    assert events[-2] == ResponseDone(
        response_id=R1,
        status="completed",
        usage=Usage(input_tokens=3, output_tokens=2, total_tokens=5),
    )
    assert events[-1] == TurnDone(
        response_ids=(R1,), usage=Usage(input_tokens=3, output_tokens=2, total_tokens=5)
    )
    assert h.sent() == []  # the server created the response itself


def test_audio_message_wants_mono_24k() -> None:
    h = ready()
    with pytest.raises(AudioError, match="mono 24000 Hz"):
        h.proto.audio_message(AudioFrame.from_bytes(pcm(10), 16000))
    stereo = AudioFrame(np.zeros((10, 2), dtype=np.int16), 24000, 2)
    with pytest.raises(AudioError, match="2 channel"):
        h.proto.audio_message(stereo)


def test_odd_sized_output_audio_is_a_protocol_error() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST))
    with pytest.raises(ProtocolError, match="not 16-bit PCM"):
        h.feed(audio_delta(R1, ASST, b"\x00\x01\x02"))


def test_failed_input_transcription_is_an_error_event() -> None:
    h = ready()
    [err] = h.feed(
        srv(
            "conversation.item.input_audio_transcription.failed",
            item_id=USER,
            content_index=0,
            error={
                "type": "transcription_error",
                "code": "audio_unintelligible",
                "message": "Could not transcribe.",
            },
        )
    )
    assert err == ServerErrorEvent(
        message="Could not transcribe.",
        code="audio_unintelligible",
        type="transcription_error",
        fatal=False,
    )


# --------------------------------------------------------------------------- 10.4 push-to-talk


def test_push_to_talk_turn() -> None:
    h = ready(OpenAIRealtime(turn_detection=None), turn_detection=None)
    assert h.do(CommitAudio()) == []
    assert h.sent() == [
        {"type": "input_audio_buffer.commit", "event_id": "trio_2"},
        {"type": "response.create", "event_id": "trio_3"},
    ]
    events = h.feed(
        srv("input_audio_buffer.committed", previous_item_id=None, item_id=USER),
        *audio_response_start(R1, ASST),
        audio_delta(R1, ASST, pcm(40)),
        *audio_response_end(R1, ASST, "Hi."),
        response_done(R1),
    )
    assert kinds(events) == [
        "InputCommitted",
        "ResponseStarted",
        "AudioOut",
        "Transcript",
        "ResponseDone",
        "TurnDone",
    ]
    h.do(CommitAudio(respond=False))
    h.do(ClearAudio())
    assert h.sent() == [
        {"type": "input_audio_buffer.commit", "event_id": "trio_4"},
        {"type": "input_audio_buffer.clear", "event_id": "trio_5"},
    ]
    assert h.feed(srv("input_audio_buffer.cleared")) == []
    assert h.do(StartActivity()) == []
    assert h.do(EndAudioStream()) == []
    assert h.sent() == []
    h.do(EndActivity())
    assert [s["type"] for s in h.sent()] == ["input_audio_buffer.commit", "response.create"]


def test_speech_start_without_vad_interrupt_is_not_a_barge_in() -> None:
    vad = {"type": "server_vad", "create_response": True, "interrupt_response": False}
    h = ready(turn_detection=vad)
    h.feed(*audio_response_start(R1, ASST), audio_delta(R1, ASST, pcm(100)))
    events = h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=1, item_id=USER))
    assert kinds(events) == ["SpeechStarted"]
    assert h.proto.generation == 0
    assert kinds(h.feed(audio_delta(R1, ASST, pcm(10)))) == ["AudioOut"]


# --------------------------------------------------------------------------- 10.5 function call


FC_ARGS = '{"sku":"SOC-10MM"}'


def function_call_turn(rid: str, call_id: str, arguments: str, fragments: list[str]) -> list[str]:
    item_ip = {
        "id": "item_fc",
        "type": "function_call",
        "status": "in_progress",
        "name": "check_stock",
        "call_id": call_id,
        "arguments": "",
    }
    item_done = {**item_ip, "status": "completed", "arguments": arguments}
    fc = {"response_id": rid, "item_id": "item_fc", "output_index": 0, "call_id": call_id}
    return [
        srv("response.created", response=response_obj(rid)),
        srv("response.output_item.added", response_id=rid, output_index=0, item=item_ip),
        srv("conversation.item.added", previous_item_id=USER, item=item_ip),
        *(srv("response.function_call_arguments.delta", **fc, delta=d) for d in fragments),
        srv("response.function_call_arguments.done", **fc, name="check_stock", arguments=arguments),
        srv("response.output_item.done", response_id=rid, output_index=0, item=item_done),
        srv("conversation.item.done", previous_item_id=USER, item=item_done),
        response_done(rid, output=[item_done]),
    ]


def test_function_call_turn() -> None:
    h = ready(OpenAIRealtime(tools=[ToolSpec("check_stock")]))
    events = h.feed(*function_call_turn(R1, "call_1", FC_ARGS, ['{"sku":', '"SOC-10MM"}']))
    assert events == [
        ResponseStarted(response_id=R1),
        ToolCall(
            call_id="call_1", name="check_stock", arguments={"sku": "SOC-10MM"}, response_id=R1
        ),
        ResponseDone(response_id=R1, status="completed"),
    ]  # no TurnDone: the turn goes on once the result is in
    assert h.do(SendToolResult("call_1", {"in_stock": 12})) == []
    assert h.sent() == [
        {
            "type": "conversation.item.create",
            "event_id": "trio_2",
            "item": {
                "type": "function_call_output",
                "call_id": "call_1",
                "output": '{"in_stock": 12}',
            },
        },
        {"type": "response.create", "event_id": "trio_3"},
    ]
    events = h.feed(
        *audio_response_start(R2, ASST),
        audio_delta(R2, ASST, pcm(20)),
        *audio_response_end(R2, ASST, "Twelve."),
        response_done(R2),
    )
    assert kinds(events) == [
        "ResponseStarted",
        "AudioOut",
        "Transcript",
        "ResponseDone",
        "TurnDone",
    ]
    assert events[-1] == TurnDone(response_ids=(R1, R2), tool_calls=1)
    with pytest.raises(ProtocolError, match="already sent"):
        h.do(SendToolResult("call_1", "again"))
    with pytest.raises(ProtocolError, match="No tool call with call_id 'call_zz'"):
        h.do(SendToolResult("call_zz", "x"))


def test_gemini_only_tool_result_options_are_refused() -> None:
    h = ready(OpenAIRealtime(tools=[ToolSpec("check_stock")]))
    h.feed(*function_call_turn(R1, "call_1", FC_ARGS, [FC_ARGS]))
    for result in (
        SendToolResult("call_1", 1, scheduling="silent"),
        SendToolResult("call_1", 1, will_continue=True),
    ):
        with pytest.raises(ProtocolError, match="no result scheduling nor partial") as info:
            h.do(result)
        assert info.value.side == "local"
    assert h.sent() == []
    # The call is still unanswered: a plain result goes through.
    h.do(SendToolResult("call_1", 1, respond=False))
    assert [e["type"] for e in h.sent()] == ["conversation.item.create"]


def test_tool_result_before_response_done_holds_the_response_create() -> None:
    h = ready()
    turn = function_call_turn(R1, "call_1", FC_ARGS, [FC_ARGS])
    h.feed(*turn[:-1])  # everything up to response.done
    assert h.proto.response_in_progress == R1
    h.do(SendToolResult("call_1", "sunny", respond=True))
    [create_item] = h.sent()
    assert create_item["item"] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": "sunny",
    }
    assert kinds(h.feed(turn[-1])) == ["ResponseDone"]
    assert h.sent() == [{"type": "response.create", "event_id": "trio_3"}]
    # A second request while that one is in flight is held too, not sent twice.
    h.do(SendText("and now?"))
    assert [s["type"] for s in h.sent()] == ["conversation.item.create"]
    h.feed(srv("response.created", response=response_obj(R2)), response_done(R2))
    assert h.sent() == [{"type": "response.create", "event_id": "trio_5"}]


def test_tool_error_result_and_unserialisable_result() -> None:
    h = ready()
    h.feed(*function_call_turn(R1, "call_1", FC_ARGS, []))
    with pytest.raises(ProtocolError, match="cannot be encoded as JSON"):
        h.do(SendToolResult("call_1", object()))
    h.do(SendToolResult("call_1", "boom", is_error=True, respond=False))
    [item] = h.sent()
    assert item["item"]["output"] == '{"error": "boom"}'


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"sku": ', "The arguments of tool call 'check_stock' are not valid JSON"),
        ("[1, 2]", "The arguments of tool call 'check_stock' are not a JSON object (got list)."),
    ],
)
def test_invalid_tool_arguments_give_an_error_event(arguments: str, message: str) -> None:
    h = ready()
    events = h.feed(*function_call_turn(R1, "call_1", arguments, [arguments]))
    assert kinds(events) == ["ResponseStarted", "InvalidToolCall", "ResponseDone"]
    bad = events[1]
    assert isinstance(bad, InvalidToolCall)
    assert (bad.call_id, bad.name, bad.arguments_text) == ("call_1", "check_stock", arguments)
    assert bad.message.startswith(message)
    # The model's call still exists: the application may answer it with an error.
    h.do(SendToolResult("call_1", "bad arguments", is_error=True, respond=False))
    assert len(h.sent()) == 1


def test_tool_call_from_output_item_when_arguments_done_is_missing() -> None:
    h = ready()
    turn = [
        msg
        for msg in function_call_turn(R1, "call_7", "", ['{"sku":', '"X"}'])
        if '"response.function_call_arguments.done"' not in msg
    ]
    events = h.feed(*turn)
    assert events[1] == ToolCall(
        call_id="call_7", name="check_stock", arguments={"sku": "X"}, response_id=R1
    )
    assert kinds(events) == ["ResponseStarted", "ToolCall", "ResponseDone"]


# --------------------------------------------------------------------------- 10.6 barge-in


def test_barge_in_while_generating_truncates_at_played_audio() -> None:
    h = ready()
    events = h.feed(
        *audio_response_start(R1, ASST), *(audio_delta(R1, ASST, pcm(100, i)) for i in range(3))
    )
    assert [e.generation for e in audio_frames(events)] == [0, 0, 0]
    assert h.do(ReportPlayback(played_ms=120)) == []
    events = h.feed(
        srv("input_audio_buffer.speech_started", audio_start_ms=5000, item_id="item_user2")
    )
    assert events == [
        SpeechStarted(audio_start_ms=5000, item_id="item_user2"),
        Interrupted(response_id=R1, source="server"),
    ]
    assert h.proto.generation == 1
    # The server cancels the response itself: no response.cancel, only the truncate.
    assert h.sent() == [
        {
            "type": "conversation.item.truncate",
            "event_id": "trio_2",
            "item_id": ASST,
            "content_index": 0,
            "audio_end_ms": 120,
        }
    ]
    late = h.feed(
        audio_delta(R1, ASST, pcm(100)),
        *audio_response_end(R1, ASST, "Sure, the opening", status="incomplete"),
        response_done(R1, "cancelled", {"type": "cancelled", "reason": "turn_detected"}),
        srv("conversation.item.truncated", item_id=ASST, content_index=0, audio_end_ms=120),
    )
    assert audio_frames(late) == []
    assert late[-2:] == [
        ResponseDone(response_id=R1, status="cancelled", reason="turn_detected"),
        TurnDone(status="interrupted", reason="turn_detected", response_ids=(R1,)),
    ]
    nxt = h.feed(*audio_response_start(R2, ASST2), audio_delta(R2, ASST2, pcm(10)))
    [frame] = audio_frames(nxt)
    assert (frame.response_id, frame.generation) == (R2, 1)


def test_barge_in_without_playback_reports_cuts_at_audio_received() -> None:
    h = ready()
    h.feed(
        *audio_response_start(R1, ASST),
        audio_delta(R1, ASST, pcm(250)),
        audio_delta(R1, ASST, pcm(31)),
    )
    events = h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=1, item_id=USER))
    assert kinds(events) == ["SpeechStarted", "Interrupted"]
    [truncate] = h.sent()
    assert truncate["audio_end_ms"] == 281


def test_playback_report_beyond_received_audio_is_clamped() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST), audio_delta(R1, ASST, pcm(200)))
    h.do(ReportPlayback(played_ms=900, item_id=ASST))
    h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=1, item_id=USER))
    [truncate] = h.sent()
    assert truncate["audio_end_ms"] == 200


def test_barge_in_after_generation_finished_truncates_unplayed_audio() -> None:
    h = ready()
    h.feed(
        *audio_response_start(R1, ASST),
        audio_delta(R1, ASST, pcm(1000)),
        *audio_response_end(R1, ASST, "A long answer."),
        response_done(R1),
    )
    h.do(ReportPlayback(played_ms=500))
    events = h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=9, item_id=USER))
    assert events[1] == Interrupted(response_id=R1, source="server")
    assert h.sent() == [
        {
            "type": "conversation.item.truncate",
            "event_id": "trio_2",
            "item_id": ASST,
            "content_index": 0,
            "audio_end_ms": 500,
        }
    ]
    # Already truncated: the next speech start is just speech.
    assert kinds(
        h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=99, item_id=USER))
    ) == ["SpeechStarted"]


def test_speech_after_fully_played_answer_is_not_an_interruption() -> None:
    h = ready()
    h.feed(
        *audio_response_start(R1, ASST),
        audio_delta(R1, ASST, pcm(300)),
        *audio_response_end(R1, ASST, "Done."),
        response_done(R1),
    )
    assert kinds(
        h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=9, item_id=USER))
    ) == ["SpeechStarted"]
    h.do(ReportPlayback(played_ms=300))
    assert kinds(
        h.feed(srv("input_audio_buffer.speech_started", audio_start_ms=10, item_id=USER))
    ) == ["SpeechStarted"]
    assert h.sent() == []
    assert h.proto.generation == 0


def test_playback_report_validation() -> None:
    h = ready()
    assert h.do(ReportPlayback(played_ms=10)) == []  # nothing received yet: ignored
    with pytest.raises(ProtocolError, match="must not be negative"):
        h.do(ReportPlayback(played_ms=-1))
    with pytest.raises(ProtocolError, match="No assistant audio was received for item 'nope'"):
        h.do(ReportPlayback(played_ms=1, item_id="nope"))


# --------------------------------------------------------------------------- 10.7 client cancel


def test_local_interrupt_cancels_and_truncates() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST), audio_delta(R1, ASST, pcm(480)))
    h.do(ReportPlayback(played_ms=333, item_id=ASST))
    assert h.do(Interrupt()) == [Interrupted(response_id=R1, source="local")]
    assert h.sent() == [
        {"type": "response.cancel", "event_id": "trio_2", "response_id": R1},
        {
            "type": "conversation.item.truncate",
            "event_id": "trio_3",
            "item_id": ASST,
            "content_index": 0,
            "audio_end_ms": 333,
        },
    ]
    events = h.feed(
        audio_delta(R1, ASST, pcm(100)),
        *audio_response_end(R1, ASST, "Partial", status="incomplete"),
        response_done(R1, "cancelled", {"type": "cancelled", "reason": "client_cancelled"}),
    )
    assert audio_frames(events) == []
    assert events[-2:] == [
        ResponseDone(response_id=R1, status="cancelled", reason="client_cancelled"),
        TurnDone(status="interrupted", reason="client_cancelled", response_ids=(R1,)),
    ]


def test_cancel_that_raced_the_end_of_the_response_is_benign() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST), audio_delta(R1, ASST, pcm(100)))
    h.do(Interrupt())
    cancel_id = h.sent()[0]["event_id"]
    not_active = {
        "type": "invalid_request_error",
        "code": "response_cancel_not_active",
        "message": "Cancellation failed: no active response found",
        "event_id": cancel_id,
    }
    assert h.feed(srv("error", error=not_active)) == []
    # The same error for someone else's cancel is reported.
    [err] = h.feed(srv("error", error={**not_active, "event_id": "other"}))
    assert isinstance(err, ServerErrorEvent)
    assert err.code == "response_cancel_not_active"


def test_interrupt_with_nothing_playing() -> None:
    h = ready()
    assert h.do(Interrupt()) == [Interrupted(response_id=None, source="local")]
    assert h.sent() == []
    assert h.proto.generation == 1


def test_interrupt_discards_a_held_response_request() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST), audio_delta(R1, ASST, pcm(50)))
    h.do(SendText("wait", respond=True))
    assert [s["type"] for s in h.sent()] == ["conversation.item.create"]
    h.do(Interrupt())
    h.sent()
    h.feed(response_done(R1, "cancelled", {"type": "cancelled", "reason": "client_cancelled"}))
    assert h.sent() == []


# --------------------------------------------------------------------------- 10.8 out-of-band


def test_out_of_band_response() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST))
    h.do(
        Respond(
            instructions="Classify the caller's intent in one word.",
            out_of_band=True,
            metadata={"purpose": "intent"},
        )
    )
    assert h.sent() == [
        {
            "type": "response.create",
            "event_id": "trio_2",
            "response": {
                "conversation": "none",
                "instructions": "Classify the caller's intent in one word.",
                "metadata": {"purpose": "intent"},
            },
        }
    ]
    oob = "resp_oob"
    events = h.feed(
        srv(
            "response.created",
            response=response_obj(
                oob,
                conversation_id=None,
                output_modalities=["text"],
                metadata={"purpose": "intent"},
            ),
        ),
        srv("response.output_text.delta", **ids(oob, "item_oob"), delta="billing"),
        response_done(
            oob, conversation_id=None, output_modalities=["text"], metadata={"purpose": "intent"}
        ),
    )
    assert events == [
        ResponseStarted(response_id=oob),
        TextOut(text="billing", response_id=oob, item_id="item_oob"),
        ResponseDone(response_id=oob, status="completed"),
    ]
    assert h.proto.response_in_progress == R1  # the conversation's own response goes on


def test_respond_with_instructions_in_conversation() -> None:
    h = ready()
    h.do(Respond(instructions="Say goodbye."))
    h.do(Respond())
    assert h.sent() == [
        {
            "type": "response.create",
            "event_id": "trio_2",
            "response": {"instructions": "Say goodbye."},
        }
    ]
    h.feed(srv("response.created", response=response_obj(R1)), response_done(R1))
    assert h.sent() == [{"type": "response.create", "event_id": "trio_3"}]


def test_failed_and_incomplete_responses_report_their_reason() -> None:
    h = ready()
    failed = {
        "type": "failed",
        "error": {"type": "server_error", "code": "server_error", "message": "x"},
    }
    events = h.feed(
        srv("response.created", response=response_obj(R1)),
        response_done(R1, "failed", failed),
        srv("response.created", response=response_obj(R2)),
        response_done(R2, "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}),
    )
    assert events[1] == ResponseDone(response_id=R1, status="failed", reason="server_error")
    assert events[2] == TurnDone(status="failed", reason="server_error", response_ids=(R1,))
    assert events[4] == ResponseDone(
        response_id=R2, status="incomplete", reason="max_output_tokens"
    )
    assert events[5] == TurnDone(
        status="incomplete", reason="max_output_tokens", response_ids=(R2,)
    )


# --------------------------------------------------------------------------- other commands


def test_update_session() -> None:
    h = ready()
    h.do(
        UpdateSession(
            instructions="Now in French.",
            voice="cedar",
            tools=[ToolSpec("f", "does f")],
            extra={"audio": {"output": {"speed": 1.2}}},
        )
    )
    assert h.sent() == [
        {
            "type": "session.update",
            "event_id": "trio_2",
            "session": {
                "type": "realtime",
                "instructions": "Now in French.",
                "audio": {"output": {"voice": "cedar", "speed": 1.2}},
                "tools": [
                    {
                        "type": "function",
                        "name": "f",
                        "description": "does f",
                        "parameters": {"type": "object", "properties": {}},
                    }
                ],
            },
        }
    ]
    assert h.feed(srv("session.updated", session=session_obj())) == [SessionUpdated()]


def test_unknown_and_unhandled_server_events_are_ignored() -> None:
    h = ready()
    assert (
        h.feed(
            json.dumps({"type": "response.reasoning.delta", "delta": "hmm"}),
            srv("output_audio_buffer.started", response_id=R1),
            srv("mcp_list_tools.completed", item_id="mcpl_1"),
            srv(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=1,
                audio_end_ms=2,
                item_id=USER,
            ),
        )
        == []
    )


def test_malformed_server_message_raises_protocol_error() -> None:
    h = ready()
    with pytest.raises(ProtocolError) as info:
        h.feed('{"type":"input_audio_buffer.speech_started","event_id":"e","item_id":"i"}')
    assert "required field missing @ $.audio_start_ms" in str(info.value)
    assert info.value.side == "remote"


def test_parallel_tool_calls_get_one_reply_after_the_last_result() -> None:
    h = ready()
    items = [
        {
            "id": f"item_{c}",
            "type": "function_call",
            "status": "completed",
            "name": "check_stock",
            "call_id": c,
            "arguments": FC_ARGS,
        }
        for c in ("call_a", "call_b")
    ]
    events = h.feed(
        srv("response.created", response=response_obj(R1)),
        *(
            srv(
                "response.function_call_arguments.done",
                response_id=R1,
                item_id=item["id"],
                output_index=i,
                call_id=item["call_id"],
                name="check_stock",
                arguments=FC_ARGS,
            )
            for i, item in enumerate(items)
        ),
        response_done(R1, output=items),
    )
    assert kinds(events) == ["ResponseStarted", "ToolCall", "ToolCall", "ResponseDone"]
    h.do(SendToolResult("call_b", 1))
    assert [s["type"] for s in h.sent()] == ["conversation.item.create"]
    h.do(SendToolResult("call_a", 2))
    assert [s["type"] for s in h.sent()] == ["conversation.item.create", "response.create"]


def test_send_event_queues_any_client_event() -> None:
    h = Harness()
    delete = m.ConversationItemDelete(item_id="item_old", event_id="mine")
    with pytest.raises(ProtocolError, match="Cannot send ConversationItemDelete yet"):
        h.proto.send_event(delete)
    h = ready()
    h.proto.send_event(delete)
    h.proto.send_event(
        m.ResponseCreate(
            response=m.ResponseCreateParams(
                output_modalities=["text"], max_output_tokens=50, tool_choice="none"
            )
        )
    )
    assert h.sent() == [
        {"type": "conversation.item.delete", "item_id": "item_old", "event_id": "mine"},
        {
            "type": "response.create",
            "response": {
                "output_modalities": ["text"],
                "max_output_tokens": 50,
                "tool_choice": "none",
            },
        },
    ]


def test_beta_output_event_names_are_understood() -> None:
    h = ready()
    h.feed(*audio_response_start(R1, ASST))
    beta_audio = json.loads(audio_delta(R1, ASST, pcm(10, 3)))
    beta_audio["type"] = "response.audio.delta"
    beta_text = json.loads(srv("response.audio_transcript.delta", **ids(R1, ASST), delta="Hi"))
    [audio, text] = h.feed(json.dumps(beta_audio), json.dumps(beta_text))
    assert isinstance(audio, AudioOut)
    assert audio.frame.to_bytes() == pcm(10, 3)
    assert text == Transcript(
        role="assistant", text="Hi", final=False, item_id=ASST, response_id=R1
    )
