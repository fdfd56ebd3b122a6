"""`trio-realtime demo`: a spoken conversation with the embedded fake server.

For each provider: the user asks about the weather (the model calls a tool),
asks for a story, talks over the answer (barge-in), and gets a short reply.
Everything runs offline against `trio_realtime.testing`'s fake server; the
user's voice is the synthetic one. Prints utterances, transcripts, the tool
call, the barge-in and per-turn latency (end of user speech to first reply
audio), and writes the assistant's audio to a WAV file per provider.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio
import trio.lowlevel

from ._config import ConnectionOptions, ProviderConfig
from ._loop import require_trio
from ._metrics import describe_turn
from .audio import AudioFrame, write_wav
from .events import (
    AudioOut,
    Interrupted,
    ToolCall,
    Transcript,
    TurnMetrics,
)
from .gemini import GeminiLive
from .openai import OpenAIRealtime
from .session import RealtimeSession, connect
from .testing.scenario import PlannedToolCall, Scenario, Turn
from .testing.server import FakeServer, _check_speed, open_fake_server
from .testing.voice import split_frame, user_utterance
from .tools import tool

__all__ = ["run_demo"]

WEATHER_Q = "What is the weather like in Paris today?"
STORY_Q = "Tell me the story of the Eiffel Tower."
BARGE_IN = "Sorry, stop there, just the short version please."
WEATHER_A = "It is sunny and twenty one degrees in Paris."
STORY_A = (
    "The Eiffel Tower was built for the world fair of eighteen eighty nine. "
    "Gustave Eiffel's company designed it, and many artists of the time hated it. "
    "It was meant to stand for twenty years, but radio saved it, "
    "and today millions of people climb it every year."
)
SHORT_A = "Short version: built in eighteen eighty nine, loved today."


@tool
async def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: City name, e.g. "Paris".
    """
    await trio.lowlevel.checkpoint()
    return {"city": city, "sky": "sunny", "temperature_c": 21}


def _scenario() -> Scenario:
    return Scenario(
        turns=[
            Turn(tool_calls=[PlannedToolCall("get_weather", {"city": "Paris"})], reply=WEATHER_A),
            Turn(reply=STORY_A),
            Turn(reply=SHORT_A),
        ]
    )


@attrs.define
class _Turn:
    said: str
    heard: str = ""
    reply: str = ""
    interrupted: bool = False
    tool_line: str = ""
    response_id: str | None = None


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, label: str, text: str) -> None:
        print(f"  {label:<10} {text}", file=self.out, flush=True)


async def _speak(session: RealtimeSession, text: str, speed: float, turn: _Turn) -> None:
    """Stream a synthetic utterance at the provider's rate, paced at `speed`."""
    rate = session.protocol.input_sample_rate
    frame = user_utterance(text, rate)
    chunks = split_frame(frame, 20)
    step = 0.02 / speed if math.isfinite(speed) and speed > 0 else 0.0
    start = trio.current_time()
    for i, chunk in enumerate(chunks):
        if step:
            await trio.sleep_until(start + i * step)
        await session.send_audio(chunk)
    await session.flush_audio()


async def _converse(
    name: str, config: ProviderConfig, speed: float, printer: _Printer
) -> tuple[list[AudioFrame], list[_Turn]]:
    audio: list[AudioFrame] = []
    turns: list[_Turn] = []
    async with connect(config) as session, trio.open_nursery() as nursery:

        async def say(text: str) -> _Turn:
            turn = _Turn(said=text)
            turns.append(turn)
            printer.line("you", f"(speaking) {text}")
            nursery.start_soon(_speak, session, text, speed, turn)
            return turn

        turn = await say(WEATHER_Q)
        story_audio = 0.0

        def owner_of(response_id: str | None) -> _Turn:
            for t in turns:
                if response_id is not None and t.response_id == response_id:
                    return t
            return turn

        async for event in session.events():
            match event:
                case Transcript(role="user", text=text, final=True):
                    turn.heard = text
                    printer.line("heard", text)
                case ToolCall(name=tool_name, arguments=args):
                    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
                    turn.tool_line = f"{tool_name}({shown})"
                    printer.line("tool call", f"{turn.tool_line}: the session runs it")
                case AudioOut(frame=frame, response_id=rid):
                    if turn.response_id is None and all(t.response_id != rid for t in turns):
                        turn.response_id = rid
                    audio.append(frame)
                    # We "play" instantly into the WAV file: report it as played.
                    await session.report_playback(int(sum(f.duration for f in audio) * 1000))
                    if len(turns) == 2 and owner_of(rid) is turns[1]:
                        story_audio += frame.duration
                        if story_audio >= 1.5:
                            printer.line("barge-in", "the user talks over the assistant")
                            turn = await say(BARGE_IN)
                case Interrupted(source=source):
                    turns[1].interrupted = True
                    printer.line(
                        "interrupt",
                        f"({source}) the story stops after {story_audio:.1f} s of audio; "
                        "nothing more of it is delivered",
                    )
                case Transcript(role="assistant", text=text, final=True, response_id=rid):
                    owner = owner_of(rid)
                    owner.reply = text
                    suffix = " [cut off]" if owner.interrupted else ""
                    printer.line("assistant", f"{text}{suffix}")
                case TurnMetrics() as metrics:
                    printer.line("metrics", describe_turn(metrics))
                    if metrics.status != "completed":
                        continue
                    if len(turns) == 1 and turn.reply:
                        turn = await say(STORY_Q)
                    elif len(turns) == 3 and turn.reply:
                        break
        nursery.cancel_scope.cancel()
    return audio, turns


async def _run_one(
    name: str, server: FakeServer, out_dir: Path, speed: float, printer: _Printer
) -> bool:
    options = ConnectionOptions(open_timeout=10, close_timeout=2, ping_interval=None)
    config: ProviderConfig
    if name == "openai":
        label = "OpenAI Realtime"
        config = OpenAIRealtime(
            url=server.openai_url, api_key="demo", tools=[get_weather], connection=options
        )
    else:
        label = "Gemini Live"
        config = GeminiLive(
            url=server.gemini_url(), api_key="demo", tools=[get_weather], connection=options
        )
    print(f"\n== {label} — fake server at {config.redacted_url()} ==", file=printer.out)
    with trio.fail_after(45):
        audio, turns = await _converse(name, config, speed, printer)
    path = out_dir / f"demo-{name}.wav"
    if audio:
        frame = AudioFrame.join(audio)
        write_wav(path, frame)
        printer.line("audio", f"{path} ({frame.duration:.1f} s of assistant speech)")
    ok = (
        len(turns) == 3
        and bool(turns[0].tool_line)
        and turns[1].interrupted
        and bool(turns[0].reply)
        and bool(turns[2].reply)
        and bool(audio)
    )
    if not ok:
        printer.line("problem", "the conversation did not go as scripted")
    return ok


async def run_demo(provider: str = "both", out: str = "out", speed: float = 4.0) -> int:
    """Run the demo for ``"openai"``, ``"gemini"`` or ``"both"``; return an exit status.

    Raises:
        RealtimeError: not running under Trio.
        ConfigurationError: `speed` is negative or not a number (before anything is printed).
        OSError: the `out` folder cannot be created.
    """
    require_trio("trio_realtime.demo.run_demo()")
    speed = _check_speed(speed) or math.inf  # 0 means no pacing, as for the fake server
    out_dir = Path(out)
    await trio.Path(out_dir).mkdir(parents=True, exist_ok=True)
    printer = _Printer(sys.stdout)
    names = ["openai", "gemini"] if provider == "both" else [provider]
    pacing = f"at {speed:g}x real time" if math.isfinite(speed) else "as fast as possible"
    print(
        "trio-realtime demo: a spoken conversation with the embedded fake server "
        f"(no key, no network; reply audio {pacing})",
        flush=True,
    )
    ok = True
    for name in names:
        async with open_fake_server(speed=speed, scenario=_scenario()) as server:
            ok = await _run_one(name, server, out_dir, speed, printer) and ok
    print("\ndone." if ok else "\nthe demo did not complete as expected.", flush=True)
    return 0 if ok else 1
