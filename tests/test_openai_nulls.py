"""Explicit ``null`` in OpenAI client events, built from the official SDK's own models.

The ``openai`` SDK types every optional client-event field ``Optional[...] = None``
and clients built on it (LiveKit's plugin, the Agents SDK) send those fields as
``null``. Our codec must decode them and encode them back exactly (``null`` stays
``null``, absent stays absent), and the fake must accept them as the service does.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, Union, get_args, get_origin

import pydantic
import trio
import trio_websocket
from openai.types.realtime import ResponseCreateEvent, SessionUpdateEvent
from openai.types.realtime.realtime_client_event import RealtimeClientEvent

from trio_realtime._wire import NOT_GIVEN
from trio_realtime.openai import messages as m
from trio_realtime.openai.codec import decode_client_event, encode_client_event
from trio_realtime.testing.openai import FakeOpenAI
from trio_realtime.testing.scenario import Scenario, Turn
from trio_realtime.testing.server import open_fake_server

KEY = "sk-" + "nulls"


def _strip(t: Any) -> Any:
    while get_origin(t) is typing.Annotated:
        t = get_args(t)[0]
    return t


def _options(t: Any) -> list[Any]:
    t = _strip(t)
    if get_origin(t) in (Union, types.UnionType):
        return [o for a in get_args(t) for o in _options(a)]
    return [t]


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, pydantic.BaseModel)


def _scalar(t: Any, name: str) -> Any:
    if get_origin(t) is Literal:
        return get_args(t)[0]
    if t is str:
        return "AAAA" if name == "audio" else "x"
    if t is bool:
        return True
    if t is int:
        return 1
    if t is float:
        return 0.5
    if t is dict or get_origin(t) is dict or t is object:
        return {}
    raise AssertionError(f"no sample value for {t!r} ({name})")


def _alternatives(t: Any, name: str) -> list[Any]:
    """Values worth trying for a field: every model variant, every list item variant."""
    out: list[Any] = []
    for o in _options(t):
        if o is type(None):
            continue
        if _is_model(o):
            out += list(model_variants(o))
        elif get_origin(o) is list:
            out += [[v] for v in _alternatives(get_args(o)[0], name)]
        else:
            out.append(_scalar(o, name))
    return out


def model_variants(model: type[pydantic.BaseModel]) -> Iterator[pydantic.BaseModel]:
    """`model` with every optional field null, then one variant per field alternative.

    Nested objects are built the same way, so a variant that fills one optional
    object carries nulls in all of that object's own optional fields.
    """
    base: dict[str, Any] = {}
    alternatives: dict[str, list[Any]] = {}
    for name, field in model.model_fields.items():
        options = _options(field.annotation)
        literals = [o for o in options if get_origin(o) is Literal]
        if name == "type" and literals:
            base[name] = get_args(literals[0])[0]  # the tag stays (the SDK allows None)
            continue
        alternatives[name] = _alternatives(field.annotation, name)
        optional = not field.is_required() and type(None) in options
        base[name] = None if optional else alternatives[name][0]
    yield model(**base)
    for name, values in alternatives.items():
        for value in values:
            if value is not base[name]:
                yield model(**{**base, name: value})


def sdk_client_events() -> list[dict[str, Any]]:
    """Every variant of the 11 SDK client event models, as the SDK would send them."""
    return copy.deepcopy(_sdk_client_events())


@functools.cache
def _sdk_client_events() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for cls in get_args(_strip(RealtimeClientEvent)):
        for event in [*model_variants(_strip(cls)), deep_variant(_strip(cls))]:
            wire = event.model_dump(mode="json", exclude_unset=True, by_alias=True)
            seen.setdefault(json.dumps(wire, sort_keys=True), wire)
    return list(seen.values())


def test_sdk_events_cover_all_eleven_types_with_nulls() -> None:
    events = sdk_client_events()
    assert {e["type"] for e in events} == {vars(c)["TYPE"] for c in m.CLIENT_EVENT_CLASSES}
    assert len(m.CLIENT_EVENT_CLASSES) == 11
    assert {e["type"] for e in events if e["event_id"] is None} == {e["type"] for e in events}
    assert len(events) > 200  # nested variants: sessions, items, tools, VADs ...


def test_sdk_events_with_nulls_round_trip_exactly() -> None:
    for wire in sdk_client_events():
        text = json.dumps(wire)
        typed = decode_client_event(text)
        assert not type(typed).__name__.startswith("Unknown"), text
        assert json.loads(encode_client_event(typed)) == wire, text
        # The same event without its nulls stays without them.
        absent = _drop_none(wire)
        again = decode_client_event(json.dumps(absent))
        assert json.loads(encode_client_event(again)) == absent


def test_null_and_absent_event_id_are_kept_apart() -> None:
    with_null = decode_client_event('{"type":"input_audio_buffer.commit","event_id":null}')
    without = decode_client_event('{"type":"input_audio_buffer.commit"}')
    assert isinstance(with_null, m.InputAudioBufferCommit)
    assert with_null.event_id is None
    assert isinstance(without, m.InputAudioBufferCommit)
    assert without.event_id is NOT_GIVEN
    assert encode_client_event(with_null) == '{"type":"input_audio_buffer.commit","event_id":null}'
    assert encode_client_event(without) == '{"type":"input_audio_buffer.commit"}'
    append = decode_client_event(
        '{"type":"input_audio_buffer.append","audio":"AAA=","event_id":null}'
    )
    assert isinstance(append, m.InputAudioBufferAppend)
    assert (append.audio, append.event_id) == (b"\x00\x00", None)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _first(type_: str, **where: Any) -> dict[str, Any]:
    """The first SDK variant of `type_` whose top-level fields match `where`."""
    for wire in sdk_client_events():
        if wire["type"] == type_ and all(wire.get(k) == v for k, v in where.items()):
            return wire
    raise AssertionError(f"no SDK variant of {type_} with {where}")


def deep_variant(model: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    """`model` with every optional object or array filled and every optional scalar null."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        options = [o for o in _options(field.annotation) if o is not type(None)]
        literals = [o for o in options if get_origin(o) is Literal]
        nested = [o for o in options if _is_model(o) or get_origin(o) is list]
        if name == "type" and literals:
            fields[name] = get_args(literals[0])[0]
        elif nested:
            o = nested[0]
            if get_origin(o) is list:
                inner = next(i for i in _options(get_args(o)[0]) if i is not type(None))
                fields[name] = [deep_variant(inner) if _is_model(inner) else _scalar(inner, name)]
            else:
                fields[name] = deep_variant(o)
        elif not field.is_required():
            fields[name] = None
        else:
            fields[name] = _scalar(options[0], name)
    return model(**fields)


def _deep(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    wire: dict[str, Any] = deep_variant(model).model_dump(
        mode="json", exclude_unset=True, by_alias=True
    )
    return wire


class Client:
    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(event))

    async def until(self, kind: str) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while True:
            event = json.loads(await self.ws.get_message())
            got.append(event)
            assert event["type"] != "error", event
            if event["type"] == kind:
                return got


async def test_fake_accepts_sdk_events_with_nulls() -> None:
    """Each of the 11 SDK events, every optional field null, is served without an error."""
    speech = base64.b64encode(b"\x00\x00" * 4800).decode()  # 200 ms of silence
    scenario = Scenario([Turn(reply="One."), Turn(reply="Two."), Turn(reply="Three.", latency=5)])
    with trio.fail_after(20):
        async with (
            open_fake_server(
                speed=100.0, scenario=scenario, handlers={"openai": FakeOpenAI()}
            ) as server,
            trio_websocket.open_websocket_url(
                server.openai_url + "?model=gpt-realtime",
                extra_headers=[(b"Authorization", f"Bearer {KEY}".encode())],
            ) as ws,
        ):
            client = Client(ws)
            created = (await client.until("session.created"))[-1]["session"]

            await client.send(_first("session.update"))
            updated = (await client.until("session.updated"))[-1]["session"]
            assert updated == created  # all-null update changes nothing

            await client.send(_first("conversation.item.create"))
            added = (await client.until("conversation.item.done"))[-1]["item"]
            assert added["role"] == "system"

            append = _first("input_audio_buffer.append")
            await client.send({**append, "audio": speech})
            await client.send(_first("input_audio_buffer.commit"))
            await client.until("input_audio_buffer.committed")
            await client.send(_first("input_audio_buffer.clear"))
            await client.until("input_audio_buffer.cleared")

            await client.send(_first("response.create", response=None))
            events = await client.until("response.done")
            assert events[-1]["response"]["status"] == "completed"
            spoken = next(e["item"] for e in events if e["type"] == "response.output_item.done")

            await client.send({**_first("conversation.item.retrieve"), "item_id": spoken["id"]})
            await client.until("conversation.item.retrieved")
            truncate = _first("conversation.item.truncate")
            await client.send(
                {**truncate, "item_id": spoken["id"], "content_index": 0, "audio_end_ms": 100}
            )
            await client.until("conversation.item.truncated")
            await client.send({**_first("conversation.item.delete"), "item_id": spoken["id"]})
            await client.until("conversation.item.deleted")

            # A fully populated response.create whose nested optional fields are null.
            deep = _deep(ResponseCreateEvent)
            deep["response"].update(conversation="auto", tools=None, tool_choice=None)
            deep["response"]["audio"]["output"]["voice"] = "marin"
            await client.send(deep)
            events = await client.until("response.done")
            assert events[-1]["response"]["status"] == "completed"

            await client.send(_first("response.create", response=None))
            await client.until("response.created")
            await client.send(_first("response.cancel"))
            done = (await client.until("response.done"))[-1]["response"]
            assert done["status_details"]["reason"] == "client_cancelled"

            session = _deep(SessionUpdateEvent)
            assert session["session"]["type"] == "realtime"
            session["session"]["tools"][0]["name"] = "lookup"
            session["session"]["tool_choice"] = "auto"
            session["session"]["audio"]["output"]["voice"] = None  # unchanged: audio was produced
            session["session"]["audio"]["input"]["turn_detection"]["idle_timeout_ms"] = None
            await client.send(session)
            updated = (await client.until("session.updated"))[-1]["session"]
            assert updated["output_modalities"] == ["text"]
            assert updated["tools"][0]["name"] == "lookup"
            assert updated["audio"]["output"]["voice"] == created["audio"]["output"]["voice"]
            assert updated["instructions"] == created["instructions"]  # null: unchanged
            vad = updated["audio"]["input"]["turn_detection"]
            assert vad["type"] == "server_vad"
            assert vad["silence_duration_ms"] == 200

            # WebRTC/SIP only: over WebSocket the event type itself is refused, not its null.
            await client.send(_first("output_audio_buffer.clear"))
            error = json.loads(await ws.get_message())
            assert error["type"] == "error"
            assert error["error"]["param"] == "type"
            assert error["error"]["message"].startswith(
                "Invalid value: 'output_audio_buffer.clear'"
            )
