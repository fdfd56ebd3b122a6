"""The clients the benchmarks measure, and the worker process that measures one of them.

Each client opens S sessions to the load server at once; each session does the
provider's handshake, then sends N chunks of 20 ms input audio as fast as it
can while it reads N chunks of 20 ms output audio, each decoded into an int16
numpy array, and ends when the server confirms it received all of the input.

- ``bare``: trio-websocket with a reader and a writer loop per session;
  ``json.loads`` + ``base64.b64decode`` + ``np.frombuffer`` per message in,
  ``base64.b64encode`` + ``json.dumps`` of a pre-made chunk per message out.
  The socket knobs are the ones our transport uses (message queue 4096,
  16 MiB messages, Trio's 64 KiB reads), not trio-websocket's defaults.
- ``ours``: ``trio_realtime.connect`` with `AudioFrame` chunks through
  ``session.send_audio`` and `AudioOut` events from ``session.events()``.
- ``sdk``: the official packages (asyncio). OpenAI: ``openai``'s
  ``client.realtime.connect``, iterating the connection's parsed events and
  sending with ``conn.input_audio_buffer.append``. Gemini: ``google-genai``'s
  ``client.aio.live.connect``, iterating ``session.receive()`` and sending
  with ``session.send_realtime_input(audio=...)``; that SDK always dials
  ``wss://``, so its WebSocket URL is pointed at the plain loopback server by
  replacing two attributes of its API client (TLS would cost it CPU the
  others do not pay).

`measure` runs one client in this process and returns CPU seconds
(`time.process_time`); ``python -m benchmarks.clients`` does it in a fresh
process and prints the result as JSON, which is how the benchmark driver
keeps the clients from affecting each other (and gets each one's peak RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import attrs
import numpy as np
import trio
import trio_websocket

import trio_realtime as rt
from trio_realtime.gemini.protocol import INPUT_SAMPLE_RATE as GEMINI_INPUT_RATE

from .loadserver import CHUNK_MS, GEMINI_PATH, OPENAI_PATH, OUTPUT_RATE, pcm_chunk

__all__ = ["CLIENTS", "Result", "measure", "run_client"]

OPENAI_INPUT_RATE = 24000
#: Per client kind, the providers it can run.
CLIENTS: dict[str, tuple[str, ...]] = {
    "bare": ("openai", "gemini"),
    "ours": ("openai", "gemini"),
    "sdk": ("openai", "gemini"),
}
_MAX_MESSAGE = 16 * 1024 * 1024
_QUEUE = 4096
_OUT_BYTES = OUTPUT_RATE * CHUNK_MS // 1000 * 2


@attrs.define
class Result:
    """What one measured run did."""

    client: str
    provider: str
    sessions: int
    chunks: int
    cpu_s: float
    wall_s: float
    chunks_in: int
    bytes_in: int
    maxrss_kib: int = 0
    rss_before_kib: int = 0
    user_s: float = 0.0
    sys_s: float = 0.0

    @property
    def rss_growth_kib(self) -> int:
        """How far the peak RSS rose above the RSS at the start of the measured run."""
        return max(0, self.maxrss_kib - self.rss_before_kib) if self.rss_before_kib else 0

    @property
    def session_seconds(self) -> float:
        """Seconds of audio each way, summed over sessions."""
        return self.sessions * self.chunks * CHUNK_MS / 1000

    @property
    def cpu_ms_per_session_second(self) -> float:
        """Client CPU per second of session (both directions)."""
        return self.cpu_s * 1000 / self.session_seconds

    @property
    def user_ms_per_session_second(self) -> float:
        """The user-space part of `cpu_ms_per_session_second` (the kernel's is socket work)."""
        return self.user_s * 1000 / self.session_seconds

    def check(self) -> None:
        """Raise `RuntimeError` unless every session got all of its audio."""
        want = self.sessions * self.chunks
        if self.chunks_in != want or self.bytes_in != want * _OUT_BYTES:
            raise RuntimeError(
                f"{self.client}/{self.provider}: received {self.chunks_in} chunks "
                f"({self.bytes_in} bytes), expected {want} ({want * _OUT_BYTES} bytes)"
            )


@attrs.define
class _Tally:
    chunks: int = 0
    nbytes: int = 0


# --------------------------------------------------------------------------- bare


async def _bare_openai(url: str, chunks: int, tally: _Tally) -> None:
    pcm = pcm_chunk(OPENAI_INPUT_RATE)
    async with trio_websocket.open_websocket_url(
        url,
        extra_headers=[(b"Authorization", b"Bearer bench")],
        message_queue_size=_QUEUE,
        max_message_size=_MAX_MESSAGE,
        receive_buffer_size=None,
        connect_timeout=10,
        disconnect_timeout=10,
    ) as ws:
        created = json.loads(await ws.get_message())
        assert created["type"] == "session.created", created["type"]
        await ws.send_message(
            json.dumps({"type": "session.update", "session": {"type": "realtime"}})
        )
        while json.loads(await ws.get_message())["type"] != "session.updated":
            pass

        async def writer() -> None:
            for _ in range(chunks):
                b64 = base64.b64encode(pcm).decode("ascii")
                await ws.send_message(
                    json.dumps({"type": "input_audio_buffer.append", "audio": b64})
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            while True:
                d = json.loads(await ws.get_message())
                kind = d["type"]
                if kind == "response.output_audio.delta":
                    samples = np.frombuffer(base64.b64decode(d["delta"]), dtype="<i2")
                    tally.chunks += 1
                    tally.nbytes += samples.nbytes
                elif kind == "input_audio_buffer.committed":
                    break


async def _bare_gemini(url: str, chunks: int, tally: _Tally) -> None:
    pcm = pcm_chunk(GEMINI_INPUT_RATE)
    async with trio_websocket.open_websocket_url(
        url,
        extra_headers=[(b"x-goog-api-key", b"bench")],
        message_queue_size=_QUEUE,
        max_message_size=_MAX_MESSAGE,
        receive_buffer_size=None,
        connect_timeout=10,
        disconnect_timeout=10,
    ) as ws:
        await ws.send_message(
            json.dumps(
                {
                    "setup": {
                        "model": "models/gemini-live",
                        "generationConfig": {"responseModalities": ["AUDIO"]},
                    }
                }
            )
        )
        assert "setupComplete" in json.loads(await ws.get_message())

        async def writer() -> None:
            for _ in range(chunks):
                b64 = base64.b64encode(pcm).decode("ascii")
                await ws.send_message(
                    json.dumps(
                        {
                            "realtimeInput": {
                                "audio": {"mimeType": "audio/pcm;rate=16000", "data": b64}
                            }
                        }
                    )
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            while True:
                content = json.loads(await ws.get_message()).get("serverContent", {})
                turn = content.get("modelTurn")
                if turn is not None:
                    for part in turn["parts"]:
                        inline = part.get("inlineData")
                        if inline is not None:
                            samples = np.frombuffer(base64.b64decode(inline["data"]), dtype="<i2")
                            tally.chunks += 1
                            tally.nbytes += samples.nbytes
                if content.get("turnComplete"):
                    break


# --------------------------------------------------------------------------- ours


async def _ours(
    config: rt.OpenAIRealtime | rt.GeminiLive, rate: int, chunks: int, tally: _Tally
) -> None:
    frame = rt.AudioFrame.from_bytes(pcm_chunk(rate), rate)
    done = rt.InputCommitted if isinstance(config, rt.OpenAIRealtime) else rt.ResponseDone
    async with rt.connect(config) as session:

        async def writer() -> None:
            for _ in range(chunks):
                await session.send_audio(frame)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            async for event in session.events():
                if type(event) is rt.AudioOut:
                    tally.chunks += 1
                    tally.nbytes += event.frame.samples.nbytes
                elif type(event) is done:
                    break


def _ours_openai(url: str, chunks: int, tally: _Tally) -> Awaitable[None]:
    config = rt.OpenAIRealtime(
        url=url, api_key="bench", connection=rt.ConnectionOptions(ping_interval=None)
    )
    return _ours(config, OPENAI_INPUT_RATE, chunks, tally)


def _ours_gemini(url: str, chunks: int, tally: _Tally) -> Awaitable[None]:
    config = rt.GeminiLive(
        url=url,
        api_key="bench",
        connection=rt.ConnectionOptions(ping_interval=None, reconnect=False),
    )
    return _ours(config, GEMINI_INPUT_RATE, chunks, tally)


# --------------------------------------------------------------------------- official SDK


async def _sdk_openai(port: int, chunks: int, tally: _Tally) -> None:
    from openai import AsyncOpenAI

    pcm = pcm_chunk(OPENAI_INPUT_RATE)
    client = AsyncOpenAI(api_key="bench", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    async with client.realtime.connect(
        model="gpt-realtime",
        extra_query={"chunks": str(chunks)},
        # websockets would otherwise honour proxy settings from the environment.
        websocket_connection_options=cast(Any, {"proxy": None}),
    ) as conn:
        created = await conn.recv()
        assert created.type == "session.created", created.type
        await conn.session.update(session={"type": "realtime"})
        while (await conn.recv()).type != "session.updated":
            pass

        async def writer() -> None:
            for _ in range(chunks):
                await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

        task = asyncio.create_task(writer())
        try:
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    samples = np.frombuffer(base64.b64decode(event.delta), dtype="<i2")
                    tally.chunks += 1
                    tally.nbytes += samples.nbytes
                elif event.type == "input_audio_buffer.committed":
                    break
        finally:
            await task
    await client.close()


async def _sdk_gemini(port: int, chunks: int, tally: _Tally) -> None:
    from google import genai
    from google.genai import types

    pcm = pcm_chunk(GEMINI_INPUT_RATE)
    client = genai.Client(api_key="bench")
    api = client._api_client
    for name in ("_websocket_base_url", "_websocket_ssl_ctx"):
        if not hasattr(api, name):
            raise RuntimeError(
                f"google-genai's API client has no {name} any more: update the benchmark's "
                "way of pointing the SDK at the ws:// load server"
            )
    # The SDK builds wss://<host>/ws/...; the load server reads chunks=N off the path.
    base = f"ws://127.0.0.1:{port}/chunks={chunks}"
    api._websocket_base_url = lambda http_options=None: base  # type: ignore[method-assign]
    # Passed to websockets' connect: no TLS context for ws://, and no proxy.
    api._websocket_ssl_ctx = {"proxy": None}
    config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])
    async with client.aio.live.connect(model="gemini-live", config=config) as session:

        async def writer() -> None:
            for _ in range(chunks):
                await session.send_realtime_input(
                    audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000")
                )

        task = asyncio.create_task(writer())
        try:
            # Ends after the message with turnComplete.
            async for message in session.receive():
                content = message.server_content
                if content is None or content.model_turn is None:
                    continue
                for part in content.model_turn.parts or ():
                    if part.inline_data is not None and part.inline_data.data is not None:
                        samples = np.frombuffer(part.inline_data.data, dtype="<i2")
                        tally.chunks += 1
                        tally.nbytes += samples.nbytes
        finally:
            await task


# --------------------------------------------------------------------------- running


_TRIO_SESSIONS: dict[tuple[str, str], Callable[[str, int, _Tally], Awaitable[None]]] = {
    ("bare", "openai"): _bare_openai,
    ("bare", "gemini"): _bare_gemini,
    ("ours", "openai"): _ours_openai,
    ("ours", "gemini"): _ours_gemini,
}


def _url(port: int, provider: str, chunks: int) -> str:
    path = GEMINI_PATH if provider == "gemini" else OPENAI_PATH
    return f"ws://127.0.0.1:{port}{path}?chunks={chunks}"


def run_client(
    client: str, provider: str, port: int, sessions: int, chunks: int, timeout: float
) -> _Tally:
    """Run `sessions` sessions of `client` against the load server on `port`, at once.

    Raises:
        ValueError: an unknown client or provider.
        trio.TooSlowError / TimeoutError: the run took over `timeout` seconds.
    """
    if provider not in CLIENTS.get(client, ()):
        raise ValueError(f"no {client!r} client for {provider!r}")
    tally = _Tally()
    if client == "sdk":
        one_sdk = _sdk_openai if provider == "openai" else _sdk_gemini

        async def sdk_main() -> None:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(one_sdk(port, chunks, tally) for _ in range(sessions)))

        asyncio.run(sdk_main())
        return tally
    one = _TRIO_SESSIONS[client, provider]
    url = _url(port, provider, chunks)

    async def trio_main() -> None:
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                for _ in range(sessions):
                    nursery.start_soon(one, url, chunks, tally)

    trio.run(trio_main)
    return tally


def _current_rss_kib() -> int:
    """This process's resident set size now (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize() // 1024


def measure(
    client: str,
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    *,
    timeout: float = 300.0,
    warmup: bool = True,
) -> Result:
    """Measure one client's CPU time in this process (after an unmeasured warm-up run).

    Raises:
        RuntimeError: a session did not receive all of its audio.
    """
    if warmup:
        run_client(client, provider, port, 1, 10, timeout)
    gc.collect()
    rss_before = _current_rss_kib()
    wall0 = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = time.process_time()
    tally = run_client(client, provider, port, sessions, chunks, timeout)
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - wall0
    result = Result(
        client=client,
        provider=provider,
        sessions=sessions,
        chunks=chunks,
        cpu_s=cpu,
        wall_s=wall,
        chunks_in=tally.chunks,
        bytes_in=tally.nbytes,
        maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        rss_before_kib=rss_before,
        user_s=usage.ru_utime - usage0.ru_utime,
        sys_s=usage.ru_stime - usage0.ru_stime,
    )
    result.check()
    return result


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.clients CLIENT PROVIDER --port P --sessions S --chunks N``."""
    parser = argparse.ArgumentParser(description="Measure one benchmark client (prints JSON).")
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("provider", choices=("openai", "gemini"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    result = measure(
        args.client, args.provider, args.port, args.sessions, args.chunks, timeout=args.timeout
    )
    json.dump(attrs.asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
