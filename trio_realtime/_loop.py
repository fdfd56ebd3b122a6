"""A clear error when the library is driven by an event loop other than Trio."""

from __future__ import annotations

import trio

from .errors import RealtimeError

__all__ = ["require_trio"]


def require_trio(what: str) -> None:
    """Raise a `RealtimeError` unless the caller runs in a Trio task.

    Without this check, asyncio (or anyio's asyncio backend) fails deep inside
    Trio with ``AttributeError: 'RunContext' object has no attribute 'runner'``.

    Raises:
        RealtimeError: not running under Trio.
    """
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        raise RealtimeError(
            f"{what} runs only under Trio, and this code is not running in a Trio task "
            "(asyncio?). Start the program with trio.run(main); with anyio, use "
            "anyio.run(main, backend='trio') or the pytest-anyio trio backend."
        ) from None
