"""The service's own explanation of a close, as the most specific error (pure, no Trio).

Both services report a refused session by closing the socket after a
successful upgrade: OpenAI sends an ``error`` event first and closes with
3000/4000 and a terse reason (``invalid_request_error.invalid_model``);
Gemini closes with 1007/1008/1011 and a sentence as the reason, whose code is
only a hint (a bad key is 1007, missing credentials 1008; gemini-live.md §16).
`explain_close` turns the transport's `ConnectionLost` into the error that
says what the service said:

======================================  =========================================
the service said                        raised
======================================  =========================================
credentials refused / missing           `AuthenticationError` (``status=None``)
quota, rate limit, ``RESOURCE_EXHAUSTED``  `RateLimitError` (``status=None``)
configuration refused (model, setup      `ConfigurationRefused` (during the
field, value, beta header, location)    handshake; later a `ProtocolError`
                                        with ``side="local"``: our message)
state violation (``Precondition``)      `ProtocolError` (``side="local"``)
server fault, overload, session over    `ServerError` (``fatal=True``)
nothing (1006, no close frame, 1000)    the `ConnectionLost` itself
======================================  =========================================

Every error built here keeps the service's words in its message, the close
code and reason in ``close_code``/``close_reason``, and the original
`ConnectionLost` as ``__cause__``.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    ConfigurationRefused,
    ConnectionLost,
    ProtocolError,
    RateLimitError,
    RealtimeError,
    ServerError,
)
from .events import ServerErrorEvent

__all__ = ["explain_close", "explain_error_event"]

_NAMES = {"openai": "OpenAI Realtime", "gemini": "Gemini Live"}

_AUTH_CODES = frozenset({"invalid_api_key", "unauthorized", "authentication_error"})
_AUTH_WORDS = (
    "api key not valid",
    "api key expired",
    "incorrect api key",
    "invalid api key",
    "missing bearer",
    "authentication",
    "unregistered callers",
    "permission_denied",
    "permission denied",
    "unauthenticated",
    "invalid_api_key",
)
_QUOTA_CODES = frozenset({"insufficient_quota", "rate_limit_exceeded"})
_QUOTA_WORDS = ("resource_exhausted", "quota", "rate limit", "rate_limit", "too many")
_CONFIG_WORDS = (
    "invalid json payload",
    "invalid value",
    "unknown name",
    "request contains an invalid argument",
    "is not found for api version",
    "not supported for bidigeneratecontent",
    "operation is not implemented",
    "user location is not supported",
    "not supported in realtime mode",
    "invalid_request_error",
)
_STATE_WORDS = ("precondition check failed",)
#: Closes by which the service itself ends a session: maximum duration (1001),
#: its own fault (1011), restart / try again later (1012, 1013), policy (1008).
_SERVICE_ENDS = frozenset({1001, 1008, 1011, 1012, 1013})


def _name(provider: str) -> str:
    return _NAMES.get(provider, provider or "The service")


def _said(error: ServerErrorEvent | None, reason: str) -> str:
    """The service's own words: the error event's message, else the close reason."""
    if error is not None and error.message:
        return error.message
    return reason


def _relevant(provider: str, error: ServerErrorEvent | None, code: int | None, reason: str) -> bool:
    """Whether an ``error`` event received earlier explains this close."""
    if error is None:
        return False
    if error.fatal or provider == "gemini":  # Gemini's in-band errors are rare and final
        return True
    err_code = str(error.code or "")
    if err_code and err_code in reason:
        return True
    return code in (3000, 4000) and (error.type or "") in reason


def explain_error_event(provider: str, error: ServerErrorEvent) -> RealtimeError:
    """The error for a fatal ``error`` event before the session was ready.

    Refused credentials and quotas get their own types; anything else refused
    the configuration (OpenAI answers a ``session.update`` it rejects with an
    ``error`` event and keeps the socket open).
    """
    who = _name(provider)
    text = f"{error.message} {error.code or ''}".lower()
    if error.code in _AUTH_CODES or any(w in text for w in _AUTH_WORDS):
        return AuthenticationError(
            f"{who} refused the credentials: {error.message}", body=error.message
        )
    if error.code in _QUOTA_CODES or any(w in text for w in _QUOTA_WORDS):
        return RateLimitError(
            f"{who} refused the session for quota or rate: {error.message}", body=error.message
        )
    return ConfigurationRefused(
        f"{who} refused the session configuration: {error.message}",
        code=error.code,
        type=error.type,
        param=error.param,
        event_id=error.event_id,
        fatal=True,
    )


def explain_close(
    lost: RealtimeError,
    *,
    provider: str,
    error: ServerErrorEvent | None = None,
    ready: bool = True,
) -> RealtimeError:
    """The most specific error for a connection the service ended.

    Args:
        lost: what the transport reported (usually a `ConnectionLost`); other
            errors are returned as they are.
        provider: ``"openai"`` or ``"gemini"`` (for the sentence).
        error: the last ``error`` event the service sent on that connection.
        ready: whether the session was ready (configuration accepted) by then.
    """
    if not isinstance(lost, ConnectionLost) or type(lost) is not ConnectionLost:
        return lost
    code, reason = lost.code, lost.reason or ""
    if not _relevant(provider, error, code, reason):
        error = None
    if code in (None, 1005, 1006) and error is None:
        return lost  # the connection dropped: nothing was said
    if code == 1000 and not reason and error is None:
        return lost
    said = _said(error, reason)
    text = " ".join(
        filter(None, [said.lower(), reason.lower(), str(error.code or "").lower() if error else ""])
    )
    where = f" (close {code}{' ' + reason if reason and reason != said else ''})"
    who = _name(provider)
    err_code = error.code if error is not None else None
    exc: RealtimeError
    if (err_code in _AUTH_CODES) or any(w in text for w in _AUTH_WORDS):
        exc = AuthenticationError(f"{who} refused the credentials: {said}{where}", body=said)
    elif (err_code in _QUOTA_CODES) or any(w in text for w in _QUOTA_WORDS):
        exc = RateLimitError(
            f"{who} refused the session for quota or rate: {said}{where}", body=said
        )
    elif any(w in text for w in _STATE_WORDS):
        exc = ProtocolError(
            f"{who} refused a message the client sent in this state: {said}{where}", side="local"
        )
    elif any(w in text for w in _CONFIG_WORDS) or code in (1007, 4000):
        if not ready:
            exc = ConfigurationRefused(
                f"{who} refused the session configuration: {said}{where}",
                code=err_code if err_code is not None else code,
                type=error.type if error is not None else None,
                param=error.param if error is not None else None,
                event_id=error.event_id if error is not None else None,
                fatal=True,
            )
        else:
            exc = ProtocolError(
                f"{who} refused a message the client sent: {said}{where}", side="local"
            )
    elif code == 1009:
        exc = ProtocolError(f"{who} refused a message as too big: {said}{where}", side="local")
    elif code not in _SERVICE_ENDS and error is None:
        return lost  # a close the services are not known to use: reported as it came
    else:
        exc = ServerError(
            f"{who} ended the session: {said}{where}"
            if said
            else f"{who} ended the session{where}.",
            code=err_code if err_code is not None else code,
            type=error.type if error is not None else None,
            fatal=True,
        )
    exc.close_code = code
    exc.close_reason = reason
    exc.__cause__ = lost
    return exc
