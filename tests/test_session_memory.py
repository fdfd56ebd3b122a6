"""Memory a session holds for an application that stops reading: bounded in bytes.

A server floods the session with 512 KiB audio messages while the
application reads nothing. The event buffer keeps at most
``ConnectionOptions.max_queue_bytes`` of audio, dropping the oldest first,
and the process's resident memory grows by no more than the bound the
knob's documentation states (about 2.5 times the knob per session, plus the
working memory of the message being received). Without the byte bound the
same flood grows the process by the full 80 MiB (and more: the wire text).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import numpy as np
import pytest
import trio
import trio_websocket

import trio_realtime as rt
from trio_realtime.testing.leaks import no_leaked_tasks

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the resident size from /proc"
)

CHUNK = 512 * 1024  # bytes of PCM per message
MESSAGES = 160  # 80 MiB of audio in all
MIB = 1024 * 1024

Handler = Callable[[trio_websocket.WebSocketConnection, bytes], Awaitable[None]]


def rss() -> int:
    """The resident size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pcm() -> bytes:
    return (np.arange(CHUNK // 2) % 3000).astype("<i2").tobytes()


@asynccontextmanager
async def flood_server(script: Handler) -> AsyncIterator[str]:
    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await script(ws, pcm())
            await ws.get_message()  # until the client closes
        except trio_websocket.ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        yield f"ws://127.0.0.1:{server.port}"
        nursery.cancel_scope.cancel()


async def openai_flood(ws: trio_websocket.WebSocketConnection, audio: bytes) -> None:
    session = {"type": "realtime", "object": "realtime.session", "id": "sess_1"}
    await ws.send_message(
        json.dumps({"type": "session.created", "event_id": "e0", "session": session})
    )
    await ws.get_message()  # session.update
    await ws.send_message(
        json.dumps({"type": "session.updated", "event_id": "e1", "session": session})
    )
    response = {
        "object": "realtime.response",
        "id": "resp_1",
        "status": "in_progress",
        "output": [],
    }
    await ws.send_message(
        json.dumps({"type": "response.created", "event_id": "e2", "response": response})
    )
    delta = json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": "e3",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(audio).decode(),
        }
    )
    for _ in range(MESSAGES):
        await ws.send_message(delta)


async def gemini_flood(ws: trio_websocket.WebSocketConnection, audio: bytes) -> None:
    await ws.get_message()  # setup
    await ws.send_message(b'{"setupComplete": {}}')
    blob = {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(audio).decode()}
    chunk = json.dumps({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
    for _ in range(MESSAGES):
        await ws.send_message(chunk.encode())


def config(provider: str, url: str) -> rt.OpenAIRealtime | rt.GeminiLive:
    options = rt.ConnectionOptions(open_timeout=10, close_timeout=2, ping_interval=None)
    if provider == "openai":
        return rt.OpenAIRealtime(url=f"{url}/v1/realtime", api_key="k", connection=options)
    return rt.GeminiLive(url=f"{url}/ws/gemini", api_key="k", connection=options)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_an_app_that_stops_reading_holds_a_bounded_amount_of_audio(provider: str) -> None:
    script = openai_flood if provider == "openai" else gemini_flood
    bound = rt.ConnectionOptions().max_queue_bytes
    with trio.fail_after(60), no_leaked_tasks():
        async with flood_server(script) as url:
            async with rt.connect(config(provider, url)) as session:
                before = rss()
                peak = before

                def received() -> int:
                    stats = session.statistics()
                    return stats.overflow_audio_dropped + stats.bytes_buffered // CHUNK

                while received() < MESSAGES:
                    peak = max(peak, rss())
                    await trio.sleep(0.005)
                peak = max(peak, rss())
                stats = session.statistics()
    # What the buffer holds: never more audio than the knob.
    assert stats.bytes_buffered <= bound
    assert stats.bytes_buffered > bound - CHUNK  # full up to the bound, the rest dropped
    assert stats.overflow_audio_dropped == MESSAGES - stats.bytes_buffered // CHUNK
    assert stats.overflow_bytes_dropped == stats.overflow_audio_dropped * CHUNK
    # What the process holds (80 MiB came in): within the documented bound,
    # 2.5 x the knob for the buffered audio and what it keeps in `raw`, plus
    # the working memory of receiving and decoding a message (a few times
    # its wire size: the text, the parsed JSON, the decoded audio, the next
    # message arriving), counted generously as 8 messages.
    wire = len(base64.b64encode(pcm())) + 200
    allowed = 2.5 * bound + 8 * wire
    growth = peak - before
    assert growth < allowed, f"RSS grew by {growth / MIB:.1f} MiB (allowed {allowed / MIB:.1f})"
