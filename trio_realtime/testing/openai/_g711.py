"""G.711 µ-law/A-law tables for ``audio/pcmu`` and ``audio/pcma`` sessions."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt


def _ulaw_table() -> npt.NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _alaw_table() -> npt.NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    sample = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, sample, -sample).astype(np.int16)


_DECODE: Final = {"audio/pcmu": _ulaw_table(), "audio/pcma": _alaw_table()}
_ENCODE: dict[str, npt.NDArray[np.uint8]] = {}


def _encode_table(kind: str) -> npt.NDArray[np.uint8]:
    table = _ENCODE.get(kind)
    if table is None:
        # Nearest code for every 16-bit value: search the sorted decode table.
        decoded = _DECODE[kind].astype(np.int32)
        order = np.argsort(decoded, kind="stable")
        levels = decoded[order]
        values = np.arange(-32768, 32768, dtype=np.int32)
        pos = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
        left, right = levels[pos - 1], levels[pos]
        pick = np.where(values - left <= right - values, pos - 1, pos)
        table = order[pick].astype(np.uint8)
        _ENCODE[kind] = table
    return table


def g711_decode(data: bytes, kind: str) -> npt.NDArray[np.int16]:
    """Decode ``audio/pcmu`` or ``audio/pcma`` bytes to 16-bit samples."""
    return _DECODE[kind][np.frombuffer(data, dtype=np.uint8)]


def g711_encode(samples: npt.NDArray[np.int16], kind: str) -> bytes:
    """Encode 16-bit samples as ``audio/pcmu`` or ``audio/pcma`` bytes."""
    table = _encode_table(kind)
    return table[samples.astype(np.int32) + 32768].tobytes()
