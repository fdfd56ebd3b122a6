"""Tests of trio_realtime.transport against real trio-websocket servers and raw peers.

Real servers run on 127.0.0.1, port 0, inside the test. Where timing is the
point (keepalive, open and close timeouts) the peer is a hand-driven wsproto
server over `trio.testing.memory_stream_pair`, under the autojump clock.
Every test is bounded by `trio.fail_after` and checks that the connection
leaves no task behind.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import math
import socket
import ssl
import tomllib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import pytest
import trio
import trio.testing
import trio_websocket
import trustme
import wsproto
import wsproto.events as wse
from trio_websocket import ConnectionClosed, WebSocketRequest
from wsproto.connection import ConnectionState

import trio_realtime as rt
from trio_realtime import transport
from trio_realtime.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLost,
    HandshakeError,
    ProtocolError,
    RateLimitError,
    RealtimeError,
    SessionClosed,
)
from trio_realtime.testing.leaks import LeakedTasksError, no_leaked_tasks
from trio_realtime.testing.server import open_fake_server
from trio_realtime.transport import Connection, _wrap_stream, open_connection

SECRET = "sk-" + "test-SECRETSECRETSECRET"

# --------------------------------------------------------------------------- helpers


class ServerLog:
    """What a test server saw: request headers, messages, the close it got."""

    def __init__(self) -> None:
        self.headers: list[list[tuple[bytes, bytes]]] = []
        self.paths: list[str] = []
        self.received: list[str | bytes] = []
        self.close: tuple[int, str | None] | None = None
        self.closed = trio.Event()


Handler = Callable[[trio_websocket.WebSocketConnection, ServerLog], Awaitable[None]]


async def echo(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
    while True:
        message = await ws.get_message()
        log.received.append(message)
        await ws.send_message(message)


async def receive_only(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
    while True:
        log.received.append(await ws.get_message())


@asynccontextmanager
async def ws_server(
    behaviour: Handler = echo,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reject: tuple[int, bytes] | None = None,
) -> AsyncIterator[tuple[str, ServerLog]]:
    """A trio-websocket server on 127.0.0.1 (port 0), yielding (url, log)."""
    log = ServerLog()

    async def handler(request: WebSocketRequest) -> None:
        log.headers.append(list(request.headers))
        log.paths.append(request.path)
        if reject is not None:
            status, body = reject
            await request.reject(status, body=body, extra_headers=[(b"x-why", b"testing")])
            return
        ws = await request.accept()
        try:
            await behaviour(ws, log)
        except ConnectionClosed as exc:
            reason = exc.reason
            log.close = (reason.code, reason.reason) if reason is not None else (1005, None)
        finally:
            if log.close is None and ws.closed is not None:
                log.close = (ws.closed.code, ws.closed.reason)
            log.closed.set()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                trio_websocket.serve_websocket,
                handler,
                "127.0.0.1",
                0,
                ssl_context,
                connect_timeout=5,
                disconnect_timeout=5,
            )
        )
        scheme = "ws" if ssl_context is None else "wss"
        yield f"{scheme}://127.0.0.1:{server.port}/v1/realtime?key={SECRET}", log
        nursery.cancel_scope.cancel()


class RawPeer:
    """The server side of a WebSocket over a memory stream, driven by hand with wsproto."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        self.pending: deque[wse.Event] = deque()
        self.events: list[wse.Event] = []

    async def send(self, event: wse.Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def next_event(self) -> wse.Event | None:
        """The next event from the client, or None at EOF."""
        while not self.pending:
            data = await self.stream.receive_some()
            if not data:
                return None
            self.ws.receive_data(bytes(data))
            self.pending.extend(self.ws.events())
        event = self.pending.popleft()
        self.events.append(event)
        return event

    async def accept(self) -> wse.Request:
        event = await self.next_event()
        assert isinstance(event, wse.Request)
        await self.send(wse.AcceptConnection())
        return event

    async def until(self, kind: type[wse.Event]) -> wse.Event | None:
        """Skip events until one of `kind` (returned) or EOF (None)."""
        while True:
            event = await self.next_event()
            if event is None or isinstance(event, kind):
                return event


PeerScript = Callable[[RawPeer], Awaitable[None]]


@asynccontextmanager
async def raw_peer(script: PeerScript) -> AsyncIterator[tuple[trio.abc.Stream, RawPeer]]:
    """Run `script` on the server end of a memory stream pair; yield the client end."""
    client, server = trio.testing.memory_stream_pair()
    peer = RawPeer(server)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(script, peer)
        yield client, peer
        with trio.move_on_after(30):
            await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


def ours(task_names: list[str]) -> list[str]:
    return sorted(name for name in task_names if name.startswith("trio_realtime"))


def open_state(conn: Connection) -> tuple[bool, int | None, RealtimeError | None]:
    return conn.closed, conn.close_code, conn.failure


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- round trips


async def test_text_and_binary_round_trip() -> None:
    with trio.fail_after(10):
        async with ws_server(echo) as (url, log):
            with no_leaked_tasks() as tracker:
                async with open_connection(
                    url, headers=[("Authorization", f"Bearer {SECRET}")], ping_interval=None
                ) as conn:
                    await conn.send("héllo")
                    await conn.send(b"\x00\x01\xff")
                    assert await conn.receive() == "héllo"
                    assert await conn.receive() == b"\x00\x01\xff"
                    assert open_state(conn) == (False, None, None)
                    assert SECRET not in conn.url
                    assert SECRET not in repr(conn)
                assert conn.closed
                assert conn.failure is None
                assert conn.close_code == 1000
            assert any("reader" in name for name in tracker.spawned)
            await log.closed.wait()
    assert log.received == ["héllo", b"\x00\x01\xff"]
    assert log.close == (1000, None)
    assert (b"authorization", f"Bearer {SECRET}".encode()) in log.headers[0]
    assert log.paths == [f"/v1/realtime?key={SECRET}"]


async def test_wss_round_trip_with_a_trusted_ca(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    with trio.fail_after(10):
        async with ws_server(echo, ssl_context=server_ssl_context) as (url, log):
            assert url.startswith("wss://")
            with no_leaked_tasks():
                async with open_connection(url, ssl_context=client_ssl_context) as conn:
                    await conn.send("over tls")
                    assert await conn.receive() == "over tls"
            await log.closed.wait()
    assert log.close == (1000, None)


async def test_wss_with_an_untrusted_certificate_is_a_handshake_error(
    server_ssl_context: ssl.SSLContext,
) -> None:
    with trio.fail_after(10):
        async with ws_server(echo, ssl_context=server_ssl_context) as (url, _log):
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                # No ssl_context: the system trust store, which does not know our CA.
                async with open_connection(url):
                    pytest.fail("the block must not run")
    err = info.value
    assert type(err) is HandshakeError
    assert "TLS certificate of wss://127.0.0.1:" in str(err)
    assert "could not be verified" in str(err)
    assert SECRET not in str(err)
    assert SECRET not in repr(err)
    assert isinstance(err.__cause__, trio.BrokenResourceError)
    assert isinstance(err.__cause__.__cause__, ssl.SSLCertVerificationError)


async def test_a_certificate_for_another_host_is_one_sentence(
    tls_ca: trustme.CA, client_ssl_context: ssl.SSLContext
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("elsewhere.test").configure_cert(server_context)
    with trio.fail_after(10):
        async with ws_server(echo, ssl_context=server_context) as (url, _log):
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with open_connection(url, ssl_context=client_ssl_context):
                    pytest.fail("the block must not run")
    text = str(info.value)
    # OpenSSL's own text ends with a full stop; ours adds no second one.
    assert text.endswith(
        "could not be verified: IP address mismatch, certificate is not valid for '127.0.0.1'."
    )
    assert ".." not in text


async def test_wss_to_a_plain_server_says_it_may_not_speak_tls() -> None:
    with trio.fail_after(10):
        async with ws_server(echo) as (url, _log):
            wss = url.replace("ws://", "wss://")
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with open_connection(wss):
                    pytest.fail("the block must not run")
    text = str(info.value)
    assert text.startswith("The TLS handshake with wss://127.0.0.1:")
    assert (
        "It may not speak TLS on this port; if it is a plain WebSocket server, use a ws:// URL."
        in text
    )
    assert ".." not in text
    assert SECRET not in text
    assert info.value.status is None


async def test_wss_to_a_server_that_hangs_up_says_it_may_not_speak_tls() -> None:
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with open_connection(f"wss://127.0.0.1:{port}/x"):
                    pytest.fail("the block must not run")
            nursery.cancel_scope.cancel()
    assert str(info.value) == (
        f"The server at wss://127.0.0.1:{port}/x closed the connection during the TLS "
        "handshake. It may not speak TLS on this port (a plain WebSocket server wants a "
        "ws:// URL), or it refused our TLS settings."
    )


# --------------------------------------------------------------------------- opening


@pytest.mark.parametrize(
    ("status", "kind", "fragment"),
    [
        (401, AuthenticationError, "The API key or token was refused"),
        (403, AuthenticationError, "The API key or token was refused"),
        (429, RateLimitError, "rate limit"),
        (503, HandshakeError, "The WebSocket upgrade was refused"),
    ],
)
async def test_refused_upgrade_maps_status(
    status: int, kind: type[HandshakeError], fragment: str
) -> None:
    body = b'{"error": "nope"}'
    with trio.fail_after(10):
        async with ws_server(reject=(status, body)) as (url, _log):
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with open_connection(url, headers=[("Authorization", f"Bearer {SECRET}")]):
                    pytest.fail("the block must not run")
    err = info.value
    assert type(err) is kind
    assert err.status == status
    assert err.body == '{"error": "nope"}'
    assert ("x-why", "testing") in err.headers
    assert fragment in str(err)
    assert f"(HTTP {status})" in str(err)
    assert "nope" in str(err)
    assert SECRET not in str(err)
    assert SECRET not in repr(err)
    assert SECRET not in err.url
    # Not chained to trio-websocket's ConnectionRejected, which keeps the raw response.
    assert err.__cause__ is None
    assert err.__context__ is None


async def test_unreachable_server_is_a_handshake_error() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/?key={SECRET}"
    with trio.fail_after(10), no_leaked_tasks(), pytest.raises(HandshakeError) as info:
        async with open_connection(url):
            pytest.fail("the block must not run")
    assert type(info.value) is HandshakeError
    assert str(info.value).startswith("Could not connect to ws://127.0.0.1:")
    assert SECRET not in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.status is None


async def test_open_timeout_is_a_handshake_error(autojump_clock: trio.testing.MockClock) -> None:
    async def silent(peer: RawPeer) -> None:
        await trio.sleep_forever()

    with trio.fail_after(100):
        async with raw_peer(silent) as (stream, _peer):
            start = trio.current_time()
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with _wrap_stream(stream, "ws://fake.test/x", open_timeout=3):
                    pytest.fail("the block must not run")
            assert trio.current_time() - start == pytest.approx(3)
    assert type(info.value) is HandshakeError
    assert "did not complete its opening handshake within 3 s" in str(info.value)


async def test_peer_hanging_up_during_the_upgrade_is_a_handshake_error() -> None:
    async def hang_up(peer: RawPeer) -> None:
        await peer.next_event()  # the request
        await peer.stream.aclose()

    with trio.fail_after(10):
        async with raw_peer(hang_up) as (stream, _peer):
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with _wrap_stream(stream, "ws://fake.test/x"):
                    pytest.fail("the block must not run")
    assert "closed the connection before completing the WebSocket upgrade" in str(info.value)


async def test_bad_upgrade_response_is_a_handshake_error() -> None:
    async def bogus(peer: RawPeer) -> None:
        await peer.next_event()  # the request
        await peer.stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n"
        )
        await peer.next_event()

    with trio.fail_after(10):
        async with raw_peer(bogus) as (stream, _peer):
            with no_leaked_tasks(), pytest.raises(HandshakeError) as info:
                async with _wrap_stream(stream, "ws://fake.test/x"):
                    pytest.fail("the block must not run")
    assert type(info.value) is HandshakeError
    assert "closed the connection before completing the WebSocket upgrade" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": "http://x.test/"}, "must start with ws:// or wss://"),
        ({"url": "ws://x.test/", "ssl_context": ssl.create_default_context()}, "not a wss://"),
        ({"url": "ws:///nohost"}, "has no host"),
        ({"url": "ws://x.test/", "open_timeout": 0}, "open_timeout must be a positive"),
        ({"url": "ws://x.test/", "ping_interval": -1.0}, "ping_interval must be"),
        ({"url": "ws://x.test/", "close_timeout": float("nan")}, "close_timeout must be"),
        ({"url": "ws://x.test/", "max_size": 0}, "max_size must be"),
        ({"url": "ws://x.test/", "max_queue": 0}, "max_queue must be"),
        ({"url": "ws://x.test/", "headers": [("X-Key", "é€")]}, "HTTP header 'X-Key'"),
    ],
)
async def test_bad_arguments_are_configuration_errors(
    kwargs: dict[str, object], fragment: str
) -> None:
    with trio.fail_after(5), pytest.raises(ConfigurationError, match=fragment):
        async with open_connection(**kwargs):  # type: ignore[arg-type]
            pytest.fail("the block must not run")


async def test_misuse_of_send_and_aclose_is_a_typed_error() -> None:
    with trio.fail_after(10):
        async with ws_server(echo) as (url, _log):
            with no_leaked_tasks():
                async with open_connection(url) as conn:
                    with pytest.raises(TypeError, match="not bytearray"):
                        await conn.send(bytearray(b"x"))  # type: ignore[arg-type]
                    with pytest.raises(
                        ConfigurationError, match="1005 is not a WebSocket close code"
                    ):
                        await conn.aclose(1005)
                    assert conn.close_code is None
                    await conn.send("still open")
                    assert await conn.receive() == "still open"


async def test_knobs_reach_trio_websocket() -> None:
    with trio.fail_after(10):
        async with ws_server(echo) as (url, _log):
            with no_leaked_tasks() as tracker:
                async with open_connection(
                    url, max_size=12345, max_queue=7, ping_interval=None
                ) as conn:
                    ws = conn._ws
                    assert ws is not None
                    assert ws._max_message_size == 12345
                    assert ws._receive_buffer_size is None
                    assert conn._queue_send.statistics().max_buffer_size == 7
    # ping_interval=None: no keepalive task (the other is Trio's TCP connect attempt).
    assert ours(tracker.spawned) == ["trio_realtime transport reader"]
    assert len(tracker.spawned) == 2


# --------------------------------------------------------------------------- remote end


async def test_remote_close_delivers_received_messages_before_connection_lost() -> None:
    async def say_and_leave(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        await ws.send_message("a")
        await ws.send_message(b"b")
        await ws.aclose(4000, "done for today")

    with trio.fail_after(10):
        async with ws_server(say_and_leave) as (url, _log):
            with no_leaked_tasks():
                async with open_connection(url) as conn:
                    await conn.wait_closed()
                    assert conn.closed
                    assert conn.close_code == 4000
                    assert conn.close_reason == "done for today"
                    assert await conn.receive() == "a"
                    assert await conn.receive() == b"b"
                    with pytest.raises(ConnectionLost) as info:
                        await conn.receive()
                    with pytest.raises(ConnectionLost) as info2:
                        await conn.send("too late")
    err = info.value
    assert err.code == 4000
    assert err.reason == "done for today"
    assert str(err) == "The server closed the connection with code 4000: done for today"
    assert isinstance(conn.failure, ConnectionLost)
    assert conn.failure.code == 4000
    assert err.__cause__ is conn.failure
    assert info2.value.code == 4000


async def test_close_state_is_set_before_waiters_wake() -> None:
    seen: list[tuple[str, bool, int | None, str | None]] = []

    async def leave(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        await ws.get_message()
        await ws.aclose(4001, "bye")

    with trio.fail_after(10):
        async with ws_server(leave) as (url, _log), trio.open_nursery() as nursery:
            with no_leaked_tasks():
                async with open_connection(
                    url,
                    on_close=lambda f: seen.append(
                        ("on_close", conn.closed, conn.close_code, None)
                    ),
                ) as conn:

                    async def receiver() -> None:
                        with pytest.raises(ConnectionLost):
                            await conn.receive()
                        seen.append(("receive", conn.closed, conn.close_code, conn.close_reason))

                    async def waiter() -> None:
                        await conn.wait_closed()
                        seen.append(("wait", conn.closed, conn.close_code, conn.close_reason))

                    nursery.start_soon(receiver)
                    nursery.start_soon(waiter)
                    await trio.testing.wait_all_tasks_blocked()
                    await conn.send("go")
                    await conn.wait_closed()
    assert sorted(seen) == [
        ("on_close", True, 4001, None),
        ("receive", True, 4001, "bye"),
        ("wait", True, 4001, "bye"),
    ]


async def test_drop_without_close_frame_is_connection_lost_1006(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def drop(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send(wse.TextMessage(data="last words"))
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(drop) as (stream, _peer):
            with no_leaked_tasks():
                async with _wrap_stream(stream, "ws://fake.test/x") as conn:
                    await conn.wait_closed()
                    assert await conn.receive() == "last words"
                    with pytest.raises(ConnectionLost) as info:
                        await conn.receive()
    assert info.value.code == 1006
    assert conn.close_code == 1006
    assert "dropped without a close frame" in str(info.value)


async def test_remote_close_then_immediate_hang_up_is_connection_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # trio-websocket #182: close frame, then TCP closed before our reply.
    async def rude(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send(wse.TextMessage(data="bye"))
        await peer.send(wse.CloseConnection(code=4004, reason="rude"))
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(rude) as (stream, _peer):
            with no_leaked_tasks():
                async with _wrap_stream(stream, "ws://fake.test/x", close_timeout=5) as conn:
                    await conn.wait_closed()
                    assert await conn.receive() == "bye"
                    with pytest.raises(ConnectionLost) as info:
                        await conn.receive()
                    start = trio.current_time()
                assert trio.current_time() - start < 1
    assert info.value.code == 4004
    assert info.value.reason == "rude"
    assert conn.close_code == 4004


async def test_message_over_max_size_is_a_protocol_error() -> None:
    async def too_big(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        await ws.send_message("small")
        await ws.send_message("x" * 2000)
        await ws.send_message("never delivered")
        await ws.get_message()

    with trio.fail_after(10):
        async with ws_server(too_big) as (url, log):
            with no_leaked_tasks():
                async with open_connection(url, max_size=1000) as conn:
                    await conn.wait_closed()
                    assert await conn.receive() == "small"
                    with pytest.raises(ConnectionLost) as info:
                        await conn.receive()
            await log.closed.wait()
    failure = conn.failure
    assert isinstance(failure, ProtocolError)
    assert "larger than max_size (1000 bytes)" in str(failure)
    assert "code 1009" in str(failure)
    assert conn.close_code == 1009
    assert info.value.__cause__ is failure
    assert log.close is not None
    assert log.close[0] == 1009


async def test_messages_after_an_oversized_one_are_not_delivered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    got: list[str | bytes] = []

    async def burst(peer: RawPeer) -> None:
        await peer.accept()
        # Three messages in one write, so that trio-websocket sees them in one batch.
        data = b"".join(
            peer.ws.send(wse.TextMessage(data=text)) for text in ("small", "y" * 200, "after")
        )
        await peer.stream.send_all(data)
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await peer.send(event.response())
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(burst) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream, "ws://fake.test/x", max_size=100, on_message=got.append
                ) as conn:
                    await conn.wait_closed()
    assert got == ["small"]
    assert isinstance(conn.failure, ProtocolError)
    assert "larger than max_size (100 bytes)" in str(conn.failure)
    assert [e.code for e in peer.events if isinstance(e, wse.CloseConnection)] == [1009]


async def test_invalid_frame_is_a_protocol_error_and_closes_with_1002(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def garbage(peer: RawPeer) -> None:
        await peer.accept()
        await peer.stream.send_all(b"\x8f\x00")  # FIN + reserved opcode 0xF
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(garbage) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(stream, "ws://fake.test/x") as conn:
                    await conn.wait_closed()
    assert isinstance(conn.failure, ProtocolError)
    assert "invalid WebSocket frame" in str(conn.failure)
    closes = [e for e in peer.events if isinstance(e, wse.CloseConnection)]
    assert [c.code for c in closes] == [1002]


# --------------------------------------------------------------------------- on_message mode


async def test_on_message_delivers_in_order_without_a_task_per_message() -> None:
    got: list[object] = []

    async def burst(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        for i in range(300):
            await ws.send_message(f"m{i}" if i % 2 else f"m{i}".encode())
        await ws.aclose(4000, "end of burst")

    with trio.fail_after(10):
        async with ws_server(burst) as (url, _log):
            with no_leaked_tasks() as tracker:
                async with open_connection(url, on_message=got.append, on_close=got.append) as conn:
                    await conn.wait_closed()
                    with pytest.raises(ConfigurationError, match="on_message"):
                        await conn.receive()
    expected = [f"m{i}" if i % 2 else f"m{i}".encode() for i in range(300)]
    assert got[:-1] == expected
    assert isinstance(got[-1], ConnectionLost)
    assert got[-1].code == 4000
    # The reader and the keepalive (and Trio's TCP connect attempt); no task per message.
    assert ours(tracker.spawned) == [
        "trio_realtime transport keepalive",
        "trio_realtime transport reader",
    ]
    assert len(tracker.spawned) == 3


@pytest.mark.parametrize("raise_protocol_error", [True, False])
async def test_raising_on_message_fails_and_closes_the_connection(
    raise_protocol_error: bool,
) -> None:
    got: list[str | bytes] = []
    closes: list[RealtimeError | None] = []
    bad = ProtocolError("cannot parse that") if raise_protocol_error else KeyError("type")

    def on_message(message: str | bytes) -> None:
        got.append(message)
        if message == "bad":
            raise bad

    async def send_three(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        for message in ("ok", "bad", "after"):
            await ws.send_message(message)
        await ws.get_message()

    with trio.fail_after(10):
        async with ws_server(send_three) as (url, log):
            with no_leaked_tasks():
                async with open_connection(
                    url, on_message=on_message, on_close=closes.append
                ) as conn:
                    await conn.wait_closed()
                    await log.closed.wait()
                    with pytest.raises(ConnectionLost) as info:
                        await conn.send("more")
    assert got == ["ok", "bad"]
    assert len(closes) == 1
    assert closes[0] is conn.failure
    assert log.close is not None
    if raise_protocol_error:
        assert conn.failure is bad
        assert log.close[0] == 1002
        assert conn.close_code == 1002
    else:
        assert type(conn.failure) is RealtimeError
        assert "handling a received message failed: KeyError" in str(conn.failure)
        assert conn.failure.__cause__ is bad
        assert log.close[0] == 1011
    assert info.value.__cause__ is conn.failure


# --------------------------------------------------------------------------- keepalive


async def test_no_pong_within_ping_timeout_is_connection_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def deaf(peer: RawPeer) -> None:
        await peer.accept()
        # Never answers pings; answers the close handshake.
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await peer.send(event.response())
        await peer.stream.aclose()

    closes: list[RealtimeError | None] = []
    with trio.fail_after(100):
        async with raw_peer(deaf) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream,
                    "ws://fake.test/x",
                    ping_interval=5,
                    ping_timeout=2,
                    on_close=closes.append,
                ) as conn:
                    start = trio.current_time()
                    await conn.wait_closed()
                    assert trio.current_time() - start == pytest.approx(7)
                    with pytest.raises(ConnectionLost) as info:
                        await conn.receive()
    failure = conn.failure
    assert isinstance(failure, ConnectionLost)
    assert "No pong from ws://fake.test/x within 2 s" in str(failure)
    assert closes == [failure]
    assert conn.close_code == 1011
    assert info.value.__cause__ is failure
    assert sum(isinstance(e, wse.Ping) for e in peer.events) == 1
    closes_seen = [e for e in peer.events if isinstance(e, wse.CloseConnection)]
    assert [c.code for c in closes_seen] == [1011]


async def test_answered_pings_keep_the_connection(autojump_clock: trio.testing.MockClock) -> None:
    async def polite(peer: RawPeer) -> None:
        await peer.accept()
        while True:
            event = await peer.next_event()
            if isinstance(event, wse.Ping):
                await trio.sleep(1)  # a slow but timely pong
                await peer.send(event.response())
            elif isinstance(event, wse.CloseConnection):
                await peer.send(event.response())
                await peer.stream.aclose()
                return
            elif event is None:
                return

    with trio.fail_after(1000):
        async with raw_peer(polite) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream, "ws://fake.test/x", ping_interval=10, ping_timeout=2
                ) as conn:
                    await trio.sleep(105)
                    assert not conn.closed
    assert conn.failure is None
    # A ping every 10 s after the previous pong (1 s late): at 10, 21, ... 98.
    assert sum(isinstance(e, wse.Ping) for e in peer.events) == 9


# --------------------------------------------------------------------------- close-time races


async def test_pong_while_our_close_is_in_flight_is_not_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # trio-websocket #184: the peer pings after our close frame; the automatic
    # pong would raise LocalProtocolError inside the reader task, which then
    # never reads the peer's close reply and the exit waits for close_timeout.
    async def ping_on_close(peer: RawPeer) -> None:
        await peer.accept()
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        # wsproto refuses to send a ping in REMOTE_CLOSING, so frame it by hand.
        await peer.stream.send_all(b"\x89\x04ping")
        await trio.sleep(1)
        await peer.send(event.response())
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(ping_on_close) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream, "ws://fake.test/x", close_timeout=5, ping_interval=None
                ) as conn:
                    start = trio.current_time()
                elapsed = trio.current_time() - start
    # The peer answered after 1 s; the close completed then, without a crash.
    assert elapsed == pytest.approx(1)
    assert conn.failure is None
    assert conn.close_code == 1000
    assert [e.code for e in peer.events if isinstance(e, wse.CloseConnection)] == [1000]
    assert not any(isinstance(e, wse.Pong) for e in peer.events)


async def test_keepalive_ping_during_our_close_is_harmless(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow_close(peer: RawPeer) -> None:
        await peer.accept()
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await trio.sleep(3)  # longer than ping_interval
        await peer.send(event.response())
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(slow_close) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream, "ws://fake.test/x", ping_interval=1, ping_timeout=10, close_timeout=5
                ) as conn:
                    await trio.sleep(0.5)
    assert conn.failure is None
    assert conn.close_code == 1000
    assert not any(isinstance(e, wse.Ping) for e in peer.events)


async def test_send_while_the_peer_is_closing_is_connection_lost(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def close_first(peer: RawPeer) -> None:
        await peer.accept()
        await peer.send(wse.CloseConnection(code=4002, reason="going away"))
        await peer.until(wse.CloseConnection)
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(close_first) as (stream, _peer):
            with no_leaked_tasks():
                async with _wrap_stream(stream, "ws://fake.test/x") as conn:
                    await conn.wait_closed()
                    with pytest.raises(ConnectionLost) as info:
                        await conn.send("hello?")
    assert info.value.code == 4002
    assert info.value.reason == "going away"
    assert "closed the connection with code 4002: going away" in str(info.value)


@asynccontextmanager
async def pausing_tcp_peer(
    go: trio.Event, got: list[str | bytes], tls: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """A WebSocket server on 127.0.0.1 with a small receive window that accepts,
    then reads nothing until `go` is set, then collects whole messages into
    `got` and answers a close. Yields its ``ws://`` (with `tls`, ``wss://``) URL."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listeners[0].socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    port = listeners[0].socket.getsockname()[1]

    async def serve() -> None:
        stream: trio.abc.Stream = await listeners[0].accept()
        if tls is not None:
            stream = trio.SSLStream(stream, tls, server_side=True)
        peer = RawPeer(stream)
        await peer.accept()
        await go.wait()
        parts: list[Any] = []
        while (event := await peer.next_event()) is not None:
            if isinstance(event, wse.Message):
                parts.append(event.data)
                if event.message_finished:
                    got.append(parts[0][:0].join(parts))
                    parts = []
            elif isinstance(event, wse.CloseConnection):
                await peer.send(event.response())
                await stream.aclose()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/x"
        nursery.cancel_scope.cancel()
    for listener in listeners:
        await listener.aclose()


# More than the client's socket buffer and the peer's window together hold
# (Linux caps an autotuned send buffer at 4 MiB): the first write sends part
# of it, the rest waits for the peer to read.
BIG = b"\x01" * (8 * 2**20)


async def cancel_mid_frame(conn: Connection, message: bytes) -> trio.CancelScope:
    """Send `message`; cancel the send once its write has started and waits."""
    scope = trio.CancelScope()

    async def send() -> None:
        with scope:
            await conn.send(message)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked(0.05)  # part written, the rest waits
        scope.cancel()
    return scope


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_send_cancelled_mid_frame_finishes_the_frame(
    tls: bool, server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """The cancel arrives while the peer is not reading: the frame goes out
    whole once it reads, then the next message; the connection stays open
    (under TLS too: the TLS records go out whole)."""
    got: list[str | bytes] = []
    go = trio.Event()
    with trio.fail_after(60):
        async with pausing_tcp_peer(go, got, server_ssl_context if tls else None) as url:
            with no_leaked_tasks():
                async with open_connection(
                    url,
                    ssl_context=client_ssl_context if tls else None,
                    ping_interval=None,
                    close_timeout=30,
                ) as conn:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(_go_once_all_wait, go)
                        scope = await cancel_mid_frame(conn, BIG)
                    # The frame was finished (not cancelled part-way), and the
                    # cancellation waits for the next checkpoint.
                    assert scope.cancel_called
                    assert not scope.cancelled_caught
                    assert go.is_set()
                    await conn.send("after")
                    assert open_state(conn) == (False, None, None)
    assert [len(m) for m in got] == [len(BIG), 5]
    assert got == [BIG, "after"]
    assert conn.close_code == 1000


async def _go_once_all_wait(go: trio.Event) -> None:
    """Let the peer read once every task waits again (after the cancel)."""
    await trio.testing.wait_all_tasks_blocked(0.2)
    go.set()


async def test_a_send_cancelled_before_its_frame_starts_sends_nothing() -> None:
    got: list[str | bytes] = []
    go = trio.Event()
    go.set()
    with trio.fail_after(30):
        async with pausing_tcp_peer(go, got) as url:
            async with open_connection(url, ping_interval=None) as conn:
                with trio.CancelScope() as scope:
                    scope.cancel()
                    await conn.send("never")
                assert scope.cancelled_caught
                await conn.send("after")
    assert got == ["after"]


async def test_a_send_waits_for_a_frame_in_progress_then_follows_it_whole() -> None:
    """Two tasks send at once: the second waits for the stream lock while the
    first frame is part-written, and goes out after it, whole."""
    got: list[str | bytes] = []
    go = trio.Event()
    with trio.fail_after(60):
        async with pausing_tcp_peer(go, got) as url:
            async with open_connection(url, ping_interval=None, close_timeout=30) as conn:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(conn.send, BIG)
                    await trio.testing.wait_all_tasks_blocked(0.05)  # BIG part-written
                    nursery.start_soon(conn.send, "second")
                    await trio.testing.wait_all_tasks_blocked(0.05)  # waits for the lock
                    assert got == []
                    go.set()
                await conn.send("third")
    assert got == [BIG, "second", "third"]


async def test_a_cancelled_frame_that_cannot_be_finished_drops_the_connection() -> None:
    """The peer never reads again: after close_timeout the socket is dropped
    (1006, no close frame behind the partial one) and the cancel goes on."""
    got: list[str | bytes] = []
    with trio.fail_after(60):
        async with pausing_tcp_peer(trio.Event(), got) as url:
            with no_leaked_tasks():
                async with open_connection(url, ping_interval=None, close_timeout=0.5) as conn:
                    start = trio.current_time()
                    scope = await cancel_mid_frame(conn, BIG)
                    assert scope.cancelled_caught
                    assert 0.5 <= trio.current_time() - start < 5
                    await conn.wait_closed()
                    with pytest.raises(ConnectionLost) as info:
                        await conn.send("after")
    failure = conn.failure
    assert isinstance(failure, ConnectionLost)
    assert failure.code == conn.close_code == 1006
    assert "cancelled part-way through a message" in str(failure)
    assert "within 0.5 s (close_timeout)" in str(failure)
    assert info.value.code == 1006
    assert got == []


async def test_send_when_wsproto_is_remote_closing_is_connection_lost() -> None:
    # trio-websocket #175: wsproto has seen the close but trio-websocket has
    # not recorded it yet, so send_message() reaches wsproto, which raises
    # LocalProtocolError. Reproduced by putting wsproto in that state.
    with trio.fail_after(10):
        async with ws_server(echo) as (url, _log):
            with no_leaked_tasks():
                async with open_connection(url) as conn:
                    ws = conn._ws
                    assert ws is not None
                    proto = ws._wsproto.connection
                    assert proto is not None
                    proto._state = ConnectionState.REMOTE_CLOSING
                    with pytest.raises(ConnectionLost, match="is closing") as info:
                        await conn.send("x")
                    assert isinstance(info.value.__cause__, wsproto.utilities.LocalProtocolError)
                    proto._state = ConnectionState.OPEN


async def test_exit_when_the_peer_never_answers_our_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    eof = trio.Event()

    async def mute(peer: RawPeer) -> None:
        await peer.accept()
        await peer.until(wse.CloseConnection)
        if await peer.next_event() is None:
            eof.set()

    with trio.fail_after(100):
        async with raw_peer(mute) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(stream, "ws://fake.test/x", close_timeout=4) as conn:
                    start = trio.current_time()
                # No exception (in particular no HandshakeError): a forced close.
                assert trio.current_time() - start == pytest.approx(4)
            await eof.wait()
    assert conn.failure is None
    assert [e.code for e in peer.events if isinstance(e, wse.CloseConnection)] == [1000]


# --------------------------------------------------------------------------- leaving the block


async def test_local_close_discards_messages_and_raises_session_closed() -> None:
    async def chatty(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        await ws.send_message("one")
        await ws.send_message("two")
        await receive_only(ws, log)

    closes: list[RealtimeError | None] = []
    with trio.fail_after(10):
        async with ws_server(chatty) as (url, log):
            with no_leaked_tasks():
                async with open_connection(url, on_close=closes.append) as conn:
                    assert await conn.receive() == "one"
                    await conn.aclose(4001, "bye now")
                    await conn.aclose()  # idempotent
                    assert conn.closed
                    assert conn.failure is None
                    assert (conn.close_code, conn.close_reason) == (4001, "bye now")
                    with pytest.raises(SessionClosed, match="is closed"):
                        await conn.receive()
                    with pytest.raises(SessionClosed, match="is closed"):
                        await conn.send("x")
                    await conn.wait_closed()
            await log.closed.wait()
    assert closes == [None]
    assert log.close == (4001, "bye now")


async def test_exit_with_unread_messages_and_a_full_queue_is_prompt(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # trio-websocket #74/#79: a reader blocked on a full queue could not read
    # the peer's close reply, so the exit hung. Closing the receive side first
    # frees it.
    async def flood(peer: RawPeer) -> None:
        await peer.accept()
        await peer.stream.send_all(
            b"".join(peer.ws.send(wse.TextMessage(data=f"m{i}")) for i in range(10))
        )
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await peer.send(event.response())
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(flood) as (stream, peer):
            with no_leaked_tasks():
                async with _wrap_stream(
                    stream, "ws://fake.test/x", max_queue=2, close_timeout=5
                ) as conn:
                    await trio.testing.wait_all_tasks_blocked()
                    assert conn._queue_send.statistics().tasks_waiting_send == 1
                    start = trio.current_time()
                assert trio.current_time() - start < 1
    assert conn.failure is None
    assert [e.code for e in peer.events if isinstance(e, wse.CloseConnection)] == [1000]


class Boom(Exception):
    pass


async def test_user_exception_propagates_unchanged() -> None:
    boom = Boom("mine")
    opened: list[Connection] = []

    async def block(url: str) -> None:
        async with open_connection(url) as conn:
            opened.append(conn)
            await conn.send("before")
            raise boom

    with trio.fail_after(10):
        async with ws_server(receive_only) as (url, log):
            with no_leaked_tasks(), pytest.raises(Boom) as info:
                await block(url)
            await log.closed.wait()
    assert info.value is boom
    assert not isinstance(info.value.__context__, BaseExceptionGroup)
    assert log.close == (1000, None)
    assert opened[0].closed
    assert opened[0].failure is None


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
async def test_base_exception_propagates_unchanged(kind: type[BaseException]) -> None:
    exc = kind()
    with trio.fail_after(10):
        async with ws_server(receive_only) as (url, log):
            with no_leaked_tasks(), pytest.raises(kind) as info:
                async with open_connection(url):
                    raise exc
            await log.closed.wait()
    assert info.value is exc
    assert log.close == (1000, None)


async def test_outside_cancellation_closes_with_1000() -> None:
    with trio.fail_after(10):
        async with ws_server(receive_only) as (url, log):
            with no_leaked_tasks(), trio.CancelScope() as scope:
                async with open_connection(url) as conn:
                    await conn.send("waiting")
                    scope.cancel()  # as a deadline or a sibling task would
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            await log.closed.wait()
    assert log.close == (1000, None)
    assert conn.closed
    assert conn.failure is None


async def test_outside_cancellation_still_waits_for_the_close_handshake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow_close(peer: RawPeer) -> None:
        await peer.accept()
        event = await peer.until(wse.CloseConnection)
        assert isinstance(event, wse.CloseConnection)
        await trio.sleep(2)
        await peer.send(event.response())
        await peer.stream.aclose()

    with trio.fail_after(100):
        async with raw_peer(slow_close) as (stream, peer):
            with no_leaked_tasks(), trio.move_on_after(1) as scope:
                async with _wrap_stream(stream, "ws://fake.test/x", close_timeout=5):
                    await trio.sleep_forever()
            assert scope.cancelled_caught
            # 1 s in the block + 2 s for the shielded close handshake.
            assert trio.current_time() == pytest.approx(3)
    assert [type(e) for e in peer.events if not isinstance(e, wse.Ping)][-1] is wse.CloseConnection


async def test_exception_while_the_peer_is_gone_is_still_the_users() -> None:
    async def drop(ws: trio_websocket.WebSocketConnection, log: ServerLog) -> None:
        await ws.aclose(4003, "bye")

    boom = Boom("after the close")
    opened: list[Connection] = []

    async def block(url: str) -> None:
        async with open_connection(url) as conn:
            opened.append(conn)
            await conn.wait_closed()
            raise boom

    with trio.fail_after(10):
        async with ws_server(drop) as (url, _log):
            with no_leaked_tasks(), pytest.raises(Boom) as info:
                await block(url)
    assert info.value is boom
    failure = opened[0].failure
    assert isinstance(failure, ConnectionLost)
    assert failure.code == 4003


# --------------------------------------------------------------------------- internals


# What transport._ClientWebSocket relies on in trio-websocket (its docstring says
# why): each method's parameters, and fragments of the code that calls our hooks.
EXPECTED_INTERNALS: dict[str, tuple[list[str], list[str]]] = {
    "_reader_task": (
        ["self"],
        [
            "self._handle_accept_connection_event",
            "self._handle_message_event",
            "self._handle_ping_event",
            "await handler(event)",
            "self._stream.receive_some(self._receive_buffer_size)",
        ],
    ),
    "_send": (["self", "event"], ["self._stream_lock"]),
    "_handle_message_event": (["self", "event"], []),
    "_handle_ping_event": (["self", "event"], ["self._send(event.response())"]),
    "_handle_accept_connection_event": (["self", "event"], ["self._open_handshake.set()"]),
    "_close_web_socket": (["self", "code", "reason"], ["self._close_reason = CloseReason"]),
    # The callers of _close_web_socket: the peer's close frame, a dropped stream.
    "_handle_close_connection_event": (["self", "event"], ["self._close_web_socket("]),
    "_abort_web_socket": (["self"], ["self._close_web_socket("]),
}


def internals_problems(cls: type) -> list[str]:
    """What transport._ClientWebSocket expects of trio-websocket's internals but does not find."""
    problems: list[str] = []
    for name, (parameters, fragments) in EXPECTED_INTERNALS.items():
        method = getattr(cls, name, None)
        if not inspect.iscoroutinefunction(method):
            problems.append(f"WebSocketConnection.{name} is no longer an async method")
            continue
        found = list(inspect.signature(method).parameters)
        if found != parameters:
            problems.append(f"WebSocketConnection.{name} takes {found}, not {parameters}")
        source = inspect.getsource(method)
        problems.extend(
            f"WebSocketConnection.{name} no longer contains {fragment!r}"
            for fragment in fragments
            if fragment not in source
        )
    return problems


def test_trio_websocket_internals_match() -> None:
    # Fails loudly when an upgrade changes what transport._ClientWebSocket
    # overrides or calls: review that class, then this test and the pin.
    version = importlib.metadata.version("trio-websocket")
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    pinned = [r for r in pyproject["project"]["dependencies"] if r.startswith("trio-websocket")]
    assert pinned == ["trio-websocket>=0.12.2,<0.13"]
    installed = tuple(int(part) for part in version.split(".")[:3])
    assert (0, 12, 2) <= installed < (0, 13), f"trio-websocket {version} is outside {pinned}"
    problems = internals_problems(trio_websocket.WebSocketConnection)
    assert problems == [], (
        f"trio-websocket {version} changed internals that trio_realtime.transport relies on"
    )
    assert issubclass(transport._ClientWebSocket, trio_websocket.WebSocketConnection)


def test_internals_check_notices_a_change() -> None:
    class Changed(trio_websocket.WebSocketConnection):
        async def _handle_ping_event(self, event: object, extra: int = 0) -> None:
            pass

        async def _abort_web_socket(self) -> None:
            self._reader_running = False

    assert internals_problems(Changed) == [
        "WebSocketConnection._handle_ping_event takes ['self', 'event', 'extra'], "
        "not ['self', 'event']",
        "WebSocketConnection._handle_ping_event no longer contains 'self._send(event.response())'",
        "WebSocketConnection._abort_web_socket no longer contains 'self._close_web_socket('",
    ]


async def test_a_connection_works_without_reading_any_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # PyInstaller, zipapps and .pyc-only images have no sources to read.
    def no_source(*args: object, **kwargs: object) -> NoReturn:
        raise OSError("could not get source code")

    for name in ("getsource", "getsourcelines", "findsource", "getsourcefile"):
        monkeypatch.setattr(inspect, name, no_source)
    with trio.fail_after(10):
        async with ws_server(echo) as (url, log):
            with no_leaked_tasks():
                async with open_connection(url, ping_interval=None) as conn:
                    await conn.send("no sources needed")
                    assert await conn.receive() == "no sources needed"
            await log.closed.wait()
    assert log.close == (1000, None)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_session_works_without_reading_any_source(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_source(*args: object, **kwargs: object) -> NoReturn:
        raise OSError("could not get source code")

    for name in ("getsource", "getsourcelines", "findsource", "getsourcefile"):
        monkeypatch.setattr(inspect, name, no_source)
    options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            config: rt.OpenAIRealtime | rt.GeminiLive = (
                rt.OpenAIRealtime(url=server.openai_url, api_key="k", connection=options)
                if provider == "openai"
                else rt.GeminiLive(url=server.gemini_url(), api_key="k", connection=options)
            )
            with no_leaked_tasks():
                async with rt.connect(config) as session:
                    await session.send_text("Hello")
                    seen: list[object] = []
                    async for event in session.events():
                        seen.append(event)
                        if isinstance(event, rt.ResponseDone):
                            break
            conn = await server.connection(1)
            await conn.wait_closed()
    assert any(isinstance(e, rt.AudioOut) for e in seen)
    assert conn.closed is not None
    assert conn.closed.code == 1000


# --------------------------------------------------------------------------- the leak check


async def test_leak_check_names_a_task_left_running() -> None:
    escaped = trio.Event()

    async def leaky(task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await escaped.wait()

    with trio.fail_after(5):
        async with trio.open_nursery() as outer:
            checker = no_leaked_tasks()
            tracker = checker.__enter__()
            # A task that finishes inside the block: fine.
            async with trio.open_nursery() as inner:
                inner.start_soon(trio.sleep, 0, name="fine")
            # A task spawned into a nursery that existed before the block: not ours.
            outer.start_soon(trio.sleep_forever, name="not mine")
            # A nursery opened inside the block whose task outlives it: a leak.
            nursery_cm = trio.open_nursery()
            leaking = await nursery_cm.__aenter__()
            await leaking.start(leaky, name="leaky")
            with pytest.raises(LeakedTasksError, match="1 task") as info:
                checker.__exit__(None, None, None)
            assert info.value.tasks == ["leaky"]
            assert tracker.spawned == ["fine", "leaky"]
            escaped.set()
            await nursery_cm.__aexit__(None, None, None)
            outer.cancel_scope.cancel()


async def test_leak_check_passes_when_everything_exited() -> None:
    with trio.fail_after(5), no_leaked_tasks() as tracker:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 0, name="short")
    assert tracker.spawned == ["short"]
    assert tracker.exited == ["short"]
    assert tracker.running == []


def test_connection_is_exported() -> None:
    assert transport.__all__ == ["Connection", "open_connection"]
    assert Connection.__doc__
    assert open_connection.__doc__
