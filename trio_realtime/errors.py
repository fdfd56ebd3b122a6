"""The one exception hierarchy of trio_realtime.

Every error the library raises on purpose derives from `RealtimeError`. The
`str()` of each is a sentence meant for a person, and none of them ever holds an
API key: headers and URLs are redacted before they are stored.

Timeouts the caller asked for (`trio.fail_after`) stay `trio.TooSlowError`, and
misuse from two tasks at once stays `trio.BusyResourceError`, as in Trio.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

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
    "scrub_exception",
    "secret_values",
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

#: Configured secrets shorter than this are not searched for in free text (a
#: test key such as ``"test"`` would blank out ordinary words). They are still
#: hidden where their position gives them away: secret headers, secret URL
#: query parameters, bearer tokens.
MIN_SECRET_LENGTH = 8

# The token stops before a trailing full stop or quote, so sentences keep their end.
# A token is at least 8 characters, so that prose ("Missing bearer or basic
# authentication", the service's own words) is not mangled.
_BEARER = re.compile(r"(?i)\b(bearer)\s+(?=[^\s,;\"']{8})[^\s,;\"']*[^\s,;\"'.]")
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|ek_[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,})")
# Secret query parameters, for URLs that urlsplit() refuses.
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(k) for k in sorted(SECRET_QUERY)) + r")=)[^&;#\s]*"
)


def redact_url(url: str, secrets: Collection[str] = ()) -> str:
    """Return `url` with secret query parameters, user info and `secrets` replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(_SECRET_PARAM.sub(r"\1" + REDACTED, url), secrets)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in SECRET_QUERY else v) for k, v in pairs], safe="<>"
        )
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, "")), secrets)


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]],
    secrets: Collection[str] = (),
) -> list[tuple[str, str]]:
    """Return headers as `(name, value)` pairs with secret values replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: list[tuple[str, str]] = []
    for name, value in items:
        n = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        v = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        out.append((n, REDACTED if n.lower() in SECRET_HEADERS else redact_text(v, secrets)))
    return out


def redact_text(text: str, secrets: Collection[str] = ()) -> str:
    """Return `text` with `secrets`, bearer tokens and key-shaped strings replaced.

    `secrets` are exact values (configured keys and tokens, whatever their
    shape); those shorter than `MIN_SECRET_LENGTH` are ignored here.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return _KEYLIKE.sub(REDACTED, _BEARER.sub(r"\1 " + REDACTED, text))


def secret_values(
    url: str = "",
    headers: Iterable[tuple[str, str]] = (),
    extra: Iterable[str | None] = (),
) -> frozenset[str]:
    """The secret strings a connection carries, to hand to the redacting functions.

    Collected from the values of secret headers (``Authorization``,
    ``api-key``, ``x-goog-api-key``…; for ``Authorization`` also the
    credential after its scheme), secret URL query parameters (``key=``,
    ``access_token=``…), the URL's user info, and `extra` (configured values,
    `None` skipped). Each comes with its URL-encoded forms, as it would appear
    in a URL.
    """
    found: set[str] = {value for value in extra if value}
    for name, value in headers:
        if name.lower() in SECRET_HEADERS and value:
            found.add(value)
            scheme_and_credential = value.split(None, 1)
            if len(scheme_and_credential) == 2:
                found.add(scheme_and_credential[1].strip())
    if url:
        try:
            parts = urlsplit(url)
            pairs = parse_qsl(parts.query, keep_blank_values=True)
        except ValueError:
            parts, pairs = None, []
        found.update(v for k, v in pairs if k.lower() in SECRET_QUERY and v)
        if parts is not None and parts.password:
            found.add(parts.password)
    encoded = {form for value in found for form in (quote(value, safe=""), quote_plus(value))}
    return frozenset(v for v in found | encoded if v)


def _redact_value(value: object, secrets: Collection[str] = ()) -> object:
    """Redact the strings inside a decoded message (str, dict, list), leaving the rest."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(v, secrets) for v in value)
    return value


def _shows_secret(exc: BaseException, secrets: Collection[str]) -> bool:
    """Whether a foreign exception exposes a secret in its text, args, notes or attributes."""
    try:
        shown = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    except Exception:  # a broken __repr__: assume the worst
        return True
    return any(redact_text(text, secrets) != text for text in shown)


def scrub_exception(exc: BaseException, secrets: Collection[str] = ()) -> None:
    """Remove `secrets` and key-shaped strings from `exc` and everything chained to it.

    Works in place, on the whole ``__cause__`` / ``__context__`` chain (and
    the members of exception groups). Errors of this library are redacted:
    their message, ``args``, attributes and notes. Any other exception that
    shows a secret (a third-party error keeping raw response headers, say) is
    unlinked from the chain, and the exception that pointed to it gets a note
    saying so: a redacted copy of a foreign exception cannot be made safely.
    """
    wanted = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH]
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RealtimeError):
            for name, value in list(vars(current).items()):
                cleaned = _redact_value(value, wanted)
                if cleaned != value:
                    setattr(current, name, cleaned)
            current.args = tuple(_redact_value(a, wanted) for a in current.args)
        removed: list[BaseException] = []
        for attribute in ("__cause__", "__context__"):
            linked: BaseException | None = getattr(current, attribute)
            if linked is None:
                continue
            if any(linked is r for r in removed) or (
                not isinstance(linked, (RealtimeError, BaseExceptionGroup))
                and id(linked) not in seen
                and _shows_secret(linked, wanted)
            ):
                setattr(current, attribute, None)
                if attribute == "__cause__":
                    current.__suppress_context__ = True
                if not any(linked is r for r in removed):
                    removed.append(linked)
                    current.add_note(
                        f"(A chained {type(linked).__name__} was removed because it showed "
                        "a secret.)"
                    )
            else:
                stack.append(linked)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)


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
        secrets: Collection[str] = (),
    ) -> HandshakeError:
        """Build the right subclass for a refused upgrade with this HTTP status.

        `secrets` (configured keys and tokens) are redacted from the message,
        headers and body along with the known key shapes.
        """
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        where = f" by {redact_url(url, secrets)}" if url else ""
        snippet = redact_text(" ".join(text.split()), secrets)
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
        error = kind(
            f"{what}{where} (HTTP {status}){detail}",
            status=status,
            headers=headers,
            body=text,
            url=url,
        )
        if secrets:
            scrub_exception(error, secrets)
        return error


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
