"""Terminal output shared by ``chat`` and ``talk``: streaming transcripts and a status line.

On a terminal (``live=True``) a transcript line grows as fragments arrive and
is rewritten with the final text; a status line (the microphone level meter)
sits below and is redrawn after each transcript. Elsewhere (a pipe, a file)
every write is plain, append-only text: fragments are appended to the open
line when ``partials=True``, and each final transcript ends its line (or is
printed whole when the fragments did not add up to it).
"""

from __future__ import annotations

import math
from typing import TextIO

LABELS = {"user": "you", "assistant": "assistant"}
_CLEAR = "\r\x1b[K"


class TranscriptPrinter:
    """Prints transcripts of both sides as they arrive (see the module docstring)."""

    def __init__(self, out: TextIO, *, live: bool, partials: bool = True) -> None:
        self.out = out
        self.live = live
        self.partials = partials
        self._open: str | None = None  # role whose line is open
        self._text = ""  # what the open line shows after its label
        self._status = ""

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _end_open_line(self) -> None:
        if self._open is not None:
            self._write("\n")
            self._open = None
            self._text = ""

    def _hide_status(self) -> str:
        return _CLEAR if self.live and self._status else ""

    def _show_status(self) -> str:
        if self.live and self._status and self._open is None:
            return self._status
        return ""

    def partial(self, role: str, fragment: str) -> None:
        """A fragment of `role`'s transcript arrived."""
        if not self.partials or not fragment:
            return
        prefix = self._hide_status()
        if self._open != role:
            if self._open is not None:
                prefix += "\n"
            self._open = role
            self._text = ""
            prefix += f"{LABELS.get(role, role)}: "
        self._text += fragment
        self._write(prefix + fragment)

    def final(self, role: str, text: str) -> None:
        """`role`'s whole transcript of an item or turn."""
        label = LABELS.get(role, role)
        if self._open == role:
            if self.live:
                self._write(f"{_CLEAR}{label}: {text}\n")
            elif " ".join(self._text.split()) == " ".join(text.split()):
                self._write("\n")
            else:
                self._write(f"\n{label}: {text}\n")
            self._open = None
            self._text = ""
        else:
            prefix = self._hide_status() + ("\n" if self._open is not None else "")
            self._open = None
            self._text = ""
            self._write(f"{prefix}{label}: {text}\n")
        self._write(self._show_status())

    def line(self, text: str) -> None:
        """A line of information, printed between transcripts."""
        prefix = self._hide_status()
        if self._open is not None:
            prefix += "\n"
            self._open = None
            self._text = ""
        self._write(f"{prefix}{text}\n{self._show_status()}")

    def status(self, text: str) -> None:
        """Replace the status line (terminals only; ignored elsewhere)."""
        if not self.live:
            return
        self._status = text
        if self._open is None:
            self._write(f"{_CLEAR}{text}")

    def close(self) -> None:
        """End any open line and erase the status line."""
        tail = self._hide_status()
        self._status = ""
        if self._open is not None:
            tail += "\n"
            self._open = None
        if tail:
            self._write(tail)


def meter(level_db: float, width: int = 20) -> str:
    """A level meter for a dBFS value: ``mic [######              ]  -32 dB``."""
    if math.isinf(level_db) or level_db < -60:
        filled, shown = 0, "-inf dB"
    else:
        filled = round(width * (level_db + 60) / 60)
        shown = f"{level_db:.0f} dB"
    filled = max(0, min(width, filled))
    return f"mic [{'#' * filled}{' ' * (width - filled)}] {shown}"
