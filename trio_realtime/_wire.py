"""Shared pieces of both wire codecs (pure: no Trio, no I/O).

- `NOT_GIVEN`: the "field absent" sentinel, distinct from JSON ``null`` (`None`).
- Strict JSON primitives: a string field given a number is an error, not ``"5"``.
- ``bytes`` fields travel as standard base64 (the preconf JSON converter would
  use base85).
- `register_wire_class`: attrs classes keep unknown wire keys in ``extra``,
  omit `NOT_GIVEN` fields when encoding, and rename fields to wire names.
- `register_tagged_union`: a union of classes chosen by a tag key (``"type"``),
  with an ``Unknown…`` fallback that keeps the raw dict.
- `deep_merge`: ``session_extra``/``setup_extra`` over a built wire dict.
- `decode_json`, `encode_json`, `structure`: every failure becomes a
  `ProtocolError` whose message names the path of the bad field.
"""

from __future__ import annotations

import binascii
import enum
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar, Union

import attrs
import cattrs
import orjson
import pybase64
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import ProtocolError

__all__ = [
    "NOT_GIVEN",
    "NotGiven",
    "audio_b64decode",
    "b64decode",
    "b64encode",
    "decode_json",
    "deep_merge",
    "encode_json",
    "is_given",
    "make_converter",
    "register_tagged_union",
    "register_wire_class",
    "structure",
    "to_camel",
    "to_snake",
]

T = TypeVar("T")


class NotGiven(enum.Enum):
    """Type of `NOT_GIVEN`: a field absent from the wire message (not JSON null)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


#: Marks a field that was absent on the wire; `None` means an explicit null.
NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def is_given(value: object) -> bool:
    """Whether `value` is anything but `NOT_GIVEN` (`None` counts as given)."""
    return value is not NOT_GIVEN


# --------------------------------------------------------------------------- base64

_URLSAFE = bytes.maketrans(b"-_", b"+/")


def b64decode(text: str, *, urlsafe: bool = False) -> bytes:
    """Decode standard base64 strictly; with `urlsafe`, also accept ``-``/``_`` and no padding.

    Raises:
        ValueError: the text is not valid base64.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a base64 string, got {type(text).__name__}")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as exc:
        if urlsafe:
            raw = text.encode("ascii", "replace").translate(_URLSAFE)
            raw += b"=" * (-len(raw) % 4)
            try:
                return binascii.a2b_base64(raw, strict_mode=True)
            except binascii.Error:
                pass
        raise ValueError(f"invalid base64 ({exc})") from None


def b64encode(data: bytes | bytearray | memoryview) -> str:
    """Encode bytes as standard padded base64 text."""
    return pybase64.b64encode_as_string(data)


def audio_b64decode(text: str) -> bytes | None:
    """Decode the standard base64 of an audio chunk, or `None` if it is not valid.

    The receive hot path (pybase64: several times faster than `binascii` on
    a chunk). It accepts a subset of what `b64decode` accepts, with the same
    result (tests/test_wire_base64.py): a caller that gets `None` takes the
    general path, which decodes or reports the text as before.
    """
    try:
        return pybase64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        return None


# --------------------------------------------------------------------------- names


def to_camel(name: str) -> str:
    """``audio_end_ms`` -> ``audioEndMs``."""
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def to_snake(name: str) -> str:
    """``audioEndMs`` -> ``audio_end_ms``."""
    out: list[str] = []
    for ch in name:
        if ch.isupper():
            out.append("_")
            out.append(ch.lower())
        else:
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- converter


def _strict(kind: type, *, allow: tuple[type, ...] = ()) -> Callable[[Any, Any], Any]:
    accepted = (kind, *allow)

    def hook(value: Any, _t: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {kind.__name__}, got a boolean")
        if not isinstance(value, accepted):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return hook


def _is_notgiven_union(t: Any) -> bool:
    origin = typing.get_origin(t)
    return origin in (Union, types.UnionType) and NotGiven in typing.get_args(t)


def _strip_notgiven(t: Any) -> Any:
    args = tuple(a for a in typing.get_args(t) if a is not NotGiven)
    return args[0] if len(args) == 1 else Union[args]  # noqa: UP007


def make_converter(*, urlsafe_base64: bool = False) -> cattrs.Converter:
    """A converter with strict JSON primitives, base64 bytes and `NOT_GIVEN` unions."""
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(float, lambda v, _t: float(_strict(float, allow=(int,))(v, _t)))
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(bytes, lambda v, _t: b64decode(v, urlsafe=urlsafe_base64))
    conv.register_unstructure_hook(bytes, b64encode)
    conv.register_structure_hook(NotGiven, lambda v, _t: v)

    def structure_factory(t: Any) -> Callable[[Any, Any], Any]:
        inner = _strip_notgiven(t)
        hook = conv.get_structure_hook(inner)
        return lambda v, _t: hook(v, inner)

    def unstructure_factory(t: Any) -> Callable[[Any], Any]:
        inner = _strip_notgiven(t)
        return lambda v: conv.unstructure(v, unstructure_as=inner)

    conv.register_structure_hook_factory(_is_notgiven_union, structure_factory)
    conv.register_unstructure_hook_factory(_is_notgiven_union, unstructure_factory)
    return conv


def register_wire_class(
    conv: cattrs.Converter,
    cls: type,
    *,
    wire_name: Callable[[str], str] | None = None,
    python_names_too: bool = False,
    tag_key: str = "type",
) -> None:
    """Teach `conv` to move `cls` to and from its wire dict.

    - Fields are renamed with `wire_name` (e.g. `to_camel`); a field's attrs
      metadata key ``"wire"`` overrides the name for that field.
    - A class with a ``TYPE`` class variable is tagged: ``tag_key`` holds it.
    - Keys the class does not model land in its ``extra`` dict and go back out
      unchanged; `NOT_GIVEN` fields are left out when encoding.
    - With `python_names_too`, snake_case keys are accepted as well on input.
    """
    fields = attrs.fields(cls)
    names = {f.name for f in fields}
    has_extra = "extra" in names
    tag = getattr(cls, "TYPE", None)
    overrides: dict[str, Any] = {}
    wire: dict[str, str] = {}
    for f in fields:
        if f.name == "extra":
            overrides["extra"] = override(omit=True)
            continue
        w = f.metadata.get("wire") or (wire_name(f.name) if wire_name else f.name)
        wire[f.name] = w
        if w != f.name:
            overrides[f.name] = override(rename=w)
    known = frozenset(wire.values()) | ({tag_key} if tag is not None else frozenset())
    aliases = {f: w for f, w in wire.items() if f != w} if python_names_too else {}

    # The generated functions are built on first use: a provider module with
    # a hundred classes then imports in milliseconds instead of ~0.4 s.
    base_s: Callable[[Any, Any], Any] | None = None
    base_u: Callable[[Any], dict[str, Any]] | None = None

    def structure_hook(value: Any, t: Any) -> Any:
        nonlocal base_s
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        if aliases and any(k in aliases for k in value):
            value = {aliases.get(k, k): v for k, v in value.items()}
        if base_s is None:
            base_s = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False, **overrides)
        obj = base_s(value, t)
        if has_extra and len(value) != 0:
            extra = {k: v for k, v in value.items() if k not in known}
            if extra:
                object.__setattr__(obj, "extra", extra)
        return obj

    def unstructure_hook(obj: Any) -> dict[str, Any]:
        nonlocal base_u
        if base_u is None:
            base_u = make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)
        out: dict[str, Any] = base_u(obj)
        if tag is not None:
            out = {tag_key: tag, **out}
        if has_extra and obj.extra:
            for k, v in obj.extra.items():
                out.setdefault(k, v)
        return out

    conv.register_structure_hook(cls, structure_hook)
    conv.register_unstructure_hook(cls, unstructure_hook)


def register_tagged_union(
    conv: cattrs.Converter,
    union: Any,
    classes: Iterable[type],
    *,
    unknown: type | None = None,
    tag_key: str = "type",
) -> Callable[[Any], Any]:
    """Structure `union` by the value of `tag_key`, falling back to `unknown`.

    `unknown` must be an attrs class with a single ``raw: dict`` field; it
    re-encodes to exactly that dict. Returns the structure function, which
    takes the wire dict.
    """
    by_tag: dict[str, tuple[type, Callable[[Any, Any], Any]]] = {}
    for c in classes:
        by_tag[c.TYPE] = (c, conv.get_structure_hook(c))  # type: ignore[attr-defined]

    def structure_one(value: Any, _t: Any = None) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {type(value).__name__}")
        tag = value.get(tag_key)
        hit = by_tag.get(tag) if isinstance(tag, str) else None
        if hit is None:
            if unknown is None or not isinstance(tag, str):
                raise ValueError(f"missing or unknown {tag_key!r}: {tag!r}")
            return unknown(raw=value)
        return hit[1](value, hit[0])

    conv.register_structure_hook(union, structure_one)
    if unknown is not None:
        conv.register_structure_hook(unknown, lambda v, _t: unknown(raw=v))
        conv.register_unstructure_hook(unknown, lambda obj: obj.raw)
    return structure_one


# --------------------------------------------------------------------------- JSON + errors


def decode_json(data: str | bytes | bytearray, *, what: str = "message") -> dict[str, Any]:
    """Parse one wire message into a dict (orjson: strict RFC 8259 JSON).

    Where orjson differs from the standard library's ``json.loads`` (pinned by
    tests/test_wire_json.py): ``NaN``, ``Infinity`` and numbers that overflow a
    double (``1e400``), and escaped lone surrogates (``"\\ud800"``) are not
    JSON and raise `ProtocolError` (``json.loads`` accepted them); integers
    beyond the 64-bit range (past ``2**64 - 1`` or below ``-2**63``) arrive as
    floats (``json.loads`` kept them exact), which a typed integer field
    refuses with `ProtocolError` naming it; only untyped data (``raw``,
    unknown messages) holds the float. Neither service sends any of these:
    their integers are counts, rates, indices and timestamps.

    Raises:
        ProtocolError: the data is not UTF-8 JSON, or not a JSON object.
    """
    try:
        value = orjson.loads(data)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(
            f"The {what} is not valid JSON ({exc}).", raw=_snippet(data), problems=[str(exc)]
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"The {what} is JSON but not an object (got {type(value).__name__}).",
            raw=_snippet(data),
        )
    return value


def encode_json(value: Mapping[str, Any]) -> str:
    """Serialise a wire dict compactly."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `extra` merged in: objects merge, everything else replaces."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def structure(conv: cattrs.Converter, value: dict[str, Any], cls: Any, *, what: str) -> Any:
    """Structure `value` as `cls`, turning every failure into `ProtocolError`.

    Raises:
        ProtocolError: a field is missing, of the wrong type or invalid; the
            message names each bad field's path (``$.session.audio…``).
    """
    try:
        return conv.structure(value, cls)
    except Exception as exc:
        problems = _problems(exc)
        where = "; ".join(problems[:3]) if problems else str(exc)
        raise ProtocolError(
            f"The {what} is malformed: {where}.", raw=_snippet(value), problems=problems
        ) from exc


def _problems(exc: BaseException) -> list[str]:
    if isinstance(exc, (cattrs.BaseValidationError, cattrs.ClassValidationError)):
        try:
            return cattrs.transform_error(exc, format_exception=_format_exception)
        except Exception:  # pragma: no cover - transform_error is total in practice
            return [str(exc)]
    return [f"{exc} @ $"]


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError) and not isinstance(exc, cattrs.BaseValidationError) and str(exc):
        return str(exc)
    from cattrs.v import format_exception

    return format_exception(exc, type_)


def _snippet(value: object, limit: int = 500) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value[:limit]).decode("utf-8", "replace")
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value
