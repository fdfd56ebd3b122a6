"""Fault injection for the fake servers: what goes wrong, when, on which connection.

A test injects faults on the server before the client connects::

    server.inject(RefuseHandshake(429))                      # the next connection
    server.inject(CloseAt(AfterReceived(3), 1011, "boom"), connection=2)
    server.inject(StopPongs(), connection="all")

Each fault fires at most once per connection, at its *moment*:

* a checkpoint name (a `str`): the shell fires ``"accept"`` right after the
  upgrade is accepted, before the handler talks; provider handlers fire the
  others with ``await conn.checkpoint(name)`` (see `MOMENTS`). A string fires at
  the first checkpoint of that name; `Nth(name, n)` at the n-th.
* `AfterReceived(n)`: once the connection has received its n-th message
  (recorded, and then the fault acts before the handler sees it).
* `AfterSent(n)`: once the server has sent its n-th message.

Faults that end the connection (`CloseAt`, `DropTCP`, and `ServiceError` on a
service that reports errors by closing) make the handler's pending call raise
`trio_websocket.ConnectionClosed`, which the shell expects and absorbs.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Sequence
from typing import Literal

import attrs

from ..errors import ConfigurationError

__all__ = [
    "AFTER_SETUP",
    "BEFORE_SETUP",
    "MID_AUDIO",
    "MID_TOOL_CALL",
    "MOMENTS",
    "ON_ACCEPT",
    "RESPONSE_DONE",
    "USER_SPEECH",
    "AfterReceived",
    "AfterSent",
    "CloseAt",
    "DropTCP",
    "Fault",
    "FaultPlan",
    "Moment",
    "Nth",
    "RefuseHandshake",
    "SendRaw",
    "SendRawFrame",
    "ServiceError",
    "Stall",
    "StopPongs",
    "malformed_frame",
    "oversized_message",
    "refusal_body",
    "service_error",
    "truncate_reason",
    "unknown_event",
    "unknown_path_body",
]

# --------------------------------------------------------------------------- moments

#: Fired by the shell right after the upgrade is accepted, before the handler talks.
ON_ACCEPT = "accept"
#: Before the session is set up: OpenAI before ``session.created``; Gemini after
#: the ``setup`` message arrived, before ``setupComplete``.
BEFORE_SETUP = "before_setup"
#: Right after ``session.created`` / ``setupComplete`` was sent.
AFTER_SETUP = "after_setup"
#: The server VAD detected the start of user speech.
USER_SPEECH = "user_speech"
#: Between two chunks of reply audio (fired after each chunk sent).
MID_AUDIO = "mid_audio"
#: A tool call was sent and its result has not arrived.
MID_TOOL_CALL = "mid_tool_call"
#: A reply finished (after ``response.done`` / ``turnComplete``).
RESPONSE_DONE = "response_done"

#: The named moments provider handlers fire, in the order a turn reaches them.
MOMENTS = (
    ON_ACCEPT,
    BEFORE_SETUP,
    AFTER_SETUP,
    USER_SPEECH,
    MID_AUDIO,
    MID_TOOL_CALL,
    RESPONSE_DONE,
)


@attrs.frozen
class AfterReceived:
    """The moment the connection has received its `n`-th message (1-based)."""

    n: int = attrs.field(validator=attrs.validators.ge(1))


@attrs.frozen
class AfterSent:
    """The moment the server has sent its `n`-th message on the connection (1-based)."""

    n: int = attrs.field(validator=attrs.validators.ge(1))


@attrs.frozen
class Nth:
    """The `n`-th time (1-based) the handler reaches checkpoint `name`."""

    name: str
    n: int = attrs.field(default=1, validator=attrs.validators.ge(1))


Moment = str | AfterReceived | AfterSent | Nth


# --------------------------------------------------------------------------- faults


@attrs.frozen
class RefuseHandshake:
    """Refuse the WebSocket upgrade with an HTTP status (the handler never runs).

    Attributes:
        status: HTTP status, e.g. 401, 403, 404, 429, 500.
        body: response body; `None` uses a body shaped like the service's own
            (`refusal_body`).
        headers: extra response headers, e.g. ``(("retry-after", "1"),)``.
    """

    status: int = attrs.field(
        validator=attrs.validators.and_(attrs.validators.ge(300), attrs.validators.le(599))
    )
    body: bytes | None = None
    headers: Sequence[tuple[str, str]] = ()


@attrs.frozen
class CloseAt:
    """Close the WebSocket with `code` and `reason` at `moment` (a proper close frame)."""

    moment: Moment
    code: int = 1011
    reason: str = ""


@attrs.frozen
class DropTCP:
    """Drop the TCP connection at `moment` without a close frame.

    With `reset`, the socket is closed with SO_LINGER 0 so the peer sees a
    connection reset instead of an end of stream (plain TCP only).
    """

    moment: Moment = ON_ACCEPT
    reset: bool = False


@attrs.frozen
class StopPongs:
    """From `moment` on, the server stops reading the socket: no pongs, no messages.

    The server still notices the TCP connection closing, so the connection
    ends when the client gives up.
    """

    moment: Moment = ON_ACCEPT


@attrs.frozen
class SendRaw:
    """Send `data` as one WebSocket message at `moment`: `str` as text, `bytes` as binary.

    For unknown event types, invalid JSON or oversized messages (see
    `unknown_event`, `oversized_message`).
    """

    moment: Moment
    data: str | bytes


@attrs.frozen
class SendRawFrame:
    """Write `data` straight to the TCP stream at `moment`, bypassing WebSocket framing.

    For malformed frames (see `malformed_frame`).
    """

    moment: Moment
    data: bytes


@attrs.frozen
class ServiceError:
    """Report the service's own error at `moment`, the way that service does.

    OpenAI sends an ``error`` event and keeps the session; Gemini closes the
    socket with 1011 and its reason (see `service_error`).
    """

    moment: Moment
    kind: Literal["rate_limit", "server_error"] = "server_error"


@attrs.frozen
class Stall:
    """Do nothing for `seconds` at `moment` (real seconds, not scaled by speed)."""

    moment: Moment
    seconds: float


Fault = (
    RefuseHandshake | CloseAt | DropTCP | StopPongs | SendRaw | SendRawFrame | ServiceError | Stall
)

_FAULT_TYPES = (
    RefuseHandshake,
    CloseAt,
    DropTCP,
    StopPongs,
    SendRaw,
    SendRawFrame,
    ServiceError,
    Stall,
)

Target = int | Literal["next", "all"]


@attrs.define
class _Entry:
    fault: Fault
    target: Target
    provider: str | None


class FaultPlan:
    """Which faults go to which connection. `FakeServer.inject` adds to it.

    Connections are numbered from 1 in the order their upgrade requests reach
    a provider route (requests for unknown paths are not counted).
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def inject(
        self,
        *faults: Fault,
        connection: Target = "next",
        provider: str | None = None,
    ) -> None:
        """Plan `faults` for the next connection, connection number N, or ``"all"``.

        Args:
            faults: the faults, fired in the order given when they share a moment.
            connection: ``"next"`` (the next connection, default), an int N
                (the N-th connection since the server started), or ``"all"``
                (every connection from now on).
            provider: only connections to this provider (``"openai"``/``"gemini"``).

        Raises:
            ConfigurationError: for something that is not a fault or a bad target.
        """
        for fault in faults:
            if not isinstance(fault, _FAULT_TYPES):
                raise ConfigurationError(f"not a fault: {fault!r}")
        if not (connection in ("next", "all") or (isinstance(connection, int) and connection >= 1)):
            raise ConfigurationError(
                f"connection must be 'next', 'all' or a number >= 1, got {connection!r}"
            )
        self._entries.extend(_Entry(f, connection, provider) for f in faults)

    def clear(self) -> None:
        """Forget every planned fault."""
        self._entries.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults not yet handed to a connection (``"all"`` faults stay pending)."""
        return [e.fault for e in self._entries]

    def take(self, index: int, provider: str) -> list[Fault]:
        """Hand out the faults for connection number `index` to `provider`."""
        out: list[Fault] = []
        keep: list[_Entry] = []
        for entry in self._entries:
            if entry.provider is not None and entry.provider != provider:
                keep.append(entry)
                continue
            if entry.target == "all":
                out.append(entry.fault)
                keep.append(entry)
            elif entry.target == "next" or entry.target == index:
                out.append(entry.fault)
            elif isinstance(entry.target, int) and entry.target < index:
                continue  # that connection has come and gone
            else:
                keep.append(entry)
        self._entries = keep
        return out


# --------------------------------------------------------------------------- service shapes

_BASE62 = string.ascii_letters + string.digits

_OPENAI_REFUSALS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: (
        "invalid_request_error",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_api_key",
    ),
    403: (
        "invalid_request_error",
        "You are not allowed to access this resource.",
        "unsupported_country_region_territory",
    ),
    404: (
        "invalid_request_error",
        "The model does not exist or you do not have access to it.",
        "model_not_found",
    ),
    429: (
        "requests",
        "Rate limit reached for requests. Please try again in 1s.",
        "rate_limit_exceeded",
    ),
    500: (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
        None,
    ),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
}

_GOOGLE_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error encountered."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
}


def refusal_body(provider: str, status: int) -> bytes:
    """A JSON body for a refused upgrade, shaped like the service's (`provider`
    ``"openai"``, ``"azure"`` or ``"gemini"``)."""
    if provider == "gemini":
        name, message = _GOOGLE_STATUS.get(status, ("UNKNOWN", "Unknown error."))
        doc = {"error": {"code": status, "message": message, "status": name}}
    elif provider == "azure":
        message = _OPENAI_REFUSALS.get(status, ("", "Request failed.", None))[1]
        if status == 401:
            message = (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                "to provide a valid key for an active subscription and use a correct regional "
                "API endpoint for your resource."
            )
        doc = {"error": {"code": str(status), "message": message}}
    else:
        kind, message, code = _OPENAI_REFUSALS.get(
            status, ("server_error", "Request failed.", None)
        )
        doc = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return (json.dumps(doc, indent=2) + "\n").encode()


def unknown_path_body(path: str) -> bytes:
    """The 404 body for a path no service lives at (OpenAI's wording)."""
    doc = {
        "error": {
            "message": f"Invalid URL (GET {path})",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def service_error(
    provider: str, kind: str, *, event_id: str | None = None
) -> tuple[str, str] | tuple[int, str]:
    """How the service reports its own error of `kind` (``"rate_limit"``/``"server_error"``).

    Returns:
        ``("event", json_text)`` for OpenAI (an ``error`` event, session kept),
        or ``(close_code, reason)`` for Gemini (the socket is closed).

    Raises:
        ConfigurationError: for an unknown kind.
    """
    if kind not in ("rate_limit", "server_error"):
        raise ConfigurationError(f"kind must be 'rate_limit' or 'server_error', got {kind!r}")
    if provider == "gemini":
        if kind == "rate_limit":
            return 1011, "RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota)."
        return 1011, "Internal error occurred."
    if kind == "rate_limit":
        error = {
            "type": "invalid_request_error",
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached for tokens. Please try again in 20ms.",
            "param": None,
            "event_id": None,
        }
    else:
        error = {
            "type": "server_error",
            "code": None,
            "message": "The server had an error while processing your request. Sorry about that!",
            "param": None,
            "event_id": None,
        }
    if event_id is None:
        event_id = "event_" + "".join(secrets.choice(_BASE62) for _ in range(21))
    return "event", json.dumps({"type": "error", "event_id": event_id, "error": error})


def unknown_event(provider: str) -> str | bytes:
    """A well-formed message of a type the client cannot know (as the service frames it)."""
    if provider == "gemini":
        return json.dumps({"futureMessage": {"detail": "from a newer server"}}).encode()
    return json.dumps(
        {"type": "response.future_event", "event_id": "event_FutureEvent000000001", "detail": 1}
    )


def oversized_message(size: int, *, binary: bool = False) -> str | bytes:
    """A valid JSON message of about `size` characters."""
    padding = "x" * max(0, size - 40)
    text = json.dumps({"type": "oversized.message", "padding": padding})
    return text.encode() if binary else text


def malformed_frame() -> bytes:
    """A WebSocket frame no client may accept: final frame with the reserved opcode 0x3."""
    return bytes([0x83, 0x00])


def truncate_reason(reason: str, limit: int = 123) -> str:
    """Cut a close reason to `limit` UTF-8 bytes without splitting a character."""
    data = reason.encode("utf-8")
    if len(data) <= limit:
        return reason
    return data[:limit].decode("utf-8", "ignore")
