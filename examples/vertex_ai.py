"""Gemini Live on Vertex AI, with OAuth access tokens that renew themselves.

    pip install 'trio-realtime[google-auth]'
    python examples/vertex_ai.py --project my-project --location us-central1
    python examples/vertex_ai.py --project my-project --credentials service-account.json

Vertex AI takes OAuth access tokens, which expire after an hour. The
configuration gets a token provider instead of a token: the session calls it
for every connection it opens, so a call that resumes on a new connection
later gets a fresh token. `google_token_provider` reads Application Default
Credentials (``gcloud auth application-default login``) or a service-account
file, and refreshes the token off the event loop when it nears expiry.

Without ``--project`` (or with ``--fake``) the example runs against the
embedded fake server with a stand-in provider, and drops the connection once
to show the resumed connection asking for a new token.
"""

from __future__ import annotations

import argparse
import itertools

import trio
from _common import one_turn, run

import trio_realtime as rt
from trio_realtime.credentials import google_token_provider
from trio_realtime.testing.server import open_fake_server


async def main() -> None:
    p = argparse.ArgumentParser(description="Gemini Live on Vertex AI with renewing tokens.")
    p.add_argument("--project", help="Google Cloud project (default: the fake server)")
    p.add_argument("--location", default="us-central1", help="Vertex AI region")
    p.add_argument("--credentials", help="service-account JSON file (default: ADC)")
    p.add_argument("--fake", action="store_true", help="use the embedded fake server")
    args = p.parse_args()

    if args.project and not args.fake:
        config = rt.GeminiLive(
            vertex_project=args.project,
            vertex_location=args.location,
            token_provider=google_token_provider(args.credentials),
        )
        print(f"Using Vertex AI in {args.project}/{args.location}.")
        async with rt.connect(config) as session:
            await one_turn(session, "Hello! Who are you?")
        return

    counter = itertools.count(1)

    async def stand_in_token() -> str:  # what google_token_provider does, minus Google
        n = next(counter)
        print(f"(token provider called: token #{n})")
        await trio.lowlevel.checkpoint()
        return f"ya29.stand-in-{n}"

    async with open_fake_server(speed=float("inf")) as server:
        print("Using the embedded fake Vertex AI endpoint (no --project given).")
        config = rt.GeminiLive(
            url=server.vertex_url(), vertex_project="demo-project", token_provider=stand_in_token
        )
        async with rt.connect(config) as session:
            await one_turn(session, "Hello from Vertex AI")
            # A network hiccup: the session resumes on a new connection, which
            # asks the provider for a token again.
            await (await server.connection(1)).abort()
            async for event in session.events():
                if isinstance(event, rt.Reconnected):
                    print(f"(reconnected: {event.mode})")
                    break
            await one_turn(session, "Still there?")


if __name__ == "__main__":
    run(main)
