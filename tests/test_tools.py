"""Function tools: schemas, provider formats, argument structuring, results, registry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import inspect
import json
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any, Literal, NewType

import attrs
import numpy as np
import pytest
import trio
import trio.lowlevel
import trio.testing
from google.genai import types as genai_types
from hypothesis import given
from hypothesis import strategies as st
from openai.types.realtime.realtime_function_tool import RealtimeFunctionTool
from openai.types.realtime.session_update_event import SessionUpdateEvent

from trio_realtime._config import HasToolSpec, tool_spec, tool_specs
from trio_realtime.errors import ConfigurationError, RealtimeError
from trio_realtime.events import SendToolResult, ToolCall, ToolSpec
from trio_realtime.tools import (
    FunctionTool,
    ToolArgumentError,
    ToolContext,
    ToolOptions,
    ToolRegistry,
    UnknownToolError,
    gemini_function_declaration,
    json_schema,
    openai_tool,
    tool,
    tool_error_payload,
    tool_result_payload,
)

# --------------------------------------------------------------------------- fixtures


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Blob(enum.Enum):
    A = object()


class Empty(enum.Enum):
    pass


@attrs.frozen
class Place:
    """A place on Earth.

    Attributes:
        city: The city's name.
        zip_code: Postal code, when known.
    """

    city: str
    zip_code: int | None = None


@attrs.frozen
class Trip:
    origin: Place
    stops: list[Place] = attrs.field(factory=list)
    color: Color = Color.RED


@attrs.define
class Node:
    value: int
    child: Node | None = None


@attrs.frozen
class Positive:
    n: int = attrs.field(validator=attrs.validators.gt(0))


@attrs.frozen
class Private:
    _secret: str


@attrs.define
class Untyped:
    a = attrs.field()  # type: ignore[var-annotated]


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0


@dataclasses.dataclass
class Labelled:
    """A labelled point.

    Attributes:
        label: What to call it.
    """

    label: str
    tags: list[str] = dataclasses.field(default_factory=list)


class Opaque:
    pass


UserId = NewType("UserId", str)


@attrs.frozen
class Weather:
    temp_c: float
    sky: Color
    when: dt.datetime
    raw: bytes = b""


def _params(t: FunctionTool[..., Any]) -> dict[str, Any]:
    return dict(t.spec.parameters)


# --------------------------------------------------------------------------- schemas

NULL = {"type": "null"}

SCHEMAS: list[tuple[Any, dict[str, Any]]] = [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, NULL),
    (type(None), NULL),
    (Any, {}),
    (str | None, {"anyOf": [{"type": "string"}, NULL]}),
    (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (int | str | None, {"anyOf": [{"type": "integer"}, {"type": "string"}, NULL]}),
    (list[int], {"type": "array", "items": {"type": "integer"}}),
    (Sequence[str], {"type": "array", "items": {"type": "string"}}),
    (list, {"type": "array", "items": {}}),
    (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
    (frozenset[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
    (tuple[float, ...], {"type": "array", "items": {"type": "number"}}),
    (
        tuple[int, str],
        {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "minItems": 2,
            "maxItems": 2,
        },
    ),
    (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
    (
        Mapping[str, list[int]],
        {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "integer"}},
        },
    ),
    (dict, {"type": "object", "additionalProperties": {}}),
    (Literal["c", "f"], {"type": "string", "enum": ["c", "f"]}),
    (Literal[1, 2, 3], {"type": "integer", "enum": [1, 2, 3]}),
    (Literal[1, "one"], {"enum": [1, "one"]}),
    (Literal["a", None], {"anyOf": [{"type": "string", "enum": ["a"]}, NULL]}),
    (Literal[Color.RED], {"type": "string", "enum": ["red"]}),
    (Color, {"type": "string", "enum": ["red", "green"]}),
    (Level, {"type": "integer", "enum": [1, 2]}),
    (Color | None, {"anyOf": [{"type": "string", "enum": ["red", "green"]}, NULL]}),
    (dt.datetime, {"type": "string", "format": "date-time"}),
    (dt.date, {"type": "string", "format": "date"}),
    (dt.time, {"type": "string", "format": "time"}),
    (UserId, {"type": "string"}),
    (Annotated[int, "How many."], {"description": "How many.", "type": "integer"}),
    (
        Place,
        {
            "description": "A place on Earth.",
            "type": "object",
            "properties": {
                "city": {"description": "The city's name.", "type": "string"},
                "zip_code": {
                    "description": "Postal code, when known.",
                    "anyOf": [{"type": "integer"}, NULL],
                    "default": None,
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    ),
    (
        Point,
        {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number", "default": 0.0}},
            "required": ["x"],
            "additionalProperties": False,
        },
    ),
    (
        Labelled,
        {
            "description": "A labelled point.",
            "type": "object",
            "properties": {
                "label": {"description": "What to call it.", "type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["label"],
            "additionalProperties": False,
        },
    ),
    (
        Private,
        {
            "type": "object",
            "properties": {"secret": {"type": "string"}},
            "required": ["secret"],
            "additionalProperties": False,
        },
    ),
]


@pytest.mark.parametrize(("annotation", "expected"), SCHEMAS, ids=[repr(a) for a, _ in SCHEMAS])
def test_json_schema_of_each_supported_type(annotation: Any, expected: dict[str, Any]) -> None:
    assert json_schema(annotation) == expected


def test_nested_attrs_schema_with_list_of_records_and_enum_default() -> None:
    place = json_schema(Place)
    assert json_schema(Trip) == {
        "type": "object",
        "properties": {
            "origin": place,
            "stops": {"type": "array", "items": place},
            "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
        },
        "required": ["origin"],
        "additionalProperties": False,
    }


def test_function_schema_description_and_required() -> None:
    @tool
    def get_weather(
        city: str,
        days: int = 1,
        units: Literal["c", "f"] = "c",
        place: Place | None = None,
        note: str = None,  # type: ignore[assignment]  # noqa: RUF013
        start: dt.date = dt.date(2024, 1, 2),
        opaque_default: float = math.nan,
    ) -> str:
        """Current weather for a city.

        Looks the forecast up; this paragraph is not part of the description.

        Args:
            city: The city, e.g. "Paris".
            days (int): How many days
                to forecast.
            units: Temperature units.

        Returns:
            A sentence.
        """
        return city

    assert isinstance(get_weather, FunctionTool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather for a city."
    assert get_weather.is_async is False
    assert _params(get_weather) == {
        "type": "object",
        "properties": {
            "city": {"description": 'The city, e.g. "Paris".', "type": "string"},
            "days": {
                "description": "How many days to forecast.",
                "type": "integer",
                "default": 1,
            },
            "units": {
                "description": "Temperature units.",
                "type": "string",
                "enum": ["c", "f"],
                "default": "c",
            },
            "place": {"anyOf": [json_schema(Place), NULL], "default": None},
            # None default on a type that does not admit null: no "default".
            "note": {"type": "string"},
            "start": {"type": "string", "format": "date", "default": "2024-01-02"},
            # NaN is not JSON: no "default".
            "opaque_default": {"type": "number"},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_docstring_parameter_description_replaces_the_type_description() -> None:
    @tool
    def go(place: Place) -> None:
        """Go.

        Args:
            place: Where to go.
        """

    schema = _params(go)["properties"]["place"]
    assert schema["description"] == "Where to go."
    assert schema["properties"] == json_schema(Place)["properties"]


def test_docstring_sections_griffe_reads() -> None:
    # The summary is the whole first paragraph; keyword-only parameters may be
    # documented under "Keyword Args:", stars and types in the entry are not
    # part of the name; a description may run over several paragraphs.
    @tool
    def book(room: str, *, nights: int = 1, note: str = "") -> None:
        """Book a room
        for the guest.

        Details that stay out of the description.

        Args:
            room (str): Room number.

        Keyword Args:
            nights: How many
                nights.
            note: Free text.

                Shown to the staff.

        Raises:
            ValueError: never.
        """

    assert book.description == "Book a room for the guest."
    props = _params(book)["properties"]
    assert props["room"]["description"] == "Room number."
    assert props["nights"]["description"] == "How many nights."
    assert props["note"]["description"] == "Free text. Shown to the staff."


def test_annotated_description_wins_over_docstring() -> None:
    @tool
    def count(n: Annotated[int, "From Annotated."]) -> int:
        """Count.

        Args:
            n: From the docstring.
        """
        return n

    assert _params(count)["properties"]["n"] == {
        "description": "From Annotated.",
        "type": "integer",
    }


def test_no_parameters_no_docstring() -> None:
    @tool
    def ping() -> str:
        return "pong"

    assert ping.spec == ToolSpec(
        name="ping",
        description="",
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
    )


def test_decorator_with_options_and_callable_like_the_function() -> None:
    @tool(name="lookup-v2", description="Look a thing up.")
    def lookup(key: str) -> str:
        """Ignored because description= is given."""
        return key.upper()

    assert lookup.name == "lookup-v2"
    assert lookup.description == "Look a thing up."
    assert lookup("abc") == "ABC"
    assert inspect.signature(lookup) == inspect.signature(lookup.func)
    assert isinstance(lookup, HasToolSpec)
    assert tool_spec(lookup) is lookup.spec
    assert tool_specs([lookup, ToolSpec(name="x")]) == [lookup.spec, ToolSpec(name="x")]


async def test_async_tool_is_detected_and_still_callable() -> None:
    @tool
    async def slow(n: int) -> int:
        """Double after a pause."""
        await trio.lowlevel.checkpoint()
        return n * 2

    assert slow.is_async is True
    with trio.fail_after(5):
        assert await slow(4) == 8


def test_partial_and_callable_object() -> None:
    def base(a: int, b: str) -> str:
        """Join a and b.

        Args:
            b: The text.
        """
        return f"{a}{b}"

    part = tool(functools.partial(base, 1))
    assert part.name == "base"
    assert part.description == "Join a and b."
    assert _params(part)["properties"] == {"b": {"description": "The text.", "type": "string"}}
    assert part.bind({"b": "x"}) == ([], {"b": "x"})

    class Adder:
        """Add one."""

        def __call__(self, n: int) -> int:
            return n + 1

    adder = tool(Adder(), name="add_one")
    assert adder.description == "Add one."
    assert _params(adder)["required"] == ["n"]
    assert adder(1) == 2


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def greet(self, name: str) -> str:
        """Greet someone.

        Args:
            name: Who.
        """
        return f"{self.greeting} {name}"


async def test_bound_method_and_double_decoration() -> None:
    greet = tool(Greeter("hi").greet)
    assert greet.name == "greet"
    assert _params(greet) == {
        "type": "object",
        "properties": {"name": {"description": "Who.", "type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    with trio.fail_after(5):
        assert await greet.invoke({"name": "Bo"}) == "hi Bo"
    assert tool(greet) is greet
    renamed = tool(greet, name="salute")
    assert renamed.name == "salute"
    assert renamed.func == greet.func
    assert renamed.spec.parameters == greet.spec.parameters


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(ToolArgumentError) as info:
        strict.bind({"city": "a", "units": "x" * 100})
    assert str(info.value) == "argument 'units': expected one of 'c', 'f', got '" + "x" * 58 + "…"

    big = enum.Enum("Big", {f"V{i}": f"v{i}" for i in range(25)})  # type: ignore[misc]

    def pick(v: Any) -> None:
        pass

    pick.__annotations__ = {"v": big, "return": None}
    with pytest.raises(ToolArgumentError) as info:
        tool(pick).bind({"v": "zz"})
    listed = ", ".join(f"'v{i}'" for i in range(20))
    assert str(info.value) == f"argument 'v': expected one of {listed}, … (25 in all), got 'zz'"


def test_context_parameter_is_not_declared() -> None:
    @tool
    def who(ctx: ToolContext, name: str) -> str:
        return f"{ctx.call_id}:{name}"

    assert list(_params(who)["properties"]) == ["name"]
    assert _params(who)["required"] == ["name"]


# --------------------------------------------------------------------------- unsupported


def _no_annotation(x) -> None:  # type: ignore[no-untyped-def]
    pass


def _varargs(*xs: int) -> None:
    pass


def _kwargs(**kw: int) -> None:
    pass


def _bytes(data: bytes) -> None:
    pass


def _opaque(thing: Opaque) -> None:
    pass


def _int_keys(m: dict[int, str]) -> None:
    pass


def _recursive(node: Node) -> None:
    pass


def _blob(b: Blob) -> None:
    pass


def _empty_enum(e: Empty) -> None:
    pass


def _unresolvable(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


def _nested_bad(xs: list[Opaque]) -> None:
    pass


def _untyped_field(u: Untyped) -> None:
    pass


UNSUPPORTED = [
    (
        _no_annotation,
        "tool '_no_annotation': parameter 'x' has no type annotation; annotate it so the model knows its type",
    ),
    (
        _varargs,
        "tool '_varargs': parameter 'xs': *args and **kwargs cannot be declared to the model",
    ),
    (_kwargs, "tool '_kwargs': parameter 'kw': *args and **kwargs cannot be declared to the model"),
    (_bytes, "tool '_bytes': parameter 'data': bytes is not a supported parameter type"),
    (_opaque, "tool '_opaque': parameter 'thing': Opaque is not a supported parameter type"),
    (
        _int_keys,
        "tool '_int_keys': parameter 'm': dict[int, str] must have str keys (JSON object keys are strings)",
    ),
    (_recursive, "tool '_recursive': parameter 'node': recursive type Node is not supported"),
    (_blob, "tool '_blob': parameter 'b': enum Blob has a value that is not a JSON scalar: "),
    (_empty_enum, "tool '_empty_enum': parameter 'e': enum Empty has no members"),
    (
        _unresolvable,
        "tool '_unresolvable': cannot resolve the type hints (NameError: name 'NoSuchType' is not defined)",
    ),
    (_nested_bad, "tool '_nested_bad': parameter 'xs': Opaque is not a supported parameter type"),
    (
        _untyped_field,
        "tool '_untyped_field': parameter 'u': field 'a' of Untyped has no type annotation",
    ),
]


@pytest.mark.parametrize(("func", "message"), UNSUPPORTED, ids=[f.__name__ for f, _ in UNSUPPORTED])
def test_unsupported_annotation_is_a_type_error(func: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        tool(func)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("name", ["", "1abc", "has space", "-x", "a" * 65, "dot.ted"])
def test_invalid_tool_name(name: str) -> None:
    with pytest.raises(ConfigurationError, match="is not valid: use 1-64 letters"):
        tool(name=name)(_bytes)


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="@tool needs a function, got 5"):
        tool(5)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- provider formats


@tool
def get_weather(city: str, units: Literal["c", "f"] = "c", days: int | None = None) -> str:
    """Current weather for a city.

    Args:
        city: City name.
        units: Temperature units.
    """
    return f"{city} {units} {days}"


@tool
def plan(
    trip: Trip, level: Level, pair: tuple[int, str], tags: set[str], when: dt.datetime
) -> None:
    """Plan a trip."""


def test_openai_tool_dict() -> None:
    assert openai_tool(get_weather) == {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"description": "City name.", "type": "string"},
                "units": {
                    "description": "Temperature units.",
                    "type": "string",
                    "enum": ["c", "f"],
                    "default": "c",
                },
                "days": {"anyOf": [{"type": "integer"}, NULL], "default": None},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    }
    # A copy: mutating it leaves the spec alone.
    d = openai_tool(get_weather.spec)
    d["parameters"]["properties"].clear()
    assert get_weather.spec.parameters["properties"]


@pytest.mark.parametrize("t", [get_weather, plan])
def test_openai_tool_validates_against_the_sdk_model(t: FunctionTool[..., Any]) -> None:
    d = openai_tool(t)
    model = RealtimeFunctionTool.model_validate(d)
    assert not model.model_extra
    assert model.model_dump(exclude_none=True) == d
    event = SessionUpdateEvent.model_validate(
        {"type": "session.update", "session": {"type": "realtime", "tools": [d]}}
    )
    tools = event.session.tools  # type: ignore[union-attr]
    assert tools is not None
    assert isinstance(tools[0], RealtimeFunctionTool)
    assert tools[0].parameters == d["parameters"]


def test_gemini_declaration_json_schema() -> None:
    d = gemini_function_declaration(get_weather)
    assert d == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parametersJsonSchema": dict(get_weather.spec.parameters),
    }
    decl = genai_types.FunctionDeclaration.model_validate(d)
    assert decl.name == "get_weather"
    assert decl.parameters_json_schema == get_weather.spec.parameters
    assert decl.parameters is None


def test_gemini_declaration_openapi_subset() -> None:
    d = gemini_function_declaration(get_weather, openapi=True)
    assert d == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "city": {"description": "City name.", "type": "STRING"},
                "units": {
                    "description": "Temperature units.",
                    "type": "STRING",
                    "enum": ["c", "f"],
                    "default": "c",
                },
                "days": {"type": "INTEGER", "default": None, "nullable": True},
            },
            "propertyOrdering": ["city", "units", "days"],
            "required": ["city"],
        },
    }
    decl = genai_types.FunctionDeclaration.model_validate(d)
    assert decl.parameters is not None
    assert decl.parameters.properties is not None
    assert decl.parameters.properties["days"].nullable is True
    assert decl.parameters.type == genai_types.Type.OBJECT


def test_gemini_openapi_conversion_of_harder_types() -> None:
    d = gemini_function_declaration(plan, openapi=True)
    props = d["parameters"]["properties"]
    assert props["level"] == {"type": "INTEGER", "description": "One of 1, 2."}
    assert props["pair"] == {
        "type": "ARRAY",
        "items": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["tags"] == {"type": "ARRAY", "items": {"type": "STRING"}}
    assert props["when"] == {"type": "STRING", "format": "date-time"}
    assert props["trip"]["properties"]["origin"]["properties"]["zip_code"] == {
        "description": "Postal code, when known.",
        "type": "INTEGER",
        "default": None,
        "nullable": True,
    }
    for decl in (d, gemini_function_declaration(plan)):
        genai_types.FunctionDeclaration.model_validate(decl)


def test_gemini_openapi_rejects_keywords_it_lacks() -> None:
    spec = ToolSpec(
        name="x",
        parameters={"type": "object", "properties": {"a": {"type": "string", "const": "q"}}},
    )
    with pytest.raises(TypeError, match="the OpenAPI subset has no 'const' keyword"):
        gemini_function_declaration(spec, openapi=True)


# --------------------------------------------------------------------------- invoke


async def test_invoke_sync_tool_structures_arguments() -> None:
    seen: list[Any] = []

    @tool
    def book(
        trip: Trip,
        level: Level,
        pair: tuple[int, str],
        tags: set[str],
        when: dt.datetime,
        scores: dict[str, float],
        points: list[Point],
        who: UserId,
        maybe: Color | None = None,
        either: int | str = 0,
    ) -> str:
        seen.append((trip, level, pair, tags, when, scores, points, who, maybe, either))
        return "booked"

    with trio.fail_after(5):
        result = await book.invoke(
            {
                "trip": {
                    "origin": {"city": "Paris"},
                    "stops": [{"city": "Lyon", "zip_code": 69001}],
                    "color": "green",
                },
                "level": 2,
                "pair": [3, "x"],
                "tags": ["a", "b", "a"],
                "when": "2024-05-06T07:08:09+00:00",
                "scores": {"a": 1, "b": 2.5},
                "points": [{"x": 1, "y": 2}],
                "who": "u1",
                "maybe": None,
                "either": "seven",
            }
        )
    assert result == "booked"
    assert seen == [
        (
            Trip(Place("Paris"), [Place("Lyon", 69001)], Color.GREEN),
            Level.HIGH,
            (3, "x"),
            {"a", "b"},
            dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
            {"a": 1.0, "b": 2.5},
            [Point(1.0, 2.0)],
            "u1",
            None,
            "seven",
        )
    ]
    assert type(seen[0][5]["a"]) is float
    assert type(seen[0][6][0].x) is float


async def test_invoke_async_tool_and_defaults(autojump_clock: trio.abc.Clock) -> None:
    @tool
    async def greet(name: str, punctuation: str = "!", times: int = 1) -> str:
        await trio.sleep(1)
        return f"hello {name}{punctuation}" * times

    with trio.fail_after(5):
        assert await greet.invoke({"name": "Ann"}) == "hello Ann!"
        # An integral float is accepted for an int (JSON has one number type).
        assert await greet.invoke({"name": "B", "times": 2.0, "punctuation": "?"}) == (
            "hello B?hello B?"
        )


async def test_invoke_passes_context_and_positional_only() -> None:
    @tool
    def f(a: int = 1, b: int = 2, /, *, ctx: ToolContext, c: str = "c") -> str:
        return f"{a}{b}{c}{ctx.name}{ctx.call_id}"

    with trio.fail_after(5):
        assert await f.invoke({"b": 5}) == "15cfNone"
        assert await f.invoke({}, context=ToolContext(name="f", call_id="k")) == "12cfk"
    assert f.bind({"b": 5})[0] == [1, 5]
    assert f.bind({"a": 5})[0] == [5]


async def test_invoke_sync_function_returning_awaitable_is_awaited() -> None:
    async def later(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x + 1

    def sync(x: int) -> Any:
        return later(x)

    t = tool(sync)
    assert t.is_async is False
    with trio.fail_after(5):
        assert await t.invoke({"x": 1}) == 2


async def test_invoke_propagates_the_function_s_exception() -> None:
    @tool
    def boom(x: int) -> int:
        raise LookupError(f"no {x}")

    with trio.fail_after(5), pytest.raises(LookupError, match="no 3"):
        await boom.invoke({"x": 3})


@tool
def strict(
    city: str,
    count: int = 0,
    ratio: float = 0.0,
    flag: bool = False,
    color: Color = Color.RED,
    units: Literal["c", "f"] = "c",
    place: Place | None = None,
    cities: list[str] = (),  # type: ignore[assignment]
    scores: dict[str, int] = None,  # type: ignore[assignment]  # noqa: RUF013
    pair: tuple[int, str] = (0, ""),
    when: dt.date | None = None,
    either: int | Color = 0,
    pos: Positive | None = None,
    pts: list[Point] = (),  # type: ignore[assignment]
) -> None:
    pass


BAD_ARGUMENTS: list[tuple[Any, str]] = [
    ({"city": 5}, "argument 'city': expected str, got int"),
    ({"city": None}, "argument 'city': expected str, got None"),
    ({}, "missing required argument 'city'"),
    ({"city": "a", "town": "b"}, "unexpected argument 'town'"),
    ({"city": "a", "count": "3"}, "argument 'count': expected int, got str"),
    ({"city": "a", "count": True}, "argument 'count': expected int, got bool"),
    ({"city": "a", "count": 2.5}, "argument 'count': expected int, got float 2.5"),
    ({"city": "a", "ratio": "1"}, "argument 'ratio': expected float, got str"),
    ({"city": "a", "flag": 1}, "argument 'flag': expected bool, got int"),
    (
        {"city": "a", "color": "blue"},
        "argument 'color': expected one of 'red', 'green', got 'blue'",
    ),
    ({"city": "a", "units": "k"}, "argument 'units': expected one of 'c', 'f', got 'k'"),
    ({"city": "a", "place": "Paris"}, "argument 'place': expected object (Place), got str"),
    ({"city": "a", "place": {}}, "argument 'place.city': required field is missing"),
    ({"city": "a", "place": {"city": 1}}, "argument 'place.city': expected str, got int"),
    ({"city": "a", "place": {"city": "x", "zip": 1}}, "argument 'place.zip': unexpected field"),
    (
        {"city": "a", "place": {"city": "x", "zip_code": "75"}},
        "argument 'place.zip_code': expected int, got str",
    ),
    ({"city": "a", "cities": "Paris"}, "argument 'cities': expected list, got str"),
    ({"city": "a", "cities": ["x", 2]}, "argument 'cities[1]': expected str, got int"),
    ({"city": "a", "scores": [1]}, "argument 'scores': expected object, got list"),
    (
        # Paths as cattrs.transform_error renders them (wire errors read the same).
        {"city": "a", "scores": {"bob": "x"}},
        "argument 'scores['bob']': expected int, got str",
    ),
    ({"city": "a", "pair": [1]}, "argument 'pair': expected a list of 2 items, got 1"),
    ({"city": "a", "pair": ["1", "x"]}, "argument 'pair[0]': expected int, got str"),
    (
        {"city": "a", "when": "tomorrow"},
        "argument 'when': expected an ISO 8601 date string, got 'tomorrow'",
    ),
    ({"city": "a", "when": 5}, "argument 'when': expected an ISO 8601 date string, got int"),
    ({"city": "a", "either": "blue"}, "argument 'either': expected int or Color, got str"),
    ({"city": "a", "pos": {"n": 0}}, "argument 'pos': 'n' must be > 0: 0"),
    ({"city": "a", "pts": [{"x": 1}, {"y": 2}]}, "argument 'pts[1].x': required field is missing"),
    (["a"], "arguments must be a JSON object, got list"),
    (
        {"city": 1, "count": "2", "extra": 0},
        "unexpected argument 'extra'; argument 'city': expected str, got int; "
        "argument 'count': expected int, got str",
    ),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_ARGUMENTS, ids=[m for _, m in BAD_ARGUMENTS])
async def test_bad_arguments_raise_tool_argument_error(arguments: Any, message: str) -> None:
    with trio.fail_after(5), pytest.raises(ToolArgumentError) as info:
        await strict.invoke(arguments)
    assert str(info.value) == message
    assert info.value.tool == "strict"
    assert "; ".join(info.value.problems) == message
    assert isinstance(info.value, RealtimeError)


def test_null_for_an_optional_parameter_means_its_default() -> None:
    # `units` does not admit None: null means "use the default".
    assert strict.bind({"city": "a", "units": None, "count": None}) == ([], {"city": "a"})
    # `place` admits None: null is passed through.
    assert strict.bind({"city": "a", "place": None}) == ([], {"city": "a", "place": None})


def test_good_arguments_for_the_strict_tool() -> None:
    args, kwargs = strict.bind(
        {"city": "a", "either": "green", "pos": {"n": 3}, "ratio": 2, "when": "2020-02-03"}
    )
    assert args == []
    assert kwargs == {
        "city": "a",
        "either": Color.GREEN,
        "pos": Positive(3),
        "ratio": 2.0,
        "when": dt.date(2020, 2, 3),
    }
    assert type(kwargs["ratio"]) is float


# --------------------------------------------------------------------------- hypothesis

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_str_argument_accepts_only_strings(value: Any) -> None:
    if isinstance(value, str):
        assert strict.bind({"city": value}) == ([], {"city": value})
        return
    with pytest.raises(ToolArgumentError) as info:
        strict.bind({"city": value})
    got = "None" if value is None else "object" if isinstance(value, dict) else type(value).__name__
    assert str(info.value) == f"argument 'city': expected str, got {got}"


@given(st.lists(st.text(), max_size=10))
def test_list_of_str_round_trips(values: list[str]) -> None:
    assert strict.bind({"city": "c", "cities": values})[1]["cities"] == values


@given(st.builds(Place, st.text(), st.none() | st.integers()))
def test_payload_of_a_record_structures_back_to_it(place: Place) -> None:
    assert strict.bind({"city": "a", "place": tool_result_payload(place)})[1]["place"] == place


@given(st.lists(st.sampled_from(Color)), st.sampled_from(Level))
def test_enum_payloads_structure_back(colors: list[Color], level: Level) -> None:
    @tool
    def f(colors: list[Color], level: Level) -> None:
        pass

    args = {"colors": tool_result_payload(colors), "level": tool_result_payload(level)}
    assert f.bind(args) == ([], {"colors": colors, "level": level})


@given(json_values)
def test_result_payload_of_json_values_is_identity(value: Any) -> None:
    assert tool_result_payload(value) == value
    json.dumps(tool_result_payload(value), allow_nan=False)


# --------------------------------------------------------------------------- payloads


def test_result_payload_of_structured_values() -> None:
    w = Weather(
        temp_c=3.5,
        sky=Color.GREEN,
        when=dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        raw=b"\x00\x01\xff",
    )
    assert tool_result_payload(
        {
            "weather": w,
            "point": Point(1, 2),
            "levels": (Level.LOW, Level.HIGH),
            "tags": frozenset({"only"}),
            "day": dt.date(2020, 1, 1),
            "at": dt.time(12, 30),
            Color.RED: np.int64(7),
            "f": np.float32(0.5),
        }
    ) == {
        "weather": {
            "temp_c": 3.5,
            "sky": "green",
            "when": "2024-01-02T03:04:05+00:00",
            "raw": "AAH/",
        },
        "point": {"x": 1, "y": 2},
        "levels": [1, 2],
        "tags": ["only"],
        "day": "2020-01-01",
        "at": "12:30:00",
        "red": 7,
        "f": 0.5,
    }
    out = tool_result_payload(Level.HIGH)
    assert out == 2
    assert type(out) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Opaque(), "tool result at $ is a Opaque, which cannot be sent as JSON; return str, int"),
        (
            {"a": [1, Opaque()]},
            'tool result at $["a"][1] is a Opaque, which cannot be sent as JSON',
        ),
        (
            {1: "x"},
            "tool result at $ has a key that is not a str: 1 (JSON object keys are strings)",
        ),
        ([math.inf], "tool result at $[0] is inf, which JSON cannot represent"),
        (math.nan, "tool result at $ is nan, which JSON cannot represent"),
    ],
)
def test_result_payload_rejects_what_json_cannot_carry(value: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        tool_result_payload(value)
    assert str(info.value).startswith(message)


def test_error_payload() -> None:
    assert tool_error_payload(ValueError("bad city")) == {"error": "ValueError: bad city"}
    assert tool_error_payload(KeyError("k")) == {"error": "KeyError: 'k'"}
    assert tool_error_payload(RuntimeError()) == {"error": "RuntimeError"}
    assert tool_error_payload(ToolArgumentError("t", ["argument 'x': expected str, got int"])) == {
        "error": "ToolArgumentError: argument 'x': expected str, got int"
    }
    key = "sk-" + "A" * 30
    assert tool_error_payload(RuntimeError(f"used {key}")) == {
        "error": "RuntimeError: used <redacted>"
    }


# --------------------------------------------------------------------------- registry


def test_registry_maps_handlers_and_keeps_declared_specs() -> None:
    def plain(x: int) -> int:
        return x

    bare = ToolSpec(name="app_only", description="Handled by the application.")
    reg = ToolRegistry([get_weather, bare, plain])
    assert list(reg) == ["get_weather", "plain"]
    assert len(reg) == 2
    assert reg["get_weather"] is get_weather
    assert reg["plain"].spec.parameters["required"] == ["x"]
    assert "app_only" not in reg
    assert reg.is_declared("app_only")
    assert not reg.is_declared("nope")
    assert reg.specs == [get_weather.spec, bare, reg["plain"].spec]
    assert repr(reg) == "ToolRegistry(['get_weather', 'app_only', 'plain'])"


def test_registry_rejects_duplicates_and_junk() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Two tools are named 'get_weather'; tool names must be unique\.$",
    ):
        ToolRegistry([get_weather, ToolSpec(name="get_weather")])
    with pytest.raises(TypeError, match="not a tool: 5"):
        ToolRegistry([5])  # type: ignore[list-item]


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


@tool
def unsendable() -> object:
    return Opaque()


@tool
async def sleepy(ctx: ToolContext, seconds: float) -> str:
    await trio.sleep(seconds)
    return f"slept {seconds} for {ctx.call_id} in {ctx.session}"


REG = ToolRegistry([divide, unsendable, sleepy])


async def test_registry_run_success_with_context() -> None:
    with trio.fail_after(5):
        assert await REG.run(ToolCall("c1", "divide", {"a": 1, "b": 4})) == SendToolResult(
            call_id="c1", output=0.25
        )
        assert await REG.run(
            ToolCall("c2", "sleepy", {"seconds": 0}), session="S"
        ) == SendToolResult(call_id="c2", output="slept 0.0 for c2 in S")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (ToolCall("c", "divide", {"a": 1, "b": 0}), "ZeroDivisionError: float division by zero"),
        (
            ToolCall("c", "divide", {"a": "1"}),
            (
                "ToolArgumentError: argument 'a': expected float, got str; "
                "missing required argument 'b'"
            ),
        ),
        (
            ToolCall("c", "nope", {}),
            (
                "UnknownToolError: No handler for tool 'nope' "
                "(tools with handlers: 'divide', 'unsendable', 'sleepy')."
            ),
        ),
        (
            ToolCall("c", "unsendable", {}),
            ("TypeError: tool result at $ is a Opaque, which cannot be sent as JSON; "),
        ),
    ],
)
async def test_registry_run_turns_failures_into_error_results(call: ToolCall, error: str) -> None:
    with trio.fail_after(5):
        result = await REG.run(call)
    assert result.call_id == "c"
    assert result.is_error is True
    assert result.respond is True
    assert list(result.output) == ["error"]
    assert result.output["error"].startswith(error)
    if not error.endswith("; "):
        assert result.output["error"] == error


async def test_registry_run_is_cancellable(autojump_clock: trio.testing.MockClock) -> None:
    results: list[SendToolResult] = []
    with trio.fail_after(100):
        with trio.move_on_after(5) as scope:
            results.append(await REG.run(ToolCall("c", "sleepy", {"seconds": 60})))
        assert scope.cancelled_caught
        assert results == []
        assert trio.current_time() == pytest.approx(5)


def test_unknown_tool_error_is_a_realtime_error() -> None:
    assert issubclass(UnknownToolError, RealtimeError)
    assert issubclass(ToolArgumentError, RealtimeError)


# --------------------------------------------------------------------------- options


def test_tool_options_are_kept_on_the_tool_and_the_spec() -> None:
    @tool(timeout=2.5, on_interrupt="finish", non_blocking=True, scheduling="when_idle")
    async def book(room: str) -> str:
        return room

    assert book.options == ToolOptions(
        timeout=2.5, on_interrupt="finish", non_blocking=True, scheduling="when_idle"
    )
    assert book.spec.non_blocking is True
    # Re-declaring under another name keeps the options; plain @tool keeps them too.
    assert tool(book).options is book.options
    renamed = tool(book, name="reserve")
    assert renamed.options == book.options
    assert renamed.spec.non_blocking is True
    # New options on an existing tool replace the old ones.
    blocking = tool(book, non_blocking=False)
    assert blocking.options == ToolOptions(non_blocking=False)
    assert blocking.spec.non_blocking is False
    assert tool(lambda: None, name="plain").options == ToolOptions()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "tool timeout must be a positive number of seconds or None, got 0."),
        ({"timeout": -1.0}, "got -1.0."),
        ({"timeout": math.inf}, "got inf."),
        ({"timeout": True}, "got True."),
        ({"timeout": "5"}, "got '5'."),
        (
            {"on_interrupt": "shield"},
            "tool on_interrupt must be 'cancel' or 'finish', got 'shield'.",
        ),
        ({"non_blocking": "yes"}, "tool non_blocking must be True, False or None, got 'yes'."),
        (
            {"non_blocking": True, "scheduling": "later"},
            "tool scheduling must be 'interrupt', 'when_idle' or 'silent', got 'later'.",
        ),
        ({"scheduling": "silent"}, "tool scheduling='silent' needs non_blocking=True"),
        ({"non_blocking": False, "scheduling": "silent"}, "needs non_blocking=True"),
    ],
)
def test_bad_tool_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    def f() -> None:
        pass

    with pytest.raises(ConfigurationError) as info:
        tool(f, **options)
    assert message in str(info.value)


def test_non_blocking_declarations() -> None:
    @tool(non_blocking=True)
    def slow() -> None:
        """Slow."""

    @tool(non_blocking=False)
    def quick() -> None:
        """Quick."""

    assert gemini_function_declaration(slow)["behavior"] == "NON_BLOCKING"
    assert gemini_function_declaration(quick)["behavior"] == "BLOCKING"
    assert "behavior" not in gemini_function_declaration(tool(lambda: None, name="plain"))
    assert openai_tool(quick)["name"] == "quick"  # blocking is what OpenAI does anyway
    with pytest.raises(ConfigurationError, match="'slow' is non_blocking=True, which only Gemini"):
        openai_tool(slow)


async def test_async_generator_tools_stream_partial_results() -> None:
    async def progress(steps: int) -> AsyncIterator[int]:
        """Report progress."""
        for i in range(steps):
            yield i

    with pytest.raises(ConfigurationError, match=r"async generator: .*non_blocking=True"):
        tool(progress)
    streaming = tool(progress, non_blocking=True)
    assert streaming.streams
    assert not tool(lambda: None, name="plain").streams
    with trio.fail_after(5):
        assert [v async for v in streaming.stream({"steps": 3})] == [0, 1, 2]
    with pytest.raises(ToolArgumentError, match="argument 'steps': expected int, got str"):
        streaming.stream({"steps": "3"})
    with pytest.raises(TypeError, match="not an async generator"):
        tool(lambda: None, name="plain").stream({})
