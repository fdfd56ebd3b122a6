"""Tool results as JSON: what a function returns, turned into what the wire carries."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs

from ..errors import redact_text

__all__ = ["tool_error_payload", "tool_result_payload"]


def _payload(value: Any, path: str) -> Any:
    if isinstance(value, enum.Enum):
        return _payload(value.value, path)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"tool result at {path} is {value!r}, which JSON cannot represent")
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if attrs.has(type(value)) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        return _payload(_RESULT_CONVERTER.unstructure(value), path)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k.value if isinstance(k, enum.Enum) else k
            if not isinstance(key, str):
                raise TypeError(
                    f"tool result at {path} has a key that is not a str: {k!r} "
                    "(JSON object keys are strings)"
                )
            out[key] = _payload(v, f"{path}[{json.dumps(key)}]")
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_payload(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _payload(float(value), path)
    raise TypeError(
        f"tool result at {path} is a {type(value).__qualname__}, which cannot be sent as JSON; "
        "return str, int, float, bool, None, lists, dicts with str keys, attrs classes, "
        "dataclasses, enums, bytes or datetimes"
    )


_RESULT_CONVERTER = cattrs.Converter()


def tool_result_payload(result: Any) -> Any:
    """Turn a tool's return value into JSON-serialisable data.

    attrs classes and dataclasses become dicts (cattrs unstructure), enums
    their values, bytes base64 text, datetimes ISO 8601 text, tuples and sets
    lists; JSON values pass through.

    Raises:
        TypeError: something in `result` cannot be sent as JSON (the message
            names where, e.g. ``$["items"][2]``).
    """
    return _payload(result, "$")


def tool_error_payload(exc: BaseException) -> dict[str, str]:
    """The error result sent back for a failed call: ``{"error": "<Type>: <message>"}``."""
    text = redact_text(str(exc))
    return {"error": f"{type(exc).__name__}: {text}" if text else type(exc).__name__}
