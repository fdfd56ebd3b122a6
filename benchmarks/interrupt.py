"""The interruption benchmark: barge-in latency and stale audio, at real-time pace.

Each client process opens S duplex sessions to the load server in paced
barge-in mode (``pace=1&bargein=K``, see `benchmarks.loadserver`): 20 ms
chunks both ways in real time, and after every K chunks of a response the
server barges in the way the service does (a burst of chunks generated ahead,
the stamped barge-in frame, a few chunks of the cut response after it, the
end of the cut response, a new response). What one worker measures
(`InterruptResult`):

- **interruption latency**: the barge-in frame's send time (stamped by the
  server, ``time.monotonic_ns()``, a clock every process on the machine
  shares) to the moment the application sees the interruption: for ``ours``
  the `Interrupted` event out of ``session.events()``, for ``bare`` the
  moment its loop has decoded the barge-in message;
- **stale frames**: audio chunks of an interrupted response the application
  received after it saw that interruption. Every chunk carries the number of
  its response (`benchmarks.loadserver.response_tag`) and every barge-in
  frame the number of the response it cuts, so this count rests on the
  server's ground truth, not on the ids a client keeps. It must be 0;
- a check that nothing else went wrong: each barge-in gave exactly one
  interruption, and every chunk of the last (never interrupted) response
  reached the application.

The clients do the minimum a correct application does:

- ``ours``: ``trio_realtime.connect``, ``send_audio`` on a deadline timer,
  ``events()``; it drops nothing itself (the library must).
- ``bare``: the paced bare loop of `benchmarks.paced` (trio-websocket,
  orjson, 64 KiB reads) that also handles the barge-in: OpenAI, it notes the
  response id of ``response.created`` and, at ``speech_started``, stops
  playing that response's deltas; Gemini, it plays no audio from
  ``interrupted`` to the next ``turnComplete``. It sends no
  ``conversation.item.truncate`` (ours does, once per barge-in).

`run_interrupt` runs ours and bare as two processes started together, the
order alternating between rounds (like the paced benchmark's pairs), and
pools every round's latencies for the percentiles.
"""

from __future__ import annotations

import base64
import gc
import json
import ssl
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np
import orjson
import trio

import trio_realtime as rt
from trio_realtime.gemini.protocol import INPUT_SAMPLE_RATE as GEMINI_INPUT_RATE

from .clients import OPENAI_INPUT_RATE
from .loadserver import BURST, CHUNK_MS, GEMINI_PATH, OPENAI_PATH, TRAIL, pcm_chunk, response_tag
from .paced import (
    _client_ssl,
    _paced_sends,
    _Run,
    _trio_start,
    _worker_cmd,
    bare_session,
    run_workers,
    worker_parser,
)
from .report import json_header

__all__ = [
    "INTERRUPT_CLIENTS",
    "InterruptCell",
    "InterruptResult",
    "expected_interruptions",
    "last_response_chunks",
    "format_interrupt",
    "measure_interrupt",
    "run_interrupt",
    "write_interrupt_json",
]

INTERRUPT_CLIENTS = ("bare", "ours")
_STEP = CHUNK_MS / 1000


def expected_interruptions(chunks: int, every: int, phase: int = 0) -> int:
    """Barge-ins in a session (the load server's rule, ``phase`` below `every`)."""
    return (chunks - 1 + phase) // every


def last_response_chunks(chunks: int, every: int, phase: int = 0) -> int:
    """Paced chunks of the last response, the one no barge-in cuts."""
    cuts = expected_interruptions(chunks, every, phase)
    return chunks - (cuts * every - phase) if cuts else chunks


def _phase(session: int, sessions: int, every: int) -> int:
    """Session `session`'s phase: the sessions' barge-ins spread evenly over `every` chunks."""
    return session * every // sessions % every


@attrs.define
class InterruptResult:
    """What one interruption worker measured (latencies in ms, every barge-in)."""

    client: str
    provider: str
    tls: bool
    sessions: int
    chunks: int
    every: int
    burst: int
    trail: int
    cpu_s: float
    wall_s: float
    interruptions: int
    frames_in: int
    stale_frames: int
    latencies_ms: list[float]
    #: Delivery latency of the audio chunks the application got, in the same run.
    audio_p50_ms: float = 0.0
    audio_p99_ms: float = 0.0

    @property
    def latency_p50_ms(self) -> float:
        """Median interruption latency."""
        return float(np.percentile(self.latencies_ms, 50))

    @property
    def latency_p99_ms(self) -> float:
        """99th percentile of the interruption latency."""
        return float(np.percentile(self.latencies_ms, 99))

    @property
    def stale_sent(self) -> int:
        """Chunks of cut responses the server sent after its barge-in frames.

        What an application that plays every chunk it receives would have
        played after the interruption (on top of what its buffers held).
        """
        return self.trail * self.interruptions


@attrs.define
class _Tally:
    """One session's view: the last response cut, stale and final chunks."""

    run: _Run
    final: int  # the number of the last response (never interrupted)
    phase: int  # where this session's barge-ins fall (see the load server)
    cut: int = -1
    frames: int = 0
    stale: int = 0
    final_frames: int = 0
    latencies: list[int] = attrs.field(factory=list)

    def audio(self, samples: np.ndarray[Any, Any]) -> None:
        self.run.got(samples)
        tag = response_tag(samples)
        self.frames += 1
        if tag <= self.cut:
            self.stale += 1
        elif tag == self.final:
            self.final_frames += 1

    def interrupted(self, sent: int, cut: int) -> None:
        self.latencies.append(time.monotonic_ns() - sent)
        self.cut = max(self.cut, cut)


def _url(port: int, provider: str, chunks: int, every: int, phase: int, tls: bool) -> str:
    path = GEMINI_PATH if provider == "gemini" else OPENAI_PATH
    scheme = "wss" if tls else "ws"
    query = f"chunks={chunks}&pace=1&bargein={every}&phase={phase}"
    return f"{scheme}://127.0.0.1:{port}{path}?{query}"


async def _bare_openai(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, tally: _Tally
) -> None:
    async with bare_session("openai", url, ctx) as (ws, send):
        await _trio_start(run, go)
        current: str | None = None
        cut: set[str] = set()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_paced_sends, send, run.chunks)
            while True:
                d = orjson.loads(await ws.get_message())
                kind = d["type"]
                if kind == "response.output_audio.delta":
                    if d["response_id"] not in cut:
                        tally.audio(np.frombuffer(base64.b64decode(d["delta"]), dtype="<i2"))
                elif kind == "input_audio_buffer.speech_started":
                    if current is not None:
                        cut.add(current)
                    tally.interrupted(d["bench_sent_ns"], d["bench_cut"])
                elif kind == "response.created":
                    current = d["response"]["id"]
                elif kind == "response.done":
                    if d["response"]["id"] == current:
                        current = None
                elif kind == "input_audio_buffer.committed":
                    break


async def _bare_gemini(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, tally: _Tally
) -> None:
    async with bare_session("gemini", url, ctx) as (ws, send):
        await _trio_start(run, go)
        dropping = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_paced_sends, send, run.chunks)
            while True:
                msg = orjson.loads(await ws.get_message())
                content = msg.get("serverContent", {})
                if content.get("interrupted"):
                    dropping = True
                    tally.interrupted(msg["benchSentNs"], msg["benchCut"])
                turn = content.get("modelTurn")
                if turn is not None and not dropping:
                    for part in turn["parts"]:
                        inline = part.get("inlineData")
                        if inline is not None:
                            data = base64.b64decode(inline["data"])
                            tally.audio(np.frombuffer(data, dtype="<i2"))
                if content.get("turnComplete"):
                    if not dropping:
                        break
                    dropping = False


async def _ours(
    config: rt.OpenAIRealtime | rt.GeminiLive,
    rate: int,
    run: _Run,
    go: trio.Event,
    tally: _Tally,
) -> None:
    frame = rt.AudioFrame.from_bytes(pcm_chunk(rate), rate)
    openai = isinstance(config, rt.OpenAIRealtime)
    sent_key, cut_key = ("bench_sent_ns", "bench_cut") if openai else ("benchSentNs", "benchCut")
    # The end: the server confirms all input (OpenAI) or completes the last turn (Gemini).
    end: type[rt.Event] = rt.InputCommitted if openai else rt.ResponseDone
    async with rt.connect(config) as session:
        await _trio_start(run, go)

        async def send() -> None:
            await session.send_audio(frame)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(_paced_sends, send, run.chunks)
            async for event in session.events():
                kind = type(event)
                if kind is rt.AudioOut:
                    assert isinstance(event, rt.AudioOut)
                    tally.audio(event.frame.samples)
                elif kind is rt.Interrupted:
                    assert isinstance(event, rt.Interrupted)
                    extra = event.raw.extra
                    tally.interrupted(extra[sent_key], extra[cut_key])
                elif kind is end and (openai or event.status == "completed"):  # type: ignore[attr-defined]
                    break


def _ours_openai(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, tally: _Tally
) -> Awaitable[None]:
    config = rt.OpenAIRealtime(
        url=url, api_key="bench", connection=rt.ConnectionOptions(ssl_context=ctx)
    )
    return _ours(config, OPENAI_INPUT_RATE, run, go, tally)


def _ours_gemini(
    url: str, ctx: ssl.SSLContext | None, run: _Run, go: trio.Event, tally: _Tally
) -> Awaitable[None]:
    config = rt.GeminiLive(
        url=url, api_key="bench", connection=rt.ConnectionOptions(ssl_context=ctx)
    )
    return _ours(config, GEMINI_INPUT_RATE, run, go, tally)


_CLIENTS: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
    ("bare", "openai"): _bare_openai,
    ("bare", "gemini"): _bare_gemini,
    ("ours", "openai"): _ours_openai,
    ("ours", "gemini"): _ours_gemini,
}


def _run_sessions(
    client: str,
    provider: str,
    port: int,
    ca_file: str | None,
    run: _Run,
    every: int,
    timeout: float,
    clock: list[float],
) -> list[_Tally]:
    ctx = _client_ssl(ca_file)
    one = _CLIENTS[client, provider]
    phases = [_phase(i, run.sessions, every) for i in range(run.sessions)]
    tallies = [_Tally(run, expected_interruptions(run.chunks, every, p), p) for p in phases]

    async def main() -> None:
        go = trio.Event()
        with trio.fail_after(timeout):
            async with trio.open_nursery() as nursery:
                for tally in tallies:
                    url = _url(port, provider, run.chunks, every, tally.phase, ctx is not None)
                    nursery.start_soon(one, url, ctx, run, go, tally)
                await go.wait()
                clock[:] = [time.process_time(), time.perf_counter()]

    trio.run(main)
    return tallies


def measure_interrupt(
    client: str,
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    every: int,
    *,
    ca_file: str | None = None,
    start_at: float | None = None,
    timeout: float = 300.0,
) -> InterruptResult:
    """Measure one client in this process (after an unmeasured one-session warm-up).

    The load server must use the default burst and trail (`BURST`, `TRAIL`).
    Streaming starts at `start_at` (``time.time()``; default: once connected).

    Raises:
        ValueError: `every` or `chunks` below 1.
        RuntimeError: a barge-in gave no interruption (or two), or audio of the
            last response was lost.
    """
    if every < 1 or chunks < 1:
        raise ValueError(f"every and chunks must be at least 1, got {every} and {chunks}")
    warm = min(chunks, 2 * every + 1)
    _run_sessions(client, provider, port, ca_file, _Run(1, warm, 0.0), every, timeout, [])
    gc.collect()
    # The sessions' chunks spread over one chunk period, as independent calls are.
    run = _Run(sessions, chunks, start_at if start_at is not None else 0.0, stagger=_STEP)
    clock: list[float] = []
    tallies = _run_sessions(client, provider, port, ca_file, run, every, timeout, clock)
    cpu = time.process_time() - clock[0]
    wall = time.perf_counter() - clock[1]
    for i, tally in enumerate(tallies):
        cuts = expected_interruptions(chunks, every, tally.phase)
        if len(tally.latencies) != cuts:
            raise RuntimeError(
                f"{client}/{provider} session {i}: {len(tally.latencies)} interruptions "
                f"for {cuts} barge-ins"
            )
        want = last_response_chunks(chunks, every, tally.phase)
        if tally.final_frames != want:
            raise RuntimeError(
                f"{client}/{provider} session {i}: {tally.final_frames} chunks of the last "
                f"response reached the application, expected {want}"
            )
    audio = np.array(run.latencies, dtype=np.float64) / 1e6
    return InterruptResult(
        client=client,
        provider=provider,
        tls=ca_file is not None,
        sessions=sessions,
        chunks=chunks,
        every=every,
        burst=BURST,
        trail=TRAIL,
        cpu_s=cpu,
        wall_s=wall,
        interruptions=sum(len(t.latencies) for t in tallies),
        frames_in=sum(t.frames for t in tallies),
        stale_frames=sum(t.stale for t in tallies),
        latencies_ms=[round(ns / 1e6, 4) for t in tallies for ns in t.latencies],
        audio_p50_ms=float(np.percentile(audio, 50)),
        audio_p99_ms=float(np.percentile(audio, 99)),
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.interrupt CLIENT PROVIDER --port P ...``: one worker, JSON out."""
    parser = worker_parser(
        "Measure one interruption benchmark client.", INTERRUPT_CLIENTS, chunks=300
    )
    parser.add_argument("--every", type=int, default=25)
    args = parser.parse_args(argv)
    result = measure_interrupt(
        args.client,
        args.provider,
        args.port,
        args.sessions,
        args.chunks,
        args.every,
        ca_file=args.ca_file,
        start_at=args.start_at,
        timeout=args.timeout,
    )
    json.dump(attrs.asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- the paired driver


@attrs.define
class InterruptCell:
    """Every round of one client for one provider and transport."""

    client: str
    provider: str
    transport: str
    results: list[InterruptResult] = attrs.field(factory=list)

    def _latencies(self) -> list[float]:
        return [x for r in self.results for x in r.latencies_ms]

    def summary(self) -> dict[str, float]:
        """Pooled percentiles over every round, the stale frames, the per-round p99 spread."""
        lat = self._latencies()
        p99s = [r.latency_p99_ms for r in self.results]
        cpu = statistics.median(
            r.cpu_s * 1000 / (r.sessions * r.chunks * _STEP) for r in self.results
        )
        return {
            "interruptions": sum(r.interruptions for r in self.results),
            "latency_p50_ms": float(np.percentile(lat, 50)),
            "latency_p99_ms": float(np.percentile(lat, 99)),
            "latency_max_ms": max(lat),
            "round_p99_min_ms": min(p99s),
            "round_p99_max_ms": max(p99s),
            "stale_frames": sum(r.stale_frames for r in self.results),
            "stale_sent": sum(r.stale_sent for r in self.results),
            "cpu_ms_per_session_second": cpu,
            "audio_p50_ms": statistics.median(r.audio_p50_ms for r in self.results),
            "audio_p99_ms": statistics.median(r.audio_p99_ms for r in self.results),
        }


def _run_pair(
    clients: Sequence[str],
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    every: int,
    ca_file: str | None,
    timeout: float,
    lead: float,
) -> list[InterruptResult]:
    start_at = time.time() + lead
    module = "benchmarks.interrupt"
    cmds = [
        [
            *_worker_cmd(c, provider, port, sessions, chunks, ca_file, start_at, timeout, module),
            *["--every", str(every)],
        ]
        for c in clients
    ]
    names = [f"interruption {c}/{provider}" for c in clients]
    return [InterruptResult(**r) for r in run_workers(cmds, names, timeout + lead + 60)]


def run_interrupt(
    *,
    providers: Sequence[str],
    transports: Sequence[str] = ("plain",),
    sessions: int,
    chunks: int,
    every: int,
    rounds: int,
    timeout: float,
    out: TextIO = sys.stdout,
    lead: float = 6.0,
) -> list[InterruptCell]:
    """Run ours and bare together for `rounds` rounds per provider and transport.

    The order in which the two processes start alternates between rounds.

    Raises:
        RuntimeError: a worker failed (its error output is in the message).
    """
    import tempfile

    from .loadserver import LoadServer

    cells: list[InterruptCell] = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = str(Path(tmp) / "ca.pem")
        tls_needed = "tls" in transports
        with LoadServer(
            lifetime=timeout * rounds * 4 + 600, tls_ca=ca if tls_needed else None
        ) as server:
            for provider in providers:
                for transport in transports:
                    tls = transport == "tls"
                    port = server.tls_port if tls else server.port
                    mine = {c: InterruptCell(c, provider, transport) for c in INTERRUPT_CLIENTS}
                    for r in range(rounds):
                        order = INTERRUPT_CLIENTS if r % 2 == 0 else INTERRUPT_CLIENTS[::-1]
                        results = _run_pair(
                            order,
                            provider,
                            port,
                            sessions,
                            chunks,
                            every,
                            ca if tls else None,
                            timeout,
                            lead,
                        )
                        for result in results:
                            mine[result.client].results.append(result)
                        print(
                            f"  round {r + 1}: {provider:6} {transport:5} "
                            + "  ".join(
                                f"{x.client} p50 {x.latency_p50_ms:.2f} p99 "
                                f"{x.latency_p99_ms:.2f} ms, {x.stale_frames} stale"
                                for x in results
                            ),
                            file=out,
                            flush=True,
                        )
                    cells.extend(mine.values())
    return cells


def format_interrupt(cells: Sequence[InterruptCell]) -> str:
    """The table: interruption latency percentiles and stale frames per client."""
    if not cells:
        return ""
    first = cells[0].results[0]
    lines = [
        f"Interruption: {first.sessions} paced duplex sessions per client, a barge-in every "
        f"{first.every} chunks ({first.burst} chunks burst before it, {first.trail} of the cut "
        f"response after it); {len(cells[0].results)} round(s), ours and bare started together.",
        "latency = barge-in frame sent -> the app sees it (pooled over rounds; p99 of each "
        "round min..max); stale = chunks of a cut response the app got after its interruption; "
        "audio = delivery p50/p99 of the audio chunks in the same run (median of rounds)",
        f"{'provider':8} {'link':5} {'client':6} {'cuts':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'rounds p99':>12} {'max ms':>7} {'stale':>6} {'sent late':>9} {'audio p50/p99':>14}",
    ]
    for cell in cells:
        s = cell.summary()
        spread = f"{s['round_p99_min_ms']:.2f}..{s['round_p99_max_ms']:.2f}"
        lines.append(
            f"{cell.provider:8} {cell.transport:5} {cell.client:6} {s['interruptions']:6.0f} "
            f"{s['latency_p50_ms']:7.2f} {s['latency_p99_ms']:7.2f} {spread:>12} "
            f"{s['latency_max_ms']:7.2f} {s['stale_frames']:6.0f} {s['stale_sent']:9.0f} "
            f"{s['audio_p50_ms']:6.2f}/{s['audio_p99_ms']:.2f}"
        )
    return "\n".join(lines)


def write_interrupt_json(path: Path, cells: Sequence[InterruptCell], extra: dict[str, Any]) -> None:
    """Every round's results with the pooled summary and the machine's load, as JSON."""
    data = {
        **json_header(),
        **extra,
        "interrupt": [
            {
                "client": c.client,
                "provider": c.provider,
                "transport": c.transport,
                "summary": c.summary(),
                "rounds": [attrs.asdict(r) for r in c.results],
            }
            for c in cells
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
