"""The fake Gemini Live service (``BidiGenerateContent``), as a provider handler.

`FakeGemini` plugs into the fake-server shell (`trio_realtime.testing.server`)
under the provider name ``"gemini"`` and behaves like the real service, as the
protocol digest describes it, closely enough that the official ``google-genai``
client cannot tell the difference in ordinary use:

* **Handshake and setup.** The upgrade always completes. The first message must
  be ``setup``; it is answered with ``{"setupComplete": {}}``. Credentials
  (``x-goog-api-key`` header, ``?key=``, ``?access_token=`` or an
  ``Authorization`` header) are checked when the first message arrives; a
  missing or unknown key, anything but ``setup`` first, an unknown field
  anywhere, a malformed value or an unknown model close the socket with the
  service's codes and reason texts (1007, 1008), cut to 123 bytes. Names are
  accepted in camelCase and snake_case; every server message is camelCase JSON
  in a **binary** frame (text frames on request).
* **Turns.** Realtime audio (16-bit PCM, ``audio/pcm;rate=16000``; other rates
  are resampled) goes through an energy VAD (automatic activity detection, or
  ``activityStart``/``activityEnd`` when it is disabled; ``audioStreamEnd``
  flushes). What the server "heard" is the transcript hidden in
  `voice.user_utterance` audio, or what the `Scenario` says. Text turns come
  from ``realtimeInput.text`` and from ``clientContent`` with
  ``turnComplete``. Each turn is answered as the scenario says: model audio at
  24 kHz in ``serverContent.modelTurn`` chunks of `chunk_ms`, each carrying a
  sequence stamp (`voice.read_stamp`; numbers continue across the session),
  paced at ``speed`` times real time, ``outputTranscription`` fragments next to
  the audio, ``generationComplete``, then ``turnComplete`` with
  ``usageMetadata`` once the audio would have finished playing. While the
  user speaks (``inputAudioTranscription`` on), cumulative
  ``interimInputTranscription`` partials come every half second of speech;
  the final ``inputTranscription`` follows the end of the utterance.
* **Barge-in.** User speech (or text) while the model speaks stops the reply:
  ``interrupted: true`` then ``turnComplete``, and no more audio of that turn;
  pending tool calls get a ``toolCallCancellation``.
* **Tools.** A user turn that names a declared function (or a scripted
  `PlannedToolCall`) yields ``toolCall.functionCalls`` with ids
  ``function-call-<n>``; the model goes on speaking once a ``toolResponse``
  answers every id. Functions declared ``behavior: NON_BLOCKING`` do not hold
  the turn: it ends after the ``toolCall``, and each result is folded in as its
  ``scheduling`` says (``INTERRUPT``: stop the current output and answer now;
  ``WHEN_IDLE``, the default: answer after the current output; ``SILENT``:
  context only, a ``("tool", ...)`` history entry); ``willContinue: true``
  keeps the call open for more results.
* **Session resumption.** With ``sessionResumption`` in the setup, a
  ``sessionResumptionUpdate`` with a new handle follows the setup and every
  turn, and ``{"resumable": false}`` (no handle) goes out when the model
  starts generating or calls tools. A later connection whose setup carries a
  handle continues that conversation as it was when the handle was issued
  (history and turn count roll back to it; usage and audio sequence numbers
  go on). Unknown handles close with 1008 ``BidiGenerateContent session not
  found``; resuming while an earlier connection of the session is still open
  closes the new one with 1011, as the service does (close first, then
  resume).
* **Connection lifetime.** ``goAway`` with ``timeLeft`` `go_away_notice`
  seconds before `connection_lifetime`, then a 1008 close if the client has
  not closed by the deadline. Both are service seconds, scaled by ``speed``
  when it is finite.

Everything each connection received and sent is kept in `FakeGemini.connections`
(`GeminiConnectionRecord`) for assertions. Faults can be injected at the
moments ``before_setup``, ``after_setup``, ``user_speech``, ``mid_audio``,
``mid_tool_call`` and ``response_done`` (`trio_realtime.testing.faults`).

Usage::

    fake = FakeGemini(api_keys=["test-key"], connection_lifetime=60, go_away_notice=5)
    async with open_fake_server(handlers={"gemini": fake}, speed=math.inf) as server:
        url = server.gemini_url() + "?key=test-key"   # ws://127.0.0.1:PORT/ws/...
        ...
        assert fake.connections[0].session.history[0] == ("user", "Hello")

The official client needs TLS (``open_fake_server(tls=True)``) and trusts the
throwaway CA through ``SSL_CERT_FILE=server.ca_path``::

    genai.Client(api_key="test-key", http_options={"base_url": server.http_url})
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import math
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, NoReturn

import attrs
import numpy as np
import numpy.typing as npt
import trio
from trio_websocket import ConnectionClosed

from .. import _wire
from .._wire import NOT_GIVEN
from ..audio import AudioFrame, Resampler
from ..errors import ConfigurationError, ProtocolError
from ..events import ToolSpec
from ..gemini import codec
from ..gemini import messages as m
from .faults import (
    AFTER_SETUP,
    BEFORE_SETUP,
    MID_AUDIO,
    MID_TOOL_CALL,
    RESPONSE_DONE,
    USER_SPEECH,
    truncate_reason,
)
from .scenario import PlannedToolCall, Reply, Scenario, ScenarioRun, ToolResult
from .server import FakeConnection, Pacer, pause
from .vad import EnergyVAD, SpeechStart, SpeechStop
from .voice import STAMP_SAMPLES, heard_in, read_transcript, stamp, synthesize

__all__ = [
    "DEFAULT_MODELS",
    "create_handler",
    "FakeGemini",
    "GeminiConnectionRecord",
    "GeminiSessionState",
    "REASONS",
]

log = logging.getLogger(__name__)

#: Live models the fake accepts by default (Gemini API ids, without ``models/``).
DEFAULT_MODELS: Final = frozenset(
    {
        "gemini-3.8-live",
        "gemini-3.1-flash-live-preview",
        "gemini-2.5-flash-native-audio-preview-12-2025",
        "gemini-2.5-flash-native-audio-preview-09-2025",
        "gemini-2.5-flash-native-audio-latest",
        "gemini-live-2.5-flash-preview",
        "gemini-live-2.5-flash-native-audio",
        "gemini-live-2.5-flash-preview-native-audio-09-2025",
        "gemini-2.0-flash-live-001",
        "gemini-2.0-flash-exp",
    }
)

#: Close reasons of the real service (before the 123-byte cut).
REASONS: Final = {
    "invalid_argument": "Request contains an invalid argument.",
    "precondition": "Precondition check failed.",
    "bad_key": "API key not valid. Please pass a valid API key.",
    "no_credentials": (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    ),
    "session_not_found": "BidiGenerateContent session not found",
    "go_away": (
        "Connection aborted because the client failed to close the connection after "
        "receiving a GoAway signal once the session duration limit was reached."
    ),
    "internal": "Internal error occurred.",
    "expired_key": "API key expired. Please renew the API key.",
    "location": "User location is not supported for the API use.",
    "not_implemented": "Operation is not implemented, or supported, or enabled.",
    "entity_not_found": "Requested entity was not found.",
    "deadline": "Deadline expired before operation could complete.",
    "unavailable": "The service is currently unavailable.",
    "exhausted": "RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
}


_INPUT_RATE: Final = 16000
_OUTPUT_RATE: Final = 24000
_OUTPUT_MIME: Final = "audio/pcm;rate=24000"
_AUDIO_TOKENS_PER_SECOND: Final = 25
_MAX_CAPTURE_SECONDS: Final = 120
_SEND_GRACE: Final = 2.0
_INLINE_SYNTHESIS_CHARS: Final = 300

# Known proto fields that the wire classes keep as JSON or do not model.
_EXTRA_KNOWN: Final[dict[type, frozenset[str]]] = {
    m.AudioTranscriptionConfig: frozenset(
        {
            "customVocabulary",
            "wordTimestamp",
            "diarization",
            "mode",
            "sourceText",
            "languageHints",
            "languageAuto",
            "adaptationPhrases",
            "custom_vocabulary",
            "word_timestamp",
            "source_text",
            "language_hints",
            "language_auto",
            "adaptation_phrases",
        }
    ),
    m.VoiceConfig: frozenset({"voice"}),
    m.Tool: frozenset(
        {"computerUse", "computer_use", "fileSearch", "file_search", "mcpServers", "mcp_servers"}
    ),
    m.Setup: frozenset({"voiceConsentSignature", "voice_consent_signature"}),
}

# Vertex-only fields: unknown names on the Gemini API route.
_VERTEX_ONLY: Final[dict[type, frozenset[str]]] = {
    m.SessionResumptionConfig: frozenset({"transparent"}),
    m.Setup: frozenset({"explicit_vad_signal", "avatar_config"}),
}

# OpenAPI Schema fields the service knows (JSON Schema extras such as
# ``const`` or ``x-…`` close the session with 1007).
_SCHEMA_KEYS: Final = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_SCHEMA_KEYS_ANY: Final = _SCHEMA_KEYS | {_wire.to_snake(k) for k in _SCHEMA_KEYS}


# --------------------------------------------------------------------------- records


@attrs.define(eq=False)
class GeminiSessionState:
    """One conversation, which outlives its connections when it is resumed.

    Attributes:
        session_id: opaque id of the session (fake).
        run: the scenario conversation (history, turn count).
        handles: every resumption handle issued for it, oldest first.
        connections: how many connections have carried it.
        next_seq: sequence number the next reply audio chunk carries.
        prompt_text_tokens, prompt_audio_tokens, prompt_image_tokens: the
            context so far, by modality (usage).
        response_tokens: tokens the model produced so far.
    """

    session_id: str
    run: ScenarioRun
    model: str
    handles: list[str] = attrs.field(factory=list)
    connections: int = 0
    next_seq: int = 0
    prompt_text_tokens: int = 0
    prompt_audio_tokens: int = 0
    prompt_image_tokens: int = 0
    response_tokens: int = 0
    #: handle -> (history length, turn count) when it was issued.
    snapshots: dict[str, tuple[int, int]] = attrs.field(factory=dict)
    attached: GeminiConnectionRecord | None = None
    detached: trio.Event = attrs.field(factory=trio.Event)
    detached_at: float | None = None

    @property
    def turns(self) -> int:
        """User turns answered so far."""
        return self.run.turn_index

    @property
    def history(self) -> list[tuple[str, str]]:
        """``(role, text)`` pairs of the conversation so far."""
        return self.run.history


_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "x-goog-api-key"})


@attrs.define(eq=False)
class GeminiConnectionRecord:
    """Everything one connection did, for assertions.

    Attributes:
        index: 1 for the first connection this handler served.
        path: the normalised request path (without the query, which may hold a key).
        raw_received: every frame received, as it came (`str` or `bytes`).
        received: the same frames decoded (`None` when a frame did not decode).
        sent: every server message sent, decoded.
        setup: the accepted setup, if any.
        session: the session the connection carried (new or resumed).
        resumed: whether the setup resumed an earlier session.
        close_code, close_reason: how the server closed the connection, if it did.
        tool_responses: every function response received, in order.
        unmatched_tool_responses: responses whose id matched no pending call.
        headers: the upgrade request's headers (names lower-cased), without
            the credentials (``authorization``, ``x-goog-api-key``).
        opened_at, setup_at, ended_at: when (`trio.current_time`) the
            connection was accepted, its setup arrived, and its handler ended.
    """

    index: int
    path: str
    headers: dict[str, str] = attrs.field(factory=dict)
    raw_received: list[str | bytes] = attrs.field(factory=list)
    received: list[m.ClientMessage | m.UnknownClientMessage | None] = attrs.field(factory=list)
    sent: list[m.ServerMessage | m.UnknownServerMessage] = attrs.field(factory=list)
    setup: m.Setup | None = None
    session: GeminiSessionState | None = None
    resumed: bool = False
    close_code: int | None = None
    close_reason: str | None = None
    tool_responses: list[m.FunctionResponse] = attrs.field(factory=list)
    unmatched_tool_responses: list[m.FunctionResponse] = attrs.field(factory=list)
    opened_at: float = 0.0
    setup_at: float | None = None
    ended_at: float | None = None


# --------------------------------------------------------------------------- handler


class FakeGemini:
    """The Gemini Live provider handler of the fake server.

    One instance serves every Gemini connection of a server and keeps the
    sessions, so a connection can resume a session another one started.

    Args:
        scenario: how the fake model answers; `None` uses the server's scenario.
        speed: reply pacing, times real time (0 or ``math.inf``: no pacing);
            `None` uses the server's speed.
        api_keys: accepted keys or tokens; `None` accepts any non-empty one.
        expired_keys: keys refused as expired (1007 ``API key expired…``).
        models: accepted model ids (without ``models/``); `None` accepts any.
        connection_lifetime: seconds after which a connection is closed
            (1008); ``goAway`` comes `go_away_notice` seconds earlier.
            ``math.inf`` disables both. Service seconds: divided by the speed
            when it is finite and positive (``timeLeft`` too).
        go_away_notice: the ``timeLeft`` of the ``goAway`` message, in seconds.
        chunk_ms: duration of each reply audio chunk.
        voice_activity: send ``voiceActivity`` ACTIVITY_START/END notices.
        text_frames: send JSON in text frames instead of the service's binary ones.
        vad_threshold_db: energy threshold of the server VAD at high start
            sensitivity (the default); low sensitivity adds 10 dB.
        default_silence_ms: silence that ends speech when the setup does not
            set ``silenceDurationMs`` (doubled for ``END_SENSITIVITY_LOW``).
        default_prefix_padding_ms: the VAD's prefix padding when the setup
            does not set ``prefixPaddingMs``.
        handle_ttl: seconds (real time) a session stays resumable after its
            last connection ended (the service keeps handles about 2 hours).
        resume_wait: seconds a resuming connection waits for the session's
            previous connection to go away before it is refused (1011). The
            service does not wait (0, the default); a positive value is a
            lenient fake that hides clients resuming before they close.
        keep_connections: how many connection records `connections` keeps
            (each holds every message of its connection, audio included).
        interim_transcription: while the user speaks (with
            ``inputAudioTranscription`` on), send cumulative
            ``interimInputTranscription`` partials every half second of speech,
            as the service does; each costs one scan of the utterance's audio.

    Attributes:
        connections: a `GeminiConnectionRecord` per connection, in order (the
            last `keep_connections`).
        sessions: every session by id (sessions whose handles expired are
            forgotten).
    """

    name = "gemini"

    def __init__(
        self,
        *,
        scenario: Scenario | None = None,
        speed: float | None = None,
        api_keys: Iterable[str] | None = None,
        expired_keys: Iterable[str] = (),
        models: Iterable[str] | None = DEFAULT_MODELS,
        connection_lifetime: float = 600.0,
        go_away_notice: float = 50.0,
        chunk_ms: float = 40.0,
        voice_activity: bool = True,
        text_frames: bool = False,
        vad_threshold_db: float = -45.0,
        default_silence_ms: int = 500,
        default_prefix_padding_ms: int = 20,
        handle_ttl: float = 7200.0,
        resume_wait: float = 0.0,
        keep_connections: int = 1000,
        interim_transcription: bool = True,
    ) -> None:
        if speed is not None and (not isinstance(speed, int | float) or speed < 0):
            raise ConfigurationError(f"speed must be a number >= 0, got {speed!r}")
        if not (connection_lifetime > 0 and go_away_notice >= 0):
            raise ConfigurationError(
                "connection_lifetime must be > 0 and go_away_notice >= 0, got "
                f"{connection_lifetime!r} and {go_away_notice!r}"
            )
        if not chunk_ms * _OUTPUT_RATE / 1000 >= STAMP_SAMPLES:
            raise ConfigurationError(f"chunk_ms is too short to carry a stamp: {chunk_ms!r}")
        self.scenario = scenario
        self.speed = speed
        self.api_keys = None if api_keys is None else frozenset(api_keys)
        self.expired_keys = frozenset(expired_keys)
        self.models = None if models is None else frozenset(models)
        self.connection_lifetime = float(connection_lifetime)
        self.go_away_notice = float(go_away_notice)
        self.chunk_ms = float(chunk_ms)
        self.voice_activity = voice_activity
        self.text_frames = text_frames
        self.vad_threshold_db = float(vad_threshold_db)
        self.default_silence_ms = int(default_silence_ms)
        self.default_prefix_padding_ms = int(default_prefix_padding_ms)
        self.handle_ttl = float(handle_ttl)
        self.resume_wait = float(resume_wait)
        self.interim_transcription = interim_transcription
        self.connections: deque[GeminiConnectionRecord] = deque(maxlen=keep_connections)
        self.sessions: dict[str, GeminiSessionState] = {}
        self._count = 0
        self._handles: dict[str, GeminiSessionState] = {}
        self._nonce = secrets.token_bytes(8)
        self._session_ids = itertools.count(1)
        self._call_ids = itertools.count(1)

    def session_for_handle(self, handle: str) -> GeminiSessionState | None:
        """The session a resumption handle resumes, or `None`."""
        return self._handles.get(handle)

    async def handle(self, conn: FakeConnection) -> None:
        """Serve one connection routed to Gemini, until it ends."""
        self._count += 1
        record = GeminiConnectionRecord(
            index=self._count,
            path=conn.path,
            headers={k: v for k, v in conn.headers.items() if k not in _CREDENTIAL_HEADERS},
            opened_at=trio.current_time(),
        )
        self.connections.append(record)
        conn.state["gemini"] = record
        try:
            await _GeminiConnection(self, conn, record).run()
        finally:
            record.ended_at = trio.current_time()
            state = record.session
            if state is not None and state.attached is record:
                state.attached = None
                state.detached_at = trio.current_time()
                state.detached.set()

    # ----------------------------------------------------------------- internals

    def _new_session(self, run: ScenarioRun, model: str) -> GeminiSessionState:
        self._forget_expired()
        sid = f"session-{next(self._session_ids)}"
        state = GeminiSessionState(session_id=sid, run=run, model=model)
        self.sessions[sid] = state
        return state

    def _forget_expired(self) -> None:
        now = trio.current_time()
        for sid, state in list(self.sessions.items()):
            if (
                state.attached is None
                and state.detached_at is not None
                and now - state.detached_at > self.handle_ttl
            ):
                del self.sessions[sid]
                for handle in state.handles:
                    self._handles.pop(handle, None)

    def _new_handle(self, state: GeminiSessionState) -> str:
        digest = hashlib.sha256(
            self._nonce + f"{state.session_id}/{len(state.handles)}".encode()
        ).digest()
        handle = "Cg" + base64.urlsafe_b64encode(digest[:30]).decode("ascii")
        state.handles.append(handle)
        state.snapshots[handle] = (len(state.run.history), state.run.turn_index)
        self._handles[handle] = state
        return handle

    def _new_call_id(self) -> str:
        n = next(self._call_ids)
        # Shaped like the service's ids; unique and deterministic per handler.
        return f"function-call-{10**15 + (n * 2654435761) % 10**15}"


def create_handler() -> FakeGemini:
    """The default Gemini handler of a new `FakeServer` (registered with the shell)."""
    return FakeGemini()


# --------------------------------------------------------------------------- validation


def _unknown_name(obj: Any, path: str, *, vertex: bool) -> tuple[str, str] | None:
    """The first field name the service would not know, with its snake_case path."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            hit = _unknown_name(item, f"{path}[{i}]", vertex=vertex)
            if hit:
                return hit
        return None
    if not attrs.has(type(obj)):
        return None
    cls = type(obj)
    extra: dict[str, Any] = getattr(obj, "extra", {}) or {}
    allowed = _EXTRA_KNOWN.get(cls, frozenset())
    for key in extra:
        if key not in allowed:
            return key, path
    if not vertex:
        for name in _VERTEX_ONLY.get(cls, frozenset()):
            if getattr(obj, name, NOT_GIVEN) is not NOT_GIVEN:
                return name, path
    for f in attrs.fields(cls):
        if f.name == "extra":
            continue
        value = getattr(obj, f.name)
        if value is NOT_GIVEN or value is None:
            continue
        sub = f"{path}.{f.name}" if path else f.name
        if cls is m.FunctionDeclaration and f.name in ("parameters", "response"):
            hit = _unknown_schema_key(value, sub)
        else:
            hit = _unknown_name(value, sub, vertex=vertex)
        if hit:
            return hit
    return None


def _unknown_schema_key(schema: Any, path: str) -> tuple[str, str] | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS_ANY:
            return key, path
        if key == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                hit = _unknown_schema_key(sub, f"{path}.properties[{name!r}]".replace("'", '"'))
                if hit:
                    return hit
        elif key == "items":
            hit = _unknown_schema_key(value, f"{path}.items")
            if hit:
                return hit
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            for i, sub in enumerate(value):
                hit = _unknown_schema_key(sub, f"{path}.any_of[{i}]")
                if hit:
                    return hit
    return None


def _unknown_reason(name: str, path: str) -> str:
    where = f" at '{path}'" if path else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'


_PROTO_TYPES: Final = {
    "bool": "TYPE_BOOL",
    "str": "TYPE_STRING",
    "int": "TYPE_INT32",
    "an integer": "TYPE_INT64",
    "a number": "TYPE_FLOAT",
    "a base64 string": "TYPE_BYTES",
}
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _lookup(raw: Any, where: str) -> tuple[bool, Any]:
    """Find the value at a ``$.a.b[0]`` path in a decoded frame (camelCase or snake_case keys)."""
    value = raw
    for match in _SEGMENT.finditer(where[1:]):
        key, index = match.groups()
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return False, None
            value = value[int(index)]
        elif isinstance(value, dict):
            for name in (key, _wire.to_snake(key)):
                if name in value:
                    value = value[name]
                    break
            else:
                return False, None
        else:
            return False, None
    return True, value


def _invalid_value_reason(exc: ProtocolError, raw: str | bytes | None = None) -> str:
    """A reason like ``Invalid value at 'client_content.turn_complete' (TYPE_BOOL), "yes"``."""
    for problem in exc.problems:
        text, sep, where = problem.rpartition(" @ ")
        if not sep or not where.startswith("$"):
            continue
        segments = [s for s in where[1:].split(".") if s]
        path = ".".join(
            _wire.to_snake(s.split("[")[0]) + s[len(s.split("[")[0]) :] for s in segments
        )
        if not path:
            continue
        reason = f"Invalid value at '{path}'"
        expected = re.match(r"expected (bool|str|int|an integer|a number|a base64 string)", text)
        if expected is not None:
            reason += f" ({_PROTO_TYPES[expected.group(1)]})"
        elif text.startswith("invalid base64"):
            reason += " (TYPE_BYTES), Base64 decoding failed for"
        if raw is not None:
            try:
                found, value = _lookup(json.loads(raw), where)
            except ValueError:
                found, value = False, None
            if found and not isinstance(value, (dict, list)):
                sep = " " if reason.endswith("for") else ", "
                reason += f"{sep}{json.dumps(value)}"
        return reason
    return REASONS["invalid_argument"]


def _model_id(model: str, *, vertex: bool) -> str:
    if vertex:
        return model.rsplit("/", 1)[-1]
    for prefix in ("models/", "tunedModels/"):
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


#: Tokens one image or video frame adds to the context (the service's figure for
#: an image up to 384 px a side; larger ones are tiled, which the fake ignores).
_IMAGE_TOKENS: Final = 258
#: Input samples (16 kHz) between two ``interimInputTranscription`` partials.
_INTERIM_SAMPLES: Final = 8000
#: Words an interim transcript gains per second of speech (about 150 a minute).
_INTERIM_WORDS_PER_SECOND: Final = 2.5


def _declared_tools(setup: m.Setup) -> list[ToolSpec]:
    out: list[ToolSpec] = []
    tools = setup.tools if isinstance(setup.tools, list) else []
    for tool in tools:
        decls = tool.function_declarations
        if not isinstance(decls, list):
            continue
        for decl in decls:
            if not isinstance(decl.name, str):
                continue
            params: Any = decl.parameters
            if not isinstance(params, dict):
                params = decl.parameters_json_schema
            if not isinstance(params, dict):
                params = {"type": "object", "properties": {}}
            desc = decl.description if isinstance(decl.description, str) else ""
            out.append(ToolSpec(name=decl.name, description=desc, parameters=params))
    return out


def _non_blocking(tools: Any) -> frozenset[str]:
    """The functions declared ``behavior: NON_BLOCKING`` (the model does not wait for them)."""
    names: set[str] = set()
    for tool in tools if isinstance(tools, list) else []:
        decls = tool.function_declarations
        for decl in decls if isinstance(decls, list) else []:
            if isinstance(decl.name, str) and decl.behavior == "NON_BLOCKING":
                names.add(decl.name)
    return frozenset(names)


def _text_of(content: m.Content) -> str:
    parts = content.parts if isinstance(content.parts, list) else []
    return " ".join(p.text for p in parts if isinstance(p.text, str) and p.text).strip()


def _tokens_for_text(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _split_words(text: str) -> list[str]:
    words = text.split()
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _parse_rate(mime: str) -> int | None:
    """Rate of an ``audio/pcm`` MIME type (16000 when absent); None for other types."""
    kind, _, params = mime.partition(";")
    if kind.strip().lower() not in ("audio/pcm", "audio/l16", "audio/raw"):
        return None
    rate = _INPUT_RATE
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "rate":
            try:
                rate = int(value.strip())
            except ValueError:
                return -1
    return rate


# --------------------------------------------------------------------------- per connection


class _Closed(Exception):
    """The handler closed the connection; ends the connection's tasks."""


_GONE = (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError)


@attrs.define(eq=False)
class _Response:
    """One model turn in progress."""

    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)
    cancelled: bool = False
    pending_calls: dict[str, str] = attrs.field(factory=dict)
    results: list[m.FunctionResponse] = attrs.field(factory=list)
    results_ready: trio.Event = attrs.field(factory=trio.Event)
    words: list[str] = attrs.field(factory=list)
    spoken_words: int = 0
    audio_seconds: float = 0.0
    previous: _Response | None = None  # a reply queued behind this one waits for it


class _GeminiConnection:
    """The state machine of one connection (setup, input, turns, tools, lifetime)."""

    def __init__(
        self, fake: FakeGemini, conn: FakeConnection, record: GeminiConnectionRecord
    ) -> None:
        self.fake = fake
        self.conn = conn
        self.record = record
        self.send_lock = trio.Lock()
        self.sending: trio.CancelScope | None = None
        self.main_scope = trio.CancelScope()
        self.nursery: trio.Nursery | None = None
        self.vertex = conn.route.variant == "vertex"
        self.version = conn.route.version or "v1beta"
        speed = fake.speed if fake.speed is not None else conn.speed
        self.speed = float(speed)
        self.setup: m.Setup | None = None
        self.state: GeminiSessionState | None = None
        self.response: _Response | None = None
        self.text_mode = False
        self.include_thoughts = False
        self.input_transcription = False
        self.output_transcription = False
        # Input audio.
        self.manual = False
        self.interrupts = True
        self.vad: EnergyVAD | None = None
        self.resamplers: dict[int, Resampler] = {}
        self.audio_samples = 0  # 16 kHz input samples since the stream began
        self.capture: list[npt.NDArray[np.int16]] = []
        self.capture_samples = 0
        self.in_activity = False
        self.activity_input = 0
        self.speech_samples = 0  # of the utterance in progress (interim transcripts)
        self.interim_due = _INTERIM_SAMPLES
        self.interim_text = ""
        self.history_seeding = False
        self.pending_turns: list[tuple[str, str]] = []
        # NON_BLOCKING functions: the calls in flight, by id, outside any turn.
        self.non_blocking: frozenset[str] = frozenset()
        self.async_calls: dict[str, str] = {}
        self.decode_error: ProtocolError | None = None
        self.last_raw: str | bytes | None = None

    # ----------------------------------------------------------------- sending

    def _encode(self, msg: m.ServerMessage) -> str | bytes:
        text = codec.encode_server_message(msg)
        self.record.sent.append(msg)
        return text if self.fake.text_frames else text.encode("utf-8")

    async def _send_shielded(self, data: str | bytes) -> None:
        # A message is never cut half-way by a cancellation (that would corrupt
        # the stream), but a client that stopped reading cannot hold up the end
        # of the connection for more than _SEND_GRACE seconds (`_abandon_sends`).
        with trio.CancelScope(shield=True) as scope:
            self.sending = scope
            try:
                await self.conn.send(data)
            finally:
                self.sending = None

    def _abandon_sends(self) -> None:
        if self.sending is not None:
            self.sending.deadline = min(self.sending.deadline, trio.current_time() + _SEND_GRACE)

    async def send(self, msg: m.ServerMessage) -> None:
        """Send a message that belongs to no reply (or that ends one)."""
        async with self.send_lock:
            await self._send_shielded(self._encode(msg))

    async def send_for(self, resp: _Response, build: Callable[[], m.ServerMessage]) -> bool:
        """Send a message of reply `resp`, unless the reply was cancelled meanwhile.

        `build` runs under the send lock, so what it counts (audio sequence
        numbers) only advances for messages that go out.
        """
        async with self.send_lock:
            if resp.cancelled:
                return False
            await self._send_shielded(self._encode(build()))
        return True

    async def send_msg_for(self, resp: _Response, msg: m.ServerMessage) -> bool:
        """`send_for` with a ready-made message."""
        return await self.send_for(resp, lambda: msg)

    async def close(self, code: int, reason: str) -> NoReturn:
        """Close the socket as the service does, and end the connection."""
        reason = truncate_reason(reason)
        if self.record.close_code is None:
            self.record.close_code = code
            self.record.close_reason = reason
        if self.response is not None:
            self._cancel_response(self.response)
        self._abandon_sends()
        async with self.send_lock:
            with trio.CancelScope(shield=True):
                try:
                    await self.conn.close(code, reason)
                except _GONE:
                    pass
        raise _Closed

    async def _guarded(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await fn(*args)
        except (_Closed, *_GONE):
            self._abandon_sends()
            self.main_scope.cancel()

    # ----------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        with self.main_scope:
            try:
                await self.conn.accept()
                await self._handshake()
            except (_Closed, *_GONE):
                return
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._guarded, self._lifetime)
                nursery.start_soon(self._guarded, self._read_loop)

    async def _handshake(self) -> None:
        raw = await self.conn.receive()
        msg = self._note(raw)
        await self._check_auth()
        if msg is None:
            await self.close(1007, self._decode_reason())
        await self._check_names(msg)
        if not isinstance(msg, m.ClientMessage) or not isinstance(msg.setup, m.Setup):
            await self.close(1007, REASONS["invalid_argument"])
        await self._accept_setup(await self._token_setup(msg))

    async def _token_setup(self, msg: m.ClientMessage) -> m.Setup:
        """Check an ephemeral token (``auth_tokens/…``); its locked fields win."""
        setup = msg.setup
        assert isinstance(setup, m.Setup)
        key = self.conn.api_key or ""
        if not key.startswith("auth_tokens/"):
            return setup
        if self.conn.route.method != "BidiGenerateContentConstrained":
            await self.close(1007, REASONS["bad_key"])  # that method takes API keys only
        resumption = setup.session_resumption
        handle = resumption.handle if isinstance(resumption, m.SessionResumptionConfig) else None
        resuming = isinstance(handle, str) and bool(handle)
        tokens = self.conn.server.tokens
        why = tokens.check_gemini(key, resuming=resuming)
        if why is not None:
            await self.close(1007, why)
        record = tokens.gemini[key]
        if not resuming:
            record.sessions_started += 1
        if record.setup is None:
            return setup
        from .tokens import locked_setup

        wire = json.loads(codec.encode_client_message(msg))["setup"]
        merged = codec.decode_client_message(json.dumps({"setup": locked_setup(record, wire)}))
        assert isinstance(merged, m.ClientMessage)
        assert isinstance(merged.setup, m.Setup)
        return merged.setup

    def _note(self, raw: str | bytes) -> m.ClientMessage | m.UnknownClientMessage | None:
        self.record.raw_received.append(raw)
        self.last_raw = raw
        try:
            msg = codec.decode_client_message(raw)
        except ProtocolError as exc:
            self.record.received.append(None)
            self.decode_error = exc
            return None
        self.record.received.append(msg)
        return msg

    def _decode_reason(self) -> str:
        exc = self.decode_error
        if exc is None or "not valid JSON" in str(exc) or "not an object" in str(exc):
            return "Invalid JSON payload received. Unexpected token."
        return _invalid_value_reason(exc, self.last_raw)

    async def _check_auth(self) -> None:
        key = self.conn.api_key
        if not key:
            await self.close(1008, REASONS["no_credentials"])
        if key in self.fake.expired_keys:
            await self.close(1007, REASONS["expired_key"])
        accepted = self.fake.api_keys
        if accepted is not None and key not in accepted and not key.startswith("auth_tokens/"):
            await self.close(1007, REASONS["bad_key"])

    async def _check_names(self, msg: m.ClientMessage | m.UnknownClientMessage | None) -> None:
        if isinstance(msg, m.UnknownClientMessage):
            name = next(iter(msg.raw), "")
            if not name:
                await self.close(1007, REASONS["invalid_argument"])
            await self.close(1007, _unknown_reason(name, ""))
        hit = _unknown_name(msg, "", vertex=self.vertex)
        if hit is not None:
            await self.close(1007, _unknown_reason(*hit))

    async def _accept_setup(self, setup: m.Setup) -> None:
        if not isinstance(setup.model, str) or not setup.model:
            await self.close(1007, REASONS["invalid_argument"])
        model = _model_id(setup.model, vertex=self.vertex)
        if self.fake.models is not None and model not in self.fake.models:
            shown = setup.model if setup.model.startswith("models/") else f"models/{model}"
            await self.close(
                1008,
                f"{shown} is not found for API version {self.version}, or is not supported "
                "for bidiGenerateContent. Call ModelService.ListModels to see the list of "
                "available models and their supported methods.",
            )
        gen = setup.generation_config
        if isinstance(gen, m.GenerationConfig) and isinstance(gen.response_modalities, list):
            modalities = [str(x).upper() for x in gen.response_modalities]
            for i, value in enumerate(modalities):
                if value not in ("AUDIO", "TEXT", "MODALITY_UNSPECIFIED"):
                    await self.close(
                        1007,
                        "Invalid value at 'setup.generation_config.response_modalities"
                        f"[{i}]' (type.googleapis.com/google.ai.generativelanguage."
                        f'{self.version}.GenerationConfig.Modality), "{gen.response_modalities[i]}"',
                    )
            if len(set(modalities)) > 1:
                await self.close(1007, REASONS["invalid_argument"])
            self.text_mode = modalities == ["TEXT"]
        self.include_thoughts = (
            isinstance(gen, m.GenerationConfig)
            and isinstance(gen.thinking_config, m.ThinkingConfig)
            and gen.thinking_config.include_thoughts is True
        )
        self.input_transcription = isinstance(
            setup.input_audio_transcription, m.AudioTranscriptionConfig
        )
        self.output_transcription = isinstance(
            setup.output_audio_transcription, m.AudioTranscriptionConfig
        )
        await self._session_for(setup, model)
        self.non_blocking = _non_blocking(setup.tools)
        self._configure_input(setup)
        await self.conn.checkpoint(BEFORE_SETUP)
        await self.send(m.ServerMessage(setup_complete=m.SetupComplete()))
        await self.conn.checkpoint(AFTER_SETUP)
        await self._resumption_update()

    async def _session_for(self, setup: m.Setup, model: str) -> GeminiSessionState:
        self.record.setup_at = trio.current_time()
        resumption = setup.session_resumption
        handle = resumption.handle if isinstance(resumption, m.SessionResumptionConfig) else None
        tools = _declared_tools(setup)
        state: GeminiSessionState | None = None
        if isinstance(handle, str) and handle:
            state = self.fake.session_for_handle(handle)
            expired = (
                state is not None
                and state.attached is None
                and state.detached_at is not None
                and trio.current_time() - state.detached_at > self.fake.handle_ttl
            )
            if state is None or state.model != model or expired:
                await self.close(1008, REASONS["session_not_found"])
            if state.attached is not None and state.attached is not self.record:
                with trio.move_on_after(self.fake.resume_wait):
                    await state.detached.wait()
                if state.attached is not None:
                    await self.close(1011, REASONS["internal"])
            # The conversation as it was when this handle was issued.
            length, turns = state.snapshots.get(
                handle, (len(state.run.history), state.run.turn_index)
            )
            del state.run.history[length:]
            state.run.turn_index = turns
            self.record.resumed = True
            state.run.tools = tools
        else:
            scenario = self.fake.scenario or self.conn.scenario
            state = self.fake._new_session(scenario.start(tools=tools, provider="gemini"), model)
        self.setup = setup
        self.state = state
        self.record.setup = setup
        self.record.session = state
        state.attached = self.record
        state.detached = trio.Event()
        state.connections += 1
        if isinstance(setup.system_instruction, m.Content):
            state.prompt_text_tokens += _tokens_for_text(_text_of(setup.system_instruction))
        return state

    def _configure_input(self, setup: m.Setup) -> None:
        rtc = setup.realtime_input_config
        aad = m.AutomaticActivityDetection()
        if isinstance(rtc, m.RealtimeInputConfig):
            if isinstance(rtc.automatic_activity_detection, m.AutomaticActivityDetection):
                aad = rtc.automatic_activity_detection
            if rtc.activity_handling == "NO_INTERRUPTION":
                self.interrupts = False
        self.manual = aad.disabled is True
        threshold = self.fake.vad_threshold_db
        if aad.start_of_speech_sensitivity == "START_SENSITIVITY_LOW":
            threshold += 10.0
        if isinstance(aad.silence_duration_ms, int):
            silence = aad.silence_duration_ms
        else:
            silence = self.fake.default_silence_ms
            if aad.end_of_speech_sensitivity == "END_SENSITIVITY_LOW":
                silence *= 2
        padding = (
            aad.prefix_padding_ms
            if isinstance(aad.prefix_padding_ms, int)
            else self.fake.default_prefix_padding_ms
        )
        self.vad = EnergyVAD(
            _INPUT_RATE,
            threshold_db=threshold,
            prefix_padding_ms=max(0, padding),
            silence_duration_ms=max(0, silence),
        )
        hc = setup.history_config
        self.history_seeding = (
            isinstance(hc, m.HistoryConfig) and hc.initial_history_in_client_content is True
        )

    async def _not_resumable(self) -> None:
        """Tell the client the session cannot be resumed from here (generating, tools)."""
        if self.setup is None or not isinstance(
            self.setup.session_resumption, m.SessionResumptionConfig
        ):
            return
        await self.send(
            m.ServerMessage(session_resumption_update=m.SessionResumptionUpdate(resumable=False))
        )

    async def _resumption_update(self) -> None:
        if self.setup is None or self.state is None:
            return
        if not isinstance(self.setup.session_resumption, m.SessionResumptionConfig):
            return
        handle = self.fake._new_handle(self.state)
        await self.send(
            m.ServerMessage(
                session_resumption_update=m.SessionResumptionUpdate(
                    new_handle=handle, resumable=True
                )
            )
        )

    async def _lifetime(self) -> None:
        lifetime = self.fake.connection_lifetime
        if not math.isfinite(lifetime):
            return
        notice = min(self.fake.go_away_notice, lifetime)
        if math.isfinite(self.speed) and self.speed > 0:
            lifetime /= self.speed
            notice /= self.speed
        deadline = trio.current_time() + lifetime
        await trio.sleep_until(deadline - notice)
        # A client that stopped reading may block the goAway; the close comes anyway.
        with trio.move_on_at(deadline):
            await self.send(
                m.ServerMessage(go_away=m.GoAway(time_left=m.Duration.from_seconds(notice)))
            )
        await trio.sleep_until(deadline)
        await self.close(1008, REASONS["go_away"])

    # ----------------------------------------------------------------- input

    async def _read_loop(self) -> None:
        while True:
            raw = await self.conn.receive()
            msg = self._note(raw)
            if msg is None:
                await self.close(1007, self._decode_reason())
            await self._check_names(msg)
            assert isinstance(msg, m.ClientMessage)
            await self._dispatch(msg)

    async def _dispatch(self, msg: m.ClientMessage) -> None:
        given = False
        if msg.setup is not NOT_GIVEN:
            await self.close(1007, REASONS["invalid_argument"])
        if isinstance(msg.realtime_input, m.RealtimeInput):
            given = True
            await self._realtime_input(msg.realtime_input)
        if isinstance(msg.client_content, m.ClientContent):
            given = True
            await self._client_content(msg.client_content)
        if isinstance(msg.tool_response, m.ToolResponse):
            given = True
            await self._tool_response(msg.tool_response)
        if isinstance(msg.context_update, m.ContextUpdate):
            given = True
            self._context_update(msg.context_update)
        if not given:
            await self.close(1007, REASONS["invalid_argument"])

    def _count_images(self, blobs: Sequence[Any]) -> None:
        """Image blobs (video frames, pictures) add to the context's IMAGE tokens."""
        assert self.state is not None
        for blob in blobs:
            mime = blob.mime_type if isinstance(blob, m.Blob) else None
            if isinstance(mime, str) and mime.startswith("image/"):
                self.state.prompt_image_tokens += _IMAGE_TOKENS

    async def _realtime_input(self, ri: m.RealtimeInput) -> None:
        self._count_images(
            [ri.video, *(ri.media_chunks if isinstance(ri.media_chunks, list) else [])]
        )
        if isinstance(ri.activity_start, m.ActivityStart):
            await self._activity_start()
        if isinstance(ri.audio, m.Blob):
            await self._audio(ri.audio)
        if isinstance(ri.media_chunks, list) and ri.media_chunks:
            first = ri.media_chunks[0]
            if isinstance(first.mime_type, str) and first.mime_type.startswith("audio/"):
                await self._audio(first)
        if isinstance(ri.text, str):
            await self._text_input(ri.text)
        if ri.audio_stream_end is True and not self.manual and self.vad is not None:
            for event in self.vad.flush():
                if isinstance(event, SpeechStop):
                    await self._speech_stopped(event.audio_end_ms)
        if isinstance(ri.activity_end, m.ActivityEnd):
            await self._activity_end()

    async def _audio(self, blob: m.Blob) -> None:
        mime = blob.mime_type
        if not isinstance(mime, str) or not isinstance(blob.data, bytes):
            await self.close(1007, REASONS["invalid_argument"])
        rate = _parse_rate(mime)
        if rate is None:
            if mime.lower().startswith("audio/"):
                return  # a container format: accepted, not decoded by the fake
            await self.close(1007, REASONS["invalid_argument"])
        if rate < 8000 or rate > 48000:
            await self.close(1007, REASONS["invalid_argument"])
        data = blob.data
        samples: npt.NDArray[np.int16] = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
        if rate != _INPUT_RATE:
            resampler = self.resamplers.get(rate)
            if resampler is None:
                resampler = self.resamplers[rate] = Resampler(rate, _INPUT_RATE)
            samples = resampler.process(AudioFrame(samples.astype(np.int16), rate)).samples
        self.audio_samples += int(samples.shape[0])
        if self.manual:
            if self.in_activity:
                self._keep(samples)
                self.activity_input += int(samples.shape[0])
                await self._count_speech(int(samples.shape[0]))
            return
        self._keep(samples)
        assert self.vad is not None
        for event in self.vad.process(samples):
            if isinstance(event, SpeechStart):
                await self._speech_started(event.onset_ms)
            else:
                await self._speech_stopped(event.audio_end_ms)
        if self.vad.in_speech:
            await self._count_speech(int(samples.shape[0]))

    def _new_utterance(self) -> None:
        self.speech_samples = 0
        self.interim_due = _INTERIM_SAMPLES
        self.interim_text = ""

    async def _count_speech(self, samples: int) -> None:
        """Every half second of speech, an ``interimInputTranscription`` (when enabled)."""
        self.speech_samples += samples
        if self.speech_samples < self.interim_due:
            return
        self.interim_due += _INTERIM_SAMPLES
        if not (self.input_transcription and self.fake.interim_transcription and self.capture):
            return
        heard = read_transcript(np.concatenate(self.capture))
        if not heard:
            return
        # Cumulative, at a speaking pace: each interim replaces the previous one.
        words = heard.split()
        spoken = math.ceil(self.speech_samples / _INPUT_RATE * _INTERIM_WORDS_PER_SECOND)
        text = " ".join(words[: max(1, min(len(words), spoken))])
        if text != self.interim_text:
            self.interim_text = text
            await self.send(
                m.ServerMessage(
                    server_content=m.ServerContent(
                        interim_input_transcription=m.Transcription(text=text)
                    )
                )
            )

    def _keep(self, samples: npt.NDArray[np.int16]) -> None:
        self.capture.append(samples)
        self.capture_samples += int(samples.shape[0])
        limit = _MAX_CAPTURE_SECONDS * _INPUT_RATE
        while self.capture_samples > limit and len(self.capture) > 1:
            self.capture_samples -= int(self.capture.pop(0).shape[0])

    def _take_capture(self) -> tuple[str, float]:
        if self.capture:
            audio = np.concatenate(self.capture)
            heard = heard_in(audio)
        else:
            heard = ""
        seconds = self.capture_samples / _INPUT_RATE
        self.capture = []
        self.capture_samples = 0
        return heard, seconds

    async def _voice_activity(self, kind: str, offset_ms: int) -> None:
        if self.fake.voice_activity:
            await self.send(
                m.ServerMessage(
                    server_content=m.ServerContent(),
                    voice_activity=m.VoiceActivity(
                        voice_activity_type=kind,
                        audio_offset=m.Duration(f"{offset_ms / 1000:.3f}s"),
                    ),
                )
            )

    async def _speech_started(self, offset_ms: int) -> None:
        self._new_utterance()
        await self.conn.checkpoint(USER_SPEECH)
        await self._voice_activity("ACTIVITY_START", offset_ms)
        if self.interrupts:
            await self._interrupt()

    async def _speech_stopped(self, offset_ms: int) -> None:
        await self._voice_activity("ACTIVITY_END", offset_ms)
        heard, seconds = self._take_capture()
        await self._user_turn(heard, audio_seconds=seconds)

    async def _activity_start(self) -> None:
        if not self.manual:
            await self.close(1007, REASONS["precondition"])
        if self.in_activity:
            return  # nested starts are ignored
        self.in_activity = True
        self.activity_input = 0
        self.capture = []
        self.capture_samples = 0
        self._new_utterance()
        await self.conn.checkpoint(USER_SPEECH)
        await self._voice_activity("ACTIVITY_START", self.audio_samples * 1000 // _INPUT_RATE)
        if self.interrupts:
            await self._interrupt()

    async def _activity_end(self) -> None:
        if not self.manual:
            await self.close(1007, REASONS["precondition"])
        if not self.in_activity:
            return
        self.in_activity = False
        await self._voice_activity("ACTIVITY_END", self.audio_samples * 1000 // _INPUT_RATE)
        if self.activity_input == 0:
            await self.send(
                m.ServerMessage(
                    server_content=m.ServerContent(turn_complete=True),
                    usage_metadata=m.UsageMetadata(),
                )
            )
            await self.close(1007, REASONS["precondition"])
        heard, seconds = self._take_capture()
        await self._user_turn(heard, audio_seconds=seconds)

    async def _text_input(self, text: str) -> None:
        if self.manual and self.in_activity:
            self.activity_input += 1
        if self.interrupts:
            await self._interrupt()
        await self._user_turn(text, audio_seconds=0.0)

    async def _client_content(self, cc: m.ClientContent) -> None:
        assert self.state is not None
        turns = cc.turns if isinstance(cc.turns, list) else []
        for turn in turns:
            parts = turn.parts if isinstance(turn.parts, list) else []
            self._count_images([part.inline_data for part in parts])
            text = _text_of(turn)
            if text or turn.role == "model":
                role = "assistant" if turn.role == "model" else "user"
                self.pending_turns.append((role, text))
        if cc.turn_complete is not True:
            return
        pending, self.pending_turns = self.pending_turns, []
        seeding = self.history_seeding
        self.history_seeding = False
        # The trailing user turns are what the model answers; the rest is history.
        # The initial history (historyConfig) is all history: no generation.
        cut = len(pending)
        while not seeding and cut > 0 and pending[cut - 1][0] == "user":
            cut -= 1
        for role, text in pending[:cut]:
            self.state.run.history.append((role, text))
            self.state.prompt_text_tokens += _tokens_for_text(text)
        if seeding:
            return
        await self._interrupt()
        await self._user_turn(" ".join(text for _, text in pending[cut:]), audio_seconds=0.0)

    async def _tool_response(self, tr: m.ToolResponse) -> None:
        responses = tr.function_responses if isinstance(tr.function_responses, list) else []
        resp = self.response
        late: list[m.FunctionResponse] = []
        for fr in responses:
            self.record.tool_responses.append(fr)
            if isinstance(fr.id, str) and fr.id in self.async_calls:
                late.append(fr)
                continue
            if not isinstance(fr.id, str) and not self.vertex:
                await self.close(1007, REASONS["invalid_argument"])
            if resp is not None and isinstance(fr.id, str) and fr.id in resp.pending_calls:
                del resp.pending_calls[fr.id]
                resp.results.append(fr)
            elif resp is not None and not isinstance(fr.id, str) and resp.pending_calls:
                # Vertex: no id, matched by name.
                match = next((k for k, v in resp.pending_calls.items() if v == fr.name), None)
                if match is None:
                    self.record.unmatched_tool_responses.append(fr)
                    continue
                del resp.pending_calls[match]
                resp.results.append(attrs.evolve(fr, id=match))
            else:
                self.record.unmatched_tool_responses.append(fr)
        if resp is not None and resp.results and not resp.pending_calls:
            resp.results_ready.set()
        if late:
            await self._non_blocking_results(late)

    async def _non_blocking_results(self, responses: list[m.FunctionResponse]) -> None:
        """Fold in results of NON_BLOCKING calls as their ``scheduling`` asks.

        ``INTERRUPT``: stop the current output and answer now; ``WHEN_IDLE``
        (the default): answer once the current output is finished; ``SILENT``:
        add the result to the context only.
        """
        state = self.state
        assert state is not None
        assert self.nursery is not None
        results: list[ToolResult] = []
        for fr in responses:
            call_id = str(fr.id)
            name = self.async_calls[call_id]
            if fr.will_continue is not True:
                del self.async_calls[call_id]  # more responses for it otherwise
            results.append(ToolResult(call_id=call_id, name=name, output=_tool_output(fr.response)))
        schedules = {
            fr.scheduling if isinstance(fr.scheduling, str) else "WHEN_IDLE" for fr in responses
        }
        if schedules == {"SILENT"}:
            for result in state.run.record_results(results):
                state.prompt_text_tokens += _tokens_for_text(result)
            return
        reply = state.run.after_tools(results)
        if "INTERRUPT" in schedules:
            await self._interrupt()
        previous = self.response
        resp = _Response(previous=previous)
        self.response = resp
        self.nursery.start_soon(self._guarded, self._respond, resp, reply, previous)

    def _context_update(self, cu: m.ContextUpdate) -> None:
        assert self.state is not None
        assert self.setup is not None
        if isinstance(cu.tools, m.ContextUpdateTools):
            tools = cu.tools.tools if isinstance(cu.tools.tools, list) else []
            self.state.run.tools = _declared_tools(m.Setup(tools=tools))
            self.non_blocking = _non_blocking(tools)
        if isinstance(cu.system_instruction, m.Content):
            self.state.prompt_text_tokens += _tokens_for_text(_text_of(cu.system_instruction))

    # ----------------------------------------------------------------- turns

    def _cancel_response(self, resp: _Response) -> None:
        resp.cancelled = True
        resp.scope.cancel()
        if self.response is resp:
            self.response = None

    async def _interrupt(self) -> None:
        """Barge-in: stop the reply in progress, as the service does."""
        resp = self.response
        if resp is None:
            return
        # The reply and any reply still speaking ahead of it (NO_INTERRUPTION queue).
        chain: list[_Response] = []
        link: _Response | None = resp
        while link is not None and not link.done.is_set():
            chain.append(link)
            link = link.previous
        ids: list[str] = []
        for r in chain:
            self._cancel_response(r)
            ids.extend(r.pending_calls)
            r.pending_calls.clear()
        assert self.state is not None
        speaking = next((r for r in chain if r.words), resp)
        self.state.run.interrupted("".join(speaking.words[: speaking.spoken_words]).strip())
        if ids:
            await self.send(m.ServerMessage(tool_call_cancellation=m.ToolCallCancellation(ids=ids)))
        await self.send(m.ServerMessage(server_content=m.ServerContent(interrupted=True)))
        await self.send(
            m.ServerMessage(
                server_content=m.ServerContent(turn_complete=True),
                usage_metadata=self._usage(resp),
            )
        )

    async def _user_turn(self, heard: str, *, audio_seconds: float) -> None:
        state = self.state
        assert state is not None
        assert self.nursery is not None
        state.prompt_audio_tokens += round(audio_seconds * _AUDIO_TOKENS_PER_SECOND)
        # clientContent turns sent without turnComplete are context, not a turn:
        # realtime input that follows is answered with them in the history.
        pending, self.pending_turns = self.pending_turns, []
        for role, text in pending:
            state.run.history.append((role, text))
            state.prompt_text_tokens += _tokens_for_text(text)
        reply = state.run.reply_to(heard)
        if audio_seconds == 0.0:
            state.prompt_text_tokens += _tokens_for_text(reply.heard)
        elif self.input_transcription and reply.heard:
            await self.send(
                m.ServerMessage(
                    server_content=m.ServerContent(
                        input_transcription=m.Transcription(text=reply.heard)
                    )
                )
            )
        previous = self.response
        resp = _Response(previous=previous)
        self.response = resp
        self.nursery.start_soon(self._guarded, self._respond, resp, reply, previous)

    async def _respond(self, resp: _Response, reply: Reply, previous: _Response | None) -> None:
        state = self.state
        assert state is not None
        try:
            with resp.scope:
                if previous is not None:
                    await previous.done.wait()
                resp.previous = None
                await pause(reply.latency, self.speed)
                await self._not_resumable()
                silent = False
                while reply.tool_calls:
                    if all(call.name in self.non_blocking for call in reply.tool_calls):
                        # NON_BLOCKING: the model goes on without waiting; the results
                        # are folded in when they come (`_non_blocking_results`).
                        await self._call_without_waiting(resp, reply.tool_calls)
                        reply = Reply()
                        break
                    results = await self._call_tools(resp, reply.tool_calls)
                    silent = bool(results) and all(r.scheduling == "SILENT" for r in results)
                    reply = state.run.after_tools(
                        [
                            ToolResult(
                                call_id=str(r.id),
                                name=str(r.name),
                                output=_tool_output(r.response),
                            )
                            for r in results
                        ]
                    )
                    await pause(reply.latency, self.speed)
                if reply.text and not silent:
                    if self.include_thoughts:
                        # A thought summary first, as thinking models send it.
                        thought = m.Part(text=f"**Answering** {reply.heard}".strip(), thought=True)
                        msg = m.ServerMessage(
                            server_content=m.ServerContent(model_turn=m.Content(parts=[thought]))
                        )
                        if not await self.send_msg_for(resp, msg):
                            return
                    await self._speak(resp, reply.text)
                if not await self.send_for(resp, lambda: self._finish(resp)):
                    return
                state.prompt_text_tokens += _tokens_for_text(reply.text)
                state.response_tokens += self._response_tokens(resp)
                await self._resumption_update()
                await self.conn.checkpoint(RESPONSE_DONE)
        finally:
            resp.done.set()
            resp.previous = None
            if self.response is resp:
                self.response = None

    def _finish(self, resp: _Response) -> m.ServerMessage:
        """The reply's ``turnComplete``; from here on a barge-in has nothing to interrupt.

        Runs under the send lock, so an interruption either comes before it
        (and the turn completes as interrupted) or after it (and finds no reply).
        """
        if self.response is resp:
            self.response = None
        return m.ServerMessage(
            server_content=m.ServerContent(turn_complete=True),
            usage_metadata=self._usage(resp),
        )

    async def _call_without_waiting(
        self, resp: _Response, plans: Sequence[PlannedToolCall]
    ) -> None:
        calls: list[m.FunctionCall] = []
        for plan in plans:
            call_id = plan.call_id or self.fake._new_call_id()
            calls.append(m.FunctionCall(id=call_id, name=plan.name, args=dict(plan.arguments)))
        if not await self.send_for(
            resp, lambda: m.ServerMessage(tool_call=m.ToolCall(function_calls=calls))
        ):
            return
        for call in calls:
            self.async_calls[str(call.id)] = str(call.name)
        await self.conn.checkpoint(MID_TOOL_CALL)

    async def _call_tools(
        self, resp: _Response, plans: Sequence[PlannedToolCall]
    ) -> list[m.FunctionResponse]:
        calls: list[m.FunctionCall] = []
        for plan in plans:
            call_id = plan.call_id or self.fake._new_call_id()
            resp.pending_calls[call_id] = plan.name
            calls.append(m.FunctionCall(id=call_id, name=plan.name, args=dict(plan.arguments)))
        resp.results = []
        resp.results_ready = trio.Event()
        if not await self.send_for(
            resp, lambda: m.ServerMessage(tool_call=m.ToolCall(function_calls=calls))
        ):
            await trio.sleep_forever()  # cancelled: the scope is already cancelled
        await self.conn.checkpoint(MID_TOOL_CALL)
        await resp.results_ready.wait()
        return list(resp.results)

    async def _speak(self, resp: _Response, text: str) -> None:
        state = self.state
        assert state is not None
        resp.words = _split_words(text)
        if self.text_mode:
            for i, word in enumerate(resp.words):
                text_part = m.ServerMessage(
                    server_content=m.ServerContent(model_turn=m.Content(parts=[m.Part(text=word)]))
                )
                if not await self.send_msg_for(resp, text_part):
                    return
                resp.spoken_words = i + 1
            await self.send_for(
                resp,
                lambda: m.ServerMessage(server_content=m.ServerContent(generation_complete=True)),
            )
            return
        if len(text) > _INLINE_SYNTHESIS_CHARS:
            # Long replies take a while to synthesize: keep the server responsive.
            frame = await trio.to_thread.run_sync(
                synthesize, text, _OUTPUT_RATE, abandon_on_cancel=True
            )
        else:
            frame = synthesize(text, _OUTPUT_RATE)
        n = round(_OUTPUT_RATE * self.fake.chunk_ms / 1000)
        samples = frame.samples
        count = max(1, -(-samples.shape[0] // n))
        if samples.shape[0] < count * n:
            samples = np.concatenate([samples, np.zeros(count * n - samples.shape[0], np.int16)])
        chunk_s = n / _OUTPUT_RATE
        pacer = Pacer(self.speed)
        words = resp.words
        for k in range(count):
            await pacer.wait(k * chunk_s)
            piece = samples[k * n : (k + 1) * n]

            def audio_message(piece: npt.NDArray[np.int16] = piece) -> m.ServerMessage:
                seq = state.next_seq
                state.next_seq = (seq + 1) & 0xFFFF
                data = stamp(AudioFrame(piece, _OUTPUT_RATE), seq).to_bytes()
                return m.ServerMessage(
                    server_content=m.ServerContent(
                        model_turn=m.Content(
                            parts=[m.Part(inline_data=m.Blob(mime_type=_OUTPUT_MIME, data=data))]
                        )
                    )
                )

            if not await self.send_for(resp, audio_message):
                return
            resp.audio_seconds += chunk_s
            due = -(-(k + 1) * len(words) // count)
            while resp.spoken_words < due:
                word = words[resp.spoken_words]
                resp.spoken_words += 1
                fragment = m.ServerMessage(
                    server_content=m.ServerContent(output_transcription=m.Transcription(text=word))
                )
                if self.output_transcription and not await self.send_msg_for(resp, fragment):
                    return
            await self.conn.checkpoint(MID_AUDIO)
        if not await self.send_for(
            resp, lambda: m.ServerMessage(server_content=m.ServerContent(generation_complete=True))
        ):
            return
        # turnComplete comes once the audio would have finished playing.
        await pacer.wait(count * chunk_s)

    def _response_tokens(self, resp: _Response) -> int:
        if self.text_mode:
            return _tokens_for_text("".join(resp.words[: resp.spoken_words]))
        return round(resp.audio_seconds * _AUDIO_TOKENS_PER_SECOND)

    def _usage(self, resp: _Response) -> m.UsageMetadata:
        state = self.state
        assert state is not None
        text, audio = state.prompt_text_tokens, state.prompt_audio_tokens
        image = state.prompt_image_tokens
        prompt = text + audio + image
        details = [m.ModalityTokenCount(modality="TEXT", token_count=text)]
        if audio:
            details.append(m.ModalityTokenCount(modality="AUDIO", token_count=audio))
        if image:
            details.append(m.ModalityTokenCount(modality="IMAGE", token_count=image))
        out = self._response_tokens(resp)
        out_details = [
            m.ModalityTokenCount(modality="TEXT" if self.text_mode else "AUDIO", token_count=out)
        ]
        if self.vertex:
            return m.UsageMetadata(
                prompt_token_count=prompt,
                candidates_token_count=out,
                total_token_count=prompt + out,
                prompt_tokens_details=details,
                candidates_tokens_details=out_details,
            )
        return m.UsageMetadata(
            prompt_token_count=prompt,
            response_token_count=out,
            total_token_count=prompt + out,
            prompt_tokens_details=details,
            response_tokens_details=out_details,
        )


def _tool_output(response: Any) -> Any:
    """The result a function response carries (``{"output": x}`` -> ``x``)."""
    if isinstance(response, dict):
        if set(response) == {"output"}:
            return response["output"]
        return response
    return None
