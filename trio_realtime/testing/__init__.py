"""Offline testing tools: fake servers for both protocols, synthetic voice, faults.

The public test API, re-exported from the submodules::

    from trio_realtime.testing import Scenario, Turn, open_fake_server

    async with open_fake_server(scenario=Scenario(turns=[Turn(reply="Hi!")])) as server:
        ...  # connect to server.openai_url or server.gemini_url()

* Servers: `open_fake_server`, `FakeServer`, `FakeServerInfo`, `FakeConnection`
  (`testing.server`); the provider handlers `FakeOpenAI` (`testing.openai`) and
  `FakeGemini` (`testing.gemini`).
* Scripts: `Scenario`, `Turn`, `Reply`, `PlannedToolCall`, `ReplyContext`,
  `ToolResult`, `ScenarioRun`, `Responder`, `default_responder`, `ANY_RESULT`,
  `example_arguments` (`testing.scenario`).
* Faults and the moments they fire at: `RefuseHandshake`, `CloseAt`, `DropTCP`,
  `StopPongs`, `SendRaw`, `SendRawFrame`, `ServiceError`, `Stall`,
  `AfterReceived`, `AfterSent`, `Nth`, `FaultPlan`, ``ON_ACCEPT`` …
  ``RESPONSE_DONE`` and `MOMENTS` (`testing.faults`).
* Audio: `synthesize`, `user_utterance`, `read_stamp`, `read_transcript`,
  `heard_in` and `UNTRANSCRIBED` (what the fakes hear in real speech),
  `check_sequence`, `split_frame` (`testing.voice`); `EnergyVAD`, `SpeechStart`,
  `SpeechStop` (`testing.vad`).
* Record and replay: `open_recording_proxy`, `load_recording`, `Recording`,
  `ReplayHandler` (`testing.recording`).
* Hygiene: `no_leaked_tasks`, `TaskTracker`, `LeakedTasksError` (`testing.leaks`).
* pytest fixtures: `testing.pytest_plugin` (loaded automatically by pytest).

The names are loaded on first use, so ``import trio_realtime.testing`` (which
pytest does for the plugin in every project that has trio_realtime installed)
costs nothing until a test asks for a fake server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import AFTER_SETUP as AFTER_SETUP
    from .faults import BEFORE_SETUP as BEFORE_SETUP
    from .faults import MID_AUDIO as MID_AUDIO
    from .faults import MID_TOOL_CALL as MID_TOOL_CALL
    from .faults import MOMENTS as MOMENTS
    from .faults import ON_ACCEPT as ON_ACCEPT
    from .faults import RESPONSE_DONE as RESPONSE_DONE
    from .faults import USER_SPEECH as USER_SPEECH
    from .faults import AfterReceived as AfterReceived
    from .faults import AfterSent as AfterSent
    from .faults import CloseAt as CloseAt
    from .faults import DropTCP as DropTCP
    from .faults import Fault as Fault
    from .faults import FaultPlan as FaultPlan
    from .faults import Nth as Nth
    from .faults import RefuseHandshake as RefuseHandshake
    from .faults import SendRaw as SendRaw
    from .faults import SendRawFrame as SendRawFrame
    from .faults import ServiceError as ServiceError
    from .faults import Stall as Stall
    from .faults import StopPongs as StopPongs
    from .gemini import FakeGemini as FakeGemini
    from .leaks import LeakedTasksError as LeakedTasksError
    from .leaks import TaskTracker as TaskTracker
    from .leaks import no_leaked_tasks as no_leaked_tasks
    from .openai import FakeOpenAI as FakeOpenAI
    from .recording import Recording as Recording
    from .recording import ReplayHandler as ReplayHandler
    from .recording import load_recording as load_recording
    from .recording import open_recording_proxy as open_recording_proxy
    from .scenario import ANY_RESULT as ANY_RESULT
    from .scenario import PlannedToolCall as PlannedToolCall
    from .scenario import Reply as Reply
    from .scenario import ReplyContext as ReplyContext
    from .scenario import Responder as Responder
    from .scenario import Scenario as Scenario
    from .scenario import ScenarioRun as ScenarioRun
    from .scenario import ToolResult as ToolResult
    from .scenario import Turn as Turn
    from .scenario import default_responder as default_responder
    from .scenario import example_arguments as example_arguments
    from .server import FakeConnection as FakeConnection
    from .server import FakeServer as FakeServer
    from .server import FakeServerInfo as FakeServerInfo
    from .server import open_fake_server as open_fake_server
    from .vad import EnergyVAD as EnergyVAD
    from .vad import SpeechStart as SpeechStart
    from .vad import SpeechStop as SpeechStop
    from .voice import UNTRANSCRIBED as UNTRANSCRIBED
    from .voice import check_sequence as check_sequence
    from .voice import heard_in as heard_in
    from .voice import read_stamp as read_stamp
    from .voice import read_transcript as read_transcript
    from .voice import split_frame as split_frame
    from .voice import synthesize as synthesize
    from .voice import user_utterance as user_utterance

#: Public name -> the submodule that defines it.
_SOURCES: dict[str, str] = {
    # servers
    "FakeConnection": "server",
    "FakeServer": "server",
    "FakeServerInfo": "server",
    "open_fake_server": "server",
    "FakeOpenAI": "openai",
    "FakeGemini": "gemini",
    # scripts
    "ANY_RESULT": "scenario",
    "PlannedToolCall": "scenario",
    "Reply": "scenario",
    "ReplyContext": "scenario",
    "Responder": "scenario",
    "Scenario": "scenario",
    "ScenarioRun": "scenario",
    "ToolResult": "scenario",
    "Turn": "scenario",
    "default_responder": "scenario",
    "example_arguments": "scenario",
    # faults
    "AFTER_SETUP": "faults",
    "BEFORE_SETUP": "faults",
    "MID_AUDIO": "faults",
    "MID_TOOL_CALL": "faults",
    "MOMENTS": "faults",
    "ON_ACCEPT": "faults",
    "RESPONSE_DONE": "faults",
    "USER_SPEECH": "faults",
    "AfterReceived": "faults",
    "AfterSent": "faults",
    "CloseAt": "faults",
    "DropTCP": "faults",
    "Fault": "faults",
    "FaultPlan": "faults",
    "Nth": "faults",
    "RefuseHandshake": "faults",
    "SendRaw": "faults",
    "SendRawFrame": "faults",
    "ServiceError": "faults",
    "Stall": "faults",
    "StopPongs": "faults",
    # audio
    "check_sequence": "voice",
    "read_stamp": "voice",
    "read_transcript": "voice",
    "heard_in": "voice",
    "UNTRANSCRIBED": "voice",
    "split_frame": "voice",
    "synthesize": "voice",
    "user_utterance": "voice",
    "EnergyVAD": "vad",
    "SpeechStart": "vad",
    "SpeechStop": "vad",
    # record and replay
    "Recording": "recording",
    "ReplayHandler": "recording",
    "load_recording": "recording",
    "open_recording_proxy": "recording",
    # hygiene
    "LeakedTasksError": "leaks",
    "TaskTracker": "leaks",
    "no_leaked_tasks": "leaks",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first use (PEP 562)."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
