"""The pytest plugin, used the way a user's project uses it (pytester, in a subprocess)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import trio_realtime.testing as testing
import trio_realtime.testing.pytest_plugin as plugin

pytest_plugins = ["pytester"]

#: Seconds a foreign test run may take (each one starts a new interpreter).
RUN_TIMEOUT = 180

TRIO_PROJECT_INI = """
    [pytest]
    trio_mode = true
    addopts = --strict-markers -p no:cacheprovider
"""

VOICE_APP_TESTS = """
    import math

    import attrs
    import pytest
    import trio

    import trio_realtime as rt
    from trio_realtime.testing import (
        PlannedToolCall,
        Scenario,
        Turn,
        check_sequence,
        read_stamp,
    )

    SHARED = Scenario(turns=[Turn(reply="Shared script.")])
    STATE = {}


    async def one_turn(config, text):
        seen = []
        with trio.fail_after(20):
            async with rt.connect(config) as session:
                await session.send_text(text)
                async for event in session.events():
                    seen.append(event)
                    if isinstance(event, rt.ResponseDone):
                        break
        return seen


    def finals(seen):
        return [(e.role, e.text) for e in seen if isinstance(e, rt.Transcript) and e.final]


    @pytest.mark.fake_server(scenario=[Turn(reply="Hello from the marker.")])
    async def test_gemini_turn_scripted_by_marker(fake_server, gemini_config):
        assert fake_server.url.startswith("ws://127.0.0.1:")
        assert fake_server.speed == math.inf
        assert gemini_config.url == fake_server.gemini_url()
        seen = await one_turn(gemini_config, "Hi")
        assert finals(seen) == [("assistant", "Hello from the marker.")]
        audio = [e.frame for e in seen if isinstance(e, rt.AudioOut)]
        assert audio
        assert check_sequence(read_stamp(f) for f in audio) == len(audio)
        conn = await fake_server.connection(1)
        assert conn.route.provider == "gemini"
        STATE["server"] = fake_server
        STATE["port"] = fake_server.port


    async def test_server_is_stopped_after_its_test():
        assert STATE["server"].info is None
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", STATE["port"])


    async def test_openai_turn_scripted_in_the_test(openai_config, fake_scenario, no_leaks):
        fake_scenario.turns = [Turn(reply="Scripted in the test.")]
        with no_leaks() as tracker:
            seen = await one_turn(openai_config, "Hi")
        assert tracker.spawned
        assert finals(seen) == [("assistant", "Scripted in the test.")]
        assert len(fake_scenario.runs) == 1
        assert fake_scenario.runs[0].provider == "openai"


    async def test_default_reply_without_a_script(openai_config):
        seen = await one_turn(openai_config, "Good morning")
        assert finals(seen) == [("assistant", "You said: Good morning. Thank you.")]


    async def test_tool_call_with_an_evolved_config(gemini_config, fake_scenario):
        @rt.tool
        async def get_weather(city: str) -> dict:
            \"\"\"Weather for a city.\"\"\"
            return {"city": city, "sky": "clear"}

        fake_scenario.turns = [
            Turn(
                tool_calls=[
                    PlannedToolCall(
                        "get_weather",
                        {"city": "Oslo"},
                        expect_result={"city": "Oslo", "sky": "clear"},
                    )
                ],
                reply="Clear skies in Oslo.",
            )
        ]
        config = attrs.evolve(gemini_config, tools=[get_weather])
        seen = await one_turn(config, "weather in Oslo?")
        calls = [e for e in seen if isinstance(e, rt.ToolCall)]
        assert [(c.name, c.arguments) for c in calls] == [("get_weather", {"city": "Oslo"})]
        assert finals(seen)[-1] == ("assistant", "Clear skies in Oslo.")
        assert fake_scenario.runs[0].mismatches == []


    @pytest.mark.parametrize("n", [1, 2])
    @pytest.mark.fake_server(scenario=SHARED)
    async def test_marker_scenario_is_copied_per_test(n, gemini_config, fake_scenario):
        assert fake_scenario is not SHARED
        seen = await one_turn(gemini_config, "Hi")
        assert finals(seen) == [("assistant", "Shared script.")]
        assert len(fake_scenario.runs) == 1
        assert SHARED.runs == []


    @pytest.mark.fake_server(scenario=[Turn(reply="What the fake says.")])
    async def test_user_assertion_fails(gemini_config):
        seen = await one_turn(gemini_config, "Hi")
        assert finals(seen) == [("assistant", "Something else entirely.")]
"""

MODULE_MARKER_TESTS = """
    import pytest
    import trio
    import trio_realtime

    pytestmark = pytest.mark.fake_server(speed=40.0, record_messages=False)


    async def test_module_marker_applies(fake_server):
        assert fake_server.speed == 40.0
        assert fake_server.record_messages is False


    @pytest.mark.fake_server(speed=80.0)
    async def test_closer_marker_wins(fake_server):
        assert fake_server.speed == 80.0
        assert fake_server.record_messages is False


    @pytest.mark.fake_server(tls=True)
    async def test_tls_option_serves_wss(fake_server):
        assert fake_server.url.startswith("wss://127.0.0.1:")
        context = fake_server.client_ssl_context()
        with trio.fail_after(10):
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", fake_server.port, ssl_context=context
            )
            await stream.do_handshake()
            await stream.aclose()


    @pytest.mark.fake_server(tls=True)
    async def test_tls_configs_trust_the_fake_ca(openai_config):
        assert openai_config.connection.ssl_context is not None
        with trio.fail_after(10):
            async with trio_realtime.connect(openai_config) as session:
                await session.send_text("Hi")
                async for event in session.events():
                    if isinstance(event, trio_realtime.ResponseDone):
                        break
"""


def docstring_example() -> str:
    """The code block of the plugin docstring's "Example" section."""
    doc = plugin.__doc__ or ""
    section = doc.split("Example\n-------\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_fixtures_in_a_trio_project(pytester: pytest.Pytester) -> None:
    pytester.makeini(TRIO_PROJECT_INI)
    pytester.makepyfile(
        test_voice_app=VOICE_APP_TESTS,
        test_module_marker=MODULE_MARKER_TESTS,
        test_doc_example=docstring_example(),
    )
    result = pytester.runpytest_subprocess("-v", timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=12, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_doc_example.py::test_clock PASSED*",
            "*test_module_marker.py::test_tls_option_serves_wss PASSED*",
            "*test_module_marker.py::test_tls_configs_trust_the_fake_ca PASSED*",
            "*test_voice_app.py::test_gemini_turn_scripted_by_marker PASSED*",
            "*test_voice_app.py::test_server_is_stopped_after_its_test PASSED*",
            "*test_voice_app.py::test_openai_turn_scripted_in_the_test PASSED*",
            "*test_voice_app.py::test_tool_call_with_an_evolved_config PASSED*",
            "*test_voice_app.py::test_marker_scenario_is_copied_per_test?2? PASSED*",
            "*test_voice_app.py::test_user_assertion_fails FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: assert [[]('assistant'*",
            "*At index 0 diff: ('assistant', 'What the fake says.') != "
            "('assistant', 'Something else entirely.')",
        ]
    )


MISUSE_TESTS = """
    import pytest

    from trio_realtime.testing import Turn


    @pytest.mark.fake_server(speeed=2.0)
    async def test_unknown_option(fake_server):
        pass


    @pytest.mark.fake_server(2.0)
    async def test_positional_argument(fake_server):
        pass


    @pytest.mark.fake_server(scenario="hello")
    async def test_scenario_of_the_wrong_type(fake_scenario):
        pass


    @pytest.mark.fake_server(scenario=[Turn(reply="ok"), "not a turn"])
    async def test_scenario_list_with_a_stranger(fake_scenario):
        pass


    @pytest.mark.fake_server(speed=-1.0)
    async def test_bad_speed(fake_server):
        pass


    def test_sync_test_asks_for_the_server(fake_server):
        pass


    @pytest.mark.fake_server(scenario=[Turn(reply="ok")])
    def test_sync_test_may_use_the_scenario(fake_scenario):
        assert [t.reply for t in fake_scenario.turns] == ["ok"]
"""


def test_misuse_is_reported_as_setup_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini(TRIO_PROJECT_INI)
    pytester.makepyfile(test_misuse=MISUSE_TESTS)
    result = pytester.runpytest_subprocess("-ra", timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=1, errors=6)
    result.stdout.fnmatch_lines_random(
        [
            "*ConfigurationError: @pytest.mark.fake_server got unknown option(s) speeed; "
            "it takes *speed*",
            "*ConfigurationError: @pytest.mark.fake_server takes keyword arguments only, "
            "got positional (2.0,).",
            "*ConfigurationError: @pytest.mark.fake_server(scenario=...) must be a Scenario "
            "or a list of Turn, not str.",
            "*ConfigurationError: @pytest.mark.fake_server(scenario=...) got a list holding "
            "str; the list must hold trio_realtime.testing.Turn.",
            "*ConfigurationError: speed must be a number >= 0 (0 or inf: no pacing), got -1.0*",
            "*test_sync_test_asks_for_the_server uses the fake_server fixture, which needs a "
            "Trio test run by pytest-trio*",
        ]
    )


PLAIN_PROJECT_TESTS = """
    import pytest

    from trio_realtime.testing import Turn


    @pytest.mark.fake_server(scenario=[Turn(reply="ok")])
    def test_marked(fake_scenario):
        assert [t.reply for t in fake_scenario.turns] == ["ok"]


    def test_plain():
        assert 1 + 1 == 2
"""


def test_plugin_does_not_need_trio_in_the_project(pytester: pytest.Pytester) -> None:
    # No pytest-trio at all (-p no:trio), strict markers: the plugin loads,
    # registers its marker and leaves ordinary tests alone.
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(test_plain=PLAIN_PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:trio", timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=2)


def test_marker_is_registered_by_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.fake_server(speed=1.0)
        def test_marked():
            pass
        """
    )
    listed = pytester.runpytest_subprocess("--markers", timeout=RUN_TIMEOUT)
    listed.stdout.fnmatch_lines(["@pytest.mark.fake_server(speed=math.inf, scenario=None, *"])
    without = pytester.runpytest_subprocess("-p", "no:trio_realtime", timeout=RUN_TIMEOUT)
    without.stdout.fnmatch_lines(["*'fake_server' not found in `markers` configuration option*"])
    assert without.ret != 0
    with_plugin = pytester.runpytest_subprocess(timeout=RUN_TIMEOUT)
    with_plugin.assert_outcomes(passed=1)


# --------------------------------------------------------------------------- exports


def test_public_names_come_from_their_modules() -> None:
    sources = {
        "FakeServer": "server",
        "open_fake_server": "server",
        "FakeConnection": "server",
        "FakeServerInfo": "server",
        "FakeOpenAI": "openai",
        "FakeGemini": "gemini",
        "Scenario": "scenario",
        "Turn": "scenario",
        "Reply": "scenario",
        "PlannedToolCall": "scenario",
        "ReplyContext": "scenario",
        "ToolResult": "scenario",
        "example_arguments": "scenario",
        "RefuseHandshake": "faults",
        "CloseAt": "faults",
        "DropTCP": "faults",
        "StopPongs": "faults",
        "SendRaw": "faults",
        "SendRawFrame": "faults",
        "ServiceError": "faults",
        "Stall": "faults",
        "synthesize": "voice",
        "user_utterance": "voice",
        "read_stamp": "voice",
        "check_sequence": "voice",
        "split_frame": "voice",
        "EnergyVAD": "vad",
        "no_leaked_tasks": "leaks",
        "TaskTracker": "leaks",
    }
    for name, module in sources.items():
        assert name in testing.__all__
        source = importlib.import_module(f"trio_realtime.testing.{module}")
        assert getattr(testing, name) is getattr(source, name), name
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    assert set(testing.__all__) <= set(dir(testing))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'FakeClaude'"):
        testing.FakeClaude  # noqa: B018


def test_importing_the_package_loads_no_server_code() -> None:
    code = textwrap.dedent(
        """
        import sys
        import trio_realtime.testing
        import trio_realtime.testing.pytest_plugin
        heavy = sorted(
            m for m in sys.modules
            if m.startswith("trio_realtime.testing.") and m != "trio_realtime.testing.pytest_plugin"
        )
        print(heavy)
        from trio_realtime.testing import FakeServer
        print(FakeServer.__module__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert out == ["[]", "trio_realtime.testing.server"]
