"""A minimal provider for testing the session runtime's mechanics in isolation.

Wire format: one JSON object per text frame, ``{"type": ...}``. The server side
is scripted by each test with trio-websocket on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from trio_realtime._config import ConnectionOptions, HasToolSpec, ProviderConfig
from trio_realtime.audio import AudioFrame
from trio_realtime.errors import ProtocolError
from trio_realtime.events import (
    AudioOut,
    Command,
    Event,
    Interrupt,
    Interrupted,
    RealtimeProtocol,
    ResponseDone,
    SendText,
    SendToolResult,
    ServerErrorEvent,
    SessionReady,
    ToolCall,
    ToolCallCancelled,
    ToolSpec,
)

RATE = 16000


def audio_chunk(seq: int, n: int = 320) -> AudioFrame:
    """A chunk whose every sample is `seq` (so tests can read the order back)."""
    return AudioFrame(np.full(n, seq, dtype=np.int16), RATE)


class ToyProtocol(RealtimeProtocol):
    input_sample_rate = RATE
    output_sample_rate = RATE

    def __init__(self) -> None:
        self._ready = False
        self._generation = 0
        self._outbox: list[str] = []
        self._interrupted: set[str] = set()
        self._current: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        self._outbox.append(json.dumps({"type": "hello"}))

    def receive(self, data: str | bytes) -> list[Event]:
        try:
            msg: dict[str, Any] = json.loads(data)
            kind = msg["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"bad toy message: {exc}") from None
        if kind == "ready":
            self._ready = True
            return [SessionReady(session_id="toy", raw=msg)]
        if kind == "audio":
            rid = msg["response_id"]
            if rid in self._interrupted:
                return []
            self._current = rid
            frame = audio_chunk(msg["seq"], msg.get("n", 320))
            return [AudioOut(frame, response_id=rid, generation=self._generation, raw=msg)]
        if kind == "interrupted":
            return self._interrupt("server")
        if kind == "tool":
            return [
                ToolCall(
                    msg["call_id"], msg["name"], msg["arguments"], msg.get("response_id"), raw=msg
                )
            ]
        if kind == "cancel_tool":
            return [ToolCallCancelled(msg["call_id"], raw=msg)]
        if kind == "error":
            return [ServerErrorEvent(msg["message"], code=msg.get("code"), fatal=True, raw=msg)]
        if kind == "done":
            return [ResponseDone(msg.get("response_id"), raw=msg)]
        return []

    def _interrupt(self, source: Any) -> list[Event]:
        rid = self._current
        if rid is not None:
            self._interrupted.add(rid)
        self._generation += 1
        return [Interrupted(rid, source=source)]

    def handle(self, command: Command) -> list[Event]:
        if isinstance(command, Interrupt):
            self._outbox.append(json.dumps({"type": "cancel"}))
            return self._interrupt("local")
        if isinstance(command, SendText):
            self._outbox.append(json.dumps({"type": "text", "text": command.text}))
            return []
        if isinstance(command, SendToolResult):
            self._outbox.append(
                json.dumps(
                    {
                        "type": "tool_result",
                        "call_id": command.call_id,
                        "output": command.output,
                        "is_error": command.is_error,
                        "respond": command.respond,
                    }
                )
            )
            return []
        raise ProtocolError(f"toy protocol cannot {type(command).__name__}", side="local")

    def audio_message(self, frame: AudioFrame) -> str:
        return json.dumps(
            {"type": "audio_in", "n": frame.num_samples, "first": int(frame.samples[0])}
        )

    def data_to_send(self) -> list[str]:
        out, self._outbox = self._outbox, []
        return out


@attrs.define
class ToyConfig(ProviderConfig):
    url: str
    tools: Sequence[ToolSpec | HasToolSpec] = ()
    options: ConnectionOptions = attrs.Factory(
        lambda: ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    )
    provider: str = "toy"

    def endpoint(self) -> tuple[str, list[tuple[str, str]]]:
        return self.url, []

    def new_protocol(
        self, *, resumption_handle: str | None = None, history: Any = None
    ) -> RealtimeProtocol:
        return ToyProtocol()

    @property
    def connection(self) -> ConnectionOptions:
        return self.options
