"""The fake OpenAI Realtime service (GA protocol) for the fake-server shell.

`FakeOpenAI` is the ``"openai"`` `ProviderHandler` of `trio_realtime.testing.server`:
plug it into a `FakeServer` (it is the default) and point any OpenAI Realtime
client at ``server.openai_url``. It behaves like the service in the ways a
client can observe:

* **Admission** as captured live: the upgrade is accepted, then a bad or
  missing key gets an ``error`` event and close code 3000, a missing or unknown
  model close 4000, the retired beta header (``OpenAI-Beta: realtime=v1``) close
  4000 ``beta_api_shape_disabled``. ``FakeOpenAI(auth_failure="http")`` refuses
  with HTTP 401 instead.
* ``session.created`` with the full default session; ``session.update``
  validated (``missing_required_parameter``, ``unknown_parameter`` with the
  dotted path, ``invalid_value``, ``invalid_type``, range errors) and merged,
  answered with the full ``session.updated``; a rejected update applies nothing.
* Input audio (PCM16 24 kHz, G.711 µ-law/A-law 8 kHz) buffered; an energy VAD
  (`EnergyVAD`, ``threshold`` 0..1 mapped to -70..-10 dBFS) emits
  ``speech_started``/``speech_stopped`` with ``audio_start_ms``/``audio_end_ms``
  as offsets into all audio appended, commits the turn, adds the user item,
  transcribes it (when ``audio.input.transcription`` is set) and responds
  (``create_response``). What the user "said" is the transcript hidden in
  `voice.user_utterance` audio, or the scenario's ``heard``.
* Push-to-talk (``turn_detection: null``): ``commit`` (100 ms minimum, the
  service's ``input_audio_buffer_commit_empty`` message) and ``clear``.
* Responses in the service's event order, audio from the synthetic voice with
  sequence stamps in ``chunk_ms`` deltas paced at the server's speed, transcript
  deltas ahead of the audio, text mode, function calls, out-of-band responses
  (``conversation: "none"``), per-response overrides, ``response.done`` with
  usage followed by ``rate_limits.updated``.
* Barge-in (speech during a response cancels it: ``turn_detected``),
  ``response.cancel`` (``client_cancelled``; ``response_cancel_not_active``),
  ``conversation.item.truncate`` range-checked against the audio produced,
  ``conversation.item.delete`` / ``retrieve``, ``session.close``.
* Items kept as they stream: an assistant item's content part appears when
  ``response.content_part.added`` goes out and its audio, transcript, text or
  call arguments grow with the deltas, so ``retrieve`` and ``truncate`` work
  mid-stream as well as after ``response.done``.
* Never crashes on bad input: binary frames, invalid JSON, unknown event types
  and malformed fields are answered with the service's ``error`` events and the
  session carries on.

Usage::

    from trio_realtime.testing.openai import FakeOpenAI
    from trio_realtime.testing.scenario import Scenario, Turn
    from trio_realtime.testing.server import open_fake_server

    fake = FakeOpenAI(api_keys={"sk-test"}, transcription_delay=0.8)
    script = Scenario([Turn(heard="what are your hours", reply="Nine to five.")])
    async with open_fake_server(handlers={"openai": fake}, scenario=script) as server:
        ...  # point the client at server.openai_url + "?model=gpt-realtime"
    state = fake.connections[0]      # OpenAIConnectionState
    state.received                   # every client event, parsed
    state.items, state.session       # the conversation and the effective session

Fault checkpoints fired (see `faults.MOMENTS`): ``before_setup``,
``after_setup``, ``user_speech``, ``mid_audio`` (after each audio delta),
``mid_tool_call`` (after a response that called tools), ``response_done``.

Known simplifications: input transcription is reported right after the item
is committed (the service reports it asynchronously, often later); the idle
timeout of ``server_vad`` is not emulated; ``semantic_vad``
behaves like ``server_vad`` with a silence set by ``eagerness``.

The package reads by concern: ``_defaults`` (ids, models, default sessions),
``_validation`` (the service's ``error`` answers to bad client events),
``_base`` (a connection's state and plumbing), ``_items`` (conversation items),
``_responses`` (planning and streaming replies), ``_input`` (input audio buffer,
VAD, idle timeout, transcription), ``_connection`` (admission, dispatch,
session events), ``_g711`` and ``_usage`` (audio codecs, token counts).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ...errors import ConfigurationError
from ..server import FakeConnection
from ._connection import OpenAIConnectionState as OpenAIConnectionState
from ._defaults import DEFAULT_INSTRUCTIONS as DEFAULT_INSTRUCTIONS
from ._defaults import SUPPORTED_CLIENT_EVENTS as SUPPORTED_CLIENT_EVENTS
from ._defaults import VOICES as VOICES
from ._defaults import Ids as Ids
from ._defaults import bytes_per_ms as bytes_per_ms
from ._defaults import default_realtime_session as default_realtime_session
from ._defaults import default_transcription_session as default_transcription_session
from ._defaults import known_model as known_model
from ._defaults import semantic_vad as semantic_vad
from ._defaults import server_vad as server_vad
from ._g711 import g711_decode as g711_decode
from ._g711 import g711_encode as g711_encode
from ._mcp import FakeMcpServer as FakeMcpServer
from ._usage import audio_tokens as audio_tokens
from ._usage import response_usage as response_usage
from ._usage import text_tokens as text_tokens
from ._validation import Invalid as Invalid
from ._validation import merge_session as merge_session
from ._validation import unknown_type_error as unknown_type_error
from ._validation import validate_response_params as validate_response_params
from ._validation import validate_session_update as validate_session_update

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "SUPPORTED_CLIENT_EVENTS",
    "VOICES",
    "FakeMcpServer",
    "FakeOpenAI",
    "FakeOpenAIServer",
    "OpenAIConnectionState",
    "create_handler",
    "default_realtime_session",
    "default_transcription_session",
    "g711_decode",
    "g711_encode",
]


class FakeOpenAI:
    """The fake OpenAI Realtime service, as a `ProviderHandler` for the fake-server shell.

    One instance serves every ``/v1/realtime`` (and Azure ``/openai/v1/realtime``)
    connection of a `FakeServer`; each connection gets an `OpenAIConnectionState`,
    kept in `connections` (and in ``conn.state["openai"]``) for assertions.

    Args:
        seed: seeds each connection's id generator (connection *n* uses
            ``seed + n``), so ids repeat from run to run.
        api_keys: the keys accepted; `None` accepts any non-empty key.
        invalid_keys: keys always refused (``invalid_api_key``).
        require_auth: refuse connections without a key.
        auth_failure: ``"close"`` (what the service does: accept the upgrade,
            send an ``error`` event and close with 3000) or ``"http"`` (refuse
            the upgrade with HTTP 401 and a JSON body).
        models: model names accepted besides the service's own families
            (``gpt-realtime*``, ``gpt-4o*-realtime-preview*``, ``gpt-audio*``);
            Azure deployments accept any name.
        chunk_ms: length of each reply audio delta.
        max_session_seconds: after this many (real) seconds the session ends
            with close code 1001, as the service does after 60 minutes.
        voice: the default voice of new sessions.
        transcription_delay: seconds (of scripted time, divided by the server's
            speed) between committing a user turn and reporting its
            transcription; the service takes about a second, so the transcript
            usually arrives while the reply is already streaming. 0 (default)
            reports it at once, before the reply starts.
        mcp_servers: scripted remote MCP servers by URL (or connector id):
            the tools ``mcp`` session tools list and call (see `FakeMcpServer`;
            a URL not given here fails to list, as an unreachable server does).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        api_keys: Collection[str] | None = None,
        invalid_keys: Collection[str] = (),
        require_auth: bool = True,
        auth_failure: str = "close",
        models: Collection[str] = (),
        chunk_ms: float = 100.0,
        max_session_seconds: float = 3600.0,
        voice: str = "alloy",
        transcription_delay: float = 0.0,
        mcp_servers: Mapping[str, FakeMcpServer] | None = None,
    ) -> None:
        if auth_failure not in ("close", "http"):
            raise ConfigurationError(
                f"auth_failure must be 'close' or 'http', got {auth_failure!r}"
            )
        if not (chunk_ms > 0):
            raise ConfigurationError(f"chunk_ms must be positive, got {chunk_ms!r}")
        self.seed = seed
        self.api_keys = None if api_keys is None else frozenset(api_keys)
        self.invalid_keys = frozenset(invalid_keys)
        self.require_auth = require_auth
        self.auth_failure = auth_failure
        self.models = frozenset(models)
        self.chunk_ms = float(chunk_ms)
        self.max_session_seconds = float(max_session_seconds)
        self.voice = voice
        if not transcription_delay >= 0:
            raise ConfigurationError(
                f"transcription_delay must be >= 0, got {transcription_delay!r}"
            )
        self.transcription_delay = float(transcription_delay)
        self.mcp_servers: Mapping[str, FakeMcpServer] = dict(mcp_servers or {})
        self.connections: list[OpenAIConnectionState] = []

    def key_accepted(self, key: str) -> bool:
        """Whether `key` opens a session."""
        if not key or key in self.invalid_keys:
            return False
        return self.api_keys is None or key in self.api_keys

    async def handle(self, conn: FakeConnection) -> None:
        """Serve one connection (called by the shell)."""
        state = OpenAIConnectionState(self, conn)
        self.connections.append(state)
        conn.state["openai"] = state
        await state.run()


#: The name the team's design uses for the OpenAI side of the fake server.
FakeOpenAIServer = FakeOpenAI


def create_handler() -> FakeOpenAI:
    """The default OpenAI handler of a new `FakeServer` (registered in the shell)."""
    return FakeOpenAI()
