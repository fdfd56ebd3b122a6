"""Token providers: called for every new connection, reconnects included (trio_realtime.credentials)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime.credentials import GoogleTokenProvider, fetch_token
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.server import open_fake_server

OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)


async def test_vertex_token_provider_is_called_again_for_the_resumed_connection() -> None:
    calls: list[int] = []

    async def vertex_token() -> str:
        calls.append(len(calls) + 1)
        await trio.lowlevel.checkpoint()
        return f"ya29.fresh-{len(calls)}"

    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf) as server:
            config = rt.GeminiLive(
                url=server.vertex_url(),
                vertex_project="my-project",
                token_provider=vertex_token,
                connection=OPTIONS,
            )
            with no_leaked_tasks():
                async with rt.connect(config) as session:
                    assert calls == [1]
                    await session.send_text("hello")
                    async for event in session.events():
                        if isinstance(event, rt.ResponseDone):
                            break
                    await (await server.connection(1)).abort()  # dropped: resume
                    async for event in session.events():
                        if isinstance(event, rt.Reconnected):
                            break
            first, second = await server.connection(1), await server.connection(2)
    assert calls == [1, 2]
    assert first.headers["authorization"] == "Bearer ya29.fresh-1"
    assert second.headers["authorization"] == "Bearer ya29.fresh-2"
    assert second.route.variant == "vertex"


async def test_azure_entra_token_provider_replaces_the_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-from-env")
    tokens = iter(["entra-1", "entra-2"])

    def entra_token() -> str:  # a plain (blocking) function: runs in a worker thread
        return next(tokens)

    with trio.fail_after(30):
        async with open_fake_server() as server:
            config = rt.OpenAIRealtime(
                azure_endpoint="https://example-resource.openai.azure.com",
                url=server.azure_url,
                token_provider=entra_token,
                connection=OPTIONS,
            )
            async with rt.connect(config):
                pass
            async with rt.connect(config):
                pass
            conns = [await server.connection(1), await server.connection(2)]
    assert [c.headers["authorization"] for c in conns] == ["Bearer entra-1", "Bearer entra-2"]
    assert all("api-key" not in c.headers for c in conns)
    assert "entra" not in repr(config)


async def test_a_provider_that_returns_no_token_is_a_configuration_error() -> None:
    with pytest.raises(rt.ConfigurationError) as info:
        await fetch_token(lambda: "")
    assert str(info.value) == "The token provider returned str, not a token string."
    with trio.fail_after(10):
        async with open_fake_server() as server:
            config = rt.GeminiLive(
                url=server.vertex_url(),
                vertex_project="p",
                token_provider=lambda: None,  # type: ignore[arg-type,return-value]
            )
            with pytest.raises(rt.ConfigurationError, match="returned NoneType"):
                async with rt.connect(config):
                    pass  # pragma: no cover


async def test_a_provider_that_fails_fails_the_connect() -> None:
    async def broken() -> str:
        raise rt.AuthenticationError("the identity service said no")

    config = rt.GeminiLive(vertex_project="p", token_provider=broken)
    with pytest.raises(rt.AuthenticationError, match="the identity service said no"):
        async with rt.connect(config):
            pass  # pragma: no cover


# --------------------------------------------------------------------------- google-auth


class FakeCredentials:
    """Stands in for google.auth credentials: counts refreshes and the thread they ran in."""

    def __init__(self, token: str | None = None, expiry: datetime | None = None) -> None:
        self.token = token
        self.expiry = expiry
        self.refreshed_in: list[bool] = []

    def refresh(self, request: Any) -> None:
        self.refreshed_in.append(trio.lowlevel.in_trio_run())
        self.token = f"ya29.refreshed-{len(self.refreshed_in)}"
        self.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)


async def test_google_provider_refreshes_only_when_needed_and_off_the_loop() -> None:
    creds = FakeCredentials()
    provider = GoogleTokenProvider(credentials=creds)
    assert await provider() == "ya29.refreshed-1"
    assert await provider() == "ya29.refreshed-1"  # cached: still valid
    creds.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=60)
    assert await provider() == "ya29.refreshed-2"  # within the 5 min margin: renewed
    assert creds.refreshed_in == [False, False]  # in worker threads
    assert provider.refreshes == 2


async def test_google_provider_refresh_failure_is_authentication_error() -> None:
    from google.auth.exceptions import RefreshError

    class Refusing(FakeCredentials):
        def refresh(self, request: Any) -> None:
            raise RefreshError("invalid_grant: Invalid JWT Signature.")  # type: ignore[no-untyped-call]

    provider = GoogleTokenProvider(credentials=Refusing())
    with pytest.raises(rt.AuthenticationError) as info:
        await provider()
    assert str(info.value) == (
        "Google refused to refresh the access token: invalid_grant: Invalid JWT Signature."
    )


async def test_google_provider_loads_a_service_account_file(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "my-project",
                "private_key_id": "1",
                "private_key": pem,
                "client_email": "bot@my-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "http://127.0.0.1:1/token",
            }
        )
    )
    provider = GoogleTokenProvider(str(path))
    # No network here: the token URI cannot be reached.
    with pytest.raises(rt.HandshakeError, match="Could not reach Google to refresh"):
        await provider()
    assert provider.project == "my-project"
    assert provider.credentials.service_account_email == "bot@my-project.iam.gserviceaccount.com"
    assert provider.credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform"]


async def test_google_provider_without_credentials_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    provider = GoogleTokenProvider(str(tmp_path / "missing.json"))
    with pytest.raises(rt.ConfigurationError, match="No usable Google credentials in "):
        await provider()


# --------------------------------------------------------------------------- examples

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "vertex_ai.py",
            [
                "Using the embedded fake Vertex AI endpoint (no --project given).",
                "(token provider called: token #1)",
                "you: Hello from Vertex AI",
                "assistant: You said: Hello from Vertex AI. Thank you.",
                "(token provider called: token #2)",
                "(reconnected: resumed)",
                "you: Still there?",
                "assistant: You said: Still there. Thank you.",
            ],
        ),
        (
            "azure_openai.py",
            [
                "Using the embedded fake Azure OpenAI endpoint (no --endpoint given).",
                "(token provider called: token #1)",
                "you: Hello from Azure",
                "assistant: You said: Hello from Azure. Thank you.",
                "(token provider called: token #2)",
                "you: A second session",
                "assistant: You said: A second session. Thank you.",
            ],
        ),
    ],
)
def test_credential_examples_run_against_the_fake(
    tmp_path: Path, script: str, expected: list[str]
) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected
