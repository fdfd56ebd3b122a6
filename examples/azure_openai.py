"""Azure OpenAI Realtime with Microsoft Entra ID tokens instead of a key.

    python examples/azure_openai.py --endpoint https://my-resource.openai.azure.com \\
        --deployment gpt-realtime

Entra ID access tokens expire (about an hour), so the configuration takes a
token provider: the session calls it for every connection it opens. Here the
provider asks the Azure CLI (``az login`` first), in a worker thread because
it blocks; with the azure-identity package it would be
``lambda: credential.get_token("https://cognitiveservices.azure.com/.default").token``.

Without ``--endpoint`` (or with ``--fake``) it runs against the embedded fake
server, whose Azure route is ``/openai/v1/realtime``.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess

from _common import one_turn, run

import trio_realtime as rt
from trio_realtime.testing.server import open_fake_server

SCOPE = "https://cognitiveservices.azure.com"


def azure_cli_token() -> str:
    """An Entra ID token from the Azure CLI (blocking: the session runs it in a thread)."""
    out = subprocess.run(
        [
            "az",
            "account",
            "get-access-token",
            "--resource",
            SCOPE,
            "--query",
            "accessToken",
            "-o",
            "tsv",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


async def main() -> None:
    p = argparse.ArgumentParser(description="Azure OpenAI Realtime with Entra ID tokens.")
    p.add_argument("--endpoint", help="https://<resource>.openai.azure.com (default: the fake)")
    p.add_argument("--deployment", default="gpt-realtime", help="deployment name")
    p.add_argument("--fake", action="store_true", help="use the embedded fake server")
    args = p.parse_args()

    if args.endpoint and not args.fake:
        config = rt.OpenAIRealtime(
            azure_endpoint=args.endpoint, deployment=args.deployment, token_provider=azure_cli_token
        )
        print(f"Using Azure OpenAI at {args.endpoint}.")
        async with rt.connect(config) as session:
            await one_turn(session, "Hello! Who are you?")
        return

    counter = itertools.count(1)

    def stand_in_token() -> str:  # a plain function, like azure_cli_token
        n = next(counter)
        print(f"(token provider called: token #{n})")
        return f"entra-stand-in-{n}"

    async with open_fake_server(speed=float("inf")) as server:
        print("Using the embedded fake Azure OpenAI endpoint (no --endpoint given).")
        config = rt.OpenAIRealtime(
            azure_endpoint="https://example-resource.openai.azure.com",
            url=server.azure_url,
            deployment=args.deployment,
            token_provider=stand_in_token,
        )
        for text in ("Hello from Azure", "A second session"):
            async with rt.connect(config) as session:  # each connection: a fresh token
                await one_turn(session, text)


if __name__ == "__main__":
    run(main)
