"""One fake OpenAI connection: admission, dispatch and the session events."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import trio

from ..faults import AFTER_SETUP, BEFORE_SETUP, refusal_body
from ._defaults import default_realtime_session, default_transcription_session, known_model
from ._input import _InputPart
from ._items import _ItemsPart
from ._responses import _ResponsesPart
from ._validation import (
    Invalid,
    _kind,
    _wrong_type,
    merge_session,
    unknown_type_error,
    validate_session_update,
    without_nulls,
)


def _mask_key(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * 12 + key[-4:]


class OpenAIConnectionState(_InputPart):
    """One fake OpenAI Realtime session: its configuration, conversation and audio.

    Attributes:
        conn: the shell's `FakeConnection`.
        index: the connection number on the server.
        model: the model from the URL (`None` for a transcription session).
        session: the effective session (as ``session.updated`` shows it).
        received: every client event received, parsed (invalid JSON kept as text).
        errors: every ``error`` event sent.
        scenario_run: the `ScenarioRun` of this conversation.
    """

    # -- connection --------------------------------------------------------------------

    def _admission(self) -> tuple[Invalid, int, str] | None:
        conn = self.conn
        key = conn.api_key
        if key is None:
            if self.fake.require_auth:
                return (
                    Invalid(None, "Missing bearer or basic authentication in header"),
                    3000,
                    "invalid_request_error",
                )
        elif key.startswith("ek_"):
            # An ephemeral client secret from the token endpoint (`testing.tokens`).
            why = self.conn.server.tokens.check_openai(key)
            if why is not None:
                return (
                    Invalid("invalid_api_key", why),
                    3000,
                    "invalid_request_error.invalid_api_key",
                )
            secret = self.conn.server.tokens.openai[key]
            secret.sessions_started += 1
            self.conn.state["client_secret"] = secret
        elif not self.fake.key_accepted(key):
            return (
                Invalid(
                    "invalid_api_key",
                    f"Incorrect API key provided: {_mask_key(key)}. You can find your API key "
                    "at https://platform.openai.com/account/api-keys.",
                ),
                3000,
                "invalid_request_error.invalid_api_key",
            )
        if "realtime=v1" in conn.headers.get("openai-beta", "").replace(" ", ""):
            return (
                Invalid(
                    "beta_api_shape_disabled",
                    "The Realtime Beta API is no longer supported. Use the GA interface "
                    "(no OpenAI-Beta header) at /v1/realtime.",
                ),
                4000,
                "invalid_request_error.beta_api_shape_disabled",
            )
        model = conn.query.get("model") or conn.query.get("deployment")
        granted = conn.state.get("client_secret")
        if granted is not None:
            # The secret's session decides the kind of session and, unless the
            # URL names one, the model.
            if granted.session.get("type") == "transcription" and not model:
                self.kind = "transcription"
                return None
            model = model or granted.session.get("model") or None
        if not model:
            if conn.query.get("intent") == "transcription":
                self.kind = "transcription"
                return None
            return (
                Invalid(
                    "missing_model",
                    "You must provide a model parameter, for example "
                    "wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5",
                ),
                4000,
                "invalid_request_error.missing_model",
            )
        if (
            conn.route.variant == "openai"
            and model not in self.fake.models
            and not known_model(model)
        ):
            return (
                Invalid("invalid_model", f'Model "{model}" is not supported in realtime mode.'),
                4000,
                "invalid_request_error.invalid_model",
            )
        self.model = model
        return None

    async def run(self) -> None:
        """Serve the connection until the client leaves (or the session ends)."""
        conn = self.conn
        if conn.route.variant == "azure-preview":
            await conn.reject(404, refusal_body("azure", 404))
            return
        problem = self._admission()
        if problem is not None and problem[1] == 3000 and self.fake.auth_failure == "http":
            style = "azure" if conn.route.variant.startswith("azure") else "openai"
            await conn.reject(401, refusal_body(style, 401))
            return
        offered = conn.subprotocols
        await conn.accept(subprotocol="realtime" if "realtime" in offered else None)
        if problem is not None:
            error, code, reason = problem
            await self._send_error(error, None)
            await conn.close(code, reason)
            return
        await conn.checkpoint(BEFORE_SETUP)
        expires_at = int(time.time() + self.fake.max_session_seconds)
        if self.kind == "transcription":
            self.session = default_transcription_session(self.ids.session(), expires_at)
        else:
            self.conversation_id = self.ids.conversation()
            self.session = default_realtime_session(
                self.ids.session(), self.model or "", expires_at, voice=self.fake.voice
            )
        secret = conn.state.get("client_secret")
        if secret is not None:  # the secret's session is the initial configuration
            self.session = merge_session(
                self.session, {k: v for k, v in secret.session.items() if k != "model"}
            )
        self._configure()
        await self._send(self._event("session.created", session=copy.deepcopy(self.session)))
        await conn.checkpoint(AFTER_SETUP)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._expire)
            nursery.start_soon(self._idle_watch)
            while not self._closing:
                message = await conn.receive()
                await self._on_message(message)
            nursery.cancel_scope.cancel()

    async def _expire(self) -> None:
        await trio.sleep(self.fake.max_session_seconds)
        minutes = f"{self.fake.max_session_seconds / 60:g}"
        self._closing = True
        await self.conn.close(1001, f"Your session hit the maximum duration of {minutes} minutes.")

    # -- dispatch ----------------------------------------------------------------------

    async def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.received.append(message)
            await self._send_error(
                Invalid(
                    "invalid_event",
                    "Expected a text WebSocket message; binary frames are not supported.",
                ),
                None,
            )
            return
        try:
            raw = json.loads(message)
        except ValueError as exc:
            self.received.append(message)
            await self._send_error(
                Invalid("invalid_json", f"Invalid event: failed to parse JSON value. {exc}."),
                None,
            )
            return
        self.received.append(raw)
        if not isinstance(raw, dict):
            await self._send_error(
                Invalid(
                    "invalid_type",
                    f"Invalid type for event: expected an object, but got {_kind(raw)} instead.",
                ),
                None,
            )
            return
        ev_id = raw.get("event_id")
        client_event_id = ev_id if isinstance(ev_id, str) else None
        try:
            if "type" not in raw:
                raise Invalid("invalid_event", "The 'type' field is missing.", "type")
            kind = raw["type"]
            if not isinstance(kind, str):
                raise _wrong_type("type", "a string", kind)
            handler = self._handlers.get(kind)
            if handler is None:
                raise unknown_type_error(kind)
            await handler(self, without_nulls(raw))
        except Invalid as problem:
            await self._send_error(problem, client_event_id)

    # -- session -----------------------------------------------------------------------

    async def _session_update(self, raw: dict[str, Any]) -> None:
        update = validate_session_update(raw, self.session, audio_produced=self.audio_produced)
        self._typed(raw)
        self.session = merge_session(self.session, update)
        self._configure()
        self._kick_idle()
        await self._send(self._event("session.updated", session=copy.deepcopy(self.session)))
        if self.kind == "realtime":
            await self._list_mcp_tools()

    async def _session_close(self, raw: dict[str, Any]) -> None:
        self._closing = True
        await self.conn.close(1000, "")

    _handlers: ClassVar[
        dict[str, Callable[[OpenAIConnectionState, dict[str, Any]], Awaitable[None]]]
    ] = {
        "session.update": _session_update,
        "session.close": _session_close,
        "input_audio_buffer.append": _InputPart._append,
        "session.input_audio_buffer.append": _InputPart._append,
        "input_audio_buffer.commit": _InputPart._commit,
        "input_audio_buffer.clear": _InputPart._clear,
        "conversation.item.create": _ItemsPart._item_create,
        "conversation.item.truncate": _ItemsPart._item_truncate,
        "conversation.item.delete": _ItemsPart._item_delete,
        "conversation.item.retrieve": _ItemsPart._item_retrieve,
        "response.create": _ResponsesPart._response_create,
        "response.cancel": _ResponsesPart._response_cancel,
    }
