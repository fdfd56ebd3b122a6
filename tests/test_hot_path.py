"""The per-chunk receive path: decoded once, no copy, same result as the general path."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from trio_realtime.audio import AudioError, AudioFrame
from trio_realtime.events import AudioOut, Interrupt, Interrupted, ResponseStarted
from trio_realtime.gemini import GeminiLive, GeminiProtocol
from trio_realtime.gemini import messages as m
from trio_realtime.gemini.codec import audio_parts, decode_server_message

PCM = (np.arange(960, dtype=np.int16) * 13 - 4000).astype(np.int16)


def chunk(pcm: np.ndarray, rate: int = 24000) -> bytes:
    data = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    blob = {"mimeType": f"audio/pcm;rate={rate}", "data": data}
    return json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}}).encode()


def ready_protocol() -> GeminiProtocol:
    proto = GeminiLive(url="ws://127.0.0.1:1/x").new_protocol()
    proto.start()
    proto.data_to_send()
    proto.receive(b'{"setupComplete": {}}')
    return proto


def test_audio_frames_wrap_the_decoded_bytes_without_a_copy() -> None:
    data = PCM.astype("<i2").tobytes()
    frame = AudioFrame.from_pcm16_mono(data, 24000)
    assert frame == AudioFrame.from_bytes(data, 24000)
    assert not frame.samples.flags.owndata  # a view of `data`
    with pytest.raises(AudioError, match="got 3 bytes"):
        AudioFrame.from_pcm16_mono(b"abc", 24000)


def test_gemini_audio_chunks_in_a_turn_match_the_general_decoder() -> None:
    proto = ready_protocol()
    first = proto.receive(chunk(PCM))
    assert [type(e) for e in first] == [ResponseStarted, AudioOut]
    for rate in (24000, 16000):
        frames = proto.receive(chunk(PCM[::-1], rate))
        assert len(frames) == 1
        out = frames[0]
        assert isinstance(out, AudioOut)
        assert out.frame.sample_rate == rate
        assert np.array_equal(out.frame.samples, PCM[::-1])
        assert out.response_id == first[1].response_id  # type: ignore[attr-defined]
        # The general decoder reads the same frame to the same audio.
        msg = decode_server_message(chunk(PCM[::-1], rate))
        assert isinstance(msg, m.ServerMessage)
        parts = msg.server_content.model_turn.parts  # type: ignore[union-attr]
        assert parts[0].inline_data.data == out.frame.to_bytes()  # type: ignore[index,union-attr]


def test_gemini_audio_after_a_local_interrupt_is_dropped_on_the_fast_path() -> None:
    proto = ready_protocol()
    proto.receive(chunk(PCM))
    assert isinstance(proto.handle(Interrupt())[0], Interrupted)
    assert proto.receive(chunk(PCM)) == []


def test_only_pure_audio_frames_take_the_fast_path() -> None:
    audio = json.loads(chunk(PCM))
    assert audio_parts(audio) is not None
    with_text = json.loads(chunk(PCM))
    with_text["serverContent"]["modelTurn"]["parts"].append({"text": "hi"})
    assert audio_parts(with_text) is None
    urlsafe = json.loads(chunk(PCM))
    blob = urlsafe["serverContent"]["modelTurn"]["parts"][0]["inlineData"]
    standard = blob["data"]
    blob["data"] = standard.replace("+", "-").replace("/", "_")
    assert blob["data"] != standard
    assert audio_parts(urlsafe) is None  # the general path decodes URL-safe base64
