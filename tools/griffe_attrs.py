"""A Griffe extension for the docs: attrs classes get their real ``__init__`` signature.

attrs writes ``__init__`` at import time, so static analysis sees none and the
reference would show ``OpenAIRealtime`` without its keywords. This extension
imports each class, reads `attrs.fields`, and adds an ``__init__`` whose
parameters carry the runtime defaults (``model='gpt-realtime'``; a factory's
product, such as ``{}``).

For the classes named in ``parameters`` (configuration classes, which users
build themselves), the ``Attributes:`` section of the docstring is rendered as
``Args:``, so the table gets a default column from that signature.

Used by ``mkdocs.yml``; not part of the package.
"""

from __future__ import annotations

import importlib
from typing import Any

import attrs
import griffe

__all__ = ["AttrsSignatures"]


def _runtime_class(cls: griffe.Class) -> type | None:
    try:
        module = importlib.import_module(cls.module.path)
    except ImportError:
        return None
    obj: Any = module
    for part in cls.path[len(cls.module.path) + 1 :].split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and attrs.has(obj) else None


def _default(field: attrs.Attribute[Any]) -> str | None:
    default: Any = field.default
    if default is attrs.NOTHING:
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return "…" if default.takes_self else repr(default.factory())
    return repr(default)


def _annotation(cls: griffe.Class, field: attrs.Attribute[Any]) -> str | griffe.Expr | None:
    member = cls.all_members.get(field.name)
    if isinstance(member, griffe.Attribute) and member.annotation is not None:
        return member.annotation
    return field.type if isinstance(field.type, str) else None


def _add_init(cls: griffe.Class, runtime: type) -> None:
    params = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for field in attrs.fields(runtime):
        if not field.init:
            continue
        kind = (
            griffe.ParameterKind.keyword_only
            if field.kw_only
            else griffe.ParameterKind.positional_or_keyword
        )
        params.append(
            griffe.Parameter(
                field.alias or field.name,
                annotation=_annotation(cls, field),
                kind=kind,
                default=_default(field),
            )
        )
    init = griffe.Function(
        "__init__", parent=cls, parameters=griffe.Parameters(*params), returns="None"
    )
    cls.set_member("__init__", init)


class AttrsSignatures(griffe.Extension):
    """Adds ``__init__`` to attrs classes; documents listed classes' fields as parameters."""

    def __init__(self, parameters: list[str] | None = None) -> None:
        super().__init__()
        self.parameters = set(parameters or ())

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        for member in list(obj.members.values()):
            if member.is_alias:
                continue
            if isinstance(member, griffe.Module):
                self._walk(member, seen)
            elif isinstance(member, griffe.Class):
                self._class(member)
                self._walk(member, seen)

    def _class(self, cls: griffe.Class) -> None:
        if "__init__" in cls.members:
            return
        runtime = _runtime_class(cls)
        if runtime is None:
            return
        _add_init(cls, runtime)
        if cls.name in self.parameters and cls.docstring is not None:
            cls.docstring.value = cls.docstring.value.replace("\nAttributes:\n", "\nArgs:\n", 1)
