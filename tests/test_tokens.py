"""Ephemeral tokens: minted from the fake server's endpoints, then used to connect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.tokens import mint_gemini_token, mint_openai_client_secret

OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
OPENAI_KEY = "sk-" + "test-" + "minting"
GEMINI_KEY = "AI" + "za-test-minting"


def openai_config(server: FakeServer, **kw: Any) -> rt.OpenAIRealtime:
    return rt.OpenAIRealtime(url=server.openai_url, connection=OPTIONS, **kw)


def gemini_config(server: FakeServer, **kw: Any) -> rt.GeminiLive:
    url = server.gemini_url("v1alpha", constrained="access_token" in kw)
    return rt.GeminiLive(url=url, connection=OPTIONS, **kw)


async def ready(config: rt.OpenAIRealtime | rt.GeminiLive) -> rt.RealtimeSession:
    async with rt.connect(config) as session:
        assert isinstance(await session.next_event(), rt.SessionReady)
        return session


def later(server: FakeServer, seconds: float) -> None:
    """Move the fake's token clock `seconds` ahead."""
    server.tokens.clock = lambda: time.time() + seconds


# --------------------------------------------------------------------------- OpenAI


async def test_openai_secret_minted_then_used_to_connect() -> None:
    fake = FakeOpenAI(api_keys={OPENAI_KEY})
    with trio.fail_after(20):
        async with open_fake_server(handlers={"openai": fake}) as server:
            secret = await mint_openai_client_secret(
                openai_config(server, api_key=OPENAI_KEY, instructions="Answer in French."),
                expires_after=120,
            )
            assert secret.value.startswith("ek_")
            assert time.time() + 110 < secret.expires_at <= time.time() + 121
            assert secret.session["instructions"] == "Answer in French."
            assert secret.value not in repr(secret)
            # The browser's side: only the secret, and no session settings of its own.
            await ready(openai_config(server, api_key=secret.value))
            await ready(openai_config(server, api_key=secret.value))  # until it expires
            state = fake.connections[-1]
            assert state.session["instructions"] == "Answer in French."  # the secret's session
            assert server.tokens.openai[secret.value].sessions_started == 2
            later(server, 121)
            with pytest.raises(rt.AuthenticationError) as info:
                await ready(openai_config(server, api_key=secret.value))
    assert str(info.value) == (
        "OpenAI Realtime refused the credentials: Your ephemeral API key has expired. "
        "Request a new client secret."
    )


async def test_openai_unknown_secret_is_refused_with_authentication_error() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            with pytest.raises(rt.AuthenticationError):
                await ready(openai_config(server, api_key="ek_" + "0" * 32))


async def test_openai_minting_with_a_wrong_key_is_authentication_error() -> None:
    fake = FakeOpenAI(api_keys={OPENAI_KEY})
    with trio.fail_after(20):
        async with open_fake_server(handlers={"openai": fake}) as server:
            with pytest.raises(rt.AuthenticationError) as info:
                await mint_openai_client_secret(openai_config(server, api_key="sk-" + "wrong"))
    assert info.value.status == 401
    assert "wrong" not in str(info.value)
    assert str(info.value).startswith("The API key was refused by http://127.0.0.1:")


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ({"type": "bogus"}, "Invalid value: 'bogus'. Supported values are: 'realtime' and"),
        ({"type": "realtime", "voice_speed": 2}, "Unknown parameter: 'session.voice_speed'."),
    ],
)
async def test_openai_fake_validates_the_secret_request(
    session: dict[str, Any], message: str
) -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            with pytest.raises(rt.HandshakeError) as info:
                await mint_openai_client_secret(
                    openai_config(server, api_key=OPENAI_KEY), session=session
                )
    assert info.value.status == 400
    assert message in str(info.value)


async def test_openai_fake_checks_expires_after_bounds() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            async with httpx.AsyncClient() as client:
                r = await client.post(
                    f"{server.http_url}/v1/realtime/client_secrets",
                    headers={"Authorization": f"Bearer {OPENAI_KEY}"},
                    json={"expires_after": {"anchor": "created_at", "seconds": 9000}},
                )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "expires_after.seconds"
    with pytest.raises(rt.ConfigurationError):
        await mint_openai_client_secret(rt.OpenAIRealtime(api_key=OPENAI_KEY), expires_after=5)


async def test_azure_secret_goes_to_the_azure_path_with_an_api_key_header() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            config = rt.OpenAIRealtime(
                azure_endpoint="https://example-resource.openai.azure.com",
                deployment="my-realtime",
                api_key=OPENAI_KEY,
            )
            secret = await mint_openai_client_secret(
                config, base_url=server.http_url + "/openai/v1"
            )
            record = server.tokens.openai[secret.value]
            assert record.variant == "azure"
            assert record.session["model"] == "my-realtime"
            await ready(
                rt.OpenAIRealtime(url=server.azure_url, api_key=secret.value, connection=OPTIONS)
            )


# --------------------------------------------------------------------------- Gemini


async def test_gemini_token_minted_then_used_to_connect_once() -> None:
    fake = FakeGemini(api_keys=[GEMINI_KEY])
    with trio.fail_after(20):
        async with open_fake_server(handlers={"gemini": fake}) as server:
            token = await mint_gemini_token(
                gemini_config(server, api_key=GEMINI_KEY, instructions="Be terse."), uses=1
            )
            assert token.name.startswith("auth_tokens/")
            assert token.uses == 1
            assert token.name not in repr(token)
            assert token.expire_time is not None
            assert token.new_session_expire_time is not None
            assert token.new_session_expire_time < token.expire_time
            # The device's side: the token, and a setup that tries other instructions.
            await ready(gemini_config(server, access_token=token.name, instructions="Ramble."))
            setup = fake.connections[-1].setup
            assert setup is not None
            assert repr(setup.system_instruction).count("Be terse.") == 1  # locked
            with pytest.raises(rt.AuthenticationError) as info:  # one use only
                await ready(gemini_config(server, access_token=token.name))
    assert str(info.value) == (
        "Gemini Live refused the credentials: API key not valid. Please pass a valid API key. "
        "(close 1007)"
    )


async def test_gemini_token_expiry_and_field_mask() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            fake = server.handlers["gemini"]
            token = await mint_gemini_token(
                gemini_config(server, api_key=GEMINI_KEY, instructions="Locked? No."),
                uses=0,
                locked_fields=["generationConfig.responseModalities"],
            )
            await ready(gemini_config(server, access_token=token.name, instructions="Mine."))
            await ready(gemini_config(server, access_token=token.name, instructions="Mine."))
            setup = fake.connections[-1].setup  # type: ignore[attr-defined]
            assert "Mine." in repr(setup.system_instruction)  # not locked
            later(server, 61)  # no new session after newSessionExpireTime
            with pytest.raises(rt.AuthenticationError) as info:
                await ready(gemini_config(server, access_token=token.name))
    assert str(info.value) == (
        "Gemini Live refused the credentials: API key expired. Please renew the API key. "
        "(close 1007)"
    )


async def test_gemini_token_only_on_the_constrained_method() -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            token = await mint_gemini_token(gemini_config(server, api_key=GEMINI_KEY))
            config = rt.GeminiLive(
                url=server.gemini_url("v1alpha"), access_token=token.name, connection=OPTIONS
            )
            with pytest.raises(rt.AuthenticationError):
                await ready(config)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"locked_fields": ["generation_config.temperature"]}, "lowerCamelCase"),
        ({"expire_in": 25 * 3600}, "expire_in must be between"),
    ],
)
async def test_gemini_bad_requests(kw: dict[str, Any], message: str) -> None:
    with trio.fail_after(20):
        async with open_fake_server() as server:
            with pytest.raises(rt.RealtimeError) as info:
                await mint_gemini_token(gemini_config(server, api_key=GEMINI_KEY), **kw)
    assert message in str(info.value)


async def test_gemini_minting_with_a_wrong_key() -> None:
    fake = FakeGemini(api_keys=[GEMINI_KEY])
    with trio.fail_after(20):
        async with open_fake_server(handlers={"gemini": fake}) as server:
            with pytest.raises(rt.AuthenticationError) as info:
                await mint_gemini_token(gemini_config(server, api_key="AI" + "za-wrong"))
    assert info.value.status == 400
    assert "API key not valid" in str(info.value)


async def test_vertex_has_no_ephemeral_tokens() -> None:
    with pytest.raises(rt.ConfigurationError, match="Vertex AI has no ephemeral tokens"):
        await mint_gemini_token(rt.GeminiLive(vertex_project="p", access_token="ya29.x"))


async def test_unreachable_service_is_a_handshake_error() -> None:
    with pytest.raises(rt.HandshakeError) as info:
        await mint_openai_client_secret(
            rt.OpenAIRealtime(url="ws://127.0.0.1:1/v1/realtime", api_key=OPENAI_KEY)
        )
    assert str(info.value).startswith(
        "Could not reach http://127.0.0.1:1/v1/realtime/client_secrets"
    )
    assert info.value.status is None


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_token_command_prints_a_token_that_connects(provider: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")
    }
    env["OPENAI_API_KEY" if provider == "openai" else "GOOGLE_API_KEY"] = (
        OPENAI_KEY if provider == "openai" else GEMINI_KEY
    )
    with trio.fail_after(30):
        async with open_fake_server() as server:
            url = server.openai_url if provider == "openai" else server.gemini_url("v1alpha")
            result = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "trio_realtime",
                    "token",
                    "--provider",
                    provider,
                    "--url",
                    url,
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=env,
            )
            assert result.returncode == 0, result.stderr
            out = json.loads(result.stdout)
            assert out["provider"] == provider
            if provider == "openai":
                await ready(openai_config(server, api_key=out["token"]))
            else:
                assert out["uses"] == 1
                await ready(gemini_config(server, access_token=out["token"]))


def test_token_command_without_a_key_is_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "trio_realtime", "token"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=30,
    )
    assert result.returncode != 0  # the status for user errors is the command line's choice
    assert result.stderr == (
        "trio-realtime: error: Minting a client secret needs the API key: pass api_key= or "
        "set OPENAI_API_KEY.\n"
    )
