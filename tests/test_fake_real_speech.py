"""Real speech (audio without the synthetic voice's hidden transcript) at the fake servers.

The fakes cannot transcribe it: the user's transcript says so with
`UNTRANSCRIBED` instead of an empty string that looks like a bug.
"""

from __future__ import annotations

import math

import pytest
import trio

import trio_realtime as rt
from trio_realtime.testing.server import open_fake_server
from trio_realtime.testing.voice import UNTRANSCRIBED, split_frame, user_utterance


async def _user_transcript(provider: str, speech: rt.AudioFrame) -> tuple[str, str]:
    """Stream `speech` as a microphone would; the final user and assistant transcripts."""
    user = assistant = None
    with trio.fail_after(20):
        async with open_fake_server(speed=math.inf) as server:
            config: rt.OpenAIRealtime | rt.GeminiLive = (
                rt.OpenAIRealtime(url=server.openai_url, api_key="fake")
                if provider == "openai"
                else rt.GeminiLive(url=server.gemini_url(), api_key="fake")
            )
            async with rt.connect(config) as session:
                for chunk in split_frame(speech, 20):
                    await session.send_audio(chunk)
                await session.flush_audio()
                async for event in session.events():
                    match event:
                        case rt.Transcript(role="user", text=text, final=True):
                            user = text
                        case rt.Transcript(role="assistant", text=text, final=True):
                            assistant = text
                        case rt.TurnDone():
                            break
    assert user is not None
    assert assistant is not None
    return user, assistant


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_real_speech_gets_the_documented_placeholder(provider: str) -> None:
    rate = 24000 if provider == "openai" else 16000
    real = user_utterance("what a nice day", rate, hide_transcript=False)
    user, assistant = await _user_transcript(provider, real)
    assert user == UNTRANSCRIBED
    assert assistant == f"You said: {UNTRANSCRIBED}. Thank you."
    # The synthetic voice is still heard exactly.
    user, _ = await _user_transcript(provider, user_utterance("what a nice day", rate))
    assert user == "what a nice day"
