"""What every provider configuration offers the runtime (pure: no Trio)."""

from __future__ import annotations

import abc
import math
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError
from .events import RealtimeProtocol, ToolSpec
from .history import HistoryItem

__all__ = [
    "ConnectionOptions",
    "McpServer",
    "check_common",
    "check_headers",
    "check_number",
    "HasToolSpec",
    "ProviderConfig",
    "RetryPolicy",
    "tool_spec",
    "tool_specs",
]


@runtime_checkable
class HasToolSpec(Protocol):
    """Anything that can describe itself as a function tool (e.g. `FunctionTool`)."""

    @property
    def spec(self) -> ToolSpec:
        """The tool's declaration."""
        ...


def tool_spec(tool: ToolSpec | HasToolSpec) -> ToolSpec:
    """Return the `ToolSpec` of a tool given as a spec or as something with ``.spec``."""
    if isinstance(tool, ToolSpec):
        return tool
    spec = getattr(tool, "spec", None)
    if isinstance(spec, ToolSpec):
        return spec
    raise TypeError(f"not a tool: {tool!r} (expected a ToolSpec or a @tool function)")


def tool_specs(tools: Sequence[ToolSpec | HasToolSpec] | None) -> list[ToolSpec]:
    """`tool_spec` over a sequence (``None`` -> empty list)."""
    return [tool_spec(t) for t in tools or ()]


def _check_label(_inst: Any, _attr: Any, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"server_label must be a non-empty string, got {value!r}.")


def _check_approval(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None or isinstance(value, Mapping) or value in ("always", "never"):
        return
    raise ConfigurationError(
        "require_approval must be 'always', 'never', a dict of tool filters or None, "
        f"got {value!r}."
    )


def _check_allowed(_inst: Any, _attr: Any, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"allowed_tools must be a list of tool names or None, got {value!r}."
        )


@attrs.frozen(kw_only=True)
class McpServer:
    """A remote MCP server whose tools OpenAI Realtime calls itself (``tools=[...]``).

    The service lists the server's tools (`McpToolsListed`), calls them during
    responses (`McpCall`) and, unless approval is waived, first asks the
    application (`McpApprovalRequested`, answered with
    ``session.approve_mcp``). The calls run on OpenAI's side: they cost the
    service's tool latency in the reply, and what the server returns enters
    the model's context (input tokens). Gemini Live has no remote MCP tools
    and refuses this declaration.

    Attributes:
        server_label: the name the model and the events use for the server.
        server_url: the server's URL (``https://…``); or give `connector_id`.
        connector_id: one of OpenAI's connectors (``"connector_googledrive"``…).
        allowed_tools: the tool names the model may use; all if `None`.
        require_approval: ``"always"``, ``"never"``, or a dict of filters
            (``{"never": {"tool_names": ["search"]}}``); `None` leaves the
            service default (ask).
        headers: request headers for the server (never shown in reprs).
        authorization: an OAuth access token for the server (never shown).
        server_description: what the server is for, for the model.
    """

    server_label: str = attrs.field(validator=_check_label)
    server_url: str | None = None
    connector_id: str | None = None
    allowed_tools: Sequence[str] | None = attrs.field(default=None, validator=_check_allowed)
    require_approval: str | Mapping[str, Any] | None = attrs.field(
        default=None, validator=_check_approval
    )
    headers: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    authorization: str | None = attrs.field(default=None, repr=False)
    server_description: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.server_url is None) == (self.connector_id is None):
            raise ConfigurationError(
                f"MCP server {self.server_label!r} needs exactly one of server_url= and "
                f"connector_id=, got server_url={self.server_url!r}, "
                f"connector_id={self.connector_id!r}."
            )
        if self.server_url is not None:
            parts = urlsplit(self.server_url)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise ConfigurationError(
                    f"MCP server_url must be an http(s) URL, got {self.server_url!r}."
                )

    def to_wire(self) -> dict[str, Any]:
        """The ``session.tools`` entry (``type: "mcp"``)."""
        out: dict[str, Any] = {"type": "mcp", "server_label": self.server_label}
        for name in (
            "server_url",
            "connector_id",
            "require_approval",
            "authorization",
            "server_description",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = dict(value) if isinstance(value, Mapping) else value
        if self.allowed_tools is not None:
            out["allowed_tools"] = list(self.allowed_tools)
        if self.headers is not None:
            out["headers"] = dict(self.headers)
        return out


def check_common(model: object, tools: Sequence[ToolSpec | HasToolSpec], url: str | None) -> None:
    """Validate what every provider configuration has: a model, tools, a URL override.

    Raises:
        ConfigurationError: the model is empty, a tool is not a tool, or the
            URL is not a ``ws://``/``wss://`` URL with a host.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"model must be a non-empty string, got {model!r}.")
    try:
        tool_specs(tools)
    except TypeError as exc:
        raise ConfigurationError(str(exc)) from None
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ConfigurationError(
                f"url must be a ws:// or wss:// URL with a host, got {url.split('?', 1)[0]!r}."
            )


def _positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ConfigurationError(f"{attr.name} must be > 0, got {value!r}.")


def _fraction(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ConfigurationError(f"{attr.name} must be between 0 and 1, got {value!r}.")


def _at_least_one(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attr.name} must be an integer >= 1, got {value!r}.")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a session paces its attempts to get a new connection.

    One policy for both providers and every cause (``goAway``, a dropped
    connection, a refused resume). The first attempt goes at once; after the
    n-th failure the session waits ``min(max_backoff, initial_backoff *
    multiplier ** (n - 1))``, less a random part of up to `jitter` of it, so
    that many clients cut off together do not come back together. It gives up
    after `max_attempts` attempts or `max_time` seconds, whichever comes
    first; `events()` then raises `ReconnectFailed` with every attempt's
    failure. While it tries, input audio is buffered (see
    ``ConnectionOptions.gap_audio_seconds``).

    Outcomes retrying cannot fix end it at once: refused credentials (HTTP
    401/403, Gemini 1007 "API key not valid"), an unknown model, an invalid
    setup (1007), and a quota or rate limit (HTTP 429, Gemini
    ``RESOURCE_EXHAUSTED``) unless `retry_rate_limited`. A resumption handle
    the service no longer knows (1008 ``session not found``) starts a fresh
    session when `fresh_fallback` allows it (reported as
    ``Reconnected(mode="fresh")``); otherwise it ends the session.

    Attributes:
        max_attempts: connection attempts per reconnection, the first included.
        max_time: seconds one reconnection may take in all (a Gemini
            ``goAway`` deadline shortens it further).
        initial_backoff: wait after the first failed attempt, in seconds.
        max_backoff: longest wait between two attempts.
        multiplier: growth of the wait per failure.
        jitter: fraction of each wait that is random (0 = none, 1 = full jitter).
        retry_rate_limited: retry quota and rate-limit refusals too (with the
            same backoff) instead of failing at once.
        fresh_fallback: when the conversation cannot be resumed (no handle yet,
            or the handle was refused), start a new session instead of failing;
            on Gemini it is seeded with the session's history.
        stable_after: a connection that lasted this long ends a streak: the
            next loss starts counting attempts and time afresh. Losses sooner
            than that (connections failing right after they open) add to the
            same count, so they cannot loop for ever.
    """

    max_attempts: int = attrs.field(default=5, validator=_at_least_one)
    max_time: float = attrs.field(default=30.0, validator=_positive)
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    jitter: float = attrs.field(default=0.5, validator=_fraction)
    retry_rate_limited: bool = False
    fresh_fallback: bool = True
    stable_after: float = attrs.field(default=30.0, validator=_positive)

    def backoff(self, failures: int, random: float) -> float:
        """Seconds to wait after `failures` failed attempts (`random` in [0, 1))."""
        if failures <= 0:
            return 0.0
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (failures - 1))
        return base * (1.0 - self.jitter * random)


def check_number(
    name: str, low: float | None, high: float | None, *, integer: bool = False
) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: `None`, or a number within ``[low, high]`` (an int if `integer`).

    The `ConfigurationError` it raises names the keyword and the bad value.
    """
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        bounds = f" between {low:g} and {high:g}"
    elif low is not None:
        bounds = f" of at least {low:g}"
    else:
        bounds = ""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None:
            return
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if (
            not ok
            or isinstance(value, bool)
            or not math.isfinite(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise ConfigurationError(f"{name} must be {kind}{bounds} or None, got {value!r}.")

    return check


def check_headers(value: Any) -> tuple[tuple[str, str], ...]:
    """An attrs converter for ``extra_headers``: a sequence of ``(name, value)`` strings.

    Raises:
        ConfigurationError: an entry is not a pair of strings, or a name is empty.
    """
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"extra_headers must be a list of (name, value) pairs, got {type(value).__name__}."
        )
    out: list[tuple[str, str]] = []
    for pair in value:
        if (
            not isinstance(pair, (tuple, list))
            or len(pair) != 2
            or not all(isinstance(p, str) for p in pair)
            or not pair[0].strip()
        ):
            # Never the value: it may be a credential.
            what = (
                f"one named {pair[0]!r}"
                if isinstance(pair, (tuple, list)) and pair and isinstance(pair[0], str)
                else f"a {type(pair).__name__}"
            )
            raise ConfigurationError(
                f"extra_headers entries must be (name, value) string pairs, got {what}."
            )
        out.append((pair[0], pair[1]))
    return tuple(out)


@attrs.define(kw_only=True)
class ConnectionOptions:
    """Transport knobs shared by both providers (seconds and bytes).

    Attributes:
        open_timeout: TCP + TLS + upgrade + the provider's session handshake.
        ping_interval: seconds between keepalive pings; `None` disables them.
        ping_timeout: how long a pong may take before the connection counts as lost.
        close_timeout: how long a graceful close may take before the socket is dropped.
        max_size: largest message accepted, in bytes (audio deltas can be large).
        max_queue: received events buffered for a slow consumer; past it the
            oldest audio and partial transcripts are dropped (see the events
            docs). Cost: the events themselves; twice as many events that
            cannot be dropped fail the session.
        max_queue_bytes: bytes of received output audio (PCM) buffered for a
            slow consumer; past it the oldest audio is dropped, as for
            `max_queue`. The default, 2 MiB, holds about 44 s of 24 kHz
            audio. Cost: a buffered chunk holds its PCM plus the wire message
            kept in its ``raw`` (whose audio field is the decoded bytes,
            shared with the frame), so the audio a stalled application leaves
            buffered takes at most about 2.5 times this per session (with
            the allocator's slack).
        ssl_context: TLS settings for ``wss://`` URLs; `None` verifies certificates
            against the system's trust store. Pass one that trusts a private CA
            (the fake server's with ``tls=True``, a corporate proxy's).
        reconnect: move the session to a new connection on Gemini's ``goAway``
            and when a connection drops with a retryable outcome (Gemini
            resumes with its handle; OpenAI replays the history into a new
            session). Off: a drop ends the session with `ConnectionLost`.
        retry: how reconnection attempts are paced and when they give up.
        gap_audio_seconds: input audio kept while no connection is open (during
            a reconnection), sent in order once the new one is ready; past it
            the oldest is dropped and counted. Costs up to this much audio in
            memory (5 s of 16 kHz mono PCM is 160 KB, base64 adds a third).
        go_away_margin: seconds before a ``goAway`` deadline by which the old
            connection is closed at the latest, even mid-turn.
    """

    open_timeout: float = 15.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0
    max_size: int = 16 * 1024 * 1024
    max_queue: int = 4096
    max_queue_bytes: int = 2 * 1024 * 1024
    reconnect: bool = True
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    gap_audio_seconds: float = 5.0
    go_away_margin: float = 2.0
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, repr=False, eq=False)


#: Attributes of provider configurations that hold credentials.
_SECRET_FIELDS = ("api_key", "access_token", "azure_ad_token")


class ProviderConfig(abc.ABC):
    """A provider configuration: where to connect and which protocol machine to run."""

    #: Short provider name, ``"openai"`` or ``"gemini"``.
    provider: str
    #: Tools declared to the model: function tools (`ToolSpec` or ``@tool``
    #: functions), and for OpenAI remote MCP servers (`McpServer`).
    tools: Sequence[Any]

    @abc.abstractmethod
    def endpoint(self) -> tuple[str, list[tuple[str, str]]]:
        """The WebSocket URL and request headers (with credentials).

        Raises:
            trio_realtime.errors.ConfigurationError: no API key or token is available.
        """

    @abc.abstractmethod
    def new_protocol(
        self,
        *,
        resumption_handle: str | None = None,
        history: Sequence[HistoryItem] | None = None,
    ) -> RealtimeProtocol:
        """A fresh sans-IO protocol machine configured from this object.

        `history` seeds the new session with a conversation (`None`: the
        configuration's own ``history``); a resumed session ignores it.
        """

    @property
    @abc.abstractmethod
    def connection(self) -> ConnectionOptions:
        """Transport knobs."""

    def secrets(self) -> frozenset[str]:
        """The credential values of this configuration, for redaction.

        The API keys and tokens it holds (``api_key``, ``access_token``,
        ``azure_ad_token``, whichever it has) and every credential `endpoint`
        would send (from the environment too), with their URL-encoded forms.
        Nothing when no credentials are configured.
        """
        from .errors import secret_values

        configured = [getattr(self, name, None) for name in _SECRET_FIELDS]
        try:
            url, headers = self.endpoint()
        except ConfigurationError:
            url, headers = "", []
        return secret_values(url, headers, [v for v in configured if isinstance(v, str)])

    def redacted_url(self) -> str:
        """The endpoint URL safe to show (secrets removed)."""
        from .errors import redact_url

        return redact_url(self.endpoint_url_hint(), self.secrets())

    def endpoint_url_hint(self) -> str:
        """The URL without requiring credentials (for messages)."""
        try:
            return self.endpoint()[0]
        except Exception:
            return "<unconfigured>"
