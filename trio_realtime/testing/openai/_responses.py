"""Responses of the fake OpenAI service."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from functools import partial
from typing import Any, Final

import attrs
import trio

from ..._wire import b64encode
from ...events import ToolSpec
from ..faults import MID_AUDIO, MID_TOOL_CALL, RESPONSE_DONE
from ..scenario import PlannedToolCall, Reply, ReplyContext, example_arguments
from ..voice import synthesize
from ._defaults import bytes_per_ms
from ._g711 import g711_encode
from ._items import _Item, _ItemsPart, _said_of_message, history_of
from ._usage import audio_tokens, image_tokens, response_usage, text_tokens
from ._validation import Invalid, _check_keys, _str, validate_response_params

#: The service sends ``conversation.item.done`` just before ``response.output_item.done``
#: (seen in captured traffic; some documents list them the other way round).
_ITEM_DONE_FIRST: Final = True

_RATE_LIMIT_TOKENS: Final = 15_000_000


@attrs.define(eq=False)
class _Response:
    id: str
    conversation: bool
    params: dict[str, Any]
    modalities: list[str]
    voice: Any
    format: dict[str, Any]
    max_output_tokens: Any
    metadata: dict[str, Any] | None
    reply: Reply | None = None
    reason: str | None = None
    output: list[dict[str, Any]] = attrs.field(factory=list)
    cancel_event: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    context_text: int = 0
    context_audio: int = 0
    context_image: int = 0
    out_text: int = 0
    out_audio: int = 0
    spoken: str = ""
    calls_made: int = 0
    audio_s: float = 0.0
    limited: bool = False
    #: Results of calls the service ran itself (remote MCP) in this response.
    server_results: list[Any] = attrs.field(factory=list)

    def is_cancelled(self) -> bool:
        return self.reason is not None


def _add_transcript(item: _Item, part: dict[str, Any], delta: str) -> None:
    if not item.truncated:  # a truncated item keeps no text
        part["transcript"] += delta


def _add_text(part: dict[str, Any], delta: str) -> None:
    part["text"] += delta


def _item_tokens(item: _Item) -> tuple[int, int]:
    """The text and image tokens an item adds to the context (images are not text)."""
    content = item.wire.get("content")
    if not isinstance(content, list):
        other = {k: v for k, v in item.wire.items() if k not in ("id", "type", "status")}
        return text_tokens(json.dumps(other)), 0
    text = images = 0
    for part in content:
        if part.get("type") == "input_image":
            images += image_tokens(part.get("detail"))
        else:
            text += text_tokens(json.dumps({k: v for k, v in part.items() if k != "type"}))
    return text, images


class _ResponsesPart(_ItemsPart):
    """Responses: planning, streaming audio, text and calls, cancelling, ``response.done``."""

    # -- responses ---------------------------------------------------------------------

    async def _response_create(self, raw: dict[str, Any]) -> None:
        if self.kind != "realtime":
            raise Invalid(
                "invalid_value", "Responses are not supported in a transcription session."
            )
        params = validate_response_params(raw)
        self._typed(raw)
        if params.get("conversation", "auto") != "none" and self.active is not None:
            raise Invalid(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: "
                f"{self.active.id}. Wait until the response is finished before creating a new one.",
            )
        await self._start_response(params)

    async def _response_cancel(self, raw: dict[str, Any]) -> None:
        _check_keys(raw, ("type", "event_id", "response_id"), "")
        wanted = raw.get("response_id")
        if wanted is not None:
            _str(wanted, "response_id")
        resp = self.responses.get(str(wanted)) if wanted else self.active
        if resp is None or resp.is_cancelled() or resp.done.is_set():
            raise Invalid(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        await self._cancel(resp, "client_cancelled")

    async def _cancel(self, resp: _Response, reason: str) -> None:
        if resp.reason is None:
            resp.reason = reason
            resp.cancel_event.set()
        await resp.done.wait()

    async def _start_response(self, params: dict[str, Any]) -> None:
        session = self.session
        out_audio = (params.get("audio") or {}).get("output") or {}
        voice = out_audio.get("voice", session["audio"]["output"]["voice"])
        fmt = out_audio.get("format", session["audio"]["output"]["format"])
        metadata = params.get("metadata")
        resp = _Response(
            id=self.ids.response(),
            conversation=params.get("conversation", "auto") != "none",
            params=params,
            modalities=list(params.get("output_modalities") or session["output_modalities"]),
            voice=copy.deepcopy(voice),
            format=copy.deepcopy(fmt),
            max_output_tokens=params.get("max_output_tokens", session["max_output_tokens"]),
            metadata=dict(metadata) if metadata else None,
        )
        resp.reply = self._plan(resp)
        self.responses[resp.id] = resp
        if resp.conversation:
            self.active = resp
            self._idle_from = None
        await self._send(
            self._event("response.created", response=self._response_object(resp, "in_progress"))
        )
        assert self._nursery is not None
        self._nursery.start_soon(self._run_response, resp)

    def _plan(self, resp: _Response) -> Reply:
        """What the model does: the scenario's reply, unless ``tool_choice`` forces a call."""
        reply = self._plan_unforced(resp)
        params = resp.params
        choice = params.get("tool_choice", self.session.get("tool_choice"))
        tools = params["tools"] if "tools" in params else self.session.get("tools") or []
        specs = self._tool_specs(tools)
        if reply.tool_calls or not specs:
            return reply
        forced: ToolSpec | None = None
        if isinstance(choice, dict) and choice.get("type") == "function":
            forced = next((t for t in specs if t.name == choice.get("name")), None)
        elif choice == "required":
            forced = specs[0]
        if forced is None:
            return reply
        call = PlannedToolCall(forced.name, example_arguments(forced.parameters))
        return attrs.evolve(reply, text="", tool_calls=(call,))

    def _plan_unforced(self, resp: _Response) -> Reply:
        """Ask the scenario what the model does, and count the context it reads."""
        params = resp.params
        tools = params["tools"] if "tools" in params else self.session.get("tools") or []
        choice = params.get("tool_choice", self.session.get("tool_choice"))
        specs = [] if choice == "none" else self._tool_specs(tools)
        instructions = params.get("instructions", self.session.get("instructions") or "")
        context: list[_Item] = list(self.items)
        said: str | None = None
        if "input" in params:
            context = []
            for entry in params["input"]:
                if entry.get("type") == "item_reference":
                    found = self._find(str(entry.get("id")))
                    if found is not None:
                        context.append(found)
                elif entry.get("type") == "message":
                    try:
                        wire, audio = self._item_wire(entry)
                    except Invalid:
                        continue
                    extra = _Item(wire, audio)
                    extra.said = _said_of_message(entry, audio, 48)
                    context.append(extra)
            users = [pos for pos, i in enumerate(context) if i.role() == "user"]
            said = context[users[-1]].said if users else ""
            if resp.conversation:
                self.scenario_run.history = history_of(context[: users[-1] if users else None])
        resp.context_text = text_tokens(str(instructions)) + sum(
            _item_tokens(i)[0] for i in context
        )
        resp.context_image = sum(_item_tokens(i)[1] for i in context)
        resp.context_audio = sum(
            audio_tokens(i.audio_ms) for i in context if i.role() == "user"
        ) + sum(audio_tokens(i.audio_ms, output=True) for i in context if i.role() == "assistant")
        if not resp.conversation:
            if said is None:
                said = next((i.said for i in reversed(self.items) if i.role() == "user"), "")
            ctx = ReplyContext(
                turn_index=self.scenario_run.turn_index,
                tools=tuple(specs),
                history=tuple(history_of(context)),
                provider="openai",
            )
            return self.scenario_run.scenario.responder(said, ctx)
        self.scenario_run.tools = specs
        if self._results:
            results, self._results = self._results, []
            self.scenario_run.history = history_of(self.items)
            return self.scenario_run.after_tools(results)
        if said is None:
            said = ""
            start = 0
            if self._answered is not None:
                done = self._find(self._answered)
                start = self.items.index(done) + 1 if done is not None else 0
            answered = len(self.items)
            for pos in range(len(self.items) - 1, start - 1, -1):
                item = self.items[pos]
                if item.role() == "user":
                    said = item.said
                    self._answered = item.id
                    answered = pos
                    break
            # The scenario sees the conversation as the service keeps it: seeded
            # items of every role, without deleted ones, truncated ones cut.
            self.scenario_run.history = history_of(self.items[:answered])
        return self.scenario_run.reply_to(said)

    def _response_object(
        self,
        resp: _Response,
        status: str,
        *,
        details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": resp.id,
            "status": status,
            "status_details": details,
            "output": copy.deepcopy(resp.output),
            "conversation_id": self.conversation_id if resp.conversation else None,
            "output_modalities": list(resp.modalities),
            "max_output_tokens": resp.max_output_tokens,
            "audio": {"output": {"format": copy.deepcopy(resp.format), "voice": resp.voice}},
            "usage": usage,
            "metadata": resp.metadata,
        }

    async def _run_response(self, resp: _Response) -> None:
        reply = resp.reply
        assert reply is not None
        try:
            if reply.latency > 0 and self._paced():
                await self._wait(resp, trio.current_time() + reply.latency / self.speed)
            index = 0
            if not resp.is_cancelled():
                if reply.tool_calls:
                    for call in reply.tool_calls:
                        if resp.is_cancelled():
                            break
                        await self._stream_tool_call(resp, call, index)
                        index += 1
                    follow = self._after_server_calls(resp)
                    if follow is not None and follow.text and not resp.is_cancelled():
                        # The service ran the calls itself: the reply goes on at once.
                        text = self._within_limit(resp, follow.text)
                        if "audio" in resp.modalities:
                            await self._stream_audio(resp, text, index)
                        else:
                            await self._stream_text(resp, text, index)
                elif reply.text:
                    text = self._within_limit(resp, reply.text)
                    if "audio" in resp.modalities:
                        await self._stream_audio(resp, text, index)
                    else:
                        await self._stream_text(resp, text, index)
            await self._finish_response(resp)
        finally:
            self.responses.pop(resp.id, None)
            if self.active is resp:
                self.active = None
            resp.done.set()
        if resp.calls_made and not resp.is_cancelled():
            await self.conn.checkpoint(MID_TOOL_CALL)
        await self.conn.checkpoint(RESPONSE_DONE)

    @staticmethod
    def _within_limit(resp: _Response, text: str) -> str:
        """Cut `text` to ``max_output_tokens`` (text tokens, ~8 audio tokens a spoken word)."""
        limit = resp.max_output_tokens
        if not isinstance(limit, int) or isinstance(limit, bool):
            return text
        per_word = 8 if "audio" in resp.modalities else 0
        words = text.split()
        kept: list[str] = []
        for word in words:
            if text_tokens(" ".join([*kept, word])) + per_word * (len(kept) + 1) > limit:
                resp.limited = True
                break
            kept.append(word)
        return " ".join(kept)

    async def _finish_response(self, resp: _Response) -> None:
        if resp.is_cancelled():
            status = "cancelled"
            details: dict[str, Any] | None = {"type": "cancelled", "reason": resp.reason}
            if resp.conversation and resp.reply is not None and resp.reply.text:
                self.scenario_run.interrupted(resp.spoken)
        else:
            status, details = "completed", None
            if resp.limited:
                status = "incomplete"
                details = {"type": "incomplete", "reason": "max_output_tokens"}
        cached = 0
        if resp.conversation:
            cached = self._prev_input_tokens // 64 * 64
            self._prev_input_tokens = resp.context_text + resp.context_audio + resp.context_image
        usage = response_usage(
            resp.context_text,
            resp.context_audio,
            resp.out_text,
            resp.out_audio,
            cached,
            in_image=resp.context_image,
        )
        # The response stops being active when response.done goes out: a client may
        # send its next response.create the moment it reads it.
        self.responses.pop(resp.id, None)
        if self.active is resp:
            self.active = None
        if resp.conversation:
            # The idle timeout counts from when the reply would have finished playing.
            playing = resp.audio_s / self.speed if self._paced() else 0.0
            self._idle_from = trio.current_time() + playing
            self._kick_idle()
        await self._send(
            self._event(
                "response.done",
                response=self._response_object(resp, status, details=details, usage=usage),
            )
        )
        self._tokens_used += usage["total_tokens"]
        await self._send(
            self._event(
                "rate_limits.updated",
                rate_limits=[
                    {
                        "name": "tokens",
                        "limit": _RATE_LIMIT_TOKENS,
                        "remaining": max(0, _RATE_LIMIT_TOKENS - self._tokens_used),
                        "reset_seconds": 0.001,
                    }
                ],
            )
        )

    async def _open_item(self, resp: _Response, wire: dict[str, Any], index: int) -> _Item:
        """Announce a new output item (``output_item.added``, ``conversation.item.added``)."""
        bpm = bytes_per_ms(resp.format)
        item = _Item(wire, b"", bpm)
        await self._send(
            self._event(
                "response.output_item.added",
                response_id=resp.id,
                output_index=index,
                item=copy.deepcopy(wire),
            )
        )
        if resp.conversation:
            previous = self._last_id()
            self.items.append(item)
            await self._send(
                self._event(
                    "conversation.item.added", previous_item_id=previous, item=copy.deepcopy(wire)
                )
            )
        return item

    async def _close_item(self, resp: _Response, item: _Item, index: int) -> None:
        """Finish an output item (``conversation.item.done``, ``output_item.done``)."""
        events = []
        if resp.conversation and item in self.items:
            pos = self.items.index(item)
            previous = self.items[pos - 1].id if pos > 0 else None
            events.append(
                self._event(
                    "conversation.item.done",
                    previous_item_id=previous,
                    item=copy.deepcopy(item.wire),
                )
            )
        done = self._event(
            "response.output_item.done",
            response_id=resp.id,
            output_index=index,
            item=copy.deepcopy(item.wire),
        )
        events.insert(len(events) if _ITEM_DONE_FIRST else 0, done)
        for event in events:
            await self._send(event)
        resp.output.append(copy.deepcopy(item.wire))

    def _speech_chunks(self, text: str, fmt: Mapping[str, Any]) -> list[bytes]:
        kind = fmt.get("type")
        if kind == "audio/pcm":
            return [f.samples.astype("<i2").tobytes() for f in self._voice.speak(text)]
        frame = synthesize(text, 8000)
        data = g711_encode(frame.samples, str(kind))
        step = max(1, round(8 * self.fake.chunk_ms))
        return [data[i : i + step] for i in range(0, len(data), step)]

    async def _open_message(self, resp: _Response, index: int) -> tuple[str, _Item, dict[str, Any]]:
        """Add an in-progress assistant message item; return its id, item and event ids."""
        item_id = self.ids.item()
        wire: dict[str, Any] = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        item = await self._open_item(resp, wire, index)
        ids = {
            "response_id": resp.id,
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
        }
        return item_id, item, ids

    async def _stream_audio(self, resp: _Response, text: str, index: int) -> None:
        item_id, item, ids = await self._open_message(resp, index)
        # The stored item follows the stream, as the service keeps it: the part
        # appears when added, transcript and audio grow with the deltas.
        part: dict[str, Any] = {"type": "output_audio", "transcript": ""}
        await self._send(
            self._event(
                "response.content_part.added", **ids, part={"type": "audio", "transcript": ""}
            ),
            then=lambda: item.wire["content"].append(part),
        )
        chunks = self._speech_chunks(text, resp.format)
        words = re.findall(r"\S+", text)
        deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
        chunk_s = self.fake.chunk_ms / 1000.0
        spoken: list[str] = []
        audio = bytearray()  # what was produced (the item keeps it unless truncated)
        item.audio = audio
        produced = 0
        start = trio.current_time()
        head = (
            '{"type":"response.output_audio.delta","event_id":"%s","response_id":"'
            + resp.id
            + '","item_id":"'
            + item_id
            + '","output_index":'
            + str(index)
            + ',"content_index":0,"delta":"'
        )

        async def say_until(goal: int) -> None:
            """Send transcript deltas up to word `goal` (ahead of the audio they match)."""
            while len(spoken) < goal and not resp.is_cancelled():
                delta = deltas[len(spoken)]
                spoken.append(delta)
                await self._send(
                    self._event(
                        "response.output_audio_transcript.delta",
                        **ids,
                        delta=delta,
                        obfuscation=self.ids.obfuscation(delta),
                    ),
                    then=partial(_add_transcript, item, part, delta),
                )

        for i, chunk in enumerate(chunks):
            await say_until(
                min(len(deltas), math.ceil((i + 1) * len(deltas) / max(1, len(chunks))))
            )
            if resp.is_cancelled():
                break
            if self._paced():
                await self._wait(resp, start + i * chunk_s / self.speed)
                if resp.is_cancelled():
                    break
            text_frame = head % self.ids.event() + b64encode(chunk) + '"}'
            async with self._send_lock:
                await self.conn.send(text_frame)
                if not item.truncated:
                    audio += chunk
            produced += len(chunk)
            self.audio_produced = True
            resp.out_audio = audio_tokens(produced / item.bpm, output=True)
            resp.audio_s = produced / item.bpm / 1000.0
            await self.conn.checkpoint(MID_AUDIO)
        await say_until(len(deltas))
        transcript = "".join(spoken)
        resp.spoken = transcript
        resp.out_text += text_tokens(transcript)
        await self._send(self._event("response.output_audio.done", **ids))
        await self._send(
            self._event("response.output_audio_transcript.done", **ids, transcript=transcript)
        )
        await self._send(
            self._event(
                "response.content_part.done",
                **ids,
                part={"type": "audio", "transcript": transcript},
            )
        )
        item.wire["status"] = "incomplete" if resp.is_cancelled() or resp.limited else "completed"
        await self._close_item(resp, item, index)

    async def _stream_text(self, resp: _Response, text: str, index: int) -> None:
        _item_id, item, ids = await self._open_message(resp, index)
        part: dict[str, Any] = {"type": "output_text", "text": ""}
        await self._send(
            self._event("response.content_part.added", **ids, part={"type": "text", "text": ""}),
            then=lambda: item.wire["content"].append(part),
        )
        words = re.findall(r"\S+", text)
        deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
        sent: list[str] = []
        start = trio.current_time()
        for i, delta in enumerate(deltas):
            if self._paced():
                await self._wait(resp, start + i * 0.01 / self.speed)
            if resp.is_cancelled():
                break
            sent.append(delta)
            await self._send(
                self._event(
                    "response.output_text.delta",
                    **ids,
                    delta=delta,
                    obfuscation=self.ids.obfuscation(delta),
                ),
                then=partial(_add_text, part, delta),
            )
        full = "".join(sent)
        resp.spoken = full
        resp.out_text += text_tokens(full)
        await self._send(self._event("response.output_text.done", **ids, text=full))
        await self._send(
            self._event("response.content_part.done", **ids, part={"type": "text", "text": full})
        )
        item.wire["status"] = "incomplete" if resp.is_cancelled() or resp.limited else "completed"
        await self._close_item(resp, item, index)

    async def _stream_tool_call(self, resp: _Response, call: PlannedToolCall, index: int) -> None:
        """One planned call: a function call for the client (remote MCP overrides this)."""
        await self._stream_call(resp, call, index)

    def _after_server_calls(self, resp: _Response) -> Reply | None:
        """The reply that follows calls the service ran itself, if any (see ``_mcp``)."""
        return None

    async def _stream_call(self, resp: _Response, call: PlannedToolCall, index: int) -> None:
        call_id = call.call_id or self.ids.call()
        arguments = json.dumps(dict(call.arguments), separators=(",", ":"), ensure_ascii=False)
        item_id = self.ids.item()
        wire: dict[str, Any] = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "name": call.name,
            "call_id": call_id,
            "arguments": "",
        }
        item = await self._open_item(resp, wire, index)
        ids = {"response_id": resp.id, "item_id": item_id, "output_index": index}
        pieces = [arguments[i : i + 12] for i in range(0, len(arguments), 12)] or [""]
        sent = ""
        for piece in pieces:
            if resp.is_cancelled():
                break
            sent += piece
            await self._send(
                self._event(
                    "response.function_call_arguments.delta", **ids, call_id=call_id, delta=piece
                ),
                then=partial(item.wire.__setitem__, "arguments", sent),
            )
        await self._send(
            self._event(
                "response.function_call_arguments.done",
                **ids,
                call_id=call_id,
                name=call.name,
                arguments=sent,
            )
        )
        resp.out_text += text_tokens(sent)
        item.wire["status"] = "incomplete" if resp.is_cancelled() or resp.limited else "completed"
        item.wire["arguments"] = sent
        self._calls[call_id] = call.name
        if resp.conversation and not resp.is_cancelled():
            self._model_calls.add(call_id)
        resp.calls_made += 1
        await self._close_item(resp, item, index)
