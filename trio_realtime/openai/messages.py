"""Every OpenAI Realtime (GA) wire message as a frozen attrs class.

Pure data: no Trio, no I/O. `trio_realtime.openai.codec` moves these classes to
and from JSON.

Conventions:

- A wire event class is the PascalCase of its ``type`` and keeps that type in
  ``TYPE`` (``input_audio_buffer.append`` -> `InputAudioBufferAppend`).
- Optional fields default to `NOT_GIVEN` (the key is absent on the wire);
  `None` is an explicit JSON ``null``. Both survive a round trip, which matters
  here: ``turn_detection: null`` turns server VAD off, while an absent
  ``turn_detection`` leaves it as it was.
- Every class keeps the wire keys it does not model in ``extra``; they go back
  out unchanged.
- Enum-like fields are plain `str`, so values the service adds later decode.
- Base64 audio fields are `bytes`.
- A polymorphic object (item, tool, turn detection…) whose ``type`` is unknown
  decodes to an ``Unknown…`` class holding the raw dict, as does an unknown event.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from .._wire import NOT_GIVEN, NotGiven

__all__ = [
    "AudioConfig",
    "AudioFormat",
    "AudioInput",
    "AudioOutput",
    "AudioTranscription",
    "CLIENT_EVENT_CLASSES",
    "CachedTokensDetails",
    "ClientEvent",
    "ContentPart",
    "Conversation",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreate",
    "ConversationItemCreated",
    "ConversationItemDelete",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieve",
    "ConversationItemRetrieved",
    "ConversationItemTruncate",
    "ConversationItemTruncated",
    "Error",
    "ErrorInfo",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionTool",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCleared",
    "InputAudioBufferCommit",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputTokenDetails",
    "Item",
    "ItemReference",
    "LogProb",
    "McpApprovalFilter",
    "McpApprovalRequestItem",
    "McpApprovalResponseItem",
    "McpCallItem",
    "McpError",
    "McpHttpError",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "McpListToolsItem",
    "McpListedTool",
    "McpProtocolError",
    "McpTool",
    "McpToolExecutionError",
    "McpToolFilter",
    "MessageItem",
    "NoiseReduction",
    "OutputAudioBufferClear",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "OutputTokenDetails",
    "Prompt",
    "RateLimit",
    "RateLimitsUpdated",
    "RealtimeSession",
    "Reasoning",
    "Response",
    "ResponseAudio",
    "ResponseCancel",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreate",
    "ResponseCreateParams",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ResponseStatusDetails",
    "ResponseStatusError",
    "RetentionRatioTruncation",
    "SERVER_EVENT_CLASSES",
    "SemanticVad",
    "ServerEvent",
    "ServerVad",
    "Session",
    "SessionCreated",
    "SessionUpdate",
    "SessionUpdated",
    "TokenLimits",
    "Tool",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "TracingConfig",
    "TranscriptTokenDetails",
    "TranscriptUsageDuration",
    "TranscriptUsageTokens",
    "TranscriptionError",
    "TranscriptionLanguage",
    "TranscriptionSession",
    "TranscriptionSessionAudio",
    "TurnDetection",
    "UnknownClientEvent",
    "UnknownItem",
    "UnknownMcpError",
    "UnknownServerEvent",
    "UnknownSession",
    "UnknownTool",
    "UnknownToolChoice",
    "UnknownTranscriptUsage",
    "UnknownTruncation",
    "UnknownTurnDetection",
    "Usage",
    "VoiceId",
]

# =========================================================================== session pieces


@attrs.frozen(kw_only=True)
class AudioFormat:
    """An audio format: ``{"type": "audio/pcm", "rate": 24000}``, ``audio/pcmu`` or ``audio/pcma``."""

    type: str | NotGiven = NOT_GIVEN
    rate: int | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class NoiseReduction:
    """Input noise reduction: ``type`` ``near_field`` or ``far_field``, optional ``strength``."""

    type: str | NotGiven | None = NOT_GIVEN
    strength: float | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AudioTranscription:
    """Input audio transcription settings (a separate ASR model)."""

    model: str | NotGiven | None = NOT_GIVEN
    language: str | NotGiven | None = NOT_GIVEN
    languages: list[str] | NotGiven | None = NOT_GIVEN
    prompt: str | NotGiven | None = NOT_GIVEN
    keywords: list[str] | NotGiven | None = NOT_GIVEN
    delay: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ServerVad:
    """Turn detection by speech energy (``server_vad``)."""

    TYPE: ClassVar[str] = "server_vad"
    threshold: float | NotGiven | None = NOT_GIVEN
    prefix_padding_ms: int | NotGiven | None = NOT_GIVEN
    silence_duration_ms: int | NotGiven | None = NOT_GIVEN
    idle_timeout_ms: int | NotGiven | None = NOT_GIVEN
    create_response: bool | NotGiven | None = NOT_GIVEN
    interrupt_response: bool | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SemanticVad:
    """Turn detection by a model judging whether the user finished (``semantic_vad``)."""

    TYPE: ClassVar[str] = "semantic_vad"
    eagerness: str | NotGiven | None = NOT_GIVEN
    create_response: bool | NotGiven | None = NOT_GIVEN
    interrupt_response: bool | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownTurnDetection:
    """A turn detection object of a type this library does not know."""

    raw: dict[str, Any]


TurnDetection = ServerVad | SemanticVad | UnknownTurnDetection


@attrs.frozen(kw_only=True)
class VoiceId:
    """A custom voice, by id."""

    id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AudioInput:
    """``session.audio.input``."""

    format: AudioFormat | NotGiven | None = NOT_GIVEN
    noise_reduction: NoiseReduction | NotGiven | None = NOT_GIVEN
    transcription: AudioTranscription | NotGiven | None = NOT_GIVEN
    turn_detection: TurnDetection | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AudioOutput:
    """``session.audio.output`` (also ``response.audio.output``)."""

    format: AudioFormat | NotGiven | None = NOT_GIVEN
    voice: str | VoiceId | NotGiven | None = NOT_GIVEN
    speed: float | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class AudioConfig:
    """``session.audio``."""

    input: AudioInput | NotGiven | None = NOT_GIVEN
    output: AudioOutput | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FunctionTool:
    """A function the client runs when the model calls it."""

    TYPE: ClassVar[str] = "function"
    name: str | NotGiven | None = NOT_GIVEN
    description: str | NotGiven | None = NOT_GIVEN
    parameters: dict[str, Any] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpToolFilter:
    """Which MCP tools a rule applies to."""

    tool_names: list[str] | NotGiven | None = NOT_GIVEN
    read_only: bool | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpApprovalFilter:
    """Per-tool approval rules of an MCP tool."""

    always: McpToolFilter | NotGiven | None = NOT_GIVEN
    never: McpToolFilter | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpTool:
    """A remote MCP server whose tools OpenAI calls itself."""

    TYPE: ClassVar[str] = "mcp"
    server_label: str
    server_url: str | NotGiven | None = NOT_GIVEN
    connector_id: str | NotGiven | None = NOT_GIVEN
    tunnel_id: str | NotGiven | None = NOT_GIVEN
    allowed_tools: list[str] | McpToolFilter | NotGiven | None = NOT_GIVEN
    require_approval: str | McpApprovalFilter | NotGiven | None = NOT_GIVEN
    headers: dict[str, str] | NotGiven | None = NOT_GIVEN
    authorization: str | NotGiven | None = NOT_GIVEN
    server_description: str | NotGiven | None = NOT_GIVEN
    defer_loading: bool | NotGiven | None = NOT_GIVEN
    allowed_callers: list[str] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownTool:
    """A tool of a type this library does not know."""

    raw: dict[str, Any]


Tool = FunctionTool | McpTool | UnknownTool


@attrs.frozen(kw_only=True)
class ToolChoiceFunction:
    """Force a call of the named function."""

    TYPE: ClassVar[str] = "function"
    name: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ToolChoiceMcp:
    """Force a call of an MCP server's tool."""

    TYPE: ClassVar[str] = "mcp"
    server_label: str
    name: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownToolChoice:
    """A tool choice object of a type this library does not know."""

    raw: dict[str, Any]


@attrs.frozen(kw_only=True)
class TracingConfig:
    """Tracing settings (``tracing`` may also be ``"auto"`` or null)."""

    workflow_name: str | NotGiven | None = NOT_GIVEN
    group_id: str | NotGiven | None = NOT_GIVEN
    metadata: Any = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TokenLimits:
    """Token limits of the ``retention_ratio`` truncation."""

    post_instructions: int | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class RetentionRatioTruncation:
    """Context truncation that drops down to a fraction of the limit."""

    TYPE: ClassVar[str] = "retention_ratio"
    retention_ratio: float
    token_limits: TokenLimits | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownTruncation:
    """A truncation object of a type this library does not know."""

    raw: dict[str, Any]


@attrs.frozen(kw_only=True)
class Prompt:
    """A stored prompt template reference."""

    id: str
    version: str | NotGiven | None = NOT_GIVEN
    variables: dict[str, Any] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Reasoning:
    """Reasoning settings (reasoning models only)."""

    effort: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class RealtimeSession:
    """A speech-to-speech session configuration (``type: "realtime"``).

    Partial in ``session.update``; full and effective in ``session.created`` /
    ``session.updated`` (where ``object``, ``id`` and ``expires_at`` appear).
    """

    TYPE: ClassVar[str] = "realtime"
    object: str | NotGiven = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN
    expires_at: int | NotGiven | None = NOT_GIVEN
    model: str | NotGiven | None = NOT_GIVEN
    instructions: str | NotGiven | None = NOT_GIVEN
    output_modalities: list[str] | NotGiven | None = NOT_GIVEN
    max_output_tokens: int | str | NotGiven | None = NOT_GIVEN
    audio: AudioConfig | NotGiven | None = NOT_GIVEN
    tools: list[Tool] | NotGiven | None = NOT_GIVEN
    tool_choice: str | ToolChoiceFunction | ToolChoiceMcp | UnknownToolChoice | NotGiven | None = (
        NOT_GIVEN
    )
    tracing: str | TracingConfig | NotGiven | None = NOT_GIVEN
    truncation: str | RetentionRatioTruncation | UnknownTruncation | NotGiven | None = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN
    include: list[str] | NotGiven | None = NOT_GIVEN
    reasoning: Reasoning | NotGiven | None = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptionSessionAudio:
    """``session.audio`` of a transcription session (input only)."""

    input: AudioInput | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptionSession:
    """A transcription-only session configuration (``type: "transcription"``)."""

    TYPE: ClassVar[str] = "transcription"
    object: str | NotGiven = NOT_GIVEN
    id: str | NotGiven = NOT_GIVEN
    expires_at: int | NotGiven | None = NOT_GIVEN
    audio: TranscriptionSessionAudio | NotGiven | None = NOT_GIVEN
    include: list[str] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownSession:
    """A session object without a known ``type`` (kept raw)."""

    raw: dict[str, Any]


Session = RealtimeSession | TranscriptionSession | UnknownSession


# =========================================================================== items


@attrs.frozen(kw_only=True)
class ContentPart:
    """One content part of a message item.

    ``type`` is ``input_text``/``input_audio``/``input_image`` for user and
    system messages, ``output_text``/``output_audio`` for assistant items, and
    ``text``/``audio`` inside ``response.content_part.*`` events.
    """

    type: str | NotGiven | None = NOT_GIVEN
    text: str | NotGiven | None = NOT_GIVEN
    audio: bytes | NotGiven | None = NOT_GIVEN
    transcript: str | NotGiven | None = NOT_GIVEN
    image_url: str | NotGiven | None = NOT_GIVEN
    detail: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class MessageItem:
    """A message of the ``system``, ``user`` or ``assistant`` role."""

    TYPE: ClassVar[str] = "message"
    role: str
    content: list[ContentPart]
    id: str | NotGiven | None = NOT_GIVEN
    object: str | NotGiven | None = NOT_GIVEN
    status: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FunctionCallItem:
    """The model's call of a function tool; ``arguments`` is JSON text."""

    TYPE: ClassVar[str] = "function_call"
    name: str
    arguments: str
    call_id: str | NotGiven | None = NOT_GIVEN
    id: str | NotGiven | None = NOT_GIVEN
    object: str | NotGiven | None = NOT_GIVEN
    status: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FunctionCallOutputItem:
    """The client's answer to a function call; ``output`` is text (JSON by convention)."""

    TYPE: ClassVar[str] = "function_call_output"
    call_id: str
    output: str
    id: str | NotGiven | None = NOT_GIVEN
    object: str | NotGiven | None = NOT_GIVEN
    status: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpApprovalResponseItem:
    """The client's answer to an MCP approval request."""

    TYPE: ClassVar[str] = "mcp_approval_response"
    id: str
    approval_request_id: str
    approve: bool
    reason: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpListedTool:
    """A tool an MCP server offers."""

    name: str
    input_schema: Any
    annotations: Any = NOT_GIVEN
    description: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpListToolsItem:
    """The tools an MCP server listed."""

    TYPE: ClassVar[str] = "mcp_list_tools"
    server_label: str
    tools: list[McpListedTool]
    id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpProtocolError:
    """An MCP protocol error."""

    TYPE: ClassVar[str] = "protocol_error"
    code: int
    message: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpToolExecutionError:
    """An MCP tool failed."""

    TYPE: ClassVar[str] = "tool_execution_error"
    message: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpHttpError:
    """An MCP server answered with an HTTP error."""

    TYPE: ClassVar[str] = "http_error"
    code: int
    message: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownMcpError:
    """An MCP error of a type this library does not know."""

    raw: dict[str, Any]


McpError = McpProtocolError | McpToolExecutionError | McpHttpError | UnknownMcpError


@attrs.frozen(kw_only=True)
class McpCallItem:
    """A call of an MCP tool made by the service."""

    TYPE: ClassVar[str] = "mcp_call"
    id: str
    name: str
    arguments: str
    server_label: str
    approval_request_id: str | NotGiven | None = NOT_GIVEN
    error: McpError | NotGiven | None = NOT_GIVEN
    output: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpApprovalRequestItem:
    """The service asks the client to approve an MCP tool call."""

    TYPE: ClassVar[str] = "mcp_approval_request"
    id: str
    name: str
    arguments: str
    server_label: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ItemReference:
    """A reference to an existing item (only in ``response.create`` ``input``)."""

    TYPE: ClassVar[str] = "item_reference"
    id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownItem:
    """A conversation item of a type this library does not know."""

    raw: dict[str, Any]


Item = (
    MessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | McpApprovalResponseItem
    | McpListToolsItem
    | McpCallItem
    | McpApprovalRequestItem
    | ItemReference
    | UnknownItem
)


# =========================================================================== responses


@attrs.frozen(kw_only=True)
class ResponseStatusError:
    """Why a response failed."""

    type: str | NotGiven | None = NOT_GIVEN
    code: str | NotGiven | None = NOT_GIVEN
    message: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseStatusDetails:
    """Details of a response's final status (``reason``: ``turn_detected``, ``client_cancelled``…)."""

    type: str | NotGiven | None = NOT_GIVEN
    reason: str | NotGiven | None = NOT_GIVEN
    error: ResponseStatusError | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class CachedTokensDetails:
    """Cached input tokens by modality."""

    text_tokens: int | NotGiven | None = NOT_GIVEN
    audio_tokens: int | NotGiven | None = NOT_GIVEN
    image_tokens: int | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputTokenDetails:
    """Input tokens by modality."""

    text_tokens: int | NotGiven | None = NOT_GIVEN
    audio_tokens: int | NotGiven | None = NOT_GIVEN
    image_tokens: int | NotGiven | None = NOT_GIVEN
    cached_tokens: int | NotGiven | None = NOT_GIVEN
    cached_tokens_details: CachedTokensDetails | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OutputTokenDetails:
    """Output tokens by modality."""

    text_tokens: int | NotGiven | None = NOT_GIVEN
    audio_tokens: int | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Usage:
    """Token usage of one response."""

    total_tokens: int | NotGiven | None = NOT_GIVEN
    input_tokens: int | NotGiven | None = NOT_GIVEN
    output_tokens: int | NotGiven | None = NOT_GIVEN
    input_token_details: InputTokenDetails | NotGiven | None = NOT_GIVEN
    output_token_details: OutputTokenDetails | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseAudio:
    """``response.audio``: the output settings of one response."""

    output: AudioOutput | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Response:
    """A response object as the server reports it (``response.created``/``.done``)."""

    id: str | NotGiven | None = NOT_GIVEN
    object: str | NotGiven | None = NOT_GIVEN
    status: str | NotGiven | None = NOT_GIVEN
    status_details: ResponseStatusDetails | NotGiven | None = NOT_GIVEN
    output: list[Item] | NotGiven | None = NOT_GIVEN
    conversation_id: str | NotGiven | None = NOT_GIVEN
    output_modalities: list[str] | NotGiven | None = NOT_GIVEN
    max_output_tokens: int | str | NotGiven | None = NOT_GIVEN
    audio: ResponseAudio | NotGiven | None = NOT_GIVEN
    usage: Usage | NotGiven | None = NOT_GIVEN
    metadata: dict[str, str] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseCreateParams:
    """Per-response overrides of ``response.create`` (all optional)."""

    conversation: str | NotGiven | None = NOT_GIVEN
    input: list[Item] | NotGiven | None = NOT_GIVEN
    instructions: str | NotGiven | None = NOT_GIVEN
    tools: list[Tool] | NotGiven | None = NOT_GIVEN
    tool_choice: str | ToolChoiceFunction | ToolChoiceMcp | UnknownToolChoice | NotGiven | None = (
        NOT_GIVEN
    )
    max_output_tokens: int | str | NotGiven | None = NOT_GIVEN
    output_modalities: list[str] | NotGiven | None = NOT_GIVEN
    prompt: Prompt | NotGiven | None = NOT_GIVEN
    reasoning: Reasoning | NotGiven | None = NOT_GIVEN
    parallel_tool_calls: bool | NotGiven | None = NOT_GIVEN
    audio: ResponseAudio | NotGiven | None = NOT_GIVEN
    metadata: dict[str, str] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


# =========================================================================== small values


@attrs.frozen(kw_only=True)
class ErrorInfo:
    """The ``error`` object of an ``error`` event."""

    type: str
    message: str
    code: str | int | NotGiven | None = NOT_GIVEN
    param: str | NotGiven | None = NOT_GIVEN
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptionError:
    """Why an input transcription failed."""

    type: str | NotGiven | None = NOT_GIVEN
    code: str | NotGiven | None = NOT_GIVEN
    message: str | NotGiven | None = NOT_GIVEN
    param: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Conversation:
    """The conversation object of ``conversation.created``."""

    id: str | NotGiven | None = NOT_GIVEN
    object: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class RateLimit:
    """One rate limit (``requests`` or ``tokens``)."""

    name: str | NotGiven | None = NOT_GIVEN
    limit: int | NotGiven | None = NOT_GIVEN
    remaining: int | NotGiven | None = NOT_GIVEN
    reset_seconds: float | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class LogProb:
    """Log probability of one transcription token."""

    token: str
    bytes: list[int]
    logprob: float
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptionLanguage:
    """A language detected in the input audio."""

    code: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptTokenDetails:
    """Input tokens of a transcription by modality."""

    text_tokens: int | NotGiven | None = NOT_GIVEN
    audio_tokens: int | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptUsageTokens:
    """Transcription usage billed by tokens."""

    TYPE: ClassVar[str] = "tokens"
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: TranscriptTokenDetails | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class TranscriptUsageDuration:
    """Transcription usage billed by audio duration."""

    TYPE: ClassVar[str] = "duration"
    seconds: float
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownTranscriptUsage:
    """A transcription usage object of a type this library does not know."""

    raw: dict[str, Any]


# =========================================================================== client events


@attrs.frozen(kw_only=True)
class SessionUpdate:
    """Change the session configuration (``session.type`` is required)."""

    TYPE: ClassVar[str] = "session.update"
    session: Session
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferAppend:
    """Append audio (in the session's input format) to the input buffer."""

    TYPE: ClassVar[str] = "input_audio_buffer.append"
    audio: bytes
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferCommit:
    """Turn the buffered input audio into a user message item."""

    TYPE: ClassVar[str] = "input_audio_buffer.commit"
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferClear:
    """Discard the buffered input audio."""

    TYPE: ClassVar[str] = "input_audio_buffer.clear"
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OutputAudioBufferClear:
    """Stop server-side playout (WebRTC/SIP only)."""

    TYPE: ClassVar[str] = "output_audio_buffer.clear"
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemCreate:
    """Add an item to the conversation (after ``previous_item_id``; ``"root"`` = first)."""

    TYPE: ClassVar[str] = "conversation.item.create"
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemRetrieve:
    """Ask for the server's copy of an item (with audio)."""

    TYPE: ClassVar[str] = "conversation.item.retrieve"
    item_id: str
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemTruncate:
    """Cut an assistant item's audio at ``audio_end_ms`` (what the user heard)."""

    TYPE: ClassVar[str] = "conversation.item.truncate"
    item_id: str
    content_index: int
    audio_end_ms: int
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemDelete:
    """Remove an item from the conversation."""

    TYPE: ClassVar[str] = "conversation.item.delete"
    item_id: str
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseCreate:
    """Ask the model for a response, optionally with per-response overrides."""

    TYPE: ClassVar[str] = "response.create"
    response: ResponseCreateParams | NotGiven | None = NOT_GIVEN
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseCancel:
    """Cancel a response in progress (by default the conversation's active one)."""

    TYPE: ClassVar[str] = "response.cancel"
    response_id: str | NotGiven | None = NOT_GIVEN
    event_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownClientEvent:
    """A client event whose ``type`` this library does not know (kept raw)."""

    raw: dict[str, Any]

    @property
    def type(self) -> str:
        """The event's ``type``."""
        return str(self.raw.get("type"))


ClientEvent = (
    ConversationItemCreate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | InputAudioBufferAppend
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | InputAudioBufferCommit
    | ResponseCancel
    | ResponseCreate
    | SessionUpdate
    | UnknownClientEvent
)

#: The eleven GA client event classes.
CLIENT_EVENT_CLASSES: tuple[type, ...] = (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    OutputAudioBufferClear,
    InputAudioBufferCommit,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
)


# =========================================================================== server events


@attrs.frozen(kw_only=True)
class SessionCreated:
    """First server event: the session exists, with its default configuration."""

    TYPE: ClassVar[str] = "session.created"
    event_id: str
    session: Session
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SessionUpdated:
    """The session configuration changed; ``session`` is the full effective one."""

    TYPE: ClassVar[str] = "session.updated"
    event_id: str
    session: Session
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationCreated:
    """A conversation was created (older servers only)."""

    TYPE: ClassVar[str] = "conversation.created"
    event_id: str
    conversation: Conversation
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Error:
    """The server reports an error; the session usually continues."""

    TYPE: ClassVar[str] = "error"
    event_id: str
    error: ErrorInfo
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class RateLimitsUpdated:
    """Current rate limits."""

    TYPE: ClassVar[str] = "rate_limits.updated"
    event_id: str
    rate_limits: list[RateLimit]
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferSpeechStarted:
    """Server VAD heard speech start; ``item_id`` is the user item to come."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_started"
    event_id: str
    audio_start_ms: int
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferSpeechStopped:
    """Server VAD heard speech stop."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_stopped"
    event_id: str
    audio_end_ms: int
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferCommitted:
    """The input buffer became the user item ``item_id``."""

    TYPE: ClassVar[str] = "input_audio_buffer.committed"
    event_id: str
    item_id: str
    previous_item_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferCleared:
    """The input buffer was cleared."""

    TYPE: ClassVar[str] = "input_audio_buffer.cleared"
    event_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferTimeoutTriggered:
    """Server VAD's idle timeout fired and committed the (silent) buffer."""

    TYPE: ClassVar[str] = "input_audio_buffer.timeout_triggered"
    event_id: str
    audio_start_ms: int
    audio_end_ms: int
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class InputAudioBufferDtmfEventReceived:
    """A DTMF key press on a SIP call (no ``event_id``)."""

    TYPE: ClassVar[str] = "input_audio_buffer.dtmf_event_received"
    event: str
    received_at: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemAdded:
    """An item entered the conversation."""

    TYPE: ClassVar[str] = "conversation.item.added"
    event_id: str
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemDone:
    """An item is final (audio bytes omitted)."""

    TYPE: ClassVar[str] = "conversation.item.done"
    event_id: str
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemCreated:
    """An item was created (the beta name; GA sends added/done)."""

    TYPE: ClassVar[str] = "conversation.item.created"
    event_id: str
    item: Item
    previous_item_id: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemRetrieved:
    """The server's full copy of an item, audio included."""

    TYPE: ClassVar[str] = "conversation.item.retrieved"
    event_id: str
    item: Item
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemDeleted:
    """An item was removed."""

    TYPE: ClassVar[str] = "conversation.item.deleted"
    event_id: str
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemTruncated:
    """An assistant item's audio was cut and its transcript dropped."""

    TYPE: ClassVar[str] = "conversation.item.truncated"
    event_id: str
    item_id: str
    content_index: int
    audio_end_ms: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionDelta:
    """A fragment of the user's input transcript."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.delta"
    event_id: str
    item_id: str
    content_index: int | NotGiven | None = NOT_GIVEN
    delta: str | NotGiven | None = NOT_GIVEN
    logprobs: list[LogProb] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionCompleted:
    """The whole transcript of a user audio item."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.completed"
    event_id: str
    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptUsageTokens | TranscriptUsageDuration | UnknownTranscriptUsage
    logprobs: list[LogProb] | NotGiven | None = NOT_GIVEN
    languages: list[TranscriptionLanguage] | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionFailed:
    """Transcribing a user audio item failed."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.failed"
    event_id: str
    item_id: str
    content_index: int
    error: TranscriptionError
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ConversationItemInputAudioTranscriptionSegment:
    """A diarized segment of a user audio item's transcript."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.segment"
    event_id: str
    item_id: str
    content_index: int
    id: str
    text: str
    speaker: str
    start: float
    end: float
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseCreated:
    """A response started (``status`` ``in_progress``)."""

    TYPE: ClassVar[str] = "response.created"
    event_id: str
    response: Response
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseDone:
    """A response ended, whatever the outcome (status, details and usage)."""

    TYPE: ClassVar[str] = "response.done"
    event_id: str
    response: Response
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputItemAdded:
    """A response began an output item."""

    TYPE: ClassVar[str] = "response.output_item.added"
    event_id: str
    response_id: str
    output_index: int
    item: Item
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputItemDone:
    """A response finished an output item."""

    TYPE: ClassVar[str] = "response.output_item.done"
    event_id: str
    response_id: str
    output_index: int
    item: Item
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseContentPartAdded:
    """A content part began (``part.type`` ``audio`` or ``text``)."""

    TYPE: ClassVar[str] = "response.content_part.added"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseContentPartDone:
    """A content part is final."""

    TYPE: ClassVar[str] = "response.content_part.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputTextDelta:
    """A fragment of text output."""

    TYPE: ClassVar[str] = "response.output_text.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputTextDone:
    """The whole text output of a content part."""

    TYPE: ClassVar[str] = "response.output_text.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputAudioDelta:
    """A chunk of output audio (decoded from base64)."""

    TYPE: ClassVar[str] = "response.output_audio.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: bytes
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputAudioDone:
    """The output audio of a content part is complete."""

    TYPE: ClassVar[str] = "response.output_audio.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputAudioTranscriptDelta:
    """A fragment of the transcript of the output audio."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseOutputAudioTranscriptDone:
    """The whole transcript of the output audio of a content part."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseFunctionCallArgumentsDelta:
    """A fragment of a function call's JSON arguments."""

    TYPE: ClassVar[str] = "response.function_call_arguments.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseFunctionCallArgumentsDone:
    """A function call is complete: name and full JSON arguments."""

    TYPE: ClassVar[str] = "response.function_call_arguments.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseMcpCallArgumentsDelta:
    """A fragment of an MCP call's arguments."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.delta"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | NotGiven | None = NOT_GIVEN
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseMcpCallArgumentsDone:
    """An MCP call's arguments are complete."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.done"
    event_id: str
    response_id: str
    item_id: str
    output_index: int
    arguments: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseMcpCallInProgress:
    """An MCP call started."""

    TYPE: ClassVar[str] = "response.mcp_call.in_progress"
    event_id: str
    item_id: str
    output_index: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseMcpCallCompleted:
    """An MCP call succeeded."""

    TYPE: ClassVar[str] = "response.mcp_call.completed"
    event_id: str
    item_id: str
    output_index: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ResponseMcpCallFailed:
    """An MCP call failed."""

    TYPE: ClassVar[str] = "response.mcp_call.failed"
    event_id: str
    item_id: str
    output_index: int
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpListToolsInProgress:
    """Listing an MCP server's tools started."""

    TYPE: ClassVar[str] = "mcp_list_tools.in_progress"
    event_id: str
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpListToolsCompleted:
    """Listing an MCP server's tools succeeded."""

    TYPE: ClassVar[str] = "mcp_list_tools.completed"
    event_id: str
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class McpListToolsFailed:
    """Listing an MCP server's tools failed."""

    TYPE: ClassVar[str] = "mcp_list_tools.failed"
    event_id: str
    item_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OutputAudioBufferStarted:
    """Server-side playout started (WebRTC/SIP only)."""

    TYPE: ClassVar[str] = "output_audio_buffer.started"
    event_id: str
    response_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OutputAudioBufferStopped:
    """Server-side playout drained (WebRTC/SIP only)."""

    TYPE: ClassVar[str] = "output_audio_buffer.stopped"
    event_id: str
    response_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class OutputAudioBufferCleared:
    """Server-side playout was cut (WebRTC/SIP only)."""

    TYPE: ClassVar[str] = "output_audio_buffer.cleared"
    event_id: str
    response_id: str
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class UnknownServerEvent:
    """A server event whose ``type`` this library does not know (kept raw)."""

    raw: dict[str, Any]

    @property
    def type(self) -> str:
        """The event's ``type``."""
        return str(self.raw.get("type"))


ServerEvent = (
    SessionCreated
    | SessionUpdated
    | ConversationCreated
    | Error
    | RateLimitsUpdated
    | InputAudioBufferSpeechStarted
    | InputAudioBufferSpeechStopped
    | InputAudioBufferCommitted
    | InputAudioBufferCleared
    | InputAudioBufferTimeoutTriggered
    | InputAudioBufferDtmfEventReceived
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemCreated
    | ConversationItemRetrieved
    | ConversationItemDeleted
    | ConversationItemTruncated
    | ConversationItemInputAudioTranscriptionDelta
    | ConversationItemInputAudioTranscriptionCompleted
    | ConversationItemInputAudioTranscriptionFailed
    | ConversationItemInputAudioTranscriptionSegment
    | ResponseCreated
    | ResponseDone
    | ResponseOutputItemAdded
    | ResponseOutputItemDone
    | ResponseContentPartAdded
    | ResponseContentPartDone
    | ResponseOutputTextDelta
    | ResponseOutputTextDone
    | ResponseOutputAudioDelta
    | ResponseOutputAudioDone
    | ResponseOutputAudioTranscriptDelta
    | ResponseOutputAudioTranscriptDone
    | ResponseFunctionCallArgumentsDelta
    | ResponseFunctionCallArgumentsDone
    | ResponseMcpCallArgumentsDelta
    | ResponseMcpCallArgumentsDone
    | ResponseMcpCallInProgress
    | ResponseMcpCallCompleted
    | ResponseMcpCallFailed
    | McpListToolsInProgress
    | McpListToolsCompleted
    | McpListToolsFailed
    | OutputAudioBufferStarted
    | OutputAudioBufferStopped
    | OutputAudioBufferCleared
    | UnknownServerEvent
)

#: The 46 GA server event classes.
SERVER_EVENT_CLASSES: tuple[type, ...] = (
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    Error,
    RateLimitsUpdated,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferDtmfEventReceived,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemCreated,
    ConversationItemRetrieved,
    ConversationItemDeleted,
    ConversationItemTruncated,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
)
