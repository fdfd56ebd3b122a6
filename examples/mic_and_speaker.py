"""Talk with the model through your microphone and speaker, with barge-in.

    pip install 'trio-realtime[audio]'      # sounddevice (and PortAudio)
    python examples/mic_and_speaker.py --provider gemini

Speak; the reply plays on the speaker. Start talking while it plays and the
server cuts it off (barge-in): the session delivers `Interrupted` and this
example clears its playback buffer at once, so the old reply stops mid-word.
Use headphones, or the model will hear itself and interrupt its own replies.
Ctrl+C ends the conversation (or ``--seconds N``, or ``--replies N``: after N
complete replies have played).

When sounddevice, PortAudio or an audio device is missing, the example says so
in one line and exits with status 1.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import trio
from _common import parser, provider_config, run

import trio_realtime as rt

BLOCK_MS = 20  # microphone chunk size


class Player:
    """The speaker's playback buffer, shared with sounddevice's audio thread."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._pending: list[tuple[str | None, np.ndarray[Any, Any]]] = []  # (item id, samples)
        self.item_id: str | None = None  # the item being played
        self.played = 0  # samples of that item played so far

    def play(self, event: rt.AudioOut) -> None:
        with self._lock:
            self._pending.append((event.item_id, event.frame.to_mono().samples))

    def pending_seconds(self) -> float:
        """How long what is received but not played yet will take to play."""
        with self._lock:
            return sum(len(samples) for _, samples in self._pending) / self.sample_rate

    def clear(self) -> None:
        """Drop everything not played yet (barge-in)."""
        with self._lock:
            self._pending.clear()

    def played_ms(self) -> int:
        return self.played * 1000 // self.sample_rate

    def callback(
        self, outdata: np.ndarray[Any, Any], frames: int, _time: Any, _status: Any
    ) -> None:
        """Called by sounddevice's thread for every block the speaker needs."""
        out = outdata[:, 0]
        filled = 0
        with self._lock:
            while filled < frames and self._pending:
                item_id, samples = self._pending[0]
                if item_id != self.item_id:
                    self.item_id, self.played = item_id, 0
                n = min(frames - filled, len(samples))
                out[filled : filled + n] = samples[:n]
                filled += n
                self.played += n
                if n == len(samples):
                    self._pending.pop(0)
                else:
                    self._pending[0] = (item_id, samples[n:])
        out[filled:] = 0  # silence when there is nothing to play


def open_audio_device_library() -> Any:
    """Import sounddevice and check for a microphone and a speaker; exit in one line if not."""
    try:
        import sounddevice as sd  # imported here: it is an optional dependency
    except ImportError:
        sys.exit(
            "mic_and_speaker: sounddevice is not installed: pip install 'trio-realtime[audio]'"
        )
    except OSError as exc:  # the package is there, the PortAudio library is not
        sys.exit(f"mic_and_speaker: sounddevice cannot load PortAudio ({exc})")
    try:
        sd.query_devices(kind="input")
        sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as exc:
        sys.exit(f"mic_and_speaker: no usable microphone or speaker ({exc})")
    return sd


async def converse(
    sd: Any, session: rt.RealtimeSession, seconds: float | None, replies: int | None
) -> None:
    in_rate = session.protocol.input_sample_rate  # record at the provider's rate: no resampling
    player = Player(session.protocol.output_sample_rate)
    send, receive = trio.open_memory_channel[rt.AudioFrame](50)
    token = trio.lowlevel.current_trio_token()

    def on_microphone(indata: np.ndarray[Any, Any], frames: int, _time: Any, _status: Any) -> None:
        # sounddevice's thread: hand a copy to Trio without blocking; drop it if Trio is behind.
        frame = rt.AudioFrame(indata[:, 0].copy(), in_rate)
        try:
            token.run_sync_soon(_offer, send, frame)
        except trio.RunFinishedError:
            pass

    async def pump_microphone() -> None:
        async for frame in receive:
            await session.send_audio(frame)

    async def report_playback() -> None:
        # Tell the session how much of the reply was heard, so that on barge-in
        # the conversation is truncated where the user actually stopped listening.
        while True:
            await trio.sleep(0.25)
            if player.item_id is not None:
                await session.report_playback(player.played_ms(), item_id=player.item_id)

    microphone = sd.InputStream(
        samplerate=in_rate,
        channels=1,
        dtype="int16",
        blocksize=in_rate * BLOCK_MS // 1000,
        callback=on_microphone,
    )
    speaker = sd.OutputStream(
        samplerate=player.sample_rate, channels=1, dtype="int16", callback=player.callback
    )
    with microphone, speaker, trio.move_on_after(seconds if seconds else float("inf")):
        print("Listening. Speak now (Ctrl+C to stop).")
        completed = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump_microphone)
            nursery.start_soon(report_playback)
            async for event in session.events():
                match event:
                    case rt.AudioOut():
                        player.play(event)
                    case rt.Interrupted():
                        player.clear()  # barge-in: the rest of the old reply must not play
                        print("(interrupted: playback buffer cleared)")
                    case rt.Transcript(role=role, text=text, final=True):
                        print(f"{role}: {text}")
                    case rt.ResponseDone(status="completed"):
                        completed += 1
                        if replies is not None and completed >= replies:
                            await trio.sleep(player.pending_seconds() + 0.1)  # let it play out
                            break
            nursery.cancel_scope.cancel()


def _offer(send: trio.MemorySendChannel[rt.AudioFrame], frame: rt.AudioFrame) -> None:
    try:
        send.send_nowait(frame)
    except (trio.WouldBlock, trio.ClosedResourceError):
        pass  # a realtime microphone drops audio rather than falling behind


async def main() -> None:
    p = parser("Microphone and speaker conversation with barge-in.")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--replies", type=int, default=None, help="stop after this many replies")
    args = p.parse_args()
    sd = open_audio_device_library()
    failure = None
    try:
        # The fake server paces its replies in real time here, as a live model would.
        async with provider_config(args.provider, fake=args.fake, speed=1.0) as config:
            async with rt.connect(config) as session:
                await converse(sd, session, args.seconds, args.replies)
    except* sd.PortAudioError as group:  # e.g. the device refuses the sample rate
        failure = group.exceptions[0]
    if failure is not None:
        sys.exit(f"mic_and_speaker: the audio device failed ({failure})")


if __name__ == "__main__":
    run(main)
