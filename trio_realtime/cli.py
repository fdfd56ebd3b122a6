"""The ``trio-realtime`` command (also ``python -m trio_realtime``).

Subcommands: ``demo``, ``chat``, ``talk``, ``say``, ``token``, ``fake-server``.
Errors end with one clear line on stderr, never a traceback, and exit status
2 for a mistake in the command or its inputs (arguments, files,
configuration, a taken port) or 1 when the session failed (refused, lost,
the service's error); Ctrl+C exits with 130.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

import trio

from ._groups import reraise, single_exception
from .errors import ConfigurationError, RealtimeError

__all__ = ["main"]

USER_ERROR = 2  # the command line or its inputs are wrong (argparse uses 2 as well)
FAILURE = 1  # the session failed: refused, lost, or the service reported an error


def _speed(text: str) -> float:
    """An argparse type: a pacing factor >= 0, checked before anything runs."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: as fast as possible), got {text}")
    return math.inf if value == 0 else value


def _add_provider_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--provider",
        choices=("openai", "gemini"),
        default="openai",
        help="which service to talk to (default: openai)",
    )
    p.add_argument("--model", default=None, help="model name (default: the provider's default)")
    p.add_argument("--voice", default=None, help="voice name (default: the provider's default)")
    p.add_argument(
        "--fake",
        action="store_true",
        help="use the embedded fake server even when an API key is set",
    )
    p.add_argument("--instructions", default=None, help="system instructions for the session")
    p.add_argument(
        "--url",
        default=None,
        help="WebSocket URL to use instead of the provider's (a proxy, or a running "
        "`trio-realtime fake-server`); the key still comes from the environment",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trio-realtime",
        description="Realtime speech-to-speech sessions with OpenAI Realtime and Gemini Live, on Trio.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="a spoken conversation with the embedded fake server (no key, no network)",
        description="Run a complete spoken conversation for both providers against the "
        "embedded fake server: transcripts, a tool call, a barge-in and per-turn latency. "
        "Writes the assistant's audio to WAV files.",
    )
    demo.add_argument(
        "--provider", choices=("openai", "gemini", "both"), default="both", help="default: both"
    )
    demo.add_argument("--out", default="out", help="folder for the WAV files (default: out)")
    demo.add_argument(
        "--speed",
        type=_speed,
        default=4.0,
        help="reply pacing, times real time (default: 4; 0 = as fast as possible)",
    )

    chat = sub.add_parser(
        "chat",
        help="type messages, see transcripts and save the spoken replies",
        description="Type a message per line; the reply's transcript is printed as it arrives "
        "and its audio saved as WAV (and played with --play). Uses the live service when an API key is set, else the embedded fake "
        "server (and says which).",
    )
    _add_provider_args(chat)
    chat.add_argument(
        "--out",
        default="out",
        help="folder for reply WAV files, reply-N.wav numbered on from those already there "
        "(default: out)",
    )
    chat.add_argument(
        "--play", action="store_true", help="also play each reply on the speaker (audio extra)"
    )

    talk = sub.add_parser(
        "talk",
        help="talk through the microphone and speaker (the audio extra)",
        description="A spoken conversation: your microphone to the model, its voice to your "
        "speaker, with barge-in (start talking to cut it off), a level meter, live "
        "transcripts of both sides and each reply's latency. Uses the live service when an "
        "API key is set, else the embedded fake server (its synthetic voice answers). Needs "
        "pip install 'trio-realtime[audio]'. Use headphones, or the model hears itself.",
    )
    _add_provider_args(talk)
    talk.add_argument(
        "--device", default=None, help="audio device for both sides: index or part of its name"
    )
    talk.add_argument("--input-device", default=None, help="microphone (overrides --device)")
    talk.add_argument("--output-device", default=None, help="speaker (overrides --device)")
    talk.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
    talk.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    talk.add_argument(
        "--replies", type=int, default=None, help="stop once this many replies have played"
    )
    talk.add_argument("--no-meter", action="store_true", help="no microphone level meter")

    token = sub.add_parser(
        "token",
        help="mint a short-lived token for a browser or device (http extra)",
        description="Mint an ephemeral token with the API key from the environment and print "
        "it as JSON: an OpenAI client secret (ek_...) or a Gemini auth token (auth_tokens/...). "
        "The session settings given here go with the token (Gemini: locked). --url points at "
        "another host, such as a running `trio-realtime fake-server`. Needs "
        "pip install 'trio-realtime[http]'.",
    )
    token.add_argument(
        "--provider", choices=("openai", "gemini"), default="openai", help="default: openai"
    )
    token.add_argument("--model", default=None, help="model (default: the provider's default)")
    token.add_argument("--voice", default=None, help="voice (default: the provider's default)")
    token.add_argument("--instructions", default=None, help="system instructions")
    token.add_argument(
        "--expires",
        type=float,
        default=None,
        help="seconds the token lives (OpenAI: 10-7200, default 600; Gemini: default 1800)",
    )
    token.add_argument(
        "--uses", type=int, default=1, help="Gemini: sessions it may start (0 = any; default 1)"
    )
    token.add_argument(
        "--new-session-expires",
        type=float,
        default=60,
        help="Gemini: seconds during which it may start sessions (default 60)",
    )
    token.add_argument(
        "--url",
        default=None,
        help="the WebSocket URL the token is for (a proxy or a fake server); the request goes "
        "to the same host",
    )

    say = sub.add_parser(
        "say",
        help="send a WAV file as the user's turn and save the reply as WAV",
        description="Send FILE.wav as the user's spoken turn and write the spoken reply to "
        "--output. Uses the live service when an API key is set, else the fake server.",
    )
    say.add_argument("file", metavar="FILE.wav", help="16-bit PCM WAV, any rate and channels")
    say.add_argument(
        "--output",
        "-o",
        default="reply.wav",
        help="WAV file to write the reply to, in an existing folder (default: reply.wav)",
    )
    _add_provider_args(say)

    fake = sub.add_parser(
        "fake-server",
        help="serve the fake OpenAI Realtime and Gemini Live endpoints",
        description="Serve both protocols on one port, by path (OpenAI at /v1/realtime, Gemini "
        "at /ws/google.ai.generativelanguage.<version>.GenerativeService.BidiGenerateContent). "
        "Prints the ws:// URL and how the official clients connect once accepting "
        "connections; runs until interrupted. The openai client works over ws:// or wss://; "
        "google-genai dials wss:// whenever an API key is set, so it needs --tls and the "
        "printed CA file (SSL_CERT_FILE=<file>, or an ssl context trusting it).",
    )
    fake.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    fake.add_argument("--port", type=_port, default=8765, help="port (default: 8765; 0 = any)")
    fake.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="pace reply audio at X times real time (default: 1; 0 = as fast as possible)",
    )
    fake.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a throwaway CA whose file path is printed (google-genai "
        "needs it; trust the CA with SSL_CERT_FILE=<file>)",
    )
    return parser


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 for any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0: any free port), got {text}")
    return value


def _has_key(provider: str) -> bool:
    if provider == "openai":
        return bool(os.environ.get("OPENAI_API_KEY"))
    return bool(os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY"))


def _run(fn: Callable[..., Awaitable[int | None]], *args: object) -> int:
    try:
        # Ctrl+C reaches the main task at an await, never the embedded fake
        # server's task (which would close the connection under the session).
        status = trio.run(fn, *args, restrict_keyboard_interrupt_to_checkpoints=True)
    except BaseExceptionGroup as group:
        leaf = single_exception(group)
        if leaf is None:
            raise
        reraise(leaf)
    return status or 0


async def _serve_until_signal(host: str, port: int, speed: float, tls: bool) -> int:
    """Run the fake server until SIGINT (Ctrl+C) or SIGTERM; both stop it cleanly."""
    from .testing.server import run_fake_server_cli

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_fake_server_cli, host, port, speed, tls)
            async for signum in signals:
                print(f"stopped ({signal.Signals(signum).name}).", file=sys.stderr, flush=True)
                nursery.cancel_scope.cancel()
                break
    return 0


def _check_output(path: str) -> None:
    """Refuse an output path `say` could not write, before any session starts.

    The folder must exist: a typo in ``-o`` should not quietly create a tree
    of folders somewhere (``demo --out`` and ``chat --out`` name folders,
    which they create).
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OSError(errno.EISDIR, f"cannot write the reply to {path}: it is a folder")
    if not os.path.isdir(folder):
        raise OSError(
            errno.ENOENT,
            f"cannot write the reply to {path}: the folder {folder} does not exist",
        )


def _listen_error(exc: OSError, host: str, port: int) -> OSError:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = " (is another server running there? --port 0 picks a free port)"
    return OSError(exc.errno, f"cannot listen on {where}: {exc.strerror or exc}{hint}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0, 1 failure, 2 user error, 130 Ctrl+C)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "fake-server":
            try:
                return _run(_serve_until_signal, args.host, args.port, args.speed, args.tls)
            except OSError as exc:
                raise _listen_error(exc, args.host, args.port) from exc
        if args.command == "say":
            _check_output(args.output)
        if args.command == "demo":
            from .demo import run_demo

            return _run(run_demo, args.provider, args.out, args.speed)
        if args.command == "token":
            from .tokens import run_token_command

            return _run(run_token_command, args)
        if args.command == "talk":
            from ._talk import print_devices, run_talk_command

            if args.list_devices:
                return print_devices(sys.stdout)
            live = (_has_key(args.provider) or args.url is not None) and not args.fake
            return _run(run_talk_command, args, live)
        from .apps import run_chat, run_say

        live = (_has_key(args.provider) or args.url is not None) and not args.fake
        runner = run_chat if args.command == "chat" else run_say
        return _run(runner, args, live)
    except KeyboardInterrupt:
        print("stopped.", file=sys.stderr)
        return 130
    except ConfigurationError as exc:
        print(f"trio-realtime: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except RealtimeError as exc:
        print(f"trio-realtime: error: {exc}", file=sys.stderr)
        return FAILURE
    except OSError as exc:  # a file that cannot be read or written, a taken port
        where = f": {exc.filename}" if exc.filename else ""
        print(f"trio-realtime: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return USER_ERROR
    except ValueError as exc:  # AudioError: not a usable WAV file
        print(f"trio-realtime: error: {exc}", file=sys.stderr)
        return USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
