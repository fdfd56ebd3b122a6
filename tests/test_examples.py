"""Every example in ``examples/`` runs, offline, against the embedded fake server.

Each example is run the way a user runs it (``python examples/NAME.py``) in a
subprocess whose environment has no API key, with the temporary directory as
its working directory (where output files go), under a timeout.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import runpy
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import trio_realtime as rt
from trio_realtime.testing import RefuseHandshake, open_fake_server
from trio_realtime.testing.voice import user_utterance

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KEY_VARIABLES = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")
PROVIDERS = ["openai", "gemini"]
HAVE_PILLOW = importlib.util.find_spec("PIL") is not None


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_example(
    name: str, *args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The stdout lines of a run that must have succeeded."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout.splitlines()


def assert_speech_wav(path: Path, min_seconds: float) -> rt.AudioFrame:
    """`path` is a valid WAV holding at least `min_seconds` of audible 24 kHz audio."""
    frame = rt.read_wav(path)
    assert frame.sample_rate == 24000
    assert frame.channels == 1
    assert frame.duration >= min_seconds
    rms = float(np.sqrt(np.mean(frame.samples.astype(np.float64) ** 2)))
    assert rms > 300, f"the reply audio is (nearly) silent: rms {rms:.0f}"
    return frame


def test_every_example_is_tested() -> None:
    tested = {
        "_common.py",
        "text_chat.py",
        "wav_in_wav_out.py",
        "mic_and_speaker.py",
        "tool_calling.py",
        "images.py",
        "test_my_app.py",
        # run against the fake by tests/test_credentials.py
        "vertex_ai.py",
        "azure_openai.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_common_run_reports_a_library_error_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", ["text_chat.py"])
    run = runpy.run_path(str(EXAMPLES / "_common.py"))["run"]

    async def refused() -> None:
        # The error leaves through the fake server's nursery, inside a group.
        async with open_fake_server(speed=math.inf) as server:
            server.inject(RefuseHandshake(401))
            async with rt.connect(rt.OpenAIRealtime(url=server.openai_url, api_key="sk-x")):
                pass  # pragma: no cover - the upgrade is refused

    with pytest.raises(SystemExit) as info:
        run(refused)
    message = str(info.value.code)
    assert message.startswith("text_chat.py: ")
    assert "401" in message
    assert "\n" not in message


# --------------------------------------------------------------------------- text chat


@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_chat(tmp_path: Path, provider: str) -> None:
    lines = ok(run_example("text_chat.py", "Hello there", "--provider", provider, cwd=tmp_path))
    assert lines[0].startswith(f"Using the embedded fake {provider} server at ws://127.0.0.1:")
    assert lines[1:4] == [
        "you: Hello there",
        "assistant: You said: Hello there. Thank you.",
        "(turn completed)",
    ]
    assert lines[4].startswith("Saved ")
    assert lines[4].endswith(" s of reply audio to reply.wav")
    assert_speech_wav(tmp_path / "reply.wav", 1.0)


def test_text_chat_fake_even_with_a_key(tmp_path: Path) -> None:
    env = clean_env(OPENAI_API_KEY="sk-" + "must-not-be-used-or-shown")
    proc = run_example("text_chat.py", "--fake", "Hi", cwd=tmp_path, env=env)
    lines = ok(proc)
    assert lines[0].startswith("Using the embedded fake openai server at ws://127.0.0.1:")
    assert "assistant: You said: Hi. Thank you." in lines
    assert "sk-must-not" not in proc.stdout + proc.stderr


def test_text_chat_output_option(tmp_path: Path) -> None:
    lines = ok(run_example("text_chat.py", "Hi", "-o", "answer.wav", cwd=tmp_path))
    assert lines[-1].endswith("to answer.wav")
    assert not (tmp_path / "reply.wav").exists()
    assert_speech_wav(tmp_path / "answer.wav", 0.5)


# --------------------------------------------------------------------------- WAV in, WAV out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wav_in_wav_out_synthesized(tmp_path: Path, provider: str) -> None:
    lines = ok(run_example("wav_in_wav_out.py", "--provider", provider, cwd=tmp_path))
    assert lines[0].startswith("Synthesized ")
    assert lines[0].endswith("saying 'What is the capital of France?' into user.wav")
    # The fake server transcribes exactly what the synthetic voice said: the
    # user's audio reached it sample for sample.
    assert "user: What is the capital of France?" in lines
    reply = "assistant: You said: What is the capital of France. Thank you."
    assert reply in lines
    assert lines.index("user: What is the capital of France?") < lines.index(reply)
    assert lines[-2] == "(turn completed)"
    assert lines[-1].endswith("to reply.wav")
    user = rt.read_wav(tmp_path / "user.wav")
    assert user.sample_rate == (24000 if provider == "openai" else 16000)
    assert_speech_wav(tmp_path / "reply.wav", 1.5)


def test_wav_in_wav_out_with_a_given_file(tmp_path: Path) -> None:
    # 48 kHz stereo: the example resamples it to what the provider takes.
    speech = user_utterance("good morning to you", 48000)
    stereo = rt.AudioFrame(speech.samples.repeat(2).reshape(-1, 2), 48000, 2)
    rt.write_wav(tmp_path / "question.wav", stereo)
    lines = ok(
        run_example("wav_in_wav_out.py", "question.wav", "--output", "answer.wav", cwd=tmp_path)
    )
    assert lines[0] == f"Read {stereo.duration:.1f} s of audio from question.wav"
    assert "(the server heard speech start)" in lines
    assert any(line.startswith("assistant: ") for line in lines)
    assert not (tmp_path / "user.wav").exists()
    assert_speech_wav(tmp_path / "answer.wav", 0.5)


def test_wav_in_wav_out_with_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not audio")
    proc = run_example("wav_in_wav_out.py", "notes.txt", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "wav_in_wav_out: cannot read notes.txt: not a readable PCM WAV file: "
        "file does not start with RIFF id"
    ]
    assert not (tmp_path / "reply.wav").exists()


# --------------------------------------------------------------------------- tools


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_calling(tmp_path: Path, provider: str) -> None:
    lines = ok(run_example("tool_calling.py", "--provider", provider, cwd=tmp_path))
    assert lines[1] == "you: What's the weather like in Paris?"
    # The session starts the tool's task as the call arrives, so its line and
    # the application's line about the ToolCall event may come in either order.
    assert sorted(lines[2:4]) == [
        "  [tool] looking up the weather in Paris ...",
        "model calls get_weather({'city': 'Paris'})",
    ]
    # Spoken from the tool's actual result (the fake model reads it back).
    assert lines[4:] == ["assistant: It is 21 degrees and sunny in Paris."]


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("provider", PROVIDERS)
def test_images_default_frames(tmp_path: Path, provider: str) -> None:
    lines = ok(run_example("images.py", "--provider", provider, "--interval", "0.05", cwd=tmp_path))
    # Pillow is in the dev extra; without it the example falls back by itself.
    if HAVE_PILLOW:
        assert lines[0] == "Drew 3 JPEG frame(s) with Pillow."
        mime = "image/jpeg"
    else:  # pragma: no cover - depends on the installed extras
        assert lines[:2] == [
            "Pillow is not installed; using a hand-made PNG instead.",
            "Built 3 PNG frame(s) by hand.",
        ]
        mime = "image/png"
    sent = [line for line in lines if line.startswith("sent frame")]
    assert [s.split(":")[0] for s in sent] == ["sent frame 1", "sent frame 2", "sent frame 3"]
    assert all(s.endswith(f"bytes of {mime}") for s in sent)
    assert lines[-2:] == [
        "assistant: You said: What do you see. Thank you.",
        "(turn completed)",
    ]


def test_images_without_pillow(tmp_path: Path) -> None:
    lines = ok(
        run_example(
            "images.py", "--no-pillow", "--frames", "2", "--interval", "0", "Colour?", cwd=tmp_path
        )
    )
    assert lines[0] == "Built 2 PNG frame(s) by hand."
    assert "sent frame 2: 157 bytes of image/png" in lines
    assert "assistant: You said: Colour. Thank you." in lines


def test_the_hand_made_png_is_a_valid_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    namespace = runpy.run_path(str(EXAMPLES / "images.py"))
    data = namespace["png_by_hand"](5, 3, (10, 200, 30))
    # Read it back by the PNG specification: signature, chunks with valid CRCs,
    # an 8-bit RGB header, and rows of filter byte 0 followed by the pixels.
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[b"IHDR"]) == (5, 3, 8, 2, 0, 0, 0)
    assert zlib.decompress(chunks[b"IDAT"]) == (b"\x00" + bytes((10, 200, 30)) * 5) * 3
    if HAVE_PILLOW:  # and a real decoder agrees
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == (5, 3)
            assert image.getpixel((4, 2)) == (10, 200, 30)


# --------------------------------------------------------------------------- testing an app


def test_testing_example_passes(tmp_path: Path) -> None:
    lines = ok(run_example("test_my_app.py", cwd=tmp_path))
    assert any(line.startswith("7 passed") for line in lines), lines


# --------------------------------------------------------------------------- microphone

# A stand-in for the sounddevice package, put first on the path of the example's
# process: FAKE_SD_MODE picks what goes wrong, and in "ok" mode the
# "microphone" plays FAKE_SD_MIC in real time while the "speaker" records into
# FAKE_SD_SPEAKER.
STUB_SOUNDDEVICE = textwrap.dedent(
    """
    import os, threading, time, wave
    import numpy as np

    MODE = os.environ["FAKE_SD_MODE"]
    if MODE == "no-portaudio":
        raise OSError("PortAudio library not found")
    if MODE == "not-installed":
        raise ImportError("No module named 'sounddevice'")


    class PortAudioError(Exception):
        pass


    def _check_stream():
        if MODE == "stream-fails":
            raise PortAudioError("Invalid sample rate")


    def query_devices(device=None, kind=None):
        if MODE == "no-device":
            raise PortAudioError("Error querying device -1")
        return {"name": f"stub {kind}"}


    class _Stream:
        def __init__(self, samplerate, channels, dtype, callback, blocksize=0):
            assert channels == 1 and dtype == "int16"
            _check_stream()
            self.rate = int(samplerate)
            self.n = blocksize or self.rate // 50
            self.callback = callback
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)

        def __enter__(self):
            self._thread.start()
            return self

        def __exit__(self, *exc):
            self._stop.set()
            self._thread.join()
            self.finish()

        def _run(self):
            start, i = time.monotonic(), 0
            while not self._stop.is_set():
                self.block(i)
                i += 1
                delay = start + i * self.n / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

        def finish(self):
            pass


    class InputStream(_Stream):
        def __init__(self, **kw):
            super().__init__(**kw)
            with wave.open(os.environ["FAKE_SD_MIC"], "rb") as w:
                assert w.getframerate() == self.rate, (w.getframerate(), self.rate)
                self.samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)

        def block(self, i):
            chunk = np.zeros((self.n, 1), np.int16)
            part = self.samples[i * self.n : (i + 1) * self.n]
            chunk[: len(part), 0] = part
            self.callback(chunk, self.n, None, None)


    class OutputStream(_Stream):
        played = []

        def block(self, i):
            out = np.zeros((self.n, 1), np.int16)
            self.callback(out, self.n, None, None)
            self.played.append(out[:, 0].copy())

        def finish(self):
            with wave.open(os.environ["FAKE_SD_SPEAKER"], "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.rate)
                w.writeframes(np.concatenate(self.played or [np.zeros(0, np.int16)]).tobytes())
    """
)


def stub_env(tmp_path: Path, mode: str) -> dict[str, str]:
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "sounddevice.py").write_text(STUB_SOUNDDEVICE)
    return clean_env(
        PYTHONPATH=os.pathsep.join([str(stubs), *filter(None, [os.environ.get("PYTHONPATH")])]),
        FAKE_SD_MODE=mode,
        FAKE_SD_MIC=str(tmp_path / "mic.wav"),
        FAKE_SD_SPEAKER=str(tmp_path / "speaker.wav"),
    )


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], says: str) -> None:
    """Exit status 1, nothing on stdout, one line on stderr that says what is missing."""
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mic_and_speaker: ")
    assert says in lines[0]


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("not-installed", "sounddevice is not installed: pip install 'trio-realtime[audio]'"),
        ("no-portaudio", "sounddevice cannot load PortAudio (PortAudio library not found)"),
        ("no-device", "no usable microphone (Error querying device -1)"),
    ],
)
def test_mic_and_speaker_without_audio_says_so_in_one_line(
    tmp_path: Path, mode: str, says: str
) -> None:
    proc = run_example("mic_and_speaker.py", cwd=tmp_path, env=stub_env(tmp_path, mode))
    assert_one_line_failure(proc, says)


def test_mic_and_speaker_device_failure_is_one_line(tmp_path: Path) -> None:
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.silence(0.1, 24000))
    proc = run_example("mic_and_speaker.py", cwd=tmp_path, env=stub_env(tmp_path, "stream-fails"))
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "mic_and_speaker: the audio device failed (Invalid sample rate)"
    ]


@pytest.mark.parametrize("moment", ["listening", "replying"])
def test_mic_and_speaker_ctrl_c_ends_cleanly(tmp_path: Path, moment: str) -> None:
    # Ctrl+C while only the microphone streams, and while the embedded fake
    # server is busy sending the reply: either way the session ends first, then
    # the server, and the example says "Bye." (once this raced: the
    # KeyboardInterrupt landed in the fake server's task, which closed the
    # connection under the session, and the example reported a lost connection).
    if moment == "listening":
        mic = rt.AudioFrame.silence(0.5, 24000)
    else:
        mic = user_utterance("tell me a long story please", 24000, trail_ms=800)
    rt.write_wav(tmp_path / "mic.wav", mic)
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "mic_and_speaker.py")],
        cwd=tmp_path,
        env=stub_env(tmp_path, "ok"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background shell may have SIGINT ignored; Python then never raises
        # KeyboardInterrupt. Give the child the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Using the embedded fake openai server")
        assert proc.stdout.readline() == "Listening. Speak now (Ctrl+C to stop).\n"
        if moment == "replying":  # the reply streams, paced in real time, from here
            assert proc.stdout.readline() == "user: tell me a long story please\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert err == ""
    assert out.splitlines()[-1] == "Bye."


def test_mic_and_speaker_on_this_machine(tmp_path: Path) -> None:
    # Whatever this machine has: either the audio stack is missing (one clear
    # line, exit 1) or it works and the conversation stops after a second.
    proc = run_example("mic_and_speaker.py", "--seconds", "1", cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert_one_line_failure(proc, "")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mic_and_speaker_conversation_with_barge_in(tmp_path: Path, provider: str) -> None:
    rate = 24000 if provider == "openai" else 16000
    first = user_utterance("tell me a long story please", rate, trail_ms=800)
    # The second utterance starts while the reply to the first is playing.
    gap = rt.AudioFrame.silence(1.5, rate)
    second = user_utterance("stop", rate, lead_ms=0, trail_ms=900)
    rt.write_wav(tmp_path / "mic.wav", rt.AudioFrame.join([first, gap, second]))
    proc = run_example(
        "mic_and_speaker.py",
        "--provider",
        provider,
        "--replies",
        "1",  # the interrupted reply does not count: stop once the second one played
        "--seconds",
        "40",
        cwd=tmp_path,
        env=stub_env(tmp_path, "ok"),
    )
    lines = ok(proc)
    assert lines[1] == "Listening. Speak now (Ctrl+C to stop)."
    interrupted = lines.index("(interrupted: playback buffer cleared)")
    heard_first = lines.index("user: tell me a long story please")
    heard_second = lines.index("user: stop")
    second_reply = lines.index("assistant: You said: stop. Thank you.")
    # Gemini reports the user's final transcript when the turn ends, which for
    # the first turn is its interruption; OpenAI reports it before the reply.
    assert heard_first < heard_second
    assert interrupted < heard_second < second_reply
    # The first reply was cut off: its complete transcript never came.
    assert "assistant: You said: tell me a long story please. Thank you." not in lines
    speaker = rt.read_wav(tmp_path / "speaker.wav")
    assert speaker.sample_rate == 24000
    loud = np.abs(speaker.samples.astype(np.int32)) > 300
    assert loud.sum() > 0.5 * 24000  # the replies were played
