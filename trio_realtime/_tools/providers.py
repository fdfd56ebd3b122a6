"""Each provider's declaration of a function tool, as wire dicts."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .._config import HasToolSpec, tool_spec
from ..errors import ConfigurationError
from ..events import ToolSpec

__all__ = ["check_openai_tool", "gemini_function_declaration", "openai_tool"]


def check_openai_tool(spec: ToolSpec) -> None:
    """Refuse what OpenAI Realtime cannot declare.

    Raises:
        ConfigurationError: `spec` is non-blocking (a Gemini feature: an
            OpenAI response ends at its function call and waits for the output).
    """
    if spec.non_blocking:
        raise ConfigurationError(
            f"Tool {spec.name!r} is non_blocking=True, which only Gemini Live offers: an "
            "OpenAI Realtime response ends at its function call and the model continues once "
            "the output is sent. Declare it without non_blocking (and scheduling) for OpenAI."
        )


def openai_tool(spec: ToolSpec | HasToolSpec) -> dict[str, Any]:
    """An OpenAI Realtime ``session.tools`` entry for `spec`.

    ``{"type": "function", "name", "description", "parameters"}``.

    Raises:
        ConfigurationError: the tool is non-blocking (see `check_openai_tool`).
    """
    s = tool_spec(spec)
    check_openai_tool(s)
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
    A tool declared with ``non_blocking`` carries ``behavior``
    (``NON_BLOCKING``/``BLOCKING``). With `openapi`, the schema is converted
    to the OpenAPI-subset ``parameters``
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
    if s.non_blocking is not None:
        out["behavior"] = "NON_BLOCKING" if s.non_blocking else "BLOCKING"
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
