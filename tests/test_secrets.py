"""No configured secret in any error a session raises or logs, whatever the key looks like.

Each test runs one failure path (a refused upgrade echoing the key, a close
whose reason echoes it, a TLS failure, a timeout, a failed resumption…) for
credentials of every shape the providers use, then renders the error the way a
traceback, ``log.exception`` or an error tracker would (`traceback.format_exception`
plus ``str``, ``repr``, ``args``, attributes and notes of every exception in
the chain) and looks for the secret, raw and URL-encoded. Keys are built from
pieces, so no key-shaped literal is committed.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import quote, quote_plus

import attrs
import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.faults import RESPONSE_DONE, CloseAt, RefuseHandshake
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.server import (
    FakeConnection,
    FakeServer,
    FakeServerInfo,
    open_fake_server,
)
from trio_realtime.testing.tokens import GeminiTokenRecord, OpenAISecretRecord

OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)


@attrs.frozen
class Credential:
    """A credential of one shape, and how a configuration carries it."""

    name: str
    secret: str
    provider: str
    config: Callable[[FakeServer, str, rt.ConnectionOptions], rt.OpenAIRealtime | rt.GeminiLive]

    def build(self, server: FakeServer, options: rt.ConnectionOptions = OPTIONS) -> Any:
        return self.config(server, self.secret, options)


def _openai(server: FakeServer, key: str, options: rt.ConnectionOptions) -> rt.OpenAIRealtime:
    return rt.OpenAIRealtime(url=server.openai_url, api_key=key, connection=options)


def _openai_ephemeral(
    server: FakeServer, secret: str, options: rt.ConnectionOptions
) -> rt.OpenAIRealtime:
    # As if minted by the fake's token endpoint, which only accepts what it issued.
    server.tokens.openai[secret] = OpenAISecretRecord(
        value=secret, expires_at=time.time() + 600, session={}, variant="openai"
    )
    return _openai(server, secret, options)


def _azure(field: str) -> Callable[[FakeServer, str, rt.ConnectionOptions], rt.OpenAIRealtime]:
    """Azure OpenAI with the credential in `field` (``api_key`` or ``azure_ad_token``)."""

    def build(server: FakeServer, secret: str, options: rt.ConnectionOptions) -> rt.OpenAIRealtime:
        credentials: dict[str, Any] = {field: secret}
        return rt.OpenAIRealtime(
            azure_endpoint="https://example.openai.azure.com",
            deployment="gpt-realtime",
            url=server.azure_url,
            connection=options,
            **credentials,
        )

    return build


def _gemini_key_in_url(
    server: FakeServer, key: str, options: rt.ConnectionOptions
) -> rt.GeminiLive:
    return rt.GeminiLive(url=server.gemini_url(), api_key=key, key_in_url=True, connection=options)


def _gemini_key_header(
    server: FakeServer, key: str, options: rt.ConnectionOptions
) -> rt.GeminiLive:
    return rt.GeminiLive(url=server.gemini_url(), api_key=key, connection=options)


def _gemini_ephemeral(
    server: FakeServer, token: str, options: rt.ConnectionOptions
) -> rt.GeminiLive:
    server.tokens.gemini[token] = GeminiTokenRecord(
        name=token,
        expire_time=time.time() + 1800,
        new_session_expire_time=time.time() + 60,
        uses=0,
        setup=None,
        field_mask=None,
    )
    return rt.GeminiLive(
        url=server.gemini_url("v1alpha", constrained=True),
        access_token=token,
        key_in_url=True,
        connection=options,
    )


def _vertex(server: FakeServer, token: str, options: rt.ConnectionOptions) -> rt.GeminiLive:
    return rt.GeminiLive(
        url=server.vertex_url(), vertex=True, access_token=token, connection=options
    )


CREDENTIALS = [
    Credential("openai-key", "sk-" + "proj-" + "Q7w9E2r4T6y8U0i1" * 3, "openai", _openai),
    Credential(
        "openai-ephemeral", "ek_" + "68b2c4d6e8f0" + "a1B3c5D7e9F1g3H5", "openai", _openai_ephemeral
    ),
    # Azure keys are 32 hexadecimal digits: no recognisable prefix at all.
    Credential(
        "azure-key", "3f9a1c7e" + "5b2d4f60" + "8e1a3c5b" + "7d9f0e2a", "openai", _azure("api_key")
    ),
    Credential(
        "entra-token",
        "eyJ0eXAiOiJKV1Qi" + ".eyJhdWQiOiJodHRwcz" + ".c2lnbmF0dXJlLXBhcnQ",
        "openai",
        _azure("azure_ad_token"),
    ),
    Credential(
        "gemini-key",
        "AI" + "za" + "SyD4f6H8j0L2n4P6r8T0" + "v2X4z6B8d0F2h4J",
        "gemini",
        _gemini_key_in_url,
    ),
    Credential("plain-key", "Zq9vR2" + "tLm8Wx4Kp", "gemini", _gemini_key_header),
    Credential(
        "gemini-ephemeral",
        "auth_tokens/" + "d41d8cd98f00b204" + "e9800998ecf8427e",
        "gemini",
        _gemini_ephemeral,
    ),
    Credential("vertex-token", "ya29." + "a0AfB_byC" + "-9xYz8WvU7tSr6Qp5On4", "gemini", _vertex),
]
IDS = [c.name for c in CREDENTIALS]


def forms(secret: str) -> set[str]:
    """The ways a secret can be written: as is and URL-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def rendered(exc: BaseException) -> str:
    """Everything a person or a tool can see of `exc` and of what is chained to it."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        stack += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            stack += current.exceptions
    return "\n".join(parts)


def assert_hidden(secret: str, text: str) -> None:
    for form in forms(secret):
        assert form not in text, f"{form!r} appears in:\n{text}"


@pytest.fixture
def library_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record the library logs (the fake server's own logs excluded), at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="trio_realtime")
    return caplog


def assert_logs_hidden(secret: str, caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.name.startswith("trio_realtime.testing"):
            continue
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert_hidden(secret, text)


async def failure_of(run: Callable[[], Awaitable[None]]) -> rt.RealtimeError:
    """Run `run` (bounded, leak-checked), expecting it to raise a library error."""
    with trio.fail_after(20), no_leaked_tasks(), pytest.raises(rt.RealtimeError) as info:
        await run()
    return info.value


async def converse(config: Any) -> None:
    async with rt.connect(config) as session:
        await session.send_text("Hello")
        async for _event in session.events():
            pass


def echo_headers(secret: str) -> tuple[tuple[str, str], ...]:
    return (
        ("WWW-Authenticate", f'Bearer error="invalid_token", token="{secret}"'),
        ("X-Echo", secret),
        ("X-Echo-Encoded", quote(secret, safe="")),
    )


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("credential", CREDENTIALS, ids=IDS)
@pytest.mark.parametrize("status", [401, 429, 500])
async def test_refusal_echoing_the_key_in_body_and_headers(
    credential: Credential, status: int, library_logs: pytest.LogCaptureFixture
) -> None:
    secret = credential.secret
    body = json.dumps(
        {"error": {"message": f"Bad credential {secret} (sent as {quote(secret, safe='')})."}}
    )
    async with open_fake_server(speed=math.inf) as server:
        server.inject(RefuseHandshake(status, body=body.encode(), headers=echo_headers(secret)))
        err = await failure_of(lambda: converse(credential.build(server)))
    assert isinstance(err, rt.HandshakeError)
    assert err.status == status
    assert "Bad credential <redacted> (sent as <redacted>)" in str(err)
    assert ("x-echo", "<redacted>") in err.headers
    assert err.__cause__ is None  # never trio-websocket's ConnectionRejected
    assert_hidden(secret, rendered(err))
    assert_logs_hidden(secret, library_logs)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=IDS)
async def test_a_key_cut_by_the_message_length_limit_is_still_hidden(
    credential: Credential,
) -> None:
    # The message quotes 300 characters of the body: the cut falls inside the key.
    secret = credential.secret
    body = "x" * (300 - len(secret) // 2) + secret + "y" * 50
    async with open_fake_server(speed=math.inf) as server:
        server.inject(RefuseHandshake(403, body=body.encode()))
        err = await failure_of(lambda: converse(credential.build(server)))
    assert str(err).endswith("…")
    assert secret[: len(secret) // 2] not in str(err)
    assert_hidden(secret, rendered(err))


# --------------------------------------------------------------------------- closes


def echoing_handler(provider: str) -> Callable[[FakeConnection], Awaitable[None]]:
    """Accept, report an error that quotes the key, and close with a reason that quotes it."""

    async def handle(conn: FakeConnection) -> None:
        key = conn.api_key or ""
        await conn.accept()
        if provider == "openai":
            await conn.send(
                json.dumps(
                    {
                        "type": "error",
                        "event_id": "event_1",
                        "error": {
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                            "message": f"Incorrect API key provided: {key}.",
                            "param": None,
                            "event_id": None,
                        },
                    }
                )
            )
        await conn.close(1008, f"key {key} refused")

    return handle


@pytest.mark.parametrize("credential", CREDENTIALS, ids=IDS)
async def test_service_errors_and_close_reasons_echoing_the_key(
    credential: Credential, library_logs: pytest.LogCaptureFixture
) -> None:
    async with open_fake_server(
        speed=math.inf, handlers={credential.provider: echoing_handler(credential.provider)}
    ) as server:
        err = await failure_of(lambda: converse(credential.build(server)))
        assert (await server.connection(1)).api_key == credential.secret
    # Typed from the service's words (AuthenticationError, ServerError…); the key is gone.
    assert "<redacted>" in str(err)
    assert_hidden(credential.secret, rendered(err))
    assert_logs_hidden(credential.secret, library_logs)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=IDS)
async def test_a_close_echoing_the_key_during_the_session(
    credential: Credential, library_logs: pytest.LogCaptureFixture
) -> None:
    options = attrs.evolve(OPTIONS, reconnect=False)
    caught: list[BaseException] = []
    async with open_fake_server(speed=math.inf) as server:
        server.inject(CloseAt(RESPONSE_DONE, 1008, f"policy: key {credential.secret} revoked"))

        async def run() -> None:
            async with rt.connect(credential.build(server, options)) as session:
                await session.send_text("Hello")
                try:
                    async for _event in session.events():
                        pass
                except rt.RealtimeError as exc:
                    caught.append(exc)
                # Later commands raise too, chained to the same failure.
                await session.send_text("anyone there?")

        err = await failure_of(run)
    assert len(caught) == 1
    assert "key <redacted> revoked" in str(caught[0])
    for exc in (err, caught[0]):
        assert_hidden(credential.secret, rendered(exc))
    assert_logs_hidden(credential.secret, library_logs)


# --------------------------------------------------------------------------- no connection


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that reads and never answers (an upgrade that never completes)."""

    async def handler(stream: trio.SocketStream) -> None:
        while await stream.receive_some():
            pass

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


def addresses(port: int) -> FakeServer:
    """A fake server that is not running, only to build URLs for 127.0.0.1:`port`."""
    server = FakeServer()
    server.info = FakeServerInfo(
        host="127.0.0.1",
        port=port,
        url=f"ws://127.0.0.1:{port}",
        http_url=f"http://127.0.0.1:{port}",
    )
    return server


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("credential", CREDENTIALS, ids=IDS)
async def test_connection_failures(
    credential: Credential, library_logs: pytest.LogCaptureFixture
) -> None:
    secret = credential.secret
    errors: list[rt.RealtimeError] = []
    # TLS: a certificate nobody trusts, and a plain server dialled with wss://.
    async with open_fake_server(speed=math.inf, tls=True) as tls_server:
        errors.append(await failure_of(lambda: converse(credential.build(tls_server))))
    async with open_fake_server(speed=math.inf) as plain:
        config = credential.build(plain)
        wss = attrs.evolve(config, url=config.url.replace("ws://", "wss://"))
        errors.append(await failure_of(lambda: converse(wss)))
    # An upgrade that never completes (open_timeout), and nobody listening.
    async with silent_server() as port:
        silent = credential.build(addresses(port), attrs.evolve(OPTIONS, open_timeout=0.3))
        errors.append(await failure_of(lambda: converse(silent)))
    errors.append(await failure_of(lambda: converse(credential.build(addresses(_closed_port())))))
    kinds = [str(e) for e in errors]
    assert "could not be verified" in kinds[0]
    assert "may not speak TLS" in kinds[1]
    assert "within 0.3 s" in kinds[2]
    assert "Could not connect to" in kinds[3]
    for err in errors:
        assert isinstance(err, rt.HandshakeError)
        assert_hidden(secret, rendered(err))
    assert_logs_hidden(secret, library_logs)


# --------------------------------------------------------------------------- resumption


@pytest.mark.parametrize(
    "credential", [c for c in CREDENTIALS if c.provider == "gemini"], ids=lambda c: c.name
)
async def test_a_failed_resumption_echoing_the_key(
    credential: Credential, library_logs: pytest.LogCaptureFixture
) -> None:
    secret = credential.secret
    async with open_fake_server(speed=math.inf, handlers={"gemini": FakeGemini()}) as server:
        server.inject(RefuseHandshake(401, body=f"unknown key {secret}".encode()), connection=2)

        async def run() -> None:
            async with rt.connect(credential.build(server)) as session:
                await session.send_text("Hello")
                async for event in session.events():
                    if isinstance(event, rt.ResponseDone):
                        break
                # Drop the connection: the session tries to resume and is refused.
                await (await server.connection(1)).abort()
                async for _event in session.events():
                    pass

        err = await failure_of(run)
    assert isinstance(err, rt.ReconnectFailed)
    assert "could not move to a new connection" in str(err)
    assert isinstance(err.__cause__, rt.AuthenticationError)
    assert "unknown key <redacted>" in str(err)
    assert_hidden(secret, rendered(err))
    assert_logs_hidden(secret, library_logs)


def test_every_configured_credential_is_reported_for_redaction() -> None:
    server = addresses(1)
    for credential in CREDENTIALS:
        config = credential.build(server)
        assert credential.secret in config.secrets(), credential.name
    both = rt.GeminiLive(api_key="k" * 12 + "1", access_token="t" * 12 + "2")
    # The key is configured but not sent (the token wins): still a secret.
    assert {"k" * 12 + "1", "t" * 12 + "2"} <= both.secrets()
