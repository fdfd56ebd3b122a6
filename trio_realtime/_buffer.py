"""`EventBuffer`: received events waiting for `RealtimeSession.events()`.

The transport's reader task decodes each message and `put`\\ s its events here
without waiting; the application's task `get`\\ s them, in wire order. The
buffer is a Trio memory channel (unbounded: the reader must never wait for
the application, or pings would go unanswered) with a bound enforced by the
overflow policy below.

Overflow policy
---------------
The buffer holds at most ``max_events`` events and ``max_bytes`` bytes of
output audio (the PCM of `AudioOut` frames). Past either bound, the oldest
*droppable* events go first, one by one, until both bounds hold again:

- `AudioOut`: audio that was not played in time is worth little later;
- a partial `Transcript` (``final=False``): the final one repeats the text.

Every other event (transcripts, tool calls, turn ends, errors…) is kept, so
the application's view of the conversation stays whole; if more than twice
``max_events`` of those wait, the application has stopped reading and
`overfull` turns true (the session then fails). Dropped events are counted in
`statistics` and the first drop is logged once.

How it sits on the channel: a memory channel cannot drop from its middle, so
consecutive droppable events travel together in one `_Run` (a deque) that
takes a single slot of the channel; dropping pops from the oldest run, and a
run emptied that way leaves a small shell that the reader skips. Non-droppable
events travel in the channel as themselves. So does a droppable event put
into an empty buffer (the usual case at real-time pace, where the
application waits for every chunk: no run is built for it); it is the oldest
event buffered until `get` takes it, so the overflow drops it first, by
marking it for `get` to skip. The memory a stopped reader leaves is
therefore bounded: at most ``max_bytes`` of audio, ``max_events`` droppable
events, twice ``max_events`` other events, and one shell per run or skipped
event.

Interruption: `purge_stale` removes buffered audio of older generations at
once (the memory goes back at the interruption), and `get` drops any stale
`AudioOut` it meets at delivery, so no audio of an interrupted response
reaches the application.

Fairness: `get` returns buffered events without waiting, but yields to the
scheduler once per `YIELD_EVERY` events, so a consumer that never has to wait
still lets other tasks run.

Waiting: at real-time pace the application's task is usually already
waiting in `get` when an event arrives. Then `put` hands the event straight
to it (``trio.lowlevel.reschedule``), past the channel: a channel's
``receive`` on an empty channel raises and catches ``WouldBlock`` and keeps
more bookkeeping per wait than one parked task needs. Events that find
nobody waiting go through the channel as described above, so a consumer
that reads in batches keeps ``receive_nowait``'s speed.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import attrs
import outcome
import trio

from .events import AudioOut, Event, Transcript

__all__ = ["BufferStatistics", "EventBuffer", "YIELD_EVERY"]

log = logging.getLogger("trio_realtime.session")

#: `EventBuffer.get` yields to the scheduler at least once per this many
#: events, even when they are all buffered already.
YIELD_EVERY = 8


@attrs.frozen
class BufferStatistics:
    """A snapshot of an `EventBuffer` (`EventBuffer.statistics`).

    Attributes:
        events_buffered: events waiting to be read.
        bytes_buffered: bytes of output audio (PCM) among them.
        max_events: the bound on `events_buffered` (droppable events first).
        max_bytes: the bound on `bytes_buffered`.
        stale_audio_dropped: audio chunks of interrupted responses dropped.
        overflow_audio_dropped: audio chunks dropped because the bound was hit.
        overflow_partials_dropped: partial transcripts dropped for the same reason.
        overflow_bytes_dropped: bytes of audio (PCM) in the dropped chunks.
    """

    events_buffered: int
    bytes_buffered: int
    max_events: int
    max_bytes: int
    stale_audio_dropped: int
    overflow_audio_dropped: int
    overflow_partials_dropped: int
    overflow_bytes_dropped: int


class _Run:
    """Consecutive droppable events, oldest first, in one slot of the channel."""

    __slots__ = ("events", "live")

    def __init__(self, first: Event) -> None:
        self.events: deque[Event] = deque((first,))
        # False once it left `EventBuffer._runs` (read to the end or emptied by
        # the overflow): it takes no more events.
        self.live = True


def _nbytes(event: Event) -> int:
    if type(event) is AudioOut:
        return event.frame.samples.nbytes
    return 0


class EventBuffer:
    """Events from the reader task to the application, in order, bounded.

    Args:
        max_events: bound on the events waiting (see the module's policy).
        max_bytes: bound on the output audio waiting, in bytes of PCM.
    """

    def __init__(self, *, max_events: int, max_bytes: int) -> None:
        self._send: trio.MemorySendChannel[Event | _Run]
        self._receive: trio.MemoryReceiveChannel[Event | _Run]
        self._send, self._receive = trio.open_memory_channel(math.inf)
        self._max_events = max_events
        self._max_bytes = max_bytes
        #: Runs that still hold events or may take more, oldest first.
        self._runs: deque[_Run] = deque()
        #: The run new droppable events join: the last item sent, if a run.
        self._tail: _Run | None = None
        #: The run `get` is reading from.
        self._current: _Run | None = None
        self._count = 0
        self._bytes = 0
        #: A droppable event sent as itself into the empty buffer, not read yet.
        self._loose: Event | None = None
        #: Loose events dropped while in the channel: `get` skips them.
        self._skip: list[Event] = []
        #: Audio of another generation is stale (`purge_stale` moves it on).
        self.generation = 0
        self._getting = False
        #: The task parked in `get` on an empty buffer, waiting for `put`.
        self._waiter: trio.lowlevel.Task | None = None
        #: Items (events, runs, shells) in the channel.
        self._queued = 0
        self._unyielded = 0
        self._closed = False
        #: Whether more than twice ``max_events`` events that cannot be dropped wait.
        self.overfull = False
        self._stale = 0
        self._dropped_audio = 0
        self._dropped_partials = 0
        self._dropped_bytes = 0

    # ------------------------------------------------------------------ writer side

    def put(self, event: Event) -> None:
        """Add one event (in wire order); past the bounds, apply the overflow policy.

        Ignored after `close`.
        """
        if self._closed:
            return
        waiter = self._waiter
        if waiter is not None:
            # `get` waits on an empty buffer: the event goes straight to it.
            if type(event) is AudioOut and event.generation != self.generation:
                self._stale += 1
                return
            self._waiter = None
            trio.lowlevel.reschedule(waiter, outcome.Value(event))
            return
        self._count += 1
        kind = type(event)
        if kind is AudioOut or (kind is Transcript and not event.final):  # type: ignore[attr-defined]
            if kind is AudioOut:
                self._bytes += event.frame.samples.nbytes  # type: ignore[attr-defined]
            if self._count == 1 and not self._skip:
                # The buffer was empty: no run for one event (see the module doc).
                self._loose = event
                self._tail = None
                self._send.send_nowait(event)
                self._queued += 1
            else:
                tail = self._tail
                if tail is not None:
                    tail.events.append(event)
                else:
                    tail = self._tail = _Run(event)
                    self._runs.append(tail)
                    self._send.send_nowait(tail)
                    self._queued += 1
        else:
            self._tail = None
            self._send.send_nowait(event)
            self._queued += 1
        if self._count > self._max_events or self._bytes > self._max_bytes:
            self._overflow()

    def purge_stale(self, generation: int) -> None:
        """Make `generation` current and drop the buffered audio of the others now."""
        self.generation = generation
        loose = self._loose
        if type(loose) is AudioOut and loose.generation != generation:
            self._stale += 1
            self._drop_loose(loose)
        for run in self._runs:
            events = run.events
            if any(type(e) is AudioOut and e.generation != generation for e in events):
                kept = [e for e in events if type(e) is not AudioOut or e.generation == generation]
                dropped = len(events) - len(kept)
                self._stale += dropped
                self._count -= dropped
                self._bytes -= sum(_nbytes(e) for e in events) - sum(_nbytes(e) for e in kept)
                events.clear()
                events.extend(kept)

    def _drop_loose(self, loose: Event) -> None:
        """Count the loose event out; `get` skips it when it comes out of the channel."""
        self._loose = None
        self._skip.append(loose)
        self._count -= 1
        self._bytes -= _nbytes(loose)

    def _overflow(self) -> None:
        runs = self._runs
        dropped_before = self._dropped_audio + self._dropped_partials
        loose = self._loose
        if loose is not None:  # the oldest event buffered: it goes first
            size = _nbytes(loose)
            self._drop_loose(loose)
            if size:
                self._dropped_audio += 1
                self._dropped_bytes += size
            else:
                self._dropped_partials += 1
        while (self._count > self._max_events or self._bytes > self._max_bytes) and runs:
            run = runs[0]
            if not run.events:
                # Emptied: its shell stays in the channel and `get` skips it.
                run.live = False
                runs.popleft()
                if self._tail is run:
                    self._tail = None
                continue
            event = run.events.popleft()
            self._count -= 1
            if type(event) is AudioOut:
                size = _nbytes(event)
                self._bytes -= size
                self._dropped_bytes += size
                self._dropped_audio += 1
            else:
                self._dropped_partials += 1
        if dropped_before == 0 and self._dropped_audio + self._dropped_partials:
            log.warning(
                "The application is not reading events fast enough: more than %d events "
                "or %d bytes of audio are buffered, so the oldest audio and partial "
                "transcripts are being dropped.",
                self._max_events,
                self._max_bytes,
            )
        if self._count > 2 * self._max_events:
            self.overfull = True

    def close(self) -> None:
        """End the stream: `get` returns what is buffered, then raises `trio.EndOfChannel`.

        Idempotent.
        """
        if not self._closed:
            self._closed = True
            self._tail = None
            self._send.close()
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                trio.lowlevel.reschedule(waiter, outcome.Error(trio.EndOfChannel()))

    # ------------------------------------------------------------------ reader side

    async def get(self) -> Event:
        """Return the next event, waiting for one if none is buffered.

        A cancelled wait loses nothing.

        Raises:
            trio.EndOfChannel: the buffer was closed and every event was read.
            trio.BusyResourceError: another task is already waiting in `get`.
        """
        if self._getting:
            raise trio.BusyResourceError("another task is already reading this session's events")
        self._getting = True
        try:
            if self._count or self._skip:
                await trio.lowlevel.checkpoint_if_cancelled()
            # (else nothing is buffered: the wait below is the cancel point)
            while True:
                event = self._pop()
                if event is not None:
                    self._unyielded += 1
                    if self._unyielded >= YIELD_EVERY:
                        # A consumer that never waits still lets other tasks run.
                        self._unyielded = 0
                        await trio.lowlevel.cancel_shielded_checkpoint()
                    return event
                self._unyielded = 0
                if not self._queued:
                    if self._closed:
                        await trio.lowlevel.checkpoint_if_cancelled()
                        raise trio.EndOfChannel
                    # Parked until `put` hands an event over or `close` ends the stream.
                    self._waiter = trio.lowlevel.current_task()
                    return await trio.lowlevel.wait_task_rescheduled(self._abort_wait)  # type: ignore[no-any-return]
                item = await self._receive.receive()
                self._queued -= 1
                if isinstance(item, _Run):
                    self._current = item
                    continue
                taken = self._took(item)
                if taken is not None:
                    return taken
        finally:
            self._getting = False

    def _abort_wait(self, _: object) -> trio.lowlevel.Abort:
        """The parked `get` was cancelled: `put` has nobody to hand events to."""
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _pop(self) -> Event | None:
        """The next buffered event that is not stale, or `None` if none is buffered."""
        while True:
            run = self._current
            if run is not None:
                events = run.events
                while events:
                    event = events.popleft()
                    self._count -= 1
                    if type(event) is AudioOut:
                        self._bytes -= event.frame.samples.nbytes
                        if event.generation != self.generation:
                            self._stale += 1
                            continue
                    return event
                # Read to the end: it takes no more events.
                self._current = None
                if run.live:
                    run.live = False
                    self._runs.popleft()  # the oldest live run is the one being read
                    if self._tail is run:
                        self._tail = None
            if not self._count and not self._skip:
                return None  # nothing buffered but, perhaps, empty shells: `get` skips them
            try:
                item = self._receive.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                return None
            self._queued -= 1
            if isinstance(item, _Run):
                self._current = item
                continue
            taken = self._took(item)
            if taken is not None:
                return taken

    def _took(self, event: Event) -> Event | None:
        """Account for an event taken from the channel as itself: it, or `None` to skip it."""
        if event is self._loose:
            self._loose = None
        elif self._skip and event is self._skip[0]:
            del self._skip[0]  # dropped while it waited in the channel
            return None
        self._count -= 1
        if type(event) is AudioOut:
            self._bytes -= event.frame.samples.nbytes
            if event.generation != self.generation:
                self._stale += 1
                return None
        return event

    # ------------------------------------------------------------------ inspection

    def statistics(self) -> BufferStatistics:
        """A snapshot of the buffer's state and counters."""
        return BufferStatistics(
            events_buffered=self._count,
            bytes_buffered=self._bytes,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            stale_audio_dropped=self._stale,
            overflow_audio_dropped=self._dropped_audio,
            overflow_partials_dropped=self._dropped_partials,
            overflow_bytes_dropped=self._dropped_bytes,
        )
