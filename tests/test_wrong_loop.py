"""Driven by asyncio instead of Trio, the entry points say so instead of failing deep in Trio."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import trio_realtime as rt
from trio_realtime.apps import run_chat
from trio_realtime.demo import run_demo
from trio_realtime.testing.server import FakeServer, open_fake_server, run_fake_server_cli

CONFIG = rt.OpenAIRealtime(url="ws://127.0.0.1:9/v1/realtime", api_key="test-" + "key")


async def use_connect() -> None:
    async with rt.connect(CONFIG):
        pass  # pragma: no cover


async def use_fake_server() -> None:
    async with open_fake_server():
        pass  # pragma: no cover


async def use_serve() -> None:
    await FakeServer().serve()


async def use_fake_server_cli() -> None:
    await run_fake_server_cli("127.0.0.1", 0, 1.0, False)


async def use_demo() -> None:
    await run_demo("openai", out="never-created")


async def use_chat() -> None:
    await run_chat(argparse.Namespace(out="never-created"), False)


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        (use_connect, "trio_realtime.connect()"),
        (use_fake_server, "open_fake_server()"),
        (use_serve, "FakeServer.serve()"),
        (use_fake_server_cli, "trio-realtime fake-server"),
        (use_demo, "run_demo()"),
        (use_chat, "trio-realtime chat"),
    ],
)
def test_asyncio_gets_a_clear_error(entry: Callable[[], Awaitable[Any]], what: str) -> None:
    async def main() -> None:
        await entry()

    with pytest.raises(rt.RealtimeError) as info:
        asyncio.run(main())
    message = str(info.value)
    assert what in message
    assert "trio.run(main)" in message
    assert "anyio.run(main, backend='trio')" in message
    assert type(info.value) is rt.RealtimeError
