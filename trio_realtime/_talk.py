"""The ``talk`` subcommand of ``trio-realtime``: a spoken conversation through the
microphone and the speaker (`trio_realtime.devices`), against the live service
when the provider's key is set and the embedded fake server otherwise.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from typing import TextIO

import trio

from ._console import TranscriptPrinter, meter
from .devices import Device, Microphone, Speaker, import_sounddevice, list_devices, run_talk
from .errors import ServerError
from .events import (
    Event,
    Interrupted,
    ResponseDone,
    ServerErrorEvent,
    Transcript,
    TurnMetrics,
)
from .session import connect

__all__ = ["print_devices", "run_talk_command"]

#: How often the level meter is redrawn (terminals only).
METER_INTERVAL = 0.1


def device_arg(value: str | None) -> Device:
    """``--device`` takes an index or a part of a device's name."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def print_devices(out: TextIO) -> int:
    """Print the audio devices (``talk --list-devices``)."""
    devices = list_devices()
    if not devices:
        out.write("No audio devices found.\n")
        return 0
    for d in devices:
        marks = [
            m
            for m, on in (("default input", d.default_input), ("default output", d.default_output))
            if on
        ]
        extra = f"  ({', '.join(marks)})" if marks else ""
        out.write(
            f"{d.index:3d}  {d.name}  [in {d.max_input_channels}, out {d.max_output_channels}, "
            f"{d.default_samplerate:g} Hz]{extra}\n"
        )
    out.flush()
    return 0


class _Turns:
    """Per-turn bookkeeping for the printed transcript, latency and barge-ins."""

    def __init__(self, printer: TranscriptPrinter, speaker: Speaker, replies: int | None) -> None:
        self.printer = printer
        self.speaker = speaker
        self.replies = replies
        self.completed: set[str | None] = set()  # replies received whole, not cut off
        self.stop = trio.Event()

    def on_event(self, event: Event) -> None:
        match event:
            case TurnMetrics(time_to_first_audio=latency) if latency is not None:
                # The session's measurement: end of the user's input -> first audio.
                self.printer.line(
                    f"(reply began {latency * 1000:.0f} ms after the end of your turn)"
                )
            case Interrupted(response_id=rid):
                self.completed.discard(rid)  # it had arrived whole, but was cut off playing
                _item, played_ms = self.speaker.position()
                self.printer.line(
                    f"(interrupted: playback stopped after {played_ms / 1000:.2f} s of the reply)"
                )
            case Transcript(role=role, text=text, final=False):
                self.printer.partial(role, text)
            case Transcript(role=role, text=text, final=True) if text.strip():
                self.printer.final(role, text)
            case ServerErrorEvent(fatal=True) as err:
                raise ServerError(err.message, code=err.code, fatal=True)
            case ServerErrorEvent(message=message):
                self.printer.line(f"(service error: {message})")
            case ResponseDone(status="completed", response_id=rid):
                self.completed.add(rid)
                if self.enough():
                    self.stop.set()

    def enough(self) -> bool:
        return self.replies is not None and len(self.completed) >= self.replies


async def _meter(mic: Microphone, printer: TranscriptPrinter) -> None:
    while True:
        printer.status(meter(mic.level))
        await trio.sleep(METER_INTERVAL)


async def run_talk_command(args: argparse.Namespace, live: bool) -> int:
    """Talk through the microphone and speaker until Ctrl+C, ``--seconds`` or ``--replies``."""
    from .apps import _target

    import_sounddevice()  # one clear line before anything else when the extra is missing
    in_dev = device_arg(args.input_device) if args.input_device else device_arg(args.device)
    out_dev = device_arg(args.output_device) if args.output_device else device_arg(args.device)
    show_meter = sys.stdout.isatty() and not args.no_meter
    printer = TranscriptPrinter(sys.stdout, live=sys.stdout.isatty(), partials=sys.stdout.isatty())
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        # The fake server paces its replies in real time, as a live model does.
        async with _target(args, live, speed=1.0) as config, connect(config) as session:
            mic = Microphone(session.protocol.input_sample_rate, device=in_dev)
            speaker = Speaker(session.protocol.output_sample_rate, device=out_dev)
            async with mic, speaker:
                print(
                    f"Listening on {mic.name!r}, playing on {speaker.name!r}. "
                    "Speak now (Ctrl+C to stop).",
                    flush=True,
                )
                turns = _Turns(printer, speaker, args.replies)
                limit = args.seconds if args.seconds else math.inf
                with trio.move_on_after(limit):
                    async with trio.open_nursery() as nursery:

                        async def until_stopped() -> None:
                            while True:
                                await turns.stop.wait()
                                await speaker.drain()  # let the last reply play out
                                if turns.enough():  # …unless the user cut it off
                                    nursery.cancel_scope.cancel()
                                    return
                                turns.stop = trio.Event()

                        async def until_signal() -> None:
                            async for _ in signals:
                                nursery.cancel_scope.cancel()
                                return

                        nursery.start_soon(until_stopped)
                        nursery.start_soon(until_signal)
                        if show_meter:
                            nursery.start_soon(_meter, mic, printer)
                        await run_talk(session, mic, speaker, on_event=turns.on_event)
                        nursery.cancel_scope.cancel()
                printer.close()
                if mic.dropped:
                    print(f"({mic.dropped} microphone blocks dropped: the loop was behind)")
                print("Bye.", flush=True)
    return 0
