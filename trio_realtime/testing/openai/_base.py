"""The state of one fake OpenAI connection and the plumbing its parts share."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from ..._wire import encode_json
from ...errors import ProtocolError
from ...events import ToolSpec
from ...openai import messages as m
from ...openai.codec import structure_wire
from ..scenario import ScenarioRun, ToolResult
from ..server import FakeConnection
from ..vad import EnergyVAD
from ..voice import VoiceStream
from ._defaults import Ids
from ._validation import Invalid, _plain_schema

if TYPE_CHECKING:
    from . import FakeOpenAI
    from ._items import _Item
    from ._responses import _Response


class _ConnectionBase:
    """State and plumbing every part of a connection uses."""

    def __init__(self, fake: FakeOpenAI, conn: FakeConnection) -> None:
        self.fake = fake
        self.conn = conn
        self.index = conn.index
        self.ids = Ids(random.Random(fake.seed + conn.index))
        self.model: str | None = None
        self.kind = "realtime"
        self.session: dict[str, Any] = {}
        self.conversation_id = ""
        self.received: list[Any] = []
        self.errors: list[dict[str, Any]] = []
        self.items: list[_Item] = []
        self.scenario_run: ScenarioRun = conn.scenario.start(tools=(), provider="openai")
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0  # session offset of the buffer's first byte
        self._total_ms = 0.0  # all audio appended this session
        self._vad: EnergyVAD | None = None
        self._vad_base_ms = 0
        self._speech: tuple[str, int] | None = None
        self.active: _Response | None = None
        self.responses: dict[str, _Response] = {}
        self.audio_produced = False
        self._calls: dict[str, str] = {}
        self._model_calls: set[str] = set()  # calls the fake model made, not yet answered
        self._results: list[ToolResult] = []  # their results, not yet replied to
        self._answered: str | None = None
        self._prev_input_tokens = 0
        self._tokens_used = 0
        self._voice = VoiceStream(24000, fake.chunk_ms)
        self._send_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._idle_from: float | None = None  # when the idle timeout starts counting
        self._idle_kick = trio.Event()

    # -- plumbing ----------------------------------------------------------------------

    @property
    def speed(self) -> float:
        return float(self.conn.speed)

    def _paced(self) -> bool:
        s = self.speed
        return s > 0 and not math.isinf(s)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": self.ids.event(), **fields}

    async def _send(
        self, event: dict[str, Any], *, then: Callable[[], object] | None = None
    ) -> None:
        """Send `event`; `then` updates the state it announces, under the same lock.

        Handlers that report state (retrieve, truncate) read it under the lock
        too, so what they report matches exactly the events sent before theirs.
        """
        async with self._send_lock:
            await self.conn.send(encode_json(event))
            if then is not None:
                then()

    async def _send_error(self, problem: Invalid, client_event_id: str | None) -> None:
        event = self._event(
            "error",
            error={
                "type": problem.type,
                "code": problem.code,
                "message": problem.message,
                "param": problem.param,
                "event_id": client_event_id,
            },
        )
        self.errors.append(event)
        await self._send(event)

    async def _wait(self, resp: _Response, deadline: float) -> None:
        """Sleep until `deadline` unless the response is cancelled first."""
        if deadline > trio.current_time():
            with trio.move_on_at(deadline):
                await resp.cancel_event.wait()

    def _kick_idle(self) -> None:
        self._idle_kick.set()
        self._idle_kick = trio.Event()

    # -- configuration -----------------------------------------------------------------

    def _input_format(self) -> dict[str, Any]:
        fmt: dict[str, Any] = self.session["audio"]["input"]["format"]
        return fmt

    def _turn_detection(self) -> dict[str, Any] | None:
        td: dict[str, Any] | None = self.session["audio"]["input"].get("turn_detection")
        return td

    def _configure(self) -> None:
        """Apply the session: VAD settings and the tools the scenario sees."""
        td = self._turn_detection()
        rate = 24000 if self._input_format().get("type") == "audio/pcm" else 8000
        if td is None:
            self._vad = None
        else:
            if td.get("type") == "semantic_vad":
                eagerness = td.get("eagerness") or "auto"
                silence = {"low": 800, "medium": 500, "auto": 500, "high": 250}.get(eagerness, 500)
                threshold, prefix = 0.5, 300
            else:
                silence = int(td.get("silence_duration_ms", 200) or 0)
                threshold = float(td.get("threshold", 0.5) or 0.0)
                prefix = int(td.get("prefix_padding_ms", 300) or 0)
            old = self._vad
            if (
                old is None
                or old.sample_rate != rate
                or old.silence_duration_ms != silence
                or old.prefix_padding_ms != prefix
                or old.threshold_db != -70.0 + 60.0 * threshold
            ):
                self._vad = EnergyVAD(
                    rate,
                    threshold_db=-70.0 + 60.0 * threshold,
                    prefix_padding_ms=prefix,
                    silence_duration_ms=silence,
                )
                self._vad_base_ms = int(self._total_ms)
                self._speech = None
        if self.kind == "realtime":
            self.scenario_run.tools = self._tool_specs(self.session.get("tools") or [])

    @staticmethod
    def _tool_specs(tools: Sequence[Any]) -> list[ToolSpec]:
        specs: list[ToolSpec] = []
        for tool in tools:
            if isinstance(tool, dict) and tool.get("type") == "function" and tool.get("name"):
                params = _plain_schema(tool.get("parameters"))
                specs.append(
                    ToolSpec(
                        str(tool["name"]),
                        str(tool.get("description") or ""),
                        params
                        if isinstance(params, dict)
                        else {"type": "object", "properties": {}},
                    )
                )
        return specs

    def _typed(self, raw: dict[str, Any]) -> Any:
        """The event decoded by the library's codec (what a client would have encoded)."""
        try:
            return structure_wire(raw, m.ClientEvent, what="client event")
        except ProtocolError as exc:
            raise Invalid("invalid_value", str(exc)) from None
