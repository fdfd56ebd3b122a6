"""A stand-in for the sounddevice package, for tests without PortAudio or audio hardware.

Put this folder first on ``PYTHONPATH`` (a subprocess) or pass the module as
``backend=`` (in process). ``FAKE_SD_MODE`` picks what goes wrong:
``not-installed``, ``no-portaudio``, ``no-device``, ``stream-fails``,
``only-48k`` (streams open at the devices' default rate only), else all works. The microphone plays ``MIC`` (or the WAV file ``FAKE_SD_MIC``) in
real time, then silence; the speaker records every block it was given into
``PLAYED`` (and the WAV file ``FAKE_SD_SPEAKER`` when the stream closes).
"""

from __future__ import annotations

import os
import threading
import time
import wave
from typing import Any, ClassVar

import numpy as np

MODE = os.environ.get("FAKE_SD_MODE", "ok")
if MODE == "no-portaudio":
    raise OSError("PortAudio library not found")
if MODE == "not-installed":
    raise ImportError("No module named 'sounddevice'")

#: Samples the microphone plays (int16 mono); read from FAKE_SD_MIC when None.
MIC: Any = None
#: Blocks the speaker was handed, in order (int16 arrays).
PLAYED: list[Any] = []
#: Streams opened, as (kind, keyword arguments).
OPENED: list[tuple[str, dict[str, Any]]] = []

DEVICES = [
    {
        "index": 0,
        "name": "Stub Microphone",
        "max_input_channels": 1,
        "max_output_channels": 0,
        "default_samplerate": 48000.0,
    },
    {
        "index": 1,
        "name": "Stub Speaker",
        "max_input_channels": 0,
        "max_output_channels": 2,
        "default_samplerate": 48000.0,
    },
]


class PortAudioError(Exception):
    pass


class default:  # sounddevice's name
    device: ClassVar[list[int]] = [0, 1]


def query_devices(device: Any = None, kind: str | None = None) -> Any:
    if MODE == "no-device":
        raise PortAudioError("Error querying device -1")
    if kind is None and device is None:
        return list(DEVICES)
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    if device is None:
        return DEVICES[default.device[0 if kind == "input" else 1]]
    for d in DEVICES:
        if (
            device == d["index"]
            or (isinstance(device, str) and device.lower() in str(d["name"]).lower())
        ) and (kind is None or d[key]):
            return d
    raise ValueError(f"No {kind or ''} device matching {device!r}".replace("  ", " "))


class _Stream:
    kind = ""

    def __init__(
        self,
        samplerate: int,
        channels: int,
        dtype: str,
        callback: Any,
        blocksize: int = 0,
        device: Any = None,
    ) -> None:
        assert channels == 1
        assert dtype == "int16"
        if MODE == "stream-fails" or (MODE == "only-48k" and samplerate != 48000):
            raise PortAudioError("Invalid sample rate")
        if device is not None:
            query_devices(device, "input" if self.kind == "input" else "output")
        OPENED.append(
            (self.kind, {"samplerate": samplerate, "blocksize": blocksize, "device": device})
        )
        self.rate = int(samplerate)
        self.n = blocksize or self.rate // 50
        self.callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.finish()

    def _run(self) -> None:
        start, i = time.monotonic(), 0
        while not self._stop.is_set():
            self.block(i)
            i += 1
            delay = start + i * self.n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def block(self, i: int) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass


class InputStream(_Stream):
    kind = "input"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        if MIC is not None:
            self.samples = np.asarray(MIC, np.int16)
        elif os.environ.get("FAKE_SD_MIC"):
            with wave.open(os.environ["FAKE_SD_MIC"], "rb") as w:
                assert w.getframerate() == self.rate, (w.getframerate(), self.rate)
                self.samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        else:
            self.samples = np.zeros(0, np.int16)

    def block(self, i: int) -> None:
        chunk = np.zeros((self.n, 1), np.int16)
        part = self.samples[i * self.n : (i + 1) * self.n]
        chunk[: len(part), 0] = part
        self.callback(chunk, self.n, None, None)


class OutputStream(_Stream):
    kind = "output"

    def block(self, i: int) -> None:
        out = np.zeros((self.n, 1), np.int16)
        self.callback(out, self.n, None, None)
        PLAYED.append(out[:, 0].copy())

    def finish(self) -> None:
        path = os.environ.get("FAKE_SD_SPEAKER")
        if path:
            with wave.open(path, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(self.rate)
                w.writeframes(np.concatenate(PLAYED or [np.zeros(0, np.int16)]).tobytes())
