"""Per-turn metrics (`TurnMetrics`, `statistics()`), exact on the session's clock."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import trio
import trio.testing

import trio_realtime as rt
from trio_realtime._metrics import LatencyStats, MetricsTracker, tokens_by_modality
from trio_realtime.events import (
    AudioOut,
    Reconnected,
    ResponseStarted,
    SpeechStopped,
    TextOut,
    Transcript,
    TurnDone,
    Usage,
)
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import FakeServer, open_fake_server
from trio_realtime.testing.voice import split_frame, user_utterance

# --------------------------------------------------------------------------- pure tracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def audio(ms: int) -> AudioOut:
    return AudioOut(frame=rt.AudioFrame(np.zeros(ms * 24, np.int16), 24000))


def test_tracker_measures_a_turn_from_the_end_of_speech() -> None:
    clock = Clock()
    m = MetricsTracker(clock)
    m.audio_in(0.5)
    m.audio_in(0.25)
    clock.now = 101.0
    assert m.event(SpeechStopped()) is None
    clock.now = 101.2
    m.event(ResponseStarted(response_id="r1"))
    clock.now = 101.5
    m.event(Transcript(role="user", text="hi", final=True))  # the user's: not the reply
    m.event(Transcript(role="assistant", text="Hel", final=False))
    clock.now = 101.75
    m.audio_out(audio(100))
    clock.now = 102.0
    m.audio_out(audio(200))
    clock.now = 103.0
    usage = Usage(
        10,
        20,
        30,
        {
            "input_token_details": {"text_tokens": 4, "audio_tokens": 6, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
        },
    )
    metrics = m.event(TurnDone(response_ids=("r1",), usage=usage))
    assert metrics == rt.TurnMetrics(
        status="completed",
        interrupted=False,
        input_end="speech_stopped",
        time_to_first_audio=0.75,
        time_to_first_text=0.5,
        response_duration=pytest.approx(1.8),  # type: ignore[arg-type]
        audio_in_seconds=0.75,
        audio_out_seconds=pytest.approx(0.3),  # type: ignore[arg-type]
        input_tokens=10,
        output_tokens=20,
        input_tokens_by_modality={"text": 4, "audio": 6, "cached": 0},
        output_tokens_by_modality={"text": 5, "audio": 15},
        response_ids=("r1",),
    )
    # The next turn: text input, interrupted, no audio; audio in counts from here.
    m.audio_in(1.0)
    clock.now = 110.0
    m.input_ended("text")
    clock.now = 110.5
    m.event(TextOut(text="Sure"))
    clock.now = 111.0
    second = m.event(TurnDone(status="interrupted", reason="turn_detected"))
    assert second is not None
    assert (second.input_end, second.time_to_first_text, second.time_to_first_audio) == (
        "text",
        0.5,
        None,
    )
    assert second.interrupted
    assert second.audio_in_seconds == 1.0
    assert second.response_duration == 0.5  # started with its first text
    assert m.turns == 2
    assert m.turns_interrupted == 1
    assert m.time_to_first_text == LatencyStats(count=2, total=1.0, min=0.5, max=0.5, last=0.5)
    assert m.time_to_first_audio.count == 1
    assert m.time_to_first_audio.mean == 0.75
    assert (m.input_tokens, m.output_tokens) == (10, 20)
    assert m.last_turn is second


def test_tracker_sums_reconnect_downtime() -> None:
    m = MetricsTracker(Clock())
    m.event(Reconnected(downtime=0.25))
    m.event(Reconnected(downtime=0.5))
    assert (m.reconnects, m.reconnect_downtime) == (2, 0.75)


def test_gemini_usage_by_modality() -> None:
    details = {
        "promptTokensDetails": [
            {"modality": "AUDIO", "tokenCount": 40},
            {"modality": "TEXT", "tokenCount": 2},
            {"modality": "AUDIO", "tokenCount": 10},
        ],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 179}],
    }
    assert tokens_by_modality(Usage(52, 179, 231, details)) == (
        {"audio": 50, "text": 2},
        {"audio": 179},
    )
    assert tokens_by_modality(None) == ({}, {})


# --------------------------------------------------------------------------- sessions, MockClock


def config_for(provider: str, server: FakeServer, **kw: Any) -> Any:
    options = rt.ConnectionOptions(open_timeout=5, close_timeout=2, ping_interval=None)
    if provider == "openai":
        return rt.OpenAIRealtime(url=server.openai_url, api_key="k", connection=options, **kw)
    return rt.GeminiLive(url=server.gemini_url(), api_key="k", connection=options, **kw)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_text_turn_metrics_are_exact_on_the_mock_clock(
    provider: str, autojump_clock: trio.testing.MockClock
) -> None:
    scenario = Scenario(turns=[Turn(reply="Hello there.", latency=0.5)])
    seen: list[tuple[float, rt.Event]] = []
    with trio.fail_after(30):
        async with open_fake_server(speed=1, scenario=scenario) as server:
            with no_leaked_tasks():
                async with rt.connect(config_for(provider, server)) as session:
                    sent_at = trio.current_time()
                    await session.send_text("Hi")
                    async for event in session.events():
                        seen.append((trio.current_time(), event))
                        if isinstance(event, rt.TurnMetrics):
                            break
                    stats = session.statistics()
    kinds = [type(e).__name__ for _, e in seen]
    assert kinds[-3:] == ["ResponseDone", "TurnDone", "TurnMetrics"]
    metrics = seen[-1][1]
    assert isinstance(metrics, rt.TurnMetrics)
    first_audio = next(t for t, e in seen if isinstance(e, rt.AudioOut))
    started = next(t for t, e in seen if isinstance(e, rt.ResponseStarted))
    done = next(t for t, e in seen if isinstance(e, rt.TurnDone))
    # The fake answers after the scripted latency: 0.5 s on the session's clock.
    assert metrics.time_to_first_audio == first_audio - sent_at == 0.5
    assert metrics.time_to_first_text == 0.5
    assert metrics.response_duration == done - started
    assert metrics.input_end == "text"
    assert metrics.status == "completed"
    assert not metrics.interrupted
    audio_out = 0.0
    for _, e in seen:
        if isinstance(e, rt.AudioOut):
            audio_out += e.frame.duration
    assert metrics.audio_out_seconds == audio_out > 0.8
    assert metrics.audio_in_seconds == 0.0
    assert metrics.output_tokens
    assert metrics.output_tokens_by_modality["audio"] > 0
    assert stats.turns == 1
    assert stats.last_turn == metrics
    assert stats.time_to_first_audio.last == 0.5
    assert stats.audio_out_seconds == audio_out
    assert stats.connect_seconds is not None
    assert stats.ready_seconds is not None
    assert 0 <= stats.connect_seconds <= stats.ready_seconds


async def test_speech_turn_starts_at_the_end_of_speech(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(turns=[Turn(reply="Yes.", latency=0.25)])
    speech = user_utterance("is it raining", 24000)
    with trio.fail_after(30):
        async with open_fake_server(speed=1, scenario=scenario) as server:
            async with rt.connect(config_for("openai", server)) as session:
                stopped_at = None
                sent = speech.duration
                for chunk in split_frame(speech, 20):
                    await session.send_audio(chunk)
                    await trio.sleep(0.02)  # a microphone's pace
                await session.flush_audio()
                silence = rt.AudioFrame(np.zeros(480, np.int16), 24000)
                async with trio.open_nursery() as nursery:

                    async def trailing_silence() -> None:
                        nonlocal sent
                        for _ in range(100):
                            await session.send_audio(silence)
                            # Sent (or queued) once it returns; cancelled, not at all.
                            sent += silence.duration
                            await trio.sleep(0.02)

                    nursery.start_soon(trailing_silence)
                    first_audio = None
                    async for event in session.events():
                        if isinstance(event, rt.SpeechStopped):
                            stopped_at = trio.current_time()
                        if isinstance(event, rt.AudioOut) and first_audio is None:
                            first_audio = trio.current_time()
                        if isinstance(event, rt.TurnMetrics):
                            metrics = event
                            break
                    nursery.cancel_scope.cancel()
                total_in = session.statistics().audio_in_seconds
    assert metrics.input_end == "speech_stopped"
    assert stopped_at is not None
    assert first_audio is not None
    # The scripted latency after the server's end of speech, exactly (measured
    # when the events arrived, not when this loop read them).
    assert metrics.time_to_first_audio == 0.25
    # Audio in counts what was queued for sending up to the end of the turn.
    assert 0 < metrics.audio_in_seconds <= total_in
    assert total_in == pytest.approx(sent)
