"""The error hierarchy: readable messages, and never an API key anywhere."""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Callable

import pytest

from trio_realtime.errors import (
    REDACTED,
    AuthenticationError,
    ConfigurationError,
    ConnectionLost,
    HandshakeError,
    ProtocolError,
    RateLimitError,
    RealtimeError,
    ServerError,
    SessionClosed,
    redact_headers,
    redact_text,
    redact_url,
    scrub_exception,
    secret_values,
)

OPENAI_KEY = "sk-" + "test-1234567890abcdefSECRET"
GEMINI_KEY = "AIza" + "FAKEFAKEFAKEFAKEFAKEFAKEFAKE123"
# A secret with no recognisable shape: only its position (header, query) gives it away.
PLAIN_SECRET = "hunter2hunter2"
SECRETS = (OPENAI_KEY, GEMINI_KEY, PLAIN_SECRET, "SECRET", "FAKEFAKE")

OPENAI_URL = "wss://api.openai.com/v1/realtime?model=gpt-realtime"
GEMINI_URL = (
    "wss://generativelanguage.googleapis.com/ws/"
    "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    f"?key={GEMINI_KEY}&alt=json"
)
REQUEST_HEADERS = [
    ("Authorization", f"Bearer {OPENAI_KEY}"),
    ("x-goog-api-key", PLAIN_SECRET),
    ("OpenAI-Beta", "realtime=v1"),
]
# What a misbehaving proxy might send back: the key echoed in headers and body.
RESPONSE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-echo", f"Bearer {OPENAI_KEY}".encode()),
    (b"set-cookie", f"session={PLAIN_SECRET}".encode()),
    (b"x-debug", f"key={GEMINI_KEY}".encode()),
]
BODY = (
    '{"error": {"message": "Incorrect API key provided: '
    f'{OPENAI_KEY}. Also tried {GEMINI_KEY}.", "type": "invalid_request_error"}}}}'
).encode()


def _handshake(status: int) -> Callable[[], RealtimeError]:
    return lambda: HandshakeError.from_response(
        status, headers=RESPONSE_HEADERS, body=BODY, url=GEMINI_URL
    )


BUILDERS: dict[str, Callable[[], RealtimeError]] = {
    "handshake-401": _handshake(401),
    "handshake-403": _handshake(403),
    "handshake-429": _handshake(429),
    "handshake-500": _handshake(500),
    "handshake-no-response": lambda: HandshakeError(
        f"Could not connect to {GEMINI_URL} with Authorization: Bearer {OPENAI_KEY}.",
        headers=dict(REQUEST_HEADERS),
        body=f"echo {OPENAI_KEY}",
        url=f"wss://user:{PLAIN_SECRET}@example.test/ws?api_key={PLAIN_SECRET}",
    ),
    "protocol": lambda: ProtocolError(
        f"The server message is malformed: $.session.client_secret: got {OPENAI_KEY!r}.",
        raw=f'{{"type": "session.created", "client_secret": "{OPENAI_KEY}", "url": "{GEMINI_URL}"}}',
        problems=[f"$.session.client_secret: unexpected value {OPENAI_KEY!r}"],
    ),
    "protocol-dict-raw": lambda: ProtocolError(
        "The server message is not an object.",
        side="local",
        raw={"headers": {"authorization": f"Bearer {OPENAI_KEY}"}, "list": [GEMINI_KEY]},
    ),
    "server": lambda: ServerError(
        f"The server reported an error: Incorrect API key provided: {OPENAI_KEY}.",
        code="invalid_api_key",
        type="invalid_request_error",
        event_id="evt_1",
        fatal=True,
    ),
    "connection-lost-1008": lambda: ConnectionLost.from_close(
        1008, f"API key not valid: {GEMINI_KEY}. Please pass a valid API key."
    ),
    "connection-lost-1006": lambda: ConnectionLost.from_close(1006, f"key {GEMINI_KEY}"),
    "connection-lost-none": lambda: ConnectionLost.from_close(None, None, who="fake server"),
    "session-closed": lambda: SessionClosed(f"The session to {GEMINI_URL} is already closed."),
    "configuration": lambda: ConfigurationError(
        f"The URL {GEMINI_URL} is not a WebSocket URL; api_key={OPENAI_KEY} was given."
    ),
}


def _texts(exc: RealtimeError) -> list[str]:
    """Every piece of text the error exposes."""
    texts = [str(exc), repr(exc), str(exc.args), repr(vars(exc))]
    for name in ("headers", "url", "body", "reason", "raw", "problems", "message"):
        if hasattr(exc, name):
            texts.append(repr(getattr(exc, name)))
    return texts


def _assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {text!r}"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_no_secret_in_str_repr_or_attributes(name: str) -> None:
    exc = BUILDERS[name]()
    for text in _texts(exc):
        _assert_clean(text)
    # A pickled copy (sent to another process, say) is clean as well.
    _assert_clean(repr(pickle.dumps(exc)))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_no_secret_in_log_records(name: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("trio_realtime.test")
    exc = BUILDERS[name]()
    with caplog.at_level(logging.DEBUG, logger="trio_realtime.test"):
        try:
            raise exc
        except RealtimeError as caught:
            logger.exception("session failed: %s", caught)
            logger.error("session failed: %r", caught, exc_info=caught)
    assert len(caplog.records) == 2
    assert caplog.text  # formatted, traceback included
    assert str(exc) in caplog.text
    _assert_clean(caplog.text)
    for record in caplog.records:
        _assert_clean(record.getMessage())
        assert record.exc_text is not None
        _assert_clean(record.exc_text)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_str_is_a_sentence(name: str) -> None:
    exc = BUILDERS[name]()
    text = str(exc)
    assert text[0].isupper()
    body = getattr(exc, "body", "") or getattr(exc, "reason", "")
    assert text.endswith(".") or (body and body.strip() in text)


@pytest.mark.parametrize(
    ("status", "kind", "opening"),
    [
        (401, AuthenticationError, "The API key or token was refused"),
        (403, AuthenticationError, "The API key or token was refused"),
        (429, RateLimitError, "The connection was refused because of a rate limit or quota"),
        (500, HandshakeError, "The WebSocket upgrade was refused"),
    ],
)
def test_handshake_error_from_response(
    status: int, kind: type[HandshakeError], opening: str
) -> None:
    exc = HandshakeError.from_response(status, headers=RESPONSE_HEADERS, body=BODY, url=GEMINI_URL)
    assert type(exc) is kind
    assert isinstance(exc, HandshakeError)
    assert isinstance(exc, RealtimeError)
    assert exc.status == status
    assert str(exc).startswith(
        f"{opening} by wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
        f"?key={REDACTED}&alt=json (HTTP {status}): "
    )
    assert "Incorrect API key provided: <redacted>. Also tried <redacted>." in str(exc)
    assert exc.url.endswith(f"?key={REDACTED}&alt=json")
    assert exc.body == (
        '{"error": {"message": "Incorrect API key provided: <redacted>. '
        'Also tried <redacted>.", "type": "invalid_request_error"}}'
    )
    assert exc.headers == [
        ("content-type", "application/json"),
        ("x-echo", f"Bearer {REDACTED}"),
        ("set-cookie", REDACTED),
        ("x-debug", f"key={REDACTED}"),
    ]


def test_handshake_error_without_body_or_url() -> None:
    exc = HandshakeError.from_response(502)
    assert str(exc) == "The WebSocket upgrade was refused (HTTP 502)."
    assert exc.body == ""
    assert exc.url == ""
    assert exc.headers == []


def test_handshake_error_long_body_is_cut_in_the_message() -> None:
    exc = HandshakeError.from_response(400, body="x" * 1000)
    assert str(exc).endswith("x" * 300 + "…")
    assert exc.body == "x" * 1000


def test_connection_lost_from_close() -> None:
    dropped = ConnectionLost.from_close(1006, "")
    assert str(dropped) == "The connection to the server dropped without a close frame."
    assert dropped.code == 1006
    unknown = ConnectionLost.from_close(None, None)
    assert unknown.code == 1006
    assert str(unknown) == "The connection to the server dropped without a close frame."
    normal = ConnectionLost.from_close(1000, None)
    assert str(normal) == "The server closed the connection with code 1000."
    assert normal.reason == ""
    policy = ConnectionLost.from_close(1008, f"API key not valid: {GEMINI_KEY}", who="peer")
    assert (
        str(policy)
        == f"The peer closed the connection with code 1008: API key not valid: {REDACTED}"
    )
    assert policy.reason == f"API key not valid: {REDACTED}"
    assert policy.code == 1008


def test_other_errors_keep_their_fields() -> None:
    se = ServerError("The server failed.", code=1011, type="server_error", param="x", fatal=True)
    assert (se.code, se.type, se.param, se.fatal, se.event_id) == (
        1011,
        "server_error",
        "x",
        True,
        None,
    )
    pe = ProtocolError("Bad order.", side="local", problems=["$.a: missing"])
    assert (pe.side, pe.raw, pe.problems) == ("local", None, ["$.a: missing"])
    assert (
        repr(SessionClosed("The session is closed.")) == "SessionClosed('The session is closed.')"
    )
    assert isinstance(ConfigurationError("No key."), ValueError)


def test_redact_url() -> None:
    assert redact_url(GEMINI_URL).endswith(f"BidiGenerateContent?key={REDACTED}&alt=json")
    assert redact_url(OPENAI_URL) == OPENAI_URL
    assert (
        redact_url(
            f"wss://me:{PLAIN_SECRET}@h.test/ws?KEY={PLAIN_SECRET}&x=1&access_token=t0k#frag"
        )
        == f"wss://{REDACTED}@h.test/ws?KEY={REDACTED}&x=1&access_token={REDACTED}"
    )
    assert redact_url(f"wss://h.test/ws?api_key={PLAIN_SECRET}&client_secret=abc") == (
        f"wss://h.test/ws?api_key={REDACTED}&client_secret={REDACTED}"
    )
    # A key-shaped string anywhere (here in the path) is redacted too.
    assert redact_url(f"https://h.test/keys/{OPENAI_KEY}") == f"https://h.test/keys/{REDACTED}"


def test_redact_url_that_cannot_be_parsed_still_hides_the_key() -> None:
    # urlsplit() refuses this (unbalanced IPv6 bracket); the query must still be hidden.
    broken = f"wss://[::1/ws?key={PLAIN_SECRET}&alt=json"
    with pytest.raises(ValueError, match="Invalid IPv6"):
        __import__("urllib.parse").parse.urlsplit(broken)
    out = redact_url(broken)
    assert PLAIN_SECRET not in out
    assert out == f"wss://[::1/ws?key={REDACTED}&alt=json"
    assert (
        redact_url(f"wss://[::1/ws?x=1&token={PLAIN_SECRET}")
        == f"wss://[::1/ws?x=1&token={REDACTED}"
    )


def test_redact_headers() -> None:
    assert redact_headers(dict(REQUEST_HEADERS)) == [
        ("Authorization", REDACTED),
        ("x-goog-api-key", REDACTED),
        ("OpenAI-Beta", "realtime=v1"),
    ]
    assert redact_headers(
        [
            (b"API-Key", PLAIN_SECRET.encode()),
            (b"Cookie", b"a=b"),
            (b"X-Other", f"Bearer {PLAIN_SECRET}".encode()),
            (b"X-Plain", b"hello"),
        ]
    ) == [
        ("API-Key", REDACTED),
        ("Cookie", REDACTED),
        ("X-Other", f"Bearer {REDACTED}"),
        ("X-Plain", "hello"),
    ]
    assert redact_headers([]) == []


def test_redact_text() -> None:
    assert redact_text(f"Authorization: Bearer {PLAIN_SECRET}, next") == (
        f"Authorization: Bearer {REDACTED}, next"
    )
    assert redact_text(f"keys {OPENAI_KEY} and {GEMINI_KEY} and ek_abcdefgh1234") == (
        f"keys {REDACTED} and {REDACTED} and {REDACTED}"
    )
    assert redact_text("sk-short and task-force") == "sk-short and task-force"


AZURE_KEY = "0a1b2c3d" + "4e5f6a7b" + "8c9d0e1f" + "2a3b4c5d"


def test_configured_secrets_are_redacted_whatever_their_shape() -> None:
    text = f"key {AZURE_KEY} rejected; short one: test"
    assert redact_text(text) == text  # no known shape: only the value gives it away
    assert redact_text(text, {AZURE_KEY, "test"}) == f"key {REDACTED} rejected; short one: test"
    assert redact_url(f"wss://h.test/{AZURE_KEY}/ws", {AZURE_KEY}) == f"wss://h.test/{REDACTED}/ws"
    assert redact_headers([("X-Echo", AZURE_KEY)], {AZURE_KEY}) == [("X-Echo", REDACTED)]


def test_secret_values_come_from_headers_query_user_info_and_extra() -> None:
    token = "auth_tokens/" + "abcdef0123456789"
    found = secret_values(
        f"wss://me:{PLAIN_SECRET}@h.test/ws?access_token={token}&alt=json",
        [("Authorization", f"Token {AZURE_KEY}"), ("X-Plain", "visible"), ("api-key", "k1")],
        [GEMINI_KEY, None],
    )
    assert {PLAIN_SECRET, token, "auth_tokens%2Fabcdef0123456789", AZURE_KEY, GEMINI_KEY} <= found
    assert f"Token {AZURE_KEY}" in found
    assert "k1" in found  # kept, though too short to be searched for in free text
    assert "visible" not in found
    assert "json" not in found


def test_scrub_exception_redacts_our_errors_and_unlinks_foreign_ones_showing_a_secret() -> None:
    class Foreign(Exception):
        def __init__(self, body: bytes) -> None:
            super().__init__("refused")
            self.body = body

    outer = ConnectionLost(f"lost after key {AZURE_KEY} was refused", code=1008, reason=AZURE_KEY)
    outer.add_note(f"note quoting {AZURE_KEY}")
    middle = HandshakeError("refused", body=f"echo {AZURE_KEY}")
    raw = Foreign(f"echo {AZURE_KEY}".encode())
    harmless = OSError("connection reset")
    outer.__cause__ = middle
    middle.__cause__ = raw
    middle.__context__ = raw
    raw.__context__ = harmless
    scrub_exception(outer, {AZURE_KEY})
    assert str(outer) == f"lost after key {REDACTED} was refused"
    assert outer.args == (str(outer),)
    assert outer.reason == REDACTED
    assert outer.__notes__ == [f"note quoting {REDACTED}"]
    assert middle.body == f"echo {REDACTED}"
    chained: tuple[object, object] = (middle.__cause__, middle.__context__)
    assert chained == (None, None)
    assert middle.__suppress_context__
    assert middle.__notes__ == ["(A chained Foreign was removed because it showed a secret.)"]
    text = "".join(traceback.format_exception(outer))
    assert AZURE_KEY not in text
    # A foreign exception without a secret stays chained.
    kept = ConnectionLost("lost")
    kept.__cause__ = harmless
    scrub_exception(kept, {AZURE_KEY})
    assert kept.__cause__ is harmless
