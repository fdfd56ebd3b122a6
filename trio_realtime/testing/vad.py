"""An energy voice-activity detector with OpenAI ``server_vad`` timing semantics.

Pure and synchronous: feed it consecutive chunks of mono 16-bit audio with
`EnergyVAD.process`; it returns the speech-start and speech-stop events those
chunks complete. How the audio is chunked never changes the result.

How it decides:

* Audio is analysed in consecutive windows of `window_ms` (10 ms by default,
  counted from the first sample ever fed). A window is *loud* when its RMS
  level is at least `threshold_db` dBFS (0 dBFS = full-scale square wave).
* Speech starts at the first loud window. The *onset* is the first sample of
  that window whose magnitude reaches the threshold level; the start event's
  `audio_start_ms` is the onset's time minus `prefix_padding_ms`, never before
  0 nor before the previous stop (audio already committed).
* While speaking, the end of speech is one sample past the last sample that
  reaches the threshold level inside a loud window. Speech stops once
  `silence_duration_ms` of audio has followed it with no loud window; the stop
  event's `audio_end_ms` is the end of speech plus `silence_duration_ms`, as
  the OpenAI service reports it ("includes the silence duration").
* `flush` (Gemini's ``audioStreamEnd``) stops an ongoing speech at once, with
  `audio_end_ms` at the end of the audio fed so far.

All times are milliseconds from the first sample fed (or the last `reset`),
rounded down: OpenAI's offsets into the session's input audio.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from ..audio import AudioError, AudioFrame

__all__ = ["EnergyVAD", "SpeechStart", "SpeechStop", "VADEvent"]


@attrs.frozen
class SpeechStart:
    """Speech began.

    Attributes:
        audio_start_ms: start of the speech including the prefix padding.
        onset_ms: the first sample at the threshold level, without padding.
        onset_sample: that sample's index.
    """

    audio_start_ms: int
    onset_ms: int
    onset_sample: int


@attrs.frozen
class SpeechStop:
    """Speech ended.

    Attributes:
        audio_end_ms: end of speech plus the silence that ended it (OpenAI's value).
        speech_end_ms: one sample past the last sample at the threshold level.
        speech_end_sample: that position in samples.
        flushed: True when `EnergyVAD.flush` ended the speech.
    """

    audio_end_ms: int
    speech_end_ms: int
    speech_end_sample: int
    flushed: bool = False


VADEvent = SpeechStart | SpeechStop


class EnergyVAD:
    """Energy-threshold voice activity detection over a stream of chunks.

    Args:
        sample_rate: rate of the audio that will be fed, in Hz.
        threshold_db: RMS level (dBFS) a window needs to count as speech.
        prefix_padding_ms: audio before the onset included in the start time.
        silence_duration_ms: silence after speech that ends it.
        window_ms: analysis window length.

    Raises:
        AudioError: for a bad rate or a negative duration.
    """

    def __init__(
        self,
        sample_rate: int,
        threshold_db: float = -40.0,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
        *,
        window_ms: int = 10,
    ) -> None:
        if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
        if prefix_padding_ms < 0 or silence_duration_ms < 0:
            raise AudioError(
                "prefix_padding_ms and silence_duration_ms must be >= 0, got "
                f"{prefix_padding_ms} and {silence_duration_ms}"
            )
        if window_ms <= 0:
            raise AudioError(f"window_ms must be positive, got {window_ms}")
        self.sample_rate = sample_rate
        self.threshold_db = float(threshold_db)
        self.prefix_padding_ms = int(prefix_padding_ms)
        self.silence_duration_ms = int(silence_duration_ms)
        self._window = max(1, sample_rate * window_ms // 1000)
        self._level = 32768.0 * 10.0 ** (self.threshold_db / 20.0)
        self._silence_samples = math.ceil(self.silence_duration_ms * sample_rate / 1000)
        self.reset()

    def reset(self) -> None:
        """Forget all audio and state; times restart at 0."""
        self._pending = np.zeros(0, dtype=np.float64)
        self._fed = 0  # samples fed
        self._analysed = 0  # samples analysed (whole windows)
        self._speaking = False
        self._speech_end = 0  # sample index one past the last loud sample
        self._floor_ms = 0  # start times never go before this (last stop)

    @property
    def in_speech(self) -> bool:
        """Whether speech has started and not yet stopped."""
        return self._speaking

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio fed so far."""
        return self._ms(self._fed)

    def _ms(self, sample: int) -> int:
        return sample * 1000 // self.sample_rate

    def process(
        self, audio: AudioFrame | npt.NDArray[np.int16] | bytes | bytearray | memoryview
    ) -> list[VADEvent]:
        """Feed the next chunk; return the events it completes, in order.

        Raises:
            AudioError: for multichannel audio, another sample rate, or odd bytes.
        """
        if isinstance(audio, AudioFrame):
            if audio.channels != 1 or audio.sample_rate != self.sample_rate:
                raise AudioError(
                    f"the VAD takes mono {self.sample_rate} Hz audio, got "
                    f"{audio.channels} channel(s) at {audio.sample_rate} Hz"
                )
            samples: npt.NDArray[np.int16] = audio.samples
        elif isinstance(audio, np.ndarray):
            samples = audio
        else:
            if len(audio) % 2:
                raise AudioError(f"PCM16 data must have an even number of bytes, got {len(audio)}")
            samples = np.frombuffer(audio, dtype="<i2")
        self._fed += int(samples.shape[0])
        buf = np.concatenate([self._pending, samples.astype(np.float64)])
        w = self._window
        whole = buf.shape[0] // w * w
        self._pending = buf[whole:]
        if not whole:
            return []
        windows = buf[:whole].reshape(-1, w)
        rms = np.sqrt((windows * windows).mean(axis=1))
        loud = rms >= self._level
        events: list[VADEvent] = []
        base = self._analysed
        for i in range(windows.shape[0]):
            start = base + i * w
            if loud[i]:
                hits = np.flatnonzero(np.abs(windows[i]) >= self._level)
                if not self._speaking:
                    onset = start + (int(hits[0]) if hits.size else 0)
                    onset_ms = self._ms(onset)
                    begin = max(onset_ms - self.prefix_padding_ms, self._floor_ms, 0)
                    events.append(SpeechStart(begin, onset_ms, onset))
                    self._speaking = True
                last = start + (int(hits[-1]) + 1 if hits.size else w)
                self._speech_end = max(self._speech_end, last)
            elif self._speaking and start + w - self._speech_end >= self._silence_samples:
                events.append(self._stop(flushed=False))
        self._analysed = base + whole
        return events

    def _stop(self, *, flushed: bool) -> SpeechStop:
        self._speaking = False
        end_ms = self._ms(self._speech_end)
        audio_end = self.position_ms if flushed else end_ms + self.silence_duration_ms
        self._floor_ms = audio_end
        return SpeechStop(audio_end, end_ms, self._speech_end, flushed)

    def flush(self) -> list[VADEvent]:
        """End an ongoing speech now (end of the audio stream).

        Returns:
            ``[SpeechStop(...)]`` when speech was ongoing, else ``[]``.
        """
        if not self._speaking:
            return []
        return [self._stop(flushed=True)]
