"""Audio values: `AudioFrame` (16-bit PCM in a numpy array)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

__all__ = ["AudioError", "AudioFrame"]

_LE_INT16 = np.dtype("<i2")


class AudioError(ValueError):
    """Audio data or parameters that cannot be used (bad rate, odd byte count, wrong dtype)."""


def _check_rate(_inst: Any, _attr: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise AudioError(f"sample_rate must be a positive integer number of Hz, got {value!r}")


def _check_channels(_inst: Any, _attr: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise AudioError(f"channels must be a positive integer, got {value!r}")


@attrs.frozen(eq=False)
class AudioFrame:
    """A block of 16-bit PCM audio.

    `samples` is an int16 array shaped ``(n,)`` for mono or ``(n, channels)``.
    Frames compare equal when rate, channels and every sample are equal.
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
                raise AudioError(f"mono samples must be shaped (n,), got {s.shape}")
        elif s.ndim != 2 or s.shape[1] != self.channels:
            raise AudioError(
                f"samples for {self.channels} channels must be shaped (n, {self.channels}), "
                f"got {s.shape}"
            )

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, sample_rate: int, channels: int = 1
    ) -> AudioFrame:
        """Wrap little-endian 16-bit PCM bytes (interleaved when multichannel) without copying."""
        nbytes = len(data) if not isinstance(data, memoryview) else data.nbytes
        if nbytes % (2 * channels if isinstance(channels, int) and channels > 0 else 2):
            raise AudioError(
                f"PCM16 data must hold a whole number of {channels}-channel samples "
                f"({2 * channels} bytes each), got {nbytes} bytes"
            )
        arr = np.frombuffer(data, dtype=_LE_INT16)
        if channels > 1:
            arr = arr.reshape(-1, channels)
        return cls(arr, sample_rate, channels)

    def to_bytes(self) -> bytes:
        """Return the samples as little-endian 16-bit PCM bytes, interleaved."""
        s = self.samples
        if s.dtype.byteorder == ">" or (s.dtype.byteorder == "=" and np.little_endian is False):
            s = s.astype(_LE_INT16)
        return s.tobytes()

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
