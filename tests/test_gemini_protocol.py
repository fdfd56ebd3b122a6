"""GeminiProtocol: the sequences of the wire digest (section 17) as neutral events and outbox."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from google.genai import types as gt
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_realtime.audio import AudioError, AudioFrame
from trio_realtime.errors import ProtocolError
from trio_realtime.events import (
    AudioOut,
    ClearAudio,
    CommitAudio,
    EndActivity,
    EndAudioStream,
    Event,
    GoingAway,
    Interrupt,
    Interrupted,
    ReportPlayback,
    Respond,
    ResponseDone,
    ResponseStarted,
    ResumptionUpdate,
    SendImage,
    SendText,
    SendToolResult,
    ServerErrorEvent,
    SessionReady,
    SpeechStarted,
    SpeechStopped,
    StartActivity,
    TextOut,
    ToolCall,
    ToolCallCancelled,
    ToolSpec,
    Transcript,
    TurnDone,
    UpdateSession,
    Usage,
)
from trio_realtime.gemini import GeminiLive, GeminiProtocol
from trio_realtime.gemini import messages as m
from trio_realtime.gemini.codec import encode_client_message

PCM_A = np.arange(-240, 240, dtype=np.int16)
PCM_B = (np.arange(480, dtype=np.int16) * 7 - 1000).astype(np.int16)


def frame(obj: dict[str, Any]) -> bytes:
    """A server frame as the service sends it: UTF-8 JSON in a binary message."""
    return json.dumps(obj).encode()


def audio_chunk(pcm: np.ndarray[Any, Any], rate: int = 24000) -> bytes:
    data = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    return frame(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": f"audio/pcm;rate={rate}", "data": data}}]
                }
            }
        }
    )


def sent(proto: GeminiProtocol) -> list[dict[str, Any]]:
    """Drain the outbox; every message must be valid for the SDK's own models."""
    out = []
    for text in proto.data_to_send():
        value = json.loads(text)
        check = dict(value)
        if "setup" in check and "realtimeInputConfig" in check["setup"]:
            setup = dict(check["setup"])
            gt.RealtimeInputConfig.model_validate(setup.pop("realtimeInputConfig"))
            check["setup"] = setup
        gt.LiveClientMessage.model_validate(check)
        out.append(value)
    return out


def ready(config: GeminiLive | None = None, handle: str | None = None) -> GeminiProtocol:
    proto = (config or GeminiLive()).new_protocol(resumption_handle=handle)
    proto.start()
    proto.data_to_send()
    assert proto.receive(frame({"setupComplete": {}})) == [SessionReady()]
    return proto


def kinds(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


USAGE = {
    "promptTokenCount": 1786,
    "responseTokenCount": 179,
    "totalTokenCount": 1965,
    "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 179}],
}


# --------------------------------------------------------------------------- setup


def test_setup_first_and_nothing_before_setup_complete() -> None:
    proto = GeminiLive(instructions="Be brief.").new_protocol()
    assert proto.input_sample_rate == 16000
    assert proto.output_sample_rate == 24000
    assert not proto.ready
    proto.start()
    (setup,) = sent(proto)
    assert setup["setup"]["model"] == "models/gemini-3.8-live"
    assert setup["setup"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert setup["setup"]["sessionResumption"] == {}

    with pytest.raises(ProtocolError, match="before the Gemini server acknowledged") as info:
        proto.handle(SendText("hello"))
    assert info.value.side == "local"
    with pytest.raises(ProtocolError, match="Cannot send audio before"):
        proto.audio_message(AudioFrame(PCM_A, 16000))
    assert proto.data_to_send() == []
    with pytest.raises(ProtocolError, match="start\\(\\) was already called"):
        proto.start()

    events = proto.receive(frame({"setupComplete": {}}))
    assert events == [SessionReady(session_id=None)]
    assert isinstance(events[0].raw, m.ServerMessage)  # type: ignore[attr-defined]
    assert proto.ready


def test_the_machine_takes_a_plain_setup() -> None:
    """No configuration object needed: the `Setup` given is what ``setup`` carries."""
    setup = m.Setup(
        model="models/x",
        session_resumption=m.SessionResumptionConfig(transparent=True),
        realtime_input_config=m.RealtimeInputConfig(
            automatic_activity_detection=m.AutomaticActivityDetection(disabled=True)
        ),
    )
    proto = GeminiProtocol(setup, resumption_handle="H-1")
    assert not proto.updates_live
    assert proto.resumption_handle == "H-1"
    proto.start()
    (sent_setup,) = sent(proto)
    assert sent_setup["setup"]["model"] == "models/x"
    assert sent_setup["setup"]["sessionResumption"] == {"handle": "H-1", "transparent": True}
    proto.receive(frame({"setupComplete": {}}))
    # Push-to-talk follows the setup: audio needs an open activity.
    proto.handle(StartActivity())
    assert sent(proto) == [{"realtimeInput": {"activityStart": {}}}]
    plain = GeminiProtocol(m.Setup(model="models/x"))
    plain.start()
    assert sent(plain) == [{"setup": {"model": "models/x"}}]
    assert plain.resumption_handle is None
    plain.receive(frame({"setupComplete": {}}))
    with pytest.raises(ProtocolError, match="needs automatic_activity_detection=False"):
        plain.handle(StartActivity())


def test_setup_complete_with_session_id_and_twice() -> None:
    proto = GeminiLive().new_protocol()
    proto.start()
    assert proto.receive(frame({"setupComplete": {"sessionId": "s-1"}})) == [
        SessionReady(session_id="s-1")
    ]
    assert proto.session_id == "s-1"
    with pytest.raises(ProtocolError, match="setupComplete twice") as info:
        proto.receive(frame({"setupComplete": {}}))
    assert info.value.side == "remote"


def test_content_before_setup_complete_is_a_remote_error() -> None:
    proto = GeminiLive().new_protocol()
    proto.start()
    with pytest.raises(ProtocolError, match="content before setupComplete") as info:
        proto.receive(audio_chunk(PCM_A))
    assert info.value.side == "remote"


# --------------------------------------------------------------------------- text turn


def test_text_turn() -> None:
    proto = ready(GeminiLive(response_modalities=["TEXT"]))
    assert proto.handle(SendText("What is the capital of France?")) == []
    assert sent(proto) == [
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}],
                "turnComplete": True,
            }
        }
    ]
    events = proto.receive(frame({"serverContent": {"modelTurn": {"parts": [{"text": "Paris "}]}}}))
    assert events == [
        ResponseStarted(response_id="turn-1"),
        TextOut("Paris ", response_id="turn-1"),
    ]
    thought = {"text": "**Planning**", "thought": True}
    events = proto.receive(
        frame({"serverContent": {"modelTurn": {"parts": [thought, {"text": "is the capital."}]}}})
    )
    # A thought summary (include_thoughts) is marked, not mixed into the answer.
    assert events == [
        TextOut("**Planning**", response_id="turn-1", thought=True),
        TextOut("is the capital.", response_id="turn-1"),
    ]
    assert proto.receive(frame({"serverContent": {"generationComplete": True}})) == []
    events = proto.receive(frame({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE}))
    usage = Usage(input_tokens=1786, output_tokens=179, total_tokens=1965, details=USAGE)
    assert events == [
        ResponseDone(response_id="turn-1", status="completed", usage=usage),
        TurnDone(status="completed", response_ids=("turn-1",), usage=usage),
    ]
    assert proto.response_id is None


def test_send_text_without_reply_and_realtime_text() -> None:
    proto = ready()
    proto.handle(SendText("context only", respond=False))
    assert sent(proto) == [
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "context only"}]}],
                "turnComplete": False,
            }
        }
    ]
    proto = ready(GeminiLive(text_input="realtime"))
    proto.handle(SendText("Turn on the lights"))
    assert sent(proto) == [{"realtimeInput": {"text": "Turn on the lights"}}]
    proto.handle(Respond())
    assert sent(proto) == [{"clientContent": {"turnComplete": True}}]


# --------------------------------------------------------------------------- audio turn


def test_audio_message_wire_form() -> None:
    proto = ready()
    text = proto.audio_message(AudioFrame(PCM_A, 16000))
    expected = m.ClientMessage(
        realtime_input=m.RealtimeInput(
            audio=m.Blob(mime_type="audio/pcm;rate=16000", data=PCM_A.astype("<i2").tobytes())
        )
    )
    assert text == encode_client_message(expected)
    gt.LiveClientMessage.model_validate_json(text)
    # A non-contiguous view is encoded from its values, not its memory.
    strided = AudioFrame(np.arange(20, dtype=np.int16)[::2], 16000)
    decoded = json.loads(proto.audio_message(strided))
    assert base64.b64decode(decoded["realtimeInput"]["audio"]["data"]) == strided.to_bytes()
    with pytest.raises(AudioError, match="16000 Hz mono"):
        proto.audio_message(AudioFrame(PCM_A, 24000))
    with pytest.raises(AudioError, match="16000 Hz mono"):
        proto.audio_message(AudioFrame(PCM_A.reshape(-1, 2), 16000, 2))


def test_audio_turn_with_vad() -> None:
    proto = ready()
    proto.audio_message(AudioFrame(PCM_A, 16000))
    events = proto.receive(
        frame(
            {
                "serverContent": {},
                "voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "0.440s"},
            }
        )
    )
    assert events == [SpeechStarted(audio_start_ms=440)]
    events = proto.receive(frame({"serverContent": {"inputTranscription": {"text": "Hello"}}}))
    assert events == [Transcript(role="user", text="Hello", final=False)]
    events = proto.receive(
        frame(
            {"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_END", "audioOffset": "1.2s"}}
        )
    )
    assert events == [SpeechStopped(audio_end_ms=1200)]
    assert proto.receive(frame({"serverContent": {"inputTranscription": {"text": "."}}})) == [
        Transcript(role="user", text=".", final=False)
    ]
    assert (
        proto.receive(frame({"serverContent": {}, "usageMetadata": {"promptTokenCount": 5}})) == []
    )

    events = proto.receive(audio_chunk(PCM_A))
    assert kinds(events) == ["ResponseStarted", "AudioOut"]
    assert events[0] == ResponseStarted(response_id="turn-1")
    out = events[1]
    assert isinstance(out, AudioOut)
    assert out.frame == AudioFrame(PCM_A, 24000)
    assert (out.response_id, out.generation) == ("turn-1", 0)
    assert isinstance(out.raw, m.ServerMessage)

    events = proto.receive(frame({"serverContent": {"outputTranscription": {"text": "Hi "}}}))
    assert events == [Transcript(role="assistant", text="Hi ", final=False, response_id="turn-1")]
    events = proto.receive(audio_chunk(PCM_B))
    assert len(events) == 1
    assert isinstance(events[0], AudioOut)
    assert events[0].frame == AudioFrame(PCM_B, 24000)
    # The hot path keeps the parsed dict as raw, its audio decoded: a buffered
    # chunk holds one copy of its audio (the frame's buffer), not the base64 too.
    blob = events[0].raw["serverContent"]["modelTurn"]["parts"][0]["inlineData"]
    assert blob["data"] == PCM_B.astype("<i2").tobytes()
    assert np.shares_memory(events[0].frame.samples, np.frombuffer(blob["data"], dtype="<i2"))
    events = proto.receive(frame({"serverContent": {"outputTranscription": {"text": "there"}}}))
    assert events == [Transcript(role="assistant", text="there", final=False, response_id="turn-1")]
    assert proto.receive(frame({"serverContent": {"generationComplete": True}})) == []

    events = proto.receive(frame({"serverContent": {"turnComplete": True}, "usageMetadata": {}}))
    assert events == [
        Transcript(role="user", text="Hello.", final=True),
        Transcript(role="assistant", text="Hi there", final=True, response_id="turn-1"),
        ResponseDone(
            response_id="turn-1",
            status="completed",
            usage=Usage(input_tokens=5, details={"promptTokenCount": 5}),
        ),
        TurnDone(
            response_ids=("turn-1",), usage=Usage(input_tokens=5, details={"promptTokenCount": 5})
        ),
    ]
    # The next turn gets a new id.
    assert kinds(proto.receive(audio_chunk(PCM_A))) == ["ResponseStarted", "AudioOut"]
    assert proto.response_id == "turn-2"


def test_multi_part_server_content_in_one_frame() -> None:
    proto = ready()
    data = base64.b64encode(PCM_A.tobytes()).decode()
    events = proto.receive(
        frame(
            {
                "serverContent": {
                    "inputTranscription": {"text": "hey"},
                    "modelTurn": {
                        "parts": [
                            {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
                        ]
                    },
                    "outputTranscription": {"text": "Hello"},
                    "turnComplete": True,
                },
                "usageMetadata": {"candidatesTokenCount": 9, "totalTokenCount": 20},
            }
        )
    )
    assert kinds(events) == [
        "Transcript",
        "ResponseStarted",
        "AudioOut",
        "Transcript",
        "Transcript",
        "Transcript",
        "ResponseDone",
        "TurnDone",
    ]
    done = events[-2]
    assert isinstance(done, ResponseDone)
    assert done.usage == Usage(
        output_tokens=9, total_tokens=20, details={"candidatesTokenCount": 9, "totalTokenCount": 20}
    )


def test_audio_rates_and_non_audio_inline_data() -> None:
    proto = ready()
    (_, out) = proto.receive(audio_chunk(PCM_A, rate=16000))
    assert isinstance(out, AudioOut)
    assert out.frame.sample_rate == 16000
    data = base64.b64encode(PCM_A.tobytes()).decode()
    for mime, expected in (("audio/pcm", 24000), ("image/png", None)):
        events = proto.receive(
            frame(
                {
                    "serverContent": {
                        "modelTurn": {"parts": [{"inlineData": {"mimeType": mime, "data": data}}]}
                    }
                }
            )
        )
        if expected is None:
            assert events == []
        else:
            (audio,) = events
            assert isinstance(audio, AudioOut)
            assert audio.frame.sample_rate == expected
    odd = base64.b64encode(b"\x00\x01\x02").decode()
    with pytest.raises(ProtocolError, match="unusable audio"):
        proto.receive(
            frame(
                {
                    "serverContent": {
                        "modelTurn": {
                            "parts": [{"inlineData": {"mimeType": "audio/pcm", "data": odd}}]
                        }
                    }
                }
            )
        )


# --------------------------------------------------------------------------- barge-in


def test_server_barge_in() -> None:
    proto = ready()
    proto.receive(frame({"serverContent": {"inputTranscription": {"text": "Tell me a story"}}}))
    proto.receive(audio_chunk(PCM_A))
    proto.receive(frame({"serverContent": {"outputTranscription": {"text": "Once upon"}}}))
    events = proto.receive(frame({"serverContent": {"interrupted": True}}))
    assert events == [
        Interrupted(response_id="turn-1", source="server"),
        Transcript(role="user", text="Tell me a story", final=True),
        Transcript(role="assistant", text="Once upon", final=True, response_id="turn-1"),
        ResponseDone(response_id="turn-1", status="cancelled", reason="turn_detected"),
        TurnDone(status="interrupted", reason="turn_detected", response_ids=("turn-1",)),
    ]
    # The neutral reason is OpenAI's word too; Gemini's own stays in the raw message.
    done = events[3]
    assert isinstance(done, ResponseDone)
    assert done.raw.server_content.interrupted is True
    assert proto.generation == 1
    # Nothing more of that turn reaches the application.
    assert proto.receive(audio_chunk(PCM_B)) == []
    assert (
        proto.receive(frame({"serverContent": {"outputTranscription": {"text": " a time"}}})) == []
    )
    assert proto.receive(frame({"serverContent": {"inputTranscription": {"text": "Stop"}}})) == [
        Transcript(role="user", text="Stop", final=False)
    ]
    assert proto.receive(frame({"serverContent": {"turnComplete": True}})) == []
    events = proto.receive(audio_chunk(PCM_B))
    assert events[0] == ResponseStarted(response_id="turn-2")
    assert isinstance(events[1], AudioOut)
    assert events[1].generation == 1
    assert events[1].response_id == "turn-2"
    events = proto.receive(frame({"serverContent": {"turnComplete": True}}))
    assert events == [
        Transcript(role="user", text="Stop", final=True),
        ResponseDone(response_id="turn-2", status="completed"),
        TurnDone(response_ids=("turn-2",)),
    ]


def test_local_interrupt_sends_nothing_and_drops_the_rest_of_the_turn() -> None:
    proto = ready()
    proto.receive(audio_chunk(PCM_A))
    proto.receive(frame({"serverContent": {"outputTranscription": {"text": "Let me"}}}))
    events = proto.handle(Interrupt())
    assert events == [
        Interrupted(response_id="turn-1", source="local"),
        Transcript(role="assistant", text="Let me", final=True, response_id="turn-1"),
    ]
    assert proto.generation == 1
    assert proto.data_to_send() == []
    assert proto.receive(audio_chunk(PCM_B)) == []
    assert (
        proto.receive(frame({"serverContent": {"outputTranscription": {"text": " explain"}}})) == []
    )
    events = proto.receive(frame({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE}))
    assert len(events) == 2
    done = events[0]
    assert isinstance(done, ResponseDone)
    assert events[1] == TurnDone(
        status="interrupted", reason="client_cancelled", response_ids=("turn-1",), usage=done.usage
    )
    assert (done.response_id, done.status, done.reason) == (
        "turn-1",
        "cancelled",
        "client_cancelled",
    )
    assert done.usage is not None
    assert done.usage.output_tokens == 179
    # Idle interrupt: only the local event, generation still advances.
    assert proto.handle(Interrupt()) == [Interrupted(response_id=None, source="local")]
    assert proto.generation == 2


def test_local_interrupt_then_server_interrupted() -> None:
    proto = ready()
    proto.receive(audio_chunk(PCM_A))
    proto.handle(Interrupt())
    events = proto.receive(frame({"serverContent": {"interrupted": True}}))
    assert events == [
        ResponseDone(response_id="turn-1", status="cancelled", reason="client_cancelled"),
        TurnDone(status="interrupted", reason="client_cancelled", response_ids=("turn-1",)),
    ]
    assert proto.generation == 1
    assert proto.receive(frame({"serverContent": {"turnComplete": True}})) == []


# --------------------------------------------------------------------------- tool calls


def test_tool_call_result_and_cancellation() -> None:
    config = GeminiLive(tools=[ToolSpec("get_weather"), ToolSpec("turn_on_lights")])
    proto = ready(config)
    events = proto.receive(
        frame(
            {
                "toolCall": {
                    "functionCalls": [
                        {"id": "function-call-1", "name": "get_weather", "args": {"city": "Paris"}},
                        {"id": "function-call-2", "name": "turn_on_lights", "args": {}},
                    ]
                }
            }
        )
    )
    assert events == [
        ResponseStarted(response_id="turn-1"),
        ToolCall("function-call-1", "get_weather", {"city": "Paris"}, response_id="turn-1"),
        ToolCall("function-call-2", "turn_on_lights", {}, response_id="turn-1"),
    ]
    assert proto.pending_tool_calls == {
        "function-call-1": "get_weather",
        "function-call-2": "turn_on_lights",
    }
    assert proto.handle(SendToolResult("function-call-1", {"tempC": 21})) == []
    assert sent(proto) == [
        {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": "function-call-1",
                        "name": "get_weather",
                        "response": {"output": {"tempC": 21}},
                    }
                ]
            }
        }
    ]
    events = proto.receive(frame({"toolCallCancellation": {"ids": ["function-call-2"]}}))
    assert events == [ToolCallCancelled("function-call-2")]
    assert proto.pending_tool_calls == {}
    # A late result for a withdrawn call is dropped, not sent.
    assert proto.handle(SendToolResult("function-call-2", "done")) == []
    assert proto.data_to_send() == []
    with pytest.raises(ProtocolError, match="unknown tool call id 'nope'") as info:
        proto.handle(SendToolResult("nope", 1))
    assert info.value.side == "local"


def test_tool_error_result_and_bad_output() -> None:
    proto = ready()
    proto.receive(
        frame({"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {"a": 1}}]}})
    )
    with pytest.raises(ProtocolError, match="not JSON"):
        proto.handle(SendToolResult("c1", object()))
    proto.handle(SendToolResult("c1", "boom", is_error=True))
    assert sent(proto) == [
        {
            "toolResponse": {
                "functionResponses": [{"id": "c1", "name": "f", "response": {"error": "boom"}}]
            }
        }
    ]


def test_tool_call_without_id_gets_a_synthetic_one_not_sent_back() -> None:
    proto = ready()
    (_, call) = proto.receive(frame({"toolCall": {"functionCalls": [{"name": "f"}]}}))
    assert call == ToolCall("call-1", "f", {}, response_id="turn-1")
    proto.handle(SendToolResult("call-1", 5))
    assert sent(proto) == [
        {"toolResponse": {"functionResponses": [{"name": "f", "response": {"output": 5}}]}}
    ]


# --------------------------------------------------------------------------- goAway + resumption


def test_go_away_then_resumption_with_the_stored_handle() -> None:
    config = GeminiLive()
    proto = ready(config)
    events = proto.receive(
        frame({"sessionResumptionUpdate": {"newHandle": "H-1", "resumable": True}})
    )
    assert events == [ResumptionUpdate(handle="H-1", resumable=True)]
    assert proto.resumption_handle == "H-1"
    proto.receive(audio_chunk(PCM_A))
    # Mid-generation updates are not resumable: the last good handle is kept.
    events = proto.receive(frame({"sessionResumptionUpdate": {"resumable": False}}))
    assert events == [ResumptionUpdate(handle=None, resumable=False)]
    events = proto.receive(
        frame({"sessionResumptionUpdate": {"newHandle": "H-bad", "resumable": False}})
    )
    assert events == [ResumptionUpdate(handle="H-bad", resumable=False)]
    assert proto.resumption_handle == "H-1"
    proto.receive(frame({"serverContent": {"turnComplete": True}}))
    proto.receive(frame({"sessionResumptionUpdate": {"newHandle": "H-2", "resumable": True}}))

    events = proto.receive(frame({"goAway": {"timeLeft": "50s"}}))
    assert events == [GoingAway(time_left=50.0)]

    resumed = config.new_protocol(resumption_handle=proto.resumption_handle)
    resumed.start()
    (setup,) = sent(resumed)
    assert setup["setup"]["sessionResumption"] == {"handle": "H-2"}
    assert resumed.receive(frame({"setupComplete": {}})) == [SessionReady()]


def test_go_away_fraction_of_a_second() -> None:
    proto = ready()
    (event,) = proto.receive(frame({"goAway": {"timeLeft": "11.600s"}}))
    assert isinstance(event, GoingAway)
    assert event.time_left == pytest.approx(11.6)


# --------------------------------------------------------------------------- manual activity


def test_manual_activity() -> None:
    proto = ready(GeminiLive(automatic_activity_detection=False))
    with pytest.raises(ProtocolError, match="without a StartActivity"):
        proto.handle(EndActivity())
    proto.handle(StartActivity())
    assert sent(proto) == [{"realtimeInput": {"activityStart": {}}}]
    with pytest.raises(ProtocolError, match="already open"):
        proto.handle(StartActivity())
    with pytest.raises(ProtocolError, match="empty activity"):
        proto.handle(EndActivity())
    proto.audio_message(AudioFrame(PCM_A, 16000))
    proto.handle(EndActivity())
    assert sent(proto) == [{"realtimeInput": {"activityEnd": {}}}]
    proto.handle(StartActivity())
    proto.audio_message(AudioFrame(PCM_A, 16000))
    proto.handle(CommitAudio())
    assert sent(proto) == [
        {"realtimeInput": {"activityStart": {}}},
        {"realtimeInput": {"activityEnd": {}}},
    ]
    with pytest.raises(ProtocolError, match="only for automatic activity detection"):
        proto.handle(EndAudioStream())


def test_automatic_activity_rejects_manual_markers() -> None:
    proto = ready()
    with pytest.raises(ProtocolError, match="automatic_activity_detection=False") as info:
        proto.handle(StartActivity())
    assert info.value.side == "local"
    with pytest.raises(ProtocolError, match="automatic_activity_detection=False"):
        proto.handle(EndActivity())
    proto.handle(EndAudioStream())
    proto.handle(CommitAudio())
    assert sent(proto) == [{"realtimeInput": {"audioStreamEnd": True}}] * 2


# --------------------------------------------------------------------------- other commands


def test_images() -> None:
    proto = ready()
    jpeg = b"\xff\xd8\xff\xe0fake"
    proto.handle(SendImage(jpeg))
    proto.handle(SendImage(jpeg, mime_type="image/png", respond=True))
    b64 = base64.b64encode(jpeg).decode()
    assert sent(proto) == [
        {"realtimeInput": {"video": {"mimeType": "image/jpeg", "data": b64}}},
        {
            "clientContent": {
                "turns": [
                    {
                        "role": "user",
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": b64}}],
                    }
                ],
                "turnComplete": True,
            }
        },
    ]


def test_unsupported_commands_are_local_errors() -> None:
    proto = ready()
    with pytest.raises(ProtocolError, match="takes a reconnect") as info:
        proto.handle(UpdateSession(instructions="new"))
    assert info.value.side == "local"
    with pytest.raises(ProtocolError, match="cannot discard audio"):
        proto.handle(ClearAudio())
    with pytest.raises(ProtocolError, match="out-of-band") as info:
        proto.handle(Respond(out_of_band=True))
    assert info.value.side == "local"
    with pytest.raises(ProtocolError, match="metadata"):
        proto.handle(Respond(metadata={"topic": "x"}))
    with pytest.raises(ProtocolError, match="non-empty text, got ''"):
        proto.handle(Respond(instructions=""))
    assert proto.handle(ReportPlayback(played_ms=500)) == []
    assert proto.data_to_send() == []


def test_respond_with_instructions_is_a_completed_user_turn() -> None:
    # Gemini has no per-response instructions: they go as an ordered user turn
    # with turnComplete, which asks for the reply.
    proto = ready()
    assert proto.handle(Respond(instructions="Answer in French.")) == []
    assert proto.handle(Respond()) == []
    assert sent(proto) == [
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "Answer in French."}]}],
                "turnComplete": True,
            }
        },
        {"clientContent": {"turnComplete": True}},
    ]


def test_tool_result_scheduling_and_will_continue() -> None:
    proto = ready()
    proto.receive(frame({"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {}}]}}))
    proto.handle(SendToolResult("c1", {"step": 1}, scheduling="silent", will_continue=True))
    # More results will follow: the call stays pending.
    assert proto.pending_tool_calls == {"c1": "f"}
    proto.handle(SendToolResult("c1", {"step": 2}, scheduling="interrupt"))
    assert proto.pending_tool_calls == {}
    assert sent(proto) == [
        {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": "c1",
                        "name": "f",
                        "response": {"output": {"step": 1}},
                        "scheduling": "SILENT",
                        "willContinue": True,
                    }
                ]
            }
        },
        {
            "toolResponse": {
                "functionResponses": [
                    {
                        "id": "c1",
                        "name": "f",
                        "response": {"output": {"step": 2}},
                        "scheduling": "INTERRUPT",
                    }
                ]
            }
        },
    ]
    proto.receive(frame({"toolCall": {"functionCalls": [{"id": "c2", "name": "f", "args": {}}]}}))
    with pytest.raises(
        ProtocolError, match="scheduling must be 'interrupt', 'when_idle' or 'silent', got 'now'"
    ):
        proto.handle(SendToolResult("c2", 1, scheduling="now"))
    assert proto.pending_tool_calls == {"c2": "f"}
    assert sent(proto) == []


# --------------------------------------------------------------------------- turn ends and odd frames


@pytest.mark.parametrize(
    ("reason", "status", "why"),
    [
        ("NEED_MORE_INPUT", "completed", None),
        ("MALFORMED_FUNCTION_CALL", "failed", "malformed_function_call"),
        ("GENERATED_AUDIO_SAFETY", "incomplete", "generated_audio_safety"),
    ],
)
def test_turn_complete_reasons(reason: str, status: str, why: str | None) -> None:
    proto = ready()
    proto.receive(audio_chunk(PCM_A))
    (done, turn) = proto.receive(
        frame({"serverContent": {"turnComplete": True, "turnCompleteReason": reason}})
    )
    assert done == ResponseDone(response_id="turn-1", status=status, reason=why)
    assert turn == TurnDone(status=status, reason=why, response_ids=("turn-1",))


def test_empty_turn_still_starts_and_ends_a_response() -> None:
    proto = ready()
    events = proto.receive(frame({"serverContent": {"turnComplete": True}}))
    assert events == [
        ResponseStarted(response_id="turn-1"),
        ResponseDone(response_id="turn-1"),
        TurnDone(response_ids=("turn-1",)),
    ]


def test_finished_input_transcription_is_final_at_once() -> None:
    proto = ready()
    events = proto.receive(
        frame({"serverContent": {"inputTranscription": {"text": "Hi", "finished": True}}})
    )
    assert events == [
        Transcript(role="user", text="Hi", final=False),
        Transcript(role="user", text="Hi", final=True),
    ]
    assert (
        proto.receive(frame({"serverContent": {"interimInputTranscription": {"text": "Hi th"}}}))
        == []
    )


def test_vad_signal_unknown_and_error_messages() -> None:
    proto = ready()
    assert proto.receive(
        frame({"voiceActivityDetectionSignal": {"vadSignalType": "VAD_SIGNAL_TYPE_SOS"}})
    ) == [SpeechStarted()]
    assert proto.receive(
        frame({"voiceActivityDetectionSignal": {"vadSignalType": "VAD_SIGNAL_TYPE_EOS"}})
    ) == [SpeechStopped()]
    assert proto.receive(frame({"somethingNew": {"a": 1}})) == []
    assert proto.receive(frame({"serverContent": {}})) == []
    (err,) = proto.receive(
        frame({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
    )
    assert err == ServerErrorEvent(message="Quota exceeded", code=429, type="RESOURCE_EXHAUSTED")
    with pytest.raises(ProtocolError, match=r"\$\.serverContent\.turnComplete"):
        proto.receive(frame({"serverContent": {"turnComplete": 1}}))


# --------------------------------------------------------------------------- properties

_STEPS = {
    "audio": lambda: audio_chunk(PCM_A),
    "out_text": lambda: frame({"serverContent": {"outputTranscription": {"text": "w "}}}),
    "in_text": lambda: frame({"serverContent": {"inputTranscription": {"text": "u "}}}),
    "text": lambda: frame({"serverContent": {"modelTurn": {"parts": [{"text": "t"}]}}}),
    "generation_complete": lambda: frame({"serverContent": {"generationComplete": True}}),
    "interrupted": lambda: frame({"serverContent": {"interrupted": True}}),
    "turn_complete": lambda: frame({"serverContent": {"turnComplete": True}}),
    "tool_call": lambda: frame({"toolCall": {"functionCalls": [{"id": "c", "name": "f"}]}}),
    "usage": lambda: frame({"serverContent": {}, "usageMetadata": {"totalTokenCount": 4}}),
}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*_STEPS, "local_interrupt"]), max_size=40))
def test_event_stream_invariants(steps: list[str]) -> None:
    proto = ready()
    events: list[Event] = []
    for step in steps:
        if step == "local_interrupt":
            events.extend(proto.handle(Interrupt()))
        else:
            events.extend(proto.receive(_STEPS[step]()))

    open_id: str | None = None
    started: list[str] = []
    done: set[str] = set()
    interrupted: set[str] = set()
    interruptions = 0
    partials: dict[str, str] = {}
    finals: dict[str, str] = {}
    for ev in events:
        if isinstance(ev, ResponseStarted):
            assert open_id is None, "a response started while another was open"
            assert ev.response_id is not None
            assert ev.response_id not in started
            open_id = ev.response_id
            started.append(ev.response_id)
        elif isinstance(ev, ResponseDone):
            assert ev.response_id is not None
            assert ev.response_id == open_id
            assert ev.response_id not in done
            done.add(ev.response_id)
            open_id = None
        elif isinstance(ev, Interrupted):
            interruptions += 1
            if ev.response_id is not None:
                interrupted.add(ev.response_id)
        elif isinstance(ev, (AudioOut, TextOut)):
            assert ev.response_id == open_id is not None
            assert ev.response_id not in interrupted, "output after the interruption"
            if isinstance(ev, AudioOut):
                assert ev.generation == interruptions
        elif isinstance(ev, Transcript) and ev.role == "assistant":
            assert ev.response_id is not None
            assert ev.response_id not in finals
            if ev.final:
                finals[ev.response_id] = ev.text
                assert ev.text == partials.get(ev.response_id)
            else:
                assert ev.response_id not in interrupted
                partials[ev.response_id] = partials.get(ev.response_id, "") + ev.text
    assert proto.generation == interruptions
    # Every response that ended was started, and only the last may still be open.
    assert done <= set(started)
    assert set(started) - done <= ({open_id} if open_id else set())
