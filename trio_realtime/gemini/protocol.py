"""The Gemini Live sans-IO protocol machine (pure: no Trio, no clock, no I/O).

`GeminiProtocol` turns provider-neutral commands into Gemini client messages
and Gemini server messages into provider-neutral events, and owns the state
in between: whether ``setupComplete`` came, the current model turn and its
synthesized response id (``"turn-1"``, ``"turn-2"``…), the transcripts being
accumulated, the interruption generation, pending tool calls, and the latest
usable session resumption handle.

Behaviour worth knowing:

- `start` queues ``setup``. Every command except `Interrupt` and
  `ReportPlayback` before ``setupComplete`` raises `ProtocolError`
  (``side="local"``): the service closes the socket on anything sent early,
  and the runtime only hands out the session after `SessionReady`.
- A model turn starts (`ResponseStarted`) with its first audio, text,
  output transcription or tool call, and ends (`ResponseDone`) at
  ``turnComplete`` with the latest non-empty ``usageMetadata`` of the turn.
  A ``turnComplete`` with no content still yields a started/done pair, so a
  caller waiting for a reply always gets one.
- Transcripts: each ``inputTranscription``/``outputTranscription`` fragment is
  a ``Transcript(final=False)``; the accumulated text is a
  ``Transcript(final=True)`` at the end of the turn, at an interruption (what
  was said so far), or, for the user, when a fragment says ``finished``.
  ``interimInputTranscription`` (cumulative previews) yields no event.
- Server barge-in (``interrupted``): `Interrupted`, the final transcripts, and
  ``ResponseDone(status="cancelled", reason="turn_detected")`` (the neutral
  word both providers use; Gemini's ``interrupted`` stays in `raw`); the generation
  goes up and whatever else arrives for that turn, until its
  ``turnComplete``, is dropped.
- Local `Interrupt`: Gemini has no cancel message, so **nothing is sent**.
  The generation goes up, `Interrupted` (``source="local"``) and the final
  assistant transcript so far are returned, and the rest of the turn's audio,
  text and transcription is dropped; ``ResponseDone(status="cancelled",
  reason="client_cancelled")`` follows when the server ends the turn. New
  user input (speech with automatic detection, or text) is what actually
  stops the model.
- Turns. `TurnDone` follows the `ResponseDone` of a model turn that ended
  with no tool call pending and no ``interactionStatus: IN_PROGRESS`` (a
  blocking tool round trip stays inside one model turn; a non-blocking call
  still running at ``turnComplete`` keeps the assistant's turn open until a
  later ``turnComplete``). An interrupted turn ends at the interruption
  (server) or when the server closes it (local `Interrupt`); an `Interrupt`
  while the model waits for tool results ends the turn at once.
- `SendToolResult` answers with ``toolResponse.functionResponses`` carrying the
  call's ``id`` and ``name`` and ``{"output": …}`` or ``{"error": …}``, plus
  ``scheduling`` and ``willContinue`` when given (non-blocking calls; the
  call stays pending while more results will follow). A result for a call
  the server cancelled is dropped silently (answering it risks the
  connection); one for an unknown id raises.
- `UpdateSession` raises: a Gemini session's configuration is fixed at
  ``setup``, so changing it takes a reconnect (with the resumption handle),
  which the runtime does.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from .._turns import TurnAccumulator
from .._wire import NOT_GIVEN, NotGiven, b64encode, decode_json
from ..audio import AudioError, AudioFrame
from ..errors import ProtocolError
from ..events import (
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
    RealtimeProtocol,
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
    SpeechStarted,
    SpeechStopped,
    StartActivity,
    TextOut,
    ToolCall,
    ToolCallCancelled,
    Transcript,
    UpdateSession,
    Usage,
    _new_audio_out,
)
from ..history import HistoryItem
from . import messages as m
from .codec import (
    audio_parts,
    converter,
    decode_server_value,
    encode_client_message,
    with_resumption_handle,
)

__all__ = ["GeminiProtocol", "history_turns"]

INPUT_SAMPLE_RATE = 16000
OUTPUT_SAMPLE_RATE = 24000
_AUDIO_PREFIX = '{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"'
_AUDIO_SUFFIX = '"}}}'
_LITTLE = sys.byteorder == "little"

TurnState = Literal["idle", "active", "interrupted", "cancelled"]

#: turnCompleteReason values that mean the turn did not end normally.
_FAILED_REASONS = frozenset({"MALFORMED_FUNCTION_CALL"})
_OK_REASONS = frozenset({"TURN_COMPLETE_REASON_UNSPECIFIED", "NEED_MORE_INPUT"})
#: `SendToolResult.scheduling` to ``FunctionResponse.scheduling``.
_SCHEDULING = {"interrupt": "INTERRUPT", "when_idle": "WHEN_IDLE", "silent": "SILENT"}


def _local(message: str) -> ProtocolError:
    return ProtocolError(message, side="local")


@functools.lru_cache(maxsize=64)
def _audio_rate(mime: str) -> int | None:
    """The sample rate of a raw PCM MIME type, or None when it is not raw PCM audio.

    Cached: every audio chunk of a session carries the same few MIME types.
    """
    kind, *params = (p.strip() for p in mime.split(";"))
    if kind.lower() not in ("audio/pcm", "audio/l16"):
        return None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "rate":
            try:
                rate = int(value.strip())
            except ValueError:
                return None
            return rate if rate > 0 else None
    return OUTPUT_SAMPLE_RATE


def _usage(u: m.UsageMetadata) -> Usage:
    output = u.response_token_count
    if isinstance(output, NotGiven):
        output = u.candidates_token_count
    return Usage(
        input_tokens=u.prompt_token_count
        if not isinstance(u.prompt_token_count, NotGiven)
        else None,
        output_tokens=output if not isinstance(output, NotGiven) else None,
        total_tokens=u.total_token_count if not isinstance(u.total_token_count, NotGiven) else None,
        details=converter.unstructure(u),
    )


def _activity_detection_disabled(setup: m.Setup) -> bool:
    ric = setup.realtime_input_config
    if isinstance(ric, NotGiven):
        return False
    aad = ric.automatic_activity_detection
    return not isinstance(aad, NotGiven) and aad.disabled is True


class GeminiProtocol(RealtimeProtocol):
    """Sans-IO state machine of one Gemini Live connection.

    Args:
        setup: the ``setup`` message's content, as `GeminiLive` builds it.
            Push-to-talk (manual activity) follows its
            ``realtimeInputConfig.automaticActivityDetection.disabled``.
        text_input: how `SendText` travels: ``"client_content"`` (an ordered
            user turn) or ``"realtime"`` (``realtimeInput.text``, for models
            that take text only that way).
        resumption_handle: a handle from an earlier connection; it goes into
            ``setup.sessionResumption.handle``.
    """

    input_sample_rate = INPUT_SAMPLE_RATE
    output_sample_rate = OUTPUT_SAMPLE_RATE
    updates_live = False

    def __init__(
        self,
        setup: m.Setup,
        *,
        text_input: Literal["client_content", "realtime"] = "client_content",
        resumption_handle: str | None = None,
        history: Sequence[HistoryItem] = (),
    ) -> None:
        if resumption_handle:
            setup = with_resumption_handle(setup, resumption_handle)
            history = ()  # the service has the conversation
        self._seed = history_turns(history)
        if self._seed:
            setup = attrs.evolve(
                setup, history_config=m.HistoryConfig(initial_history_in_client_content=True)
            )
        self._setup = setup
        self._text_input = text_input
        self._handle = resumption_handle
        self._started = False
        self._ready = False
        self._session_id: str | None = None
        self._outbox: list[str] = []
        self._generation = 0
        self._turns = 0
        self._response_id: str | None = None
        self._state: TurnState = "idle"
        self._user_text: list[str] = []
        self._model_text: list[str] = []
        self._usage: m.UsageMetadata | None = None
        self._pending_calls: dict[str, str] = {}
        self._cancelled_calls: set[str] = set()
        self._synthetic_ids: set[str] = set()
        self._calls = 0
        self._activity_open = False
        self._activity_audio = False
        self._manual = _activity_detection_disabled(setup)
        self._turn = TurnAccumulator()
        #: The last in-band error object the service sent (it explains a close that follows).
        self.last_error: ServerErrorEvent | None = None

    # ------------------------------------------------------------------ state

    @property
    def ready(self) -> bool:
        """Whether ``setupComplete`` arrived."""
        return self._ready

    @property
    def generation(self) -> int:
        """Number of interruptions so far (stamped on every `AudioOut`)."""
        return self._generation

    def shift_generation(self, by: int) -> bool:
        """Count `generation` on from `by` more (see `RealtimeProtocol.shift_generation`)."""
        self._generation += by
        return True

    @property
    def resumption_handle(self) -> str | None:
        """The latest resumable handle (or the one this connection started with)."""
        return self._handle

    @property
    def response_id(self) -> str | None:
        """Id of the model turn in progress, if any."""
        return self._response_id

    @property
    def session_id(self) -> str | None:
        """The session id from ``setupComplete`` (Vertex may send one)."""
        return self._session_id

    @property
    def pending_tool_calls(self) -> Mapping[str, str]:
        """Tool calls awaiting a result: call id -> function name."""
        return dict(self._pending_calls)

    def data_to_send(self) -> list[str]:
        """Drain and return the queued client messages, oldest first."""
        out, self._outbox = self._outbox, []
        return out

    def _send(self, msg: m.ClientMessage) -> None:
        self._outbox.append(encode_client_message(msg))

    def end_turn(self, reason: str = "connection_lost") -> list[Event]:
        """End the assistant's turn in progress, if any, as interrupted for `reason`.

        For the runtime, when the connection this machine served is gone and
        the turn can never finish on it: returns ``[TurnDone(status="interrupted",
        reason=reason)]``, or ``[]`` when no turn was in progress.
        """
        if self._state in ("idle", "interrupted") and not self._turn.open:
            return []
        self._state = "interrupted"
        return [self._turn.abandon(reason)]

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Queue the ``setup`` message (with the resumption handle, if any).

        Raises:
            ProtocolError: (``side="local"``) `start` was already called.
        """
        if self._started:
            raise _local("start() was already called; a Gemini connection sends setup once.")
        self._started = True
        self._send(m.ClientMessage(setup=self._setup))

    # ------------------------------------------------------------------ receive

    def receive(self, data: str | bytes) -> list[Event]:
        """Decode one server frame and return the neutral events it means.

        Raises:
            ProtocolError: the frame is malformed, or content arrived before
                ``setupComplete``.
        """
        value = decode_json(data, what="Gemini server message")
        if self._state != "idle":
            # The hot path: an audio chunk of the turn in progress (or of one
            # being dropped), without building the five message objects.
            found = audio_parts(value, keep_decoded=True)
            if found is not None:
                return self._fast_audio(value, found[1]) if self._state == "active" else []
        msg = decode_server_value(value)
        if isinstance(msg, m.UnknownServerMessage):
            return self._unknown(msg)
        events: list[Event] = []
        if not isinstance(msg.setup_complete, NotGiven):
            events.append(self._setup_complete(msg, msg.setup_complete))
        elif not self._ready and (
            not isinstance(msg.server_content, NotGiven) or not isinstance(msg.tool_call, NotGiven)
        ):
            raise ProtocolError("The Gemini server sent content before setupComplete.", raw=data)
        if not isinstance(msg.usage_metadata, NotGiven):
            u = msg.usage_metadata
            if u != m.UsageMetadata():
                self._usage = u
        if not isinstance(msg.voice_activity, NotGiven):
            self._voice_activity(msg, msg.voice_activity, events)
        if not isinstance(msg.voice_activity_detection_signal, NotGiven):
            kind = msg.voice_activity_detection_signal.vad_signal_type
            if kind == "VAD_SIGNAL_TYPE_SOS":
                events.append(SpeechStarted(raw=msg))
            elif kind == "VAD_SIGNAL_TYPE_EOS":
                events.append(SpeechStopped(raw=msg))
        if not isinstance(msg.server_content, NotGiven):
            self._server_content(msg, msg.server_content, events)
        if not isinstance(msg.tool_call, NotGiven):
            self._tool_call(msg, msg.tool_call, events)
        if not isinstance(msg.tool_call_cancellation, NotGiven):
            ids = msg.tool_call_cancellation.ids
            for call_id in ids if not isinstance(ids, NotGiven) else ():
                self._pending_calls.pop(call_id, None)
                self._cancelled_calls.add(call_id)
                events.append(ToolCallCancelled(call_id=call_id, raw=msg))
        if not isinstance(msg.session_resumption_update, NotGiven):
            upd = msg.session_resumption_update
            handle = (
                upd.new_handle
                if not isinstance(upd.new_handle, NotGiven) and upd.new_handle
                else None
            )
            resumable = upd.resumable is True
            if resumable and handle:
                self._handle = handle
            events.append(ResumptionUpdate(handle=handle, resumable=resumable, raw=msg))
        if not isinstance(msg.go_away, NotGiven):
            left = msg.go_away.time_left
            events.append(
                GoingAway(
                    time_left=left.seconds if not isinstance(left, NotGiven) else None, raw=msg
                )
            )
        return events

    def _fast_audio(self, value: dict[str, Any], parts: list[tuple[str, bytes]]) -> list[Event]:
        events: list[Event] = []
        for mime, data in parts:
            rate = _audio_rate(mime)
            if rate is None:
                continue  # not raw PCM audio (e.g. an image); kept in `raw` only
            try:
                frame = AudioFrame.from_pcm16_mono(data, rate)
            except AudioError as exc:
                raise ProtocolError(
                    f"The Gemini server sent unusable audio in {self._response_id}: {exc}."
                ) from None
            events.append(_new_audio_out(frame, self._response_id, None, self._generation, value))
        return events

    def _unknown(self, msg: m.UnknownServerMessage) -> list[Event]:
        # The SDK treats an object with an error code as an in-band error; the
        # service is not known to send one, but report it if it does.
        err = msg.raw.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            self.last_error = ServerErrorEvent(
                message=str(err.get("message") or "Gemini reported an error."),
                code=code if isinstance(code, (str, int)) else None,
                type=str(err["status"]) if "status" in err else None,
                raw=msg,
            )
            return [self.last_error]
        return []

    def _setup_complete(self, msg: m.ServerMessage, sc: m.SetupComplete) -> Event:
        if not self._started:
            raise ProtocolError("The Gemini server sent setupComplete before setup was sent.")
        if self._ready:
            raise ProtocolError("The Gemini server sent setupComplete twice.")
        self._ready = True
        self._session_id = sc.session_id if not isinstance(sc.session_id, NotGiven) else None
        if self._seed:
            # The initial history: accepted as context, no generation (historyConfig).
            self._send(
                m.ClientMessage(
                    client_content=m.ClientContent(turns=self._seed, turn_complete=True)
                )
            )
            self._seed = []
        return SessionReady(session_id=self._session_id, raw=msg)

    def _voice_activity(
        self, msg: m.ServerMessage, va: m.VoiceActivity, events: list[Event]
    ) -> None:
        offset = va.audio_offset
        ms = round(offset.seconds * 1000) if not isinstance(offset, NotGiven) else None
        if va.voice_activity_type == "ACTIVITY_START":
            events.append(SpeechStarted(audio_start_ms=ms, raw=msg))
        elif va.voice_activity_type == "ACTIVITY_END":
            events.append(SpeechStopped(audio_end_ms=ms, raw=msg))

    def _begin_turn(self, msg: m.ServerMessage, events: list[Event]) -> None:
        self._turns += 1
        self._response_id = f"turn-{self._turns}"
        self._state = "active"
        self._model_text = []
        events.append(ResponseStarted(response_id=self._response_id, raw=msg))

    def _flush_user(self, msg: m.ServerMessage, events: list[Event]) -> None:
        if self._user_text:
            text = "".join(self._user_text)
            self._user_text = []
            events.append(Transcript(role="user", text=text, final=True, raw=msg))

    def _flush_model(self, msg: m.ServerMessage, events: list[Event]) -> None:
        if self._model_text:
            text = "".join(self._model_text)
            self._model_text = []
            events.append(
                Transcript(
                    role="assistant",
                    text=text,
                    final=True,
                    response_id=self._response_id,
                    raw=msg,
                )
            )

    def _done(
        self,
        msg: m.ServerMessage,
        events: list[Event],
        status: str,
        reason: str | None,
    ) -> None:
        usage = _usage(self._usage) if self._usage is not None else None
        self._usage = None
        done = ResponseDone(
            response_id=self._response_id,
            status=status,
            reason=reason,
            usage=usage,
            raw=msg,
        )
        events.append(done)
        self._turn.response_done(done)

    def _server_content(
        self, msg: m.ServerMessage, sc: m.ServerContent, events: list[Event]
    ) -> None:
        tr = sc.input_transcription
        if not isinstance(tr, NotGiven):
            if not isinstance(tr.text, NotGiven) and tr.text:
                self._user_text.append(tr.text)
                events.append(Transcript(role="user", text=tr.text, final=False, raw=msg))
            if tr.finished is True:
                self._flush_user(msg, events)

        turn = sc.model_turn
        if not isinstance(turn, NotGiven) and not isinstance(turn.parts, NotGiven) and turn.parts:
            if self._state == "idle":
                self._begin_turn(msg, events)
            if self._state == "active":
                for part in turn.parts:
                    self._part(msg, part, events)

        out = sc.output_transcription
        if not isinstance(out, NotGiven) and not isinstance(out.text, NotGiven) and out.text:
            if self._state == "idle":
                self._begin_turn(msg, events)
            if self._state == "active":
                self._model_text.append(out.text)
                events.append(
                    Transcript(
                        role="assistant",
                        text=out.text,
                        final=False,
                        response_id=self._response_id,
                        raw=msg,
                    )
                )

        if sc.interrupted is True:
            self._server_interrupted(msg, events)

        if sc.turn_complete is True:
            self._turn_complete(msg, sc, events)

    def _part(self, msg: m.ServerMessage, part: m.Part, events: list[Event]) -> None:
        blob = part.inline_data
        if not isinstance(blob, NotGiven) and not isinstance(blob.data, NotGiven):
            mime = blob.mime_type if not isinstance(blob.mime_type, NotGiven) else "audio/pcm"
            rate = _audio_rate(mime)
            if rate is None:
                return  # not raw PCM audio (e.g. an image); kept in `raw` only
            try:
                frame = AudioFrame.from_pcm16_mono(blob.data, rate)
            except AudioError as exc:
                raise ProtocolError(
                    f"The Gemini server sent unusable audio in {self._response_id}: {exc}."
                ) from None
            events.append(
                AudioOut(
                    frame=frame,
                    response_id=self._response_id,
                    generation=self._generation,
                    raw=msg,
                )
            )
        if not isinstance(part.text, NotGiven) and part.text:
            events.append(
                TextOut(
                    text=part.text,
                    response_id=self._response_id,
                    raw=msg,
                    thought=part.thought is True,
                )
            )

    def _server_interrupted(self, msg: m.ServerMessage, events: list[Event]) -> None:
        if self._state == "interrupted":
            return
        if self._state == "cancelled":
            # Interrupted locally already: just close the response.
            self._flush_user(msg, events)
            self._done(msg, events, "cancelled", "client_cancelled")
        else:
            self._generation += 1
            events.append(Interrupted(response_id=self._response_id, source="server", raw=msg))
            self._flush_user(msg, events)
            if self._state == "active" or self._turn.open:
                self._turn.interrupt("server")
            if self._state == "active":
                self._flush_model(msg, events)
                self._done(msg, events, "cancelled", "turn_detected")
        if self._turn.open:
            events.append(self._turn.finish())
        self._state = "interrupted"

    def _turn_complete(
        self, msg: m.ServerMessage, sc: m.ServerContent, events: list[Event]
    ) -> None:
        state = self._state
        if state == "interrupted":
            pass  # the response was closed at the interruption
        elif state == "cancelled":
            self._flush_user(msg, events)
            self._done(msg, events, "cancelled", "client_cancelled")
        else:
            if state == "idle":
                self._begin_turn(msg, events)
            self._flush_user(msg, events)
            self._flush_model(msg, events)
            reason = (
                sc.turn_complete_reason
                if not isinstance(sc.turn_complete_reason, NotGiven)
                else None
            )
            if reason is None or reason in _OK_REASONS:
                self._done(msg, events, "completed", None)
            elif reason in _FAILED_REASONS:
                self._done(msg, events, "failed", reason.lower())
            else:
                self._done(msg, events, "incomplete", reason.lower())
        if self._turn.open and not self._pending_calls and sc.interaction_status != "IN_PROGRESS":
            events.append(self._turn.finish())
        self._state = "idle"
        self._response_id = None
        self._model_text = []

    def _tool_call(self, msg: m.ServerMessage, tc: m.ToolCall, events: list[Event]) -> None:
        calls = tc.function_calls if not isinstance(tc.function_calls, NotGiven) else []
        if calls and self._state == "idle":
            self._begin_turn(msg, events)
        for fc in calls:
            name = fc.name if not isinstance(fc.name, NotGiven) else ""
            if not isinstance(fc.id, NotGiven) and fc.id:
                call_id = fc.id
            else:
                self._calls += 1
                call_id = f"call-{self._calls}"
                self._synthetic_ids.add(call_id)
            self._pending_calls[call_id] = name
            self._cancelled_calls.discard(call_id)
            self._turn.tool_call()
            events.append(
                ToolCall(
                    call_id=call_id,
                    name=name,
                    arguments=fc.args if not isinstance(fc.args, NotGiven) else {},
                    response_id=self._response_id,
                    raw=msg,
                )
            )

    # ------------------------------------------------------------------ commands

    def _require_ready(self, what: str) -> None:
        if not self._ready:
            raise _local(
                f"Cannot {what} before the Gemini server acknowledged the setup "
                "(wait for SessionReady); it closes the connection on early input."
            )

    def handle(self, command: Command) -> list[Event]:
        """Apply a command: queue client messages and return local events.

        Raises:
            ProtocolError: (``side="local"``) the command is not possible on
                Gemini Live or not in the current state (see the module docs).
        """
        if isinstance(command, ReportPlayback):
            return []  # Gemini needs no playback report (no truncation)
        if isinstance(command, Interrupt):
            return self._interrupt()
        if isinstance(command, UpdateSession):
            raise _local(
                "A Gemini Live session's configuration cannot change on an open connection; "
                "it takes a reconnect with the session resumption handle and a new setup."
            )
        self._require_ready(f"send {type(command).__name__}")
        if isinstance(command, SendText):
            self._send_text(command)
        elif isinstance(command, SendImage):
            self._send_image(command)
        elif isinstance(command, Respond):
            if command.out_of_band or command.metadata:
                raise _local(
                    "Gemini Live cannot make out-of-band responses or carry response "
                    "metadata; every reply joins the conversation."
                )
            self._respond(command.instructions)
        elif isinstance(command, StartActivity):
            self._start_activity()
        elif isinstance(command, EndActivity):
            self._end_activity("EndActivity")
        elif isinstance(command, CommitAudio):
            if self._manual:
                self._end_activity("CommitAudio")
            else:
                self._realtime(m.RealtimeInput(audio_stream_end=True))
        elif isinstance(command, EndAudioStream):
            if self._manual:
                raise _local(
                    "EndAudioStream is only for automatic activity detection; with it off, "
                    "end the user's turn with EndActivity."
                )
            self._realtime(m.RealtimeInput(audio_stream_end=True))
        elif isinstance(command, SendToolResult):
            self._tool_result(command)
        elif isinstance(command, ClearAudio):
            raise _local("Gemini Live cannot discard audio it has already received.")
        else:
            raise _local(f"Gemini Live does not support the command {type(command).__name__}.")
        return []

    def _respond(self, instructions: str | None) -> None:
        # Gemini has no per-response instructions: they travel as a user turn
        # of their own, ordered and completed (``clientContent`` with
        # ``turnComplete``), which every Live model accepts and answers. They
        # stay in the conversation as that user turn.
        if instructions is None:
            self._send(m.ClientMessage(client_content=m.ClientContent(turn_complete=True)))
            return
        if not isinstance(instructions, str) or not instructions.strip():
            raise _local(f"Respond instructions must be non-empty text, got {instructions!r}.")
        self._send(
            m.ClientMessage(
                client_content=m.ClientContent(
                    turns=[m.Content(role="user", parts=[m.Part(text=instructions)])],
                    turn_complete=True,
                )
            )
        )

    def _realtime(self, ri: m.RealtimeInput) -> None:
        self._send(m.ClientMessage(realtime_input=ri))

    def _send_text(self, cmd: SendText) -> None:
        if not isinstance(cmd.text, str):
            raise _local(f"SendText needs a string, got {type(cmd.text).__name__}.")
        if cmd.respond and self._text_input == "realtime":
            self._realtime(m.RealtimeInput(text=cmd.text))
            return
        self._send(
            m.ClientMessage(
                client_content=m.ClientContent(
                    turns=[m.Content(role="user", parts=[m.Part(text=cmd.text)])],
                    turn_complete=cmd.respond,
                )
            )
        )

    def _send_image(self, cmd: SendImage) -> None:
        blob = m.Blob(mime_type=cmd.mime_type, data=bytes(cmd.data))
        if not cmd.respond:
            self._realtime(m.RealtimeInput(video=blob))
            return
        self._send(
            m.ClientMessage(
                client_content=m.ClientContent(
                    turns=[m.Content(role="user", parts=[m.Part(inline_data=blob)])],
                    turn_complete=True,
                )
            )
        )

    def _start_activity(self) -> None:
        if not self._manual:
            raise _local(
                "StartActivity needs automatic_activity_detection=False; "
                "the server detects speech itself."
            )
        if self._activity_open:
            raise _local("StartActivity while an activity is already open (nesting is ignored).")
        self._activity_open = True
        self._activity_audio = False
        self._realtime(m.RealtimeInput(activity_start=m.ActivityStart()))

    def _end_activity(self, what: str) -> None:
        if not self._manual:
            raise _local(
                f"{what} as an activity end needs automatic_activity_detection=False; "
                "the server detects the end of speech itself."
            )
        if not self._activity_open:
            raise _local(f"{what} without a StartActivity before it.")
        if not self._activity_audio:
            raise _local(
                f"{what} right after StartActivity with no audio in between; "
                "Gemini closes the connection on an empty activity."
            )
        self._activity_open = False
        self._realtime(m.RealtimeInput(activity_end=m.ActivityEnd()))

    def _tool_result(self, cmd: SendToolResult) -> None:
        call_id = cmd.call_id
        if call_id in self._cancelled_calls:
            return  # the server withdrew this call; answering it risks the connection
        name = self._pending_calls.get(call_id)
        if name is None:
            raise _local(f"SendToolResult for unknown tool call id {call_id!r}.")
        response = {"error" if cmd.is_error else "output": cmd.output}
        try:
            json.dumps(response)
        except (TypeError, ValueError) as exc:
            raise _local(f"The result of tool call {call_id!r} is not JSON: {exc}.") from None
        scheduling: str | NotGiven = NOT_GIVEN
        if cmd.scheduling is not None:
            scheduling = _SCHEDULING.get(cmd.scheduling, NOT_GIVEN)
            if scheduling is NOT_GIVEN:
                raise _local(
                    "SendToolResult scheduling must be 'interrupt', 'when_idle' or 'silent', "
                    f"got {cmd.scheduling!r}."
                )
        if not cmd.will_continue:
            del self._pending_calls[call_id]
        fr = m.FunctionResponse(
            id=NOT_GIVEN if call_id in self._synthetic_ids else call_id,
            name=name,
            response=response,
            scheduling=scheduling,
            will_continue=True if cmd.will_continue else NOT_GIVEN,
        )
        self._send(m.ClientMessage(tool_response=m.ToolResponse(function_responses=[fr])))

    def _interrupt(self) -> list[Event]:
        self._generation += 1
        events: list[Event] = [Interrupted(response_id=self._response_id, source="local")]
        if self._state == "active":
            self._turn.interrupt("local")
            if self._model_text:
                text = "".join(self._model_text)
                self._model_text = []
                events.append(
                    Transcript(
                        role="assistant", text=text, final=True, response_id=self._response_id
                    )
                )
            self._state = "cancelled"
        elif self._state == "idle" and self._turn.open:
            # The model waits for tool results that will not come now.
            self._turn.interrupt("local")
            events.append(self._turn.finish())
        return events

    # ------------------------------------------------------------------ audio

    def audio_message(self, frame: AudioFrame) -> str:
        """Encode one chunk of 16 kHz mono PCM as ``realtimeInput.audio``.

        Raises:
            AudioError: the frame is not 16 kHz mono.
            ProtocolError: (``side="local"``) ``setupComplete`` has not arrived.
        """
        if frame.sample_rate != INPUT_SAMPLE_RATE or frame.channels != 1:
            raise AudioError(
                f"Gemini Live takes 16000 Hz mono input audio, got {frame.sample_rate} Hz "
                f"with {frame.channels} channel(s); resample first."
            )
        self._require_ready("send audio")
        if self._activity_open:
            self._activity_audio = True
        samples = frame.samples
        if _LITTLE and samples.flags.c_contiguous and samples.dtype.byteorder in ("=", "<"):
            # Straight from the array's buffer: no intermediate bytes copy.
            b64 = b64encode(memoryview(samples))  # type: ignore[arg-type]
        else:
            b64 = b64encode(frame.to_bytes())
        return _AUDIO_PREFIX + b64 + _AUDIO_SUFFIX

    def __repr__(self) -> str:
        return (
            f"<GeminiProtocol ready={self._ready} state={self._state} "
            f"response={self._response_id!r} generation={self._generation}>"
        )


def history_turns(items: Sequence[HistoryItem]) -> list[m.Content]:
    """Conversation history as ``clientContent`` turns (consecutive roles merged).

    Messages become text parts (``"assistant"`` -> ``"model"``), images with
    their bytes become ``inlineData`` parts, a tool call a ``functionCall``
    part of the model, and its result a ``functionResponse`` part of the user.
    Empty messages, images without bytes and tool calls that never got a
    result are left out (the service expects every call answered).
    """
    answered = {i.call_id for i in items if i.kind == "tool_result"}
    turns: list[tuple[str, list[m.Part]]] = []

    def add(role: str, part: m.Part) -> None:
        if turns and turns[-1][0] == role:
            turns[-1][1].append(part)
        else:
            turns.append((role, [part]))

    for item in items:
        if item.kind == "message":
            role = "model" if item.role == "assistant" else "user"
            for img in item.images:
                if img.data is not None:
                    add(role, m.Part(inline_data=m.Blob(mime_type=img.mime_type, data=img.data)))
            if item.text:
                add(role, m.Part(text=item.text))
        elif item.kind == "tool_call" and item.call_id in answered:
            call = m.FunctionCall(
                id=item.call_id or NOT_GIVEN, name=item.name or "", args=dict(item.arguments or {})
            )
            add("model", m.Part(function_call=call))
        elif item.kind == "tool_result":
            key = "error" if item.is_error else "output"
            result = m.FunctionResponse(
                id=item.call_id or NOT_GIVEN, name=item.name or "", response={key: item.result}
            )
            add("user", m.Part(function_response=result))
    return [m.Content(role=role, parts=parts) for role, parts in turns]
