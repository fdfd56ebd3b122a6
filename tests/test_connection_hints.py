"""The ``fake-server`` banner's connection hints work, copied as printed, for both SDKs.

The banner is the first thing a new user reads; each official client runs in a
subprocess configured only from the strings the banner printed (base URL, CA
file through ``SSL_CERT_FILE``) and holds one text turn.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap

import pytest
import trio

from trio_realtime.testing.server import connection_hints, open_fake_server, run_fake_server_cli

CLIENTS = textwrap.dedent(
    """
    import asyncio, json, sys, warnings
    warnings.simplefilter("ignore")
    OPENAI_URL, GEMINI_URL = sys.argv[1], sys.argv[2]

    async def openai_turn():
        from openai import AsyncOpenAI
        client = AsyncOpenAI(api_key="sk-" + "hint", websocket_base_url=OPENAI_URL)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Hello there"}]})
            await conn.response.create()
            async for event in conn:
                if event.type == "error":
                    return "error: " + event.error.message
                if event.type == "response.done":
                    return event.response.status

    async def gemini_turn():
        from google import genai
        from google.genai import types
        client = genai.Client(api_key="hint", http_options={"base_url": GEMINI_URL})
        config = types.LiveConnectConfig(response_modalities=["AUDIO"])
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="Hello there")]),
                turn_complete=True,
            )
            async for message in session.receive():
                sc = message.server_content
                if sc is not None and sc.turn_complete:
                    return "complete"

    async def main():
        print(json.dumps({"openai": await openai_turn(), "gemini": await gemini_turn()}))

    asyncio.run(main())
    """
)


async def test_banner_hints_connect_both_official_clients(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_fake_server_cli, "127.0.0.1", 0, 0.0, True)
            out = ""
            while "Ctrl+C" not in out:
                await trio.sleep(0.01)
                out += capsys.readouterr().out
            openai_url = re.search(r'AsyncOpenAI\(websocket_base_url="([^"]+)"\)', out)
            gemini_url = re.search(r'genai\.Client\(http_options=\{"base_url": "([^"]+)"\}\)', out)
            cas = re.findall(r"run it with SSL_CERT_FILE=(\S+)", out)
            assert openai_url is not None, out
            assert gemini_url is not None, out
            assert len(cas) == 2, out
            assert cas[0] == cas[1]
            assert openai_url.group(1).startswith("wss://")
            assert gemini_url.group(1).startswith("https://")
            env = dict(os.environ, SSL_CERT_FILE=cas[0])
            for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
                env.pop(name, None)
            proc = await trio.run_process(
                [sys.executable, "-c", CLIENTS, openai_url.group(1), gemini_url.group(1)],
                env=env,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            nursery.cancel_scope.cancel()
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert result == {"openai": "completed", "gemini": "complete"}


async def test_plain_banner_tells_google_genai_users_to_use_tls() -> None:
    with trio.fail_after(10):
        async with open_fake_server() as server:
            hints = "\n".join(connection_hints(server))
            url = server.url
    assert f'AsyncOpenAI(websocket_base_url="{url}/v1")' in hints
    assert url.startswith("ws://")
    assert "SSL_CERT_FILE" not in hints
    assert "base_url" in hints.split("google-genai")[0]  # only the openai recipe
    assert "google-genai: dials wss:// whenever an API key is set: restart with --tls" in hints
