"""Video frames at a chosen rate (trio_realtime.video)."""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.video import (
    EncodedImage,
    VideoForwarder,
    encode_jpeg,
    frames_from_capture,
    frames_from_folder,
)

PIL = pytest.importorskip("PIL.Image")


class Recorder:
    """Stands in for a session: records when each image was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes, str]] = []

    async def send_image(self, data: bytes, mime_type: str = "image/jpeg") -> None:
        self.sent.append((trio.current_time(), data, mime_type))
        await trio.lowlevel.checkpoint()


def tagged(i: int) -> EncodedImage:
    return EncodedImage(b"\xff\xd8\xff" + str(i).encode(), "image/jpeg")


def index_of(data: bytes) -> int:
    return int(data[3:])


async def camera(video: VideoForwarder, seconds: float, fps: float = 30.0) -> dict[int, float]:
    """Submit numbered frames at `fps` for `seconds`; return when each was submitted."""
    when: dict[int, float] = {}
    for i in range(int(seconds * fps)):
        when[i] = trio.current_time()
        video.submit(i)
        await trio.sleep(1 / fps)
    return when


async def test_frames_go_out_at_fps_newest_first(autojump_clock: trio.abc.Clock) -> None:
    session = Recorder()

    async def encode(frame: int) -> EncodedImage:
        await trio.lowlevel.checkpoint()
        return tagged(frame)

    video = VideoForwarder(session, fps=2, encoder=encode)
    async with trio.open_nursery() as nursery:
        await nursery.start(video.run)
        start = trio.current_time()
        when = await camera(video, 5.0)
        video.close()
    times = [t - start for t, _, _ in session.sent]
    assert len(times) == 10  # 5 s at 2 fps
    assert all(b - a >= 0.5 - 1e-9 for a, b in itertools.pairwise(times))
    for t, data, _ in session.sent:
        i = index_of(data)
        assert when[i] <= t
        # The newest frame at that moment, not an older queued one.
        assert all(when[j] > t for j in when if j > i)
    assert video.stats.sent == 10
    assert video.stats.submitted == 150
    assert video.stats.replaced >= 130


async def test_a_slow_encoder_never_sends_stale_frames(autojump_clock: trio.abc.Clock) -> None:
    session = Recorder()
    started: list[tuple[float, int]] = []

    async def slow(frame: int) -> EncodedImage:
        started.append((trio.current_time(), frame))
        await trio.sleep(3.0)  # far slower than the 1 fps asked for
        return tagged(frame)

    video = VideoForwarder(session, fps=1, encoder=slow)
    async with trio.open_nursery() as nursery:
        await nursery.start(video.run)
        when = await camera(video, 10.0)
        video.close()
    # One encode at a time, each of the newest frame when it began.
    assert [index_of(d) for _, d, _ in session.sent] == [f for _, f in started]
    for began, frame in started:
        newer = [j for j in when if j > frame and when[j] <= began]
        assert newer == [], f"frame {frame} was stale: {newer} were already there"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(started)]
    assert all(g >= 3.0 for g in gaps)  # paced by the encoder, no backlog
    assert len(session.sent) == 4


async def test_pause_and_resume(autojump_clock: trio.abc.Clock) -> None:
    session = Recorder()

    async def encode(frame: int) -> EncodedImage:
        await trio.lowlevel.checkpoint()
        return tagged(frame)

    video = VideoForwarder(session, fps=1, encoder=encode)
    async with trio.open_nursery() as nursery:
        await nursery.start(video.run)
        start = trio.current_time()
        video.submit(1)
        await trio.sleep(1.5)
        video.pause()
        assert video.paused
        for i in range(2, 6):
            video.submit(i)
            await trio.sleep(1)
        assert len(session.sent) == 1  # nothing while paused
        video.resume()
        await trio.sleep(0.1)
        video.close()
    assert [(t - start, index_of(d)) for t, d, _ in session.sent] == [(0.0, 1), (5.5, 5)]


async def test_fps_must_be_positive() -> None:
    with pytest.raises(rt.ConfigurationError, match="fps must be a positive number"):
        VideoForwarder(Recorder(), fps=0)


async def test_a_frame_the_encoder_refuses_is_skipped(autojump_clock: trio.abc.Clock) -> None:
    session = Recorder()

    async def encode(frame: Any) -> EncodedImage:
        # encode_jpeg in this task, not a worker thread: the mock clock
        # would jump ahead while a thread runs.
        await trio.lowlevel.checkpoint()
        return encode_jpeg(frame)

    video = VideoForwarder(session, fps=10, encoder=encode)
    async with trio.open_nursery() as nursery:
        await nursery.start(video.run)
        video.submit(b"not an image")
        await trio.sleep(0.5)
        video.submit(np.zeros((8, 8, 3), np.uint8))
        await trio.sleep(0.5)
        video.close()
    assert video.stats.failed == 1
    assert [m for _, _, m in session.sent] == ["image/jpeg"]


# --------------------------------------------------------------------------- encoding


def test_encode_numpy_pil_and_bytes() -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (255, 0, 0)
    jpeg = encode_jpeg(rgb)
    assert jpeg.mime_type == "image/jpeg"
    image = PIL.open(io.BytesIO(jpeg.data))
    assert image.size == (64, 48)
    r, g, b = image.getpixel((8, 24))
    assert r > 200
    assert g < 60
    assert b < 60
    assert encode_jpeg(PIL.new("RGBA", (10, 10))).mime_type == "image/jpeg"
    png = io.BytesIO()
    PIL.new("RGB", (4, 4)).save(png, format="PNG")
    assert encode_jpeg(png.getvalue()) == EncodedImage(png.getvalue(), "image/png")  # as is
    grey = encode_jpeg(np.full((4000, 2000), 128, np.uint8), max_side=1000)
    assert PIL.open(io.BytesIO(grey.data)).size == (500, 1000)


def test_encode_respects_the_size_cap() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    big = encode_jpeg(noise, max_bytes=10**7)
    small = encode_jpeg(noise, max_bytes=30_000)
    assert len(big.data) > 100_000
    assert len(small.data) <= 30_000
    with pytest.raises(ValueError, match="not a JPEG or PNG"):
        encode_jpeg(b"GIF89a...")
    with pytest.raises(ValueError, match="uint8"):
        encode_jpeg(np.zeros((4, 4), np.float32))


# --------------------------------------------------------------------------- sources


async def test_frames_from_folder(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    for i, color in enumerate(["red", "green"]):
        PIL.new("RGB", (8, 8), color).save(tmp_path / f"{i}.png")
    PIL.new("RGB", (8, 8), "blue").save(tmp_path / "2.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    got: list[tuple[float, Any]] = []
    async for frame in frames_from_folder(tmp_path, fps=2):
        got.append((trio.current_time(), frame))
    assert [t - got[0][0] for t, _ in got] == [0.0, 0.5, 1.0]
    assert got[0][1][:8] == b"\x89PNG\r\n\x1a\n"
    assert got[2][1].getpixel((0, 0)) == (0, 0, 255)  # BMP: decoded


class FakeCV2:
    """Stands in for OpenCV: a 'video file' of numbered 2x2 BGR frames at 30 fps."""

    CAP_PROP_FPS = 5
    COLOR_BGR2RGB = 4

    class VideoCapture:
        def __init__(self, source: str | int) -> None:
            self.i = 0
            self.opened = source != "missing.mp4"
            self.released = False

        def isOpened(self) -> bool:
            return self.opened

        def get(self, prop: int) -> float:
            return 30.0

        def grab(self) -> bool:
            self.i += 1
            return self.i <= 90

        def read(self) -> tuple[bool, Any]:
            self.i += 1
            if self.i > 90:
                return False, None
            return True, np.full((2, 2, 3), self.i, np.uint8)

        def release(self) -> None:
            self.released = True

    @staticmethod
    def cvtColor(frame: Any, code: int) -> Any:
        return frame[..., ::-1]


async def test_frames_from_a_video_file(autojump_clock: trio.abc.Clock) -> None:
    frames = [f async for f in frames_from_capture("clip.mp4", fps=1, backend=FakeCV2)]
    assert [int(f[0, 0, 0]) for f in frames] == [30, 60, 90]  # one frame a second of video
    with pytest.raises(rt.ConfigurationError, match=r"cannot open the video source 'missing\.mp4'"):
        async for _ in frames_from_capture("missing.mp4", backend=FakeCV2):
            pass  # pragma: no cover


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_session_video_reaches_the_fake_at_the_rate(provider: str) -> None:
    from trio_realtime.testing.server import open_fake_server

    frame = np.zeros((120, 160, 3), np.uint8)
    with trio.fail_after(30):
        async with open_fake_server(speed=math.inf) as server:
            url = server.openai_url if provider == "openai" else server.gemini_url()
            cls = rt.OpenAIRealtime if provider == "openai" else rt.GeminiLive
            with no_leaked_tasks():
                async with rt.connect(cls(url=url, api_key="fake-key")) as session:
                    video = session.start_video(fps=4)  # a task in the session's nursery
                    for _ in range(40):  # 1 s of a 40 fps camera
                        video.submit(frame)
                        await trio.sleep(0.025)
                # Leaving the block stopped the forwarder with the session.
            received = [json.loads(m) for m in server.connections[0].received]
    if provider == "gemini":
        frames = [
            m["realtimeInput"]["video"] for m in received if "video" in m.get("realtimeInput", {})
        ]
        assert all(f["mimeType"] == "image/jpeg" for f in frames)
    else:
        frames = [
            c
            for m in received
            if m.get("type") == "conversation.item.create"
            for c in m["item"]["content"]
            if c["type"] == "input_image"
        ]
        assert all(c["image_url"].startswith("data:image/jpeg;base64,") for c in frames)
    assert 2 <= len(frames) <= 5  # at most 4 a second (+ the first at once)
    assert video.stats.sent == len(frames)


async def test_an_idle_video_forwarder_stops_with_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The forwarder waits for the next frame; leaving the block must stop it
    # (it used to stop only when the close caught it sending: a hang otherwise).
    from trio_realtime.testing.server import open_fake_server

    with trio.fail_after(10):
        async with open_fake_server(speed=math.inf) as server:
            with no_leaked_tasks():
                async with rt.connect(rt.GeminiLive(url=server.gemini_url(), api_key="k")) as s:
                    sent = trio.Event()
                    send_image = s.send_image

                    async def send_and_tell(data: bytes, mime_type: str = "image/jpeg") -> None:
                        await send_image(data, mime_type)
                        sent.set()

                    monkeypatch.setattr(s, "send_image", send_and_tell)
                    video = s.start_video(fps=50)
                    video.submit(np.zeros((8, 8, 3), np.uint8))
                    await sent.wait()
                    await trio.sleep(0.05)  # the forwarder is back waiting for a frame
    assert video.stats.sent == 1


async def test_start_video_on_a_closed_session_is_refused() -> None:
    from trio_realtime.testing.server import open_fake_server

    with trio.fail_after(10):
        async with open_fake_server() as server:
            async with rt.connect(rt.GeminiLive(url=server.gemini_url(), api_key="k")) as session:
                pass
    with pytest.raises(rt.SessionClosed):
        session.start_video()
