"""`GeminiLive`: where and how to connect to the Gemini Live API, and the setup to send.

Three ways in, chosen by the keywords given:

- Gemini API with an API key (default): ``wss://generativelanguage.googleapis.com
  /ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent``,
  the key in the ``x-goog-api-key`` header (``key_in_url=True`` puts it in
  ``?key=`` instead).
- Gemini API with an ephemeral token (``access_token="auth_tokens/…"``):
  ``BidiGenerateContentConstrained`` on ``v1alpha``, the token in an
  ``Authorization: Token …`` header (or ``?access_token=`` with ``key_in_url``).
- Vertex AI (``vertex_project=…``, or ``vertex=True`` with an API key for
  express mode): the regional ``aiplatform`` host,
  ``google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent``, an
  OAuth bearer token (``access_token``), and the full model resource name.

``url=`` replaces the whole URL (a proxy, a fake server); credentials are
then sent when there are some and not required otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal
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
from .._config import (
    check_headers as _headers,
)
from .._config import (
    check_number as _number,
)
from .._wire import NOT_GIVEN
from ..errors import ConfigurationError, ProtocolError
from ..events import ToolSpec
from ..history import HistoryItem, as_history
from . import messages as m
from .codec import merge_setup, with_resumption_handle

if TYPE_CHECKING:
    from .protocol import GeminiProtocol

__all__ = ["DEFAULT_MODEL", "GeminiLive"]

logger = logging.getLogger("trio_realtime.gemini")

#: The recommended Live model on the Gemini API (late 2026).
DEFAULT_MODEL: Final = "gemini-3.8-live"

_GEMINI_HOST: Final = "generativelanguage.googleapis.com"
_KEY_ENV: Final = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


def _check_text_input(_inst: Any, _attr: Any, value: str) -> None:
    if value not in ("client_content", "realtime"):
        raise ConfigurationError(
            f"text_input must be 'client_content' or 'realtime', got {value!r}."
        )


def _modalities(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"response_modalities must be a non-empty list of strings such as ['AUDIO'], got {value!r}."
        )
    return tuple(value)


_MEDIA_RESOLUTIONS: Final = {"low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
_THINKING_LEVELS: Final = ("MINIMAL", "LOW", "MEDIUM", "HIGH")


def _check_thinking_level(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is not None and value not in _THINKING_LEVELS:
        raise ConfigurationError(
            f"thinking_level must be 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH' or None, got {value!r}."
        )


def _optional_bool(_inst: Any, attr: Any, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{attr.name} must be True, False or None, got {value!r}.")


def _check_media_resolution(_inst: Any, _attr: Any, value: str | None) -> None:
    if value is not None and value not in _MEDIA_RESOLUTIONS:
        raise ConfigurationError(
            f"media_resolution must be 'low', 'medium', 'high' or None, got {value!r}."
        )


def _languages(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"{name} must be a list of BCP-47 language codes such as ['en-US'], got {value!r}."
        )
    for code in value:
        if not isinstance(code, str) or not code.strip():
            raise ConfigurationError(
                f"{name} must hold BCP-47 language codes such as 'en-US', got {code!r}."
            )
    return tuple(value)


def _input_languages(value: Any) -> tuple[str, ...]:
    return _languages("input_transcription_languages", value)


def _output_languages(value: Any) -> tuple[str, ...]:
    return _languages("output_transcription_languages", value)


def _tools(value: Any) -> tuple[ToolSpec | HasToolSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(f"tools must be a list of tools, got {type(value).__name__}.")
    for entry in value:
        if isinstance(entry, McpServer):
            raise ConfigurationError(
                f"MCP server {entry.server_label!r}: remote MCP tools are an OpenAI Realtime "
                "feature; Gemini Live takes function tools (and google_search) only."
            )
    return tuple(value)


@attrs.frozen(kw_only=True)
class GeminiLive(ProviderConfig):
    """Configuration of a Gemini Live session.

    Attributes:
        model: model id (``"gemini-3.8-live"``), or a full name (``"models/…"``,
            ``"projects/…"``) used as is.
        api_key: Gemini API key; default from ``GOOGLE_API_KEY``, then
            ``GEMINI_API_KEY``, read when connecting. Never shown in reprs.
        url: full WebSocket URL overriding the computed one.
        voice: prebuilt voice name (``"Puck"``, ``"Kore"``…); server default if `None`.
        instructions: system instruction text.
        tools: function tools (`ToolSpec` or ``@tool`` functions), declared with
            their JSON schema as ``parametersJsonSchema``.
        language: BCP-47 speech language (``"en-US"``).
        response_modalities: ``("AUDIO",)`` (native-audio models support nothing else)
            or ``("TEXT",)``.
        input_transcription: transcribe the user's speech.
        output_transcription: transcribe the model's speech.
        automatic_activity_detection: the server's voice activity detection; when
            off, mark user turns with `StartActivity`/`EndActivity` (or `CommitAudio`).
        start_of_speech_sensitivity: ``"START_SENSITIVITY_HIGH"``/``"…_LOW"``.
        end_of_speech_sensitivity: ``"END_SENSITIVITY_HIGH"``/``"…_LOW"``.
        prefix_padding_ms: speech needed before a start is committed.
        silence_duration_ms: silence needed before an end is committed (latency).
        activity_handling: ``"START_OF_ACTIVITY_INTERRUPTS"`` (server default) or
            ``"NO_INTERRUPTION"``.
        turn_coverage: which input belongs to a user turn (``"TURN_INCLUDES_…"``).
        session_resumption: ask for resumption handles so a dropped or expiring
            connection can carry on.
        context_window_compression: sliding-window compression so sessions are
            not capped by the context size.
        compression_trigger_tokens: context size that triggers compression
            (server default: 80 % of the window).
        compression_target_tokens: size to compress down to (server default: half).
        temperature: sampling temperature, 0-2: higher is more varied, lower
            more predictable. Service default if `None`.
        max_output_tokens: cap per response (at least 1); a reply that reaches
            it is cut off.
        thinking_budget: thinking tokens per turn (2.5 native-audio models
            only; ``0`` turns thinking off, ``-1`` lets the model decide). Thinking
            adds latency before the reply and counts as output tokens.
        thinking_level: ``"MINIMAL"``, ``"LOW"``, ``"MEDIUM"`` or ``"HIGH"``
            (3.1 models only; higher is slower to answer). 3.8 Live takes no
            thinking configuration.
        proactive_audio: let the model stay silent on input not meant for it
            (2.5 native-audio models; always on in 3.8, where `False` is an
            error; not on 3.1). Selects the ``v1alpha`` API version.
        affective_dialog: let the model adapt its tone to the user's
            expression (2.5 native-audio models only; removed in 3.8). Selects
            the ``v1alpha`` API version.
        google_search: add the built-in Google Search tool.
        top_p: nucleus sampling, 0-1: only the most likely tokens whose
            probabilities add up to `top_p` are considered. Lower is more
            predictable, less varied. Service default if `None`.
        top_k: sample among the `top_k` most likely tokens (at least 1; 1 is
            greedy). Service default if `None`.
        candidate_count: replies generated per turn (at least 1). A Live
            session plays one; more only cost tokens. Service default if `None`.
        presence_penalty: -2 to 2: positive values discourage tokens already
            used at all (more new topics). Service default (0) if `None`.
        frequency_penalty: -2 to 2: positive values discourage tokens in
            proportion to how often they were used (less repetition).
        seed: a fixed sampling seed, for more repeatable replies.
        media_resolution: ``"low"``, ``"medium"`` or ``"high"``: tokens spent
            per image or video frame (about 64 for low, 256 for medium); lower
            is cheaper and leaves more context, higher reads finer detail.
        include_thoughts: ask thinking models to send their thought summaries;
            they arrive as ``TextOut(thought=True)`` and count as output tokens.
        input_transcription_languages: BCP-47 codes (``["en-US", "fr-FR"]``)
            hinting which languages the user speaks; automatic detection if
            empty. Needs `input_transcription`. Model support varies.
        output_transcription_languages: the same hint for the model's speech.
        tool_choice: which function tools the model may call: ``"auto"`` (all
            of them, the default), ``"none"`` (none: no function is declared,
            so the model cannot call one), or a list of tool names (only those
            are declared). The Live setup has no function-calling mode of its
            own, so the choice is made by what is declared; changing it takes
            ``session.update`` (a reconnect).
        extra_headers: more request headers for the WebSocket upgrade (a proxy's
            own headers, say). They are sent as given, after the credentials,
            and never shown in reprs.
        text_input: how `SendText` travels: ``"client_content"`` (an ordered user
            turn, works on every model) or ``"realtime"`` (``realtimeInput.text``,
            the recommended path on 3.x; used only when a reply is wanted).
        api_version: API version in the path; default ``v1beta`` (API key),
            ``v1alpha`` (ephemeral token, or when `affective_dialog` or
            `proactive_audio` is set: those need it on the Gemini API; the
            choice is logged at DEBUG), ``v1beta1`` (Vertex). Set it to
            override the automatic choice.
        key_in_url: send the key or token as a URL query parameter instead of a header.
        access_token: an ephemeral token (``auth_tokens/…``) for the Gemini API,
            or an OAuth access token for Vertex AI. Never shown in reprs.
        vertex: use Vertex AI (implied by `vertex_project`); with only an API
            key this is Vertex express mode.
        vertex_project: Google Cloud project for Vertex AI.
        vertex_location: Vertex AI region (``"us-central1"``, ``"global"``, ``"us"``, ``"eu"``).
        setup_extra: wire fields (camelCase) merged into the ``setup`` message,
            for options this class has no keyword for. They are merged last,
            so a field set here wins over the keyword that sets the same field
            (``{"generationConfig": {"topP": 0.5}}`` beats ``top_p=0.9``). The
            server closes the session on names it does not know.
        history: a conversation to continue (a `ConversationHistory`, its
            items, or its `to_data` output), given to the new session before
            anything else; see the continuity docs.
        connection: transport knobs. The default waits up to 60 s for a pong
            (pinging every 30 s): the service has been seen taking 8-30 s to
            answer pings, so the usual 20 s would drop healthy connections.
        token_provider: a function (plain or async) returning a fresh access
            token, called before every connection the session opens (reconnects
            included): Vertex AI OAuth tokens expire after an hour. Takes the
            place of `access_token`; see `trio_realtime.credentials`. A plain
            function runs in a worker thread, costing a thread hop per connection.
    """

    provider = "gemini"

    model: str = DEFAULT_MODEL
    api_key: str | None = attrs.field(default=None, repr=False)
    url: str | None = None
    voice: str | None = None
    instructions: str | None = None
    tools: Sequence[ToolSpec | HasToolSpec] = attrs.field(default=(), converter=_tools)
    language: str | None = None
    response_modalities: Sequence[str] = attrs.field(default=("AUDIO",), converter=_modalities)
    input_transcription: bool = True
    output_transcription: bool = True
    automatic_activity_detection: bool = True
    start_of_speech_sensitivity: str | None = None
    end_of_speech_sensitivity: str | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    activity_handling: str | None = None
    turn_coverage: str | None = None
    session_resumption: bool = True
    context_window_compression: bool = True
    compression_trigger_tokens: int | None = None
    compression_target_tokens: int | None = None
    temperature: float | None = attrs.field(
        default=None, validator=_number("temperature", 0.0, 2.0)
    )
    max_output_tokens: int | None = attrs.field(
        default=None, validator=_number("max_output_tokens", 1, None, integer=True)
    )
    thinking_budget: int | None = attrs.field(
        default=None, validator=_number("thinking_budget", -1, None, integer=True)
    )
    thinking_level: str | None = attrs.field(default=None, validator=_check_thinking_level)
    proactive_audio: bool | None = attrs.field(default=None, validator=_optional_bool)
    affective_dialog: bool | None = attrs.field(default=None, validator=_optional_bool)
    google_search: bool = False
    top_p: float | None = attrs.field(default=None, validator=_number("top_p", 0.0, 1.0))
    top_k: int | None = attrs.field(default=None, validator=_number("top_k", 1, None, integer=True))
    candidate_count: int | None = attrs.field(
        default=None, validator=_number("candidate_count", 1, None, integer=True)
    )
    presence_penalty: float | None = attrs.field(
        default=None, validator=_number("presence_penalty", -2.0, 2.0)
    )
    frequency_penalty: float | None = attrs.field(
        default=None, validator=_number("frequency_penalty", -2.0, 2.0)
    )
    seed: int | None = attrs.field(
        default=None, validator=_number("seed", None, None, integer=True)
    )
    media_resolution: Literal["low", "medium", "high"] | None = attrs.field(
        default=None, validator=_check_media_resolution
    )
    include_thoughts: bool | None = attrs.field(default=None, validator=_optional_bool)
    input_transcription_languages: Sequence[str] = attrs.field(
        default=(), converter=_input_languages
    )
    output_transcription_languages: Sequence[str] = attrs.field(
        default=(), converter=_output_languages
    )
    tool_choice: str | Sequence[str] = "auto"
    extra_headers: Sequence[tuple[str, str]] = attrs.field(
        default=(), converter=_headers, repr=False
    )
    text_input: Literal["client_content", "realtime"] = attrs.field(
        default="client_content", validator=_check_text_input
    )
    api_version: str | None = None
    key_in_url: bool = False
    access_token: str | None = attrs.field(default=None, repr=False)
    vertex: bool = False
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    setup_extra: Mapping[str, Any] = attrs.field(factory=dict)
    history: Sequence[HistoryItem] = attrs.field(default=(), converter=as_history, repr=False)
    connection: ConnectionOptions = attrs.field(factory=lambda: _default_connection())
    token_provider: Callable[[], str | Awaitable[str]] | None = attrs.field(
        default=None, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        check_common(self.model, self.tools, self.url)
        if self.input_transcription_languages and not self.input_transcription:
            raise ConfigurationError(
                "input_transcription_languages needs input_transcription=True, got "
                f"{list(self.input_transcription_languages)!r} with transcription off."
            )
        if self.output_transcription_languages and not self.output_transcription:
            raise ConfigurationError(
                "output_transcription_languages needs output_transcription=True, got "
                f"{list(self.output_transcription_languages)!r} with transcription off."
            )
        self._declared_specs()  # validates tool_choice

    def _declared_specs(self) -> list[ToolSpec]:
        """The function tools the setup declares, as `tool_choice` selects them.

        Raises:
            ConfigurationError: `tool_choice` is not ``"auto"``, ``"none"`` or a
                list of declared tool names.
        """
        specs = tool_specs(self.tools)
        choice = self.tool_choice
        if choice == "auto":
            return specs
        if choice == "none":
            return []
        if isinstance(choice, str) or not isinstance(choice, Sequence):
            raise ConfigurationError(
                f"tool_choice must be 'auto', 'none' or a list of tool names, got {choice!r}."
            )
        names = {s.name for s in specs}
        for name in choice:
            if name not in names:
                known = ", ".join(repr(n) for n in sorted(names)) or "none"
                raise ConfigurationError(
                    f"tool_choice names {name!r}, which is not a declared tool (tools: {known})."
                )
        return [s for s in specs if s.name in set(choice)]

    def effective_api_version(self) -> str:
        """The API version the URL uses (see `api_version`)."""
        if self.api_version:
            return self.api_version
        if self.is_vertex:
            return "v1beta1"
        if self.access_token:
            return "v1alpha"
        if self.affective_dialog is not None or self.proactive_audio is not None:
            logger.debug(
                "Gemini API version v1alpha: affective_dialog/proactive_audio need it "
                "(set api_version to choose another)"
            )
            return "v1alpha"
        return "v1beta"

    # ------------------------------------------------------------------ endpoint

    @property
    def is_vertex(self) -> bool:
        """Whether this configuration talks to Vertex AI."""
        return self.vertex or self.vertex_project is not None

    def _api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        for name in _KEY_ENV:
            value = os.environ.get(name)
            if value:
                return value
        return None

    def model_name(self) -> str:
        """The model as the ``setup`` message names it."""
        model = self.model
        if self.is_vertex:
            if model.startswith(("projects/", "publishers/")):
                return model
            if self.vertex_project is None:  # express mode
                return f"publishers/google/models/{model}"
            return (
                f"projects/{self.vertex_project}/locations/{self.vertex_location}"
                f"/publishers/google/models/{model}"
            )
        if model.startswith(("models/", "tunedModels/")):
            return model
        return f"models/{model}"

    def _default_url(self, *, ephemeral: bool) -> str:
        if self.is_vertex:
            version = self.effective_api_version()
            loc = self.vertex_location
            if loc == "global" or self.vertex_project is None:
                host = "aiplatform.googleapis.com"
            elif loc in ("us", "eu"):
                host = f"aiplatform.{loc}.rep.googleapis.com"
            else:
                host = f"{loc}-aiplatform.googleapis.com"
            return (
                f"wss://{host}/ws/google.cloud.aiplatform.{version}"
                ".LlmBidiService/BidiGenerateContent"
            )
        version = self.effective_api_version()
        method = "BidiGenerateContentConstrained" if ephemeral else "BidiGenerateContent"
        return (
            f"wss://{_GEMINI_HOST}/ws/google.ai.generativelanguage.{version}"
            f".GenerativeService.{method}"
        )

    def endpoint(self) -> tuple[str, list[tuple[str, str]]]:
        """The WebSocket URL and headers, with credentials.

        Raises:
            ConfigurationError: no API key or token is available (and no `url`
                override, which may point at a server that needs none).
        """
        token = self.access_token
        key = None if token else self._api_key()
        url = self.url or self._default_url(ephemeral=token is not None)
        headers: list[tuple[str, str]] = []
        query: list[tuple[str, str]] = []
        if token:
            if self.key_in_url:
                query.append(("access_token", token))
            elif self.is_vertex:
                headers.append(("Authorization", f"Bearer {token}"))
            else:
                headers.append(("Authorization", f"Token {token}"))
        elif key:
            if self.key_in_url:
                query.append(("key", key))
            else:
                headers.append(("x-goog-api-key", key))
        elif self.url is None:
            if self.is_vertex and self.vertex_project is not None:
                raise ConfigurationError(
                    "Vertex AI needs an OAuth access token: pass access_token= to GeminiLive "
                    "(for example the output of `gcloud auth print-access-token`)."
                )
            raise ConfigurationError(
                "No Gemini API key: pass api_key= to GeminiLive or set the "
                "GOOGLE_API_KEY or GEMINI_API_KEY environment variable."
            )
        headers.extend(self.extra_headers)
        if query:
            parts = urlsplit(url)
            pairs = parse_qsl(parts.query, keep_blank_values=True) + query
            url = urlunsplit(parts._replace(query=urlencode(pairs)))
        return url, headers

    def new_protocol(
        self,
        *,
        resumption_handle: str | None = None,
        history: Sequence[HistoryItem] | None = None,
    ) -> GeminiProtocol:
        """A fresh `GeminiProtocol`; `resumption_handle` goes into its ``setup``.

        Without a handle, `history` (default: the configuration's) is sent as
        the initial history (``historyConfig.initialHistoryInClientContent``).

        Raises:
            ConfigurationError: `setup_extra` does not make a valid setup.
        """
        from .protocol import GeminiProtocol

        return GeminiProtocol(
            self._setup(),
            text_input=self.text_input,
            resumption_handle=resumption_handle,
            history=self.history if history is None else history,
        )

    # ------------------------------------------------------------------ setup

    def setup_message(self, resumption_handle: str | None = None) -> m.ClientMessage:
        """The ``setup`` message this configuration opens a session with.

        Raises:
            ConfigurationError: `setup_extra` does not make a valid setup.
        """
        setup = self._setup()
        if resumption_handle:
            setup = with_resumption_handle(setup, resumption_handle)
        return m.ClientMessage(setup=setup)

    def _setup(self) -> m.Setup:
        gen = m.GenerationConfig(
            response_modalities=list(self.response_modalities),
            temperature=_given(self.temperature),
            top_p=_given(self.top_p),
            top_k=_given(self.top_k),
            max_output_tokens=_given(self.max_output_tokens),
            candidate_count=_given(self.candidate_count),
            presence_penalty=_given(self.presence_penalty),
            frequency_penalty=_given(self.frequency_penalty),
            seed=_given(self.seed),
            media_resolution=(
                f"MEDIA_RESOLUTION_{_MEDIA_RESOLUTIONS[self.media_resolution]}"
                if self.media_resolution is not None
                else NOT_GIVEN
            ),
            speech_config=(
                m.SpeechConfig(
                    voice_config=(
                        m.VoiceConfig(
                            prebuilt_voice_config=m.PrebuiltVoiceConfig(voice_name=self.voice)
                        )
                        if self.voice
                        else NOT_GIVEN
                    ),
                    language_code=_given(self.language),
                )
                if self.voice or self.language
                else NOT_GIVEN
            ),
            thinking_config=(
                m.ThinkingConfig(
                    thinking_budget=_given(self.thinking_budget),
                    thinking_level=_given(self.thinking_level),
                    include_thoughts=_given(self.include_thoughts),
                )
                if self.thinking_budget is not None
                or self.thinking_level is not None
                or self.include_thoughts is not None
                else NOT_GIVEN
            ),
            enable_affective_dialog=_given(self.affective_dialog),
        )
        tools: list[m.Tool] = []
        specs = self._declared_specs()
        if specs:
            tools.append(
                m.Tool(
                    function_declarations=[
                        m.FunctionDeclaration(
                            name=s.name,
                            description=s.description or NOT_GIVEN,
                            parameters_json_schema=dict(s.parameters),
                            behavior=(
                                NOT_GIVEN
                                if s.non_blocking is None
                                else "NON_BLOCKING"
                                if s.non_blocking
                                else "BLOCKING"
                            ),
                        )
                        for s in specs
                    ]
                )
            )
        if self.google_search:
            tools.append(m.Tool(google_search={}))
        aad: m.AutomaticActivityDetection | None = None
        if not self.automatic_activity_detection:
            aad = m.AutomaticActivityDetection(disabled=True)
        elif any(
            v is not None
            for v in (
                self.start_of_speech_sensitivity,
                self.end_of_speech_sensitivity,
                self.prefix_padding_ms,
                self.silence_duration_ms,
            )
        ):
            aad = m.AutomaticActivityDetection(
                start_of_speech_sensitivity=_given(self.start_of_speech_sensitivity),
                end_of_speech_sensitivity=_given(self.end_of_speech_sensitivity),
                prefix_padding_ms=_given(self.prefix_padding_ms),
                silence_duration_ms=_given(self.silence_duration_ms),
            )
        ric = (
            m.RealtimeInputConfig(
                automatic_activity_detection=aad if aad is not None else NOT_GIVEN,
                activity_handling=_given(self.activity_handling),
                turn_coverage=_given(self.turn_coverage),
            )
            if aad is not None or self.activity_handling or self.turn_coverage
            else NOT_GIVEN
        )
        resumption: m.SessionResumptionConfig | Any = NOT_GIVEN
        if self.session_resumption:
            resumption = m.SessionResumptionConfig()
        compression: m.ContextWindowCompressionConfig | Any = NOT_GIVEN
        if self.context_window_compression:
            compression = m.ContextWindowCompressionConfig(
                trigger_tokens=_given(self.compression_trigger_tokens),
                sliding_window=m.SlidingWindow(
                    target_tokens=_given(self.compression_target_tokens)
                ),
            )
        setup = m.Setup(
            model=self.model_name(),
            generation_config=gen,
            system_instruction=(
                m.Content(parts=[m.Part(text=self.instructions)])
                if self.instructions
                else NOT_GIVEN
            ),
            tools=tools or NOT_GIVEN,
            realtime_input_config=ric,
            session_resumption=resumption,
            context_window_compression=compression,
            input_audio_transcription=(
                m.AudioTranscriptionConfig(
                    language_codes=list(self.input_transcription_languages) or NOT_GIVEN
                )
                if self.input_transcription
                else NOT_GIVEN
            ),
            output_audio_transcription=(
                m.AudioTranscriptionConfig(
                    language_codes=list(self.output_transcription_languages) or NOT_GIVEN
                )
                if self.output_transcription
                else NOT_GIVEN
            ),
            proactivity=(
                m.ProactivityConfig(proactive_audio=self.proactive_audio)
                if self.proactive_audio is not None
                else NOT_GIVEN
            ),
        )
        if self.setup_extra:
            try:
                setup = merge_setup(setup, self.setup_extra)
            except ProtocolError as exc:
                raise ConfigurationError(str(exc)) from None
        return setup


def _default_connection() -> ConnectionOptions:
    return ConnectionOptions(ping_interval=30.0, ping_timeout=60.0)


def _given(value: Any) -> Any:
    return NOT_GIVEN if value is None else value
