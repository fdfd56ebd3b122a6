"""The latency knee: paced sessions per process until delivery p99 passes 20 ms.

`run_sweep` runs the paced worker of `benchmarks.paced` alone (one client
process at a time, against the out-of-process load server) at each step of
sessions per process, in increasing order, for each client and provider.
A client's sweep stops at the first step whose delivery p99 (the server's
send time to the samples in the application) exceeds the limit (20 ms). The
**knee** is the largest step whose p99 stayed within it; beside it, the
CPU-derived sessions per core at that step (1000 ms over the CPU one
session-second cost there), which is the ceiling CPU alone would allow.

One process runs on one core at a time (one Trio thread), so the knee is
also sessions per core at real-time pace; the load server takes CPU on the
machine's other core(s) meanwhile.

By default the sessions' first chunks are spread evenly over one 20 ms
period (``stagger``), as the chunks of independent calls are; with
``stagger=0`` every session's chunk arrives in the same instant, the worst
case the paired paced benchmark measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from .loadserver import CHUNK_MS, LoadServer
from .paced import PacedResult
from .report import json_header

__all__ = ["SWEEP_STEPS", "SweepLine", "format_sweep", "run_sweep", "write_sweep_json"]

#: Default sessions per process, in the order they are tried.
SWEEP_STEPS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 120, 150, 200, 300)
#: The delivery p99 a step must stay within, ms.
P99_LIMIT_MS = 20.0


@attrs.define
class SweepLine:
    """One client's sweep for one provider: every step run, in order."""

    client: str
    provider: str
    limit_ms: float
    steps: list[PacedResult] = attrs.field(factory=list)
    #: Per step: cores the load server used meanwhile (its CPU time over the
    #: step's wall time, handshakes and warm-up included; 0 where unknown).
    server_cores: list[float] = attrs.field(factory=list)

    @property
    def knee(self) -> PacedResult | None:
        """The largest step whose delivery p99 stayed within the limit (None: not even one)."""
        within = [r for r in self.steps if r.latency_p99_ms <= self.limit_ms]
        return max(within, key=lambda r: r.sessions) if within else None

    @property
    def reached_end(self) -> bool:
        """Whether every step stayed within the limit (the knee is beyond the last step)."""
        return bool(self.steps) and all(r.latency_p99_ms <= self.limit_ms for r in self.steps)


def _one(
    client: str,
    provider: str,
    port: int,
    sessions: int,
    chunks: int,
    timeout: float,
    stagger: float,
) -> PacedResult:
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "benchmarks.paced", client, provider, "--port", str(port)]
    cmd += ["--sessions", str(sessions), "--chunks", str(chunks), "--timeout", str(timeout)]
    cmd += ["--stagger", str(stagger)]
    proc = subprocess.run(
        cmd, cwd=root, capture_output=True, text=True, timeout=timeout + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"sweep {client}/{provider} at {sessions} sessions failed "
            f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return PacedResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


def run_sweep(
    *,
    providers: Sequence[str],
    clients: Sequence[str] = ("bare", "ours"),
    steps: Sequence[int] = SWEEP_STEPS,
    chunks: int = 300,
    limit_ms: float = P99_LIMIT_MS,
    timeout: float = 600.0,
    stagger: float = CHUNK_MS / 1000,
    out: TextIO = sys.stdout,
) -> list[SweepLine]:
    """Sweep each client over `steps` (plain ``ws://``), one process at a time.

    Raises:
        RuntimeError: a worker failed (its error output is in the message).
    """
    lines: list[SweepLine] = []
    with LoadServer(lifetime=timeout * len(steps) * len(clients) * len(providers) + 600) as server:
        for provider in providers:
            for client in clients:
                line = SweepLine(client, provider, limit_ms)
                for n in sorted(steps):
                    cpu, wall = server.cpu_seconds(), time.perf_counter()
                    result = _one(client, provider, server.port, n, chunks, timeout, stagger)
                    line.steps.append(result)
                    line.server_cores.append(
                        (server.cpu_seconds() - cpu) / (time.perf_counter() - wall)
                    )
                    print(
                        f"  sweep {provider:6} {client:4} {n:4} sessions: p50 "
                        f"{result.latency_p50_ms:6.2f} p99 {result.latency_p99_ms:7.2f} ms, "
                        f"{result.cpu_ms_per_session_second:5.2f} ms CPU/session-s, "
                        f"server {line.server_cores[-1]:.2f} core",
                        file=out,
                        flush=True,
                    )
                    if result.latency_p99_ms > limit_ms:
                        break
                lines.append(line)
    return lines


def format_sweep(lines: Sequence[SweepLine]) -> str:
    """The knee per client and provider, then every step."""
    if not lines:
        return ""
    limit = lines[0].limit_ms
    seconds = lines[0].steps[0].chunks * 0.02 if lines[0].steps else 0
    out = [
        f"Latency knee: paced sessions in one client process (alone, ws://, {seconds:g} s each), "
        f"raised until delivery p99 > {limit:g} ms; steps: sessions: p99 ms (load server's cores)",
        f"{'provider':8} {'client':6} {'knee':>6} {'p99 ms':>7} {'CPU sess/core':>13}  steps",
    ]
    for line in lines:
        knee = line.knee
        if knee is None:
            head = f"{line.provider:8} {line.client:6} {'<' + str(line.steps[0].sessions):>6}"
            head += f" {'-':>7} {'-':>13}"
        else:
            mark = ">=" if line.reached_end else ""
            per_core = 1000.0 / knee.cpu_ms_per_session_second
            head = (
                f"{line.provider:8} {line.client:6} {mark + str(knee.sessions):>6} "
                f"{knee.latency_p99_ms:7.2f} {per_core:13.0f}"
            )
        cores = [f" ({c:.2f})" for c in line.server_cores] or [""] * len(line.steps)
        steps = ", ".join(
            f"{r.sessions}: {r.latency_p99_ms:.1f}{c}"
            for r, c in zip(line.steps, cores, strict=True)
        )
        out.append(f"{head}  {steps}")
    return "\n".join(out)


def write_sweep_json(path: Path, lines: Sequence[SweepLine], extra: dict[str, Any]) -> None:
    """Every step's result with each knee and the machine's load, as JSON."""
    data = {
        **json_header(),
        **extra,
        "sweep": [
            {
                "client": line.client,
                "provider": line.provider,
                "limit_ms": line.limit_ms,
                "knee_sessions": line.knee.sessions if line.knee else None,
                "knee_reached_end": line.reached_end,
                "knee_cpu_sessions_per_core": (
                    1000.0 / line.knee.cpu_ms_per_session_second if line.knee else None
                ),
                "steps": [attrs.asdict(r) for r in line.steps],
                "server_cores": line.server_cores,
            }
            for line in lines
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
