"""Every configuration keyword is documented where the reference renders it."""

from __future__ import annotations

import attrs
import pytest

import trio_realtime as rt
from trio_realtime._tools.docstrings import parse_docstring
from trio_realtime.openai.config import _REALTIME_ONLY
from trio_realtime.tools import ToolOptions


@pytest.mark.parametrize(
    "cls",
    [rt.OpenAIRealtime, rt.GeminiLive, rt.ConnectionOptions, rt.McpServer, ToolOptions],
    ids=lambda c: c.__name__,
)
def test_every_keyword_has_an_attributes_entry(cls: type) -> None:
    _summary, documented = parse_docstring(cls.__doc__)
    missing = [f.name for f in attrs.fields(cls) if f.name not in documented]
    assert missing == []
    assert all(documented[f.name] for f in attrs.fields(cls))


def test_transcription_keywords_are_its_own_or_the_realtime_ones() -> None:
    _s, own = parse_docstring(rt.OpenAITranscription.__doc__)
    _s, inherited = parse_docstring(rt.OpenAIRealtime.__doc__)
    for field in attrs.fields(rt.OpenAITranscription):
        assert (
            field.name in own
            or field.name in _REALTIME_ONLY
            or field.name == "input_transcription"
            or field.name in inherited
        ), field.name
    # What it refuses is said in its docstring.
    assert "refused" in (rt.OpenAITranscription.__doc__ or "")
