"""Remote MCP tools of the fake OpenAI service: listing, calls and approvals.

The service, not the client, talks to an MCP server. Here the servers are
scripted (`FakeMcpServer`, keyed by URL in ``FakeOpenAI(mcp_servers=...)``)
and the flow follows the digest (openai-realtime.md §6.3, §8.5):

- A ``session.update`` that adds an ``mcp`` tool lists its server's tools:
  ``conversation.item.added`` (an ``mcp_list_tools`` item),
  ``mcp_list_tools.in_progress``, ``.completed`` (``.failed`` for a server
  that is not scripted or fails), ``conversation.item.done`` with the tools.
- A scripted call of a listed tool (``PlannedToolCall`` with its name) runs
  on the server inside the response: ``response.output_item.added``
  (``mcp_call``), ``response.mcp_call_arguments.delta``/``.done``,
  ``response.mcp_call.in_progress``, ``.completed`` or ``.failed``,
  ``response.output_item.done`` with ``output`` or ``error``; the same
  response then speaks the scenario's reply.
- Unless the server's ``require_approval`` is ``"never"`` (or a ``never``
  filter names the tool), the model emits an ``mcp_approval_request`` item
  instead and the response ends. The client's ``conversation.item.create``
  of an ``mcp_approval_response`` and its ``response.create`` then run the
  call (approved, carrying ``approval_request_id``) or go on without it
  (denied).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..scenario import PlannedToolCall, Reply, ToolResult
from ._items import _Item
from ._responses import _Response, _ResponsesPart
from ._usage import text_tokens

__all__ = ["FakeMcpServer"]


@attrs.frozen
class FakeMcpServer:
    """A scripted remote MCP server.

    Attributes:
        tools: what it lists: ``{"name", "input_schema", "description"?}`` each.
        results: the text a call returns, by tool name, or a function of
            ``(name, arguments)``; an exception it raises makes the call fail
            with a ``tool_execution_error``.
        reachable: `False` makes listing (and so every use) fail.
    """

    tools: Sequence[Mapping[str, Any]] = ()
    results: Mapping[str, Any] | Callable[[str, Mapping[str, Any]], Any] = attrs.field(factory=dict)
    reachable: bool = True

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The call's output text.

        Raises:
            Exception: the scripted failure.
        """
        value = self.results(name, arguments) if callable(self.results) else self.results[name]
        return value if isinstance(value, str) else json.dumps(value)


def _needs_approval(tool: Mapping[str, Any], name: str) -> bool:
    rule = tool.get("require_approval")
    if rule == "never":
        return False
    if isinstance(rule, Mapping):
        never = rule.get("never") or {}
        return name not in (never.get("tool_names") or ())
    return True  # "always", or absent: the service asks


class _McpPart(_ResponsesPart):
    """Remote MCP servers: listing on ``session.update``, calls, approvals."""

    def _mcp_state(self) -> dict[str, Any]:
        """This connection's MCP state, made on first use.

        ``listed``: server label -> (its ``mcp`` tool entry, the tool names it
        listed); ``pending``: approval request id -> (the call, server label);
        ``decided``: ``(request id, approve)`` answers not yet acted on.
        """
        state: dict[str, Any] | None = self.__dict__.get("_mcp")
        if state is None:
            state = {"listed": {}, "pending": {}, "decided": []}
            self.__dict__["_mcp"] = state
        return state

    def _mcp_tool_of(self, name: str) -> tuple[dict[str, Any], str] | None:
        """The session's ``mcp`` tool entry that listed `name`, with its label."""
        for label, (entry, names) in self._mcp_state()["listed"].items():
            if name in names:
                return entry, label
        return None

    async def _list_mcp_tools(self) -> None:
        """List the tools of every ``mcp`` tool the session gained."""
        listed = self._mcp_state()["listed"]
        servers: Mapping[str, FakeMcpServer] = self.fake.mcp_servers
        for entry in self.session.get("tools") or []:
            if entry.get("type") != "mcp" or entry.get("server_label") in listed:
                continue
            label = str(entry["server_label"])
            server = servers.get(str(entry.get("server_url") or entry.get("connector_id")))
            item_id = self.ids.item()
            wire: dict[str, Any] = {
                "id": item_id,
                "type": "mcp_list_tools",
                "server_label": label,
                "tools": [],
            }
            item = _Item(wire, b"")
            previous = self._last_id()
            self.items.append(item)
            await self._send(
                self._event("conversation.item.added", previous_item_id=previous, item=dict(wire))
            )
            await self._send(self._event("mcp_list_tools.in_progress", item_id=item_id))
            if server is None or not server.reachable:
                await self._send(self._event("mcp_list_tools.failed", item_id=item_id))
                names: list[str] = []
            else:
                allowed = entry.get("allowed_tools")
                tools = [
                    dict(t)
                    for t in server.tools
                    if not isinstance(allowed, list) or t.get("name") in allowed
                ]
                wire["tools"] = tools
                names = [str(t["name"]) for t in tools]
                await self._send(self._event("mcp_list_tools.completed", item_id=item_id))
            listed[label] = (entry, names)
            await self._send(
                self._event("conversation.item.done", previous_item_id=previous, item=dict(wire))
            )

    def _mcp_answer(self, wire: dict[str, Any]) -> None:
        """Note the client's ``mcp_approval_response`` for the next response."""
        request_id = str(wire.get("approval_request_id"))
        if request_id in self._mcp_state()["pending"]:
            self._mcp_state()["decided"].append((request_id, bool(wire.get("approve"))))

    def _plan(self, resp: _Response) -> Reply:
        state = self._mcp_state()
        if not state["decided"]:
            return super()._plan(resp)
        decided, state["decided"] = state["decided"], []
        approved: list[PlannedToolCall] = []
        for request_id, approve in decided:
            call, _label = state["pending"].pop(request_id)
            if approve:
                approved.append(attrs.evolve(call, call_id=request_id))
            else:
                resp.server_results.append(
                    ToolResult(request_id, call.name, {"error": "The user denied the call."})
                )
        if approved:
            return Reply(tool_calls=tuple(approved))
        results, resp.server_results = resp.server_results, []
        return self.scenario_run.after_tools(results)

    async def _stream_tool_call(self, resp: _Response, call: PlannedToolCall, index: int) -> None:
        found = self._mcp_tool_of(call.name)
        if found is None:
            await super()._stream_tool_call(resp, call, index)
            return
        entry, label = found
        # An approved call comes back from `_plan` under its request's id.
        granted = call.call_id is not None and call.call_id.startswith("mcpr_")
        if not granted and _needs_approval(entry, call.name):
            await self._request_approval(resp, call, label, index)
            return
        await self._run_mcp_call(resp, call, label, index, call.call_id if granted else None)

    async def _request_approval(
        self, resp: _Response, call: PlannedToolCall, label: str, index: int
    ) -> None:
        request_id = "mcpr_" + self.ids.item().split("_", 1)[-1]
        wire: dict[str, Any] = {
            "id": request_id,
            "type": "mcp_approval_request",
            "server_label": label,
            "name": call.name,
            "arguments": json.dumps(dict(call.arguments), separators=(",", ":")),
        }
        item = await self._open_item(resp, wire, index)
        self._mcp_state()["pending"][request_id] = (call, label)
        await self._close_item(resp, item, index)

    async def _run_mcp_call(
        self,
        resp: _Response,
        call: PlannedToolCall,
        label: str,
        index: int,
        approval_id: str | None,
    ) -> None:
        entry = self._mcp_state()["listed"][label][0]
        server: FakeMcpServer = self.fake.mcp_servers[
            str(entry.get("server_url") or entry.get("connector_id"))
        ]
        arguments = json.dumps(dict(call.arguments), separators=(",", ":"))
        item_id = "mcp_" + self.ids.item().split("_", 1)[-1]
        wire: dict[str, Any] = {
            "id": item_id,
            "type": "mcp_call",
            "server_label": label,
            "name": call.name,
            "arguments": "",
        }
        if approval_id is not None:
            wire["approval_request_id"] = approval_id
        item = await self._open_item(resp, wire, index)
        ids = {"response_id": resp.id, "item_id": item_id, "output_index": index}
        await self._send(self._event("response.mcp_call_arguments.delta", **ids, delta=arguments))
        await self._send(
            self._event("response.mcp_call_arguments.done", **ids, arguments=arguments)
        )
        item.wire["arguments"] = arguments
        resp.out_text += text_tokens(arguments)
        where = {"item_id": item_id, "output_index": index}
        await self._send(self._event("response.mcp_call.in_progress", **where))
        try:
            output = server.call(call.name, call.arguments)
        except Exception as exc:
            item.wire["error"] = {"type": "tool_execution_error", "message": str(exc)}
            result: Any = {"error": str(exc)}
            await self._send(self._event("response.mcp_call.failed", **where))
        else:
            item.wire["output"] = output
            result = output
            await self._send(self._event("response.mcp_call.completed", **where))
        await self._close_item(resp, item, index)
        resp.server_results.append(ToolResult(item_id, call.name, result))

    def _after_server_calls(self, resp: _Response) -> Reply | None:
        if not resp.server_results or self._mcp_state()["pending"]:
            return None
        results, resp.server_results = resp.server_results, []
        return self.scenario_run.after_tools(results)
