"""The fake server's shell: one WebSocket server, both protocols, routed by path.

The shell listens (plain or TLS), routes each upgrade request by its path,
applies planned faults (`testing.faults`) and hands the connection to the
provider's handler. It knows nothing of either protocol: the per-provider
behaviour lives in handlers that implement `ProviderHandler`.

Routes (repeated slashes are collapsed first; the query string is ignored)::

    /v1/realtime                      -> "openai"   (variant "openai")
    /openai/v1/realtime               -> "openai"   (variant "azure")
    /openai/realtime                  -> "openai"   (variant "azure-preview")
    /ws/google.ai.generativelanguage.{v1,v1alpha,v1beta}.GenerativeService.BidiGenerateContent
    /ws/google.ai.generativelanguage.{v1,v1alpha,v1beta}.GenerativeService.BidiGenerateContentConstrained
                                      -> "gemini"   (variant "gemini")
    /ws/google.cloud.aiplatform.{v1,v1beta1}.LlmBidiService/BidiGenerateContent
                                      -> "gemini"   (variant "vertex")

Any other path is refused with HTTP 404 and a JSON body, as the services do.

Writing a provider handler
--------------------------

A handler is an object with ``async def handle(self, conn: FakeConnection)``
(or a plain async function taking the connection). One handler instance
serves every connection of its provider on one server, so it may keep
cross-connection state (Gemini resumption handles, say). For each connection:

1. Decide on the upgrade: ``await conn.accept(subprotocol=...)`` or
   ``await conn.reject(status, body)``. Reading the key is up to the handler
   (`FakeConnection.api_key`). Sending or receiving accepts implicitly.
2. Talk: ``await conn.receive()`` (``str`` or ``bytes``; every message is
   recorded in ``conn.received``), ``await conn.send(message)`` (recorded in
   ``conn.sent``), ``await conn.close(code, reason)``.
3. Call ``await conn.checkpoint(name)`` at the moments listed in
   `faults.MOMENTS`, so that tests can inject faults there.
4. Read the script from ``conn.scenario`` and pace audio with `paced` or a
   `Pacer` at ``conn.speed``.

``ConnectionClosed`` (from trio_websocket) may come out of any of these calls
when the client leaves or a fault ends the connection; the handler may let it
propagate, the shell absorbs it. Any other exception is logged and recorded
in ``conn.error``; the client then gets HTTP 500 (before the upgrade) or a
1011 close, and the server and other connections carry on.

Default handlers are created per server from a registry
(`register_handler`); the provider modules register theirs as
``trio_realtime.testing.openai:create_handler`` and
``trio_realtime.testing.gemini:create_handler``.

Pointing the official clients at the fake server
------------------------------------------------

* ``openai``: ``AsyncOpenAI(api_key="sk-fake", websocket_base_url=server.url + "/v1")``
  then ``client.realtime.connect(model="gpt-realtime")``. With TLS, use
  ``wss://`` and trust the CA: set ``SSL_CERT_FILE`` to `FakeServer.ca_path`
  before the client is created.
* ``google-genai``: ``genai.Client(api_key="fake", http_options={"base_url":
  server.http_url})``. The client always dials ``wss://``, so start the server
  with ``tls=True`` and either set ``SSL_CERT_FILE=<ca_path>`` or pass
  ``http_options={"base_url": ..., "async_client_args": {"ssl": ctx}}`` with
  ``ctx = server.client_ssl_context()``.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import re
import socket
import ssl
import struct
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl

import attrs
import trio
import trio_websocket
import wsproto.utilities
from trio_websocket import CloseReason, ConnectionClosed

from .._groups import one_exception
from .._loop import require_trio
from ..errors import ConfigurationError
from .faults import (
    ON_ACCEPT,
    AfterReceived,
    AfterSent,
    CloseAt,
    DropTCP,
    Fault,
    FaultPlan,
    Moment,
    Nth,
    RefuseHandshake,
    SendRaw,
    SendRawFrame,
    ServiceError,
    Stall,
    StopPongs,
    Target,
    refusal_body,
    service_error,
    truncate_reason,
    unknown_path_body,
)
from .scenario import Scenario

if TYPE_CHECKING:
    from .tokens import TokenStore

__all__ = [
    "FakeConnection",
    "FakeServer",
    "FakeServerInfo",
    "Pacer",
    "ProviderHandler",
    "Route",
    "connection_hints",
    "default_handlers",
    "find_api_key",
    "normalise_path",
    "open_fake_server",
    "pause",
    "paced",
    "register_handler",
    "route_for",
    "run_fake_server_cli",
]

logger = logging.getLogger("trio_realtime.testing.server")

T = TypeVar("T")

#: Seconds the server gives each open connection to finish its close handshake
#: when the server stops.
SHUTDOWN_GRACE = 0.25

#: Largest message the server accepts (OpenAI allows 15 MiB of base64 per append).
DEFAULT_MAX_MESSAGE_SIZE = 20 * 2**20

# --------------------------------------------------------------------------- routing


@attrs.frozen
class Route:
    """Where an upgrade request goes.

    Attributes:
        provider: handler name, ``"openai"`` or ``"gemini"``.
        variant: ``"openai"``, ``"azure"``, ``"azure-preview"``, ``"gemini"`` or ``"vertex"``.
        path: the normalised path.
        version: the API version in the path (Gemini/Vertex), else `None`.
        method: ``"BidiGenerateContent"`` or ``"BidiGenerateContentConstrained"``
            (Gemini/Vertex), else `None`.
    """

    provider: str
    variant: str
    path: str
    version: str | None = None
    method: str | None = None


_GEMINI = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1|v1alpha|v1beta)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
_VERTEX = re.compile(
    r"^/ws/google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService/(BidiGenerateContent)$"
)
_OPENAI = {
    "/v1/realtime": "openai",
    "/openai/v1/realtime": "azure",
    "/openai/realtime": "azure-preview",
}


def normalise_path(path: str) -> str:
    """Collapse repeated slashes and drop a trailing slash (``//ws//x/`` -> ``/ws/x``)."""
    path = re.sub(r"/{2,}", "/", path)
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def route_for(path: str) -> Route | None:
    """Route a request path (without query) to a provider, or `None` for an unknown path."""
    path = normalise_path(path)
    variant = _OPENAI.get(path)
    if variant is not None:
        return Route("openai", variant, path)
    m = _GEMINI.match(path)
    if m:
        return Route("gemini", "gemini", path, m.group(1), m.group(2))
    m = _VERTEX.match(path)
    if m:
        return Route("gemini", "vertex", path, m.group(1), m.group(2))
    return None


# --------------------------------------------------------------------------- auth


def find_api_key(
    headers: Mapping[str, str], query: Mapping[str, str], subprotocols: Sequence[str] = ()
) -> str | None:
    """The credential a client sent, wherever it put it, or `None`.

    Looks at, in order: ``Authorization: Bearer|Token <key>``, ``api-key``,
    ``x-goog-api-key``, the browser sub-protocol ``openai-insecure-api-key.<key>``,
    and the query parameters ``key`` and ``access_token``. `headers` must have
    lower-case names (as `FakeConnection.headers` has).
    """
    auth = headers.get("authorization", "")
    m = re.match(r"(?i)\s*(bearer|token)\s+(\S+)", auth)
    if m:
        return m.group(2)
    for name in ("api-key", "x-goog-api-key"):
        value = headers.get(name, "").strip()
        if value:
            return value
    for proto in subprotocols:
        if proto.startswith("openai-insecure-api-key."):
            return proto.split(".", 1)[1]
    for name in ("key", "access_token"):
        if query.get(name):
            return query[name]
    return None


# --------------------------------------------------------------------------- pacing


def _no_pacing(speed: float) -> bool:
    return speed == 0 or math.isinf(speed)


def _check_speed(speed: float) -> float:
    if not isinstance(speed, int | float) or isinstance(speed, bool) or speed < 0 or speed != speed:
        raise ConfigurationError(
            f"speed must be a number >= 0 (0 or inf: no pacing), got {speed!r}"
        )
    return float(speed)


class Pacer:
    """Sends media on time: `wait` sleeps until an offset of media is due.

    The first `wait` fixes the start; offset *t* is due at
    ``start + max(0, t - lead) / speed``. Deadlines are absolute, so time spent
    sending never accumulates as drift. A speed of 0 or infinity never sleeps
    (but still checkpoints).

    Raises:
        ConfigurationError: for a negative or NaN speed.
    """

    def __init__(self, speed: float, *, lead: float = 0.0) -> None:
        self.speed = _check_speed(speed)
        self.lead = max(0.0, float(lead))
        self._start: float | None = None

    def reset(self) -> None:
        """Start over: the next `wait` fixes a new start time."""
        self._start = None

    async def wait(self, offset: float) -> None:
        """Sleep until `offset` seconds of media (since the first wait) are due."""
        if _no_pacing(self.speed):
            await trio.lowlevel.checkpoint()
            return
        now = trio.current_time()
        if self._start is None:
            self._start = now
        await trio.sleep_until(self._start + max(0.0, offset - self.lead) / self.speed)


class _Paced(Generic[T]):
    def __init__(self, chunks: Iterable[T], pacer: Pacer, duration: Callable[[T], float]) -> None:
        self._it = iter(chunks)
        self._pacer = pacer
        self._duration = duration
        self._offset = 0.0

    def __aiter__(self) -> _Paced[T]:
        return self

    async def __anext__(self) -> T:
        try:
            chunk = next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None
        await self._pacer.wait(self._offset)
        self._offset += self._duration(chunk)
        return chunk


def _frame_duration(chunk: Any) -> float:
    return float(chunk.duration)


def paced(
    chunks: Iterable[T],
    speed: float,
    *,
    duration: Callable[[T], float] = _frame_duration,
    lead: float = 0.0,
) -> AsyncIterator[T]:
    """Iterate `chunks` at `speed` times real time: ``async for c in paced(frames, 1.0)``.

    Chunk *k* is released when the durations of chunks ``0..k-1`` have
    elapsed (divided by `speed`), measured from the first chunk: the first
    comes at once. `duration` gives a chunk's length in seconds (default:
    its ``.duration``, as on `AudioFrame`). `lead` releases everything that
    much earlier (real services send ahead of playback).

    Raises:
        ConfigurationError: for a negative or NaN speed.
    """
    return _Paced(chunks, Pacer(speed, lead=lead), duration)


async def pause(seconds: float, speed: float) -> None:
    """Sleep `seconds` of scripted time (e.g. a reply's latency) at `speed`."""
    speed = _check_speed(speed)
    if seconds > 0 and not _no_pacing(speed):
        await trio.sleep(seconds / speed)
    else:
        await trio.lowlevel.checkpoint()


# --------------------------------------------------------------------------- streams


class _ControlledStream(trio.abc.Stream):
    """The TCP (or TLS) stream under one server connection, with fault switches."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes = b"") -> None:
        self.inner = inner
        self._prefix = prefix  # bytes already read from `inner`, served first
        self._send_lock = trio.Lock()
        self._paused = False
        self.held = 0  # bytes read and withheld while paused

    def pause_reading(self) -> None:
        self._paused = True

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._send_lock:
            await self.inner.send_all(data)

    async def send_raw(self, data: bytes) -> None:
        await self.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            n = len(self._prefix) if max_bytes is None else max_bytes
            head, self._prefix = self._prefix[:n], self._prefix[n:]
            await trio.lowlevel.checkpoint()
            return head
        while True:
            data = await self.inner.receive_some(max_bytes)
            if not self._paused or not data:
                return data
            # Paused: swallow the bytes (no pongs, no messages), but let an end
            # of stream through so the connection still ends.
            self.held += len(data)

    async def send_eof(self) -> None:  # pragma: no cover - not used by websockets
        raise trio.BrokenResourceError("half-close is not supported")

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def abort(self, *, reset: bool) -> None:
        if reset:
            sock = _socket_of(self.inner)
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:  # pragma: no cover - platform specific
                    pass
        await trio.aclose_forcefully(self.inner)


def _socket_of(stream: trio.abc.Stream) -> trio.socket.SocketType | None:
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    if isinstance(stream, trio.SocketStream):
        return stream.socket
    return None


# --------------------------------------------------------------------------- handlers


@runtime_checkable
class ProviderHandler(Protocol):
    """Per-provider fake behaviour plugged into the shell (see the module docstring)."""

    async def handle(self, conn: FakeConnection) -> None:
        """Serve one connection, from the upgrade decision to the end."""


HandlerLike = ProviderHandler | Callable[["FakeConnection"], Awaitable[None]]


@attrs.frozen
class _FunctionHandler:
    fn: Callable[[FakeConnection], Awaitable[None]]

    async def handle(self, conn: FakeConnection) -> None:
        await self.fn(conn)


def _as_handler(value: HandlerLike) -> ProviderHandler:
    if isinstance(value, ProviderHandler):
        return value
    if callable(value):
        return _FunctionHandler(value)
    raise ConfigurationError(f"a handler must have an async handle(conn) method, got {value!r}")


_REGISTRY: dict[str, str | Callable[[], HandlerLike]] = {
    "openai": "trio_realtime.testing.openai:create_handler",
    "gemini": "trio_realtime.testing.gemini:create_handler",
}


def register_handler(provider: str, factory: str | Callable[[], HandlerLike]) -> None:
    """Set the default handler factory for `provider` (``"module:function"`` or a callable).

    Each new `FakeServer` calls the factory once and uses the result for all
    its connections to that provider.
    """
    _REGISTRY[provider] = factory


def default_handlers() -> dict[str, ProviderHandler]:
    """One fresh handler per registered provider whose module is available."""
    out: dict[str, ProviderHandler] = {}
    for provider, factory in _REGISTRY.items():
        if isinstance(factory, str):
            module_name, _, attr = factory.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name is not None and module_name.startswith(exc.name):
                    logger.debug("no fake handler for %s: %s is missing", provider, module_name)
                    continue
                raise
            make = getattr(module, attr or "create_handler", None)
            if make is None:
                logger.debug("no fake handler for %s: %s has no %s", provider, module_name, attr)
                continue
            out[provider] = _as_handler(make())
        else:
            out[provider] = _as_handler(factory())
    return out


# --------------------------------------------------------------------------- connection


class FakeConnection:
    """One client connection as a provider handler sees it.

    Attributes:
        server: the `FakeServer`.
        index: connection number on this server (1-based, routed requests only).
        route: where the request was routed (`Route`).
        path: the normalised request path.
        target: the raw request target (path and query) as sent.
        query: query parameters (first value of each).
        headers: request headers, names lower-cased (repeats joined by ", ").
        subprotocols: sub-protocols the client offered.
        speed: audio pacing factor (0 or inf: no pacing).
        scenario: the server's `Scenario` when the connection arrived.
        received: every message received, in order (for test assertions;
            empty when the server does not record messages).
        sent: every message sent, in order (likewise).
        received_count, sent_count: numbers of messages received and sent
            (counted even when not recorded; `SendRaw` messages are not counted).
        faults: the faults planned for this connection.
        fired: the faults that have fired, in order.
        error: the exception the handler raised, if any.
        close_code, close_reason: what the server sent in its close frame
            (`None` until it closes).
        state: free for the handler's per-connection state.
    """

    def __init__(
        self,
        server: FakeServer,
        request: trio_websocket.WebSocketRequest,
        stream: _ControlledStream,
        route: Route,
        index: int,
        faults: list[Fault],
    ) -> None:
        target = request.path
        raw_path, _, raw_query = target.partition("?")
        self.server = server
        self.index = index
        self.route = route
        self.target = target
        self.path = normalise_path(raw_path.partition("#")[0])
        self.query: dict[str, str] = {}
        for k, v in parse_qsl(raw_query.partition("#")[0], keep_blank_values=True):
            self.query.setdefault(k, v)
        headers: dict[str, str] = {}
        for name, value in request.headers:
            n = name.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[n] = f"{headers[n]}, {v}" if n in headers else v
        self.headers = headers
        self.subprotocols: tuple[str, ...] = tuple(request.proposed_subprotocols)
        self.speed = server.speed
        self.scenario = server.scenario
        self.received: list[str | bytes] = []
        self.sent: list[str | bytes] = []
        self.received_count = 0
        self.sent_count = 0
        self._record = server.record_messages
        self.faults = faults
        self.fired: list[Fault] = []
        self.error: BaseException | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.state: dict[str, Any] = {}
        self._request = request
        self._stream = stream
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._rejected = False
        self._checkpoints: dict[str, int] = {}
        self._done = trio.Event()

    def __repr__(self) -> str:
        return f"<FakeConnection #{self.index} {self.route.provider} {self.path}>"

    # -- upgrade ---------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        """Whether the upgrade was accepted."""
        return self._ws is not None

    @property
    def rejected(self) -> bool:
        """Whether the upgrade was refused."""
        return self._rejected

    @property
    def api_key(self) -> str | None:
        """The credential the client sent (see `find_api_key`), or `None`."""
        return find_api_key(self.headers, self.query, self.subprotocols)

    async def accept(
        self, *, subprotocol: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Complete the upgrade (idempotent); then fire the ``"accept"`` faults.

        Raises:
            RuntimeError: when the upgrade was already refused.
            ConnectionClosed: when an ``"accept"`` fault ended the connection.
        """
        if self._ws is not None:
            return
        if self._rejected:
            raise RuntimeError("the upgrade was already refused")
        self._ws = await self._request.accept(
            subprotocol=subprotocol,
            extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        )
        await self.checkpoint(ON_ACCEPT)

    async def reject(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] = b"",
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Refuse the upgrade with an HTTP status and body (a mapping is sent as JSON).

        Raises:
            RuntimeError: when the upgrade was already accepted.
        """
        if self._ws is not None:
            raise RuntimeError("the upgrade was already accepted")
        if self._rejected:
            return
        self._rejected = True
        if isinstance(body, Mapping):
            body = json.dumps(body, indent=2) + "\n"
        data = body.encode() if isinstance(body, str) else body
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        if data and not any(k.lower() == "content-type" for k, _ in headers):
            extra.append((b"Content-Type", b"application/json; charset=utf-8"))
        await self._request.reject(status, extra_headers=extra, body=data)

    # -- messages --------------------------------------------------------------------

    async def _ws_open(self) -> trio_websocket.WebSocketConnection:
        if self._ws is None:
            await self.accept()
        assert self._ws is not None
        return self._ws

    @property
    def closed(self) -> CloseReason | None:
        """The close reason once the WebSocket is closed or closing, else `None`."""
        return self._ws.closed if self._ws is not None else None

    async def send(self, message: str | bytes) -> None:
        """Send one message (text for `str`, binary for `bytes`) and record it.

        Raises:
            ConnectionClosed: when the connection is closed (or a fault closed it).
        """
        ws = await self._ws_open()
        await ws.send_message(message)
        self.sent_count += 1
        if self._record:
            self.sent.append(message)
        if self.faults:
            n = self.sent_count
            await self._fire_where(lambda m: isinstance(m, AfterSent) and m.n == n)

    async def receive(self) -> str | bytes:
        """Receive the next message and record it in `received`.

        Raises:
            ConnectionClosed: when the client left, or a fault closed the connection.
        """
        ws = await self._ws_open()
        message = await ws.get_message()
        self.received_count += 1
        if self._record:
            self.received.append(message)
        if self.faults:
            n = self.received_count
            await self._fire_where(lambda m: isinstance(m, AfterReceived) and m.n == n)
        return message

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with `code` and `reason` (cut to 123 bytes), waiting briefly for the reply.

        The server closes its TCP side right after the close handshake (or
        after `FakeServer.close_timeout` if the client does not answer).
        """
        if self._ws is None:
            if not self._rejected:
                await self._ws_open()
            else:
                return
        assert self._ws is not None
        if self.close_code is None and self._ws.closed is None:
            self.close_code = code
            self.close_reason = truncate_reason(reason)
        with trio.move_on_after(self.server.close_timeout) as scope:
            await self._ws.aclose(code, truncate_reason(reason) or None)
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self._stream)

    async def abort(self, *, reset: bool = False) -> None:
        """Drop the TCP connection without a close frame (RST with `reset`)."""
        await self._stream.abort(reset=reset)

    def stop_reading(self) -> None:
        """Stop reading the socket: no more pongs or messages (see `faults.StopPongs`)."""
        self._stream.pause_reading()

    async def wait_closed(self) -> None:
        """Wait until the shell has finished with this connection."""
        await self._done.wait()

    @property
    def done(self) -> bool:
        """Whether the shell has finished with this connection."""
        return self._done.is_set()

    # -- faults ----------------------------------------------------------------------

    async def checkpoint(self, name: str) -> None:
        """Mark a named moment; faults planned for it fire now, in order.

        Raises:
            ConnectionClosed: when a fault ended the connection.
        """
        count = self._checkpoints.get(name, 0) + 1
        self._checkpoints[name] = count

        def matches(m: Moment) -> bool:
            if isinstance(m, str):
                return m == name and count == 1
            return isinstance(m, Nth) and m.name == name and m.n == count

        await self._fire_where(matches)

    async def _fire_where(self, matches: Callable[[Moment], bool]) -> None:
        if not self.faults:
            return
        due = [
            f
            for f in self.faults
            if not isinstance(f, RefuseHandshake) and f not in self.fired and matches(f.moment)
        ]
        for fault in due:
            self.fired.append(fault)
            await self._fire(fault)

    async def _fire(self, fault: Fault) -> None:
        logger.debug("connection %d: fault %r", self.index, fault)
        ws = self._ws
        if isinstance(fault, CloseAt):
            await self.close(fault.code, fault.reason)
            raise ConnectionClosed(CloseReason(fault.code, truncate_reason(fault.reason) or None))
        if isinstance(fault, DropTCP):
            await self.abort(reset=fault.reset)
            raise ConnectionClosed(CloseReason(1006, None))
        if isinstance(fault, StopPongs):
            self.stop_reading()
        elif isinstance(fault, SendRaw):
            if ws is not None:
                await ws.send_message(fault.data)
                if self._record:
                    self.sent.append(fault.data)
        elif isinstance(fault, SendRawFrame):
            await self._stream.send_raw(fault.data)
        elif isinstance(fault, ServiceError):
            what = service_error(self.route.provider, fault.kind)
            if what[0] == "event" and ws is not None:
                await ws.send_message(str(what[1]))
                if self._record:
                    self.sent.append(str(what[1]))
            elif isinstance(what[0], int):
                await self.close(what[0], str(what[1]))
                raise ConnectionClosed(CloseReason(what[0], str(what[1])))
        elif isinstance(fault, Stall):
            await trio.sleep(fault.seconds)

    # -- shell -----------------------------------------------------------------------

    async def _finish(self, *, shutdown: bool = False) -> None:
        try:
            if self._ws is None and not self._rejected:
                status = 503 if shutdown else 500
                await self.reject(status, refusal_body(_body_style(self.route), status))
            elif self._ws is not None and self._ws.closed is None:
                if shutdown:
                    await self.close(1001, "The server is shutting down.")
                else:
                    await self.close(1000, "")
        except (
            ConnectionClosed,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            # The client hung up while the upgrade was being accepted: wsproto
            # is closing and refuses a refusal.
            wsproto.utilities.LocalProtocolError,
        ):
            pass
        finally:
            self._done.set()


def _body_style(route: Route) -> str:
    if route.provider == "gemini":
        return "gemini"
    return "azure" if route.variant.startswith("azure") else "openai"


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, trio.Cancelled):
        return True
    return isinstance(exc, BaseExceptionGroup) and exc.split(trio.Cancelled)[0] is not None


def _only_closed(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionClosed):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_closed(e) for e in exc.exceptions)
    return False


# --------------------------------------------------------------------------- server


@attrs.frozen
class FakeServerInfo:
    """Where a running fake server listens.

    Attributes:
        host: the address it was bound to.
        port: the port it listens on.
        url: ``ws://HOST:PORT`` (``wss://`` with TLS).
        http_url: ``http://HOST:PORT`` (``https://`` with TLS), for clients that
            take an HTTP base URL.
        tls: whether it serves TLS.
        ca_path: path of the throwaway CA's PEM file (TLS only).
    """

    host: str
    port: int
    url: str
    http_url: str
    tls: bool = False
    ca_path: str | None = None

    @property
    def openai_url(self) -> str:
        """The OpenAI Realtime endpoint (``…/v1/realtime``)."""
        return self.url + "/v1/realtime"

    def gemini_url(self, version: str = "v1beta", *, constrained: bool = False) -> str:
        """The Gemini Live endpoint for an API `version` (``v1``, ``v1alpha``, ``v1beta``)."""
        method = "BidiGenerateContentConstrained" if constrained else "BidiGenerateContent"
        return f"{self.url}/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _make_tls(host: str) -> tuple[ssl.SSLContext, str]:
    try:
        import trustme
    except ImportError as exc:  # pragma: no cover - trustme is a test dependency
        raise ConfigurationError(
            "serving TLS needs the 'trustme' package: pip install trustme (or trio-realtime[test])"
        ) from exc
    ca = trustme.CA()
    names = ["127.0.0.1", "localhost", "::1"]
    if host and host not in names and host not in ("0.0.0.0", "::"):
        names.append(host)
    cert = ca.issue_cert(*names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    fd, path = tempfile.mkstemp(prefix="trio-realtime-fake-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(ca.cert_pem.bytes())
    return ctx, path


class FakeServer:
    """A fake OpenAI Realtime + Gemini Live server (the shell; see the module docstring).

    Args:
        handlers: provider name -> handler (object with ``handle(conn)`` or an
            async function). Merged over `default_handlers`.
        speed: pacing of reply audio, times real time (0 or inf: no pacing).
        scenario: the script; a default `Scenario` when `None`.
        max_message_size: largest message accepted from a client, in bytes or
            characters; larger ones close the connection with 1009.
        connect_timeout: seconds a client has to finish its upgrade request.
        close_timeout: seconds to wait for the client's close reply.
        keep_connections: how many finished connections `connections` keeps.
        use_default_handlers: start from `default_handlers` (else only `handlers`).
        record_messages: keep every message in `FakeConnection.received` and
            `FakeConnection.sent` (turn off for long-running servers).

    Raises:
        ConfigurationError: for a bad speed or handler.
    """

    def __init__(
        self,
        *,
        handlers: Mapping[str, HandlerLike] | None = None,
        speed: float = 1.0,
        scenario: Scenario | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        connect_timeout: float = 10.0,
        close_timeout: float = 2.0,
        keep_connections: int = 1000,
        use_default_handlers: bool = True,
        record_messages: bool = True,
    ) -> None:
        self.speed = _check_speed(speed)
        self.scenario = scenario if scenario is not None else Scenario()
        self.max_message_size = max_message_size
        self.record_messages = record_messages
        self.connect_timeout = connect_timeout
        self.close_timeout = close_timeout
        self.faults = FaultPlan()
        self.connections: deque[FakeConnection] = deque(maxlen=keep_connections)
        self.info: FakeServerInfo | None = None
        self._handlers: dict[str, ProviderHandler] = (
            default_handlers() if use_default_handlers else {}
        )
        self._handlers.update({k: _as_handler(v) for k, v in (handlers or {}).items()})
        self._count = 0
        self._changed = trio.Event()
        self._tokens: TokenStore | None = None

    # -- configuration ---------------------------------------------------------------

    @property
    def tokens(self) -> TokenStore:
        """Ephemeral tokens issued by the token endpoints (see `testing.tokens`)."""
        if self._tokens is None:
            # Imported by name, as the provider handlers are: that module uses this one.
            self._tokens = importlib.import_module(".tokens", __package__).TokenStore()
        return self._tokens

    @property
    def handlers(self) -> Mapping[str, ProviderHandler]:
        """The handler serving each provider."""
        return dict(self._handlers)

    def set_handler(self, provider: str, handler: HandlerLike) -> None:
        """Serve `provider`'s new connections with `handler`."""
        self._handlers[provider] = _as_handler(handler)

    def inject(
        self, *faults: Fault, connection: Target = "next", provider: str | None = None
    ) -> None:
        """Plan faults: ``server.inject(RefuseHandshake(429))`` (see `FaultPlan.inject`)."""
        self.faults.inject(*faults, connection=connection, provider=provider)

    # -- addresses -------------------------------------------------------------------

    def _info(self) -> FakeServerInfo:
        if self.info is None:
            raise RuntimeError("the fake server is not running")
        return self.info

    @property
    def url(self) -> str:
        """``ws://HOST:PORT`` (``wss://`` with TLS)."""
        return self._info().url

    @property
    def http_url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with TLS)."""
        return self._info().http_url

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._info().port

    @property
    def ca_path(self) -> str | None:
        """The throwaway CA's PEM file when serving TLS, else `None`."""
        return self._info().ca_path

    @property
    def openai_url(self) -> str:
        """The OpenAI Realtime endpoint (``…/v1/realtime``)."""
        return self._info().openai_url

    @property
    def azure_url(self) -> str:
        """The Azure OpenAI GA realtime endpoint (``…/openai/v1/realtime``)."""
        return self.url + "/openai/v1/realtime"

    def gemini_url(self, version: str = "v1beta", *, constrained: bool = False) -> str:
        """The Gemini Live endpoint for an API `version`."""
        return self._info().gemini_url(version, constrained=constrained)

    def vertex_url(self, version: str = "v1beta1") -> str:
        """The Vertex AI Live endpoint (``…LlmBidiService/BidiGenerateContent``)."""
        return f"{self.url}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts this server's throwaway CA.

        Raises:
            RuntimeError: when the server does not serve TLS.
        """
        path = self.ca_path
        if path is None:
            raise RuntimeError("the fake server does not serve TLS")
        return ssl.create_default_context(cafile=path)

    # -- connections -----------------------------------------------------------------

    async def connection(self, index: int) -> FakeConnection:
        """Wait for connection number `index` (1-based) to arrive and return it."""
        while self._count < index:
            await self._changed.wait()
        for conn in self.connections:
            if conn.index == index:
                return conn
        raise LookupError(f"connection {index} is no longer kept")

    # -- serving ---------------------------------------------------------------------

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        speed: float | None = None,
        tls: bool = False,
        handlers: Mapping[str, HandlerLike] | None = None,
        task_status: trio.TaskStatus[FakeServerInfo] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``await nursery.start(server.serve)`` gives a `FakeServerInfo`.

        Args:
            host: address to bind (default loopback only).
            port: port, 0 for any free one.
            speed: overrides the constructor's speed.
            tls: serve ``wss://`` with a certificate from a throwaway CA whose
                PEM file is reported in `FakeServerInfo.ca_path` (removed when
                the server stops).
            handlers: more handlers, merged over the current ones.

        Exceptions leave as themselves, never as a group of one.

        Raises:
            OSError: when the address cannot be bound.
            ConfigurationError: for TLS without trustme, or a bad speed.
            RealtimeError: not running under Trio (asyncio, say).
        """
        require_trio("FakeServer.serve()")
        if speed is not None:
            self.speed = _check_speed(speed)
        if handlers:
            for name, handler in handlers.items():
                self.set_handler(name, handler)
        listeners: list[trio.SocketListener] = await trio.open_tcp_listeners(port, host=host)
        if len(listeners) > 1:
            for extra in listeners[1:]:
                await extra.aclose()
            listeners = listeners[:1]
        bound = listeners[0].socket.getsockname()[1]
        ca_path: str | None = None
        served: list[trio.abc.Listener[Any]]
        if tls:
            try:
                ctx, ca_path = _make_tls(host)
            except BaseException:
                for lst in listeners:
                    await lst.aclose()
                raise
            served = [trio.SSLListener(lst, ctx, https_compatible=True) for lst in listeners]
        else:
            served = list(listeners)
        scheme = "wss" if tls else "ws"
        h = _url_host(host)
        info = FakeServerInfo(
            host=host,
            port=bound,
            url=f"{scheme}://{h}:{bound}",
            http_url=f"{'https' if tls else 'http'}://{h}:{bound}",
            tls=tls,
            ca_path=ca_path,
        )
        try:
            with one_exception():
                async with trio.open_nursery() as nursery:
                    await nursery.start(trio.serve_listeners, self._handle_stream, served)
                    self.info = info
                    task_status.started(info)
        finally:
            self.info = None
            if ca_path is not None:
                try:
                    os.unlink(ca_path)
                except OSError:  # pragma: no cover
                    pass

    async def _handle_stream(self, stream: trio.abc.Stream) -> None:
        try:
            await self._serve_stream(stream)
        except Exception:
            # Never let one connection take the server down.
            logger.exception("fake server: connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        if isinstance(stream, trio.SSLStream):
            try:
                with trio.move_on_after(self.connect_timeout):
                    await stream.do_handshake()
            except trio.BrokenResourceError:
                return
        # Upgrades are GET requests; anything else is a plain HTTP request for
        # the token endpoints (`testing.tokens`).
        first = b""
        with trio.move_on_after(self.connect_timeout):
            while len(first) < 4:
                data = await stream.receive_some()
                if not data:
                    break
                first += bytes(data)
        if not first:
            return
        if not first.startswith(b"GET "):
            tokens = importlib.import_module(".tokens", __package__)
            await tokens.serve_http(self, stream, first)
            return
        ctl = _ControlledStream(stream, prefix=first)
        async with trio.open_nursery() as nursery:
            try:
                request: trio_websocket.WebSocketRequest | None = None
                with trio.move_on_after(self.connect_timeout):
                    request = await trio_websocket.wrap_server_stream(
                        nursery,
                        ctl,
                        message_queue_size=64,
                        max_message_size=self.max_message_size,
                        receive_buffer_size=None,
                    )
                if request is not None:
                    await self._dispatch(request, ctl)
            finally:
                nursery.cancel_scope.cancel()

    async def _dispatch(
        self, request: trio_websocket.WebSocketRequest, ctl: _ControlledStream
    ) -> None:
        # Not urlsplit: a target starting with "//" would be read as a host.
        path = request.path.partition("?")[0].partition("#")[0]
        route = route_for(path)
        if route is None:
            await request.reject(
                404,
                extra_headers=[(b"Content-Type", b"application/json; charset=utf-8")],
                body=unknown_path_body(normalise_path(path)),
            )
            return
        self._count += 1
        index = self._count
        faults = self.faults.take(index, route.provider)
        conn = FakeConnection(self, request, ctl, route, index, faults)
        self.connections.append(conn)
        self._changed.set()
        self._changed = trio.Event()
        try:
            refusal = next((f for f in faults if isinstance(f, RefuseHandshake)), None)
            handler = self._handlers.get(route.provider)
            if refusal is not None:
                conn.fired.append(refusal)
                body = (
                    refusal.body
                    if refusal.body is not None
                    else refusal_body(_body_style(route), refusal.status)
                )
                await conn.reject(refusal.status, body, headers=refusal.headers)
            elif handler is None:
                await conn.reject(
                    503,
                    {
                        "error": {
                            "message": f"The fake server has no handler for {route.provider!r}.",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    },
                )
            else:
                await self._run_handler(handler, conn)
        except BaseException as exc:
            if _is_cancellation(exc):
                # The server is stopping: say goodbye properly, briefly.
                with trio.CancelScope(shield=True), trio.move_on_after(SHUTDOWN_GRACE):
                    await conn._finish(shutdown=True)
            raise
        finally:
            await conn._finish()

    async def _run_handler(self, handler: ProviderHandler, conn: FakeConnection) -> None:
        try:
            await handler.handle(conn)
        except Exception as exc:
            if _only_closed(exc):
                return
            conn.error = exc
            logger.warning(
                "fake %s handler failed on connection %d",
                conn.route.provider,
                conn.index,
                exc_info=exc,
            )
            try:
                if not conn.accepted and not conn.rejected:
                    await conn.reject(500, refusal_body(_body_style(conn.route), 500))
                elif conn.accepted:
                    await conn.close(1011, "Internal error occurred.")
            except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        except BaseExceptionGroup as group:
            # Ctrl+C or cancellation met a closed connection: only the former is news.
            rest = group.split(ConnectionClosed)[1]
            if rest is not None and rest is not group:
                raise rest from None
            raise


@asynccontextmanager
async def open_fake_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    speed: float = 1.0,
    tls: bool = False,
    handlers: Mapping[str, HandlerLike] | None = None,
    scenario: Scenario | None = None,
    **options: Any,
) -> AsyncIterator[FakeServer]:
    """Run a `FakeServer` for the length of an ``async with`` block.

    ``async with open_fake_server() as server:`` then connect to
    ``server.openai_url`` or ``server.gemini_url()``. Leaving the block stops
    the server and ends its connections. Extra keyword `options` go to
    `FakeServer`. An exception from the block or the server leaves it as
    itself (``except KeyboardInterrupt:`` works), never as a group of one;
    only two real errors at once make a group.

    Raises:
        OSError: when the address cannot be bound.
        ConfigurationError: for a bad option, or TLS without trustme.
        RealtimeError: not running under Trio (asyncio, say).
    """
    require_trio("trio_realtime.testing.open_fake_server()")
    server = FakeServer(handlers=handlers, speed=speed, scenario=scenario, **options)
    with one_exception():
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(server.serve, host, port, tls=tls))
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()


def connection_hints(server: FakeServer) -> list[str]:
    """How the official ``openai`` and ``google-genai`` clients reach `server` (banner lines)."""
    trust = f"; run it with SSL_CERT_FILE={server.ca_path}" if server.ca_path else ""
    lines = [
        f"  OpenAI Realtime: {server.openai_url}",
        f'    openai: AsyncOpenAI(websocket_base_url="{server.url}/v1"){trust}',
        f"  Gemini Live:     {server.gemini_url()}",
    ]
    if server.ca_path:
        lines.append(
            f'    google-genai: genai.Client(http_options={{"base_url": "{server.http_url}"}})'
            f"{trust}"
        )
    else:
        lines.append(
            "    google-genai: dials wss:// whenever an API key is set: restart with --tls"
        )
    return lines


async def run_fake_server_cli(host: str, port: int, speed: float, tls: bool) -> None:
    """Serve both fake protocols until cancelled, announcing the URL on stdout.

    The first line printed contains ``ws://HOST:PORT`` (or ``wss://HOST:PORT``
    and the CA file's path) and is flushed once connections are accepted.
    """
    require_trio("trio-realtime fake-server")
    async with open_fake_server(
        host, port, speed=speed, tls=tls, record_messages=False, keep_connections=64
    ) as server:
        first = f"trio-realtime fake server listening on {server.url}"
        if server.ca_path:
            first += f" (CA certificate: {server.ca_path})"
        lines = [first, *connection_hints(server)]
        missing = sorted({"openai", "gemini"} - set(server.handlers))
        if missing:
            lines.append(f"  (no fake behaviour installed yet for: {', '.join(missing)})")
        pacing = (
            f"paced at {server.speed:g}x real time"
            if math.isfinite(server.speed)
            else "sent as fast as possible"
        )
        lines.append(f"  Reply audio {pacing}. Ctrl+C stops.")
        print("\n".join(lines), flush=True)
        await trio.sleep_forever()
