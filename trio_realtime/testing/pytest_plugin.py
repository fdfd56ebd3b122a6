"""pytest plugin: fixtures that run the fake OpenAI Realtime / Gemini Live server.

Installing trio_realtime registers this module with pytest (entry point
``pytest11``, plugin name ``trio_realtime``); nothing needs to be imported.
The plugin only defines fixtures and a marker: it adds no hooks that change
how tests run, so projects that do not use Trio are unaffected (disable it
with ``-p no:trio_realtime`` if you like).

Requirements
------------

The fixtures that run the server are Trio async fixtures: they need
[pytest-trio](https://pytest-trio.readthedocs.io) and tests that run under
it, either every async test (``trio_mode = true`` in the pytest configuration)
or tests marked ``@pytest.mark.trio``:

```toml
# pyproject.toml
[tool.pytest.ini_options]
trio_mode = true
```

A test that asks for ``fake_server`` (or a config) without being a Trio test
errors at setup with a message saying so. ``fake_scenario`` and ``no_leaks``
are plain fixtures and work in any test.

Fixtures
--------

**``fake_server``**: a running `FakeServer` serving both protocols on
``127.0.0.1``, on a free port, with reply audio unpaced (``speed=math.inf``)
so tests run fast. It is stopped when the test ends (open connections get a
1001 close). Use its URLs (``fake_server.openai_url``,
``fake_server.gemini_url()``, ``fake_server.url``), plan faults
(``fake_server.inject(RefuseHandshake(429))``) and inspect what clients sent
(``fake_server.connections``, ``await fake_server.connection(1)``,
``conn.received``).

**``fake_scenario``**: the `Scenario` the server follows
(``fake_server.scenario`` is this same object). It is mutable, and the server
reads it each time a user turn ends, so a test can script the conversation
before (or while) it talks:

```python
async def test_greeting(fake_scenario, gemini_config):
    fake_scenario.turns = [Turn(reply="Hello there.")]
    async with trio_realtime.connect(gemini_config) as session:
        ...
```

After the conversation, ``fake_scenario.runs`` holds one `ScenarioRun` per
conversation (``run.history``, ``run.mismatches``). Override the fixture in a
``conftest.py`` to give a whole directory a script.

**``openai_config``** / **``gemini_config``**: an `OpenAIRealtime` /
`GeminiLive` configuration pointed at ``fake_server`` (API key ``"test"``,
keepalive pings off, ``open_timeout=5``, ``close_timeout=2``), ready for
``trio_realtime.connect``. The configs are frozen attrs classes: adjust one
with ``attrs.evolve(openai_config, tools=[get_weather], instructions="...")``.

**``no_leaks``**: the `no_leaked_tasks` context manager, to wrap the part of
a test that should leave no task behind:

```python
async def test_clean_exit(gemini_config, no_leaks):
    with no_leaks() as tracker:
        async with trio_realtime.connect(gemini_config) as session:
            ...
    # leaving the block raised LeakedTasksError if a task spawned
    # inside it was still running
```

It is a helper, not a fixture that wraps the whole test, because
pytest-trio runs the test function in a task of its own, separate from every
fixture's task: a check entered in a fixture cannot see the nurseries the
test opens. Enter the block in the test itself.

The ``fake_server`` marker
--------------------------

``@pytest.mark.fake_server(speed=..., scenario=..., tls=..., **options)``
configures the server of the marked test, class or module (markers closer to
the test override keys of farther ones; ``pytestmark`` works too). It is
registered, so projects that use ``--strict-markers`` accept it.

* ``speed``: pacing of reply audio, times real time (default ``math.inf``:
  unpaced; ``1.0`` paces like the real services).
* ``scenario``: a `Scenario`, or a list of `Turn` (made into a
  ``Scenario(turns=...)``). The fixtures use a fresh copy per test (same
  turns and responder, no recorded runs), so tests sharing a marker do not
  share state: read recorded runs from ``fake_scenario``, not from the object
  given to the marker.
* ``tls``: serve ``wss://`` with a certificate from a throwaway CA
  (``fake_server.ca_path``, ``fake_server.client_ssl_context()``), as the
  official ``openai`` / ``google-genai`` clients need. ``openai_config`` /
  ``gemini_config`` then carry an SSL context that trusts that CA.
* ``replay``: a recording (path or `recording.Recording`, see
  `trio_realtime.testing.recording`) that the server replays for its
  provider instead of the fake model: each client turn gets the recorded
  server frames, byte for byte.
* ``**options``: ``host``, ``port``, ``handlers`` and the other keyword
  arguments of `FakeServer` (``max_message_size``, ``connect_timeout``,
  ``close_timeout``, ``keep_connections``, ``use_default_handlers``,
  ``record_messages``).

An unknown option, a positional argument or a bad value makes the test error
at setup with `ConfigurationError` naming it.

Example
-------

```python
import pytest
import trio
import trio_realtime
from trio_realtime.testing import Turn


@pytest.mark.fake_server(scenario=[Turn(reply="Noon.")])
async def test_clock(openai_config):
    with trio.fail_after(10):
        async with trio_realtime.connect(openai_config) as session:
            await session.send_text("What's the time?")
            async for event in session.events():
                if isinstance(event, trio_realtime.Transcript) and event.final:
                    assert (event.role, event.text) == ("assistant", "Noon.")
                    break
```
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from .._config import ConnectionOptions
from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..gemini import GeminiLive
    from ..openai import OpenAIRealtime
    from .leaks import TaskTracker
    from .scenario import Scenario
    from .server import FakeServer

__all__ = [
    "MARKER",
    "fake_scenario",
    "fake_server",
    "gemini_config",
    "no_leaks",
    "openai_config",
]

#: Name of the marker that configures `fake_server`.
MARKER = "fake_server"

#: API key the `openai_config` / `gemini_config` fixtures send to the fake server.
TEST_API_KEY = "test"

_MARKER_HELP = (
    f"{MARKER}(speed=math.inf, scenario=None, tls=False, replay=None, **options): configure "
    "the fake_server fixture of trio_realtime (a Scenario or a list of Turns, reply audio "
    "pacing, wss://, a recording to replay, FakeServer options)"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_server`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line("markers", _MARKER_HELP)


# --------------------------------------------------------------------------- options


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    """Merge the ``fake_server`` markers of `node`, closest last (so it wins)."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise ConfigurationError(
                f"@pytest.mark.{MARKER} takes keyword arguments only, "
                f"got positional {marker.args!r}."
            )
        options.update(marker.kwargs)
    return options


#: Marker options that go to `FakeServer.serve` rather than to the constructor.
_SERVE_OPTIONS = ("host", "port", "tls")


def _allowed_options() -> list[str]:
    from .server import FakeServer

    names = set(inspect.signature(FakeServer).parameters) | set(_SERVE_OPTIONS) | {"replay"}
    names.discard("scenario")
    return sorted(names)


def _new_server(node: pytest.Item, scenario: Scenario) -> tuple[FakeServer, dict[str, Any]]:
    """The test's server, not started yet, and the arguments for `FakeServer.serve`."""
    from .server import FakeServer

    options = _marker_options(node)
    options.pop("scenario", None)
    replay = options.pop("replay", None)
    if replay is not None:
        from .recording import ReplayHandler

        handler = ReplayHandler(replay)
        options["handlers"] = {
            **(options.get("handlers") or {}),
            handler.recording.provider: handler,
        }
    allowed = _allowed_options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigurationError(
            f"@pytest.mark.{MARKER} got unknown option(s) {', '.join(unknown)}; it takes "
            f"{', '.join(allowed)}."
        )
    serve = {name: options.pop(name) for name in _SERVE_OPTIONS if name in options}
    options.setdefault("speed", math.inf)
    return FakeServer(scenario=scenario, **options), serve


def _scenario_from(value: Any) -> Scenario:
    import attrs

    from .scenario import Scenario, Turn

    if value is None:
        return Scenario()
    if isinstance(value, Scenario):
        return attrs.evolve(value, turns=list(value.turns))
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        turns = list(value)
        bad = [t for t in turns if not isinstance(t, Turn)]
        if not bad:
            return Scenario(turns=turns)
        raise ConfigurationError(
            f"@pytest.mark.{MARKER}(scenario=...) got a list holding "
            f"{type(bad[0]).__name__}; the list must hold trio_realtime.testing.Turn."
        )
    raise ConfigurationError(
        f"@pytest.mark.{MARKER}(scenario=...) must be a Scenario or a list of Turn, "
        f"not {type(value).__name__}."
    )


def _connection_options(server: FakeServer) -> ConnectionOptions:
    return ConnectionOptions(
        ping_interval=None,
        open_timeout=5,
        close_timeout=2,
        ssl_context=server.client_ssl_context() if server.ca_path else None,
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake_scenario(request: pytest.FixtureRequest) -> Scenario:
    """The `Scenario` the test's `fake_server` follows (mutable: set ``.turns``).

    Built from the ``scenario`` of the ``fake_server`` marker (a fresh copy),
    or an empty `Scenario` (default replies) without one.

    Raises:
        ConfigurationError: the marker's scenario is neither a `Scenario` nor
            a list of `Turn`.
    """
    return _scenario_from(_marker_options(request.node).get("scenario"))


@pytest.fixture
def _trio_realtime_fake_server(
    request: pytest.FixtureRequest, fake_scenario: Scenario
) -> tuple[FakeServer, dict[str, Any]]:
    # A plain fixture, so that misuse and bad options are reported as setup
    # errors, before pytest or pytest-trio look at the async `fake_server`.
    if request.node.get_closest_marker("trio") is None:
        pytest.fail(
            f"{request.node.nodeid} uses the fake_server fixture, which needs a Trio test "
            "run by pytest-trio: install pytest-trio and set 'trio_mode = true' in the "
            "pytest configuration, or mark the test with @pytest.mark.trio "
            "(and make it 'async def').",
            pytrace=False,
        )
    return _new_server(request.node, fake_scenario)


@pytest.fixture
async def fake_server(
    _trio_realtime_fake_server: tuple[FakeServer, dict[str, Any]],
) -> AsyncIterator[FakeServer]:
    """A running fake server (both protocols, 127.0.0.1, free port), stopped after the test.

    Needs pytest-trio (``trio_mode = true`` or ``@pytest.mark.trio``).
    Configured by the ``fake_server`` marker; follows `fake_scenario`.

    Raises:
        ConfigurationError: an unknown marker option or a bad value (reported
            as an error in the test's setup).
        OSError: the address cannot be bound.
    """
    import trio

    server, serve = _trio_realtime_fake_server
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(server.serve, **serve))
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


@pytest.fixture
def openai_config(fake_server: FakeServer) -> OpenAIRealtime:
    """An `OpenAIRealtime` configuration for `fake_server`, ready for ``trio_realtime.connect``."""
    from ..openai import OpenAIRealtime

    return OpenAIRealtime(
        url=fake_server.openai_url,
        api_key=TEST_API_KEY,
        connection=_connection_options(fake_server),
    )


@pytest.fixture
def gemini_config(fake_server: FakeServer) -> GeminiLive:
    """A `GeminiLive` configuration for `fake_server`, ready for ``trio_realtime.connect``."""
    from ..gemini import GeminiLive

    return GeminiLive(
        url=fake_server.gemini_url(),
        api_key=TEST_API_KEY,
        connection=_connection_options(fake_server),
    )


@pytest.fixture
def no_leaks() -> Callable[[], AbstractContextManager[TaskTracker]]:
    """`no_leaked_tasks`: use ``with no_leaks():`` around the code to check, in the test."""
    from .leaks import no_leaked_tasks

    return no_leaked_tasks
