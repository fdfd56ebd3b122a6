"""The session runtime against the fake OpenAI Realtime server, end to end over loopback."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.faults import CloseAt
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.openai import FakeMcpServer, FakeOpenAI
from trio_realtime.testing.scenario import PlannedToolCall, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import check_sequence, read_stamp, split_frame, user_utterance

LONG = " ".join(["This answer goes on and on so that there is time to interrupt it."] * 6)


def config_for(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    options = kw.pop(
        "connection", rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    )
    return rt.OpenAIRealtime(url=server.openai_url, api_key="sk-test", connection=options, **kw)


@asynccontextmanager
async def session_on(server: FakeServer, **kw: Any) -> AsyncIterator[rt.RealtimeSession]:
    with no_leaked_tasks():
        async with rt.connect(config_for(server, **kw)) as session:
            event = await session.next_event()
            assert isinstance(event, rt.SessionReady)
            yield session


async def until(session: rt.RealtimeSession, kind: type[rt.Event]) -> list[rt.Event]:
    seen: list[rt.Event] = []
    async for event in session.events():
        seen.append(event)
        if isinstance(event, kind):
            return seen
    raise AssertionError("the session ended first")  # pragma: no cover


async def speak(session: rt.RealtimeSession, text: str) -> None:
    for chunk in split_frame(user_utterance(text, 24000), 20):
        await session.send_audio(chunk)
    await session.flush_audio()


def client_events(fake: FakeOpenAI, kind: str) -> list[dict[str, Any]]:
    """The client events of `kind` the fake received on its first connection."""
    return [e for e in fake.connections[0].received if isinstance(e, dict) and e["type"] == kind]


async def test_text_turn_event_order_and_audio_stamps() -> None:
    scenario = Scenario(turns=[Turn(reply="Hello from the fake model.")])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server) as session:
                await session.send_text("Hi")
                seen = await until(session, rt.ResponseDone)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "ResponseStarted"
    assert kinds[-1] == "ResponseDone"
    audio = [e for e in seen if isinstance(e, rt.AudioOut)]
    assert check_sequence(read_stamp(e.frame) for e in audio) == len(audio)
    finals = [(e.role, e.text) for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert finals == [("assistant", "Hello from the fake model.")]
    done = seen[-1]
    assert isinstance(done, rt.ResponseDone)
    assert done.status == "completed"
    assert done.usage is not None
    assert done.usage.output_tokens


async def test_spoken_turn_with_server_vad() -> None:
    scenario = Scenario(turns=[Turn(reply="It is noon.")])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server) as session:
                await speak(session, "what time is it")
                seen = await until(session, rt.ResponseDone)
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("SpeechStarted") < kinds.index("SpeechStopped") < kinds.index("AudioOut")
    started = next(e for e in seen if isinstance(e, rt.SpeechStarted))
    assert started.audio_start_ms is not None
    assert 0 <= started.audio_start_ms <= 400  # the utterance starts after 400 ms of silence
    user = [e.text for e in seen if isinstance(e, rt.Transcript) and e.role == "user" and e.final]
    assert user == ["what time is it"]


async def test_barge_in_truncates_at_the_reported_playback() -> None:
    fake = FakeOpenAI()
    scenario = Scenario(turns=[Turn(reply=LONG), Turn(reply="Okay.")])
    with trio.fail_after(30):
        async with open_fake_server(
            speed=10, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server) as session:
                await session.send_text("Talk for a while")
                received_ms = 0
                async for event in session.events():
                    if isinstance(event, rt.AudioOut):
                        received_ms += round(event.frame.duration * 1000)
                        if received_ms >= 1000:
                            break
                await session.report_playback(600)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(speak, session, "stop please")
                    after = await until(session, rt.Interrupted)
                    rest = await until(session, rt.ResponseDone)
    interrupted = after[-1]
    assert isinstance(interrupted, rt.Interrupted)
    assert interrupted.source == "server"
    first_response = interrupted.response_id
    assert not [e for e in rest if isinstance(e, rt.AudioOut) and e.response_id == first_response]
    truncates = client_events(fake, "conversation.item.truncate")
    assert [t["audio_end_ms"] for t in truncates] == [600]
    cancelled = [e for e in rest if isinstance(e, rt.ResponseDone)]
    assert cancelled[0].status == "cancelled"
    assert cancelled[0].reason == "turn_detected"


async def test_local_interrupt_cancels_and_truncates() -> None:
    fake = FakeOpenAI()
    scenario = Scenario(turns=[Turn(reply=LONG)])
    with trio.fail_after(30):
        async with open_fake_server(
            speed=10, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server) as session:
                await session.send_text("Talk for a while")
                chunks = 0
                async for event in session.events():
                    if isinstance(event, rt.AudioOut):
                        chunks += 1
                        if chunks == 3:
                            break
                await session.report_playback(150)
                await session.interrupt()
                rest = await until(session, rt.ResponseDone)
    assert isinstance(rest[0], rt.Interrupted)
    assert rest[0].source == "local"
    assert not [e for e in rest if isinstance(e, rt.AudioOut)]
    done = rest[-1]
    assert isinstance(done, rt.ResponseDone)
    assert done.status == "cancelled"
    assert done.reason == "client_cancelled"
    truncates = client_events(fake, "conversation.item.truncate")
    assert [t["audio_end_ms"] for t in truncates] == [150]
    assert client_events(fake, "response.cancel")


async def test_parallel_and_failing_tools_are_answered_then_the_model_continues() -> None:
    @rt.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        await trio.sleep(0.01)
        return {"city": city, "sky": "clear"}

    @rt.tool
    def get_time(zone: str) -> str:
        """Time in a zone."""
        raise RuntimeError(f"no clock for {zone}")

    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[
                    PlannedToolCall("get_weather", {"city": "Oslo"}),
                    PlannedToolCall("get_time", {"zone": "CET"}),
                ],
                reply="Clear in Oslo; the time is unknown.",
            )
        ]
    )
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server, tools=[get_weather, get_time]) as session:
                await session.send_text("weather and time please")
                seen: list[rt.Event] = []
                async for event in session.events():
                    seen.append(event)
                    if (
                        isinstance(event, rt.Transcript)
                        and event.final
                        and event.role == "assistant"
                    ):
                        break
    assert {e.name for e in seen if isinstance(e, rt.ToolCall)} == {"get_weather", "get_time"}
    outputs = [
        e["item"]["output"]
        for e in client_events(fake, "conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]
    assert sorted((json.loads(o) for o in outputs), key=json.dumps) == [
        {"city": "Oslo", "sky": "clear"},
        {"error": "RuntimeError: no clock for CET"},
    ]
    # One response.create after both results (plus none before them).
    creates = client_events(fake, "response.create")
    assert len(creates) == 2  # the text turn's, then the continuation after the tools


async def test_barge_in_cancels_a_running_tool() -> None:
    started = trio.Event()
    cancelled = trio.Event()

    @rt.tool
    async def slow_lookup(query: str) -> str:
        """Look something up slowly."""
        started.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    scenario = Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("slow_lookup", {"query": "x"})], reply="Found."),
            Turn(reply="Okay, never mind."),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server, tools=[slow_lookup]) as session:
                await session.send_text("look it up")
                await started.wait()
                await session.interrupt()
                await cancelled.wait()
                assert session.statistics().tool_calls_running == 0


async def test_server_closing_mid_audio_delivers_what_came_then_connection_lost() -> None:
    scenario = Scenario(turns=[Turn(reply=LONG)])
    no_reconnect = rt.ConnectionOptions(
        open_timeout=5, close_timeout=2, ping_interval=None, reconnect=False
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            server.inject(CloseAt("mid_audio", code=1011, reason="Internal error occurred."))
            with no_leaked_tasks():
                async with rt.connect(config_for(server, connection=no_reconnect)) as session:
                    await session.send_text("hello")
                    seen: list[rt.Event] = []
                    with pytest.raises(rt.ServerError) as info:  # noqa: PT012
                        async for event in session.events():
                            seen.append(event)
    # The service's fault, in its words: not a lost connection.
    assert info.value.close_code == 1011
    assert info.value.fatal
    assert (
        str(info.value)
        == "OpenAI Realtime ended the session: Internal error occurred. (close 1011)"
    )
    assert any(isinstance(e, rt.AudioOut) for e in seen)


async def test_slow_consumer_keeps_the_connection_alive_within_the_bound() -> None:
    scenario = Scenario(turns=[Turn(reply=LONG)])
    options = rt.ConnectionOptions(
        open_timeout=5, close_timeout=2, ping_interval=0.1, ping_timeout=0.5, max_queue=20
    )
    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server, connection=options) as session:
                await session.send_text("talk")
                # Not reading for several ping timeouts: pings are still answered.
                await trio.sleep(2)
                stats = session.statistics()
                assert stats.events_buffered <= 20
                assert stats.overflow_audio_dropped > 0
                assert not session.closed
                seen = await until(session, rt.ResponseDone)
                await session.send_text("still alive")
    assert isinstance(seen[-1], rt.ResponseDone)


async def test_wss_with_a_private_ca() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, tls=True) as server:
            assert server.openai_url.startswith("wss://")
            trusting = rt.ConnectionOptions(
                open_timeout=5,
                close_timeout=2,
                ping_interval=None,
                ssl_context=server.client_ssl_context(),
            )
            async with session_on(server, connection=trusting) as session:
                await session.send_text("Hello")
                seen = await until(session, rt.ResponseDone)
            assert any(isinstance(e, rt.AudioOut) for e in seen)
            # The default context trusts only the system's CAs: the fake's is refused.
            with pytest.raises(rt.HandshakeError):
                async with rt.connect(config_for(server)):
                    pass  # pragma: no cover


# --------------------------------------------------------------------------- tool options


def function_outputs(fake: FakeOpenAI) -> list[str]:
    return [
        e["item"]["output"]
        for e in client_events(fake, "conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]


async def test_tool_timeout_answers_with_an_error_and_the_model_continues() -> None:
    @rt.tool(timeout=0.2)
    async def slow_lookup(query: str) -> str:
        """Look something up slowly."""
        await trio.sleep_forever()

    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("slow_lookup", {"query": "x"})], reply="Sorry.")]
    )
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server, tools=[slow_lookup]) as session:
                await session.send_text("look it up")
                seen: list[rt.Event] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.Transcript) and event.final and event.text == "Sorry.":
                        break
                assert session.statistics().tool_calls_running == 0
    assert [json.loads(o) for o in function_outputs(fake)] == [
        {"error": "TimeoutError: tool 'slow_lookup' did not finish within 0.2 s"}
    ]
    assert len(client_events(fake, "response.create")) == 2


async def test_on_interrupt_finish_records_the_result_without_asking_for_a_reply() -> None:
    release = trio.Event()

    @rt.tool(on_interrupt="finish")
    async def book_room(room: str) -> str:
        """Book a room."""
        await release.wait()
        return f"booked {room}"

    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("book_room", {"room": "12"})], reply="Booked.")]
    )
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server, tools=[book_room]) as session:
                await session.send_text("book room twelve")
                await until(session, rt.ToolCall)
                await session.interrupt()
                assert session.statistics().tool_calls_running == 1  # not cancelled
                release.set()
                while session.statistics().tool_calls_running:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                await session.aclose()
    assert function_outputs(fake) == ["booked 12"]
    # The text turn's response.create only: the interrupted call asks for no reply.
    assert len(client_events(fake, "response.create")) == 1


async def test_non_blocking_tools_are_refused_for_openai() -> None:
    @rt.tool(non_blocking=True)
    def search(query: str) -> str:
        """Search."""
        return query

    with pytest.raises(rt.ConfigurationError, match="'search' is non_blocking=True, which only"):
        rt.OpenAIRealtime(api_key="x", tools=[search])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            async with session_on(server) as session:
                with pytest.raises(rt.ProtocolError, match="only Gemini Live offers") as info:
                    await session.update(tools=[search])
                assert info.value.side == "local"


# --------------------------------------------------------------------------- typed session kinds


async def test_transcription_only_session_transcribes_and_never_responds() -> None:
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
            config = rt.OpenAITranscription(
                url=server.openai_url,
                api_key="sk-test",
                language="en",
                include_logprobs=True,
                connection=options,
            )
            with no_leaked_tasks():
                async with rt.connect(config) as session:
                    ready = await session.next_event()
                    assert isinstance(ready, rt.SessionReady)
                    assert session.session_id is not None
                    assert session.session_id.startswith("sess_")
                    await speak(session, "what time is it")
                    seen: list[rt.Event] = []
                    async for event in session.events():
                        seen.append(event)
                        if isinstance(event, rt.Transcript) and event.final:
                            break
                    with pytest.raises(rt.ProtocolError, match="transcription-only session"):
                        await session.send_text("hello")
                    with pytest.raises(rt.ProtocolError, match="cannot take Respond"):
                        await session.respond()
    state = fake.connections[0]
    assert state.session["type"] == "transcription"
    assert state.session["include"] == ["item.input_audio_transcription.logprobs"]
    assert state.session["audio"]["input"]["transcription"]["language"] == "en"
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:3] == ["SpeechStarted", "SpeechStopped", "InputCommitted"]
    final = seen[-1]
    assert isinstance(final, rt.Transcript)
    assert (final.role, final.text) == ("user", "what time is it")
    assert not any(isinstance(e, (rt.ResponseStarted, rt.AudioOut)) for e in seen)
    assert client_events(fake, "response.create") == []


async def test_transcription_only_push_to_talk_commits_without_responses() -> None:
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
            config = rt.OpenAITranscription(
                url=server.openai_url, api_key="sk-test", turn_detection=None, connection=options
            )
            async with rt.connect(config) as session:
                await session.next_event()
                for chunk in split_frame(user_utterance("good morning", 24000), 20):
                    await session.send_audio(chunk)
                await session.commit_audio()
                seen: list[rt.Event] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.Transcript) and event.final:
                        break
    assert isinstance(seen[0], rt.InputCommitted)
    assert seen[-1].text == "good morning"  # type: ignore[attr-defined]
    assert len(client_events(fake, "input_audio_buffer.commit")) == 1
    assert client_events(fake, "response.create") == []


async def test_semantic_vad_session_ends_the_turn_and_replies() -> None:
    fake = FakeOpenAI()
    scenario = Scenario(turns=[Turn(reply="It is noon.")])
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(
                server, turn_detection={"type": "semantic_vad", "eagerness": "high"}
            ) as session:
                await speak(session, "what time is it")
                seen = await until(session, rt.ResponseDone)
    state = fake.connections[0]
    assert state.session["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert state.session["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    kinds = [type(e).__name__ for e in seen]
    assert (
        kinds.index("SpeechStarted") < kinds.index("SpeechStopped") < kinds.index("ResponseStarted")
    )
    finals = [(e.role, e.text) for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert ("user", "what time is it") in finals
    assert ("assistant", "It is noon.") in finals
    # The server ended the turn and asked for the reply itself.
    assert client_events(fake, "input_audio_buffer.commit") == []
    assert client_events(fake, "response.create") == []


async def test_truncation_and_tracing_reach_the_session() -> None:
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            async with session_on(server, truncation=0.5, tracing="auto") as session:
                assert session.session_id is not None
    session_state = fake.connections[0].session
    assert session_state["truncation"] == {"type": "retention_ratio", "retention_ratio": 0.5}
    assert session_state["tracing"] == "auto"


# --------------------------------------------------------------------------- remote MCP tools

DOCS_URL = "https://mcp.example.com/sse"
DOCS = FakeMcpServer(
    tools=[
        {
            "name": "search_docs",
            "description": "Search the docs.",
            "input_schema": {"type": "object"},
        },
        {"name": "delete_docs", "input_schema": {"type": "object"}},
    ],
    results={"search_docs": {"hits": 3}},
)


async def test_mcp_tools_are_listed_and_called_without_approval() -> None:
    fake = FakeOpenAI(mcp_servers={DOCS_URL: DOCS})
    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[
                    PlannedToolCall("search_docs", {"q": "trio"}, expect_result='{"hits": 3}')
                ],
                reply="Three pages match.",
            )
        ]
    )
    server_decl = rt.McpServer(
        server_label="docs",
        server_url=DOCS_URL,
        allowed_tools=["search_docs"],
        require_approval="never",
        headers={"X-Token": "secret-header"},
    )
    assert "secret-header" not in repr(server_decl)
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server, tools=[server_decl]) as session:
                listed = await until(session, rt.McpToolsListed)
                await session.send_text("search the docs for trio")
                seen = await until(session, rt.ResponseDone)
    assert listed[-1] == rt.McpToolsListed(
        server_label="docs",
        tools=[
            {
                "name": "search_docs",
                "description": "Search the docs.",
                "input_schema": {"type": "object"},
            }
        ],
        item_id=listed[-1].item_id,  # type: ignore[attr-defined]
    )
    [tool] = fake.connections[0].session["tools"]
    assert tool["type"] == "mcp"
    assert tool["headers"] == {"X-Token": "secret-header"}
    [call] = [e for e in seen if isinstance(e, rt.McpCall)]
    assert (call.server_label, call.name, call.arguments) == ("docs", "search_docs", {"q": "trio"})
    assert (call.output, call.error, call.approval_request_id) == ('{"hits": 3}', None, None)
    finals = [e.text for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert finals == ["Three pages match."]
    assert not any(isinstance(e, (rt.ToolCall, rt.McpApprovalRequested)) for e in seen)
    assert scenario.runs[0].mismatches == []
    # The service ran the call: the client sent no output and no extra response.create.
    assert len(client_events(fake, "response.create")) == 1


@pytest.mark.parametrize("approve", [True, False])
async def test_mcp_approval_request_is_answered_by_the_application(approve: bool) -> None:
    fake = FakeOpenAI(mcp_servers={DOCS_URL: DOCS})
    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[PlannedToolCall("search_docs", {"q": "nursery"})],
                reply="Done.",
            )
        ]
    )
    decl = rt.McpServer(server_label="docs", server_url=DOCS_URL, require_approval="always")
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with session_on(server, tools=[decl]) as session:
                await until(session, rt.McpToolsListed)
                await session.send_text("search for nursery")
                first = await until(session, rt.McpApprovalRequested)
                request = first[-1]
                assert isinstance(request, rt.McpApprovalRequested)
                assert (request.name, request.arguments) == ("search_docs", {"q": "nursery"})
                with pytest.raises(
                    rt.ProtocolError, match="No pending MCP approval request 'nope'"
                ):
                    await session.approve_mcp("nope")
                await session.approve_mcp(request.request_id, approve, reason="checked")
                seen = await until(session, rt.TurnDone)
    [answer] = [
        e["item"]
        for e in client_events(fake, "conversation.item.create")
        if e["item"]["type"] == "mcp_approval_response"
    ]
    assert answer == {
        "id": answer["id"],
        "type": "mcp_approval_response",
        "approval_request_id": request.request_id,
        "approve": approve,
        "reason": "checked",
    }
    calls = [e for e in seen if isinstance(e, rt.McpCall)]
    if approve:
        assert [(c.approval_request_id, c.output) for c in calls] == [
            (request.request_id, '{"hits": 3}')
        ]
    else:
        assert calls == []
    finals = [e.text for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert finals == ["Done."]
    # One TurnDone, after the answer's reply: the request held the turn open.
    assert [type(e).__name__ for e in first].count("TurnDone") == 0


async def test_mcp_listing_of_an_unreachable_server_fails_and_gemini_refuses_mcp() -> None:
    fake = FakeOpenAI()
    decl = rt.McpServer(server_label="gone", server_url="https://gone.example.com/mcp")
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            async with session_on(server, tools=[decl]) as session:
                listed = await until(session, rt.McpToolsListed)
    assert listed[-1].failed  # type: ignore[attr-defined]
    assert listed[-1].tools == []  # type: ignore[attr-defined]
    with pytest.raises(rt.ConfigurationError, match="remote MCP tools are an OpenAI Realtime"):
        rt.GeminiLive(api_key="x", tools=[decl])
    with pytest.raises(rt.ConfigurationError, match="exactly one of server_url= and connector_id="):
        rt.McpServer(server_label="x")
    with pytest.raises(rt.ConfigurationError, match=r"require_approval must be .*got 'sometimes'"):
        rt.McpServer(server_label="x", server_url=DOCS_URL, require_approval="sometimes")
