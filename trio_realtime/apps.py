"""The ``chat`` and ``say`` subcommands of ``trio-realtime``.

Both talk to the live service when the provider's API key is in the
environment, and to the embedded fake server otherwise (or with ``--fake``);
each says which on its first line.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from ._config import ProviderConfig
from .audio import AudioFrame, read_wav, write_wav
from .errors import ServerError
from .events import AudioOut, ResponseDone, ServerErrorEvent, TextOut, Transcript
from .gemini import GeminiLive
from .openai import OpenAIRealtime
from .session import RealtimeSession, connect

__all__ = ["run_chat", "run_say"]


def _config(args: argparse.Namespace, url: str | None) -> ProviderConfig:
    common: dict[str, object] = {}
    if args.model:
        common["model"] = args.model
    if args.voice:
        common["voice"] = args.voice
    if args.instructions:
        common["instructions"] = args.instructions
    if url is not None:
        common["url"] = url
        common["api_key"] = "fake-key"
    if args.provider == "openai":
        return OpenAIRealtime(**common)  # type: ignore[arg-type]
    return GeminiLive(**common)  # type: ignore[arg-type]


@asynccontextmanager
async def _target(
    args: argparse.Namespace, live: bool, *, speed: float = math.inf
) -> AsyncIterator[ProviderConfig]:
    """The configuration to use, with the fake server (pacing at `speed`) when not live."""
    name = "OpenAI Realtime" if args.provider == "openai" else "Gemini Live"
    if live:
        config = _config(args, None)
        if args.url:
            config = attrs.evolve(config, url=args.url)  # type: ignore[misc]
        print(f"Using the live {name} service at {config.redacted_url()}.", flush=True)
        yield config
        return
    from .testing.server import open_fake_server

    async with open_fake_server(speed=speed) as server:
        url = server.openai_url if args.provider == "openai" else server.gemini_url()
        reason = "--fake" if args.fake else "no API key is set"
        print(f"Using the embedded fake {name} server ({reason}).", flush=True)
        yield _config(args, url)


async def _reply(session: RealtimeSession) -> tuple[str, list[AudioFrame]]:
    """Collect one reply: its transcript (or text) and audio."""
    audio: list[AudioFrame] = []
    text_parts: list[str] = []
    transcript = ""
    async for event in session.events():
        match event:
            case AudioOut(frame=frame):
                audio.append(frame)
            case TextOut(text=text):
                text_parts.append(text)
            case Transcript(role="user", text=text, final=True) if text.strip():
                print(f"you said: {text}", flush=True)
            case Transcript(role="assistant", text=text, final=True):
                transcript = text
            case ServerErrorEvent(fatal=True) as err:
                raise ServerError(err.message, code=err.code, fatal=True)
            case ResponseDone(status=status) if status != "completed" or audio or text_parts:
                break
    return transcript or "".join(text_parts), audio


async def _save(path: Path, audio: list[AudioFrame]) -> str:
    if not audio:
        return "(no audio)"
    frame = AudioFrame.join(audio)
    await trio.Path(path.parent).mkdir(parents=True, exist_ok=True)
    write_wav(path, frame)
    return f"{path} ({frame.duration:.1f} s)"


async def run_chat(args: argparse.Namespace, live: bool) -> int:
    """Read a message per line from stdin, print each reply and save its audio."""
    out = Path(args.out)
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with _target(args, live) as config, connect(config) as session, stdin:
        print("Type a message and press Enter (Ctrl+D to quit).", flush=True)
        buffer = b""
        count = 0
        while True:
            while b"\n" not in buffer:
                data = await stdin.receive_some()
                if not data:
                    if not buffer.strip():
                        return 0
                    buffer += b"\n"
                    break
                buffer += data
            line, _, buffer = buffer.partition(b"\n")
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            count += 1
            await session.send_text(text)
            reply, audio = await _reply(session)
            print(f"assistant: {reply}", flush=True)
            print(f"audio: {await _save(out / f'reply-{count}.wav', audio)}", flush=True)


async def run_say(args: argparse.Namespace, live: bool) -> int:
    """Send a WAV file as the user's turn and save the spoken reply."""
    frame = read_wav(args.file)
    async with _target(args, live) as config, connect(config) as session:
        print(f"Sending {args.file} ({frame.duration:.1f} s).", flush=True)
        for chunk in frame.split(0.1):
            await session.send_audio(chunk)
        # A second of silence lets the provider's voice detection end the turn.
        await session.send_audio(AudioFrame.silence(1.0, frame.sample_rate, frame.channels))
        await session.flush_audio()
        reply, audio = await _reply(session)
        print(f"assistant: {reply}", flush=True)
        print(f"audio: {await _save(Path(args.output), audio)}", flush=True)
    return 0
