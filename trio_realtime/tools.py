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
scopes in which calls run. The parts live in ``trio_realtime._tools``
(docstrings, schema, arguments, payloads, providers); this module is their
public face.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import typing
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, overload

import attrs

from ._config import HasToolSpec, tool_spec
from ._tools.arguments import argument_problems, check_supported, got, structure_argument
from ._tools.docstrings import parse_docstring
from ._tools.options import OnInterrupt, Scheduling, ToolOptions
from ._tools.payloads import tool_error_payload, tool_result_payload
from ._tools.providers import gemini_function_declaration, openai_tool
from ._tools.schema import (
    Unsupported,
    admits_none,
    annotated_description,
    describe,
    json_schema,
    jsonable_default,
    schema_of,
)
from .errors import ConfigurationError, RealtimeError
from .events import SendToolResult, ToolCall, ToolSpec

__all__ = [
    "FunctionTool",
    "ToolArgumentError",
    "OnInterrupt",
    "Scheduling",
    "ToolContext",
    "ToolOptions",
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
        options: how a session runs its calls (time limit, interruption,
            Gemini non-blocking scheduling).
    """

    func: Callable[P, R]
    spec: ToolSpec
    is_async: bool
    params: tuple[_Param, ...] = attrs.field(repr=False)
    options: ToolOptions = attrs.field(factory=ToolOptions)

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
        options: ToolOptions | None = None,
    ) -> FunctionTool[P, R]:
        """Build a tool from `func`'s signature, type hints and docstring.

        `options` (default: `ToolOptions()`, or those of `func` when it is
        already a tool) say how a session runs the calls.

        Raises:
            TypeError: a parameter has no annotation or an unsupported one, or
                the function takes ``*args``/``**kwargs``.
            trio_realtime.errors.ConfigurationError: the name is not one both
                providers accept (letters, digits, ``_``, ``-``; at most 64;
                not starting with a digit or ``-``).
        """
        if isinstance(func, FunctionTool):
            if name is None and description is None:
                if options is None or options == func.options:
                    return func
                return attrs.evolve(
                    func,
                    spec=attrs.evolve(func.spec, non_blocking=options.non_blocking),
                    options=options,
                )
            options = func.options if options is None else options
            func = func.func
        if options is None:
            options = ToolOptions()
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
        summary, docs = parse_docstring(inspect.getdoc(base))
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
            params.append(_Param(p.name, tp, p.kind, is_required, p.default, ctx, admits_none(tp)))
            if ctx:
                continue
            try:
                s = schema_of(tp)
                check_supported(tp)
            except Unsupported as exc:
                raise TypeError(f"{where}: {exc}") from None
            if docs.get(p.name) and annotated_description(tp) is None:
                s = describe(s, docs[p.name])
            if is_required:
                required.append(p.name)
            elif p.default is not None or admits_none(tp):
                ok, value = jsonable_default(p.default)
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
            non_blocking=options.non_blocking,
        )
        if inspect.isasyncgenfunction(base) and options.non_blocking is not True:
            raise ConfigurationError(
                f"Tool {tool_name!r} is an async generator: each value it yields is a "
                "partial result, which only Gemini's non-blocking functions take; "
                "declare it with @tool(non_blocking=True)."
            )
        return cls(
            func=func,
            spec=spec,
            is_async=_is_async_callable(func),
            params=tuple(params),
            options=options,
        )

    @property
    def streams(self) -> bool:
        """Whether the function is an async generator (each value a partial result)."""
        base: Any = self.func
        while isinstance(base, functools.partial):
            base = base.func
        return inspect.isasyncgenfunction(base)

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
                self.name, [f"arguments must be a JSON object, got {got(arguments)}"]
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
                values[p.name] = structure_argument(arguments[p.name], p.annotation)
            except Exception as exc:
                problems += argument_problems(exc, p.name)
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

    def stream(
        self, arguments: Mapping[str, Any], *, context: ToolContext | None = None
    ) -> AsyncGenerator[Any, None]:
        """Validate `arguments` and start an async-generator tool: its partial results.

        Close the generator (``aclose``) if you stop early.

        Raises:
            ToolArgumentError: the arguments do not fit the signature (see `bind`).
            TypeError: the function is not an async generator (see `streams`).
        """
        if not self.streams:
            raise TypeError(f"tool {self.name!r} is not an async generator; use invoke()")
        args, kwargs = self.bind(arguments, context=context)
        gen: AsyncGenerator[Any, None] = self.func(*args, **kwargs)  # type: ignore[assignment]
        return gen


@overload
def tool(
    func: Callable[P, R],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    on_interrupt: OnInterrupt = "cancel",
    non_blocking: bool | None = None,
    scheduling: Scheduling | None = None,
) -> FunctionTool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    on_interrupt: OnInterrupt = "cancel",
    non_blocking: bool | None = None,
    scheduling: Scheduling | None = None,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    on_interrupt: OnInterrupt = "cancel",
    non_blocking: bool | None = None,
    scheduling: Scheduling | None = None,
) -> Any:
    """Declare a function as a tool: ``@tool`` or ``@tool(name=..., timeout=...)``.

    The description defaults to the docstring's first paragraph; each
    parameter's description comes from the docstring's ``Args:`` section (or
    ``Annotated[T, "text"]``). Parameters with defaults are optional.

    `timeout`, `on_interrupt`, `non_blocking` and `scheduling` say how a
    session runs the calls; see `ToolOptions` for each one's meaning, cost
    and which provider honours it.

    Raises:
        TypeError: a parameter's annotation is missing or unsupported.
        trio_realtime.errors.ConfigurationError: the tool name is invalid, or
            an option has a bad value (the message names it).
    """
    options: ToolOptions | None = None
    if (timeout, on_interrupt, non_blocking, scheduling) != (None, "cancel", None, None):
        options = ToolOptions(
            timeout=timeout,
            on_interrupt=on_interrupt,
            non_blocking=non_blocking,
            scheduling=scheduling,
        )
    if func is not None:
        return FunctionTool.from_function(func, name=name, description=description, options=options)

    def decorate(f: Callable[..., Any]) -> FunctionTool[..., Any]:
        return FunctionTool.from_function(f, name=name, description=description, options=options)

    return decorate


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
