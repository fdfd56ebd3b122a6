"""AudioFrame, Resampler, Rechunker and WAV files."""

from __future__ import annotations

import io
import itertools
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_realtime.audio import (
    AudioError,
    AudioFrame,
    Rechunker,
    Resampler,
    read_wav,
    write_wav,
)

AMPLITUDE = 0.5 * 32767
TONE_HZ = 1000.0


def sine(rate: int, seconds: float, *, hz: float = TONE_HZ) -> npt.NDArray[np.float64]:
    """The analytic tone sampled at `rate`, in int16 units (not rounded)."""
    t = np.arange(round(rate * seconds)) / rate
    return AMPLITUDE * np.sin(2 * np.pi * hz * t)


def sine_frame(rate: int, seconds: float, *, hz: float = TONE_HZ) -> AudioFrame:
    return AudioFrame(np.rint(sine(rate, seconds, hz=hz)).astype(np.int16), rate)


def snr_db(signal: npt.NDArray[np.float64], reference: npt.NDArray[np.float64]) -> float:
    noise = signal - reference
    return float(10 * np.log10(np.sum(reference**2) / np.sum(noise**2)))


def feed_in_random_chunks(
    resampler: Resampler, frame: AudioFrame, seed: int, max_chunk: int = 4096
) -> tuple[AudioFrame, list[int]]:
    rng = np.random.default_rng(seed)
    outs: list[AudioFrame] = []
    sizes: list[int] = []
    pos = 0
    while pos < frame.num_samples:
        k = int(rng.integers(1, max_chunk + 1))
        piece = AudioFrame(frame.samples[pos : pos + k], frame.sample_rate, frame.channels)
        outs.append(resampler.process(piece))
        sizes.append(piece.num_samples)
        pos += k
    outs.append(resampler.flush())
    return AudioFrame.join(outs), sizes


def one_shot(resampler: Resampler, frame: AudioFrame) -> AudioFrame:
    return AudioFrame.join([resampler.process(frame), resampler.flush()])


# ---------------------------------------------------------------------------
# Resampler


@pytest.mark.parametrize(
    ("in_rate", "out_rate"), [(48000, 16000), (44100, 16000), (16000, 24000), (24000, 48000)]
)
def test_resampler_random_chunks_equal_one_shot_and_match_the_sine(
    in_rate: int, out_rate: int
) -> None:
    frame = sine_frame(in_rate, 1.0)
    reference = one_shot(Resampler(in_rate, out_rate), frame)
    chunked, sizes = feed_in_random_chunks(Resampler(in_rate, out_rate), frame, seed=in_rate)

    assert len(sizes) >= 5
    assert min(sizes) >= 1
    assert max(sizes) <= 4096
    # Tiny chunks too (1 to 16 samples), where most calls return nothing.
    tiny, tiny_sizes = feed_in_random_chunks(
        Resampler(in_rate, out_rate), frame, seed=1, max_chunk=16
    )
    assert min(tiny_sizes) == 1
    assert tiny == reference
    assert chunked.sample_rate == out_rate
    assert chunked.num_samples == round(frame.num_samples * out_rate / in_rate)
    assert chunked == reference

    # soxr compensates its filter delay, so the output lines up with the tone
    # sampled at the new rate; only the edges (where the filter saw silence
    # around the signal) are trimmed.
    expected = sine(out_rate, 1.0)
    trim = out_rate // 100  # 10 ms each side
    got = chunked.samples.astype(np.float64)
    assert snr_db(got[trim:-trim], expected[trim:-trim]) >= 60.0
    # A shift of a single output sample would ruin the SNR: the alignment is real.
    assert snr_db(got[trim + 1 : -trim + 1], expected[trim:-trim]) < 30.0


def test_resampler_one_shot_matches_soxr_reference() -> None:
    frame = sine_frame(48000, 0.5)
    ours = one_shot(Resampler(48000, 16000), frame)
    theirs = soxr.resample(frame.samples.astype(np.float32), 48000, 16000)
    np.testing.assert_array_equal(
        ours.samples, np.clip(np.rint(theirs), -32768, 32767).astype(np.int16)
    )


def test_resampler_holds_back_output_and_reports_delay() -> None:
    r = Resampler(48000, 16000)
    assert r.delay == 0.0
    first = r.process(sine_frame(48000, 0.002))  # 96 samples in
    # Some output is held back until more input (or the flush) arrives.
    assert first.num_samples < 32
    assert r.delay > 0.0
    tail = r.flush()
    assert first.num_samples + tail.num_samples == 32
    assert r.delay == 0.0


def test_resampler_flush_and_reset_start_a_fresh_stream() -> None:
    frame = sine_frame(24000, 0.2)
    r = Resampler(24000, 16000)
    a = one_shot(r, frame)
    b = one_shot(r, frame)  # flush left it ready for a new stream
    assert a == b
    r.process(sine_frame(24000, 0.05, hz=300))  # half a stream, abandoned
    r.reset()
    assert one_shot(r, frame) == a


def test_resampler_downmixes_stereo_to_mono() -> None:
    mono = sine_frame(48000, 0.3)
    left = mono.samples
    right = np.zeros_like(left)
    stereo = AudioFrame(np.stack([left, right], axis=1), 48000, 2)
    r = Resampler(48000, 16000, channels=2, to_mono=True)
    assert r.out_channels == 1
    out = one_shot(r, stereo)
    assert out.channels == 1
    assert out.samples.ndim == 1
    expected = sine(16000, 0.3) / 2
    assert snr_db(out.samples[160:-160].astype(np.float64), expected[160:-160]) >= 60.0


def test_resampler_keeps_stereo_channels_apart() -> None:
    a = sine_frame(16000, 0.25, hz=1000).samples
    b = sine_frame(16000, 0.25, hz=400).samples
    stereo = AudioFrame(np.stack([a, b], axis=1), 16000, 2)
    out, _ = feed_in_random_chunks(Resampler(16000, 24000, channels=2), stereo, seed=7)
    assert out.channels == 2
    assert out.samples.shape == (6000, 2)
    trim = 240
    got = out.samples[trim:-trim].astype(np.float64)
    assert snr_db(got[:, 0], sine(24000, 0.25, hz=1000)[trim:-trim]) >= 60.0
    assert snr_db(got[:, 1], sine(24000, 0.25, hz=400)[trim:-trim]) >= 60.0


def test_resampler_same_rate_passes_frames_through() -> None:
    frame = sine_frame(16000, 0.1)
    r = Resampler(16000, 16000)
    out = r.process(frame)
    assert out is frame
    assert r.flush().num_samples == 0
    assert r.delay == 0.0

    stereo = AudioFrame(np.stack([frame.samples, frame.samples // 2], axis=1), 16000, 2)
    down = Resampler(16000, 16000, channels=2, to_mono=True).process(stereo)
    assert down == stereo.to_mono()


def test_resampler_accepts_big_endian_samples() -> None:
    frame = sine_frame(48000, 0.1)
    swapped = AudioFrame(frame.samples.astype(">i2"), 48000)
    assert one_shot(Resampler(48000, 16000), swapped) == one_shot(Resampler(48000, 16000), frame)


def test_resampler_clips_instead_of_wrapping() -> None:
    # A full-scale square wave overshoots (Gibbs) after resampling.
    square = np.where(np.arange(4800) // 24 % 2 == 0, 32767, -32768).astype(np.int16)
    out = one_shot(Resampler(48000, 16000), AudioFrame(square, 48000))
    assert out.samples.max() == 32767
    assert out.samples.min() == -32768
    # A wrapped overshoot would flip sign right next to a full-scale peak.
    s = out.samples.astype(np.int32)
    assert not np.any((np.abs(s[:-1]) > 30000) & (np.abs(s[1:] - s[:-1]) > 60000))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_rate": 0, "out_rate": 16000}, "in_rate must be a positive integer number of Hz, got 0"),
        ({"in_rate": 16000, "out_rate": -8000}, "out_rate must be a positive integer number of Hz, got -8000"),
        ({"in_rate": 16000.0, "out_rate": 8000}, "in_rate must be a positive integer number of Hz, got 16000.0"),
        ({"in_rate": 16000, "out_rate": 8000, "channels": 0}, "channels must be a positive integer, got 0"),
        ({"in_rate": 16000, "out_rate": 8000, "quality": "best"}, "quality must be one of QQ, LQ, MQ, HQ, VHQ, got 'best'"),
    ],
)  # fmt: skip
def test_resampler_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AudioError) as info:
        Resampler(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_resampler_rejects_frames_of_another_format() -> None:
    r = Resampler(48000, 16000)
    with pytest.raises(AudioError, match=r"expects 48000 Hz frames, got a 16000 Hz frame"):
        r.process(sine_frame(16000, 0.01))
    stereo = AudioFrame(np.zeros((10, 2), np.int16), 48000, 2)
    with pytest.raises(AudioError, match=r"expects 1-channel frames, got a 2-channel frame"):
        r.process(stereo)
    with pytest.raises(AudioError, match=r"needs an AudioFrame, got bytes"):
        r.process(b"\x00\x00")  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2400), max_size=12))
def test_resampler_output_does_not_depend_on_chunking(cuts: list[int]) -> None:
    frame = sine_frame(44100, 0.05, hz=440)
    points = sorted({c for c in cuts if c < frame.num_samples})
    bounds = [0, *points, frame.num_samples]
    r = Resampler(44100, 24000)
    outs = [r.process(AudioFrame(frame.samples[a:b], 44100)) for a, b in itertools.pairwise(bounds)]
    outs.append(r.flush())
    assert AudioFrame.join(outs) == one_shot(Resampler(44100, 24000), frame)


# ---------------------------------------------------------------------------
# AudioFrame: bytes


def test_bytes_round_trip_is_little_endian_and_zero_copy() -> None:
    data = bytes([0x01, 0x00, 0xFF, 0x7F, 0x00, 0x80, 0xFE, 0xFF])
    frame = AudioFrame.from_bytes(data, 16000)
    assert frame.samples.tolist() == [1, 32767, -32768, -2]
    assert frame.to_bytes() == data
    assert np.shares_memory(frame.samples, np.frombuffer(data, np.uint8))
    assert frame.num_samples == 4
    assert frame.duration == 4 / 16000
    assert len(frame) == 4


def test_to_bytes_of_big_endian_view_is_little_endian() -> None:
    values = np.array([1, -2, 300, -32768, 32767], dtype=np.int16)
    big = values.astype(">i2")
    assert big.tobytes() != values.astype("<i2").tobytes()
    frame = AudioFrame(big, 8000)
    assert frame.to_bytes() == b"\x01\x00\xfe\xff\x2c\x01\x00\x80\xff\x7f"
    # A big-endian *view* of little-endian memory: to_bytes swaps back.
    raw = bytearray(values.astype(">i2").tobytes())
    view = np.frombuffer(raw, dtype=">i2")
    assert AudioFrame(view, 8000).to_bytes() == values.astype("<i2").tobytes()
    assert AudioFrame.from_bytes(AudioFrame(view, 8000).to_bytes(), 8000) == AudioFrame(
        values, 8000
    )


def test_stereo_bytes_are_interleaved() -> None:
    samples = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int16)
    frame = AudioFrame(samples, 24000, 2)
    assert frame.to_bytes() == np.array([1, 2, 3, 4, 5, 6], "<i2").tobytes()
    back = AudioFrame.from_bytes(frame.to_bytes(), 24000, channels=2)
    assert back == frame
    assert back.samples.shape == (3, 2)


def test_from_bytes_accepts_memoryview_and_bytearray() -> None:
    data = bytearray(np.arange(-5, 5, dtype="<i2").tobytes())
    assert AudioFrame.from_bytes(memoryview(data), 16000).samples.tolist() == list(range(-5, 5))
    assert AudioFrame.from_bytes(data, 16000).samples.tolist() == list(range(-5, 5))


@given(data=st.binary(max_size=400).map(lambda b: b[: len(b) - len(b) % 4]))
def test_bytes_round_trip_property(data: bytes) -> None:
    for channels in (1, 2):
        frame = AudioFrame.from_bytes(data, 48000, channels)
        assert frame.to_bytes() == data
        assert frame.num_samples == len(data) // (2 * channels)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: AudioFrame.from_bytes(b"\x00\x01\x02", 16000), "PCM16 data must hold a whole number of 1-channel samples (2 bytes each), got 3 bytes"),
        (lambda: AudioFrame.from_bytes(b"\x00" * 6, 16000, 2), "PCM16 data must hold a whole number of 2-channel samples (4 bytes each), got 6 bytes"),
        (lambda: AudioFrame.from_bytes("abcd", 16000), "PCM16 data must be bytes-like, got str"),  # type: ignore[arg-type]
        (lambda: AudioFrame.from_bytes(b"\x00\x00", 0), "sample_rate must be a positive integer number of Hz, got 0"),
        (lambda: AudioFrame.from_bytes(b"\x00\x00", -16000), "sample_rate must be a positive integer number of Hz, got -16000"),
        (lambda: AudioFrame.from_bytes(b"\x00\x00", 16000, 0), "channels must be a positive integer, got 0"),
        (lambda: AudioFrame(np.zeros(4, np.int16), 0), "sample_rate must be a positive integer number of Hz, got 0"),
        (lambda: AudioFrame(np.zeros(4, np.int16), 16000, 0), "channels must be a positive integer, got 0"),
        (lambda: AudioFrame(np.zeros(4, np.float32), 16000), "samples must have dtype int16, got float32; use AudioFrame.from_float() for float audio"),
        (lambda: AudioFrame(np.zeros(4, np.int32), 16000), "samples must have dtype int16, got int32; use AudioFrame.from_float() for float audio"),
        (lambda: AudioFrame([0, 1], 16000), "samples must be a numpy int16 array, got list"),  # type: ignore[arg-type]
        (lambda: AudioFrame(np.zeros((4, 2), np.int16), 16000), "mono samples must be shaped (n,), got (4, 2); pass channels=2 for interleaved audio"),
        (lambda: AudioFrame(np.zeros((4, 2, 1), np.int16), 16000), "mono samples must be shaped (n,), got (4, 2, 1)"),
        (lambda: AudioFrame(np.zeros(4, np.int16), 16000, 2), "samples for 2 channels must be shaped (n, 2), got (4,)"),
    ],
)  # fmt: skip
def test_bad_audio_raises_value_error_saying_what_was_wrong(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=r".") as info:
        call()  # type: ignore[operator]
    assert type(info.value) is AudioError
    assert str(info.value) == message


def test_mono_column_is_flattened() -> None:
    frame = AudioFrame(np.arange(4, dtype=np.int16).reshape(4, 1), 16000)
    assert frame.samples.shape == (4,)


# ---------------------------------------------------------------------------
# AudioFrame: floats, silence, mono, split/join, slices


def test_from_float_scales_rounds_and_clips() -> None:
    frame = AudioFrame.from_float(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 1e-5]), 16000)
    assert frame.samples.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0]
    assert frame.samples.dtype == np.int16


def test_from_float_stereo_and_errors() -> None:
    stereo = AudioFrame.from_float(np.array([[0.25, -0.25]], dtype=np.float32), 48000, 2)
    assert stereo.samples.tolist() == [[8192, -8192]]
    with pytest.raises(AudioError, match=r"needs a floating-point array, got dtype int16"):
        AudioFrame.from_float(np.zeros(3, np.int16), 16000)
    with pytest.raises(AudioError, match=r"must be finite, got NaN or infinity"):
        AudioFrame.from_float(np.array([0.0, np.nan]), 16000)
    with pytest.raises(AudioError, match=r"must be shaped \(n, 2\), got \(3,\)"):
        AudioFrame.from_float(np.zeros(3), 16000, 2)


def test_from_float_takes_the_channel_count_from_the_shape() -> None:
    # sounddevice and soundfile hand out (n, channels) float arrays.
    stereo = AudioFrame.from_float(np.array([[0.5, -0.5], [0.25, 0.0]]), 44100)
    assert stereo.channels == 2
    assert stereo.samples.tolist() == [[16384, -16384], [8192, 0]]
    assert AudioFrame.from_float(np.zeros((3, 1)), 16000).channels == 1
    assert AudioFrame.from_float(np.zeros(3), 16000).channels == 1
    # An explicit count must agree with the shape.
    with pytest.raises(
        AudioError, match=r"^samples for 3 channels must be shaped \(n, 3\), got \(2, 2\)$"
    ):
        AudioFrame.from_float(np.zeros((2, 2)), 16000, 3)
    with pytest.raises(
        AudioError, match=r"^mono samples must be shaped \(n,\), got \(2, 2\); pass channels=2"
    ):
        AudioFrame.from_float(np.zeros((2, 2)), 16000, 1)


@given(st.lists(st.integers(min_value=-32768, max_value=32767), max_size=64))
def test_float_round_trip_is_exact(values: list[int]) -> None:
    frame = AudioFrame(np.array(values, dtype=np.int16), 16000)
    f = frame.to_float()
    assert f.dtype == np.float32
    assert np.all(f >= -1.0)
    assert np.all(f < 1.0)
    assert AudioFrame.from_float(f, 16000) == frame


def test_silence() -> None:
    s = AudioFrame.silence(0.02, 24000)
    assert s.num_samples == 480
    assert not s.samples.any()
    st2 = AudioFrame.silence(0.01, 16000, channels=2)
    assert st2.samples.shape == (160, 2)
    with pytest.raises(AudioError, match=r"duration must not be negative, got -1"):
        AudioFrame.silence(-1, 16000)
    with pytest.raises(
        AudioError, match=r"sample_rate must be a positive integer number of Hz, got 0"
    ):
        AudioFrame.silence(1, 0)


def test_to_mono_averages_channels() -> None:
    stereo = AudioFrame(
        np.array([[100, 200], [-1, -2], [32767, 32767], [-32768, 32767]], np.int16), 16000, 2
    )
    mono = stereo.to_mono()
    assert mono.channels == 1
    assert mono.samples.tolist() == [150, -2, 32767, 0]
    m = AudioFrame(np.arange(3, dtype=np.int16), 16000)
    assert m.to_mono() is m
    three = AudioFrame(np.array([[3, 6, 9]], np.int16), 16000, 3)
    assert three.to_mono().samples.tolist() == [6]


def test_split_gives_fixed_chunks_and_a_shorter_last_one() -> None:
    frame = AudioFrame(np.arange(1000, dtype=np.int16), 16000)
    parts = frame.split(0.02)  # 320 samples
    assert [p.num_samples for p in parts] == [320, 320, 320, 40]
    assert all(np.shares_memory(p.samples, frame.samples) for p in parts)
    assert AudioFrame.join(parts) == frame
    assert AudioFrame(np.zeros(0, np.int16), 16000).split(0.02) == []
    with pytest.raises(AudioError, match=r"split duration must be at least one sample"):
        frame.split(0.00001)


@settings(max_examples=50)
@given(
    n=st.integers(min_value=0, max_value=3000),
    ms=st.integers(min_value=1, max_value=200),
    channels=st.integers(min_value=1, max_value=3),
)
def test_split_join_round_trip(n: int, ms: int, channels: int) -> None:
    rng = np.random.default_rng(n)
    shape: tuple[int, ...] = (n,) if channels == 1 else (n, channels)
    frame = AudioFrame(rng.integers(-32768, 32768, shape).astype(np.int16), 8000, channels)
    parts = frame.split(ms / 1000)
    size = 8 * ms
    assert all(p.num_samples == size for p in parts[:-1])
    if parts:
        assert 0 < parts[-1].num_samples <= size
        assert AudioFrame.join(parts) == frame
    else:
        assert n == 0


def test_join_rejects_mixed_formats() -> None:
    a = AudioFrame(np.zeros(4, np.int16), 16000)
    b = AudioFrame(np.zeros(4, np.int16), 24000)
    c = AudioFrame(np.zeros((4, 2), np.int16), 16000, 2)
    with pytest.raises(AudioError, match=r"frame 0 is 16000 Hz/1 ch, frame 1 is 24000 Hz/1 ch"):
        AudioFrame.join([a, b])
    with pytest.raises(AudioError, match=r"frame 2 is 16000 Hz/2 ch"):
        AudioFrame.join([a, a, c])
    with pytest.raises(AudioError, match=r"cannot join zero frames"):
        AudioFrame.join([])
    assert AudioFrame.join([a]) is a
    assert AudioFrame.join(iter([a, a])).num_samples == 8


def test_slice_ms() -> None:
    frame = AudioFrame(np.arange(16000, dtype=np.int16), 16000)
    part = frame.slice_ms(10, 30)
    assert part.samples.tolist() == list(range(160, 480))
    assert np.shares_memory(part.samples, frame.samples)
    assert frame.slice_ms(990).num_samples == 160
    assert frame.slice_ms(900, 5000).num_samples == 1600
    with pytest.raises(AudioError, match=r"start_ms must not be negative, got -5"):
        frame.slice_ms(-5, 10)
    with pytest.raises(AudioError, match=r"end_ms \(10\) comes before start_ms \(20\)"):
        frame.slice_ms(20, 10)


def test_equality() -> None:
    a = AudioFrame(np.array([1, 2], np.int16), 16000)
    assert a == AudioFrame(np.array([1, 2], ">i2"), 16000)
    assert a != AudioFrame(np.array([1, 3], np.int16), 16000)
    assert a != AudioFrame(np.array([1, 2], np.int16), 24000)
    assert a != b"\x01\x00\x02\x00"


# ---------------------------------------------------------------------------
# Rechunker


def test_rechunker_cuts_exact_chunks_and_keeps_the_rest() -> None:
    r = Rechunker(16000, 20)
    assert r.chunk_samples == 320
    data = np.arange(1000, dtype=np.int16)
    out = r.push(AudioFrame(data[:100], 16000))
    assert out == []
    assert r.pending == 100
    out = r.push(AudioFrame(data[100:900], 16000))
    assert [c.num_samples for c in out] == [320, 320]
    assert out[0].samples.tolist() == list(range(320))
    assert out[1].samples.tolist() == list(range(320, 640))
    assert r.pending == 260
    out = r.push(AudioFrame(data[900:], 16000))
    assert [c.num_samples for c in out] == [320]
    tail = r.flush()
    assert tail is not None
    assert tail.samples.tolist() == list(range(960, 1000))
    assert r.flush() is None
    assert r.pending == 0


def test_rechunker_hands_out_views_for_whole_chunks() -> None:
    r = Rechunker(24000, 20)
    big = AudioFrame(np.arange(480 * 3 + 10, dtype=np.int16), 24000)
    out = r.push(big)
    assert len(out) == 3
    assert all(np.shares_memory(c.samples, big.samples) for c in out)
    # The carried-over remainder is a copy: changing the source later is harmless.
    src = np.arange(100, dtype=np.int16)
    r2 = Rechunker(24000, 20)
    r2.push(AudioFrame(src, 24000))
    src[:] = 0
    tail = r2.flush()
    assert tail is not None
    assert tail.samples.tolist() == list(range(100))


@settings(max_examples=60)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
    chunk_ms=st.sampled_from([10, 20, 40, 100]),
    channels=st.integers(min_value=1, max_value=2),
)
def test_rechunker_keeps_every_sample_in_order(
    sizes: list[int], chunk_ms: int, channels: int
) -> None:
    rate = 16000
    total = sum(sizes)
    flat = np.arange(total * channels, dtype=np.int64) % 65536 - 32768
    data = flat.astype(np.int16).reshape((total,) if channels == 1 else (total, channels))
    r = Rechunker(rate, chunk_ms, channels)
    chunks: list[AudioFrame] = []
    pos = 0
    for n in sizes:
        chunks.extend(r.push(AudioFrame(data[pos : pos + n], rate, channels)))
        pos += n
    size = rate * chunk_ms // 1000
    assert all(c.num_samples == size for c in chunks)
    assert len(chunks) == total // size
    tail = r.flush()
    if total % size:
        assert tail is not None
        assert tail.num_samples == total % size
        chunks.append(tail)
    else:
        assert tail is None
    if chunks:
        np.testing.assert_array_equal(AudioFrame.join(chunks).samples, data)


def test_rechunker_validation() -> None:
    with pytest.raises(
        AudioError,
        match=r"chunk_ms=15 is not a whole number of samples at 22050 Hz \(330.75 samples\)",
    ):
        Rechunker(22050, 15)
    with pytest.raises(AudioError, match=r"chunk_ms must be a positive number, got 0"):
        Rechunker(16000, 0)
    with pytest.raises(
        AudioError, match=r"sample_rate must be a positive integer number of Hz, got -1"
    ):
        Rechunker(-1, 20)
    r = Rechunker(16000, 20)
    with pytest.raises(AudioError, match=r"expects 16000 Hz/1 ch frames, got 24000 Hz/1 ch"):
        r.push(AudioFrame(np.zeros(10, np.int16), 24000))
    assert Rechunker(44100, 20).chunk_samples == 882
    r.push(AudioFrame(np.zeros(10, np.int16), 16000))
    r.reset()
    assert r.pending == 0
    assert r.flush() is None


# ---------------------------------------------------------------------------
# WAV


@pytest.mark.parametrize("channels", [1, 2])
def test_wav_round_trip(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    shape: tuple[int, ...] = (2205,) if channels == 1 else (2205, channels)
    frame = AudioFrame(rng.integers(-32768, 32768, shape).astype(np.int16), 22050, channels)
    path = tmp_path / "a.wav"
    write_wav(path, frame)
    assert read_wav(path) == frame
    assert read_wav(str(path)) == frame
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            channels,
            2,
            22050,
            2205,
        )
        # The file's bytes are little-endian PCM whatever the host.
        assert w.readframes(2205) == frame.to_bytes()


def test_wav_round_trip_through_file_objects() -> None:
    frame = AudioFrame(np.array([1, -1, 32767, -32768], ">i2"), 8000)
    buf = io.BytesIO()
    write_wav(buf, frame)
    assert not buf.closed
    buf.seek(0)
    assert read_wav(buf) == frame


def test_wav_rejects_other_sample_widths(tmp_path: Path) -> None:
    path = tmp_path / "8bit.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(range(100)))
    with pytest.raises(
        AudioError, match=r"only 16-bit PCM WAV files are supported, this one has 8-bit samples"
    ):
        read_wav(path)


def test_wav_rejects_non_wav_files(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not audio at all" * 4)
    with pytest.raises(
        AudioError, match=r"not a readable PCM WAV file: file does not start with RIFF id"
    ):
        read_wav(path)
    with pytest.raises(AudioError, match=r"not a readable PCM WAV file"):
        read_wav(io.BytesIO(b""))
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")


def test_write_wav_needs_a_frame(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"write_wav\(\) needs an AudioFrame, got bytes"):
        write_wav(tmp_path / "x.wav", b"\x00\x00")  # type: ignore[arg-type]


def test_native_int16_is_written_little_endian() -> None:
    frame = AudioFrame(np.array([0x0102], np.int16), 16000)
    assert frame.to_bytes() == b"\x02\x01"
