"""Gemini Live: wire messages, codec, sans-IO protocol machine and configuration.

`GeminiLive` is the configuration users build; `GeminiProtocol` is the
sans-IO machine the runtime drives; `codec` and `messages` are the wire layer.
"""

from __future__ import annotations

from .config import DEFAULT_MODEL as DEFAULT_MODEL
from .config import GeminiLive as GeminiLive
from .protocol import GeminiProtocol as GeminiProtocol

__all__ = ["DEFAULT_MODEL", "GeminiLive", "GeminiProtocol"]
