"""The fake server's shell over real loopback connections: routing, faults, TLS, CLI.

The provider behaviour is not tested here; these tests plug trivial handlers
into the shell (an echo, a chunk streamer) and use trio-websocket as the client.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    DisconnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from trio_realtime.errors import ConfigurationError
from trio_realtime.events import ToolSpec
from trio_realtime.testing.faults import (
    MID_AUDIO,
    AfterReceived,
    AfterSent,
    CloseAt,
    DropTCP,
    FaultPlan,
    Nth,
    RefuseHandshake,
    SendRaw,
    SendRawFrame,
    ServiceError,
    Stall,
    StopPongs,
    malformed_frame,
    oversized_message,
    refusal_body,
    truncate_reason,
    unknown_event,
)
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import (
    PlannedToolCall,
    Reply,
    ReplyContext,
    Scenario,
    ToolResult,
    Turn,
    default_responder,
    example_arguments,
    mentioned_tools,
)
from trio_realtime.testing.server import (
    FakeConnection,
    FakeServer,
    FakeServerInfo,
    Pacer,
    find_api_key,
    normalise_path,
    open_fake_server,
    paced,
    pause,
    route_for,
    run_fake_server_cli,
)
from trio_realtime.testing.voice import read_stamp, speech_chunks

GEMINI = "/ws/google.ai.generativelanguage.{}.GenerativeService.{}"


async def echo(conn: FakeConnection) -> None:
    await conn.accept()
    while True:
        message = await conn.receive()
        await conn.send(message)


async def streamer(conn: FakeConnection) -> None:
    """Waits for one message, then sends 10 stamped chunks with a checkpoint after each."""
    await conn.accept()
    await conn.receive()
    for chunk in list(speech_chunks("One two three four five six seven.", 24000, 40))[:10]:
        await conn.send(chunk.to_bytes())
        await conn.checkpoint(MID_AUDIO)
    await conn.send("done")
    await conn.receive()


def _server(**kw: Any) -> AbstractAsyncContextManager[FakeServer]:
    return open_fake_server(
        handlers={"openai": echo, "gemini": echo}, use_default_handlers=False, **kw
    )


def _connect(url: str, **kw: Any) -> AbstractAsyncContextManager[WebSocketConnection]:
    options: dict[str, Any] = {"connect_timeout": 5, "disconnect_timeout": 5, **kw}
    return open_websocket_url(url, **options)


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("path", "provider", "variant", "version", "method"),
    [
        ("/v1/realtime", "openai", "openai", None, None),
        ("//v1//realtime/", "openai", "openai", None, None),
        ("/openai/v1/realtime", "openai", "azure", None, None),
        ("/openai/realtime", "openai", "azure-preview", None, None),
        *[
            (GEMINI.format(v, m), "gemini", "gemini", v, m)
            for v in ("v1", "v1alpha", "v1beta")
            for m in ("BidiGenerateContent", "BidiGenerateContentConstrained")
        ],
        (
            "//ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
            "gemini",
            "gemini",
            "v1",
            "BidiGenerateContent",
        ),
        (
            "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
            "gemini",
            "vertex",
            "v1beta1",
            "BidiGenerateContent",
        ),
    ],
)
def test_route_for_known_paths(
    path: str, provider: str, variant: str, version: str | None, method: str | None
) -> None:
    route = route_for(path)
    assert route is not None
    assert (route.provider, route.variant, route.version, route.method) == (
        provider,
        variant,
        version,
        method,
    )
    assert "//" not in route.path


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1/realtimex",
        "/v2/realtime",
        "/ws/google.ai.generativelanguage.v2.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService/BidiGenerateContent",
    ],
)
def test_route_for_unknown_paths(path: str) -> None:
    assert route_for(path) is None


def test_normalise_path() -> None:
    assert normalise_path("//ws///a//b/") == "/ws/a/b"
    assert normalise_path("v1/realtime") == "/v1/realtime"
    assert normalise_path("/") == "/"


def test_find_api_key_everywhere() -> None:
    assert find_api_key({"authorization": "Bearer sk-abc"}, {}) == "sk-abc"
    assert find_api_key({"authorization": "Token auth_tokens/x"}, {}) == "auth_tokens/x"
    assert find_api_key({"api-key": "az"}, {}) == "az"
    assert find_api_key({"x-goog-api-key": "AIza1"}, {}) == "AIza1"
    assert find_api_key({}, {"key": "q1"}) == "q1"
    assert find_api_key({}, {"access_token": "t1"}) == "t1"
    assert find_api_key({}, {}, ["realtime", "openai-insecure-api-key.ek_1"]) == "ek_1"
    assert find_api_key({"authorization": "Basic zzz"}, {}) is None


# --------------------------------------------------------------------------- serving


@pytest.mark.parametrize(
    "path",
    [
        "/v1/realtime?model=gpt-realtime",
        "/openai/v1/realtime?model=dep",
        "/openai/realtime?api-version=2025-04-01-preview&deployment=d",
        GEMINI.format("v1beta", "BidiGenerateContent"),
        "/" + GEMINI.format("v1", "BidiGenerateContent"),
        GEMINI.format("v1alpha", "BidiGenerateContentConstrained") + "?access_token=x",
    ],
)
async def test_each_route_reaches_its_handler(path: str) -> None:
    seen: list[FakeConnection] = []

    async def tag(conn: FakeConnection) -> None:
        seen.append(conn)
        await conn.accept()
        await conn.send(conn.route.provider)
        await echo(conn)

    with trio.fail_after(10):
        async with open_fake_server(
            handlers={"openai": tag, "gemini": tag}, use_default_handlers=False
        ) as server:
            url = server.url + path
            async with _connect(url) as ws:
                expected = route_for(path.split("?")[0])
                assert expected is not None
                assert await ws.get_message() == expected.provider
                await ws.send_message("hi")
                await ws.send_message(b"\x00\x01")
                assert await ws.get_message() == "hi"
                assert await ws.get_message() == b"\x00\x01"
            conn = seen[0]
            await conn.wait_closed()
            assert conn.received == ["hi", b"\x00\x01"]
            assert conn.sent == [expected.provider, "hi", b"\x00\x01"]
            assert conn.path == expected.path
            assert conn.index == 1


async def test_urls_and_query_and_headers() -> None:
    got: list[FakeConnection] = []

    async def record(conn: FakeConnection) -> None:
        got.append(conn)
        await conn.accept()
        await conn.send(json.dumps({"key": conn.api_key, "model": conn.query.get("model")}))
        await conn.receive()

    with trio.fail_after(10):
        async with open_fake_server(
            handlers={"openai": record, "gemini": record}, use_default_handlers=False
        ) as server:
            port = server.port
            assert server.url == f"ws://127.0.0.1:{port}"
            assert server.http_url == f"http://127.0.0.1:{port}"
            assert server.openai_url == f"ws://127.0.0.1:{port}/v1/realtime"
            assert server.gemini_url("v1") == server.url + GEMINI.format(
                "v1", "BidiGenerateContent"
            )
            assert server.ca_path is None
            assert route_for(server.vertex_url().split(str(port), 1)[1]) is not None
            assert server.azure_url == f"ws://127.0.0.1:{port}/openai/v1/realtime"
            async with _connect(
                server.openai_url + "?model=gpt-realtime",
                extra_headers=[(b"Authorization", b"Bearer sk-test-123")],
            ) as ws:
                assert json.loads(await ws.get_message()) == {
                    "key": "sk-test-123",
                    "model": "gpt-realtime",
                }
            async with _connect(server.gemini_url() + "?key=AIzaQuery") as ws:
                assert json.loads(await ws.get_message())["key"] == "AIzaQuery"
            async with _connect(
                server.gemini_url(), extra_headers=[(b"x-goog-api-key", b"AIzaHeader")]
            ) as ws:
                assert json.loads(await ws.get_message())["key"] == "AIzaHeader"
                assert got[-1].headers["x-goog-api-key"] == "AIzaHeader"


async def test_unknown_path_is_refused_with_404_json() -> None:
    with trio.fail_after(10):
        async with _server() as server:
            with pytest.raises(ConnectionRejected) as info:
                async with _connect(server.url + "//v2//nothing?x=1"):
                    pass  # pragma: no cover
            assert info.value.status_code == 404
            assert info.value.body is not None
            body = json.loads(info.value.body)
            assert body["error"]["message"] == "Invalid URL (GET /v2/nothing)"
            assert body["error"]["type"] == "invalid_request_error"
            assert list(server.connections) == []


async def test_missing_handler_is_refused_with_503() -> None:
    with trio.fail_after(10):
        async with open_fake_server(handlers={"openai": echo}, use_default_handlers=False) as s:
            with pytest.raises(ConnectionRejected) as info:
                async with _connect(s.gemini_url()):
                    pass  # pragma: no cover
            assert info.value.status_code == 503
            assert "no handler for 'gemini'" in (info.value.body or b"").decode()


async def test_server_closes_tcp_right_after_close_handshake() -> None:
    async def closer(conn: FakeConnection) -> None:
        await conn.accept()
        await conn.receive()
        await conn.close(4001, "é" * 100)  # 200 bytes: cut to 123

    with trio.fail_after(10):
        async with open_fake_server(handlers={"openai": closer}, use_default_handlers=False) as s:
            start = trio.current_time()
            async with _connect(s.openai_url) as ws:
                await ws.send_message("bye")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.get_message()
                assert info.value.reason is not None
                assert info.value.reason.code == 4001
                reason = info.value.reason.reason or ""
                assert reason == "é" * 61
                assert len(reason.encode()) == 122
            # The client's exit did not wait for its 5 s disconnect timeout.
            assert trio.current_time() - start < 2
            conn = await s.connection(1)
            await conn.wait_closed()
            assert (conn.close_code, conn.close_reason) == (4001, "é" * 61)


async def test_handler_failure_does_not_hurt_server_or_other_connections() -> None:
    async def moody(conn: FakeConnection) -> None:
        mode = conn.query.get("mode")
        if mode == "early":
            raise RuntimeError("broken before the upgrade")
        if mode == "idle":
            return
        await conn.accept()
        if mode == "late":
            await conn.receive()
            raise ValueError("broken after the upgrade")
        await echo(conn)

    with trio.fail_after(10):
        async with open_fake_server(handlers={"openai": moody}, use_default_handlers=False) as s:
            async with _connect(s.openai_url) as healthy:
                await healthy.send_message("before")
                assert await healthy.get_message() == "before"
                with pytest.raises(ConnectionRejected) as info:
                    async with _connect(s.openai_url + "?mode=early"):
                        pass  # pragma: no cover
                assert info.value.status_code == 500
                assert json.loads(info.value.body or b"")["error"]["type"] == "server_error"
                with pytest.raises(ConnectionRejected) as info:
                    async with _connect(s.openai_url + "?mode=idle"):
                        pass  # pragma: no cover
                assert info.value.status_code == 500
                async with _connect(s.openai_url + "?mode=late") as bad:
                    await bad.send_message("x")
                    with pytest.raises(ConnectionClosed) as closed:
                        await bad.get_message()
                    assert closed.value.reason is not None
                    assert closed.value.reason.code == 1011
                await healthy.send_message("after")
                assert await healthy.get_message() == "after"
            conns = list(s.connections)
            assert isinstance(conns[1].error, RuntimeError)
            assert isinstance(conns[3].error, ValueError)
            assert conns[0].error is None
            # The server still takes new connections.
            async with _connect(s.openai_url) as again:
                await again.send_message("still here")
                assert await again.get_message() == "still here"


async def test_garbage_from_clients_does_not_hurt_the_server() -> None:
    with trio.fail_after(10):
        async with _server(connect_timeout=1) as server:
            async with _connect(server.openai_url) as healthy:
                # Not HTTP at all.
                raw = await trio.open_tcp_stream("127.0.0.1", server.port)
                await raw.send_all(b"\x16\x03\x01 this is not http\r\n\r\n")
                with trio.move_on_after(2):
                    while await raw.receive_some():
                        pass
                await raw.aclose()
                # An upgraded client that sends an invalid frame (reserved opcode).
                async with _connect(server.openai_url) as rude:
                    await rude._stream.send_all(malformed_frame())
                    with pytest.raises(ConnectionClosed):
                        await rude.get_message()
                await healthy.send_message("ok")
                assert await healthy.get_message() == "ok"


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_refuse_handshake_with_service_shaped_body(status: int, provider: str) -> None:
    with trio.fail_after(10):
        async with _server() as server:
            server.inject(RefuseHandshake(status), provider=provider)
            url = server.openai_url if provider == "openai" else server.gemini_url()
            with pytest.raises(ConnectionRejected) as info:
                async with _connect(url):
                    pass  # pragma: no cover
            assert info.value.status_code == status
            body = json.loads(info.value.body or b"")
            if provider == "gemini":
                assert body["error"]["code"] == status
                assert body["error"]["status"] in (
                    "UNAUTHENTICATED",
                    "PERMISSION_DENIED",
                    "NOT_FOUND",
                    "RESOURCE_EXHAUSTED",
                    "INTERNAL",
                )
            else:
                assert set(body["error"]) == {"message", "type", "param", "code"}
            headers = {k.lower(): v for k, v in info.value.headers}
            assert headers[b"content-type"].startswith(b"application/json")
            # Only the next connection was refused.
            async with _connect(url) as ws:
                await ws.send_message("ok")
                assert await ws.get_message() == "ok"


async def test_refusal_custom_body_headers_and_targets() -> None:
    with trio.fail_after(10):
        async with _server() as server:
            server.inject(
                RefuseHandshake(429, b"slow down", headers=(("Retry-After", "3"),)), connection=2
            )
            refused: list[ConnectionRejected] = []
            statuses = []
            for _ in range(3):
                try:
                    async with _connect(server.openai_url) as ws:
                        await ws.send_message("x")
                        await ws.get_message()
                        statuses.append(101)
                except ConnectionRejected as exc:
                    statuses.append(exc.status_code)
                    refused.append(exc)
            assert statuses == [101, 429, 101]
            assert refused[0].body == b"slow down"
            assert (b"retry-after", b"3") in [(k.lower(), v) for k, v in refused[0].headers]
            server.inject(RefuseHandshake(500), connection="all")
            for _ in range(2):
                with pytest.raises(ConnectionRejected):
                    async with _connect(server.openai_url):
                        pass  # pragma: no cover
            server.faults.clear()
            async with _connect(server.openai_url):
                pass


def test_fault_plan_targets() -> None:
    plan = FaultPlan()
    a, b, c, d = CloseAt("x"), DropTCP(), StopPongs(), RefuseHandshake(401)
    plan.inject(a)
    plan.inject(b, connection=3)
    plan.inject(c, connection="all")
    plan.inject(d, provider="gemini")
    assert plan.take(1, "openai") == [a, c]
    assert plan.take(2, "openai") == [c]
    assert plan.take(3, "gemini") == [b, c, d]
    assert plan.take(4, "openai") == [c]
    assert plan.pending == [c]
    with pytest.raises(ConfigurationError, match="connection must be"):
        plan.inject(a, connection=0)
    with pytest.raises(ConfigurationError, match="not a fault"):
        plan.inject("close")  # type: ignore[arg-type]
    assert truncate_reason("a" * 200) == "a" * 123
    assert json.loads(refusal_body("azure", 401))["error"]["code"] == "401"


async def _closed_with(
    ws: WebSocketConnection, got: list[str | bytes] | None = None
) -> tuple[int, str | None]:
    """Read until the connection closes; return the close code and reason."""
    try:
        while True:
            message = await ws.get_message()
            if got is not None:
                got.append(message)
    except ConnectionClosed as exc:
        reason = exc.reason
    assert reason is not None
    return reason.code, reason.reason


async def test_close_after_n_messages() -> None:
    with trio.fail_after(10):
        async with _server() as server:
            server.inject(CloseAt(AfterReceived(2), 4000, "enough"))
            async with _connect(server.openai_url) as ws:
                await ws.send_message("one")
                assert await ws.get_message() == "one"
                await ws.send_message("two")
                assert await _closed_with(ws) == (4000, "enough")
            conn = await server.connection(1)
            await conn.wait_closed()
            assert conn.received == ["one", "two"]
            assert conn.sent == ["one"]
            assert conn.fired == [CloseAt(AfterReceived(2), 4000, "enough")]


async def test_close_at_named_moment_mid_audio() -> None:
    with trio.fail_after(10):
        async with open_fake_server(
            handlers={"openai": streamer}, use_default_handlers=False
        ) as server:
            server.inject(CloseAt(Nth(MID_AUDIO, 3), 1011, "Internal error occurred."))
            async with _connect(server.openai_url) as ws:
                await ws.send_message("go")
                got: list[str | bytes] = []
                code, _ = await _closed_with(ws, got)
                assert code == 1011
                assert [read_stamp(m) for m in got] == [0, 1, 2]  # type: ignore[arg-type]


async def test_after_sent_and_unknown_and_oversized_messages() -> None:
    big = oversized_message(3 * 2**20)
    with trio.fail_after(10):
        async with open_fake_server(
            handlers={"openai": streamer, "gemini": streamer}, use_default_handlers=False
        ) as server:
            server.inject(
                SendRaw(AfterSent(2), unknown_event("openai")),
                SendRaw(AfterSent(2), big),
                Stall(AfterSent(2), 0.01),
            )
            async with _connect(server.openai_url, max_message_size=2**23) as ws:
                await ws.send_message("go")
                got = [await ws.get_message() for _ in range(4)]
                assert read_stamp(got[0]) == 0  # type: ignore[arg-type]
                assert read_stamp(got[1]) == 1  # type: ignore[arg-type]
                assert json.loads(got[2])["type"] == "response.future_event"
                assert got[3] == big
                assert len(big) >= 3 * 2**20 - 100
                assert read_stamp(await ws.get_message()) == 2  # type: ignore[arg-type]
            server.inject(SendRaw("accept", unknown_event("gemini")))
            async with _connect(server.gemini_url()) as ws:
                first = await ws.get_message()
                assert isinstance(first, bytes)
                assert "futureMessage" in json.loads(first)


async def test_drop_tcp_without_close_frame() -> None:
    with trio.fail_after(10):
        async with _server() as server:
            server.inject(DropTCP(AfterReceived(1)))
            server.inject(DropTCP("accept", reset=True), connection=2)
            for _ in range(2):
                async with _connect(server.openai_url) as ws:
                    try:
                        await ws.send_message("hello")
                    except ConnectionClosed:
                        pass
                    code, _ = await _closed_with(ws)
                    assert code == 1006
            # Other connections are fine.
            async with _connect(server.openai_url) as ws:
                await ws.send_message("x")
                assert await ws.get_message() == "x"


async def test_stop_pongs() -> None:
    with trio.fail_after(10):
        async with _server(close_timeout=0.5) as server:
            server.inject(StopPongs(AfterReceived(1)))
            # The client's close frame goes unanswered too, so it gives up.
            gave_up = False
            try:
                async with _connect(server.openai_url, disconnect_timeout=0.5) as ws:
                    await ws.ping(b"p1")  # answered before the fault
                    await ws.send_message("first")
                    assert await ws.get_message() == "first"
                    with trio.move_on_after(0.5) as scope:
                        await ws.ping(b"p2")
                    assert scope.cancelled_caught  # no pong
                    await ws.send_message("ignored")
                    with trio.move_on_after(0.3) as scope:
                        await ws.get_message()
                    assert scope.cancelled_caught  # no echo either
            except DisconnectionTimeout:
                gave_up = True
            assert gave_up
            # Once the client drops the TCP connection, the server notices.
            conn = await server.connection(1)
            with trio.fail_after(3):
                await conn.wait_closed()
            assert conn.received == ["first"]


async def test_malformed_frame() -> None:
    with trio.fail_after(10):
        async with _server() as server:
            # trio-websocket's client marks itself closed on a protocol error but
            # leaves the TCP connection open, so the server hangs up after the frame.
            server.inject(
                SendRawFrame(AfterReceived(1), malformed_frame()), DropTCP(AfterReceived(1))
            )
            async with _connect(server.openai_url) as ws:
                await ws.send_message("x")
                code, reason = await _closed_with(ws)
                assert code == 1002
                assert "opcode" in (reason or "").lower()


@pytest.mark.parametrize("kind", ["rate_limit", "server_error"])
async def test_service_errors(kind: str) -> None:
    with trio.fail_after(10):
        async with _server() as server:
            server.inject(ServiceError(AfterReceived(1), kind), connection="all")  # type: ignore[arg-type]
            async with _connect(server.openai_url) as ws:
                await ws.send_message("x")
                event = json.loads(await ws.get_message())
                assert event["type"] == "error"
                assert re.fullmatch(r"event_[A-Za-z0-9]{21}", event["event_id"])
                expected = "rate_limit_exceeded" if kind == "rate_limit" else None
                assert event["error"]["code"] == expected
                assert await ws.get_message() == "x"  # the session goes on
            async with _connect(server.gemini_url()) as ws:
                await ws.send_message("x")
                code, reason = await _closed_with(ws)
                assert code == 1011
                if kind == "rate_limit":
                    assert "RESOURCE_EXHAUSTED" in (reason or "")
                else:
                    assert reason == "Internal error occurred."


# --------------------------------------------------------------------------- TLS, CLI, pacing


async def test_tls_with_throwaway_ca() -> None:
    with trio.fail_after(20):
        async with _server(tls=True) as server:
            assert server.url.startswith("wss://127.0.0.1:")
            assert server.http_url.startswith("https://127.0.0.1:")
            ca = server.ca_path
            assert ca is not None
            assert await trio.Path(ca).exists()
            ctx = ssl.create_default_context(cafile=ca)
            async with _connect(server.openai_url, ssl_context=ctx) as ws:
                await ws.send_message("secure")
                assert await ws.get_message() == "secure"
            async with _connect(server.gemini_url(), ssl_context=server.client_ssl_context()) as ws:
                await ws.send_message(b"bin")
                assert await ws.get_message() == b"bin"
            # A client that does not trust the CA fails the handshake; the server goes on.
            # (trio-websocket's client reports the failed TLS handshake as a timeout.)
            with pytest.raises(HandshakeError):
                async with _connect(
                    server.openai_url, ssl_context=ssl.create_default_context(), connect_timeout=0.5
                ):
                    pass  # pragma: no cover
            async with _connect(server.openai_url, ssl_context=ctx) as ws:
                await ws.send_message("again")
                assert await ws.get_message() == "again"
            server.inject(DropTCP(AfterReceived(1)))
            async with _connect(server.openai_url, ssl_context=ctx) as ws:
                await ws.send_message("drop")
                code, _ = await _closed_with(ws)
                assert code == 1006
        assert not await trio.Path(ca).exists()


async def test_cli_runner_prints_url_and_serves(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_fake_server_cli, "127.0.0.1", 0, 2.0, False)
            out = ""
            while "ws://" not in out:
                await trio.sleep(0.01)
                out += capsys.readouterr().out
            m = re.search(r"ws://127\.0\.0\.1:(\d+)", out.splitlines()[0])
            assert m is not None
            assert "/v1/realtime" in out
            assert "GenerativeService.BidiGenerateContent" in out
            assert "2x real time" in out
            with pytest.raises(ConnectionRejected) as info:
                async with _connect(m.group(0) + "/nowhere"):
                    pass  # pragma: no cover
            assert info.value.status_code == 404
            nursery.cancel_scope.cancel()


async def test_cli_runner_tls_prints_ca(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_fake_server_cli, "127.0.0.1", 0, 1.0, True)
            out = ""
            while "wss://" not in out:
                await trio.sleep(0.01)
                out += capsys.readouterr().out
            first = out.splitlines()[0]
            m = re.search(r"(wss://127\.0\.0\.1:\d+) \(CA certificate: (\S+)\)", first)
            assert m is not None
            ctx = ssl.create_default_context(cafile=m.group(2))
            with pytest.raises(ConnectionRejected) as info:
                async with _connect(m.group(1) + "/nowhere", ssl_context=ctx):
                    pass  # pragma: no cover
            assert info.value.status_code == 404
            nursery.cancel_scope.cancel()


async def test_server_leaves_no_task_behind() -> None:
    with trio.fail_after(10), no_leaked_tasks() as tracker:
        async with _server() as server, _connect(server.openai_url) as ws:
            await ws.send_message("x")
            assert await ws.get_message() == "x"
    assert tracker.spawned


async def test_paced_releases_chunks_on_schedule(autojump_clock: trio.testing.MockClock) -> None:
    chunks = list(speech_chunks("Hello there, how are you?", 24000, 40))[:6]
    with trio.fail_after(60):
        start = trio.current_time()
        times = []
        async for _ in paced(chunks, 2.0):
            times.append(trio.current_time() - start)
            await trio.sleep(0.005)  # time spent sending does not add up
        assert times == pytest.approx([0.0, 0.02, 0.04, 0.06, 0.08, 0.1])
        start = trio.current_time()
        async for _ in paced(chunks, float("inf")):
            pass
        async for _ in paced(chunks, 0):
            pass
        assert trio.current_time() == start
        pacer = Pacer(1.0, lead=0.1)
        start = trio.current_time()
        await pacer.wait(0.0)
        await pacer.wait(0.05)
        assert trio.current_time() == start
        await pacer.wait(0.5)
        assert trio.current_time() - start == pytest.approx(0.4)
        start = trio.current_time()
        await pause(1.0, 4.0)
        assert trio.current_time() - start == pytest.approx(0.25)
        with pytest.raises(ConfigurationError, match="speed must be a number >= 0"):
            Pacer(-1)


# --------------------------------------------------------------------------- scenarios

WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 3},
            "detailed": {"type": "boolean"},
            "where": {
                "type": "object",
                "properties": {
                    "lat": {"type": "number"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["lat", "tags"],
            },
            "optional": {"type": "string"},
        },
        "required": ["city", "unit", "days", "detailed", "where"],
    },
)


def test_example_arguments() -> None:
    assert example_arguments(WEATHER.parameters) == {
        "city": "example",
        "unit": "celsius",
        "days": 3,
        "detailed": True,
        "where": {"lat": 1, "tags": ["example"]},
    }
    gemini_style = {
        "type": "OBJECT",
        "properties": {"n": {"type": "NUMBER"}, "s": {"type": ["string", "null"]}},
    }
    assert example_arguments(gemini_style) == {"n": 1, "s": "example"}
    assert example_arguments(None) == {}
    assert example_arguments({"type": "object", "properties": {}}) == {}


def test_mentioned_tools() -> None:
    other = ToolSpec("book_table")
    assert mentioned_tools("Please get_weather for Paris", [other, WEATHER]) == [WEATHER]
    assert mentioned_tools("Could you Get Weather, then book-table?", [other, WEATHER]) == [
        WEATHER,
        other,
    ]
    assert mentioned_tools("what's the weather?", [WEATHER]) == []


def test_default_responder() -> None:
    ctx = ReplyContext(turn_index=0, tools=(WEATHER,))
    plain = default_responder("Hello, how are you?", ctx)
    assert plain.text == "You said: Hello, how are you. Thank you."
    assert plain.tool_calls == ()
    assert default_responder("", ctx).text == "Hello! How can I help you today?"
    call = default_responder("Use get_weather please", ctx)
    assert call.tool_calls == (
        PlannedToolCall("get_weather", example_arguments(WEATHER.parameters)),
    )
    done = default_responder(
        "Use get_weather please",
        ReplyContext(0, (WEATHER,), (ToolResult("c1", "get_weather", {"temp": 21}),)),
    )
    assert done.text == 'Done. get_weather returned {"temp": 21}.'


def test_scenario_script_then_responder() -> None:
    seen: list[tuple[str, ReplyContext]] = []

    def responder(heard: str, ctx: ReplyContext) -> Reply:
        seen.append((heard, ctx))
        return Reply(text=f"dynamic {ctx.turn_index}")

    scenario = Scenario(
        turns=[
            Turn(heard="What's the weather?", reply="Let me check.", latency=0.5),
            Turn(
                tool_calls=[
                    PlannedToolCall("get_weather", {"city": "Paris"}, expect_result={"t": 20})
                ],
                reply="It is 20 degrees.",
            ),
            Turn(responder=lambda heard, ctx: Reply(text=heard.upper())),
        ],
        responder=responder,
    )
    run = scenario.start(tools=[WEATHER], provider="openai")
    assert scenario.runs == [run]
    first = run.reply_to("<audio nobody transcribed>")
    assert first == Reply(text="Let me check.", latency=0.5, heard="What's the weather?")
    second = run.reply_to("and in Paris")
    assert second.tool_calls[0].arguments == {"city": "Paris"}
    assert second.heard == "and in Paris"
    after = run.after_tools([ToolResult("call_1", "get_weather", {"t": 21})])
    assert after.text == "It is 20 degrees."
    assert run.mismatches == ["turn 1: tool 'get_weather' returned {'t': 21}, expected {'t': 20}"]
    assert run.reply_to("shout").text == "SHOUT"
    fourth = run.reply_to("anything")
    assert fourth.text == "dynamic 3"
    heard, ctx = seen[0]
    assert heard == "anything"
    assert ctx.tools == (WEATHER,)
    assert ctx.provider == "openai"
    assert ctx.history[0] == ("user", "What's the weather?")
    assert ("assistant", "It is 20 degrees.") in ctx.history


def test_default_scenario_calls_a_named_tool_then_speaks() -> None:
    run = Scenario().start(tools=[WEATHER])
    reply = run.reply_to("What does get weather say?")
    assert [c.name for c in reply.tool_calls] == ["get_weather"]
    after = run.after_tools([ToolResult("x", "get_weather", "sunny")])
    assert after.text == "Done. get_weather returned sunny."
    assert after.tool_calls == ()
    assert run.reply_to("thanks").text == "You said: thanks. Thank you."


async def test_unrecorded_messages_are_still_counted() -> None:
    with trio.fail_after(10):
        async with _server(record_messages=False) as server:
            server.inject(CloseAt(AfterReceived(3), 4002, "three"))
            async with _connect(server.openai_url) as ws:
                for m in ("a", "b", "c"):
                    await ws.send_message(m)
                code, _ = await _closed_with(ws)
                assert code == 4002
            conn = await server.connection(1)
            await conn.wait_closed()
            assert conn.received == []
            assert conn.sent == []
            assert (conn.received_count, conn.sent_count) == (3, 2)


async def echo_in_nursery(conn: FakeConnection) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, conn)
        await trio.sleep_forever()


@pytest.mark.parametrize("handler", [echo, echo_in_nursery])
async def test_stopping_the_server_closes_connections_with_1001(
    handler: Callable[[FakeConnection], Awaitable[None]],
) -> None:
    server = FakeServer(handlers={"openai": handler}, use_default_handlers=False)
    stop = trio.CancelScope()

    async def run(task_status: trio.TaskStatus[FakeServerInfo]) -> None:
        with stop:
            await server.serve(task_status=task_status)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            info = await nursery.start(run)
            async with _connect(info.openai_url) as ws:
                await ws.send_message("hi")
                assert await ws.get_message() == "hi"
                stop.cancel()
                assert await _closed_with(ws) == (1001, "The server is shutting down.")
        assert server.info is None


# --------------------------------------------------------------------------- Ctrl+C

UPGRADE = (
    b"GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


async def interrupted(conn: FakeConnection) -> None:
    raise KeyboardInterrupt  # as Ctrl+C landing in the server's task


async def closed_and_interrupted(conn: FakeConnection) -> None:
    await conn.accept()

    async def closed() -> None:
        raise ConnectionClosed(None)

    async with trio.open_nursery() as nursery:  # both tasks raise before any checkpoint
        nursery.start_soon(closed)
        nursery.start_soon(interrupted, conn)


async def _upgrade_and_wait(port: int) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(UPGRADE)
        await trio.sleep_forever()


async def _interrupted_server(handler: Callable[[FakeConnection], Awaitable[None]]) -> None:
    async with open_fake_server(handlers={"openai": handler}, use_default_handlers=False) as server:
        assert server.info is not None
        await _upgrade_and_wait(server.info.port)


async def _interrupted_serve() -> None:
    server = FakeServer(handlers={"openai": interrupted}, use_default_handlers=False)
    async with trio.open_nursery() as nursery:
        info = await nursery.start(server.serve)
        await _upgrade_and_wait(info.port)


async def _raise_in_block(exc: BaseException) -> None:
    async with _server():
        raise exc


async def test_keyboard_interrupt_in_the_block_leaves_open_fake_server_as_itself() -> None:
    with trio.fail_after(10), pytest.raises(KeyboardInterrupt) as info:
        await _raise_in_block(KeyboardInterrupt())
    assert type(info.value) is KeyboardInterrupt
    with trio.fail_after(10), pytest.raises(ValueError, match=r"^mine$"):
        await _raise_in_block(ValueError("mine"))


@pytest.mark.parametrize("handler", [interrupted, closed_and_interrupted])
async def test_keyboard_interrupt_in_the_server_leaves_open_fake_server_as_itself(
    handler: Callable[[FakeConnection], Awaitable[None]],
) -> None:
    # Also when the connection closed at the same time: that is no news next to Ctrl+C.
    with trio.fail_after(10), no_leaked_tasks(), pytest.raises(KeyboardInterrupt) as info:
        await _interrupted_server(handler)
    assert type(info.value) is KeyboardInterrupt
    # The plain serve() reports it unwrapped to the nursery that started it.
    with trio.fail_after(10), no_leaked_tasks(), pytest.raises(BaseExceptionGroup) as group:
        await _interrupted_serve()
    assert [type(e) for e in group.value.exceptions] == [KeyboardInterrupt]
