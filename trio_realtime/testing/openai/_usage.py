"""Token estimates and the ``usage`` object of ``response.done``."""

from __future__ import annotations

import math
from typing import Any


def text_tokens(text: str) -> int:
    """A rough token count for text (four characters a token)."""
    return math.ceil(len(text) / 4) if text else 0


def audio_tokens(ms: float, *, output: bool = False) -> int:
    """A rough token count for audio (10 a second in, 20 a second out)."""
    return math.ceil(ms / (50.0 if output else 100.0)) if ms > 0 else 0


def image_tokens(detail: Any) -> int:
    """A rough token count for one input image (85 at ``low`` detail, else a 512 px image)."""
    return 85 if detail == "low" else 765


def response_usage(
    in_text: int, in_audio: int, out_text: int, out_audio: int, cached: int, in_image: int = 0
) -> dict[str, Any]:
    """A ``response.usage`` object with the service's shape (cached: text, then audio, image)."""
    total_in = in_text + in_audio + in_image
    cached = min(cached, total_in)
    cached_text = min(cached, in_text)
    cached_audio = min(cached - cached_text, in_audio)
    cached_image = cached - cached_text - cached_audio
    return {
        "total_tokens": total_in + out_text + out_audio,
        "input_tokens": total_in,
        "output_tokens": out_text + out_audio,
        "input_token_details": {
            "text_tokens": in_text,
            "audio_tokens": in_audio,
            "image_tokens": in_image,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": cached_text,
                "audio_tokens": cached_audio,
                "image_tokens": cached_image,
            },
        },
        "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
    }
