"""Two revisions of the library against each other, paced and paired.

``python -m benchmarks.compare OLD NEW`` answers "did this change cost or save
CPU at real-time pace?" more finely than comparing each revision's ratio to
the bare loop: both workers run the same client code (``ours``, the paced
scenario of `benchmarks.paced`), started together against one load server,
so what differs is only the library. Each round starts one worker importing
``trio_realtime`` from OLD and one from NEW (which starts first alternates);
the figure is the median of the per-round CPU ratios NEW / OLD, with the
lowest and highest round and the mean. Below 1.00 means NEW costs less.

OLD and NEW are git revisions of this repository (``HEAD``, ``main~3``, a
commit id) or ``.`` for the working tree as it is. Each revision's
``trio_realtime`` package is exported with ``git archive`` into a temporary
directory; the benchmark code (client, load server) is this checkout's for
both, so a revision must be importable by it (the public API it uses has not
changed since the paced benchmark was added).

On a 2-core machine, one round's ratio moves by about ±5 %; with 10 rounds
the median settles to about ±1.5 %. Run it with the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import attrs

from .paced import PairedRound, run_pair

__all__ = ["Comparison", "compare", "export_tree", "main"]

ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Comparison:
    """The rounds of one provider and transport: `new` / `old` CPU per round."""

    provider: str
    transport: str
    rounds: list[PairedRound] = attrs.field(factory=list)
    #: For each round, whether the worker of `a` imported the new revision.
    a_is_new: list[bool] = attrs.field(factory=list)

    @property
    def ratios(self) -> list[float]:
        """CPU of the new revision over the old one, per round."""
        return [
            r.a.cpu_s / r.b.cpu_s if new_first else r.b.cpu_s / r.a.cpu_s
            for r, new_first in zip(self.rounds, self.a_is_new, strict=True)
        ]

    def summary(self) -> dict[str, float]:
        """Median, lowest, highest and mean of `ratios`."""
        ratios = self.ratios
        return {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
            "mean": statistics.fmean(ratios),
        }


def export_tree(rev: str, dest: Path) -> Path:
    """A directory whose ``trio_realtime`` is that of `rev` (``.``: this working tree).

    The directory also links this checkout's ``benchmarks`` package, so that a
    worker started there runs today's benchmark code on `rev`'s library.

    Raises:
        subprocess.CalledProcessError: `rev` is not a revision of this repository.
    """
    if rev == ".":
        return ROOT
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "trio_realtime"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    return dest


def compare(
    old: Path,
    new: Path,
    *,
    providers: Sequence[str],
    transports: Sequence[str],
    sessions: int,
    chunks: int,
    rounds: int,
    timeout: float = 300.0,
    lead: float = 6.0,
    out: TextIO = sys.stdout,
) -> list[Comparison]:
    """Run `rounds` paired rounds per provider and transport: `new`'s library against `old`'s.

    `old` and `new` are directories made by `export_tree`.
    """
    from .loadserver import LoadServer

    results: list[Comparison] = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = str(Path(tmp) / "ca.pem")
        with LoadServer(lifetime=timeout * rounds * 4 + 600, tls_ca=ca) as server:
            for provider in providers:
                for transport in transports:
                    tls = transport == "tls"
                    cell = Comparison(provider, transport)
                    for r in range(rounds):
                        new_first = r % 2 == 0
                        trees = (new, old) if new_first else (old, new)
                        result = run_pair(
                            ("ours", "ours"),
                            provider,
                            server.tls_port if tls else server.port,
                            sessions,
                            chunks,
                            ca_file=ca if tls else None,
                            timeout=timeout,
                            lead=lead,
                            trees=trees,
                        )
                        cell.rounds.append(result)
                        cell.a_is_new.append(new_first)
                        print(
                            f"  round {r + 1}: {provider:6} {transport:5} new/old "
                            f"{cell.ratios[-1]:.3f}",
                            file=out,
                            flush=True,
                        )
                    results.append(cell)
    return results


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.compare OLD NEW``: print (and optionally save) the ratios."""
    parser = argparse.ArgumentParser(
        description="Paced CPU of two revisions of trio_realtime, paired (NEW / OLD)."
    )
    parser.add_argument("old", help="git revision, or '.' for the working tree")
    parser.add_argument("new", help="git revision, or '.' for the working tree")
    parser.add_argument("--provider", choices=("openai", "gemini"), action="append")
    parser.add_argument("--transport", choices=("plain", "tls"), action="append")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path, help="also write the rounds here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old = export_tree(args.old, Path(tmp) / "old")
        new = export_tree(args.new, Path(tmp) / "new")
        print(
            f"paced, paired: {args.new} / {args.old}, {args.sessions} sessions x "
            f"{args.seconds:g} s, {args.rounds} round(s)",
            flush=True,
        )
        results = compare(
            old,
            new,
            providers=args.provider or ["openai", "gemini"],
            transports=args.transport or ["plain"],
            sessions=args.sessions,
            chunks=round(args.seconds * 50),
            rounds=args.rounds,
        )
    print(f"\n{'provider':8} {'link':5} {'new/old':>8} {'rounds':>13} {'mean':>6}")
    for cell in results:
        s = cell.summary()
        print(
            f"{cell.provider:8} {cell.transport:5} {s['median']:7.3f}x "
            f"{s['min']:6.3f}..{s['max']:.3f} {s['mean']:6.3f}"
        )
    if args.json is not None:
        payload = [
            {
                "old": args.old,
                "new": args.new,
                "provider": c.provider,
                "transport": c.transport,
                "ratios": c.ratios,
                **c.summary(),
                "rounds": [attrs.asdict(r) for r in c.rounds],
            }
            for c in results
        ]
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
