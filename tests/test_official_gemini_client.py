"""The official ``google-genai`` client against the fake Gemini Live service.

The client is asyncio and always dials ``wss://``, so it runs in a subprocess
against the fake server serving TLS on loopback, trusting the server's
throwaway CA through ``SSL_CERT_FILE``. The subprocess prints what it
received as JSON; the test asserts on it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import textwrap
from typing import Any

import trio

from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import open_fake_server
from trio_realtime.testing.voice import check_sequence

CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, warnings
    from google import genai
    from google.genai import types
    from trio_realtime.testing.voice import read_stamp, user_utterance

    warnings.simplefilter("ignore")
    BASE_URL = sys.argv[1]

    WEATHER = types.FunctionDeclaration(
        name="get_weather",
        description="Current weather for a city",
        parameters=types.Schema(
            type="OBJECT",
            properties={"city": types.Schema(type="STRING")},
            required=["city"],
        ),
    )

    async def collect(session, out):
        async for msg in session.receive():
            update = msg.session_resumption_update
            if update is not None:
                # A new handle between turns; none while the model generates.
                out["handles"].append(bool(update.resumable and update.new_handle))
                continue
            out["kinds"].append(
                sorted(k for k, v in msg.model_dump(exclude_none=True).items() if v is not None)
            )
            sc = msg.server_content
            if msg.tool_call:
                calls = msg.tool_call.function_calls
                out["calls"].extend({"id": c.id, "name": c.name, "args": c.args} for c in calls)
                await session.send_tool_response(
                    function_responses=[
                        types.FunctionResponse(id=c.id, name=c.name, response={"output": {"tempC": 21}})
                        for c in calls
                    ]
                )
            if sc is None:
                continue
            if sc.model_turn:
                for part in sc.model_turn.parts or []:
                    if part.inline_data:
                        out["mime"].add(part.inline_data.mime_type)
                        out["stamps"].append(read_stamp(part.inline_data.data))
                        out["audio_bytes"] += len(part.inline_data.data)
            if sc.input_transcription and sc.input_transcription.text:
                out["heard"] += sc.input_transcription.text
            if sc.output_transcription and sc.output_transcription.text:
                out["said"] += sc.output_transcription.text
            if sc.generation_complete:
                out["generation_complete"] = True
            if sc.turn_complete:
                usage = msg.usage_metadata
                out["usage"] = usage.model_dump(mode="json", exclude_none=True) if usage else None

    def new_turn():
        return {"handles": [], "kinds": [], "calls": [], "mime": set(), "stamps": [], "audio_bytes": 0,
                "heard": "", "said": "", "generation_complete": False, "usage": None}

    async def main():
        client = genai.Client(api_key="test-key", http_options={"base_url": BASE_URL})
        config = types.LiveConnectConfig(
            response_modalities=["AUDIO"],
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            tools=[types.Tool(function_declarations=[WEATHER])],
            session_resumption=types.SessionResumptionConfig(),
        )
        results = {}
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
            turn = new_turn()
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Hello there")]),
                turn_complete=True,
            )
            await collect(session, turn)
            results["text"] = turn

            turn = new_turn()
            speech = user_utterance("What is the time", 16000).to_bytes()
            for i in range(0, len(speech), 640):
                await session.send_realtime_input(
                    audio=types.Blob(data=speech[i:i + 640], mime_type="audio/pcm;rate=16000")
                )
            await collect(session, turn)
            results["audio"] = turn

            turn = new_turn()
            await session.send_realtime_input(text="Please use get_weather for Paris")
            await collect(session, turn)
            results["tool"] = turn

        for turn in ("text", "audio", "tool"):
            results[turn]["mime"] = sorted(results[turn]["mime"])
        print(json.dumps(results))

    asyncio.run(main())
    """
)


async def run_client(base_url: str, ca_path: str) -> dict[str, Any]:
    env = dict(os.environ, SSL_CERT_FILE=ca_path)
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        env.pop(name, None)
    proc = await trio.run_process(
        [sys.executable, "-c", CLIENT, base_url],
        env=env,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return result


async def test_official_client_text_audio_and_tool_turns() -> None:
    scenario = Scenario(turns=[Turn(reply="Hi, nice to hear you.")])
    fake = FakeGemini()
    with trio.fail_after(120):
        async with open_fake_server(
            handlers={"gemini": fake}, speed=math.inf, tls=True, scenario=scenario
        ) as server:
            assert server.ca_path is not None
            assert server.http_url.startswith("https://127.0.0.1:")
            results = await run_client(server.http_url, server.ca_path)

    # A resumable handle before each turn (after the setup or the previous turn),
    # then "not resumable" once the model starts generating, as the service does.
    assert [results[t]["handles"] for t in ("text", "audio", "tool")] == [[True, False]] * 3

    text = results["text"]
    assert text["said"] == "Hi, nice to hear you."
    assert text["mime"] == ["audio/pcm;rate=24000"]
    assert text["generation_complete"] is True
    assert text["audio_bytes"] > 24000 * 2  # over a second of speech
    assert text["usage"]["response_token_count"] > 0
    assert text["usage"]["prompt_token_count"] > 0

    audio = results["audio"]
    assert audio["heard"] == "What is the time"
    assert audio["said"] == "You said: What is the time. Thank you."
    assert ["server_content", "voice_activity"] in audio["kinds"]

    tool = results["tool"]
    assert len(tool["calls"]) == 1
    call = tool["calls"][0]
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "example"}
    assert call["id"].startswith("function-call-")
    assert tool["said"] == 'Done. get_weather returned {"tempC": 21}.'
    assert tool["kinds"][0] == ["tool_call"]

    # Reply audio stamps run on across the three turns: nothing lost or doubled.
    stamps = text["stamps"] + audio["stamps"] + tool["stamps"]
    assert check_sequence(stamps) == len(stamps)

    # What the SDK sent was understood: snake_case keys, URL-safe base64, tool response ids.
    record = fake.connections[0]
    assert record.close_code is None
    assert [r.id for r in record.tool_responses] == [call["id"]]
    assert record.setup is not None
    assert record.setup.model == "models/gemini-3.8-live"
