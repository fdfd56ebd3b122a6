"""Bad input and broken connections as a session user meets them: typed errors, nothing lost."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.faults import (
    DropTCP,
    RefuseHandshake,
    SendRaw,
    SendRawFrame,
    ServiceError,
    malformed_frame,
    oversized_message,
    unknown_event,
)
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server

OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)


def openai(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    return rt.OpenAIRealtime(url=server.openai_url, api_key="sk-test", connection=OPTIONS, **kw)


def gemini(server: FakeServer, **kw: Any) -> rt.GeminiLive:
    return rt.GeminiLive(url=server.gemini_url(), api_key="test", connection=OPTIONS, **kw)


async def one_reply(session: rt.RealtimeSession, text: str = "Hello") -> list[rt.Event]:
    await session.send_text(text)
    seen: list[rt.Event] = []
    async for event in session.events():
        seen.append(event)
        if isinstance(event, rt.ResponseDone):
            return seen
    raise AssertionError("ended early")  # pragma: no cover


async def drain(session: rt.RealtimeSession) -> None:
    """Read events until the session raises."""
    while True:
        await session.next_event()


def test_missing_key_is_a_configuration_error_before_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    async def main(config: Any) -> None:
        async with rt.connect(config):
            pass  # pragma: no cover

    for config, env in (
        (rt.OpenAIRealtime(), "OPENAI_API_KEY"),
        (rt.GeminiLive(), "GOOGLE_API_KEY"),
    ):
        with pytest.raises(rt.ConfigurationError, match=env):
            trio.run(main, config)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, rt.AuthenticationError),
        (403, rt.AuthenticationError),
        (429, rt.RateLimitError),
        (500, rt.HandshakeError),
    ],
)
async def test_refused_handshake_is_typed(status: int, kind: type[rt.HandshakeError]) -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            for config in (openai(server), gemini(server)):
                server.inject(RefuseHandshake(status))
                with no_leaked_tasks(), pytest.raises(kind) as info:
                    async with rt.connect(config):
                        pass  # pragma: no cover
                assert type(info.value) is kind
                assert info.value.status == status
                assert f"HTTP {status}" in str(info.value)


async def test_unknown_server_messages_are_ignored_and_the_session_goes_on() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            for provider, config in (("openai", openai(server)), ("gemini", gemini(server))):
                server.inject(SendRaw("after_setup", unknown_event(provider)))
                async with rt.connect(config) as session:
                    seen = await one_reply(session)
                assert seen[-1].status == "completed"  # type: ignore[attr-defined]


async def test_malformed_json_from_the_server_is_a_protocol_error() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(SendRaw("response_done", "{not json"))
            with no_leaked_tasks():
                async with rt.connect(openai(server)) as session:
                    seen = await one_reply(session)
                    with pytest.raises(rt.ProtocolError, match="not valid JSON"):  # noqa: PT012
                        while True:
                            seen.append(await session.next_event())
    # What came before the bad frame was delivered in full.
    assert [type(e) for e in seen[-3:]] == [rt.ResponseDone, rt.TurnDone, rt.TurnMetrics]


async def test_malformed_websocket_frame_ends_the_session_typed() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(SendRawFrame("response_done", malformed_frame()))
            with no_leaked_tasks():
                async with rt.connect(openai(server)) as session:
                    await one_reply(session)
                    with pytest.raises(rt.ProtocolError) as info:
                        await drain(session)
    assert "invalid WebSocket frame" in str(info.value)
    assert "code 1002" in str(info.value)


async def test_oversized_message_is_a_protocol_error() -> None:
    small = rt.ConnectionOptions(
        open_timeout=5, close_timeout=2, ping_interval=None, max_size=64 * 1024
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(SendRaw("response_done", oversized_message(200 * 1024)))
            config = rt.OpenAIRealtime(url=server.openai_url, api_key="k", connection=small)
            with no_leaked_tasks():
                async with rt.connect(config) as session:
                    await one_reply(session)
                    with pytest.raises(rt.ProtocolError) as info:
                        await drain(session)
    assert "65536" in str(info.value)


async def test_openai_service_error_event_is_delivered_and_the_session_survives() -> None:
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(ServiceError("after_setup", kind="rate_limit"))
            async with rt.connect(openai(server)) as session:
                errors: list[rt.ServerErrorEvent] = []
                async for event in session.events():
                    if isinstance(event, rt.ServerErrorEvent):
                        errors.append(event)
                        break
                seen = await one_reply(session)
    assert errors[0].fatal is False
    assert errors[0].code
    assert seen[-1].status == "completed"  # type: ignore[attr-defined]


async def test_dropped_connection_without_reconnect_is_connection_lost_1006() -> None:
    no_reconnect = attrs.evolve(OPTIONS, reconnect=False)
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(DropTCP("response_done"))
            with no_leaked_tasks():
                config = rt.OpenAIRealtime(
                    url=server.openai_url, api_key="sk-test", connection=no_reconnect
                )
                async with rt.connect(config) as session:
                    with pytest.raises(rt.ConnectionLost) as info:  # noqa: PT012
                        await one_reply(session)
                        await drain(session)
                    with pytest.raises(rt.ConnectionLost):
                        await session.send_text("again")
    assert info.value.code == 1006
    assert "without a close frame" in str(info.value)


async def test_gemini_dropped_connection_resumes_and_the_conversation_goes_on() -> None:
    fake = FakeGemini()
    scenario = Scenario(turns=[Turn(reply="One."), Turn(reply="Two.")])
    with trio.fail_after(30):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"gemini": fake}
        ) as server:
            with no_leaked_tasks():
                async with rt.connect(gemini(server)) as session:
                    first = await one_reply(session, "first")
                    # The handle that covers the first turn comes after it.
                    async for event in session.events():
                        if isinstance(event, rt.ResumptionUpdate) and event.resumable:
                            break
                    # Drop the live connection without a close frame: the
                    # session resumes on a new one with its handle.
                    await (await server.connection(1)).abort()
                    kinds: list[str] = []
                    async for event in session.events():
                        kinds.append(type(event).__name__)
                        if isinstance(event, rt.Reconnected):
                            break
                    second = await one_reply(session, "second")
    finals = [e.text for e in first + second if isinstance(e, rt.Transcript) and e.final]
    assert "One." in finals
    assert "Two." in finals
    assert scenario.runs[0].turn_index == 2
    assert [r.resumed for r in fake.connections] == [False, True]
