"""``trio-realtime talk`` in a subprocess, with the stand-in sounddevice (tests/stubs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import trio_realtime as rt
from trio_realtime.testing.voice import user_utterance

STUBS = Path(__file__).parent / "stubs"
KEYS = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")


def env_for(tmp_path: Path, mode: str = "ok") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEYS}
    env["PYTHONPATH"] = os.pathsep.join([str(STUBS), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env["FAKE_SD_MODE"] = mode
    env["FAKE_SD_MIC"] = str(tmp_path / "mic.wav")
    env["FAKE_SD_SPEAKER"] = str(tmp_path / "speaker.wav")
    return env


def talk(tmp_path: Path, *args: str, mode: str = "ok") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_realtime", "talk", *args],
        cwd=tmp_path,
        env=env_for(tmp_path, mode),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_talk_spoken_turn_and_barge_in(tmp_path: Path, provider: str) -> None:
    rate = 24000 if provider == "openai" else 16000
    first = user_utterance("tell me a long story please", rate, trail_ms=800)
    gap = rt.AudioFrame.silence(1.5, rate)
    second = user_utterance("stop", rate, lead_ms=0, trail_ms=900)
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.join([first, gap, second]))
    proc = talk(tmp_path, "--provider", provider, "--replies", "1", "--seconds", "40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    name = "OpenAI Realtime" if provider == "openai" else "Gemini Live"
    assert lines[0] == f"Using the embedded fake {name} server (no API key is set)."
    assert lines[1] == (
        "Listening on 'Stub Microphone', playing on 'Stub Speaker'. Speak now (Ctrl+C to stop)."
    )
    heard_first = lines.index("you: tell me a long story please")
    interrupted = next(i for i, s in enumerate(lines) if s.startswith("(interrupted: playback"))
    heard_second = lines.index("you: stop")
    reply = lines.index("assistant: You said: stop. Thank you.")
    assert interrupted < heard_second < reply
    assert heard_first < heard_second
    # The latency of the reply to "stop" (from the session's turn metrics when
    # it has them, which come after the turn's transcript).
    assert any(s.startswith("(reply began ") for s in lines[interrupted:])
    assert lines[-1] == "Bye."
    # The first reply never played whole.
    assert "assistant: You said: tell me a long story please. Thank you." not in lines
    speaker = rt.read_wav(tmp_path / "speaker.wav")
    assert speaker.sample_rate == 24000
    assert (abs(speaker.samples.astype("int32")) > 300).sum() > 0.5 * 24000


def test_talk_ctrl_c_ends_cleanly(tmp_path: Path) -> None:
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.silence(0.5, 24000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_realtime", "talk"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Using the embedded fake OpenAI")
        assert proc.stdout.readline().startswith("Listening on 'Stub Microphone'")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    assert out.splitlines() == ["Bye."]
    assert (tmp_path / "speaker.wav").exists()  # the device was closed properly


def test_talk_list_devices(tmp_path: Path) -> None:
    proc = talk(tmp_path, "--list-devices")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "  0  Stub Microphone  [in 1, out 0, 48000 Hz]  (default input)",
        "  1  Stub Speaker  [in 0, out 2, 48000 Hz]  (default output)",
    ]


@pytest.mark.parametrize(
    ("mode", "args", "says"),
    [
        ("not-installed", (), "sounddevice is not installed: pip install 'trio-realtime[audio]'"),
        ("no-portaudio", (), "sounddevice cannot load PortAudio (PortAudio library not found)"),
        ("ok", ("--device", "headset"), "no usable microphone 'headset' ("),
        ("stream-fails", (), "the audio device failed (Invalid sample rate)"),
    ],
)
def test_talk_without_audio_says_so_in_one_line(
    tmp_path: Path, mode: str, args: tuple[str, ...], says: str
) -> None:
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.silence(0.1, 24000))
    proc = talk(tmp_path, *args, mode=mode)
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("trio-realtime: error: " + says)


def test_talk_on_a_terminal_shows_the_meter_and_growing_transcripts(tmp_path: Path) -> None:
    import pty
    import select
    import time

    rate = 24000
    first = user_utterance("tell me a long story please", rate, trail_ms=800)
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.join([first, rt.AudioFrame.silence(1, rate)]))
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_realtime", "talk", "--replies", "1", "--seconds", "30"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdin=child,
        stdout=child,
        stderr=subprocess.PIPE,
    )
    os.close(child)
    seen = bytearray()
    deadline = time.monotonic() + 45
    try:
        while proc.poll() is None or select.select([parent], [], [], 0)[0]:
            assert time.monotonic() < deadline, bytes(seen)
            if select.select([parent], [], [], 0.2)[0]:
                try:
                    data = os.read(parent, 4096)
                except OSError:
                    break
                if not data:
                    break
                seen += data
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(parent)
    text = seen.decode()
    # The level meter, redrawn in place: silence, then the voice.
    assert "\r\x1b[Kmic [                    ] -inf dB" in text
    assert any(f"\r\x1b[Kmic [{'#' * n}" in text for n in range(8, 21))
    # The assistant's transcript grows fragment by fragment, then is rewritten whole.
    assert "assistant: You" in text
    assert "\r\x1b[Kassistant: You said: tell me a long story please. Thank you.\r\n" in text
    assert text.rstrip().endswith("Bye.")


async def test_latency_comes_from_the_sessions_turn_metrics() -> None:
    import io

    from trio_realtime._console import TranscriptPrinter
    from trio_realtime._talk import _Turns
    from trio_realtime.devices import Speaker

    out = io.StringIO()
    turns = _Turns(TranscriptPrinter(out, live=False), Speaker(24000), None)
    turns.on_event(rt.TurnMetrics(time_to_first_audio=0.25))
    turns.on_event(rt.TurnMetrics(time_to_first_audio=None))  # a turn without audio
    assert out.getvalue() == "(reply began 250 ms after the end of your turn)\n"
