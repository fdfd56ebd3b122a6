"""The load server of the benchmarks: a small trio-websocket server on 127.0.0.1.

It runs in its own process (`LoadServer` starts it) so that its CPU time does
not count against the clients being measured. It speaks just enough of each
protocol for one benchmark session:

OpenAI Realtime (any path not naming Gemini's service)
    ``session.created`` -> (client ``session.update``) -> ``session.updated``,
    then ``response.created`` and N ``response.output_audio.delta`` (20 ms of
    24 kHz PCM16 each) sent as fast as the client reads them, while it counts
    N ``input_audio_buffer.append`` from the client. Once both are done it
    sends ``input_audio_buffer.committed``: the client's signal that the
    server received all of its audio.

Gemini Live (a path containing ``BidiGenerateContent``)
    (client ``setup``) -> ``setupComplete``, then N
    ``serverContent.modelTurn.parts[].inlineData`` audio chunks (20 ms of
    24 kHz) while it counts N ``realtimeInput`` (or, in proto JSON's other
    spelling, ``realtime_input``) messages, then
    ``serverContent.turnComplete``. Every server message is JSON in a binary
    frame, as the real service sends it.

N comes from ``chunks=N`` in the URL: a query parameter, or a path segment
for clients that build the path themselves (``/chunks=N/ws/…``). Every message is
built once, up front, with our codecs (which also checks its shape); the
deltas cycle through one second of distinct messages.

Paced mode (``pace=1`` beside ``chunks=N``): the server waits for the
client's first input chunk, then sends delta i at ``start + i * 20 ms`` on a
deadline timer, like a service speaking in real time. Each paced delta
carries the server's send time: the first 8 bytes of its PCM are replaced by
``time.monotonic_ns()`` (little-endian int64, a clock every process on the
machine shares), taken right before the bytes go to the socket (after the
connection's write lock, so the server's own scheduling is not counted), which `sent_ns` reads back from the received samples, so a
client can measure delivery latency without trusting its own pacing.

Barge-in mode (``bargein=K`` beside ``pace=1``): after paced chunk i
whenever ``(i + 1 + P) % K == 0`` (``phase=P``, default 0, spreads sessions'
barge-ins apart; never after the last chunk of the run), the server barges
in the way each service does, then starts a new response:

1. a burst of ``burst=B`` chunks (default 10) of the current response, back
   to back: audio generated ahead of real time, still in flight towards the
   client (or in its buffers) when the barge-in frame arrives;
2. the barge-in frame, stamped: OpenAI ``input_audio_buffer.speech_started``,
   Gemini ``serverContent.interrupted: true``. Its send time
   (``time.monotonic_ns()``) and the number of the response it cuts (0 for
   the first) travel as extra top-level fields the decoders keep in
   ``extra``: ``bench_sent_ns`` and ``bench_cut`` (OpenAI),
   ``benchSentNs`` and ``benchCut`` (Gemini);
3. ``trail=T`` more chunks (default 3) of the interrupted response, sent
   after the barge-in frame: output that was already on its way when the
   service cancelled the response (the services document no ordering
   between the barge-in and the end of the cancelled output);
4. the end of the cut response: OpenAI ``response.output_audio.done`` and
   ``response.done`` (status ``cancelled``, reason ``turn_detected``),
   Gemini ``turnComplete``;
5. the next response: OpenAI ``response.created`` with a new response id,
   its deltas carrying that id and a new item id; Gemini's next model turn
   simply starts.

In barge-in mode every chunk carries, after its 8-byte send time, the number
of its response (little-endian int32 in PCM bytes 8–11, `response_tag`), so
a client can tell stale audio (a response cut by a barge-in it has already
handled) from the server's ground truth, whatever ids the client keeps.
Chunks of the bursts and trails come on top of the ``chunks=N`` paced ones.

``--tls-ca FILE`` also serves ``wss://`` on a second port (printed as
``TLSPORT <n>``) with a certificate from a throwaway CA (trustme) whose PEM
it writes to FILE.

Run as ``python -m benchmarks.loadserver``: it prints ``PORT <n>`` once it
listens, and exits when its standard input closes, after ``--lifetime``
seconds, or when terminated.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import selectors
import ssl
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import attrs
import numpy as np
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket
from wsproto.events import BytesMessage, TextMessage

from trio_realtime.gemini.codec import decode_server_message
from trio_realtime.openai import messages as m
from trio_realtime.openai.codec import decode_server_event, encode_server_event

__all__ = [
    "BURST",
    "CHUNK_MS",
    "GEMINI_PATH",
    "OPENAI_PATH",
    "OUTPUT_RATE",
    "TRAIL",
    "LoadServer",
    "gemini_bargein",
    "gemini_messages",
    "openai_bargein",
    "openai_messages",
    "pcm_chunk",
    "response_tag",
    "sent_ns",
]

#: Every audio chunk, both ways, is this long.
CHUNK_MS = 20
#: Output audio rate of both providers.
OUTPUT_RATE = 24000
#: URL paths the clients dial (the server only looks for ``BidiGenerateContent``).
OPENAI_PATH = "/v1/realtime"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
#: Distinct delta messages built up front (one second of audio), sent in turn.
_DISTINCT = 1000 // CHUNK_MS
#: How long one connection may last at most.
_CONNECTION_LIMIT = 600.0
_MAX_MESSAGE = 16 * 1024 * 1024
_RESPONSE_ID = "resp_BenchLoadServer00001"
_CHUNKS = re.compile(r"(?:^|[/?&])chunks=(\d+)(?:$|[/&])")
_PACE = re.compile(r"(?:^|[/?&])pace=1(?:$|[/&])")
_BARGEIN = re.compile(r"(?:^|[/?&])bargein=(\d+)(?:$|[/&])")
_BURST = re.compile(r"(?:^|[/?&])burst=(\d+)(?:$|[/&])")
_TRAIL = re.compile(r"(?:^|[/?&])trail=(\d+)(?:$|[/&])")
_PHASE = re.compile(r"(?:^|[/?&])phase=(\d+)(?:$|[/&])")
#: Barge-in mode's defaults: chunks sent back to back before the barge-in
#: frame, and chunks of the cut response sent after it.
BURST = 10
TRAIL = 3
#: Base64 characters of a barge-in mode stamp: 12 PCM bytes (time, response number).
_TAG_CHARS = 16
#: Base64 characters that carry the send time: 9 PCM bytes (8 of time, 1 kept).
_STAMP_CHARS = 12
_ITEM_ID = "item_BenchLoadServer00001"


def pcm_chunk(rate: int, index: int = 0, ms: int = CHUNK_MS) -> bytes:
    """20 ms (by default) of a 440 Hz tone as PCM16 little-endian, continuing at chunk `index`."""
    n = rate * ms // 1000
    t = (np.arange(n) + index * n) / rate
    return (np.sin(2 * math.pi * 440.0 * t) * 8000).astype("<i2").tobytes()


def sent_ns(samples: np.ndarray[Any, Any]) -> int:
    """The server's send time (``time.monotonic_ns()``) carried by a paced delta's samples."""
    return int(np.frombuffer(samples.data, dtype="<i8", count=1)[0])


def response_tag(samples: np.ndarray[Any, Any]) -> int:
    """The number of the response a barge-in mode chunk belongs to (0 for the first)."""
    return int(np.frombuffer(samples.data, dtype="<i4", count=1, offset=8)[0])


def _audio_offset(message: str | bytes, key: str) -> int:
    """Where a delta message's base64 audio starts (where the send time goes)."""
    text = message if isinstance(message, str) else message.decode()
    return text.index(f'"{key}":"') + len(key) + 4


def _stamp(message: str | bytes, offset: int, pcm_byte: int) -> str | bytes:
    """`message` with its first PCM bytes replaced by the current monotonic time."""
    b64 = base64.b64encode(struct.pack("<qB", time.monotonic_ns(), pcm_byte))
    if isinstance(message, bytes):
        return message[:offset] + b64 + message[offset + _STAMP_CHARS :]
    return message[:offset] + b64.decode() + message[offset + _STAMP_CHARS :]


def _stamp_tagged(message: str | bytes, offset: int, response: int) -> str | bytes:
    """`message` with its first 12 PCM bytes replaced by the current time and `response`."""
    b64 = base64.b64encode(struct.pack("<qi", time.monotonic_ns(), response))
    if isinstance(message, bytes):
        return message[:offset] + b64 + message[offset + _TAG_CHARS :]
    return message[:offset] + b64.decode() + message[offset + _TAG_CHARS :]


async def _send_stamped(ws: WebSocketConnection, make: Callable[[], str | bytes]) -> None:
    """Send the message `make` builds (stamping it), built once the write lock is held.

    trio-websocket's ``send_message`` frames the message and then takes the
    connection's write lock, which is a scheduling point: with many
    connections the task waits there behind every other ready task, and a
    stamp taken before it would count that wait, the server's, as delivery
    latency. Here the stamp, the framing and the socket write follow one
    another with no scheduling point in between. This uses trio-websocket's
    private attributes (0.12, the version pyproject pins).

    Raises:
        ConnectionClosed: the connection is gone.
    """
    async with ws._stream_lock:
        message = make()
        event = TextMessage(message) if isinstance(message, str) else BytesMessage(message)
        data = ws._wsproto.send(event)
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await ws._abort_web_socket()
            raise ConnectionClosed(ws._close_reason) from None


def _event_id(kind: str, i: int) -> str:
    return f"event_{kind}{i:015d}"


def openai_bargein(cut: int, sent: int) -> dict[str, Any]:
    """OpenAI's barge-in frame cutting response `cut`, stamped with `sent` (monotonic ns)."""
    return {
        "type": "input_audio_buffer.speech_started",
        "event_id": _event_id("S", cut),
        "audio_start_ms": 0,
        "item_id": "item_BenchLoadServerUser1",
        "bench_sent_ns": sent,
        "bench_cut": cut,
    }


def gemini_bargein(cut: int, sent: int) -> dict[str, Any]:
    """Gemini's barge-in frame cutting response `cut`, stamped with `sent` (monotonic ns)."""
    return {"serverContent": {"interrupted": True}, "benchSentNs": sent, "benchCut": cut}


def _bargein_frame(openai: bool, cut: int) -> str | bytes:
    """The barge-in frame cutting response `cut`, stamped now, as the provider sends it."""
    make = openai_bargein if openai else gemini_bargein
    frame = json.dumps(make(cut, time.monotonic_ns()), separators=(",", ":"))
    return frame if openai else frame.encode()


def _renumber(message: str, response: int) -> str:
    """An OpenAI message of response 0 made one of response `response` (same length)."""
    if response == 0:
        return message
    n = f"{response + 1:05d}"
    return message.replace(_RESPONSE_ID, _RESPONSE_ID[:-5] + n).replace(_ITEM_ID, _ITEM_ID[:-5] + n)


def openai_messages() -> dict[str, Any]:
    """The server's OpenAI messages, as wire text, each checked by our decoder."""

    def wire(d: dict[str, Any]) -> str:
        return encode_server_event(decode_server_event(json.dumps(d)))

    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_BenchLoadServer0001",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 1767233035,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "marin",
                "speed": 1.0,
            },
        },
        "include": None,
    }
    created = wire({"type": "session.created", "event_id": _event_id("C", 0), "session": session})
    updated = wire({"type": "session.updated", "event_id": _event_id("U", 0), "session": session})
    response = wire(
        {
            "type": "response.created",
            "event_id": _event_id("R", 0),
            "response": {
                "object": "realtime.response",
                "id": _RESPONSE_ID,
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "conversation_id": "conv_BenchLoadServer0001",
                "output_modalities": ["audio"],
                "max_output_tokens": "inf",
                "audio": {
                    "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}
                },
                "usage": None,
                "metadata": None,
            },
        }
    )
    deltas = [
        encode_server_event(
            m.ResponseOutputAudioDelta(
                event_id=_event_id("A", i),
                response_id=_RESPONSE_ID,
                item_id=_ITEM_ID,
                output_index=0,
                content_index=0,
                delta=pcm_chunk(OUTPUT_RATE, i),
            )
        )
        for i in range(_DISTINCT)
    ]
    cut_response = dict(json.loads(response)["response"])
    cut_response.update(
        status="cancelled",
        status_details={"type": "cancelled", "reason": "turn_detected"},
        output=[
            {
                "id": _ITEM_ID,
                "type": "message",
                "object": "realtime.item",
                "status": "incomplete",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": ""}],
            }
        ],
    )
    # Barge-in mode: the end of a cut response (ids swapped per response).
    cut = [
        wire(
            {
                "type": "response.output_audio.done",
                "event_id": _event_id("D", 0),
                "response_id": _RESPONSE_ID,
                "item_id": _ITEM_ID,
                "output_index": 0,
                "content_index": 0,
            }
        ),
        wire({"type": "response.done", "event_id": _event_id("X", 0), "response": cut_response}),
    ]
    # The barge-in frame: checked here, built with its stamp at each barge-in.
    wire(openai_bargein(0, 0))
    committed = wire(
        {
            "type": "input_audio_buffer.committed",
            "event_id": _event_id("M", 0),
            "previous_item_id": None,
            "item_id": "item_BenchLoadServerUser1",
        }
    )
    return {
        "created": created,
        "updated": updated,
        "response": response,
        "deltas": deltas,
        "committed": committed,
        "cut": cut,
    }


def gemini_messages() -> dict[str, Any]:
    """The server's Gemini messages, as UTF-8 JSON bytes, each checked by our decoder."""

    def wire(d: dict[str, Any]) -> bytes:
        data = json.dumps(d, separators=(",", ":")).encode()
        decode_server_message(data)
        return data

    deltas = [
        wire(
            {
                "serverContent": {
                    "modelTurn": {
                        "role": "model",
                        "parts": [
                            {
                                "inlineData": {
                                    "mimeType": "audio/pcm;rate=24000",
                                    "data": base64.b64encode(pcm_chunk(OUTPUT_RATE, i)).decode(),
                                }
                            }
                        ],
                    }
                }
            }
        )
        for i in range(_DISTINCT)
    ]
    wire(gemini_bargein(0, 0))
    return {
        "setup_complete": wire({"setupComplete": {}}),
        "deltas": deltas,
        "turn_complete": wire({"serverContent": {"turnComplete": True}}),
    }


def _number(pattern: re.Pattern[str], path: str, default: int) -> int:
    found = pattern.search(path)
    return default if found is None else int(found.group(1))


@attrs.frozen
class _BargeIn:
    """Barge-in mode's parameters (see the module's docstring)."""

    every: int
    burst: int
    trail: int
    phase: int


class _Server:
    def __init__(self) -> None:
        self.openai = openai_messages()
        self.gemini = gemini_messages()
        # Per delta: where its base64 audio starts and its 9th PCM byte (kept).
        pcm9 = [pcm_chunk(OUTPUT_RATE, i)[8] for i in range(_DISTINCT)]
        self.stamps: dict[str, list[tuple[int, int]]] = {
            "openai": [
                (_audio_offset(d, "delta"), b)
                for d, b in zip(self.openai["deltas"], pcm9, strict=True)
            ],
            "gemini": [
                (_audio_offset(d, "data"), b)
                for d, b in zip(self.gemini["deltas"], pcm9, strict=True)
            ],
        }

    async def handle(self, request: WebSocketRequest) -> None:
        parts = urlsplit(request.path)
        found = _CHUNKS.search(request.path)
        if found is None:
            await request.reject(400, body=b"say how many chunks: chunks=N in the query or path")
            return
        chunks = int(found.group(1))
        paced = _PACE.search(request.path) is not None
        bargein = _number(_BARGEIN, request.path, 0)
        if bargein and not paced:
            await request.reject(400, body=b"bargein=K needs pace=1")
            return
        barge = (
            _BargeIn(
                bargein,
                _number(_BURST, request.path, BURST),
                _number(_TRAIL, request.path, TRAIL),
                _number(_PHASE, request.path, 0) % bargein,
            )
            if bargein
            else None
        )
        ws = await request.accept()
        try:
            with trio.move_on_after(_CONNECTION_LIMIT):
                if "BidiGenerateContent" in parts.path:
                    await self._gemini(ws, chunks, paced, barge)
                else:
                    await self._openai(ws, chunks, paced, barge)
                # Wait for the client to close.
                while True:
                    await ws.get_message()
        except ConnectionClosed:
            pass
        except BaseExceptionGroup as group:
            # ConnectionClosed out of _stream's nursery; anything else is a bug.
            _closed, rest = group.split(ConnectionClosed)
            if rest is not None:
                traceback.print_exception(rest, file=sys.stderr)
        except Exception:
            # One client's trouble must not take the server down: report it.
            traceback.print_exc(file=sys.stderr)

    async def _stream(
        self,
        ws: WebSocketConnection,
        chunks: int,
        deltas: list[str] | list[bytes],
        markers: tuple[str, ...],
        last: str | bytes,
        stamps: list[tuple[int, int]] | None = None,
        barge: _BargeIn | None = None,
    ) -> None:
        """Send `chunks` deltas while counting `chunks` client messages with one of `markers`.

        With `stamps` (paced), delta i goes out at 20 ms steps from the
        client's first input chunk, carrying its send time; with `barge`
        too, a barge-in follows every `barge.every` chunks of a response.
        """
        received = 0
        got_all = trio.Event()
        got_first = trio.Event()

        async def count() -> None:
            nonlocal received
            while received < chunks:
                msg = await ws.get_message()
                if isinstance(msg, bytes):
                    msg = msg.decode()
                if any(marker in msg for marker in markers):
                    received += 1
                    got_first.set()
            got_all.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(count)
            k = len(deltas)
            if barge is not None:
                assert stamps is not None
                await got_first.wait()
                await self._barge_in_stream(ws, chunks, deltas, stamps, barge)
            elif stamps is None:
                for i in range(chunks):
                    await ws.send_message(deltas[i % k])
            else:
                await got_first.wait()
                start = trio.current_time()
                for i in range(chunks):
                    await trio.sleep_until(start + i * CHUNK_MS / 1000)
                    offset, pcm_byte = stamps[i % k]
                    await _send_stamped(ws, partial(_stamp, deltas[i % k], offset, pcm_byte))
            await got_all.wait()
        await ws.send_message(last)

    async def _barge_in_stream(
        self,
        ws: WebSocketConnection,
        chunks: int,
        deltas: list[str] | list[bytes],
        stamps: list[tuple[int, int]],
        barge: _BargeIn,
    ) -> None:
        """Barge-in mode: paced chunks, and a barge-in after every `barge.every` of a response."""
        openai = isinstance(deltas[0], str)
        k = len(deltas)
        d = 0  # the next distinct delta
        response = 0  # the response being sent

        async def chunk() -> None:
            nonlocal d
            message = deltas[d % k]
            if openai:
                assert isinstance(message, str)
                message = _renumber(message, response)
            await _send_stamped(ws, partial(_stamp_tagged, message, stamps[d % k][0], response))
            d += 1

        start = trio.current_time()
        for i in range(chunks):
            await trio.sleep_until(start + i * CHUNK_MS / 1000)
            await chunk()
            if (i + 1 + barge.phase) % barge.every or i == chunks - 1:
                continue
            for _ in range(barge.burst):
                await chunk()
            await _send_stamped(ws, partial(_bargein_frame, openai, response))
            for _ in range(barge.trail):
                await chunk()
            if openai:
                for message in self.openai["cut"]:
                    await ws.send_message(_renumber(message, response))
                response += 1
                await ws.send_message(_renumber(self.openai["response"], response))
            else:
                await ws.send_message(self.gemini["turn_complete"])
                response += 1

    async def _openai(
        self, ws: WebSocketConnection, chunks: int, paced: bool, barge: _BargeIn | None
    ) -> None:
        msgs = self.openai
        await ws.send_message(msgs["created"])
        first = await ws.get_message()
        if not isinstance(first, str) or '"session.update"' not in first:
            await ws.aclose(1008, "expected session.update")
            return
        await ws.send_message(msgs["updated"])
        await ws.send_message(msgs["response"])
        await self._stream(
            ws,
            chunks,
            msgs["deltas"],
            ("input_audio_buffer.append",),
            msgs["committed"],
            self.stamps["openai"] if paced else None,
            barge,
        )

    async def _gemini(
        self, ws: WebSocketConnection, chunks: int, paced: bool, barge: _BargeIn | None
    ) -> None:
        msgs = self.gemini
        first = await ws.get_message()
        if '"setup"' not in (first if isinstance(first, str) else first.decode()):
            await ws.aclose(1008, "expected setup")
            return
        await ws.send_message(msgs["setup_complete"])
        # Proto JSON: the official SDK sends ``realtime_input``.
        markers = ("realtimeInput", "realtime_input")
        await self._stream(
            ws,
            chunks,
            msgs["deltas"],
            markers,
            msgs["turn_complete"],
            self.stamps["gemini"] if paced else None,
            barge,
        )


async def _watch_stdin(cancel: trio.CancelScope) -> None:
    # Ends the server when the parent goes away (its end of the pipe closes).
    await trio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
    cancel.cancel()


def _tls_context(ca_file: str) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 from a new CA written to `ca_file`."""
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


async def serve(lifetime: float, *, watch_stdin: bool = True, tls_ca: str | None = None) -> None:
    """Serve on 127.0.0.1 (a free port, printed as ``PORT <n>``) for at most `lifetime` s.

    With `tls_ca`, also serve ``wss://`` on a second port (``TLSPORT <n>``),
    the CA's PEM written to that file.
    """
    server = _Server()
    contexts: list[ssl.SSLContext | None] = [None]
    if tls_ca is not None:
        contexts.append(_tls_context(tls_ca))
    with trio.move_on_after(lifetime) as scope:
        async with trio.open_nursery() as nursery:
            for context in contexts:
                listener = await nursery.start(
                    lambda task_status, context=context: serve_websocket(
                        server.handle,
                        "127.0.0.1",
                        0,
                        context,
                        message_queue_size=4096,
                        max_message_size=_MAX_MESSAGE,
                        receive_buffer_size=None,
                        connect_timeout=10,
                        disconnect_timeout=10,
                        task_status=task_status,
                    )
                )
                print(f"{'TLSPORT' if context else 'PORT'} {listener.port}", flush=True)
            if watch_stdin:
                nursery.start_soon(_watch_stdin, scope)


class LoadServer:
    """The load server in a child process: ``with LoadServer() as server: server.port``.

    Raises:
        RuntimeError: the server did not report its port within `start_timeout`.
    """

    def __init__(
        self, *, lifetime: float = 3600.0, start_timeout: float = 60.0, tls_ca: str | None = None
    ) -> None:
        self.lifetime = lifetime
        self.start_timeout = start_timeout
        self.tls_ca = tls_ca
        self.port = 0
        #: The ``wss://`` port when `tls_ca` was given (clients trust that CA file).
        self.tls_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux ``/proc``; 0.0 elsewhere)."""
        if self._proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # utime and stime: fields 14 and 15 of stat, counted from the state (field 3).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def url(self, path: str, chunks: int, **query: str) -> str:
        """A ``ws://`` URL of this server asking for `chunks` chunks each way."""
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}{path}?chunks={chunks}{extra}"

    def __enter__(self) -> LoadServer:
        root = Path(__file__).resolve().parent.parent
        cmd = [sys.executable, "-m", "benchmarks.loadserver", "--lifetime", str(self.lifetime)]
        if self.tls_ca is not None:
            cmd += ["--tls-ca", self.tls_ca]
        # Unbuffered: each readline takes one line off the pipe, so select sees the next.
        self._proc = subprocess.Popen(
            cmd, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        try:
            self.port = self._read_port("PORT")
            if self.tls_ca is not None:
                self.tls_port = self._read_port("TLSPORT")
        except BaseException:
            self._stop()
            raise
        return self

    def _read_port(self, word: str) -> int:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(self.start_timeout):
                raise RuntimeError(f"the load server did not start within {self.start_timeout:g} s")
        line = proc.stdout.readline().decode().strip()
        if not line.startswith(f"{word} "):
            raise RuntimeError(f"the load server did not start (it said {line!r})")
        return int(line.split()[1])

    def _stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m benchmarks.loadserver [--lifetime SECONDS]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lifetime", type=float, default=3600.0)
    parser.add_argument("--tls-ca", help="also serve wss://, writing the CA's PEM to this file")
    args = parser.parse_args(argv)
    trio.run(partial(serve, args.lifetime, tls_ca=args.tls_ca))


if __name__ == "__main__":
    main()
