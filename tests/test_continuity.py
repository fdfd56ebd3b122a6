"""Session continuity against fakes that follow the services' rules (design.md).

Gemini: close the old socket first, then resume with the newest resumable
handle, on the goAway clock; OpenAI: a new connection is a new conversation,
so the session re-sends its configuration and replays the history. Between
connections input audio is buffered (bounded, counted), cut turns are settled,
and `Reconnected` says what happened.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime.audio import AudioFrame
from trio_realtime.gemini import messages as gm
from trio_realtime.testing.faults import AFTER_SETUP, CloseAt, RefuseHandshake
from trio_realtime.testing.gemini import FakeGemini, GeminiConnectionRecord
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import PlannedToolCall, Reply, ReplyContext, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import read_stamp, stamp

LONG = " ".join(["This answer goes on for a while so that it is still playing."] * 3)


def options(**kw: Any) -> rt.ConnectionOptions:
    base: dict[str, Any] = {
        "open_timeout": 5,
        "close_timeout": 2,
        "ping_interval": None,
        "go_away_margin": 0.5,
        "retry": rt.RetryPolicy(initial_backoff=0.2, max_backoff=1.0, max_time=10.0),
    }
    base.update(kw)
    return rt.ConnectionOptions(**base)


def gemini(server: FakeServer, **kw: Any) -> rt.GeminiLive:
    connection = kw.pop("connection", options())
    ctx = server.client_ssl_context() if server.ca_path is not None else None
    if ctx is not None:
        import attrs

        connection = attrs.evolve(connection, ssl_context=ctx)
    return rt.GeminiLive(url=server.gemini_url(), api_key="test", connection=connection, **kw)


def openai(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    connection = kw.pop("connection", options())
    return rt.OpenAIRealtime(url=server.openai_url, api_key="test", connection=connection, **kw)


@asynccontextmanager
async def session_on(
    config: rt.GeminiLive | rt.OpenAIRealtime,
) -> AsyncIterator[rt.RealtimeSession]:
    with no_leaked_tasks():
        async with rt.connect(config) as session:
            assert isinstance(await session.next_event(), rt.SessionReady)
            yield session


async def until(session: rt.RealtimeSession, kind: type[rt.Event]) -> list[rt.Event]:
    seen: list[rt.Event] = []
    async for event in session.events():
        seen.append(event)
        if isinstance(event, kind):
            return seen
    raise AssertionError(f"the session ended before {kind.__name__}")  # pragma: no cover


def finals(events: list[rt.Event], role: str = "assistant") -> list[str]:
    return [e.text for e in events if isinstance(e, rt.Transcript) and e.final and e.role == role]


def audio_after_interruption(events: list[rt.Event]) -> list[rt.AudioOut]:
    """Audio of a response delivered after that response's `Interrupted` (must be none)."""
    cut: set[str | None] = set()
    bad: list[rt.AudioOut] = []
    for e in events:
        if isinstance(e, rt.Interrupted):
            cut.add(e.response_id)
        elif isinstance(e, rt.AudioOut) and e.response_id in cut:
            bad.append(e)
    return bad


def uplink_stamps(records: list[GeminiConnectionRecord]) -> list[int | None]:
    """Sequence stamps of the input audio every connection received, in order."""
    out: list[int | None] = []
    for record in records:
        for msg in record.received:
            if isinstance(msg, gm.ClientMessage) and isinstance(
                msg.realtime_input, gm.RealtimeInput
            ):
                blob = msg.realtime_input.audio
                if isinstance(blob, gm.Blob) and isinstance(blob.data, bytes):
                    out.append(read_stamp(blob.data))
    return out


def chunk(seq: int, rate: int = 16000) -> AudioFrame:
    """20 ms of near-silence carrying sequence stamp `seq`."""
    import numpy as np

    return stamp(AudioFrame(np.zeros(rate // 50, np.int16), rate), seq)


# --------------------------------------------------------------------------- Gemini goAway


@pytest.mark.parametrize("tls", [False, True])
async def test_go_away_mid_turn_hands_over_after_the_turn_before_the_deadline(tls: bool) -> None:
    # Service seconds at 10x: the connection lives 30 s (3 s), goAway comes
    # 20 s (2 s) before its end, while a 15 s (1.5 s) answer is playing.
    fake = FakeGemini(speed=10.0, connection_lifetime=30.0, go_away_notice=20.0)
    scenario = Scenario(turns=[Turn(reply=LONG), Turn(reply="Second answer.")])
    with trio.fail_after(20):
        async with open_fake_server(
            scenario=scenario, handlers={"gemini": fake}, tls=tls
        ) as server:
            async with session_on(gemini(server)) as session:
                await session.send_text("one")
                seen = await until(session, rt.Reconnected)
                moved_at = trio.current_time()
                await session.send_text("two")
                second = await until(session, rt.TurnDone)
    kinds = [type(e).__name__ for e in seen]
    # The goAway came mid-turn; the turn finished on the old connection.
    assert kinds.index("GoingAway") < kinds.index("ResponseDone")
    done = next(e for e in seen if isinstance(e, rt.ResponseDone))
    assert done.status == "completed"
    assert finals(seen) == [LONG]
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert (reconnected.mode, reconnected.reason, reconnected.attempts) == ("resumed", "go_away", 1)
    assert reconnected.interrupted_response is None
    assert reconnected.cancelled_calls == ()
    # The fake's records: the old connection ended before the new one set up,
    # the new one resumed the session, and nobody was closed by the deadline.
    old, new = fake.connections[0], fake.connections[1]
    assert old.ended_at is not None
    assert new.setup_at is not None
    assert old.ended_at <= new.setup_at
    assert new.resumed
    assert old.close_code is None  # the client closed it, not the 1008 of the deadline
    assert moved_at - old.opened_at < 3.0
    assert finals(second) == ["Second answer."]
    assert scenario.runs[0].turn_index == 2
    assert audio_after_interruption(seen + second) == []


async def test_go_away_during_a_tool_call_delivers_the_result_first() -> None:
    release = trio.Event()

    @rt.tool
    async def slow_lookup(query: str) -> str:
        """Look something up slowly."""
        await release.wait()
        return f"found {query}"

    fake = FakeGemini(speed=10.0, connection_lifetime=40.0, go_away_notice=30.0)
    scenario = Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("slow_lookup", {"query": "x"})], reply="Here it is."),
            Turn(reply="Next."),
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(scenario=scenario, handlers={"gemini": fake}) as server:
            async with session_on(gemini(server, tools=[slow_lookup])) as session:
                await session.send_text("look it up")
                seen = await until(session, rt.GoingAway)
                assert any(isinstance(e, rt.ToolCall) for e in seen)
                release.set()  # the result comes after the goAway, before the deadline
                seen += await until(session, rt.Reconnected)
                await session.send_text("next")
                after = await until(session, rt.TurnDone)
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.mode == "resumed"
    assert reconnected.cancelled_calls == ()
    assert "Here it is." in finals(seen)
    old, new = fake.connections[0], fake.connections[1]
    assert [r.response for r in old.tool_responses] == [{"output": "found x"}]
    assert new.tool_responses == []
    assert old.ended_at is not None
    assert new.setup_at is not None
    assert old.ended_at <= new.setup_at
    assert finals(after) == ["Next."]


async def test_a_tool_call_still_running_at_the_deadline_is_cancelled_and_reported() -> None:
    @rt.tool
    async def stuck(query: str) -> str:
        """Never answers."""
        await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    def respond(said: str, ctx: ReplyContext) -> Reply:
        if said == "look it up":
            return Reply(tool_calls=(PlannedToolCall("stuck", {"query": "x"}),))
        return Reply(text="Fresh start.")

    fake = FakeGemini(speed=10.0, connection_lifetime=20.0, go_away_notice=10.0)
    scenario = Scenario(responder=respond)
    with trio.fail_after(20):
        async with open_fake_server(scenario=scenario, handlers={"gemini": fake}) as server:
            async with session_on(gemini(server, tools=[stuck])) as session:
                await session.send_text("look it up")
                seen = await until(session, rt.Reconnected)
                assert session.statistics().tool_calls_running == 0
                await session.send_text("again")
                after = await until(session, rt.TurnDone)
    call = next(e for e in seen if isinstance(e, rt.ToolCall))
    cancelled = [e for e in seen if isinstance(e, rt.ToolCallCancelled)]
    assert [c.call_id for c in cancelled] == [call.call_id]
    # The cut turn ended with an event, never silence.
    done = [e for e in seen if isinstance(e, rt.TurnDone)]
    assert [(d.status, d.reason) for d in done] == [("incomplete", "go_away")]
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.cancelled_calls == (call.call_id,)
    # Handed over by the deadline minus the margin: the server never had to close.
    assert fake.connections[0].close_code is None
    assert fake.connections[1].resumed
    assert finals(after) == ["Fresh start."]
    # The resumed session is the one before the cut turn: its call is not there.
    assert fake.connections[1].tool_responses == []
    assert fake.connections[1].unmatched_tool_responses == []


# --------------------------------------------------------------------------- uplink audio


async def test_uplink_audio_across_a_go_away_arrives_once_and_in_order() -> None:
    fake = FakeGemini(speed=10.0, connection_lifetime=12.0, go_away_notice=6.0)
    with trio.fail_after(20):
        async with open_fake_server(handlers={"gemini": fake}) as server:
            async with session_on(gemini(server)) as session:
                sent = 0
                reconnected: list[rt.Reconnected] = []

                async def watch() -> None:
                    async for event in session.events():
                        if isinstance(event, rt.Reconnected):
                            reconnected.append(event)
                            return

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    while not reconnected or sent < 150:
                        await session.send_audio(chunk(sent))
                        sent += 1
                        await trio.sleep(0.01)
                await session.flush_audio()
                await trio.sleep(0.3)
                stats = session.statistics()
    assert reconnected[0].mode == "resumed"
    assert reconnected[0].audio_dropped == 0
    assert stats.gap_audio_dropped == 0
    assert uplink_stamps(list(fake.connections)) == list(range(sent))


async def test_a_long_gap_keeps_the_newest_audio_and_counts_the_rest() -> None:
    fake = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(handlers={"gemini": fake}) as server:
            # The first resume is refused: the gap lasts at least one backoff.
            server.inject(RefuseHandshake(503), connection=2)
            config = gemini(
                server,
                connection=options(
                    gap_audio_seconds=0.1,  # 5 chunks of 20 ms
                    retry=rt.RetryPolicy(initial_backoff=0.5, jitter=0.0),
                ),
            )
            async with session_on(config) as session:
                for seq in range(10):
                    await session.send_audio(chunk(seq))
                await trio.sleep(0.3)
                await (await server.connection(1)).abort()
                # Wait until the session noticed and is between connections.
                while not session.reconnecting:  # noqa: ASYNC110 (no event for this; polled)
                    await trio.sleep(0.005)
                for seq in range(10, 40):
                    await session.send_audio(chunk(seq))
                reconnected = (await until(session, rt.Reconnected))[-1]
                await trio.sleep(0.3)
                stats = session.statistics()
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.attempts == 2
    assert reconnected.failures[0].startswith("HandshakeError")
    assert (reconnected.audio_buffered, reconnected.audio_dropped) == (5, 25)
    assert (stats.gap_audio_buffered, stats.gap_audio_dropped) == (5, 25)
    got = uplink_stamps(list(fake.connections))
    assert got == list(range(10)) + list(range(35, 40))


async def test_openai_uplink_audio_across_a_drop_arrives_once_and_in_order() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            # The first reconnection is refused: the gap lasts at least one backoff
            # (a fresh reconnection can finish between two polls of `reconnecting`).
            server.inject(RefuseHandshake(503), connection=2)
            async with session_on(openai(server, turn_detection=None)) as session:
                for seq in range(10):
                    await session.send_audio(chunk(seq, 24000))
                await trio.sleep(0.3)
                await (await server.connection(1)).abort()
                while not session.reconnecting:  # noqa: ASYNC110 (no event for this; polled)
                    await trio.sleep(0.005)
                for seq in range(10, 30):
                    await session.send_audio(chunk(seq, 24000))
                reconnected = (await until(session, rt.Reconnected))[-1]
                await trio.sleep(0.3)
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.mode == "fresh"  # nothing was said yet
    assert reconnected.attempts == 2  # the audio after the drop was sent during the gap
    stamps: list[int | None] = []
    for state in server.handlers["openai"].connections:  # type: ignore[attr-defined]
        for ev in state.received:
            if isinstance(ev, dict) and ev.get("type") == "input_audio_buffer.append":
                import base64

                stamps.append(read_stamp(base64.b64decode(ev["audio"])))
    assert stamps == list(range(30))


# --------------------------------------------------------------------------- retry policy


async def test_connections_failing_right_after_the_handshake_end_in_one_typed_error() -> None:
    fake = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(handlers={"gemini": fake}) as server:
            policy = rt.RetryPolicy(
                max_attempts=4, initial_backoff=0.2, max_backoff=1.0, jitter=0.0
            )
            async with session_on(gemini(server, connection=options(retry=policy))) as session:
                server.inject(
                    CloseAt(AFTER_SETUP, code=1011, reason="Internal error occurred."),
                    connection="all",
                )
                await (await server.connection(1)).abort()
                with pytest.raises(rt.ReconnectFailed) as info:
                    async for _ in session.events():
                        pass
                with pytest.raises(rt.ConnectionLost):
                    await session.send_text("hello?")
    err = info.value
    assert isinstance(err, rt.ConnectionLost)
    assert err.attempts == 4
    assert len(err.failures) == 4
    assert all("1011" in f or "Internal error" in f for f in err.failures[1:])
    assert "4 attempt(s)" in str(err)
    # A handful of connections, paced by the backoff (0.2, 0.4, 0.8 s).
    opened = [r.opened_at for r in fake.connections]
    assert len(opened) == 1 + 4
    gaps = [b - a for a, b in itertools.pairwise(opened[1:])]
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4
    assert gaps[2] >= 0.8


async def test_a_refused_credential_is_not_retried() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            async with session_on(gemini(server)) as session:
                server.inject(RefuseHandshake(401), connection="all")
                await (await server.connection(1)).abort()
                with pytest.raises(rt.ReconnectFailed) as info:
                    async for _ in session.events():
                        pass
    assert info.value.attempts == 1
    assert "retrying cannot fix" in str(info.value)
    assert "HTTP 401" in info.value.failures[0]


async def test_an_unknown_handle_falls_back_to_a_fresh_seeded_session() -> None:
    fake = FakeGemini(handle_ttl=0.0)
    scenario = Scenario(turns=[Turn(reply="One."), Turn(reply="Two.")])
    with trio.fail_after(20):
        async with open_fake_server(scenario=scenario, handlers={"gemini": fake}) as server:
            async with session_on(gemini(server)) as session:
                await session.send_text("first")
                await until(session, rt.TurnDone)
                await until(session, rt.ResumptionUpdate)
                await (await server.connection(1)).abort()
                await trio.sleep(0.05)  # the handle expires once the connection is gone
                seen = await until(session, rt.Reconnected)
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.mode == "replayed"
    assert "session not found" in reconnected.failures[0]
    assert fake.connections[1].close_code == 1008
    seed = fake.connections[2].setup
    assert seed is not None
    assert seed.history_config == gm.HistoryConfig(initial_history_in_client_content=True)


# --------------------------------------------------------------------------- update()


async def test_update_after_completed_turns_keeps_the_conversation() -> None:
    def recall(said: str, ctx: ReplyContext) -> Reply:
        users = [text for role, text in ctx.history if role == "user"]
        return Reply(text=f"Turn {len(users)}; you first said {users[0]}.")

    fake = FakeGemini()
    scenario = Scenario(responder=recall)
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(gemini(server, instructions="Be brief.")) as session:
                await session.send_text("apples")
                await until(session, rt.TurnDone)
                await session.send_text("pears")
                await until(session, rt.TurnDone)
                await session.update(instructions="Be verbose.", voice="Kore")
                seen = await until(session, rt.Reconnected)
                await session.send_text("plums")
                after = await until(session, rt.TurnDone)
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert (reconnected.mode, reconnected.reason) == ("resumed", "update")
    assert finals(after) == ["Turn 3; you first said apples."]
    new = fake.connections[1]
    assert new.resumed
    assert "Be verbose." in str(new.setup)
    assert "Kore" in str(new.setup)
    assert fake.connections[0].ended_at is not None
    assert new.setup_at is not None
    assert fake.connections[0].ended_at <= new.setup_at


async def test_update_without_a_handle_starts_a_seeded_session_and_says_so() -> None:
    def recall(said: str, ctx: ReplyContext) -> Reply:
        return Reply(text=f"I remember {len(ctx.history)} entries.")

    fake = FakeGemini()
    scenario = Scenario(responder=recall)
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            async with session_on(gemini(server, session_resumption=False)) as session:
                await session.send_text("apples")
                await until(session, rt.TurnDone)
                await session.update(instructions="Be verbose.")
                seen = await until(session, rt.Reconnected)
                await session.send_text("pears")
                after = await until(session, rt.TurnDone)
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.mode == "replayed"
    # The fresh session got the history: the user turn and the answer, then this turn.
    assert finals(after) == ["I remember 3 entries."]


# --------------------------------------------------------------------------- OpenAI replay


async def test_openai_drop_replays_config_and_history_and_goes_on() -> None:
    def recall(said: str, ctx: ReplyContext) -> Reply:
        return Reply(text=f"Reply {ctx.turn_index}.")

    scenario = Scenario(turns=[Turn(reply="Hello Ada.")], responder=recall)
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            config = openai(server, instructions="Be brief.", voice="marin")
            async with session_on(config) as session:
                await session.send_text("My name is Ada.")
                await until(session, rt.TurnDone)
                await (await server.connection(1)).abort()
                seen = await until(session, rt.Reconnected)
                await session.send_text("What is my name?")
                after = await until(session, rt.TurnDone)
            history = session.history
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert (reconnected.mode, reconnected.reason) == ("replayed", "connection_lost")
    states = server.handlers["openai"].connections  # type: ignore[attr-defined]
    first, second = states[0], states[1]
    kinds = [e.get("type") for e in second.received if isinstance(e, dict)]
    assert kinds[:3] == ["session.update", "conversation.item.create", "conversation.item.create"]
    assert second.received[0]["session"] == first.received[0]["session"]
    replayed = [e["item"] for e in second.received[1:3]]
    assert replayed == [
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
    ]
    # The new conversation holds the replayed items before the new turn.
    assert [i.role() for i in second.items][:2] == ["user", "assistant"]
    assert finals(after)
    assert [(i.kind, i.role) for i in history] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]


async def test_openai_drop_mid_response_settles_it_as_interrupted() -> None:
    scenario = Scenario(
        responder=lambda said, ctx: Reply(text=LONG if said == "talk" else "Short.")
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=10.0, scenario=scenario) as server:
            async with session_on(openai(server)) as session:
                await session.send_text("talk")
                seen = await until(session, rt.AudioOut)
                await (await server.connection(1)).abort()
                seen += await until(session, rt.Reconnected)
                await session.send_text("again")
                after = await until(session, rt.TurnDone)
                # The new connection's machine counts interruptions on from the
                # session's count (the cut reply was one).
                assert session.protocol.generation == 1
    started = next(e for e in seen if isinstance(e, rt.ResponseStarted))
    done = [e for e in seen if isinstance(e, rt.ResponseDone)]
    assert [(d.response_id, d.status) for d in done] == [(started.response_id, "incomplete")]
    assert {e.generation for e in seen if isinstance(e, rt.AudioOut)} == {0}
    assert {e.generation for e in after if isinstance(e, rt.AudioOut)} == {1}
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert reconnected.interrupted_response == started.response_id
    assert audio_after_interruption(seen + after) == []
    assert finals(after) == ["Short."]


# --------------------------------------------------------------------------- history


@rt.tool
async def get_weather(city: str) -> dict[str, Any]:
    """Weather for a city."""
    return {"city": city, "sky": "clear"}


def weather_then_a_long_reply(last: str) -> Scenario:
    """A tool call answered, a long reply (to cut), then `last`."""
    return Scenario(
        turns=[
            Turn(
                tool_calls=[PlannedToolCall("get_weather", {"city": "Oslo"})],
                reply="Clear in Oslo.",
            ),
            Turn(reply=LONG),
            Turn(reply=last),
        ]
    )


async def test_gemini_history_after_tools_and_a_barge_in_then_export_import() -> None:
    scenario = weather_then_a_long_reply("Sure.")
    fake = FakeGemini(speed=10.0)
    with trio.fail_after(20):
        async with open_fake_server(scenario=scenario, handlers={"gemini": fake}) as server:
            async with session_on(gemini(server, tools=[get_weather])) as session:
                await session.send_text("weather in Oslo?")
                await until(session, rt.TurnDone)
                await session.send_text("tell me more")
                await until(session, rt.AudioOut)
                await session.send_text("stop")  # barges in
                await until(session, rt.TurnDone)
                await until(session, rt.TurnDone)
                items = session.history.items
                data = json.loads(session.history.to_json())
    call = next(i for i in items if i.kind == "tool_call")
    assert [(i.kind, i.role, i.status) for i in items] == [
        ("message", "user", "completed"),
        ("tool_call", None, "completed"),
        ("tool_result", None, "completed"),
        ("message", "assistant", "completed"),
        ("message", "user", "completed"),
        ("message", "assistant", "interrupted"),
        ("message", "user", "completed"),
        ("message", "assistant", "completed"),
    ]
    assert items[0].text == "weather in Oslo?"
    assert (call.name, dict(call.arguments or {})) == ("get_weather", {"city": "Oslo"})
    assert items[2].result == {"city": "Oslo", "sky": "clear"}
    assert items[3].text == "Clear in Oslo."
    assert LONG.startswith(items[5].text)
    assert items[5].text != LONG
    assert items[7].text == "Sure."
    # Export -> import -> a new session continues the conversation.
    restored = rt.ConversationHistory.from_data(data)
    assert restored == items

    def recall(said: str, ctx: ReplyContext) -> Reply:
        return Reply(text=f"Before this I know {len(ctx.history) - 1} entries.")

    fake2 = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=Scenario(responder=recall), handlers={"gemini": fake2}
        ) as server:
            async with session_on(gemini(server, history=data)) as session:
                await session.send_text("where were we?")
                after = await until(session, rt.TurnDone)
                assert session.history.items[: len(items)] == tuple(items)
    assert fake2.connections[0].session is not None
    seeded = fake2.connections[0].session.history
    assert seeded[0] == ("user", "weather in Oslo?")
    assert finals(after) == [f"Before this I know {len(seeded) - 2} entries."]


async def test_openai_history_with_a_tool_and_a_cut_reply_then_export_import() -> None:
    scenario = weather_then_a_long_reply("Okay.")
    with trio.fail_after(20):
        async with open_fake_server(speed=10.0, scenario=scenario) as server:
            async with session_on(openai(server, tools=[get_weather])) as session:
                await session.send_text("weather in Oslo?")
                seen = await until(session, rt.TurnDone)
                await session.send_text("talk")
                seen += await until(session, rt.AudioOut)
                for _ in range(10):
                    seen += await until(session, rt.AudioOut)
                await session.report_playback(120)
                await session.interrupt()
                seen += await until(session, rt.TurnDone)
                await session.send_text("okay")
                await until(session, rt.TurnDone)
                items = session.history.items
                data = session.history.to_data()
    assert [(i.kind, i.role, i.status) for i in items] == [
        ("message", "user", "completed"),
        ("tool_call", None, "completed"),
        ("tool_result", None, "completed"),
        ("message", "assistant", "completed"),
        ("message", "user", "completed"),
        ("message", "assistant", "interrupted"),
        ("message", "user", "completed"),
        ("message", "assistant", "completed"),
    ]
    assert items[1].name == "get_weather"
    assert dict(items[1].arguments or {}) == {"city": "Oslo"}
    assert items[2].result == {"city": "Oslo", "sky": "clear"}
    assert items[3].text == "Clear in Oslo."
    cut = items[5]
    assert cut.item_id is not None
    assert cut.text  # what was heard: the transcript that came with 120 ms of audio
    assert LONG.startswith(cut.text)
    assert len(cut.text) < len(LONG) // 2
    assert [(i.role, i.text) for i in items[6:]] == [("user", "okay"), ("assistant", "Okay.")]
    assert audio_after_interruption(seen) == []
    # Export -> import -> a new session on a new server continues the conversation.
    restored = rt.ConversationHistory.from_data(json.loads(json.dumps(data)))
    assert restored == items

    def recall(said: str, ctx: ReplyContext) -> Reply:
        return Reply(text=f"I see {len(ctx.history)} earlier entries.")

    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=Scenario(responder=recall)) as server:
            async with session_on(openai(server, history=restored)) as session:
                await session.send_text("where were we?")
                after = await until(session, rt.TurnDone)
    state = server.handlers["openai"].connections[0]  # type: ignore[attr-defined]
    created = [e["item"] for e in state.received if e.get("type") == "conversation.item.create"]
    assert [c["type"] for c in created[:7]] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
        "message",
        "message",
        "message",
    ]
    assert created[5]["content"] == [{"type": "output_text", "text": cut.text}]
    assert finals(after)


async def test_a_gemini_drop_before_any_handle_is_recovered_as_a_fresh_session() -> None:
    fake = FakeGemini()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"gemini": fake}) as server:
            async with session_on(gemini(server, session_resumption=False)) as session:
                await (await server.connection(1)).abort()
                seen = await until(session, rt.Reconnected)
                await session.send_text("hello again")
                after = await until(session, rt.TurnDone)
    reconnected = seen[-1]
    assert isinstance(reconnected, rt.Reconnected)
    assert (reconnected.mode, reconnected.reason) == ("fresh", "connection_lost")
    assert not fake.connections[1].resumed
    assert finals(after)
