"""The OpenAI Agents SDK's realtime sessions (asyncio, in a subprocess) against our fake.

A third official client, with its own idea of the protocol: it configures the
session itself, truncates the assistant's audio when the user barges in, and
retrieves items to keep its history. The script holds a text turn, a spoken
turn with server VAD, a function-tool turn and an ``interrupt()`` barge-in,
and prints what the SDK saw (its events, errors and history) as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import trio

from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.server import open_fake_server

AGENTS_SCRIPT = r"""
import asyncio, json, sys, warnings
warnings.simplefilter("ignore")
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from trio_realtime.testing.voice import user_utterance

URL = sys.argv[1]


@function_tool
def get_weather(city: str) -> str:
    '''Current weather for a city.'''
    return json.dumps({"city": city, "temp_c": 21})


async def main():
    agent = RealtimeAgent(name="Assistant", instructions="Be brief.", tools=[get_weather])
    runner = RealtimeRunner(starting_agent=agent, config={"model_settings": {"voice": "marin"}})
    session = await runner.run(model_config={"url": URL, "api_key": "sk-" + "agents"})
    out = {"errors": [], "turns": {}}
    async with session:
        events = session.__aiter__()

        async def until(label, stop, seen=None):
            seen = seen if seen is not None else []
            audio = 0
            async for ev in events:
                if ev.type == "error":
                    out["errors"].append(str(ev.error))
                elif ev.type == "raw_model_event" and getattr(ev.data, "type", "") == "error":
                    out["errors"].append(str(ev.data))
                elif ev.type == "audio":
                    audio += len(ev.audio.data)
                elif ev.type != "raw_model_event":
                    seen.append(ev.type)
                if ev.type == stop:
                    break
            turn = out["turns"].setdefault(label, {"types": [], "audio": 0})
            turn["types"] += seen
            turn["audio"] += audio

        await session.send_message("Hello there")
        await until("text", "agent_end")

        pcm = user_utterance("What time is it", 24000).samples.astype("<i2").tobytes()
        for i in range(0, len(pcm), 4800):
            await session.send_audio(pcm[i : i + 4800])
        await until("audio", "agent_end")

        await session.send_message("Please call get_weather for Paris")
        await until("tool", "agent_end")  # the call
        await until("tool", "agent_end")  # the answer after the result

        await session.send_message(
            "Tell me everything about your opening hours on every weekday and weekend please"
        )
        await until("barge_in", "audio")
        await session.interrupt()
        await until("barge_in", "agent_end")
        await asyncio.sleep(0.2)  # the item retrieved after the truncate

        out["history"] = [
            {
                "type": item.type,
                "role": getattr(item, "role", None),
                "status": getattr(item, "status", None),
                "text": [
                    getattr(c, "transcript", None) or getattr(c, "text", None)
                    for c in getattr(item, "content", [])
                ],
                "name": getattr(item, "name", None),
                "output": getattr(item, "output", None),
            }
            for item in session._history
        ]
    print(json.dumps(out))


asyncio.run(main())
"""


async def test_agents_sdk_text_voice_tool_and_barge_in() -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("OPENAI_API_KEY", None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    fake = FakeOpenAI()
    with trio.fail_after(120):
        async with open_fake_server(speed=4.0, handlers={"openai": fake}) as server:
            result = await trio.run_process(
                [sys.executable, "-c", AGENTS_SCRIPT, server.openai_url + "?model=gpt-realtime"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=env,
            )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])

    # No error anywhere: none reached the SDK, none was sent by the fake.
    assert out["errors"] == []
    [state] = fake.connections
    assert state.errors == []

    turns = out["turns"]
    assert turns["text"]["audio"] > 24000
    assert turns["audio"]["audio"] > 24000
    assert "audio_interrupted" in turns["audio"]["types"]  # server VAD heard the user
    assert turns["tool"]["types"].count("tool_start") == 1
    assert turns["tool"]["types"].count("tool_end") == 1
    assert "audio_interrupted" in turns["barge_in"]["types"]

    # The barge-in: the SDK truncated the playing item and the fake accepted it.
    sent = [e for e in state.received if isinstance(e, dict)]
    truncates = [e for e in sent if e.get("type") == "conversation.item.truncate"]
    assert truncates
    last = truncates[-1]
    item = next(i for i in state.items if i.id == last["item_id"])
    assert item.truncated
    assert len(item.audio) == last["audio_end_ms"] * 48
    assert item.wire["content"][0]["transcript"] == ""

    history = out["history"]
    assert [(h["type"], h["role"]) for h in history] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("function_call", None),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ]
    texts = [h["text"][0] if h["text"] else None for h in history]
    assert texts[:5] == [
        "Hello there",
        "You said: Hello there. Thank you.",
        "What time is it",
        "You said: What time is it. Thank you.",
        "Please call get_weather for Paris",
    ]
    assert history[5]["name"] == "get_weather"
    assert json.loads(history[5]["output"]) == {"city": "example", "temp_c": 21}
    assert texts[6] == 'Done. get_weather returned {"city": "example", "temp_c": 21}.'
    assert str(texts[7]).startswith("Tell me everything")
    assert all(h["status"] == "completed" for h in history)
