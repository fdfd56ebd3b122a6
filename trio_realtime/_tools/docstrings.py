"""Descriptions for the model from a Google-style docstring, read with griffe.

griffe is the parser mkdocstrings uses to render this project's (and most
projects') API docs, so the model reads a tool's docstring the way the
documentation shows it. It is imported on first use: ``import griffe`` takes
about 0.1 s, which only programs that declare tools pay, once.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

__all__ = ["parse_docstring"]

#: griffe section kinds whose entries describe parameters or fields:
#: ``Args:``/``Parameters:``, ``Keyword Args:``/``Other Parameters:`` and
#: ``Attributes:`` (the fields of attrs classes and dataclasses).
_PARAM_KINDS = frozenset({"parameters", "other parameters", "attributes"})


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


@functools.lru_cache(maxsize=256)
def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """``(first paragraph, {parameter: description})`` of a Google-style docstring.

    Multi-line descriptions are joined into one line; ``*args``/``**kwargs``
    entries are named without their stars.
    """
    if not doc or not doc.strip():
        return "", {}
    from griffe import Docstring

    # A leading blank line lets a docstring that opens with ``Args:`` (no
    # summary) be read as a section rather than as summary text.
    sections: list[Any] = Docstring("\n" + inspect.cleandoc(doc)).parse("google", warnings=False)
    summary = ""
    params: dict[str, str] = {}
    for i, section in enumerate(sections):
        kind = str(section.kind.value)
        if i == 0 and kind == "text":
            summary = _one_line(str(section.value).split("\n\n", 1)[0])
        elif kind in _PARAM_KINDS:
            for entry in section.value:
                params[str(entry.name).lstrip("*")] = _one_line(str(entry.description or ""))
    return summary, params
