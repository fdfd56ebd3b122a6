"""Microphone and speaker for live conversations (the ``audio`` extra: sounddevice).

`Microphone` records blocks of audio in sounddevice's audio thread and hands
them to Trio through a bounded memory channel (``trio.lowlevel.TrioToken``,
never blocking either side). `Speaker` plays `AudioFrame` chunks from a
jitter buffer that its audio thread drains, stops at once on `Speaker.clear`
(barge-in) and knows how much of each assistant item was actually played.
`run_talk` wires both to a session: microphone → session → speaker, with the
played position reported to the session so that an OpenAI barge-in truncates
the conversation where the listener stopped hearing it::

    async with rt.connect(config) as session:
        rate_in = session.protocol.input_sample_rate
        rate_out = session.protocol.output_sample_rate
        async with Microphone(rate_in) as mic, Speaker(rate_out) as speaker:
            await run_talk(session, mic, speaker)

sounddevice (and the PortAudio library it loads) is imported on first use;
when it, or a device, is missing, `AudioDeviceError` says so in one sentence.
Any module with sounddevice's ``InputStream``/``OutputStream``/``query_devices``
can stand in for it (``backend=``), which is how the tests run without audio
hardware.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt
import trio

from .audio import AudioFrame, Resampler
from .errors import ProtocolError, RealtimeError
from .events import AudioOut, Event, Interrupted

if TYPE_CHECKING:
    from .session import RealtimeSession

__all__ = [
    "AudioDeviceError",
    "DeviceInfo",
    "Microphone",
    "Speaker",
    "SpeakerStatistics",
    "check_devices",
    "import_sounddevice",
    "list_devices",
    "run_talk",
]

Device = int | str | None


class AudioDeviceError(RealtimeError):
    """sounddevice, PortAudio or an audio device is missing, or a device refused to open."""


def import_sounddevice() -> ModuleType:
    """Import sounddevice (the ``audio`` extra).

    Raises:
        AudioDeviceError: the package or the PortAudio library is missing.
    """
    try:
        import sounddevice
    except ImportError as exc:
        raise AudioDeviceError(
            "sounddevice is not installed: pip install 'trio-realtime[audio]'"
        ) from exc
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise AudioDeviceError(f"sounddevice cannot load PortAudio ({exc})") from exc
    module: ModuleType = sounddevice
    return module


def _backend(backend: ModuleType | None) -> ModuleType:
    return backend if backend is not None else import_sounddevice()


def _device_errors(sd: ModuleType) -> tuple[type[BaseException], ...]:
    err = getattr(sd, "PortAudioError", None)
    return (err, ValueError) if isinstance(err, type) else (ValueError,)


@attrs.frozen
class DeviceInfo:
    """One audio device as PortAudio lists it."""

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    default_input: bool = False
    default_output: bool = False


def list_devices(*, backend: ModuleType | None = None) -> list[DeviceInfo]:
    """The audio devices PortAudio knows, in its order (index = ``--device`` number).

    Blocking (PortAudio scans the host APIs): call it before the event loop
    starts or through ``trio.to_thread.run_sync``.

    Raises:
        AudioDeviceError: sounddevice or PortAudio is missing, or the query failed.
    """
    sd = _backend(backend)
    try:
        devices = list(sd.query_devices())
        default = getattr(getattr(sd, "default", None), "device", (None, None))
    except _device_errors(sd) as exc:
        raise AudioDeviceError(f"cannot list the audio devices ({exc})") from exc
    default_in, default_out = (default if isinstance(default, (list, tuple)) else (None, None))[:2]
    return [
        DeviceInfo(
            index=int(d.get("index", i)),
            name=str(d.get("name", "")),
            max_input_channels=int(d.get("max_input_channels", 0)),
            max_output_channels=int(d.get("max_output_channels", 0)),
            default_samplerate=float(d.get("default_samplerate", 0.0)),
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(devices)
    ]


def check_devices(
    input: Device = None, output: Device = None, *, backend: ModuleType | None = None
) -> tuple[str, str]:
    """Check that the microphone and the speaker exist; return their names.

    Blocking (PortAudio queries the host): call it before the event loop starts
    or through ``trio.to_thread.run_sync``.

    Raises:
        AudioDeviceError: sounddevice or PortAudio is missing, or a device is.
    """
    sd = _backend(backend)
    return _check_device(sd, input, "input")[0], _check_device(sd, output, "output")[0]


def _check_device(sd: ModuleType, device: Device, kind: str) -> tuple[str, int | None]:
    """The device's name and its default rate; `AudioDeviceError` when there is no such device."""
    try:
        info = sd.query_devices(device, kind=kind)
    except _device_errors(sd) as exc:
        what = "microphone" if kind == "input" else "speaker"
        which = f" {device!r}" if device is not None else ""
        raise AudioDeviceError(f"no usable {what}{which} ({exc})") from exc
    if not isinstance(info, dict):
        return str(kind), None
    rate = info.get("default_samplerate")
    return str(info.get("name", kind)), int(rate) if rate else None


def _stream_kwargs(
    rate: int, block: int, callback: Callable[..., None], device: Device
) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "samplerate": rate,
        "channels": 1,
        "dtype": "int16",
        "blocksize": block,
        "callback": callback,
    }
    if device is not None:
        kw["device"] = device
    return kw


async def _open_stream(
    sd: ModuleType,
    factory: str,
    kwargs_for: Callable[[int], dict[str, Any]],
    rate: int,
    fallback: int | None,
) -> tuple[Any, int]:
    """Open and start a stream at `rate`, else at the device's own rate `fallback`.

    Returns the stream and the rate it runs at. Many devices (ALSA hardware,
    some USB headsets) refuse the providers' 16 or 24 kHz; audio at the
    device's rate is resampled (`Speaker.play`; ``session.send_audio``).
    """

    def open_and_start(kw: dict[str, Any]) -> Any:
        stream = getattr(sd, factory)(**kw)
        stream.__enter__()
        return stream

    try:
        return await trio.to_thread.run_sync(open_and_start, kwargs_for(rate)), rate
    except _device_errors(sd) as exc:
        first = exc
    if fallback and fallback != rate:
        try:
            return await trio.to_thread.run_sync(open_and_start, kwargs_for(fallback)), fallback
        except _device_errors(sd):
            pass
    raise AudioDeviceError(f"the audio device failed ({first})") from first


async def _close_stream(stream: Any) -> None:
    with trio.CancelScope(shield=True):
        await trio.to_thread.run_sync(stream.__exit__, None, None, None)


def _dbfs(samples: npt.NDArray[np.int16]) -> float:
    if len(samples) == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float32))))
    return 20 * math.log10(rms / 32768) if rms > 0 else -math.inf


class _Device:
    """What `Microphone` and `Speaker` share: ``async with`` closes the stream."""

    _stream: Any = None

    async def aclose(self) -> None:
        """Stop and close the stream (idempotent); shielded from cancellation."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await _close_stream(stream)
        self._closed()
        await trio.lowlevel.checkpoint()

    def _closed(self) -> None:
        pass

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Microphone(_Device):
    """An input device as an async iterator of mono `AudioFrame` blocks.

    ``async with Microphone(24000) as mic: async for frame in mic: ...``.
    sounddevice's audio thread copies each block and hands it to Trio without
    waiting; when Trio falls more than `max_queue` blocks behind, new blocks
    are dropped (counted in `dropped`) rather than delaying the live stream.

    Args:
        sample_rate: recording rate; the session's ``protocol.input_sample_rate``
            avoids resampling. A device that refuses it records at its own
            default rate instead (`sample_rate` then says which; the session
            resamples what it is sent).
        device: sounddevice device (index or name substring); `None` = default.
        block_ms: block length; each block costs one wakeup of the Trio task
            reading the microphone (50/s at 20 ms).
        max_queue: blocks buffered for a slow reader (memory: ``max_queue`` ×
            block bytes; latency up to ``max_queue × block_ms``).
        backend: a module standing in for sounddevice (tests).

    Attributes:
        level: loudness of the latest block in dBFS (``-inf`` for silence),
            for a level meter; updated by the audio thread.
        dropped: blocks dropped because the reader was behind.
        name: the device's name once open.
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        *,
        device: Device = None,
        block_ms: int = 20,
        max_queue: int = 50,
        backend: ModuleType | None = None,
    ) -> None:
        if block_ms <= 0 or max_queue <= 0:
            raise ValueError("block_ms and max_queue must be positive")
        self.sample_rate = int(sample_rate)
        self.device = device
        self.block_ms = block_ms
        self.block = self.sample_rate * block_ms // 1000
        self._max_queue = max_queue
        self._backend = backend
        self._stream: Any = None
        self._send: trio.MemorySendChannel[AudioFrame] | None = None
        self._receive: trio.MemoryReceiveChannel[AudioFrame] | None = None
        self.level = -math.inf
        self.dropped = 0
        self.name = ""

    async def __aenter__(self) -> Microphone:
        """Open and start the input stream (in a worker thread: PortAudio may block).

        Raises:
            AudioDeviceError: sounddevice, PortAudio or the device is missing or failed.
        """
        sd = _backend(self._backend)
        self.name, fallback = await trio.to_thread.run_sync(_check_device, sd, self.device, "input")
        self._send, self._receive = trio.open_memory_channel[AudioFrame](self._max_queue)
        token = trio.lowlevel.current_trio_token()
        send = self._send

        def offer(frame: AudioFrame) -> None:  # in Trio's thread
            try:
                send.send_nowait(frame)
            except trio.WouldBlock:
                self.dropped += 1
            except trio.ClosedResourceError:
                pass

        def kwargs_for(rate: int) -> dict[str, Any]:
            def callback(indata: Any, frames: int, _time: Any, _status: Any) -> None:
                samples = np.array(
                    indata[:frames, 0], dtype=np.int16
                )  # a copy: PortAudio reuses it
                self.level = _dbfs(samples)
                try:
                    token.run_sync_soon(offer, AudioFrame(samples, rate))
                except trio.RunFinishedError:
                    pass

            block = rate * self.block_ms // 1000
            return _stream_kwargs(rate, block, callback, self.device)

        self._stream, self.sample_rate = await _open_stream(
            sd, "InputStream", kwargs_for, self.sample_rate, fallback
        )
        self.block = self.sample_rate * self.block_ms // 1000
        return self

    def _closed(self) -> None:
        if self._send is not None:
            self._send.close()  # iteration ends

    def __aiter__(self) -> Microphone:
        return self

    async def __anext__(self) -> AudioFrame:
        if self._receive is None:
            raise RuntimeError("use the Microphone inside 'async with'")
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


@attrs.define
class SpeakerStatistics:
    """Counters of a `Speaker`."""

    played_samples: int = 0
    underruns: int = 0
    cleared_samples: int = 0
    resampled_frames: int = 0


class Speaker(_Device):
    """An output device that plays `AudioFrame` chunks through a jitter buffer.

    `play` queues a chunk (never waits); sounddevice's audio thread drains the
    queue block by block. After the queue ran dry, playback restarts only once
    `prebuffer_ms` of audio is queued or that long has passed, so that network
    jitter does not chop the voice into stutters (the cost: up to
    `prebuffer_ms` of extra latency at the start of each reply). `clear`
    drops everything not yet played (barge-in) and returns how much of the
    item was heard. `position` is what `run_talk` reports to the session.

    Args:
        sample_rate: device rate; the session's ``protocol.output_sample_rate``
            avoids resampling (other rates are resampled per chunk stream). A
            device that refuses it plays at its own default rate instead
            (`sample_rate` then says which).
        device: sounddevice device (index or name substring); `None` = default.
        block_ms: device block length (latency of `clear`: at most one block
            plus the device's own buffer).
        prebuffer_ms: jitter buffer depth, see above; 0 plays at once.
        backend: a module standing in for sounddevice (tests).
    """

    def __init__(
        self,
        sample_rate: int = 24000,
        *,
        device: Device = None,
        block_ms: int = 20,
        prebuffer_ms: int = 60,
        backend: ModuleType | None = None,
    ) -> None:
        if block_ms <= 0 or prebuffer_ms < 0:
            raise ValueError("block_ms must be positive and prebuffer_ms not negative")
        self.device = device
        self.block_ms = block_ms
        self.prebuffer_ms = prebuffer_ms
        self._set_rate(int(sample_rate))
        self._backend = backend
        self._stream: Any = None
        self._lock = threading.Lock()
        # (item id, samples) not played yet; _offset samples of the first are played.
        self._queue: deque[tuple[str | None, npt.NDArray[np.int16]]] = deque()
        self._offset = 0
        self._queued = 0
        self._waiting = True  # the jitter buffer is filling
        self._waited = 0
        self._item: str | None = None
        self._item_played = 0
        self._latency = 0  # samples handed to the device but not heard yet
        self._resampler: Resampler | None = None
        self._resampler_rate = 0
        self._token: trio.lowlevel.TrioToken | None = None
        self._drained = trio.Event()
        self._drained.set()
        self.stats = SpeakerStatistics()
        self.name = ""

    async def __aenter__(self) -> Speaker:
        """Open and start the output stream (in a worker thread: PortAudio may block).

        Raises:
            AudioDeviceError: sounddevice, PortAudio or the device is missing or failed.
        """
        sd = _backend(self._backend)
        self.name, fallback = await trio.to_thread.run_sync(
            _check_device, sd, self.device, "output"
        )
        self._token = trio.lowlevel.current_trio_token()

        def kwargs_for(rate: int) -> dict[str, Any]:
            self._set_rate(rate)  # before the stream starts calling _fill
            return _stream_kwargs(rate, self.block, self._fill, self.device)

        self._stream, rate = await _open_stream(
            sd, "OutputStream", kwargs_for, self.sample_rate, fallback
        )
        self._set_rate(rate)
        return self

    def _set_rate(self, rate: int) -> None:
        self.sample_rate = rate
        self.block = rate * self.block_ms // 1000
        self.prebuffer = rate * self.prebuffer_ms // 1000

    def _closed(self) -> None:
        with self._lock:  # what was not played is dropped
            self._queue.clear()
            self._queued = 0
        self._token = None
        self._drained.set()

    # -- called from Trio -------------------------------------------------------------

    def play(self, frame: AudioFrame, *, item_id: str | None = None) -> None:
        """Queue `frame` for playback (mono-mixed, resampled if its rate differs).

        `item_id` names the assistant item the audio belongs to (``AudioOut.item_id``),
        so that `position` can say how much of that item was played.
        """
        if frame.channels != 1 or frame.sample_rate != self.sample_rate:
            if frame.sample_rate != self.sample_rate:
                if self._resampler is None or self._resampler_rate != frame.sample_rate:
                    self._resampler = Resampler(
                        frame.sample_rate, self.sample_rate, channels=frame.channels, to_mono=True
                    )
                    self._resampler_rate = frame.sample_rate
                frame = self._resampler.process(frame)
                self.stats.resampled_frames += 1
            else:
                frame = frame.to_mono()
        samples = frame.samples
        if len(samples) == 0:
            return
        with self._lock:
            self._queue.append((item_id, samples))
            self._queued += len(samples)
        if self._drained.is_set():
            self._drained = trio.Event()

    def clear(self) -> tuple[str | None, int]:
        """Stop playback at once: drop every queued sample (barge-in).

        Returns the item that was playing and how many milliseconds of it were
        played, as `position` would have said just before.
        """
        with self._lock:
            where = self._position_locked()
            self.stats.cleared_samples += self._queued - self._offset
            self._queue.clear()
            self._queued = 0
            self._offset = 0
            self._waiting = True
            self._waited = 0
        self._resampler = None
        self._drained.set()
        return where

    def position(self) -> tuple[str | None, int]:
        """The item playing (or last played) and how many ms of it were heard.

        Heard means handed to the device minus the device's reported output
        latency, so the figure trails what the audio thread consumed.
        """
        with self._lock:
            return self._position_locked()

    def pending_seconds(self) -> float:
        """Seconds of queued audio not played yet."""
        with self._lock:
            return (self._queued - self._offset) / self.sample_rate

    async def drain(self) -> None:
        """Wait until everything queued has been played (or cleared).

        Cancellation stops the wait only; playback goes on.
        """
        await self._drained.wait()

    # -- the audio thread -------------------------------------------------------------

    def _position_locked(self) -> tuple[str | None, int]:
        heard = max(0, self._item_played - self._latency)
        return self._item, heard * 1000 // self.sample_rate

    def _fill(self, outdata: Any, frames: int, time: Any, _status: Any) -> None:
        out = outdata[:, 0] if getattr(outdata, "ndim", 1) == 2 else outdata
        filled = 0
        drained = False
        with self._lock:
            latency = _output_latency(time)
            if latency is not None:
                self._latency = int(latency * self.sample_rate)
            available = self._queued - self._offset
            if self._waiting:
                if available >= self.prebuffer or (available and self._waited >= self.prebuffer):
                    self._waiting = False
                    self._waited = 0
                elif available:
                    self._waited += frames
            if not self._waiting:
                queue = self._queue
                while filled < frames and queue:
                    item, samples = queue[0]
                    if item != self._item:
                        self._item, self._item_played = item, 0
                    n = min(frames - filled, len(samples) - self._offset)
                    out[filled : filled + n] = samples[self._offset : self._offset + n]
                    filled += n
                    self._item_played += n
                    self._offset += n
                    if self._offset == len(samples):
                        queue.popleft()
                        self._queued -= len(samples)
                        self._offset = 0
                self.stats.played_samples += filled
                if filled < frames:
                    # Ran dry: refill the jitter buffer before playing on.
                    self._waiting = True
                    self._waited = 0
                    if filled:
                        self.stats.underruns += 1
                    drained = True
        out[filled:] = 0
        if drained and self._token is not None:
            try:
                self._token.run_sync_soon(self._set_drained)
            except trio.RunFinishedError:
                pass

    def _set_drained(self) -> None:
        with self._lock:
            empty = self._queued == 0
        if empty:
            self._drained.set()


def _output_latency(time: Any) -> float | None:
    try:
        latency = float(time.outputBufferDacTime) - float(time.currentTime)
    except (AttributeError, TypeError, ValueError):
        return None
    return latency if 0 <= latency < 1 else None


async def _pump_microphone(
    session: RealtimeSession, microphone: AsyncIterator[AudioFrame], speaker: Speaker
) -> None:
    # Before each block of microphone audio goes out, tell the session how much
    # of the reply was heard: the block that triggers the server's barge-in
    # then follows the position as of that moment. It costs no wakeup of its
    # own and sends nothing over the wire (the protocol keeps it).
    last: tuple[str | None, int] = (None, -1)
    async for frame in microphone:
        where = speaker.position()
        if where[0] is not None and where != last:
            last = where
            try:
                await session.report_playback(where[1], item_id=where[0])
            except ProtocolError:
                pass  # an item of a connection that is gone: nothing to truncate
        await session.send_audio(frame)


async def run_talk(
    session: RealtimeSession,
    microphone: AsyncIterator[AudioFrame],
    speaker: Speaker,
    *,
    on_event: Callable[[Event], Awaitable[None] | None] | None = None,
) -> None:
    """Hold a spoken conversation: microphone → `session` → `speaker`, until it ends.

    Sends every microphone block with ``session.send_audio``, plays every
    `AudioOut` on `speaker`, and on `Interrupted` clears the speaker at once.
    The heard position is reported to the session before each microphone
    block, so an OpenAI barge-in truncates the assistant's item where the
    listener stopped hearing it (accurate to one microphone block plus the
    device latency PortAudio reports). Every event, audio included, is passed
    to `on_event` (a plain or async function) after that routing.

    Returns when the session's events end (a local close). Cancellation (Ctrl+C,
    a deadline) stops both directions and returns nothing; the session stays
    open for the caller to close.

    Raises:
        ConnectionLost: the connection ended (raised by ``session.events()``).
        SessionClosed: the session was closed while audio was being sent.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_pump_microphone, session, microphone, speaker)
        async for event in session.events():
            kind = type(event)
            if kind is AudioOut:
                assert isinstance(event, AudioOut)
                # Gemini's audio has no item id: its response id keys the position.
                key = event.item_id if event.item_id is not None else event.response_id
                speaker.play(event.frame, item_id=key)
            elif kind is Interrupted:
                speaker.clear()
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result
        nursery.cancel_scope.cancel()
