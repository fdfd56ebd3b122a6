"""`EventBuffer`: order, the overflow policy in count and bytes, stale audio, close."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
import trio
import trio.testing

from trio_realtime._buffer import YIELD_EVERY, BufferStatistics, EventBuffer
from trio_realtime.audio import AudioFrame
from trio_realtime.events import AudioOut, Event, ResponseDone, TextOut, Transcript

SAMPLES = 480  # 20 ms at 24 kHz: 960 bytes


def audio(seq: int, generation: int = 0) -> AudioOut:
    return AudioOut(
        AudioFrame(np.full(SAMPLES, seq, dtype=np.int16), 24000),
        response_id="r1",
        generation=generation,
    )


def label(event: Event) -> str:
    if isinstance(event, AudioOut):
        return f"a{int(event.frame.samples[0])}"
    if isinstance(event, Transcript):
        return f"{'t' if event.final else 'p'}:{event.text}"
    if isinstance(event, TextOut):
        return f"x:{event.text}"
    return type(event).__name__


def drain(buffer: EventBuffer) -> list[str]:
    """Everything buffered, read without waiting (the buffer is closed first)."""
    buffer.close()
    out: list[str] = []

    async def read() -> None:
        while True:
            try:
                out.append(label(await buffer.get()))
            except trio.EndOfChannel:
                return

    trio.run(read)
    return out


def test_events_come_out_in_the_order_they_went_in() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    for event in [
        audio(0),
        Transcript("assistant", "he", final=False),
        audio(1),
        TextOut("x"),
        audio(2),
        ResponseDone(),
    ]:
        buffer.put(event)
    assert buffer.statistics().events_buffered == 6
    assert buffer.statistics().bytes_buffered == 3 * SAMPLES * 2
    assert drain(buffer) == ["a0", "p:he", "a1", "x:x", "a2", "ResponseDone"]
    assert buffer.statistics().events_buffered == 0
    assert buffer.statistics().bytes_buffered == 0


def test_past_the_count_the_oldest_audio_and_partials_go_first() -> None:
    buffer = EventBuffer(max_events=5, max_bytes=10**6)
    buffer.put(audio(0))
    buffer.put(Transcript("assistant", "a", final=False))
    buffer.put(TextOut("keep"))
    buffer.put(audio(1))
    buffer.put(Transcript("assistant", "whole", final=True))
    buffer.put(audio(2))  # 6 > 5: a0 goes
    buffer.put(audio(3))  # the partial goes
    stats = buffer.statistics()
    assert stats.events_buffered == 5
    assert stats.overflow_audio_dropped == 1
    assert stats.overflow_partials_dropped == 1
    assert stats.overflow_bytes_dropped == SAMPLES * 2
    assert not buffer.overfull
    assert drain(buffer) == ["x:keep", "a1", "t:whole", "a2", "a3"]


def test_past_the_bytes_the_oldest_audio_goes_first() -> None:
    buffer = EventBuffer(max_events=1000, max_bytes=3 * SAMPLES * 2)
    buffer.put(Transcript("assistant", "first", final=False))
    for seq in range(5):
        buffer.put(audio(seq))
        buffer.put(TextOut(str(seq)))
    stats = buffer.statistics()
    assert stats.bytes_buffered == 3 * SAMPLES * 2
    assert stats.overflow_audio_dropped == 2
    # The partial transcript was older than the oldest audio: it went first.
    assert stats.overflow_partials_dropped == 1
    assert drain(buffer) == ["x:0", "x:1", "a2", "x:2", "a3", "x:3", "a4", "x:4"]


def test_events_that_cannot_be_dropped_make_it_overfull_at_twice_the_count() -> None:
    buffer = EventBuffer(max_events=4, max_bytes=10**6)
    for seq in range(8):
        buffer.put(TextOut(str(seq)))
    before = buffer.overfull
    buffer.put(TextOut("8"))
    assert (before, buffer.overfull) == (False, True)
    assert buffer.statistics().events_buffered == 9  # nothing of it was dropped


def test_a_stalled_reader_leaves_bounded_memory_behind() -> None:
    """Dropped runs leave shells in the channel: at most one per run of audio."""
    buffer = EventBuffer(max_events=20, max_bytes=10**6)
    for seq in range(10_000):
        buffer.put(audio(seq))
        if seq % 1000 == 0:
            buffer.put(TextOut(str(seq)))
    stats = buffer.statistics()
    assert stats.events_buffered == 20
    assert stats.overflow_audio_dropped == 10_000 - 10
    # Ten text events and the audio runs between them: a few slots, not 10 000.
    assert buffer._receive.statistics().current_buffer_used <= 21
    events = drain(buffer)
    assert events[:2] == ["x:0", "x:1000"]
    assert events[-11:] == ["x:9000", *(f"a{seq}" for seq in range(9990, 10_000))]


def test_purge_drops_stale_audio_now_and_at_delivery() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    for seq in range(3):
        buffer.put(audio(seq, generation=0))
    buffer.put(TextOut("kept"))
    buffer.purge_stale(1)
    stats = buffer.statistics()
    assert stats.stale_audio_dropped == 3
    assert stats.events_buffered == 1
    assert stats.bytes_buffered == 0
    # Audio of an older generation put later is dropped when it is read.
    buffer.put(audio(7, generation=0))
    buffer.put(audio(8, generation=1))
    assert drain(buffer) == ["x:kept", "a8"]
    assert buffer.statistics().stale_audio_dropped == 4


async def test_a_chunk_put_into_the_empty_buffer_is_still_the_oldest_to_drop() -> None:
    """At real-time pace each chunk arrives to an empty buffer and travels alone;
    the overflow policy still drops it first, and order holds around it."""
    buffer = EventBuffer(max_events=2, max_bytes=10**6)
    with trio.fail_after(5):
        buffer.put(audio(0))
        assert label(await buffer.get()) == "a0"
        buffer.put(audio(1))  # alone again
        buffer.put(audio(2))
        buffer.put(audio(3))  # 3 > 2: a1 goes first
        stats = buffer.statistics()
        assert (stats.events_buffered, stats.overflow_audio_dropped) == (2, 1)
        assert stats.bytes_buffered == 2 * SAMPLES * 2
        buffer.put(TextOut("kept"))  # 3 > 2: a2 goes
        buffer.put(audio(4))  # 3 > 2: a3 goes
        assert [label(await buffer.get()) for _ in range(2)] == ["x:kept", "a4"]
        stats = buffer.statistics()
        assert (stats.events_buffered, stats.bytes_buffered) == (0, 0)
        assert stats.overflow_audio_dropped == 3
        # Dropped while the reader was away, then everything dropped: the
        # next chunks still come out in order.
        buffer.put(audio(5))
        buffer.put(audio(6))
        buffer.put(audio(7))  # a5 goes
        buffer.put(audio(8))  # a6 goes
        assert [label(await buffer.get()) for _ in range(2)] == ["a7", "a8"]
        assert buffer.statistics().events_buffered == 0


async def test_a_waiting_reader_is_woken_and_a_cancelled_wait_loses_nothing() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    with trio.move_on_after(0.01):
        await buffer.get()
    buffer.put(audio(1))
    assert label(await buffer.get()) == "a1"
    async with trio.open_nursery() as nursery:
        got: list[str] = []

        async def reader() -> None:
            got.append(label(await buffer.get()))

        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        buffer.put(audio(2))
    assert got == ["a2"]


async def test_a_waiting_reader_gets_the_event_handed_over_stale_audio_never() -> None:
    """The reader parked on an empty buffer takes the next event directly; events
    put before it runs wait in order behind it, stale audio is dropped, and
    close ends the wait."""
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    got: list[str] = []

    async def read(n: int) -> None:
        for _ in range(n):
            got.append(label(await buffer.get()))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read, 3)
            await trio.testing.wait_all_tasks_blocked()
            buffer.put(audio(1))  # handed over: nothing buffered
            assert buffer.statistics().events_buffered == 0
            buffer.put(audio(2))  # the reader has not run yet: buffered
            buffer.put(TextOut("t"))
            assert buffer.statistics().events_buffered == 2
        assert got == ["a1", "a2", "x:t"]
        assert buffer.statistics().events_buffered == 0

        got.clear()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read, 1)
            await trio.testing.wait_all_tasks_blocked()
            buffer.purge_stale(1)
            buffer.put(audio(3, generation=0))  # stale: the reader keeps waiting
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            buffer.put(audio(4, generation=1))
        assert got == ["a4"]
        assert buffer.statistics().stale_audio_dropped == 1

        async def read_to_end() -> None:
            with pytest.raises(trio.EndOfChannel):
                await buffer.get()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_to_end)
            await trio.testing.wait_all_tasks_blocked()
            buffer.close()


async def test_two_readers_are_refused() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(buffer.get)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await buffer.get()
        nursery.cancel_scope.cancel()


async def test_reading_buffered_events_yields_every_few_events() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    for seq in range(4 * YIELD_EVERY):
        buffer.put(audio(seq))
    ran_at: list[int] = []
    read = 0
    async with trio.open_nursery() as nursery:

        async def other() -> None:
            ran_at.append(read)

        nursery.start_soon(other)
        while read < 4 * YIELD_EVERY:
            await buffer.get()
            read += 1
    # The other task ran at one of the reader's yields, each while it handed
    # over an 8th event (which one depends on the scheduler's order).
    assert len(ran_at) == 1
    assert ran_at[0] % YIELD_EVERY == YIELD_EVERY - 1
    assert ran_at[0] < 4 * YIELD_EVERY - 1


async def test_close_delivers_what_is_buffered_then_ends() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=10**6)
    buffer.put(audio(0))
    buffer.close()
    buffer.close()  # idempotent
    buffer.put(audio(1))  # ignored
    assert label(await buffer.get()) == "a0"
    with pytest.raises(trio.EndOfChannel):
        await buffer.get()


def test_statistics_are_a_frozen_snapshot() -> None:
    buffer = EventBuffer(max_events=7, max_bytes=99)
    stats = buffer.statistics()
    assert stats == BufferStatistics(
        events_buffered=0,
        bytes_buffered=0,
        max_events=7,
        max_bytes=99,
        stale_audio_dropped=0,
        overflow_audio_dropped=0,
        overflow_partials_dropped=0,
        overflow_bytes_dropped=0,
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.events_buffered = 1  # type: ignore[misc]
    buffer.put(audio(0))
    assert stats.events_buffered == 0
