"""Keep the interruption benchmark and the latency knee sweep working (tiny sizes, no timing)."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
import trio_websocket

from benchmarks.interrupt import (
    InterruptCell,
    _Tally,
    expected_interruptions,
    format_interrupt,
    last_response_chunks,
    measure_interrupt,
    run_interrupt,
    write_interrupt_json,
)
from benchmarks.loadserver import GEMINI_PATH, OPENAI_PATH, LoadServer, response_tag, sent_ns
from benchmarks.paced import PacedResult, _Run
from benchmarks.run import parse_args
from benchmarks.sweep import SweepLine, format_sweep, run_sweep, write_sweep_json


@pytest.fixture(scope="module")
def load_server() -> Iterator[LoadServer]:
    with LoadServer(lifetime=300, start_timeout=60) as server:
        yield server


def _samples(b64: str) -> np.ndarray[Any, Any]:
    return np.frombuffer(base64.b64decode(b64), dtype="<i2")


async def _openai_wire(port: int, query: str) -> list[dict[str, Any]]:
    """Every message of one OpenAI barge-in session, sending the input it asks for."""
    chunks = int(query.split("chunks=")[1].split("&")[0])
    got: list[dict[str, Any]] = []
    async with trio_websocket.open_websocket_url(
        f"ws://127.0.0.1:{port}{OPENAI_PATH}?{query}", message_queue_size=4096
    ) as ws:
        got.append(json.loads(await ws.get_message()))
        await ws.send_message('{"type":"session.update","session":{"type":"realtime"}}')
        append = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"})
        for _ in range(chunks):
            await ws.send_message(append)
        while got[-1]["type"] != "input_audio_buffer.committed":
            got.append(json.loads(await ws.get_message()))
    return got


async def test_openai_barge_in_follows_the_service_and_tags_every_chunk(
    load_server: LoadServer,
) -> None:
    before = time.monotonic_ns()
    with trio.fail_after(30):
        wire = await _openai_wire(
            load_server.port, "chunks=8&pace=1&bargein=3&burst=2&trail=1&phase=1"
        )
    after = time.monotonic_ns()
    kinds = [m["type"] for m in wire]
    delta = "response.output_audio.delta"
    cut = [
        "input_audio_buffer.speech_started",
        delta,  # the trail: a chunk of the cut response after the barge-in frame
        "response.output_audio.done",
        "response.done",
        "response.created",
    ]
    # phase=1: barge-ins after paced chunks 2 and 5 (i + 1 + 1 divisible by 3), each
    # after a burst of 2; no barge-in after the last chunk.
    assert kinds == [
        "session.created",
        "session.updated",
        "response.created",
        *[delta] * (2 + 2),
        *cut,
        *[delta] * (3 + 2),
        *cut,
        *[delta] * 3,
        "input_audio_buffer.committed",
    ]
    assert expected_interruptions(8, 3, 1) == 2
    assert last_response_chunks(8, 3, 1) == 3
    barge = [m for m in wire if m["type"] == "input_audio_buffer.speech_started"]
    assert [m["bench_cut"] for m in barge] == [0, 1]
    assert all(before <= m["bench_sent_ns"] <= after for m in barge)
    # Every chunk names its response in its samples, matching the ids on the wire.
    response = 0
    ids = []
    for m in wire:
        if m["type"] == "response.created":
            ids.append(m["response"]["id"])
        elif m["type"] == delta:
            samples = _samples(m["delta"])
            assert before <= sent_ns(samples) <= after
            assert response_tag(samples) == response
            assert m["response_id"] == ids[response]
            assert m["item_id"][-5:] == ids[response][-5:]
        elif m["type"] == "response.done":
            assert m["response"]["id"] == ids[response]
            assert m["response"]["status"] == "cancelled"
            assert m["response"]["status_details"]["reason"] == "turn_detected"
            response += 1
    assert len(set(ids)) == 3


async def test_gemini_barge_in_follows_the_service_and_tags_every_chunk(
    load_server: LoadServer,
) -> None:
    got: list[dict[str, Any]] = []
    with trio.fail_after(30):
        async with trio_websocket.open_websocket_url(
            f"ws://127.0.0.1:{load_server.port}{GEMINI_PATH}?chunks=5&pace=1&bargein=2&burst=1",
            message_queue_size=4096,
        ) as ws:
            await ws.send_message('{"setup":{"model":"models/x"}}')
            for _ in range(5):
                await ws.send_message('{"realtimeInput":{"audio":{"data":"AAAA"}}}')
            # Two barge-ins, each ending its turn, then the last turn's end.
            while sum(m.get("serverContent", {}).get("turnComplete", False) for m in got) < 3:
                got.append(json.loads(await ws.get_message()))

    def what(m: dict[str, Any]) -> str | int:
        content = m.get("serverContent", {})
        if "modelTurn" in content:
            data = content["modelTurn"]["parts"][0]["inlineData"]["data"]
            return response_tag(_samples(data))
        if content.get("interrupted"):
            return f"cut {m['benchCut']}"
        return "turnComplete" if content.get("turnComplete") else "setupComplete"

    # Default trail (3): chunks of the cut turn between `interrupted` and `turnComplete`.
    assert [what(m) for m in got] == [
        "setupComplete",
        *[0, 0, 0, "cut 0", 0, 0, 0, "turnComplete"],
        *[1, 1, 1, "cut 1", 1, 1, 1, "turnComplete"],
        2,
        "turnComplete",
    ]


def test_an_application_playing_every_chunk_is_counted_stale() -> None:
    def chunk(response: int) -> np.ndarray[Any, Any]:
        pcm = bytearray(960)
        pcm[8:12] = response.to_bytes(4, "little")
        return np.frombuffer(bytes(pcm), dtype="<i2")

    tally = _Tally(_Run(1, 10, 0.0), final=1, phase=0)
    tally.audio(chunk(0))
    tally.interrupted(time.monotonic_ns(), 0)
    tally.audio(chunk(0))  # the cut response, after its interruption: stale
    tally.audio(chunk(1))
    assert (tally.frames, tally.stale, tally.final_frames, len(tally.latencies)) == (3, 1, 1, 1)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("client", ["bare", "ours"])
def test_interrupt_worker_sees_every_barge_in_and_no_stale_audio(
    load_server: LoadServer, client: str, provider: str
) -> None:
    result = measure_interrupt(client, provider, load_server.port, 3, 14, 4, timeout=60)
    # Phases 0, 1, 2: (13 + phase) // 4 barge-ins each.
    assert result.interruptions == 3 + 3 + 3
    assert len(result.latencies_ms) == 9
    assert all(x > 0 for x in result.latencies_ms)
    assert result.stale_frames == 0
    assert 0 < result.audio_p50_ms <= result.audio_p99_ms
    # The server sent 3 chunks of each cut response after its barge-in frame.
    assert result.stale_sent == 27
    # Bare plays every burst chunk; ours drops what it still held at the barge-in.
    paced_and_bursts = 3 * 14 + 9 * 10
    if client == "bare":
        assert result.frames_in == paced_and_bursts
    else:
        assert result.frames_in <= paced_and_bursts


def test_interrupt_worker_refuses_nonsense_sizes(load_server: LoadServer) -> None:
    with pytest.raises(ValueError, match="every and chunks must be at least 1"):
        measure_interrupt("ours", "openai", load_server.port, 1, 10, 0)


@pytest.mark.slow
def test_interrupt_rounds_write_table_and_json(tmp_path: Path) -> None:
    out = io.StringIO()
    cells = run_interrupt(
        providers=["openai", "gemini"],
        sessions=2,
        chunks=10,
        every=4,
        rounds=2,
        timeout=60,
        out=out,
        lead=3.0,
    )
    assert [(c.provider, c.transport, c.client, len(c.results)) for c in cells] == [
        ("openai", "plain", "bare", 2),
        ("openai", "plain", "ours", 2),
        ("gemini", "plain", "bare", 2),
        ("gemini", "plain", "ours", 2),
    ]
    for cell in cells:
        summary = cell.summary()
        assert summary["stale_frames"] == 0
        # Two rounds of two sessions, phases 0 and 2: (9 + 0) // 4 + (9 + 2) // 4 each.
        assert summary["interruptions"] == 2 * (2 + 2)
        assert summary["latency_p50_ms"] <= summary["latency_p99_ms"]
    rounds = [line for line in out.getvalue().splitlines() if line.startswith("  round")]
    # The start order alternates between rounds.
    assert [r.split()[4] for r in rounds] == ["bare", "ours", "bare", "ours"]
    table = format_interrupt(cells).splitlines()
    assert [line.split()[:3] for line in table[3:]] == [
        ["openai", "plain", "bare"],
        ["openai", "plain", "ours"],
        ["gemini", "plain", "bare"],
        ["gemini", "plain", "ours"],
    ]
    write_interrupt_json(tmp_path / "interrupt.json", cells, {"every": 4})
    data = json.loads((tmp_path / "interrupt.json").read_text())
    assert data["every"] == 4
    assert [c["summary"]["stale_frames"] for c in data["interrupt"]] == [0, 0, 0, 0]
    assert len(data["interrupt"][0]["rounds"]) == 2


def test_interrupt_table_pools_the_rounds() -> None:
    def result(client: str, latencies: list[float], stale: int) -> Any:
        from benchmarks.interrupt import InterruptResult

        return InterruptResult(
            client, "openai", False, 1, 50, 10, 10, 3, 0.01, 1.0, len(latencies), 60, stale,
            latencies,
        )  # fmt: skip

    cell = InterruptCell("ours", "openai", "plain")
    cell.results = [result("ours", [1.0, 2.0, 3.0], 0), result("ours", [4.0, 5.0], 1)]
    summary = cell.summary()
    assert summary["latency_p50_ms"] == 3.0
    assert summary["latency_max_ms"] == 5.0
    assert (summary["interruptions"], summary["stale_frames"], summary["stale_sent"]) == (5, 1, 15)
    assert summary["round_p99_max_ms"] == pytest.approx(4.99)
    row = format_interrupt([cell]).splitlines()[3].split()
    assert row[:6] == ["openai", "plain", "ours", "5", "3.00", "4.96"]
    assert row[-3:-1] == ["1", "15"]


def _paced(client: str, sessions: int, p99: float) -> PacedResult:
    return PacedResult(
        client, "openai", False, sessions, 50, 0.005 * sessions, 1.0, 50 * sessions,
        960 * 50 * sessions, 1.0, p99, p99, 0, 0, 0,
    )  # fmt: skip


def test_sweep_knee_is_the_largest_step_within_the_limit() -> None:
    within = [_paced("ours", 20, 3.0), _paced("ours", 50, 12.0)]
    assert SweepLine("ours", "openai", 20.0, list(within)).reached_end
    line = SweepLine("ours", "openai", 20.0, [*within, _paced("ours", 100, 25.0)])
    assert not line.reached_end
    knee = line.knee
    assert knee is not None
    assert knee.sessions == 50
    none = SweepLine("bare", "openai", 20.0, [_paced("bare", 20, 30.0)])
    assert none.knee is None
    table = format_sweep([line, none]).splitlines()
    # 5 ms of CPU per session-second: 200 sessions per core.
    assert table[2].split() == [
        *["openai", "ours", "50", "12.00", "200"],
        *["20:", "3.0,", "50:", "12.0,", "100:", "25.0"],
    ]
    assert table[3].split()[:3] == ["openai", "bare", "<20"]


def test_sweep_runs_workers_and_stops_past_the_limit(tmp_path: Path) -> None:
    out = io.StringIO()
    lines = run_sweep(
        providers=["gemini"], steps=(2, 1), chunks=5, limit_ms=1e9, timeout=60, out=out
    )
    assert [(x.client, [r.sessions for r in x.steps]) for x in lines] == [
        ("bare", [1, 2]),
        ("ours", [1, 2]),
    ]
    assert all(r.chunks_in == r.sessions * 5 for x in lines for r in x.steps)
    # The load server's CPU share during each step, beside it.
    assert all(len(x.server_cores) == len(x.steps) for x in lines)
    assert all(c >= 0 for x in lines for c in x.server_cores)
    assert "(" in format_sweep(lines).splitlines()[2]
    # A limit nothing meets: each client stops after its first step.
    stopped = run_sweep(providers=["openai"], clients=["ours"], steps=(1, 2), chunks=5,
                        limit_ms=0.0, timeout=60, out=out)  # fmt: skip
    assert [len(x.steps) for x in stopped] == [1]
    assert stopped[0].knee is None
    write_sweep_json(tmp_path / "sweep.json", lines + stopped, {"seconds": 0.1})
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert [x["knee_sessions"] for x in data["sweep"]][-1] is None
    assert len(data["sweep"][0]["steps"]) == 2


def test_interrupt_and_sweep_options_from_the_command_line(tmp_path: Path) -> None:
    opts = parse_args([])
    assert (opts.interrupt, opts.sweep, opts.interrupt_transports) == (True, False, ("plain",))
    only = parse_args(["--interrupt", "--quick", "--interrupt-every", "10"])
    assert (only.paced, only.flood, only.micro, only.interrupt, only.sweep) == (
        False,
        False,
        False,
        True,
        False,
    )
    assert (only.interrupt_sessions, only.interrupt_rounds, only.interrupt_every) == (5, 1, 10)
    sweep = parse_args(["--sweep", "--sweep-steps", "10,30", "--sweep-in-phase"])
    assert (sweep.sweep, sweep.interrupt, sweep.paced) == (True, False, False)
    assert (sweep.sweep_steps, sweep.sweep_stagger) == ((10, 30), 0.0)
    assert parse_args(["--no-interrupt"]).interrupt is False
    assert parse_args(["--transport", "tls"]).interrupt_transports == ("tls",)
    for bad in (["--sweep-steps", "10,x"], ["--sweep-steps", "0"], ["--interrupt-every", "0"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
