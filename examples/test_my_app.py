"""Testing your own application against the fake server, with pytest.

    python examples/test_my_app.py        # or: pytest examples/test_my_app.py

`ask` below stands for your application code. The tests run it against the
fake server that the trio_realtime pytest plugin provides (loaded
automatically once trio_realtime is installed; the tests need pytest-trio):

* ``fake_server``: a local server speaking the real OpenAI Realtime and Gemini
  Live protocols, on a free port, with unpaced reply audio; inject faults
  with ``fake_server.inject(...)``.
* ``fake_scenario``: the script the fake model follows (`Turn`, tool calls
  with the results you expect); also set with ``@pytest.mark.fake_server``.
* ``openai_config`` / ``gemini_config``: configurations pointed at it.

Nothing leaves the machine and no key is needed.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing import PlannedToolCall, RefuseHandshake, Scenario, Turn
from trio_realtime.testing.server import FakeServer

# --------------------------------------------------------------------------- the application


@rt.tool
def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: City name.
    """
    return {"city": city, "sky": "clear", "temperature": 18}


def make_config(provider: str, **overrides: Any) -> rt.OpenAIRealtime | rt.GeminiLive:
    """The application's session configuration; tests pass ``url=`` and ``api_key=``."""
    options: dict[str, Any] = {"instructions": "Answer briefly.", "tools": [get_weather]}
    options.update(overrides)
    if provider == "openai":
        return rt.OpenAIRealtime(**options)
    return rt.GeminiLive(**options)


async def ask(config: rt.OpenAIRealtime | rt.GeminiLive, question: str) -> tuple[str, float]:
    """Ask one question; return the spoken answer's transcript and its length in seconds."""
    async with rt.connect(config) as session:
        await session.send_text(question)
        text, seconds = "", 0.0
        async for event in session.events():
            match event:
                case rt.AudioOut(frame=frame):
                    seconds += frame.duration
                case rt.Transcript(role="assistant", text=t, final=True):
                    text = t
                case rt.TurnDone():
                    return text, seconds
    raise RuntimeError("the session ended before the answer did")


# --------------------------------------------------------------------------- the tests


@pytest.fixture(params=["openai", "gemini"])
def app_config(request: pytest.FixtureRequest, fake_server: FakeServer) -> Any:
    """The application's own configuration, pointed at the fake server (both providers)."""
    provider: str = request.param
    url = fake_server.openai_url if provider == "openai" else fake_server.gemini_url()
    return make_config(provider, url=url, api_key="test")


@pytest.mark.trio
@pytest.mark.fake_server(scenario=[Turn(reply="Paris is the capital of France.")])
async def test_ask_returns_the_spoken_answer(app_config: Any) -> None:
    with trio.fail_after(10):
        text, seconds = await ask(app_config, "What is the capital of France?")
    assert text == "Paris is the capital of France."
    assert seconds > 1.0  # the synthetic voice really spoke it


@pytest.mark.trio
async def test_the_weather_tool_is_called_and_its_result_used(
    app_config: Any, fake_scenario: Scenario
) -> None:
    fake_scenario.turns = [
        Turn(
            tool_calls=[
                PlannedToolCall(
                    "get_weather",
                    {"city": "Oslo"},
                    # The fake model checks what the application's tool returned:
                    expect_result={"city": "Oslo", "sky": "clear", "temperature": 18},
                )
            ],
            reply="It is clear in Oslo.",
        )
    ]
    with trio.fail_after(10):
        text, _ = await ask(app_config, "Weather in Oslo?")
    assert text == "It is clear in Oslo."
    run = fake_scenario.runs[0]
    assert run.mismatches == []  # the tool returned what the test expected
    assert run.history[0] == ("user", "Weather in Oslo?")


@pytest.mark.trio
async def test_a_refused_key_is_a_clear_error(app_config: Any, fake_server: FakeServer) -> None:
    fake_server.inject(RefuseHandshake(401))  # the next connection is refused, as a bad key is
    with trio.fail_after(10), pytest.raises(rt.AuthenticationError):
        await ask(app_config, "Hello?")


@pytest.mark.trio
async def test_with_the_ready_made_config(openai_config: rt.OpenAIRealtime) -> None:
    # openai_config / gemini_config are ready to connect; adjust them with attrs.evolve.
    config = attrs.evolve(openai_config, instructions="Be terse.", tools=[get_weather])
    with trio.fail_after(10):
        text, _ = await ask(config, "Hi")
    assert text == "You said: Hi. Thank you."  # the fake model's default reply


if __name__ == "__main__":
    # (The warning filter: this file imported trio_realtime before pytest started.)
    args = ["-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    sys.exit(pytest.main([__file__, *args]))
