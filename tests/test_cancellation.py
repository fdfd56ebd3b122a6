"""Cancelling a session from outside: prompt exit, a close frame the server sees, no task left.

The loop tests cancel whole sessions (both providers, against the fake server)
at seeded random points: the `n`-th Trio task step of a run that would
otherwise open the session, hold a spoken turn and close. The fake server runs
in the same process over `trio.testing.memory_stream_pair`, under the autojump
clock, so a wait on a timeout shows up as virtual seconds while the test takes
real milliseconds. One smaller loop runs over real sockets on 127.0.0.1 to
check the wall-clock exit time.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import trio_realtime as rt
from trio_realtime.testing.leaks import no_leaked_tasks
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import FakeConnection, FakeServer, open_fake_server

CLOSE_TIMEOUT = 5.0
OPTIONS = rt.ConnectionOptions(open_timeout=10, close_timeout=CLOSE_TIMEOUT, ping_interval=None)
KEY = "-".join(["fake", "key", "for", "tests"])
PROVIDERS = ["openai", "gemini"]
ITERATIONS = 24


def config_for(provider: str, base: str) -> rt.OpenAIRealtime | rt.GeminiLive:
    if provider == "openai":
        return rt.OpenAIRealtime(url=base + "/v1/realtime", api_key=KEY, connection=OPTIONS)
    return rt.GeminiLive(
        url=base + "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        api_key=KEY,
        connection=OPTIONS,
    )


class _ClientEnd(trio.abc.Stream):
    """The client's end of an in-memory connection: did bytes arrive before it was closed?"""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self._inner = inner
        self.received_any = False
        self.received_before_close: bool | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._inner.receive_some(max_bytes)
        if data:
            # Handed to the transport's reader (which parses the upgrade
            # response) in this same task step.
            self.received_any = True
        return data

    async def aclose(self) -> None:
        if self.received_before_close is None:
            self.received_before_close = self.received_any
        await self._inner.aclose()


@asynccontextmanager
async def in_memory_server(
    monkeypatch: pytest.MonkeyPatch, **options: Any
) -> AsyncIterator[tuple[FakeServer, list[_ClientEnd]]]:
    """A fake server that `open_connection` reaches over memory streams, whatever the URL.

    Patches `trio.open_tcp_stream` (which the transport dials with) for the
    length of the block.
    """
    server = FakeServer(**options)
    ends: list[_ClientEnd] = []
    async with trio.open_nursery() as nursery:

        async def open_tcp_stream(host: str, port: int, **kw: Any) -> trio.abc.Stream:
            client, server_end = trio.testing.memory_stream_pair()
            nursery.start_soon(server._handle_stream, server_end)
            end = _ClientEnd(client)
            ends.append(end)
            await trio.lowlevel.checkpoint()
            return end

        monkeypatch.setattr(trio, "open_tcp_stream", open_tcp_stream)
        try:
            yield server, ends
        finally:
            nursery.cancel_scope.cancel()


class _CancelAtStep(trio.abc.Instrument):
    """Cancels `scope` once `n` task steps have run (any task), from the run loop."""

    def __init__(self, scope: trio.CancelScope, n: int) -> None:
        self.scope = scope
        self.n = n
        self.steps = 0
        self.cancelled_at: float | None = None
        self._token = trio.lowlevel.current_trio_token()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1
        if self.steps == self.n:
            self._token.run_sync_soon(self._cancel)

    def _cancel(self) -> None:
        if self.cancelled_at is None:
            self.cancelled_at = trio.current_time()
            self.scope.cancel()


async def converse(config: rt.OpenAIRealtime | rt.GeminiLive) -> None:
    """Open a session, hold one spoken turn to its end, leave."""
    async with rt.connect(config) as session:
        await session.send_text("Hello there.")
        async for event in session.events():
            if isinstance(event, rt.ResponseDone):
                break


async def run_cancelled(
    config: rt.OpenAIRealtime | rt.GeminiLive, n: int | None
) -> tuple[_CancelAtStep, bool, float]:
    """Run `converse` cancelled at step `n`: (instrument, cancelled?, seconds from cancel to exit)."""
    with trio.CancelScope() as scope:
        instrument = _CancelAtStep(scope, n if n is not None else -1)
        trio.lowlevel.add_instrument(instrument)
        try:
            with no_leaked_tasks():
                await converse(config)
        finally:
            trio.lowlevel.remove_instrument(instrument)
    exited = trio.current_time()
    started = instrument.cancelled_at
    return instrument, scope.cancelled_caught, 0.0 if started is None else exited - started


async def server_side(server: FakeServer, index: int) -> FakeConnection | None:
    """The server's side of connection `index` once it has finished, or `None`."""
    conn = next((c for c in server.connections if c.index == index), None)
    if conn is None:
        return None
    with trio.fail_after(1):
        await conn.wait_closed()
    return conn


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelling_at_random_points_exits_at_once_and_says_goodbye(
    provider: str, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(f"cancel-{provider}-17")
    async with in_memory_server(
        monkeypatch, speed=1.0, scenario=Scenario(turns=[Turn(reply="Morning.")] * 99)
    ) as (server, ends):
        config = config_for(provider, "ws://fake.test")
        # A whole run without cancellation, to know how many steps it has.
        with trio.fail_after(30):
            full, _, _ = await run_cancelled(config, None)
        assert full.steps > 200
        exits: list[float] = []
        said_goodbye = dropped_early = 0
        for i in range(ITERATIONS):
            # One in three lands among the first steps: connecting and the upgrade.
            n = rnd.randrange(1, 60 if i % 3 == 0 else full.steps)
            known = len(server.connections)
            with trio.fail_after(30):
                _, cancelled, elapsed = await run_cancelled(config, n)
            if not cancelled:
                continue  # this run had fewer steps than the first (Trio's scheduling varies)
            exits.append(elapsed)
            new = list(server.connections)[known:]
            if not new or not new[0].accepted:
                continue  # cancelled before the server accepted the upgrade
            conn = new[0]
            with trio.fail_after(1):
                await conn.wait_closed()
            assert conn.close_code is None  # the server never closed first
            assert conn.closed is not None
            if ends[-1].received_before_close:
                # The client had read the upgrade when it closed: a close frame is due.
                assert (conn.closed.code, conn.closed.reason) == (1000, None), f"step {n}"
                said_goodbye += 1
            else:
                # Cancelled before the upgrade arrived: dropping TCP is all it can do.
                assert conn.closed.code == 1006, f"step {n}"
                dropped_early += 1
        # Prompt: no timeout was waited out (virtual seconds).
        assert max(exits) == 0.0, exits
        assert said_goodbye >= ITERATIONS // 2, (said_goodbye, dropped_early)


async def cancel_during_a_turn(
    config: rt.OpenAIRealtime | rt.GeminiLive,
    delay: float,
    clock: Callable[[], float],
    before_cancel: Callable[[], None] = lambda: None,
) -> float:
    """Cancel a session `delay` seconds into its first turn; return seconds from cancel to exit."""
    cancelled_at: list[float] = []
    with trio.CancelScope() as scope:
        async with rt.connect(config) as session:
            await session.send_text("Hello there.")

            async def cancel_later() -> None:
                await trio.sleep(delay)
                before_cancel()
                cancelled_at.append(clock())
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(cancel_later)
                async for _event in session.events():
                    pass
    assert scope.cancelled_caught
    return clock() - cancelled_at[0]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelling_when_the_server_never_answers_the_close_takes_close_timeout(
    provider: str, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(f"deaf-{provider}-17")
    async with in_memory_server(monkeypatch, speed=1.0) as (server, _ends):
        config = config_for(provider, "ws://fake.test")
        for _ in range(8):

            def deafen() -> None:
                server.connections[-1].stop_reading()  # our close frame is never read

            with trio.fail_after(60), no_leaked_tasks():
                elapsed = await cancel_during_a_turn(
                    config, rnd.uniform(0.0, 2.0), trio.current_time, deafen
                )
            # Both closers (the session and its connection's task) share one bound.
            assert CLOSE_TIMEOUT - 1e-9 <= elapsed <= CLOSE_TIMEOUT + 0.01, elapsed


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelling_over_real_sockets_exits_within_milliseconds(provider: str) -> None:
    rnd = random.Random(f"tcp-{provider}-17")
    async with open_fake_server(speed=1.0) as server:
        config = config_for(provider, server.url)
        exits: list[float] = []
        for i in range(1, 9):
            with trio.fail_after(30), no_leaked_tasks():
                exits.append(
                    await cancel_during_a_turn(config, rnd.uniform(0.0, 0.2), time.perf_counter)
                )
            conn = await server_side(server, i)
            assert conn is not None
            assert conn.closed is not None
            assert (conn.closed.code, conn.close_code) == (1000, None)
        # Milliseconds on an idle machine; the bound leaves room for a loaded one
        # while staying far below close_timeout (5 s).
        assert max(exits) < 1.0, exits
