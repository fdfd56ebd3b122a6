"""Short-lived tokens for browsers and devices, minted by a trusted server.

A browser or a phone should never hold the real API key. Your server mints a
token with it and hands the token to the client, which connects with it:

- OpenAI: `mint_openai_client_secret` (``POST /v1/realtime/client_secrets``,
  Azure OpenAI too). The client connects with ``api_key=secret.value`` (or the
  browser sub-protocol ``openai-insecure-api-key.<value>``). The secret starts
  sessions until it expires; the session configuration sent with it becomes
  each session's initial configuration.
- Gemini API: `mint_gemini_token` (``POST v1alpha/auth_tokens``). The client
  connects with ``GeminiLive(access_token=token.name)``. A token starts `uses`
  sessions (resuming one does not count) until `new_session_expire_time`, and
  sessions opened with it end at `expire_time`. Setup fields given with the
  token are locked: the service uses them whatever the client's setup says.
  Vertex AI has no such tokens (see token providers for its OAuth tokens).

The requests go through httpx (the ``http`` extra: ``pip install
'trio-realtime[http]'``), which runs on Trio.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from .errors import (
    AuthenticationError,
    ConfigurationError,
    HandshakeError,
    ProtocolError,
    RateLimitError,
    redact_url,
)

if TYPE_CHECKING:
    import httpx

    from .gemini import GeminiLive
    from .openai import OpenAIRealtime

__all__ = [
    "ClientSecret",
    "GeminiToken",
    "mint_gemini_token",
    "mint_openai_client_secret",
    "run_token_command",
]

OPENAI_REST = "https://api.openai.com/v1"
GEMINI_REST = "https://generativelanguage.googleapis.com"
#: Seconds each step of a minting request (connect, send, read) may take
#: without an ``http_client`` of the caller; then it fails with `HandshakeError`.
DEFAULT_TIMEOUT = 30.0


@attrs.frozen
class ClientSecret:
    """An OpenAI Realtime ephemeral client secret.

    Attributes:
        value: the secret (``ek_…``), used as the bearer token. Not in the repr.
        expires_at: when it stops starting sessions (Unix time, seconds).
        session: the effective session configuration the service returned.
        raw: the whole response body.
    """

    value: str = attrs.field(repr=False)
    expires_at: float
    session: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class GeminiToken:
    """A Gemini API ephemeral token.

    Attributes:
        name: the token (``auth_tokens/…``), passed as ``access_token``. Not in the repr.
        expire_time: sessions opened with it end by then.
        new_session_expire_time: no new session starts after it.
        uses: how many sessions it may start (0: no limit).
        raw: the whole response body.
    """

    name: str = attrs.field(repr=False)
    expire_time: datetime | None
    new_session_expire_time: datetime | None
    uses: int | None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise ConfigurationError(
            "Minting tokens needs httpx: pip install 'trio-realtime[http]'"
        ) from exc
    return httpx


def _rest_base(ws_url: str, *, keep_path: bool) -> str:
    """The HTTP(S) base of a WebSocket URL (for a fake server or a proxy)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = ""
    if keep_path:
        path = parts.path.rstrip("/")
        if path.endswith("/realtime"):
            path = path[: -len("/realtime")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def _post(
    url: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    client: httpx.AsyncClient | None,
) -> dict[str, Any]:
    httpx = _httpx()
    shown = redact_url(url)
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as own:
                response = await own.post(url, headers=dict(headers), json=dict(body))
        else:
            response = await client.post(url, headers=dict(headers), json=dict(body))
    except httpx.HTTPError as exc:
        raise HandshakeError(
            f"Could not reach {shown} to mint a token: {type(exc).__name__}: {exc}", url=url
        ) from None
    status = response.status_code
    text = response.text
    if status >= 400:
        detail = _error_message(text)
        kind: type[HandshakeError]
        if status in (401, 403) or (status == 400 and "API key not valid" in detail):
            kind, what = AuthenticationError, "The API key was refused"
        elif status == 429:
            kind, what = RateLimitError, "Token minting was refused because of a rate limit"
        else:
            kind, what = HandshakeError, "The token request was refused"
        raise kind(
            f"{what} by {shown} (HTTP {status}): {detail}",
            status=status,
            headers=list(response.headers.items()),
            body=text,
            url=url,
        )
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ProtocolError(f"The token response from {shown} is not a JSON object.", raw=text)
    return doc


def _error_message(text: str) -> str:
    """The service's own explanation from an error body (``error.message``), else the body."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        message = doc["error"].get("message")
        if isinstance(message, str) and message:
            return message
    snippet = " ".join(text.split())
    return snippet[:300] or "(no explanation given)"


def _check_seconds(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low:g} and {high:g} s, got {value!r}.")


async def mint_openai_client_secret(
    config: OpenAIRealtime | None = None,
    *,
    expires_after: int = 600,
    session: Mapping[str, Any] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> ClientSecret:
    """Mint an OpenAI Realtime client secret for a browser or device.

    Args:
        config: the session the secret starts: its model, voice, instructions,
            tools… (``config.session_config()``), its key, and where to ask
            (Azure when `azure_endpoint` is set; a `url` override points the
            request at the same host, e.g. a fake server). Default:
            ``OpenAIRealtime()``.
        expires_after: seconds until the secret stops starting sessions
            (10–7200; open sessions keep running).
        session: a session configuration (wire dict) to send instead of
            ``config``'s.
        api_key: the key to mint with, instead of ``config``'s.
        base_url: the REST base (``https://api.openai.com/v1``), instead of
            the one derived from ``config``.
        http_client: an ``httpx.AsyncClient`` to reuse (connection pooling and
            its timeouts); without one, each step of the request may take
            `DEFAULT_TIMEOUT` seconds.

    Cancellation (``trio.fail_after``…) aborts the request; a secret minted
    meanwhile is lost (it expires unused).

    Raises:
        ConfigurationError: httpx is missing, no key, or a bad `expires_after`.
        AuthenticationError: the key was refused (HTTP 401/403).
        RateLimitError: HTTP 429.
        HandshakeError: any other refusal, or the service could not be reached.
        ProtocolError: the response is not what the API returns.
    """
    from .openai import OpenAIRealtime

    _check_seconds("expires_after", expires_after, 10, 7200)
    config = config if config is not None else OpenAIRealtime(api_key=api_key)
    if base_url is None:
        if config.url is not None:
            base_url = _rest_base(config.url, keep_path=True)
        elif config.azure_endpoint is not None:
            base_url = config.azure_endpoint.rstrip("/")
            if not base_url.endswith("/openai/v1"):
                base_url += "/openai/v1"
        else:
            base_url = OPENAI_REST
    headers: dict[str, str] = {}
    key = api_key or config._key()
    if config.is_azure:
        if key:
            headers["api-key"] = key
        elif config.azure_ad_token:
            headers["Authorization"] = f"Bearer {config.azure_ad_token}"
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    if not headers:
        raise ConfigurationError(
            "Minting a client secret needs the API key: pass api_key= or set OPENAI_API_KEY."
        )
    if session is None:
        session = dict(config.session_config())
        session["model"] = config.deployment or config.model if config.is_azure else config.model
    body = {
        "expires_after": {"anchor": "created_at", "seconds": int(expires_after)},
        "session": dict(session),
    }
    url = base_url.rstrip("/") + "/realtime/client_secrets"
    doc = await _post(url, headers, body, client=http_client)
    value = doc.get("value")
    if not isinstance(value, str):  # the retired beta shape nested it
        nested = doc.get("client_secret")
        value = nested.get("value") if isinstance(nested, dict) else None
    expires_at = doc.get("expires_at")
    if not isinstance(value, str) or not value:
        raise ProtocolError(
            f"The client secret response from {redact_url(url)} has no value.", raw=None
        )
    if not isinstance(expires_at, (int, float)):
        expires_at = time.time() + expires_after
    returned = doc.get("session")
    return ClientSecret(
        value=value,
        expires_at=float(expires_at),
        session=returned if isinstance(returned, dict) else {},
        raw=doc,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


async def mint_gemini_token(
    config: GeminiLive | None = None,
    *,
    uses: int = 1,
    expire_in: float = 1800,
    new_session_expire_in: float = 60,
    lock_setup: bool = True,
    locked_fields: Sequence[str] | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> GeminiToken:
    """Mint a Gemini API ephemeral token for a browser or device.

    Args:
        config: the session's configuration: with `lock_setup`, its setup
            (model, voice, instructions, tools…) is sent with the token and
            locked; its key and where to ask (a `url` override points the
            request at the same host, e.g. a fake server). Default:
            ``GeminiLive()``.
        uses: sessions the token may start (0: no limit); resuming a session
            does not use one up.
        expire_in: seconds until sessions opened with it end (< 20 h).
        new_session_expire_in: seconds during which it may start sessions (< 20 h).
        lock_setup: send ``config``'s setup with the token, so the service
            enforces it; without it the client chooses its own setup.
        locked_fields: lock only these setup fields (lowerCamel JSON paths such
            as ``generationConfig.temperature``); `None` locks all of them.
        api_key: the key to mint with, instead of ``config``'s.
        base_url: the REST host (``https://generativelanguage.googleapis.com``),
            instead of the one derived from ``config``.
        http_client: an ``httpx.AsyncClient`` to reuse (see `mint_openai_client_secret`).

    Cancellation aborts the request; a token minted meanwhile is lost.

    Raises:
        ConfigurationError: httpx is missing, no key, Vertex AI (no ephemeral
            tokens there), or a bad option.
        AuthenticationError: the key was refused (HTTP 401/403).
        RateLimitError: HTTP 429.
        HandshakeError: any other refusal, or the service could not be reached.
        ProtocolError: the response is not what the API returns.
    """
    from .gemini import GeminiLive

    config = config if config is not None else GeminiLive(api_key=api_key)
    if config.is_vertex:
        raise ConfigurationError(
            "Vertex AI has no ephemeral tokens; give clients short-lived OAuth tokens instead."
        )
    if uses < 0:
        raise ConfigurationError(f"uses must be 0 (no limit) or more, got {uses!r}.")
    _check_seconds("expire_in", expire_in, 1, 20 * 3600 - 1)
    _check_seconds("new_session_expire_in", new_session_expire_in, 1, 20 * 3600 - 1)
    key = api_key or config._api_key()
    if not key:
        raise ConfigurationError(
            "Minting a Gemini token needs the API key: pass api_key= or set GOOGLE_API_KEY."
        )
    if base_url is None:
        base_url = _rest_base(config.url, keep_path=False) if config.url else GEMINI_REST
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "uses": uses,
        "expireTime": _rfc3339(now + timedelta(seconds=expire_in)),
        "newSessionExpireTime": _rfc3339(now + timedelta(seconds=new_session_expire_in)),
    }
    if lock_setup:
        from .gemini.codec import encode_client_message

        setup = json.loads(encode_client_message(config.setup_message()))["setup"]
        body["bidiGenerateContentSetup"] = setup
        if locked_fields is not None:
            body["fieldMask"] = ",".join(locked_fields)
    elif locked_fields is not None:
        raise ConfigurationError("locked_fields needs lock_setup=True.")
    url = base_url.rstrip("/") + "/v1alpha/auth_tokens"
    doc = await _post(url, {"x-goog-api-key": key}, body, client=http_client)
    name = doc.get("name")
    if not isinstance(name, str) or not name.startswith("auth_tokens/"):
        raise ProtocolError(
            f"The token response from {redact_url(url)} has no auth_tokens/ name.", raw=None
        )
    raw_uses = doc.get("uses")
    return GeminiToken(
        name=name,
        expire_time=_parse_time(doc.get("expireTime")),
        new_session_expire_time=_parse_time(doc.get("newSessionExpireTime")),
        uses=raw_uses if isinstance(raw_uses, int) else None,
        raw=doc,
    )


async def run_token_command(args: Any) -> int:
    """``trio-realtime token``: mint a token and print it as one JSON object."""
    from .gemini import GeminiLive
    from .openai import OpenAIRealtime

    options: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("model", "voice", "instructions", "url")
        if getattr(args, name) is not None
    }
    out: dict[str, Any]
    if args.provider == "openai":
        secret = await mint_openai_client_secret(
            OpenAIRealtime(**options),
            expires_after=int(args.expires) if args.expires is not None else 600,
        )
        out = {
            "provider": "openai",
            "token": secret.value,
            "expires_at": datetime.fromtimestamp(secret.expires_at, UTC).isoformat(),
            "use": "OpenAIRealtime(api_key=token)",
        }
    else:
        token = await mint_gemini_token(
            GeminiLive(**options),
            uses=args.uses,
            expire_in=args.expires if args.expires is not None else 1800,
            new_session_expire_in=args.new_session_expires,
        )
        out = {
            "provider": "gemini",
            "token": token.name,
            "expires_at": token.expire_time.isoformat() if token.expire_time else None,
            "new_sessions_until": (
                token.new_session_expire_time.isoformat() if token.new_session_expire_time else None
            ),
            "uses": token.uses,
            "use": "GeminiLive(access_token=token)",
        }
    print(json.dumps(out, indent=2), flush=True)
    return 0
