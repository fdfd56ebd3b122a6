"""`OpenAIProtocol`: the sans-IO state machine of an OpenAI Realtime session.

Pure: no Trio, no clock, no I/O. Wire messages come in through `receive`,
commands through `handle`; provider-neutral events come out of both, and the
client events to send collect in an outbox drained by `data_to_send`.

Behaviour worth knowing:

- The ``session.update`` built from the configuration is queued when
  ``session.created`` arrives; the first ``session.updated`` yields
  `SessionReady`. Commands that send something are refused until then.
- A ``response.create`` asked for (by `SendText`, `SendToolResult`, `Respond`,
  `CommitAudio`) while a conversation response is in progress or already
  requested is held back and sent after that response's ``response.done``
  (the service refuses a second active response). Only the latest one is kept,
  and an interruption discards it. Out-of-band responses are never held back.
- When one response calls several tools, the reply asked for with their
  results is requested once, after the last of those calls is answered.
- Interruption. On a server barge-in (``input_audio_buffer.speech_started``
  while a response with audio is in progress, or while audio the application
  reported is still unplayed) and on `Interrupt`, the generation number goes
  up, `Interrupted` is emitted and no further audio of the responses in
  progress is delivered. `Interrupt` also sends ``response.cancel`` when a
  conversation response is in progress; a server barge-in does not, because
  the service cancels the response itself (``interrupt_response``).
- Truncation. The last assistant item that carried audio is truncated with
  ``conversation.item.truncate`` at ``min(played, received)`` milliseconds, where
  *played* is the latest `ReportPlayback` for that item. An application that
  never reports playback is assumed to have played everything it received, so
  the cut falls at the audio received so far: nothing is truncated once the
  item's audio was complete, and an item still being generated is cut at what
  arrived. The cut never exceeds the audio received (the service rejects that).
- The beta names of the output events (``response.audio.delta``…), which some
  servers are reported to still send, are read as their GA counterparts.
- Turns. `TurnDone` follows the ``response.done`` of the last conversation
  response of the assistant's turn: one with no tool call left unanswered
  and no reply asked for by a tool result. A response that calls tools is
  followed by the reply to their results, so a tool round trip stays in one
  turn. When the last result is sent with ``respond=False``, `TurnDone` is
  returned by that `SendToolResult`; an `Interrupt` while the turn waits for
  tool results ends it at once. Out-of-band responses are not part of turns.
- ``response.cancel``'s benign ``response_cancel_not_active`` error (the
  response had just finished) is swallowed for cancels this machine sent.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import numpy as np

from .._turns import TurnAccumulator
from .._wire import NotGiven, decode_json, deep_merge
from ..audio import AudioError, AudioFrame
from ..errors import ProtocolError
from ..events import (
    ApproveMcp,
    ClearAudio,
    Command,
    CommitAudio,
    EndActivity,
    EndAudioStream,
    Event,
    InputCommitted,
    Interrupt,
    Interrupted,
    InvalidToolCall,
    McpApprovalRequested,
    McpCall,
    McpToolsListed,
    RealtimeProtocol,
    ReportPlayback,
    Respond,
    ResponseDone,
    ResponseStarted,
    SendImage,
    SendText,
    SendToolResult,
    ServerErrorEvent,
    SessionReady,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    StartActivity,
    TextOut,
    ToolCall,
    Transcript,
    UpdateSession,
    Usage,
    _new_audio_out,
)
from ..history import HistoryItem
from . import messages as m
from .codec import (
    audio_delta_values,
    decode_server_value,
    encode_audio_append,
    encode_client_event,
    structure_wire,
    tool_to_wire,
    unstructure_wire,
)

__all__ = ["SAMPLE_RATE", "OpenAIProtocol"]

#: PCM16 mono at 24 kHz both ways.
SAMPLE_RATE: Final = 24000
_BYTES_PER_MS: Final = SAMPLE_RATE * 2 // 1000
#: Error codes after which the session cannot go on.
_FATAL_CODES: Final = frozenset({"session_expired", "invalid_api_key", "insufficient_quota"})
#: Beta event names some servers are reported to still send, read as their GA names.
_BETA_NAMES: Final = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
}
#: How many assistant items' audio counters are kept.
_MAX_TRACKED_ITEMS: Final = 32


@attrs.define
class _Response:
    id: str
    out_of_band: bool
    audio: bool
    dropped: bool = False


@attrs.define
class _ItemAudio:
    item_id: str
    response_id: str
    content_index: int = 0
    received_bytes: int = 0
    played_ms: int | None = None
    complete: bool = False
    truncated: bool = False
    #: Transcript fragments with the audio (ms) received when each arrived.
    transcript: list[tuple[int, str]] = attrs.field(factory=list)

    def heard(self, end_ms: int) -> str:
        """The transcript that came with the first `end_ms` of audio."""
        return "".join(text for at, text in self.transcript if at < end_ms)

    @property
    def received_ms(self) -> int:
        return self.received_bytes // _BYTES_PER_MS


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _json_or_text(text: str) -> Any:
    """Arguments as the JSON they usually are, or the text as sent."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return text


def _mcp_error_text(error: Any) -> str:
    """One line for an MCP call's error object (``protocol_error``, ``http_error``…)."""
    message = getattr(error, "message", None)
    kind = getattr(error, "type", None) or type(error).__name__
    code = getattr(error, "code", None)
    where = f"{kind} {code}" if isinstance(code, int) else str(kind)
    return f"{where}: {message}" if isinstance(message, str) and message else where


def _usage(u: m.Usage | NotGiven | None) -> Usage | None:
    if not isinstance(u, m.Usage):
        return None
    details: dict[str, Any] = {}
    for name in ("input_token_details", "output_token_details"):
        value = getattr(u, name)
        if attrs.has(type(value)):
            details[name] = unstructure_wire(value)
    return Usage(
        input_tokens=u.input_tokens if isinstance(u.input_tokens, int) else None,
        output_tokens=u.output_tokens if isinstance(u.output_tokens, int) else None,
        total_tokens=u.total_tokens if isinstance(u.total_tokens, int) else None,
        details=details,
    )


class OpenAIProtocol(RealtimeProtocol):
    """The sans-IO state machine of one OpenAI Realtime connection.

    Args:
        session: the ``session`` object (a wire dict) of the ``session.update``
            sent on ``session.created``, as `OpenAIRealtime.session_config`
            builds it; ``{"type": "realtime"}`` (the service's defaults) when
            omitted.
    """

    input_sample_rate = SAMPLE_RATE
    output_sample_rate = SAMPLE_RATE

    def __init__(
        self, session: Mapping[str, Any] | None = None, *, history: Sequence[HistoryItem] = ()
    ) -> None:
        self._seed = history_items(history)
        self._session_config: dict[str, Any] = (
            dict(session) if session is not None else {"type": "realtime"}
        )
        #: A ``type: "transcription"`` session: input audio in, transcripts out.
        self._transcription_only = self._session_config.get("type") == "transcription"
        self._outbox: list[str] = []
        self._ready = False
        self._configured = False
        self._session_id: str | None = None
        self._session_update_id: str | None = None
        self._interrupt_response = True
        self._generation = 0
        self._next_id = 0
        self._responses: dict[str, _Response] = {}
        self._current: str | None = None
        self._create_in_flight = False
        self._pending_create: m.ResponseCreate | None = None
        self._items: OrderedDict[str, _ItemAudio] = OrderedDict()
        self._last_item: _ItemAudio | None = None
        self._tool_args: dict[str, list[str]] = {}
        self._tool_calls_seen: set[str] = set()
        self._tool_results_sent: set[str] = set()
        self._unanswered: dict[str, str | None] = {}
        self._respond_after_tools = False
        self._cancel_ids: set[str] = set()
        self._approvals: dict[str, str | None] = {}  # MCP approval request id -> response
        self._mcp_list_failed: set[str | None] = set()
        self._turn = TurnAccumulator()
        self._tool_reply_pending = False
        #: The last ``error`` event the service sent (it explains a close that follows).
        self.last_error: ServerErrorEvent | None = None

    # ------------------------------------------------------------------ interface

    @property
    def ready(self) -> bool:
        """Whether the service confirmed our session configuration."""
        return self._ready

    @property
    def generation(self) -> int:
        """Number of interruptions so far; stamped on every `AudioOut`."""
        return self._generation

    def shift_generation(self, by: int) -> bool:
        """Count `generation` on from `by` more (see `RealtimeProtocol.shift_generation`)."""
        self._generation += by
        return True

    @property
    def session_id(self) -> str | None:
        """The service's session id, once known."""
        return self._session_id

    @property
    def response_in_progress(self) -> str | None:
        """The id of the conversation response in progress, if any."""
        return self._current

    def end_turn(self, reason: str = "connection_lost") -> list[Event]:
        """End the assistant's turn in progress, if any, as interrupted for `reason`.

        For the runtime, when the connection this machine served is gone and
        the turn can never finish on it: returns ``[TurnDone(status="interrupted",
        reason=reason)]``, or ``[]`` when no turn was in progress.
        """
        if self._current is None and not self._turn.open and not self._unanswered:
            return []
        self._unanswered.clear()
        self._tool_reply_pending = False
        return [self._turn.abandon(reason)]

    def start(self) -> None:
        """Nothing to send first: the configuration goes out on ``session.created``."""

    def data_to_send(self) -> list[str]:
        """Drain and return the outbox, oldest first."""
        out, self._outbox = self._outbox, []
        return out

    def audio_message(self, frame: AudioFrame) -> str:
        """Encode one chunk of input audio as ``input_audio_buffer.append``.

        Raises:
            AudioError: the frame is not mono 24 kHz.
        """
        if frame.sample_rate != SAMPLE_RATE or frame.channels != 1:
            raise AudioError(
                f"OpenAI Realtime takes mono {SAMPLE_RATE} Hz audio, got "
                f"{frame.channels} channel(s) at {frame.sample_rate} Hz; resample first"
            )
        samples = frame.samples
        if samples.dtype.byteorder == ">" or not samples.flags.c_contiguous:
            samples = np.ascontiguousarray(samples, dtype="<i2")
        return encode_audio_append(samples)  # type: ignore[arg-type]

    def send_event(self, event: m.ClientEvent) -> None:
        """Queue any client event as is, for what the neutral commands do not cover
        (``conversation.item.delete``, a ``response.create`` with every override…).

        The event bypasses the machine's bookkeeping: a ``response.create`` sent
        this way is not held back while another response is in progress.

        Raises:
            ProtocolError: (``side="local"``) the session is not ready yet.
        """
        if not self._ready:
            raise ProtocolError(
                f"Cannot send {type(event).__name__} yet: the session is not ready "
                "(wait for SessionReady).",
                side="local",
            )
        self._send(event)

    def receive(self, data: str | bytes) -> list[Event]:
        """Decode one server message, update the state, return its neutral events.

        Raises:
            ProtocolError: the message is malformed.
        """
        d = decode_json(data, what="server event")
        if d.get("type") == "response.output_audio.delta":
            # The hot path: the AudioOut straight from the parsed dict.
            values = audio_delta_values(d)
            if values is not None:
                ev, resp, item, _out, cont, audio = values
                # raw keeps the decoded bytes (the frame's buffer), not the
                # base64 text: a buffered chunk holds one copy of its audio.
                d["delta"] = audio
                return self._audio(resp, item, cont, audio, ev, d)
        return self.receive_event(decode_server_value(d))

    def receive_event(self, ev: m.ServerEvent) -> list[Event]:
        """Like `receive`, for an already decoded server event."""
        if type(ev) is m.ResponseOutputAudioDelta:
            return self._on_audio(ev)
        if type(ev) is m.UnknownServerEvent and ev.type in _BETA_NAMES:
            raw = {**ev.raw, "type": _BETA_NAMES[ev.type]}
            ev = structure_wire(raw, m.ServerEvent, what=f"server event {ev.type!r}")
            if type(ev) is m.ResponseOutputAudioDelta:
                return self._on_audio(ev)
        handler = _HANDLERS.get(type(ev))
        if handler is None:
            return []
        events: list[Event] = handler(self, ev)
        return events

    def handle(self, command: Command) -> list[Event]:
        """Apply a command: queue client events, return the events it causes here.

        Raises:
            ProtocolError: (``side="local"``) the command is not valid now, e.g.
                before the session is ready, or a result for an unknown tool call.
        """
        if isinstance(command, ReportPlayback):
            return self._report_playback(command)
        if isinstance(command, Interrupt):
            return self._interrupt("local", None)
        if isinstance(command, (StartActivity, EndAudioStream)):
            return []  # the input buffer simply collects audio until a commit
        if not self._ready:
            raise ProtocolError(
                f"Cannot {type(command).__name__} yet: the session is not ready "
                "(wait for SessionReady).",
                side="local",
            )
        if self._transcription_only:
            return self._handle_transcription(command)
        if isinstance(command, SendText):
            self._create_user_message([{"type": "input_text", "text": command.text}])
            if command.respond:
                self._respond(m.ResponseCreate(event_id=self._event_id()))
        elif isinstance(command, SendImage):
            from .._wire import b64encode

            url = f"data:{command.mime_type};base64,{b64encode(command.data)}"
            self._create_user_message([{"type": "input_image", "image_url": url}])
            if command.respond:
                self._respond(m.ResponseCreate(event_id=self._event_id()))
        elif isinstance(command, Respond):
            self._respond_command(command)
        elif isinstance(command, (CommitAudio, EndActivity)):
            self._send(m.InputAudioBufferCommit(event_id=self._event_id()))
            if isinstance(command, EndActivity) or command.respond:
                self._respond(m.ResponseCreate(event_id=self._event_id()))
        elif isinstance(command, ClearAudio):
            self._send(m.InputAudioBufferClear(event_id=self._event_id()))
        elif isinstance(command, SendToolResult):
            return self._send_tool_result(command)
        elif isinstance(command, ApproveMcp):
            return self._approve_mcp(command)
        elif isinstance(command, UpdateSession):
            self._update_session(command)
        else:
            raise ProtocolError(
                f"OpenAI Realtime does not support the {type(command).__name__} command.",
                side="local",
            )
        return []

    def _handle_transcription(self, command: Command) -> list[Event]:
        # A transcription session has an input buffer and nothing else: no
        # conversation to add to, no responses, no tools.
        if isinstance(command, (CommitAudio, EndActivity)):
            self._send(m.InputAudioBufferCommit(event_id=self._event_id()))
        elif isinstance(command, ClearAudio):
            self._send(m.InputAudioBufferClear(event_id=self._event_id()))
        elif isinstance(command, UpdateSession) and not (
            command.instructions or command.voice or command.tools
        ):
            session = deep_merge({"type": "transcription"}, command.extra)
            self._send(
                structure_wire(
                    {"type": "session.update", "event_id": self._event_id(), "session": session},
                    m.ClientEvent,
                    what="session.update built from UpdateSession",
                )
            )
        else:
            raise ProtocolError(
                f"A transcription-only session cannot take {type(command).__name__} "
                "(it transcribes input audio; it has no responses, instructions, voice "
                "or tools).",
                side="local",
            )
        return []

    # ------------------------------------------------------------------ sending

    def _event_id(self) -> str:
        self._next_id += 1
        return f"trio_{self._next_id}"

    def _send(self, ev: m.ClientEvent) -> None:
        self._outbox.append(encode_client_event(ev))

    def _create_user_message(self, content: list[dict[str, Any]]) -> None:
        item = {"type": "message", "role": "user", "content": content}
        ev = structure_wire(
            {"type": "conversation.item.create", "event_id": self._event_id(), "item": item},
            m.ClientEvent,
            what="client event",
        )
        self._send(ev)

    def _respond(self, create: m.ResponseCreate) -> None:
        if self._current is not None or self._create_in_flight:
            self._pending_create = create
            return
        self._create_in_flight = True
        self._send(create)

    def _respond_command(self, command: Respond) -> None:
        params: dict[str, Any] = {}
        if command.instructions is not None:
            params["instructions"] = command.instructions
        if command.out_of_band:
            params["conversation"] = "none"
        if command.metadata is not None:
            params["metadata"] = dict(command.metadata)
        wire: dict[str, Any] = {"type": "response.create", "event_id": self._event_id()}
        if params:
            wire["response"] = params
        create = structure_wire(wire, m.ClientEvent, what="client event")
        if command.out_of_band:
            self._send(create)
        else:
            self._respond(create)

    def _send_tool_result(self, command: SendToolResult) -> list[Event]:
        call_id = command.call_id
        if command.scheduling is not None or command.will_continue:
            raise ProtocolError(
                "OpenAI Realtime has no result scheduling nor partial results "
                "(scheduling=, will_continue= are for Gemini's non-blocking calls); "
                "send one result, with respond= saying whether the model should answer.",
                side="local",
            )
        if call_id not in self._tool_calls_seen:
            raise ProtocolError(
                f"No tool call with call_id {call_id!r} was made in this session.", side="local"
            )
        if call_id in self._tool_results_sent:
            raise ProtocolError(
                f"The result of tool call {call_id!r} was already sent.", side="local"
            )
        value = {"error": command.output} if command.is_error else command.output
        if isinstance(value, str):
            output = value
        else:
            try:
                output = json.dumps(value, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise ProtocolError(
                    f"The result of tool call {call_id!r} cannot be encoded as JSON ({exc}).",
                    side="local",
                ) from None
        self._tool_results_sent.add(call_id)
        response_id = self._unanswered.pop(call_id, None)
        self._send(
            m.ConversationItemCreate(
                item=m.FunctionCallOutputItem(call_id=call_id, output=output),
                event_id=self._event_id(),
            )
        )
        return self._answered(response_id, respond=command.respond)

    def _answered(self, response_id: str | None, *, respond: bool) -> list[Event]:
        """After a tool result or an MCP approval: ask for the reply, or end the turn.

        Once every call of that response is answered, one ``response.create``
        goes out for all of them (if any answer asked for a reply); when none
        is asked for and nothing else is pending, the turn is over.
        """
        if respond:
            self._respond_after_tools = True
        if self._respond_after_tools and response_id not in self._unanswered.values():
            self._respond_after_tools = False
            self._tool_reply_pending = True
            self._respond(m.ResponseCreate(event_id=self._event_id()))
        if (
            self._turn.open
            and not self._unanswered
            and not self._tool_reply_pending
            and self._current is None
        ):
            return [self._turn.finish()]
        return []

    def _approve_mcp(self, command: ApproveMcp) -> list[Event]:
        request_id = command.request_id
        if request_id not in self._approvals:
            raise ProtocolError(
                f"No pending MCP approval request {request_id!r} in this session.",
                side="local",
            )
        del self._approvals[request_id]
        response_id = self._unanswered.pop(request_id, None)
        item: dict[str, Any] = {
            "type": "mcp_approval_response",
            "id": f"{self._event_id()}_approval",  # the item type requires a client id
            "approval_request_id": request_id,
            "approve": bool(command.approve),
        }
        if command.reason is not None:
            item["reason"] = command.reason
        self._send(
            structure_wire(
                {"type": "conversation.item.create", "event_id": self._event_id(), "item": item},
                m.ClientEvent,
                what="conversation.item.create built from ApproveMcp",
            )
        )
        return self._answered(response_id, respond=command.respond)

    def _update_session(self, command: UpdateSession) -> None:
        session: dict[str, Any] = {"type": "realtime"}
        if command.instructions is not None:
            session["instructions"] = command.instructions
        if command.voice is not None:
            session["audio"] = {"output": {"voice": command.voice}}
        if command.tools is not None:
            for spec in command.tools:
                if spec.non_blocking:
                    raise ProtocolError(
                        f"Tool {spec.name!r} is non_blocking=True, which only Gemini Live "
                        "offers; OpenAI Realtime cannot declare it.",
                        side="local",
                    )
            # The MCP servers of the configuration stay: only function tools change here.
            mcp = [t for t in self._session_config.get("tools", ()) if t.get("type") == "mcp"]
            session["tools"] = [tool_to_wire(s) for s in command.tools] + mcp
        session = deep_merge(session, command.extra)
        self._send(
            structure_wire(
                {"type": "session.update", "event_id": self._event_id(), "session": session},
                m.ClientEvent,
                what="session.update built from UpdateSession",
            )
        )

    # ------------------------------------------------------------------ playback, interruption

    def _report_playback(self, command: ReportPlayback) -> list[Event]:
        if command.played_ms < 0:
            raise ProtocolError(
                f"played_ms must not be negative, got {command.played_ms}.", side="local"
            )
        if command.item_id is None:
            item = self._last_item
        else:
            item = self._items.get(command.item_id)
            if item is None:
                raise ProtocolError(
                    f"No assistant audio was received for item {command.item_id!r}.",
                    side="local",
                )
        if item is not None:
            item.played_ms = command.played_ms
        return []

    def _barge_in(self) -> bool:
        if not self._interrupt_response:
            return False
        current = self._responses.get(self._current) if self._current is not None else None
        if current is not None and current.audio and not current.dropped:
            return True
        item = self._last_item
        return (
            item is not None
            and not item.truncated
            and item.played_ms is not None
            and item.played_ms < item.received_ms
        )

    def _interrupt(self, source: str, raw: Any) -> list[Event]:
        self._generation += 1
        current = self._responses.get(self._current) if self._current is not None else None
        for r in self._responses.values():
            r.dropped = True
        self._pending_create = None
        self._respond_after_tools = False
        self._tool_reply_pending = False
        waiting_for_tools = current is None and self._turn.open and bool(self._unanswered)
        self._unanswered.clear()
        if current is not None or waiting_for_tools:
            self._turn.interrupt(source)
        if source == "local" and current is not None:
            cancel_id = self._event_id()
            self._cancel_ids.add(cancel_id)
            self._send(m.ResponseCancel(response_id=current.id, event_id=cancel_id))
        item = self._last_item
        response_id = current.id if current is not None else None
        if item is not None and not item.truncated:
            received = item.received_ms
            played = item.played_ms if item.played_ms is not None else received
            end = max(0, min(played, received))
            if not item.complete or end < received:
                item.truncated = True
                self._send(
                    m.ConversationItemTruncate(
                        item_id=item.item_id,
                        content_index=item.content_index,
                        audio_end_ms=end,
                        event_id=self._event_id(),
                    )
                )
            if response_id is None:
                response_id = item.response_id
            if item.truncated:
                events: list[Event] = [
                    Interrupted(
                        response_id=response_id,
                        source=source,  # type: ignore[arg-type]
                        raw=raw,
                        item_id=item.item_id,
                        audio_end_ms=end,
                        heard_text=item.heard(end),
                    )
                ]
                if waiting_for_tools:
                    events.append(self._turn.finish())
                return events
        events = [Interrupted(response_id=response_id, source=source, raw=raw)]  # type: ignore[arg-type]
        if waiting_for_tools:
            events.append(self._turn.finish())
        return events

    # ------------------------------------------------------------------ server events

    def _on_audio(self, ev: m.ResponseOutputAudioDelta) -> list[Event]:
        return self._audio(ev.response_id, ev.item_id, ev.content_index, ev.delta, ev.event_id, ev)

    def _audio(
        self,
        response_id: str,
        item_id: str,
        content_index: int,
        audio: bytes,
        event_id: str,
        raw: Any,
    ) -> list[Event]:
        response = self._responses.get(response_id)
        if response is not None:
            if response.dropped:
                return []
            response.audio = True
        try:
            frame = AudioFrame.from_pcm16_mono(audio, SAMPLE_RATE)
        except AudioError as exc:
            raise ProtocolError(
                f"The server sent output audio that is not 16-bit PCM: {exc}.", raw=event_id
            ) from None
        item = self._items.get(item_id)
        if item is None:
            item = self._track(item_id, response_id, content_index)
        item.received_bytes += len(audio)
        self._last_item = item
        return [_new_audio_out(frame, response_id, item_id, self._generation, raw)]

    def _track(self, item_id: str, response_id: str, content_index: int) -> _ItemAudio:
        item = _ItemAudio(item_id, response_id, content_index)
        self._items[item_id] = item
        while len(self._items) > _MAX_TRACKED_ITEMS:
            self._items.popitem(last=False)
        return item

    def _note_session(self, session: m.Session) -> None:
        if isinstance(session, m.TranscriptionSession) and isinstance(session.id, str):
            self._session_id = session.id
        if not isinstance(session, m.RealtimeSession):
            return
        if isinstance(session.id, str):
            self._session_id = session.id
        audio = session.audio
        if isinstance(audio, m.AudioConfig) and isinstance(audio.input, m.AudioInput):
            td = audio.input.turn_detection
            if td is None:
                self._interrupt_response = False
            elif isinstance(td, (m.ServerVad, m.SemanticVad)):
                self._interrupt_response = td.interrupt_response is not False

    def _on_session_created(self, ev: m.SessionCreated) -> list[Event]:
        self._note_session(ev.session)
        if not self._configured:
            self._configured = True
            self._session_update_id = self._event_id()
            self._send(
                structure_wire(
                    {
                        "type": "session.update",
                        "event_id": self._session_update_id,
                        "session": self._session_config,
                    },
                    m.ClientEvent,
                    what="session.update built from the configuration",
                )
            )
        return []

    def _on_session_updated(self, ev: m.SessionUpdated) -> list[Event]:
        self._note_session(ev.session)
        if not self._ready:
            self._ready = True
            # The conversation so far goes in before anything the application sends.
            for item in self._seed:
                self._send(
                    structure_wire(
                        {
                            "type": "conversation.item.create",
                            "event_id": self._event_id(),
                            "item": item,
                        },
                        m.ClientEvent,
                        what="conversation.item.create built from the history",
                    )
                )
            self._seed = []
            return [SessionReady(session_id=self._session_id, raw=ev)]
        return [SessionUpdated(raw=ev)]

    def _on_error(self, ev: m.Error) -> list[Event]:
        err = ev.error
        code = err.code if isinstance(err.code, (str, int)) else None
        event_id = _str(err.event_id)
        if code == "response_cancel_not_active" and event_id in self._cancel_ids:
            self._cancel_ids.discard(event_id)
            return []
        fatal = code in _FATAL_CODES or (
            not self._ready and event_id is not None and event_id == self._session_update_id
        )
        self.last_error = ServerErrorEvent(
            message=err.message,
            code=code,
            type=err.type,
            param=_str(err.param),
            event_id=event_id,
            fatal=fatal,
            raw=ev,
        )
        return [self.last_error]

    def _on_speech_started(self, ev: m.InputAudioBufferSpeechStarted) -> list[Event]:
        events: list[Event] = [
            SpeechStarted(audio_start_ms=ev.audio_start_ms, item_id=ev.item_id, raw=ev)
        ]
        if self._barge_in():
            events += self._interrupt("server", ev)
        return events

    def _on_speech_stopped(self, ev: m.InputAudioBufferSpeechStopped) -> list[Event]:
        return [SpeechStopped(audio_end_ms=ev.audio_end_ms, item_id=ev.item_id, raw=ev)]

    def _on_committed(self, ev: m.InputAudioBufferCommitted) -> list[Event]:
        return [InputCommitted(item_id=ev.item_id, raw=ev)]

    def _on_response_created(self, ev: m.ResponseCreated) -> list[Event]:
        r = ev.response
        rid = _str(r.id)
        out_of_band = r.conversation_id is None
        modalities = r.output_modalities
        audio = not isinstance(modalities, list) or "audio" in modalities
        if rid is not None:
            self._responses[rid] = _Response(rid, out_of_band, audio)
            if not out_of_band:
                self._current = rid
        if not out_of_band:
            self._create_in_flight = False
            self._tool_reply_pending = False
        return [ResponseStarted(response_id=rid, raw=ev)]

    def _on_response_done(self, ev: m.ResponseDone) -> list[Event]:
        r = ev.response
        rid = _str(r.id)
        known = self._responses.get(rid) if rid is not None else None
        in_conversation = (
            not known.out_of_band if known is not None else r.conversation_id is not None
        )
        events: list[Event] = []
        if isinstance(r.output, list):
            for item in r.output:
                if (
                    isinstance(item, m.FunctionCallItem)
                    and isinstance(item.call_id, str)
                    and item.call_id not in self._tool_calls_seen
                    and item.status == "completed"
                ):
                    events.append(self._tool_call(item.call_id, item.name, item.arguments, rid, ev))
        if rid is not None:
            self._responses.pop(rid, None)
            for audio_item in self._items.values():
                if audio_item.response_id == rid:
                    audio_item.complete = True
        if rid == self._current or (rid is None and r.conversation_id is not None):
            self._current = None
        details = r.status_details
        reason: str | None = None
        if isinstance(details, m.ResponseStatusDetails):
            reason = _str(details.reason)
            if reason is None and isinstance(details.error, m.ResponseStatusError):
                reason = _str(details.error.code) or _str(details.error.message)
        done = ResponseDone(
            response_id=rid,
            status=_str(r.status) or "completed",
            reason=reason,
            usage=_usage(r.usage),
            raw=ev,
        )
        events.append(done)
        if in_conversation:
            self._turn.response_done(done)
            if not self._unanswered and not self._tool_reply_pending:
                events.append(self._turn.finish())
        if self._current is None and not self._create_in_flight and self._pending_create:
            create, self._pending_create = self._pending_create, None
            self._respond(create)
        return events

    def _on_audio_done(self, ev: m.ResponseOutputAudioDone) -> list[Event]:
        item = self._items.get(ev.item_id)
        if item is not None:
            item.complete = True
        return []

    def _on_output_transcript_delta(self, ev: m.ResponseOutputAudioTranscriptDelta) -> list[Event]:
        item = self._items.get(ev.item_id)
        if item is None:
            item = self._track(ev.item_id, ev.response_id, ev.content_index)
        item.transcript.append((item.received_ms, ev.delta))
        return [
            Transcript(
                role="assistant",
                text=ev.delta,
                final=False,
                item_id=ev.item_id,
                response_id=ev.response_id,
                raw=ev,
            )
        ]

    def _on_output_transcript_done(self, ev: m.ResponseOutputAudioTranscriptDone) -> list[Event]:
        return [
            Transcript(
                role="assistant",
                text=ev.transcript,
                final=True,
                item_id=ev.item_id,
                response_id=ev.response_id,
                raw=ev,
            )
        ]

    def _on_text_delta(self, ev: m.ResponseOutputTextDelta) -> list[Event]:
        return [TextOut(text=ev.delta, response_id=ev.response_id, item_id=ev.item_id, raw=ev)]

    def _on_input_transcript_delta(
        self, ev: m.ConversationItemInputAudioTranscriptionDelta
    ) -> list[Event]:
        if not isinstance(ev.delta, str) or not ev.delta:
            return []
        return [Transcript(role="user", text=ev.delta, final=False, item_id=ev.item_id, raw=ev)]

    def _on_input_transcript_completed(
        self, ev: m.ConversationItemInputAudioTranscriptionCompleted
    ) -> list[Event]:
        return [Transcript(role="user", text=ev.transcript, final=True, item_id=ev.item_id, raw=ev)]

    def _on_input_transcript_failed(
        self, ev: m.ConversationItemInputAudioTranscriptionFailed
    ) -> list[Event]:
        err = ev.error
        return [
            ServerErrorEvent(
                message=_str(err.message) or "The user's speech could not be transcribed.",
                code=_str(err.code),
                type=_str(err.type) or "transcription_error",
                param=_str(err.param),
                fatal=False,
                raw=ev,
            )
        ]

    def _on_arguments_delta(self, ev: m.ResponseFunctionCallArgumentsDelta) -> list[Event]:
        if ev.call_id not in self._tool_calls_seen:
            self._tool_args.setdefault(ev.call_id, []).append(ev.delta)
        return []

    def _on_arguments_done(self, ev: m.ResponseFunctionCallArgumentsDone) -> list[Event]:
        if ev.call_id in self._tool_calls_seen:
            return []
        return [self._tool_call(ev.call_id, ev.name, ev.arguments, ev.response_id, ev)]

    def _on_mcp_list_failed(self, ev: m.McpListToolsFailed) -> list[Event]:
        self._mcp_list_failed.add(ev.item_id)
        return []

    def _on_item_done(self, ev: m.ConversationItemDone) -> list[Event]:
        item = ev.item
        if not isinstance(item, m.McpListToolsItem):
            return []
        item_id = item.id if isinstance(item.id, str) else None
        failed = item_id in self._mcp_list_failed
        self._mcp_list_failed.discard(item_id)
        tools = [unstructure_wire(tool) for tool in item.tools]
        return [
            McpToolsListed(
                server_label=item.server_label,
                tools=[] if failed else tools,
                failed=failed,
                item_id=item_id,
                raw=ev,
            )
        ]

    def _on_output_item_done(self, ev: m.ResponseOutputItemDone) -> list[Event]:
        item = ev.item
        if isinstance(item, m.McpCallItem):
            error = item.error
            return [
                McpCall(
                    item_id=item.id,
                    server_label=item.server_label,
                    name=item.name,
                    arguments=_json_or_text(item.arguments),
                    output=item.output if isinstance(item.output, str) else None,
                    error=(
                        None
                        if error is None or isinstance(error, NotGiven)
                        else _mcp_error_text(error)
                    ),
                    approval_request_id=_str(item.approval_request_id),
                    response_id=ev.response_id,
                    raw=ev,
                )
            ]
        if isinstance(item, m.McpApprovalRequestItem):
            # The model waits for the answer, as for a function call's output.
            self._approvals[item.id] = ev.response_id
            self._unanswered[item.id] = ev.response_id
            self._turn.tool_call()
            return [
                McpApprovalRequested(
                    request_id=item.id,
                    server_label=item.server_label,
                    name=item.name,
                    arguments=_json_or_text(item.arguments),
                    response_id=ev.response_id,
                    raw=ev,
                )
            ]
        if (
            isinstance(item, m.FunctionCallItem)
            and isinstance(item.call_id, str)
            and item.call_id not in self._tool_calls_seen
            and item.status == "completed"
        ):
            return [self._tool_call(item.call_id, item.name, item.arguments, ev.response_id, ev)]
        return []

    def _assembled(self, call_id: str, arguments: str) -> str:
        """`arguments` as given, or the streamed fragments when it came empty."""
        parts = self._tool_args.pop(call_id, None)
        if not arguments.strip() and parts:
            return "".join(parts)
        return arguments

    def _tool_call(
        self, call_id: str, name: str, arguments: str, response_id: str | None, raw: Any
    ) -> Event:
        self._tool_calls_seen.add(call_id)
        self._unanswered[call_id] = response_id
        self._turn.tool_call()
        arguments = self._assembled(call_id, arguments)
        text = arguments.strip()
        try:
            parsed = json.loads(text) if text else {}
        except ValueError as exc:
            return InvalidToolCall(
                call_id=call_id,
                name=name,
                arguments_text=arguments,
                message=f"The arguments of tool call {name!r} are not valid JSON ({exc}).",
                response_id=response_id,
                raw=raw,
            )
        if not isinstance(parsed, dict):
            return InvalidToolCall(
                call_id=call_id,
                name=name,
                arguments_text=arguments,
                message=(
                    f"The arguments of tool call {name!r} are not a JSON object "
                    f"(got {type(parsed).__name__})."
                ),
                response_id=response_id,
                raw=raw,
            )
        return ToolCall(
            call_id=call_id, name=name, arguments=parsed, response_id=response_id, raw=raw
        )


def history_items(items: Sequence[HistoryItem]) -> list[dict[str, Any]]:
    """Conversation history as ``conversation.item.create`` items (wire dicts).

    User messages become ``input_text`` (and ``input_image`` for images with
    their bytes), assistant messages ``output_text`` (the service does not
    take assistant audio from clients), tool calls ``function_call`` and
    results ``function_call_output``. Empty messages and tool calls that never
    got a result are left out; the service assigns new item ids.
    """
    from .._wire import b64encode

    answered = {i.call_id for i in items if i.kind == "tool_result"}
    called = {i.call_id for i in items if i.kind == "tool_call" and i.call_id in answered}
    out: list[dict[str, Any]] = []
    for item in items:
        if item.kind == "message":
            content: list[dict[str, Any]] = []
            if item.role == "user":
                for img in item.images:
                    if img.data is not None:
                        url = f"data:{img.mime_type};base64,{b64encode(img.data)}"
                        content.append({"type": "input_image", "image_url": url})
                if item.text:
                    content.append({"type": "input_text", "text": item.text})
            elif item.text:
                content.append({"type": "output_text", "text": item.text})
            if content:
                out.append({"type": "message", "role": item.role, "content": content})
        elif item.kind == "tool_call" and item.call_id in called:
            out.append(
                {
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": json.dumps(dict(item.arguments or {}), ensure_ascii=False),
                }
            )
        elif item.kind == "tool_result" and item.call_id in called:
            value = {"error": item.result} if item.is_error else item.result
            output = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            out.append({"type": "function_call_output", "call_id": item.call_id, "output": output})
    return out


_HANDLERS: dict[type, Any] = {
    m.SessionCreated: OpenAIProtocol._on_session_created,
    m.SessionUpdated: OpenAIProtocol._on_session_updated,
    m.Error: OpenAIProtocol._on_error,
    m.InputAudioBufferSpeechStarted: OpenAIProtocol._on_speech_started,
    m.InputAudioBufferSpeechStopped: OpenAIProtocol._on_speech_stopped,
    m.InputAudioBufferCommitted: OpenAIProtocol._on_committed,
    m.ResponseCreated: OpenAIProtocol._on_response_created,
    m.ResponseDone: OpenAIProtocol._on_response_done,
    m.ResponseOutputAudioDone: OpenAIProtocol._on_audio_done,
    m.ResponseOutputAudioTranscriptDelta: OpenAIProtocol._on_output_transcript_delta,
    m.ResponseOutputAudioTranscriptDone: OpenAIProtocol._on_output_transcript_done,
    m.ResponseOutputTextDelta: OpenAIProtocol._on_text_delta,
    m.ConversationItemInputAudioTranscriptionDelta: OpenAIProtocol._on_input_transcript_delta,
    m.ConversationItemInputAudioTranscriptionCompleted: OpenAIProtocol._on_input_transcript_completed,
    m.ConversationItemInputAudioTranscriptionFailed: OpenAIProtocol._on_input_transcript_failed,
    m.ResponseFunctionCallArgumentsDelta: OpenAIProtocol._on_arguments_delta,
    m.ResponseFunctionCallArgumentsDone: OpenAIProtocol._on_arguments_done,
    m.ResponseOutputItemDone: OpenAIProtocol._on_output_item_done,
    m.McpListToolsFailed: OpenAIProtocol._on_mcp_list_failed,
    m.ConversationItemDone: OpenAIProtocol._on_item_done,
}
