"""The official ``openai`` client (asyncio, in a subprocess) against our fake service.

The fake runs in this test's Trio process on 127.0.0.1; the client script holds
a text turn, an audio turn (synthetic speech in, audio and transcripts out) and
a function-call turn, checks every message it receives against the SDK's own
``RealtimeServerEvent`` models, and prints what it saw as JSON.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from typing import Any

import numpy as np
import trio

from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.server import open_fake_server
from trio_realtime.testing.voice import check_sequence, read_stamps

CLIENT_SCRIPT = r"""
import asyncio, base64, json, sys

import pydantic
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent

from trio_realtime.testing.voice import user_utterance

STRICT = pydantic.TypeAdapter(RealtimeServerEvent)
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def main(base_url):
    client = AsyncOpenAI(api_key="sk-test", websocket_base_url=base_url)
    out = {"types": [], "invalid": []}

    async with client.realtime.connect(model="gpt-realtime") as conn:

        async def next_event():
            raw = await conn.recv_bytes()
            event = conn.parse_event(raw)
            try:
                STRICT.validate_json(raw)
            except pydantic.ValidationError as exc:
                out["invalid"].append(f"{event.type}: {exc}")
            out["types"].append(event.type)
            return event

        async def turn():
            events = []
            while True:
                event = await next_event()
                events.append(event)
                if event.type == "response.done":
                    return events

        def summary(events):
            audio = b"".join(
                base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"
            )
            done = events[-1].response
            return {
                "types": [e.type for e in events],
                "transcript": "".join(
                    e.delta for e in events if e.type == "response.output_audio_transcript.delta"
                ),
                "audio_b64": base64.b64encode(audio).decode(),
                "status": done.status,
                "output_types": [item.type for item in done.output],
                "usage_total": done.usage.total_tokens,
            }

        created = await next_event()
        out["session_id"] = created.session.id
        await conn.session.update(
            session={
                "type": "realtime",
                "instructions": "Be brief.",
                "audio": {
                    "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
                    "output": {"voice": "marin"},
                },
                "tools": [WEATHER],
            }
        )
        updated = await next_event()
        out["updated"] = {"type": updated.type, "voice": updated.session.audio.output.voice}

        # 1. Text turn.
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
        )
        await conn.response.create()
        out["text_turn"] = summary(await turn())

        # 2. Audio turn: synthetic speech, server VAD.
        speech = user_utterance("What time is it", 24000).samples.astype("<i2").tobytes()
        for i in range(0, len(speech), 960):
            await conn.input_audio_buffer.append(audio=base64.b64encode(speech[i : i + 960]).decode())
        events = []
        while True:
            event = await next_event()
            events.append(event)
            if event.type == "response.done":
                break
        out["audio_turn"] = summary(events)
        out["audio_turn"]["heard"] = [
            e.transcript
            for e in events
            if e.type == "conversation.item.input_audio_transcription.completed"
        ]
        out["audio_turn"]["vad"] = [
            [e.type, getattr(e, "audio_start_ms", None), getattr(e, "audio_end_ms", None)]
            for e in events
            if e.type.startswith("input_audio_buffer.speech")
        ]

        # 3. Function-call turn, then the spoken answer.
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Please call get_weather for Paris"}],
            }
        )
        await conn.response.create()
        events = await turn()
        call = next(e for e in events if e.type == "response.function_call_arguments.done")
        out["call"] = {"name": call.name, "call_id": call.call_id, "arguments": call.arguments}
        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"temp_c": 21})}
        )
        await conn.response.create()
        out["after_call"] = summary(await turn())

    print(json.dumps(out))


asyncio.run(main(sys.argv[1]))
"""


def _transcript_ok(summary: dict[str, Any], expected: str) -> None:
    assert summary["status"] == "completed"
    assert summary["transcript"] == expected
    assert summary["output_types"] == ["message"]
    assert summary["usage_total"] > 0
    assert summary["types"][-1] == "response.done"


async def test_official_openai_client_holds_a_conversation() -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    with trio.fail_after(90):
        async with open_fake_server(
            speed=float("inf"), handlers={"openai": FakeOpenAI()}
        ) as server:
            result = await trio.run_process(
                [sys.executable, "-c", CLIENT_SCRIPT, server.url + "/v1"],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=env,
            )
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, stderr[-3000:]
    out = json.loads(result.stdout.decode().strip().splitlines()[-1])

    assert out["invalid"] == []
    assert out["types"][0] == "session.created"
    assert out["session_id"].startswith("sess_")
    assert out["updated"] == {"type": "session.updated", "voice": "marin"}

    _transcript_ok(out["text_turn"], "You said: Hello there. Thank you.")
    _transcript_ok(out["audio_turn"], "You said: What time is it. Thank you.")
    assert out["audio_turn"]["heard"] == ["What time is it"]
    vad = out["audio_turn"]["vad"]
    assert [v[0] for v in vad] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
    ]
    assert 0 < vad[0][1] < vad[1][2]

    assert out["call"]["name"] == "get_weather"
    assert json.loads(out["call"]["arguments"]) == {"city": "example"}
    assert out["call"]["call_id"].startswith("call_")
    _transcript_ok(out["after_call"], 'Done. get_weather returned {"temp_c": 21}.')

    # The reply audio reached the client intact: stamps run on across all replies.
    stamps: list[int | None] = []
    for turn in ("text_turn", "audio_turn", "after_call"):
        pcm = np.frombuffer(base64.b64decode(out[turn]["audio_b64"]), dtype="<i2")
        assert pcm.size > 24000 // 2
        stamps += read_stamps(pcm, 2400)
    assert check_sequence(stamps) == len(stamps)
