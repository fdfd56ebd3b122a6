"""JSON <-> `trio_realtime.openai.messages` for OpenAI Realtime, both directions.

Pure: no Trio, no I/O. One cattrs converter serves the client (decoding server
events, encoding client events) and the fake server (the other way round).

Round trips are exact: ``encode(decode(x))`` equals ``x`` as JSON, unknown keys
and explicit nulls included. The two audio messages of the hot path
(``response.output_audio.delta`` and ``input_audio_buffer.append``) take a
shortcut that decodes the base64 once and builds the object directly.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

import attrs
import cattrs

from .._wire import (
    NOT_GIVEN,
    NotGiven,
    audio_b64decode,
    b64encode,
    decode_json,
    encode_json,
    make_converter,
    register_tagged_union,
    register_wire_class,
    structure,
)
from ..errors import ProtocolError
from . import messages as m

if TYPE_CHECKING:
    from ..events import ToolSpec

__all__ = [
    "converter",
    "decode_client_event",
    "decode_server_event",
    "encode_audio_append",
    "encode_client_event",
    "encode_server_event",
    "structure_wire",
    "tool_to_wire",
    "to_wire",
    "unstructure_wire",
]

_NoneType = type(None)
_PRIMITIVES = (bool, int, float, str)


def _is_unknown_class(cls: Any) -> bool:
    return (
        isinstance(cls, type)
        and attrs.has(cls)
        and cls.__name__.startswith("Unknown")
        and [f.name for f in attrs.fields(cls)] == ["raw"]
    )


def _describe(args: tuple[Any, ...]) -> str:
    names: list[str] = []
    for a in args:
        if a is _NoneType:
            names.append("null")
        elif a in _PRIMITIVES:
            names.append(a.__name__)
        elif a is bytes:
            names.append("base64 string")
        elif typing.get_origin(a) is list:
            names.append("array")
        elif "object" not in names:
            names.append("object")
    return " or ".join(dict.fromkeys(names))


_TOP_LEVEL: set[Any] = set()


def _is_json_union(t: Any) -> bool:
    if typing.get_origin(t) not in (Union, types.UnionType):
        return False
    args = typing.get_args(t)
    return NotGiven not in args and t not in _TOP_LEVEL


def _make_union_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """Structure a union by the JSON type of the value (and ``type`` tag for objects)."""

    def factory(t: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(t)
        allow_none = _NoneType in args
        prims = {a for a in args if a in _PRIMITIVES}
        tagged = {a.TYPE: a for a in args if attrs.has(a) and hasattr(a, "TYPE")}
        unknown = next((a for a in args if _is_unknown_class(a)), None)
        plain = [
            a for a in args if attrs.has(a) and not hasattr(a, "TYPE") and not _is_unknown_class(a)
        ]
        lists = [a for a in args if typing.get_origin(a) is list]
        dicts = [a for a in args if a is dict or typing.get_origin(a) is dict]
        has_bytes = bytes in args
        desc = _describe(args)

        def hook(value: Any, _t: Any) -> Any:
            if value is None:
                if allow_none:
                    return None
            elif isinstance(value, bool):
                if bool in prims:
                    return value
            elif isinstance(value, int):
                if int in prims:
                    return value
                if float in prims:
                    return float(value)
            elif isinstance(value, float):
                if float in prims:
                    return value
            elif isinstance(value, str):
                if str in prims:
                    return value
                if has_bytes:
                    return conv.structure(value, bytes)
            elif isinstance(value, list):
                if lists:
                    return conv.structure(value, lists[0])
            elif isinstance(value, dict):
                tag = value.get("type")
                cls = tagged.get(tag) if isinstance(tag, str) else None
                if cls is not None:
                    return conv.structure(value, cls)
                if unknown is not None:
                    return unknown(raw=value)
                if len(plain) == 1:
                    return conv.structure(value, plain[0])
                if dicts:
                    return conv.structure(value, dicts[0])
                if tagged:
                    raise ValueError(f"unknown object type {tag!r}")
            got = "null" if value is None else type(value).__name__
            raise ValueError(f"expected {desc}, got {got}")

        return hook

    return factory


def _build() -> cattrs.Converter:
    conv = make_converter()
    conv.register_structure_hook_factory(_is_json_union, _make_union_hook(conv))
    unknowns = (
        m.UnknownTurnDetection,
        m.UnknownTool,
        m.UnknownToolChoice,
        m.UnknownTruncation,
        m.UnknownSession,
        m.UnknownItem,
        m.UnknownMcpError,
        m.UnknownTranscriptUsage,
    )
    for u in unknowns:
        conv.register_structure_hook(u, lambda v, _t, u=u: u(raw=v))
        conv.register_unstructure_hook(u, lambda obj: obj.raw)
    classes = [
        c
        for c in vars(m).values()
        if isinstance(c, type) and attrs.has(c) and not _is_unknown_class(c)
    ]
    # Generated hooks capture the hooks of nested classes when they are made,
    # so a second pass makes every class see the final hooks of the others.
    for _ in range(2):
        for cls in classes:
            register_wire_class(conv, cls)
    _TOP_LEVEL.add(m.ServerEvent)
    _TOP_LEVEL.add(m.ClientEvent)
    register_tagged_union(conv, m.ServerEvent, m.SERVER_EVENT_CLASSES, unknown=m.UnknownServerEvent)
    register_tagged_union(conv, m.ClientEvent, m.CLIENT_EVENT_CLASSES, unknown=m.UnknownClientEvent)
    return conv


#: The cattrs converter for every class in `trio_realtime.openai.messages`.
converter = _build()


def structure_wire(value: dict[str, Any], cls: Any, *, what: str = "message") -> Any:
    """Structure a wire dict as `cls` (any messages class or union).

    Raises:
        ProtocolError: a field is missing or malformed; the message names its path.
    """
    return structure(converter, value, cls, what=what)


def unstructure_wire(obj: Any) -> Any:
    """Turn a messages object into its wire dict (or list / value)."""
    return converter.unstructure(obj)


def to_wire(value: Any) -> Any:
    """A wire value from a messages object or a mapping (copied); anything else as is."""
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def tool_to_wire(spec: ToolSpec) -> dict[str, Any]:
    """The ``session.tools`` entry of a function tool."""
    out: dict[str, Any] = {"type": "function", "name": spec.name}
    if spec.description:
        out["description"] = spec.description
    out["parameters"] = dict(spec.parameters)
    return out


# --------------------------------------------------------------------------- fast paths

_AUDIO_DELTA_KEYS = frozenset(
    ("type", "event_id", "response_id", "item_id", "output_index", "content_index", "delta")
)


def audio_delta_values(d: dict[str, Any]) -> tuple[str, str, str, int, int, bytes] | None:
    """``(event_id, response_id, item_id, output_index, content_index, audio)`` of a delta.

    Matches exactly the seven fields of ``response.output_audio.delta`` with
    their wire types and standard base64 (decoded here, once); anything else
    returns `None` and takes the converter's path, which reports what is
    wrong. The receive hot path: one such event per audio chunk.
    """
    if len(d) != 7 or d.keys() != _AUDIO_DELTA_KEYS:
        return None
    ev, resp, item, out, cont, delta = (
        d["event_id"],
        d["response_id"],
        d["item_id"],
        d["output_index"],
        d["content_index"],
        d["delta"],
    )
    if not (
        type(ev) is str
        and type(resp) is str
        and type(item) is str
        and type(out) is int
        and type(cont) is int
        and type(delta) is str
    ):
        return None
    audio = audio_b64decode(delta)
    if audio is None:
        return None  # the slow path reports it with its path
    return ev, resp, item, out, cont, audio


def _fast_audio_delta(d: dict[str, Any]) -> m.ResponseOutputAudioDelta | None:
    values = audio_delta_values(d)
    if values is None:
        return None
    ev, resp, item, out, cont, audio = values
    return m.ResponseOutputAudioDelta(
        event_id=ev,
        response_id=resp,
        item_id=item,
        output_index=out,
        content_index=cont,
        delta=audio,
    )


def _fast_append(d: dict[str, Any]) -> m.InputAudioBufferAppend | None:
    n = len(d)
    if n == 2:
        if "audio" not in d:
            return None
        event_id: str | NotGiven = NOT_GIVEN
    elif n == 3 and "audio" in d and type(d.get("event_id")) is str:
        event_id = d["event_id"]
    else:
        return None
    audio = d["audio"]
    if type(audio) is not str:
        return None
    data = audio_b64decode(audio)
    if data is None:
        return None
    return m.InputAudioBufferAppend(audio=data, event_id=event_id)


def encode_audio_append(audio: bytes | bytearray | memoryview) -> str:
    """Encode an ``input_audio_buffer.append`` straight from PCM bytes (the hot path)."""
    return '{"type":"input_audio_buffer.append","audio":"' + b64encode(audio) + '"}'


def _encode_audio_delta(ev: m.ResponseOutputAudioDelta) -> str:
    head = json.dumps(
        {
            "type": ev.TYPE,
            "event_id": ev.event_id,
            "response_id": ev.response_id,
            "item_id": ev.item_id,
            "output_index": ev.output_index,
            "content_index": ev.content_index,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return head[:-1] + ',"delta":"' + b64encode(ev.delta) + '"}'


# --------------------------------------------------------------------------- public API


def decode_server_event(data: str | bytes) -> m.ServerEvent:
    """Decode one server event (a JSON text frame).

    Returns:
        The typed event, or `UnknownServerEvent` for an unknown ``type``.

    Raises:
        ProtocolError: not JSON, not an object, no ``type``, or a malformed
            field (the message names its path, e.g. ``$.response.usage``).
    """
    return decode_server_value(decode_json(data, what="server event"))


def decode_server_value(d: dict[str, Any]) -> m.ServerEvent:
    """`decode_server_event` for an event already parsed from JSON.

    Raises:
        ProtocolError: no ``type``, or a malformed field (the message names its path).
    """
    if d.get("type") == "response.output_audio.delta":
        fast = _fast_audio_delta(d)
        if fast is not None:
            return fast
    return _decode(d, m.ServerEvent, "server event")  # type: ignore[no-any-return]


def decode_client_event(data: str | bytes) -> m.ClientEvent:
    """Decode one client event (what the fake server receives).

    Raises:
        ProtocolError: not JSON, not an object, no ``type``, or a malformed field.
    """
    d = decode_json(data, what="client event")
    if d.get("type") == "input_audio_buffer.append":
        fast = _fast_append(d)
        if fast is not None:
            return fast
    return _decode(d, m.ClientEvent, "client event")  # type: ignore[no-any-return]


def _decode(d: dict[str, Any], union: Any, what: str) -> Any:
    tag = d.get("type")
    if not isinstance(tag, str):
        problem = (
            "required field missing @ $.type"
            if tag is None and "type" not in d
            else f"expected str, got {type(tag).__name__} @ $.type"
        )
        raise ProtocolError(f"The {what} is malformed: {problem}.", raw=d, problems=[problem])
    return structure(converter, d, union, what=f"{what} {tag!r}")


def encode_server_event(event: m.ServerEvent) -> str:
    """Encode a server event as compact JSON text (for the fake server)."""
    if type(event) is m.ResponseOutputAudioDelta and not event.extra:
        return _encode_audio_delta(event)
    return encode_json(converter.unstructure(event))


def encode_client_event(event: m.ClientEvent) -> str:
    """Encode a client event as compact JSON text."""
    if type(event) is m.InputAudioBufferAppend and not event.extra and event.event_id is NOT_GIVEN:
        return encode_audio_append(event.audio)
    return encode_json(converter.unstructure(event))
