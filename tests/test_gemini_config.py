"""GeminiLive: endpoints, credentials, and the setup message it builds."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from google.genai import types as gt

from trio_realtime._config import ConnectionOptions, ProviderConfig
from trio_realtime.errors import ConfigurationError
from trio_realtime.events import ToolSpec
from trio_realtime.gemini import DEFAULT_MODEL, GeminiLive, GeminiProtocol
from trio_realtime.gemini import messages as m
from trio_realtime.gemini.codec import encode_client_message

KEY = "AIza" + "SyTESTKEY0123456789abcdefghijk"
GEMINI_WS = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage"


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)


def setup_wire(config: GeminiLive, handle: str | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = json.loads(encode_client_message(config.setup_message(handle)))
    return wire


def validate_setup_with_sdk(wire: dict[str, Any]) -> None:
    # `realtimeInputConfig` is not a field of the SDK's LiveClientSetup model
    # (the SDK builds it from LiveConnectConfig); check it on its own model.
    setup = dict(wire["setup"])
    if "realtimeInputConfig" in setup:
        gt.RealtimeInputConfig.model_validate(setup.pop("realtimeInputConfig"))
    gt.LiveClientMessage.model_validate({"setup": setup})


def test_is_a_provider_config_with_defaults() -> None:
    config = GeminiLive(api_key=KEY)
    assert isinstance(config, ProviderConfig)
    assert config.provider == "gemini"
    assert config.model == DEFAULT_MODEL == "gemini-3.8-live"
    assert isinstance(config.connection, ConnectionOptions)
    assert config.connection.ping_timeout == 60.0
    assert config.tools == ()


def test_key_never_in_repr() -> None:
    config = GeminiLive(api_key=KEY, access_token="auth_tokens/secret-token")
    assert KEY not in repr(config)
    assert "secret-token" not in repr(config)


def test_api_key_goes_in_header_by_default() -> None:
    url, headers = GeminiLive(api_key=KEY).endpoint()
    assert url == f"{GEMINI_WS}.v1beta.GenerativeService.BidiGenerateContent"
    assert headers == [("x-goog-api-key", KEY)]
    assert KEY not in url


def test_key_in_url_is_redacted_for_display() -> None:
    config = GeminiLive(api_key=KEY, key_in_url=True)
    url, headers = config.endpoint()
    assert url == f"{GEMINI_WS}.v1beta.GenerativeService.BidiGenerateContent?key={KEY}"
    assert headers == []
    assert KEY not in config.redacted_url()
    assert "key=" in config.redacted_url()


def test_key_from_environment_at_endpoint_time(monkeypatch: pytest.MonkeyPatch) -> None:
    config = GeminiLive()
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-env-key")
    assert config.endpoint()[1] == [("x-goog-api-key", "gemini-env-key")]
    monkeypatch.setenv("GOOGLE_API_KEY", "google-env-key")
    assert config.endpoint()[1] == [("x-goog-api-key", "google-env-key")]
    assert GeminiLive(api_key="explicit").endpoint()[1] == [("x-goog-api-key", "explicit")]


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        GeminiLive().endpoint()
    assert str(info.value) == (
        "No Gemini API key: pass api_key= to GeminiLive or set the "
        "GOOGLE_API_KEY or GEMINI_API_KEY environment variable."
    )
    assert GeminiLive().redacted_url() == "<unconfigured>"


def test_api_version_override() -> None:
    url, _ = GeminiLive(api_key=KEY, api_version="v1alpha").endpoint()
    assert url == f"{GEMINI_WS}.v1alpha.GenerativeService.BidiGenerateContent"


def test_ephemeral_token() -> None:
    config = GeminiLive(access_token="auth_tokens/abc")
    url, headers = config.endpoint()
    assert url == f"{GEMINI_WS}.v1alpha.GenerativeService.BidiGenerateContentConstrained"
    assert headers == [("Authorization", "Token auth_tokens/abc")]
    url, headers = GeminiLive(access_token="auth_tokens/abc", key_in_url=True).endpoint()
    assert url.endswith("BidiGenerateContentConstrained?access_token=auth_tokens%2Fabc")
    assert headers == []


def test_vertex_regional() -> None:
    config = GeminiLive(
        model="gemini-live-2.5-flash-native-audio",
        vertex_project="my-proj",
        vertex_location="europe-west4",
        access_token="ya29.token",
    )
    url, headers = config.endpoint()
    assert url == (
        "wss://europe-west4-aiplatform.googleapis.com/ws/"
        "google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert headers == [("Authorization", "Bearer ya29.token")]
    assert setup_wire(config)["setup"]["model"] == (
        "projects/my-proj/locations/europe-west4/publishers/google/models/"
        "gemini-live-2.5-flash-native-audio"
    )


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("global", "aiplatform.googleapis.com"),
        ("us", "aiplatform.us.rep.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
    ],
)
def test_vertex_hosts(location: str, host: str) -> None:
    config = GeminiLive(vertex_project="p", vertex_location=location, access_token="t")
    assert config.endpoint()[0].startswith(f"wss://{host}/ws/google.cloud.aiplatform.v1beta1.")


def test_vertex_without_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Vertex AI needs an OAuth access token"):
        GeminiLive(vertex_project="p", api_key=None).endpoint()


def test_vertex_express_mode_with_api_key() -> None:
    config = GeminiLive(vertex=True, api_key=KEY, model="gemini-live-2.5-flash-native-audio")
    url, headers = config.endpoint()
    assert url.startswith("wss://aiplatform.googleapis.com/ws/google.cloud.aiplatform.v1beta1.")
    assert headers == [("x-goog-api-key", KEY)]
    assert setup_wire(config)["setup"]["model"] == (
        "publishers/google/models/gemini-live-2.5-flash-native-audio"
    )


def test_url_override() -> None:
    url, headers = GeminiLive(url="ws://127.0.0.1:9000/x").endpoint()
    assert (url, headers) == ("ws://127.0.0.1:9000/x", [])  # no key needed for a fake server
    url, headers = GeminiLive(url="ws://127.0.0.1:9000/x", api_key=KEY).endpoint()
    assert (url, headers) == ("ws://127.0.0.1:9000/x", [("x-goog-api-key", KEY)])
    url, _ = GeminiLive(url="ws://127.0.0.1:9000/x?a=1", api_key=KEY, key_in_url=True).endpoint()
    assert url == f"ws://127.0.0.1:9000/x?a=1&key={KEY}"


@pytest.mark.parametrize("bad", ["http://example.com/ws", "nonsense", "wss://"])
def test_bad_url_is_a_configuration_error(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="url must be a ws:// or wss:// URL"):
        GeminiLive(url=bad)


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not a tool"):
        GeminiLive(tools=[42])
    with pytest.raises(ConfigurationError, match="text_input must be"):
        GeminiLive(text_input="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="response_modalities"):
        GeminiLive(response_modalities="AUDIO")
    with pytest.raises(ConfigurationError, match="model must be"):
        GeminiLive(model="")


def test_model_names() -> None:
    assert GeminiLive(model="gemini-3.8-live").model_name() == "models/gemini-3.8-live"
    assert GeminiLive(model="models/x").model_name() == "models/x"
    assert GeminiLive(model="tunedModels/y").model_name() == "tunedModels/y"


def test_default_setup() -> None:
    wire = setup_wire(GeminiLive())
    assert wire == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "sessionResumption": {},
            "contextWindowCompression": {"slidingWindow": {}},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
        }
    }
    validate_setup_with_sdk(wire)


@attrs.frozen
class _Decorated:
    spec: ToolSpec


def test_full_setup() -> None:
    weather = ToolSpec(
        name="get_weather",
        description="Current weather for a city",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    )
    config = GeminiLive(
        voice="Kore",
        language="en-US",
        instructions="Be brief.",
        tools=[weather, _Decorated(ToolSpec(name="lights"))],
        google_search=True,
        start_of_speech_sensitivity="START_SENSITIVITY_LOW",
        silence_duration_ms=500,
        activity_handling="NO_INTERRUPTION",
        compression_trigger_tokens=25600,
        compression_target_tokens=12800,
        temperature=0.7,
        max_output_tokens=512,
        thinking_budget=0,
        proactive_audio=True,
        affective_dialog=True,
        input_transcription=False,
    )
    wire = setup_wire(config, "HANDLE-1")
    assert wire == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "temperature": 0.7,
                "maxOutputTokens": 512,
                "speechConfig": {
                    "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}},
                    "languageCode": "en-US",
                },
                "thinkingConfig": {"thinkingBudget": 0},
                "enableAffectiveDialog": True,
            },
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "get_weather",
                            "description": "Current weather for a city",
                            "parametersJsonSchema": dict(weather.parameters),
                        },
                        {
                            "name": "lights",
                            "parametersJsonSchema": {"type": "object", "properties": {}},
                        },
                    ]
                },
                {"googleSearch": {}},
            ],
            "realtimeInputConfig": {
                "automaticActivityDetection": {
                    "startOfSpeechSensitivity": "START_SENSITIVITY_LOW",
                    "silenceDurationMs": 500,
                },
                "activityHandling": "NO_INTERRUPTION",
            },
            "sessionResumption": {"handle": "HANDLE-1"},
            "contextWindowCompression": {
                "triggerTokens": 25600,
                "slidingWindow": {"targetTokens": 12800},
            },
            "outputAudioTranscription": {},
            "proactivity": {"proactiveAudio": True},
        }
    }
    validate_setup_with_sdk(wire)
    assert config.setup_message("HANDLE-1").extra == {}


def test_manual_activity_and_no_resumption_or_compression() -> None:
    config = GeminiLive(
        automatic_activity_detection=False,
        session_resumption=False,
        context_window_compression=False,
        output_transcription=False,
    )
    wire = setup_wire(config)
    assert wire["setup"]["realtimeInputConfig"] == {
        "automaticActivityDetection": {"disabled": True}
    }
    assert "sessionResumption" not in wire["setup"]
    assert "contextWindowCompression" not in wire["setup"]
    assert "outputAudioTranscription" not in wire["setup"]
    validate_setup_with_sdk(wire)


def test_setup_extra_is_merged_and_typed() -> None:
    config = GeminiLive(
        voice="Puck",
        setup_extra={
            "generationConfig": {"topK": 20, "speechConfig": {"languageCode": "de-DE"}},
            "historyConfig": {"initialHistoryInClientContent": True},
        },
    )
    setup = config.setup_message().setup
    wire = setup_wire(config)["setup"]
    assert wire["generationConfig"]["topK"] == 20
    assert wire["generationConfig"]["speechConfig"] == {
        "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}},
        "languageCode": "de-DE",
    }
    assert wire["historyConfig"] == {"initialHistoryInClientContent": True}
    assert isinstance(setup, m.Setup)
    assert setup.history_config == m.HistoryConfig(initial_history_in_client_content=True)
    assert setup.extra == {}
    validate_setup_with_sdk({"setup": wire})


def test_bad_setup_extra_is_a_configuration_error() -> None:
    config = GeminiLive(setup_extra={"generationConfig": {"temperature": "hot"}})
    with pytest.raises(ConfigurationError, match=r"\$\.generationConfig\.temperature"):
        config.setup_message()


def test_new_protocol() -> None:
    config = GeminiLive(api_key=KEY)
    proto = config.new_protocol(resumption_handle="H")
    assert isinstance(proto, GeminiProtocol)
    assert proto.resumption_handle == "H"
    proto.start()
    (setup,) = proto.data_to_send()
    assert json.loads(setup)["setup"]["sessionResumption"] == {"handle": "H"}


def test_sequences_are_frozen_and_validated() -> None:
    spec = ToolSpec("f")
    config = GeminiLive(tools=[spec], response_modalities=["TEXT"])
    assert config.tools == (spec,)
    assert config.response_modalities == ("TEXT",)
    assert GeminiLive(tools=None).tools == ()
    with pytest.raises(ConfigurationError, match="tools must be a list of tools, got str"):
        GeminiLive(tools="f")


# --------------------------------------------------------------------------- typed keywords


def test_sampling_media_thinking_and_transcription_keywords() -> None:
    config = GeminiLive(
        api_key=KEY,
        top_p=0.9,
        top_k=40,
        candidate_count=1,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        seed=7,
        media_resolution="low",
        include_thoughts=True,
        thinking_budget=128,
        input_transcription_languages=["en-US", "fr-FR"],
        output_transcription_languages=["en-US"],
    )
    wire = setup_wire(config)
    validate_setup_with_sdk(wire)
    gen = wire["setup"]["generationConfig"]
    assert {k: gen[k] for k in gen if k != "responseModalities"} == {
        "topP": 0.9,
        "topK": 40,
        "candidateCount": 1,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "seed": 7,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": True},
    }
    assert wire["setup"]["inputAudioTranscription"] == {"languageCodes": ["en-US", "fr-FR"]}
    assert wire["setup"]["outputAudioTranscription"] == {"languageCodes": ["en-US"]}
    # Nothing set: none of it is sent.
    plain = setup_wire(GeminiLive(api_key=KEY))["setup"]
    assert plain["generationConfig"] == {"responseModalities": ["AUDIO"]}
    assert plain["inputAudioTranscription"] == {}


def test_setup_extra_wins_over_keywords() -> None:
    config = GeminiLive(
        api_key=KEY, top_p=0.9, setup_extra={"generationConfig": {"topP": 0.5, "topK": 3}}
    )
    gen = setup_wire(config)["setup"]["generationConfig"]
    assert (gen["topP"], gen["topK"]) == (0.5, 3)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"top_p": 1.5}, "top_p must be a number between 0 and 1 or None, got 1.5."),
        ({"top_p": "high"}, "top_p must be a number between 0 and 1 or None, got 'high'."),
        ({"top_k": 0}, "top_k must be an integer of at least 1 or None, got 0."),
        ({"top_k": 2.5}, "top_k must be an integer of at least 1 or None, got 2.5."),
        ({"candidate_count": 0}, "candidate_count must be an integer of at least 1"),
        (
            {"presence_penalty": 3},
            "presence_penalty must be a number between -2 and 2 or None, got 3.",
        ),
        (
            {"frequency_penalty": float("nan")},
            "frequency_penalty must be a number between -2 and 2",
        ),
        ({"seed": True}, "seed must be an integer or None, got True."),
        ({"temperature": 2.5}, "temperature must be a number between 0 and 2 or None, got 2.5."),
        ({"max_output_tokens": 0}, "max_output_tokens must be an integer of at least 1"),
        (
            {"thinking_budget": -2},
            "thinking_budget must be an integer of at least -1 or None, got -2.",
        ),
        (
            {"thinking_level": "max"},
            "thinking_level must be 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH' or None, got 'max'.",
        ),
        ({"affective_dialog": "yes"}, "affective_dialog must be True, False or None, got 'yes'."),
        ({"proactive_audio": 1}, "proactive_audio must be True, False or None, got 1."),
        ({"include_thoughts": "on"}, "include_thoughts must be True, False or None, got 'on'."),
        (
            {"media_resolution": "ultra"},
            "media_resolution must be 'low', 'medium', 'high' or None, got 'ultra'.",
        ),
        (
            {"input_transcription_languages": "en-US"},
            "input_transcription_languages must be a list of BCP-47 language codes such as ['en-US'], got 'en-US'.",
        ),
        ({"output_transcription_languages": ["en-US", ""]}, "got ''."),
        (
            {"input_transcription": False, "input_transcription_languages": ["de-DE"]},
            "input_transcription_languages needs input_transcription=True, got ['de-DE']",
        ),
        (
            {"tool_choice": "required"},
            "tool_choice must be 'auto', 'none' or a list of tool names, got 'required'.",
        ),
        (
            {"tool_choice": ["nope"]},
            "tool_choice names 'nope', which is not a declared tool (tools: 'a', 'b').",
        ),
        ({"extra_headers": [("X-Proxy", 5)]}, "got one named 'X-Proxy'."),
        (
            {"extra_headers": "X-Proxy: 1"},
            "extra_headers must be a list of (name, value) pairs, got str.",
        ),
    ],
)
def test_bad_keywords_name_the_value(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        GeminiLive(api_key=KEY, tools=[ToolSpec("a"), ToolSpec("b")], **kw)
    assert message in str(info.value)


def test_tool_choice_selects_what_is_declared() -> None:
    tools = [ToolSpec("a"), ToolSpec("b")]

    def declared(config: GeminiLive) -> list[str]:
        setup = setup_wire(config)["setup"]
        return [
            d["name"] for t in setup.get("tools", []) for d in t.get("functionDeclarations", [])
        ]

    assert declared(GeminiLive(api_key=KEY, tools=tools)) == ["a", "b"]
    assert declared(GeminiLive(api_key=KEY, tools=tools, tool_choice="none")) == []
    assert declared(GeminiLive(api_key=KEY, tools=tools, tool_choice=["b"])) == ["b"]


def test_extra_headers_follow_the_credentials() -> None:
    config = GeminiLive(api_key=KEY, extra_headers=[("X-Proxy-Auth", "p1")])
    assert config.endpoint()[1] == [("x-goog-api-key", KEY), ("X-Proxy-Auth", "p1")]
    # Header values may be credentials: never in the repr.
    assert "p1" not in repr(config)


def test_affective_dialog_and_proactivity_select_v1alpha(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="trio_realtime.gemini")
    kws: list[dict[str, Any]] = [
        {"affective_dialog": True},
        {"proactive_audio": True},
        {"affective_dialog": False},
    ]
    for kw in kws:
        url = GeminiLive(api_key=KEY, **kw).endpoint()[0]
        assert url.startswith(f"{GEMINI_WS}.v1alpha.GenerativeService.BidiGenerateContent")
    assert "v1alpha: affective_dialog/proactive_audio need it" in caplog.text
    assert ".v1beta." in GeminiLive(api_key=KEY).endpoint()[0]
    # An explicit version wins; Vertex keeps its own.
    assert (
        ".v1beta."
        in GeminiLive(api_key=KEY, affective_dialog=True, api_version="v1beta").endpoint()[0]
    )
    vertex = GeminiLive(api_key=KEY, vertex=True, affective_dialog=True)
    assert "aiplatform.v1beta1." in vertex.endpoint()[0]
