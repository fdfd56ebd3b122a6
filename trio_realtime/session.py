"""`RealtimeSession`: the Trio runtime over a provider's sans-IO protocol machine.

`connect(config)` opens the WebSocket, completes the provider's handshake and
yields a `RealtimeSession`. Inside, one nursery owns the writer task (the only
task that sends), the transport's keepalive, and one task per running tool
call. Received messages are decoded inside the transport's own reader task and
queued as neutral events for `events()`, so the receive path costs no extra
task switch per audio chunk.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import trio

from ._buffer import EventBuffer
from ._closes import explain_close, explain_error_event
from ._config import ProviderConfig, tool_specs
from ._continuity import GapBuffer, classify, describe, retryable
from ._groups import reraise, single_exception
from ._loop import require_trio
from ._metrics import LatencyStats, MetricsTracker
from ._outbox import Outbox
from ._wirelog import summarise, wire_log
from .audio import AudioFrame, Resampler
from .errors import (
    ConnectionLost,
    HandshakeError,
    ProtocolError,
    RealtimeError,
    ReconnectFailed,
    SessionClosed,
    redact_text,
    redact_url,
    scrub_exception,
)
from .events import (
    ApproveMcp,
    AudioOut,
    ClearAudio,
    Command,
    CommitAudio,
    EndActivity,
    EndAudioStream,
    Event,
    GoingAway,
    Interrupt,
    Interrupted,
    InvalidToolCall,
    RealtimeProtocol,
    Reconnected,
    ReportPlayback,
    Respond,
    ResponseDone,
    ResponseStarted,
    ResumptionUpdate,
    SendImage,
    SendText,
    SendToolResult,
    ServerErrorEvent,
    SessionReady,
    StartActivity,
    ToolCall,
    ToolCallCancelled,
    ToolSpec,
    TurnDone,
    TurnMetrics,
    UpdateSession,
)
from .history import ConversationHistory
from .tools import FunctionTool, ToolContext, tool_error_payload, tool_result_payload
from .transport import Connection, open_connection

if TYPE_CHECKING:
    from .video import VideoForwarder

__all__ = ["EventStream", "LatencyStats", "RealtimeSession", "SessionStatistics", "connect"]

log = logging.getLogger("trio_realtime.session")

#: Audio is sent to the provider in chunks of at least this many milliseconds.
MIN_CHUNK_MS = 20
#: …and at most this many.
MAX_CHUNK_MS = 100
#: Input audio chunks queued for the writer before `send_audio` waits.
MAX_AUDIO_QUEUE = 50


@attrs.frozen
class SessionStatistics:
    """A snapshot of a session's queues and counters (`RealtimeSession.statistics`).

    Attributes:
        events_buffered: received events waiting for `RealtimeSession.events`.
        bytes_buffered: bytes of output audio (PCM) among them.
        stale_audio_dropped: audio chunks of interrupted responses dropped.
        overflow_audio_dropped: audio chunks dropped because the application
            read too slowly (``max_queue`` / ``max_queue_bytes``).
        overflow_partials_dropped: partial transcripts dropped for the same reason.
        overflow_bytes_dropped: bytes of audio (PCM) in the dropped chunks.
        audio_queued: input audio messages waiting for the writer.
        control_queued: other messages waiting for the writer.
        audio_chunks_sent: input audio messages sent.
        control_messages_sent: other messages sent.
        tool_calls_running: tool calls the session is running.
        gap_audio_buffered: input audio chunks accepted while no connection
            was open (sent once the next one was ready), in all.
        gap_audio_dropped: input audio chunks dropped because a gap outlasted
            ``ConnectionOptions.gap_audio_seconds``, in all.
    """

    events_buffered: int = 0
    bytes_buffered: int = 0
    stale_audio_dropped: int = 0
    overflow_audio_dropped: int = 0
    overflow_partials_dropped: int = 0
    overflow_bytes_dropped: int = 0
    audio_queued: int = 0
    control_queued: int = 0
    audio_chunks_sent: int = 0
    control_messages_sent: int = 0
    tool_calls_running: int = 0
    #: Assistant turns ended (`TurnDone`), and how many of them were cut off.
    turns: int = 0
    turns_interrupted: int = 0
    #: End of user input -> first assistant audio / transcript, over the turns.
    time_to_first_audio: LatencyStats = attrs.field(factory=LatencyStats)
    time_to_first_text: LatencyStats = attrs.field(factory=LatencyStats)
    #: Seconds of user audio sent and of assistant audio received.
    audio_in_seconds: float = 0.0
    audio_out_seconds: float = 0.0
    #: Tokens summed over the turns' responses.
    input_tokens: int = 0
    output_tokens: int = 0
    #: TCP + TLS + WebSocket upgrade of the first connection, and `connect()`
    #: start -> session ready (the provider accepted the configuration).
    connect_seconds: float | None = None
    ready_seconds: float | None = None
    #: Moves to a new connection (`Reconnected`) and their summed downtime.
    reconnects: int = 0
    reconnect_downtime: float = 0.0
    #: The metrics of the last turn (also delivered as a `TurnMetrics` event).
    last_turn: TurnMetrics | None = None
    #: Input audio chunks accepted while no connection was open (sent once
    #: the next one was ready), and those dropped because a gap outlasted
    #: ``ConnectionOptions.gap_audio_seconds``, in all.
    gap_audio_buffered: int = 0
    gap_audio_dropped: int = 0


class EventStream:
    """The async iterator returned by `RealtimeSession.events()`: ``async for event in ...``.

    Not an async generator: a cancelled ``__anext__`` loses nothing, and a new
    call to `events()` carries on where this one stopped. Create it with
    `RealtimeSession.events()`, not directly.
    """

    def __init__(self, session: RealtimeSession) -> None:
        self._session = session
        self._get = session._buffer.get

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._get()  # the hot path: straight from the buffer
        except trio.EndOfChannel:
            pass
        try:
            self._session._events_ended()
        except _EndOfEvents:
            raise StopAsyncIteration from None


def _not_a_frame(value: object) -> TypeError:
    return TypeError(
        f"send_audio() needs an AudioFrame, got {type(value).__name__}: wrap int16 samples "
        "with AudioFrame(samples, sample_rate), float samples with "
        "AudioFrame.from_float(samples, sample_rate), or PCM16 bytes with "
        "AudioFrame.from_bytes(data, sample_rate)"
    )


class _EndOfEvents(Exception):
    pass


class RealtimeSession:
    """A live speech-to-speech session. Create it with `connect`.

    Commands (`send_audio`, `send_text`, …) return once the message is queued
    for the writer; control messages overtake queued audio. Events arrive in
    wire order through `events()`.
    """

    def __init__(
        self,
        config: ProviderConfig,
        protocol: RealtimeProtocol,
        nursery: trio.Nursery,
        *,
        max_queue: int,
    ) -> None:
        self.config = config
        self._protocol = protocol
        self._nursery = nursery
        self._conn: Connection | None = None
        self._conn_done: dict[Connection, trio.Event] = {}
        self._max_queue = max_queue
        # Continuity (moving to a new connection).
        self._gen_offset = 0
        self._reconnecting = False  # between leaving one connection and the next being ready
        self._pending_protocol: RealtimeProtocol | None = None
        self._pending_events: list[Event] = []
        self._pending_ready = False
        self._pending_failure: BaseException | None = None
        self._pending_wake: trio.Event | None = None
        self._moved = trio.Event()  # set once no move is in progress
        self._moved.set()
        self._gap: GapBuffer | None = None
        self._turn_open: str | None = None  # the response in progress, if any
        self._assistant_turn = False  # between a turn's first response and its TurnDone
        self._open_calls: dict[str, str | None] = {}  # tool calls without a result
        self._handle_fresh = False  # a resumable handle came after the last turn/call
        self._safe_wake: trio.Event | None = None
        self._bg_scopes: set[trio.CancelScope] = set()
        self._streak_started: float | None = None
        self._streak_failures: list[str] = []
        self._streak_attempts = 0
        self._last_move_done: float | None = None
        self._gap_buffered = 0
        self._gap_dropped = 0
        #: The conversation so far.
        self.history = ConversationHistory(getattr(config, "history", ()))
        # Received side.
        self._buffer = EventBuffer(
            max_events=max_queue, max_bytes=config.connection.max_queue_bytes
        )
        self._ready = trio.Event()
        # Sending side.
        self._outbox = Outbox(MAX_AUDIO_QUEUE)
        self._audio_sent = 0
        self._control_sent = 0
        #: Set when the writer may go on after a connection change (see `_wake_writer`).
        self._conn_changed: trio.Event | None = None
        self._resampler: Resampler | None = None
        self._resampler_key: tuple[int, int] | None = None
        self._pending_audio: list[AudioFrame] = []
        self._pending_samples = 0
        # Lifecycle.
        self._closing = False
        self._closed = False
        self._aborting = False
        self._failure: BaseException | None = None
        self._ended = False  # the connection has ended (no more events will come)
        # Tools.
        self._tools: dict[str, FunctionTool] = {
            t.name: t for t in config.tools if isinstance(t, FunctionTool)
        }
        self._tool_scopes: dict[str, tuple[trio.CancelScope, str | None]] = {}
        self._tool_pending: dict[str | None, set[str]] = {}
        self._tool_names: dict[str, str] = {}  # call id -> tool name, while running
        # Calls left running by an interruption (on_interrupt="finish").
        self._tool_interrupted: set[str] = set()
        self._metrics = MetricsTracker(trio.current_time)
        self._wire = False  # the DEBUG wire log is on (read per connection)
        self._wire_secrets: Collection[str] = ()

    # ------------------------------------------------------------------ events

    def events(self) -> EventStream:
        """Iterate over the session's events, in the order the provider sent them.

        The iteration ends after a local close; after the connection was lost it
        raises the reason (`ConnectionLost`, `ProtocolError`) once every event
        received before it was delivered. Cancelling a wait loses nothing.

        Raises:
            trio.BusyResourceError: another task is already waiting for events.
        """
        return EventStream(self)

    async def next_event(self) -> Event:
        """Return the next event (see `events`).

        Raises:
            SessionClosed: the session was closed locally and every event was read.
            ConnectionLost: the connection ended; queued events came first.
        """
        try:
            return await self._next_event()
        except _EndOfEvents:
            raise SessionClosed("The session is closed; no more events will come.") from None

    async def _next_event(self) -> Event:
        try:
            return await self._buffer.get()
        except trio.EndOfChannel:
            pass
        self._events_ended()

    def _events_ended(self) -> NoReturn:
        # Every event came first; then why the stream ended (outside the
        # handler, so that the failure's own chain stays as it is).
        if self._failure is not None and not self._closing:
            raise self._failure
        raise _EndOfEvents

    def _deliver(self, new: list[Event]) -> None:
        buffer = self._buffer
        for ev in new:
            kind = type(ev)
            if kind is AudioOut:
                if self._gen_offset:
                    assert isinstance(ev, AudioOut)
                    ev = attrs.evolve(ev, generation=ev.generation + self._gen_offset)
                self._metrics.audio_out(ev)  # type: ignore[arg-type]
                buffer.put(ev)
                continue
            if kind is Interrupted:
                assert isinstance(ev, Interrupted)
                buffer.purge_stale(self._gen_offset + self._protocol.generation)
                self._cancel_tools_of(ev.response_id)
                for call_id, rid in list(self._open_calls.items()):
                    if rid == ev.response_id:
                        del self._open_calls[call_id]
            elif kind is ResponseStarted:
                assert isinstance(ev, ResponseStarted)
                self._turn_open = ev.response_id
                self._assistant_turn = True
                self._handle_fresh = False
            elif kind is ResponseDone:
                assert isinstance(ev, ResponseDone)
                if self._turn_open == ev.response_id:
                    self._turn_open = None
                self._wake_safe()
            elif kind is TurnDone:
                self._assistant_turn = False
                self._wake_safe()
            elif kind is ResumptionUpdate:
                assert isinstance(ev, ResumptionUpdate)
                if ev.resumable and ev.handle:
                    self._handle_fresh = True
                    self._wake_safe()
            elif kind is ToolCall:
                assert isinstance(ev, ToolCall)
                self._open_calls[ev.call_id] = ev.response_id
                self._handle_fresh = False
                self._start_tool(ev)
            elif kind is InvalidToolCall:
                assert isinstance(ev, InvalidToolCall)
                if ev.name in self._tools:
                    try:
                        self._send_command(
                            SendToolResult(ev.call_id, ev.message, is_error=True, respond=True)
                        )
                    except RealtimeError as exc:
                        log.debug("could not answer invalid tool call %s: %s", ev.call_id, exc)
            elif kind is GoingAway:
                assert isinstance(ev, GoingAway)
                self._on_go_away(ev.time_left)
            elif kind is ToolCallCancelled:
                assert isinstance(ev, ToolCallCancelled)
                self._open_calls.pop(ev.call_id, None)
                self._cancel_tool(ev.call_id)
                self._wake_safe()
            elif kind is SessionReady:
                self._ready.set()
            elif kind is ServerErrorEvent and not self._ready.is_set():
                assert isinstance(ev, ServerErrorEvent)
                if ev.fatal:
                    # The provider refused the session's configuration (or credentials).
                    if self._failure is None:
                        self._failure = self._scrubbed(
                            explain_error_event(self.config.provider, ev)
                        )
                    self._ready.set()
            self.history.observe(ev)
            buffer.put(ev)
            turn_metrics = self._metrics.event(ev)
            if turn_metrics is not None:
                buffer.put(turn_metrics)
        if buffer.overfull and not self._ended:
            self._fail(
                RealtimeError(
                    f"The application stopped reading events: more than {2 * self._max_queue} "
                    "events that cannot be dropped are waiting, so the session was closed."
                )
            )

    def _scrubbed(self, exc: RealtimeError) -> RealtimeError:
        """`exc` without the configuration's secrets (the service's text may echo them)."""
        scrub_exception(exc, self.config.secrets())
        return exc

    # The transport calls this once the current connection has ended.
    def _on_close(self, failure: RealtimeError | None) -> None:
        if self._reconnecting:
            return  # the session is leaving this connection already
        if (
            failure is not None
            and self.config.connection.reconnect
            and not self._closing
            and not self._aborting
            and self._failure is None
            and retryable(classify(failure), self.config.connection.retry)
        ):
            self._begin_move("connection_lost", lost=failure)
            return
        if failure is not None and self._failure is None and not self._closing:
            # The service's own words, when it said why it closed.
            failure = self._scrubbed(
                explain_close(
                    failure,
                    provider=self.config.provider,
                    error=self._protocol.last_error,
                    ready=self._protocol.ready,
                )
            )
        self._end(failure)

    def _record_failure(self, failure: BaseException | None) -> None:
        """Keep the first failure, as the reason to report (none after a local close)."""
        if failure is not None and self._failure is None and not self._closing:
            self._failure = failure

    def _end(self, failure: BaseException | None) -> None:
        """End the session's streams: the one way a session ends, idempotent.

        `events()` delivers what is buffered, then raises `failure` (the first
        one recorded), or ends quietly after a local close; commands raise;
        the writer stops and tasks waiting for room in the outbox are woken.
        Closing the socket is the caller's part (the transport's, or `aclose`).
        """
        self._record_failure(failure)
        self._ended = True
        self._buffer.close()
        self._outbox.close()
        self._wake_writer()
        if not self._ready.is_set():
            self._ready.set()

    def _fail(self, exc: BaseException) -> None:
        if self._aborting:
            return
        self._aborting = True
        if self._failure is None:
            self._failure = exc
        self._nursery.start_soon(self._abort)

    async def _abort(self) -> None:
        conn = self._conn
        if conn is not None:
            code = 1002 if isinstance(self._failure, ProtocolError) else 1011
            await conn.aclose(code, "client error")

    # ------------------------------------------------------------------ connections

    async def _hold_connection(
        self,
        url: str,
        headers: list[tuple[str, str]],
        protocol: RealtimeProtocol,
        *,
        task_status: trio.TaskStatus[Connection] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Own one connection until the session retires it (runs in the session nursery)."""
        opts = self.config.connection
        done = trio.Event()
        # The wire log's level is read once per connection: one check per message.
        wire = self._wire = wire_log.isEnabledFor(logging.DEBUG)
        secrets = self._wire_secrets = self.config.secrets() if wire else ()
        if wire:
            wire_log.debug("open %s", redact_url(url, secrets))

        # The transport calls this in its reader task for every message
        # received: the receive hot path.
        def on_message(data: str | bytes) -> None:
            if wire:
                wire_log.debug("%s", summarise("<", data, secrets))
            if protocol is self._protocol:
                if not self._reconnecting:  # a connection being left says nothing more
                    new = protocol.receive(data)
                    out = protocol.data_to_send()
                    if out:
                        self._outbox.put_control(out)
                    if new:
                        self._deliver(new)
            elif protocol is self._pending_protocol:
                self._on_pending_message(protocol, data)

        def on_close(failure: RealtimeError | None) -> None:
            if wire:
                wire_log.debug("closed: %s", redact_text(str(failure or "cleanly"), secrets))
            if protocol is self._protocol:
                self._on_close(failure)
            elif protocol is self._pending_protocol:
                self._pending_failure = failure or ConnectionLost(
                    "The new connection closed before the session was ready."
                )
                self._wake_pending()

        started = False
        try:
            async with open_connection(
                url,
                headers=headers,
                ssl_context=opts.ssl_context,
                open_timeout=opts.open_timeout,
                ping_interval=opts.ping_interval,
                ping_timeout=opts.ping_timeout,
                close_timeout=opts.close_timeout,
                max_size=opts.max_size,
                max_queue=opts.max_queue,
                on_message=on_message,
                on_close=on_close,
                secrets=self.config.secrets(),
            ) as conn:
                self._conn_done[conn] = done
                started = True
                task_status.started(conn)
                await done.wait()
        except RealtimeError as exc:
            if not started:
                raise
            log.debug("closing a connection failed: %s", exc)

    def _retire(self, conn: Connection | None) -> None:
        if conn is not None:
            done = self._conn_done.pop(conn, None)
            if done is not None:
                done.set()

    def _on_pending_message(self, protocol: RealtimeProtocol, data: str | bytes) -> None:
        for ev in protocol.receive(data):
            if type(ev) is SessionReady:
                self._pending_ready = True
            elif type(ev) is ServerErrorEvent and ev.fatal:
                assert isinstance(ev, ServerErrorEvent)
                self._pending_failure = self._scrubbed(
                    explain_error_event(self.config.provider, ev)
                )
            else:
                self._pending_events.append(ev)
        self._wake_pending()

    def _wake_pending(self) -> None:
        wake = self._pending_wake
        if wake is not None:
            self._pending_wake = None
            wake.set()

    def _wake_safe(self) -> None:
        wake = self._safe_wake
        if wake is not None:
            self._safe_wake = None
            wake.set()

    def _spawn(self, fn: Any, *args: Any, name: str) -> None:
        """Run a continuity task in the session nursery, cancelled by `aclose`."""

        async def run() -> None:
            scope = trio.CancelScope()
            self._bg_scopes.add(scope)
            try:
                with scope:
                    if not self._closing:
                        await fn(*args)
            finally:
                self._bg_scopes.discard(scope)

        self._nursery.start_soon(run, name=name)

    def _safe_to_move(self) -> bool:
        """The first safe point to hand over: no model turn in progress, no tool
        call waiting for its result, and a resumable handle newer than both."""
        if self._turn_open is not None or self._assistant_turn or self._open_calls:
            return False
        return self._handle_fresh or self._protocol.resumption_handle is None

    def _on_go_away(self, time_left: float | None) -> None:
        opts = self.config.connection
        if not opts.reconnect or self._closing or self._reconnecting or self._ended:
            return
        now = trio.current_time()
        deadline = now + max(0.0, time_left if time_left is not None else 0.0)
        self._spawn(
            self._go_away_watch,
            self._conn,
            max(now, deadline - opts.go_away_margin),
            name="trio_realtime goAway",
        )

    async def _go_away_watch(self, conn: Connection | None, hand_over_by: float) -> None:
        """Wait for a safe point, but never past `hand_over_by`, then leave `conn`
        (on the clock: no frame needs to arrive for the deadline to be noticed)."""
        with trio.move_on_at(hand_over_by):
            while not self._safe_to_move():
                if self._reconnecting or self._ended or self._conn is not conn:
                    return
                wake = self._safe_wake = trio.Event()
                await wake.wait()
        if self._reconnecting or self._ended or self._closing or self._conn is not conn:
            return  # the session left that connection another way meanwhile
        await self._move("go_away")

    def _begin_move(self, reason: str, *, lost: BaseException | None = None) -> None:
        self._reconnecting = True  # from now on the old connection's messages are ignored
        self._wake_safe()
        self._moved = trio.Event()
        self._gap = self._new_gap(self.config)
        self._spawn(self._move, reason, lost, None, name="trio_realtime reconnect")

    @staticmethod
    def _new_gap(config: ProviderConfig) -> GapBuffer:
        return GapBuffer(math.ceil(config.connection.gap_audio_seconds * 1000 / MIN_CHUNK_MS))

    async def _update_by_moving(self, config: ProviderConfig) -> None:
        """`update()` where the setup is fixed: move to a connection configured anew."""
        self._check_open()
        await self._moved.wait()
        self._check_open()
        # Let a turn in progress finish (the move would cut it), for a while.
        with trio.move_on_after(config.connection.open_timeout):
            while not self._safe_to_move() and not self._ended:
                wake = self._safe_wake = trio.Event()
                await wake.wait()
        self._check_open()
        if not self._reconnecting:
            self._reconnecting = True
            self._moved = trio.Event()
            self._spawn(self._move, "update", None, config, name="trio_realtime update")
        await self._moved.wait()
        self._check_open()

    def _settle_cut(self, reason: str) -> tuple[str | None, tuple[str, ...]]:
        """End what the connection being left will not finish: the turn, its tool calls."""
        events: list[Event] = []
        cut = self._turn_open
        if cut is not None:
            self._gen_offset += 1  # audio of the cut turn still buffered is now stale
            events.append(Interrupted(response_id=cut, source="local"))
            events.append(ResponseDone(response_id=cut, status="incomplete", reason=reason))
            self._turn_open = None
        cancelled = tuple(self._open_calls)
        events.extend(ToolCallCancelled(call_id=call_id) for call_id in cancelled)
        if self._assistant_turn:
            events.append(
                TurnDone(status="incomplete", reason=reason, response_ids=(cut,) if cut else ())
            )
            self._assistant_turn = False
        if events:
            self._deliver(events)
        self._open_calls.clear()
        return cut, cancelled

    async def _move(
        self,
        reason: str,
        lost: BaseException | None = None,
        new_config: ProviderConfig | None = None,
    ) -> None:
        """The one way the session changes connection: after a ``goAway``, a lost
        connection or an `update` that the connection cannot apply.

        Close the old connection first (Gemini refuses a resume while it is
        open), settle what it leaves unfinished, then open new ones under the
        retry policy: resume with the newest resumable handle, else start a new
        session seeded with the history. Input audio waits in the gap buffer
        meanwhile. Never raises: giving up ends the session with
        `ReconnectFailed`.
        """
        self._reconnecting = True
        if self._moved.is_set():
            self._moved = trio.Event()
        config = new_config or self.config
        opts = config.connection
        policy = opts.retry
        started = trio.current_time()
        if self._gap is None:
            self._gap = self._new_gap(config)
        old_protocol, old_conn = self._protocol, self._conn
        handle = old_protocol.resumption_handle
        cut, cancelled = self._settle_cut(reason)
        # Close the old connection first.
        self._conn = None
        if old_conn is not None:
            with trio.move_on_after(opts.close_timeout):
                await old_conn.aclose(1000)
            self._retire(old_conn)
        # Several moves in a row (connections that fail right after they open)
        # are one streak: attempts and time add up, and the backoff goes on.
        if (
            self._last_move_done is None
            or self._streak_started is None
            or started - self._last_move_done > policy.stable_after
        ):
            self._streak_started = started
            self._streak_failures = []
            self._streak_attempts = 0
        elif lost is not None:
            self._streak_failures.append(
                f"the connection opened by attempt {self._streak_attempts} was lost: "
                + describe(lost)
            )
        failures = self._streak_failures
        give_up_at = self._streak_started + policy.max_time
        skip_backoff = False
        while True:
            if self._closing:
                return
            delay = 0.0 if skip_backoff else policy.backoff(len(failures), random.random())
            skip_backoff = False
            if self._streak_attempts >= policy.max_attempts or (
                trio.current_time() + delay > give_up_at
            ):
                self._give_up(lost, failures)
                return
            await trio.sleep(delay)
            self._streak_attempts += 1
            try:
                new_conn, protocol = await self._attempt(config, handle)
            except (RealtimeError, trio.TooSlowError) as exc:
                if isinstance(exc, trio.TooSlowError):
                    exc = ConnectionLost(
                        f"The new connection was not ready within {opts.open_timeout:g} s."
                    )
                failures.append(describe(exc))
                outcome = classify(exc)
                if outcome == "session_gone" and handle is not None and policy.fresh_fallback:
                    handle = None  # the conversation is gone there: start anew, seeded
                    skip_backoff = True
                    continue
                if not retryable(outcome, policy):
                    self._give_up(lost, failures, fatal=exc)
                    return
                continue
            break
        # Swap: the new machine counts interruptions from here.
        self._gen_offset += old_protocol.generation
        self.config = config
        self._protocol = protocol
        self._conn = new_conn
        self._pending_protocol = None
        self._turn_open = None
        self._assistant_turn = False
        self._handle_fresh = False
        mode = "resumed" if handle is not None else ("replayed" if len(self.history) else "fresh")
        pending, self._pending_events = self._pending_events, []
        out = protocol.data_to_send()
        if out:
            self._queue_control(out)
        self._reconnecting = False
        self._wake_writer()
        self._deliver(pending)
        # From here the new machine stamps the session's generations itself:
        # no AudioOut is rebuilt per chunk (the reader runs after this).
        if self._gen_offset and protocol.shift_generation(self._gen_offset):
            self._gen_offset = 0
        # The audio of the gap goes out in order, before anything sent from now on.
        gap = self._gap
        try:
            while len(gap):
                for frame in gap.take():
                    await self._outbox.put_audio(protocol.audio_message(frame))  # type: ignore[arg-type]
        except trio.ClosedResourceError:
            pass  # the session ended meanwhile
        self._gap = None
        buffered, dropped = gap.reset_counts()
        self._gap_buffered += buffered
        self._gap_dropped += dropped
        attempts = self._streak_attempts
        now = trio.current_time()
        self._last_move_done = now
        log.info(
            "The session moved to a new connection (%s, %s) after %d attempt(s).",
            reason,
            mode,
            attempts,
        )
        self._deliver(
            [
                Reconnected(
                    mode=mode,  # type: ignore[arg-type]
                    reason=reason,
                    attempts=attempts,
                    downtime=now - started,
                    audio_buffered=buffered,
                    audio_dropped=dropped,
                    interrupted_response=cut,
                    cancelled_calls=cancelled,
                    failures=tuple(failures),
                )
            ]
        )
        self._moved.set()

    async def _attempt(
        self, config: ProviderConfig, handle: str | None
    ) -> tuple[Connection, RealtimeProtocol]:
        """Open one new connection and complete its handshake (seeded when not resumed)."""
        url, headers = await _endpoint(config)
        protocol = config.new_protocol(
            resumption_handle=handle, history=() if handle is not None else self.history.items
        )
        self._pending_protocol = protocol
        self._pending_events = []
        self._pending_ready = False
        self._pending_failure = None
        new_conn: Connection | None = None
        try:
            with trio.fail_after(config.connection.open_timeout):
                new_conn = await self._nursery.start(self._hold_connection, url, headers, protocol)
                protocol.start()
                while True:
                    for msg in protocol.data_to_send():
                        await self._send_direct(new_conn, msg)
                    if self._pending_failure is not None:
                        raise self._pending_failure
                    if self._pending_ready:
                        break
                    wake = self._pending_wake = trio.Event()
                    await wake.wait()
                # The seed (the history) goes before anything queued for the session.
                for msg in protocol.data_to_send():
                    await self._send_direct(new_conn, msg)
        except BaseException:
            self._pending_protocol = None
            self._retire(new_conn)
            raise
        return new_conn, protocol

    async def _send_direct(self, conn: Connection, msg: str) -> None:
        """Send on a connection not yet handed to the writer (its handshake and seed)."""
        if self._wire:
            wire_log.debug("%s", summarise(">", msg, self._wire_secrets))
        await conn.send(msg)

    def _give_up(
        self,
        lost: BaseException | None,
        failures: list[str],
        *,
        fatal: BaseException | None = None,
    ) -> None:
        attempts = self._streak_attempts
        why = "; ".join(f"{i}. {f}" for i, f in enumerate(failures, 1)) or "no attempt was made"
        what = (
            "a failure that retrying cannot fix"
            if fatal is not None
            else f"{attempts} attempt(s) within the retry policy"
        )
        exc = ReconnectFailed(
            f"The session could not move to a new connection ({what}): {why}",
            code=getattr(lost, "code", None),
            reason=str(getattr(lost, "reason", "") or ""),
            failures=failures,
        )
        if isinstance(fatal, ConnectionLost):
            # The service's own words, when it said why it refused.
            fatal = explain_close(fatal, provider=self.config.provider, ready=False)
        exc.__cause__ = fatal or lost
        gap = self._gap
        if gap is not None:
            buffered, dropped = gap.reset_counts()
            self._gap_dropped += dropped + buffered  # never sent
            self._gap = None
        self._pending_protocol = None
        self._reconnecting = False
        self._end(self._scrubbed(exc))
        self._moved.set()

    # ------------------------------------------------------------------ writer

    def _queue_control(self, messages: Sequence[str]) -> None:
        self._outbox.put_control(messages)

    async def _writer(self) -> None:
        """Send what is queued: control messages first, then audio (see `Outbox`).

        The only other sender is `send_audio`, for a chunk that meets this
        writer idle (`Outbox.writer_idle`), so nothing queued is overtaken.
        """
        outbox = self._outbox
        while True:
            try:
                msg, is_audio = await outbox.get()
            except trio.EndOfChannel:
                return  # the session ended
            conn = self._conn
            if conn is None:
                # Between connections (the old one is closed, the next not ready).
                outbox.put_back(msg, is_audio)
                await self._wait_for_another_connection(conn)
                continue
            if self._wire:
                wire_log.debug("%s", summarise(">", msg, self._wire_secrets))
            try:
                await conn.send(msg)
            except RealtimeError as exc:
                if self._reconnecting or conn is not self._conn:
                    # Moving to a new connection: send this there once it is ready.
                    outbox.put_back(msg, is_audio)
                    await self._wait_for_another_connection(conn)
                    continue
                # The connection ended: the transport's on_close decides whether
                # the session moves to a new one (this goes there) or ends.
                log.debug("sending failed, waiting for the connection's end: %s", exc)
                outbox.put_back(msg, is_audio)
                await self._wait_for_another_connection(conn)
                continue
            if is_audio:
                self._audio_sent += 1
            else:
                self._control_sent += 1

    async def _wait_for_another_connection(self, conn: Connection | None) -> None:
        while (self._reconnecting or conn is self._conn) and not self._ended:
            changed = self._conn_changed = trio.Event()
            await changed.wait()

    def _wake_writer(self) -> None:
        """Let a writer waiting for another connection look again."""
        changed = self._conn_changed
        if changed is not None:
            self._conn_changed = None
            changed.set()

    # ------------------------------------------------------------------ commands

    def _check_open(self) -> None:
        if self._closing or self._closed:
            raise SessionClosed("The session is closed; open a new one with connect().")
        if self._ended or self._outbox.closed:
            failure = self._failure
            if isinstance(failure, RealtimeError):
                raise ConnectionLost(
                    f"The session's connection is gone: {failure}",
                    code=getattr(failure, "code", None),
                    reason=str(getattr(failure, "reason", "")),
                ) from failure
            raise SessionClosed("The session's connection has ended.")

    def _send_command(self, command: Command) -> None:
        local = self._protocol.handle(command)
        out = self._protocol.data_to_send()
        if out:
            self._queue_control(out)
        self.history.observe_command(command)
        if isinstance(command, SendToolResult):
            self._open_calls.pop(command.call_id, None)
            self._wake_safe()
        if local:
            self._deliver(local)

    async def _command(self, command: Command) -> None:
        # A cancelled caller sees Cancelled, not the session's end that the
        # same cancellation may already have caused (as Trio's channels do).
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        if self._reconnecting:
            # Commands go to the next connection, through its protocol machine.
            await self._moved.wait()
            self._check_open()
        self._send_command(command)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_audio(self, frame: AudioFrame) -> None:
        """Queue microphone audio: any rate, channels and chunk size.

        The audio is resampled to the provider's rate (mono) with a streaming
        resampler and sent in chunks of 20–100 ms. Waits while
        `MAX_AUDIO_QUEUE` chunks are waiting for the writer (backpressure);
        cancelling that wait queues nothing more of this frame (chunks
        queued before it stay queued). Otherwise a cancellation takes
        effect only at the start, before anything of the frame is queued or
        sent: once it is, the call returns normally. When nothing is
        queued, a chunk is written from the caller's task: a cancellation
        that arrives once part of it is out takes effect when it is written
        whole (the transport never tears a message). While the session moves to a new
        connection it never waits: chunks go to the gap buffer
        (``ConnectionOptions.gap_audio_seconds``, oldest dropped past it) and
        are sent in order once the new connection is ready.

        Raises:
            TypeError: `frame` is not an `AudioFrame` (a numpy array or bytes
                must be wrapped first: see the message).
            SessionClosed: the session was closed.
            ConnectionLost: the connection ended.
        """
        if not isinstance(frame, AudioFrame):
            raise _not_a_frame(frame)
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        rate = self._protocol.input_sample_rate
        if frame.sample_rate != rate or frame.channels != 1:
            key = (frame.sample_rate, frame.channels)
            if self._resampler is None or self._resampler_key != key:
                self._resampler = Resampler(
                    frame.sample_rate, rate, channels=frame.channels, to_mono=True
                )
                self._resampler_key = key
            frame = self._resampler.process(frame)
        n = frame.num_samples
        if n == 0:
            await trio.lowlevel.checkpoint()
            return
        min_n = rate * MIN_CHUNK_MS // 1000
        max_n = rate * MAX_CHUNK_MS // 1000
        if not self._pending_audio and min_n <= n <= max_n:
            chunks = [frame]  # the common case: already a good chunk, sent as is
        else:
            self._pending_audio.append(frame)
            self._pending_samples += n
            if self._pending_samples < min_n:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            joined = (
                AudioFrame.join(self._pending_audio)
                if len(self._pending_audio) > 1
                else self._pending_audio[0]
            )
            self._pending_audio.clear()
            self._pending_samples = 0
            chunks = joined.split(MAX_CHUNK_MS / 1000) if joined.num_samples > max_n else [joined]
            if chunks[-1].num_samples < min_n and len(chunks) > 1:
                tail = chunks.pop()
                self._pending_audio.append(tail)
                self._pending_samples = tail.num_samples
        await self._queue_audio(chunks)

    async def _queue_audio(self, chunks: Sequence[AudioFrame], *, direct: bool = True) -> None:
        """Encode and queue `chunks` for the writer, waiting while the outbox is full.

        Between connections the chunks go to the gap buffer instead (never waits).
        With `direct`, a single chunk meeting an idle writer is written by this
        task instead.
        """
        gap = self._gap
        if gap is not None:
            for chunk in chunks:
                gap.append(chunk)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        outbox = self._outbox
        conn = self._conn
        if direct and outbox.writer_idle and conn is not None and len(chunks) == 1:
            # The common case at real-time pace: nothing is queued, so this
            # task writes the chunk itself (no hand-over to the writer task).
            # The transport never tears a frame: cancelled before it starts,
            # nothing is sent; once started, the frame goes out whole.
            chunk = chunks[0]
            message = self._protocol.audio_message(chunk)
            if self._wire:
                wire_log.debug("%s", summarise(">", message, self._wire_secrets))
            try:
                await conn.send(message)
            except RealtimeError:
                # The connection is ending: queued like any other chunk, it
                # goes to the next connection if the session moves there.
                await self._queue_audio(chunks, direct=False)
                return
            self._audio_sent += 1
            self._metrics.audio_in(chunk.duration)
            return
        waited = False
        try:
            for chunk in chunks:
                message = self._protocol.audio_message(chunk)
                try:
                    outbox.put_audio_nowait(message)
                except trio.WouldBlock:
                    waited = True
                    await outbox.put_audio(message)
                self._metrics.audio_in(chunk.duration)
        except trio.ClosedResourceError:
            self._check_open()
            raise SessionClosed("The session's connection has ended.") from None
        if not waited:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def flush_audio(self) -> None:
        """Send audio held back while waiting for a whole chunk (and the resampler's tail)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        frames = self._pending_audio
        if self._resampler is not None:
            tail = self._resampler.flush()
            self._resampler = None
            self._resampler_key = None
            if tail.num_samples:
                frames.append(tail)
        if not frames:
            await trio.lowlevel.checkpoint()
            return
        joined = AudioFrame.join(frames) if len(frames) > 1 else frames[0]
        self._pending_audio = []
        self._pending_samples = 0
        await self._queue_audio(joined.split(MAX_CHUNK_MS / 1000))

    async def send_text(self, text: str, *, respond: bool = True) -> None:
        """Add a user text message and, unless ``respond=False``, ask for a reply."""
        if respond:
            self._metrics.input_ended("text")
        await self._command(SendText(text, respond=respond))

    async def send_image(
        self, data: bytes, mime_type: str = "image/jpeg", *, respond: bool = False
    ) -> None:
        """Add an image (encoded JPEG/PNG bytes) to the user's input."""
        await self._command(SendImage(data, mime_type, respond=respond))

    def start_video(self, *, fps: float = 1.0, **options: Any) -> VideoForwarder:
        """Start sending video: the latest frame submitted, at most `fps` times a second.

        Returns the `trio_realtime.video.VideoForwarder`; give it frames with
        ``forwarder.submit(frame)`` (numpy RGB array, PIL image, JPEG/PNG
        bytes), ``pause()``/``resume()`` it, ``close()`` it. It runs as a task
        in the session's nursery and stops when the session closes. Frames are
        JPEG-encoded in a worker thread under a size cap; each one costs the
        model input tokens (and an item on OpenAI). `options` go to the
        forwarder (``max_bytes``, ``max_side``, ``quality``, ``encoder``).

        Raises:
            SessionClosed: the session was closed.
            ConnectionLost: the connection ended.
            ConfigurationError: a bad `fps`, or Pillow is missing (without an ``encoder``).
        """
        from .video import VideoForwarder, check_encoder

        self._check_open()
        if options.get("encoder") is None:
            check_encoder()
        forwarder = VideoForwarder(self, fps=fps, **options)
        # Cancelled when the session closes: an idle forwarder waits for frames forever.
        self._spawn(self._run_video, forwarder, name="trio_realtime video")
        return forwarder

    async def _run_video(self, forwarder: VideoForwarder) -> None:
        try:
            await forwarder.run()
        except (SessionClosed, ConnectionLost) as exc:
            log.debug("the video forwarder stopped with the session: %s", exc)
        except RealtimeError as exc:
            log.warning("The video forwarder stopped: %s", exc)

    async def respond(self, instructions: str | None = None, *, out_of_band: bool = False) -> None:
        """Ask the model to respond now, optionally with instructions for this response."""
        await self._command(Respond(instructions=instructions, out_of_band=out_of_band))

    async def interrupt(self) -> None:
        """Cut off the current response.

        `Interrupted` is delivered, no more audio of that response reaches
        `events()` (including audio already buffered), the provider is told
        (OpenAI: ``response.cancel`` and ``conversation.item.truncate`` at the
        played position), and the response's running tool calls are cancelled.
        """
        await self._command(Interrupt())

    async def commit_audio(self, *, respond: bool = True) -> None:
        """End the user's turn in push-to-talk mode."""
        await self.flush_audio()
        self._metrics.input_ended("commit")
        await self._command(CommitAudio(respond=respond))

    async def clear_audio(self) -> None:
        """Discard the user audio sent since the last commit."""
        self._pending_audio = []
        self._pending_samples = 0
        await self._command(ClearAudio())

    async def start_activity(self) -> None:
        """Mark the start of user speech (automatic activity detection off)."""
        await self._command(StartActivity())

    async def end_activity(self) -> None:
        """Mark the end of user speech (automatic activity detection off)."""
        await self.flush_audio()
        self._metrics.input_ended("activity_end")
        await self._command(EndActivity())

    async def end_audio_stream(self) -> None:
        """Tell the provider the microphone stream paused or ended."""
        await self.flush_audio()
        await self._command(EndAudioStream())

    async def report_playback(self, played_ms: int, *, item_id: str | None = None) -> None:
        """Report how much of the current response's audio has been played (ms).

        Used to truncate the conversation at the right place on interruption.
        """
        await self._command(ReportPlayback(played_ms=played_ms, item_id=item_id))

    async def send_tool_result(
        self,
        call_id: str,
        result: Any,
        *,
        is_error: bool = False,
        respond: bool = True,
        scheduling: str | None = None,
        will_continue: bool = False,
    ) -> None:
        """Answer a `ToolCall` the application handled itself.

        `scheduling` (``"interrupt"``, ``"when_idle"``, ``"silent"``) and
        `will_continue` (more results for this call will follow) are for
        Gemini's non-blocking functions; OpenAI refuses them.

        Raises:
            trio_realtime.errors.ProtocolError: (``side="local"``) the call is
                unknown or already answered, or the provider cannot take an option.
            trio_realtime.errors.SessionClosed: the session has ended.
        """
        payload = tool_result_payload(result) if not is_error else result
        await self._command(
            SendToolResult(
                call_id,
                payload,
                is_error=is_error,
                respond=respond,
                scheduling=scheduling,
                will_continue=will_continue,
            )
        )

    async def approve_mcp(
        self,
        request_id: str,
        approve: bool = True,
        *,
        reason: str | None = None,
        respond: bool = True,
    ) -> None:
        """Answer an `McpApprovalRequested` (OpenAI): let the MCP call run, or refuse it.

        With `respond`, the model goes on (running the call, or answering
        without it) once every request and call of its response is answered.
        Returns once the answer is queued.

        Raises:
            trio_realtime.errors.ProtocolError: (``side="local"``) no such
                pending request, or the provider has no MCP tools (Gemini).
            trio_realtime.errors.SessionClosed: the session has ended.
        """
        await self._command(ApproveMcp(request_id, approve, reason=reason, respond=respond))

    async def update(
        self,
        *,
        instructions: str | None = None,
        voice: str | None = None,
        tools: Sequence[Any] | None = None,
        **extra: Any,
    ) -> None:
        """Change the session's configuration.

        OpenAI applies it with ``session.update``. A Gemini connection cannot
        change its setup, so the session waits for a safe point (no turn in
        progress, at most ``open_timeout``), closes the connection and resumes
        on a new one configured the new way, with the resumption handle; without
        one it starts a new session seeded with the history. `Reconnected`
        (``reason="update"``, ``mode`` saying which) is delivered. Returns once
        the change is queued (OpenAI) or the new connection is ready (Gemini).
        Cancelling the wait does not stop a move already begun.

        Raises:
            SessionClosed: the session was closed.
            ConnectionLost: the connection ended (`ReconnectFailed` when the
                move to a new connection failed).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        specs: list[ToolSpec] | None = None
        if tools is not None:
            specs = tool_specs(tools)
            for t in tools:
                if isinstance(t, FunctionTool):
                    self._tools[t.name] = t
        if not self._protocol.updates_live:
            # The setup cannot change on a live connection (Gemini): resume
            # the session on a new connection configured the new way.
            self._check_open()
            changes: dict[str, Any] = {**extra}
            if instructions is not None:
                changes["instructions"] = instructions
            if voice is not None:
                changes["voice"] = voice
            if tools is not None:
                changes["tools"] = tuple(tools)
            new_config = attrs.evolve(self.config, **changes)  # type: ignore[misc]
            await self._update_by_moving(new_config)
            return
        await self._command(
            UpdateSession(instructions=instructions, voice=voice, tools=specs, extra=extra)
        )

    def statistics(self) -> SessionStatistics:
        """A snapshot of this session's queues, counters and turn metrics."""
        events = self._buffer.statistics()
        out = self._outbox.statistics()
        m = self._metrics
        return SessionStatistics(
            events_buffered=events.events_buffered,
            bytes_buffered=events.bytes_buffered,
            stale_audio_dropped=events.stale_audio_dropped,
            overflow_audio_dropped=events.overflow_audio_dropped,
            overflow_partials_dropped=events.overflow_partials_dropped,
            overflow_bytes_dropped=events.overflow_bytes_dropped,
            audio_queued=out.audio_queued,
            control_queued=out.control_queued,
            audio_chunks_sent=self._audio_sent,
            control_messages_sent=self._control_sent,
            tool_calls_running=len(self._tool_scopes),
            turns=m.turns,
            turns_interrupted=m.turns_interrupted,
            time_to_first_audio=m.time_to_first_audio,
            time_to_first_text=m.time_to_first_text,
            audio_in_seconds=m.audio_in_seconds,
            audio_out_seconds=m.audio_out_seconds,
            input_tokens=m.input_tokens,
            output_tokens=m.output_tokens,
            connect_seconds=m.connect_seconds,
            ready_seconds=m.ready_seconds,
            reconnects=m.reconnects,
            reconnect_downtime=m.reconnect_downtime,
            last_turn=m.last_turn,
            gap_audio_buffered=self._gap_buffered + (self._gap.buffered if self._gap else 0),
            gap_audio_dropped=self._gap_dropped + (self._gap.dropped if self._gap else 0),
        )

    @property
    def protocol(self) -> RealtimeProtocol:
        """The provider's protocol machine (for inspection)."""
        return self._protocol

    @property
    def session_id(self) -> str | None:
        """The provider's id of this session, where its wire has one.

        OpenAI: the ``sess_…`` id of ``session.created`` (a reconnection opens
        a new session, with a new id). Gemini: the ``sessionId`` of
        ``setupComplete``, which the Gemini API leaves out (`None`) and Vertex
        AI may send. `None` until `SessionReady`.
        """
        return self._protocol.session_id

    @property
    def reconnecting(self) -> bool:
        """Whether the session is between connections (audio is being buffered)."""
        return self._reconnecting

    @property
    def closed(self) -> bool:
        """Whether the session was closed or its connection ended."""
        return self._closed or self._closing or self._ended or self._outbox.closed

    # ------------------------------------------------------------------ tools

    def _start_tool(self, call: ToolCall) -> None:
        fn = self._tools.get(call.name)
        if fn is None:
            return
        scope = trio.CancelScope()
        self._tool_scopes[call.call_id] = (scope, call.response_id)
        self._tool_names[call.call_id] = call.name
        self._tool_pending.setdefault(call.response_id, set()).add(call.call_id)
        self._nursery.start_soon(self._run_tool, fn, call, scope, name=f"tool:{call.name}")

    async def _run_tool(self, fn: FunctionTool, call: ToolCall, scope: trio.CancelScope) -> None:
        payload: Any
        is_error = False
        options = fn.options
        with scope:
            try:
                context = ToolContext(name=call.name, call_id=call.call_id, session=self)
                with trio.move_on_after(
                    options.timeout if options.timeout is not None else math.inf
                ) as limit:
                    if fn.streams:
                        result = await self._stream_tool(fn, call, context)
                    else:
                        result = await fn.invoke(call.arguments, context=context)
                if limit.cancelled_caught:
                    log.info(
                        "tool %s (call %s) timed out after %g s",
                        call.name,
                        call.call_id,
                        options.timeout,
                    )
                    payload = (
                        f"TimeoutError: tool {call.name!r} did not finish "
                        f"within {options.timeout:g} s"
                    )
                    is_error = True
                else:
                    payload = tool_result_payload(result)
            except Exception as exc:
                log.debug("tool %s failed", call.name, exc_info=True)
                # The protocol wraps error results as {"error": text}.
                payload = tool_error_payload(exc)["error"]
                is_error = True
        self._tool_scopes.pop(call.call_id, None)
        self._tool_names.pop(call.call_id, None)
        interrupted = call.call_id in self._tool_interrupted
        self._tool_interrupted.discard(call.call_id)
        pending = self._tool_pending.get(call.response_id)
        if pending is not None:
            pending.discard(call.call_id)
            if not pending:
                del self._tool_pending[call.response_id]
        if scope.cancelled_caught or self._ended or self._closing:
            return
        # Ask the model to continue once the last call of its response is
        # answered, unless the user interrupted that response (a call that ran
        # on with on_interrupt="finish" only records its result).
        respond = not pending and not interrupted
        # A streaming tool's partial results went out already: its end is an
        # empty, silent result that closes the call (an error is scheduled as usual).
        scheduling = "silent" if fn.streams and not is_error else options.scheduling
        try:
            self._send_command(
                SendToolResult(
                    call.call_id, payload, is_error, respond=respond, scheduling=scheduling
                )
            )
        except RealtimeError as exc:
            log.debug("could not send the result of tool %s: %s", call.name, exc)

    async def _stream_tool(self, fn: FunctionTool, call: ToolCall, context: ToolContext) -> Any:
        """Send each value an async-generator tool yields as a partial result; return ``{}``."""
        async with contextlib.aclosing(fn.stream(call.arguments, context=context)) as partials:
            async for value in partials:
                self._send_command(
                    SendToolResult(
                        call.call_id,
                        tool_result_payload(value),
                        respond=False,
                        scheduling=fn.options.scheduling,
                        will_continue=True,
                    )
                )
        return {}

    def _cancel_tool(self, call_id: str) -> None:
        entry = self._tool_scopes.get(call_id)
        if entry is None:
            return
        fn = self._tools.get(self._tool_names.get(call_id, ""))
        if fn is not None and fn.options.on_interrupt == "finish":
            # Runs to completion; its result no longer asks for a reply.
            self._tool_interrupted.add(call_id)
            return
        del self._tool_scopes[call_id]
        entry[0].cancel()
        pending = self._tool_pending.get(entry[1])
        if pending is not None:
            pending.discard(call_id)

    def _cancel_tools_of(self, response_id: str | None) -> None:
        for call_id, (_scope, rid) in list(self._tool_scopes.items()):
            if response_id is None or rid == response_id:
                self._cancel_tool(call_id)

    # ------------------------------------------------------------------ close

    async def aclose(self) -> None:
        """Close the session: queued messages are sent, then the socket closes (1000).

        Idempotent. Waits at most half of the configuration's ``close_timeout``
        for queued messages to go out, then at most ``close_timeout`` for the
        close handshake, then drops the socket (so 1.5 x ``close_timeout`` in
        the worst case); always releases it, even when cancelled, and a
        cancellation from outside skips the wait for queued messages.
        """
        await self._shutdown(graceful=True)

    async def _shutdown(self, *, graceful: bool) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closing = True
        timeout = self.config.connection.close_timeout
        try:
            if graceful:
                with trio.move_on_after(timeout / 2):
                    # Let the writer send what commands already queued.
                    await self._outbox.wait_drained()
        finally:
            self._closed = True
            for bg in self._bg_scopes:
                bg.cancel()
            self._moved.set()
            for scope, _rid in self._tool_scopes.values():
                scope.cancel()
            self._tool_scopes.clear()
            self._end(None)
            conn = self._conn
            if conn is not None:
                with trio.CancelScope(shield=True):
                    await conn.aclose(1000)
            for done in self._conn_done.values():
                done.set()
            self._conn_done.clear()

    async def _wait_ready(self, limit: float, url: str) -> None:
        with trio.move_on_after(limit) as scope:
            await self._ready.wait()
        if scope.cancelled_caught:
            raise HandshakeError(
                f"The {self.config.provider} session at {self.config.redacted_url()} was not "
                f"ready within {limit:g} s (no session confirmation arrived).",
                url=url,
            )
        if not self._protocol.ready:
            failure = self._failure
            if isinstance(failure, RealtimeError):
                raise failure
            raise ConnectionLost("The connection ended before the session was ready.")


@asynccontextmanager
async def connect(config: ProviderConfig) -> AsyncIterator[RealtimeSession]:
    """Open a realtime session: ``async with trio_realtime.connect(config) as session``.

    Opens the transport, completes the provider's handshake (OpenAI
    ``session.created`` + ``session.update``; Gemini ``setup`` ->
    ``setupComplete``) within ``config.connection.open_timeout``, and yields a
    `RealtimeSession`. Leaving the block, an exception in it, or cancellation
    from outside closes the socket within ``close_timeout`` and leaves no task
    running; exactly one exception reaches the caller, never a group of one.

    Raises:
        ConfigurationError: no API key (raised before any connection).
        HandshakeError: the upgrade was refused or the session was not ready in time.
        ConnectionLost: the connection ended during the handshake.
    """
    require_trio("trio_realtime.connect()")
    started = trio.current_time()
    url, headers = await _endpoint(config)
    opts = config.connection
    protocol = config.new_protocol()
    to_raise: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            session = RealtimeSession(config, protocol, nursery, max_queue=opts.max_queue)
            session._conn = await nursery.start(session._hold_connection, url, headers, protocol)
            session._metrics.connected(trio.current_time() - started)
            graceful = False
            try:
                nursery.start_soon(session._writer, name="trio_realtime writer")
                protocol.start()
                out = protocol.data_to_send()
                if out:
                    session._queue_control(out)
                await session._wait_ready(opts.open_timeout, url)
                session._metrics.ready(trio.current_time() - started)
                yield session
                graceful = True
            finally:
                with trio.CancelScope(shield=True):
                    await session._shutdown(graceful=graceful)
    except BaseExceptionGroup as group:
        to_raise = single_exception(group)
        if to_raise is None:
            raise
    if to_raise is not None:
        reraise(to_raise)


async def _endpoint(config: ProviderConfig) -> tuple[str, list[tuple[str, str]]]:
    """The URL and headers of a new connection; a token provider is asked every time."""
    from .credentials import resolve_endpoint

    return await resolve_endpoint(config)
