"""The session runtime against the fake Gemini Live server, end to end over loopback."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

import trio_realtime as rt
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
