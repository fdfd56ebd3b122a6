"""Each documented way the services refuse or end a session reaches the app typed, in
the service's own words (openai-realtime.md §2/§12, gemini-live.md §16).

Every case runs against the fake server, which sends the services' real texts;
`connect()` raises refusals that come during the handshake, `events()` the
ones that end a session in progress.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime._closes import explain_close
from trio_realtime.events import ServerErrorEvent
from trio_realtime.testing.faults import AFTER_SETUP, AfterReceived, CloseAt, ServiceError
from trio_realtime.testing.gemini import REASONS, FakeGemini
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server

KEY = "test-" + "key"
OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None, reconnect=False)


def openai(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    kw.setdefault("api_key", KEY)
    return rt.OpenAIRealtime(url=server.openai_url, connection=OPTIONS, **kw)


def gemini(server: FakeServer, **kw: Any) -> rt.GeminiLive:
    kw.setdefault("api_key", KEY)
    return rt.GeminiLive(url=server.gemini_url(), connection=OPTIONS, **kw)


async def refused_at_connect(config: Any) -> BaseException:
    with no_leaked_tasks(), pytest.raises(rt.RealtimeError) as info:
        async with rt.connect(config):
            pass  # pragma: no cover
    return info.value


async def ended_mid_session(config: Any) -> tuple[list[rt.Event], BaseException]:
    seen: list[rt.Event] = []
    with no_leaked_tasks():
        async with rt.connect(config) as session:
            await session.send_text("Hello")
            with pytest.raises(rt.RealtimeError) as info:  # noqa: PT012
                async for event in session.events():
                    seen.append(event)
    return seen, info.value


# --------------------------------------------------------------------------- OpenAI, at connect


@pytest.mark.parametrize(
    ("fake_kw", "config_kw", "kind", "close", "words"),
    [
        (
            {"invalid_keys": ["wrong-" + "key"]},
            {"api_key": "wrong-" + "key"},
            rt.AuthenticationError,
            None,  # the error event (invalid_api_key) decides before the close
            "Incorrect API key provided",
        ),
        (
            {"api_keys": ["other"]},
            {},
            rt.AuthenticationError,
            None,  # the error event (invalid_api_key) decides before the close
            "Incorrect API key provided",
        ),
        (
            {},
            {"model": "gpt-4o-relatime-typo"},
            rt.ConfigurationRefused,
            4000,
            'Model "gpt-4o-relatime-typo" is not supported in realtime mode.',
        ),
    ],
)
async def test_openai_refusals_after_the_upgrade(
    fake_kw: dict[str, Any], config_kw: dict[str, Any], kind: type, close: int | None, words: str
) -> None:
    fake = FakeOpenAI(**fake_kw)
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as server:
            exc = await refused_at_connect(openai(server, **config_kw))
    assert type(exc) is kind
    assert words in str(exc)
    assert exc.close_code == close  # type: ignore[attr-defined]
    if close is not None:
        assert isinstance(exc.__cause__, rt.ConnectionLost)


async def test_openai_missing_key_at_a_custom_url() -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            exc = await refused_at_connect(openai(server, api_key=""))
    assert type(exc) is rt.AuthenticationError
    assert str(exc) == (
        "OpenAI Realtime refused the credentials: Missing bearer or basic authentication "
        "in header (close 3000 invalid_request_error)"
    )
    assert exc.status is None


@pytest.mark.parametrize(
    ("config_kw", "words", "param"),
    [
        ({"voice": "nope"}, "Invalid value: 'nope'.", "session.audio.output.voice"),
        ({"session_extra": {"modalities": ["audio"]}}, "Unknown parameter", "session.modalities"),
    ],
)
async def test_openai_rejected_session_update_is_a_refused_configuration(
    config_kw: dict[str, Any], words: str, param: str
) -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            exc = await refused_at_connect(openai(server, **config_kw))
    assert type(exc) is rt.ConfigurationRefused
    assert isinstance(exc, rt.ConfigurationError)
    assert isinstance(exc, rt.ServerError)
    assert words in str(exc)
    assert exc.param == param
    assert str(exc).startswith("OpenAI Realtime refused the session configuration: ")


# --------------------------------------------------------------------------- OpenAI, mid-session


async def test_openai_session_over_at_max_duration() -> None:
    fake = FakeOpenAI(max_session_seconds=0.5)
    scenario = Scenario(turns=[Turn(reply="Hi.", latency=5.0)])
    with trio.fail_after(10):
        async with open_fake_server(
            speed=1, scenario=scenario, handlers={"openai": fake}
        ) as server:
            _seen, exc = await ended_mid_session(openai(server))
    assert type(exc) is rt.ServerError
    assert exc.close_code == 1001
    assert "Your session hit the maximum duration of" in str(exc)


async def test_openai_rate_limit_error_event_keeps_the_session() -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(ServiceError(AFTER_SETUP, kind="rate_limit"))
            async with rt.connect(openai(server)) as session:
                async for event in session.events():
                    if isinstance(event, rt.ServerErrorEvent):
                        break
                await session.send_text("still there?")
                async for event in session.events():
                    if isinstance(event, rt.TurnDone):
                        assert event.status == "completed"
                        break


# --------------------------------------------------------------------------- Gemini, at connect


@pytest.mark.parametrize(
    ("fake_kw", "config_kw", "kind", "close", "reason"),
    [
        ({"api_keys": ["other"]}, {}, rt.AuthenticationError, 1007, REASONS["bad_key"]),
        ({"expired_keys": [KEY]}, {}, rt.AuthenticationError, 1007, REASONS["expired_key"]),
        ({}, {"api_key": ""}, rt.AuthenticationError, 1008, REASONS["no_credentials"][:123]),
        (
            {"models": ["gemini-3.8-live"]},
            {"model": "gemini-nope"},
            rt.ConfigurationRefused,
            1008,
            "models/gemini-nope is not found for API version v1beta",
        ),
        (
            {},
            {"setup_extra": {"foo": 1}},
            rt.ConfigurationRefused,
            1007,
            "Invalid JSON payload received. Unknown name \"foo\" at 'setup': Cannot find field.",
        ),
    ],
)
async def test_gemini_refusals_after_the_upgrade(
    fake_kw: dict[str, Any], config_kw: dict[str, Any], kind: type, close: int, reason: str
) -> None:
    fake = FakeGemini(**fake_kw)
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf, handlers={"gemini": fake}) as server:
            exc = await refused_at_connect(gemini(server, **config_kw))
    assert type(exc) is kind
    assert reason in str(exc)
    assert exc.close_code == close  # type: ignore[attr-defined]
    assert isinstance(exc.__cause__, rt.ConnectionLost)


@pytest.mark.parametrize(
    ("reason", "code", "kind"),
    [
        (REASONS["location"], 1007, rt.ConfigurationRefused),
        (REASONS["not_implemented"], 1008, rt.ConfigurationRefused),
        (REASONS["deadline"], 1011, rt.ServerError),
        (REASONS["unavailable"], 1011, rt.ServerError),
        (REASONS["exhausted"], 1011, rt.RateLimitError),
    ],
)
async def test_gemini_service_conditions_at_setup(reason: str, code: int, kind: type) -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(CloseAt(AfterReceived(1), code, reason))
            exc = await refused_at_connect(gemini(server))
    assert type(exc) is kind
    assert reason in str(exc)
    assert exc.close_code == code  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- Gemini, mid-session


@pytest.mark.parametrize(
    ("reason", "code", "kind"),
    [
        (REASONS["internal"], 1011, rt.ServerError),
        (REASONS["exhausted"], 1011, rt.RateLimitError),
        (REASONS["session_not_found"], 1008, rt.ServerError),
        (REASONS["entity_not_found"], 1008, rt.ServerError),
        (REASONS["go_away"][:123], 1008, rt.ServerError),
        (REASONS["precondition"], 1007, rt.ProtocolError),
        (REASONS["invalid_argument"], 1007, rt.ProtocolError),
    ],
)
async def test_gemini_closes_mid_session(reason: str, code: int, kind: type) -> None:
    scenario = Scenario(turns=[Turn(reply="Hello there.")])
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            server.inject(CloseAt(AfterReceived(2), code, reason))
            _seen, exc = await ended_mid_session(gemini(server))
    assert type(exc) is kind
    assert reason in str(exc)
    assert exc.close_code == code  # type: ignore[attr-defined]
    if kind is rt.ProtocolError:
        assert exc.side == "local"  # type: ignore[attr-defined]


async def test_gemini_quota_service_error_is_a_rate_limit() -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(ServiceError(AfterReceived(2), kind="rate_limit"))
            _seen, exc = await ended_mid_session(gemini(server))
    assert type(exc) is rt.RateLimitError
    assert "RESOURCE_EXHAUSTED" in str(exc)


async def test_a_dropped_connection_is_still_connection_lost() -> None:
    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            server.inject(CloseAt(AfterReceived(2), 1006, ""))
            _seen, exc = await ended_mid_session(gemini(server))
    assert type(exc) is rt.ConnectionLost


# --------------------------------------------------------------------------- pure mapping


def lost(code: int | None, reason: str = "") -> rt.ConnectionLost:
    return rt.ConnectionLost.from_close(code, reason)


def test_openai_error_event_explains_the_close() -> None:
    error = ServerErrorEvent(
        message="You exceeded your current quota, please check your plan and billing details.",
        code="insufficient_quota",
        type="insufficient_quota",
        fatal=True,
    )
    exc = explain_close(lost(1011, "insufficient_quota"), provider="openai", error=error)
    assert type(exc) is rt.RateLimitError
    assert str(exc) == (
        "OpenAI Realtime refused the session for quota or rate: You exceeded your current "
        "quota, please check your plan and billing details. (close 1011 insufficient_quota)"
    )


def test_openai_beta_header_close() -> None:
    # Our configuration refuses the header locally; a proxy that adds it gets this.
    error = ServerErrorEvent(
        message="The Realtime Beta API is no longer supported. Use the GA interface.",
        code="beta_api_shape_disabled",
        type="invalid_request_error",
    )
    exc = explain_close(
        lost(4000, "invalid_request_error.beta_api_shape_disabled"),
        provider="openai",
        error=error,
        ready=False,
    )
    assert type(exc) is rt.ConfigurationRefused
    assert str(exc) == (
        "OpenAI Realtime refused the session configuration: The Realtime Beta API is no "
        "longer supported. Use the GA interface. "
        "(close 4000 invalid_request_error.beta_api_shape_disabled)"
    )
    assert exc.code == "beta_api_shape_disabled"


def test_an_old_unrelated_error_does_not_explain_a_close() -> None:
    error = ServerErrorEvent(message="buffer too small", code="input_audio_buffer_commit_empty")
    exc = explain_close(lost(1011, ""), provider="openai", error=error)
    assert type(exc) is rt.ServerError
    assert "buffer too small" not in str(exc)
    assert str(exc) == "OpenAI Realtime ended the session (close 1011)."


@pytest.mark.parametrize(
    "failure", [lost(None), lost(1006), lost(1000), lost(4321, "custom"), rt.SessionClosed("x")]
)
def test_what_the_service_did_not_explain_is_left_alone(failure: rt.RealtimeError) -> None:
    assert explain_close(failure, provider="gemini") is failure
