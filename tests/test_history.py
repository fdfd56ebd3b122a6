"""The conversation history model, the retry policy and the continuity helpers (pure)."""

from __future__ import annotations

import json

import pytest

import trio_realtime as rt
from trio_realtime._config import RetryPolicy
from trio_realtime._continuity import GapBuffer, classify, retryable
from trio_realtime.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLost,
    HandshakeError,
    RateLimitError,
    ReconnectFailed,
)
from trio_realtime.events import (
    InputCommitted,
    Interrupted,
    ResponseDone,
    ResponseStarted,
    SendImage,
    SendText,
    SendToolResult,
    TextOut,
    ToolCall,
    ToolCallCancelled,
    Transcript,
)
from trio_realtime.history import ConversationHistory, HistoryItem, ImageRef, as_history
from trio_realtime.openai import codec as oc
from trio_realtime.openai.protocol import OpenAIProtocol


def feed(history: ConversationHistory, *steps: object) -> None:
    for step in steps:
        if isinstance(step, (SendText, SendImage, SendToolResult)):
            history.observe_command(step)
        else:
            history.observe(step)  # type: ignore[arg-type]


def test_gemini_turns_with_a_tool_and_a_barge_in() -> None:
    h = ConversationHistory()
    feed(
        h,
        Transcript("user", "What is the ", final=False),
        Transcript("user", "weather?", final=False),
        ResponseStarted("turn-1"),
        ToolCall("fc-1", "get_weather", {"city": "Oslo"}, response_id="turn-1"),
        SendToolResult("fc-1", {"temp_c": 4}),
        Transcript("assistant", "It is ", final=False, response_id="turn-1"),
        Transcript("assistant", "4 degrees.", final=False, response_id="turn-1"),
        Transcript("user", "What is the weather?", final=True),
        Transcript("assistant", "It is 4 degrees.", final=True, response_id="turn-1"),
        ResponseDone("turn-1"),
        SendText("Tell me a story."),
        ResponseStarted("turn-2"),
        Transcript("assistant", "Once upon ", final=False, response_id="turn-2"),
        Interrupted("turn-2", source="server"),
        Transcript("assistant", "Once upon ", final=True, response_id="turn-2"),
        ResponseDone("turn-2", status="cancelled", reason="turn_detected"),
        Transcript("user", "Stop.", final=False),
    )
    assert h == [
        HistoryItem("message", "user", "What is the weather?"),
        HistoryItem(
            "tool_call",
            call_id="fc-1",
            name="get_weather",
            arguments={"city": "Oslo"},
            response_id="turn-1",
        ),
        HistoryItem("tool_result", call_id="fc-1", name="get_weather", result={"temp_c": 4}),
        HistoryItem("message", "assistant", "It is 4 degrees.", response_id="turn-1"),
        HistoryItem("message", "user", "Tell me a story."),
        HistoryItem(
            "message", "assistant", "Once upon ", status="interrupted", response_id="turn-2"
        ),
        HistoryItem("message", "user", "Stop.", status="in_progress"),
    ]


def test_speech_before_and_after_a_tool_call_is_two_messages() -> None:
    h = ConversationHistory()
    feed(
        h,
        Transcript("assistant", "Let me check. ", final=False, response_id="turn-1"),
        ToolCall("fc-1", "lookup", {}, response_id="turn-1"),
        SendToolResult("fc-1", "ok"),
        Transcript("assistant", "Done.", final=False, response_id="turn-1"),
        Transcript("assistant", "Let me check. Done.", final=True, response_id="turn-1"),
        ResponseDone("turn-1"),
    )
    assert [(i.kind, i.text) for i in h] == [
        ("message", "Let me check. "),
        ("tool_call", ""),
        ("tool_result", ""),
        ("message", "Done."),
    ]
    assert {i.status for i in h} == {"completed"}


def test_openai_items_keep_their_ids_and_the_truncated_text() -> None:
    h = ConversationHistory()
    feed(
        h,
        InputCommitted("item_u1"),
        ResponseStarted("resp_1"),
        Transcript("assistant", "Hello", False, item_id="item_a1", response_id="resp_1"),
        # The user's transcript arrives after the reply began: it stays first.
        Transcript("user", "Hi there", True, item_id="item_u1"),
        Transcript("assistant", " there, friend.", False, item_id="item_a1", response_id="resp_1"),
        Interrupted(
            "resp_1", source="local", item_id="item_a1", audio_end_ms=400, heard_text="Hello"
        ),
        # The service finishes the transcript of the cancelled item: unheard, ignored.
        Transcript(
            "assistant", "Hello there, friend.", True, item_id="item_a1", response_id="resp_1"
        ),
        ResponseDone("resp_1", status="cancelled", reason="client_cancelled"),
    )
    assert h == [
        HistoryItem("message", "user", "Hi there", item_id="item_u1"),
        HistoryItem(
            "message",
            "assistant",
            "Hello",
            status="interrupted",
            item_id="item_a1",
            response_id="resp_1",
        ),
    ]


def test_cancelled_tool_calls_keep_no_result() -> None:
    h = ConversationHistory()
    feed(
        h,
        ToolCall("c1", "slow", {"n": 1}, response_id="r1"),
        ToolCall("c2", "slow", {"n": 2}, response_id="r1"),
        ToolCallCancelled("c1"),
        SendToolResult("c1", "late"),  # a withdrawn call's result is not sent
        ResponseDone("r1", status="cancelled"),
    )
    assert [(i.kind, i.call_id, i.status) for i in h] == [
        ("tool_call", "c1", "cancelled"),
        ("tool_call", "c2", "cancelled"),
    ]


def test_text_output_accumulates_and_completes() -> None:
    h = ConversationHistory()
    feed(
        h,
        TextOut("Par", response_id="r1", item_id="i1"),
        TextOut("is.", response_id="r1", item_id="i1"),
        ResponseDone("r1"),
    )
    assert h == [HistoryItem("message", "assistant", "Paris.", item_id="i1", response_id="r1")]


def test_export_import_round_trip_through_json() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    h = ConversationHistory()
    feed(
        h,
        SendImage(png, "image/png"),
        SendText("What is this?"),
        Transcript("assistant", "A picture.", True, item_id="i1", response_id="r1"),
        ResponseDone("r1"),
        ToolCall("c1", "f", {"x": [1, 2]}, response_id="r2"),
        SendToolResult("c1", "boom", is_error=True),
    )
    data = json.loads(h.to_json())
    assert data[0] == {
        "kind": "message",
        "role": "user",
        "text": "",
        "images": [
            {"mime_type": "image/png", "size": len(png), "sha256": ImageRef.of(png, "").sha256}
        ],
    }
    assert data[-1] == {
        "kind": "tool_result",
        "role": None,
        "text": "",
        "call_id": "c1",
        "name": "f",
        "result": "boom",
        "is_error": True,
    }
    back = ConversationHistory.from_data(data)
    assert back == h
    assert back[0].images[0].data is None  # bytes left out unless asked
    with_bytes = ConversationHistory.from_data(json.loads(h.to_json(images=True)))
    assert with_bytes[0].images[0].data == png
    assert as_history(data) == h.items
    assert as_history(h) == h.items
    assert as_history(None) == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nope", "history must be a list of items, got str."),
        (
            [{"kind": "speech", "role": "user"}],
            "history[0].kind must be one of message, tool_call, tool_result, got 'speech'.",
        ),
        (
            [{"kind": "message", "role": "system"}],
            "history[0].role must be 'user' or 'assistant' for a message, got 'system'.",
        ),
        (
            [{"kind": "message", "role": "user", "text": 3}],
            "history[0].text must be a string, got int.",
        ),
        (
            [{"kind": "tool_call", "name": "f"}],
            "history[0] (tool_call) needs a call_id and a name.",
        ),
        (
            [{"kind": "message", "role": "user", "colour": "red"}],
            "history[0] has unknown field(s): colour.",
        ),
        (
            [
                {
                    "kind": "message",
                    "role": "user",
                    "images": [
                        {"mime_type": "image/png", "size": 1, "sha256": "00", "data": "AA=="}
                    ],
                }
            ],
            "history[0].images[0].data does not match its sha256.",
        ),
    ],
)
def test_import_refuses_malformed_data(data: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ConversationHistory.from_data(data)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_openai_protocol_reports_what_was_heard_at_the_cut() -> None:
    p = OpenAIProtocol()
    sess = {"type": "realtime", "id": "sess_1"}
    p.receive(
        oc.encode_server_event(
            oc.decode_server_event(
                json.dumps({"type": "session.created", "event_id": "e0", "session": sess})
            )
        )
    )
    p.receive(json.dumps({"type": "session.updated", "event_id": "e1", "session": sess}))
    p.data_to_send()
    p.receive(
        json.dumps(
            {
                "type": "response.created",
                "event_id": "e2",
                "response": {
                    "id": "resp_1",
                    "object": "realtime.response",
                    "status": "in_progress",
                    "conversation_id": "conv_1",
                },
            }
        )
    )
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    chunk = "AAAA" * 320  # 960 bytes = 20 ms of 24 kHz PCM16
    for word in ("One", " two", " three"):
        p.receive(
            json.dumps(
                {
                    "type": "response.output_audio_transcript.delta",
                    "event_id": "e",
                    **ids,
                    "delta": word,
                }
            )
        )
        for _ in range(5):  # 100 ms of audio per word
            p.receive(
                json.dumps(
                    {"type": "response.output_audio.delta", "event_id": "e", **ids, "delta": chunk}
                )
            )
    from trio_realtime.events import Interrupt, ReportPlayback

    p.handle(ReportPlayback(played_ms=150))
    (ev,) = p.handle(Interrupt())
    assert isinstance(ev, Interrupted)
    assert (ev.item_id, ev.audio_end_ms, ev.heard_text) == ("item_1", 150, "One two")


def test_retry_policy_backoff_grows_caps_and_jitters() -> None:
    policy = RetryPolicy(initial_backoff=0.5, multiplier=2.0, max_backoff=3.0, jitter=0.5)
    assert [policy.backoff(n, 0.0) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(2, 0.5) == 0.75
    assert RetryPolicy(jitter=0).backoff(1, 0.99) == 0.5
    with pytest.raises(ConfigurationError, match="max_attempts must be an integer >= 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError, match="jitter must be between 0 and 1, got 2"):
        RetryPolicy(jitter=2)
    assert rt.ConnectionOptions().retry == RetryPolicy()


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (AuthenticationError("no", status=401), "fatal"),
        (RateLimitError("slow down", status=429), "rate_limited"),
        (HandshakeError("bad gateway", status=502), "retry"),
        (HandshakeError("bad request", status=400), "fatal"),
        (HandshakeError("no route"), "retry"),
        (ConnectionLost("x", code=1006), "retry"),
        (ConnectionLost("x", code=1011, reason="Internal error occurred."), "retry"),
        (
            ConnectionLost("x", code=1011, reason="RESOURCE_EXHAUSTED: too many sessions"),
            "rate_limited",
        ),
        (
            ConnectionLost(
                "x", code=1007, reason="API key not valid. Please pass a valid API key."
            ),
            "fatal",
        ),
        (ConnectionLost("x", code=1007, reason="Request contains an invalid argument."), "fatal"),
        (
            ConnectionLost("x", code=1008, reason="models/x is not found for API version v1beta"),
            "fatal",
        ),
        (
            ConnectionLost("x", code=1008, reason="BidiGenerateContent session not found"),
            "session_gone",
        ),
        (
            ConnectionLost(
                "x",
                code=1008,
                reason="Connection aborted because the client failed to close the connection after receiving a GoAway",
            ),
            "retry",
        ),
        (
            ConnectionLost("x", code=4000, reason="invalid_request_error.beta_api_shape_disabled"),
            "fatal",
        ),
        (
            ConnectionLost(
                "x", code=1001, reason="Your session hit the maximum duration of 60 minutes."
            ),
            "retry",
        ),
        (None, "retry"),
    ],
)
def test_outcomes_are_classified_by_code_and_reason(exc: Exception | None, outcome: str) -> None:
    assert classify(exc) == outcome


def test_policy_decides_the_grey_outcomes() -> None:
    assert retryable("retry", RetryPolicy())
    assert not retryable("fatal", RetryPolicy())
    assert not retryable("rate_limited", RetryPolicy())
    assert retryable("rate_limited", RetryPolicy(retry_rate_limited=True))
    assert retryable("session_gone", RetryPolicy())
    assert not retryable("session_gone", RetryPolicy(fresh_fallback=False))


def test_gap_buffer_keeps_the_newest_and_counts_the_rest() -> None:
    buf = GapBuffer(3)
    for i in range(5):
        buf.append(i)
    assert buf.take() == [2, 3, 4]
    assert buf.reset_counts() == (3, 2)
    assert buf.reset_counts() == (0, 0)


def test_reconnect_failed_lists_attempts_and_is_a_connection_lost() -> None:
    exc = ReconnectFailed(
        "gave up", code=1006, failures=["HandshakeError: refused", "ConnectionLost: dropped"]
    )
    assert isinstance(exc, ConnectionLost)
    assert exc.attempts == 2
    assert exc.failures == ("HandshakeError: refused", "ConnectionLost: dropped")


SEED = [
    HistoryItem("message", "user", "My name is Ada."),
    HistoryItem("message", "assistant", "Hello Ada."),
    HistoryItem("tool_call", call_id="c1", name="lookup", arguments={"q": "Ada"}),
    HistoryItem("tool_result", call_id="c1", name="lookup", result={"born": 1815}),
    HistoryItem("tool_call", call_id="c2", name="lookup", arguments={}, status="cancelled"),
    HistoryItem("message", "assistant", ""),
]


def test_openai_seed_goes_in_as_items_before_session_ready() -> None:
    p = rt.OpenAIRealtime(api_key="k", history=SEED).new_protocol()
    p.receive(
        json.dumps({"type": "session.created", "event_id": "e0", "session": {"type": "realtime"}})
    )
    assert [json.loads(x)["type"] for x in p.data_to_send()] == ["session.update"]
    events = p.receive(
        json.dumps({"type": "session.updated", "event_id": "e1", "session": {"type": "realtime"}})
    )
    assert [type(e).__name__ for e in events] == ["SessionReady"]
    items = [json.loads(x)["item"] for x in p.data_to_send()]
    assert items == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "My name is Ada."}],
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello Ada."}],
        },
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": "Ada"}'},
        {"type": "function_call_output", "call_id": "c1", "output": '{"born": 1815}'},
    ]


def test_gemini_seed_is_the_initial_history_in_client_content() -> None:
    from trio_realtime.gemini import codec as gc

    p = rt.GeminiLive(api_key="k", history=ConversationHistory(SEED)).new_protocol()
    p.start()
    (setup,) = [json.loads(x) for x in p.data_to_send()]
    assert setup["setup"]["historyConfig"] == {"initialHistoryInClientContent": True}
    p.receive(b'{"setupComplete": {}}')
    (content,) = [json.loads(x) for x in p.data_to_send()]
    assert content == {
        "clientContent": {
            "turns": [
                {"role": "user", "parts": [{"text": "My name is Ada."}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "Hello Ada."},
                        {"functionCall": {"id": "c1", "name": "lookup", "args": {"q": "Ada"}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "id": "c1",
                                "name": "lookup",
                                "response": {"output": {"born": 1815}},
                            }
                        }
                    ],
                },
            ],
            "turnComplete": True,
        }
    }
    gc.decode_client_message(json.dumps(content))  # a valid client message
    # A resumed session has the conversation already: no seed, no historyConfig.
    p = rt.GeminiLive(api_key="k", history=SEED).new_protocol(resumption_handle="h1")
    p.start()
    (setup,) = [json.loads(x) for x in p.data_to_send()]
    assert "historyConfig" not in setup["setup"]
    p.receive(b'{"setupComplete": {}}')
    assert p.data_to_send() == []


def test_config_refuses_a_bad_history() -> None:
    with pytest.raises(ConfigurationError, match=r"history\[0\]\.kind must be one of"):
        rt.GeminiLive(api_key="k", history=[{"kind": "nope"}])


def test_a_reply_stays_before_user_words_recorded_while_it_began() -> None:
    # The reply started (its audio came first), the user barged in by text,
    # and only then the reply's first transcript fragment arrived.
    h = ConversationHistory()
    feed(
        h,
        SendText("Tell me more."),
        ResponseStarted("turn-2"),
        SendText("Stop."),
        Transcript("assistant", "This", False, response_id="turn-2"),
        Interrupted("turn-2", source="server"),
        Transcript("assistant", "This", True, response_id="turn-2"),
        ResponseDone("turn-2", status="cancelled", reason="turn_detected"),
        ToolCall("c9", "later", {}, response_id="turn-3"),
    )
    assert [(i.kind, i.role, i.text, i.status) for i in h] == [
        ("message", "user", "Tell me more.", "completed"),
        ("message", "assistant", "This", "interrupted"),
        ("message", "user", "Stop.", "completed"),
        ("tool_call", None, "", "in_progress"),
    ]
    h.cancel_calls(["c9"])
    assert h[-1].status == "cancelled"


def test_image_bytes_are_kept_newest_first_within_the_budget() -> None:
    h = ConversationHistory(max_image_bytes=25)
    frames = [bytes([i]) * 10 for i in range(4)]
    for frame in frames:
        h.observe_command(SendImage(frame, "image/jpeg"))
    kept = [item.images[0].data for item in h]
    assert kept == [None, None, frames[2], frames[3]]
    # The references stay, bytes or not.
    assert [item.images[0].sha256 for item in h] == [ImageRef.of(f, "").sha256 for f in frames]
