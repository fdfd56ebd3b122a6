"""Record sessions through the recording proxy, replay them from the fake server."""

from __future__ import annotations

import base64
import json
import math
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
import trio
import trio.testing
import trio_websocket

from trio_realtime.errors import ConfigurationError
from trio_realtime.testing.gemini import FakeGemini
from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.recording import (
    ReplayHandler,
    load_recording,
    open_recording_proxy,
)
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import user_utterance

DATA = Path(__file__).parent / "data"
KEY = "sk-" + "recorded" + "0123456789abcdef"
GEMINI_KEY = "AIza" + "recorded" + "0123456789abcdef0123"
SPEECH = user_utterance("What time is it", 24000).samples.astype("<i2").tobytes()


@asynccontextmanager
async def openai_ws(base: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    async with trio_websocket.open_websocket_url(
        base + "/v1/realtime?model=gpt-realtime",
        extra_headers=[(b"Authorization", f"Bearer {KEY}".encode())],
        max_message_size=2**24,
    ) as ws:
        yield ws


async def until(ws: trio_websocket.WebSocketConnection, kind: str, got: list[Any]) -> None:
    while True:
        frame = await ws.get_message()
        got.append(frame)
        if json.loads(frame).get("type") == kind:
            return


async def openai_turns(base: str, *, secret_text: bool = False) -> list[Any]:
    """A text turn and a spoken turn (server VAD); every server frame received, raw."""
    got: list[Any] = []
    async with openai_ws(base) as ws:
        await until(ws, "session.created", got)
        text = f"my key is {KEY}" if secret_text else "Hello there"
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        await ws.send_message(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send_message(json.dumps({"type": "response.create"}))
        await until(ws, "rate_limits.updated", got)
        for i in range(0, len(SPEECH), 960):
            chunk = base64.b64encode(SPEECH[i : i + 960]).decode()
            await ws.send_message(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
        await until(ws, "rate_limits.updated", got)
    return got


async def test_recorded_openai_session_replays_byte_for_byte(tmp_path: Path) -> None:
    file = tmp_path / "session.jsonl"
    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf, handlers={"openai": FakeOpenAI()}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                recorded = await openai_turns(proxy.url)
        assert proxy.files == [file]
        recording = load_recording(file)
        assert recording.provider == "openai"
        assert recording.path == "/v1/realtime?model=gpt-realtime"
        # The replay server has no fake model at all: only the recording.
        replay = ReplayHandler(file)
        async with open_fake_server(
            speed=math.inf, handlers={"openai": replay}, use_default_handlers=False
        ) as server:
            replayed = await openai_turns(server.url)
    assert replayed == recorded  # ids, audio deltas, everything
    assert any('"response.output_audio.delta"' in f for f in replayed)
    assert replay.mismatches == []


async def test_keys_are_never_written(tmp_path: Path) -> None:
    file = tmp_path / "secret.jsonl"
    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf, handlers={"openai": FakeOpenAI()}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                await openai_turns(proxy.url, secret_text=True)
    text = file.read_text()
    assert KEY not in text
    assert "my key is ***" in text
    assert "Bearer" not in text


async def gemini_turn(base: str, ctx: ssl.SSLContext | None = None) -> list[Any]:
    url = base + "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    got: list[Any] = []
    async with trio_websocket.open_websocket_url(url + f"?key={GEMINI_KEY}", ctx) as ws:
        setup = {"model": "models/gemini-3.8-live", "outputAudioTranscription": {}}
        await ws.send_message(json.dumps({"setup": setup}))
        got.append(await ws.get_message())
        await ws.send_message(json.dumps({"realtimeInput": {"text": "Hello"}}))
        while True:
            frame = await ws.get_message()
            got.append(frame)
            if b'"turnComplete":true' in frame:
                return got


async def test_gemini_recording_keeps_binary_frames_and_drops_the_key(tmp_path: Path) -> None:
    file = tmp_path / "gemini.jsonl"
    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf, handlers={"gemini": FakeGemini()}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                recorded = await gemini_turn(proxy.url)
        assert all(isinstance(f, bytes) for f in recorded)  # the service's binary frames
        text = file.read_text()
        assert GEMINI_KEY not in text
        assert load_recording(file).path.endswith("BidiGenerateContent")
        async with open_fake_server(
            speed=math.inf, handlers={"gemini": ReplayHandler(file)}, use_default_handlers=False
        ) as server:
            assert await gemini_turn(server.url) == recorded


async def test_synthetic_audio_replaces_both_directions_and_still_replays(tmp_path: Path) -> None:
    kept, synthetic = tmp_path / "kept.jsonl", tmp_path / "synthetic.jsonl"
    with trio.fail_after(40):
        modes: list[tuple[Path, Literal["keep", "synthetic"]]] = [
            (kept, "keep"),
            (synthetic, "synthetic"),
        ]
        for file, audio in modes:
            fake = FakeOpenAI()
            async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as live:
                async with open_recording_proxy(live.url, file, audio=audio) as proxy:
                    await openai_turns(proxy.url)
        a, b = load_recording(kept), load_recording(synthetic)
        assert (a.audio, b.audio) == ("kept", "synthetic")
        fields = {"input_audio_buffer.append": "audio", "response.output_audio.delta": "delta"}

        def audio_frames(rec: Any) -> list[tuple[str, dict[str, Any]]]:
            out = []
            for frame in rec.frames:
                message = json.loads(frame.data) if frame.data is not None else {}
                if message.get("type") in fields:
                    out.append((frame.sender, message))
            return out

        changed = 0
        pairs = [
            pair
            for sender in ("client", "server")
            for pair in zip(
                [f for f in audio_frames(a) if f[0] == sender],
                [f for f in audio_frames(b) if f[0] == sender],
                strict=True,
            )
        ]
        for (sx, mx), (sy, my) in pairs:
            field = fields[mx["type"]]
            assert (sx, mx["type"]) == (sy, my["type"])
            assert len(base64.b64decode(mx[field])) == len(base64.b64decode(my[field]))
            changed += mx[field] != my[field]  # silence may stay silence
        assert changed > 20
        # Nothing of the original user audio is left in the file.
        mid = len(SPEECH) // 2 // 960 * 960
        voiced = base64.b64encode(SPEECH[mid : mid + 960]).decode()
        assert voiced in kept.read_text()
        assert voiced not in synthetic.read_text()
        # The same client turns (same audio length) replay the synthetic recording.
        async with open_fake_server(
            speed=math.inf, handlers={"openai": ReplayHandler(b)}, use_default_handlers=False
        ) as server:
            replayed = await openai_turns(server.url)
        assert replayed == [f.data for f in b.frames if f.sender == "server" and f.data]


async def hand_written_turn(server: FakeServer) -> tuple[list[Any], Any]:
    async with openai_ws(server.url) as ws:
        frames = [await ws.get_message()]
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello"}],
        }
        await ws.send_message(json.dumps({"type": "conversation.item.create", "item": item}))
        frames.append(await ws.get_message())
        await ws.send_message(json.dumps({"type": "response.create"}))
        try:
            while True:
                frames.append(await ws.get_message())
        except trio_websocket.ConnectionClosed as exc:
            return frames, exc.reason


async def test_hand_written_recording_replays_at_the_recorded_pace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.fail_after(30):
        async with open_fake_server(
            speed=4.0,
            handlers={"openai": ReplayHandler(DATA / "recording_hello.jsonl")},
            use_default_handlers=False,
        ) as server:
            start = trio.current_time()
            frames, closed = await hand_written_turn(server)
            took = trio.current_time() - start
    kinds = [json.loads(f)["type"] for f in frames]
    assert kinds == [
        "session.created",
        "conversation.item.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.done",
    ]
    assert json.loads(frames[0])["session"]["id"] == "sess_hand"  # ids as recorded
    assert (closed.code, closed.reason) == (1000, "bye")
    assert 2.5 / 4.0 <= took < 2.5 / 4.0 + 0.5  # 2.5 s recorded, at speed 4


@pytest.mark.fake_server(replay=DATA / "recording_hello.jsonl")
async def test_pytest_marker_replays_a_recording(fake_server: FakeServer) -> None:
    with trio.fail_after(10):
        frames, _ = await hand_written_turn(fake_server)
    assert json.loads(frames[-1])["type"] == "response.done"
    assert [json.loads(f).get("delta") for f in frames[2:4]] == ["Hi", " there."]


def test_bad_recordings_are_refused_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"provider": "openai"}\n')
    with pytest.raises(ConfigurationError, match="first line must be the header"):
        load_recording(bad)
    bad.write_text('{"trio_realtime_recording": 1, "provider": "openai"}\n{"from": "x"}\n')
    with pytest.raises(ConfigurationError, match=r"bad.jsonl:2: 'from' must be"):
        load_recording(bad)
    bad.write_text('{"trio_realtime_recording": 1, "provider": "openai"}\n{"from": "server"}\n')
    with pytest.raises(ConfigurationError, match=r":2: a frame needs 'text'"):
        load_recording(bad)


async def test_client_turns_that_differ_are_reported() -> None:
    replay = ReplayHandler(DATA / "recording_hello.jsonl")
    with trio.fail_after(10):
        async with open_fake_server(
            speed=math.inf, handlers={"openai": replay}, use_default_handlers=False
        ) as server:
            async with openai_ws(server.url) as ws:
                await ws.get_message()
                await ws.send_message(json.dumps({"type": "response.create"}))
                await ws.get_message()
    assert replay.mismatches == [
        "client message 1: recorded 'conversation.item.create', got 'response.create'"
    ]


async def test_our_session_recorded_then_replayed(tmp_path: Path) -> None:
    """A trio_realtime session recorded through the proxy replays to the same session."""
    import trio_realtime as rt

    file = tmp_path / "ours.jsonl"
    options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)

    async def conversation(url: str) -> list[Any]:
        config = rt.OpenAIRealtime(url=url + "/v1/realtime", api_key=KEY, connection=options)
        seen: list[Any] = []
        async with rt.connect(config) as session:
            async for event in session.events():
                seen.append(event)
                if isinstance(event, rt.SessionReady):
                    await session.send_text("Hello there")
                elif isinstance(event, rt.ResponseDone):
                    break
        return [
            (type(e).__name__, getattr(e, "text", None), getattr(e, "frame", None)) for e in seen
        ]

    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf, handlers={"openai": FakeOpenAI()}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                recorded = await conversation(proxy.url)
        replay = ReplayHandler(file)
        async with open_fake_server(
            speed=math.inf, handlers={"openai": replay}, use_default_handlers=False
        ) as server:
            replayed = await conversation(server.url)
    assert [k for k, _, _ in replayed] == [k for k, _, _ in recorded]
    assert ("Transcript", "You said: Hello there. Thank you.", None) in replayed
    audio = [f for k, _, f in replayed if k == "AudioOut"]
    assert audio
    assert audio == [f for k, _, f in recorded if k == "AudioOut"]
    assert replay.mismatches == []


async def test_proxy_passes_an_upstream_refusal_through(tmp_path: Path) -> None:
    file = tmp_path / "refused.jsonl"
    fake = FakeOpenAI(api_keys={"sk-" + "other"}, auth_failure="http")
    with trio.fail_after(15):
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                with pytest.raises(trio_websocket.ConnectionRejected) as info:
                    async with openai_ws(proxy.url):
                        pass  # pragma: no cover
    assert info.value.status_code == 401
    assert b"invalid_api_key" in (info.value.body or b"")
    assert proxy.files == []  # nothing was recorded
    assert not file.exists()


async def test_proxy_over_tls_both_ways(tmp_path: Path) -> None:
    """google-genai dials wss:// whenever a key is set: the proxy can serve TLS too."""
    file = tmp_path / "tls.jsonl"
    with trio.fail_after(30):
        async with open_fake_server(
            speed=math.inf, tls=True, handlers={"gemini": FakeGemini()}
        ) as live:
            async with open_recording_proxy(
                live.url, file, tls=True, ssl_context=live.client_ssl_context()
            ) as proxy:
                assert proxy.url.startswith("wss://")
                assert proxy.ca_path is not None
                ctx = ssl.create_default_context(cafile=proxy.ca_path)
                recorded = await gemini_turn(proxy.url, ctx)
    assert len(recorded) > 3
    assert [f.data for f in load_recording(file).frames if f.sender == "server"] == recorded


async def test_a_server_close_is_recorded_and_replayed(tmp_path: Path) -> None:
    file = tmp_path / "expired.jsonl"

    async def wait_for_close(base: str) -> tuple[int, str | None]:
        async def drain(ws: trio_websocket.WebSocketConnection) -> None:
            while True:
                await ws.get_message()

        async with openai_ws(base) as ws:
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await drain(ws)
        reason = info.value.reason
        assert reason is not None
        return reason.code, reason.reason

    with trio.fail_after(20):
        fake = FakeOpenAI(max_session_seconds=0.3)
        async with open_fake_server(speed=math.inf, handlers={"openai": fake}) as live:
            async with open_recording_proxy(live.url, file) as proxy:
                live_close = await wait_for_close(proxy.url)
        last = load_recording(file).frames[-1]
        assert last.close == live_close
        assert live_close[0] == 1001
        async with open_fake_server(
            speed=math.inf, handlers={"openai": ReplayHandler(file)}, use_default_handlers=False
        ) as server:
            assert await wait_for_close(server.url) == live_close
