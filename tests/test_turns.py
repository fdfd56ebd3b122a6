"""`TurnDone`: where each provider's protocol machine says the assistant's turn ended."""

from __future__ import annotations

from collections.abc import Sequence

from trio_realtime._turns import add_usage
from trio_realtime.events import (
    Interrupt,
    Interrupted,
    Respond,
    ResponseDone,
    SendToolResult,
    ToolSpec,
    TurnDone,
    Usage,
)
from trio_realtime.gemini import GeminiLive
from trio_realtime.openai import OpenAIRealtime

from . import test_gemini_protocol as g
from . import test_openai_protocol as o

FC = '{"sku": "X"}'


def turn_dones(events: Sequence[object]) -> list[TurnDone]:
    return [e for e in events if isinstance(e, TurnDone)]


# --------------------------------------------------------------------------- OpenAI


def test_openai_fast_tool_result_keeps_the_turn_open_until_the_reply() -> None:
    h = o.ready(OpenAIRealtime(tools=[ToolSpec("check_stock")]))
    turn = o.function_call_turn(o.R1, "call_1", FC, [FC])
    h.feed(*turn[:-1])
    assert h.do(SendToolResult("call_1", "ok")) == []  # before the tool response ended
    assert o.kinds(h.feed(turn[-1])) == ["ResponseDone"]  # a reply was asked for: no TurnDone
    events = h.feed(
        *o.audio_response_start(o.R2, o.ASST),
        o.audio_delta(o.R2, o.ASST, o.pcm(20)),
        *o.audio_response_end(o.R2, o.ASST, "OK."),
        o.response_done(o.R2),
    )
    assert turn_dones(events) == [TurnDone(response_ids=(o.R1, o.R2), tool_calls=1)]
    assert o.kinds(events)[-2:] == ["ResponseDone", "TurnDone"]


def test_openai_result_without_reply_ends_the_turn_at_once() -> None:
    h = o.ready()
    h.feed(*o.function_call_turn(o.R1, "call_1", FC, [FC]))
    assert h.do(SendToolResult("call_1", "ok", respond=False)) == [
        TurnDone(response_ids=(o.R1,), tool_calls=1)
    ]
    assert [s["type"] for s in h.sent()] == ["conversation.item.create"]


def test_openai_interrupt_while_waiting_for_tools_ends_the_turn() -> None:
    h = o.ready()
    h.feed(*o.function_call_turn(o.R1, "call_1", FC, [FC]))
    assert h.do(Interrupt()) == [
        Interrupted(response_id=None, source="local"),
        TurnDone(
            status="interrupted", reason="client_cancelled", response_ids=(o.R1,), tool_calls=1
        ),
    ]
    # An interrupt with no turn in progress ends nothing.
    assert h.do(Interrupt()) == [Interrupted(response_id=None, source="local")]


def test_openai_out_of_band_responses_are_not_turns() -> None:
    h = o.ready()
    h.do(Respond(instructions="Summarise.", out_of_band=True))
    events = h.feed(
        o.srv("response.created", response=o.response_obj("resp_oob", conversation_id=None)),
        o.response_done("resp_oob", conversation_id=None),
    )
    assert o.kinds(events) == ["ResponseStarted", "ResponseDone"]


def test_openai_parallel_calls_one_turn() -> None:
    h = o.ready()
    h.feed(
        o.srv("response.created", response=o.response_obj(o.R1)),
        o.srv(
            "response.function_call_arguments.done",
            response_id=o.R1,
            item_id="i1",
            output_index=0,
            call_id="c1",
            name="a",
            arguments="{}",
        ),
        o.srv(
            "response.function_call_arguments.done",
            response_id=o.R1,
            item_id="i2",
            output_index=1,
            call_id="c2",
            name="b",
            arguments="{}",
        ),
    )
    assert turn_dones(h.feed(o.response_done(o.R1))) == []
    assert h.do(SendToolResult("c1", 1)) == []
    assert h.do(SendToolResult("c2", 2)) == []
    events = h.feed(o.srv("response.created", response=o.response_obj(o.R2)), o.response_done(o.R2))
    assert turn_dones(events) == [TurnDone(response_ids=(o.R1, o.R2), tool_calls=2)]


# --------------------------------------------------------------------------- Gemini


def test_gemini_tool_round_trip_is_one_turn() -> None:
    proto = g.ready(GeminiLive(tools=[ToolSpec("get_weather")]))
    call = {"toolCall": {"functionCalls": [{"id": "fc-1", "name": "get_weather", "args": {}}]}}
    assert g.kinds(proto.receive(g.frame(call))) == ["ResponseStarted", "ToolCall"]
    assert proto.handle(SendToolResult("fc-1", "sunny")) == []
    proto.receive(g.audio_chunk(g.PCM_A))
    events = proto.receive(g.frame({"serverContent": {"turnComplete": True}}))
    assert events == [
        ResponseDone(response_id="turn-1"),
        TurnDone(response_ids=("turn-1",), tool_calls=1),
    ]


def test_gemini_turn_complete_with_a_call_still_running_keeps_the_turn() -> None:
    proto = g.ready()
    call = {"toolCall": {"functionCalls": [{"id": "fc-1", "name": "lookup", "args": {}}]}}
    proto.receive(g.frame(call))
    # NON_BLOCKING: the model may end its generation while the call runs.
    assert g.kinds(proto.receive(g.frame({"serverContent": {"turnComplete": True}}))) == [
        "ResponseDone"
    ]
    proto.handle(SendToolResult("fc-1", "found"))
    proto.receive(g.audio_chunk(g.PCM_A))
    done = {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}
    assert g.kinds(proto.receive(g.frame(done))) == ["ResponseDone"]  # more output may follow
    proto.receive(g.audio_chunk(g.PCM_B))
    events = proto.receive(
        g.frame({"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}})
    )
    assert turn_dones(events) == [
        TurnDone(response_ids=("turn-1", "turn-2", "turn-3"), tool_calls=1)
    ]


def test_gemini_barge_in_while_a_non_blocking_call_runs_ends_the_turn() -> None:
    proto = g.ready()
    proto.receive(g.frame({"toolCall": {"functionCalls": [{"id": "c", "name": "f"}]}}))
    proto.receive(g.frame({"serverContent": {"turnComplete": True}}))
    proto.receive(g.frame({"toolCallCancellation": {"ids": ["c"]}}))
    events = proto.receive(g.frame({"serverContent": {"interrupted": True}}))
    assert events == [
        Interrupted(response_id=None, source="server"),
        TurnDone(
            status="interrupted", reason="turn_detected", response_ids=("turn-1",), tool_calls=1
        ),
    ]


# --------------------------------------------------------------------------- usage


def test_usage_of_a_turn_is_summed() -> None:
    a = Usage(1, 2, 3, {"input_token_details": {"audio_tokens": 1, "text_tokens": 0}})
    b = Usage(10, None, 30, {"input_token_details": {"audio_tokens": 5}, "x": "y"})
    assert add_usage(a, b) == Usage(
        11, 2, 33, {"input_token_details": {"audio_tokens": 6, "text_tokens": 0}, "x": "y"}
    )
    assert add_usage(None, b) is b
    assert add_usage(a, None) is a
    gem = Usage(1, 1, 2, {"responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 1}]})
    assert add_usage(gem, gem).details == {  # type: ignore[union-attr]
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 1}] * 2
    }


# --------------------------------------------------------------------------- a lost connection


def test_end_turn_settles_a_turn_cut_by_a_lost_connection() -> None:
    h = o.ready()
    assert h.proto.end_turn() == []  # nothing in progress
    h.feed(*o.audio_response_start(o.R1, o.ASST))
    assert h.proto.end_turn() == [
        TurnDone(status="interrupted", reason="connection_lost", response_ids=())
    ]
    proto = g.ready()
    assert proto.end_turn() == []
    proto.receive(g.audio_chunk(g.PCM_A))
    assert proto.end_turn("go_away") == [
        TurnDone(status="interrupted", reason="go_away", response_ids=())
    ]
    assert proto.receive(g.audio_chunk(g.PCM_B)) == []  # the rest of that turn is dropped
