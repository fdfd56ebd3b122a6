"""The session runtime against the fake Gemini Live server, end to end over loopback."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.lowlevel

import trio_realtime as rt
from trio_realtime._wire import NOT_GIVEN
from trio_realtime.gemini import messages as m
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import PlannedToolCall, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import check_sequence, read_stamp, split_frame, user_utterance


def config_for(server: FakeServer, **kw: Any) -> rt.GeminiLive:
    options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    return rt.GeminiLive(url=server.gemini_url(), api_key="test-key", connection=options, **kw)


@asynccontextmanager
async def session_on(server: FakeServer, **kw: Any) -> AsyncIterator[rt.RealtimeSession]:
    with no_leaked_tasks():
        async with rt.connect(config_for(server, **kw)) as session:
            event = await session.next_event()
            assert isinstance(event, rt.SessionReady)
            yield session


async def collect_turn(session: rt.RealtimeSession) -> list[rt.Event]:
    seen: list[rt.Event] = []
    async for event in session.events():
        seen.append(event)
        if isinstance(event, rt.ResponseDone):
            return seen
    raise AssertionError("the session ended before the turn did")  # pragma: no cover


async def send_speech(session: rt.RealtimeSession, text: str, rate: int = 16000) -> None:
    for chunk in split_frame(user_utterance(text, rate), 20):
        await session.send_audio(chunk)
    await session.flush_audio()


async def test_text_turn_gives_audio_and_transcript_in_order() -> None:
    scenario = Scenario(turns=[Turn(reply="Hello there, nice to meet you.")])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server) as session:
                await session.send_text("Hi!")
                seen = await collect_turn(session)
    kinds = [type(e).__name__ for e in seen if not isinstance(e, rt.ResumptionUpdate)]
    assert kinds[0] == "ResponseStarted"
    assert kinds[-1] == "ResponseDone"
    audio = [e for e in seen if isinstance(e, rt.AudioOut)]
    assert audio
    assert all(e.frame.sample_rate == 24000 for e in audio)
    check_sequence(read_stamp(e.frame) for e in audio)
    final = [e for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert [(t.role, t.text) for t in final] == [("assistant", "Hello there, nice to meet you.")]
    done = seen[-1]
    assert isinstance(done, rt.ResponseDone)
    assert done.status == "completed"
    assert done.usage is not None
    assert done.usage.output_tokens


async def test_spoken_turn_resampled_from_48k_stereo() -> None:
    # Resampling loses the transcript hidden in the samples, so script what was heard.
    scenario = Scenario(turns=[Turn(heard="What is the weather like?", reply="It is sunny.")])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server) as session:
                speech = user_utterance("what is the weather like", 48000)
                stereo = rt.AudioFrame(
                    speech.samples.repeat(2).reshape(-1, 2), sample_rate=48000, channels=2
                )
                for chunk in split_frame(stereo, 10):
                    await session.send_audio(chunk)
                await session.flush_audio()
                seen = await collect_turn(session)
    transcripts = [(e.role, e.text) for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert ("assistant", "It is sunny.") in transcripts
    assert ("user", "What is the weather like?") in transcripts
    audio = [e for e in seen if isinstance(e, rt.AudioOut)]
    check_sequence(read_stamp(e.frame) for e in audio)


async def test_local_interrupt_stops_audio_of_that_turn() -> None:
    long_reply = " ".join(["This is a long answer that keeps going."] * 8)
    scenario = Scenario(turns=[Turn(reply=long_reply), Turn(reply="Sure.")])
    with trio.fail_after(30):
        async with open_fake_server(speed=20, scenario=scenario) as server:
            async with session_on(server) as session:
                await session.send_text("Tell me a story")
                audio_before = 0
                async for event in session.events():
                    if isinstance(event, rt.AudioOut):
                        audio_before += 1
                        if audio_before == 3:
                            await session.interrupt()
                            break
                after: list[rt.Event] = []
                async for event in session.events():
                    after.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
    assert isinstance(after[0], rt.Interrupted)
    assert after[0].source == "local"
    assert not [e for e in after if isinstance(e, rt.AudioOut)]
    done = after[-1]
    assert isinstance(done, rt.ResponseDone)
    assert done.status == "cancelled"


async def test_tools_run_automatically_and_the_reply_follows() -> None:
    calls: list[str] = []

    @rt.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Weather for a city."""
        calls.append(city)
        return {"city": city, "sky": "clear"}

    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[PlannedToolCall("get_weather", {"city": "Paris"})],
                reply="It is clear in Paris.",
            )
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with session_on(server, tools=[get_weather]) as session:
                await session.send_text("weather in Paris?")
                seen: list[rt.Event] = []
                async for event in session.events():
                    seen.append(event)
                    if (
                        isinstance(event, rt.Transcript)
                        and event.final
                        and event.role == "assistant"
                    ):
                        break
    assert calls == ["Paris"]
    tool_calls = [e for e in seen if isinstance(e, rt.ToolCall)]
    assert [(t.name, dict(t.arguments)) for t in tool_calls] == [("get_weather", {"city": "Paris"})]
    assert seen[-1].text == "It is clear in Paris."  # type: ignore[attr-defined]
    run = scenario.runs[0]
    assert run.mismatches == []


async def test_go_away_resumes_on_a_new_connection() -> None:
    fake = FakeGemini(connection_lifetime=1.0, go_away_notice=0.5)
    scenario = Scenario(turns=[Turn(reply="First answer."), Turn(reply="Second answer.")])
    with trio.fail_after(30):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server) as session:
                await session.send_text("one")
                first = await collect_turn(session)
                kinds: list[str] = []
                async for event in session.events():
                    kinds.append(type(event).__name__)
                    if isinstance(event, rt.Reconnected):
                        break
                await session.send_text("two")
                second = await collect_turn(session)
    assert "GoingAway" in kinds
    assert any(isinstance(e, rt.AudioOut) for e in first)
    finals = [e.text for e in second if isinstance(e, rt.Transcript) and e.final]
    assert "Second answer." in finals
    assert len(fake.connections) >= 2
    # The second connection resumed the first one's session: the conversation went on.
    assert scenario.runs[0].turn_index == 2


async def test_update_reconnects_with_the_new_setup() -> None:
    fake = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"gemini": fake}) as server:
            async with session_on(server, instructions="Be brief.") as session:
                await session.update(instructions="Be verbose.", voice="Kore")
                async for event in session.events():
                    if isinstance(event, rt.Reconnected):
                        break
                await session.send_text("hello")
                seen = await collect_turn(session)
    assert seen[-1].status == "completed"  # type: ignore[attr-defined]
    setups = [record.setup for record in fake.connections]
    assert len(setups) == 2
    texts = [str(s) for s in setups]
    assert "Be verbose." in texts[1]
    assert "Kore" in texts[1]


async def test_server_tool_cancellation_cancels_exactly_that_call() -> None:
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
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_speech, session, "never mind")
                    seen: list[rt.Event] = []
                    async for event in session.events():
                        seen.append(event)
                        if isinstance(event, rt.ToolCallCancelled):
                            break
                await cancelled.wait()
                assert session.statistics().tool_calls_running == 0
    call = next(e for e in seen if isinstance(e, rt.ToolCall))
    assert isinstance(seen[-1], rt.ToolCallCancelled)
    assert seen[-1].call_id == call.call_id


# --------------------------------------------------------------------------- tool options


async def events_until(
    session: rt.RealtimeSession, done: Any, seen: list[rt.Event] | None = None
) -> list[rt.Event]:
    """Collect events until `done(event)` is true (that event included)."""
    out = [] if seen is None else seen
    async for event in session.events():
        out.append(event)
        if done(event):
            return out
    raise AssertionError("the session ended first")  # pragma: no cover


def final_assistant(event: rt.Event, text: str | None = None) -> bool:
    return (
        isinstance(event, rt.Transcript)
        and event.final
        and event.role == "assistant"
        and (text is None or event.text == text)
    )


async def test_tool_timeout_sends_an_error_result_and_the_model_goes_on() -> None:
    cancelled = trio.Event()

    @rt.tool(timeout=0.2)
    async def slow_lookup(query: str) -> str:
        """Look something up slowly."""
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    fake = FakeGemini()
    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("slow_lookup", {"query": "x"})], reply="Sorry.")]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[slow_lookup]) as session:
                await session.send_text("look it up")
                await events_until(session, lambda e: final_assistant(e, "Sorry."))
                assert cancelled.is_set()
                assert session.statistics().tool_calls_running == 0
    [response] = fake.connections[0].tool_responses
    assert response.response == {
        "error": "TimeoutError: tool 'slow_lookup' did not finish within 0.2 s"
    }


async def test_on_interrupt_finish_lets_the_call_complete_but_sends_nothing_for_it() -> None:
    # Gemini withdraws the calls of an interrupted turn (toolCallCancellation):
    # a tool declared on_interrupt="finish" still runs to its end, and its
    # result is not sent for the withdrawn id.
    release = trio.Event()
    finished = trio.Event()

    @rt.tool(on_interrupt="finish")
    async def book_room(room: str) -> str:
        """Book a room."""
        await release.wait()
        finished.set()
        return f"booked {room}"

    fake = FakeGemini()
    scenario = Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("book_room", {"room": "12"})], reply="Booked."),
            Turn(reply="Okay."),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[book_room]) as session:
                await session.send_text("book room twelve")
                await events_until(session, lambda e: isinstance(e, rt.ToolCall))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_speech, session, "stop")
                    await events_until(session, lambda e: isinstance(e, rt.ToolCallCancelled))
                assert session.statistics().tool_calls_running == 1  # still running
                release.set()
                await finished.wait()
                await events_until(session, lambda e: final_assistant(e, "Okay."))
                assert session.statistics().tool_calls_running == 0
    assert fake.connections[0].tool_responses == []


async def test_non_blocking_tool_when_idle_result_starts_a_new_turn() -> None:
    @rt.tool(non_blocking=True, scheduling="when_idle")
    async def search(query: str) -> str:
        """Search the web."""
        return f"results for {query}"

    fake = FakeGemini()
    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("search", {"query": "trio"})], reply="Found it.")]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[search]) as session:
                await session.send_text("search for trio")
                seen = await events_until(session, lambda e: final_assistant(e, "Found it."))
    record = fake.connections[0]
    assert str(record.setup).count("NON_BLOCKING") == 1
    [response] = record.tool_responses
    assert response.scheduling == "WHEN_IDLE"
    assert response.response == {"output": "results for trio"}
    kinds = [
        type(e).__name__
        for e in seen
        if not isinstance(e, (rt.ResumptionUpdate, rt.TurnDone, rt.TurnMetrics))
    ]
    # The calling turn ends without waiting for the result; the answer is a turn of its own.
    first_done = kinds.index("ResponseDone")
    assert kinds[: first_done + 1] == ["ResponseStarted", "ToolCall", "ResponseDone"]
    assert kinds[first_done + 1] == "ResponseStarted"
    assert "AudioOut" in kinds[first_done + 1 :]


async def test_non_blocking_tool_silent_result_only_joins_the_context() -> None:
    @rt.tool(non_blocking=True, scheduling="silent")
    async def log_mood(mood: str) -> str:
        """Note the user's mood."""
        return "noted"

    fake = FakeGemini()
    scenario = Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("log_mood", {"mood": "happy"})], reply="Noted!"),
            Turn(reply="Second answer."),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[log_mood]) as session:
                await session.send_text("I am happy")
                await events_until(session, lambda e: isinstance(e, rt.ResponseDone))
                while not fake.connections[0].tool_responses:  # noqa: ASYNC110 - fake's record
                    await trio.sleep(0.01)
                await session.send_text("and now?")
                seen = await events_until(session, lambda e: isinstance(e, rt.ResponseDone))
    [response] = fake.connections[0].tool_responses
    assert response.scheduling == "SILENT"
    finals = [e.text for e in seen if isinstance(e, rt.Transcript) and final_assistant(e)]
    assert finals == ["Second answer."]  # "Noted!" was never said
    assert ("assistant", "Noted!") not in scenario.runs[0].history


async def test_non_blocking_tool_interrupt_result_cuts_the_current_reply() -> None:
    release = trio.Event()

    @rt.tool(non_blocking=True, scheduling="interrupt")
    async def check_alarm() -> str:
        """Check the alarm."""
        await release.wait()
        return "the alarm is ringing"

    fake = FakeGemini()
    scenario = Scenario(
        turns=[
            # The result continues the turn that made the call, with its reply.
            Turn(tool_calls=[PlannedToolCall("check_alarm", {})], reply="The alarm is ringing!"),
            Turn(reply=" ".join(["once upon a time"] * 40)),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=4.0, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[check_alarm]) as session:
                await session.send_text("check the alarm")
                await events_until(session, lambda e: isinstance(e, rt.ResponseDone))
                await session.send_text("tell me a story")
                await events_until(session, lambda e: isinstance(e, rt.AudioOut))
                release.set()
                seen = await events_until(
                    session, lambda e: final_assistant(e, "The alarm is ringing!")
                )
    kinds = [type(e).__name__ for e in seen]
    assert "Interrupted" in kinds
    assert kinds.index("Interrupted") < kinds.index("ResponseStarted")
    [response] = fake.connections[0].tool_responses
    assert response.scheduling == "INTERRUPT"


# --------------------------------------------------------------------------- typed options


async def test_typed_options_reach_the_service_and_thoughts_are_marked() -> None:
    fake = FakeGemini()
    scenario = Scenario(turns=[Turn(reply="Bonjour.")])
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(
                server,
                top_p=0.8,
                top_k=20,
                presence_penalty=0.1,
                frequency_penalty=0.2,
                media_resolution="medium",
                include_thoughts=True,
                thinking_budget=64,
                input_transcription_languages=["fr-FR"],
                extra_headers=[("X-Proxy-Route", "eu")],
            ) as session:
                assert session.session_id is None  # the Gemini API sends no session id
                await session.send_text("Salut")
                seen = await collect_turn(session)
    record = fake.connections[0]
    assert record.close_code is None or record.close_code == 1000
    assert record.headers["x-proxy-route"] == "eu"
    assert record.setup is not None
    gen = record.setup.generation_config
    assert (gen.top_p, gen.top_k, gen.media_resolution) == (0.8, 20, "MEDIA_RESOLUTION_MEDIUM")  # type: ignore[union-attr]
    assert record.setup.input_audio_transcription.language_codes == ["fr-FR"]  # type: ignore[union-attr]
    texts = [e for e in seen if isinstance(e, rt.TextOut)]
    assert [(e.text, e.thought) for e in texts] == [("**Answering** Salut", True)]
    finals = [e.text for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert finals[-1] == "Bonjour."


async def test_respond_with_instructions_is_answered() -> None:
    fake = FakeGemini()
    scenario = Scenario(turns=[Turn(reply="Hello in French: bonjour.")])
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server) as session:
                await session.respond(instructions="Greet the user in French.")
                seen = await collect_turn(session)
                with pytest.raises(rt.ProtocolError, match="out-of-band"):
                    await session.respond("x", out_of_band=True)
    assert seen[-1].status == "completed"  # type: ignore[attr-defined]
    finals = [e.text for e in seen if isinstance(e, rt.Transcript) and e.final]
    assert finals == ["Hello in French: bonjour."]
    # The instructions went as an ordered, completed user turn.
    assert scenario.runs[0].history[0] == ("user", "Greet the user in French.")
    [content] = [
        msg.client_content
        for msg in fake.connections[0].received
        if isinstance(msg, m.ClientMessage) and isinstance(msg.client_content, m.ClientContent)
    ]
    assert content.turn_complete is True
    assert content.turns == [
        m.Content(role="user", parts=[m.Part(text="Greet the user in French.")])
    ]


async def test_affective_dialog_dials_v1alpha_on_the_computed_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No url= override: the library computes the Gemini API URL (host pointed at
    # the fake over TLS) and picks v1alpha because affective dialog needs it.
    fake = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, tls=True, handlers={"gemini": fake}) as server:
            monkeypatch.setattr(
                "trio_realtime.gemini.config._GEMINI_HOST", server.gemini_url().split("/")[2]
            )
            options = rt.ConnectionOptions(
                open_timeout=5,
                close_timeout=2,
                ping_interval=None,
                ssl_context=server.client_ssl_context(),
            )
            config = rt.GeminiLive(api_key="test-key", affective_dialog=True, connection=options)
            with no_leaked_tasks():
                async with rt.connect(config) as session:
                    assert isinstance(await session.next_event(), rt.SessionReady)
    record = fake.connections[0]
    assert ".v1alpha." in record.path
    assert record.setup is not None
    assert record.setup.generation_config.enable_affective_dialog is True  # type: ignore[union-attr]


async def test_tool_choice_none_keeps_the_functions_from_the_model() -> None:
    @rt.tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    for choice, calls in (("auto", 1), ("none", 0)):
        fake = FakeGemini()
        with trio.fail_after(20):
            async with open_fake_server(speed=math.inf, handlers={"gemini": fake}) as server:
                async with session_on(server, tools=[get_weather], tool_choice=choice) as session:
                    # The default fake model calls a declared tool the user names.
                    await session.send_text("please get weather for Paris")
                    seen = await events_until(session, lambda e: isinstance(e, rt.TurnDone))
        assert len([e for e in seen if isinstance(e, rt.ToolCall)]) == calls, choice
        setup = fake.connections[0].setup
        assert setup is not None
        assert isinstance(setup.tools, list) == (choice == "auto")


async def test_manual_non_blocking_results_with_will_continue() -> None:
    # A tool the application runs itself: progress goes in silently with
    # will_continue, the last result asks for the answer.
    fake = FakeGemini()
    spec = rt.ToolSpec("render_video", "Render a video.", non_blocking=True)
    scenario = Scenario(
        turns=[Turn(tool_calls=[PlannedToolCall("render_video", {})], reply="Your video is ready.")]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[spec]) as session:
                await session.send_text("render it")
                seen = await events_until(session, lambda e: isinstance(e, rt.ToolCall))
                call = seen[-1]
                assert isinstance(call, rt.ToolCall)
                await session.send_tool_result(
                    call.call_id, {"progress": 50}, scheduling="silent", will_continue=True
                )
                await session.send_tool_result(call.call_id, {"done": True}, scheduling="when_idle")
                seen = await events_until(
                    session, lambda e: final_assistant(e, "Your video is ready.")
                )
                with pytest.raises(rt.ProtocolError, match="unknown tool call id"):
                    await session.send_tool_result(call.call_id, "again")
    responses = fake.connections[0].tool_responses
    assert [(r.will_continue, r.scheduling, r.response) for r in responses] == [
        (True, "SILENT", {"output": {"progress": 50}}),
        (NOT_GIVEN, "WHEN_IDLE", {"output": {"done": True}}),
    ]
    assert "NON_BLOCKING" in str(fake.connections[0].setup)


async def test_streaming_tool_sends_partial_results_then_closes_the_call() -> None:
    @rt.tool(non_blocking=True, scheduling="silent")
    async def render(frames: int) -> AsyncIterator[dict[str, int]]:
        """Render frames, reporting progress."""
        for done in range(1, frames + 1):
            await trio.lowlevel.checkpoint()
            yield {"frames_done": done}

    fake = FakeGemini()
    scenario = Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("render", {"frames": 2})], reply="Rendered."),
            Turn(reply="Anything else?"),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(server, tools=[render]) as session:
                await session.send_text("render two frames")
                await events_until(session, lambda e: isinstance(e, rt.TurnDone))
                while len(fake.connections[0].tool_responses) < 3:  # noqa: ASYNC110 - fake's record
                    await trio.sleep(0.01)
                assert session.statistics().tool_calls_running == 0
    responses = fake.connections[0].tool_responses
    assert [(r.will_continue, r.scheduling, r.response) for r in responses] == [
        (True, "SILENT", {"output": {"frames_done": 1}}),
        (True, "SILENT", {"output": {"frames_done": 2}}),
        (NOT_GIVEN, "SILENT", {"output": {}}),
    ]
