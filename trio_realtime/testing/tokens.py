"""The fake server's token endpoints: OpenAI client secrets and Gemini ephemeral tokens.

The shell (`testing.server`) hands plain HTTP requests (anything that is not a
WebSocket upgrade) to `serve_http`, which answers:

- ``POST /v1/realtime/client_secrets`` (OpenAI) and
  ``POST /openai/v1/realtime/client_secrets`` (Azure OpenAI): the caller's key
  as the WebSocket handshake would check it; ``expires_after`` (anchor
  ``created_at``, 10–7200 s, default 600) and ``session`` (type ``realtime``
  or ``transcription``, validated like a ``session.update``). Answers
  ``{"value": "ek_…", "expires_at": …, "session": {…}}``.
- ``POST /v1alpha/auth_tokens`` (also ``v1beta``) (Gemini API): the key in
  ``x-goog-api-key`` or ``?key=``; ``uses`` (≥ 0, default 1),
  ``expireTime`` (default now + 30 min) and ``newSessionExpireTime`` (default
  now + 60 s), each before now + 20 h; ``bidiGenerateContentSetup`` (a bare
  setup object) and ``fieldMask`` (lowerCamel paths; snake_case is refused).
  Answers ``{"name": "auth_tokens/…", "expireTime", "newSessionExpireTime",
  "uses"}``.

Every token issued is kept in the server's `TokenStore`; the provider handlers
accept a token on the WebSocket only while the service would: an OpenAI
secret until ``expires_at`` (it may start several sessions, and its session
becomes the initial configuration); a Gemini token only on
``BidiGenerateContentConstrained``, until ``newSessionExpireTime`` for new
sessions and ``expireTime`` for any, for ``uses`` new sessions (a resumption
does not use one up), with its locked setup fields winning over the client's.
`TokenStore.clock` (wall-clock seconds) can be moved to test expiry.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import attrs
import h11
import trio

from .faults import refusal_body, unknown_path_body
from .server import FakeServer, find_api_key, normalise_path

__all__ = ["GeminiTokenRecord", "OpenAISecretRecord", "TokenStore", "serve_http"]

#: Largest request body the token endpoints read.
MAX_BODY = 1 << 20
_MAX_AHEAD = 20 * 3600


@attrs.define
class OpenAISecretRecord:
    """An OpenAI client secret the fake issued."""

    value: str = attrs.field(repr=False)
    expires_at: float
    session: dict[str, Any]
    variant: str  # "openai" or "azure"
    sessions_started: int = 0


@attrs.define
class GeminiTokenRecord:
    """A Gemini ephemeral token the fake issued."""

    name: str = attrs.field(repr=False)
    expire_time: float
    new_session_expire_time: float
    uses: int  # 0: no limit
    setup: dict[str, Any] | None
    field_mask: list[str] | None
    sessions_started: int = 0


@attrs.define
class TokenStore:
    """Tokens issued by one fake server, and the rules for accepting them.

    `clock` returns wall-clock seconds (``time.time`` by default); tests move
    it forward to make tokens expire.
    """

    clock: Callable[[], float] = time.time
    openai: dict[str, OpenAISecretRecord] = attrs.field(factory=dict)
    gemini: dict[str, GeminiTokenRecord] = attrs.field(factory=dict)

    def check_openai(self, key: str) -> str | None:
        """Why the client secret `key` cannot start a session (`None`: it can)."""
        record = self.openai.get(key)
        if record is None:
            return "Incorrect API key provided: ek_***. The ephemeral key is not valid."
        if self.clock() >= record.expires_at:
            return "Your ephemeral API key has expired. Request a new client secret."
        return None

    def check_gemini(self, name: str, *, resuming: bool) -> str | None:
        """Why the token `name` cannot open a session (`None`: it can); a new session
        uses it up once."""
        record = self.gemini.get(name)
        if record is None:
            return "API key not valid. Please pass a valid API key."
        now = self.clock()
        if now >= record.expire_time or (not resuming and now >= record.new_session_expire_time):
            return "API key expired. Please renew the API key."
        if not resuming and record.uses and record.sessions_started >= record.uses:
            return "API key not valid. Please pass a valid API key."
        return None


def locked_setup(record: GeminiTokenRecord, client_setup: Mapping[str, Any]) -> dict[str, Any]:
    """The client's setup (wire dict) with the token's locked fields winning."""
    merged: dict[str, Any] = json.loads(json.dumps(dict(client_setup)))
    if record.setup is None:
        return merged
    if record.field_mask is None:
        return dict(json.loads(json.dumps(record.setup)))
    for path in record.field_mask:
        parts = path.split(".")
        src: Any = record.setup
        for p in parts:
            src = src.get(p) if isinstance(src, dict) else None
        dst = merged
        for p in parts[:-1]:
            dst = dst.setdefault(p, {})
        if src is None:
            dst.pop(parts[-1], None)
        else:
            dst[parts[-1]] = json.loads(json.dumps(src))
    return merged


# --------------------------------------------------------------------------- HTTP


class _Refused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _openai_error(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> _Refused:
    doc = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }
    return _Refused(status, json.dumps(doc, indent=2).encode())


def _google_error(status: int, message: str, name: str = "INVALID_ARGUMENT") -> _Refused:
    doc = {"error": {"code": status, "message": message, "status": name}}
    return _Refused(status, json.dumps(doc, indent=2).encode())


def _parse_json(body: bytes, google: bool) -> dict[str, Any]:
    try:
        doc: Any = json.loads(body or b"{}")
    except ValueError:
        if google:
            raise _google_error(400, "Invalid JSON payload received.") from None
        raise _openai_error(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)",
        ) from None
    if not isinstance(doc, dict):
        if google:
            raise _google_error(400, "Invalid JSON payload received. Expected an object.")
        raise _openai_error(400, "The request body must be a JSON object.")
    return doc


def _mint_openai(
    server: FakeServer, variant: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    key = find_api_key(headers, {})
    handler = server.handlers.get("openai")
    accepted = getattr(handler, "key_accepted", None)
    if not key or key.startswith("ek_") or (accepted is not None and not accepted(key)):
        raise _Refused(401, refusal_body("azure" if variant == "azure" else "openai", 401))
    doc = _parse_json(body, google=False)
    unknown = sorted(set(doc) - {"expires_after", "session"})
    if unknown:
        raise _openai_error(
            400, f"Unknown parameter: '{unknown[0]}'.", unknown[0], "unknown_parameter"
        )
    seconds = 600
    exp = doc.get("expires_after")
    if exp is not None:
        if not isinstance(exp, dict):
            raise _openai_error(
                400,
                "Invalid type for 'expires_after': expected an object.",
                "expires_after",
                "invalid_type",
            )
        if exp.get("anchor") != "created_at":
            raise _openai_error(
                400,
                f"Invalid value: '{exp.get('anchor')}'. Supported values are: 'created_at'.",
                "expires_after.anchor",
                "invalid_value",
            )
        raw = exp.get("seconds", 600)
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise _openai_error(
                400,
                "Invalid type for 'expires_after.seconds': expected an integer.",
                "expires_after.seconds",
                "invalid_type",
            )
        if not 10 <= raw <= 7200:
            raise _openai_error(
                400,
                f"Invalid 'expires_after.seconds': integer above maximum value. Expected a value "
                f"between 10 and 7200, but got {raw} instead."
                if raw > 7200
                else f"Invalid 'expires_after.seconds': integer below minimum value. Expected a "
                f"value between 10 and 7200, but got {raw} instead.",
                "expires_after.seconds",
                "integer_above_max_value" if raw > 7200 else "integer_below_min_value",
            )
        seconds = raw
    session = doc.get("session", {"type": "realtime"})
    if not isinstance(session, dict):
        raise _openai_error(
            400, "Invalid type for 'session': expected an object.", "session", "invalid_type"
        )
    kind = session.get("type")
    if kind not in ("realtime", "transcription"):
        raise _openai_error(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'realtime' and 'transcription'.",
            "session.type",
            "invalid_value",
        )
    from .openai._defaults import default_realtime_session, default_transcription_session
    from .openai._validation import Invalid, merge_session, validate_session_update

    now = server.tokens.clock()
    expires_at = int(now + seconds)
    sid = "sess_" + secrets.token_hex(10)
    update = {k: v for k, v in session.items() if k != "model"}
    base = (
        default_transcription_session(sid, 0)
        if kind == "transcription"
        else default_realtime_session(sid, str(session.get("model") or "gpt-realtime"), 0)
    )
    try:
        validate_session_update(
            {"type": "session.update", "session": update}, base, audio_produced=False
        )
    except Invalid as exc:
        param = exc.param.replace("session.", "session.", 1) if exc.param else None
        raise _openai_error(400, str(exc), param, exc.code) from None
    effective = merge_session(base, update)
    value = "ek_" + secrets.token_hex(16)
    server.tokens.openai[value] = OpenAISecretRecord(
        value=value, expires_at=expires_at, session=dict(session), variant=variant
    )
    return {"value": value, "expires_at": expires_at, "session": effective}


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _google_time(doc: Mapping[str, Any], field: str, default: float, now: float) -> float:
    raw = doc.get(field)
    if raw is None:
        return now + default
    if not isinstance(raw, str):
        raise _google_error(
            400, f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp)"
        )
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _google_error(
            400,
            f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp), "
            f"Field '{field}', Invalid time format: Failed to parse input \"{raw}\"",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    t = moment.timestamp()
    if t > now + _MAX_AHEAD:
        raise _google_error(400, f"{field} must be less than 20 hours in the future.")
    return t


def _mint_gemini(
    server: FakeServer, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    key = headers.get("x-goog-api-key") or query.get("key")
    if not key:
        raise _google_error(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
            "PERMISSION_DENIED",
        )
    handler = server.handlers.get("gemini")
    accepted = getattr(handler, "api_keys", None)
    if key.startswith("auth_tokens/") or (accepted is not None and key not in accepted):
        raise _google_error(400, "API key not valid. Please pass a valid API key.")
    doc = _parse_json(body, google=True)
    known = {"uses", "expireTime", "newSessionExpireTime", "bidiGenerateContentSetup", "fieldMask"}
    for name in doc:
        if name not in known:
            raise _google_error(
                400, f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            )
    uses = doc.get("uses", 1)
    if not isinstance(uses, int) or isinstance(uses, bool) or uses < 0:
        raise _google_error(400, f"Invalid value at 'uses' (TYPE_INT32), {uses!r}")
    now = server.tokens.clock()
    expire = _google_time(doc, "expireTime", 30 * 60, now)
    new_session = _google_time(doc, "newSessionExpireTime", 60, now)
    setup = doc.get("bidiGenerateContentSetup")
    if setup is not None:
        if not isinstance(setup, dict):
            raise _google_error(400, "Invalid value at 'bidi_generate_content_setup'.")
        if "setup" in setup:
            raise _google_error(
                400,
                'Invalid JSON payload received. Unknown name "setup" at '
                "'bidi_generate_content_setup': Cannot find field.",
            )
    mask_raw = doc.get("fieldMask")
    mask: list[str] | None = None
    if mask_raw is not None:
        if not isinstance(mask_raw, str):
            raise _google_error(
                400, "Invalid value at 'field_mask' (type.googleapis.com/google.protobuf.FieldMask)"
            )
        mask = [p.strip() for p in mask_raw.split(",") if p.strip()]
        for path in mask:
            if "_" in path:
                raise _google_error(
                    400,
                    f'Invalid field mask path "{path}": field masks use lowerCamelCase JSON names.',
                )
        if setup is None:
            raise _google_error(400, "fieldMask needs bidiGenerateContentSetup.")
    name = "auth_tokens/" + secrets.token_hex(16)
    server.tokens.gemini[name] = GeminiTokenRecord(
        name=name,
        expire_time=expire,
        new_session_expire_time=new_session,
        uses=uses,
        setup=setup,
        field_mask=mask,
    )
    return {
        "name": name,
        "expireTime": _rfc3339(expire),
        "newSessionExpireTime": _rfc3339(new_session),
        "uses": uses,
    }


def _route(
    server: FakeServer, method: str, target: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, bytes]:
    raw_path, _, raw_query = target.partition("?")
    path = normalise_path(raw_path)
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    openai = {
        "/v1/realtime/client_secrets": "openai",
        "/openai/v1/realtime/client_secrets": "azure",
    }
    gemini = {"/v1alpha/auth_tokens", "/v1beta/auth_tokens"}
    if path not in openai and path not in gemini:
        return 404, unknown_path_body(f"{path}")
    try:
        if method != "POST":
            if path in gemini:
                raise _google_error(
                    405, f"Method {method} is not allowed here.", "METHOD_NOT_ALLOWED"
                )
            raise _openai_error(405, f"Invalid method for URL ({method} {path})")
        if len(body) > MAX_BODY:
            raise _Refused(413, b"")
        if path in openai:
            doc = _mint_openai(server, openai[path], headers, body)
        else:
            doc = _mint_gemini(server, headers, query, body)
    except _Refused as refused:
        return refused.status, refused.body
    return 200, json.dumps(doc).encode()


async def serve_http(server: FakeServer, stream: trio.abc.Stream, first: bytes) -> None:
    """Answer plain HTTP requests on `stream` (whose first bytes were `first`) until it closes."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY)
    conn.receive_data(first)
    while True:
        method = target = ""
        headers: dict[str, str] = {}
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                with trio.move_on_after(server.connect_timeout) as scope:
                    data = await stream.receive_some()
                if scope.cancelled_caught:
                    return
                conn.receive_data(bytes(data))
                if not data and conn.their_state is h11.IDLE:
                    return
                continue
            if isinstance(event, h11.Request):
                method = event.method.decode("ascii", "replace")
                target = event.target.decode("latin-1")
                for n, v in event.headers:
                    headers[n.decode("latin-1").lower()] = v.decode("latin-1")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:
                    break
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if not method:
            return
        status, payload = _route(server, method, target, headers, bytes(body))
        response = h11.Response(
            status_code=status,
            headers=[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(payload))),
            ],
        )
        await stream.send_all(
            conn.send(response) + conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage())
        )
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
            return
        try:
            conn.start_next_cycle()
        except h11.LocalProtocolError:
            return
