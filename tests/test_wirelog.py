"""The DEBUG wire log (`trio_realtime.wire`): one line per message, audio summarised, no key."""

from __future__ import annotations

import base64
import json
import logging
import math
import re

import pytest
import trio

import trio_realtime as rt
from trio_realtime._wirelog import summarise
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server

OPENAI_KEY = "sk-" + "wirelogtest" * 3
GEMINI_KEY = "AIza" + "Wirelogtest" * 4
OPTIONS = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}")


async def one_turn(config: rt.OpenAIRealtime | rt.GeminiLive) -> None:
    async with rt.connect(config) as session:
        await session.send_text("Hi")
        async for event in session.events():
            if isinstance(event, rt.TurnDone):
                break


def configs(server: FakeServer) -> dict[str, rt.OpenAIRealtime | rt.GeminiLive]:
    return {
        "openai": rt.OpenAIRealtime(url=server.openai_url, api_key=OPENAI_KEY, connection=OPTIONS),
        "gemini": rt.GeminiLive(
            url=server.gemini_url(), api_key=GEMINI_KEY, key_in_url=True, connection=OPTIONS
        ),
    }


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_wire_log_lines_for_a_short_session(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_realtime.wire")
    scenario = Scenario(turns=[Turn(reply="Hello there.")])
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf, scenario=scenario) as server:
            await one_turn(configs(server)[provider])
    lines = [r.getMessage() for r in caplog.records if r.name == "trio_realtime.wire"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "trio_realtime.wire")
    assert lines[0].startswith("open ws://127.0.0.1:")
    assert lines[-1] == "closed: cleanly"
    kinds = [line.split()[1] for line in lines[1:-1]]
    if provider == "openai":
        assert kinds[:5] == [
            "session.created",
            "session.update",
            "session.updated",
            "conversation.item.create",
            "response.create",
        ]
        assert "response.done" in kinds
        assert [line[0] for line in lines[2:4]] == [">", "<"]
        audio = [line for line in lines if " response.output_audio.delta " in line]
        assert audio
        shape = re.compile(r"response_id=resp_\w+ item_id=item_\w+ \d+ B audio=\d+ B$")
        assert all(shape.search(a) for a in audio)
        done = next(line for line in lines if " response.done " in line)
        assert "response.status=completed" in done
    else:
        assert kinds[0].startswith("setup.model+")
        assert kinds[1:3] == ["setupComplete", "clientContent.turns+turnComplete"]
        assert [line[0] for line in lines[1:4]] == [">", "<", ">"]
        audio = [line for line in lines if "serverContent.modelTurn" in line]
        assert audio
        assert all(re.search(r"audio=\d+ B", a) for a in audio)
        assert any("turnComplete" in k for k in kinds)
    # Audio is summarised, never dumped, and no key appears anywhere.
    for line in lines:
        assert not BASE64_RUN.search(line), line
    assert OPENAI_KEY not in caplog.text
    assert GEMINI_KEY not in caplog.text
    if provider == "gemini":
        assert "key=%3Credacted%3E" in lines[0] or "key=<redacted>" in lines[0]


async def test_wire_log_off_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_realtime.wire")
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            await one_turn(configs(server)["openai"])
    assert [r for r in caplog.records if r.name == "trio_realtime.wire"] == []


def test_summaries() -> None:
    pcm = base64.b64encode(bytes(1920)).decode()
    append = json.dumps({"type": "input_audio_buffer.append", "audio": pcm})
    assert summarise(">", append) == f"> input_audio_buffer.append {len(append)} B audio=1920 B"
    text = json.dumps(
        {
            "type": "response.output_audio_transcript.delta",
            "event_id": "event_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "delta": "Hello",
        }
    )
    assert summarise("<", text) == (
        f"< response.output_audio_transcript.delta response_id=resp_1 item_id=item_1 "
        f"delta=5 chars {len(text)} B"
    )
    error = json.dumps(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "bad",
                "message": "Bearer " + OPENAI_KEY,
            },
        }
    )
    line = summarise("<", error)
    assert OPENAI_KEY not in line
    assert "error.code=bad" in line
    image = json.dumps({"realtimeInput": {"video": {"mimeType": "image/jpeg", "data": pcm}}})
    assert summarise(">", image) == f"> realtimeInput.video {len(image)} B image=1920 B"
    call = json.dumps({"toolCall": {"functionCalls": [{"id": "fc-1", "name": "get_weather"}]}})
    assert summarise("<", call) == f"< toolCall.functionCalls call=get_weather#fc-1 {len(call)} B"
    assert summarise("<", b"\xff not json") == "< (not JSON) 10 B"
