"""Gemini Live wire messages (``BidiGenerateContent``) as frozen attrs classes.

Field names are Python style; the camelCase wire names live only in the
converter (`trio_realtime.gemini.codec`). Every optional field defaults to
`NOT_GIVEN` (absent on the wire), and every class keeps the wire keys it does
not model in ``extra`` so that they survive a round trip. Enumerations are
plain strings (``"AUDIO"``, ``"START_SENSITIVITY_LOW"``) so that values newer
than this module still decode.

A client message is a `ClientMessage` with one member set (``setup``,
``client_content``, ``realtime_input``, ``tool_response`` or
``context_update``); a server message is a `ServerMessage` with one of
``setup_complete``, ``server_content``, ``tool_call``,
``tool_call_cancellation``, ``go_away`` or ``session_resumption_update``,
optionally plus ``usage_metadata``, ``voice_activity`` and
``voice_activity_detection_signal``, which ride along. Messages with no known
key decode to `UnknownClientMessage` / `UnknownServerMessage`, which keep the
raw dict.

Rarely used, deeply nested structures (grounding metadata, JSON schemas of
function parameters, safety settings…) are kept as plain JSON dicts.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .._wire import NOT_GIVEN, NotGiven

__all__ = [
    "ActivityEnd",
    "ActivityStart",
    "AudioTranscriptionConfig",
    "AutomaticActivityDetection",
    "Blob",
    "ClientContent",
    "ClientMessage",
    "Content",
    "ContextUpdate",
    "ContextUpdateTools",
    "ContextWindowCompressionConfig",
    "Duration",
    "FileData",
    "FunctionCall",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerationConfig",
    "GoAway",
    "HistoryConfig",
    "ModalityTokenCount",
    "Part",
    "PrebuiltVoiceConfig",
    "ProactivityConfig",
    "RealtimeInput",
    "RealtimeInputConfig",
    "ServerContent",
    "ServerMessage",
    "SessionResumptionConfig",
    "SessionResumptionUpdate",
    "Setup",
    "SetupComplete",
    "SlidingWindow",
    "SpeechConfig",
    "ThinkingConfig",
    "Tool",
    "ToolCall",
    "ToolCallCancellation",
    "ToolResponse",
    "Transcription",
    "UnknownClientMessage",
    "UnknownServerMessage",
    "UsageMetadata",
    "VoiceActivity",
    "VoiceActivityDetectionSignal",
    "VoiceConfig",
]

#: A JSON object kept as is.
JSON = dict[str, Any]

_DURATION = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)s")


# --------------------------------------------------------------------------- values


@attrs.frozen
class Duration:
    """A protobuf duration as it travels: a decimal number of seconds and ``s``.

    The wire text is kept exactly (``"11.600s"`` re-encodes as ``"11.600s"``);
    `seconds` gives it as a float.
    """

    text: str = attrs.field()

    @text.validator
    def _check(self, _attr: Any, value: str) -> None:
        if not isinstance(value, str) or _DURATION.fullmatch(value) is None:
            raise ValueError(f"invalid duration {value!r} (expected seconds like '11.600s')")

    @property
    def seconds(self) -> float:
        """The duration in seconds."""
        return float(self.text[:-1])

    @classmethod
    def from_seconds(cls, seconds: float) -> Duration:
        """Build a duration from seconds (``1.5`` -> ``"1.500s"``, ``50`` -> ``"50s"``)."""
        if float(seconds).is_integer():
            return cls(f"{int(seconds)}s")
        return cls(f"{seconds:.3f}s")


@attrs.frozen
class Blob:
    """Inline bytes with their MIME type (audio chunks, images)."""

    mime_type: str | NotGiven = NOT_GIVEN
    data: bytes | NotGiven = NOT_GIVEN
    display_name: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class FileData:
    """A reference to an uploaded file."""

    file_uri: str | NotGiven = NOT_GIVEN
    mime_type: str | NotGiven = NOT_GIVEN
    display_name: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class FunctionCall:
    """One function the model wants called (``args`` is a JSON object)."""

    id: str | NotGiven = NOT_GIVEN
    name: str | NotGiven = NOT_GIVEN
    args: JSON | NotGiven = NOT_GIVEN
    partial_args: list[JSON] | NotGiven = NOT_GIVEN
    will_continue: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class FunctionResponse:
    """The result of a function call, matched to it by ``id``.

    ``response`` is conventionally ``{"output": …}`` or ``{"error": …}``;
    ``scheduling`` (``SILENT``, ``WHEN_IDLE``, ``INTERRUPT``) and
    ``will_continue`` apply to non-blocking functions only.
    """

    id: str | NotGiven = NOT_GIVEN
    name: str | NotGiven = NOT_GIVEN
    response: JSON | NotGiven = NOT_GIVEN
    parts: list[JSON] | NotGiven = NOT_GIVEN
    scheduling: str | NotGiven = NOT_GIVEN
    will_continue: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class Part:
    """One part of a `Content`: text, inline data, a function call or response…"""

    text: str | NotGiven = NOT_GIVEN
    thought: bool | NotGiven = NOT_GIVEN
    thought_signature: bytes | NotGiven = NOT_GIVEN
    inline_data: Blob | NotGiven = NOT_GIVEN
    file_data: FileData | NotGiven = NOT_GIVEN
    function_call: FunctionCall | NotGiven = NOT_GIVEN
    function_response: FunctionResponse | NotGiven = NOT_GIVEN
    executable_code: JSON | NotGiven = NOT_GIVEN
    code_execution_result: JSON | NotGiven = NOT_GIVEN
    video_metadata: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class Content:
    """A turn of conversation: a role (``"user"`` or ``"model"``) and parts."""

    role: str | NotGiven = NOT_GIVEN
    parts: list[Part] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class Transcription:
    """A fragment of transcribed speech."""

    text: str | NotGiven = NOT_GIVEN
    finished: bool | NotGiven = NOT_GIVEN
    language_code: str | NotGiven = NOT_GIVEN
    speaker_label: str | NotGiven = NOT_GIVEN
    words: list[JSON] | NotGiven = NOT_GIVEN
    start_offset: Duration | NotGiven = NOT_GIVEN
    end_offset: Duration | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


# --------------------------------------------------------------------------- setup


@attrs.frozen
class PrebuiltVoiceConfig:
    """A prebuilt voice by name (``"Puck"``, ``"Kore"``…)."""

    voice_name: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class VoiceConfig:
    """Which voice speaks."""

    prebuilt_voice_config: PrebuiltVoiceConfig | NotGiven = NOT_GIVEN
    replicated_voice_config: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class SpeechConfig:
    """Voice and language of the model's speech."""

    voice_config: VoiceConfig | NotGiven = NOT_GIVEN
    language_code: str | NotGiven = NOT_GIVEN
    multi_speaker_voice_config: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ThinkingConfig:
    """Thinking budget (2.5 models) or level (3.1 models)."""

    thinking_budget: int | NotGiven = NOT_GIVEN
    include_thoughts: bool | NotGiven = NOT_GIVEN
    thinking_level: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class GenerationConfig:
    """Sampling, modality, speech and thinking settings of a session."""

    response_modalities: list[str] | NotGiven = NOT_GIVEN
    temperature: float | NotGiven = NOT_GIVEN
    top_p: float | NotGiven = NOT_GIVEN
    top_k: float | NotGiven = NOT_GIVEN
    max_output_tokens: int | NotGiven = NOT_GIVEN
    candidate_count: int | NotGiven = NOT_GIVEN
    presence_penalty: float | NotGiven = NOT_GIVEN
    frequency_penalty: float | NotGiven = NOT_GIVEN
    seed: int | NotGiven = NOT_GIVEN
    media_resolution: str | NotGiven = NOT_GIVEN
    speech_config: SpeechConfig | NotGiven = NOT_GIVEN
    thinking_config: ThinkingConfig | NotGiven = NOT_GIVEN
    enable_affective_dialog: bool | NotGiven = NOT_GIVEN
    translation_config: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class FunctionDeclaration:
    """A function the model may call; ``parameters`` is an OpenAPI-style schema."""

    name: str | NotGiven = NOT_GIVEN
    description: str | NotGiven = NOT_GIVEN
    parameters: JSON | NotGiven = NOT_GIVEN
    parameters_json_schema: Any | NotGiven = NOT_GIVEN
    response: JSON | NotGiven = NOT_GIVEN
    response_json_schema: Any | NotGiven = NOT_GIVEN
    behavior: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class Tool:
    """Function declarations and built-in tools (each built-in is an options object)."""

    function_declarations: list[FunctionDeclaration] | NotGiven = NOT_GIVEN
    google_search: JSON | NotGiven = NOT_GIVEN
    google_search_retrieval: JSON | NotGiven = NOT_GIVEN
    code_execution: JSON | NotGiven = NOT_GIVEN
    url_context: JSON | NotGiven = NOT_GIVEN
    google_maps: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class AutomaticActivityDetection:
    """Server voice activity detection settings (``disabled`` turns it off)."""

    disabled: bool | NotGiven = NOT_GIVEN
    start_of_speech_sensitivity: str | NotGiven = NOT_GIVEN
    end_of_speech_sensitivity: str | NotGiven = NOT_GIVEN
    prefix_padding_ms: int | NotGiven = NOT_GIVEN
    silence_duration_ms: int | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class RealtimeInputConfig:
    """How realtime input is turned into user turns."""

    automatic_activity_detection: AutomaticActivityDetection | NotGiven = NOT_GIVEN
    activity_handling: str | NotGiven = NOT_GIVEN
    turn_coverage: str | NotGiven = NOT_GIVEN
    interim_transcript_timestamp_enabled: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class SessionResumptionConfig:
    """Opt in to resumption; ``handle`` resumes an earlier session."""

    handle: str | NotGiven = NOT_GIVEN
    transparent: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class SlidingWindow:
    """Sliding-window compression target (int64: a number or a decimal string)."""

    target_tokens: int | str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ContextWindowCompressionConfig:
    """Drop the oldest turns once the context reaches ``trigger_tokens``."""

    trigger_tokens: int | str | NotGiven = NOT_GIVEN
    sliding_window: SlidingWindow | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class AudioTranscriptionConfig:
    """Enables a transcription; ``{}`` means on with defaults."""

    language_codes: list[str] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ProactivityConfig:
    """Lets the model stay silent on irrelevant input."""

    proactive_audio: bool | NotGiven = NOT_GIVEN
    proactive_video: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class HistoryConfig:
    """Whether the session starts by accepting history in ``clientContent``."""

    initial_history_in_client_content: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class Setup:
    """The first client message: the whole session configuration."""

    model: str | NotGiven = NOT_GIVEN
    generation_config: GenerationConfig | NotGiven = NOT_GIVEN
    system_instruction: Content | NotGiven = NOT_GIVEN
    tools: list[Tool] | NotGiven = NOT_GIVEN
    realtime_input_config: RealtimeInputConfig | NotGiven = NOT_GIVEN
    session_resumption: SessionResumptionConfig | NotGiven = NOT_GIVEN
    context_window_compression: ContextWindowCompressionConfig | NotGiven = NOT_GIVEN
    input_audio_transcription: AudioTranscriptionConfig | NotGiven = NOT_GIVEN
    output_audio_transcription: AudioTranscriptionConfig | NotGiven = NOT_GIVEN
    proactivity: ProactivityConfig | NotGiven = NOT_GIVEN
    explicit_vad_signal: bool | NotGiven = NOT_GIVEN
    history_config: HistoryConfig | NotGiven = NOT_GIVEN
    avatar_config: JSON | NotGiven = NOT_GIVEN
    safety_settings: list[JSON] | NotGiven = NOT_GIVEN
    labels: dict[str, str] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


# --------------------------------------------------------------------------- client messages


@attrs.frozen
class ClientContent:
    """Turns appended to the conversation in order; ``turn_complete`` asks for a reply."""

    turns: list[Content] | NotGiven = NOT_GIVEN
    turn_complete: bool | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ActivityStart:
    """Manual voice activity: the user started speaking."""

    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ActivityEnd:
    """Manual voice activity: the user stopped speaking."""

    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class RealtimeInput:
    """Streamed user input; send one field per message."""

    audio: Blob | NotGiven = NOT_GIVEN
    video: Blob | NotGiven = NOT_GIVEN
    text: str | NotGiven = NOT_GIVEN
    audio_stream_end: bool | NotGiven = NOT_GIVEN
    activity_start: ActivityStart | NotGiven = NOT_GIVEN
    activity_end: ActivityEnd | NotGiven = NOT_GIVEN
    media_chunks: list[Blob] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ToolResponse:
    """Results of function calls."""

    function_responses: list[FunctionResponse] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ContextUpdateTools:
    """Replacement tool list (wrapped so that an empty list clears the tools)."""

    tools: list[Tool] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ContextUpdate:
    """Mid-session replacement of the system instruction and/or tools (3.8 Live)."""

    system_instruction: Content | NotGiven = NOT_GIVEN
    tools: ContextUpdateTools | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ClientMessage:
    """One client -> server message; exactly one member is normally set."""

    setup: Setup | NotGiven = NOT_GIVEN
    client_content: ClientContent | NotGiven = NOT_GIVEN
    realtime_input: RealtimeInput | NotGiven = NOT_GIVEN
    tool_response: ToolResponse | NotGiven = NOT_GIVEN
    context_update: ContextUpdate | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class UnknownClientMessage:
    """A client message with none of the known keys; `raw` is the whole dict."""

    raw: JSON


# --------------------------------------------------------------------------- server messages


@attrs.frozen
class SetupComplete:
    """The server accepted the setup."""

    session_id: str | NotGiven = NOT_GIVEN
    voice_consent_signature: JSON | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ServerContent:
    """Model output and turn state: audio/text parts, transcriptions, turn ends."""

    model_turn: Content | NotGiven = NOT_GIVEN
    turn_complete: bool | NotGiven = NOT_GIVEN
    interrupted: bool | NotGiven = NOT_GIVEN
    grounding_metadata: JSON | NotGiven = NOT_GIVEN
    generation_complete: bool | NotGiven = NOT_GIVEN
    input_transcription: Transcription | NotGiven = NOT_GIVEN
    output_transcription: Transcription | NotGiven = NOT_GIVEN
    url_context_metadata: JSON | NotGiven = NOT_GIVEN
    turn_complete_reason: str | NotGiven = NOT_GIVEN
    waiting_for_input: bool | NotGiven = NOT_GIVEN
    interim_input_transcription: Transcription | NotGiven = NOT_GIVEN
    interaction_status: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ToolCall:
    """The model asks for one or more function calls."""

    function_calls: list[FunctionCall] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ToolCallCancellation:
    """Earlier function calls (by id) are no longer wanted."""

    ids: list[str] | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class GoAway:
    """The server will close the connection after ``time_left``."""

    time_left: Duration | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class SessionResumptionUpdate:
    """A new resumption handle; usable only when ``resumable`` is true."""

    new_handle: str | NotGiven = NOT_GIVEN
    resumable: bool | NotGiven = NOT_GIVEN
    last_consumed_client_message_index: int | str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ModalityTokenCount:
    """Tokens of one modality (``TEXT``, ``AUDIO``…)."""

    modality: str | NotGiven = NOT_GIVEN
    token_count: int | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class UsageMetadata:
    """Token usage; the Gemini API says ``response…``, Vertex ``candidates…``."""

    prompt_token_count: int | NotGiven = NOT_GIVEN
    cached_content_token_count: int | NotGiven = NOT_GIVEN
    response_token_count: int | NotGiven = NOT_GIVEN
    candidates_token_count: int | NotGiven = NOT_GIVEN
    tool_use_prompt_token_count: int | NotGiven = NOT_GIVEN
    thoughts_token_count: int | NotGiven = NOT_GIVEN
    total_token_count: int | NotGiven = NOT_GIVEN
    prompt_tokens_details: list[ModalityTokenCount] | NotGiven = NOT_GIVEN
    cache_tokens_details: list[ModalityTokenCount] | NotGiven = NOT_GIVEN
    response_tokens_details: list[ModalityTokenCount] | NotGiven = NOT_GIVEN
    candidates_tokens_details: list[ModalityTokenCount] | NotGiven = NOT_GIVEN
    tool_use_prompt_tokens_details: list[ModalityTokenCount] | NotGiven = NOT_GIVEN
    traffic_type: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class VoiceActivity:
    """Server VAD notice: ``ACTIVITY_START`` / ``ACTIVITY_END`` at an audio offset.

    On the wire the kind is ``type``.
    """

    voice_activity_type: str | NotGiven = attrs.field(default=NOT_GIVEN, metadata={"wire": "type"})
    audio_offset: Duration | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class VoiceActivityDetectionSignal:
    """Explicit VAD signal (Vertex): ``VAD_SIGNAL_TYPE_SOS`` / ``VAD_SIGNAL_TYPE_EOS``."""

    vad_signal_type: str | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class ServerMessage:
    """One server -> client message.

    One of the first six members is normally set; ``usage_metadata``,
    ``voice_activity`` and ``voice_activity_detection_signal`` can ride along.
    """

    setup_complete: SetupComplete | NotGiven = NOT_GIVEN
    server_content: ServerContent | NotGiven = NOT_GIVEN
    tool_call: ToolCall | NotGiven = NOT_GIVEN
    tool_call_cancellation: ToolCallCancellation | NotGiven = NOT_GIVEN
    go_away: GoAway | NotGiven = NOT_GIVEN
    session_resumption_update: SessionResumptionUpdate | NotGiven = NOT_GIVEN
    usage_metadata: UsageMetadata | NotGiven = NOT_GIVEN
    voice_activity: VoiceActivity | NotGiven = NOT_GIVEN
    voice_activity_detection_signal: VoiceActivityDetectionSignal | NotGiven = NOT_GIVEN
    extra: JSON = attrs.field(factory=dict)


@attrs.frozen
class UnknownServerMessage:
    """A server message with none of the known keys; `raw` is the whole dict."""

    raw: JSON
