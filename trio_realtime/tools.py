"""Function tools: declare Python functions to the model and run its calls.

``@tool`` turns a sync or async function into a `FunctionTool`: still callable
like the function, plus a `ToolSpec` whose ``parameters`` is a JSON Schema
object built from the signature, the type hints and the Google-style docstring
(the first paragraph describes the tool, the ``Args:`` section each
parameter). `FunctionTool.invoke` structures the model's JSON arguments into
the declared types with cattrs, validates them and calls the function; bad
arguments raise `ToolArgumentError`, whose message names the argument path and
what was expected, so the runtime can send it back to the model as an error
result instead of crashing.

Supported parameter types: ``str``, ``int``, ``float``, ``bool``, ``None``,
``Any``, ``X | None`` and other unions of supported types, ``list[T]``,
``Sequence[T]``, ``set[T]``, ``frozenset[T]``, ``tuple[T, ...]``,
``tuple[A, B]``, ``dict[str, T]``, ``Mapping[str, T]``, ``Literal[...]``,
`enum.Enum` subclasses with JSON values, attrs classes and dataclasses of
supported types, ``datetime``/``date``/``time`` (ISO 8601 strings),
``NewType`` of these and ``Annotated[T, "description"]``. A parameter
annotated `ToolContext` is not declared to the model; `invoke` passes the
context of the call there.

Provider formats are pure dict builders: `openai_tool` and
`gemini_function_declaration`. For Gemini the declaration carries the schema
in ``parametersJsonSchema`` (the same JSON Schema OpenAI gets, and what
google-genai itself generates from Python functions) rather than the
OpenAPI-subset ``parameters``, which cannot say ``additionalProperties: false``,
fixed-length tuples or non-string enums; ``openapi=True`` converts to that
subset for endpoints that only take ``parameters``.

Nothing here imports Trio: the session runtime owns the tasks and cancel
scopes in which calls run.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import logging
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Union, overload

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from ._config import HasToolSpec, tool_spec
from .errors import ConfigurationError, RealtimeError, redact_text
from .events import SendToolResult, ToolCall, ToolSpec

__all__ = [
    "FunctionTool",
    "ToolArgumentError",
    "ToolContext",
    "ToolRegistry",
    "UnknownToolError",
    "gemini_function_declaration",
    "json_schema",
    "openai_tool",
    "tool",
    "tool_error_payload",
    "tool_result_payload",
]

if TYPE_CHECKING:
    # Defaults (PEP 696) let a bare `FunctionTool` mean `FunctionTool[..., Any]`.
    from typing_extensions import ParamSpec, TypeVar

    P = ParamSpec("P", default=...)
    R = TypeVar("R", default=Any)
else:
    P = typing.ParamSpec("P")
    R = typing.TypeVar("R")

logger = logging.getLogger("trio_realtime.tools")

#: Tool names both providers accept (OpenAI: ``[A-Za-z0-9_-]{1,64}``; Gemini
#: also wants a letter or underscore first).
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

_NoneType = type(None)


# --------------------------------------------------------------------------- errors


class ToolArgumentError(RealtimeError):
    """The model called a tool with arguments that do not fit its signature.

    Attributes:
        tool: the tool's name.
        problems: one line per bad argument, e.g.
            ``"argument 'city': expected str, got int"``.
    """

    def __init__(self, tool: str, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems) or "invalid arguments")
        self.tool = tool
        self.problems = list(problems)


class UnknownToolError(RealtimeError):
    """The model called a tool that has no handler."""


# --------------------------------------------------------------------------- context


@attrs.frozen
class ToolContext:
    """What a tool may learn about the call it serves.

    Annotate a parameter with this type to receive it; such a parameter is not
    declared to the model.

    Attributes:
        name: the tool's name.
        call_id: the provider's id of this call, when known.
        session: the session that received the call, when run by one.
    """

    name: str
    call_id: str | None = None
    session: Any = None


# --------------------------------------------------------------------------- docstrings

_SECTIONS = (
    "args|arguments|parameters|params|attributes|keyword args|keyword arguments|"
    "other parameters|returns|return|yields|yield|raises|exceptions|note|notes|"
    "example|examples|see also|warning|warnings|todo|references|methods"
)
_SECTION_RE = re.compile(rf"^({_SECTIONS})\s*:\s*$", re.IGNORECASE)
_PARAM_SECTIONS = frozenset(
    {"args", "arguments", "parameters", "params", "attributes", "keyword args", "keyword arguments"}
)
_ENTRY_RE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return (first paragraph, {parameter: description}) of a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    section: str | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        header = _SECTION_RE.match(stripped)
        if header and indent == 0:
            section = header.group(1).lower()
            entry_indent = None
            current = None
            continue
        if section not in _PARAM_SECTIONS:
            continue
        if not stripped:
            current = None
            continue
        if indent == 0:
            section = None
            continue
        if entry_indent is None:
            entry_indent = indent
        if indent <= entry_indent:
            m = _ENTRY_RE.match(stripped)
            current = m.group(1) if m else None
            if m:
                params[current] = m.group(2).strip()  # type: ignore[index]
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return " ".join(summary), params


# --------------------------------------------------------------------------- schemas


class _Unsupported(TypeError):
    pass


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and (attrs.has(tp) or dataclasses.is_dataclass(tp))


@attrs.frozen
class _Field:
    name: str
    type: Any
    required: bool
    default: Any


def _record_fields(cls: type) -> list[_Field]:
    """The init fields of an attrs class or dataclass, types resolved."""
    out: list[_Field] = []
    if attrs.has(cls):
        try:
            attrs.resolve_types(cls)
        except Exception as exc:
            raise _Unsupported(
                f"cannot resolve the field types of {cls.__qualname__} ({exc})"
            ) from exc
        for a in attrs.fields(cls):
            if not a.init:
                continue
            if a.type is None:
                raise _Unsupported(f"field {a.name!r} of {cls.__qualname__} has no type annotation")
            if a.default is attrs.NOTHING:
                out.append(_Field(a.alias, a.type, True, attrs.NOTHING))
            elif isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                out.append(_Field(a.alias, a.type, False, attrs.NOTHING))
            else:
                out.append(_Field(a.alias, a.type, False, a.default))
        return out
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:
        raise _Unsupported(f"cannot resolve the field types of {cls.__qualname__} ({exc})") from exc
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            out.append(_Field(f.name, hints[f.name], False, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            out.append(_Field(f.name, hints[f.name], False, attrs.NOTHING))
        else:
            out.append(_Field(f.name, hints[f.name], True, attrs.NOTHING))
    return out


def _record_doc(cls: type) -> str | None:
    doc = cls.__doc__
    # dataclasses invent a docstring from the signature; it says nothing.
    if doc and dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None
    return doc


def _json_type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise _Unsupported(f"{value!r} is not a JSON scalar")


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = []
    for v in values:
        k = _json_type_of(v)
        if k not in kinds:
            kinds.append(k)
    if len(kinds) == 1:
        return {"type": kinds[0], "enum": values}
    return {"enum": values}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _jsonable_default(value: Any) -> tuple[bool, Any]:
    try:
        return True, tool_result_payload(value)
    except (TypeError, ValueError):
        return False, None


def _admits_none(tp: Any) -> bool:
    if tp is None or tp is _NoneType or tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return any(_admits_none(a) for a in typing.get_args(tp))
    if origin is Literal:
        return None in typing.get_args(tp)
    return False


def _object_schema(
    fields: Sequence[_Field], docs: Mapping[str, str], stack: tuple[Any, ...]
) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        s = _schema(f.type, stack)
        if docs.get(f.name) and _annotated_description(f.type) is None:
            s = _describe(s, docs[f.name])
        if f.required:
            required.append(f.name)
        elif f.default is not attrs.NOTHING and (f.default is not None or _admits_none(f.type)):
            ok, value = _jsonable_default(f.default)
            if ok:
                s = {**s, "default": value}
        props[f.name] = s
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _annotated_description(tp: Any) -> str | None:
    if typing.get_origin(tp) is not typing.Annotated:
        return None
    notes = [m for m in typing.get_args(tp)[1:] if isinstance(m, str)]
    return notes[-1] if notes else None


def _describe(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    """`schema` with `description` first (replacing the type's own)."""
    return {"description": description, **{k: v for k, v in schema.items() if k != "description"}}


def _schema(tp: Any, stack: tuple[Any, ...] = ()) -> dict[str, Any]:
    if isinstance(tp, (str, typing.ForwardRef)):
        raise _Unsupported(f"unresolved forward reference {tp!r}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        base = _schema(args[0], stack)
        note = _annotated_description(tp)
        return _describe(base, note) if note is not None else base
    if tp is Any:
        return {}
    if tp is None or tp is _NoneType:
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if tp is dt.date:
        return {"type": "string", "format": "date"}
    if tp is dt.time:
        return {"type": "string", "format": "time"}
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # typing.NewType
        return _schema(supertype, stack)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if not values:
            raise _Unsupported(f"enum {tp.__qualname__} has no members")
        for v in values:
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise _Unsupported(
                    f"enum {tp.__qualname__} has a value that is not a JSON scalar: {v!r}"
                )
        return _enum_schema(values)
    if _is_record(tp):
        if tp in stack:
            raise _Unsupported(f"recursive type {tp.__qualname__} is not supported")
        summary, docs = _parse_docstring(_record_doc(tp))
        out = _object_schema(_record_fields(tp), docs, (*stack, tp))
        return {"description": summary, **out} if summary else out
    if origin is Literal:
        values = [a.value if isinstance(a, enum.Enum) else a for a in args]
        for v in values:
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise _Unsupported(f"Literal value {v!r} is not a JSON scalar")
        if None in values:
            rest = [v for v in values if v is not None]
            return _nullable(_enum_schema(rest)) if rest else {"type": "null"}
        return _enum_schema(values)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not _NoneType]
        if len(members) == 1:
            return _nullable(_schema(members[0], stack))
        schemas = [_schema(a, stack) for a in members]
        if len(members) < len(args):
            schemas.append({"type": "null"})
        return {"anyOf": schemas}
    if tp in (list, Sequence, set, frozenset) or origin in (list, Sequence, set, frozenset):
        items = _schema(args[0], stack) if args else {}
        out = {"type": "array", "items": items}
        if (origin or tp) in (set, frozenset):
            out["uniqueItems"] = True
        return out
    if tp is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": _schema(args[0], stack) if args else {}}
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        return {
            "type": "array",
            "prefixItems": [_schema(a, stack) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if tp in (dict, Mapping) or origin in (dict, Mapping):
        if args and args[0] is not str:
            raise _Unsupported(
                f"{_type_name(tp)} must have str keys (JSON object keys are strings)"
            )
        return {"type": "object", "additionalProperties": _schema(args[1], stack) if args else {}}
    raise _Unsupported(f"{_type_name(tp)} is not a supported parameter type")


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema `tool` declares for a parameter annotated `tp`.

    Raises:
        TypeError: `tp` is not a supported parameter type.
    """
    return _schema(tp)


# --------------------------------------------------------------------------- structuring


class _Mismatch(ValueError):
    """A value that does not fit the declared type (message is the problem)."""


class _Nested(Exception):
    """Problems inside a container: (path suffix, exception) pairs."""

    def __init__(self, items: list[tuple[str, BaseException]]) -> None:
        super().__init__(f"{len(items)} problem(s)")
        self.items = items


def _got(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to `limit` characters (the model's text can be long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _choices(values: Sequence[Any], limit: int = 20) -> str:
    shown = ", ".join(_short(v) for v in values[:limit])
    return shown if len(values) <= limit else f"{shown}, … ({len(values)} in all)"


def _type_name(tp: Any) -> str:
    if tp is None or tp is _NoneType:
        return "None"
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return repr(tp).replace("typing.", "").replace("collections.abc.", "")
    if tp is dt.datetime:
        return "an ISO 8601 date-time string"
    if tp is dt.date:
        return "an ISO 8601 date string"
    if tp is dt.time:
        return "an ISO 8601 time string"
    if tp is Any:
        return "Any"
    return getattr(tp, "__qualname__", None) or repr(tp)


def _run_items(
    pairs: Iterable[tuple[str, Any]], hook: Callable[[Any, Any], Any], tp: Any
) -> list[Any]:
    out: list[Any] = []
    problems: list[tuple[str, BaseException]] = []
    for suffix, item in pairs:
        try:
            out.append(hook(item, tp))
        except Exception as exc:
            problems.append((suffix, exc))
    if problems:
        raise _Nested(problems)
    return out


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is Literal


def _is_union(t: Any) -> bool:
    return typing.get_origin(t) in (Union, types.UnionType)


def _is_annotated(t: Any) -> bool:
    return typing.get_origin(t) is typing.Annotated


def _is_newtype(t: Any) -> bool:
    return getattr(t, "__supertype__", None) is not None


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)

    def s_str(v: Any, _t: Any) -> str:
        if not isinstance(v, str):
            raise _Mismatch(f"expected str, got {_got(v)}")
        return v

    def s_bool(v: Any, _t: Any) -> bool:
        if not isinstance(v, bool):
            raise _Mismatch(f"expected bool, got {_got(v)}")
        return v

    def s_int(v: Any, _t: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)  # JSON has one number type; models write 3.0 for 3.
        raise _Mismatch(
            f"expected int, got {_got(v)}" + (f" {v!r}" if isinstance(v, float) else "")
        )

    def s_float(v: Any, _t: Any) -> float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise _Mismatch(f"expected float, got {_got(v)}")

    def s_none(v: Any, _t: Any) -> None:
        if v is not None:
            raise _Mismatch(f"expected None, got {_got(v)}")

    def iso(kind: type, parse: Callable[[str], Any]) -> Callable[[Any, Any], Any]:
        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, str):
                raise _Mismatch(f"expected {_type_name(kind)}, got {_got(v)}")
            try:
                return parse(v)
            except ValueError:
                raise _Mismatch(f"expected {_type_name(kind)}, got {_short(v)}") from None

        return hook

    conv.register_structure_hook(str, s_str)
    conv.register_structure_hook(bool, s_bool)
    conv.register_structure_hook(int, s_int)
    conv.register_structure_hook(float, s_float)
    conv.register_structure_hook(_NoneType, s_none)
    conv.register_structure_hook(dt.datetime, iso(dt.datetime, dt.datetime.fromisoformat))
    conv.register_structure_hook(dt.date, iso(dt.date, dt.date.fromisoformat))
    conv.register_structure_hook(dt.time, iso(dt.time, dt.time.fromisoformat))

    def same_scalar(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return bool(a == b)
        return type(a) is type(b) and a == b

    def enum_factory(tp: Any) -> Callable[[Any, Any], Any]:
        members = list(tp)
        choices = _choices([m.value for m in members])

        def hook(v: Any, _t: Any) -> Any:
            for m in members:
                if same_scalar(m.value, v):
                    return m
            raise _Mismatch(f"expected one of {choices}, got {_short(v)}")

        return hook

    def literal_factory(tp: Any) -> Callable[[Any, Any], Any]:
        literals = typing.get_args(tp)
        choices = _choices([a.value if isinstance(a, enum.Enum) else a for a in literals])

        def hook(v: Any, _t: Any) -> Any:
            for a in literals:
                if same_scalar(a.value if isinstance(a, enum.Enum) else a, v):
                    return a
            raise _Mismatch(f"expected one of {choices}, got {_short(v)}")

        return hook

    def union_factory(tp: Any) -> Callable[[Any, Any], Any]:
        members = typing.get_args(tp)
        non_none = [a for a in members if a is not _NoneType]
        if len(non_none) == 1:
            inner = non_none[0]
            inner_hook = conv.get_structure_hook(inner)

            def optional_hook(v: Any, _t: Any) -> Any:
                if v is None:
                    return None
                return inner_hook(v, inner)

            return optional_hook
        hooks = [(a, conv.get_structure_hook(a)) for a in members]
        expected = _type_name(tp)

        def union_hook(v: Any, _t: Any) -> Any:
            for a, h in hooks:
                try:
                    return h(v, a)
                except Exception:
                    continue
            raise _Mismatch(f"expected {expected}, got {_got(v)}")

        return union_hook

    def annotated_factory(tp: Any) -> Callable[[Any, Any], Any]:
        base = typing.get_args(tp)[0]
        h = conv.get_structure_hook(base)
        return lambda v, _t: h(v, base)

    def newtype_factory(tp: Any) -> Callable[[Any, Any], Any]:
        base = tp.__supertype__
        h = conv.get_structure_hook(base)
        return lambda v, _t: h(v, base)

    def collection_factory(tp: Any) -> Callable[[Any, Any], Any]:
        origin = typing.get_origin(tp) or tp
        args = typing.get_args(tp)
        item = args[0] if args else Any
        h = conv.get_structure_hook(item)
        make: Callable[[list[Any]], Any] = {set: set, frozenset: frozenset}.get(origin, list)

        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, (list, tuple)):
                raise _Mismatch(f"expected list, got {_got(v)}")
            items = _run_items(((f"[{i}]", x) for i, x in enumerate(v)), h, item)
            return make(items)

        return hook

    def tuple_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            h = conv.get_structure_hook(item)

            def var_hook(v: Any, _t: Any) -> Any:
                if not isinstance(v, (list, tuple)):
                    raise _Mismatch(f"expected list, got {_got(v)}")
                return tuple(_run_items(((f"[{i}]", x) for i, x in enumerate(v)), h, item))

            return var_hook
        fixed = [] if args == ((),) else list(args)
        hooks = [conv.get_structure_hook(a) for a in fixed]

        def fixed_hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, (list, tuple)):
                raise _Mismatch(f"expected list, got {_got(v)}")
            if len(v) != len(fixed):
                raise _Mismatch(f"expected a list of {len(fixed)} items, got {len(v)}")
            out: list[Any] = []
            problems: list[tuple[str, BaseException]] = []
            for i, (x, a, h) in enumerate(zip(v, fixed, hooks, strict=True)):
                try:
                    out.append(h(x, a))
                except Exception as exc:
                    problems.append((f"[{i}]", exc))
            if problems:
                raise _Nested(problems)
            return tuple(out)

        return fixed_hook

    def mapping_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        value_t = args[1] if args else Any
        h = conv.get_structure_hook(value_t)

        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, dict):
                raise _Mismatch(f"expected object, got {_got(v)}")
            for k in v:
                if not isinstance(k, str):
                    raise _Mismatch(f"expected object with str keys, got key {k!r}")
            keys = list(v)
            values = _run_items(((f"[{json.dumps(k)}]", v[k]) for k in keys), h, value_t)
            return dict(zip(keys, values, strict=True))

        return hook

    def record_factory(tp: Any) -> Callable[[Any, Any], Any]:
        if attrs.has(tp):
            attrs.resolve_types(tp)
        base = make_dict_structure_fn(
            tp, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )

        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, dict):
                raise _Mismatch(f"expected object ({tp.__qualname__}), got {_got(v)}")
            return base(v, tp)

        return hook

    def origin_in(*kinds: Any) -> Callable[[Any], bool]:
        return lambda t: t in kinds or typing.get_origin(t) in kinds

    conv.register_structure_hook_factory(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), enum_factory
    )
    conv.register_structure_hook_factory(
        origin_in(list, Sequence, set, frozenset), collection_factory
    )
    conv.register_structure_hook_factory(origin_in(tuple), tuple_factory)
    conv.register_structure_hook_factory(origin_in(dict, Mapping), mapping_factory)
    conv.register_structure_hook_factory(_is_record, record_factory)
    conv.register_structure_hook_factory(_is_literal, literal_factory)
    conv.register_structure_hook_factory(_is_union, union_factory)
    conv.register_structure_hook_factory(_is_annotated, annotated_factory)
    conv.register_structure_hook_factory(_is_newtype, newtype_factory)
    return conv


_CONVERTER = _make_converter()


def _leaf_message(exc: BaseException) -> str:
    if isinstance(exc, _Mismatch):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field is missing"
    text = str(exc)
    if isinstance(exc, (ValueError, TypeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _collect(exc: BaseException, path: str, out: list[str]) -> None:
    """Flatten a structuring failure into ``argument 'path': problem`` lines."""
    if isinstance(exc, _Nested):
        for suffix, sub in exc.items:
            _collect(sub, path + suffix, out)
    elif isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            _collect(sub, f"{path}.{note.name}", out)
        for sub in without:
            _collect(sub, path, out)
    elif isinstance(exc, cattrs.ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out.append(f"argument '{path}.{key}': unexpected field")
    elif isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            _collect(sub, path, out)
    else:
        out.append(f"argument '{path}': {_leaf_message(exc)}")


# --------------------------------------------------------------------------- FunctionTool


@attrs.frozen
class _Param:
    name: str
    annotation: Any
    kind: inspect._ParameterKind
    required: bool
    default: Any
    context: bool
    admits_none: bool


def _is_context(tp: Any) -> bool:
    if tp is ToolContext:
        return True
    if typing.get_origin(tp) is typing.Annotated:
        return _is_context(typing.get_args(tp)[0])
    return False


def _is_async_callable(func: Any) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(type(func), "__call__", None)  # noqa: B004 - callable objects
    return call is not None and inspect.iscoroutinefunction(call) and not inspect.isfunction(func)


@attrs.frozen(eq=False)
class FunctionTool(Generic[P, R]):
    """A Python function declared to the model as a function tool.

    Calling it calls the function. Build it with `tool`.

    Attributes:
        func: the wrapped function.
        spec: the declaration (name, description, JSON Schema parameters).
        is_async: whether the function is a coroutine function.
    """

    func: Callable[P, R]
    spec: ToolSpec
    is_async: bool
    params: tuple[_Param, ...] = attrs.field(repr=False)

    @property
    def name(self) -> str:
        """The tool's name as the model sees it."""
        return self.spec.name

    @property
    def description(self) -> str:
        """The tool's description as the model sees it."""
        return self.spec.description

    @property
    def __wrapped__(self) -> Callable[P, R]:
        return self.func

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    @classmethod
    def from_function(
        cls,
        func: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> FunctionTool[P, R]:
        """Build a tool from `func`'s signature, type hints and docstring.

        Raises:
            TypeError: a parameter has no annotation or an unsupported one, or
                the function takes ``*args``/``**kwargs``.
            trio_realtime.errors.ConfigurationError: the name is not one both
                providers accept (letters, digits, ``_``, ``-``; at most 64;
                not starting with a digit or ``-``).
        """
        if isinstance(func, FunctionTool):
            if name is None and description is None:
                return func
            func = func.func
        if not callable(func):
            raise TypeError(f"@tool needs a function, got {func!r}")
        base = func
        while isinstance(base, functools.partial):
            base = base.func
        fname = getattr(base, "__name__", None) or type(base).__name__
        tool_name = name if name is not None else fname
        if not _NAME_RE.match(tool_name):
            raise ConfigurationError(
                f"Tool name {tool_name!r} is not valid: use 1-64 letters, digits, '_' or '-', "
                "starting with a letter or '_'."
            )
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"tool {tool_name!r}: cannot read the signature ({exc})") from exc
        hint_source: Any = func
        while isinstance(hint_source, functools.partial):
            hint_source = hint_source.func
        if not (inspect.isfunction(hint_source) or inspect.ismethod(hint_source)):
            hint_source = getattr(type(func), "__call__", func)  # noqa: B004
        try:
            hints = typing.get_type_hints(hint_source, include_extras=True)
        except Exception as exc:
            raise TypeError(
                f"tool {tool_name!r}: cannot resolve the type hints ({type(exc).__name__}: {exc}); "
                "define the types the annotations name at module level"
            ) from exc
        summary, docs = _parse_docstring(inspect.getdoc(base))
        params: list[_Param] = []
        props: dict[str, Any] = {}
        required: list[str] = []
        for p in sig.parameters.values():
            where = f"tool {tool_name!r}: parameter {p.name!r}"
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{where}: *args and **kwargs cannot be declared to the model")
            if p.name not in hints:
                raise TypeError(
                    f"{where} has no type annotation; annotate it so the model knows its type"
                )
            tp = hints[p.name]
            is_required = p.default is p.empty
            ctx = _is_context(tp)
            params.append(_Param(p.name, tp, p.kind, is_required, p.default, ctx, _admits_none(tp)))
            if ctx:
                continue
            try:
                s = _schema(tp)
                _CONVERTER.get_structure_hook(tp)
            except _Unsupported as exc:
                raise TypeError(f"{where}: {exc}") from None
            if docs.get(p.name) and _annotated_description(tp) is None:
                s = _describe(s, docs[p.name])
            if is_required:
                required.append(p.name)
            elif p.default is not None or _admits_none(tp):
                ok, value = _jsonable_default(p.default)
                if ok:
                    s = {**s, "default": value}
            props[p.name] = s
        parameters: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            parameters["required"] = required
        parameters["additionalProperties"] = False
        spec = ToolSpec(
            name=tool_name,
            description=summary if description is None else description,
            parameters=parameters,
        )
        return cls(func=func, spec=spec, is_async=_is_async_callable(func), params=tuple(params))

    def bind(
        self, arguments: Mapping[str, Any], *, context: ToolContext | None = None
    ) -> tuple[list[Any], dict[str, Any]]:
        """Structure and validate the model's `arguments` into call arguments.

        An explicit ``null`` for an optional parameter whose type does not
        admit ``None`` counts as absent (models often send null for "unset").

        Returns:
            ``(args, kwargs)`` for calling `func`.

        Raises:
            ToolArgumentError: `arguments` is not a JSON object, misses a
                required argument, has an unknown one, or a value does not fit
                its declared type. Every problem is listed.
        """
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(
                self.name, [f"arguments must be a JSON object, got {_got(arguments)}"]
            )
        problems: list[str] = []
        known = {p.name for p in self.params if not p.context}
        for key in arguments:
            if key not in known:
                problems.append(f"unexpected argument {str(key)!r}")
        values: dict[str, Any] = {}
        for p in self.params:
            if p.context:
                values[p.name] = context if context is not None else ToolContext(name=self.name)
                continue
            if p.name not in arguments:
                if p.required:
                    problems.append(f"missing required argument {p.name!r}")
                continue
            if arguments[p.name] is None and not p.required and not p.admits_none:
                continue  # null for an optional parameter: use its default
            try:
                values[p.name] = _CONVERTER.structure(arguments[p.name], p.annotation)
            except Exception as exc:
                _collect(exc, p.name, problems)
        if problems:
            raise ToolArgumentError(self.name, problems)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        positional = inspect.Parameter.POSITIONAL_ONLY
        for i, p in enumerate(self.params):
            if p.kind is positional:
                if p.name in values:
                    args.append(values[p.name])
                elif any(q.kind is positional and q.name in values for q in self.params[i + 1 :]):
                    args.append(p.default)  # a later positional-only one is given
            elif p.name in values:
                kwargs[p.name] = values[p.name]
        return args, kwargs

    async def invoke(
        self, arguments: Mapping[str, Any], *, context: ToolContext | None = None
    ) -> Any:
        """Validate `arguments`, call the function and return its result.

        Sync functions are called directly (they block the task; keep them
        quick), async ones awaited. A `ToolContext` parameter receives
        `context` (or a bare one naming this tool).

        Raises:
            ToolArgumentError: the arguments do not fit the signature (see `bind`).
            Exception: whatever the function raises, unchanged.
        """
        args, kwargs = self.bind(arguments, context=context)
        result: Any = self.func(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


@overload
def tool(
    func: Callable[P, R], /, *, name: str | None = None, description: str | None = None
) -> FunctionTool[P, R]: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Declare a function as a tool: ``@tool`` or ``@tool(name=..., description=...)``.

    The description defaults to the docstring's first paragraph; each
    parameter's description comes from the docstring's ``Args:`` section (or
    ``Annotated[T, "text"]``). Parameters with defaults are optional.

    Raises:
        TypeError: a parameter's annotation is missing or unsupported.
        trio_realtime.errors.ConfigurationError: the tool name is invalid.
    """
    if func is not None:
        return FunctionTool.from_function(func, name=name, description=description)

    def decorate(f: Callable[..., Any]) -> FunctionTool[..., Any]:
        return FunctionTool.from_function(f, name=name, description=description)

    return decorate


# --------------------------------------------------------------------------- payloads


def _payload(value: Any, path: str) -> Any:
    if isinstance(value, enum.Enum):
        return _payload(value.value, path)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"tool result at {path} is {value!r}, which JSON cannot represent")
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if attrs.has(type(value)) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return _payload(_RESULT_CONVERTER.unstructure(value), path)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k.value if isinstance(k, enum.Enum) else k
            if not isinstance(key, str):
                raise TypeError(
                    f"tool result at {path} has a key that is not a str: {k!r} "
                    "(JSON object keys are strings)"
                )
            out[key] = _payload(v, f"{path}[{json.dumps(key)}]")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_payload(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _payload(float(value), path)
    raise TypeError(
        f"tool result at {path} is a {type(value).__qualname__}, which cannot be sent as JSON; "
        "return str, int, float, bool, None, lists, dicts with str keys, attrs classes, "
        "dataclasses, enums, bytes or datetimes"
    )


_RESULT_CONVERTER = cattrs.Converter()


def tool_result_payload(result: Any) -> Any:
    """Turn a tool's return value into JSON-serialisable data.

    attrs classes and dataclasses become dicts (cattrs unstructure), enums
    their values, bytes base64 text, datetimes ISO 8601 text, tuples and sets
    lists; JSON values pass through.

    Raises:
        TypeError: something in `result` cannot be sent as JSON (the message
            names where, e.g. ``$["items"][2]``).
    """
    return _payload(result, "$")


def tool_error_payload(exc: BaseException) -> dict[str, str]:
    """The error result sent back for a failed call: ``{"error": "<Type>: <message>"}``."""
    text = redact_text(str(exc))
    return {"error": f"{type(exc).__name__}: {text}" if text else type(exc).__name__}


# --------------------------------------------------------------------------- providers


def openai_tool(spec: ToolSpec | HasToolSpec) -> dict[str, Any]:
    """An OpenAI Realtime ``session.tools`` entry for `spec`.

    ``{"type": "function", "name", "description", "parameters"}``.
    """
    s = tool_spec(spec)
    return {
        "type": "function",
        "name": s.name,
        "description": s.description,
        "parameters": copy.deepcopy(dict(s.parameters)),
    }


def gemini_function_declaration(
    spec: ToolSpec | HasToolSpec, *, openapi: bool = False
) -> dict[str, Any]:
    """A Gemini Live ``functionDeclarations`` entry for `spec` (wire, camelCase).

    By default the JSON Schema travels unchanged in ``parametersJsonSchema``.
    With `openapi`, it is converted to the OpenAPI-subset ``parameters``
    (upper-case types, ``nullable``; string enums only — other enums are
    listed in the description instead; fixed-length tuples lose their
    per-position types).

    Raises:
        TypeError: with `openapi`, the schema uses a keyword the subset lacks.
    """
    s = tool_spec(spec)
    out: dict[str, Any] = {"name": s.name, "description": s.description}
    if openapi:
        out["parameters"] = _to_openapi(dict(s.parameters))
    else:
        out["parametersJsonSchema"] = copy.deepcopy(dict(s.parameters))
    return out


_OPENAPI_KEEP = frozenset(
    {
        "description",
        "format",
        "default",
        "title",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minProperties",
        "maxProperties",
        "example",
    }
)


def _to_openapi(schema: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    nullable = False
    any_of = schema.get("anyOf")
    if any_of is not None:
        rest = [s for s in any_of if s != {"type": "null"}]
        nullable = len(rest) < len(any_of)
        if len(rest) == 1:
            out.update(_to_openapi(rest[0]))
        else:
            out["anyOf"] = [_to_openapi(s) for s in rest]
    for key, value in schema.items():
        if key == "anyOf":
            continue
        if key == "type":
            kinds = value if isinstance(value, list) else [value]
            if "null" in kinds and len(kinds) > 1:
                nullable = True
            kinds = [k for k in kinds if k != "null"] or ["null"]
            if len(kinds) != 1:
                raise TypeError(f"the OpenAPI subset has no multi-type schemas: {value!r}")
            out["type"] = kinds[0].upper()
        elif key == "properties":
            out["properties"] = {k: _to_openapi(v) for k, v in value.items()}
            out["propertyOrdering"] = list(value)
        elif key == "required":
            out["required"] = list(value)
        elif key == "items":
            out["items"] = _to_openapi(value)
        elif key == "prefixItems":
            distinct: list[dict[str, Any]] = []
            for item in value:
                converted = _to_openapi(item)
                if converted not in distinct:
                    distinct.append(converted)
            out["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
        elif key == "additionalProperties":
            if isinstance(value, Mapping):
                out["additionalProperties"] = _to_openapi(value)
        elif key == "enum":
            values = [v for v in value if v is not None]
            if None in value:
                nullable = True
            if all(isinstance(v, str) for v in values):
                out["enum"] = values
            else:
                listed = ", ".join(repr(v) for v in values)
                note = f"One of {listed}."
                desc = schema.get("description")
                out["description"] = f"{desc} {note}" if desc else note
        elif key == "uniqueItems":
            continue
        elif key in _OPENAPI_KEEP:
            if key == "description" and "description" in out:
                continue
            out[key] = copy.deepcopy(value)
        else:
            raise TypeError(f"the OpenAPI subset has no {key!r} keyword")
    if nullable:
        out["nullable"] = True
    return out


# --------------------------------------------------------------------------- registry


class ToolRegistry(Mapping[str, FunctionTool[..., Any]]):
    """The tools of a session: name -> `FunctionTool` for the ones with handlers.

    Built from what a configuration declares: `FunctionTool` objects (or plain
    functions, wrapped with `tool`) have handlers; bare `ToolSpec` objects are
    declared to the model but their calls go to the application.

    Raises:
        trio_realtime.errors.ConfigurationError: two tools share a name.
        TypeError: an entry is neither a tool, a spec nor a function.
    """

    def __init__(
        self,
        tools: Iterable[FunctionTool[..., Any] | ToolSpec | HasToolSpec | Callable[..., Any]] = (),
    ) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._handlers: dict[str, FunctionTool[..., Any]] = {}
        for entry in tools:
            handler: FunctionTool[..., Any] | None = None
            if isinstance(entry, FunctionTool):
                handler = entry
                spec = entry.spec
            elif isinstance(entry, ToolSpec):
                spec = entry
            elif isinstance(getattr(entry, "spec", None), ToolSpec):
                spec = tool_spec(entry)  # type: ignore[arg-type]
            elif callable(entry):
                handler = tool(entry)
                spec = handler.spec
            else:
                raise TypeError(f"not a tool: {entry!r} (expected a @tool function or a ToolSpec)")
            if spec.name in self._specs:
                raise ConfigurationError(
                    f"Two tools are named {spec.name!r}; tool names must be unique."
                )
            self._specs[spec.name] = spec
            if handler is not None:
                self._handlers[spec.name] = handler

    def __getitem__(self, name: str) -> FunctionTool[..., Any]:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def __repr__(self) -> str:
        return f"ToolRegistry({list(self._specs)!r})"

    @property
    def specs(self) -> list[ToolSpec]:
        """Every declared tool, in declaration order (with or without handler)."""
        return list(self._specs.values())

    def is_declared(self, name: str) -> bool:
        """Whether a tool called `name` was declared (handler or not)."""
        return name in self._specs

    async def run(self, call: ToolCall, *, session: Any = None) -> SendToolResult:
        """Run `call` with its handler and return the result to send back.

        The function's return value becomes the output (`tool_result_payload`);
        bad arguments, an exception from the function, an unknown tool or an
        unserialisable result become an error output (`tool_error_payload`)
        with ``is_error=True``. Cancellation (a `BaseException`) propagates.
        """
        handler = self._handlers.get(call.name)
        try:
            if handler is None:
                known = ", ".join(repr(n) for n in self._handlers) or "none"
                raise UnknownToolError(
                    f"No handler for tool {call.name!r} (tools with handlers: {known})."
                )
            context = ToolContext(name=call.name, call_id=call.call_id, session=session)
            result = await handler.invoke(call.arguments, context=context)
            output = tool_result_payload(result)
        except (ToolArgumentError, UnknownToolError) as exc:
            logger.info("tool call %s (%s) rejected: %s", call.call_id, call.name, exc)
            return SendToolResult(
                call_id=call.call_id, output=tool_error_payload(exc), is_error=True
            )
        except Exception as exc:
            logger.warning("tool %s failed (call %s)", call.name, call.call_id, exc_info=True)
            return SendToolResult(
                call_id=call.call_id, output=tool_error_payload(exc), is_error=True
            )
        return SendToolResult(call_id=call.call_id, output=output)
