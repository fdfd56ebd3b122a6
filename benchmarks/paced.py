"""The paced benchmark: voice sessions at real-time pace, measured in pairs.

Each client process opens S duplex sessions to the load server (paced mode),
waits until every session is connected and a start time both processes of a
pair share, then each session sends one 20 ms chunk every 20 ms on a deadline
timer while the server sends one 20 ms chunk every 20 ms from the first one
it receives, each stamped with its send time. The run ends when the server
confirms it got all of the input. What one worker reports (`PacedResult`):

- CPU (``time.process_time``) from the start time to the end, per
  session-second (one second of audio each way in one session);
- delivery latency of every received chunk: the server's send time to the
  moment the app holds the decoded samples (``monotonic_ns`` on both ends);
- RSS before connecting, with every session connected and idle, and at the
  end of the active run (Linux ``/proc``; 0 elsewhere).

The clients are those of `benchmarks.clients` made paced: ``bare`` (a reader
and a writer loop per session on trio-websocket, orjson, 64 KiB reads),
``ours`` (``send_audio`` + ``events()``, keepalive pings on as shipped) and
``sdk`` (the official asyncio SDKs). ``bare64`` is the bare loop with
pybase64's base64 instead of the standard library's (what trio_realtime
uses): a baseline for `run_paced`'s ``baseline`` that separates what the
library gains from a faster base64 from what it gains elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import gc
import json
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
import orjson
import pybase64
import trio
import trio_websocket

import trio_realtime as rt
from trio_realtime.gemini.protocol import INPUT_SAMPLE_RATE as GEMINI_INPUT_RATE

from .clients import _MAX_MESSAGE, _OUT_BYTES, _QUEUE, OPENAI_INPUT_RATE, _current_rss_kib
from .loadserver import CHUNK_MS, GEMINI_PATH, OPENAI_PATH, pcm_chunk, sent_ns

__all__ = ["PACED_CLIENTS", "PacedResult", "measure_paced"]

PACED_CLIENTS = ("bare", "bare64", "ours", "sdk")
_STEP = CHUNK_MS / 1000


@attrs.define
class PacedResult:
    """What one paced worker measured."""

    client: str
    provider: str
    tls: bool
    sessions: int
    chunks: int
    cpu_s: float
    wall_s: float
    chunks_in: int
    bytes_in: int
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    rss_base_kib: int
    rss_idle_kib: int
    rss_active_kib: int

    @property
    def session_seconds(self) -> float:
        """Seconds of audio each way, summed over sessions."""
        return self.sessions * self.chunks * _STEP

    @property
    def cpu_ms_per_session_second(self) -> float:
        """Client CPU per second of session (both directions)."""
        return self.cpu_s * 1000 / self.session_seconds

    @property
    def idle_kib_per_session(self) -> float:
        """RSS each connected, idle session added."""
        return max(0, self.rss_idle_kib - self.rss_base_kib) / self.sessions

    @property
    def active_kib_per_session(self) -> float:
        """RSS each session added by the end of the active run."""
        return max(0, self.rss_active_kib - self.rss_base_kib) / self.sessions


@attrs.define
class _Run:
    """Shared by the sessions of one worker."""

    sessions: int
    chunks: int
    start_at: float  # time.time() when streaming starts
    connected: int = 0
    chunks_in: int = 0
    bytes_in: int = 0
    latencies: list[int] = attrs.field(factory=list)
    rss_idle_kib: int = 0
    #: Spread the sessions' first chunks evenly over this many seconds (0: all at once).
    stagger: float = 0.0
    released: int = 0

    def offset(self) -> float:
        """The next session's delay after the start signal (see `stagger`)."""
        i = self.released
        self.released += 1
        return self.stagger * i / self.sessions

    def got(self, samples: np.ndarray[Any, Any]) -> None:
        self.latencies.append(time.monotonic_ns() - sent_ns(samples))
        self.chunks_in += 1
        self.bytes_in += samples.nbytes


def _client_ssl(ca_file: str | None) -> ssl.SSLContext | None:
    return None if ca_file is None else ssl.create_default_context(cafile=ca_file)


# --------------------------------------------------------------------------- trio clients


async def _trio_start(run: _Run, go: trio.Event) -> None:
    """Count this session connected; the last one records idle RSS; all wait for the start."""
    run.connected += 1
    if run.connected == run.sessions:
        gc.collect()
        run.rss_idle_kib = _current_rss_kib()
        await trio.sleep(max(0.0, run.start_at - time.time()))
        go.set()
    await go.wait()
    if run.stagger:
        await trio.sleep(run.offset())


def _stdlib_b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


#: A base64 encoder (bytes to text) and decoder (text to bytes).
_Base64 = tuple[Callable[[bytes], str], Callable[[str], bytes]]
#: The standard library's, for ``bare``.
_STDLIB: _Base64 = (_stdlib_b64encode, base64.b64decode)
#: pybase64's (SIMD), for ``bare64``.
_PYBASE64: _Base64 = (pybase64.b64encode_as_string, pybase64.b64decode)


async def _paced_sends(send: Callable[[], Awaitable[None]], chunks: int) -> None:
    start = trio.current_time()
    for i in range(chunks):
        await trio.sleep_until(start + i * _STEP)
        await send()


@asynccontextmanager
async def bare_session(
    provider: str,
    url: str,
    ctx: ssl.SSLContext | None,
    *,
    b64encode: Callable[[bytes], str] = _stdlib_b64encode,
) -> AsyncIterator[tuple[trio_websocket.WebSocketConnection, Callable[[], Awaitable[None]]]]:
    """The bare loop's connection after the provider's handshake, and its chunk sender.

    `b64encode` turns each chunk into its base64 text (the standard library's
    by default).
    """
    openai = provider == "openai"
    pcm = pcm_chunk(OPENAI_INPUT_RATE if openai else GEMINI_INPUT_RATE)
    header = (b"Authorization", b"Bearer bench") if openai else (b"x-goog-api-key", b"bench")
    async with trio_websocket.open_websocket_url(
        url,
        ssl_context=ctx,
        extra_headers=[header],
        message_queue_size=_QUEUE,
        max_message_size=_MAX_MESSAGE,
        receive_buffer_size=None,
        connect_timeout=30,
        disconnect_timeout=10,
    ) as ws:
        if openai:
            assert orjson.loads(await ws.get_message())["type"] == "session.created"
            await ws.send_message(orjson.dumps({"type": "session.update"}).decode())
            while orjson.loads(await ws.get_message())["type"] != "session.updated":
                pass

            async def send() -> None:
                b64 = b64encode(pcm)
                msg = orjson.dumps({"type": "input_audio_buffer.append", "audio": b64})
                await ws.send_message(msg.decode())

        else:
            setup = {"setup": {"model": "models/gemini-live"}}
            await ws.send_message(orjson.dumps(setup).decode())
            assert "setupComplete" in orjson.loads(await ws.get_message())

            async def send() -> None:
                b64 = b64encode(pcm)
                audio = {"mimeType": "audio/pcm;rate=16000", "data": b64}
                await ws.send_message(orjson.dumps({"realtimeInput": {"audio": audio}}).decode())

        yield ws, send


@asynccontextmanager
async def _bare_streaming(
    provider: str, url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, b64: _Base64
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare session sending its paced chunks while the caller reads `ws`."""
    async with bare_session(provider, url, ctx, b64encode=b64[0]) as (ws, send):
        await _trio_start(run, go)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_paced_sends, send, run.chunks)
            yield ws


async def _bare_openai(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, *, b64: _Base64 = _STDLIB
) -> None:
    b64decode = b64[1]
    async with _bare_streaming("openai", url, ctx, run, go, b64) as ws:
        while True:
            d = orjson.loads(await ws.get_message())
            kind = d["type"]
            if kind == "response.output_audio.delta":
                run.got(np.frombuffer(b64decode(d["delta"]), dtype="<i2"))
            elif kind == "input_audio_buffer.committed":
                break


async def _bare_gemini(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, *, b64: _Base64 = _STDLIB
) -> None:
    b64decode = b64[1]
    async with _bare_streaming("gemini", url, ctx, run, go, b64) as ws:
        while True:
            content = orjson.loads(await ws.get_message()).get("serverContent", {})
            turn = content.get("modelTurn")
            if turn is not None:
                for part in turn["parts"]:
                    inline = part.get("inlineData")
                    if inline is not None:
                        data = b64decode(inline["data"])
                        run.got(np.frombuffer(data, dtype="<i2"))
            if content.get("turnComplete"):
                break


async def _ours(
    config: rt.OpenAIRealtime | rt.GeminiLive, rate: int, run: _Run, go: trio.Event
) -> None:
    frame = rt.AudioFrame.from_bytes(pcm_chunk(rate), rate)
    done = rt.InputCommitted if isinstance(config, rt.OpenAIRealtime) else rt.ResponseDone
    async with rt.connect(config) as session:
        await _trio_start(run, go)

        async def send() -> None:
            await session.send_audio(frame)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_paced_sends, send, run.chunks)
            async for event in session.events():
                if type(event) is rt.AudioOut:
                    run.got(event.frame.samples)
                elif type(event) is done:
                    break


def _ours_openai(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event
) -> Awaitable[None]:
    # Keepalive stays on as shipped (pings every 20 s): part of what we pay for.
    config = rt.OpenAIRealtime(
        url=url, api_key="bench", connection=rt.ConnectionOptions(ssl_context=ctx)
    )
    return _ours(config, OPENAI_INPUT_RATE, run, go)


def _ours_gemini(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event
) -> Awaitable[None]:
    config = rt.GeminiLive(
        url=url, api_key="bench", connection=rt.ConnectionOptions(ssl_context=ctx)
    )
    return _ours(config, GEMINI_INPUT_RATE, run, go)


_TRIO: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
    ("bare", "openai"): _bare_openai,
    ("bare", "gemini"): _bare_gemini,
    ("bare64", "openai"): functools.partial(_bare_openai, b64=_PYBASE64),
    ("bare64", "gemini"): functools.partial(_bare_gemini, b64=_PYBASE64),
    ("ours", "openai"): _ours_openai,
    ("ours", "gemini"): _ours_gemini,
}


# --------------------------------------------------------------------------- official SDKs


async def _sdk_start(run: _Run, go: asyncio.Event) -> None:
    run.connected += 1
    if run.connected == run.sessions:
        gc.collect()
        run.rss_idle_kib = _current_rss_kib()
        await asyncio.sleep(max(0.0, run.start_at - time.time()))
        go.set()
    await go.wait()
    if run.stagger:
        await asyncio.sleep(run.offset())


async def _asyncio_paced(send: Callable[[], Awaitable[None]], chunks: int) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(chunks):
        await asyncio.sleep(max(0.0, start + i * _STEP - loop.time()))
        await send()


async def _sdk_openai(port: int, ctx: ssl.SSLContext | None, run: _Run, go: asyncio.Event) -> None:
    from openai import AsyncOpenAI

    pcm = pcm_chunk(OPENAI_INPUT_RATE)
    scheme = "wss" if ctx else "ws"
    client = AsyncOpenAI(api_key="bench", websocket_base_url=f"{scheme}://127.0.0.1:{port}/v1")
    options: dict[str, Any] = {"proxy": None}
    if ctx is not None:
        options["ssl"] = ctx
    async with client.realtime.connect(
        model="gpt-realtime",
        extra_query={"chunks": str(run.chunks), "pace": "1"},
        websocket_connection_options=cast(Any, options),
    ) as conn:
        assert (await conn.recv()).type == "session.created"
        await conn.session.update(session={"type": "realtime"})
        while (await conn.recv()).type != "session.updated":
            pass
        await _sdk_start(run, go)

        async def send() -> None:
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode("ascii"))

        task = asyncio.create_task(_asyncio_paced(send, run.chunks))
        try:
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    run.got(np.frombuffer(base64.b64decode(event.delta), dtype="<i2"))
                elif event.type == "input_audio_buffer.committed":
                    break
        finally:
            await task
    await client.close()


async def _sdk_gemini(port: int, ctx: ssl.SSLContext | None, run: _Run, go: asyncio.Event) -> None:
    from google import genai
    from google.genai import types

    pcm = pcm_chunk(GEMINI_INPUT_RATE)
    client = genai.Client(api_key="bench")
    api = client._api_client
    scheme = "wss" if ctx else "ws"
    base = f"{scheme}://127.0.0.1:{port}/chunks={run.chunks}/pace=1"
    api._websocket_base_url = lambda http_options=None: base  # type: ignore[method-assign]
    # Passed to websockets' connect.
    options: dict[str, Any] = {"proxy": None}
    if ctx is not None:
        options["ssl"] = ctx
    api._websocket_ssl_ctx = options
    config = types.LiveConnectConfig(response_modalities=[types.Modality.AUDIO])
    async with client.aio.live.connect(model="gemini-live", config=config) as session:
        await _sdk_start(run, go)

        async def send() -> None:
            await session.send_realtime_input(
                audio=types.Blob(data=pcm, mime_type="audio/pcm;rate=16000")
            )

        task = asyncio.create_task(_asyncio_paced(send, run.chunks))
        try:
            async for message in session.receive():
                content = message.server_content
                if content is None or content.model_turn is None:
                    continue
                for part in content.model_turn.parts or ():
                    if part.inline_data is not None and part.inline_data.data is not None:
                        run.got(np.frombuffer(part.inline_data.data, dtype="<i2"))
        finally:
            await task


# --------------------------------------------------------------------------- measuring


def _url(port: int, provider: str, chunks: int, tls: bool) -> str:
    path = GEMINI_PATH if provider == "gemini" else OPENAI_PATH
    return f"{'wss' if tls else 'ws'}://127.0.0.1:{port}{path}?chunks={chunks}&pace=1"


def _run_sessions(
    client: str,
    provider: str,
    port: int,
    ca_file: str | None,
    run: _Run,
    timeout: float,
    clock: list[float],
) -> None:
    """Run the sessions; `clock` gets the process time and wall time at the start signal."""
    ctx = _client_ssl(ca_file)
    if client == "sdk":
        one_sdk = _sdk_openai if provider == "openai" else _sdk_gemini

        async def sdk_main() -> None:
            go = asyncio.Event()

            async def mark() -> None:
                await go.wait()
                clock[:] = [time.process_time(), time.perf_counter()]

            async with asyncio.timeout(timeout):
                await asyncio.gather(
                    mark(), *(one_sdk(port, ctx, run, go) for _ in range(run.sessions))
                )

        asyncio.run(sdk_main())
        return
    one = _TRIO[client, provider]
    url = _url(port, provider, run.chunks, ctx is not None)

    async def trio_main() -> None:
        go = trio.Event()
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                for _ in range(run.sessions):
                    nursery.start_soon(one, url, ctx, run, go)
                await go.wait()
                clock[:] = [time.process_time(), time.perf_counter()]

    trio.run(trio_main)


def measure_paced(
    client: str,
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    *,
    ca_file: str | None = None,
    start_at: float | None = None,
    timeout: float = 300.0,
    stagger: float = 0.0,
) -> PacedResult:
    """Measure one paced client in this process (after an unmeasured one-session warm-up).

    Streaming starts at `start_at` (``time.time()``; default: once connected);
    with `stagger`, the sessions' first chunks spread evenly over that many
    seconds after it (as independent calls would be), instead of all at once.

    Raises:
        RuntimeError: a session did not receive all of its audio.
    """
    _run_sessions(client, provider, port, ca_file, _Run(1, 5, 0.0), timeout, [])
    gc.collect()
    rss_base = _current_rss_kib()
    run = _Run(sessions, chunks, start_at if start_at is not None else 0.0, stagger=stagger)
    clock: list[float] = []
    _run_sessions(client, provider, port, ca_file, run, timeout, clock)
    cpu = time.process_time() - clock[0]
    wall = time.perf_counter() - clock[1]
    rss_active = _current_rss_kib()
    want = sessions * chunks
    if run.chunks_in != want or run.bytes_in != want * _OUT_BYTES:
        raise RuntimeError(f"{client}/{provider}: received {run.chunks_in} chunks, expected {want}")
    lat = np.array(run.latencies, dtype=np.float64) / 1e6
    return PacedResult(
        client=client,
        provider=provider,
        tls=ca_file is not None,
        sessions=sessions,
        chunks=chunks,
        cpu_s=cpu,
        wall_s=wall,
        chunks_in=run.chunks_in,
        bytes_in=run.bytes_in,
        latency_p50_ms=float(np.percentile(lat, 50)),
        latency_p99_ms=float(np.percentile(lat, 99)),
        latency_max_ms=float(lat.max()),
        rss_base_kib=rss_base,
        rss_idle_kib=run.rss_idle_kib,
        rss_active_kib=rss_active,
    )


def worker_parser(
    description: str, clients: Sequence[str], *, chunks: int
) -> argparse.ArgumentParser:
    """A worker's command line: client, provider, the load server's port, sizes, start."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("client", choices=clients)
    parser.add_argument("provider", choices=("openai", "gemini"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=chunks)
    parser.add_argument("--ca-file", help="wss:// trusting this CA (the load server's)")
    parser.add_argument("--start-at", type=float, help="time.time() to start streaming at")
    parser.add_argument("--timeout", type=float, default=300.0)
    return parser


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.paced CLIENT PROVIDER --port P ...``: one worker, JSON out."""
    parser = worker_parser("Measure one paced benchmark client.", PACED_CLIENTS, chunks=500)
    parser.add_argument(
        "--stagger", type=float, default=0.0, help="spread the sessions' starts over SECONDS"
    )
    args = parser.parse_args(argv)
    result = measure_paced(
        args.client,
        args.provider,
        args.port,
        args.sessions,
        args.chunks,
        ca_file=args.ca_file,
        start_at=args.start_at,
        timeout=args.timeout,
        stagger=args.stagger,
    )
    json.dump(attrs.asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- the paired driver


@attrs.define
class PairedRound:
    """One round of one pair: two workers started together."""

    a: PacedResult
    b: PacedResult

    @property
    def ratio(self) -> float:
        """CPU of `a` over CPU of `b` in this round."""
        return self.a.cpu_s / self.b.cpu_s


def _worker_cmd(
    client: str,
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    ca_file: str | None,
    start_at: float,
    timeout: float,
    module: str = "benchmarks.paced",
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        module,
        client,
        provider,
        "--port",
        str(port),
        "--sessions",
        str(sessions),
        "--chunks",
        str(chunks),
        "--start-at",
        f"{start_at:.3f}",
        "--timeout",
        str(timeout),
    ]
    if ca_file is not None:
        cmd += ["--ca-file", ca_file]
    return cmd


def run_pair(
    clients: tuple[str, str],
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    *,
    ca_file: str | None = None,
    timeout: float = 300.0,
    lead: float = 8.0,
    trees: tuple[Path, Path] | None = None,
    stagger: float = 0.0,
) -> PairedRound:
    """Start two worker processes together; both stream from the same instant.

    `lead` seconds leave room for imports, the warm-up session and the
    handshakes before the shared start time. `trees` runs each worker in its
    own directory, so that it imports the ``trio_realtime`` found there
    (`benchmarks.compare`); by default both run in this checkout. `stagger`
    spreads each worker's sessions over that many seconds (see `measure_paced`).

    Raises:
        RuntimeError: a worker failed.
    """
    start_at = time.time() + lead
    cmds = [
        _worker_cmd(c, provider, port, sessions, chunks, ca_file, start_at, timeout)
        + (["--stagger", str(stagger)] if stagger else [])
        for c in clients
    ]
    a, b = run_workers(
        cmds, [f"paced {c}/{provider}" for c in clients], timeout + lead + 60, cwds=trees
    )
    return PairedRound(PacedResult(**a), PacedResult(**b))


def run_workers(
    cmds: Sequence[list[str]],
    names: Sequence[str],
    timeout: float,
    *,
    cwds: Sequence[Path] | None = None,
) -> list[dict[str, Any]]:
    """Start worker processes together; return each one's JSON result (its last line out).

    Each runs in this checkout, or in the matching directory of `cwds`.

    Raises:
        RuntimeError: a worker failed (the others are killed).
    """
    import subprocess

    root = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd, cwd in zip(cmds, cwds or [root] * len(cmds), strict=True)
    ]
    results: list[dict[str, Any]] = []
    try:
        for name, proc in zip(names, procs, strict=True):
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"{name} failed (exit {proc.returncode}):\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    return results
