"""Microphone, speaker and `run_talk` (trio_realtime.devices) with a stand-in sounddevice.

The stand-in (tests/stubs/sounddevice.py) runs each stream in a thread at real
time, as PortAudio does: the microphone plays a prepared recording, the
speaker records what it was handed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

import trio_realtime as rt
from trio_realtime.devices import (
    AudioDeviceError,
    Microphone,
    Speaker,
    list_devices,
    run_talk,
)
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import user_utterance

STUBS = Path(__file__).parent / "stubs"


def load_stub(mode: str = "ok") -> Any:
    """A fresh copy of the stand-in sounddevice module, in `mode`."""
    spec = importlib.util.spec_from_file_location("stub_sounddevice", STUBS / "sounddevice.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import os

    old = os.environ.get("FAKE_SD_MODE")
    os.environ["FAKE_SD_MODE"] = mode
    try:
        spec.loader.exec_module(module)
    finally:
        if old is None:
            del os.environ["FAKE_SD_MODE"]
        else:
            os.environ["FAKE_SD_MODE"] = old
    return module


@pytest.fixture
def sd() -> Any:
    return load_stub()


# --------------------------------------------------------------------------- speaker


class Block:
    """What sounddevice passes an output callback: a (frames, 1) int16 array."""

    def __init__(self, frames: int) -> None:
        self.data = np.full((frames, 1), 7, np.int16)  # garbage the callback must overwrite


def pull(speaker: Speaker, frames: int, time: Any = None) -> np.ndarray[Any, Any]:
    block = Block(frames)
    speaker._fill(block.data, frames, time, None)
    return block.data[:, 0].copy()


def ramp(n: int, start: int = 1) -> rt.AudioFrame:
    return rt.AudioFrame(np.arange(start, start + n, dtype=np.int16), 24000)


def test_speaker_jitter_buffer_waits_for_prebuffer_then_plays_in_order() -> None:
    speaker = Speaker(24000, prebuffer_ms=60, block_ms=20)
    assert (pull(speaker, 480) == 0).all()  # nothing queued: silence, not garbage
    speaker.play(ramp(480), item_id="item_1")  # 20 ms < 60 ms of prebuffer
    assert (pull(speaker, 480) == 0).all()
    speaker.play(ramp(960, 481), item_id="item_1")  # 60 ms queued now: playback starts
    out = np.concatenate([pull(speaker, 480) for _ in range(3)])
    assert (out == np.arange(1, 1441)).all()
    assert speaker.position() == ("item_1", 60)
    assert speaker.stats.played_samples == 1440
    assert speaker.stats.underruns == 0


def test_speaker_starts_a_short_reply_after_waiting_prebuffer_ms() -> None:
    speaker = Speaker(24000, prebuffer_ms=60, block_ms=20)
    speaker.play(ramp(240), item_id="a")  # 10 ms: less than the prebuffer, and nothing follows
    waits = 0
    while (block := pull(speaker, 480)).max() == 0:
        waits += 1
        assert waits < 10
    assert waits == 3  # it waited 60 ms of blocks, then played what it had
    assert (block[:240] == np.arange(1, 241)).all()
    assert (block[240:] == 0).all()


def test_speaker_underrun_refills_the_jitter_buffer() -> None:
    speaker = Speaker(24000, prebuffer_ms=40, block_ms=20)
    speaker.play(ramp(1200), item_id="a")
    pull(speaker, 480)
    pull(speaker, 480)
    tail = pull(speaker, 480)  # 240 samples left: a partial block, then dry
    assert (tail[:240] == np.arange(961, 1201)).all()
    assert speaker.stats.underruns == 1
    speaker.play(ramp(480, 2000), item_id="a")  # 20 ms: below the 40 ms prebuffer again
    assert (pull(speaker, 480) == 0).all()
    assert (pull(speaker, 480) == 0).all()
    assert pull(speaker, 480)[0] == 2000  # waited 40 ms, then played


def test_speaker_clear_stops_at_once_and_reports_what_was_heard() -> None:
    speaker = Speaker(24000, prebuffer_ms=0, block_ms=20)
    speaker.play(ramp(24000), item_id="item_9")
    for _ in range(5):
        pull(speaker, 480)
    assert speaker.clear() == ("item_9", 100)
    assert speaker.pending_seconds() == 0
    assert (pull(speaker, 480) == 0).all()
    assert speaker.stats.cleared_samples == 24000 - 2400
    # The next item starts from zero.
    speaker.play(ramp(480), item_id="item_10")
    pull(speaker, 480)
    assert speaker.position() == ("item_10", 20)


def test_speaker_position_subtracts_the_device_latency() -> None:
    speaker = Speaker(24000, prebuffer_ms=0, block_ms=20)
    speaker.play(ramp(4800), item_id="i")
    time = types.SimpleNamespace(currentTime=10.0, outputBufferDacTime=10.05)
    for _ in range(5):
        pull(speaker, 480, time)
    assert speaker.position() == ("i", 100 - 50)


def test_speaker_resamples_and_downmixes() -> None:
    speaker = Speaker(24000, prebuffer_ms=0)
    stereo = rt.AudioFrame(np.full((1600, 2), 1000, np.int16), 16000, channels=2)
    speaker.play(stereo)
    assert speaker.stats.resampled_frames == 1
    assert 0.05 < speaker.pending_seconds() <= 0.1


# --------------------------------------------------------------------------- opening devices


def test_missing_sounddevice_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(AudioDeviceError) as info:
        list_devices()
    assert str(info.value) == "sounddevice is not installed: pip install 'trio-realtime[audio]'"


def test_list_devices_marks_the_defaults(sd: Any) -> None:
    devices = list_devices(backend=sd)
    assert [(d.index, d.name, d.default_input, d.default_output) for d in devices] == [
        (0, "Stub Microphone", True, False),
        (1, "Stub Speaker", False, True),
    ]


async def test_no_such_device_names_it() -> None:
    sd = load_stub()
    with pytest.raises(AudioDeviceError) as info:
        async with Microphone(24000, device="headset", backend=sd):
            pass  # pragma: no cover
    assert str(info.value) == "no usable microphone 'headset' (No input device matching 'headset')"
    with pytest.raises(AudioDeviceError) as info:
        async with Speaker(24000, backend=load_stub("no-device")):
            pass  # pragma: no cover
    assert str(info.value) == "no usable speaker (Error querying device -1)"


async def test_a_stream_that_fails_to_open_is_a_device_error() -> None:
    with no_leaked_tasks():
        with pytest.raises(AudioDeviceError) as info:
            async with Speaker(24000, backend=load_stub("stream-fails")):
                pass  # pragma: no cover
    assert str(info.value) == "the audio device failed (Invalid sample rate)"


async def test_a_device_that_refuses_the_rate_runs_at_its_own() -> None:
    sd = load_stub("only-48k")
    sd.MIC = np.arange(4800, dtype=np.int16)
    with trio.fail_after(5), no_leaked_tasks():
        async with Speaker(24000, backend=sd) as speaker, Microphone(16000, backend=sd) as mic:
            assert (speaker.sample_rate, mic.sample_rate) == (48000, 48000)
            speaker.play(rt.AudioFrame(np.zeros(2400, np.int16), 24000))  # resampled to 48 kHz
            assert speaker.stats.resampled_frames == 1
            # 100 ms in; the streaming resampler keeps its few ms of delay back.
            assert 0.05 < speaker.pending_seconds() <= 0.1
            frame = await mic.__anext__()
            assert (frame.sample_rate, frame.num_samples) == (48000, 960)
    assert [(kind, kw["samplerate"]) for kind, kw in sd.OPENED] == [
        ("output", 48000),
        ("input", 48000),
    ]


async def test_microphone_delivers_the_recording_in_order(sd: Any) -> None:
    sd.MIC = np.arange(2400, dtype=np.int16)
    got: list[rt.AudioFrame] = []
    with trio.fail_after(5), no_leaked_tasks():
        async with Microphone(24000, device="Stub Mic", backend=sd) as mic:
            assert mic.name == "Stub Microphone"
            async for frame in mic:
                got.append(frame)
                if len(got) == 6:
                    break
    assert [f.num_samples for f in got] == [480] * 6
    assert (rt.AudioFrame.join(got).samples[:2400] == np.arange(2400)).all()
    assert sd.OPENED == [("input", {"samplerate": 24000, "blocksize": 480, "device": "Stub Mic"})]
    assert got[0].sample_rate == 24000
    assert mic.level == -math.inf  # the last block read was silence (after the recording)


async def test_microphone_level_and_dropped_blocks(sd: Any) -> None:
    sd.MIC = np.full(24000 * 2, 3277, np.int16)  # a -20 dBFS square wave… of one level
    with trio.fail_after(5):
        async with Microphone(24000, max_queue=2, backend=sd) as mic:
            await trio.sleep(0.2)  # nobody reads: the queue of 2 fills, the rest is dropped
            assert mic.dropped >= 3
            frame = await mic.__anext__()
            assert frame.num_samples == 480
            assert mic.level == pytest.approx(-20.0, abs=0.1)


# --------------------------------------------------------------------------- run_talk end to end


def received(server: FakeServer, kind: str) -> list[dict[str, Any]]:
    out = []
    for raw in server.connections[0].received:
        msg = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        if isinstance(msg, dict) and msg.get("type") == kind:
            out.append(msg)
    return out


async def talk_until_reply(
    sd: Any, config: rt.OpenAIRealtime | rt.GeminiLive, replies: int
) -> tuple[list[rt.Event], list[tuple[str | None, int]], Speaker]:
    """Run a conversation until `replies` complete replies have been played."""
    seen: list[rt.Event] = []
    at_interrupt: list[tuple[str | None, int]] = []
    with no_leaked_tasks():
        async with rt.connect(config) as session:
            mic = Microphone(session.protocol.input_sample_rate, backend=sd)
            speaker = Speaker(session.protocol.output_sample_rate, backend=sd)
            async with mic, speaker:
                with trio.CancelScope() as scope:

                    async def on_event(event: rt.Event) -> None:
                        seen.append(event)
                        if isinstance(event, rt.Interrupted):
                            at_interrupt.append(speaker.position())
                        # Count the replies completed after the barge-in (the
                        # first reply may complete before it is interrupted
                        # while it plays).
                        done = [e for e in seen if isinstance(e, rt.ResponseDone)]
                        if (
                            at_interrupt
                            and isinstance(event, rt.ResponseDone)
                            and event.status == "completed"
                            and seen.index(event)
                            > max(i for i, e in enumerate(seen) if isinstance(e, rt.Interrupted))
                            and len(done) >= replies
                        ):
                            await speaker.drain()
                            scope.cancel()

                    await run_talk(session, mic, speaker, on_event=on_event)
    return seen, at_interrupt, speaker


def conversation(rate: int) -> np.ndarray[Any, Any]:
    first = user_utterance("tell me a long story please", rate, trail_ms=800)
    gap = rt.AudioFrame.silence(1.5, rate)
    second = user_utterance("stop", rate, lead_ms=0, trail_ms=900)
    return rt.AudioFrame.join([first, gap, second]).samples


async def test_talk_openai_barge_in_truncates_where_playback_stopped(
    sd: Any,
) -> None:
    sd.MIC = conversation(24000)
    # Replies arrive twice as fast as they play, so what was received and
    # what was heard differ by seconds when the user barges in.
    with trio.fail_after(30):
        async with open_fake_server(speed=2.0) as server:
            config = rt.OpenAIRealtime(
                url=server.openai_url,
                api_key="fake-key",
                connection=rt.ConnectionOptions(open_timeout=5, close_timeout=2),
            )
            seen, at_interrupt, speaker = await talk_until_reply(sd, config, replies=1)
            appended = received(server, "input_audio_buffer.append")
            truncates = received(server, "conversation.item.truncate")
    users = [e.text for e in seen if isinstance(e, rt.Transcript) and e.role == "user" and e.final]
    assert users == ["tell me a long story please", "stop"]  # the microphone reached the fake
    assert len(appended) > 100
    # Barge-in: playback stopped, and the item was cut where it stopped.
    assert len(at_interrupt) == 1
    assert len(truncates) == 1
    item, heard_ms = at_interrupt[0]
    first_item = next(e.item_id for e in seen if isinstance(e, rt.AudioOut))
    assert item == first_item == truncates[0]["item_id"]
    received_ms = sum(
        e.frame.duration * 1000 for e in seen if isinstance(e, rt.AudioOut) and e.item_id == item
    )
    end = truncates[0]["audio_end_ms"]
    # Reported with each microphone block: at most a block and the round
    # trip to the server behind what had been heard when playback stopped.
    assert heard_ms - 200 <= end <= heard_ms, (end, heard_ms)
    assert end < received_ms - 500
    # The reply audio reached the speaker, byte for byte, from its first sample.
    audio = rt.AudioFrame.join(
        [e.frame for e in seen if isinstance(e, rt.AudioOut) and e.item_id == item]
    ).samples
    played = np.concatenate(sd.PLAYED)
    start = int(np.flatnonzero(played)[0])
    lead = int(np.flatnonzero(audio)[0])
    n = 24000 // 2
    assert (played[start : start + n] == audio[lead : lead + n]).all()
    assert speaker.stats.cleared_samples > 0


async def test_talk_gemini_barge_in_stops_playback(sd: Any) -> None:
    sd.MIC = conversation(16000)
    with trio.fail_after(30):
        async with open_fake_server(speed=1.0) as server:
            config = rt.GeminiLive(
                url=server.gemini_url(),
                api_key="fake-key",
                connection=rt.ConnectionOptions(open_timeout=5, close_timeout=2),
            )
            seen, at_interrupt, speaker = await talk_until_reply(sd, config, replies=1)
            realtime_audio = [
                m
                for raw in server.connections[0].received
                if isinstance((m := json.loads(raw)), dict) and "realtimeInput" in m
            ]
    assert len(realtime_audio) > 100
    users = [e.text for e in seen if isinstance(e, rt.Transcript) and e.role == "user" and e.final]
    assert users == ["tell me a long story please", "stop"]
    assert len(at_interrupt) == 1
    # Playback stopped inside the first reply, and what was queued of it was dropped.
    key, heard_ms = at_interrupt[0]
    first = next(e.response_id for e in seen if isinstance(e, rt.AudioOut))
    assert key == first
    first_ms = sum(
        e.frame.duration * 1000
        for e in seen
        if isinstance(e, rt.AudioOut) and e.response_id == first
    )
    assert 500 < heard_ms < first_ms
    assert speaker.stats.cleared_samples > 0
    assert any(e.text == "You said: stop. Thank you." for e in seen if isinstance(e, rt.Transcript))
