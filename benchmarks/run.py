"""The benchmark driver: load server up, each client measured in turn, a table out."""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import pstats
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import attrs

from .clients import CLIENTS, Result
from .interrupt import format_interrupt, run_interrupt, write_interrupt_json
from .loadserver import CHUNK_MS, LoadServer
from .micro import MicroResult, run_micro, run_resampler
from .report import PacedCell, format_paced, run_paced, write_chart, write_json
from .sweep import SWEEP_STEPS, format_sweep, run_sweep, write_sweep_json

__all__ = [
    "Measurement",
    "Options",
    "format_table",
    "main",
    "parse_args",
    "profile",
    "run",
    "run_interrupt_section",
    "run_paced_section",
    "run_sweep_section",
]

_ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Options:
    """What to run (the command line's options)."""

    sessions: int = 20
    seconds: float = 10.0
    repeat: int = 5
    providers: tuple[str, ...] = ("openai", "gemini")
    clients: tuple[str, ...] = ("bare", "ours", "sdk")
    micro: bool = True
    micro_number: int = 20000
    in_process: bool = False
    profile: tuple[str, str] | None = None
    timeout: float = 600.0
    #: The paced scenario (the headline) and the flood one (the second table).
    paced: bool = True
    flood: bool = True
    paced_sessions: int = 20
    paced_seconds: float = 10.0
    paced_stagger: float = 0.0
    #: The paced scenario's baseline: ``bare``, or ``bare64`` (pybase64 for base64).
    paced_baseline: str = "bare"
    rounds: int = 7
    transports: tuple[str, ...] = ("plain", "tls")
    #: Where the paced JSON results and chart go (the docs show them from there).
    out_dir: Path = _ROOT / "docs" / "assets" / "bench"
    #: The interruption benchmark (paired ours/bare rounds, after the paced one).
    interrupt: bool = True
    interrupt_sessions: int = 20
    interrupt_seconds: float = 6.0
    interrupt_every: int = 25
    interrupt_rounds: int = 3
    interrupt_transports: tuple[str, ...] = ("plain",)
    #: The latency knee sweep (long: only with ``--sweep``).
    sweep: bool = False
    sweep_steps: tuple[int, ...] = SWEEP_STEPS
    sweep_seconds: float = 6.0
    #: Sweep sessions' first chunks spread over this many seconds (0: all in phase).
    sweep_stagger: float = CHUNK_MS / 1000

    @property
    def chunks(self) -> int:
        """Chunks each way per session."""
        return max(1, round(self.seconds * 1000 / CHUNK_MS))


@attrs.define
class Measurement:
    """Every run of one client against one provider."""

    client: str
    provider: str
    runs: list[Result] = attrs.field(factory=list)

    @property
    def median_ms(self) -> float:
        """Median CPU ms per session-second."""
        return statistics.median(r.cpu_ms_per_session_second for r in self.runs)

    @property
    def spread_ms(self) -> tuple[float, float]:
        """Lowest and highest CPU ms per session-second."""
        values = [r.cpu_ms_per_session_second for r in self.runs]
        return min(values), max(values)

    @property
    def maxrss_mib(self) -> float:
        """Median peak RSS of the measuring process, MiB."""
        return statistics.median(r.maxrss_kib for r in self.runs) / 1024

    @property
    def rss_growth_mib(self) -> float:
        """Median rise of the peak RSS during the measured run, MiB."""
        return statistics.median(r.rss_growth_kib for r in self.runs) / 1024


def sdk_available(provider: str) -> bool:
    """Whether the provider's official SDK (and the websockets package) is importable."""
    if importlib.util.find_spec("websockets") is None:
        return False
    if provider == "gemini":
        return importlib.util.find_spec("google") is not None and (
            importlib.util.find_spec("google.genai") is not None
        )
    return importlib.util.find_spec("openai") is not None


def _measure_in_worker(client: str, provider: str, port: int, opts: Options) -> Result:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.clients",
        client,
        provider,
        "--port",
        str(port),
        "--sessions",
        str(opts.sessions),
        "--chunks",
        str(opts.chunks),
        "--timeout",
        str(opts.timeout),
    ]
    proc = subprocess.run(
        cmd, cwd=_ROOT, capture_output=True, text=True, timeout=opts.timeout + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"measuring {client}/{provider} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return Result(**json.loads(proc.stdout.strip().splitlines()[-1]))


def _measure_here(client: str, provider: str, port: int, opts: Options) -> Result:
    from .clients import measure

    return measure(client, provider, port, opts.sessions, opts.chunks, timeout=opts.timeout)


def run_paced_section(opts: Options, out: TextIO = sys.stdout) -> list[PacedCell]:
    """The paced, paired scenario: table printed, JSON and PNG written to ``opts.out_dir``."""
    chunks = max(1, round(opts.paced_seconds * 1000 / CHUNK_MS))
    print(
        f"paced: {opts.paced_sessions} sessions x {chunks * CHUNK_MS / 1000:g} s per client, "
        f"{opts.rounds} round(s), {'/'.join(opts.transports)}"
        + (
            f", sessions spread over {opts.paced_stagger * 1000:g} ms" if opts.paced_stagger else ""
        ),
        file=out,
        flush=True,
    )
    cells: list[PacedCell] = []
    notes: list[str] = []
    for provider in opts.providers:
        clients = [c for c in ("ours", "sdk") if c in opts.clients]
        if "sdk" in clients and not sdk_available(provider):
            clients.remove("sdk")
            notes.append(f"sdk {provider}: skipped, the official SDK is not importable")
        if not clients:
            continue
        cells += run_paced(
            providers=[provider],
            clients=clients,
            transports=opts.transports,
            sessions=opts.paced_sessions,
            chunks=chunks,
            rounds=opts.rounds,
            timeout=opts.timeout,
            out=out,
            stagger=opts.paced_stagger,
            baseline=opts.paced_baseline,
        )
    print(file=out)
    print(format_paced(cells), file=out)
    for note in notes:
        print(f"note: {note}", file=out)
    if cells:
        write_json(
            opts.out_dir / "paced.json",
            cells,
            {
                "seconds": opts.paced_seconds,
                "rounds": opts.rounds,
                "stagger_s": opts.paced_stagger,
                "notes": notes,
            },
        )
        write_chart(opts.out_dir / "paced.png", cells)
        print(f"wrote {opts.out_dir / 'paced.json'} and paced.png", file=out, flush=True)
    return cells


def run_interrupt_section(opts: Options, out: TextIO = sys.stdout) -> None:
    """The interruption benchmark: table printed, JSON written to ``opts.out_dir``."""
    chunks = max(1, round(opts.interrupt_seconds * 1000 / CHUNK_MS))
    every = opts.interrupt_every
    print(
        f"interruption: {opts.interrupt_sessions} sessions x {chunks * CHUNK_MS / 1000:g} s, "
        f"a barge-in every {every} chunks, {opts.interrupt_rounds} round(s)",
        file=out,
        flush=True,
    )
    cells = run_interrupt(
        providers=opts.providers,
        transports=opts.interrupt_transports,
        sessions=opts.interrupt_sessions,
        chunks=chunks,
        every=every,
        rounds=opts.interrupt_rounds,
        timeout=opts.timeout,
        out=out,
    )
    print(file=out)
    print(format_interrupt(cells), file=out, flush=True)
    if cells:
        write_interrupt_json(
            opts.out_dir / "interrupt.json",
            cells,
            {"seconds": opts.interrupt_seconds, "every": every, "rounds": opts.interrupt_rounds},
        )
        print(f"wrote {opts.out_dir / 'interrupt.json'}", file=out, flush=True)


def run_sweep_section(opts: Options, out: TextIO = sys.stdout) -> None:
    """The latency knee sweep: table printed, JSON written to ``opts.out_dir``."""
    chunks = max(1, round(opts.sweep_seconds * 1000 / CHUNK_MS))
    clients = [c for c in ("bare", "ours") if c in opts.clients]
    print(
        f"sweep: {', '.join(map(str, opts.sweep_steps))} paced sessions per process, "
        f"{chunks * CHUNK_MS / 1000:g} s each, one process at a time",
        file=out,
        flush=True,
    )
    lines = run_sweep(
        providers=opts.providers,
        clients=clients,
        steps=opts.sweep_steps,
        chunks=chunks,
        timeout=opts.timeout,
        stagger=opts.sweep_stagger,
        out=out,
    )
    print(file=out)
    print(format_sweep(lines), file=out, flush=True)
    if lines:
        write_sweep_json(
            opts.out_dir / "sweep.json",
            lines,
            {"seconds": opts.sweep_seconds, "stagger_s": opts.sweep_stagger},
        )
        print(f"wrote {opts.out_dir / 'sweep.json'}", file=out, flush=True)


def format_resampler() -> str:
    """Resampler throughput: times real time on one core, per conversion."""
    lines = ["Resampler (20 ms chunks, soxr): times real time per core, best of 3"]
    for r in run_resampler():
        lines.append(f"  {r.in_rate:>5} -> {r.out_rate:>5} Hz {r.x_real_time:8.0f}x")
    return "\n".join(lines)


def run(opts: Options, out: TextIO = sys.stdout) -> tuple[list[Measurement], list[MicroResult]]:
    """Run the benchmarks of `opts`, printing progress and the tables to `out`.

    The paced scenario comes first (the headline), then the interruption
    benchmark, then the flood one. The latency knee sweep runs only when
    asked for (``opts.sweep``), before everything else.
    """
    if opts.sweep:
        run_sweep_section(opts, out)
        print(file=out)
    if opts.paced:
        run_paced_section(opts, out)
        print(file=out)
    if opts.interrupt:
        run_interrupt_section(opts, out)
        print(file=out)
    if not opts.flood:
        micro = run_micro(number=opts.micro_number) if opts.micro else []
        if micro:
            print(format_table([], micro), file=out, flush=True)
            print(format_resampler(), file=out, flush=True)
        return [], micro
    pairs = [
        (client, provider)
        for provider in opts.providers
        for client in opts.clients
        if provider in CLIENTS[client]
    ]
    notes: list[str] = []
    for provider in opts.providers:
        if ("sdk", provider) in pairs and not sdk_available(provider):
            pairs.remove(("sdk", provider))
            notes.append(f"sdk {provider}: skipped, the official SDK is not importable")
    found = {pair: Measurement(*pair) for pair in pairs}
    measure = _measure_here if opts.in_process else _measure_in_worker
    print(
        f"flood: {opts.sessions} sessions x {opts.chunks * CHUNK_MS / 1000:g} s "
        f"({opts.chunks} chunks of {CHUNK_MS} ms each way), {opts.repeat} repeat(s)",
        file=out,
        flush=True,
    )
    if pairs:
        with LoadServer(lifetime=opts.timeout * (len(pairs) * opts.repeat + 1)) as server:
            for r in range(opts.repeat):
                order = pairs if r % 2 == 0 else pairs[::-1]
                for client, provider in order:
                    result = measure(client, provider, server.port, opts)
                    found[client, provider].runs.append(result)
                    print(
                        f"  run {r + 1}: {client:4} {provider:6} "
                        f"{result.cpu_ms_per_session_second:7.2f} ms CPU/session-s "
                        f"(wall {result.wall_s:.2f} s)",
                        file=out,
                        flush=True,
                    )
    measurements = list(found.values())
    micro = run_micro(number=opts.micro_number) if opts.micro else []
    print(file=out)
    print(format_table(measurements, micro, notes), file=out, flush=True)
    if opts.micro:
        print(format_resampler(), file=out, flush=True)
    return measurements, micro


def _paired_ratio(m: Measurement, base: Measurement, *, user: bool = False) -> float:
    """Median over repeats of this client's CPU over bare's in the same repeat."""

    def ms(r: Result) -> float:
        return r.user_ms_per_session_second if user else r.cpu_ms_per_session_second

    return statistics.median(ms(a) / ms(b) for a, b in zip(m.runs, base.runs, strict=False))


def format_table(
    measurements: Sequence[Measurement], micro: Sequence[MicroResult], notes: Sequence[str] = ()
) -> str:
    """The report: CPU per session-second with ratios to bare, then the micro-benchmarks."""
    lines: list[str] = []
    if measurements:
        lines.append(
            "End to end: client CPU ms per session-second (both directions), median of runs;"
        )
        lines.append("'vs bare' is the median of the ratios to bare measured in the same repeat")
        lines.append(
            f"{'provider':8} {'client':6} {'ms/sess-s':>10} {'min..max':>13} {'vs bare':>8} "
            f"{'user ms':>8} {'vs bare':>8} {'peak RSS':>9} {'growth':>9}"
        )
        bare = {m.provider: m for m in measurements if m.client == "bare" and m.runs}
        for m in measurements:
            if not m.runs:
                continue
            lo, hi = m.spread_ms
            base = bare.get(m.provider)
            user = statistics.median(r.user_ms_per_session_second for r in m.runs)
            if base is not None:
                ratio = f"{_paired_ratio(m, base):7.2f}x"
                user_ratio = f"{_paired_ratio(m, base, user=True):7.2f}x"
            else:
                ratio = user_ratio = "-"
            lines.append(
                f"{m.provider:8} {m.client:6} {m.median_ms:10.2f} {f'{lo:.2f}..{hi:.2f}':>13} "
                f"{ratio:>8} {user:8.2f} {user_ratio:>8} "
                f"{m.maxrss_mib:5.0f} MiB {m.rss_growth_mib:5.1f} MiB"
            )
    if micro:
        if lines:
            lines.append("")
        lines.append("Per message: microseconds, best of runs")
        lines.append(f"{'case':30} {'ours':>8} {'bare':>8} {'ours/bare':>10}")
        for r in micro:
            lines.append(f"{r.name:30} {r.ours_us:8.2f} {r.bare_us:8.2f} {r.ratio:9.2f}x")
    for note in notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Turn the command line into `Options`."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="CPU benchmarks of trio_realtime against a bare trio-websocket loop "
        "and the official SDKs (see benchmarks/__init__.py for how to read them).",
    )
    parser.add_argument("--sessions", type=int, help="concurrent sessions (20; --quick: 5)")
    parser.add_argument("--seconds", type=float, help="audio per session (10; --quick: 2)")
    parser.add_argument("--repeat", type=int, help="runs per client (5; --quick: 1)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast, noisy check: 5 sessions x 2 s, 1 run, short micro-benchmarks",
    )
    parser.add_argument(
        "--provider", action="append", choices=("openai", "gemini"), help="only this provider"
    )
    parser.add_argument(
        "--client", action="append", choices=sorted(CLIENTS), help="only this client"
    )
    parser.add_argument("--no-micro", action="store_true", help="skip the per-message section")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="measure in this process instead of a fresh one per run",
    )
    parser.add_argument(
        "--profile",
        metavar="CLIENT:PROVIDER",
        help="instead of the benchmarks, run one client under cProfile (e.g. ours:gemini) "
        "and print where its time goes",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="bound on one measured run (600 s)"
    )
    parser.add_argument("--rounds", type=int, help="paced paired rounds (7; --quick: 2)")
    parser.add_argument(
        "--paced-sessions", type=int, help="paced sessions per client process (20; --quick: 5)"
    )
    parser.add_argument(
        "--paced-seconds", type=float, help="paced audio per session (10; --quick: 2)"
    )
    parser.add_argument(
        "--paced-spread",
        action="store_true",
        help="spread each process's paced sessions over one 20 ms period (independent "
        "calls) instead of all in phase",
    )
    parser.add_argument(
        "--paced-baseline",
        choices=("bare", "bare64"),
        help="the paced scenario's baseline: the bare loop (bare, the default) or the bare "
        "loop with pybase64 for base64 (bare64)",
    )
    parser.add_argument(
        "--transport", action="append", choices=("plain", "tls"), help="only ws:// or wss://"
    )
    parser.add_argument("--no-paced", action="store_true", help="skip the paced scenario")
    parser.add_argument("--no-flood", action="store_true", help="skip the flood scenario")
    parser.add_argument(
        "--out",
        type=Path,
        help="where paced.json, paced.png, interrupt.json and sweep.json go (docs/assets/bench)",
    )
    parser.add_argument(
        "--interrupt",
        action="store_true",
        help="only the interruption benchmark (barge-in latency, stale audio)",
    )
    parser.add_argument(
        "--no-interrupt", action="store_true", help="skip the interruption benchmark"
    )
    parser.add_argument(
        "--interrupt-rounds", type=int, help="interruption benchmark rounds (3; --quick: 1)"
    )
    parser.add_argument(
        "--interrupt-sessions",
        type=int,
        help="interruption benchmark sessions per client (20; --quick: 5)",
    )
    parser.add_argument(
        "--interrupt-seconds",
        type=float,
        help="interruption benchmark audio per session (6; --quick: 2)",
    )
    parser.add_argument(
        "--interrupt-every", type=int, help="chunks of a response before each barge-in (25)"
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="only the latency knee: paced sessions per process raised until delivery p99 "
        "> 20 ms (several minutes)",
    )
    parser.add_argument(
        "--sweep-steps",
        help=f"sessions per process to try, comma-separated ({','.join(map(str, SWEEP_STEPS))})",
    )
    parser.add_argument("--sweep-seconds", type=float, help="paced audio per sweep step (6)")
    parser.add_argument(
        "--sweep-in-phase",
        action="store_true",
        help="sweep with every session's chunks in the same instant (default: spread over 20 ms)",
    )
    args = parser.parse_args(argv)
    opts = Options(
        micro=not args.no_micro,
        in_process=args.in_process,
        timeout=args.timeout,
        paced=not args.no_paced,
        flood=not args.no_flood,
    )
    if args.quick:
        opts.sessions, opts.seconds, opts.repeat, opts.micro_number = 5, 2.0, 1, 2000
        opts.paced_sessions, opts.paced_seconds, opts.rounds = 5, 2.0, 2
        opts.interrupt_sessions, opts.interrupt_seconds, opts.interrupt_rounds = 5, 2.0, 1
    if args.interrupt or args.sweep:
        opts.paced = opts.flood = opts.micro = False
        opts.interrupt = args.interrupt
        opts.sweep = args.sweep
    if args.no_interrupt:
        opts.interrupt = False
    if args.interrupt_rounds is not None:
        opts.interrupt_rounds = args.interrupt_rounds
    if args.interrupt_sessions is not None:
        opts.interrupt_sessions = args.interrupt_sessions
    if args.interrupt_seconds is not None:
        opts.interrupt_seconds = args.interrupt_seconds
    if args.interrupt_every is not None:
        opts.interrupt_every = args.interrupt_every
    if args.sweep_steps is not None:
        try:
            opts.sweep_steps = tuple(int(n) for n in args.sweep_steps.split(","))
        except ValueError:
            parser.error(
                f"--sweep-steps takes integers separated by commas, not {args.sweep_steps!r}"
            )
    if args.sweep_seconds is not None:
        opts.sweep_seconds = args.sweep_seconds
    if args.sweep_in_phase:
        opts.sweep_stagger = 0.0
    if args.rounds is not None:
        opts.rounds = args.rounds
    if args.paced_sessions is not None:
        opts.paced_sessions = args.paced_sessions
    if args.paced_seconds is not None:
        opts.paced_seconds = args.paced_seconds
    if args.paced_baseline is not None:
        opts.paced_baseline = args.paced_baseline
    if args.paced_spread:
        opts.paced_stagger = CHUNK_MS / 1000
    if args.transport:
        opts.transports = opts.interrupt_transports = tuple(args.transport)
    if args.out is not None:
        opts.out_dir = args.out
    if args.sessions is not None:
        opts.sessions = args.sessions
    if args.seconds is not None:
        opts.seconds = args.seconds
    if args.repeat is not None:
        opts.repeat = args.repeat
    if args.provider:
        opts.providers = tuple(args.provider)
    if args.client:
        opts.clients = tuple(args.client)
    if args.profile:
        client, _, provider = args.profile.partition(":")
        if provider not in CLIENTS.get(client, ()):
            parser.error(
                "--profile takes CLIENT:PROVIDER, one of "
                + ", ".join(f"{c}:{p}" for c, ps in CLIENTS.items() for p in ps)
            )
        opts.profile = (client, provider)
    if opts.sessions < 1 or opts.seconds <= 0 or opts.repeat < 1:
        parser.error("--sessions, --seconds and --repeat must be positive")
    if opts.paced_sessions < 1 or opts.paced_seconds <= 0 or opts.rounds < 1:
        parser.error("--paced-sessions, --paced-seconds and --rounds must be positive")
    if (
        opts.interrupt_rounds < 1
        or opts.interrupt_every < 1
        or opts.interrupt_sessions < 1
        or opts.interrupt_seconds <= 0
    ):
        parser.error("--interrupt-rounds, -every, -sessions and -seconds must be positive")
    if not opts.sweep_steps or min(opts.sweep_steps) < 1 or opts.sweep_seconds <= 0:
        parser.error("--sweep-steps and --sweep-seconds must be positive")
    return opts


def profile(opts: Options, out: TextIO = sys.stdout, *, top: int = 30) -> pstats.Stats:
    """Run ``opts.profile``'s client once in this process under cProfile; print the top functions.

    cProfile counts every resumption of a coroutine as a call and slows
    Python code more than C code, so read the ``tottime`` column for where the
    time goes, not for absolute costs.
    """
    from .clients import run_client

    assert opts.profile is not None
    client, provider = opts.profile
    with LoadServer(lifetime=opts.timeout * 2) as server:
        run_client(client, provider, server.port, 1, 10, opts.timeout)  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            run_client(client, provider, server.port, opts.sessions, opts.chunks, opts.timeout)
        finally:
            profiler.disable()
    print(
        f"cProfile of {client}/{provider}: {opts.sessions} sessions x {opts.chunks} chunks",
        file=out,
    )
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return stats


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks [options]``."""
    opts = parse_args(argv)
    if opts.profile is not None:
        profile(opts)
    else:
        run(opts)
