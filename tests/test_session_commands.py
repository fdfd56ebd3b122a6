"""Session commands: ordering in the writer, manual tools, updates, push-to-talk, images."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import trio
import trio.testing

import trio_realtime as rt
from trio_realtime.audio import AudioFrame
from trio_realtime.session import MAX_AUDIO_QUEUE, RealtimeSession
from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.scenario import PlannedToolCall, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import split_frame, user_utterance

from .toy_provider import RATE, ToyConfig, ToyProtocol

OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)


class GatedConnection:
    """Stands in for a transport connection: records sends, holds the first until opened."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.senders: list[str] = []
        self.gate = trio.Event()
        self.in_flight = trio.Event()
        self.closed_with: int | None = None

    async def send(self, message: str | bytes) -> None:
        self.in_flight.set()
        await self.gate.wait()
        assert isinstance(message, str)
        self.sent.append(message)
        self.senders.append(trio.lowlevel.current_task().name)

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code
        await trio.lowlevel.checkpoint()


async def test_control_messages_overtake_queued_audio() -> None:
    conn = GatedConnection()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            session = RealtimeSession(
                ToyConfig("ws://unused"), ToyProtocol(), nursery, max_queue=100
            )
            session._conn = conn  # type: ignore[assignment]
            nursery.start_soon(session._writer)
            for seq in range(5):
                chunk = AudioFrame(np.full(RATE // 50, seq, dtype=np.int16), RATE)
                await session.send_audio(chunk)
            await conn.in_flight.wait()  # audio 0 is being sent
            await session.send_text("urgent")
            conn.gate.set()
            while len(conn.sent) < 6:  # noqa: ASYNC110 - waits for the writer
                await trio.sleep(0.001)
            await session.aclose()
    kinds = [
        json.loads(m)["type"] + (str(json.loads(m).get("first", "")) if "audio" in m else "")
        for m in conn.sent
    ]
    assert kinds == ["audio_in0", "text", "audio_in1", "audio_in2", "audio_in3", "audio_in4"]
    assert conn.closed_with == 1000


async def test_an_idle_writer_lets_send_audio_write_the_chunk_from_the_callers_task() -> None:
    """At real-time pace nothing is queued: the caller writes its chunk itself
    (no hand-over per chunk); once anything is queued, audio queues behind it."""
    conn = GatedConnection()
    conn.gate.set()
    me = trio.lowlevel.current_task().name
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            session = RealtimeSession(
                ToyConfig("ws://unused"), ToyProtocol(), nursery, max_queue=100
            )
            session._conn = conn  # type: ignore[assignment]
            nursery.start_soon(session._writer, name="writer")
            await trio.testing.wait_all_tasks_blocked()  # the writer waits, idle
            for seq in range(3):
                await session.send_audio(AudioFrame(np.full(RATE // 50, seq, dtype=np.int16), RATE))
            assert conn.senders == [me, me, me]
            # A command is queued for the writer: the chunk right behind it
            # queues too, so it cannot overtake the command.
            session._queue_control(['{"type": "text", "text": "first"}'])
            await session.send_audio(AudioFrame(np.full(RATE // 50, 3, dtype=np.int16), RATE))
            await trio.testing.wait_all_tasks_blocked()
            assert conn.senders[3:] == ["writer", "writer"]
            # The writer is idle again: the next chunk is the caller's own.
            await session.send_audio(AudioFrame(np.full(RATE // 50, 4, dtype=np.int16), RATE))
            assert conn.senders[5:] == [me]
            assert session.statistics().audio_chunks_sent == 5
            await session.aclose()
    kinds = [
        json.loads(m)["type"] + (str(json.loads(m).get("first", "")) if "audio" in m else "")
        for m in conn.sent
    ]
    assert kinds == ["audio_in0", "audio_in1", "audio_in2", "text", "audio_in3", "audio_in4"]


async def test_a_lost_connection_ends_the_session_one_way() -> None:
    """A `send_audio` waiting for room wakes and raises; events() delivers, then raises.

    (Without reconnection: with it, the session would move to a new connection.)
    """
    conn = GatedConnection()
    chunk = AudioFrame(np.zeros(RATE // 50, dtype=np.int16), RATE)
    no_reconnect = rt.ConnectionOptions(open_timeout=5, close_timeout=2, reconnect=False)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            session = RealtimeSession(
                ToyConfig("ws://unused", options=no_reconnect),
                ToyProtocol(),
                nursery,
                max_queue=100,
            )
            session._conn = conn  # type: ignore[assignment]
            nursery.start_soon(session._writer)
            await session.send_audio(chunk)
            await conn.in_flight.wait()  # the writer is stuck sending it
            for _ in range(MAX_AUDIO_QUEUE):
                await session.send_audio(chunk)
            assert session.statistics().audio_queued == MAX_AUDIO_QUEUE
            session._deliver([rt.TextOut("last words")])

            async def lose() -> None:
                await trio.testing.wait_all_tasks_blocked()
                # What the transport reports when the peer goes away.
                session._on_close(rt.ConnectionLost("The peer went away.", code=1006))

            nursery.start_soon(lose)
            with pytest.raises(rt.ConnectionLost, match="The peer went away"):
                await session.send_audio(chunk)  # was waiting for room
            assert session.closed
            assert await session.next_event() == rt.TextOut("last words")
            with pytest.raises(rt.ConnectionLost, match="The peer went away"):
                await session.next_event()
            with pytest.raises(rt.ConnectionLost):
                await session.send_text("too late")
            await session.aclose()
            nursery.cancel_scope.cancel()  # the gated send never returns


def openai(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    return rt.OpenAIRealtime(url=server.openai_url, api_key="sk-test", connection=OPTIONS, **kw)


async def test_manual_tool_calls_reach_the_app_and_its_result_continues_the_reply() -> None:
    spec = rt.ToolSpec(
        "lookup",
        "Look something up.",
        {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    )
    scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[
                    PlannedToolCall("lookup", {"q": "tides"}, expect_result={"high": "12:00"})
                ],
                reply="High at noon.",
            )
        ]
    )
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            async with rt.connect(openai(server, tools=[spec])) as session:
                await session.send_text("when are the tides")
                finals: list[str] = []
                async for event in session.events():
                    if isinstance(event, rt.ToolCall):
                        assert event.name == "lookup"
                        assert event.arguments == {"q": "tides"}
                        await session.send_tool_result(event.call_id, {"high": "12:00"})
                    if (
                        isinstance(event, rt.Transcript)
                        and event.final
                        and event.role == "assistant"
                    ):
                        finals.append(event.text)
                        break
    assert finals == ["High at noon."]
    assert scenario.runs[0].mismatches == []


async def test_openai_update_is_a_session_update_confirmed_by_an_event() -> None:
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            async with rt.connect(openai(server, instructions="Be brief.")) as session:
                await session.update(instructions="Be thorough.")
                async for event in session.events():
                    if isinstance(event, rt.SessionUpdated):
                        break
    assert fake.connections[0].session["instructions"] == "Be thorough."


async def test_push_to_talk_commit_makes_the_turn() -> None:
    fake = FakeOpenAI()
    scenario = Scenario(turns=[Turn(reply="Pushed.")])
    with trio.fail_after(20):
        async with open_fake_server(
            speed=math.inf, scenario=scenario, handlers={"openai": fake}
        ) as server:
            async with rt.connect(openai(server, turn_detection=None)) as session:
                speech = user_utterance("push to talk works", 24000, trail_ms=0)
                for chunk in split_frame(speech, 40):
                    await session.send_audio(chunk)
                await session.commit_audio()
                seen: list[rt.Event] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
    assert not [e for e in seen if isinstance(e, rt.SpeechStarted)]
    user = [e.text for e in seen if isinstance(e, rt.Transcript) and e.role == "user" and e.final]
    assert user == ["push to talk works"]
    received = [e["type"] for e in fake.connections[0].received if isinstance(e, dict)]
    assert received.count("input_audio_buffer.commit") == 1
    assert received.index("input_audio_buffer.commit") < received.index("response.create")


async def test_send_image_reaches_the_provider_as_an_image() -> None:
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    fake = FakeOpenAI()
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            async with rt.connect(openai(server)) as session:
                await session.send_image(png, "image/png")
                await session.send_text("what is in the picture?")
                async for event in session.events():
                    if isinstance(event, rt.ResponseDone):
                        break
    creates = [
        e["item"]
        for e in fake.connections[0].received
        if isinstance(e, dict) and e["type"] == "conversation.item.create"
    ]
    parts = [p for item in creates for p in item.get("content", [])]
    images = [p for p in parts if p["type"] == "input_image"]
    assert len(images) == 1
    assert images[0]["image_url"].startswith("data:image/png;base64,iVBORw0KGgo")


async def test_send_audio_of_an_array_or_bytes_names_the_constructor_and_loses_nothing() -> None:
    fake = FakeOpenAI()
    samples = np.zeros(480, np.int16)
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            async with rt.connect(openai(server)) as session:
                for wrong, kind in ((samples, "ndarray"), (samples.tobytes(), "bytes")):
                    with pytest.raises(TypeError) as info:
                        await session.send_audio(wrong)  # type: ignore[arg-type]
                    assert str(info.value) == (
                        f"send_audio() needs an AudioFrame, got {kind}: wrap int16 samples "
                        "with AudioFrame(samples, sample_rate), float samples with "
                        "AudioFrame.from_float(samples, sample_rate), or PCM16 bytes with "
                        "AudioFrame.from_bytes(data, sample_rate)"
                    )
                # The session goes on: the next proper frame is sent.
                await session.send_audio(AudioFrame(samples, 24000))
                await session.flush_audio()
                await session.send_text("still there?")
                async for event in session.events():
                    if isinstance(event, rt.ResponseDone):
                        break
    appends = [
        e
        for e in fake.connections[0].received
        if isinstance(e, dict) and e["type"] == "input_audio_buffer.append"
    ]
    assert len(appends) == 1
