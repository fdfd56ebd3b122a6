"""OpenAIRealtime: endpoints, credentials, and the session.update it asks for."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai.types.realtime import RealtimeClientEvent

from trio_realtime._config import ConnectionOptions, ProviderConfig
from trio_realtime._wire import NOT_GIVEN
from trio_realtime.errors import ConfigurationError
from trio_realtime.events import ToolSpec
from trio_realtime.openai import OpenAIProtocol, OpenAIRealtime, OpenAITranscription
from trio_realtime.openai import messages as m

KEY = "sk-" + "test-0123456789abcdefghij"
CLIENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeClientEvent)


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)


class WeatherTool:
    spec = ToolSpec(
        name="get_weather",
        description="Current weather for a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )


def test_defaults_openai_endpoint_and_bearer_header() -> None:
    config = OpenAIRealtime(api_key=KEY)
    assert isinstance(config, ProviderConfig)
    assert config.provider == "openai"
    url, headers = config.endpoint()
    assert url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert headers == [("Authorization", f"Bearer {KEY}")]
    assert isinstance(config.connection, ConnectionOptions)


def test_key_from_environment_at_endpoint_time(monkeypatch: pytest.MonkeyPatch) -> None:
    config = OpenAIRealtime(model="gpt-realtime-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "ek_abcdef0123456789")
    url, headers = config.endpoint()
    assert url.endswith("?model=gpt-realtime-mini")
    assert headers == [("Authorization", "Bearer ek_abcdef0123456789")]


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAIRealtime().endpoint()
    assert str(info.value) == (
        "No OpenAI API key: pass api_key= to OpenAIRealtime or set the "
        "OPENAI_API_KEY environment variable."
    )
    assert OpenAIRealtime().redacted_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime"


def test_key_never_in_repr_and_no_beta_header() -> None:
    config = OpenAIRealtime(api_key=KEY, azure_ad_token="entra-secret-token")
    assert KEY not in repr(config)
    assert "entra-secret-token" not in repr(config)
    _url, headers = OpenAIRealtime(api_key=KEY, organization="org_1", project="proj_1").endpoint()
    assert ("OpenAI-Organization", "org_1") in headers
    assert ("OpenAI-Project", "proj_1") in headers
    assert all(name.lower() != "openai-beta" for name, _ in headers)
    with pytest.raises(ConfigurationError, match="retired beta protocol"):
        OpenAIRealtime(api_key=KEY, extra_headers=[("OpenAI-Beta", "realtime=v1")]).endpoint()


def test_url_override_adds_model_and_makes_key_optional() -> None:
    config = OpenAIRealtime(url="ws://127.0.0.1:8765/v1/realtime")
    assert config.endpoint() == ("ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime", [])
    kept = OpenAIRealtime(url="wss://proxy.example/v1/realtime?model=other&x=1", api_key=KEY)
    assert kept.endpoint() == (
        "wss://proxy.example/v1/realtime?model=other&x=1",
        [("Authorization", f"Bearer {KEY}")],
    )
    with pytest.raises(ConfigurationError, match=r"ws:// or wss://"):
        OpenAIRealtime(url="https://api.openai.com/v1/realtime")


def test_azure_ga_endpoint_with_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    config = OpenAIRealtime(
        azure_endpoint="https://myres.openai.azure.com/", deployment="my-realtime"
    )
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azkey123")
    url, headers = config.endpoint()
    assert url == "wss://myres.openai.azure.com/openai/v1/realtime?model=my-realtime"
    assert headers == [("api-key", "azkey123")]
    assert "api-version" not in url


def test_azure_with_entra_token_and_missing_credentials() -> None:
    config = OpenAIRealtime(
        azure_endpoint="https://myres.openai.azure.com/openai/v1", azure_ad_token="tok"
    )
    url, headers = config.endpoint()
    assert url == "wss://myres.openai.azure.com/openai/v1/realtime?model=gpt-realtime"
    assert headers == [("Authorization", "Bearer tok")]
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        OpenAIRealtime(azure_endpoint="https://myres.openai.azure.com").endpoint()
    with pytest.raises(ConfigurationError, match="azure_endpoint must look like"):
        OpenAIRealtime(azure_endpoint="myres")


def test_default_session_update_asks_for_transcription_only() -> None:
    assert OpenAIRealtime().session_config() == {
        "type": "realtime",
        "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}},
    }


def test_full_session_config_matches_the_sdk() -> None:
    config = OpenAIRealtime(
        voice="marin",
        instructions="Be brief.",
        tools=[WeatherTool(), ToolSpec(name="noop")],
        turn_detection=None,
        input_transcription={"model": "gpt-4o-transcribe", "language": "en"},
        output_modalities=["audio"],
        noise_reduction="near_field",
        speed=1.2,
        max_output_tokens=300,
        tool_choice="auto",
        session_extra={
            "audio": {"output": {"speed": 1.1}},
            "include": ["item.input_audio_transcription.logprobs"],
        },
    )
    session = config.session_config()
    assert session == {
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": None,
                "noise_reduction": {"type": "near_field"},
            },
            "output": {"voice": "marin", "speed": 1.1},
        },
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
            {
                "type": "function",
                "name": "noop",
                "parameters": {"type": "object", "properties": {}},
            },
        ],
        "tool_choice": "auto",
        "max_output_tokens": 300,
        "include": ["item.input_audio_transcription.logprobs"],
    }
    CLIENT_ADAPTER.validate_python({"type": "session.update", "session": session})


def test_turn_detection_and_transcription_accept_message_objects() -> None:
    config = OpenAIRealtime(
        turn_detection=m.SemanticVad(eagerness="low"),
        input_transcription=None,
    )
    assert config.session_config()["audio"]["input"] == {
        "transcription": None,
        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
    }
    service_default = OpenAIRealtime(input_transcription=NOT_GIVEN)
    assert service_default.session_config() == {"type": "realtime"}
    with pytest.raises(ConfigurationError, match="turn_detection must be"):
        OpenAIRealtime(turn_detection={"silence_duration_ms": 500})


def test_bad_tools_and_modalities_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not a tool"):
        OpenAIRealtime(tools=[object()])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="output_modalities must be a list"):
        OpenAIRealtime(output_modalities="audio")
    with pytest.raises(ConfigurationError, match="model must be"):
        OpenAIRealtime(model="")


def test_new_protocol_is_an_openai_protocol() -> None:
    config = OpenAIRealtime(voice="cedar")
    proto = config.new_protocol(resumption_handle="ignored")
    assert isinstance(proto, OpenAIProtocol)
    assert proto.input_sample_rate == proto.output_sample_rate == 24000
    created = {
        "type": "session.created",
        "event_id": "e1",
        "session": {"type": "realtime", "id": "sess_1"},
    }
    assert proto.receive(json.dumps(created)) == []
    [update] = proto.data_to_send()
    sent = json.loads(update)
    assert sent["session"] == {
        "type": "realtime",
        "audio": {
            "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
            "output": {"voice": "cedar"},
        },
    }
    CLIENT_ADAPTER.validate_json(update)


def test_session_options_of_the_wrong_shape_fail_early() -> None:
    with pytest.raises(ConfigurationError) as info:
        OpenAIRealtime(session_extra={"audio": {"output": {"speed": "fast"}}})
    assert str(info.value) == (
        "Bad session options: expected float or null, got str @ $.audio.output.speed."
    )
    with pytest.raises(ConfigurationError, match=r"@ \$.max_output_tokens"):
        OpenAIRealtime(max_output_tokens=[1])  # type: ignore[arg-type]


def test_url_with_call_id_or_transcription_intent_gets_no_model() -> None:
    sideband = OpenAIRealtime(url="wss://api.openai.com/v1/realtime?call_id=rtc_1", api_key=KEY)
    assert sideband.endpoint()[0] == "wss://api.openai.com/v1/realtime?call_id=rtc_1"
    asr = OpenAIRealtime(url="wss://api.openai.com/v1/realtime?intent=transcription")
    assert asr.endpoint()[0] == "wss://api.openai.com/v1/realtime?intent=transcription"


# --------------------------------------------------------------------------- typed keywords


def test_truncation_and_tracing_keywords() -> None:
    def session(**kw: Any) -> dict[str, Any]:
        return OpenAIRealtime(api_key=KEY, **kw).session_config()

    assert session(truncation=0.8)["truncation"] == {
        "type": "retention_ratio",
        "retention_ratio": 0.8,
    }
    assert session(truncation="disabled")["truncation"] == "disabled"
    assert session(truncation=m.RetentionRatioTruncation(retention_ratio=0.5))["truncation"] == {
        "type": "retention_ratio",
        "retention_ratio": 0.5,
    }
    assert session(tracing={"workflow_name": "support"})["tracing"] == {"workflow_name": "support"}
    assert "truncation" not in session()
    assert "tracing" not in session()
    # session_extra wins over the keyword.
    assert session(truncation=0.8, session_extra={"truncation": "auto"})["truncation"] == "auto"
    for bad in (1.2, -0.1, "sometimes", True):
        with pytest.raises(
            ConfigurationError, match=f"retention ratio between 0 and 1, got {bad!r}"
        ):
            OpenAIRealtime(api_key=KEY, truncation=bad)
    with pytest.raises(ConfigurationError, match=r"tracing must be 'auto' or a dict.*got 'on'"):
        OpenAIRealtime(api_key=KEY, tracing="on")


def test_transcription_configuration() -> None:
    config = OpenAITranscription(
        api_key=KEY,
        model="gpt-4o-transcribe",
        language="fr",
        prompt="Names: Zoë.",
        turn_detection=None,
    )
    assert config.endpoint() == (
        "wss://api.openai.com/v1/realtime?intent=transcription",
        [("Authorization", f"Bearer {KEY}")],
    )
    assert config.session_config() == {
        "type": "transcription",
        "audio": {
            "input": {
                "transcription": {
                    "model": "gpt-4o-transcribe",
                    "language": "fr",
                    "prompt": "Names: Zoë.",
                },
                "turn_detection": None,
            }
        },
    }
    # The SDK's own type accepts the update we send.
    CLIENT_ADAPTER.validate_python({"type": "session.update", "session": config.session_config()})
    with pytest.raises(ConfigurationError, match="instructions is for conversations"):
        OpenAITranscription(api_key=KEY, instructions="Be brief.")
    with pytest.raises(ConfigurationError, match="not input_transcription="):
        OpenAITranscription(api_key=KEY, input_transcription={"model": "whisper-1"})
    with pytest.raises(ConfigurationError, match="Bad session options"):
        OpenAITranscription(api_key=KEY, session_extra={"audio": {"input": {"transcription": 5}}})
