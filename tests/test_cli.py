"""The ``trio-realtime`` command, run as a user runs it (subprocesses, loopback only)."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import wave
from pathlib import Path

import pytest
import trio
import trio_websocket

import trio_realtime as rt
from trio_realtime.audio import write_wav
from trio_realtime.cli import main
from trio_realtime.testing.voice import user_utterance

SUBCOMMANDS = ["demo", "chat", "say", "fake-server"]


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "AZURE_OPENAI_API_KEY")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(
    *args: str, stdin: str = "", timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_realtime", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_env(), **env},
        check=False,
    )


@pytest.mark.parametrize("sub", [None, *SUBCOMMANDS])
def test_help_on_every_subcommand(sub: str | None) -> None:
    result = cli(*([sub] if sub else []), "--help")
    assert result.returncode == 0
    assert "usage: trio-realtime" in result.stdout
    if sub is None:
        for name in SUBCOMMANDS:
            assert name in result.stdout


def test_demo_runs_both_providers_and_writes_wavs(tmp_path: Path) -> None:
    result = cli("demo", "--out", str(tmp_path), "--speed", "20", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OpenAI Realtime" in out
    assert "Gemini Live" in out
    assert out.count("tool call  get_weather(city='Paris')") == 2
    assert out.count("barge-in") == 2
    assert out.count("[cut off]") == 2
    assert len(re.findall(r"latency \d+ ms", out)) >= 4
    assert "Traceback" not in result.stderr
    for name in ("openai", "gemini"):
        path = tmp_path / f"demo-{name}.wav"
        assert str(path) in out
        with wave.open(str(path)) as wav:
            assert wav.getframerate() == 24000
            assert wav.getnframes() > 24000


def test_chat_against_the_embedded_fake_says_so(tmp_path: Path) -> None:
    result = cli("chat", "--provider", "gemini", "--out", str(tmp_path), stdin="Hello there\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Using the embedded fake Gemini Live server (no API key is set)."
    assert "assistant: You said: Hello there. Thank you." in lines
    assert (tmp_path / "reply-1.wav").exists()


def test_chat_with_fake_flag_even_with_a_key(tmp_path: Path) -> None:
    result = cli(
        "chat", "--fake", "--out", str(tmp_path), stdin="Hi\n", OPENAI_API_KEY="sk-not-used"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "Using the embedded fake OpenAI Realtime server (--fake)."
    )


def test_say_sends_a_wav_and_saves_the_reply(tmp_path: Path) -> None:
    question = tmp_path / "q.wav"
    write_wav(question, user_utterance("what time is it", 24000))
    reply = tmp_path / "r.wav"
    result = cli("say", str(question), "-o", str(reply))
    assert result.returncode == 0, result.stderr
    assert "you said: what time is it" in result.stdout
    assert "assistant: You said: what time is it. Thank you." in result.stdout
    assert rt.read_wav(reply).duration > 0.5


def _float_wav() -> bytes:
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)  # format 3: IEEE float
    data = struct.pack("<2f", 0.0, 0.5)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 8) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a wav file at all", "not a readable PCM WAV file: file does not start with RIFF id"),
        (b"hello\n", "not a readable PCM WAV file: it ends before its WAV header is complete"),
        (b"", "not a readable PCM WAV file: it ends before its WAV header is complete"),
        (
            _float_wav(),
            "not a readable PCM WAV file: it holds floating-point samples (WAV format 3); "
            "only 16-bit PCM is supported",
        ),
        (None, "No such file or directory: {path}"),
    ],
)
def test_bad_wav_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    assert main(["say", str(path), "--fake", "-o", str(tmp_path / "r.wav")]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # refused before any session started
    assert err == f"trio-realtime: error: {message.format(path=path)}\n"


def test_say_refuses_an_output_in_a_missing_folder_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = tmp_path / "q.wav"
    write_wav(question, user_utterance("hello", 24000))
    missing = tmp_path / "no" / "such" / "dir" / "x.wav"
    assert main(["say", str(question), "--fake", "-o", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"trio-realtime: error: cannot write the reply to {missing}: "
        f"the folder {missing.parent} does not exist\n"
    )
    assert not (tmp_path / "no").exists()
    assert main(["say", str(question), "--fake", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"trio-realtime: error: cannot write the reply to {tmp_path}: it is a folder\n"
    )


def test_say_help_shows_the_output_default() -> None:
    result = cli("say", "--help")
    assert result.returncode == 0
    assert "(default: reply.wav)" in " ".join(result.stdout.split())


def test_say_of_silence_gives_up_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from trio_realtime import apps

    monkeypatch.setattr(apps, "SAY_IDLE_TIMEOUT", 1.0)
    silent = tmp_path / "silent.wav"
    write_wav(silent, rt.AudioFrame.silence(0.5, 24000))
    assert main(["say", str(silent), "--fake", "-o", str(tmp_path / "r.wav")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"trio-realtime: error: no reply within 1 s: the service heard no speech in {silent} "
        "(is it silent?)\n"
    )
    assert not (tmp_path / "r.wav").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--speed", "-1"], "argument --speed: must be >= 0 (0: as fast as possible), got -1"),
        (["demo", "--speed", "nan"], "argument --speed: must be >= 0 (0: as fast as possible), got nan"),
        (["fake-server", "--speed", "fast"], "argument --speed: not a number: 'fast'"),
        (["fake-server", "--port", "70000"], "argument --port: must be 0-65535 (0: any free port), got 70000"),
    ],
)  # fmt: skip
def test_bad_numbers_are_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""  # no banner
    assert err.splitlines()[-1] == f"trio-realtime {args[0]}: error: {message}"


def test_demo_speed_is_checked_before_the_banner_when_called_directly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from trio_realtime.demo import run_demo

    with pytest.raises(rt.ConfigurationError, match=r"^speed must be a number >= 0"):
        trio.run(run_demo, "openai", "out", -1.0)
    assert capsys.readouterr().out == ""


def test_fake_server_on_a_taken_port_names_the_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["fake-server", "--port", str(port)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"trio-realtime: error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is another server running there? --port 0 picks a free port)\n"
    )


def test_a_configuration_mistake_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    question = tmp_path / "q.wav"
    write_wav(question, user_utterance("hello", 16000))
    assert main(["say", str(question), "--provider", "gemini", "--url", "http://x/"]) == 2
    assert capsys.readouterr().err == (
        "trio-realtime: error: url must be a ws:// or wss:// URL with a host, got 'http://x/'.\n"
    )


def test_no_network_is_one_clear_line() -> None:
    result = cli("chat", "--url", "ws://127.0.0.1:1/v1/realtime", stdin="hi\n")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("trio-realtime: error: Could not connect to ws://127.0.0.1:1/")


async def test_bad_key_is_one_clear_line_without_the_key() -> None:
    key = "sk-" + "proj-THISISASECRETKEY1234567890"

    async def refuse(request: trio_websocket.WebSocketRequest) -> None:
        await request.reject(401, body=b'{"error": {"message": "Incorrect API key provided."}}')

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, refuse, "127.0.0.1", 0, None
            )
            result = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "trio_realtime",
                    "chat",
                    "--url",
                    f"ws://127.0.0.1:{server.port}/v1/realtime",
                ],
                stdin=b"hi\n",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env={**clean_env(), "OPENAI_API_KEY": key},
            )
            nursery.cancel_scope.cancel()
    err = result.stderr.decode()
    assert result.returncode == 1
    assert len(err.strip().splitlines()) == 1
    assert "The API key or token was refused" in err
    assert "HTTP 401" in err
    assert key not in err + result.stdout.decode()


async def test_fake_server_command_serves_both_protocols() -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            proc: trio.Process = await nursery.start(
                lambda task_status: trio.run_process(  # noqa: ASYNC105
                    [
                        sys.executable,
                        "-m",
                        "trio_realtime",
                        "fake-server",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        "0",
                        "--speed",
                        "50",
                    ],
                    stdout=subprocess.PIPE,
                    env=clean_env(),
                    check=False,
                    task_status=task_status,
                )
            )
            assert proc.stdout is not None
            buffer = b""
            while b"\n" not in buffer:
                buffer += await proc.stdout.receive_some()
            match = re.search(rb"ws://127\.0\.0\.1:(\d+)", buffer)
            assert match, buffer
            base = f"ws://127.0.0.1:{int(match.group(1))}"
            options = rt.ConnectionOptions(ping_interval=None, open_timeout=10)
            configs: list[rt.OpenAIRealtime | rt.GeminiLive] = [
                rt.OpenAIRealtime(url=base + "//v1/realtime", api_key="k", connection=options),
                rt.GeminiLive(
                    url=base
                    + "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
                    api_key="k",
                    connection=options,
                ),
            ]
            for config in configs:
                async with rt.connect(config) as session:
                    await session.send_text("Hello")
                    async for event in session.events():
                        if (
                            isinstance(event, rt.Transcript)
                            and event.role == "assistant"
                            and event.final
                        ):
                            assert event.text == "You said: Hello. Thank you."
                            break
            proc.send_signal(signal.SIGINT)  # as Ctrl+C
            with trio.fail_after(10):
                status = await proc.wait()
            nursery.cancel_scope.cancel()
    assert status == 0


def test_fake_server_command_stops_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_realtime", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        assert "ws://127.0.0.1:" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert err.strip() == "stopped (SIGTERM)."
