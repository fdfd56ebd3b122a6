"""The same application code on both providers sees the same turns.

One app (text turn, tool turn, barge-in turn) runs against the fake OpenAI
and the fake Gemini; the provider-neutral events it relies on (tool calls,
final assistant transcripts, interruptions and `TurnDone`) must come in the
same order with the same content.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import PlannedToolCall, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import split_frame, user_utterance

LONG = " ".join(["This answer goes on and on so that there is time to interrupt it."] * 6)


@rt.tool
async def get_weather(city: str) -> dict[str, str]:
    """Current weather for a city."""
    await trio.sleep(0.05)
    return {"sky": "clear", "city": city}


def config_for(provider: str, server: FakeServer) -> Any:
    options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    if provider == "openai":
        return rt.OpenAIRealtime(
            url=server.openai_url, api_key="test-key", connection=options, tools=[get_weather]
        )
    return rt.GeminiLive(
        url=server.gemini_url(), api_key="test-key", connection=options, tools=[get_weather]
    )


# --------------------------------------------------------------------------- the app


async def one_turn(session: rt.RealtimeSession, seen: list[tuple[Any, ...]]) -> rt.TurnDone:
    """What an app does: show the answer, note tool calls, stop at the end of the turn."""
    async for event in session.events():
        match event:
            case rt.ToolCall(name=name):
                seen.append(("tool", name))
            case rt.Transcript(role="assistant", text=text, final=True):
                seen.append(("assistant", text))
            case rt.Interrupted(source=source):
                seen.append(("interrupted", source))
            case rt.TurnDone(status=status, reason=reason) as done:
                seen.append(("turn", status, reason))
                return done
    raise AssertionError("the session ended before the turn did")  # pragma: no cover


async def speak(session: rt.RealtimeSession, text: str) -> None:
    rate = session.protocol.input_sample_rate
    for chunk in split_frame(user_utterance(text, rate), 20):
        await session.send_audio(chunk)
    await session.flush_audio()


async def app(session: rt.RealtimeSession) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []
    await session.send_text("Hello")
    await one_turn(session, seen)
    await session.send_text("What is the weather in Oslo?")
    await one_turn(session, seen)
    # Barge-in: speak over a long answer once a second of it has arrived.
    await session.send_text("Talk for a while")
    received = 0.0
    async for event in session.events():
        if isinstance(event, rt.AudioOut):
            received += event.frame.duration
            if received >= 1.0:
                break
    async with trio.open_nursery() as nursery:
        nursery.start_soon(speak, session, "stop please")
        interrupted = await one_turn(session, seen)
        assert interrupted.status == "interrupted"
    await one_turn(session, seen)  # the answer to "stop please"
    return seen


# --------------------------------------------------------------------------- the test


def scenario() -> Scenario:
    return Scenario(
        turns=[
            Turn(reply="Hello! How can I help?"),
            Turn(
                tool_calls=[PlannedToolCall("get_weather", {"city": "Oslo"})],
                reply="Clear skies in Oslo.",
            ),
            Turn(reply=LONG),
            Turn(reply="Okay, stopping."),
        ]
    )


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_same_app_same_turns_on_both_providers(provider: str) -> None:
    with trio.fail_after(40):
        async with open_fake_server(speed=10, scenario=scenario()) as server:
            with no_leaked_tasks():
                async with rt.connect(config_for(provider, server)) as session:
                    seen = await app(session)
    cut = seen.index(("interrupted", "server"))
    # What was said of the long answer before the barge-in depends on timing.
    partial = [e for e in seen[cut:] if e[0] == "assistant" and e[1] != "Okay, stopping."]
    for event in partial:
        assert LONG.startswith(event[1].rstrip())
        seen.remove(event)
    assert seen == [
        ("assistant", "Hello! How can I help?"),
        ("turn", "completed", None),
        ("tool", "get_weather"),
        ("assistant", "Clear skies in Oslo."),
        ("turn", "completed", None),
        ("interrupted", "server"),
        ("turn", "interrupted", "turn_detected"),
        ("assistant", "Okay, stopping."),
        ("turn", "completed", None),
    ]
