"""What a turn is made of, for both providers' protocol machines (pure, no Trio).

A provider's machine decides *when* the assistant's turn ends (OpenAI: the
last conversation response with no tool call left unanswered; Gemini: a
``turnComplete`` with no call pending); `TurnAccumulator` collects *what*
the turn was (its responses, their usage, tool calls, whether it was cut
off) and builds the `TurnDone` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .events import ResponseDone, TurnDone, Usage

__all__ = ["TurnAccumulator", "add_usage"]


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _add_details(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers are summed, lists of per-modality counts (Gemini) are concatenated,
    anything else takes the newer value."""
    out: dict[str, Any] = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if isinstance(value, bool) or isinstance(old, bool):
            out[key] = value
        elif isinstance(value, int | float) and isinstance(old, int | float):
            out[key] = old + value
        elif isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = _add_details(old, value)
        elif isinstance(value, list) and isinstance(old, list):
            out[key] = [*old, *value]
        else:
            out[key] = value
    return out


def add_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """The sum of two responses' token counts (`None` counts as nothing)."""
    if a is None:
        return b
    if b is None:
        return a
    return Usage(
        input_tokens=_add(a.input_tokens, b.input_tokens),
        output_tokens=_add(a.output_tokens, b.output_tokens),
        total_tokens=_add(a.total_tokens, b.total_tokens),
        details=_add_details(a.details, b.details),
    )


class TurnAccumulator:
    """The responses of the assistant's turn in progress.

    `open` is true from the turn's first `ResponseDone` until `finish`.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.response_ids: list[str | None] = []
        self.usage: Usage | None = None
        self.status = "completed"
        self.reason: str | None = None
        self.interrupted: str | None = None
        self.tool_calls = 0

    @property
    def open(self) -> bool:
        """Whether a response of the turn ended and the turn has not been reported."""
        return bool(self.response_ids)

    def response_done(self, done: ResponseDone) -> None:
        """Count one response of the turn."""
        self.response_ids.append(done.response_id)
        self.usage = add_usage(self.usage, done.usage)
        self.status = done.status
        self.reason = done.reason
        if done.status == "cancelled" and self.interrupted is None:
            self.interrupted = (
                "client_cancelled" if done.reason == "client_cancelled" else "turn_detected"
            )

    def tool_call(self) -> None:
        """Count one tool call of the turn."""
        self.tool_calls += 1

    def interrupt(self, source: str) -> None:
        """The turn was cut off: by the user's speech (``"server"``) or `interrupt()`."""
        if self.interrupted is None:
            self.interrupted = "client_cancelled" if source == "local" else "turn_detected"

    def abandon(self, reason: str) -> TurnDone:
        """End the turn as interrupted for `reason` (e.g. ``"connection_lost"``)."""
        self.interrupted = reason
        return self.finish()

    def finish(self) -> TurnDone:
        """The `TurnDone` for the turn so far; the next response starts a new turn."""
        status: str = self.status
        reason: str | None = self.reason
        if self.interrupted is not None:
            status, reason = "interrupted", self.interrupted
        done = TurnDone(
            status=status,
            reason=reason,
            response_ids=tuple(self.response_ids),
            usage=self.usage,
            tool_calls=self.tool_calls,
        )
        self._reset()
        return done
