"""The model's JSON arguments structured into a tool's declared types.

One cattrs converter with strict hooks (JSON has one number type, so ``3.0``
is an ``int`` but ``"3"`` is not); failures are rendered by
`cattrs.transform_error`, one ``argument 'path': problem`` line each.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from .schema import _NoneType, is_record, type_name

__all__ = ["argument_problems", "check_supported", "got", "structure_argument"]


class _Mismatch(ValueError):
    """A value that does not fit the declared type (message is the problem)."""


def got(value: Any) -> str:
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


def _run_items(
    pairs: Iterable[tuple[int | str, Any]], hook: Callable[[Any, Any], Any], tp: Any, whole: Any
) -> list[Any]:
    """Structure each item; every failure is noted with its index or key."""
    out: list[Any] = []
    problems: list[Exception] = []
    for index, item in pairs:
        try:
            out.append(hook(item, tp))
        except Exception as exc:
            exc.add_note(cattrs.IterableValidationNote(f"item {index!r}", index, tp))
            problems.append(exc)
    if problems:
        raise cattrs.IterableValidationError(f"{len(problems)} bad item(s)", problems, whole)
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
            raise _Mismatch(f"expected str, got {got(v)}")
        return v

    def s_bool(v: Any, _t: Any) -> bool:
        if not isinstance(v, bool):
            raise _Mismatch(f"expected bool, got {got(v)}")
        return v

    def s_int(v: Any, _t: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)  # JSON has one number type; models write 3.0 for 3.
        raise _Mismatch(f"expected int, got {got(v)}" + (f" {v!r}" if isinstance(v, float) else ""))

    def s_float(v: Any, _t: Any) -> float:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        raise _Mismatch(f"expected float, got {got(v)}")

    def s_none(v: Any, _t: Any) -> None:
        if v is not None:
            raise _Mismatch(f"expected None, got {got(v)}")

    def iso(kind: type, parse: Callable[[str], Any]) -> Callable[[Any, Any], Any]:
        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, str):
                raise _Mismatch(f"expected {type_name(kind)}, got {got(v)}")
            try:
                return parse(v)
            except ValueError:
                raise _Mismatch(f"expected {type_name(kind)}, got {_short(v)}") from None

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
        expected = type_name(tp)

        def union_hook(v: Any, _t: Any) -> Any:
            for a, h in hooks:
                try:
                    return h(v, a)
                except Exception:
                    continue
            raise _Mismatch(f"expected {expected}, got {got(v)}")

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
                raise _Mismatch(f"expected list, got {got(v)}")
            items = _run_items(enumerate(v), h, item, tp)
            return make(items)

        return hook

    def tuple_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            h = conv.get_structure_hook(item)

            def var_hook(v: Any, _t: Any) -> Any:
                if not isinstance(v, (list, tuple)):
                    raise _Mismatch(f"expected list, got {got(v)}")
                return tuple(_run_items(enumerate(v), h, item, tp))

            return var_hook
        fixed = [] if args == ((),) else list(args)
        hooks = [conv.get_structure_hook(a) for a in fixed]

        def fixed_hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, (list, tuple)):
                raise _Mismatch(f"expected list, got {got(v)}")
            if len(v) != len(fixed):
                raise _Mismatch(f"expected a list of {len(fixed)} items, got {len(v)}")
            out: list[Any] = []
            problems: list[Exception] = []
            for i, (x, a, h) in enumerate(zip(v, fixed, hooks, strict=True)):
                try:
                    out.append(h(x, a))
                except Exception as exc:
                    exc.add_note(cattrs.IterableValidationNote(f"item {i}", i, a))
                    problems.append(exc)
            if problems:
                raise cattrs.IterableValidationError(f"{len(problems)} bad item(s)", problems, tp)
            return tuple(out)

        return fixed_hook

    def mapping_factory(tp: Any) -> Callable[[Any, Any], Any]:
        args = typing.get_args(tp)
        value_t = args[1] if args else Any
        h = conv.get_structure_hook(value_t)

        def hook(v: Any, _t: Any) -> Any:
            if not isinstance(v, dict):
                raise _Mismatch(f"expected object, got {got(v)}")
            for k in v:
                if not isinstance(k, str):
                    raise _Mismatch(f"expected object with str keys, got key {k!r}")
            keys = list(v)
            values = _run_items(((k, v[k]) for k in keys), h, value_t, tp)
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
                raise _Mismatch(f"expected object ({tp.__qualname__}), got {got(v)}")
            try:
                return base(v, tp)
            except cattrs.ClassValidationError as exc:
                raise _extra_keys_per_field(exc) from None

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
    conv.register_structure_hook_factory(is_record, record_factory)
    conv.register_structure_hook_factory(_is_literal, literal_factory)
    conv.register_structure_hook_factory(_is_union, union_factory)
    conv.register_structure_hook_factory(_is_annotated, annotated_factory)
    conv.register_structure_hook_factory(_is_newtype, newtype_factory)
    return conv


_CONVERTER = _make_converter()


def _extra_keys_per_field(exc: cattrs.ClassValidationError) -> cattrs.ClassValidationError:
    """`exc` with its forbidden-extra-keys error split into one problem per key.

    cattrs reports extra keys once, at the object; the model is better served
    by ``argument 'place.zip': unexpected field``, at the key's own path.
    """
    problems: list[Exception] = []
    for sub in exc.exceptions:
        if isinstance(sub, cattrs.ForbiddenExtraKeysError):
            for key in sorted(sub.extra_fields):
                extra = _Mismatch("unexpected field")
                extra.add_note(cattrs.AttributeValidationNote(f"field {key!r}", key, Any))
                problems.append(extra)
        else:
            problems.append(sub)
    return cattrs.ClassValidationError(exc.message, problems, exc.cl)


def _format_exception(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, _Mismatch):
        text = str(exc)
    elif isinstance(exc, KeyError):
        text = "required field is missing"
    elif isinstance(exc, (ValueError, TypeError)) and str(exc):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    # NUL marks where the message ends (a repr never contains a raw one).
    return text.replace("\0", "") + "\0"


def structure_argument(value: Any, tp: Any) -> Any:
    """`value` (JSON data) structured into `tp`, validated.

    Raises:
        Exception: the value does not fit; `argument_problems` explains it.
    """
    return _CONVERTER.structure(value, tp)


def check_supported(tp: Any) -> None:
    """Build (and cache) the structuring hook for `tp`.

    Raises:
        Exception: the converter cannot structure `tp`.
    """
    _CONVERTER.get_structure_hook(tp)


def argument_problems(exc: BaseException, name: str) -> list[str]:
    """``argument 'path': problem`` lines for a failure of `structure_argument`.

    Paths are rendered by `cattrs.transform_error`, as for wire messages:
    ``place.city``, ``cities[1]``, ``scores['bob']``.
    """
    lines = cattrs.transform_error(exc, path=name, format_exception=_format_exception)
    out: list[str] = []
    for line in lines:
        message, _, path = line.partition("\0 @ ")
        out.append(f"argument '{path}': {message}")
    return out
