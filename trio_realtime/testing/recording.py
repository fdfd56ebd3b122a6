"""Record a realtime session's wire traffic, and replay it from the fake server.

**Recording** goes through a proxy, so neither the library's sessions nor any
other client need a hook (nothing runs when no proxy is in the path)::

    async with open_recording_proxy("wss://api.openai.com", "hours.jsonl") as proxy:
        ...  # point any client at proxy.url (ws://127.0.0.1:PORT) instead of the service

Each connection through the proxy is written to its own JSON Lines file
(``hours.jsonl``, then ``hours-2.jsonl`` ...). Keys never reach the file: the
request headers are not written, ``key`` / ``access_token`` query parameters are
dropped from the recorded path, and a key that shows up inside a frame is
replaced by ``***``. With ``audio="synthetic"`` every audio chunk, both ways,
is replaced by the fake's synthetic voice of the same length (same bytes count
and format), so a recording of real people is safe to commit.

**Replaying**: `ReplayHandler` serves a recording as the fake server's
provider handler (``open_fake_server(handlers={"openai": ReplayHandler(rec)})``,
or the pytest marker ``@pytest.mark.fake_server(replay="hours.jsonl")``). It
answers each recorded client turn with the recorded server frames, byte for
byte (ids, audio), at the recorded pace scaled by the server's ``speed``.

**The format** (one JSON object per line; see docs/testing.md):

* First line, the header: ``{"trio_realtime_recording": 1, "provider":
  "openai" | "gemini", "path": "/v1/realtime?model=gpt-realtime", "audio":
  "kept" | "synthetic", "subprotocol": null}``.
* Then one line per frame, in the order the proxy passed them:
  ``{"t": 0.013, "from": "client" | "server", "text": "<the frame>"}``;
  ``"binary": true`` marks a binary frame whose bytes are that UTF-8 text
  (Gemini's server frames), ``"base64"`` replaces ``"text"`` for other bytes;
  ``"json": {...}`` may replace ``"text"`` (written by hand; sent compact).
  ``"t"`` (seconds since the connection opened) is optional.
* ``{"t": 9.1, "from": "server", "close": {"code": 1000, "reason": ""}}``: the
  server closed the connection.

How a replay decides when to send: a server frame recorded after the client
had sent *n* non-audio messages and *b* bytes of audio is sent once the live
client has sent at least as much, and no sooner (after that point) than it was
recorded, divided by the speed. A client that sends the same turns therefore
gets the same frames, in the same order, whatever its own timing.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import numpy as np
import trio
import trio_websocket

from .._wire import b64encode
from ..errors import ConfigurationError
from .server import FakeConnection
from .voice import synthesize

__all__ = [
    "FORMAT_VERSION",
    "Frame",
    "Recording",
    "RecordingProxy",
    "ReplayHandler",
    "load_recording",
    "open_recording_proxy",
]

#: The ``trio_realtime_recording`` version this module writes and reads.
FORMAT_VERSION: Final = 1

#: Query parameters that carry credentials: never written.
_SECRET_PARAMS: Final = frozenset({"key", "access_token", "api-key", "api_key"})
#: Request headers not forwarded upstream (the proxy's own handshake sets them).
_HOP_HEADERS: Final = frozenset(
    {"host", "connection", "upgrade", "content-length", "transfer-encoding"}
)

AudioMode = Literal["keep", "synthetic"]


@attrs.frozen
class Frame:
    """One recorded event: a frame either way, or the server's close.

    Attributes:
        sender: ``"client"`` or ``"server"``.
        t: seconds since the connection opened (`None`: not recorded).
        data: the frame as sent (text, or bytes for a binary frame); `None`
            for a close.
        close: ``(code, reason)`` when the server closed the connection.
    """

    sender: str
    t: float | None
    data: str | bytes | None
    close: tuple[int, str] | None = None


@attrs.define
class Recording:
    """One recorded connection: its header and frames (see the module docstring)."""

    provider: str
    path: str
    frames: list[Frame]
    audio: str = "kept"
    subprotocol: str | None = None


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording (made by the proxy or written by hand).

    Raises:
        ConfigurationError: the file is not a recording (the message names the line).
        OSError: it cannot be read.
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    entries: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ConfigurationError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ConfigurationError(f"{path}:{number}: expected a JSON object")
        entries.append((number, value))
    if not entries or entries[0][1].get("trio_realtime_recording") != FORMAT_VERSION:
        raise ConfigurationError(
            f"{path}: the first line must be the header "
            f'{{"trio_realtime_recording": {FORMAT_VERSION}, "provider": ...}}'
        )
    header = entries[0][1]
    provider = header.get("provider")
    if provider not in ("openai", "gemini"):
        raise ConfigurationError(f"{path}:1: provider must be 'openai' or 'gemini'")
    frames = [_frame_of(value, f"{path}:{number}", provider) for number, value in entries[1:]]
    return Recording(
        provider=str(provider),
        path=str(header.get("path") or ""),
        frames=frames,
        audio=str(header.get("audio") or "kept"),
        subprotocol=header.get("subprotocol"),
    )


def _frame_of(value: Mapping[str, Any], where: str, provider: str) -> Frame:
    sender = value.get("from")
    if sender not in ("client", "server"):
        raise ConfigurationError(f"{where}: 'from' must be 'client' or 'server'")
    t = value.get("t")
    if t is not None and not (isinstance(t, int | float) and t >= 0):
        raise ConfigurationError(f"{where}: 't' must be a number of seconds >= 0")
    if "close" in value:
        close = value["close"]
        if not isinstance(close, dict) or not isinstance(close.get("code"), int):
            raise ConfigurationError(f"{where}: 'close' must be {{'code': int, 'reason': str}}")
        return Frame(sender, t, None, (close["code"], str(close.get("reason") or "")))
    data: str | bytes
    if "text" in value and isinstance(value["text"], str):
        data = value["text"].encode("utf-8") if value.get("binary") else value["text"]
    elif "base64" in value and isinstance(value["base64"], str):
        try:
            data = binascii.a2b_base64(value["base64"], strict_mode=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{where}: 'base64' is not valid base64") from None
    elif "json" in value:
        text = json.dumps(value["json"], separators=(",", ":"), ensure_ascii=False)
        # The Gemini service sends JSON in binary frames.
        binary = value.get("binary", provider == "gemini" and sender == "server")
        data = text.encode("utf-8") if binary else text
    else:
        raise ConfigurationError(f"{where}: a frame needs 'text', 'base64', 'json' or 'close'")
    return Frame(sender, t, data)


# --------------------------------------------------------------------------- audio


def _audio_bytes(provider: str, message: Any) -> int:
    """Bytes of audio a client message carries (0 for a control message)."""
    if not isinstance(message, dict):
        return 0
    if provider == "openai":
        if message.get("type") in (
            "input_audio_buffer.append",
            "session.input_audio_buffer.append",
        ):
            return _b64_len(message.get("audio"))
        return 0
    ri = message.get("realtimeInput", message.get("realtime_input"))
    if not isinstance(ri, dict):
        return 0
    total = 0
    audio = ri.get("audio")
    if isinstance(audio, dict):
        total += _b64_len(audio.get("data"))
    for chunk in ri.get("mediaChunks", ri.get("media_chunks")) or []:
        if isinstance(chunk, dict) and str(
            chunk.get("mimeType", chunk.get("mime_type"))
        ).startswith("audio/"):
            total += _b64_len(chunk.get("data"))
    return total


def _b64_len(text: Any) -> int:
    if not isinstance(text, str):
        return 0
    try:
        return len(binascii.a2b_base64(text))
    except (binascii.Error, ValueError):
        return 0


def _decode(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


class _Synthetic:
    """Replaces audio chunks with the synthetic voice (same length, same format)."""

    def __init__(self) -> None:
        self.formats = {"input": "audio/pcm", "output": "audio/pcm"}
        self.voices: dict[tuple[str, int], tuple[bytes, int]] = {}

    def _pcm(self, key: str, rate: int, size: int) -> bytes:
        voice, pos = self.voices.get((key, rate), (b"", 0))
        if not voice:
            spoken = synthesize("This recording's audio was replaced by the synthetic voice.", rate)
            voice = spoken.samples.astype("<i2").tobytes()
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), len(voice) - pos)
            out += voice[pos : pos + take]
            pos = (pos + take) % len(voice)
        self.voices[(key, rate)] = (voice, pos)
        return bytes(out)

    def chunk(self, key: str, fmt: str, rate: int, b64: str) -> str:
        size = _b64_len(b64)
        if fmt in ("audio/pcmu", "audio/pcma"):
            from .openai import g711_encode

            pcm = self._pcm(key, 8000, size * 2)
            return b64encode(g711_encode(np.frombuffer(pcm, "<i2"), fmt))
        return b64encode(self._pcm(key, rate, size - size % 2) + b"\0" * (size % 2))

    def replace(self, provider: str, sender: str, data: str | bytes) -> str | bytes:
        message = _decode(data)
        if not isinstance(message, dict):
            return data
        changed = self._openai(sender, message) if provider == "openai" else self._gemini(message)
        if not changed:
            return data
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8") if isinstance(data, bytes) else text

    def _openai(self, sender: str, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        session = message.get("session")
        if kind in ("session.created", "session.updated") and isinstance(session, dict):
            audio = session.get("audio") or {}
            for side in ("input", "output"):
                fmt = ((audio.get(side) or {}).get("format") or {}).get("type")
                if isinstance(fmt, str):
                    self.formats[side] = fmt
            return False
        appends = ("input_audio_buffer.append", "session.input_audio_buffer.append")
        if sender == "client" and isinstance(message.get("audio"), str) and kind in appends:
            fmt = self.formats["input"]
            message["audio"] = self.chunk("client", fmt, 24000, message["audio"])
            return True
        if sender == "server" and kind == "response.output_audio.delta":
            fmt = self.formats["output"]
            message["delta"] = self.chunk("server", fmt, 24000, str(message.get("delta")))
            return True
        return False

    def _gemini(self, message: dict[str, Any]) -> bool:
        changed = False
        for blob in _gemini_blobs(message):
            mime = str(blob.get("mimeType", blob.get("mime_type", "")))
            if mime.startswith("audio/pcm") and isinstance(blob.get("data"), str):
                rate = 16000
                if "rate=" in mime:
                    try:
                        rate = int(mime.split("rate=")[1].split(";")[0])
                    except ValueError:
                        rate = 16000
                blob["data"] = self.chunk(mime, "audio/pcm", rate, blob["data"])
                changed = True
        return changed


def _gemini_blobs(message: dict[str, Any]) -> list[dict[str, Any]]:
    blobs: list[dict[str, Any]] = []
    ri = message.get("realtimeInput", message.get("realtime_input"))
    if isinstance(ri, dict):
        if isinstance(ri.get("audio"), dict):
            blobs.append(ri["audio"])
        for chunk in ri.get("mediaChunks", ri.get("media_chunks")) or []:
            if isinstance(chunk, dict):
                blobs.append(chunk)
    sc = message.get("serverContent")
    turn = sc.get("modelTurn") if isinstance(sc, dict) else None
    for part in (turn or {}).get("parts") or [] if isinstance(turn, dict) else []:
        if isinstance(part, dict) and isinstance(part.get("inlineData"), dict):
            blobs.append(part["inlineData"])
    return blobs


# --------------------------------------------------------------------------- recording


class _Writer:
    """Writes one connection's recording, line by line (flushed as it goes)."""

    def __init__(
        self, path: Path, provider: str, target: str, audio: AudioMode, secrets: Sequence[str]
    ) -> None:
        self.provider = provider
        self.secrets = [s for s in secrets if s]
        self.synthetic = _Synthetic() if audio == "synthetic" else None
        self.start = trio.current_time()
        self.file = path.open("w", encoding="utf-8")
        header = {
            "trio_realtime_recording": FORMAT_VERSION,
            "provider": provider,
            "path": _public_target(target),
            "audio": "synthetic" if self.synthetic else "kept",
            "subprotocol": None,
        }
        self.header = header

    def begin(self, subprotocol: str | None) -> None:
        self.header["subprotocol"] = subprotocol
        self._line(self.header)

    def frame(self, sender: str, data: str | bytes) -> None:
        if self.synthetic is not None:
            data = self.synthetic.replace(self.provider, sender, data)
        entry: dict[str, Any] = {"t": self._now(), "from": sender}
        if isinstance(data, str):
            entry["text"] = self._redact(data)
        else:
            try:
                entry["text"] = self._redact(data.decode("utf-8"))
                entry["binary"] = True
            except UnicodeDecodeError:
                entry["base64"] = base64.b64encode(data).decode("ascii")
        self._line(entry)

    def close(self, code: int, reason: str) -> None:
        self._line({"t": self._now(), "from": "server", "close": {"code": code, "reason": reason}})

    def _now(self) -> float:
        return round(trio.current_time() - self.start, 4)

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _line(self, value: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(value, ensure_ascii=False) + "\n")
        self.file.flush()


def _public_target(target: str) -> str:
    """The request target without credentials in its query."""
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if k.lower() not in _SECRET_PARAMS]
    return parts.path + ("?" + urlencode(kept) if kept else "")


def _secrets_of(target: str, headers: Sequence[tuple[str, str]]) -> list[str]:
    found = [v for k, v in parse_qsl(urlsplit(target).query) if k.lower() in _SECRET_PARAMS]
    for name, value in headers:
        if name in ("authorization", "x-goog-api-key", "api-key"):
            found.append(value.split(" ", 1)[-1].strip())
        elif name == "sec-websocket-protocol":
            found += [p.strip() for p in value.split(",") if "." in p and "key" in p]
    return found


def _provider_of(target: str) -> str:
    return "gemini" if "BidiGenerateContent" in target or "LlmBidiService" in target else "openai"


@attrs.define
class RecordingProxy:
    """A running recording proxy.

    Attributes:
        url: ``ws://HOST:PORT`` (``wss://`` with TLS) to point clients at, with
            the service's paths.
        files: the recordings written so far, one per connection.
        ca_path: with TLS, the file of the throwaway CA that signed the proxy's
            certificate (trust it, e.g. ``SSL_CERT_FILE``); else `None`.
    """

    url: str
    files: list[Path] = attrs.field(factory=list)
    ca_path: str | None = None


@asynccontextmanager
async def open_recording_proxy(
    upstream: str,
    path: str | os.PathLike[str],
    *,
    audio: AudioMode = "keep",
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    tls: bool = False,
) -> AsyncIterator[RecordingProxy]:
    """Run a proxy to `upstream` that records every connection through it.

    Args:
        upstream: the service's base URL (``wss://api.openai.com``,
            ``wss://generativelanguage.googleapis.com``, or a fake server's
            ``server.url``); each client's path and query are appended.
        path: the recording of the first connection; later ones get ``-2``,
            ``-3`` ... before the suffix.
        audio: ``"keep"`` writes audio as sent; ``"synthetic"`` replaces it by
            the synthetic voice (one JSON parse and re-encode per audio frame).
            Either way each frame costs one JSON line written and flushed.
        host: the address the proxy listens on.
        port: the port it listens on (``0``: any free port).
        ssl_context: for a ``wss://`` upstream with a private CA.
        tls: serve ``wss://`` with a certificate from a throwaway CA
            (`RecordingProxy.ca_path`), for clients that insist on TLS, such as
            google-genai with an API key.

    Cancellation: leaving the block closes the proxy and its connections.

    Raises:
        ConfigurationError: a bad `audio` or `upstream`.
        OSError: the address cannot be bound.
    """
    if audio not in ("keep", "synthetic"):
        raise ConfigurationError(f"audio must be 'keep' or 'synthetic', got {audio!r}")
    if not upstream.startswith(("ws://", "wss://")):
        raise ConfigurationError(f"upstream must be a ws:// or wss:// URL, got {upstream!r}")
    base = Path(path)
    proxy = RecordingProxy(url="")

    def next_file() -> Path:
        n = len(proxy.files) + 1
        file = base if n == 1 else base.with_name(f"{base.stem}-{n}{base.suffix}")
        proxy.files.append(file)
        return file

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        target = request.path
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers]
        forward = [
            (k.encode(), v.encode())
            for k, v in headers
            if k not in _HOP_HEADERS and not k.startswith("sec-websocket")
        ]
        offered = list(request.proposed_subprotocols)
        try:
            async with trio_websocket.open_websocket_url(
                upstream.rstrip("/") + target,
                ssl_context,
                subprotocols=offered or None,
                extra_headers=forward,
                max_message_size=2**26,
            ) as up:
                writer = _Writer(
                    next_file(), _provider_of(target), target, audio, _secrets_of(target, headers)
                )
                try:
                    client = await request.accept(subprotocol=up.subprotocol)
                    writer.begin(up.subprotocol)
                    await _pump(client, up, writer)
                finally:
                    writer.file.close()
        except trio_websocket.ConnectionRejected as exc:
            # The service refused the upgrade: the client gets the same answer.
            await request.reject(
                exc.status_code, extra_headers=list(exc.headers or []), body=exc.body
            )

    server_ssl: ssl.SSLContext | None = None
    if tls:
        from .server import _make_tls

        server_ssl, proxy.ca_path = _make_tls(host)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            trio_websocket.serve_websocket, handler, host, port, server_ssl
        )
        proxy.url = f"{'wss' if tls else 'ws'}://{host}:{server.port}"
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()


async def _pump(
    client: trio_websocket.WebSocketConnection,
    up: trio_websocket.WebSocketConnection,
    writer: _Writer,
) -> None:
    client_left = False  # a close that follows the client's own is not the server's

    async def forward(
        src: trio_websocket.WebSocketConnection,
        dst: trio_websocket.WebSocketConnection,
        sender: str,
        scope: trio.CancelScope,
    ) -> None:
        try:
            while True:
                data = await src.get_message()
                writer.frame(sender, data)
                await dst.send_message(data)
        except trio_websocket.ConnectionClosed as exc:
            nonlocal client_left
            reason = exc.reason
            code = reason.code if reason is not None else 1006
            text = (reason.reason if reason is not None else "") or ""
            if sender == "client":
                client_left = True
            elif not client_left:
                writer.close(code, text)
            sendable = code not in (1005, 1006, 1015)
            await dst.aclose(code if sendable else 1000, text if sendable else "")
            scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(forward, client, up, "client", nursery.cancel_scope)
        nursery.start_soon(forward, up, client, "server", nursery.cancel_scope)


# --------------------------------------------------------------------------- replay


@attrs.frozen
class _Cue:
    """A server frame and what the client must have sent before it goes out."""

    frame: Frame
    messages: int  # non-audio client messages
    audio: int  # client audio bytes
    after: float | None  # recorded time of the last client frame before it


def _cues(recording: Recording) -> tuple[list[_Cue], list[str | None]]:
    cues: list[_Cue] = []
    expected: list[str | None] = []  # the type of each non-audio client message
    messages = audio = 0
    last_client: float | None = None
    for frame in recording.frames:
        if frame.sender == "client":
            message = _decode(frame.data) if frame.data is not None else None
            size = _audio_bytes(recording.provider, message)
            if size:
                audio += size
            else:
                messages += 1
                expected.append(_kind_of(message))
            last_client = frame.t
        else:
            cues.append(_Cue(frame, messages, audio, last_client))
    return cues, expected


def _kind_of(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("type"), str):
        return str(message["type"])
    keys = sorted(k for k in message if k not in ("event_id",))
    return keys[0] if keys else None


class ReplayHandler:
    """Serves a `Recording` as the fake server's handler for its provider.

    Each connection gets the recorded server frames, byte for byte, each once
    the client has sent what the recording says came before it (see the module
    docstring), paced by the server's ``speed`` (0 or ``math.inf``: no waiting).

    Attributes:
        recording: what is replayed.
        mismatches: one line per client message whose type differs from the
            recording's at the same position (the replay goes on).
    """

    def __init__(self, recording: Recording | str | os.PathLike[str]) -> None:
        self.recording = (
            recording if isinstance(recording, Recording) else load_recording(recording)
        )
        self.mismatches: list[str] = []
        self._cues, self._expected = _cues(self.recording)

    async def handle(self, conn: FakeConnection) -> None:
        """Replay the recording on one connection (called by the fake server)."""
        rec = self.recording
        offered = conn.subprotocols
        chosen = rec.subprotocol if rec.subprotocol in offered else None
        await conn.accept(subprotocol=chosen)
        progress = _Progress()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._listen, conn, progress, nursery.cancel_scope)
                if await self._play(conn, progress):
                    nursery.cancel_scope.cancel()  # the recording closed the connection
                    return
                await trio.sleep_forever()  # until the client leaves
        except trio_websocket.ConnectionClosed:
            return  # the client left while frames were still due

    async def _play(self, conn: FakeConnection, progress: _Progress) -> bool:
        """Send the recorded server frames; return whether the last one closed."""
        speed = float(conn.speed)
        paced = speed > 0 and not math.isinf(speed)
        previous: tuple[float, float | None] | None = None  # (sent at, recorded t)
        for cue in self._cues:
            await progress.reached(cue.messages, cue.audio)
            if paced and cue.frame.t is not None:
                due = trio.current_time()
                if cue.after is not None:
                    due = progress.at(cue.messages, cue.audio) + (cue.frame.t - cue.after) / speed
                if previous is not None and previous[1] is not None:
                    due = max(due, previous[0] + (cue.frame.t - previous[1]) / speed)
                await trio.sleep_until(max(due, trio.current_time()))
            previous = (trio.current_time(), cue.frame.t)
            if cue.frame.close is not None:
                await conn.close(*cue.frame.close)
                return True
            assert cue.frame.data is not None
            await conn.send(cue.frame.data)
        return False

    async def _listen(
        self, conn: FakeConnection, progress: _Progress, scope: trio.CancelScope
    ) -> None:
        provider = self.recording.provider
        while True:
            try:
                data = await conn.receive()
            except trio_websocket.ConnectionClosed:
                scope.cancel()  # the client left: the replay is over
                return
            message = _decode(data)
            size = _audio_bytes(provider, message)
            if size:
                progress.add(0, size)
                continue
            index = progress.messages
            if index < len(self._expected):
                want, got = self._expected[index], _kind_of(message)
                if want != got:
                    self.mismatches.append(
                        f"client message {index + 1}: recorded {want!r}, got {got!r}"
                    )
            progress.add(1, 0)


class _Progress:
    """What the live client has sent so far, and when each step was reached."""

    def __init__(self) -> None:
        self.messages = 0
        self.audio = 0
        self.changed = trio.Event()
        self.times: list[tuple[int, int, float]] = [(0, 0, trio.current_time())]

    def add(self, messages: int, audio: int) -> None:
        self.messages += messages
        self.audio += audio
        self.times.append((self.messages, self.audio, trio.current_time()))
        self.changed.set()
        self.changed = trio.Event()

    async def reached(self, messages: int, audio: int) -> None:
        while self.messages < messages or self.audio < audio:
            await self.changed.wait()

    def at(self, messages: int, audio: int) -> float:
        """When the live client first reached (`messages`, `audio`)."""
        for m_, a_, when in self.times:
            if m_ >= messages and a_ >= audio:
                return when
        return trio.current_time()
