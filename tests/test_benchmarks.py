"""Keep the benchmark machinery working (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trio
import trio_websocket

import trio_realtime as rt
from benchmarks.clients import _TRIO_SESSIONS, CLIENTS, Result, _Tally, _url, measure, run_client
from benchmarks.loadserver import (
    LoadServer,
    _audio_offset,
    _stamp,
    gemini_messages,
    openai_messages,
    pcm_chunk,
    sent_ns,
)
from benchmarks.micro import micro_cases, run_micro
from benchmarks.paced import PacedResult, PairedRound, measure_paced
from benchmarks.report import PacedCell, format_paced, run_paced, write_chart, write_json
from benchmarks.run import (
    Measurement,
    Options,
    format_table,
    parse_args,
    profile,
    run,
    sdk_available,
)

PAIRS = [(client, provider) for client, providers in CLIENTS.items() for provider in providers]


@pytest.fixture(scope="module")
def load_server() -> Iterator[LoadServer]:
    with LoadServer(lifetime=300, start_timeout=60) as server:
        yield server


def test_pcm_chunk_is_20_ms_of_int16_tone() -> None:
    pcm = pcm_chunk(24000, 3)
    samples = np.frombuffer(pcm, dtype="<i2")
    assert samples.size == 480
    assert 7000 < np.abs(samples).max() <= 8000
    # Chunk 3 carries on where chunk 2 ended (one continuous tone).
    longer = np.frombuffer(pcm_chunk(24000, 0, ms=80), dtype="<i2")
    assert np.array_equal(longer[1440:1920], samples)


def test_server_messages_are_valid_wire_messages() -> None:
    oa = openai_messages()
    assert json.loads(oa["created"])["type"] == "session.created"
    assert json.loads(oa["committed"])["type"] == "input_audio_buffer.committed"
    deltas = [json.loads(d) for d in oa["deltas"]]
    assert len({d["event_id"] for d in deltas}) == len(deltas) == 50
    assert {d["type"] for d in deltas} == {"response.output_audio.delta"}
    gm = gemini_messages()
    assert json.loads(gm["setup_complete"]) == {"setupComplete": {}}
    part = json.loads(gm["deltas"][0])["serverContent"]["modelTurn"]["parts"][0]
    assert part["inlineData"]["mimeType"] == "audio/pcm;rate=24000"


def test_load_server_refuses_a_non_numeric_chunk_count(load_server: LoadServer) -> None:
    url = f"http://127.0.0.1:{load_server.port}/v1/realtime?chunks=many"
    request = urllib.request.Request(
        url,
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(request, timeout=10)
    assert info.value.code == 400


@pytest.mark.parametrize(("client", "provider"), PAIRS)
def test_each_client_moves_all_audio_both_ways(
    load_server: LoadServer, client: str, provider: str
) -> None:
    if client == "sdk" and not sdk_available(provider):
        pytest.skip("the openai package is not installed")
    result = measure(client, provider, load_server.port, sessions=2, chunks=7, timeout=60)
    assert (result.client, result.provider) == (client, provider)
    assert result.chunks_in == 14
    assert result.bytes_in == 14 * 960
    assert result.cpu_s > 0
    assert result.session_seconds == pytest.approx(0.28)


async def test_load_server_survives_a_client_leaving_mid_stream(load_server: LoadServer) -> None:
    with trio.fail_after(30):
        async with trio_websocket.open_websocket_url(
            _url(load_server.port, "openai", 400), message_queue_size=8
        ) as ws:
            assert json.loads(await ws.get_message())["type"] == "session.created"
            await ws.send_message('{"type":"session.update","session":{"type":"realtime"}}')
            assert json.loads(await ws.get_message())["type"] == "session.updated"
            assert json.loads(await ws.get_message())["type"] == "response.created"
            delta = json.loads(await ws.get_message())
            assert delta["type"] == "response.output_audio.delta"
        # Gone after 1 of 400 chunks; the next client is served in full.
        tally = _Tally()
        await _TRIO_SESSIONS["bare", "openai"](_url(load_server.port, "openai", 3), 3, tally)
    assert (tally.chunks, tally.nbytes) == (3, 3 * 960)


class _CountSpawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_our_hot_path_spawns_no_task_and_logs_nothing_per_chunk(
    load_server: LoadServer, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_realtime")

    def spawned(chunks: int) -> int:
        counter = _CountSpawns()
        tally = _Tally()

        async def main() -> None:
            with trio.fail_after(30):
                await _TRIO_SESSIONS["ours", provider](
                    _url(load_server.port, provider, chunks), chunks, tally
                )

        trio.run(main, instruments=[counter])
        assert tally.chunks == chunks
        return counter.spawned

    assert spawned(3) == spawned(120)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


async def test_received_audio_is_a_view_of_the_decoded_bytes(load_server: LoadServer) -> None:
    config = rt.OpenAIRealtime(
        url=_url(load_server.port, "openai", 2),
        api_key="bench",
        connection=rt.ConnectionOptions(ping_interval=None),
    )
    first: rt.AudioOut | None = None
    with trio.fail_after(30):
        async with rt.connect(config) as session:
            async for event in session.events():
                if isinstance(event, rt.AudioOut):
                    first = event
                    break
            await session.send_audio(rt.AudioFrame.from_bytes(pcm_chunk(24000), 24000))
            await session.send_audio(rt.AudioFrame.from_bytes(pcm_chunk(24000), 24000))
    assert first is not None
    samples = first.frame.samples
    # np.frombuffer over the base64-decoded bytes: no second copy of the audio.
    assert not samples.flags.owndata
    base: object = samples.base
    assert type(base) is bytes
    assert samples.tobytes() == pcm_chunk(24000, 0)


def test_run_client_rejects_an_unknown_pair(load_server: LoadServer) -> None:
    with pytest.raises(ValueError, match="no 'sdk' client for 'vertex'"):
        run_client("sdk", "vertex", load_server.port, 1, 1, 10)


def test_result_check_reports_missing_audio() -> None:
    result = Result("ours", "openai", 2, 5, 0.1, 0.2, chunks_in=9, bytes_in=9 * 960)
    with pytest.raises(RuntimeError, match=r"received 9 chunks \(8640 bytes\), expected 10"):
        result.check()


def test_table_gives_ratios_to_bare_of_the_same_repeat() -> None:
    def runs(client: str, provider: str, user_share: float, *cpu: float) -> Measurement:
        # 1 session x 50 chunks = 1 session-second, so cpu_s * 1000 is ms/session-s.
        return Measurement(
            client,
            provider,
            [
                Result(client, provider, 1, 50, c, 1.0, 50, 50 * 960, 2048, 1024, c * user_share)
                for c in cpu
            ],
        )

    table = format_table(
        [
            runs("bare", "openai", 0.5, 0.010, 0.012, 0.011),
            runs("ours", "openai", 0.6, 0.0121, 0.0110, 0.0099),
            runs("ours", "gemini", 0.5, 0.005),
        ],
        [],
        ["sdk: skipped"],
    )
    lines = table.splitlines()
    header = lines[2].split()
    assert header[:5] == ["provider", "client", "ms/sess-s", "min..max", "vs"]
    row = ["openai", "bare", "11.00", "10.00..12.00", "1.00x", "5.50", "1.00x"]
    assert lines[3].split() == [*row, "2", "MiB", "1.0", "MiB"]
    # Same-repeat ratios 1.21, 0.917, 0.90: the median is 0.917, although the
    # medians of the runs are equal. User time: 0.6 / 0.5 of that, 1.10.
    row = ["openai", "ours", "11.00", "9.90..12.10", "0.92x", "6.60", "1.10x"]
    assert lines[4].split() == [*row, "2", "MiB", "1.0", "MiB"]
    # No bare run for gemini: no ratio.
    row = ["gemini", "ours", "5.00", "5.00..5.00", "-", "2.50", "-"]
    assert lines[5].split() == [*row, "2", "MiB", "1.0", "MiB"]
    assert lines[-1] == "note: sdk: skipped"


def test_micro_cases_agree_and_time() -> None:
    names = [name for name, _ours, _bare in micro_cases()]
    assert names == [
        "openai receive audio delta",
        "openai audio_message (send)",
        "gemini receive audio frame",
        "gemini audio_message (send)",
    ]
    results = run_micro(number=20, repeat=1)
    assert [r.name for r in results] == names
    assert all(r.ours_us > 0 and r.bare_us > 0 for r in results)


def test_options_from_the_command_line() -> None:
    opts = parse_args(["--sessions", "3", "--seconds", "1.5", "--repeat", "2"])
    assert (opts.sessions, opts.chunks, opts.repeat) == (3, 75, 2)
    assert (parse_args([]).sessions, parse_args([]).chunks, parse_args([]).repeat) == (20, 500, 5)
    quick = parse_args(["--quick", "--provider", "gemini", "--client", "ours", "--no-micro"])
    assert (quick.sessions, quick.chunks, quick.repeat) == (5, 100, 1)
    assert parse_args(["--quick", "--sessions", "2"]).sessions == 2
    assert (quick.providers, quick.clients, quick.micro) == (("gemini",), ("ours",), False)
    assert parse_args(["--profile", "ours:gemini"]).profile == ("ours", "gemini")
    # Paced sessions in phase by default; spread over one 20 ms chunk period on request.
    assert parse_args([]).paced_stagger == 0.0
    assert parse_args(["--paced-spread"]).paced_stagger == pytest.approx(0.02)
    with pytest.raises(SystemExit):
        parse_args(["--sessions", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--profile", "sdk:vertex"])


def test_profile_names_our_functions() -> None:
    out = io.StringIO()
    opts = Options(sessions=2, seconds=0.1, profile=("ours", "openai"), timeout=60)
    stats = profile(opts, out, top=5)
    files = {path for path, _line, _name in stats.stats}  # type: ignore[attr-defined]
    assert any(path.endswith("trio_realtime/session.py") for path in files)
    assert out.getvalue().startswith("cProfile of ours/openai: 2 sessions x 5 chunks")


def test_driver_runs_workers_and_alternates_order() -> None:
    out = io.StringIO()
    opts = Options(
        sessions=2,
        seconds=0.1,
        repeat=2,
        providers=("openai",),
        clients=("bare", "ours"),
        micro=True,
        micro_number=10,
        timeout=60,
        paced=False,
        interrupt=False,
    )
    measurements, micro = run(opts, out)
    assert [(m.client, m.provider, len(m.runs)) for m in measurements] == [
        ("bare", "openai", 2),
        ("ours", "openai", 2),
    ]
    assert all(r.chunks_in == 10 for m in measurements for r in m.runs)
    assert all(r.maxrss_kib >= r.rss_before_kib > 0 for m in measurements for r in m.runs)
    assert len(micro) == 4
    text = out.getvalue()
    runs = [line.split()[2] for line in text.splitlines() if line.startswith("  run ")]
    assert runs == ["bare", "ours", "ours", "bare"]
    assert "openai   ours" in text
    assert "ours/bare" in text


def test_paced_deltas_carry_the_send_time_in_their_first_samples() -> None:
    for messages, key in ((openai_messages(), "delta"), (gemini_messages(), "data")):
        delta = messages["deltas"][0]
        offset = _audio_offset(delta, key)
        pcm = pcm_chunk(24000)
        before = time.monotonic_ns()
        stamped = _stamp(delta, offset, pcm[8])
        wire = json.loads(stamped)
        data = (
            wire["delta"]
            if key == "delta"
            else wire["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"]
        )
        samples = np.frombuffer(base64.b64decode(data), dtype="<i2")
        assert before <= sent_ns(samples) <= time.monotonic_ns()
        # Only the 8 bytes of the stamp changed; the rest of the audio is intact.
        assert samples.tobytes()[8:] == pcm[8:]


@pytest.fixture(scope="module")
def tls_load_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoadServer, str]]:
    ca = str(tmp_path_factory.mktemp("ca") / "ca.pem")
    with LoadServer(lifetime=300, start_timeout=60, tls_ca=ca) as server:
        yield server, ca


@pytest.mark.parametrize("provider", ["openai", "gemini"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("client", ["bare", "bare64", "ours", "sdk"])
def test_paced_worker_moves_all_audio_and_measures_latency(
    tls_load_server: tuple[LoadServer, str], client: str, provider: str, tls: bool
) -> None:
    if client == "sdk" and not sdk_available(provider):
        pytest.skip("the official SDK is not installed")
    server, ca = tls_load_server
    port = server.tls_port if tls else server.port
    result = measure_paced(client, provider, port, 2, 10, ca_file=ca if tls else None, timeout=60)
    assert (result.client, result.provider, result.tls) == (client, provider, tls)
    assert (result.chunks_in, result.bytes_in) == (20, 20 * 960)
    # Paced: 10 chunks of 20 ms take about 0.2 s of wall time, whatever the load.
    assert result.wall_s >= 0.18
    assert 0 < result.latency_p50_ms <= result.latency_p99_ms <= result.latency_max_ms
    assert result.rss_idle_kib > 0
    assert result.rss_active_kib > 0


@pytest.mark.slow
def test_paced_paired_rounds_write_table_json_and_chart(tmp_path: Path) -> None:
    out = io.StringIO()
    cells = run_paced(
        providers=["openai", "gemini"],
        clients=["ours"],
        transports=["plain", "tls"],
        sessions=2,
        chunks=10,
        rounds=2,
        timeout=60,
        out=out,
        lead=3.0,
    )
    assert [(c.provider, c.transport, c.client, len(c.rounds)) for c in cells] == [
        ("openai", "plain", "ours", 2),
        ("openai", "tls", "ours", 2),
        ("gemini", "plain", "ours", 2),
        ("gemini", "tls", "ours", 2),
    ]
    for cell in cells:
        # Rounds alternate which process of the pair starts first.
        assert [(r.a.client, r.b.client) for r in cell.rounds] == [
            ("ours", "bare"),
            ("bare", "ours"),
        ]
        assert all(r.a.chunks_in == r.b.chunks_in == 20 for r in cell.rounds)
        assert all(r.a.tls == r.b.tls == (cell.transport == "tls") for r in cell.rounds)
        lo, hi = cell.ratio_spread
        assert lo <= cell.ratio <= hi
    table = format_paced(cells)
    rows = [line.split()[:3] for line in table.splitlines()[3:]]
    assert [r for r in rows if r[2] == "bare"] == [
        ["openai", "plain", "bare"],
        ["openai", "tls", "bare"],
        ["gemini", "plain", "bare"],
        ["gemini", "tls", "bare"],
    ]
    assert "gemini   tls   ours" in table
    write_json(tmp_path / "paced.json", cells, {"rounds": 2})
    data = json.loads((tmp_path / "paced.json").read_text())
    assert [c["ratio_to_bare"] for c in data["paced"]] == [c.ratio for c in cells]
    assert len(data["paced"][0]["rounds"]) == 2
    write_chart(tmp_path / "paced.png", cells)
    from PIL import Image

    with Image.open(tmp_path / "paced.png") as image:
        assert image.format == "PNG"
        assert image.size == (900, 560)


def _paced_result(client: str, cpu_s: float) -> PacedResult:
    return PacedResult(
        client, "gemini", False, 2, 50, cpu_s, 1.0, 100, 96000, 1.0, 2.0, 3.0, 0, 0, 0
    )


def test_paced_report_names_the_baseline_it_was_paired_with(tmp_path: Path) -> None:
    # Two rounds against the pybase64 bare loop, alternating which one is "a".
    rounds = [
        PairedRound(_paced_result("ours", 0.20), _paced_result("bare64", 0.25)),
        PairedRound(_paced_result("bare64", 0.20), _paced_result("ours", 0.30)),
    ]
    cell = PacedCell("ours", "gemini", "plain", 2, rounds)
    assert cell.baseline == "bare64"
    assert cell.ratio == pytest.approx((0.8 + 1.5) / 2)
    rows = [line.split()[:5] for line in format_paced([cell]).splitlines()[3:]]
    # 0.225 s of CPU over 2 sessions x 1 s: 112.5 ms per session-second.
    assert rows == [
        ["gemini", "plain", "bare64", "112.50", "1.00x"],
        ["gemini", "plain", "ours", "125.00", "1.15x"],
    ]
    write_json(tmp_path / "paced.json", [cell], {})
    (entry,) = json.loads((tmp_path / "paced.json").read_text())["paced"]
    assert (entry["baseline"], entry["client"]) == ("bare64", "ours")
    assert PacedCell("ours", "gemini", "plain", 2).baseline == "bare"


def test_paced_options_from_the_command_line(tmp_path: Path) -> None:
    opts = parse_args([])
    assert (opts.paced, opts.flood, opts.paced_sessions, opts.rounds) == (True, True, 20, 7)
    assert opts.transports == ("plain", "tls")
    quick = parse_args(["--quick", "--transport", "tls", "--out", str(tmp_path)])
    assert (quick.paced_sessions, quick.paced_seconds, quick.rounds) == (5, 2.0, 2)
    assert (quick.transports, quick.out_dir) == (("tls",), tmp_path)
    assert parse_args(["--quick", "--rounds", "9"]).rounds == 9
    only = parse_args(["--no-flood", "--no-paced"])
    assert (only.paced, only.flood) == (False, False)
    assert opts.paced_baseline == "bare"
    assert parse_args(["--paced-baseline", "bare64"]).paced_baseline == "bare64"
    with pytest.raises(SystemExit):
        parse_args(["--paced-baseline", "ours"])
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])


def test_resampler_throughput_covers_the_voice_conversions() -> None:
    from benchmarks.micro import run_resampler
    from benchmarks.run import format_resampler

    results = run_resampler(seconds=0.2, repeat=1)
    assert [(r.in_rate, r.out_rate) for r in results] == [
        (48000, 16000),
        (48000, 24000),
        (24000, 48000),
        (24000, 16000),
    ]
    assert all(r.x_real_time > 0 for r in results)
    assert format_resampler().startswith("Resampler (20 ms chunks, soxr)")


def _in_git_checkout() -> bool:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        return False
    done = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and done.stdout.strip() == "true"


needs_git = pytest.mark.skipif(not _in_git_checkout(), reason="needs a git checkout")


@needs_git
def test_compare_exports_a_revision_that_a_worker_started_there_imports(tmp_path: Path) -> None:
    import subprocess
    import sys

    from benchmarks.compare import ROOT, export_tree

    tree = export_tree("HEAD", tmp_path / "head")
    assert (tree / "trio_realtime" / "__init__.py").is_file()
    assert (tree / "benchmarks").resolve() == ROOT / "benchmarks"
    # The worker imports the exported copy, not the installed (editable) one:
    # what `compare` measures is the revision asked for.
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import trio_realtime, benchmarks.paced; print(trio_realtime.__file__)",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert Path(where).resolve() == (tree / "trio_realtime" / "__init__.py").resolve()
    assert export_tree(".", tmp_path / "unused") == ROOT
    with pytest.raises(subprocess.CalledProcessError):
        export_tree("no-such-revision-here", tmp_path / "bad")


def test_compare_ratios_are_new_over_old_whichever_worker_started_first() -> None:
    from benchmarks.compare import Comparison
    from benchmarks.paced import PacedResult, PairedRound

    def result(cpu: float) -> PacedResult:
        return PacedResult(
            client="ours",
            provider="openai",
            tls=False,
            sessions=1,
            chunks=1,
            cpu_s=cpu,
            wall_s=1.0,
            chunks_in=1,
            bytes_in=960,
            latency_p50_ms=1.0,
            latency_p99_ms=1.0,
            latency_max_ms=1.0,
            rss_base_kib=0,
            rss_idle_kib=0,
            rss_active_kib=0,
        )

    cell = Comparison("openai", "plain")
    # Round 1: a = new (0.9 s), b = old (1.0 s); round 2: a = old (2.0 s), b = new (1.0 s).
    cell.rounds += [PairedRound(result(0.9), result(1.0)), PairedRound(result(2.0), result(1.0))]
    cell.a_is_new += [True, False]
    assert cell.ratios == pytest.approx([0.9, 0.5])
    assert cell.summary() == pytest.approx({"median": 0.7, "min": 0.5, "max": 0.9, "mean": 0.7})


@pytest.mark.slow
@needs_git
def test_compare_runs_paired_rounds_of_two_revisions(tmp_path: Path) -> None:
    from benchmarks.compare import compare, export_tree

    out = io.StringIO()
    cells = compare(
        export_tree("HEAD", tmp_path / "old"),
        export_tree(".", tmp_path / "new"),
        providers=["gemini"],
        transports=["plain"],
        sessions=2,
        chunks=10,
        rounds=2,
        timeout=60,
        lead=3.0,
        out=out,
    )
    assert [(c.provider, len(c.rounds)) for c in cells] == [("gemini", 2)]
    assert all(r.a.chunks_in == r.b.chunks_in == 20 for r in cells[0].rounds)
    assert out.getvalue().count("new/old") == 2
