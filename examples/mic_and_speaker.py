"""Talk with the model through your microphone and speaker, with barge-in.

    pip install 'trio-realtime[audio]'      # sounddevice (and PortAudio)
    python examples/mic_and_speaker.py --provider gemini

Speak; the reply plays on the speaker. Start talking while it plays and the
server cuts it off (barge-in): the session delivers `Interrupted`, and
`trio_realtime.devices.run_talk` clears the speaker at once, so the old reply
stops mid-word (and, on OpenAI, the conversation is truncated where you
stopped hearing it). Use headphones, or the model will hear itself and
interrupt its own replies. Ctrl+C ends the conversation (or ``--seconds N``,
or ``--replies N``: after N complete replies have played).

When sounddevice, PortAudio or an audio device is missing, the example says so
in one line and exits with status 1. ``trio-realtime talk`` is the same with
a level meter, streaming transcripts and per-reply latency.
"""

from __future__ import annotations

import math
import sys

import trio
from _common import parser, provider_config, run

import trio_realtime as rt
from trio_realtime.devices import AudioDeviceError, Microphone, Speaker, check_devices, run_talk


async def converse(session: rt.RealtimeSession, seconds: float | None, replies: int | None) -> None:
    # Record and play at the provider's rates: no resampling.
    async with (
        Microphone(session.protocol.input_sample_rate) as microphone,
        Speaker(session.protocol.output_sample_rate) as speaker,
    ):
        print("Listening. Speak now (Ctrl+C to stop).")
        completed = 0
        with trio.move_on_after(seconds or math.inf), trio.CancelScope() as done:

            async def on_event(event: rt.Event) -> None:
                nonlocal completed
                match event:
                    case rt.Interrupted():
                        print("(interrupted: playback buffer cleared)")
                    case rt.Transcript(role=role, text=text, final=True):
                        print(f"{role}: {text}")
                    case rt.TurnDone(status="completed"):
                        completed += 1
                        if replies is not None and completed >= replies:
                            await speaker.drain()  # let it play out
                            done.cancel()

            await run_talk(session, microphone, speaker, on_event=on_event)


async def main() -> None:
    p = parser("Microphone and speaker conversation with barge-in.")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--replies", type=int, default=None, help="stop after this many replies")
    args = p.parse_args()
    failure = None
    try:
        check_devices()  # before connecting: say at once what is missing
        # The fake server paces its replies in real time here, as a live model would.
        async with provider_config(args.provider, fake=args.fake, speed=1.0) as config:
            async with rt.connect(config) as session:
                await converse(session, args.seconds, args.replies)
    except* AudioDeviceError as group:  # the fake server's nursery may wrap it in a group
        failure = group.exceptions[0]
    if failure is not None:
        sys.exit(f"mic_and_speaker: {failure}")


if __name__ == "__main__":
    run(main)
