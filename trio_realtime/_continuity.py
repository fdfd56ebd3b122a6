"""Pure pieces of session continuity: outcome classification and the gap buffer.

No Trio here: the runtime (`session.py`) owns the clock and the sockets and
asks these helpers what an outcome means and where input audio goes while no
connection is open.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from ._config import RetryPolicy
from .errors import (
    AuthenticationError,
    ConnectionLost,
    HandshakeError,
    ProtocolError,
    RateLimitError,
    RealtimeError,
    ServerError,
)

__all__ = ["GapBuffer", "Outcome", "classify", "describe"]

#: What a failed attempt (or a lost connection) means for the next one.
#: ``"retry"``: try again after the backoff. ``"fatal"``: retrying cannot help.
#: ``"rate_limited"``: a quota; retried only when the policy says so.
#: ``"session_gone"``: the resumption handle was refused; a fresh session may work.
Outcome = Literal["retry", "fatal", "rate_limited", "session_gone"]

#: Close codes of a connection that ended for reasons another connection may not share.
_RETRY_CODES = frozenset({1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015})


def classify(exc: BaseException | None) -> Outcome:
    """What `exc` (a failed attempt or the loss of a connection) means for retrying.

    Gemini reports most refusals as close codes whose reason text is what
    tells them apart (gemini-live.md §16), so the reason is read first.
    """
    if exc is None:
        return "retry"
    if isinstance(exc, AuthenticationError):
        return "fatal"
    if isinstance(exc, RateLimitError):
        return "rate_limited"
    if isinstance(exc, HandshakeError):
        status = exc.status
        if status is None or status >= 500 or status == 408:
            return "retry"  # no answer, a timeout, or the service's own trouble
        return "fatal"
    if isinstance(exc, ConnectionLost):
        reason = (exc.reason or "").lower()
        code = exc.code
        if "session not found" in reason:
            return "session_gone"
        if "resource_exhausted" in reason or "quota" in reason or "too many" in reason:
            return "rate_limited"
        if "goaway" in reason or "deadline expired" in reason:
            return "retry"
        if code in (1007, 1008) or code == 4000 or (code is not None and 4000 <= code < 5000):
            return "fatal"  # bad key, unknown model, invalid setup, policy
        if code is None or code in _RETRY_CODES:
            return "retry"
        return "fatal"
    if isinstance(exc, ServerError):
        return "fatal" if exc.fatal else "retry"
    if isinstance(exc, ProtocolError):
        return "fatal"
    if isinstance(exc, RealtimeError):
        return "retry"
    return "retry"  # a timeout of our own (the open deadline)


def retryable(outcome: Outcome, policy: RetryPolicy) -> bool:
    """Whether the policy lets the session try again after `outcome`."""
    if outcome == "retry":
        return True
    if outcome == "rate_limited":
        return policy.retry_rate_limited
    if outcome == "session_gone":
        return policy.fresh_fallback
    return False


def describe(exc: BaseException | None) -> str:
    """One sentence for an attempt's failure (for `ReconnectFailed.failures`)."""
    if exc is None:
        return "the connection ended"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class GapBuffer:
    """Input audio accepted while no connection is open, bounded and counted.

    Holds encoded chunks (the wire message of each) in order. Past `max_chunks`
    the oldest is dropped and counted: the newest audio is what the model needs
    to answer the user once the session is back.
    """

    def __init__(self, max_chunks: int) -> None:
        self.max_chunks = max(1, max_chunks)
        self._chunks: deque[object] = deque()
        self.buffered = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._chunks)

    def append(self, chunk: object) -> None:
        """Keep `chunk`; drop the oldest when full."""
        if len(self._chunks) >= self.max_chunks:
            self._chunks.popleft()
            self.dropped += 1
            self.buffered -= 1
        self._chunks.append(chunk)
        self.buffered += 1

    def take(self) -> list[object]:
        """Remove and return every kept chunk, oldest first."""
        out = list(self._chunks)
        self._chunks.clear()
        return out

    def reset_counts(self) -> tuple[int, int]:
        """Return ``(buffered, dropped)`` since the last reset and start counting anew."""
        counts = (self.buffered, self.dropped)
        self.buffered = 0
        self.dropped = 0
        return counts
