"""One WebSocket connection over trio-websocket, with every failure mapped to `errors`.

This is the only module of the library that imports trio-websocket (on the
client side). It fixes the defaults that are wrong for realtime audio (a queue
of one message, a 1 MiB size limit, 4 KiB reads, 60 s timeouts, a ``ping()``
that waits forever) and contains the close-time races listed in
``conventions.md``:

- the peer's close frame, a dropped TCP connection, a message over
  ``max_size`` and a frame wsproto cannot parse each end the connection with a
  recorded `failure` (`ConnectionLost` or `ProtocolError`) instead of an
  exception in a background task;
- an automatic pong (or a keepalive ping) while our own close is in flight,
  and a send while the peer is closing, are treated as "closed", never as a
  crash;
- leaving the block closes the socket gracefully within ``close_timeout``
  (shielded from outside cancellation), then forcefully, and leaves no task
  running; exactly one exception reaches the caller. Whichever task starts
  the close, the socket is released (and every other closer woken) even when
  that task is cancelled.

We build trio-websocket's connection ourselves instead of using
``open_websocket_url``: its reader task then runs in our nursery (under our
exception handling), its connect and disconnect steps are bounded by our own
``open_timeout`` and ``close_timeout`` (the role of its ``connect_timeout`` and
``disconnect_timeout``, whose 60 s defaults never apply), and reads use Trio's
default buffer (``receive_buffer_size=None``).

Received messages are handed over without an extra task switch:
`_ClientWebSocket`, a subclass of trio-websocket's ``WebSocketConnection``,
replaces the handler its reader task calls for each message, and passes every
complete message straight to ``on_message`` (or to `Connection.receive`'s
queue). The handful of trio-websocket internals this relies on are listed on
that class; ``pyproject.toml`` pins the versions they were checked against,
and ``tests/test_transport.py`` fails loudly when an upgrade changes them.

Secrets: the credentials a connection sends (secret headers, ``key=`` and
other secret query parameters) and any ``secrets`` the caller names are
redacted from everything this module raises, records or logs, and no
third-party exception that keeps raw response headers or bodies is chained.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import ssl
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any, NoReturn
from urllib.parse import urlsplit

import trio
import trio.lowlevel
import wsproto
import wsproto.events
import wsproto.utilities
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection
from wsproto.connection import ConnectionState

from ._groups import reraise, single_exception
from .errors import (
    ConfigurationError,
    ConnectionLost,
    HandshakeError,
    ProtocolError,
    RealtimeError,
    SessionClosed,
    redact_text,
    redact_url,
    scrub_exception,
    secret_values,
)

__all__ = ["Connection", "open_connection"]

log = logging.getLogger("trio_realtime.transport")

#: trio-websocket's runtime failures, mapped to ours in one place.
#: Socket errors meaning "already closed" (the others mean "broken"), as in trio.
_CLOSED_ERRNOS = frozenset({errno.EBADF, errno.ENOTSOCK})

_RUNTIME_ERRORS = (
    ConnectionClosed,
    # trio-websocket #175: wsproto already knows the peer is closing.
    wsproto.utilities.LocalProtocolError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
)

MessageHandler = Callable[[str | bytes], None]
CloseHandler = Callable[[RealtimeError | None], None]


# --------------------------------------------------------------------------- trio-websocket


class _ClientWebSocket(WebSocketConnection):
    """trio-websocket's client connection, with the hooks our transport needs.

    trio-websocket's reader task (``_reader_task``, which `Connection` runs in
    its own nursery) sends the upgrade request, feeds what it reads to
    wsproto, and calls ``self._handle_<event>_event`` for each wsproto event;
    ``_close_web_socket(code, reason)`` is where it records a close, whether
    the peer's close frame or a dropped connection. This class overrides:

    - ``_handle_message_event``: each complete message goes straight to the
      `Connection` (``on_message`` called synchronously in the reader task, or
      the connection's own queue): no channel in between, no task switch per
      message. A message over ``max_size`` fails the connection (close 1009)
      and the rest of it is discarded as it arrives, never held in memory.
    - ``_handle_ping_event``: pongs only while the connection is open
      (trio-websocket #184: a pong during our close raised in the reader).
    - ``_handle_accept_connection_event`` and ``_close_web_socket``: extended
      to tell the `Connection` that the upgrade completed / the WebSocket closed.

    and calls ``_reader_task`` and ``_send`` (its locked frame writer, for a
    close frame trio-websocket would not send). Everything else goes through
    the public API (``send_message``, ``ping``, ``aclose``, ``closed``).
    These six names are trio-websocket internals: ``pyproject.toml`` pins
    ``trio-websocket>=0.12.2,<0.13`` and ``tests/test_transport.py`` checks
    that they still behave as described.
    """

    def __init__(
        self,
        conn: Connection,
        stream: trio.abc.Stream,
        *,
        host: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        max_size: int,
    ) -> None:
        proto = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        super().__init__(
            stream,
            proto,
            host=host,
            path=path,
            client_extra_headers=headers,
            # trio-websocket's own queue stays unused: messages go to `conn`.
            message_queue_size=0,
            max_message_size=max_size,
            receive_buffer_size=None,
        )
        self.__proto = proto
        self.__conn = conn
        self.__max_size = max_size
        self.__parts: list[Any] = []
        self.__size = 0
        self.__discarding = False

    async def _handle_message_event(
        self, event: wsproto.events.TextMessage | wsproto.events.BytesMessage
    ) -> None:
        data = event.data
        if self.__discarding:  # the rest of a message over max_size
            self.__discarding = not event.message_finished
            return
        size = self.__size + len(data)
        if size > self.__max_size:
            self.__parts = []
            self.__size = 0
            self.__discarding = not event.message_finished
            self.__conn._message_too_big()
            return
        if not event.message_finished:
            self.__parts.append(data)
            self.__size = size
            return
        # wsproto 1.x hands whole frames as bytes; a bytearray is typed possible.
        message: str | bytes = bytes(data) if isinstance(data, bytearray) else data
        if self.__parts:
            self.__parts.append(data)
            message = "".join(self.__parts) if isinstance(data, str) else b"".join(self.__parts)
            self.__parts = []
            self.__size = 0
        conn = self.__conn
        # Once either side has started closing, or the connection failed,
        # later messages are dropped.
        if conn._dropping:
            return
        on_message = conn._on_message
        if on_message is not None:
            # The hot path: handed over synchronously inside the reader task.
            try:
                on_message(message)
            except Exception as exc:  # recorded, never crashes the reader
                conn._handler_failed(exc)
            return
        try:
            await conn._queue_send.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # our receive side is closed: the connection is ending

    @property
    def protocol_state(self) -> ConnectionState:
        """wsproto's view of the connection (it can differ from trio-websocket's `closed`)."""
        return self.__proto.state

    async def _handle_ping_event(self, event: wsproto.events.Ping) -> None:
        # Checked and sent without a checkpoint in between.
        if self.__proto.state is ConnectionState.OPEN:
            await super()._handle_ping_event(event)

    async def _handle_accept_connection_event(self, event: wsproto.events.AcceptConnection) -> None:
        await super()._handle_accept_connection_event(event)
        self.__conn._upgraded()

    async def _close_web_socket(self, code: int, reason: str | None = None) -> None:
        await super()._close_web_socket(code, reason)
        self.__conn._websocket_closed()

    async def send_close_frame(self, code: int, reason: str) -> None:
        """Send a close frame although trio-websocket already considers the connection closed."""
        await self._send(wsproto.events.CloseConnection(code=code, reason=reason))


# --------------------------------------------------------------------------- Connection


class _WholeFrames(trio.abc.Stream):
    """The TCP stream under the WebSocket (and under TLS): every write is whole.

    trio's `trio.SocketStream.send_all` cancelled after part of its data went
    out leaves the rest unsent, and the next message would follow a torn
    frame. Here a write that has started is finished even when the caller is
    cancelled: the rest is written shielded, for at most `close_timeout`,
    then the write returns normally and the cancellation takes effect at the
    caller's next checkpoint. A write cancelled before any byte left raises
    `trio.Cancelled` with nothing sent, and the usual write, not cancelled,
    costs no cancel scope (one would cost more than the whole write at
    real-time pace). If the rest cannot be written in time the socket is
    closed (`stalled` says so) and the cancellation goes on: the connection
    is then lost, never left open behind a partial frame.

    Reading goes straight to the socket stream (`receive_some` is its own).
    """

    def __init__(self, inner: trio.SocketStream, close_timeout: float) -> None:
        self._inner = inner
        self._socket = inner.socket
        self._close_timeout = close_timeout
        #: Set when a cancelled write could not be finished and the socket was closed.
        self.stalled = False
        # The read path, without a layer of ours in between.
        self.receive_some = inner.receive_some  # type: ignore[method-assign]

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self._inner.receive_some(max_bytes)  # pragma: no cover - shadowed

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = self._socket
        if sock.did_shutdown_SHUT_WR:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        with memoryview(data) as view:
            size = len(view)
            if not size:
                if sock.fileno() == -1:
                    raise trio.ClosedResourceError("socket was already closed")
                await trio.lowlevel.checkpoint()
                return
            sent = 0
            try:
                while sent < size:
                    with view[sent:] as rest:
                        sent += await sock.send(rest)
            except trio.Cancelled:
                if sent == 0:
                    raise  # nothing went out: a clean cancellation
                sent = await self._finish(view, sent)
                if sent < size:
                    raise
            except OSError as exc:
                # As trio.SocketStream maps them.
                if exc.errno in _CLOSED_ERRNOS:
                    raise trio.ClosedResourceError("this socket was already closed") from None
                raise trio.BrokenResourceError(f"socket connection broken: {exc}") from exc

    async def _finish(self, view: memoryview, sent: int) -> int:
        """Write the rest of a cancelled write, shielded, within close_timeout."""
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self._close_timeout
            try:
                while sent < len(view):
                    with view[sent:] as rest:
                        sent += await self._socket.send(rest)
            except OSError:
                pass  # the socket broke meanwhile: closed below
        if sent < len(view):
            self.stalled = True
            self._socket.close()
        return sent

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._inner.aclose()


class Connection:
    """An open WebSocket connection, as yielded by `open_connection`.

    Attributes:
        url: the URL that was dialled, with secrets redacted.
        closed: whether the connection has ended (or our close has begun).
        close_code: the close code: the peer's, ours (the one we sent), 1006 for
            a dropped connection; `None` while open.
        close_reason: the close reason that goes with `close_code`.
        failure: why the connection ended, or `None` when it was our own clean
            close (or is still open).

    The close attributes are set before anything waiting on the connection
    (`receive`, `wait_closed`, ``on_close``) is woken.
    """

    def __init__(
        self,
        url: str,
        *,
        secrets: Collection[str],
        ping_interval: float | None,
        ping_timeout: float,
        close_timeout: float,
        max_size: int,
        max_queue: int,
        on_message: MessageHandler | None,
        on_close: CloseHandler | None,
    ) -> None:
        self._secrets = secrets
        self.url = redact_url(url, secrets)
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.failure: RealtimeError | None = None
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._max_size = max_size
        self._on_message = on_message
        self._on_close = on_close
        self._queue_send, self._queue_receive = trio.open_memory_channel[str | bytes](
            max_queue if on_message is None else 0
        )
        self._ws: _ClientWebSocket | None = None
        self._stream: trio.abc.Stream | None = None
        #: The TCP stream that keeps frames whole (under TLS, if any).
        self._frames: _WholeFrames | None = None
        self._nursery: trio.Nursery | None = None
        self._opened = False
        self._accepted = False
        self._upgrade_done = trio.Event()  # accepted, refused, or the reader ended
        self._rejection: HandshakeError | None = None
        self._reader_error: BaseException | None = None
        self._local_close = False  # close() was called by us (user, exit, failure)
        self._dropping = False  # no more messages are handed over
        self._ended = trio.Event()
        self._reader_done = trio.Event()
        # The reader must outlive a cancellation from outside long enough to
        # read the peer's answer to our close frame: it is shielded, and
        # stopped explicitly once the socket is released.
        self._reader_scope = trio.CancelScope(shield=True)
        self._closing = False
        # Set (in a `finally`) by whichever task closes first, once the socket
        # is closed: the other closers wait on it.
        self._released = trio.Event()
        # The close code a failure asked for; it wins over the caller's.
        self._close_with: tuple[int, str] | None = None

    def __repr__(self) -> str:
        state = "open" if not self.closed else f"closed code={self.close_code}"
        return f"<Connection {self.url} {state}>"

    # ------------------------------------------------------------------ public

    async def send(self, message: str | bytes) -> None:
        """Send one text (`str`) or binary (`bytes`) message.

        Returns once the frame has been handed to the socket. A cancellation
        never tears a frame: arriving before the frame starts, it raises
        `trio.Cancelled` with nothing sent; once the frame has started, the
        rest is written (shielded, within ``close_timeout``) and the call
        returns, the cancellation taking effect at the next checkpoint. If the
        socket cannot take the rest in time, the connection is dropped
        (`ConnectionLost`, code 1006) rather than left open behind a partial
        frame. (This holds on the TCP connections `open_connection` makes.)

        Raises:
            TypeError: `message` is neither `str` nor `bytes`.
            SessionClosed: the connection was closed by us.
            ConnectionLost: the connection ended (peer close, drop, failure);
                chained to the recorded `failure`.
        """
        if not isinstance(message, (str, bytes)):
            raise TypeError(
                f"A WebSocket message is str (text) or bytes (binary), not {type(message).__name__}."
            )
        ws = self._ws
        if ws is None or self._local_close or self._ended.is_set():
            await trio.lowlevel.checkpoint()
            self._raise_ended()
        # The hot path: the same mapping as `_raise_ended`, inline (a
        # generator-based context manager costs ~1 µs per message).
        try:
            await ws.send_message(message)
        except _RUNTIME_ERRORS as exc:
            err = self._ended_error(exc)
        else:
            return
        # Raised outside the `except` block, so that trio-websocket's exception
        # (which may quote a close reason) is not attached as its context.
        raise err from err.__cause__

    async def receive(self) -> str | bytes:
        """Return the next received message, in order.

        Only available when the connection was opened without ``on_message``.
        After the peer closes, messages it sent before closing are still
        returned first; after our own close, they are discarded.

        Raises:
            ConfigurationError: the connection was opened with ``on_message``.
            ConnectionLost: the peer closed, the connection dropped, or it failed.
            SessionClosed: we closed the connection.
        """
        if self._on_message is not None:
            raise ConfigurationError(
                "receive() cannot be used on a connection opened with on_message: "
                "every message is already handed to the callback."
            )
        try:
            return await self._queue_receive.receive()
        except trio.EndOfChannel:
            self._raise_ended()
        except trio.ClosedResourceError:
            raise SessionClosed(f"The connection to {self.url} is closed.") from None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection: send a close frame and wait for the reply.

        Idempotent. Always releases the socket: the graceful close takes at most
        ``close_timeout`` seconds, and is shielded from outside cancellation for
        that long, after which the socket is closed without ceremony. When
        another task is already closing the connection, waits for that close
        (within the same bound) instead of starting another. Messages not yet
        received are discarded; later `receive` calls raise `SessionClosed`.
        Unless the connection had already failed, `failure` stays `None` and
        `close_code` is the `code` given here.

        A cancelled caller still returns only once the socket is released
        (within ``close_timeout``), without raising `trio.Cancelled`; its next
        checkpoint does.

        Args:
            code: the WebSocket close code to send (1000 = normal closure).
            reason: a short reason sent with it (cut to 123 UTF-8 bytes).

        Raises:
            ConfigurationError: `code` is not a close code an endpoint may send.
        """
        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            raise ConfigurationError(
                f"{code!r} is not a WebSocket close code that may be sent "
                "(1000-1003, 1007-1014 or 3000-4999)."
            )
        self._begin_local_close(code, reason)
        await self._close(code, reason)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended, for any reason (see `failure`)."""
        await self._ended.wait()

    # ------------------------------------------------------------------ secrets

    def _scrubbed(self, exc: RealtimeError) -> RealtimeError:
        """`exc` with this connection's secrets removed from it and its chain."""
        scrub_exception(exc, self._secrets)
        return exc

    def _log_exception(self, level: int, message: str, exc: BaseException) -> None:
        """Log `message` with the traceback of `exc`, secrets redacted from both."""
        if log.isEnabledFor(level):
            text = "".join(traceback.format_exception(exc)).rstrip()
            log.log(level, "%s\n%s", message, redact_text(text, self._secrets))

    # ------------------------------------------------------------------ ending

    def _record_end(self, failure: RealtimeError | None, code: int, reason: str) -> None:
        """Record how the connection ended (first call wins), then wake waiters."""
        if self._ended.is_set():
            return
        if failure is not None:
            self._scrubbed(failure)
        self.closed = True
        self.close_code = code
        self.close_reason = redact_text(reason, self._secrets)
        self.failure = failure
        self._dropping = True
        # Receivers first drain what was already queued, then see EndOfChannel.
        self._queue_send.close()
        self._ended.set()
        if failure is not None:
            log.debug("connection to %s ended: %s", self.url, failure)
        on_close = self._on_close
        if on_close is not None and self._opened:
            try:
                on_close(failure)
            except Exception as exc:
                self._log_exception(
                    logging.ERROR,
                    f"the on_close callback of the connection to {self.url} failed",
                    exc,
                )

    def _begin_local_close(self, code: int, reason: str) -> None:
        if not self._local_close:
            self._local_close = True
            self._dropping = True
            self._queue_receive.close()
        self._record_end(None, code, reason)

    def _handler_failed(self, exc: Exception) -> None:
        """``on_message`` raised: record it, then close from a task of ours."""
        if isinstance(exc, ProtocolError):
            failure: RealtimeError = exc
            code, reason = 1002, "protocol error"
        elif isinstance(exc, RealtimeError):
            failure = exc
            code, reason = 1011, "internal error"
        else:
            failure = RealtimeError(
                "The connection was closed because handling a received message failed: "
                f"{type(exc).__name__}: {exc}"
            )
            failure.__cause__ = exc
            code, reason = 1011, "internal error"
        self._fail_and_close(failure, code, reason)

    def _message_too_big(self) -> None:
        """The reader met a message over max_size (its rest is being discarded)."""
        failure = ProtocolError(
            f"The server sent a message larger than max_size ({self._max_size} bytes); "
            "the connection was closed with code 1009."
        )
        self._fail_and_close(failure, 1009, f"message over {self._max_size} bytes")

    def _fail_and_close(self, failure: RealtimeError, code: int, reason: str) -> None:
        self._dropping = True
        self._record_end(failure, code, reason)
        if self._close_with is None:
            self._close_with = (code, reason)
        nursery = self._nursery
        if nursery is not None and not self._closing:
            nursery.start_soon(self._close, code, reason, name="trio_realtime transport close")

    def _upgraded(self) -> None:
        """The reader saw the server accept the upgrade."""
        self._accepted = True
        self._upgrade_done.set()

    def _websocket_closed(self) -> None:
        """trio-websocket recorded a close (the peer's frame, or a drop)."""
        self._dropping = True
        self._reader_saw_end()

    def _reader_saw_end(self) -> None:
        """The WebSocket closed or the reader ended: work out why, unless we already know."""
        ws = self._ws
        if ws is None or not self._accepted or self._ended.is_set():
            return
        self._dropping = True
        why = ws.closed
        failure: RealtimeError
        if self._frames is not None and self._frames.stalled:
            failure = ConnectionLost(
                f"A write to {self.url} that was cancelled part-way through a message "
                f"could not be finished within {self._close_timeout:g} s (close_timeout); "
                "the connection was dropped rather than send anything after a partial frame.",
                code=1006,
                reason="write stalled",
            )
            code, reason = 1006, "write stalled"
        elif why is None or why.code == 1006:
            lost = ConnectionLost.from_close(None, None)
            if self._reader_error is not None:
                lost.__cause__ = self._reader_error
            failure, code, reason = lost, 1006, ""
        elif ws.protocol_state in (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING):
            # wsproto could not parse a frame: it made up this close itself.
            failure = ProtocolError(
                f"The server sent an invalid WebSocket frame ({why.reason}); "
                f"the connection was closed with code {why.code}."
            )
            code, reason = why.code, why.reason or ""
        else:
            failure = ConnectionLost.from_close(why.code, why.reason)
            code, reason = why.code, why.reason or ""
        self._record_end(failure, code, reason)
        if isinstance(failure, ProtocolError) and self._nursery is not None:
            if self._close_with is None:
                self._close_with = (code, "protocol error")
            self._nursery.start_soon(
                self._close, code, "protocol error", name="trio_realtime transport close"
            )

    def _ended_error(self, cause: BaseException | None = None) -> RealtimeError:
        """The exception a foreground call raises once the connection has ended."""
        failure = self.failure
        if self._local_close and failure is None:
            return SessionClosed(f"The connection to {self.url} is closed.")
        if isinstance(failure, ConnectionLost):
            err = ConnectionLost(failure.message, code=failure.code, reason=failure.reason)
        elif failure is not None:
            err = ConnectionLost(
                f"The connection to {self.url} was closed after an error: {failure}",
                code=self.close_code,
                reason=self.close_reason or "",
            )
        elif isinstance(cause, ConnectionClosed) and cause.reason is not None:
            err = ConnectionLost.from_close(cause.reason.code, cause.reason.reason)
        else:
            err = ConnectionLost(f"The connection to {self.url} is closing.", code=self.close_code)
        err.__cause__ = failure if failure is not None else cause
        return self._scrubbed(err)

    def _raise_ended(self, cause: BaseException | None = None) -> NoReturn:
        err = self._ended_error(cause)
        raise err from err.__cause__

    # ------------------------------------------------------------------ closing

    async def _close(self, code: int, reason: str) -> None:
        """Close gracefully within close_timeout (shielded), then forcefully.

        Never raises, and never checkpoints outside a shield: a cancelled
        caller returns once the socket is released.
        """
        if self._closing:
            # Another task is closing. It releases the socket within the same
            # bound, even if it is cancelled (see the `finally` below).
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self._close_timeout
                await self._released.wait()
            if not self._released.is_set():  # pragma: no cover - belt and braces
                await self._force_close()
            return
        self._closing = True
        if self._close_with is not None:
            code, reason = self._close_with
        try:
            ws = self._ws
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self._close_timeout
                if ws is not None and not self._reader_done.is_set():
                    if ws.protocol_state is ConnectionState.OPEN:
                        try:
                            if ws.closed is None:
                                # Sends the close frame, waits for the reply,
                                # then closes the stream.
                                await ws.aclose(code, reason or None)
                            else:
                                # trio-websocket thinks it is closed but wsproto
                                # does not (a frame it could not parse): say
                                # goodbye without waiting for an answer.
                                await ws.send_close_frame(code, reason)
                        except _RUNTIME_ERRORS:
                            pass  # it is closed, which was the point
                    # After a close frame from the peer, the RFC has the client
                    # wait for the server to close TCP: the reader sees it.
                    await self._reader_done.wait()
        finally:
            await self._force_close()

    async def _force_close(self) -> None:
        """Drop the socket and mark it released, whatever the caller's cancel state."""
        try:
            stream = self._stream
            if stream is not None:
                # Shielded: in a cancelled task, aclose_forcefully would raise
                # Cancelled before the release below.
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
        finally:
            self._released.set()
            # The reader normally ends by itself once the stream is closed.
            self._reader_scope.cancel()

    # ------------------------------------------------------------------ tasks

    async def _run_reader(self, ws: _ClientWebSocket) -> None:
        """trio-websocket's reader, with nothing allowed to escape from it."""
        try:
            with self._reader_scope:
                await ws._reader_task()
        except ConnectionRejected as exc:
            # Rebuilt, redacted, and not chained: the original keeps the raw
            # response headers and body.
            self._rejection = HandshakeError.from_response(
                exc.status_code,
                headers=exc.headers,
                body=exc.body or b"",
                url=self.url,
                secrets=self._secrets,
            )
        except (
            wsproto.utilities.LocalProtocolError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
        ) as exc:
            # A race while closing (trio-websocket #184 and friends): it is closed.
            log.debug("reader of %s ended on %s", self.url, type(exc).__name__)
            self._reader_error = exc
        except Exception as exc:
            self._log_exception(logging.DEBUG, f"reader of {self.url} failed", exc)
            self._reader_error = exc
            if self._accepted and not self._ended.is_set():
                failure = ConnectionLost(
                    f"The connection to {self.url} failed: {type(exc).__name__}: {exc}",
                    code=1011,
                )
                failure.__cause__ = exc
                self._record_end(failure, 1011, "internal error")
        finally:
            self._dropping = True
            self._upgrade_done.set()  # wake the opener, if it still waits
            self._reader_saw_end()
            self._reader_done.set()
            # The reader is gone: nothing reads the socket any more.
            if self._opened and not self._closing:
                with trio.CancelScope(shield=True):
                    await self._close(self.close_code or 1000, self.close_reason or "")

    async def _keepalive(self, interval: float) -> None:
        """Ping every `interval` seconds; a pong must come within ping_timeout."""
        ws = self._ws
        assert ws is not None
        while True:
            await trio.sleep(interval)
            if self._ended.is_set():
                return
            with trio.move_on_after(self._ping_timeout) as scope:
                try:
                    await ws.ping()
                except _RUNTIME_ERRORS:
                    return  # closing already: the close path reports why
            if scope.cancelled_caught:
                if self._ended.is_set():
                    return
                failure = ConnectionLost(
                    f"No pong from {self.url} within {self._ping_timeout:g} s of a "
                    "keepalive ping; the connection is considered lost.",
                    code=1011,
                    reason="keepalive ping timeout",
                )
                self._record_end(failure, 1011, "keepalive ping timeout")
                if self._close_with is None:
                    self._close_with = (1011, "keepalive ping timeout")
                await self._close(1011, "keepalive ping timeout")
                return

    # ------------------------------------------------------------------ opening

    async def _open(
        self,
        nursery: trio.Nursery,
        connect: Callable[[], Awaitable[trio.abc.Stream]],
        *,
        host_header: str,
        resource: str,
        headers: list[tuple[bytes, bytes]],
        open_timeout: float,
    ) -> None:
        self._nursery = nursery
        try:
            with trio.move_on_after(open_timeout) as scope:
                with _map_open_errors(self.url):
                    self._stream = stream = await connect()
                frames = getattr(stream, "transport_stream", stream)  # under TLS
                self._frames = frames if isinstance(frames, _WholeFrames) else None
                ws = _ClientWebSocket(
                    self,
                    self._stream,
                    host=host_header,
                    path=resource,
                    headers=headers,
                    max_size=self._max_size,
                )
                self._ws = ws
                nursery.start_soon(self._run_reader, ws, name="trio_realtime transport reader")
                await self._upgrade_done.wait()
            if scope.cancelled_caught:
                raise HandshakeError(
                    f"The connection to {self.url} did not complete its opening handshake "
                    f"within {open_timeout:g} s (open_timeout).",
                    url=self.url,
                )
            if self._rejection is not None:
                raise self._rejection
            if not self._accepted:
                err = HandshakeError(
                    f"The server at {self.url} closed the connection before completing "
                    "the WebSocket upgrade.",
                    url=self.url,
                )
                err.__cause__ = self._reader_error
                raise err
        except BaseException as exc:
            if isinstance(exc, RealtimeError):
                self._scrubbed(exc)
            if self._accepted:
                # Cancelled just as the upgrade completed: the WebSocket is
                # open, so close it properly (shielded, within close_timeout).
                self._begin_local_close(1000, "")
                await self._close(1000, "")
            else:
                await self._force_close()
            # Stops the reader. Nothing may checkpoint after this: a Cancelled
            # would replace the exception being raised.
            nursery.cancel_scope.cancel()
            raise
        self._opened = True
        if self._ended.is_set() and self._on_close is not None:
            # Ended between the upgrade and now (peer closed at once): report it.
            try:
                self._on_close(self.failure)
            except Exception as exc:
                self._log_exception(
                    logging.ERROR,
                    f"the on_close callback of the connection to {self.url} failed",
                    exc,
                )
        if self._ping_interval is not None and not self._ended.is_set():
            nursery.start_soon(
                self._keepalive, self._ping_interval, name="trio_realtime transport keepalive"
            )


def _clause(text: str) -> str:
    """`text` made ready to end a sentence that adds its own full stop."""
    return " ".join(text.split()).rstrip(" .")


def _tls_failure(url: str, error: ssl.SSLError) -> HandshakeError:
    """Describe a failed TLS handshake, saying when the server may not speak TLS at all."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = _clause(error.verify_message or error.reason or str(error))
        return HandshakeError(
            f"The TLS certificate of {url} could not be verified: {detail}.", url=url
        )
    reason = error.reason or ""
    if reason in _NOT_TLS_REASONS:
        return HandshakeError(
            f"The TLS handshake with {url} failed ({_clause(reason.lower().replace('_', ' '))}): "
            "the server answered with something other than TLS. It may not speak TLS on "
            "this port; if it is a plain WebSocket server, use a ws:// URL.",
            url=url,
        )
    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or reason in _EOF_REASONS:
        return HandshakeError(
            f"The server at {url} closed the connection during the TLS handshake. It may not "
            "speak TLS on this port (a plain WebSocket server wants a ws:// URL), or it "
            "refused our TLS settings.",
            url=url,
        )
    detail = _clause(reason.lower().replace("_", " ") if reason else str(error))
    return HandshakeError(f"The TLS handshake with {url} failed: {detail}.", url=url)


#: OpenSSL reasons for a TLS handshake answered by something that is not TLS
#: (an HTTP server answering our ClientHello with a plain-text response).
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNKNOWN_PROTOCOL",
    }
)
#: OpenSSL reasons for a peer that hung up during the TLS handshake.
_EOF_REASONS = frozenset({"UNEXPECTED_EOF_WHILE_READING", "EOF_OCCURRED_IN_VIOLATION_OF_PROTOCOL"})


@contextmanager
def _map_open_errors(url: str) -> Iterator[None]:
    """The one place where errors while connecting become `HandshakeError`."""
    try:
        yield
    except trio.BrokenResourceError as exc:
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLError):
            raise _tls_failure(url, cause) from exc
        raise HandshakeError(
            f"The connection to {url} broke during the opening handshake.", url=url
        ) from exc
    except ssl.SSLError as exc:
        raise _tls_failure(url, exc) from exc
    except OSError as exc:
        detail = _clause(exc.strerror or str(exc) or type(exc).__name__)
        raise HandshakeError(f"Could not connect to {url}: {detail}.", url=url) from exc
    # A refused upgrade (ConnectionRejected) is raised in the reader task and
    # mapped by Connection._run_reader.


# --------------------------------------------------------------------------- entry points


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """Verified TLS with the system trust store, built once (loading it takes a while)."""
    return ssl.create_default_context()


def _split_url(url: str, ssl_context: ssl.SSLContext | None) -> tuple[str, int, str, str, bool]:
    """Return (host, port, host header, resource, tls) for a ws:// or wss:// URL."""
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"Not a valid WebSocket URL: {redact_url(url)} ({exc}).") from None
    if parts.scheme not in ("ws", "wss"):
        raise ConfigurationError(
            f"A WebSocket URL must start with ws:// or wss://, not {redact_url(url)!r}."
        )
    tls = parts.scheme == "wss"
    if ssl_context is not None and not tls:
        raise ConfigurationError(
            f"An ssl_context was given for {redact_url(url)}, which is not a wss:// URL."
        )
    host = parts.hostname
    if not host:
        raise ConfigurationError(f"The WebSocket URL {redact_url(url)} has no host.")
    port = port_given if port_given is not None else (443 if tls else 80)
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return host, port, host_header, resource, tls


def _encode_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        try:
            out.append((name.encode("ascii"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ConfigurationError(
                f"The value of the HTTP header {name!r} cannot be sent: header names must "
                "be ASCII and values Latin-1."
            ) from None
    return out


def _check_knobs(
    open_timeout: float,
    ping_interval: float | None,
    ping_timeout: float,
    close_timeout: float,
    max_size: int,
    max_queue: int,
) -> None:
    for name, value in (
        ("open_timeout", open_timeout),
        ("ping_timeout", ping_timeout),
        ("close_timeout", close_timeout),
    ):
        if not value > 0 or math.isnan(value):
            raise ConfigurationError(f"{name} must be a positive number of seconds, not {value!r}.")
    if ping_interval is not None and (not ping_interval > 0 or math.isnan(ping_interval)):
        raise ConfigurationError(
            f"ping_interval must be a positive number of seconds or None, not {ping_interval!r}."
        )
    if max_size < 1:
        raise ConfigurationError(f"max_size must be at least 1 byte, not {max_size!r}.")
    if max_queue < 1:
        raise ConfigurationError(f"max_queue must be at least 1 message, not {max_queue!r}.")


@asynccontextmanager
async def _connection_scope(
    url: str,
    connect: Callable[[], Awaitable[trio.abc.Stream]],
    *,
    host_header: str,
    resource: str,
    headers: Sequence[tuple[str, str]],
    open_timeout: float,
    ping_interval: float | None,
    ping_timeout: float,
    close_timeout: float,
    max_size: int,
    max_queue: int,
    on_message: MessageHandler | None,
    on_close: CloseHandler | None,
    secrets: Collection[str],
) -> AsyncIterator[Connection]:
    _check_knobs(open_timeout, ping_interval, ping_timeout, close_timeout, max_size, max_queue)
    raw_headers = _encode_headers(headers)
    conn = Connection(
        url,
        secrets=secret_values(url, headers, secrets),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        on_message=on_message,
        on_close=on_close,
    )
    to_raise: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            await conn._open(
                nursery,
                connect,
                host_header=host_header,
                resource=resource,
                headers=raw_headers,
                open_timeout=open_timeout,
            )
            try:
                yield conn
            finally:
                conn._begin_local_close(1000, "")
                await conn._close(1000, "")
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        to_raise = single_exception(group)
        if to_raise is None:
            raise
    if to_raise is not None:
        reraise(to_raise)


def open_connection(
    url: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
    open_timeout: float = 15.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    close_timeout: float = 5.0,
    max_size: int = 16 * 2**20,
    max_queue: int = 4096,
    on_message: MessageHandler | None = None,
    on_close: CloseHandler | None = None,
    secrets: Collection[str] = (),
) -> AbstractAsyncContextManager[Connection]:
    """Open a WebSocket connection: ``async with open_connection(url) as conn``.

    The knobs and what they cost:

    - ``open_timeout`` (15 s): bound on TCP connect + TLS + HTTP upgrade. Larger
      only delays the report of an unreachable server.
    - ``ping_interval`` (20 s, `None` disables): a keepalive ping is sent this
      often by a task of the connection. Shorter detects a dead peer sooner at
      the cost of a few bytes per ping.
    - ``ping_timeout`` (20 s): the pong must arrive within this, or the
      connection fails with `ConnectionLost` (close code 1011). A dead peer is
      detected at most ``ping_interval + ping_timeout`` after it died.
    - ``close_timeout`` (5 s): how long leaving the block (or `Connection.aclose`)
      waits for the close handshake, shielded from cancellation, before the
      socket is dropped. This is the worst-case exit latency.
    - ``max_size`` (16 MiB): the largest message accepted, measured with
      ``len()`` (characters for text). Larger messages close the connection
      with 1009 and fail it with `ProtocolError`. Reassembling a message holds
      up to this much memory.
    - ``max_queue`` (4096): without ``on_message``, received messages wait in a
      queue of this many; when it is full, reading from the socket stops, which
      also stops answering pings. Worst-case memory is ``max_queue * max_size``;
      at 50 audio messages per second 4096 messages is over a minute of slack.
      Unused with ``on_message``.

    TLS: ``wss://`` URLs are verified against the system trust store
    (``ssl.create_default_context()``) unless `ssl_context` is given, which is
    used as is. Giving one for a ``ws://`` URL is a `ConfigurationError`.

    Receiving: without ``on_message``, call `Connection.receive`. With it,
    every received message is passed to ``on_message(message)`` inside the
    transport's reader task, synchronously, in order, with no task switch per
    message; it must not block. If it raises, the exception becomes
    `Connection.failure` (a `RealtimeError` as is, anything else wrapped) and
    the connection is closed with 1002 (`ProtocolError`) or 1011 (otherwise);
    no further message is handed over. ``on_close(failure)`` is called exactly
    once when the connection has ended, after the last message was handed
    over (``failure`` is `None` for our own clean close); it is not called when
    opening fails, since `open_connection` then raises instead. Both callbacks
    must not block and should not raise (an ``on_close`` error is only logged).

    Leaving the block, an exception in it, or cancellation from outside closes
    the socket (code 1000) within ``close_timeout``, then forcefully, and
    leaves no task running. The close is as fast as the peer's answer (a
    cancellation from outside does not wait out ``close_timeout`` when the
    peer replies at once), and whichever task closes first, the others wait
    only for it. Cancelled while opening, before the upgrade completed: the
    socket is dropped at once (there is no WebSocket to close yet); after
    it completed: the close handshake as above. The block's own exception
    comes out unchanged, never inside an exception group. Failures of the
    connection while the block runs do not interrupt it: they are recorded in
    `Connection.failure` and raised by the next `send` or `receive`.

    Secrets: the values of secret headers (``Authorization``, ``api-key``,
    ``x-goog-api-key``…), secret query parameters (``key=``,
    ``access_token=``…) and `secrets` are redacted from every error this
    connection raises or records and from its log records, wherever they
    appear (values shorter than 8 characters only where their position gives
    them away). A refused upgrade's `HandshakeError` is not chained to
    trio-websocket's exception, which keeps the raw response.

    Args:
        url: ``ws://`` or ``wss://`` URL. Shown redacted in every message.
        headers: extra HTTP headers for the upgrade request (never logged).
        ssl_context: TLS settings for ``wss://``; default verifies with the
            system trust store.
        open_timeout: see above.
        ping_interval: see above.
        ping_timeout: see above.
        close_timeout: see above.
        max_size: see above.
        max_queue: see above.
        on_message: called with each received message; see above.
        on_close: called once with the failure (or `None`) when the connection ends.
        secrets: more values to redact (configured keys and tokens), on top of
            those found in `headers` and `url`.

    Raises:
        ConfigurationError: a malformed URL, header or knob.
        AuthenticationError: the upgrade was refused with HTTP 401 or 403.
        RateLimitError: the upgrade was refused with HTTP 429.
        HandshakeError: the upgrade was refused, the server could not be
            reached, TLS failed, or the handshake took over ``open_timeout``.
    """
    host, port, host_header, resource, tls = _split_url(url, ssl_context)

    async def connect() -> trio.abc.Stream:
        tcp: trio.abc.Stream = await trio.open_tcp_stream(host, port)
        if isinstance(tcp, trio.SocketStream):  # (tests may dial memory streams instead)
            tcp = _WholeFrames(tcp, close_timeout)
        if not tls:
            return tcp
        context = ssl_context if ssl_context is not None else _default_ssl_context()
        # TLS over the whole-frame stream: a record is never left half-written.
        tls_stream = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)
        try:
            # Handshake now, so that a certificate problem is reported as such.
            await tls_stream.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(tls_stream)
            raise
        return tls_stream

    return _connection_scope(
        url,
        connect,
        host_header=host_header,
        resource=resource,
        headers=headers,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        on_message=on_message,
        on_close=on_close,
        secrets=secrets,
    )


def _wrap_stream(
    stream: trio.abc.Stream,
    url: str = "ws://localhost/",
    *,
    headers: Sequence[tuple[str, str]] = (),
    open_timeout: float = 15.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    close_timeout: float = 5.0,
    max_size: int = 16 * 2**20,
    max_queue: int = 4096,
    on_message: MessageHandler | None = None,
    on_close: CloseHandler | None = None,
    secrets: Collection[str] = (),
) -> AbstractAsyncContextManager[Connection]:
    """Like `open_connection`, over a stream that is already connected (tests, fakes).

    The stream is owned by the connection from then on and closed with it.
    `url` only supplies the Host header, the request path, and the name shown in
    messages.
    """
    _host, _port, host_header, resource, _tls = _split_url(url, None)

    async def connect() -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        return stream

    return _connection_scope(
        url,
        connect,
        host_header=host_header,
        resource=resource,
        headers=headers,
        open_timeout=open_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
        max_size=max_size,
        max_queue=max_queue,
        on_message=on_message,
        on_close=on_close,
        secrets=secrets,
    )
