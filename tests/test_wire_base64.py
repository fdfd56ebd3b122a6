"""Audio base64 on the hot path (pybase64) against the standard library's strict decoder."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_realtime._wire import audio_b64decode, b64decode, b64encode

# Mostly the base64 alphabet, with padding, whitespace, URL-safe and non-ASCII characters.
b64ish = st.text(
    alphabet=st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + "-_ \n\x00é"
    ),
    max_size=40,
)


@given(st.binary(max_size=300))
def test_encoding_is_the_standard_padded_base64(data: bytes) -> None:
    assert b64encode(data) == base64.b64encode(data).decode("ascii")
    assert b64encode(memoryview(data)) == base64.b64encode(data).decode("ascii")
    assert audio_b64decode(b64encode(data)) == data


@given(st.one_of(b64ish, st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode())))
def test_the_hot_path_accepts_only_what_the_strict_decoder_accepts_with_the_same_bytes(
    text: str,
) -> None:
    """Anything the hot path refuses takes the general path (`b64decode`), so it
    may refuse more, never accept more or decode differently."""
    fast = audio_b64decode(text)
    if fast is not None:
        assert fast == binascii.a2b_base64(text, strict_mode=True)
        assert fast == b64decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "QQ",
        "QQ=",
        "=QQ=",
        "QUJ D",
        "QUJD\n",
        "QU=D",
        "Q===",
        "QQ==QQ==",
        "QUJ-",
        "ＱＱ==",
        "QUJD====",
    ],
)
def test_invalid_audio_base64_is_none_not_an_exception(text: str) -> None:
    assert audio_b64decode(text) is None
