"""Testing your own application against the fake server, with pytest.

    python examples/test_my_app.py        # or: pytest examples/test_my_app.py

`ask` below stands for your application code. The tests run it against
`open_fake_server`, a local server speaking the real OpenAI Realtime and
Gemini Live protocols: scripted replies (`Scenario`, `Turn`), tool calls
with the results you expect (`PlannedToolCall`), and injected faults
(`RefuseHandshake`, ...). Nothing leaves the machine and no key is needed.

This example drives `open_fake_server` directly; the pytest plugin that ships
with trio_realtime offers the same server as fixtures.
"""

from __future__ import annotations

import math
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.faults import RefuseHandshake
from trio_realtime.testing.scenario import PlannedToolCall, Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server

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
                case rt.ResponseDone() if text:
                    return text, seconds
    raise RuntimeError("the session ended before the answer did")


# --------------------------------------------------------------------------- the tests

PROVIDERS = ["openai", "gemini"]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    # speed=math.inf: reply audio comes as fast as possible instead of in real time.
    async with open_fake_server(speed=math.inf) as server:
        yield server


def config_for(server: FakeServer, provider: str) -> rt.OpenAIRealtime | rt.GeminiLive:
    url = server.openai_url if provider == "openai" else server.gemini_url()
    return make_config(provider, url=url, api_key="test")


@pytest.mark.trio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_ask_returns_the_spoken_answer(server: FakeServer, provider: str) -> None:
    server.scenario = Scenario(turns=[Turn(reply="Paris is the capital of France.")])
    with trio.fail_after(10):
        text, seconds = await ask(config_for(server, provider), "What is the capital of France?")
    assert text == "Paris is the capital of France."
    assert seconds > 1.0  # the synthetic voice really spoke it


@pytest.mark.trio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_weather_tool_is_called_and_its_result_used(
    server: FakeServer, provider: str
) -> None:
    server.scenario = Scenario(
        turns=[
            Turn(
                tool_calls=[
                    PlannedToolCall(
                        "get_weather",
                        {"city": "Oslo"},
                        # The fake model checks what your tool returned:
                        expect_result={"city": "Oslo", "sky": "clear", "temperature": 18},
                    )
                ],
                reply="It is clear in Oslo.",
            )
        ]
    )
    with trio.fail_after(10):
        text, _ = await ask(config_for(server, provider), "Weather in Oslo?")
    assert text == "It is clear in Oslo."
    run = server.scenario.runs[0]
    assert run.mismatches == []  # the tool returned what the test expected
    assert run.history[0] == ("user", "Weather in Oslo?")


@pytest.mark.trio
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_is_a_clear_error(server: FakeServer, provider: str) -> None:
    server.inject(RefuseHandshake(401))  # the next connection is refused, as a bad key would be
    with trio.fail_after(10), pytest.raises(rt.AuthenticationError):
        await ask(config_for(server, provider), "Hello?")


if __name__ == "__main__":
    # (The warning filter: this file imported trio_realtime before pytest started.)
    args = ["-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    sys.exit(pytest.main([__file__, *args]))
