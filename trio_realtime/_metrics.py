"""Per-turn and per-session metrics, fed with events and clock readings (pure, no Trio).

The session calls `MetricsTracker` from the places where things happen: every
received event except audio goes through `event` (which reads the clock only
for the few events that mark a time), audio goes through `audio_out` /
`audio_in` (an addition per chunk, the clock read once per turn), and the
commands that end the user's input call `input_ended`. The clock is the
session's (`trio.current_time`), passed in as a callable, so tests under
Trio's MockClock get exact numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .events import (
    AudioOut,
    Event,
    Reconnected,
    ResponseStarted,
    SpeechStopped,
    TextOut,
    Transcript,
    TurnDone,
    TurnMetrics,
    Usage,
)

__all__ = ["LatencyStats", "MetricsTracker", "describe_turn", "tokens_by_modality"]

Clock = Callable[[], float]


@attrs.frozen
class LatencyStats:
    """A running summary of one latency over the session's turns (seconds)."""

    count: int = 0
    total: float = 0.0
    min: float | None = None
    max: float | None = None
    last: float | None = None

    @property
    def mean(self) -> float | None:
        """The average, or `None` before the first measurement."""
        return self.total / self.count if self.count else None

    def add(self, value: float | None) -> LatencyStats:
        """This summary with `value` counted (`None` changes nothing)."""
        if value is None:
            return self
        return LatencyStats(
            count=self.count + 1,
            total=self.total + value,
            min=value if self.min is None else min(self.min, value),
            max=value if self.max is None else max(self.max, value),
            last=value,
        )


def _openai_details(details: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(details, Mapping):
        for key, value in details.items():
            if isinstance(value, int) and not isinstance(value, bool):
                name = key[: -len("_tokens")] if key.endswith("_tokens") else key
                out[name] = out.get(name, 0) + value
    return out


def _gemini_details(entries: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, Mapping):
                name = str(entry.get("modality", "unspecified")).lower()
                count = entry.get("tokenCount", entry.get("token_count", 0))
                if isinstance(count, int):
                    out[name] = out.get(name, 0) + count
    return out


def tokens_by_modality(usage: Usage | None) -> tuple[dict[str, int], dict[str, int]]:
    """Input and output token counts by modality (``"audio"``, ``"text"``…) from `usage`.

    OpenAI's ``input_token_details`` also count ``"cached"`` tokens (a part
    of the input, not a modality); Gemini reports ``promptTokensDetails`` and
    ``responseTokensDetails`` (or ``candidatesTokensDetails``).
    """
    if usage is None:
        return {}, {}
    d = usage.details
    if "input_token_details" in d or "output_token_details" in d:
        return _openai_details(d.get("input_token_details")), _openai_details(
            d.get("output_token_details")
        )
    out_entries = d.get("responseTokensDetails", d.get("candidatesTokensDetails"))
    return _gemini_details(d.get("promptTokensDetails")), _gemini_details(out_entries)


def describe_turn(m: TurnMetrics) -> str:
    """One line for a person: ``latency 230 ms to first audio, …`` (demo, chat)."""
    parts: list[str] = []
    if m.time_to_first_audio is not None:
        parts.append(f"latency {1000 * m.time_to_first_audio:.0f} ms to first audio")
    if m.time_to_first_text is not None:
        parts.append(f"{1000 * m.time_to_first_text:.0f} ms to first text")
    parts.append(f"{m.audio_in_seconds:.1f} s in, {m.audio_out_seconds:.1f} s out")
    if m.input_tokens is not None or m.output_tokens is not None:
        parts.append(f"tokens {m.input_tokens or 0} in / {m.output_tokens or 0} out")
    if m.interrupted:
        parts.append("interrupted")
    return ", ".join(parts)


@attrs.define
class _Turn:
    started: float | None = None
    input_end: tuple[float, str] | None = None
    first_audio: float | None = None
    first_text: float | None = None
    audio_out: float = 0.0


class MetricsTracker:
    """Measures each assistant turn and sums the session's figures.

    Args:
        clock: the session's clock (`trio.current_time`).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._turn = _Turn()
        # Hot-path state of the turn in progress, kept flat for speed.
        self._out_seconds = 0.0
        self._awaiting_audio = True
        self._pending_input: tuple[float, str] | None = None
        self._audio_in_total = 0.0
        self._audio_in_mark = 0.0
        # Session totals (read by the session's statistics()).
        self.turns = 0
        self.turns_interrupted = 0
        self.time_to_first_audio = LatencyStats()
        self.time_to_first_text = LatencyStats()
        self.audio_out_seconds = 0.0
        self.input_tokens = 0
        self.output_tokens = 0
        self.connect_seconds: float | None = None
        self.ready_seconds: float | None = None
        self.reconnects = 0
        self.reconnect_downtime = 0.0
        self.last_turn: TurnMetrics | None = None

    @property
    def audio_in_seconds(self) -> float:
        """User audio sent in the whole session."""
        return self._audio_in_total

    # ------------------------------------------------------------------ hot path

    def audio_in(self, seconds: float) -> None:
        """Count user audio queued for sending (one addition per chunk)."""
        self._audio_in_total += seconds

    def audio_out(self, ev: AudioOut) -> None:
        """Count one assistant audio chunk; the clock is read for the turn's first only."""
        frame = ev.frame
        self._out_seconds += len(frame.samples) / frame.sample_rate
        if self._awaiting_audio:
            self._awaiting_audio = False
            turn = self._turn
            turn.first_audio = self._clock()
            if turn.started is None:
                self._start(turn.first_audio)

    # ------------------------------------------------------------------ moments

    def input_ended(self, source: str) -> None:
        """The user's input ended (``"commit"``, ``"activity_end"``, ``"text"``) now."""
        self._pending_input = (self._clock(), source)

    def connected(self, seconds: float) -> None:
        """TCP + TLS + WebSocket upgrade took `seconds`."""
        self.connect_seconds = seconds

    def ready(self, seconds: float) -> None:
        """From the start of `connect()` to the provider accepting the session."""
        self.ready_seconds = seconds

    def _start(self, now: float) -> None:
        self._turn.started = now
        self._turn.input_end = self._pending_input
        self._pending_input = None

    def event(self, ev: Event) -> TurnMetrics | None:
        """Note a received event (not audio); return the metrics of a turn it ends."""
        kind = type(ev)
        turn = self._turn
        if kind is SpeechStopped:
            self._pending_input = (self._clock(), "speech_stopped")
        elif kind is ResponseStarted:
            if turn.started is None:
                self._start(self._clock())
        elif kind is Transcript or kind is TextOut:
            if turn.first_text is None and getattr(ev, "role", "assistant") == "assistant":
                turn.first_text = self._clock()
                if turn.started is None:
                    self._start(turn.first_text)
        elif kind is TurnDone:
            assert isinstance(ev, TurnDone)
            return self._finish(ev, self._clock())
        elif kind is Reconnected:
            self.reconnects += 1
            downtime = getattr(ev, "downtime", None)
            if isinstance(downtime, int | float):
                self.reconnect_downtime += downtime
        return None

    def _finish(self, done: TurnDone, now: float) -> TurnMetrics:
        turn, self._turn = self._turn, _Turn()
        turn.audio_out, self._out_seconds = self._out_seconds, 0.0
        self._awaiting_audio = True
        end = turn.input_end[0] if turn.input_end is not None else None

        def since(t: float | None) -> float | None:
            return t - end if t is not None and end is not None else None

        tokens_in, tokens_out = tokens_by_modality(done.usage)
        usage = done.usage
        audio_in = self._audio_in_total - self._audio_in_mark
        self._audio_in_mark = self._audio_in_total
        metrics = TurnMetrics(
            status=done.status,
            interrupted=done.status == "interrupted",
            input_end=turn.input_end[1] if turn.input_end is not None else None,
            time_to_first_audio=since(turn.first_audio),
            time_to_first_text=since(turn.first_text),
            response_duration=now - turn.started if turn.started is not None else None,
            audio_in_seconds=audio_in,
            audio_out_seconds=turn.audio_out,
            input_tokens=usage.input_tokens if usage is not None else None,
            output_tokens=usage.output_tokens if usage is not None else None,
            input_tokens_by_modality=tokens_in,
            output_tokens_by_modality=tokens_out,
            response_ids=done.response_ids,
        )
        self.turns += 1
        self.turns_interrupted += metrics.interrupted
        self.time_to_first_audio = self.time_to_first_audio.add(metrics.time_to_first_audio)
        self.time_to_first_text = self.time_to_first_text.add(metrics.time_to_first_text)
        self.audio_out_seconds += turn.audio_out
        self.input_tokens += metrics.input_tokens or 0
        self.output_tokens += metrics.output_tokens or 0
        self.last_turn = metrics
        return metrics
