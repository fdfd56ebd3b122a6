"""The Gemini Live codec: wire JSON <-> `trio_realtime.gemini.messages` classes.

Decoding is liberal, as the service is: text or binary frames, camelCase or
snake_case names (mixed, at any level), standard or URL-safe base64, numbers
given as ints where floats are expected (kept as ints so that they re-encode
identically), and durations such as ``"11.600s"`` (kept as `Duration`, whose
text re-encodes unchanged). Encoding is strict: camelCase names, standard
base64, compact JSON, and only the fields a message holds (``extra`` is empty
on messages we build, and the service closes the session on unknown names).

The frames that carry the model's audio (``serverContent.modelTurn.parts[]
.inlineData``) take a fast path that skips the generic converter; the base64
is decoded once into a `bytes` object that `AudioFrame.from_bytes` wraps
without copying.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs

from .._wire import (
    NOT_GIVEN,
    NotGiven,
    audio_b64decode,
    decode_json,
    deep_merge,
    encode_json,
    make_converter,
    register_wire_class,
    structure,
    to_camel,
)
from ..errors import ProtocolError
from . import messages as m

__all__ = [
    "CLIENT_MESSAGE_KEYS",
    "SERVER_MESSAGE_KEYS",
    "converter",
    "decode_client_message",
    "decode_server_message",
    "encode_client_message",
    "encode_server_message",
    "merge_setup",
    "with_resumption_handle",
]

ServerMessageType = m.ServerMessage | m.UnknownServerMessage
ClientMessageType = m.ClientMessage | m.UnknownClientMessage

#: Top-level wire keys (camelCase) that make a server message known.
SERVER_MESSAGE_KEYS: Final = frozenset(
    {
        "setupComplete",
        "serverContent",
        "toolCall",
        "toolCallCancellation",
        "goAway",
        "sessionResumptionUpdate",
        "usageMetadata",
        "voiceActivity",
        "voiceActivityDetectionSignal",
    }
)
#: Top-level wire keys (camelCase) that make a client message known.
CLIENT_MESSAGE_KEYS: Final = frozenset(
    {"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"}
)
_SERVER_KEYS_ANY = SERVER_MESSAGE_KEYS | {
    "setup_complete",
    "server_content",
    "tool_call",
    "tool_call_cancellation",
    "go_away",
    "session_resumption_update",
    "usage_metadata",
    "voice_activity",
    "voice_activity_detection_signal",
}
_CLIENT_KEYS_ANY = CLIENT_MESSAGE_KEYS | {
    "client_content",
    "realtime_input",
    "tool_response",
    "context_update",
}

# Registration order matters: a class's hooks are built from those of its
# fields, so leaves come first.
_CLASSES: Final[tuple[type, ...]] = (
    m.Blob,
    m.FileData,
    m.FunctionCall,
    m.FunctionResponse,
    m.Part,
    m.Content,
    m.Transcription,
    m.PrebuiltVoiceConfig,
    m.VoiceConfig,
    m.SpeechConfig,
    m.ThinkingConfig,
    m.GenerationConfig,
    m.FunctionDeclaration,
    m.Tool,
    m.AutomaticActivityDetection,
    m.RealtimeInputConfig,
    m.SessionResumptionConfig,
    m.SlidingWindow,
    m.ContextWindowCompressionConfig,
    m.AudioTranscriptionConfig,
    m.ProactivityConfig,
    m.HistoryConfig,
    m.Setup,
    m.ClientContent,
    m.ActivityStart,
    m.ActivityEnd,
    m.RealtimeInput,
    m.ToolResponse,
    m.ContextUpdateTools,
    m.ContextUpdate,
    m.ClientMessage,
    m.SetupComplete,
    m.ServerContent,
    m.ToolCall,
    m.ToolCallCancellation,
    m.GoAway,
    m.SessionResumptionUpdate,
    m.ModalityTokenCount,
    m.UsageMetadata,
    m.VoiceActivity,
    m.VoiceActivityDetectionSignal,
    m.ServerMessage,
)


def _number(value: Any, _t: Any) -> Any:
    # A JSON number where a float is expected; an int stays an int so that
    # ``"topK": 40`` re-encodes as ``40``, not ``40.0``.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    return value


def _int64(value: Any, _t: Any) -> int | str:
    # proto3 JSON allows int64 as a number or as a decimal string.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return value
    raise ValueError(f"expected an integer, got {value!r}")


def _duration(value: Any, _t: Any) -> m.Duration:
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like '1.5s', got {type(value).__name__}")
    return m.Duration(value)


def _build_converter() -> cattrs.Converter:
    conv = make_converter(urlsafe_base64=True)
    conv.register_structure_hook(float, _number)
    conv.register_structure_hook(int | str, _int64)
    conv.register_unstructure_hook(int | str, lambda v: v)
    conv.register_structure_hook(m.Duration, _duration)
    conv.register_unstructure_hook(m.Duration, lambda d: d.text)
    for cls in _CLASSES:
        register_wire_class(conv, cls, wire_name=to_camel, python_names_too=True)
    return conv


#: The converter behind this module (also usable for single wire classes).
converter: Final = _build_converter()


def _wire_path(problem: str) -> str:
    """Rewrite the Python path of a cattrs problem line into wire (camelCase) names."""
    text, sep, path = problem.rpartition(" @ ")
    if not sep:
        return problem
    segments = []
    for seg in path.split("."):
        name, bracket, rest = seg.partition("[")
        name = _WIRE_RENAMES.get(name, to_camel(name))
        segments.append(name + bracket + rest)
    return f"{text} @ {'.'.join(segments)}"


_WIRE_RENAMES: Final = {"voice_activity_type": "type"}


def _structure(value: dict[str, Any], cls: type, *, what: str) -> Any:
    try:
        return structure(converter, value, cls, what=what)
    except ProtocolError as exc:
        problems = [_wire_path(p) for p in exc.problems]
        where = "; ".join(problems[:3]) if problems else str(exc)
        raise ProtocolError(
            f"The {what} is malformed: {where}.", raw=exc.raw, problems=problems
        ) from exc.__cause__


# --------------------------------------------------------------------------- setup builders


def merge_setup(setup: m.Setup, extra: Mapping[str, Any]) -> m.Setup:
    """`setup` with wire fields (camelCase) deep-merged over it.

    Raises:
        ProtocolError: the merged setup is not a valid ``setup``; the message
            names the bad field's wire path.
    """
    wire = deep_merge(converter.unstructure(setup), extra)
    merged: m.Setup = _structure(wire, m.Setup, what="setup (with setup_extra)")
    return merged


def with_resumption_handle(setup: m.Setup, handle: str) -> m.Setup:
    """`setup` asking to resume the session `handle` names (other resumption options kept)."""
    current = setup.session_resumption
    if isinstance(current, NotGiven):
        current = m.SessionResumptionConfig()
    return attrs.evolve(setup, session_resumption=attrs.evolve(current, handle=handle))


# --------------------------------------------------------------------------- server messages


def decode_server_message(data: str | bytes | bytearray) -> ServerMessageType:
    """Decode one server frame (text or binary UTF-8 JSON).

    Returns an `UnknownServerMessage` when the object has none of the known
    top-level keys.

    Raises:
        ProtocolError: the frame is not a JSON object, or a known field is
            malformed (the message names its path, e.g. ``$.serverContent.turnComplete``).
    """
    return decode_server_value(decode_json(data, what="Gemini server message"))


def decode_server_value(value: dict[str, Any]) -> ServerMessageType:
    """`decode_server_message` for a frame already parsed from JSON.

    Raises:
        ProtocolError: a known field is malformed (the message names its path).
    """
    fast = _fast_audio(value)
    if fast is not None:
        return fast
    if not any(k in _SERVER_KEYS_ANY for k in value):
        return m.UnknownServerMessage(raw=value)
    msg: m.ServerMessage = _structure(value, m.ServerMessage, what="Gemini server message")
    return msg


def encode_server_message(msg: ServerMessageType) -> str:
    """Encode a server message as compact camelCase JSON (standard base64).

    Raises:
        ProtocolError: (``side="local"``) `msg` is not a server message.
    """
    if isinstance(msg, m.UnknownServerMessage):
        return encode_json(msg.raw)
    if not isinstance(msg, m.ServerMessage):
        raise ProtocolError(
            f"Cannot encode {type(msg).__name__} as a Gemini server message.", side="local"
        )
    return encode_json(converter.unstructure(msg))


def audio_parts(
    value: dict[str, Any], *, keep_decoded: bool = False
) -> tuple[str | NotGiven, list[tuple[str, bytes]]] | None:
    """The role and ``(mimeType, data)`` pairs of an audio-only model-turn frame.

    Matches exactly ``{"serverContent": {"modelTurn": {"parts": [{"inlineData":
    {"mimeType": str, "data": str}}, …], "role"?: str}}}`` with standard
    base64 (decoded once, here); anything else returns `None` and takes the
    converter's path, which gives the same result. This is the receive hot
    path: one such frame per audio chunk. With `keep_decoded`, each part's
    ``data`` in `value` is replaced by its decoded bytes, so that a caller
    keeping `value` holds one copy of the audio, not the base64 text too.
    """
    if len(value) != 1:
        return None
    sc = value.get("serverContent")
    if type(sc) is not dict or len(sc) != 1:
        return None
    turn = sc.get("modelTurn")
    if type(turn) is not dict:
        return None
    parts = turn.get("parts")
    role = turn.get("role", NOT_GIVEN)
    if type(parts) is not list or len(turn) != (1 if role is NOT_GIVEN else 2):
        return None
    if role is not NOT_GIVEN and type(role) is not str:
        return None
    out: list[tuple[str, bytes]] = []
    blobs: list[dict[str, Any]] = []
    for part in parts:
        if type(part) is not dict or len(part) != 1:
            return None
        blob = part.get("inlineData")
        if type(blob) is not dict or len(blob) != 2:
            return None
        mime = blob.get("mimeType")
        text = blob.get("data")
        if type(mime) is not str or type(text) is not str:
            return None
        audio = audio_b64decode(text)
        if audio is None:
            return None
        out.append((mime, audio))
        blobs.append(blob)
    if keep_decoded:  # only once every part matched: `value` is untouched otherwise
        for blob, (_mime, audio) in zip(blobs, out, strict=True):
            blob["data"] = audio
    return role, out


def _fast_audio(value: dict[str, Any]) -> m.ServerMessage | None:
    """Build the message of an audio-only frame directly (see `audio_parts`)."""
    found = audio_parts(value)
    if found is None:
        return None
    role, parts = found
    return m.ServerMessage(
        server_content=m.ServerContent(
            model_turn=m.Content(
                role=role,
                parts=[m.Part(inline_data=m.Blob(mime_type=mime, data=raw)) for mime, raw in parts],
            )
        )
    )


# --------------------------------------------------------------------------- client messages


def decode_client_message(data: str | bytes | bytearray) -> ClientMessageType:
    """Decode one client frame (as a server, e.g. the fake server, receives it).

    Returns an `UnknownClientMessage` when the object has none of the known
    top-level keys.

    Raises:
        ProtocolError: the frame is not a JSON object, or a known field is
            malformed (the message names its path).
    """
    value = decode_json(data, what="Gemini client message")
    if not any(k in _CLIENT_KEYS_ANY for k in value):
        return m.UnknownClientMessage(raw=value)
    msg: m.ClientMessage = _structure(value, m.ClientMessage, what="Gemini client message")
    return msg


def encode_client_message(msg: ClientMessageType) -> str:
    """Encode a client message as compact camelCase JSON (standard base64).

    Raises:
        ProtocolError: (``side="local"``) `msg` is not a client message.
    """
    if isinstance(msg, m.UnknownClientMessage):
        return encode_json(msg.raw)
    if not isinstance(msg, m.ClientMessage):
        raise ProtocolError(
            f"Cannot encode {type(msg).__name__} as a Gemini client message.", side="local"
        )
    return encode_json(converter.unstructure(msg))
