"""Provider-neutral events, commands and the sans-IO protocol interface.

Events are what a session yields to the application; commands are what the
application asks of the provider. Both are frozen attrs values with no Trio in
them. Each event keeps the wire message it came from in `raw` (the decoded
message object of the provider's `messages` module), so nothing the provider
said is lost by the translation.

`RealtimeProtocol` is the interface both providers' sans-IO state machines
implement (`trio_realtime.openai.protocol`, `trio_realtime.gemini.protocol`):
commands and received wire messages in, neutral events and outgoing wire
messages out.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from .audio import AudioFrame

__all__ = [
    "ApproveMcp",
    "AudioOut",
    "ClearAudio",
    "Command",
    "CommitAudio",
    "EndActivity",
    "EndAudioStream",
    "Event",
    "GoingAway",
    "InputCommitted",
    "Interrupt",
    "Interrupted",
    "InvalidToolCall",
    "McpApprovalRequested",
    "McpCall",
    "McpToolsListed",
    "ReportPlayback",
    "Respond",
    "ResponseDone",
    "ResponseStarted",
    "ResumptionUpdate",
    "RealtimeProtocol",
    "Reconnected",
    "SendImage",
    "SendText",
    "SendToolResult",
    "ServerErrorEvent",
    "SessionReady",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "StartActivity",
    "TextOut",
    "ToolCall",
    "ToolCallCancelled",
    "ToolSpec",
    "Transcript",
    "TurnDone",
    "TurnMetrics",
    "UpdateSession",
    "Usage",
]

Role = Literal["user", "assistant"]


# --------------------------------------------------------------------------- values


@attrs.frozen
class ToolSpec:
    """A function tool as both providers declare it.

    `parameters` is a JSON Schema object (``{"type": "object", "properties": …}``).
    `non_blocking` is Gemini's function ``behavior``: `True` ``NON_BLOCKING``,
    `False` ``BLOCKING``, `None` the model's default (OpenAI takes only `None`).
    """

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}
    )
    non_blocking: bool | None = None


@attrs.frozen
class Usage:
    """Token counts for one response (or one turn, for Gemini)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)


# --------------------------------------------------------------------------- events


@attrs.frozen
class Event:
    """Base class of every provider-neutral event."""


@attrs.frozen
class SessionReady(Event):
    """The provider accepted the session configuration; commands may flow."""

    session_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class SessionUpdated(Event):
    """The provider confirmed a configuration change."""

    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class SpeechStarted(Event):
    """The provider's voice activity detection heard the user start speaking."""

    audio_start_ms: int | None = None
    item_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class SpeechStopped(Event):
    """The provider's voice activity detection heard the user stop speaking."""

    audio_end_ms: int | None = None
    item_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class InputCommitted(Event):
    """The user's audio so far became a conversation item."""

    item_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Transcript(Event):
    """Text of what the user said or the assistant spoke.

    With ``final=False`` `text` is the newly arrived fragment; with
    ``final=True`` it is the whole transcript of that item or turn.
    """

    role: Role
    text: str
    final: bool
    item_id: str | None = None
    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ResponseStarted(Event):
    """The model began a response."""

    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ResponseDone(Event):
    """A response ended.

    `status` is ``"completed"``, ``"cancelled"``, ``"incomplete"`` or ``"failed"``;
    `reason` says why when it is not completed, in the same words on both
    providers:

    - ``"turn_detected"``: the user's speech interrupted it (the server's
      barge-in: OpenAI's ``turn_detected``, Gemini's ``interrupted``);
    - ``"client_cancelled"``: the application interrupted it (`interrupt()`);
    - otherwise the provider's reason in lower case: OpenAI's
      ``"max_output_tokens"`` or ``"content_filter"``, Gemini's
      ``turnCompleteReason`` (``"malformed_function_call"``,
      ``"response_rejected"``…).

    The provider's own message, with its own words, is in `raw`.
    """

    response_id: str | None = None
    status: str = "completed"
    reason: str | None = None
    usage: Usage | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class AudioOut(Event):
    """A chunk of the assistant's speech.

    `generation` counts interruptions: audio whose generation is older than the
    session's current one belongs to an interrupted response and is never
    delivered. `raw` is the wire message; for audio chunks decoded on the hot
    path (both providers) it is the parsed JSON dict rather than a message
    object, with the audio field (OpenAI's ``delta``, Gemini's
    ``inlineData.data``) holding the decoded bytes, not the base64 text.
    """

    frame: AudioFrame
    response_id: str | None = None
    item_id: str | None = None
    generation: int = 0
    raw: Any = attrs.field(default=None, eq=False, repr=False)


_AUDIO_OUT_SLOTS = AudioOut.__dict__
_SET_FRAME = _AUDIO_OUT_SLOTS["frame"].__set__
_SET_RESPONSE_ID = _AUDIO_OUT_SLOTS["response_id"].__set__
_SET_ITEM_ID = _AUDIO_OUT_SLOTS["item_id"].__set__
_SET_GENERATION = _AUDIO_OUT_SLOTS["generation"].__set__
_SET_RAW = _AUDIO_OUT_SLOTS["raw"].__set__


def _new_audio_out(
    frame: AudioFrame, response_id: str | None, item_id: str | None, generation: int, raw: Any
) -> AudioOut:
    """`AudioOut` for the protocols' receive hot path (same fields, no keyword parsing).

    Internal: one per received audio chunk, where ``AudioOut(...)`` costs
    twice as much.
    """
    ev = object.__new__(AudioOut)
    _SET_FRAME(ev, frame)
    _SET_RESPONSE_ID(ev, response_id)
    _SET_ITEM_ID(ev, item_id)
    _SET_GENERATION(ev, generation)
    _SET_RAW(ev, raw)
    return ev


@attrs.frozen
class TextOut(Event):
    """A fragment of the assistant's text output (text modality).

    `thought` marks a thought summary (Gemini with ``include_thoughts=True``),
    not part of the answer.
    """

    text: str
    response_id: str | None = None
    item_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)
    thought: bool = False


@attrs.frozen
class ToolCall(Event):
    """The model asks the application to run a function tool."""

    call_id: str
    name: str
    arguments: Mapping[str, Any]
    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class InvalidToolCall(Event):
    """The model called a tool with arguments that are not a JSON object."""

    call_id: str
    name: str
    arguments_text: str
    message: str
    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ToolCallCancelled(Event):
    """The provider withdrew a tool call; its result is no longer wanted."""

    call_id: str
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class McpToolsListed(Event):
    """OpenAI listed the tools of a remote MCP server declared in ``tools=``.

    `tools` holds each listed tool as the server described it (``name``,
    ``description``, ``input_schema``); empty when the listing `failed`.
    """

    server_label: str
    tools: Sequence[Mapping[str, Any]] = ()
    failed: bool = False
    item_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class McpCall(Event):
    """OpenAI called a remote MCP tool itself; `output` or `error` says how it went."""

    item_id: str
    server_label: str
    name: str
    arguments: Any
    output: str | None = None
    error: str | None = None
    approval_request_id: str | None = None
    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class McpApprovalRequested(Event):
    """OpenAI asks whether it may call a remote MCP tool.

    Answer with ``session.approve_mcp(request_id, approve)``; the model waits
    (the turn does not end) until then.
    """

    request_id: str
    server_label: str
    name: str
    arguments: Any
    response_id: str | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Interrupted(Event):
    """The current response was cut off.

    `source` is ``"server"`` for the provider's barge-in and ``"local"`` for
    `interrupt()`. No audio of the interrupted response follows this event.
    """

    response_id: str | None = None
    source: Literal["server", "local"] = "server"
    raw: Any = attrs.field(default=None, eq=False, repr=False)
    # What the cut kept (details: not part of equality, like `raw`).
    #: The assistant item cut at the played position (OpenAI), if any.
    item_id: str | None = attrs.field(default=None, eq=False)
    #: Where that item's audio was cut, in ms (OpenAI ``audio_end_ms``).
    audio_end_ms: int | None = attrs.field(default=None, eq=False)
    #: The item's transcript received up to the cut, i.e. what the user heard
    #: (an estimate aligned on audio arrival); `None` when not known.
    heard_text: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class GoingAway(Event):
    """The provider will close the connection soon (Gemini ``goAway``)."""

    time_left: float | None = None
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ResumptionUpdate(Event):
    """A new session resumption handle (Gemini)."""

    handle: str | None
    resumable: bool
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Reconnected(Event):
    """The session moved to a new connection and carried on.

    Attributes:
        mode: ``"resumed"`` (Gemini resumed the session with its handle: the
            service kept the whole conversation), ``"replayed"`` (a new
            session was given the history so far as items: text survives,
            audio context does not), or ``"fresh"`` (a new session without the
            conversation, e.g. no resumption handle had arrived yet).
        reason: why the session moved (``"go_away"``, ``"connection_lost"``,
            ``"update"``).
        attempts: connection attempts it took (1 when the first one worked).
        downtime: seconds between losing (or leaving) the old connection and
            the new one being ready.
        audio_buffered: input audio chunks accepted while no connection was
            open, sent once the new one was ready.
        audio_dropped: input audio chunks dropped because the gap outlasted
            the buffer (oldest first).
        interrupted_response: the response cut by the move, if one was in
            progress (it was also ended with `ResponseDone` or `Interrupted`).
        cancelled_calls: tool calls of the old connection whose results can no
            longer be delivered (each also got `ToolCallCancelled`).
        failures: why each failed attempt before this one failed.
    """

    mode: Literal["resumed", "replayed", "fresh"] = "resumed"
    reason: str = "connection_lost"
    attempts: int = 1
    downtime: float = 0.0
    audio_buffered: int = 0
    audio_dropped: int = 0
    interrupted_response: str | None = None
    cancelled_calls: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ServerErrorEvent(Event):
    """The provider reported an error.

    `fatal` is true when the session cannot go on after it.
    """

    message: str
    code: str | int | None = None
    type: str | None = None
    param: str | None = None
    event_id: str | None = None
    fatal: bool = False
    raw: Any = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class TurnDone(Event):
    """The assistant finished its turn: nothing more will come until new input.

    A turn is everything the assistant says and does in answer to one user
    input, across the tool round trips in between: on OpenAI that is one
    response per round trip (a `ResponseDone` each), on Gemini one model turn.
    `TurnDone` comes once, right after the turn's last `ResponseDone`, on both
    providers. While a tool call of the turn waits for its result (run by the
    session or sent by the application with `send_tool_result`), the turn goes
    on; it ends when the model has nothing more to say.

    `status` is ``"completed"``, ``"interrupted"`` (the user barged in, or
    `interrupt()`; `reason` is ``"turn_detected"`` or ``"client_cancelled"``),
    ``"incomplete"`` or ``"failed"`` (`reason` says why). `response_ids` are
    the turn's responses in order, `usage` their summed token counts.
    """

    status: str = "completed"
    reason: str | None = None
    response_ids: tuple[str | None, ...] = ()
    usage: Usage | None = None
    tool_calls: int = 0


@attrs.frozen
class TurnMetrics(Event):
    """Timings and sizes of one assistant turn; delivered right after its `TurnDone`.

    Times are seconds on the session's clock (`trio.current_time`). The turn's
    input ends at the provider's end-of-speech signal (server VAD), at
    `commit_audio`/`end_activity`, or at `send_text`, whichever came last
    before the turn started (`input_end` says which: ``"speech_stopped"``,
    ``"commit"``, ``"activity_end"``, ``"text"``, or `None` when the turn
    started without one, e.g. a proactive reply). Latencies measure arrival
    at the client (decoded), not when the application read the event.

    Attributes:
        status: the turn's `TurnDone.status`.
        interrupted: whether the turn was cut off (barge-in or `interrupt()`).
        input_end: what ended the user's input (see above).
        time_to_first_audio: input end -> first assistant audio chunk.
        time_to_first_text: input end -> first assistant transcript or text.
        response_duration: first response started -> turn done.
        audio_in_seconds: user audio sent since the previous turn ended.
        audio_out_seconds: assistant audio received in this turn.
        input_tokens / output_tokens: summed over the turn's responses.
        input_tokens_by_modality / output_tokens_by_modality: e.g.
            ``{"audio": 120, "text": 30}``, as far as the provider reports them.
        response_ids: the turn's responses, in order.
    """

    status: str = "completed"
    interrupted: bool = False
    input_end: str | None = None
    time_to_first_audio: float | None = None
    time_to_first_text: float | None = None
    response_duration: float | None = None
    audio_in_seconds: float = 0.0
    audio_out_seconds: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_by_modality: Mapping[str, int] = attrs.field(factory=dict)
    output_tokens_by_modality: Mapping[str, int] = attrs.field(factory=dict)
    response_ids: tuple[str | None, ...] = ()


# --------------------------------------------------------------------------- commands


@attrs.frozen
class Command:
    """Base class of every provider-neutral command."""


@attrs.frozen
class SendText(Command):
    """Add a user text message; ask for a reply when `respond` is true."""

    text: str
    respond: bool = True


@attrs.frozen
class SendImage(Command):
    """Add an image (encoded bytes, e.g. JPEG or PNG) to the user's input."""

    data: bytes
    mime_type: str = "image/jpeg"
    respond: bool = False


@attrs.frozen
class Respond(Command):
    """Ask the model to respond now, optionally with per-response instructions."""

    instructions: str | None = None
    out_of_band: bool = False
    metadata: Mapping[str, str] | None = None


@attrs.frozen
class Interrupt(Command):
    """Cut off the current response (cancel it and truncate what was not played)."""


@attrs.frozen
class CommitAudio(Command):
    """End the user's turn in push-to-talk mode (OpenAI commit; Gemini activity end)."""

    respond: bool = True


@attrs.frozen
class ClearAudio(Command):
    """Discard audio sent since the last commit."""


@attrs.frozen
class StartActivity(Command):
    """Mark the start of user speech when automatic detection is off."""


@attrs.frozen
class EndActivity(Command):
    """Mark the end of user speech when automatic detection is off."""


@attrs.frozen
class EndAudioStream(Command):
    """Tell the provider the microphone stream paused or ended."""


@attrs.frozen
class SendToolResult(Command):
    """Answer a tool call. `output` is JSON-serialisable; `is_error` marks a failure.

    `scheduling` (``"interrupt"``, ``"when_idle"``, ``"silent"``) and
    `will_continue` (more results for the same call follow) are Gemini's, for
    non-blocking calls only; OpenAI refuses them.
    """

    call_id: str
    output: Any
    is_error: bool = False
    respond: bool = True
    scheduling: str | None = None
    will_continue: bool = False


@attrs.frozen
class ApproveMcp(Command):
    """Answer an `McpApprovalRequested`: allow the MCP call or refuse it (OpenAI only).

    `respond` asks the model to go on once every pending request and call of
    its response is answered.
    """

    request_id: str
    approve: bool
    reason: str | None = None
    respond: bool = True


@attrs.frozen
class ReportPlayback(Command):
    """Say how much of a response's audio the application has played, in ms."""

    played_ms: int
    item_id: str | None = None


@attrs.frozen
class UpdateSession(Command):
    """Change the session's configuration. Fields left `None` stay as they are."""

    instructions: str | None = None
    voice: str | None = None
    tools: Sequence[ToolSpec] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


# --------------------------------------------------------------------------- protocol


class RealtimeProtocol(abc.ABC):
    """A provider's sans-IO state machine.

    No Trio, no clock, no I/O: `receive` takes one wire message as it came off
    the socket and returns the neutral events it means; `handle` takes a
    command and returns the events it causes locally (for example
    `Interrupted` for `Interrupt`). Outgoing wire messages accumulate in an
    outbox drained by `data_to_send`, except input audio, which
    `audio_message` encodes directly so the runtime can queue it behind
    control messages.
    """

    #: Sample rate the provider wants for input audio.
    input_sample_rate: int
    #: Sample rate of the provider's output audio.
    output_sample_rate: int
    #: Whether `UpdateSession` changes the session on the live connection.
    #: When false (Gemini: the ``setup`` is fixed), the runtime applies an
    #: update by resuming the session on a new connection configured anew.
    updates_live: bool = True
    #: The provider's latest error event, if any (to explain a close that follows it).
    last_error: ServerErrorEvent | None = None

    @property
    def resumption_handle(self) -> str | None:
        """A handle a new connection can resume this session with, if any.

        `None` when the provider has no resumption (OpenAI) or has not sent a
        resumable handle yet.
        """
        return None

    @property
    def session_id(self) -> str | None:
        """The provider's id of the session, once known; `None` where the wire has none."""
        return None

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether the provider accepted the session and commands may be sent."""

    @property
    @abc.abstractmethod
    def generation(self) -> int:
        """Number of interruptions so far; stamped on every `AudioOut`."""

    def shift_generation(self, by: int) -> bool:
        """Count `generation` on from `by` more (a session carried over from an
        earlier connection), and say whether this machine does.

        The default does not, and returns `False`: the session then adds the
        difference to each `AudioOut` itself, which costs a copy per chunk.
        """
        return False

    @abc.abstractmethod
    def start(self) -> None:
        """Queue the opening messages (Gemini ``setup``; OpenAI's is sent on ``session.created``)."""

    @abc.abstractmethod
    def receive(self, data: str | bytes) -> list[Event]:
        """Decode one wire message, update state, and return the events it means.

        Raises:
            trio_realtime.errors.ProtocolError: the message is malformed.
        """

    @abc.abstractmethod
    def handle(self, command: Command) -> list[Event]:
        """Apply a command: queue wire messages, return the local events it causes.

        Raises:
            trio_realtime.errors.ProtocolError: (``side="local"``) the command is
                not valid in the current state.
        """

    @abc.abstractmethod
    def audio_message(self, frame: AudioFrame) -> str:
        """Encode one chunk of input audio, already at `input_sample_rate`, mono."""

    @abc.abstractmethod
    def data_to_send(self) -> list[str]:
        """Drain and return the outbox, oldest first."""
