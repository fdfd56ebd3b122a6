"""`Outbox`: control overtakes audio, audio backpressure, put back, drain, close."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from trio_realtime._outbox import Outbox, OutboxStatistics


async def take(outbox: Outbox, n: int) -> list[str]:
    out = []
    for _ in range(n):
        message, is_audio = await outbox.get()
        out.append(f"{'A' if is_audio else 'C'}:{message}")
    return out


async def test_control_messages_go_before_queued_audio_each_in_order() -> None:
    outbox = Outbox(10)
    for n in range(3):
        await outbox.put_audio(f"a{n}")
    outbox.put_control(["c0", "c1"])
    outbox.put_audio_nowait("a3")
    outbox.put_control(["c2"])
    assert outbox.statistics().control_queued == 3
    assert outbox.statistics().audio_queued == 4
    assert await take(outbox, 7) == ["C:c0", "C:c1", "C:c2", "A:a0", "A:a1", "A:a2", "A:a3"]
    assert outbox.statistics() == OutboxStatistics(
        control_queued=0, audio_queued=0, max_audio=10, tasks_waiting_audio=0
    )


async def test_an_idle_writer_wakes_for_control_and_for_audio() -> None:
    outbox = Outbox(10)
    got: list[str] = []
    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            got.extend(await take(outbox, 2))

        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        outbox.put_control(["c0"])
        await trio.testing.wait_all_tasks_blocked()
        await outbox.put_audio("a0")
    assert got == ["C:c0", "A:a0"]


async def test_control_queued_while_the_writer_wakes_for_audio_still_goes_first() -> None:
    outbox = Outbox(10)
    got: list[str] = []
    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            got.extend(await take(outbox, 2))

        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        outbox.put_audio_nowait("a0")  # hands a0 to the waiting writer…
        outbox.put_control(["c0"])  # …which has not run yet
    assert got == ["C:c0", "A:a0"]


async def test_audio_waits_for_room_and_control_never_does() -> None:
    outbox = Outbox(2)
    await outbox.put_audio("a0")
    await outbox.put_audio("a1")
    with pytest.raises(trio.WouldBlock):
        outbox.put_audio_nowait("a2")
    outbox.put_control([f"c{n}" for n in range(100)])  # never waits, never refused
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.put_audio, "a2")
        await trio.testing.wait_all_tasks_blocked()
        assert outbox.statistics().tasks_waiting_audio == 1
        got = await take(outbox, 101)  # the 100 control messages, then a0: room for a2
    assert got[-1] == "A:a0"
    assert await take(outbox, 2) == ["A:a1", "A:a2"]


async def test_a_cancelled_wait_for_room_queues_nothing() -> None:
    outbox = Outbox(1)
    await outbox.put_audio("a0")
    with trio.move_on_after(0.01):
        await outbox.put_audio("lost")
    assert outbox.statistics().audio_queued == 1
    assert await take(outbox, 1) == ["A:a0"]


async def test_a_message_put_back_goes_first() -> None:
    outbox = Outbox(10)
    await outbox.put_audio("a0")
    outbox.put_control(["c0"])
    message, is_audio = await outbox.get()
    outbox.put_back(message, is_audio)
    assert await take(outbox, 2) == ["C:c0", "A:a0"]


async def test_wait_drained_returns_once_the_writer_took_everything() -> None:
    outbox = Outbox(10)
    await outbox.wait_drained()  # nothing queued: at once
    await outbox.put_audio("a0")
    outbox.put_control(["c0"])
    drained_after: list[int] = []
    taken: list[str] = []
    async with trio.open_nursery() as nursery:

        async def waiter() -> None:
            await outbox.wait_drained()
            drained_after.append(len(taken))

        async def writer() -> None:
            while True:
                taken.extend(await take(outbox, 1))

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert taken == ["C:c0", "A:a0"]
    assert drained_after == [2]


async def test_close_stops_the_writer_and_wakes_every_waiter() -> None:
    outbox = Outbox(1)
    await outbox.put_audio("a0")
    results: list[str] = []
    async with trio.open_nursery() as nursery:

        async def producer() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await outbox.put_audio("a1")
            results.append("producer")

        async def drainer() -> None:
            await outbox.wait_drained()
            results.append("drainer")

        nursery.start_soon(producer)
        nursery.start_soon(drainer)
        await trio.testing.wait_all_tasks_blocked()
        outbox.close()
        outbox.close()  # idempotent
    assert sorted(results) == ["drainer", "producer"]
    assert outbox.closed
    outbox.put_control(["ignored"])
    with pytest.raises(trio.EndOfChannel):
        await outbox.get()  # what was queued is discarded


async def test_a_waiting_writer_ends_on_close() -> None:
    outbox = Outbox(1)
    async with trio.open_nursery() as nursery:

        async def writer() -> None:
            with pytest.raises(trio.EndOfChannel):
                await outbox.get()

        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        outbox.close()


def test_statistics_are_frozen() -> None:
    stats = Outbox(3).statistics()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.audio_queued = 1  # type: ignore[misc]
