"""Show the model a picture, or a few frames of "video", then ask about it.

    python examples/images.py --frames 3 "What do you see?"

Images go in as encoded JPEG or PNG bytes with `session.send_image`. Gemini
takes them as video frames of the live input (send at most about one frame per
second); OpenAI adds each one to the conversation as an image message. With
Pillow installed (the ``image`` extra) the frames are drawn and encoded as
JPEG; without it, a tiny PNG is built by hand with the standard library.
"""

from __future__ import annotations

import struct
import zlib

import trio
from _common import parser, provider_config, run

import trio_realtime as rt


def png_by_hand(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, made with zlib and struct only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width  # filter byte 0 ("none"), then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def make_frames(count: int, *, use_pillow: bool) -> list[tuple[bytes, str]]:
    """`count` frames of a red square sliding across a blue background, as (bytes, MIME type)."""
    if use_pillow:
        try:
            import io

            from PIL import Image, ImageDraw
        except ImportError:
            print("Pillow is not installed; using a hand-made PNG instead.")
        else:
            frames = []
            for i in range(count):
                image = Image.new("RGB", (320, 240), (30, 60, 160))
                x = 20 + i * 60
                ImageDraw.Draw(image).rectangle((x, 90, x + 60, 150), fill=(220, 30, 30))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=80)
                frames.append((buffer.getvalue(), "image/jpeg"))
            print(f"Drew {count} JPEG frame(s) with Pillow.")
            return frames
    frames = [
        (png_by_hand(64, 48, (30, 60, 160 + 20 * (i % 4))), "image/png") for i in range(count)
    ]
    print(f"Built {count} PNG frame(s) by hand.")
    return frames


async def main() -> None:
    p = parser("Send images (or video frames) and ask about them.")
    p.add_argument("question", nargs="?", default="What do you see?")
    p.add_argument("--frames", type=int, default=3, help="how many frames to send (default: 3)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between frames")
    p.add_argument("--no-pillow", action="store_true", help="build the PNG by hand")
    args = p.parse_args()

    frames = make_frames(args.frames, use_pillow=not args.no_pillow)
    async with provider_config(args.provider, fake=args.fake) as config:
        async with rt.connect(config) as session:
            for i, (data, mime_type) in enumerate(frames):
                await session.send_image(data, mime_type)  # added to the input, no reply yet
                print(f"sent frame {i + 1}: {len(data)} bytes of {mime_type}")
                await trio.sleep(args.interval)
            print(f"you: {args.question}")
            await session.send_text(args.question)  # now ask for a reply
            async for event in session.events():
                match event:
                    case rt.Transcript(role="assistant", text=text, final=True):
                        print(f"assistant: {text}")
                    case rt.TurnDone(status=status):
                        print(f"(turn {status})")
                        break


if __name__ == "__main__":
    run(main)
