"""CPU benchmarks of trio_realtime's audio hot path (``make bench``, ``python -m benchmarks``).

The headline: the paced scenario
--------------------------------
`benchmarks.paced` runs voice sessions at real-time pace (20 ms chunks both
ways every 20 ms) and `benchmarks.report` pairs them: each round starts one
client and the bare loop as two processes streaming from the same instant,
reports the median of the per-round CPU ratios with the spread, delivery
latency and memory per session, plain and TLS, and writes
``docs/assets/bench/paced.json`` and ``paced.png`` (``--out`` elsewhere).
Options: ``--rounds`` (7; ``--quick``: 2), ``--paced-sessions`` (20),
``--paced-seconds`` (10), ``--transport plain|tls``, ``--no-paced``,
``--no-flood``, ``--paced-baseline bare64`` (pair with the bare loop using
pybase64 for base64, as the library does, instead of the standard
library's). docs/performance.md explains the figures.

Interruption and the latency knee
---------------------------------
`benchmarks.interrupt` (run by default after the paced scenario; alone with
``--interrupt``) measures the server's barge-in frame to the application
seeing the interruption, p50/p99, and the stale audio frames delivered
after it (must be 0), for ours and the bare loop started together
(``--interrupt-rounds`` 3, ``--interrupt-sessions`` 20,
``--interrupt-seconds`` 6, ``--interrupt-every`` 25 chunks), writing
``interrupt.json``. `benchmarks.sweep` (only with ``--sweep``: several
minutes) raises the paced sessions of one client process
(``--sweep-steps 10,20,30,...``) until delivery p99 exceeds 20 ms and
reports the largest count within it beside CPU-derived sessions per core,
writing ``sweep.json``.

Two revisions against each other
--------------------------------
``python -m benchmarks.compare OLD NEW`` (`benchmarks.compare`) runs the
paced scenario with ``ours`` in both processes of each pair, one importing
the library of git revision OLD and the other NEW (``.`` is the working
tree), and reports the median of the per-round CPU ratios NEW / OLD: finer
than comparing each revision's ratio to the bare loop, since everything but
the library is the same in both processes. Options: ``--provider``,
``--transport``, ``--rounds`` (10), ``--sessions`` (20), ``--seconds`` (4),
``--json FILE``.

The second table: the flood scenario
------------------------------------
A load server runs in a separate process (`benchmarks.loadserver`, so its CPU
does not count) on 127.0.0.1. Each client opens ``--sessions`` concurrent
sessions (default 20); each session does the provider's handshake, then
streams ``--seconds`` of audio (default 10 s: 500 chunks of 20 ms) each way
without pacing: the server sends output audio deltas as fast as the client
reads them while the client sends its input chunks as fast as it can. A
session ends when the server confirms it received all of the input.

The clients (`benchmarks.clients`), each measured in a fresh process with
``time.process_time()`` after an unmeasured warm-up session:

- ``bare``: the floor. trio-websocket, one reader and one writer loop per
  session, ``json.loads`` + ``base64.b64decode`` + ``np.frombuffer`` per
  message in, ``base64.b64encode`` + ``json.dumps`` per message out.
- ``ours``: ``trio_realtime.connect`` + ``send_audio`` + ``events()``.
- ``sdk``: the official SDKs (asyncio): ``openai`` and ``google-genai``;
  each is skipped with a note when it is not installed.

Both providers are run: OpenAI Realtime (24 kHz in and out, JSON text
frames) and Gemini Live (16 kHz in, 24 kHz out, JSON in binary frames).

How to read it
--------------
The first table gives client CPU milliseconds per session-second (one second
of audio each way in one session), the median over ``--repeat`` runs (the
order of the clients alternates between runs), the lowest and highest run,
and the ratio to ``bare``: the median of the ratios to the bare run of the
same repeat, which cancels most of the drift of a busy machine. That ratio
is the number that matters, since absolute numbers move with the machine.
``user ms`` is the user-space part of the CPU time, with its own ratio: the
rest is the kernel's socket work, which is the same for every client in
principle but the noisiest part of the measurement, so when the two ratios
disagree, the user one says more about the Python code. At 50 chunks a
second, 10 ms/session-second means one core carries about 100 sessions.
Our goal: ``ours`` within a few percent of ``bare`` (below 1.0x is better
than the bare loop, possible because our transport hands messages over
without trio-websocket's extra task switch per message). Peak RSS is that
of the whole measuring process (interpreter and imports included: the SDK
imports a lot), so compare it between clients, not against zero; growth is
how far it rose above the RSS at the start of the measured run, i.e. the
memory the sessions and their buffers took (divide by the sessions for a
per-session figure; Linux only, 0 elsewhere).

The second table times single messages on our codec paths against the bare
standard-library way, in microseconds (best of several runs): receiving an
audio delta (``OpenAIProtocol.receive`` / ``GeminiProtocol.receive``, which
also keep the protocol state and build the `AudioOut` event) and building
an input audio message (``audio_message``). At 50 chunks a second, each
microsecond per message is 0.05 ms per session-second.

Options: ``--sessions N``, ``--seconds S``, ``--repeat R`` (default 5),
``--quick`` (5 sessions x 2 s, one run: a quick check, noisy; options given
with it win), ``--provider``/``--client`` (repeatable, to run a subset),
``--no-micro``, ``--in-process``, and ``--profile CLIENT:PROVIDER`` (e.g.
``ours:gemini``), which runs one client under cProfile instead and prints
where its time goes.

Nothing here is a pass/fail test: ``tests/test_benchmarks.py`` only keeps
the machinery working.
"""
