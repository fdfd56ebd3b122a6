"""Refreshable credentials: a token provider called for every new connection.

Vertex AI OAuth access tokens and Microsoft Entra ID tokens expire (about an
hour), so a long session that reconnects later must not reuse the token it
started with. Give the configuration a *token provider* instead of a token:
any callable taking no argument and returning the token, plain or async::

    rt.GeminiLive(vertex_project="my-project", token_provider=google_token_provider())
    rt.OpenAIRealtime(azure_endpoint="https://res.openai.azure.com",
                      token_provider=lambda: credential.get_token(SCOPE).token)

The session calls it before each connection it opens: the first one and every
reconnect (resumption, an update that needs a new Gemini connection). A plain
function runs in a worker thread (`trio.to_thread.run_sync`), because token
libraries do blocking HTTP; an async one runs in the session's task. Where the
token goes: Gemini, ``access_token`` (a Vertex bearer token, or a Gemini API
ephemeral token); Azure OpenAI, ``Authorization: Bearer`` instead of the
``api-key`` header; OpenAI, the bearer token (an ephemeral client secret your
server mints, say).

`google_token_provider` builds a provider from Application Default
Credentials or a service-account file (the ``google-auth`` extra).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import trio

from ._config import ProviderConfig
from .errors import AuthenticationError, ConfigurationError, HandshakeError

__all__ = [
    "GoogleTokenProvider",
    "TokenProvider",
    "fetch_token",
    "google_token_provider",
    "resolve_endpoint",
]

#: A callable that returns a fresh access token, plainly or as an awaitable.
TokenProvider = Callable[[], "str | Awaitable[str]"]

#: OAuth scope for Vertex AI.
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


async def fetch_token(provider: TokenProvider) -> str:
    """Call `provider` (a plain function in a worker thread) and check what it returns.

    Cancellation abandons a plain function's thread (its result is dropped)
    and cancels an async one.

    Raises:
        ConfigurationError: the provider returned something other than a non-empty string.
        Exception: whatever the provider raised, unchanged.
    """
    if inspect.iscoroutinefunction(provider) or inspect.iscoroutinefunction(
        type(provider).__call__
    ):
        token: Any = await provider()  # type: ignore[misc]
    else:
        token = await trio.to_thread.run_sync(provider, abandon_on_cancel=True)
        if inspect.isawaitable(token):
            token = await token
    if not isinstance(token, str) or not token.strip():
        raise ConfigurationError(
            f"The token provider returned {type(token).__name__}, not a token string."
        )
    return token.strip()


async def resolve_endpoint(config: ProviderConfig) -> tuple[str, list[tuple[str, str]]]:
    """``config.endpoint()``, with a fresh token from its ``token_provider`` when it has one.

    Raises:
        ConfigurationError: no credentials, or the provider returned no token.
        Exception: whatever the token provider raised.
    """
    provider = getattr(config, "token_provider", None)
    if provider is None:
        return config.endpoint()
    token = await fetch_token(provider)
    if config.provider == "gemini":
        fresh: Any = attrs.evolve(config, access_token=token)  # type: ignore[misc]
        return fresh.endpoint()  # type: ignore[no-any-return]
    if getattr(config, "is_azure", False):
        fresh = attrs.evolve(config, azure_ad_token=token)  # type: ignore[misc]
    else:
        fresh = attrs.evolve(config, api_key=token)  # type: ignore[misc]
    url, headers = fresh.endpoint()
    # The fresh token replaces any key (an API key from the environment included).
    kept = [(n, v) for n, v in headers if n.lower() not in ("api-key", "authorization")]
    return url, [("Authorization", f"Bearer {token}"), *kept]


class GoogleTokenProvider:
    """OAuth access tokens for Vertex AI from google-auth credentials (``google-auth`` extra).

    Loads Application Default Credentials, or the service-account (or other
    credentials) JSON file at `credentials_path`, on first use; refreshes the
    token in a worker thread when it is missing or expires within
    `refresh_margin` seconds; otherwise returns the cached token at no cost.
    Concurrent calls share one refresh.

    Args:
        credentials_path: a credentials JSON file; `None` uses ADC
            (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
            application-default login``, the metadata server…).
        scopes: OAuth scopes (Vertex AI: cloud-platform).
        credentials: ready ``google.auth.credentials.Credentials`` instead of loading.
        refresh_margin: seconds before expiry at which the token is renewed.
    """

    def __init__(
        self,
        credentials_path: str | None = None,
        *,
        scopes: Sequence[str] = (CLOUD_PLATFORM,),
        credentials: Any = None,
        refresh_margin: float = 300,
    ) -> None:
        self.credentials_path = credentials_path
        self.scopes = tuple(scopes)
        self.credentials = credentials
        self.refresh_margin = refresh_margin
        self.project: str | None = None
        self.refreshes = 0
        self._lock = trio.Lock()

    def _load(self) -> Any:
        try:
            import google.auth
            import google.auth.exceptions
        except ImportError as exc:
            raise ConfigurationError(
                "Google credentials need google-auth: pip install 'trio-realtime[google-auth]'"
            ) from exc
        try:
            if self.credentials_path is not None:
                creds, project = self._load_file(self.credentials_path)
            else:
                creds, project = google.auth.default(scopes=list(self.scopes))
        except (google.auth.exceptions.DefaultCredentialsError, OSError, ValueError) as exc:
            where = self.credentials_path or "Application Default Credentials"
            raise ConfigurationError(f"No usable Google credentials in {where}: {exc}") from None
        self.project = project
        return creds

    def _load_file(self, path: str) -> tuple[Any, str | None]:
        # The type-specific loaders: google-auth deprecates its generic file
        # loader, which accepts any credential configuration unchecked.
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        kind = info.get("type") if isinstance(info, dict) else None
        scopes = list(self.scopes)
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
            return creds, info.get("project_id")
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials

            creds = Credentials.from_authorized_user_info(info, scopes=scopes)  # type: ignore[no-untyped-call]
            return creds, info.get("quota_project_id")
        raise ValueError(
            f"credentials of type {kind!r} are not supported here (a service_account or "
            "authorized_user file is; use Application Default Credentials for others)"
        )

    def _expiring(self) -> bool:
        creds = self.credentials
        if not getattr(creds, "token", None):
            return True
        expiry = getattr(creds, "expiry", None)
        if expiry is None:
            return False
        if expiry.tzinfo is None:  # google-auth keeps naive UTC datetimes
            expiry = expiry.replace(tzinfo=UTC)
        return bool(expiry - timedelta(seconds=self.refresh_margin) <= datetime.now(UTC))

    def _refresh(self) -> None:
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request

        try:
            self.credentials.refresh(Request())
        except RefreshError as exc:
            raise AuthenticationError(
                f"Google refused to refresh the access token: {exc}"
            ) from None
        except TransportError as exc:
            raise HandshakeError(
                f"Could not reach Google to refresh the access token: {exc}"
            ) from None

    async def __call__(self) -> str:
        """A valid access token, refreshed first when needed.

        Cancellation abandons a refresh in progress (the next call retries).

        Raises:
            ConfigurationError: google-auth is missing or no credentials were found.
            AuthenticationError: Google refused to refresh the token.
            HandshakeError: Google's token service could not be reached.
        """
        async with self._lock:
            if self.credentials is None:
                self.credentials = await trio.to_thread.run_sync(self._load)
            if self._expiring():
                await trio.to_thread.run_sync(self._refresh, abandon_on_cancel=True)
                self.refreshes += 1
            token = self.credentials.token
            if not isinstance(token, str) or not token:
                raise AuthenticationError("Google returned no access token.")
            return token


def google_token_provider(
    credentials_path: str | None = None, *, scopes: Sequence[str] = (CLOUD_PLATFORM,)
) -> GoogleTokenProvider:
    """A token provider for Vertex AI from ADC or a credentials file (see `GoogleTokenProvider`)."""
    return GoogleTokenProvider(credentials_path, scopes=scopes)
