"""What every provider configuration offers the runtime (pure: no Trio)."""

from __future__ import annotations

import abc
import ssl
from collections.abc import Sequence
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from .errors import ConfigurationError
from .events import RealtimeProtocol, ToolSpec

__all__ = [
    "ConnectionOptions",
    "check_common",
    "HasToolSpec",
    "ProviderConfig",
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
            oldest audio is dropped (see the events and backpressure docs).
        ssl_context: TLS settings for ``wss://`` URLs; `None` verifies certificates
            against the system's trust store. Pass one that trusts a private CA
            (the fake server's with ``tls=True``, a corporate proxy's).
        reconnect: when the provider can resume the session (Gemini with session
            resumption), move to a new connection on ``goAway`` or when the
            connection drops with a retryable close code.
    """

    open_timeout: float = 15.0
    ping_interval: float | None = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 5.0
    max_size: int = 16 * 1024 * 1024
    max_queue: int = 4096
    reconnect: bool = True
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, repr=False, eq=False)


class ProviderConfig(abc.ABC):
    """A provider configuration: where to connect and which protocol machine to run."""

    #: Short provider name, ``"openai"`` or ``"gemini"``.
    provider: str
    #: Function tools declared to the model (`ToolSpec` or ``@tool`` functions).
    tools: Sequence[ToolSpec | HasToolSpec]

    @abc.abstractmethod
    def endpoint(self) -> tuple[str, list[tuple[str, str]]]:
        """The WebSocket URL and request headers (with credentials).

        Raises:
            trio_realtime.errors.ConfigurationError: no API key or token is available.
        """

    @abc.abstractmethod
    def new_protocol(self, *, resumption_handle: str | None = None) -> RealtimeProtocol:
        """A fresh sans-IO protocol machine configured from this object."""

    @property
    @abc.abstractmethod
    def connection(self) -> ConnectionOptions:
        """Transport knobs."""

    def redacted_url(self) -> str:
        """The endpoint URL safe to show (secrets removed)."""
        from .errors import redact_url

        return redact_url(self.endpoint_url_hint())

    def endpoint_url_hint(self) -> str:
        """The URL without requiring credentials (for messages)."""
        try:
            return self.endpoint()[0]
        except Exception:
            return "<unconfigured>"
