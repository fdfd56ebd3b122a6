"""How the session runs a tool's calls: time limit, interruption policy, scheduling."""

from __future__ import annotations

import math
from typing import Literal

import attrs

from ..errors import ConfigurationError

__all__ = ["OnInterrupt", "Scheduling", "ToolOptions"]

#: What an interruption does to a running call: ``"cancel"`` it, or let it
#: ``"finish"``.
OnInterrupt = Literal["cancel", "finish"]
#: When the model takes a non-blocking call's result into account.
Scheduling = Literal["interrupt", "when_idle", "silent"]

_ON_INTERRUPT = ("cancel", "finish")
_SCHEDULING = ("interrupt", "when_idle", "silent")


def _check_timeout(_inst: object, _attr: object, value: float | None) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigurationError(
            f"tool timeout must be a positive number of seconds or None, got {value!r}."
        )


def _check_on_interrupt(_inst: object, _attr: object, value: str) -> None:
    if value not in _ON_INTERRUPT:
        raise ConfigurationError(f"tool on_interrupt must be 'cancel' or 'finish', got {value!r}.")


def _check_scheduling(inst: ToolOptions, _attr: object, value: str | None) -> None:
    if value is None:
        return
    if value not in _SCHEDULING:
        raise ConfigurationError(
            f"tool scheduling must be 'interrupt', 'when_idle' or 'silent', got {value!r}."
        )
    if inst.non_blocking is not True:
        raise ConfigurationError(
            f"tool scheduling={value!r} needs non_blocking=True: only the result of a "
            "non-blocking call can be scheduled (the model waits for a blocking one)."
        )


def _check_non_blocking(_inst: object, _attr: object, value: bool | None) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"tool non_blocking must be True, False or None, got {value!r}.")


@attrs.frozen(kw_only=True)
class ToolOptions:
    """How a session runs the calls of one tool.

    Attributes:
        timeout: seconds a call may run; past it the call is cancelled and the
            model gets an error result saying it timed out. `None`: no limit
            (the call still ends with the session).
        on_interrupt: ``"cancel"`` (default) cancels a running call when the
            user interrupts the response that asked for it (or the provider
            withdraws the call); ``"finish"`` lets it run to completion, for
            side effects that must not be cut halfway. A finished call's
            result still goes to the conversation on OpenAI (without asking
            for a reply); Gemini withdrew the call id, so its result is
            dropped there. Closing the session cancels every call either way.
        non_blocking: Gemini only. `True` declares the function
            ``NON_BLOCKING``: the model keeps talking while it runs and takes
            the result in later (see `scheduling`); `False` asks for
            ``BLOCKING`` explicitly (the default of 2.5 models, but not of
            3.8 Live, where non-blocking is the default); `None` leaves it to
            the model. OpenAI Realtime has no such mode: a configuration
            declaring a non-blocking tool is refused. A non-blocking tool may
            be an async generator: each value it yields goes to the model as
            a partial result (``willContinue``), and a final empty, silent
            result closes the call when it returns.
        scheduling: Gemini, non-blocking tools only: what the model does with
            the result. ``"interrupt"`` stops what it is saying and answers
            now, ``"when_idle"`` answers once it has finished speaking (the
            service default), ``"silent"`` only adds the result to the context.
    """

    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    on_interrupt: OnInterrupt = attrs.field(default="cancel", validator=_check_on_interrupt)
    non_blocking: bool | None = attrs.field(default=None, validator=_check_non_blocking)
    scheduling: Scheduling | None = attrs.field(default=None, validator=_check_scheduling)
