"""``trio-realtime chat``: streamed transcripts, a prompt, --play, and WAV files never overwritten."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trio

import trio_realtime as rt
from trio_realtime._console import TranscriptPrinter, meter
from trio_realtime.apps import _stream_reply
from trio_realtime.testing.server import open_fake_server

STUBS = Path(__file__).parent / "stubs"
KEYS = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def chat(*args: str, stdin: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_realtime", "chat", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        check=False,
    )


# --------------------------------------------------------------------------- printer


def test_printer_appends_fragments_then_ends_the_line() -> None:
    out = io.StringIO()
    p = TranscriptPrinter(out, live=False)
    p.partial("assistant", "You ")
    assert out.getvalue() == "assistant: You "
    p.partial("assistant", "said: hi.")
    assert out.getvalue() == "assistant: You said: hi."
    p.final("assistant", "You said: hi.")
    assert out.getvalue() == "assistant: You said: hi.\n"
    p.status("mic [###] -20 dB")  # not a terminal: no status line
    assert out.getvalue() == "assistant: You said: hi.\n"


def test_printer_prints_the_final_text_when_fragments_were_missing() -> None:
    out = io.StringIO()
    p = TranscriptPrinter(out, live=False)
    p.partial("assistant", "You sa")
    p.partial("user", "stop")  # the other side speaks: the open line ends first
    p.final("assistant", "You said: stop.")
    assert out.getvalue() == "assistant: You sa\nyou: stop\nassistant: You said: stop.\n"


def test_printer_on_a_terminal_rewrites_the_line_and_keeps_the_meter() -> None:
    out = io.StringIO()
    p = TranscriptPrinter(out, live=True)
    p.status("mic [##] -40 dB")
    p.partial("assistant", "Hel")
    p.final("assistant", "Hello.")
    assert out.getvalue() == (
        "\r\x1b[Kmic [##] -40 dB" + "\r\x1b[Kassistant: Hel" + "\r\x1b[Kassistant: Hello.\n"
        "mic [##] -40 dB"
    )


def test_meter_scale() -> None:
    assert meter(float("-inf"), width=10) == "mic [          ] -inf dB"
    assert meter(-30.0, width=10) == "mic [#####     ] -30 dB"
    assert meter(0.0, width=10) == "mic [##########] 0 dB"


# --------------------------------------------------------------------------- streaming


class Stamped(io.StringIO):
    """Remembers when each piece was written."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def write(self, s: str) -> int:
        self.writes.append((time.monotonic(), s))
        return super().write(s)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_chat_prints_the_transcript_while_the_reply_arrives(provider: str) -> None:
    out = Stamped()
    with trio.fail_after(30):
        async with open_fake_server(speed=1.0) as server:  # replies paced in real time
            url = server.openai_url if provider == "openai" else server.gemini_url()
            cls = rt.OpenAIRealtime if provider == "openai" else rt.GeminiLive
            async with rt.connect(cls(url=url, api_key="fake-key")) as session:
                await session.send_text("tell me something")
                audio = await _stream_reply(session, TranscriptPrinter(out, live=False), None)
    assert out.getvalue() == "assistant: You said: tell me something. Thank you.\n"
    first, last = out.writes[0][0], out.writes[-1][0]
    duration = rt.AudioFrame.join(audio).duration
    assert duration > 1.5
    # The first words were on screen long before the reply had arrived.
    assert last - first > duration / 2
    assert len(out.writes) > 3


# --------------------------------------------------------------------------- files


def test_chat_never_overwrites_earlier_replies(tmp_path: Path) -> None:
    first = chat("--out", str(tmp_path), stdin="Hello\nAgain\n")
    assert first.returncode == 0, first.stderr
    assert f"audio: {tmp_path / 'reply-1.wav'}" in first.stdout
    assert f"audio: {tmp_path / 'reply-2.wav'}" in first.stdout
    before = (tmp_path / "reply-1.wav").read_bytes()
    second = chat("--out", str(tmp_path), stdin="Once more\n")
    assert second.returncode == 0, second.stderr
    assert f"audio: {tmp_path / 'reply-3.wav'}" in second.stdout
    assert (tmp_path / "reply-1.wav").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reply-1.wav",
        "reply-2.wav",
        "reply-3.wav",
    ]


def test_chat_play_sends_the_reply_to_the_speaker(tmp_path: Path) -> None:
    speaker = tmp_path / "speaker.wav"
    result = chat(
        "--play",
        "--out",
        str(tmp_path / "out"),
        stdin="Hello\n",
        PYTHONPATH=os.pathsep.join([str(STUBS), *filter(None, [os.environ.get("PYTHONPATH")])]),
        FAKE_SD_MODE="ok",
        FAKE_SD_SPEAKER=str(speaker),
    )
    assert result.returncode == 0, result.stderr
    assert "assistant: You said: Hello. Thank you." in result.stdout.splitlines()
    saved = rt.read_wav(tmp_path / "out" / "reply-1.wav")
    played = rt.read_wav(speaker).samples
    start = int(np.flatnonzero(played)[0])
    lead = int(np.flatnonzero(saved.samples)[0])
    n = saved.num_samples - lead
    assert (played[start : start + n] == saved.samples[lead:]).all()  # all of it, in order


def test_chat_play_without_sounddevice_is_one_line(tmp_path: Path) -> None:
    result = chat(
        "--play",
        stdin="Hello\n",
        PYTHONPATH=os.pathsep.join([str(STUBS), *filter(None, [os.environ.get("PYTHONPATH")])]),
        FAKE_SD_MODE="not-installed",
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "trio-realtime: error: sounddevice is not installed: pip install 'trio-realtime[audio]'\n"
    )


# --------------------------------------------------------------------------- terminal


def read_until(fd: int, wanted: bytes, seen: bytearray, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, bytes(seen)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                data = b""
            assert data, bytes(seen)
            seen += data


def test_chat_on_a_terminal_prompts_for_each_message(tmp_path: Path) -> None:
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_realtime", "chat", "--out", str(tmp_path)],
        stdin=child,
        stdout=child,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    os.close(child)
    seen = bytearray()
    try:
        read_until(parent, b"you> ", seen)
        os.write(parent, b"Hello\n")
        read_until(parent, b"audio: ", seen)
        read_until(parent, b"you> ", seen)
        os.write(parent, b"\x04")  # Ctrl+D
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(parent)
    text = seen.decode()
    assert "Type a message and press Enter (Ctrl+D to quit).\r\nyou> " in text
    # On a terminal the line is rewritten with the final transcript.
    assert "\r\x1b[Kassistant: You said: Hello. Thank you.\r\n" in text
