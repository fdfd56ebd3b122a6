"""The one exception hierarchy of trio_realtime.

Every error the library raises on purpose derives from `RealtimeError`. The
`str()` of each is a sentence meant for a person, and none of them ever holds an
API key: headers and URLs are redacted before they are stored.

Timeouts the caller asked for (`trio.fail_after`) stay `trio.TooSlowError`, and
misuse from two tasks at once stays `trio.BusyResourceError`, as in Trio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConfigurationRefused",
    "ConnectionLost",
    "HandshakeError",
    "ProtocolError",
    "RateLimitError",
    "RealtimeError",
    "ReconnectFailed",
    "ServerError",
    "SessionClosed",
    "redact_headers",
    "redact_url",
]

#: Header names whose values are secrets (compared case-insensitively).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "openai-api-key",
        "cookie",
        "set-cookie",
    }
)
#: URL query parameters whose values are secrets.
SECRET_QUERY = frozenset({"key", "api_key", "api-key", "access_token", "token", "client_secret"})

REDACTED = "<redacted>"

# The token stops before a trailing full stop or quote, so sentences keep their end.
# A token is at least 8 characters, so that prose ("Missing bearer or basic
# authentication", the service's own words) is not mangled.
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?=[^\s,;\"']{8})[^\s,;\"']*[^\s,;\"'.]")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|ek_[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,})")
# Secret query parameters, for URLs that urlsplit() refuses.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(k) for k in sorted(SECRET_QUERY)) + r")=)[^&;#\s]*"
)


def redact_url(url: str) -> str:
    """Return `url` with secret query parameters and user info replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _KEYLIKE.sub(REDACTED, _SECRET_PARAM.sub(r"\1" + REDACTED, url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in SECRET_QUERY else v) for k, v in pairs], safe="<>"
        )
    return _KEYLIKE.sub(REDACTED, urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]],
) -> list[tuple[str, str]]:
    """Return headers as `(name, value)` pairs with secret values replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for name, value in items:
        n = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        v = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        out.append((n, REDACTED if n.lower() in SECRET_HEADERS else redact_text(v)))
    return out


def redact_text(text: str) -> str:
    """Return `text` with bearer tokens and key-shaped strings replaced."""
    return _KEYLIKE.sub(REDACTED, _BEARER.sub(r"\1 " + REDACTED, text))


def _redact_value(value: object) -> object:
    """Redact the strings inside a decoded message (str, dict, list), leaving the rest."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v) for v in value)
    return value


class RealtimeError(Exception):
    """Root of every error trio_realtime raises on purpose.

    Attributes:
        close_code: when the service explained an error by closing the
            connection, its close code (`None` otherwise).
        close_reason: that close's reason text, possibly empty.
    """

    close_code: int | None = None
    close_reason: str = ""

    def __init__(self, message: str) -> None:
        message = redact_text(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(RealtimeError, ValueError):
    """A configuration cannot work: a missing API key, a malformed URL, a bad option."""


class HandshakeError(RealtimeError):
    """The server refused the WebSocket upgrade, or the connection could not be opened.

    Attributes:
        status: HTTP status of the refusal, or `None` when no response came.
        headers: the response headers, secrets redacted.
        body: the response body, decoded as UTF-8 with replacement.
        url: the URL that was dialled, secrets redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: Iterable[tuple[Any, Any]] | Mapping[str, str] = (),
        body: bytes | str = b"",
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = redact_headers(headers)
        self.body = redact_text(
            body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        )
        self.url = redact_url(url)

    @classmethod
    def from_response(
        cls,
        status: int,
        *,
        headers: Iterable[tuple[Any, Any]] | Mapping[str, str] = (),
        body: bytes | str = b"",
        url: str = "",
    ) -> HandshakeError:
        """Build the right subclass for a refused upgrade with this HTTP status."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        where = f" by {redact_url(url)}" if url else ""
        snippet = redact_text(" ".join(text.split()))
        if len(snippet) > 300:
            snippet = snippet[:300] + "…"
        detail = f": {snippet}" if snippet else "."
        kind: type[HandshakeError]
        if status in (401, 403):
            kind = AuthenticationError
            what = "The API key or token was refused"
        elif status == 429:
            kind = RateLimitError
            what = "The connection was refused because of a rate limit or quota"
        else:
            kind = HandshakeError
            what = "The WebSocket upgrade was refused"
        return kind(
            f"{what}{where} (HTTP {status}){detail}",
            status=status,
            headers=headers,
            body=body,
            url=url,
        )


class AuthenticationError(HandshakeError):
    """The server refused our credentials (HTTP 401 or 403)."""


class RateLimitError(HandshakeError):
    """The server refused the connection for rate or quota reasons (HTTP 429)."""


class ProtocolError(RealtimeError):
    """A message we cannot parse, or one that breaks the protocol's order.

    Attributes:
        side: ``"remote"`` when the server sent something wrong, ``"local"`` when
            our own code asked for something the protocol does not allow now.
        raw: the offending message (truncated), when there is one.
        problems: one line per bad field, naming its path.
    """

    def __init__(
        self,
        message: str,
        *,
        side: Literal["local", "remote"] = "remote",
        raw: object = None,
        problems: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.side = side
        self.raw = _redact_value(raw)
        self.problems = [redact_text(p) for p in problems]


class ServerError(RealtimeError):
    """The provider reported an error of its own.

    Attributes:
        code: the provider's error code (``"rate_limit_exceeded"``, a close code…).
        type: the provider's error type, when it sends one.
        param: the parameter the error is about, when known.
        event_id: the id of the client event that caused it, when known.
        fatal: whether the session ended because of it.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = None,
        type: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.type = type
        self.param = param
        self.event_id = event_id
        self.fatal = fatal


class ConnectionLost(RealtimeError):
    """The connection ended while the session was still in use.

    Attributes:
        code: the WebSocket close code (1006 when the TCP connection dropped
            without a close frame), or `None` when unknown.
        reason: the close reason the peer gave, possibly empty.
    """

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = redact_text(reason)

    @classmethod
    def from_close(
        cls, code: int | None, reason: str | None, *, who: str = "server"
    ) -> ConnectionLost:
        """Describe a close frame (or its absence) as a sentence."""
        reason = reason or ""
        if code is None or code == 1006:
            text = f"The connection to the {who} dropped without a close frame."
            code = 1006 if code is None else code
        else:
            text = f"The {who} closed the connection with code {code}"
            text += f": {reason}" if reason else "."
        return cls(text, code=code, reason=reason)


class ReconnectFailed(ConnectionLost):
    """The connection was lost and the session could not move to a new one.

    Raised by `events()` (and the commands) once the retry policy gave up or
    met an outcome that retrying cannot fix (refused credentials, an unknown
    model, an invalid setup, a quota). A `ConnectionLost`, so code that
    handles a lost connection handles this too.

    Attributes:
        code, reason: the close code and reason of the connection that was lost.
        attempts: how many new connections were tried.
        failures: one sentence per failed attempt, oldest first.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        reason: str = "",
        failures: Iterable[str] = (),
    ) -> None:
        super().__init__(message, code=code, reason=reason)
        self.failures = tuple(redact_text(f) for f in failures)
        self.attempts = len(self.failures)


class ConfigurationRefused(ConfigurationError, ServerError):
    """The service refused the session's configuration: an unknown model, an
    invalid setup field, a voice or value it does not accept.

    Both a `ConfigurationError` (the fix is in the configuration) and a
    `ServerError` (the message is the service's own words; `code`, `type`,
    `param` say what it objected to, when it said so). Raised by `connect()`
    when the refusal comes during the handshake, by `events()` otherwise.
    """


class SessionClosed(RealtimeError):
    """The session (or connection) was already closed when it was used."""
