"""The session runtime's mechanics, over a toy provider and a scripted loopback server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
import trio
import trio_websocket

import trio_realtime as rt
from trio_realtime.audio import AudioFrame
from trio_realtime.session import RealtimeSession, connect
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.tools import tool

from .toy_provider import RATE, ToyConfig

Script = Callable[[trio_websocket.WebSocketConnection, list[Any]], Awaitable[None]]


@asynccontextmanager
async def toy_server(script: Script) -> AsyncIterator[tuple[str, list[Any], list[int | None]]]:
    """Serve `script` on 127.0.0.1; yield (url, received messages, close codes seen)."""
    received: list[Any] = []
    codes: list[int | None] = []

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await script(ws, received)
            while True:
                received.append(json.loads(await ws.get_message()))
        except trio_websocket.ConnectionClosed as exc:
            codes.append(exc.reason.code if exc.reason else None)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        port = server.port
        yield f"ws://127.0.0.1:{port}/toy", received, codes
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def checked(config: ToyConfig) -> AsyncIterator[RealtimeSession]:
    """`connect`, asserting that no task of the session outlives the block."""
    with no_leaked_tasks() as tracker:
        async with connect(config) as session:
            yield session
    assert any("writer" in name for name in tracker.spawned)


async def ready_then(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
    received.append(json.loads(await ws.get_message()))  # hello
    await ws.send_message(json.dumps({"type": "ready"}))


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - polls state owned by the library
        await trio.sleep(0.001)


async def test_events_in_wire_order_and_commands_reach_server() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(5):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))
        await ws.send_message(json.dumps({"type": "done", "response_id": "r1"}))

    with trio.fail_after(10):
        async with toy_server(script) as (url, received, codes):
            async with checked(ToyConfig(url)) as session:
                seen: list[Any] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
                await session.send_text("hi")
                await wait_for(lambda: any(m.get("type") == "text" for m in received))
            await wait_for(lambda: bool(codes))
    assert isinstance(seen[0], rt.SessionReady)
    audio = [e for e in seen[1:] if isinstance(e, rt.AudioOut)]
    assert [int(e.frame.samples[0]) for e in audio] == [0, 1, 2, 3, 4]
    assert isinstance(seen[-1], rt.ResponseDone)
    assert received[0] == {"type": "hello"}
    assert {"type": "text", "text": "hi"} in received
    assert codes == [1000]


async def test_local_interrupt_drops_audio_already_buffered() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(20):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))

    with trio.fail_after(10):
        async with toy_server(script) as (url, received, _codes):
            async with checked(ToyConfig(url)) as session:
                first = await session.next_event()
                assert isinstance(first, rt.SessionReady)
                await wait_for(lambda: session.statistics().events_buffered >= 20)
                await session.interrupt()
                after = await session.next_event()
                await wait_for(lambda: {"type": "cancel"} in received)
                assert session.statistics().events_buffered == 0
    assert isinstance(after, rt.Interrupted)
    assert after.source == "local"
    assert after.response_id == "r1"


async def test_server_interruption_purges_queued_audio_and_later_audio_of_that_response() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(5):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))
        await ws.send_message(json.dumps({"type": "interrupted"}))
        await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": 99}))
        await ws.send_message(json.dumps({"type": "audio", "response_id": "r2", "seq": 7}))
        await ws.send_message(json.dumps({"type": "done", "response_id": "r2"}))

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            async with checked(ToyConfig(url)) as session:
                assert isinstance(await session.next_event(), rt.SessionReady)
                stats = session.statistics
                await wait_for(
                    lambda: stats().stale_audio_dropped >= 5 and stats().events_buffered >= 3
                )
                seen: list[Any] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["Interrupted", "AudioOut", "ResponseDone"]
    assert seen[1].response_id == "r2"
    assert int(seen[1].frame.samples[0]) == 7


async def test_remote_close_delivers_queued_events_then_connection_lost() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(3):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))
        await ws.aclose(4001, "going now")

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            async with checked(ToyConfig(url)) as session:
                seqs: list[int] = []
                with pytest.raises(rt.ConnectionLost) as info:  # noqa: PT012
                    async for event in session.events():
                        if isinstance(event, rt.AudioOut):
                            seqs.append(int(event.frame.samples[0]))
                with pytest.raises(rt.ConnectionLost):
                    await session.send_text("too late")
    assert seqs == [0, 1, 2]
    assert info.value.code == 4001
    assert "going now" in str(info.value)


async def test_exception_in_block_propagates_unchanged_and_socket_closes() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)

    class Boom(Exception):
        pass

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, codes):
            with no_leaked_tasks(), pytest.raises(Boom, match="app failed") as info:
                async with connect(ToyConfig(url)):
                    raise Boom("app failed")
            assert type(info.value) is Boom
            await wait_for(lambda: bool(codes))
    assert codes == [1000]


async def test_outside_cancellation_closes_cleanly() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, codes):
            with no_leaked_tasks(), trio.move_on_after(0.2) as scope:
                async with connect(ToyConfig(url)) as session:
                    async for _ in session.events():
                        pass
            assert scope.cancelled_caught
            await wait_for(lambda: bool(codes))
    assert codes == [1000]


async def test_two_readers_is_busy_and_closed_session_raises() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            async with checked(ToyConfig(url)) as session:
                assert isinstance(await session.next_event(), rt.SessionReady)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(session.next_event)
                    await trio.testing.wait_all_tasks_blocked()
                    with pytest.raises(trio.BusyResourceError):
                        await session.next_event()
                    nursery.cancel_scope.cancel()
                # The cancelled wait lost nothing and left the session usable.
                await session.send_text("still here")
            with pytest.raises(rt.SessionClosed):
                await session.send_text("closed")
            with pytest.raises(rt.SessionClosed):
                await session.next_event()


async def test_cancelled_wait_loses_nothing() -> None:
    gate = trio.Event()

    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        await gate.wait()
        await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": 3}))

    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            async with checked(ToyConfig(url)) as session:
                assert isinstance(await session.next_event(), rt.SessionReady)
                with trio.move_on_after(0.05):
                    await session.next_event()
                gate.set()
                event = await session.next_event()
    assert isinstance(event, rt.AudioOut)
    assert int(event.frame.samples[0]) == 3


async def test_tools_run_automatically_and_cancelled_tool_task_is_gone() -> None:
    started = trio.Event()
    slow_cancelled = trio.Event()

    @tool
    async def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool
    async def slow(seconds: float) -> str:
        """Wait, then answer."""
        started.set()
        try:
            await trio.sleep(seconds)
        except trio.Cancelled:
            slow_cancelled.set()
            raise
        return "late"

    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        await ws.send_message(
            json.dumps(
                {
                    "type": "tool",
                    "call_id": "c1",
                    "name": "add",
                    "arguments": {"a": 2, "b": 3},
                    "response_id": "r1",
                }
            )
        )
        await ws.send_message(
            json.dumps(
                {
                    "type": "tool",
                    "call_id": "c2",
                    "name": "slow",
                    "arguments": {"seconds": 100},
                    "response_id": "r2",
                }
            )
        )
        await started.wait()
        await ws.send_message(json.dumps({"type": "cancel_tool", "call_id": "c2"}))

    with trio.fail_after(10):
        async with toy_server(script) as (url, received, _codes):
            async with checked(ToyConfig(url, tools=[add, slow])) as session:
                await wait_for(lambda: any(m.get("type") == "tool_result" for m in received))
                await slow_cancelled.wait()
                await wait_for(lambda: session.statistics().tool_calls_running == 0)
    results = [m for m in received if m.get("type") == "tool_result"]
    assert results == [
        {"type": "tool_result", "call_id": "c1", "output": 5, "is_error": False, "respond": True}
    ]


async def test_slow_consumer_overflow_drops_oldest_audio_within_bound() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(300):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))
        await ws.send_message(json.dumps({"type": "done", "response_id": "r1"}))

    config = ToyConfig("")
    config.options.max_queue = 100
    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            config.url = url
            async with checked(config) as session:
                await wait_for(lambda: session.statistics().overflow_audio_dropped >= 200)
                assert session.statistics().events_buffered <= 100
                seen: list[Any] = []
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
    audio = [int(e.frame.samples[0]) for e in seen if isinstance(e, rt.AudioOut)]
    # The newest audio survives, in order; the non-audio events were all kept.
    assert audio == sorted(audio)
    assert audio[-1] == 299
    assert isinstance(seen[0], rt.SessionReady)
    assert isinstance(seen[-1], rt.ResponseDone)


async def test_send_audio_resamples_and_rechunks() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)

    with trio.fail_after(10):
        async with toy_server(script) as (url, received, _codes):
            async with checked(ToyConfig(url)) as session:
                # 1 s of 48 kHz stereo in 7 ms pieces.
                stereo = np.zeros((48000, 2), dtype=np.int16)
                frame = AudioFrame(stereo, 48000, 2)
                step = 48 * 7
                for start in range(0, 48000, step):
                    await session.send_audio(
                        AudioFrame(frame.samples[start : start + step], 48000, 2)
                    )
                await session.flush_audio()
                await wait_for(
                    lambda: (
                        sum(m.get("n", 0) for m in received if m.get("type") == "audio_in")
                        >= RATE - 64
                    )
                )
    sizes = [m["n"] for m in received if m.get("type") == "audio_in"]
    assert all(n <= RATE * 100 // 1000 for n in sizes)
    assert all(n >= RATE * 20 // 1000 for n in sizes[:-1])
    assert abs(sum(sizes) - RATE) <= 64


def test_session_is_public() -> None:
    assert rt.connect is connect
    assert RealtimeSession.__doc__


async def test_refused_handshake_is_authentication_error_and_leaves_nothing() -> None:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(401, body=b'{"error": {"message": "Incorrect API key provided"}}')

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None
            )
            url = f"ws://127.0.0.1:{server.port}/toy"
            with no_leaked_tasks(), pytest.raises(rt.AuthenticationError) as info:
                async with connect(ToyConfig(url)):
                    pass  # pragma: no cover
            nursery.cancel_scope.cancel()
    assert info.value.status == 401
    assert "Incorrect API key provided" in str(info.value)


async def test_no_ready_within_open_timeout_is_handshake_error(autojump_clock: Any) -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ws.get_message()  # never says ready

    with trio.fail_after(60):
        async with toy_server(script) as (url, _received, codes):
            with no_leaked_tasks(), pytest.raises(rt.HandshakeError, match="not ready within 5 s"):
                async with connect(ToyConfig(url)):
                    pass  # pragma: no cover
            await wait_for(lambda: bool(codes))
    assert codes == [1000]


async def test_fatal_error_before_ready_fails_connect_at_once() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ws.get_message()
        await ws.send_message(
            json.dumps({"type": "error", "message": "Unknown voice 'nope'.", "code": "bad_voice"})
        )

    with trio.fail_after(3):  # well under the 5 s open timeout
        async with toy_server(script) as (url, _received, _codes):
            with no_leaked_tasks(), pytest.raises(rt.ConfigurationRefused) as info:
                async with connect(ToyConfig(url)):
                    pass  # pragma: no cover
    assert isinstance(info.value, rt.ServerError)  # the service's words
    assert isinstance(info.value, rt.ConfigurationError)  # the fix is in the configuration
    assert info.value.code == "bad_voice"
    assert info.value.fatal
    assert str(info.value) == "toy refused the session configuration: Unknown voice 'nope'."


async def test_reading_buffered_events_still_lets_other_tasks_run() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)
        for seq in range(40):
            await ws.send_message(json.dumps({"type": "audio", "response_id": "r1", "seq": seq}))

    ran_at: list[int] = []
    with trio.fail_after(10):
        async with toy_server(script) as (url, _received, _codes):
            async with checked(ToyConfig(url)) as session:
                assert isinstance(await session.next_event(), rt.SessionReady)
                await wait_for(lambda: session.statistics().events_buffered >= 40)
                read = 0
                async with trio.open_nursery() as nursery:

                    async def other() -> None:
                        ran_at.append(read)

                    nursery.start_soon(other)
                    while read < 40:
                        await session.next_event()
                        read += 1
    # The other task ran while the 40 buffered events were being read.
    assert ran_at
    assert ran_at[0] < 40


async def test_aclose_from_another_task_ends_the_event_loop_quietly() -> None:
    async def script(ws: trio_websocket.WebSocketConnection, received: list[Any]) -> None:
        await ready_then(ws, received)

    seen: list[Any] = []
    with trio.fail_after(10):
        async with toy_server(script) as (url, received, codes):
            async with checked(ToyConfig(url)) as session, trio.open_nursery() as nursery:

                async def reader() -> None:
                    async for event in session.events():
                        seen.append(event)
                    seen.append("ended")

                nursery.start_soon(reader)
                await session.send_text("bye")  # queued before the close: still sent
                await session.aclose()
                await session.aclose()  # idempotent
            await wait_for(lambda: bool(codes))
    assert seen[-1] == "ended"
    assert {"type": "text", "text": "bye"} in received
    assert codes == [1000]
