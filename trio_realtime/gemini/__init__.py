"""Gemini Live: wire messages, codec, sans-IO protocol machine and configuration."""

from __future__ import annotations
