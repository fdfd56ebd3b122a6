"""The paced benchmark's rounds, its table, its JSON results and its chart (Pillow)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from .paced import PacedResult, PairedRound, run_pair

__all__ = [
    "PacedCell",
    "format_paced",
    "json_header",
    "run_paced",
    "write_chart",
    "write_json",
]


@attrs.define
class PacedCell:
    """Every round of one client paired with ``bare`` for one provider and transport."""

    client: str
    provider: str
    transport: str
    sessions: int
    rounds: list[PairedRound] = attrs.field(factory=list)

    def _mine(self) -> list[PacedResult]:
        return [r.a if r.a.client == self.client else r.b for r in self.rounds]

    @property
    def baseline(self) -> str:
        """The client this one was paired with (``bare`` unless asked otherwise)."""
        first = self.rounds[0] if self.rounds else None
        if first is None:
            return "bare"
        return first.b.client if first.a.client == self.client else first.a.client

    def _bare(self) -> list[PacedResult]:
        return [r.b if r.a.client == self.client else r.a for r in self.rounds]

    def _ratios(self) -> list[float]:
        return [m.cpu_s / b.cpu_s for m, b in zip(self._mine(), self._bare(), strict=True)]

    @property
    def ratio(self) -> float:
        """Median over rounds of this client's CPU over bare's CPU in the same round."""
        return statistics.median(self._ratios())

    @property
    def ratio_spread(self) -> tuple[float, float]:
        """Lowest and highest per-round ratio."""
        ratios = self._ratios()
        return min(ratios), max(ratios)

    def stats(self, which: str) -> dict[str, float]:
        """Medians over rounds for this client (``which="mine"``) or its bare partner."""
        results = self._mine() if which == "mine" else self._bare()

        def med(values: Sequence[float]) -> float:
            return float(statistics.median(values))

        ms = med([r.cpu_ms_per_session_second for r in results])
        return {
            "cpu_ms_per_session_second": ms,
            "sessions_per_core": 1000.0 / ms,
            "latency_p50_ms": med([r.latency_p50_ms for r in results]),
            "latency_p99_ms": med([r.latency_p99_ms for r in results]),
            "idle_kib_per_session": med([r.idle_kib_per_session for r in results]),
            "active_kib_per_session": med([r.active_kib_per_session for r in results]),
        }


def _loadavg() -> list[float]:
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def json_header() -> dict[str, Any]:
    """What every results file starts with: when, the CPU count, the machine's load."""
    return {
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "loadavg_at_end": _loadavg(),
    }


def run_paced(
    *,
    providers: Sequence[str],
    clients: Sequence[str],
    transports: Sequence[str],
    sessions: int,
    chunks: int,
    rounds: int,
    timeout: float,
    out: TextIO = sys.stdout,
    lead: float = 8.0,
    stagger: float = 0.0,
    baseline: str = "bare",
) -> list[PacedCell]:
    """Run the paired rounds: each of `clients` against `baseline`, started together.

    The baseline is the bare loop (``bare``), or ``bare64`` for the bare loop
    with pybase64; its rows carry its name, the ratio column stays "vs bare".

    With `stagger`, each process spreads its sessions' chunks over that many
    seconds (one chunk period: as independent calls arrive) instead of all
    in the same instant.

    Rounds alternate which pair runs first and which process starts first;
    `lead` is the time each pair gets to import, warm up and connect.
    """
    from .loadserver import LoadServer

    cells: list[PacedCell] = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = str(Path(tmp) / "ca.pem")
        with LoadServer(lifetime=timeout * rounds * 8 + 600, tls_ca=ca) as server:
            for provider in providers:
                for transport in transports:
                    tls = transport == "tls"
                    port = server.tls_port if tls else server.port
                    mine = [PacedCell(c, provider, transport, sessions) for c in clients]
                    for r in range(rounds):
                        for cell in mine if r % 2 == 0 else mine[::-1]:
                            pair = (
                                (cell.client, baseline) if r % 2 == 0 else (baseline, cell.client)
                            )
                            result = run_pair(
                                pair,
                                provider,
                                port,
                                sessions,
                                chunks,
                                ca_file=ca if tls else None,
                                timeout=timeout,
                                lead=lead,
                                stagger=stagger,
                            )
                            cell.rounds.append(result)
                            ours = result.a if result.a.client == cell.client else result.b
                            bare = result.b if ours is result.a else result.a
                            print(
                                f"  round {r + 1}: {provider:6} {transport:5} {cell.client:4} "
                                f"{ours.cpu_ms_per_session_second:6.2f} / {baseline} "
                                f"{bare.cpu_ms_per_session_second:6.2f} ms CPU/session-s "
                                f"= {ours.cpu_s / bare.cpu_s:.2f}x",
                                file=out,
                                flush=True,
                            )
                    cells.extend(mine)
    return cells


def _bare_stats(cells: Sequence[PacedCell], key: tuple[str, str]) -> dict[str, float]:
    """Bare's medians for one provider and transport, from every round it ran in."""
    pooled: PacedCell | None = None
    for c in cells:
        if (c.provider, c.transport) != key:
            continue
        if pooled is None:
            pooled = PacedCell(c.baseline, c.provider, c.transport, c.sessions)
        pooled.rounds.extend(
            PairedRound(r.b, r.a) if r.a.client == c.client else r for r in c.rounds
        )
    assert pooled is not None
    return pooled.stats("mine")


def format_paced(cells: Sequence[PacedCell]) -> str:
    """The headline table: CPU per session-second, paired ratios, latency, memory."""
    if not cells:
        return ""
    first = cells[0]
    n = len(first.rounds)
    lines = [
        f"Paced: {first.sessions} duplex sessions per client, 20 ms chunks both ways in real "
        f"time; {n} paired round(s).",
        "'vs bare' = median of per-round CPU ratios to the bare loop started at the same "
        "instant (min..max of rounds).",
        f"{'provider':8} {'link':5} {'client':6} {'ms/sess-s':>9} {'vs bare':>8} "
        f"{'rounds':>11} {'sess/core':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'idle KiB':>8} {'act KiB':>8}",
    ]
    done: set[tuple[str, str]] = set()
    for cell in cells:
        key = (cell.provider, cell.transport)
        rows: list[tuple[str, dict[str, float], str, str]] = []
        if key not in done:
            done.add(key)
            rows.append((cell.baseline, _bare_stats(cells, key), "1.00x", ""))
        lo, hi = cell.ratio_spread
        rows.append((cell.client, cell.stats("mine"), f"{cell.ratio:.2f}x", f"{lo:.2f}..{hi:.2f}"))
        for client, s, ratio, spread in rows:
            lines.append(
                f"{cell.provider:8} {cell.transport:5} {client:6} "
                f"{s['cpu_ms_per_session_second']:9.2f} {ratio:>8} {spread:>11} "
                f"{s['sessions_per_core']:9.0f} {s['latency_p50_ms']:7.2f} "
                f"{s['latency_p99_ms']:7.2f} {s['idle_kib_per_session']:8.0f} "
                f"{s['active_kib_per_session']:8.0f}"
            )
    return "\n".join(lines)


def write_json(path: Path, cells: Sequence[PacedCell], extra: dict[str, Any]) -> None:
    """Every round's raw results with the medians, and the machine's load, as JSON."""
    data = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "loadavg_at_end": _loadavg(),
        **extra,
        "paced": [
            {
                "client": c.client,
                "provider": c.provider,
                "transport": c.transport,
                "sessions": c.sessions,
                "baseline": c.baseline,
                "ratio_to_bare": c.ratio,
                "ratio_spread": list(c.ratio_spread),
                "client_medians": c.stats("mine"),
                "bare_medians": c.stats("bare"),
                "bare_pooled_medians": _bare_stats(cells, (c.provider, c.transport)),
                "rounds": [attrs.asdict(r) for r in c.rounds],
            }
            for c in cells
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


_COLOURS = {
    "bare": (120, 120, 120),
    "bare64": (90, 90, 90),
    "ours": (31, 119, 180),
    "sdk": (255, 127, 14),
}


def write_chart(path: Path, cells: Sequence[PacedCell]) -> None:
    """A PNG bar chart: CPU ms per session-second and sessions per core, by client.

    Drawn with Pillow (the ``image`` extra, in ``dev``): no plotting library needed.
    """
    from PIL import Image, ImageDraw

    groups: list[tuple[str, dict[str, float]]] = []
    for key in dict.fromkeys((c.provider, c.transport) for c in cells):
        mine = [c for c in cells if (c.provider, c.transport) == key]
        values = {mine[0].baseline: _bare_stats(cells, key)["cpu_ms_per_session_second"]}
        for c in mine:
            values[c.client] = c.stats("mine")["cpu_ms_per_session_second"]
        groups.append((f"{key[0]} {key[1]}", values))
    width, height, pad = 900, 560, 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)

    def cpu(v: float) -> float:
        return v

    def per_core(v: float) -> float:
        return 1000.0 / v

    panels: list[tuple[str, Callable[[float], float]]] = [
        ("CPU ms per session-second (lower is better)", cpu),
        ("sessions per core (higher is better)", per_core),
    ]
    panel_h = (height - pad) // 2
    for p, (title, fn) in enumerate(panels):
        top = pad // 2 + p * panel_h
        draw.text((pad, top), title, fill="black")
        peak = max(fn(v) for _, vals in groups for v in vals.values()) or 1.0
        base = top + panel_h - 40
        scale = (panel_h - 80) / peak
        slot = (width - 2 * pad) / max(1, len(groups))
        for g, (label, vals) in enumerate(groups):
            x0 = pad + g * slot + 10
            bar = (slot - 20) / max(1, len(vals))
            for i, (client, value) in enumerate(vals.items()):
                v = fn(value)
                x = x0 + i * bar
                draw.rectangle(
                    [x, base - v * scale, x + bar - 4, base], fill=_COLOURS.get(client, (0, 0, 0))
                )
                draw.text(
                    (x, base - v * scale - 12), f"{v:.0f}" if v >= 100 else f"{v:.1f}", fill="black"
                )
                draw.text((x, base + 2), client, fill="black")
            draw.text((x0, base + 16), label, fill="black")
        draw.line([pad, base, width - pad, base], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
