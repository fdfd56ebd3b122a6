"""Audio values and tools: `AudioFrame`, `Resampler`, `Rechunker`, WAV files.

All audio in trio_realtime is 16-bit signed PCM held in numpy arrays. Bytes on
the wire and in WAV files are little-endian whatever the host. Helpers avoid
copies where they can: `AudioFrame.from_bytes` wraps the buffer, `split` and
`Rechunker` hand out views.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Iterable
from typing import IO, Any

import attrs
import numpy as np
import numpy.typing as npt
import soxr

__all__ = [
    "AudioError",
    "AudioFrame",
    "Rechunker",
    "Resampler",
    "read_wav",
    "write_wav",
]

_LE_INT16 = np.dtype("<i2")
_INT16_MIN = -32768
_INT16_MAX = 32767
#: Scale between int16 samples and floats in [-1, 1].
_FLOAT_SCALE = 32768.0
_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


class AudioError(ValueError):
    """Audio data or parameters that cannot be used (bad rate, odd byte count, wrong dtype)."""


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _require_rate(value: object, name: str = "sample_rate") -> int:
    if not _is_positive_int(value):
        raise AudioError(f"{name} must be a positive integer number of Hz, got {value!r}")
    assert isinstance(value, int)
    return value


def _require_channels(value: object, name: str = "channels") -> int:
    if not _is_positive_int(value):
        raise AudioError(f"{name} must be a positive integer, got {value!r}")
    assert isinstance(value, int)
    return value


def _check_rate(_inst: Any, _attr: Any, value: int) -> None:
    _require_rate(value)


def _check_channels(_inst: Any, _attr: Any, value: int) -> None:
    _require_channels(value)


def _samples_for(seconds: float, sample_rate: int, what: str) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
        raise AudioError(f"{what} must be a number of seconds, got {seconds!r}")
    return round(seconds * sample_rate)


@attrs.frozen(eq=False)
class AudioFrame:
    """A block of 16-bit PCM audio.

    `samples` is an int16 array shaped ``(n,)`` for mono or ``(n, channels)``.
    Frames compare equal when rate, channels and every sample are equal.

    Raises:
        AudioError: the samples are not int16, their shape does not match
            `channels`, or `sample_rate`/`channels` is not a positive integer.
    """

    samples: npt.NDArray[np.int16]
    sample_rate: int = attrs.field(validator=_check_rate)
    channels: int = attrs.field(default=1, validator=_check_channels)

    def __attrs_post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray):
            raise AudioError(f"samples must be a numpy int16 array, got {type(s).__name__}")
        if s.dtype.kind != "i" or s.dtype.itemsize != 2:
            raise AudioError(
                f"samples must have dtype int16, got {s.dtype}; "
                "use AudioFrame.from_float() for float audio"
            )
        if self.channels == 1:
            if s.ndim == 2 and s.shape[1] == 1:
                object.__setattr__(self, "samples", s.reshape(-1))
            elif s.ndim != 1:
                hint = f"; pass channels={s.shape[1]} for interleaved audio" if s.ndim == 2 else ""
                raise AudioError(f"mono samples must be shaped (n,), got {s.shape}{hint}")
        elif s.ndim != 2 or s.shape[1] != self.channels:
            raise AudioError(
                f"samples for {self.channels} channels must be shaped (n, {self.channels}), "
                f"got {s.shape}"
            )

    # -- construction -------------------------------------------------------

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, sample_rate: int, channels: int = 1
    ) -> AudioFrame:
        """Wrap little-endian 16-bit PCM bytes (interleaved when multichannel) without copying.

        Raises:
            AudioError: `data` is not a bytes-like object, its length is not a
                whole number of samples, or the rate or channel count is invalid.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise AudioError(f"PCM16 data must be bytes-like, got {type(data).__name__}")
        nbytes = len(data) if not isinstance(data, memoryview) else data.nbytes
        if nbytes % (2 * channels if _is_positive_int(channels) else 2):
            raise AudioError(
                f"PCM16 data must hold a whole number of {channels}-channel samples "
                f"({2 * channels} bytes each), got {nbytes} bytes"
            )
        arr = np.frombuffer(data, dtype=_LE_INT16)
        if _is_positive_int(channels) and channels > 1:
            arr = arr.reshape(-1, channels)
        return cls(arr, sample_rate, channels)

    @classmethod
    def from_pcm16_mono(cls, data: bytes | bytearray, sample_rate: int) -> AudioFrame:
        """Wrap mono little-endian PCM16 bytes from a decoder, without copying.

        The receive path's constructor: `sample_rate` is trusted (a decoder's
        constant), so only the byte count is checked.

        Raises:
            AudioError: `data` holds an odd number of bytes.
        """
        if len(data) & 1:
            raise AudioError(
                f"PCM16 data must hold a whole number of samples (2 bytes each), "
                f"got {len(data)} bytes"
            )
        frame = object.__new__(cls)
        # The slots' own setters: what the frozen class's __init__ does, minus
        # its validation (once per received chunk).
        _SET_SAMPLES(frame, np.frombuffer(data, dtype=_LE_INT16))
        _SET_RATE(frame, sample_rate)
        _SET_CHANNELS(frame, 1)
        return frame

    @classmethod
    def from_float(
        cls, array: npt.ArrayLike, sample_rate: int, channels: int | None = None
    ) -> AudioFrame:
        """Convert float samples in [-1, 1] to 16-bit PCM.

        Values are scaled by 32768, rounded to the nearest integer and clipped to
        the int16 range, so ``from_float(f.to_float(), ...)`` gives `f` back.
        The array is shaped ``(n,)`` for mono or ``(n, channels)`` (the layout
        sounddevice and soundfile use); `channels` defaults to what the shape
        says, and when given must agree with it.

        Raises:
            AudioError: the array is not floating point, holds NaN or infinity,
                or its shape does not match `channels`.
        """
        arr = np.asarray(array)
        if channels is None:
            channels = arr.shape[1] if arr.ndim == 2 else 1
        if arr.dtype.kind != "f":
            raise AudioError(
                f"from_float() needs a floating-point array, got dtype {arr.dtype}; "
                "wrap int16 samples with AudioFrame(samples, sample_rate) instead"
            )
        if not np.isfinite(arr).all():
            raise AudioError("float samples must be finite, got NaN or infinity")
        scaled = np.multiply(arr, _FLOAT_SCALE, dtype=np.float64)
        np.rint(scaled, out=scaled)
        np.clip(scaled, _INT16_MIN, _INT16_MAX, out=scaled)
        return cls(scaled.astype(np.int16), sample_rate, channels)

    @classmethod
    def silence(cls, duration: float, sample_rate: int, channels: int = 1) -> AudioFrame:
        """Return `duration` seconds (rounded to whole samples) of digital silence.

        Raises:
            AudioError: the duration is negative or the rate/channels invalid.
        """
        rate = _require_rate(sample_rate)
        ch = _require_channels(channels)
        n = _samples_for(duration, rate, "duration")
        if n < 0:
            raise AudioError(f"duration must not be negative, got {duration!r}")
        shape: tuple[int, ...] = (n,) if ch == 1 else (n, ch)
        return cls(np.zeros(shape, dtype=np.int16), rate, ch)

    @classmethod
    def join(cls, frames: Iterable[AudioFrame]) -> AudioFrame:
        """Concatenate frames that share one sample rate and channel count.

        Raises:
            AudioError: no frames were given, or they differ in rate or channels.
        """
        items = list(frames)
        if not items:
            raise AudioError("cannot join zero frames: the sample rate would be unknown")
        first = items[0]
        for i, f in enumerate(items):
            if not isinstance(f, AudioFrame):
                raise AudioError(f"frame {i} is a {type(f).__name__}, not an AudioFrame")
            if f.sample_rate != first.sample_rate or f.channels != first.channels:
                raise AudioError(
                    f"cannot join frames of different formats: frame 0 is "
                    f"{first.sample_rate} Hz/{first.channels} ch, frame {i} is "
                    f"{f.sample_rate} Hz/{f.channels} ch"
                )
        if len(items) == 1:
            return first
        return cls(
            np.concatenate([f.samples for f in items]).astype(np.int16, copy=False),
            first.sample_rate,
            first.channels,
        )

    # -- conversion ---------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Return the samples as little-endian 16-bit PCM bytes, interleaved."""
        s = self.samples
        if s.dtype.byteorder == ">" or (s.dtype.byteorder == "=" and np.little_endian is False):
            s = s.astype(_LE_INT16)
        return s.tobytes()

    def to_float(self) -> npt.NDArray[np.float32]:
        """Return the samples as float32 in [-1, 1) (int16 divided by 32768)."""
        out = self.samples.astype(np.float32)
        out *= np.float32(1.0 / _FLOAT_SCALE)
        return out

    def to_mono(self) -> AudioFrame:
        """Return a mono frame, averaging the channels (rounded); mono frames are returned as is."""
        if self.channels == 1:
            return self
        return AudioFrame(_downmix(self.samples, np.float64), self.sample_rate, 1)

    # -- slicing ------------------------------------------------------------

    def split(self, duration_s: float) -> list[AudioFrame]:
        """Cut into chunks of `duration_s` seconds (rounded to whole samples).

        Every chunk but the last has exactly that many samples; the last holds
        the rest. Chunks are views of this frame's samples (no copy). An empty
        frame gives an empty list.

        Raises:
            AudioError: the duration is shorter than one sample.
        """
        size = _samples_for(duration_s, self.sample_rate, "duration_s")
        if size < 1:
            raise AudioError(
                f"split duration must be at least one sample "
                f"(1/{self.sample_rate} s), got {duration_s!r}"
            )
        s = self.samples
        return [
            AudioFrame(s[i : i + size], self.sample_rate, self.channels)
            for i in range(0, s.shape[0], size)
        ]

    def slice_ms(self, start_ms: float, end_ms: float | None = None) -> AudioFrame:
        """Return the part from `start_ms` to `end_ms` (default: the end), as a view.

        Positions are rounded to whole samples and stop at the end of the frame.

        Raises:
            AudioError: a position is negative or `end_ms` comes before `start_ms`.
        """
        for name, value in (("start_ms", start_ms), ("end_ms", end_ms)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise AudioError(f"{name} must be a number of milliseconds, got {value!r}")
            if value < 0:
                raise AudioError(f"{name} must not be negative, got {value!r}")
        if end_ms is not None and end_ms < start_ms:
            raise AudioError(f"end_ms ({end_ms!r}) comes before start_ms ({start_ms!r})")
        start = round(start_ms * self.sample_rate / 1000)
        end = self.num_samples if end_ms is None else round(end_ms * self.sample_rate / 1000)
        return AudioFrame(self.samples[start:end], self.sample_rate, self.channels)

    # -- properties ---------------------------------------------------------

    @property
    def num_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate

    def __len__(self) -> int:
        return self.num_samples

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AudioFrame):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.channels == other.channels
            and np.array_equal(self.samples, other.samples)
        )

    __hash__ = None  # type: ignore[assignment]


# The slot setters of AudioFrame's fields, for `AudioFrame.from_pcm16_mono`.
_SET_SAMPLES = AudioFrame.__dict__["samples"].__set__
_SET_RATE = AudioFrame.__dict__["sample_rate"].__set__
_SET_CHANNELS = AudioFrame.__dict__["channels"].__set__


def _downmix(samples: npt.NDArray[np.int16], dtype: type[np.floating[Any]]) -> Any:
    """Average the channels of a 2-D int16 array; int16 result when dtype is float64."""
    channels = samples.shape[1]
    mixed = samples.sum(axis=1, dtype=dtype)
    mixed *= 1.0 / channels
    if dtype is np.float64:
        np.rint(mixed, out=mixed)
        return mixed.astype(np.int16)
    return mixed


def _empty(sample_rate: int, channels: int) -> AudioFrame:
    shape: tuple[int, ...] = (0,) if channels == 1 else (0, channels)
    return AudioFrame(np.zeros(shape, dtype=np.int16), sample_rate, channels)


class Resampler:
    """Streaming sample-rate converter (soxr) for a continuous stream of frames.

    Feed consecutive frames of one stream to `process`; the filter state carries
    over from one call to the next, so the result does not depend on how the
    stream was cut into frames. The output is time-aligned with the input
    (soxr compensates its own filter delay); it just comes out a little later,
    which `delay` reports. Call `flush` at the end of the stream to get the
    tail. With `to_mono=True` the channels are averaged before resampling.

    Internally the signal is resampled in float32 and rounded back to int16
    (soxr's own int16 output adds dither, which would make the result depend on
    the chunking). When `in_rate == out_rate`, frames pass through untouched
    (downmixed if asked).

    Args:
        in_rate: sample rate of the frames given to `process`, in Hz.
        out_rate: sample rate of the frames returned, in Hz.
        channels: channel count of the frames given to `process`.
        to_mono: average the channels into one.
        quality: soxr quality, one of ``"QQ"``, ``"LQ"``, ``"MQ"``, ``"HQ"``, ``"VHQ"``.

    Attributes:
        in_rate, out_rate, channels, to_mono, quality: as given.
        out_channels: channel count of the frames returned (1 with `to_mono`).

    Raises:
        AudioError: a rate or the channel count is not a positive integer, or
            the quality is unknown.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        *,
        channels: int = 1,
        to_mono: bool = False,
        quality: str = "HQ",
    ) -> None:
        self.in_rate = _require_rate(in_rate, "in_rate")
        self.out_rate = _require_rate(out_rate, "out_rate")
        self.channels = _require_channels(channels)
        if quality not in _QUALITIES:
            raise AudioError(f"quality must be one of {', '.join(_QUALITIES)}, got {quality!r}")
        self.quality = quality
        self.to_mono = bool(to_mono)
        self.out_channels = 1 if self.to_mono else self.channels
        self._stream: Any = None
        if self.in_rate != self.out_rate:
            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, self.out_channels, dtype="float32", quality=quality
            )

    def __repr__(self) -> str:
        return (
            f"Resampler({self.in_rate} -> {self.out_rate} Hz, channels={self.channels}, "
            f"to_mono={self.to_mono}, quality={self.quality!r})"
        )

    def process(self, frame: AudioFrame) -> AudioFrame:
        """Resample the next frame of the stream; the result may be empty at first.

        Raises:
            AudioError: the frame's rate or channel count differs from the
                resampler's.
        """
        if not isinstance(frame, AudioFrame):
            raise AudioError(f"Resampler.process() needs an AudioFrame, got {type(frame).__name__}")
        if frame.sample_rate != self.in_rate:
            raise AudioError(
                f"this Resampler expects {self.in_rate} Hz frames, got a {frame.sample_rate} Hz frame"
            )
        if frame.channels != self.channels:
            raise AudioError(
                f"this Resampler expects {self.channels}-channel frames, "
                f"got a {frame.channels}-channel frame"
            )
        if self._stream is None:
            return frame.to_mono() if self.to_mono else frame
        if self.to_mono and frame.channels > 1:
            data = _downmix(frame.samples, np.float32)
        else:
            data = np.asarray(frame.samples, dtype=np.float32, order="C")
        return self._to_frame(self._stream.resample_chunk(data))

    def flush(self) -> AudioFrame:
        """End the stream: return the samples still held back, then start afresh.

        After `flush` the resampler is ready for a new, unrelated stream, as
        after `reset`.
        """
        if self._stream is None:
            return _empty(self.out_rate, self.out_channels)
        shape: tuple[int, ...] = (0,) if self.out_channels == 1 else (0, self.out_channels)
        tail = self._stream.resample_chunk(np.zeros(shape, dtype=np.float32), last=True)
        self._stream.clear()
        return self._to_frame(tail)

    def reset(self) -> None:
        """Drop any state and held-back samples, ready for a new stream."""
        if self._stream is not None:
            self._stream.clear()

    @property
    def delay(self) -> float:
        """Seconds of output currently held back inside the resampler (0 when rates are equal)."""
        if self._stream is None:
            return 0.0
        return float(self._stream.delay()) / self.out_rate

    def _to_frame(self, out: npt.NDArray[np.float32]) -> AudioFrame:
        np.rint(out, out=out)
        np.clip(out, _INT16_MIN, _INT16_MAX, out=out)
        return AudioFrame(out.astype(np.int16), self.out_rate, self.out_channels)


class Rechunker:
    """Regroup a stream of frames into chunks of exactly `chunk_ms` milliseconds.

    `push` returns every whole chunk available and keeps the rest for the next
    call; `flush` returns the last, shorter chunk. Chunks cut from the middle of
    a pushed frame are views of its samples (no copy); only the samples carried
    over from one push to the next are copied, once, into a fresh chunk.

    Args:
        sample_rate: sample rate of the stream, in Hz.
        chunk_ms: chunk length in milliseconds; it must be a whole number of
            samples at `sample_rate`.
        channels: channel count of the stream.

    Attributes:
        sample_rate, chunk_ms, channels: as given.
        chunk_samples: samples per channel in each whole chunk.

    Raises:
        AudioError: the rate or channel count is invalid, or `chunk_ms` is not
            a positive whole number of samples.
    """

    def __init__(self, sample_rate: int, chunk_ms: float, channels: int = 1) -> None:
        self.sample_rate = _require_rate(sample_rate)
        self.channels = _require_channels(channels)
        if isinstance(chunk_ms, bool) or not isinstance(chunk_ms, int | float) or chunk_ms <= 0:
            raise AudioError(f"chunk_ms must be a positive number, got {chunk_ms!r}")
        exact = chunk_ms * self.sample_rate / 1000
        size = round(exact)
        if size < 1 or abs(exact - size) > 1e-9:
            raise AudioError(
                f"chunk_ms={chunk_ms!r} is not a whole number of samples at "
                f"{self.sample_rate} Hz ({exact:g} samples)"
            )
        self.chunk_ms = chunk_ms
        self.chunk_samples = size
        self._buf: npt.NDArray[np.int16] | None = None
        self._fill = 0

    @property
    def pending(self) -> int:
        """Samples per channel held back, waiting for the rest of a chunk."""
        return self._fill

    def push(self, frame: AudioFrame) -> list[AudioFrame]:
        """Add a frame; return the whole chunks now available, in order.

        Raises:
            AudioError: the frame's rate or channel count differs from the
                rechunker's.
        """
        if not isinstance(frame, AudioFrame):
            raise AudioError(f"Rechunker.push() needs an AudioFrame, got {type(frame).__name__}")
        if frame.sample_rate != self.sample_rate or frame.channels != self.channels:
            raise AudioError(
                f"this Rechunker expects {self.sample_rate} Hz/{self.channels} ch frames, "
                f"got {frame.sample_rate} Hz/{frame.channels} ch"
            )
        s = frame.samples
        n = s.shape[0]
        size = self.chunk_samples
        out: list[AudioFrame] = []
        pos = 0
        if self._buf is not None:
            take = min(size - self._fill, n)
            self._buf[self._fill : self._fill + take] = s[:take]
            self._fill += take
            pos = take
            if self._fill < size:
                return out
            out.append(AudioFrame(self._buf, self.sample_rate, self.channels))
            self._buf = None
            self._fill = 0
        while n - pos >= size:
            out.append(AudioFrame(s[pos : pos + size], self.sample_rate, self.channels))
            pos += size
        rest = n - pos
        if rest:
            self._buf = np.empty((size, *s.shape[1:]), dtype=np.int16)
            self._buf[:rest] = s[pos:]
            self._fill = rest
        return out

    def flush(self) -> AudioFrame | None:
        """Return the samples held back as one shorter frame (None if there are none)."""
        if self._buf is None:
            return None
        frame = AudioFrame(self._buf[: self._fill], self.sample_rate, self.channels)
        self._buf = None
        self._fill = 0
        return frame

    def reset(self) -> None:
        """Drop the samples held back."""
        self._buf = None
        self._fill = 0


_WavTarget = str | os.PathLike[str] | IO[bytes]


def read_wav(path_or_file: _WavTarget) -> AudioFrame:
    """Read a 16-bit PCM WAV file (a path or a binary file object).

    Raises:
        AudioError: the data is not a WAV file the stdlib `wave` module can
            read, or its samples are not 16-bit.
        OSError: the file cannot be opened.
    """
    source: str | IO[bytes] = (
        os.fspath(path_or_file) if isinstance(path_or_file, str | os.PathLike) else path_or_file
    )
    try:
        with wave.open(source, "rb") as w:
            width = w.getsampwidth()
            if width != 2:
                raise AudioError(
                    f"only 16-bit PCM WAV files are supported, this one has {8 * width}-bit samples"
                )
            channels = w.getnchannels()
            rate = w.getframerate()
            data = w.readframes(w.getnframes())
    except EOFError as exc:
        raise AudioError(
            "not a readable PCM WAV file: it ends before its WAV header is complete"
        ) from exc
    except wave.Error as exc:
        reason = str(exc)
        if reason == "unknown format: 3":
            reason = "it holds floating-point samples (WAV format 3); only 16-bit PCM is supported"
        raise AudioError(f"not a readable PCM WAV file: {reason}") from exc
    usable = len(data) - len(data) % (2 * channels)
    return AudioFrame.from_bytes(memoryview(data)[:usable], rate, channels)


def write_wav(path_or_file: _WavTarget, frame: AudioFrame) -> None:
    """Write `frame` as a 16-bit PCM WAV file (a path or a binary file object)."""
    if not isinstance(frame, AudioFrame):
        raise AudioError(f"write_wav() needs an AudioFrame, got {type(frame).__name__}")
    target: str | IO[bytes] = (
        os.fspath(path_or_file) if isinstance(path_or_file, str | os.PathLike) else path_or_file
    )
    with wave.open(target, "wb") as w:
        w.setnchannels(frame.channels)
        w.setsampwidth(2)
        w.setframerate(frame.sample_rate)
        w.setnframes(frame.num_samples)
        w.writeframes(frame.to_bytes())
