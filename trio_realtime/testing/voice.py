"""A deterministic synthetic voice for the fake servers and for tests.

`synthesize` turns text into speech-like 16-bit mono audio: one voiced segment
per syllable (a handful of harmonics under a pitch contour, shaped by a
two-formant envelope chosen from the syllable's vowel, with a short noise burst
for a leading consonant), short pauses between words and longer ones at
punctuation. Its length follows the text at roughly 160 words per minute. The
same text, rate and seed always give the same samples.

Two hidden payloads ride in the least significant bit (LSB) of the samples,
where they change each sample by at most one step (about -90 dBFS, inaudible)
and survive any exact PCM transport (base64 in JSON included), but not
resampling or lossy coding:

* **Sequence stamps** (`speech_chunks`, `VoiceStream`, `read_stamp`). The first
  `STAMP_SAMPLES` (48) samples of every chunk carry, one bit per sample, least
  significant bit first: a 16-bit magic number `STAMP_MAGIC`, the 16-bit
  sequence number, and a 16-bit check: the low 16 bits of the CRC-32 of the
  sequence number (2 bytes, little-endian) followed by the whole chunk's PCM
  with the 48 stamp LSBs cleared. A chunk whose check fails (corrupted, cut,
  or not a stamped chunk at all) reads as `None`. Sequence numbers wrap at
  65536.
* **Hidden transcript** (`user_utterance`, `read_transcript`). From the first
  voiced sample on, the utterance carries ``TRANSCRIPT_MAGIC`` (32 bits), the
  UTF-8 length (16 bits), the UTF-8 text and a 16-bit CRC, one bit per sample.
  The fake servers use it as their "speech recognition": what a test said is
  what the server heard, exactly. Audio without it (real speech from a
  microphone or a recording, music, noise) cannot be transcribed offline: the
  fake servers hear `UNTRANSCRIBED` there (`heard_in`), so that the user's
  transcript says why it is not what was spoken.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt

from ..audio import AudioError, AudioFrame

__all__ = [
    "STAMP_MAGIC",
    "STAMP_SAMPLES",
    "TRANSCRIPT_MAGIC",
    "UNTRANSCRIBED",
    "VoiceStream",
    "check_sequence",
    "heard_in",
    "read_stamp",
    "read_stamps",
    "read_transcript",
    "speech_chunks",
    "split_frame",
    "stamp",
    "synthesize",
    "user_utterance",
    "words_per_minute",
]

#: Magic number opening every sequence stamp.
STAMP_MAGIC = 0xB0A7
#: Number of samples (one bit each) a sequence stamp occupies.
STAMP_SAMPLES = 48
#: Magic number opening a hidden transcript.
TRANSCRIPT_MAGIC = 0x54524E53  # "TRNS"

_F64 = npt.NDArray[np.float64]
_I16 = npt.NDArray[np.int16]

# Timing of the voice, in seconds.
_SYLLABLE_S = 0.19
_WORD_GAP_S = 0.06
_COMMA_GAP_S = 0.18
_SENTENCE_GAP_S = 0.34
_PEAK = 0.5  # -6 dBFS

# First two formants (Hz) of a few vowels, from textbook averages.
_FORMANTS: dict[str, tuple[float, float]] = {
    "a": (730.0, 1090.0),
    "e": (530.0, 1840.0),
    "i": (300.0, 2250.0),
    "o": (570.0, 840.0),
    "u": (320.0, 900.0),
    "y": (300.0, 2100.0),
}
_DEFAULT_FORMANTS = (500.0, 1500.0)
_TOKEN = re.compile(r"[^\s,;:.!?]+|[,;:.!?]")
_VOWELS = re.compile(r"[aeiouy]+")
_SIBILANTS = frozenset("sfzxch")


# --------------------------------------------------------------------------- synthesis


def _check_rate(sample_rate: object) -> int:
    if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate < 4000:
        raise AudioError(f"sample_rate must be an integer of at least 4000 Hz, got {sample_rate!r}")
    return sample_rate


def _seed_for(text: str, seed: int | None) -> int:
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise AudioError(f"seed must be an integer or None, got {seed!r}")
        return seed & 0xFFFFFFFF
    return zlib.crc32(text.encode("utf-8"))


def _syllables(word: str) -> list[tuple[str, str]]:
    """Split a word into (leading consonants, vowel) pairs, at least one."""
    w = word.lower()
    if any(ch.isdigit() for ch in w):
        # Digits are spoken as a syllable or two each.
        return [("t", "e") if ch in "02468" else ("n", "i") for ch in w if ch.isdigit()] or [
            ("", "a")
        ]
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _VOWELS.finditer(w):
        out.append((w[pos : m.start()], m.group()[0]))
        pos = m.end()
    return out or [(w[:1], "")]


def _harmonic_syllable(
    n: int,
    sr: int,
    f0_start: float,
    f0_end: float,
    formants: tuple[float, float],
    onset: str,
    rng: np.random.Generator,
) -> _F64:
    t = np.arange(n, dtype=np.float64) / sr
    frac = t / max(t[-1], 1e-9) if n > 1 else t
    # Pitch: a glide from start to end with a small hump in the middle.
    f0 = f0_start + (f0_end - f0_start) * frac + 0.06 * f0_start * np.sin(np.pi * frac)
    phase = 2.0 * np.pi * np.cumsum(f0) / sr + rng.uniform(0.0, 2.0 * np.pi)
    f0_mean = float(f0.mean())
    top = min(4500.0, 0.45 * sr)
    k = np.arange(1, max(2, int(top // (f0.max() * 1.0))) + 1, dtype=np.float64)
    # Two resonances plus a gentle spectral tilt.
    freqs = k * f0_mean
    f1, f2 = formants
    gain = 1.0 / np.sqrt(1.0 + ((freqs - f1) / 110.0) ** 2)
    gain += 0.6 / np.sqrt(1.0 + ((freqs - f2) / 160.0) ** 2)
    gain *= k**-0.6
    voiced = (gain[:, None] * np.sin(k[:, None] * phase[None, :])).sum(axis=0)
    voiced /= max(float(np.abs(voiced).max()), 1e-9)
    # Envelope: raised-cosine attack and release, slight decay.
    env = np.ones(n)
    attack = min(n // 3, int(0.03 * sr))
    release = min(n // 3, int(0.05 * sr))
    if attack:
        env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    if release:
        env[n - release :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
    env *= 1.0 - 0.25 * frac
    sig = voiced * env
    if onset:
        # A consonant: a short noise burst fading into the vowel.
        burst = min(n // 2, int((0.06 if onset[-1] in _SIBILANTS else 0.03) * sr))
        if burst > 0:
            noise = rng.standard_normal(burst)
            if onset[-1] in _SIBILANTS:
                noise = np.diff(noise, prepend=0.0)  # brighter, hiss-like
            fade = np.linspace(1.0, 0.0, burst)
            sig[:burst] = sig[:burst] * (1.0 - fade) + 0.25 * noise * fade
    out: _F64 = sig
    return out


def _render(text: str, sample_rate: int, seed: int, pitch_hz: float) -> tuple[_F64, int | None]:
    """Return (float samples in [-1, 1], index of the first voiced sample or None)."""
    rng = np.random.default_rng(seed)  # timing and pitch: independent of the rate
    noise_rng = np.random.default_rng(seed ^ 0x9E3779B9)
    tokens = _TOKEN.findall(text)
    pieces: list[_F64] = []
    # Number of words per sentence, for the pitch declination.
    sentence_words: list[int] = []
    count = 0
    for tok in tokens:
        if tok in ".!?":
            sentence_words.append(count)
            count = 0
        elif tok not in ",;:":
            count += 1
    sentence_words.append(count)
    sentence = 0
    word_in_sentence = 0
    question = [False] * len(sentence_words)
    s_idx = 0
    for tok in tokens:
        if tok in ".!?":
            question[s_idx] = tok == "?"
            s_idx += 1
    first_voiced: int | None = None
    total = 0
    pending_gap = 0.0
    for i, tok in enumerate(tokens):
        if tok in ",;:":
            pending_gap = max(pending_gap, _COMMA_GAP_S)
            continue
        if tok in ".!?":
            pending_gap = max(pending_gap, _SENTENCE_GAP_S)
            sentence += 1
            word_in_sentence = 0
            continue
        if pieces:
            gap = np.zeros(round((pending_gap or _WORD_GAP_S) * sample_rate))
            pieces.append(gap)
            total += gap.size
        pending_gap = 0.0
        n_words = max(1, sentence_words[min(sentence, len(sentence_words) - 1)])
        progress = word_in_sentence / n_words
        last_word = i + 1 >= len(tokens) or tokens[i + 1] in ".!?"
        word_in_sentence += 1
        sylls = _syllables(tok)
        for j, (onset, vowel) in enumerate(sylls):
            dur = _SYLLABLE_S * rng.uniform(0.8, 1.2)
            if j == 0:
                dur *= 1.1
            n = max(8, round(dur * sample_rate))
            base = pitch_hz * (1.08 - 0.18 * progress) * rng.uniform(0.95, 1.05)
            end = base * rng.uniform(0.92, 1.04)
            if last_word and j == len(sylls) - 1:
                end = base * (1.25 if question[min(sentence, len(question) - 1)] else 0.8)
            seg = _harmonic_syllable(
                n,
                sample_rate,
                base,
                end,
                _FORMANTS.get(vowel, _DEFAULT_FORMANTS),
                onset,
                noise_rng,
            )
            seg *= rng.uniform(0.7, 1.0) * (1.0 if j == 0 else 0.85)
            if first_voiced is None:
                first_voiced = total
            pieces.append(seg)
            total += n
    if not pieces:
        return np.zeros(0), None
    out = np.concatenate(pieces)
    peak = float(np.abs(out).max())
    if peak > 0:
        out *= _PEAK / peak
    return out, first_voiced


def _to_int16(samples: _F64) -> _I16:
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


def synthesize(
    text: str, sample_rate: int = 24000, *, seed: int | None = None, pitch_hz: float = 170.0
) -> AudioFrame:
    """Speak `text` with the synthetic voice.

    Args:
        text: what to say; words, digits and punctuation shape the result.
        sample_rate: output rate in Hz (at least 4000).
        seed: varies the voice's small random choices; `None` derives it from
            the text, so the same text always sounds the same.
        pitch_hz: the voice's average pitch.

    Returns:
        Mono 16-bit audio (empty when `text` has no words), peaking at -6 dBFS.

    Raises:
        AudioError: for a bad sample rate, seed or pitch.
    """
    sr = _check_rate(sample_rate)
    if not (40.0 <= pitch_hz <= 600.0):
        raise AudioError(f"pitch_hz must be between 40 and 600 Hz, got {pitch_hz!r}")
    samples, _ = _render(text, sr, _seed_for(text, seed), pitch_hz)
    return AudioFrame(_to_int16(samples), sr)


# --------------------------------------------------------------------------- stamps


def _lsb_bits(value: int, nbits: int) -> _I16:
    return np.array([(value >> i) & 1 for i in range(nbits)], dtype=np.int16)


def _bits_value(bits: npt.NDArray[np.integer]) -> int:
    return int(sum(int(b) << i for i, b in enumerate(bits)))


def _samples_of(audio: AudioFrame | bytes | bytearray | memoryview | _I16) -> _I16:
    if isinstance(audio, AudioFrame):
        if audio.channels != 1:
            raise AudioError(f"stamps live in mono audio, got {audio.channels} channels")
        return audio.samples
    if isinstance(audio, np.ndarray):
        return audio
    if len(audio) % 2:
        raise AudioError(f"PCM16 data must have an even number of bytes, got {len(audio)}")
    return np.frombuffer(audio, dtype="<i2")


def _stamp_check(seq: int, samples: _I16) -> int:
    head = samples[:STAMP_SAMPLES] & np.int16(-2)
    crc = zlib.crc32(seq.to_bytes(2, "little"))
    crc = zlib.crc32(np.ascontiguousarray(head, dtype="<i2").tobytes(), crc)
    crc = zlib.crc32(np.ascontiguousarray(samples[STAMP_SAMPLES:], dtype="<i2").tobytes(), crc)
    return crc & 0xFFFF


def stamp(frame: AudioFrame, seq: int) -> AudioFrame:
    """Return a copy of mono `frame` carrying sequence number `seq` (mod 65536).

    Raises:
        AudioError: when the frame is not mono or shorter than `STAMP_SAMPLES`.
    """
    samples = _samples_of(frame)
    if samples.shape[0] < STAMP_SAMPLES:
        raise AudioError(
            f"a stamped chunk needs at least {STAMP_SAMPLES} samples, got {samples.shape[0]}"
        )
    seq &= 0xFFFF
    out = samples.astype(np.int16, copy=True)
    check = _stamp_check(seq, out)
    bits = np.concatenate(
        [_lsb_bits(STAMP_MAGIC, 16), _lsb_bits(seq, 16), _lsb_bits(check, 16)]
    ).astype(np.int16)
    out[:STAMP_SAMPLES] = (out[:STAMP_SAMPLES] & np.int16(-2)) | bits
    return AudioFrame(out, frame.sample_rate)


def read_stamp(audio: AudioFrame | bytes | bytearray | memoryview | _I16) -> int | None:
    """Return the sequence number stamped on a chunk, or `None` if it has no valid stamp.

    `audio` is an `AudioFrame`, raw little-endian PCM16 bytes or an int16 array.
    A chunk that was cut, padded, resampled or otherwise altered reads as `None`.
    """
    samples = _samples_of(audio)
    if samples.shape[0] < STAMP_SAMPLES:
        return None
    bits = samples[:STAMP_SAMPLES] & 1
    if _bits_value(bits[:16]) != STAMP_MAGIC:
        return None
    seq = _bits_value(bits[16:32])
    if _bits_value(bits[32:48]) != _stamp_check(seq, samples):
        return None
    return seq


def read_stamps(
    audio: AudioFrame | bytes | bytearray | memoryview | _I16, chunk_samples: int
) -> list[int | None]:
    """Read the stamp of every `chunk_samples`-long chunk of concatenated audio."""
    if chunk_samples < STAMP_SAMPLES:
        raise AudioError(f"chunk_samples must be at least {STAMP_SAMPLES}, got {chunk_samples}")
    samples = _samples_of(audio)
    return [
        read_stamp(samples[i : i + chunk_samples])
        for i in range(0, samples.shape[0], chunk_samples)
    ]


def check_sequence(seqs: Iterable[int | None], start: int = 0) -> int:
    """Check that stamps run `start`, `start+1`, … with nothing lost, doubled or reordered.

    Returns:
        The number of chunks checked.

    Raises:
        AudioError: naming the first chunk that breaks the sequence and how.
    """
    expected = start & 0xFFFF
    seen: set[int] = set()
    n = 0
    for n, seq in enumerate(seqs, 1):
        i = n - 1
        if seq is None:
            raise AudioError(
                f"chunk {i} carries no valid sequence stamp (altered or foreign audio)"
            )
        if seq != expected:
            if seq in seen:
                raise AudioError(
                    f"chunk {i}: sequence {seq} was already received "
                    f"(duplicated or reordered; expected {expected})"
                )
            if (seq - expected) & 0xFFFF < 0x8000:
                raise AudioError(
                    f"chunk {i}: expected sequence {expected}, got {seq} "
                    f"({(seq - expected) & 0xFFFF} chunk(s) lost or reordered)"
                )
            raise AudioError(f"chunk {i}: expected sequence {expected}, got {seq} (reordered)")
        seen.add(seq)
        expected = (expected + 1) & 0xFFFF
    return n


def _chunk_samples(sample_rate: int, chunk_ms: float) -> int:
    if not isinstance(chunk_ms, int | float) or isinstance(chunk_ms, bool) or chunk_ms <= 0:
        raise AudioError(f"chunk_ms must be a positive number, got {chunk_ms!r}")
    n = round(sample_rate * chunk_ms / 1000)
    if n < STAMP_SAMPLES:
        raise AudioError(
            f"chunks of {chunk_ms} ms at {sample_rate} Hz hold {n} samples; "
            f"a stamp needs at least {STAMP_SAMPLES}"
        )
    return n


def _stamped_chunks(frame: AudioFrame, chunk_ms: float, start_seq: int) -> Iterator[AudioFrame]:
    n = _chunk_samples(frame.sample_rate, chunk_ms)
    samples = frame.samples
    total = samples.shape[0]
    if total % n:
        samples = np.concatenate([samples, np.zeros(n - total % n, dtype=np.int16)])
    for k, i in enumerate(range(0, samples.shape[0], n)):
        yield stamp(AudioFrame(samples[i : i + n], frame.sample_rate), start_seq + k)


def speech_chunks(
    text: str,
    sample_rate: int = 24000,
    chunk_ms: float = 40,
    start_seq: int = 0,
    *,
    seed: int | None = None,
    pitch_hz: float = 170.0,
) -> Iterator[AudioFrame]:
    """Speak `text` and cut it into stamped chunks of `chunk_ms` milliseconds.

    The last chunk is padded with silence to full length, so every chunk has
    the same size. Chunk *k* carries sequence number ``(start_seq + k) % 65536``.

    Raises:
        AudioError: for a bad rate or a chunk too short to hold a stamp.
    """
    frame = synthesize(text, sample_rate, seed=seed, pitch_hz=pitch_hz)
    _chunk_samples(frame.sample_rate, chunk_ms)
    return _stamped_chunks(frame, chunk_ms, start_seq)


class VoiceStream:
    """Stamped speech for one connection: sequence numbers continue across utterances.

    Attributes:
        sample_rate: output rate in Hz.
        chunk_ms: chunk length in milliseconds.
        next_seq: the sequence number the next chunk will carry.
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        chunk_ms: float = 40,
        *,
        start_seq: int = 0,
        seed: int | None = None,
        pitch_hz: float = 170.0,
    ) -> None:
        self.sample_rate = _check_rate(sample_rate)
        self.chunk_samples = _chunk_samples(sample_rate, chunk_ms)
        self.chunk_ms = chunk_ms
        self.next_seq = start_seq & 0xFFFF
        self._seed = seed
        self._pitch = pitch_hz

    def speak(self, text: str) -> list[AudioFrame]:
        """Return `text` as stamped chunks, advancing `next_seq` past them."""
        frame = synthesize(text, self.sample_rate, seed=self._seed, pitch_hz=self._pitch)
        chunks = list(_stamped_chunks(frame, self.chunk_ms, self.next_seq))
        self.next_seq = (self.next_seq + len(chunks)) & 0xFFFF
        return chunks


# --------------------------------------------------------------------------- user speech


def _transcript_bits(text: str) -> _I16:
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise AudioError(f"a hidden transcript holds at most 65535 bytes, got {len(data)}")
    crc = zlib.crc32(data) & 0xFFFF
    parts = [_lsb_bits(TRANSCRIPT_MAGIC, 32), _lsb_bits(len(data), 16)]
    parts.extend(_lsb_bits(b, 8) for b in data)
    parts.append(_lsb_bits(crc, 16))
    return np.concatenate(parts).astype(np.int16)


_MAGIC_PATTERN = bytes((TRANSCRIPT_MAGIC >> i) & 1 for i in range(32))


def read_transcript(audio: AudioFrame | bytes | bytearray | memoryview | _I16) -> str | None:
    """Recover the text hidden in audio made by `user_utterance`, or `None`.

    Works on any exact slice of PCM that contains the whole hidden payload
    (it starts at the first voiced sample of the utterance).
    """
    samples = _samples_of(audio)
    lsb = (samples & 1).astype(np.uint8).tobytes()
    pos = lsb.find(_MAGIC_PATTERN)
    while pos >= 0:
        head = pos + 32
        if head + 16 > len(lsb):
            return None
        length = _bits_value(np.frombuffer(lsb[head : head + 16], dtype=np.uint8))
        body = head + 16
        end = body + 8 * length + 16
        if end <= len(lsb):
            bits = np.frombuffer(lsb[body : body + 8 * length], dtype=np.uint8)
            data = bytes(_bits_value(bits[i : i + 8]) for i in range(0, bits.size, 8))
            crc = _bits_value(np.frombuffer(lsb[body + 8 * length : end], dtype=np.uint8))
            if crc == zlib.crc32(data) & 0xFFFF:
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    pass
        pos = lsb.find(_MAGIC_PATTERN, pos + 1)
    return None


#: What the fake servers hear in audio that carries no hidden transcript (real
#: speech, a recording, noise): they only "transcribe" the synthetic voice.
UNTRANSCRIBED = "[speech the fake server cannot transcribe]"


def heard_in(audio: AudioFrame | bytes | bytearray | memoryview | _I16) -> str:
    """What a fake server transcribes from a user turn's audio.

    The text `user_utterance` hid in it; `UNTRANSCRIBED` when there is none
    (the fake cannot transcribe real speech); ``""`` for digital silence.
    """
    samples = _samples_of(audio)
    if not samples.any():
        return ""
    heard = read_transcript(samples)
    return UNTRANSCRIBED if heard is None else heard


def user_utterance(
    text: str,
    sample_rate: int = 16000,
    *,
    lead_ms: int = 400,
    trail_ms: int = 800,
    seed: int | None = None,
    pitch_hz: float = 120.0,
    hide_transcript: bool = True,
) -> AudioFrame:
    """Speech for the client side: silence, `text` spoken, silence.

    The default trailing silence (800 ms) is longer than both services'
    end-of-speech silence, so a server VAD ends the turn on it. With
    `hide_transcript`, the text is hidden in the samples' LSBs (see the module
    docstring) so the fake servers "hear" exactly `text`.

    Raises:
        AudioError: for a bad rate, negative silence, or a text with no words.
    """
    sr = _check_rate(sample_rate)
    if lead_ms < 0 or trail_ms < 0:
        raise AudioError(f"lead_ms and trail_ms must be >= 0, got {lead_ms} and {trail_ms}")
    if not (40.0 <= pitch_hz <= 600.0):
        raise AudioError(f"pitch_hz must be between 40 and 600 Hz, got {pitch_hz!r}")
    samples, first = _render(text, sr, _seed_for(text, seed) ^ 0x5EED, pitch_hz)
    if first is None:
        raise AudioError(f"user_utterance needs at least one word, got {text!r}")
    speech = _to_int16(samples)
    if hide_transcript:
        bits = _transcript_bits(text)
        if bits.size > speech.size - first:
            raise AudioError(f"text too long to hide in its own speech: {len(text)} characters")
        region = speech[first : first + bits.size]
        speech[first : first + bits.size] = (region & np.int16(-2)) | bits
    lead = np.zeros(sr * lead_ms // 1000, dtype=np.int16)
    trail = np.zeros(sr * trail_ms // 1000, dtype=np.int16)
    return AudioFrame(np.concatenate([lead, speech, trail]), sr)


def split_frame(frame: AudioFrame, chunk_ms: float) -> list[AudioFrame]:
    """Cut `frame` into consecutive chunks of `chunk_ms` (the last may be shorter)."""
    if chunk_ms <= 0:
        raise AudioError(f"chunk_ms must be positive, got {chunk_ms!r}")
    n = max(1, round(frame.sample_rate * chunk_ms / 1000))
    s = frame.samples
    return [
        AudioFrame(s[i : i + n], frame.sample_rate, frame.channels) for i in range(0, len(s), n)
    ]


def words_per_minute(text: str, frame: AudioFrame) -> float:
    """Speaking rate of `frame` for `text`, in words per minute."""
    words = [t for t in _TOKEN.findall(text) if t not in ",;:.!?"]
    return len(words) / (frame.duration / 60.0) if frame.duration else math.inf
