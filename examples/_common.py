"""Shared by the examples: pick the live service or the embedded fake server.

Every example runs against the real service when its API key is in the
environment (``OPENAI_API_KEY`` for OpenAI, ``GOOGLE_API_KEY`` or
``GEMINI_API_KEY`` for Gemini), and otherwise against the fake server that
ships with trio_realtime, so that it works offline and without an account.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

import trio_realtime as rt
from trio_realtime.testing.scenario import Scenario
from trio_realtime.testing.server import open_fake_server

KEY_VARIABLES = {"openai": ("OPENAI_API_KEY",), "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY")}


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--provider`` and ``--fake`` options every example takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--provider", choices=("openai", "gemini"), default="openai")
    p.add_argument(
        "--fake", action="store_true", help="use the embedded fake server even when a key is set"
    )
    return p


def has_key(provider: str) -> bool:
    """Whether an API key for `provider` is in the environment."""
    return any(os.environ.get(name) for name in KEY_VARIABLES[provider])


@asynccontextmanager
async def provider_config(
    provider: str,
    *,
    fake: bool = False,
    speed: float = math.inf,
    scenario: Scenario | None = None,
    **options: Any,
) -> AsyncIterator[rt.OpenAIRealtime | rt.GeminiLive]:
    """Yield a configuration for `provider`, live or pointed at a fake server.

    `options` (``instructions=``, ``tools=``, ``voice=``…) go to the
    configuration class. The fake server paces its reply audio at `speed`
    times real time (``math.inf``: as fast as possible) and answers as
    `scenario` says (default: it repeats what it heard).
    """
    cls = rt.OpenAIRealtime if provider == "openai" else rt.GeminiLive
    if has_key(provider) and not fake:
        print(f"Using the live {provider} service (API key found in the environment).")
        yield cls(**options)  # the key is read from the environment
        return
    async with open_fake_server(speed=speed, scenario=scenario) as server:
        url = server.openai_url if provider == "openai" else server.gemini_url()
        print(f"Using the embedded fake {provider} server at {server.url} (no API key set).")
        yield cls(url=url, api_key="fake-key", **options)


def run(main: Callable[[], Awaitable[None]]) -> None:
    """``trio.run(main)``; Ctrl+C ends quietly and trio_realtime's errors in one line.

    A wrong key, an unknown model or a lost connection raises a
    `trio_realtime.RealtimeError` whose message says what happened: the
    example prints it and exits with status 1 instead of showing a traceback.
    Nurseries wrap exceptions in groups, hence ``except*``.

    Ctrl+C is delivered to the main task at its next ``await`` only
    (``restrict_keyboard_interrupt_to_checkpoints``). By default Trio raises
    KeyboardInterrupt in whatever code runs when the signal comes, and with
    the fake server embedded in this process that is often the server's own
    task: the server then closes the connection under the session, which
    reports `ConnectionLost` next to (or instead of) the KeyboardInterrupt.
    Delivered to the main task, it unwinds the session first, then the server.
    """
    name = os.path.basename(sys.argv[0])
    try:
        trio.run(main, restrict_keyboard_interrupt_to_checkpoints=True)
    except* KeyboardInterrupt:
        print("Bye.")
    except* rt.RealtimeError as group:
        message = " ".join(str(group.exceptions[0]).split())  # a refusal may quote a JSON body
        sys.exit(f"{name}: {message}")


async def one_turn(session: rt.RealtimeSession, text: str) -> None:
    """Send `text`, print it and the assistant's transcript, until the turn is done."""
    print(f"you: {text}")
    await session.send_text(text)
    async for event in session.events():
        match event:
            case rt.Transcript(role="assistant", text=reply, final=True):
                print(f"assistant: {reply}")
            case rt.TurnDone():
                return
