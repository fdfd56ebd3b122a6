"""Per-message costs of our codec paths against the plain standard-library way.

Each case is a pair, timed on the same pre-built message:

- receive: ``OpenAIProtocol.receive`` on a ``response.output_audio.delta``
  (decode, state bookkeeping, `AudioOut` with the samples as a numpy array)
  vs ``json.loads`` + ``base64.b64decode`` + ``np.frombuffer``; the same for
  ``GeminiProtocol.receive`` on a binary ``serverContent`` audio frame.
- send: ``OpenAIProtocol.audio_message`` on a 20 ms `AudioFrame` vs
  ``base64.b64encode`` + ``json.dumps``; the same for Gemini's
  ``realtimeInput.audio``.
"""

from __future__ import annotations

import base64
import json
import timeit
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from trio_realtime.audio import AudioFrame
from trio_realtime.events import AudioOut
from trio_realtime.gemini.protocol import INPUT_SAMPLE_RATE as GEMINI_INPUT_RATE
from trio_realtime.gemini.protocol import GeminiProtocol
from trio_realtime.openai.protocol import OpenAIProtocol

from .loadserver import gemini_messages, openai_messages, pcm_chunk

__all__ = ["MicroResult", "ResamplerResult", "micro_cases", "run_micro", "run_resampler"]


@attrs.define
class MicroResult:
    """One pair: our path and the bare one, in microseconds per message."""

    name: str
    ours_us: float
    bare_us: float

    @property
    def ratio(self) -> float:
        """ours / bare."""
        return self.ours_us / self.bare_us


def _ready_gemini() -> GeminiProtocol:
    from trio_realtime.gemini.config import GeminiLive

    proto = GeminiLive(api_key="bench").new_protocol()
    proto.start()
    proto.data_to_send()
    proto.receive(b'{"setupComplete":{}}')
    assert proto.ready
    return proto


def micro_cases() -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """The pairs ``(name, ours, bare)``; each callable handles one message.

    Each pair is checked first: both sides must produce the same samples or text.
    """
    openai_delta = openai_messages()["deltas"][0]
    gemini_delta = gemini_messages()["deltas"][0]
    oa = OpenAIProtocol()
    gm = _ready_gemini()

    def ours_oa_receive() -> Any:
        return oa.receive(openai_delta)

    def bare_oa_receive() -> Any:
        return np.frombuffer(base64.b64decode(json.loads(openai_delta)["delta"]), dtype="<i2")

    def ours_gm_receive() -> Any:
        return gm.receive(gemini_delta)

    def bare_gm_receive() -> Any:
        d = json.loads(gemini_delta)
        data = d["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
        return np.frombuffer(base64.b64decode(data), dtype="<i2")

    oa_pcm = pcm_chunk(24000)
    oa_frame = AudioFrame.from_bytes(oa_pcm, 24000)
    gm_pcm = pcm_chunk(GEMINI_INPUT_RATE)
    gm_frame = AudioFrame.from_bytes(gm_pcm, GEMINI_INPUT_RATE)

    def ours_oa_send() -> str:
        return oa.audio_message(oa_frame)

    def bare_oa_send() -> str:
        b64 = base64.b64encode(oa_pcm).decode("ascii")
        return json.dumps({"type": "input_audio_buffer.append", "audio": b64})

    def ours_gm_send() -> str:
        return gm.audio_message(gm_frame)

    def bare_gm_send() -> str:
        b64 = base64.b64encode(gm_pcm).decode("ascii")
        return json.dumps(
            {"realtimeInput": {"audio": {"mimeType": "audio/pcm;rate=16000", "data": b64}}}
        )

    # Same output both ways, or the comparison means nothing.
    for ours_rx, bare_rx in (
        (ours_oa_receive, bare_oa_receive),
        (ours_gm_receive, bare_gm_receive),
    ):
        events = [e for e in ours_rx() if isinstance(e, AudioOut)]
        if len(events) != 1 or not np.array_equal(events[0].frame.samples, bare_rx()):
            raise RuntimeError(f"{ours_rx.__name__} and {bare_rx.__name__} disagree")
    for ours_tx, bare_tx in ((ours_oa_send, bare_oa_send), (ours_gm_send, bare_gm_send)):
        if json.loads(ours_tx()) != json.loads(bare_tx()):
            raise RuntimeError(f"{ours_tx.__name__} and {bare_tx.__name__} disagree")

    return [
        ("openai receive audio delta", ours_oa_receive, bare_oa_receive),
        ("openai audio_message (send)", ours_oa_send, bare_oa_send),
        ("gemini receive audio frame", ours_gm_receive, bare_gm_receive),
        ("gemini audio_message (send)", ours_gm_send, bare_gm_send),
    ]


def _best_us(fn: Callable[[], Any], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def run_micro(number: int = 20000, repeat: int = 5) -> list[MicroResult]:
    """Time every pair (best of `repeat` runs of `number` calls, interleaved)."""
    results = []
    for name, ours, bare in micro_cases():
        ours_best = bare_best = float("inf")
        for _ in range(repeat):
            ours_best = min(ours_best, _best_us(ours, number, 1))
            bare_best = min(bare_best, _best_us(bare, number, 1))
        results.append(MicroResult(name, ours_best, bare_best))
    return results


@attrs.define
class ResamplerResult:
    """How many times faster than real time one core resamples a 20 ms-chunked stream."""

    in_rate: int
    out_rate: int
    x_real_time: float


def run_resampler(seconds: float = 10.0, repeat: int = 3) -> list[ResamplerResult]:
    """Time `Resampler.process` on 20 ms chunks (CPU time, best of `repeat`).

    The conversions a voice app makes: a 48 kHz microphone to each provider's
    input rate, and the 24 kHz output to a 48 kHz speaker.
    """
    import time

    from trio_realtime.audio import Resampler

    out: list[ResamplerResult] = []
    for in_rate, out_rate in ((48000, 16000), (48000, 24000), (24000, 48000), (24000, 16000)):
        chunk = AudioFrame.from_bytes(pcm_chunk(in_rate), in_rate)
        chunks = round(seconds * 50)
        best = float("inf")
        for _ in range(repeat):
            resampler = Resampler(in_rate, out_rate)
            t0 = time.process_time()
            for _ in range(chunks):
                resampler.process(chunk)
            best = min(best, time.process_time() - t0)
        out.append(ResamplerResult(in_rate, out_rate, seconds / max(best, 1e-9)))
    return out
