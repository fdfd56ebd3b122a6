"""`OpenAIRealtime`: where and how to connect to OpenAI Realtime, and the session to ask for.

Three ways in, chosen by the keywords given:

- OpenAI (default): ``wss://api.openai.com/v1/realtime?model=…`` with
  ``Authorization: Bearer <key>``. The key is a normal API key or an ephemeral
  client secret (``ek_…``) minted by a server for a browser or device.
- Azure OpenAI (``azure_endpoint="https://<resource>.openai.azure.com"``): the GA
  endpoint ``wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>``
  with an ``api-key`` header, or ``Authorization: Bearer <Entra ID token>`` when
  `azure_ad_token` is given instead of a key. The deprecated preview endpoint
  (``api-version=…&deployment=…``) speaks the retired beta protocol and is not
  supported.
- ``url=`` replaces the whole URL (a proxy, a fake server); ``?model=`` is added
  when the URL has none. Credentials are then sent when there are some and not
  required otherwise.

The retired beta header (``OpenAI-Beta: realtime=v1``) is never sent: the
service now closes such connections.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from .._config import (
    ConnectionOptions,
    HasToolSpec,
    McpServer,
    ProviderConfig,
    check_common,
    tool_specs,
)
from .._tools.providers import check_openai_tool
from .._wire import NOT_GIVEN, NotGiven, deep_merge
from ..errors import ConfigurationError, ProtocolError
from ..events import ToolSpec
from ..history import HistoryItem, as_history
from . import messages as m
from .codec import structure_wire, tool_to_wire
from .codec import to_wire as _to_wire

if TYPE_CHECKING:
    from .protocol import OpenAIProtocol

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TRANSCRIPTION",
    "DEFAULT_TRANSCRIPTION_MODEL",
    "OpenAIRealtime",
    "OpenAITranscription",
]

#: The default realtime model.
DEFAULT_MODEL: Final = "gpt-realtime"
#: Input transcription asked for by default, so that user transcripts arrive.
DEFAULT_TRANSCRIPTION: Final[Mapping[str, Any]] = {"model": "gpt-4o-mini-transcribe"}

_OPENAI_URL: Final = "wss://api.openai.com/v1/realtime"
_KEY_ENV: Final = "OPENAI_API_KEY"
_AZURE_KEY_ENV: Final = "AZURE_OPENAI_API_KEY"


def _is_mcp(tool: Any) -> bool:
    return isinstance(tool, (McpServer, m.McpTool))


def _mcp_wire(tool: Any) -> dict[str, Any]:
    if isinstance(tool, McpServer):
        return tool.to_wire()
    wire: dict[str, Any] = _to_wire(tool)
    return wire


def _check_truncation(_inst: Any, _attr: Any, value: Any) -> None:
    if value is NOT_GIVEN or attrs.has(type(value)) or isinstance(value, Mapping):
        return
    if isinstance(value, str):
        if value not in ("auto", "disabled"):
            raise ConfigurationError(
                "truncation must be 'auto', 'disabled' or a retention ratio between 0 and 1, "
                f"got {value!r}."
            )
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigurationError(
            "truncation must be 'auto', 'disabled' or a retention ratio between 0 and 1, "
            f"got {value!r}."
        )


def _truncation_wire(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"type": "retention_ratio", "retention_ratio": float(value)}
    return _to_wire(value)


@attrs.frozen(kw_only=True)
class OpenAIRealtime(ProviderConfig):
    """Configuration of an OpenAI Realtime (GA) speech-to-speech session.

    Attributes:
        model: realtime model (``"gpt-realtime"``, ``"gpt-realtime-mini"``…); on
            Azure the deployment name is used instead when `deployment` is given.
        api_key: API key or ephemeral ``ek_`` client secret; default from
            ``OPENAI_API_KEY`` (``AZURE_OPENAI_API_KEY`` for Azure), read when
            connecting. Never shown in reprs.
        url: full WebSocket URL overriding the computed one (``?model=`` added
            when it has neither ``model``, ``call_id`` nor ``intent=transcription``).
        voice: output voice (``"marin"``, ``"cedar"``, ``"alloy"``…); server
            default if `None`. It can only change until the first audio is produced.
        instructions: system prompt; server default if `None`.
        tools: function tools (`ToolSpec` or ``@tool`` functions) and remote
            MCP servers (`McpServer`, or a `trio_realtime.openai.messages.McpTool`),
            which OpenAI calls itself.
        turn_detection: `NOT_GIVEN` keeps the service default (server VAD);
            `None` turns detection off (push-to-talk: `CommitAudio` ends a turn);
            or a dict / `ServerVad` / `SemanticVad` such as
            ``{"type": "semantic_vad", "eagerness": "low"}``.
        input_transcription: transcription of the user's speech, so that user
            `Transcript` events arrive. Default: on, with
            ``{"model": "gpt-4o-mini-transcribe"}``; give another dict (such as
            ``{"model": "gpt-4o-transcribe", "language": "en"}``) or an
            `AudioTranscription` to choose, or `None` to turn it off.
            `NOT_GIVEN` sends nothing, leaving the service's own default, which
            is off.
        output_modalities: ``("audio",)`` (speech plus its transcript) or
            ``("text",)``; service default if `NOT_GIVEN`.
        noise_reduction: ``"near_field"``, ``"far_field"``, a dict, or `None` (off).
        speed: speaking speed, 0.25-1.5.
        max_output_tokens: cap per response (1-4096) or ``"inf"``.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a dict naming a function.
        truncation: what the service does when the conversation outgrows the
            model's context: ``"auto"`` (its default: drop the oldest items
            just enough, which changes the cached prefix every time),
            ``"disabled"`` (fail the response instead), or a retention ratio
            between 0 and 1 such as ``0.8``: drop down to that fraction of the
            limit at once, so truncations, and the cache misses they cost, happen
            less often. A `RetentionRatioTruncation` or a dict is sent as is.
        tracing: ``"auto"`` or a dict (``workflow_name``, ``group_id``,
            ``metadata``) records the session in OpenAI's traces dashboard;
            once on, it cannot be changed in the session. Off if `NOT_GIVEN`.
        session_extra: wire fields deep-merged into the ``session`` of the first
            ``session.update`` (for options without a keyword here). They are
            merged last, so a field set here wins over the keyword that sets
            the same field. The service rejects names it does not know.
        organization: sent as ``OpenAI-Organization``.
        project: sent as ``OpenAI-Project``.
        azure_endpoint: an Azure OpenAI resource endpoint
            (``https://<resource>.openai.azure.com``); selects Azure.
        deployment: Azure deployment name (default: `model`).
        azure_ad_token: Microsoft Entra ID access token, sent as a bearer token
            when no API key is given. Never shown in reprs.
        extra_headers: more request headers for the upgrade.
        history: a conversation to continue (a `ConversationHistory`, its
            items, or its `to_data` output), given to the new session before
            anything else; see the continuity docs.
        connection: transport knobs.
        token_provider: a function (plain or async) returning a fresh token,
            called before every connection the session opens (reconnects
            included): a Microsoft Entra ID token for Azure (sent as a bearer
            token instead of any key), or an ephemeral client secret for OpenAI.
            See `trio_realtime.credentials`. A plain function runs in a worker
            thread, costing a thread hop per connection.
    """

    provider = "openai"

    model: str = DEFAULT_MODEL
    api_key: str | None = attrs.field(default=None, repr=False)
    url: str | None = None
    voice: str | None = None
    instructions: str | None = None
    tools: Sequence[ToolSpec | HasToolSpec | McpServer | m.McpTool] = ()
    turn_detection: Any = NOT_GIVEN
    input_transcription: Any = attrs.field(factory=lambda: dict(DEFAULT_TRANSCRIPTION))
    output_modalities: Sequence[str] | NotGiven = NOT_GIVEN
    noise_reduction: Any = NOT_GIVEN
    speed: float | NotGiven = NOT_GIVEN
    max_output_tokens: int | str | NotGiven = NOT_GIVEN
    tool_choice: Any = NOT_GIVEN
    truncation: str | float | Any = attrs.field(default=NOT_GIVEN, validator=_check_truncation)
    tracing: str | Mapping[str, Any] | NotGiven = NOT_GIVEN
    session_extra: Mapping[str, Any] = attrs.field(factory=dict)
    organization: str | None = None
    project: str | None = None
    azure_endpoint: str | None = None
    deployment: str | None = None
    azure_ad_token: str | None = attrs.field(default=None, repr=False)
    extra_headers: Sequence[tuple[str, str]] = ()
    history: Sequence[HistoryItem] = attrs.field(default=(), converter=as_history, repr=False)
    connection: ConnectionOptions = attrs.field(factory=ConnectionOptions)
    token_provider: Callable[[], str | Awaitable[str]] | None = attrs.field(
        default=None, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        check_common(self.model, self._function_tools(), self.url)
        for spec in tool_specs(self._function_tools()):
            check_openai_tool(spec)
        if self.azure_endpoint is not None:
            parts = urlsplit(self.azure_endpoint)
            if parts.scheme not in ("https", "http", "wss", "ws") or not parts.netloc:
                raise ConfigurationError(
                    "azure_endpoint must look like https://<resource>.openai.azure.com, "
                    f"got {self.azure_endpoint!r}."
                )
        if isinstance(self.output_modalities, str):
            raise ConfigurationError(
                "output_modalities must be a list such as ['audio'] or ['text'], "
                f"got the string {self.output_modalities!r}."
            )
        if self.turn_detection is not NOT_GIVEN and self.turn_detection is not None:
            td = _to_wire(self.turn_detection)
            if not isinstance(td, dict) or not isinstance(td.get("type"), str):
                raise ConfigurationError(
                    "turn_detection must be NOT_GIVEN (service default), None (push-to-talk) "
                    "or an object with a 'type' such as {'type': 'server_vad'}, "
                    f"got {self.turn_detection!r}."
                )
        if isinstance(self.tracing, str) and self.tracing != "auto":
            raise ConfigurationError(
                f"tracing must be 'auto' or a dict of workflow_name/group_id/metadata, "
                f"got {self.tracing!r}."
            )
        self._check_session()

    def _check_session(self) -> None:
        try:
            structure_wire(self.session_config(), m.RealtimeSession, what="session configuration")
        except ProtocolError as exc:
            raise ConfigurationError(
                str(exc).replace("The session configuration is malformed", "Bad session options")
            ) from None

    def _function_tools(self) -> list[Any]:
        return [t for t in self.tools if not _is_mcp(t)]

    # ------------------------------------------------------------------ endpoint

    @property
    def is_azure(self) -> bool:
        """Whether this configuration talks to Azure OpenAI."""
        return self.azure_endpoint is not None

    def _key(self) -> str | None:
        if self.api_key:
            return self.api_key
        env = _AZURE_KEY_ENV if self.is_azure else _KEY_ENV
        return os.environ.get(env) or None

    def endpoint_url_hint(self) -> str:
        """The URL that `endpoint` dials, without needing credentials."""
        model = (self.deployment or self.model) if self.is_azure else self.model
        if self.url is not None:
            base = self.url
        elif self.azure_endpoint is not None:
            parts = urlsplit(self.azure_endpoint.rstrip("/"))
            scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
            path = parts.path.rstrip("/")
            if not path.endswith("/openai/v1"):
                path += "/openai/v1"
            base = urlunsplit((scheme, parts.netloc, path + "/realtime", "", ""))
        else:
            base = _OPENAI_URL
        parts = urlsplit(base)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self._url_params(query, model)
        return urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)
        )

    def _url_params(self, query: list[tuple[str, str]], model: str) -> None:
        transcription_only = ("intent", "transcription") in query
        if not transcription_only and not any(k in ("model", "call_id") for k, _ in query):
            query.append(("model", model))

    def endpoint(self) -> tuple[str, list[tuple[str, str]]]:
        """The WebSocket URL and the upgrade headers, credentials included.

        Raises:
            ConfigurationError: no API key (nor Entra token) was given or found in
                the environment, and no `url` override makes it optional.
        """
        headers: list[tuple[str, str]] = []
        key = self._key()
        if self.is_azure:
            if key:
                headers.append(("api-key", key))
            elif self.azure_ad_token:
                headers.append(("Authorization", f"Bearer {self.azure_ad_token}"))
            elif self.url is None:
                raise ConfigurationError(
                    "No Azure OpenAI credentials: pass api_key= or azure_ad_token=, "
                    f"or set the {_AZURE_KEY_ENV} environment variable."
                )
        elif key:
            headers.append(("Authorization", f"Bearer {key}"))
        elif self.url is None:
            raise ConfigurationError(
                "No OpenAI API key: pass api_key= to OpenAIRealtime or set the "
                f"{_KEY_ENV} environment variable."
            )
        if self.organization:
            headers.append(("OpenAI-Organization", self.organization))
        if self.project:
            headers.append(("OpenAI-Project", self.project))
        for name, value in self.extra_headers:
            if name.lower() == "openai-beta":
                raise ConfigurationError(
                    "The OpenAI-Beta header selects the retired beta protocol; remove it."
                )
            headers.append((name, value))
        return self.endpoint_url_hint(), headers

    # ------------------------------------------------------------------ session

    def session_config(self) -> dict[str, Any]:
        """The ``session`` object of the first ``session.update``, as a wire dict."""
        session: dict[str, Any] = {"type": "realtime"}
        if self.instructions is not None:
            session["instructions"] = self.instructions
        if self.output_modalities is not NOT_GIVEN:
            session["output_modalities"] = list(self.output_modalities)
        audio_in: dict[str, Any] = {}
        if self.input_transcription is not NOT_GIVEN:
            audio_in["transcription"] = _to_wire(self.input_transcription)
        if self.turn_detection is not NOT_GIVEN:
            audio_in["turn_detection"] = _to_wire(self.turn_detection)
        if self.noise_reduction is not NOT_GIVEN:
            nr = self.noise_reduction
            audio_in["noise_reduction"] = {"type": nr} if isinstance(nr, str) else _to_wire(nr)
        audio_out: dict[str, Any] = {}
        if self.voice is not None:
            audio_out["voice"] = self.voice
        if self.speed is not NOT_GIVEN:
            audio_out["speed"] = self.speed
        audio: dict[str, Any] = {}
        if audio_in:
            audio["input"] = audio_in
        if audio_out:
            audio["output"] = audio_out
        if audio:
            session["audio"] = audio
        wire_tools = [tool_to_wire(s) for s in tool_specs(self._function_tools())]
        wire_tools += [_mcp_wire(t) for t in self.tools if _is_mcp(t)]
        if wire_tools:
            session["tools"] = wire_tools
        if self.tool_choice is not NOT_GIVEN:
            session["tool_choice"] = _to_wire(self.tool_choice)
        if self.max_output_tokens is not NOT_GIVEN:
            session["max_output_tokens"] = self.max_output_tokens
        if self.truncation is not NOT_GIVEN:
            session["truncation"] = _truncation_wire(self.truncation)
        if self.tracing is not NOT_GIVEN:
            session["tracing"] = _to_wire(self.tracing)
        return deep_merge(session, self.session_extra)

    def new_protocol(
        self,
        *,
        resumption_handle: str | None = None,
        history: Sequence[HistoryItem] | None = None,
    ) -> OpenAIProtocol:
        """A fresh `OpenAIProtocol` for this configuration.

        OpenAI Realtime has no session resumption, so `resumption_handle` is
        ignored; `history` (default: the configuration's) is replayed as items.
        """
        from .protocol import OpenAIProtocol

        return OpenAIProtocol(
            self.session_config(), history=self.history if history is None else history
        )


#: The transcription model `OpenAITranscription` uses by default.
DEFAULT_TRANSCRIPTION_MODEL: Final = "gpt-4o-mini-transcribe"

_REALTIME_ONLY = (
    "voice",
    "instructions",
    "tools",
    "output_modalities",
    "speed",
    "max_output_tokens",
    "tool_choice",
    "truncation",
    "tracing",
    "history",
)


@attrs.frozen(kw_only=True)
class OpenAITranscription(OpenAIRealtime):
    """Configuration of an OpenAI transcription-only session (``type: "transcription"``).

    Input audio in, `Transcript` events (role ``"user"``) out: the service
    runs a transcription model on each committed turn and never responds.
    The connection asks for ``?intent=transcription``; commands that need a
    conversation (`send_text`, `respond`, tool results, instructions, voice,
    tools) raise `ProtocolError`. The other keywords (`api_key`, `url`,
    `token_provider`, `noise_reduction`, `session_extra`, `organization`,
    `project`, `azure_endpoint`, `deployment`, `azure_ad_token`,
    `extra_headers`, `connection`) are as in `OpenAIRealtime`; its
    conversation keywords (`voice`, `instructions`, `tools`,
    `output_modalities`, `speed`, `max_output_tokens`, `tool_choice`,
    `truncation`, `tracing`, `history`, `input_transcription`) are refused
    here with a `ConfigurationError`.

    Attributes:
        model: the transcription model (``"gpt-4o-mini-transcribe"``,
            ``"gpt-4o-transcribe"``, ``"whisper-1"``…).
        language: ISO-639-1 code of the speech (``"en"``); improves accuracy
            and latency. Detected if `None`.
        prompt: text to guide the transcription (vocabulary, spelling, style).
        include_logprobs: ask for the log probabilities of each transcript
            (``include: ["item.input_audio_transcription.logprobs"]``), at the
            cost of larger events; they stay in each event's ``raw``.
        turn_detection: `NOT_GIVEN` keeps the service default (server VAD);
            `None` for push-to-talk (`commit_audio()` ends each segment);
            models without VAD support (``gpt-realtime-whisper``) need `None`.
    """

    model: str = DEFAULT_TRANSCRIPTION_MODEL
    language: str | None = None
    prompt: str | None = None
    include_logprobs: bool = False
    input_transcription: Any = NOT_GIVEN

    def __attrs_post_init__(self) -> None:
        fields = attrs.fields_dict(OpenAIRealtime)
        for name in _REALTIME_ONLY:
            value = getattr(self, name)
            default: Any = fields[name].default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if value != default and not (name == "history" and not value):
                raise ConfigurationError(
                    f"{name} is for conversations; a transcription-only session cannot take it "
                    f"(got {name}={value!r})."
                )
        if self.input_transcription is not NOT_GIVEN:
            raise ConfigurationError(
                "OpenAITranscription takes model=, language= and prompt= for its "
                f"transcription, not input_transcription={self.input_transcription!r}."
            )
        super().__attrs_post_init__()

    def _check_session(self) -> None:
        try:
            structure_wire(
                self.session_config(), m.TranscriptionSession, what="session configuration"
            )
        except ProtocolError as exc:
            raise ConfigurationError(
                str(exc).replace("The session configuration is malformed", "Bad session options")
            ) from None

    def _url_params(self, query: list[tuple[str, str]], model: str) -> None:
        if not any(k in ("intent", "call_id") for k, _ in query):
            query.append(("intent", "transcription"))

    def session_config(self) -> dict[str, Any]:
        """The ``session`` of the first ``session.update`` (``type: "transcription"``)."""
        transcription: dict[str, Any] = {"model": self.model}
        if self.language is not None:
            transcription["language"] = self.language
        if self.prompt is not None:
            transcription["prompt"] = self.prompt
        audio_in: dict[str, Any] = {"transcription": transcription}
        if self.turn_detection is not NOT_GIVEN:
            audio_in["turn_detection"] = _to_wire(self.turn_detection)
        if self.noise_reduction is not NOT_GIVEN:
            nr = self.noise_reduction
            audio_in["noise_reduction"] = {"type": nr} if isinstance(nr, str) else _to_wire(nr)
        session: dict[str, Any] = {"type": "transcription", "audio": {"input": audio_in}}
        if self.include_logprobs:
            session["include"] = ["item.input_audio_transcription.logprobs"]
        return deep_merge(session, self.session_extra)

    def new_protocol(
        self,
        *,
        resumption_handle: str | None = None,
        history: Sequence[HistoryItem] | None = None,
    ) -> OpenAIProtocol:
        """A fresh `OpenAIProtocol` for a transcription session (no history to replay)."""
        from .protocol import OpenAIProtocol

        return OpenAIProtocol(self.session_config())
