"""Conversation items of the fake OpenAI service."""

from __future__ import annotations

import binascii
import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..._wire import b64encode, encode_json
from ...openai import messages as m
from ..scenario import ToolResult, parse_tool_output
from ..voice import UNTRANSCRIBED, heard_in
from ._base import _ConnectionBase
from ._defaults import bytes_per_ms
from ._validation import Invalid, _bad_value, _check_keys, _int, _missing, _obj, _str, _wrong_type


@attrs.define(eq=False)
class _Item:
    """A conversation item: its wire form (audio left out) plus what the fake knows."""

    wire: dict[str, Any]
    audio: bytes | bytearray = b""
    bpm: int = 48
    said: str = ""
    #: Cut by ``conversation.item.truncate``: what still streams is not kept.
    truncated: bool = False

    @property
    def id(self) -> str:
        return str(self.wire["id"])

    @property
    def audio_ms(self) -> float:
        return len(self.audio) / self.bpm

    def role(self) -> str | None:
        return self.wire.get("role") if self.wire.get("type") == "message" else None

    def full(self) -> dict[str, Any]:
        """The item with its audio (what ``conversation.item.retrieved`` carries)."""
        out = copy.deepcopy(self.wire)
        if self.audio:
            for part in out.get("content", []):
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = b64encode(self.audio)
                    break
        return out


def _said_of_message(item: Mapping[str, Any], audio: bytes, bpm: int) -> str:
    texts: list[str] = []
    for part in item.get("content") or []:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("input_audio", "output_audio"):
            if isinstance(part.get("transcript"), str) and part["transcript"]:
                texts.append(part["transcript"])
            elif audio:
                # Only exact PCM can carry the synthetic voice's hidden transcript.
                pcm = np.frombuffer(audio[: len(audio) // 2 * 2], "<i2") if bpm == 48 else None
                heard = heard_in(pcm) if pcm is not None else UNTRANSCRIBED
                if heard:
                    texts.append(heard)
    return " ".join(texts)


def _item_text(item: _Item) -> str:
    """What a message item says, as the model reads it (a truncated item: nothing)."""
    texts: list[str] = []
    for part in item.wire.get("content") or []:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("input_audio", "output_audio") and isinstance(part.get("transcript"), str):
            texts.append(part["transcript"])
    text = " ".join(t for t in texts if t)
    if not text and item.role() == "user":
        return item.said  # audio not transcribed (yet): what the user said
    return text


def history_of(items: Sequence[_Item]) -> list[tuple[str, str]]:
    """The conversation as ``(role, text)`` pairs: the message items, in order."""
    out: list[tuple[str, str]] = []
    for item in items:
        role = item.role()
        if role is not None:
            out.append((role, _item_text(item)))
    return out


class _ItemsPart(_ConnectionBase):
    """Conversation items: create, delete, retrieve, truncate."""

    def _last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    # -- conversation items ------------------------------------------------------------

    async def _item_added_done(self, item: _Item, previous: str | None) -> None:
        for kind in ("conversation.item.added", "conversation.item.done"):
            await self._send(
                self._event(kind, previous_item_id=previous, item=copy.deepcopy(item.wire))
            )

    def _mcp_answer(self, wire: dict[str, Any]) -> None:
        """An ``mcp_approval_response`` arrived (remote MCP overrides this)."""

    def _find(self, item_id: str) -> _Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    async def _item_create(self, raw: dict[str, Any]) -> None:
        if self.kind != "realtime":
            raise Invalid(
                "invalid_value", "Conversation items are not supported in a transcription session."
            )
        _check_keys(raw, ("type", "event_id", "item", "previous_item_id"), "")
        if "item" not in raw:
            raise _missing("item")
        item = _obj(raw["item"], "item")
        assert item is not None
        if "type" not in item:
            raise _missing("item.type")
        kind = item["type"]
        allowed = ("message", "function_call", "function_call_output", "mcp_approval_response")
        if kind not in allowed:
            raise _bad_value("item.type", kind, allowed)
        if "id" in item:
            _str(item["id"], "item.id")
            if self._find(item["id"]) is not None:
                raise Invalid(
                    "invalid_value", f"Item with id '{item['id']}' already exists.", "item.id"
                )
        previous = raw.get("previous_item_id")
        position = len(self.items)
        if previous is not None:
            _str(previous, "previous_item_id")
            if previous == "root":
                position = 0
            else:
                prev = self._find(previous)
                if prev is None:
                    raise Invalid(
                        "invalid_value",
                        f"Previous item with id '{previous}' does not exist.",
                        "previous_item_id",
                    )
                position = self.items.index(prev) + 1
        wire, audio = self._item_wire(item)
        typed = self._typed(raw)
        assert isinstance(typed, m.ConversationItemCreate)
        bpm = bytes_per_ms(self._input_format())
        entry = _Item(wire, audio, bpm)
        if kind == "message":
            entry.said = _said_of_message(item, audio, bpm)
        elif kind == "mcp_approval_response":
            self._mcp_answer(wire)
        elif kind == "function_call_output":
            call_id = str(wire["call_id"])
            if call_id in self._model_calls:
                self._model_calls.discard(call_id)
                name = self._calls.get(call_id, "")
                output = parse_tool_output(str(wire["output"]))
                self._results.append(ToolResult(call_id, name, output))
        prev_id = self.items[position - 1].id if position > 0 else None
        self.items.insert(position, entry)
        await self._item_added_done(entry, prev_id)

    def _item_wire(self, item: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        kind = item["type"]
        item_id = item.get("id") or self.ids.item()
        audio = b""
        if kind == "message":
            _check_keys(item, ("type", "id", "object", "status", "role", "content"), "item")
            if "role" not in item:
                raise _missing("item.role")
            role = item["role"]
            if role not in ("user", "assistant", "system"):
                raise _bad_value("item.role", role, ("user", "assistant", "system"))
            if "content" not in item:
                raise _missing("item.content")
            content = item["content"]
            if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
                raise _wrong_type("item.content", "an array of objects", content)
            allowed = {
                "user": ("input_text", "input_audio", "input_image"),
                "system": ("input_text",),
                "assistant": ("output_text", "output_audio"),
            }[role]
            parts: list[dict[str, Any]] = []
            for i, part in enumerate(content):
                if part.get("type") not in allowed:
                    raise _bad_value(f"item.content[{i}].type", part.get("type"), allowed)
                out = dict(part)
                if part["type"] in ("input_audio", "output_audio"):
                    data = out.pop("audio", None)
                    if isinstance(data, str) and data:
                        try:
                            audio = binascii.a2b_base64(data, strict_mode=True)
                        except (binascii.Error, ValueError):
                            raise Invalid(
                                "invalid_value",
                                "Invalid 'audio'. Expected base64-encoded audio data.",
                                f"item.content[{i}].audio",
                            ) from None
                    out.setdefault("transcript", None)
                parts.append(out)
            wire = {"id": item_id, "type": "message", "status": "completed", "role": role}
            wire["content"] = parts
            return wire, audio
        if kind == "function_call_output":
            _check_keys(item, ("type", "id", "object", "status", "call_id", "output"), "item")
            for key in ("call_id", "output"):
                if key not in item:
                    raise _missing(f"item.{key}")
                _str(item[key], f"item.{key}")
            return {
                "id": item_id,
                "type": "function_call_output",
                "call_id": item["call_id"],
                "output": item["output"],
            }, audio
        if kind == "function_call":
            _check_keys(
                item, ("type", "id", "object", "status", "call_id", "name", "arguments"), "item"
            )
            for key in ("name", "arguments"):
                if key not in item:
                    raise _missing(f"item.{key}")
                _str(item[key], f"item.{key}")
            call_id = item.get("call_id") or self.ids.call()
            self._calls[str(call_id)] = str(item["name"])
            return {
                "id": item_id,
                "type": "function_call",
                "status": "completed",
                "name": item["name"],
                "call_id": call_id,
                "arguments": item["arguments"],
            }, audio
        wire = copy.deepcopy(item)
        wire["id"] = item_id
        return wire, audio

    def _item_id_of(self, raw: dict[str, Any], allowed: Sequence[str]) -> str:
        _check_keys(raw, allowed, "")
        if "item_id" not in raw:
            raise _missing("item_id")
        _str(raw["item_id"], "item_id")
        return str(raw["item_id"])

    async def _item_delete(self, raw: dict[str, Any]) -> None:
        item_id = self._item_id_of(raw, ("type", "event_id", "item_id"))
        item = self._find(item_id)
        if item is None:
            raise Invalid(
                "item_delete_invalid_item_id",
                f"Error deleting item: the item with id '{item_id}' does not exist.",
            )
        self.items.remove(item)
        await self._send(self._event("conversation.item.deleted", item_id=item_id))

    async def _item_retrieve(self, raw: dict[str, Any]) -> None:
        item_id = self._item_id_of(raw, ("type", "event_id", "item_id"))
        item = self._find(item_id)
        if item is None:
            raise Invalid(
                "item_retrieve_invalid_item_id",
                f"Error retrieving item: the item with id '{item_id}' does not exist.",
            )
        async with self._send_lock:  # the item as of the events sent before this one
            await self.conn.send(
                encode_json(self._event("conversation.item.retrieved", item=item.full()))
            )

    async def _item_truncate(self, raw: dict[str, Any]) -> None:
        item_id = self._item_id_of(
            raw, ("type", "event_id", "item_id", "content_index", "audio_end_ms")
        )
        for key in ("content_index", "audio_end_ms"):
            if key not in raw:
                raise _missing(key)
        _int(raw["content_index"], "content_index", 0)
        _int(raw["audio_end_ms"], "audio_end_ms", 0)
        # Under the send lock: the audio checked is exactly what was sent so far.
        async with self._send_lock:
            await self._truncate(raw, item_id)

    async def _truncate(self, raw: dict[str, Any], item_id: str) -> None:
        item = self._find(item_id)
        if item is None:
            raise Invalid(
                "item_truncate_invalid_item_id",
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        content = item.wire.get("content") or []
        if item.role() != "assistant" or not any(p.get("type") == "output_audio" for p in content):
            raise Invalid(
                "invalid_value", "Only assistant messages with audio can be truncated.", "item_id"
            )
        index = raw["content_index"]
        if index >= len(content):
            raise Invalid(
                "invalid_value",
                f"Invalid 'content_index': the item has no content part at index {index}.",
                "content_index",
            )
        end = raw["audio_end_ms"]
        have = math.floor(item.audio_ms)
        if end > item.audio_ms:
            raise Invalid(
                "invalid_value",
                f"Audio content of {have}ms is already shorter than {end}ms",
                "audio_end_ms",
            )
        keep = int(end * item.bpm)
        keep -= keep % 2 if item.bpm == 48 else 0
        item.audio = item.audio[:keep]
        item.truncated = True
        content[index]["transcript"] = ""
        await self.conn.send(
            encode_json(
                self._event(
                    "conversation.item.truncated",
                    item_id=item_id,
                    content_index=index,
                    audio_end_ms=end,
                )
            )
        )
