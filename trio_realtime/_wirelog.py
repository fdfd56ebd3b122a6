"""The DEBUG wire log: one line per WebSocket message, each direction (pure, no Trio).

Turn it on with ``logging.getLogger("trio_realtime.wire").setLevel(logging.DEBUG)``
(and a handler, e.g. ``logging.basicConfig()``) before `connect()`: a session
reads the level once per connection, so when it is off each message costs one
boolean check. A line names the direction, the message type, its ids and its
size; audio and image payloads are summarised (``audio=1920 B``), never
dumped, and the line goes through the same redaction as error messages, so
no key or token appears.

    > input_audio_buffer.append 2604 B audio=1920 B
    < response.output_audio.delta response_id=resp_1 item_id=item_2 1412 B audio=1024 B
    < serverContent.modelTurn 2380 B audio=1760 B
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any

from .errors import redact_text

__all__ = ["summarise", "wire_log"]

#: The logger of the wire log.
wire_log = logging.getLogger("trio_realtime.wire")

#: OpenAI fields that identify what a message is about.
_ID_FIELDS = ("event_id", "response_id", "item_id", "previous_item_id", "call_id")
#: Fields whose string values are base64 media (summarised by decoded size).
_MEDIA_FIELDS = frozenset({"delta", "audio", "data", "image_url"})
#: OpenAI message types whose ``delta`` is audio (text deltas are shown by length only).
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
_MAX_TEXT = 60


def _b64_size(text: str) -> int:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    return len(text) * 3 // 4 - text[-2:].count("=")


def _media(value: Any, found: list[str], key: str = "", depth: int = 0) -> None:
    """Collect ``audio=N B`` / ``image=N B`` summaries of base64 payloads in `value`."""
    if depth > 8:
        return
    if isinstance(value, dict):
        mime = value.get("mimeType") or value.get("mime_type") or ""
        for k, v in value.items():
            if isinstance(v, str) and k in _MEDIA_FIELDS and len(v) > 64:
                kind = "image" if "image" in (mime or k) else "audio"
                found.append(f"{kind}={_b64_size(v)} B")
            else:
                _media(v, found, k, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _media(v, found, key, depth + 1)


def _gemini_kind(obj: dict[str, Any]) -> str:
    parts: list[str] = []
    for key, value in obj.items():
        if key in ("usageMetadata",):
            continue
        if isinstance(value, dict) and value:
            inner = [k for k in value if k not in ("extra",)]
            parts.append(f"{key}.{'+'.join(inner[:3])}" if inner else key)
        else:
            parts.append(key)
    return ",".join(parts) or "{}"


def _text_note(obj: dict[str, Any]) -> str:
    """A short quote of transcript / text fields, for reading a conversation in the log."""
    for key in ("transcript", "text"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            shown = value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
            return f" {key}={shown!r}"
    return ""


def summarise(direction: str, data: str | bytes, secrets: Collection[str] = ()) -> str:
    """One log line for a message: ``>`` sent, ``<`` received.

    `secrets` (the configuration's key and tokens) are removed too, for
    services that quote a refused key back.
    """
    size = len(data)
    try:
        obj = json.loads(data)
    except ValueError:
        return f"{direction} (not JSON) {size} B"
    if not isinstance(obj, dict):
        return f"{direction} (JSON {type(obj).__name__}) {size} B"
    fields: list[str] = []
    kind = obj.get("type")
    if isinstance(kind, str):  # OpenAI
        for name in _ID_FIELDS:
            value = obj.get(name)
            if isinstance(value, str) and name != "event_id":
                fields.append(f"{name}={value}")
        for nested in ("response", "item", "error"):
            inner = obj.get(nested)
            if isinstance(inner, dict):
                for name in ("id", "status", "type", "code", "message", "call_id", "name"):
                    value = inner.get(name)
                    if isinstance(value, str) and value:
                        fields.append(f"{nested}.{name}={value}")
        delta = obj.get("delta")
        if isinstance(delta, str) and kind not in _AUDIO_DELTAS:
            fields.append(f"delta={len(delta)} chars")
        note = _text_note(obj)
    else:  # Gemini
        kind = _gemini_kind(obj)
        calls = (obj.get("toolCall") or {}).get("functionCalls") or []
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict):
                fields.append(f"call={call.get('name')}#{call.get('id')}")
        content = obj.get("serverContent") or {}
        note = ""
        if isinstance(content, dict):
            for key in ("inputTranscription", "outputTranscription"):
                value = content.get(key)
                if isinstance(value, dict):
                    note += _text_note(value)
    media: list[str] = []
    if kind in _AUDIO_DELTAS or not isinstance(obj.get("type"), str):
        _media(obj, media)
    else:
        _media({k: v for k, v in obj.items() if k != "delta"}, media)
    line = " ".join([direction, str(kind), *fields, f"{size} B", *media]) + note
    return redact_text(line, secrets)
