"""The conversation history a session keeps (pure: no Trio, no I/O).

`ConversationHistory` is the conversation so far as a sequence of
`HistoryItem` values, in conversation order: user and assistant messages with
their final transcript or text, tool calls with their arguments, and tool
results. It is built from the provider-neutral events a session delivers and
the commands it sends (`observe`, `observe_command`), so it reads the same on
both providers, and it converts to and from plain JSON-able data
(`to_data`, `from_data`) to be stored and given to a new session
(``history=`` on the provider configurations).

What it records, and where it is an estimate:

- A user message appears where the user's turn entered the conversation: the
  OpenAI input item when the audio is committed (its transcript fills in later,
  when transcription is on), the first transcript fragment on Gemini, or the
  text or image the application sent.
- An assistant message appears with the first transcript or text of a
  response's output. Speech around a tool call is split into the message
  before the call and the message after its result.
- An interrupted assistant message keeps only what was heard when the protocol
  knows it: on OpenAI the item is truncated at the played position, and the
  machine reports the transcript received up to that point of the audio (the
  service itself drops the item's whole transcript). Its `status` becomes
  ``"interrupted"``.
- Images are kept as references (MIME type, size, SHA-256) plus their bytes
  for replay, the newest within ``max_image_bytes`` (a video stream sends a
  frame every second or so; older frames keep only their reference);
  `to_data` leaves the bytes out unless asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import attrs

from .errors import ConfigurationError
from .events import (
    Command,
    Event,
    InputCommitted,
    Interrupted,
    InvalidToolCall,
    ResponseDone,
    ResponseStarted,
    SendImage,
    SendText,
    SendToolResult,
    TextOut,
    ToolCall,
    ToolCallCancelled,
    Transcript,
)

__all__ = ["ConversationHistory", "HistoryItem", "ImageRef", "as_history"]

Kind = Literal["message", "tool_call", "tool_result"]
_KINDS = ("message", "tool_call", "tool_result")
_ROLES = ("user", "assistant")


@attrs.frozen
class ImageRef:
    """An image the user sent, by reference.

    Attributes:
        mime_type: ``"image/jpeg"``, ``"image/png"``…
        size: length of the encoded image in bytes.
        sha256: hex digest of the encoded bytes.
        data: the encoded bytes, kept for replay; `None` when the history was
            imported without them.
    """

    mime_type: str
    size: int
    sha256: str
    data: bytes | None = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def of(cls, data: bytes, mime_type: str) -> ImageRef:
        """The reference of encoded image bytes (they are kept for replay)."""
        data = bytes(data)
        return cls(mime_type, len(data), hashlib.sha256(data).hexdigest(), data)


@attrs.frozen
class HistoryItem:
    """One item of the conversation.

    Attributes:
        kind: ``"message"``, ``"tool_call"`` or ``"tool_result"``.
        role: ``"user"`` or ``"assistant"`` for messages, `None` for tool items.
        text: the message's final transcript or text (``""`` if none).
        status: ``"completed"``, ``"in_progress"`` (still arriving),
            ``"interrupted"`` (an assistant message cut off, or a user message
            whose transcript never came), ``"incomplete"`` or ``"failed"`` (the
            response ended early), ``"cancelled"`` (a tool call withdrawn or
            cut off before its result).
        item_id: the provider's item id, where the wire has one (OpenAI).
        response_id: the response an assistant message or tool call belongs to.
        call_id, name, arguments: the tool call (both tool kinds carry `call_id`
            and `name`).
        result: the tool result as sent (JSON-able); `is_error` marks a failure.
        images: images of a user message, by reference.
    """

    kind: Kind
    role: Literal["user", "assistant"] | None = None
    text: str = ""
    status: str = "completed"
    item_id: str | None = None
    response_id: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: Mapping[str, Any] | None = None
    result: Any = None
    is_error: bool = False
    images: tuple[ImageRef, ...] = ()

    def to_data(self, *, images: bool = False) -> dict[str, Any]:
        """This item as a JSON-able dict (image bytes as base64 only when `images`)."""
        out: dict[str, Any] = {"kind": self.kind, "role": self.role, "text": self.text}
        if self.status != "completed":
            out["status"] = self.status
        for name in ("item_id", "response_id", "call_id", "name"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.arguments is not None:
            out["arguments"] = dict(self.arguments)
        if self.kind == "tool_result":
            out["result"] = self.result
            if self.is_error:
                out["is_error"] = True
        if self.images:
            refs = []
            for img in self.images:
                ref: dict[str, Any] = {
                    "mime_type": img.mime_type,
                    "size": img.size,
                    "sha256": img.sha256,
                }
                if images and img.data is not None:
                    ref["data"] = base64.b64encode(img.data).decode("ascii")
                refs.append(ref)
            out["images"] = refs
        return out

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, where: str = "item") -> HistoryItem:
        """Build an item from `to_data` output.

        Raises:
            ConfigurationError: a field is missing or has the wrong type (the
                message names the field).
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{where} must be a mapping, got {type(data).__name__}.")
        known = {
            "kind", "role", "text", "status", "item_id", "response_id", "call_id",
            "name", "arguments", "result", "is_error", "images",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(f"{where} has unknown field(s): {', '.join(unknown)}.")
        kind = data.get("kind")
        if kind not in _KINDS:
            raise ConfigurationError(
                f"{where}.kind must be one of {', '.join(_KINDS)}, got {kind!r}."
            )
        role = data.get("role")
        if kind == "message" and role not in _ROLES:
            raise ConfigurationError(
                f"{where}.role must be 'user' or 'assistant' for a message, got {role!r}."
            )
        if kind != "message" and role not in (None, *_ROLES):
            raise ConfigurationError(f"{where}.role must be 'user', 'assistant' or null.")

        def text_field(name: str, default: str | None) -> Any:
            value = data.get(name, default)
            if value is not None and not isinstance(value, str):
                raise ConfigurationError(
                    f"{where}.{name} must be a string, got {type(value).__name__}."
                )
            return value

        text = text_field("text", "")
        status = text_field("status", "completed")
        ids = {n: text_field(n, None) for n in ("item_id", "response_id", "call_id", "name")}
        if kind != "message" and (ids["call_id"] is None or ids["name"] is None):
            raise ConfigurationError(f"{where} ({kind}) needs a call_id and a name.")
        arguments = data.get("arguments")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise ConfigurationError(f"{where}.arguments must be an object.")
        if kind == "tool_call" and arguments is None:
            arguments = {}
        is_error = data.get("is_error", False)
        if not isinstance(is_error, bool):
            raise ConfigurationError(f"{where}.is_error must be true or false.")
        images: list[ImageRef] = []
        raw_images = data.get("images", ())
        if not isinstance(raw_images, Sequence) or isinstance(raw_images, str):
            raise ConfigurationError(f"{where}.images must be a list.")
        for i, ref in enumerate(raw_images):
            images.append(_image_from_data(ref, f"{where}.images[{i}]"))
        return cls(
            kind=kind,
            role=role,
            text=text or "",
            status=status or "completed",
            arguments=dict(arguments) if arguments is not None else None,
            result=data.get("result"),
            is_error=is_error,
            images=tuple(images),
            **ids,
        )


def _image_from_data(ref: Any, where: str) -> ImageRef:
    if not isinstance(ref, Mapping):
        raise ConfigurationError(f"{where} must be an object.")
    mime, size, digest = ref.get("mime_type"), ref.get("size"), ref.get("sha256")
    if not isinstance(mime, str) or not isinstance(size, int) or not isinstance(digest, str):
        raise ConfigurationError(f"{where} needs mime_type (string), size (int), sha256 (string).")
    raw = ref.get("data")
    data: bytes | None = None
    if raw is not None:
        if not isinstance(raw, str):
            raise ConfigurationError(f"{where}.data must be a base64 string.")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{where}.data is not valid base64.") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ConfigurationError(f"{where}.data does not match its sha256.")
    return ImageRef(mime, size, digest, data)


class ConversationHistory(Sequence[HistoryItem]):
    """The conversation so far: a sequence of `HistoryItem`, oldest first.

    A session updates it as events arrive; reading it is free (no copy is
    made until `items` or `to_data` is called).

    Args:
        items: items to start from (an imported conversation).
        max_image_bytes: image bytes kept for replay, newest first; older
            images keep only their reference. Costs up to this much memory.
    """

    def __init__(
        self, items: Iterable[HistoryItem] = (), *, max_image_bytes: int = 8 * 1024 * 1024
    ) -> None:
        self._items: list[HistoryItem] = list(items)
        self._max_image_bytes = max_image_bytes
        self._image_bytes = 0
        self._with_bytes: list[HistoryItem] = []  # messages whose images hold bytes, oldest first
        for item in self._items:
            if not isinstance(item, HistoryItem):
                raise TypeError(f"not a HistoryItem: {item!r}")
        self._by_item: dict[str, int] = {}
        self._open_user: int | None = None
        # Assistant messages per response, in order; the last one open.
        self._by_response: dict[str | None, list[int]] = {}
        self._open_assistant: dict[str | None, int] = {}
        self._calls: dict[str, int] = {}
        self._truncated: set[int] = set()
        # Where a response began: its first message goes there, even when
        # the user's next words were recorded before its text arrived.
        self._starts: dict[str | None, int] = {}
        for i, item in enumerate(self._items):
            if item.item_id is not None:
                self._by_item[item.item_id] = i
            if item.kind == "tool_call" and item.call_id is not None:
                self._calls[item.call_id] = i

    # ------------------------------------------------------------------ sequence

    @overload
    def __getitem__(self, index: int) -> HistoryItem: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[HistoryItem]: ...
    def __getitem__(self, index: int | slice) -> HistoryItem | Sequence[HistoryItem]:
        if isinstance(index, slice):
            return tuple(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[HistoryItem]:
        return iter(tuple(self._items))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ConversationHistory):
            return self._items == other._items
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self._items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ConversationHistory({self._items!r})"

    @property
    def items(self) -> tuple[HistoryItem, ...]:
        """A snapshot of the items."""
        return tuple(self._items)

    # ------------------------------------------------------------------ export / import

    def to_data(self, *, images: bool = False) -> list[dict[str, Any]]:
        """The conversation as plain JSON-able data (`json.dumps` works on it).

        Args:
            images: include image bytes (base64); off by default, since they
                can be large. Without them an imported image cannot be replayed.
        """
        return [item.to_data(images=images) for item in self._items]

    def to_json(self, *, images: bool = False) -> str:
        """`to_data` as a JSON string."""
        return json.dumps(self.to_data(images=images), ensure_ascii=False)

    @classmethod
    def from_data(cls, data: Iterable[Mapping[str, Any]]) -> ConversationHistory:
        """Rebuild a history from `to_data` output.

        Raises:
            ConfigurationError: the data is not a list of items, or an item is
                malformed (the message names it, e.g. ``history[3].kind``).
        """
        if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
            raise ConfigurationError(f"history must be a list of items, got {type(data).__name__}.")
        return cls(HistoryItem.from_data(d, where=f"history[{i}]") for i, d in enumerate(data))

    # ------------------------------------------------------------------ building

    def _append(self, item: HistoryItem) -> int:
        self._items.append(item)
        index = len(self._items) - 1
        if item.item_id is not None:
            self._by_item[item.item_id] = index
        return index

    def _insert(self, index: int, item: HistoryItem) -> int:
        """Insert `item` at `index`, moving every remembered position after it."""
        if index >= len(self._items):
            return self._append(item)
        self._items.insert(index, item)

        def moved(i: int) -> int:
            return i + 1 if i >= index else i

        self._by_item = {k: moved(v) for k, v in self._by_item.items()}
        if item.item_id is not None:
            self._by_item[item.item_id] = index
        if self._open_user is not None:
            self._open_user = moved(self._open_user)
        self._by_response = {k: [moved(i) for i in v] for k, v in self._by_response.items()}
        self._open_assistant = {k: moved(v) for k, v in self._open_assistant.items()}
        self._calls = {k: moved(v) for k, v in self._calls.items()}
        self._truncated = {moved(i) for i in self._truncated}
        self._starts = {k: moved(v) for k, v in self._starts.items()}
        return index

    def _set(self, index: int, **changes: Any) -> None:
        self._items[index] = attrs.evolve(self._items[index], **changes)

    def observe(self, event: Event) -> None:
        """Update the history with an event the session delivered."""
        kind = type(event)
        if kind is Transcript:
            assert isinstance(event, Transcript)
            if event.role == "user":
                self._user_transcript(event)
            else:
                self._assistant_text(event.item_id, event.response_id, event.text, event.final)
        elif kind is TextOut:
            assert isinstance(event, TextOut)
            self._assistant_text(event.item_id, event.response_id, event.text, False)
        elif kind is ResponseStarted:
            assert isinstance(event, ResponseStarted)
            self._starts.setdefault(event.response_id, len(self._items))
        elif kind is InputCommitted:
            assert isinstance(event, InputCommitted)
            if event.item_id is not None and event.item_id not in self._by_item:
                self._append(
                    HistoryItem("message", "user", status="in_progress", item_id=event.item_id)
                )
        elif kind is ToolCall:
            assert isinstance(event, ToolCall)
            self._tool_call(event.call_id, event.name, dict(event.arguments), event.response_id)
        elif kind is InvalidToolCall:
            assert isinstance(event, InvalidToolCall)
            self._tool_call(event.call_id, event.name, {}, event.response_id, status="failed")
        elif kind is ToolCallCancelled:
            assert isinstance(event, ToolCallCancelled)
            self._cancel_call(event.call_id)
        elif kind is Interrupted:
            assert isinstance(event, Interrupted)
            self._interrupted(event)
        elif kind is ResponseDone:
            assert isinstance(event, ResponseDone)
            self.settle(event.response_id, event.status)

    def observe_command(self, command: Command) -> None:
        """Update the history with a command the session sent."""
        if isinstance(command, SendText):
            self._close_user()
            self._append(HistoryItem("message", "user", command.text))
        elif isinstance(command, SendImage):
            self._close_user()
            item = HistoryItem(
                "message", "user", images=(ImageRef.of(command.data, command.mime_type),)
            )
            self._append(item)
            self._keep_image_bytes(item)
        elif isinstance(command, SendToolResult):
            index = self._calls.get(command.call_id)
            call = self._items[index] if index is not None else None
            if call is not None and call.status == "cancelled":
                return  # a withdrawn call's result is not sent
            if index is not None and call is not None and call.status == "in_progress":
                self._set(index, status="completed")
            self._append(
                HistoryItem(
                    "tool_result",
                    call_id=command.call_id,
                    name=call.name if call is not None else "",
                    result=command.output,
                    is_error=command.is_error,
                )
            )

    def settle(self, response_id: str | None, status: str, reason: str | None = None) -> None:
        """End every open message of a response with `status`.

        ``"completed"`` keeps the messages completed; ``"cancelled"`` marks
        them interrupted; any other status is recorded as is. Tool calls of the
        response still waiting for a result are marked cancelled unless the
        response completed.
        """
        mark = "interrupted" if status == "cancelled" else status
        self._starts.pop(response_id, None)
        for index in self._by_response.pop(response_id, []):
            item = self._items[index]
            if item.status in ("in_progress", "completed"):
                self._set(index, status="completed" if mark == "completed" else mark)
        self._open_assistant.pop(response_id, None)
        if status != "completed":
            for call_id, index in self._calls.items():
                item = self._items[index]
                if item.response_id == response_id and item.status == "in_progress":
                    self._cancel_call(call_id)

    def cancel_calls(self, call_ids: Iterable[str]) -> None:
        """Mark tool calls as cancelled (their results will not be sent)."""
        for call_id in call_ids:
            self._cancel_call(call_id)

    # ------------------------------------------------------------------ internals

    def _keep_image_bytes(self, item: HistoryItem) -> None:
        """Account for `item`'s image bytes; drop the oldest bytes past the budget."""
        self._with_bytes.append(item)
        self._image_bytes += item.images[0].size
        while self._image_bytes > self._max_image_bytes and self._with_bytes:
            old = self._with_bytes.pop(0)
            self._image_bytes -= sum(img.size for img in old.images)
            index = next((i for i, it in enumerate(self._items) if it is old), None)
            if index is None:
                continue
            bare = tuple(attrs.evolve(img, data=None) for img in old.images)
            self._items[index] = attrs.evolve(old, images=bare)

    def _close_user(self) -> None:
        if self._open_user is not None:
            item = self._items[self._open_user]
            if item.status == "in_progress":
                self._set(self._open_user, status="completed")
            self._open_user = None

    def _user_transcript(self, ev: Transcript) -> None:
        if ev.item_id is not None:
            index = self._by_item.get(ev.item_id)
            if index is None:
                index = self._append(
                    HistoryItem("message", "user", status="in_progress", item_id=ev.item_id)
                )
        else:
            index = self._open_user
            if index is None:
                index = self._append(HistoryItem("message", "user", status="in_progress"))
                self._open_user = index
        item = self._items[index]
        if ev.final:
            self._set(index, text=ev.text, status="completed")
            if index == self._open_user:
                self._open_user = None
        else:
            self._set(index, text=item.text + ev.text)

    def _assistant_index(self, item_id: str | None, response_id: str | None) -> int:
        if item_id is not None:
            index = self._by_item.get(item_id)
            if index is not None:
                return index
        else:
            index = self._open_assistant.get(response_id)
            if index is not None:
                return index
        item = HistoryItem(
            "message", "assistant", status="in_progress", item_id=item_id, response_id=response_id
        )
        start = self._starts.pop(response_id, None)
        index = self._insert(start, item) if start is not None else self._append(item)
        self._by_response.setdefault(response_id, []).append(index)
        if item_id is None:
            self._open_assistant[response_id] = index
        return index

    def _assistant_text(
        self, item_id: str | None, response_id: str | None, text: str, final: bool
    ) -> None:
        if final and item_id is None and len(self._by_response.get(response_id, ())) > 1:
            # A turn-wide final transcript (Gemini) over messages split by tool calls.
            self._final_over_split(response_id, text)
            return
        index = self._assistant_index(item_id, response_id)
        if index in self._truncated:
            return  # cut at what was heard: later transcripts hold unheard text
        if final:
            self._set(index, text=text)
        else:
            self._set(index, text=self._items[index].text + text)

    def _final_over_split(self, response_id: str | None, text: str) -> None:
        indices = self._by_response[response_id]
        earlier = indices[:-1]
        before = "".join(self._items[i].text for i in earlier)
        last = indices[-1]
        if last in self._truncated:
            return
        rest = text[len(before) :] if text.startswith(before) else text
        self._set(last, text=rest)

    def _tool_call(
        self,
        call_id: str,
        name: str,
        arguments: dict[str, Any],
        response_id: str | None,
        status: str = "in_progress",
    ) -> None:
        if call_id in self._calls:
            return
        # Speech after the call's result is a new message.
        self._open_assistant.pop(response_id, None)
        self._starts.pop(response_id, None)
        index = self._append(
            HistoryItem(
                "tool_call",
                call_id=call_id,
                name=name,
                arguments=arguments,
                response_id=response_id,
                status=status,
            )
        )
        self._calls[call_id] = index

    def _cancel_call(self, call_id: str) -> None:
        index = self._calls.get(call_id)
        if index is not None and self._items[index].status == "in_progress":
            self._set(index, status="cancelled")

    def _interrupted(self, ev: Interrupted) -> None:
        heard = ev.heard_text
        if heard is not None and ev.item_id is not None:
            index = self._by_item.get(ev.item_id)
            if index is not None:
                self._set(index, text=heard, status="interrupted")
                self._truncated.add(index)
        for index in self._by_response.get(ev.response_id, ()):
            if self._items[index].status in ("in_progress", "completed"):
                self._set(index, status="interrupted")


def as_history(value: Any) -> tuple[HistoryItem, ...]:
    """Convert a ``history=`` option to items: a `ConversationHistory`, items or `to_data` output.

    Raises:
        ConfigurationError: the value is none of those.
    """
    if value is None:
        return ()
    if isinstance(value, ConversationHistory):
        return value.items
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"history must be a ConversationHistory or a list of items, got {type(value).__name__}."
        )
    items = list(value)
    if all(isinstance(i, HistoryItem) for i in items):
        return tuple(items)
    return ConversationHistory.from_data(items).items
