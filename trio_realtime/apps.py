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
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from ._config import ProviderConfig
from ._console import TranscriptPrinter
from ._loop import require_trio
from ._metrics import describe_turn
from .audio import AudioFrame, read_wav, write_wav
from .errors import ServerError
from .events import (
    AudioOut,
    ResponseDone,
    ServerErrorEvent,
    TextOut,
    Transcript,
    TurnMetrics,
)
from .gemini import GeminiLive
from .openai import OpenAIRealtime
from .session import RealtimeSession, connect

if TYPE_CHECKING:
    from .devices import Speaker

__all__ = ["run_chat", "run_say"]

SAY_IDLE_TIMEOUT = 20.0  # seconds without any event before `say` gives up waiting for a reply


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


async def _reply(session: RealtimeSession, idle: float = math.inf) -> tuple[str, list[AudioFrame]]:
    """Collect one reply: its transcript (or text) and audio.

    Raises:
        trio.TooSlowError: no event came for `idle` seconds.
    """
    audio: list[AudioFrame] = []
    text_parts: list[str] = []
    transcript = ""
    with trio.fail_after(idle) as scope:
        async for event in session.events():
            scope.deadline = trio.current_time() + idle
            match event:
                case AudioOut(frame=frame):
                    audio.append(frame)
                case TextOut(text=text, thought=False):
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


def _next_reply_number(out: Path) -> int:
    """One more than the highest ``reply-N.wav`` already in `out` (1 in a new folder)."""
    numbers = [0]
    if out.is_dir():
        for path in out.glob("reply-*.wav"):
            stem = path.stem.removeprefix("reply-")
            if stem.isdigit():
                numbers.append(int(stem))
    return max(numbers) + 1


def _save_new(out: Path, number: int, audio: list[AudioFrame]) -> tuple[str, int]:
    """Write ``reply-N.wav`` for the first N >= `number` that does not exist yet.

    Returns what to print and the number used. Exclusive creation: an earlier
    session's file (or another process's) is never overwritten.
    """
    if not audio:
        return "(no audio)", number
    frame = AudioFrame.join(audio)
    out.mkdir(parents=True, exist_ok=True)
    while True:
        path = out / f"reply-{number}.wav"
        try:
            with path.open("xb") as f:
                write_wav(f, frame)
        except FileExistsError:
            number += 1
            continue
        return f"{path} ({frame.duration:.1f} s)", number


async def _stream_reply(
    session: RealtimeSession, printer: TranscriptPrinter, speaker: Speaker | None
) -> list[AudioFrame]:
    """Print one reply's transcripts as they arrive (and play its audio); return its audio."""
    audio: list[AudioFrame] = []
    async for event in session.events():
        match event:
            case AudioOut(frame=frame):
                audio.append(frame)
                if speaker is not None:
                    speaker.play(frame, item_id=event.item_id)
            case TextOut(text=text):
                printer.partial("assistant", text)
            case Transcript(role=role, text=text, final=False):
                printer.partial(role, text)
            case Transcript(role=role, text=text, final=True) if text.strip():
                printer.final(role, text)
            case ServerErrorEvent(fatal=True) as err:
                raise ServerError(err.message, code=err.code, fatal=True)
            case TurnMetrics():  # right after TurnDone: the reply is complete
                printer.close()
                break
    return audio


async def _read_line(stdin: trio.lowlevel.FdStream, buffer: bytearray) -> str | None:
    """The next line typed (without its newline), or `None` at the end of input."""
    while b"\n" not in buffer:
        data = await stdin.receive_some()
        if not data:
            if not buffer.strip():
                return None
            buffer += b"\n"
            break
        buffer += data
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode("utf-8", "replace").strip()


async def run_chat(args: argparse.Namespace, live: bool) -> int:
    """Read a message per line from stdin, stream each reply's transcript, save its audio.

    The assistant's transcript is printed as it arrives; on a terminal a
    ``you> `` prompt asks for each message. Each reply's audio goes to
    ``reply-N.wav`` in ``--out``, numbered on from the files already there
    (never overwriting one), and with ``--play`` through the speaker too.
    """
    require_trio("trio-realtime chat")
    out = Path(args.out)
    interactive = sys.stdin.isatty()
    printer = TranscriptPrinter(sys.stdout, live=sys.stdout.isatty(), partials=True)
    if getattr(args, "play", False):
        from .devices import check_devices

        await trio.to_thread.run_sync(check_devices)
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with AsyncExitStack() as stack:
        config = await stack.enter_async_context(_target(args, live))
        session = await stack.enter_async_context(connect(config))
        await stack.enter_async_context(stdin)
        speaker: Speaker | None = None
        if getattr(args, "play", False):
            from .devices import Speaker as _Speaker

            speaker = await stack.enter_async_context(_Speaker(session.protocol.output_sample_rate))
        print("Type a message and press Enter (Ctrl+D to quit).", flush=True)
        buffer = bytearray()
        number = _next_reply_number(out)
        while True:
            if interactive:
                sys.stdout.write("you> ")
                sys.stdout.flush()
            text = await _read_line(stdin, buffer)
            if text is None:
                if interactive:
                    print(flush=True)
                return 0
            if not text:
                continue
            await session.send_text(text)
            audio = await _stream_reply(session, printer, speaker)
            saved, number = await trio.to_thread.run_sync(_save_new, out, number, audio)
            if audio:
                number += 1
            print(f"audio: {saved}", flush=True)
            last = session.statistics().last_turn
            if last is not None:
                print(f"metrics: {describe_turn(last)}", flush=True)
            if speaker is not None:
                await speaker.drain()


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
        try:
            reply, audio = await _reply(session, idle=SAY_IDLE_TIMEOUT)
        except trio.TooSlowError:
            print(
                f"trio-realtime: error: no reply within {SAY_IDLE_TIMEOUT:g} s: the service "
                f"heard no speech in {args.file} (is it silent?)",
                file=sys.stderr,
            )
            return 1
        print(f"assistant: {reply}", flush=True)
        print(f"audio: {await _save(Path(args.output), audio)}", flush=True)
    return 0
