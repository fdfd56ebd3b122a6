"""Scripted conversations for the fake servers: data and pure functions, no I/O.

A `Scenario` says how the fake "model" answers. It has scripted `Turn`s, used
one per user turn in order, and a `responder` for every turn past the script
(the default one answers briefly, or calls a declared tool the user named).

How a provider handler uses it (one `ScenarioRun` per conversation; a resumed
Gemini session keeps its run)::

    run = conn.scenario.start(tools=declared_tools, provider="openai")
    reply = run.reply_to(heard_text)            # a user turn ended
    # reply.heard: the transcript to report for the user's turn
    # wait reply.latency / speed, then:
    while reply.tool_calls:                     # call the tools, collect results
        ...send the calls, receive results...
        reply = run.after_tools(results)        # ToolResult list
    ...speak reply.text...

`after_tools` is what the model says once the results are in (OpenAI: the
response to the client's next ``response.create``; Gemini: the continuation
of the same turn).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..events import ToolSpec

__all__ = [
    "ANY_RESULT",
    "PlannedToolCall",
    "Reply",
    "ReplyContext",
    "Responder",
    "Scenario",
    "ScenarioRun",
    "ToolResult",
    "Turn",
    "default_responder",
    "example_arguments",
    "mentioned_tools",
    "parse_tool_output",
]


class _AnyResult:
    def __repr__(self) -> str:
        return "ANY_RESULT"


#: `PlannedToolCall.expect_result` default: any result is accepted.
ANY_RESULT: Any = _AnyResult()


@attrs.frozen
class PlannedToolCall:
    """A tool call the fake model makes.

    Attributes:
        name: the declared tool's name.
        arguments: the arguments it passes (a JSON object).
        expect_result: the result the test expects back; a mismatch is recorded
            in `ScenarioRun.mismatches` (the conversation goes on).
        call_id: a fixed call id, or `None` to let the handler make one in the
            provider's format.
    """

    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    expect_result: Any = ANY_RESULT
    call_id: str | None = None


@attrs.frozen
class ToolResult:
    """What the client returned for one call (`output` parsed from JSON when it is JSON)."""

    call_id: str
    name: str
    output: Any


@attrs.frozen
class Reply:
    """What the fake model does for one user turn (or after tool results).

    Attributes:
        text: what it says (spoken with the synthetic voice, or sent as text).
        tool_calls: tools to call first; when not empty, `text` is ignored and
            the handler asks `ScenarioRun.after_tools` for the next reply.
        latency: seconds of "thinking" before answering (handlers divide it by
            the server's speed).
        heard: the transcript the server reports for the user's turn.
    """

    text: str = ""
    tool_calls: Sequence[PlannedToolCall] = ()
    latency: float = 0.0
    heard: str = ""


@attrs.frozen
class ReplyContext:
    """What a responder knows when it is asked for a reply.

    Attributes:
        turn_index: 0 for the first user turn of the conversation.
        tools: the function tools the session declares.
        tool_results: results of the calls made for this turn so far (empty on
            the first call for a turn).
        history: the conversation so far as ``(role, text)`` pairs, oldest first,
            ending with the turn being answered. Roles are ``"user"``,
            ``"assistant"`` (Gemini's ``model``), ``"system"`` (OpenAI system
            items) and ``"tool"`` (a Gemini NON_BLOCKING result added with
            ``SILENT`` scheduling); seeded history (OpenAI ``conversation.item.create``, Gemini
            ``clientContent`` turns) is included, deleted items are not, and an
            OpenAI item truncated by the client has lost its text, as on the service.
        provider: ``"openai"`` or ``"gemini"``.
    """

    turn_index: int
    tools: Sequence[ToolSpec] = ()
    tool_results: Sequence[ToolResult] = ()
    history: Sequence[tuple[str, str]] = ()
    provider: str = ""


Responder = Callable[[str, ReplyContext], Reply]


@attrs.frozen
class Turn:
    """One scripted exchange.

    Attributes:
        heard: what the server reports it heard (its transcript of the user's
            speech); `None` keeps what the user said (text, or the transcript
            hidden in `voice.user_utterance` audio).
        reply: what the model says (after the tool calls, if any).
        tool_calls: tools to call before speaking.
        latency: seconds before the reply (divided by the server's speed).
        responder: answer this turn dynamically instead of with `reply`.
    """

    heard: str | None = None
    reply: str = ""
    tool_calls: Sequence[PlannedToolCall] = ()
    latency: float = 0.0
    responder: Responder | None = None


def _words(name: str) -> str:
    return re.sub(r"[_\-\s]+", " ", name).strip().lower()


def mentioned_tools(text: str, tools: Sequence[ToolSpec]) -> list[ToolSpec]:
    """Return the tools whose name occurs in `text`, in order of appearance.

    ``get_weather`` matches "get_weather", "get weather" or "Get-Weather",
    case-insensitively, as whole words.
    """
    spoken = " " + re.sub(r"[^\w]+", " ", text.replace("_", " ").replace("-", " ")).lower() + " "
    found: list[tuple[int, ToolSpec]] = []
    for tool in tools:
        key = _words(tool.name)
        if not key:
            continue
        pos = spoken.find(" " + key + " ")
        if pos >= 0:
            found.append((pos, tool))
    return [t for _, t in sorted(found, key=lambda p: p[0])]


def _first_type(schema: Mapping[str, Any]) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if str(x).lower() != "null"), t[0] if t else None)
    return str(t).lower() if t is not None else None


def example_arguments(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plausible arguments for a function tool's JSON-schema ``parameters``.

    Fills the required properties (all properties when none is marked
    required): strings ``"example"`` (or the first enum value), numbers 1 (or
    the minimum when it is higher), booleans true, nested objects recursively,
    arrays with one element. Gemini's upper-case types (``"STRING"``) work too.
    """
    value = _example(schema or {}, 0)
    return value if isinstance(value, dict) else {}


def _example(schema: Mapping[str, Any], depth: int) -> Any:
    if depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, Mapping) and _first_type(o) != "null"]
            return _example(usable[0] if usable else options[0], depth + 1)
    kind = _first_type(schema)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required") or [] if r in props]
        names = required or list(props)
        return {n: _example(props[n] or {}, depth + 1) for n in names}
    if kind == "array":
        items = schema.get("items")
        return [_example(items if isinstance(items, Mapping) else {}, depth + 1)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value: int | float = 1
        if isinstance(low, int | float) and low >= value:
            value = low + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else low
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


def _summary(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_RECALL = re.compile(
    r"\bwhat (?:did|have|had) i (?:just |already )?(?:say|said|tell|told|ask|asked|mention)"
    r"|\bdo you remember\b|\bwhat was my (?:last |previous )?(?:question|message)",
    re.IGNORECASE,
)


def _recall(heard: str, history: Sequence[tuple[str, str]]) -> str:
    earlier = list(history)
    if earlier and earlier[-1] == ("user", heard):
        earlier.pop()  # the question itself
    said = [text for role, text in earlier if role == "user" and text.strip()]
    if not said:
        return "You have not said anything before this."
    return f"Before this you said: {said[-1].strip()}"


def default_responder(heard: str, context: ReplyContext) -> Reply:
    """The fake model's default behaviour.

    * After tool results: says what the tools returned.
    * When the user's words name a declared tool: calls it (the first one
      named) with `example_arguments` of its schema.
    * When the user asks what they said before ("what did I say before?", "do
      you remember ..."): quotes their previous turn from the history, so a
      test can prove that seeding or resumption carried the conversation.
    * Otherwise: a short answer that repeats what it heard.
    """
    if context.tool_results:
        parts = [f"{r.name} returned {_summary(r.output)}" for r in context.tool_results]
        return Reply(text="Done. " + "; ".join(parts) + ".")
    named = mentioned_tools(heard, context.tools)
    if named:
        tool = named[0]
        return Reply(tool_calls=(PlannedToolCall(tool.name, example_arguments(tool.parameters)),))
    if _RECALL.search(heard):
        return Reply(text=_recall(heard, context.history))
    words = heard.split()
    if not words:
        return Reply(text="Hello! How can I help you today?")
    said = " ".join(words[:12]) + (" …" if len(words) > 12 else "")
    return Reply(text=f"You said: {said.rstrip('.!?')}. Thank you.")


@attrs.define
class Scenario:
    """How the fake model answers, for every conversation on a server.

    Attributes:
        turns: scripted turns, used in order, one per user turn.
        responder: answers every turn after the script (and turns whose
            `Turn.responder` is not set but whose `reply` is empty and that
            have no tool calls).
        runs: every conversation started with this scenario, for assertions.
    """

    turns: Sequence[Turn] = attrs.field(factory=list)
    responder: Responder = default_responder
    runs: list[ScenarioRun] = attrs.field(factory=list, init=False, repr=False)

    def start(self, *, tools: Sequence[ToolSpec] = (), provider: str = "") -> ScenarioRun:
        """Begin a conversation; the handler keeps the returned run for its session."""
        run = ScenarioRun(self, list(tools), provider)
        self.runs.append(run)
        return run


class ScenarioRun:
    """The state of one conversation following a `Scenario`.

    Attributes:
        tools: the tools the session declares (handlers update it on
            ``session.update`` / setup).
        history: ``(role, text)`` pairs so far.
        mismatches: one line per tool result that differed from what a
            `PlannedToolCall.expect_result` asked for.
        turn_index: number of user turns answered so far.
    """

    def __init__(self, scenario: Scenario, tools: list[ToolSpec], provider: str) -> None:
        self.scenario = scenario
        self.tools = tools
        self.provider = provider
        self.history: list[tuple[str, str]] = []
        self.mismatches: list[str] = []
        self.turn_index = 0
        self._heard = ""
        self._turn: Turn | None = None
        # Calls awaiting results, with the turn that planned them (its index, what
        # was heard): a late (Gemini NON_BLOCKING) result continues that turn.
        self._pending: list[tuple[PlannedToolCall, Turn | None, int, str]] = []
        self._results: list[ToolResult] = []

    def _context(self) -> ReplyContext:
        return ReplyContext(
            turn_index=self.turn_index - 1,
            tools=tuple(self.tools),
            tool_results=tuple(self._results),
            history=tuple(self.history),
            provider=self.provider,
        )

    def reply_to(self, said: str) -> Reply:
        """The reply to a user turn in which the user said `said` (may be empty)."""
        turns = self.scenario.turns
        turn = turns[self.turn_index] if self.turn_index < len(turns) else None
        self.turn_index += 1
        self._turn = turn
        self._results = []
        heard = said if turn is None or turn.heard is None else turn.heard
        self._heard = heard
        self.history.append(("user", heard))
        if turn is not None and turn.responder is None and (turn.reply or turn.tool_calls):
            if turn.tool_calls:
                reply = Reply(tool_calls=tuple(turn.tool_calls), latency=turn.latency)
            else:
                reply = Reply(text=turn.reply, latency=turn.latency)
        else:
            responder = (turn.responder if turn else None) or self.scenario.responder
            reply = responder(heard, self._context())
            if turn is not None and turn.latency and not reply.latency:
                reply = attrs.evolve(reply, latency=turn.latency)
        return self._finish(attrs.evolve(reply, heard=heard))

    def record_results(self, results: Sequence[ToolResult]) -> list[str]:
        """Add tool results to the context without a reply (Gemini ``SILENT`` results).

        Each becomes a ``("tool", "<name> returned <output>")`` history entry;
        returns those texts.
        """
        self._check_results(results)
        texts = [f"{r.name} returned {_summary(r.output)}" for r in results]
        self.history.extend(("tool", text) for text in texts)
        return texts

    def _check_results(self, results: Sequence[ToolResult]) -> tuple[Turn | None, int, str] | None:
        """Match results to planned calls; return the planning turn of the first match."""
        origin: tuple[Turn | None, int, str] | None = None
        for result in results:
            entry = next((e for e in self._pending if e[0].name == result.name), None)
            if entry is None:
                continue
            self._pending.remove(entry)
            plan, turn, index, heard = entry
            if origin is None:
                origin = (turn, index, heard)
            if plan.expect_result is not ANY_RESULT and plan.expect_result != result.output:
                self.mismatches.append(
                    f"turn {index}: tool {result.name!r} returned "
                    f"{result.output!r}, expected {plan.expect_result!r}"
                )
        return origin

    def after_tools(self, results: Sequence[ToolResult]) -> Reply:
        """The reply once tool calls have their results (it continues the turn that made them)."""
        origin = self._check_results(results)
        turn, heard = self._turn, self._heard
        if origin is not None and origin[1] != self.turn_index - 1:
            # A late result of an earlier turn: that turn's script answers it.
            turn, _, heard = origin
            self._results = []
        self._results.extend(results)
        if turn is not None and turn.responder is None and turn.tool_calls:
            reply = Reply(text=turn.reply)
        else:
            responder = (turn.responder if turn else None) or self.scenario.responder
            reply = responder(heard, self._context())
        return self._finish(attrs.evolve(reply, heard=heard))

    def _finish(self, reply: Reply) -> Reply:
        if reply.tool_calls:
            index = self.turn_index - 1
            self._pending.extend((c, self._turn, index, self._heard) for c in reply.tool_calls)
        elif reply.text:
            self.history.append(("assistant", reply.text))
        return reply

    def interrupted(self, spoken_text: str = "") -> None:
        """Record that the last reply was cut off after `spoken_text` was heard."""
        if self.history and self.history[-1][0] == "assistant":
            self.history[-1] = ("assistant", spoken_text)


def parse_tool_output(output: str) -> Any:
    """Parse a tool result sent as a JSON string; keep it as text when it is not JSON."""
    try:
        return json.loads(output)
    except (ValueError, TypeError):
        return output
