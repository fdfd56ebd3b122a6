"""The synthetic voice, its sequence stamps and hidden transcript, and the energy VAD."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from trio_realtime.audio import AudioError, AudioFrame
from trio_realtime.testing.vad import EnergyVAD, SpeechStart, SpeechStop
from trio_realtime.testing.voice import (
    STAMP_SAMPLES,
    UNTRANSCRIBED,
    VoiceStream,
    check_sequence,
    heard_in,
    read_stamp,
    read_stamps,
    read_transcript,
    speech_chunks,
    split_frame,
    stamp,
    synthesize,
    user_utterance,
    words_per_minute,
)

TEXT = "Hello there, how are you today? The weather in Paris is sunny."


def _rms_db(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return float(20 * np.log10(max(r, 1e-9) / 32768))


# --------------------------------------------------------------------------- voice


def test_synthesize_is_deterministic() -> None:
    a = synthesize(TEXT)
    b = synthesize(TEXT)
    assert a == b
    assert a.sample_rate == 24000
    assert a.channels == 1
    assert a.samples.dtype == np.int16
    assert synthesize(TEXT, seed=7) == synthesize(TEXT, seed=7)
    assert synthesize(TEXT, seed=7) != synthesize(TEXT, seed=8)
    assert synthesize("Something else entirely.") != a


def test_synthesize_is_audible_with_silent_pauses() -> None:
    f = synthesize(TEXT)
    s = f.samples
    peak = int(np.abs(s).max())
    assert 12000 < peak <= 16384  # about -6 dBFS
    win = f.sample_rate // 100  # 10 ms windows
    levels = np.array([_rms_db(s[i : i + win]) for i in range(0, len(s) - win, win)])
    voiced = levels > -35
    silent = levels < -80
    # Mostly voiced, with real pauses (words, comma, sentence end).
    assert 0.5 < voiced.mean() < 0.95
    assert silent.sum() >= 20
    # The sentence-final pause is long: a run of at least 250 ms of silence.
    runs, run = [], 0
    for q in silent:
        run = run + 1 if q else 0
        runs.append(run)
    assert max(runs) >= 25


def test_synthesize_is_not_a_single_tone() -> None:
    f = synthesize("Ah, see you soon.")
    s = f.samples.astype(np.float64)
    spec = np.abs(np.fft.rfft(s))
    freqs = np.fft.rfftfreq(len(s), 1 / f.sample_rate)
    # Energy spread over many bins and up into the formant range.
    top = np.sort(spec)[::-1]
    assert top[:5].sum() / spec.sum() < 0.2
    band = spec[(freqs > 600) & (freqs < 3000)].sum() / spec.sum()
    assert band > 0.1
    # Pitch moves: zero-crossing rate differs between syllables.
    win = f.sample_rate // 20
    zcr = [
        np.mean(np.abs(np.diff(np.sign(s[i : i + win]))) > 0)
        for i in range(0, len(s) - win, win)
        if _rms_db(s[i : i + win]) > -30
    ]
    assert max(zcr) - min(zcr) > 0.005


def test_length_follows_text() -> None:
    short = synthesize("Hi.")
    medium = synthesize("Hello there, how are you?")
    long = synthesize(TEXT + " " + TEXT)
    assert short.duration < medium.duration < long.duration
    rate = words_per_minute(TEXT + " " + TEXT, long)
    assert 120 < rate < 200  # ordinary speech
    assert synthesize("   ").num_samples == 0


def test_synthesize_other_rates_and_bad_args() -> None:
    f16 = synthesize("Testing one two three.", 16000)
    f24 = synthesize("Testing one two three.", 24000)
    assert f16.sample_rate == 16000
    assert abs(f16.duration - f24.duration) < 0.01
    with pytest.raises(AudioError, match="sample_rate must be an integer of at least 4000 Hz"):
        synthesize("x", 1000)
    with pytest.raises(AudioError, match="pitch_hz"):
        synthesize("x", pitch_hz=5)


# --------------------------------------------------------------------------- stamps


def test_stamps_survive_bytes_and_base64_round_trip() -> None:
    chunks = list(speech_chunks(TEXT, 24000, 40, start_seq=65530))
    assert len({c.num_samples for c in chunks}) == 1 == len({len(c.to_bytes()) for c in chunks})
    assert chunks[0].num_samples == 960
    wire = [base64.b64encode(c.to_bytes()).decode() for c in chunks]
    back = [AudioFrame.from_bytes(base64.b64decode(w), 24000) for w in wire]
    seqs = [read_stamp(f) for f in back]
    assert seqs[:8] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1]
    assert check_sequence(seqs, 65530) == len(chunks)
    # Raw bytes work as well as frames.
    assert read_stamp(chunks[3].to_bytes()) == 65533


def test_stamps_barely_change_the_audio() -> None:
    frame = synthesize(TEXT)
    chunks = list(speech_chunks(TEXT, 24000, 20))
    joined = np.concatenate([c.samples for c in chunks])[: frame.num_samples]
    assert int(np.abs(joined.astype(np.int32) - frame.samples).max()) == 1
    assert not np.any(joined[frame.num_samples :])


def test_stamps_detect_loss_duplication_reordering_and_corruption() -> None:
    chunks = list(speech_chunks("One two three four five six.", 24000, 40))
    seqs = [read_stamp(c) for c in chunks]
    assert seqs == list(range(len(chunks)))
    with pytest.raises(
        AudioError, match=r"chunk 2: expected sequence 2, got 3 \(1 chunk\(s\) lost"
    ):
        check_sequence(seqs[:2] + seqs[3:])
    with pytest.raises(AudioError, match="chunk 3: sequence 2 was already received"):
        check_sequence([*seqs[:3], seqs[2], *seqs[3:]])
    with pytest.raises(AudioError, match="chunk 1: expected sequence 1, got 2"):
        check_sequence([seqs[0], seqs[2], seqs[1]])
    # One flipped sample anywhere in the chunk invalidates its stamp.
    bad = chunks[1].samples.copy()
    bad[500] ^= 4
    assert read_stamp(bad) is None
    with pytest.raises(AudioError, match="chunk 1 carries no valid sequence stamp"):
        check_sequence([seqs[0], read_stamp(bad)])
    # Cut chunks, unstamped speech and silence carry no stamp.
    assert read_stamp(chunks[1].samples[:-2]) is None
    assert read_stamp(synthesize("Hello.")) is None
    assert read_stamp(np.zeros(960, dtype=np.int16)) is None
    assert read_stamp(b"\x00\x01") is None


def test_read_stamps_on_concatenated_audio() -> None:
    stream = VoiceStream(16000, 20, start_seq=10)
    first = stream.speak("Good morning.")
    second = stream.speak("Goodbye.")
    assert stream.next_seq == 10 + len(first) + len(second)
    joined = AudioFrame(np.concatenate([c.samples for c in first + second]), 16000)
    assert read_stamps(joined, stream.chunk_samples) == list(
        range(10, 10 + len(first) + len(second))
    )


def test_stamp_arguments() -> None:
    with pytest.raises(AudioError, match="a stamp needs at least 48"):
        list(speech_chunks("Hi", 8000, 5))
    with pytest.raises(AudioError, match="at least 48 samples"):
        stamp(AudioFrame(np.zeros(STAMP_SAMPLES - 1, dtype=np.int16), 8000), 1)
    with pytest.raises(AudioError, match="chunk_ms must be a positive number"):
        VoiceStream(24000, 0)


# --------------------------------------------------------------------------- user speech


def test_user_utterance_has_silence_around_speech_and_hides_its_text() -> None:
    u = user_utterance("What is the weather in Paris?", 16000, lead_ms=500, trail_ms=900)
    s = u.samples
    assert u.sample_rate == 16000
    assert not np.any(s[:8000])
    assert not np.any(s[-int(0.9 * 16000) :])
    assert _rms_db(s[8000 : -int(0.9 * 16000)]) > -30
    assert read_transcript(u) == "What is the weather in Paris?"
    assert read_transcript(u.to_bytes()) == "What is the weather in Paris?"
    # Any exact slice that holds the payload will do; chunking does not matter.
    assert read_transcript(s[7000:]) == "What is the weather in Paris?"
    assert read_transcript(synthesize("What is the weather in Paris?")) is None
    assert user_utterance("Hi there", 24000) == user_utterance("Hi there", 24000)
    assert read_transcript(user_utterance("héllo wörld ✓", 24000)) == "héllo wörld ✓"
    assert read_transcript(user_utterance("Hi there", hide_transcript=False)) is None
    with pytest.raises(AudioError, match="needs at least one word"):
        user_utterance(" . ")


def test_heard_in_is_the_hidden_text_a_placeholder_for_real_speech_or_nothing() -> None:
    assert heard_in(user_utterance("Hi there", 24000)) == "Hi there"
    assert heard_in(user_utterance("Hi there", 24000, hide_transcript=False)) == UNTRANSCRIBED
    assert UNTRANSCRIBED == "[speech the fake server cannot transcribe]"
    assert heard_in(AudioFrame.silence(0.5, 24000)) == ""
    assert heard_in(b"") == ""


# --------------------------------------------------------------------------- VAD


def _square(n: int, amp: int = 8000) -> np.ndarray:
    out = np.full(n, amp, dtype=np.int16)
    out[1::2] = -amp
    return out


def _feed(vad: EnergyVAD, samples: np.ndarray, chunk: int) -> list[object]:
    events: list[object] = []
    for i in range(0, len(samples), chunk):
        events.extend(vad.process(samples[i : i + chunk]))
    return events


@pytest.mark.parametrize("chunk", [160, 333, 480, 4000])
def test_vad_times_are_exact_and_chunking_independent(chunk: int) -> None:
    sr = 16000
    # 1000 ms silence, 700 ms "speech", 1000 ms silence.
    audio = np.concatenate([np.zeros(16000, np.int16), _square(11200), np.zeros(16000, np.int16)])
    vad = EnergyVAD(sr, threshold_db=-40, prefix_padding_ms=300, silence_duration_ms=500)
    events = _feed(vad, audio, chunk)
    assert events == [
        SpeechStart(audio_start_ms=700, onset_ms=1000, onset_sample=16000),
        SpeechStop(audio_end_ms=2200, speech_end_ms=1700, speech_end_sample=27200),
    ]
    assert vad.position_ms == 2700
    assert not vad.in_speech


def test_vad_onset_inside_a_window_and_short_gaps() -> None:
    sr = 24000
    # Onset at 1234.5 ms (sample 29628): inside a window, not on its edge.
    parts = [
        np.zeros(29628, np.int16),
        _square(4800),  # 200 ms
        np.zeros(2400, np.int16),  # 100 ms gap: shorter than the silence duration
        _square(2400),
        np.zeros(24000, np.int16),
    ]
    vad = EnergyVAD(sr, -40, 300, 200)
    events = _feed(vad, np.concatenate(parts), 480)
    end = 29628 + 4800 + 2400 + 2400
    assert events == [
        SpeechStart(934, 1234, 29628),
        SpeechStop(end * 1000 // sr + 200, end * 1000 // sr, end),
    ]


def test_vad_quiet_audio_is_silence_and_prefix_is_clamped() -> None:
    sr = 16000
    vad = EnergyVAD(sr, -40, 300, 500)
    quiet = _square(16000, amp=100)  # about -50 dBFS
    assert vad.process(quiet) == []
    vad.reset()
    # Speech 100 ms in: the prefix cannot reach before 0.
    events = vad.process(np.concatenate([np.zeros(1600, np.int16), _square(3200)]))
    assert events == [SpeechStart(0, 100, 1600)]
    assert vad.in_speech
    # A second utterance right after the first stop starts no earlier than that stop.
    events = vad.process(np.zeros(8000 + 1600, np.int16))
    assert events == [SpeechStop(800, 300, 4800)]
    events = vad.process(_square(1600))
    assert events == [SpeechStart(800, 900, 14400)]
    # flush ends it at the end of the audio fed.
    assert vad.flush() == [SpeechStop(1000, 1000, 16000, flushed=True)]
    assert vad.flush() == []


def test_vad_on_synthetic_user_speech() -> None:
    u = user_utterance("Please book a table for two.", 24000, lead_ms=600, trail_ms=1000)
    vad = EnergyVAD(24000, -45, 300, 500)
    events = []
    for f in split_frame(u, 20):
        events.extend(vad.process(f))
    assert [type(e) for e in events] == [SpeechStart, SpeechStop]
    start, stop = events
    assert isinstance(start, SpeechStart)
    assert isinstance(stop, SpeechStop)
    assert 600 <= start.onset_ms < 650
    assert start.audio_start_ms == start.onset_ms - 300
    speech_end = (u.num_samples - 24000) * 1000 // 24000
    assert speech_end - 40 <= stop.speech_end_ms <= speech_end
    assert stop.audio_end_ms == stop.speech_end_ms + 500
    # The detected segment holds the hidden transcript.
    seg = u.samples[start.audio_start_ms * 24 : stop.audio_end_ms * 24]
    assert read_transcript(seg) == "Please book a table for two."


def test_vad_rejects_bad_input() -> None:
    vad = EnergyVAD(16000)
    with pytest.raises(AudioError, match="mono 16000 Hz"):
        vad.process(AudioFrame(np.zeros(10, np.int16), 24000))
    with pytest.raises(AudioError, match="even number of bytes"):
        vad.process(b"\x00")
    with pytest.raises(AudioError, match="must be >= 0"):
        EnergyVAD(16000, prefix_padding_ms=-1)
