"""Validation of client events the way the service answers them (``error`` events)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._defaults import SUPPORTED_CLIENT_EVENTS, VOICES, semantic_vad, server_vad


class Invalid(Exception):
    """A client event the service rejects: becomes an ``error`` event."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        *,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type


#: Fields whose ``null`` means something to the service (off, none, reset): kept.
_MEANINGFUL_NULLS: Final = frozenset(
    {
        "turn_detection",
        "transcription",
        "noise_reduction",
        "idle_timeout_ms",
        "tracing",
        "prompt",
        "include",
        "metadata",
        "description",
        "parameters",
        "language",
        "transcript",
    }
)
#: Fields a client must give: a ``null`` there stays, so the error names its type.
_KEEP_NULL: Final = _MEANINGFUL_NULLS | {"type", "role"}
_KEEP_NULL_TOP: Final = _KEEP_NULL | {
    "session",
    "item",
    "item_id",
    "content_index",
    "audio_end_ms",
    "audio",
}


def without_nulls(event: dict[str, Any]) -> dict[str, Any]:
    """`event` without the explicit ``null`` fields the service reads as absent.

    The official SDKs send ``null`` for any optional field left unset (their types
    are ``Optional[...] = None``), and the service takes it as "not given".
    """
    out: dict[str, Any] = _strip_nulls(event, _KEEP_NULL_TOP)
    return out


def _strip_nulls(value: Any, keep: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_nulls(v, _KEEP_NULL) for k, v in value.items() if v is not None or k in keep
        }
    if isinstance(value, list):
        return [_strip_nulls(v, _KEEP_NULL) for v in value]
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "an unknown type"


def _quote_list(values: Sequence[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def unknown_type_error(value: Any) -> Invalid:
    """The error for a client event whose ``type`` the service does not know."""
    shown = value if isinstance(value, str) else str(value)
    return Invalid(
        "invalid_value",
        f"Invalid value: '{shown}'. Supported values are: {_quote_list(SUPPORTED_CLIENT_EVENTS)}.",
        "type",
    )


def _wrong_type(param: str, expected: str, value: Any) -> Invalid:
    return Invalid(
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {_kind(value)} instead.",
        param,
    )


def _bad_value(param: str, value: Any, allowed: Sequence[str]) -> Invalid:
    return Invalid(
        "invalid_value",
        f"Invalid value: '{value}'. Supported values are: {_quote_list(allowed)}.",
        param,
    )


def _unknown(param: str) -> Invalid:
    return Invalid("unknown_parameter", f"Unknown parameter: '{param}'.", param)


def _missing(param: str) -> Invalid:
    return Invalid("missing_required_parameter", f"Missing required parameter: '{param}'.", param)


def _check_keys(obj: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _unknown(f"{path}.{key}" if path else key)


def _obj(value: Any, path: str, *, nullable: bool = False) -> dict[str, Any] | None:
    if value is None and nullable:
        return None
    if not isinstance(value, dict):
        raise _wrong_type(path, "an object", value)
    return value


def _str(value: Any, path: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise _wrong_type(path, "a string", value)


def _bool(value: Any, path: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, bool):
        raise _wrong_type(path, "a boolean", value)


def _int(value: Any, path: str, low: int | None = None, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(path, "an integer", value)
    if low is not None and value < low:
        raise Invalid(
            "integer_below_min_value",
            f"Invalid '{path}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            path,
        )
    if high is not None and value > high:
        raise Invalid(
            "integer_above_max_value",
            f"Invalid '{path}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            path,
        )


def _number(value: Any, path: str, low: float, high: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong_type(path, "a number", value)
    if value < low:
        raise Invalid(
            "decimal_below_min_value",
            f"Invalid '{path}': decimal below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            path,
        )
    if value > high:
        raise Invalid(
            "decimal_above_max_value",
            f"Invalid '{path}': decimal above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            path,
        )


def _check_format(value: Any, path: str) -> None:
    fmt = _obj(value, path)
    assert fmt is not None
    _check_keys(fmt, ("type", "rate"), path)
    if "type" not in fmt:
        raise _missing(f"{path}.type")
    kind = fmt["type"]
    _str(kind, f"{path}.type")
    if kind not in ("audio/pcm", "audio/pcmu", "audio/pcma"):
        raise _bad_value(f"{path}.type", kind, ("audio/pcm", "audio/pcmu", "audio/pcma"))
    if "rate" in fmt:
        if kind != "audio/pcm":
            raise _unknown(f"{path}.rate")
        _int(fmt["rate"], f"{path}.rate", 24000, 24000)


def _check_turn_detection(value: Any, path: str) -> None:
    td = _obj(value, path, nullable=True)
    if td is None:
        return
    if "type" not in td:
        raise _missing(f"{path}.type")
    kind = td["type"]
    _str(kind, f"{path}.type")
    if kind == "server_vad":
        _check_keys(
            td,
            (
                "type",
                "threshold",
                "prefix_padding_ms",
                "silence_duration_ms",
                "idle_timeout_ms",
                "create_response",
                "interrupt_response",
            ),
            path,
        )
        if "threshold" in td:
            _number(td["threshold"], f"{path}.threshold", 0.0, 1.0)
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if key in td:
                _int(td[key], f"{path}.{key}", 0)
        if td.get("idle_timeout_ms") is not None:
            _int(td["idle_timeout_ms"], f"{path}.idle_timeout_ms", 5000, 30000)
    elif kind == "semantic_vad":
        _check_keys(td, ("type", "eagerness", "create_response", "interrupt_response"), path)
        if "eagerness" in td:
            _str(td["eagerness"], f"{path}.eagerness")
            if td["eagerness"] not in ("low", "medium", "high", "auto"):
                raise _bad_value(
                    f"{path}.eagerness", td["eagerness"], ("low", "medium", "high", "auto")
                )
    else:
        raise _bad_value(f"{path}.type", kind, ("server_vad", "semantic_vad"))
    for key in ("create_response", "interrupt_response"):
        if key in td:
            _bool(td[key], f"{path}.{key}", nullable=True)


def _check_transcription(value: Any, path: str) -> None:
    tr = _obj(value, path, nullable=True)
    if tr is None:
        return
    _check_keys(tr, ("model", "language", "languages", "prompt", "keywords", "delay"), path)
    for key in ("model", "language", "prompt"):
        if key in tr:
            _str(tr[key], f"{path}.{key}", nullable=key != "model")
    if "delay" in tr and tr["delay"] is not None:
        allowed = ("minimal", "low", "medium", "high", "xhigh")
        if tr["delay"] not in allowed:
            raise _bad_value(f"{path}.delay", tr["delay"], allowed)


def _check_audio_input(value: Any, path: str) -> None:
    inp = _obj(value, path)
    assert inp is not None
    _check_keys(inp, ("format", "noise_reduction", "transcription", "turn_detection"), path)
    if "format" in inp:
        _check_format(inp["format"], f"{path}.format")
    if "noise_reduction" in inp:
        nr = _obj(inp["noise_reduction"], f"{path}.noise_reduction", nullable=True)
        if nr is not None:
            _check_keys(nr, ("type", "strength"), f"{path}.noise_reduction")
            if nr.get("type") not in ("near_field", "far_field"):
                raise _bad_value(
                    f"{path}.noise_reduction.type", nr.get("type"), ("near_field", "far_field")
                )
    if "transcription" in inp:
        _check_transcription(inp["transcription"], f"{path}.transcription")
    if "turn_detection" in inp:
        _check_turn_detection(inp["turn_detection"], f"{path}.turn_detection")


def _check_voice(value: Any, path: str) -> None:
    if isinstance(value, dict):
        _check_keys(value, ("id",), path)
        if not isinstance(value.get("id"), str):
            raise _missing(f"{path}.id")
        return
    _str(value, path)
    if value not in VOICES:
        raise _bad_value(path, value, VOICES)


def _check_audio_output(value: Any, path: str, *, session: bool) -> None:
    out = _obj(value, path)
    assert out is not None
    _check_keys(out, ("format", "voice", "speed") if session else ("format", "voice"), path)
    if "format" in out:
        _check_format(out["format"], f"{path}.format")
    if "voice" in out:
        _check_voice(out["voice"], f"{path}.voice")
    if "speed" in out:
        _number(out["speed"], f"{path}.speed", 0.25, 1.5)


def _check_modalities(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise _wrong_type(path, "an array of strings", value)
    for i, v in enumerate(value):
        if v not in ("audio", "text"):
            raise _bad_value(f"{path}[{i}]", v, ("text", "audio"))
    if len(value) != 1:
        shown = "[" + ", ".join(f"'{v}'" for v in value) + "]"
        raise Invalid(
            "invalid_value",
            f"Invalid modalities: {shown}. Supported combinations are: ['text'] and ['audio'].",
            path,
        )


def _check_max_tokens(value: Any, path: str) -> None:
    if value == "inf":
        return
    if isinstance(value, str):
        raise _bad_value(path, value, ("inf",))
    _int(value, path, 1, 4096)


def _check_tools(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise _wrong_type(path, "an array of objects", value)
    for i, tool in enumerate(value):
        p = f"{path}[{i}]"
        t = _obj(tool, p)
        assert t is not None
        if "type" not in t:
            raise _missing(f"{p}.type")
        if t["type"] == "function":
            _check_keys(t, ("type", "name", "description", "parameters"), p)
            if "name" not in t:
                raise _missing(f"{p}.name")
            _str(t["name"], f"{p}.name")
            if "description" in t:
                _str(t["description"], f"{p}.description", nullable=True)
            if "parameters" in t and t["parameters"] is not None:
                _check_schema(t["parameters"], t["name"], "")
        elif t["type"] == "mcp":
            if "server_label" not in t:
                raise _missing(f"{p}.server_label")
        else:
            raise _bad_value(f"{p}.type", t["type"], ("function", "mcp"))


def _check_schema(schema: Any, name: str, where: str) -> None:
    """Check the parts of a function's JSON schema the service (and the fake) rely on."""

    def bad(detail: str) -> Invalid:
        at = f" at '{where}'" if where else ""
        return Invalid(
            "invalid_function_parameters",
            f"Invalid schema for function '{name}'{at}: {detail}.",
            "tools",
        )

    if isinstance(schema, bool) and where:
        return  # true/false are schemas too
    if not isinstance(schema, dict):
        raise bad(f"{json.dumps(schema)} is not of type 'object', 'boolean'")
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise bad(f"{json.dumps(props)} is not of type 'object'")
        for key, sub in props.items():
            _check_schema(sub, name, f"{where}/properties/{key}")
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        raise bad(f"{json.dumps(required)} is not of type 'array' of strings")
    items = schema.get("items")
    if items is not None and not isinstance(items, dict | bool):
        raise bad(f"{json.dumps(items)} is not of type 'object', 'boolean'")
    if isinstance(items, dict):
        _check_schema(items, name, f"{where}/items")
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options is None:
            continue
        if not isinstance(options, list):
            raise bad(f"{json.dumps(options)} is not of type 'array'")
        for i, sub in enumerate(options):
            _check_schema(sub, name, f"{where}/{key}/{i}")


def _plain_schema(schema: Any) -> Any:
    """`schema` with boolean subschemas replaced by ``{}`` (for `example_arguments`)."""
    if isinstance(schema, bool):
        return {}
    if isinstance(schema, dict):
        out = dict(schema)
        if isinstance(out.get("properties"), dict):
            out["properties"] = {k: _plain_schema(v) for k, v in out["properties"].items()}
        if isinstance(out.get("items"), dict | bool):
            out["items"] = _plain_schema(out["items"])
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(out.get(key), list):
                out[key] = [_plain_schema(v) for v in out[key]]
        return out
    return schema


def _check_tool_choice(value: Any, path: str) -> None:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise _bad_value(path, value, ("none", "auto", "required"))
        return
    tc = _obj(value, path)
    assert tc is not None
    if tc.get("type") == "function":
        _check_keys(tc, ("type", "name"), path)
        if "name" not in tc:
            raise _missing(f"{path}.name")
        _str(tc["name"], f"{path}.name")
    elif tc.get("type") == "mcp":
        _check_keys(tc, ("type", "server_label", "name"), path)
        if "server_label" not in tc:
            raise _missing(f"{path}.server_label")
    else:
        raise _bad_value(f"{path}.type", tc.get("type"), ("function", "mcp"))


def _check_common(s: Mapping[str, Any], path: str, *, session: bool) -> None:
    """Checks shared by ``session`` and ``response.create``'s ``response``."""
    if "instructions" in s:
        _str(s["instructions"], f"{path}.instructions")
    if "output_modalities" in s:
        _check_modalities(s["output_modalities"], f"{path}.output_modalities")
    if "max_output_tokens" in s:
        _check_max_tokens(s["max_output_tokens"], f"{path}.max_output_tokens")
    if "tools" in s:
        _check_tools(s["tools"], f"{path}.tools")
    if "tool_choice" in s:
        _check_tool_choice(s["tool_choice"], f"{path}.tool_choice")
    if "prompt" in s:
        pr = _obj(s["prompt"], f"{path}.prompt", nullable=True)
        if pr is not None:
            _check_keys(pr, ("id", "version", "variables"), f"{path}.prompt")
            if "id" not in pr:
                raise _missing(f"{path}.prompt.id")
    if "reasoning" in s:
        rs = _obj(s["reasoning"], f"{path}.reasoning", nullable=True)
        if rs is not None:
            _check_keys(rs, ("effort",), f"{path}.reasoning")
            allowed = ("minimal", "low", "medium", "high", "xhigh")
            if "effort" in rs and rs["effort"] not in allowed:
                raise _bad_value(f"{path}.reasoning.effort", rs["effort"], allowed)
    if "parallel_tool_calls" in s:
        _bool(s["parallel_tool_calls"], f"{path}.parallel_tool_calls")
    if "audio" in s:
        audio = _obj(s["audio"], f"{path}.audio")
        assert audio is not None
        _check_keys(audio, ("input", "output") if session else ("output",), f"{path}.audio")
        if "input" in audio:
            _check_audio_input(audio["input"], f"{path}.audio.input")
        if "output" in audio:
            _check_audio_output(audio["output"], f"{path}.audio.output", session=session)


_REALTIME_KEYS: Final = (
    "type",
    "model",
    "instructions",
    "output_modalities",
    "max_output_tokens",
    "audio",
    "tools",
    "tool_choice",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "reasoning",
    "parallel_tool_calls",
)


def validate_session_update(
    event: Mapping[str, Any], current: Mapping[str, Any], *, audio_produced: bool
) -> dict[str, Any]:
    """Check a ``session.update`` event against the current session.

    Returns:
        The ``session`` object of the event.

    Raises:
        Invalid: what the service answers for the first problem found.
    """
    _check_keys(event, ("type", "event_id", "session"), "")
    if "session" not in event:
        raise _missing("session")
    s = _obj(event["session"], "session")
    assert s is not None
    if "type" not in s:
        raise _missing("session.type")
    kind = s["type"]
    _str(kind, "session.type")
    if kind not in ("realtime", "transcription"):
        raise _bad_value("session.type", kind, ("realtime", "transcription"))
    if kind != current["type"]:
        raise Invalid(
            "invalid_value",
            f"Passing a {kind} session update event to a {current['type']} session is not allowed.",
            "session.type",
        )
    if kind == "transcription":
        _check_keys(s, ("type", "audio", "include"), "session")
        if "audio" in s:
            audio = _obj(s["audio"], "session.audio")
            assert audio is not None
            _check_keys(audio, ("input",), "session.audio")
            if "input" in audio:
                _check_audio_input(audio["input"], "session.audio.input")
    else:
        _check_keys(s, _REALTIME_KEYS, "session")
        if "model" in s:
            _str(s["model"], "session.model")
        _check_common(s, "session", session=True)
        if "tracing" in s:
            tr = s["tracing"]
            if isinstance(tr, str):
                if tr != "auto":
                    raise _bad_value("session.tracing", tr, ("auto",))
            elif tr is not None:
                obj = _obj(tr, "session.tracing")
                assert obj is not None
                _check_keys(obj, ("workflow_name", "group_id", "metadata"), "session.tracing")
        if "truncation" in s:
            tr = s["truncation"]
            if isinstance(tr, str):
                if tr not in ("auto", "disabled"):
                    raise _bad_value("session.truncation", tr, ("auto", "disabled"))
            else:
                obj = _obj(tr, "session.truncation")
                assert obj is not None
                _check_keys(obj, ("type", "retention_ratio", "token_limits"), "session.truncation")
                if obj.get("type") != "retention_ratio":
                    raise _bad_value(
                        "session.truncation.type", obj.get("type"), ("retention_ratio",)
                    )
                if "retention_ratio" not in obj:
                    raise _missing("session.truncation.retention_ratio")
                _number(obj["retention_ratio"], "session.truncation.retention_ratio", 0.0, 1.0)
        voice = (s.get("audio") or {}).get("output", {}).get("voice")
        old_voice = current["audio"]["output"]["voice"]
        if voice is not None and voice != old_voice and audio_produced:
            raise Invalid(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                "session.audio.output.voice",
            )
    if "include" in s and s["include"] is not None:
        inc = s["include"]
        if not isinstance(inc, list):
            raise _wrong_type("session.include", "an array of strings", inc)
        for i, v in enumerate(inc):
            if v != "item.input_audio_transcription.logprobs":
                raise _bad_value(
                    f"session.include[{i}]", v, ("item.input_audio_transcription.logprobs",)
                )
    return s


def _merge_turn_detection(old: Any, new: Any, kind: str) -> Any:
    if new is None:
        return None
    if kind == "transcription":
        base = dict(old) if isinstance(old, dict) and old.get("type") == new["type"] else {}
        base.update(new)
        return base
    if isinstance(old, dict) and old.get("type") == new["type"]:
        merged = dict(old)
        merged.update(new)
        return merged
    fields = {k: v for k, v in new.items() if k != "type"}
    return server_vad(**fields) if new["type"] == "server_vad" else semantic_vad(**fields)


def _merge_transcription(new: Any) -> Any:
    if new is None:
        return None
    out: dict[str, Any] = {"model": new.get("model", "whisper-1"), "language": None, "prompt": None}
    out.update(new)
    return out


def merge_session(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The effective session after a (validated) partial update."""
    out = copy.deepcopy(dict(current))
    for key, value in update.items():
        if key in ("type", "model"):
            continue  # the model is fixed by the URL for the life of the session
        if key != "audio":
            out[key] = copy.deepcopy(value)
            continue
        for side in ("input", "output"):
            if side not in value:
                continue
            target = out["audio"][side]
            for field, v in value[side].items():
                if field == "turn_detection":
                    target[field] = _merge_turn_detection(target.get(field), v, current["type"])
                elif field == "transcription":
                    target[field] = _merge_transcription(v)
                else:
                    target[field] = copy.deepcopy(v)
    return out


_RESPONSE_KEYS: Final = (
    "conversation",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "output_modalities",
    "prompt",
    "reasoning",
    "parallel_tool_calls",
    "audio",
    "metadata",
)


def validate_response_params(event: Mapping[str, Any]) -> dict[str, Any]:
    """Check a ``response.create`` event; return its ``response`` object (may be empty).

    Raises:
        Invalid: what the service answers for the first problem found.
    """
    _check_keys(event, ("type", "event_id", "response"), "")
    r = _obj(event.get("response", {}), "response")
    assert r is not None
    _check_keys(r, _RESPONSE_KEYS, "response")
    if "conversation" in r:
        _str(r["conversation"], "response.conversation")
        if r["conversation"] not in ("auto", "none"):
            raise _bad_value("response.conversation", r["conversation"], ("auto", "none"))
    if "input" in r:
        if not isinstance(r["input"], list):
            raise _wrong_type("response.input", "an array of objects", r["input"])
        for i, item in enumerate(r["input"]):
            if not isinstance(item, dict):
                raise _wrong_type(f"response.input[{i}]", "an object", item)
            if "type" not in item:
                raise _missing(f"response.input[{i}].type")
    _check_common(r, "response", session=False)
    if "metadata" in r and r["metadata"] is not None:
        md = _obj(r["metadata"], "response.metadata")
        assert md is not None
        if len(md) > 16:
            raise Invalid(
                "object_above_max_properties",
                "Invalid 'response.metadata': too many properties. Expected an object with at "
                f"most 16 properties, but got an object with {len(md)} properties instead.",
                "response.metadata",
            )
        for k, v in md.items():
            if len(k) > 64:
                raise Invalid(
                    "string_above_max_length",
                    "Invalid 'response.metadata': key too long. Expected a key with maximum "
                    f"length 64, but got a key with length {len(k)} instead.",
                    "response.metadata",
                )
            _str(v, f"response.metadata.{k}")
            if len(v) > 512:
                raise Invalid(
                    "string_above_max_length",
                    f"Invalid 'response.metadata.{k}': string too long. Expected a string with "
                    f"maximum length 512, but got a string with length {len(v)} instead.",
                    f"response.metadata.{k}",
                )
    return r
