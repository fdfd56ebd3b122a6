"""The input audio buffer, VAD and input transcription of the fake OpenAI service."""

from __future__ import annotations

import binascii
import math
import re
from typing import Any

import numpy as np
import trio

from ..faults import USER_SPEECH
from ..vad import SpeechStart
from ._defaults import bytes_per_ms
from ._g711 import g711_decode
from ._items import _Item, _said_of_message
from ._mcp import _McpPart
from ._usage import audio_tokens, text_tokens
from ._validation import Invalid, _check_keys, _missing, _wrong_type


def _logprob(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.0123, "bytes": list(token.encode("utf-8"))}


class _InputPart(_McpPart):
    """The input audio buffer, server VAD, its idle timeout and input transcription."""

    # -- input audio -------------------------------------------------------------------

    async def _append(self, raw: dict[str, Any]) -> None:
        _check_keys(raw, ("type", "event_id", "audio"), "")
        if "audio" not in raw:
            raise _missing("audio")
        audio = raw["audio"]
        if not isinstance(audio, str):
            raise _wrong_type("audio", "a string", audio)
        try:
            data = binascii.a2b_base64(audio, strict_mode=True)
        except (binascii.Error, ValueError):
            raise Invalid(
                "invalid_value", "Invalid 'audio'. Expected base64-encoded audio data.", "audio"
            ) from None
        fmt = self._input_format()
        kind = fmt.get("type")
        bpm = bytes_per_ms(fmt)
        if kind == "audio/pcm" and len(data) % 2:
            data = data[:-1]
        if not data:
            return
        self._buffer += data
        self._total_ms += len(data) / bpm
        vad = self._vad
        if vad is None:
            return
        samples = (
            np.frombuffer(data, "<i2") if kind == "audio/pcm" else g711_decode(data, str(kind))
        )
        for ev in vad.process(samples):
            if isinstance(ev, SpeechStart):
                await self._speech_started(self._vad_base_ms + ev.audio_start_ms)
            else:
                await self._speech_stopped(self._vad_base_ms + ev.audio_end_ms)
        if self._speech is None:
            # Nobody speaking: keep the last minute of audio for a manual commit.
            excess = len(self._buffer) - 60_000 * bpm
            if excess > 0:
                del self._buffer[:excess]
                self._buffer_start_ms += excess / bpm

    async def _speech_started(self, start_ms: int) -> None:
        item_id = self.ids.item()
        self._speech = (item_id, start_ms)
        self._idle_from = None
        await self._send(
            self._event(
                "input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=item_id
            )
        )
        await self.conn.checkpoint(USER_SPEECH)
        td = self._turn_detection() or {}
        active = self.active
        if active is not None and td.get("interrupt_response", True) is not False:
            await self._cancel(active, "turn_detected")

    async def _speech_stopped(self, end_ms: int) -> None:
        if self._speech is None:
            return
        item_id, start_ms = self._speech
        self._speech = None
        await self._send(
            self._event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
        )
        bpm = bytes_per_ms(self._input_format())
        lo = max(0, round((start_ms - self._buffer_start_ms) * bpm))
        hi = max(lo, round((end_ms - self._buffer_start_ms) * bpm))
        if bpm == 48:
            lo -= lo % 2
            hi -= hi % 2
        audio = bytes(self._buffer[lo:hi])
        del self._buffer[:hi]
        self._buffer_start_ms += hi / bpm
        td = self._turn_detection() or {}
        await self._commit_audio(
            item_id, audio, respond=td.get("create_response", True) is not False
        )

    async def _commit(self, raw: dict[str, Any]) -> None:
        _check_keys(raw, ("type", "event_id"), "")
        bpm = bytes_per_ms(self._input_format())
        ms = len(self._buffer) / bpm
        if ms < 100:
            raise Invalid(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms "
                f"of audio, but buffer only has {ms:.2f}ms of audio.",
            )
        item_id = self._speech[0] if self._speech is not None else self.ids.item()
        self._restart_vad()
        audio = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._total_ms
        await self._commit_audio(item_id, audio, respond=False)

    async def _clear(self, raw: dict[str, Any]) -> None:
        _check_keys(raw, ("type", "event_id"), "")
        self._buffer.clear()
        self._buffer_start_ms = self._total_ms
        self._restart_vad()
        await self._send(self._event("input_audio_buffer.cleared"))

    def _restart_vad(self) -> None:
        if self._vad is not None and (self._speech is not None or self._vad.in_speech):
            self._vad.reset()
            self._vad_base_ms = int(self._total_ms)
        self._speech = None

    def _last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    async def _commit_audio(self, item_id: str, audio: bytes, *, respond: bool) -> None:
        bpm = bytes_per_ms(self._input_format())
        wire = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        item = _Item(wire, audio, bpm)
        item.said = _said_of_message(wire, audio, bpm)
        previous = self._last_id()
        self.items.append(item)
        await self._send(
            self._event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        )
        await self._item_added_done(item, previous)
        if self.kind == "transcription":
            reply = self.scenario_run.reply_to(item.said)
            await self._transcribe(item, reply.heard)
            return
        heard = self._peek_heard(item.said)
        delay = self.fake.transcription_delay
        if delay > 0 and self._paced() and self._nursery is not None:
            self._nursery.start_soon(self._transcribe_later, item, heard, delay / self.speed)
        else:
            await self._transcribe(item, heard)
        if respond and self.active is None:
            await self._start_response({})

    def _peek_heard(self, said: str) -> str:
        turns = self.scenario_run.scenario.turns
        i = self.scenario_run.turn_index
        if i < len(turns) and turns[i].heard is not None:
            return str(turns[i].heard)
        return said

    async def _transcribe_later(self, item: _Item, heard: str, seconds: float) -> None:
        await trio.sleep(seconds)
        await self._transcribe(item, heard)

    async def _transcribe(self, item: _Item, heard: str) -> None:
        config = self.session["audio"]["input"].get("transcription")
        if not config:
            return
        model = str(config.get("model") or "whisper-1")
        words = re.findall(r"\S+", heard)
        deltas = [w if i == 0 else " " + w for i, w in enumerate(words)]
        if model in ("whisper-1", "gpt-transcribe", "gpt-live-transcribe") and heard:
            deltas = [heard]
        include = self.session.get("include") or []
        logprobs = "item.input_audio_transcription.logprobs" in include
        every: list[dict[str, Any]] = []
        for delta in deltas:
            extra: dict[str, Any] = {}
            if logprobs:
                extra["logprobs"] = [_logprob(delta)]
                every.extend(extra["logprobs"])
            await self._send(
                self._event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item.id,
                    content_index=0,
                    delta=delta,
                    obfuscation=self.ids.obfuscation(delta),
                    **extra,
                )
            )
        if model in ("whisper-1", "gpt-transcribe", "gpt-live-transcribe"):
            usage: dict[str, Any] = {"type": "duration", "seconds": math.ceil(item.audio_ms / 1000)}
        else:
            audio_tok = audio_tokens(item.audio_ms)
            text_tok = text_tokens(heard)
            usage = {
                "type": "tokens",
                "total_tokens": audio_tok + text_tok,
                "input_tokens": audio_tok,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tok},
                "output_tokens": text_tok,
            }
        item.wire["content"][0]["transcript"] = heard
        await self._send(
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item.id,
                content_index=0,
                transcript=heard,
                usage=usage,
                **({"logprobs": every} if logprobs else {}),
            )
        )

    # -- idle timeout (server_vad ``idle_timeout_ms``) ------------------------------------

    def _idle_deadline(self) -> float | None:
        td = self._turn_detection()
        if td is None or td.get("type") != "server_vad" or td.get("idle_timeout_ms") is None:
            return None
        if self._idle_from is None or self.active is not None or self._speech is not None:
            return None
        return self._idle_from + int(td["idle_timeout_ms"]) / 1000.0

    async def _idle_watch(self) -> None:
        while True:
            kick = self._idle_kick
            deadline = self._idle_deadline()
            if deadline is None:
                await kick.wait()
                continue
            with trio.move_on_at(deadline):
                await kick.wait()
            if kick.is_set():
                continue
            again = self._idle_deadline()
            if again is not None and again <= trio.current_time():
                await self._idle_fire()

    async def _idle_fire(self) -> None:
        self._idle_from = None
        td = self._turn_detection() or {}
        item_id = self.ids.item()
        await self._send(
            self._event(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=int(self._buffer_start_ms),
                audio_end_ms=int(self._total_ms),
                item_id=item_id,
            )
        )
        audio = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._total_ms
        await self._commit_audio(
            item_id, audio, respond=td.get("create_response", True) is not False
        )
