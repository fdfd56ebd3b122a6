"""Video at a chosen frame rate: the latest frame, encoded off the event loop, sent at `fps`.

A camera produces 30 frames a second; a realtime model wants about one (each
frame costs input tokens: Gemini counts ~258 per frame at the default
resolution, and every OpenAI frame becomes a conversation item). The
`VideoForwarder` keeps only the most recent frame submitted, and at most
`fps` times a second encodes it as JPEG in a worker thread (Pillow, the
``image`` extra) under a size cap and sends it with ``session.send_image``:
Gemini receives ``realtimeInput.video``, OpenAI a user image item. A slow
encoder never builds a backlog: while one frame is being encoded, newer
submissions replace each other, and the next send takes the newest.

``session.start_video(fps=1)`` starts a forwarder in the session's own
nursery and returns it; a `VideoForwarder` can also run as one task in a
nursery of yours::

    async with trio.open_nursery() as nursery:
        video = VideoForwarder(session, fps=1)
        nursery.start_soon(video.run)
        video.submit(camera_frame)   # numpy RGB array, PIL image, JPEG/PNG bytes

`frames_from_folder` and `frames_from_capture` (OpenCV, when installed) feed
a forwarder from image files or a video file or camera.
"""

from __future__ import annotations

import inspect
import io
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from .errors import ConfigurationError

__all__ = [
    "EncodedImage",
    "VideoForwarder",
    "VideoStatistics",
    "check_encoder",
    "encode_jpeg",
    "frames_from_capture",
    "frames_from_folder",
]

#: Largest encoded frame sent by default (bytes). Gemini takes up to ~7 MB
#: inline, but a realtime model gains nothing from more than a few hundred KB.
DEFAULT_MAX_BYTES = 256 * 1024
#: Frames larger than this (longest side, pixels) are scaled down before encoding.
DEFAULT_MAX_SIDE = 1024


@attrs.frozen
class EncodedImage:
    """An image ready to send: encoded bytes and their MIME type."""

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    mime_type: str = "image/jpeg"


def _sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


def check_encoder() -> None:
    """Check that the default encoder can run (Pillow is installed).

    Raises:
        ConfigurationError: Pillow is missing.
    """
    _pil()


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ConfigurationError(
            "Encoding video frames needs Pillow: pip install 'trio-realtime[image]'"
        ) from exc
    return Image


def encode_jpeg(
    frame: Any,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = 80,
) -> EncodedImage:
    """Encode a frame as JPEG no larger than `max_bytes`; blocking (run it in a thread).

    `frame` is a numpy array (``(h, w, 3)`` RGB or ``(h, w)`` grey, uint8), a
    PIL image, or already-encoded JPEG/PNG bytes (sent as they are when small
    enough, else decoded and re-encoded). The image is scaled down to
    `max_side` pixels on its longest side; when the result is still over
    `max_bytes`, lower qualities and then smaller sizes are tried.

    Raises:
        ConfigurationError: Pillow is missing.
        ValueError: `frame` is not an image, or cannot fit in `max_bytes`.
    """
    if isinstance(frame, EncodedImage):
        frame = frame.data
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        mime = _sniff(data)
        if mime is not None and len(data) <= max_bytes:
            return EncodedImage(data, mime)
        if mime is None:
            raise ValueError("the bytes are not a JPEG or PNG image")
    Image = _pil()
    if isinstance(frame, bytes):
        image = Image.open(io.BytesIO(frame))
    elif isinstance(frame, Image.Image):
        image = frame
    else:
        import numpy as np

        array = np.asarray(frame)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise ValueError(
                f"a frame array must be uint8 shaped (h, w) or (h, w, 3), got {array.dtype} "
                f"{array.shape}"
            )
        image = Image.fromarray(array)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    for _ in range(8):
        for q in (quality, 60, 40, 25):
            if q > quality:
                continue
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=q)
            if out.tell() <= max_bytes:
                return EncodedImage(out.getvalue(), "image/jpeg")
        w, h = image.size
        if min(w, h) <= 16:
            break
        image = image.resize((max(1, w * 3 // 4), max(1, h * 3 // 4)))
    raise ValueError(f"the frame does not fit in {max_bytes} bytes even small and at low quality")


@attrs.define
class VideoStatistics:
    """Counters of a `VideoForwarder`."""

    submitted: int = 0
    sent: int = 0
    replaced: int = 0  # frames superseded by a newer one before they were sent
    bytes_sent: int = 0
    failed: int = 0  # frames the encoder refused (logged, skipped)


Encoder = Callable[[Any], "EncodedImage | bytes | Awaitable[EncodedImage | bytes]"]


class VideoForwarder:
    """Sends the latest submitted frame to a session, at most `fps` times a second.

    Args:
        session: the `RealtimeSession` (anything with ``send_image``).
        fps: frames per second at most (default 1). Each frame costs the
            model input tokens and, on OpenAI, a conversation item.
        max_bytes: size cap of an encoded frame.
        max_side: longest side in pixels before encoding.
        quality: JPEG quality to start from.
        encoder: replaces `encode_jpeg` (a plain function runs in a worker
            thread; an async one is awaited); returns `EncodedImage` or JPEG bytes.
    """

    def __init__(
        self,
        session: Any,
        *,
        fps: float = 1.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_side: int = DEFAULT_MAX_SIDE,
        quality: int = 80,
        encoder: Encoder | None = None,
    ) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise ConfigurationError(f"fps must be a positive number, got {fps!r}.")
        self.session = session
        self.fps = float(fps)
        self.max_bytes = max_bytes
        self.max_side = max_side
        self.quality = quality
        self._encoder = encoder
        # Room for one frame: `submit` replaces it when it was not taken yet.
        self._send, self._receive = trio.open_memory_channel[Any](1)
        self._resumed = trio.Event()
        self._resumed.set()
        self._closed = False
        self.stats = VideoStatistics()

    @property
    def paused(self) -> bool:
        """Whether sending is paused."""
        return not self._resumed.is_set()

    def pause(self) -> None:
        """Stop sending; frames submitted meanwhile replace each other, the latest waits."""
        if self._resumed.is_set():
            self._resumed = trio.Event()

    def resume(self) -> None:
        """Send again (the latest frame first, at most `fps` times a second)."""
        self._resumed.set()

    def submit(self, frame: Any) -> None:
        """Offer a frame (numpy array, PIL image or JPEG/PNG bytes); never waits.

        Replaces a frame submitted earlier and not sent yet. Call from Trio;
        from another thread use ``trio.from_thread.run_sync(video.submit, frame)``.

        Raises:
            trio.ClosedResourceError: the forwarder was closed.
        """
        self.stats.submitted += 1
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self._receive.receive_nowait()
            self.stats.replaced += 1
            self._send.send_nowait(frame)

    async def forward(self, frames: AsyncIterator[Any]) -> None:
        """Submit every frame of `frames` as it comes (a camera, a folder…), until it ends."""
        async for frame in frames:
            self.submit(frame)

    def close(self) -> None:
        """Stop: `run` returns once the frame in progress (if any) is sent; a frame
        still waiting for its slot is dropped."""
        self._closed = True
        self._send.close()
        self._resumed.set()  # a paused forwarder wakes up to stop

    def _stopping(self) -> bool:
        return self._closed

    async def _encode(self, frame: Any) -> EncodedImage:
        encoder = self._encoder
        if encoder is None:
            return await trio.to_thread.run_sync(
                lambda: encode_jpeg(
                    frame, max_bytes=self.max_bytes, max_side=self.max_side, quality=self.quality
                )
            )
        if inspect.iscoroutinefunction(encoder):
            out = await encoder(frame)
        else:
            out = await trio.to_thread.run_sync(encoder, frame)
            if inspect.isawaitable(out):
                out = await out
        if isinstance(out, EncodedImage):
            return out
        return EncodedImage(bytes(out), _sniff(bytes(out)) or "image/jpeg")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send frames until `close` (or cancellation); one task, in any nursery.

        Each send waits for the previous one's slot (``1 / fps`` after it
        started), then takes the newest frame, encodes it off the event loop
        and sends it. A frame the encoder refuses is counted and skipped.

        Raises:
            SessionClosed, ConnectionLost: the session ended (from ``send_image``).
        """
        period = 1.0 / self.fps
        next_at = -math.inf
        task_status.started()
        async with self._receive:
            while True:
                try:
                    frame = await self._receive.receive()
                except trio.EndOfChannel:
                    return
                if self._stopping():
                    return
                await self._resumed.wait()
                now = trio.current_time()
                if now < next_at:
                    await trio.sleep_until(next_at)
                # Frames that came while waiting replace this one: take the newest.
                while True:
                    try:
                        newer = self._receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    self.stats.replaced += 1
                    frame = newer
                if self._stopping():
                    return
                next_at = trio.current_time() + period
                try:
                    image = await self._encode(frame)
                except (ValueError, ConfigurationError) as exc:
                    self.stats.failed += 1
                    if isinstance(exc, ConfigurationError):
                        raise
                    continue
                await self.session.send_image(image.data, image.mime_type)
                self.stats.sent += 1
                self.stats.bytes_sent += len(image.data)


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


async def frames_from_folder(
    folder: str | os.PathLike[str], *, fps: float = 1.0, loop: bool = False
) -> AsyncIterator[bytes | Any]:
    """The image files of `folder` in name order, one every ``1 / fps`` seconds.

    JPEG and PNG files are yielded as their bytes (sent without re-encoding
    when small enough); other formats as PIL images.

    Raises:
        FileNotFoundError: `folder` does not exist or holds no image.
    """

    def images() -> list[Path]:
        return sorted(
            p for p in Path(folder).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()
        )

    paths = await trio.to_thread.run_sync(images)
    if not paths:
        raise FileNotFoundError(f"no image files in {folder}")
    while True:
        for path in paths:
            data = await trio.Path(path).read_bytes()
            yield data if _sniff(data) else await trio.to_thread.run_sync(_open_image, data)
            await trio.sleep(1.0 / fps)
        if not loop:
            return


def _open_image(data: bytes) -> Any:
    image = _pil().open(io.BytesIO(data))
    image.load()
    return image


async def frames_from_capture(
    source: int | str = 0, *, fps: float = 1.0, backend: Any = None
) -> AsyncIterator[Any]:
    """Frames of a camera (index) or a video file (path) through OpenCV, as RGB arrays.

    Reads in a worker thread at about `fps` (a camera's extra frames are
    skipped by grabbing without decoding). Needs ``opencv-python`` (not a
    dependency of trio_realtime); `backend` can stand in for the ``cv2`` module.

    Raises:
        ConfigurationError: OpenCV is missing, or the source cannot be opened.
    """
    cv2 = backend
    if cv2 is None:
        try:
            import cv2  # type: ignore[import-not-found, no-redef]
        except ImportError as exc:
            raise ConfigurationError(
                "Reading a camera or a video file needs OpenCV: pip install opencv-python"
            ) from exc
    capture = await trio.to_thread.run_sync(cv2.VideoCapture, source)
    try:
        if not capture.isOpened():
            raise ConfigurationError(f"OpenCV cannot open the video source {source!r}.")
        native = float(capture.get(cv2.CAP_PROP_FPS) or 0) or 30.0
        # A file: skip the frames between samples (grab without decoding).
        skip = max(0, round(native / fps) - 1) if isinstance(source, str) else 0

        def read() -> Any:
            for _ in range(skip):
                if not capture.grab():
                    return None
            ok, bgr = capture.read()
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok else None

        while True:
            frame = await trio.to_thread.run_sync(read)
            if frame is None:
                return
            yield frame
            await trio.sleep(1.0 / fps)
    finally:
        await trio.to_thread.run_sync(capture.release)
