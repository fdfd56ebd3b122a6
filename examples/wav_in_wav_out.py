"""Send a WAV file as the user's spoken turn and save the spoken reply as a WAV file.

    python examples/wav_in_wav_out.py question.wav --output answer.wav

Without an input file it first synthesizes one (``user.wav``) with the
library's deterministic test voice. Without an API key in the environment it
talks to the embedded fake server, which "hears" what that voice says.
"""

from __future__ import annotations

import sys

from _common import parser, provider_config, run

import trio_realtime as rt
from trio_realtime.testing.voice import split_frame, user_utterance

# The rate each provider takes input audio at. Any rate works (send_audio
# resamples), but the fake server's "speech recognition" reads a transcript
# hidden in the samples' lowest bits, which only survives when no resampling
# happens, so the synthetic voice is made at the provider's own rate.
INPUT_RATE = {"openai": 24000, "gemini": 16000}


async def main() -> None:
    p = parser("Send a WAV file as the user's turn; save the reply as WAV.")
    p.add_argument("input", nargs="?", help="16-bit PCM WAV file (default: synthesize one)")
    p.add_argument("--output", "-o", default="reply.wav", help="where to save the reply audio")
    p.add_argument("--say", default="What is the capital of France?", help="text to synthesize")
    args = p.parse_args()

    if args.input is None:
        speech = user_utterance(args.say, INPUT_RATE[args.provider])
        rt.write_wav("user.wav", speech)
        print(f"Synthesized {speech.duration:.1f} s of speech saying {args.say!r} into user.wav")
    else:
        try:
            speech = rt.read_wav(args.input)  # 16-bit PCM, any rate, mono or stereo
        except (rt.AudioError, OSError) as exc:
            sys.exit(f"wav_in_wav_out: cannot read {args.input}: {exc}")
        print(f"Read {speech.duration:.1f} s of audio from {args.input}")

    async with provider_config(args.provider, fake=args.fake) as config:
        async with rt.connect(config) as session:
            # Stream the file in 20 ms chunks, as a microphone would, then one
            # second of silence so the server's voice activity detection hears
            # the end of the turn even when the file stops right after the speech.
            for chunk in split_frame(speech, 20):
                await session.send_audio(chunk)
            await session.send_audio(rt.AudioFrame.silence(1.0, speech.sample_rate))
            await session.flush_audio()

            audio: list[rt.AudioFrame] = []
            async for event in session.events():
                match event:
                    case rt.SpeechStarted():
                        print("(the server heard speech start)")
                    case rt.Transcript(role=role, text=text, final=True):
                        print(f"{role}: {text}")
                    case rt.AudioOut(frame=frame):
                        audio.append(frame)
                    case rt.TurnDone(status=status):
                        print(f"(turn {status})")
                        break

    reply = rt.AudioFrame.join(audio) if audio else rt.AudioFrame.silence(0.0, 24000)
    rt.write_wav(args.output, reply)
    print(f"Saved {reply.duration:.1f} s of reply audio to {args.output}")


if __name__ == "__main__":
    run(main)
