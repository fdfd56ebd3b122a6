"""JSON Schema for a tool's parameters, from their type hints.

One schema per annotation (`json_schema`); attrs classes and dataclasses
become closed objects whose fields take their descriptions from the class's
``Attributes:`` docstring section.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import attrs

from .docstrings import parse_docstring
from .payloads import tool_result_payload

__all__ = ["json_schema"]

_NoneType = type(None)


class Unsupported(TypeError):
    pass


def is_record(tp: Any) -> bool:
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
            raise Unsupported(
                f"cannot resolve the field types of {cls.__qualname__} ({exc})"
            ) from exc
        for a in attrs.fields(cls):
            if not a.init:
                continue
            if a.type is None:
                raise Unsupported(f"field {a.name!r} of {cls.__qualname__} has no type annotation")
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
        raise Unsupported(f"cannot resolve the field types of {cls.__qualname__} ({exc})") from exc
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
    raise Unsupported(f"{value!r} is not a JSON scalar")


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


def jsonable_default(value: Any) -> tuple[bool, Any]:
    try:
        return True, tool_result_payload(value)
    except (TypeError, ValueError):
        return False, None


def admits_none(tp: Any) -> bool:
    if tp is None or tp is _NoneType or tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return admits_none(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return any(admits_none(a) for a in typing.get_args(tp))
    if origin is Literal:
        return None in typing.get_args(tp)
    return False


def _object_schema(
    fields: Sequence[_Field], docs: Mapping[str, str], stack: tuple[Any, ...]
) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in fields:
        s = schema_of(f.type, stack)
        if docs.get(f.name) and annotated_description(f.type) is None:
            s = describe(s, docs[f.name])
        if f.required:
            required.append(f.name)
        elif f.default is not attrs.NOTHING and (f.default is not None or admits_none(f.type)):
            ok, value = jsonable_default(f.default)
            if ok:
                s = {**s, "default": value}
        props[f.name] = s
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def annotated_description(tp: Any) -> str | None:
    if typing.get_origin(tp) is not typing.Annotated:
        return None
    notes = [m for m in typing.get_args(tp)[1:] if isinstance(m, str)]
    return notes[-1] if notes else None


def describe(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    """`schema` with `description` first (replacing the type's own)."""
    return {"description": description, **{k: v for k, v in schema.items() if k != "description"}}


def schema_of(tp: Any, stack: tuple[Any, ...] = ()) -> dict[str, Any]:
    if isinstance(tp, (str, typing.ForwardRef)):
        raise Unsupported(f"unresolved forward reference {tp!r}")
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        base = schema_of(args[0], stack)
        note = annotated_description(tp)
        return describe(base, note) if note is not None else base
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
        return schema_of(supertype, stack)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if not values:
            raise Unsupported(f"enum {tp.__qualname__} has no members")
        for v in values:
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise Unsupported(
                    f"enum {tp.__qualname__} has a value that is not a JSON scalar: {v!r}"
                )
        return _enum_schema(values)
    if is_record(tp):
        if tp in stack:
            raise Unsupported(f"recursive type {tp.__qualname__} is not supported")
        summary, docs = parse_docstring(_record_doc(tp))
        out = _object_schema(_record_fields(tp), docs, (*stack, tp))
        return {"description": summary, **out} if summary else out
    if origin is Literal:
        values = [a.value if isinstance(a, enum.Enum) else a for a in args]
        for v in values:
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise Unsupported(f"Literal value {v!r} is not a JSON scalar")
        if None in values:
            rest = [v for v in values if v is not None]
            return _nullable(_enum_schema(rest)) if rest else {"type": "null"}
        return _enum_schema(values)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not _NoneType]
        if len(members) == 1:
            return _nullable(schema_of(members[0], stack))
        schemas = [schema_of(a, stack) for a in members]
        if len(members) < len(args):
            schemas.append({"type": "null"})
        return {"anyOf": schemas}
    if tp in (list, Sequence, set, frozenset) or origin in (list, Sequence, set, frozenset):
        items = schema_of(args[0], stack) if args else {}
        out = {"type": "array", "items": items}
        if (origin or tp) in (set, frozenset):
            out["uniqueItems"] = True
        return out
    if tp is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": schema_of(args[0], stack) if args else {}}
        if args == ((),):  # tuple[()]
            return {"type": "array", "maxItems": 0}
        return {
            "type": "array",
            "prefixItems": [schema_of(a, stack) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if tp in (dict, Mapping) or origin in (dict, Mapping):
        if args and args[0] is not str:
            raise Unsupported(f"{type_name(tp)} must have str keys (JSON object keys are strings)")
        return {"type": "object", "additionalProperties": schema_of(args[1], stack) if args else {}}
    raise Unsupported(f"{type_name(tp)} is not a supported parameter type")


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema `tool` declares for a parameter annotated `tp`.

    Raises:
        TypeError: `tp` is not a supported parameter type.
    """
    return schema_of(tp)


def type_name(tp: Any) -> str:
    if tp is None or tp is _NoneType:
        return "None"
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return type_name(typing.get_args(tp)[0])
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
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
