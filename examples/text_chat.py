"""Send one text message, print the transcripts, save the spoken reply as a WAV file.

    python examples/text_chat.py "What is Trio?" --provider gemini --output reply.wav

Without an API key in the environment it talks to the embedded fake server.
"""

from __future__ import annotations

from _common import parser, provider_config, run

import trio_realtime as rt


async def main() -> None:
    p = parser("Send one text message; print the transcripts; save the spoken reply.")
    p.add_argument("message", nargs="?", default="Hello! Who are you?")
    p.add_argument("--output", "-o", default="reply.wav", help="where to save the reply audio")
    args = p.parse_args()

    async with provider_config(
        args.provider, fake=args.fake, instructions="You are friendly and brief."
    ) as config:
        async with rt.connect(config) as session:
            print(f"you: {args.message}")
            await session.send_text(args.message)  # adds a user message and asks for a reply

            audio: list[rt.AudioFrame] = []
            async for event in session.events():
                match event:
                    case rt.AudioOut(frame=frame):
                        audio.append(frame)  # 24 kHz mono chunks of the spoken reply
                    case rt.Transcript(role="assistant", text=text, final=True):
                        print(f"assistant: {text}")
                    case rt.TurnDone(status=status):
                        print(f"(turn {status})")
                        break  # one turn is all we wanted

    if audio:
        reply = rt.AudioFrame.join(audio)
        rt.write_wav(args.output, reply)
        print(f"Saved {reply.duration:.1f} s of reply audio to {args.output}")
    else:
        print("The reply had no audio.")


if __name__ == "__main__":
    run(main)
