"""How long each turn of load lasts in the serving benchmark: a cell's, and a route pair's.

wrk counts the answers that came within its window; a request still running at the end counts for nothing, and a
latency longer than the window is never seen. A closed loop of ``c`` clients of ``size`` sentences holds
``c x size`` sentences in flight, so a request waits about ``c x size / rate`` seconds: 32 sentences from 256
clients at 800 sentences/s (the AVX2-only AMD) is 10 s, longer than the default 8 s cell. Such a cell measured the
queue filling, not the server: on that CPU, four runs of that cell alone read 636 and 764 sentences/s with p50
4.4-4.6 s in 8 s, and 758 and 726 with p50 10.6 s in 32 s (p50 is what a client waits: ~10.6 s, as the queue says).

- :func:`cell_seconds`: a cell lasts ``--duration``, or long enough for each client to get about
  ``--cell-answers`` answers at the run's first offline rate;
- :func:`turn_seconds`: a route pair's turn lasts ``--pair-seconds``, or long enough for about ``--pair-requests``
  answers a client at the slowest paired system's rate in the cell just run.

    cell_seconds(args, size=32, concurrency=256, offline=800.0)   # 31 with --duration 8 --cell-answers 3
"""

from __future__ import annotations

import argparse
import math


def cell_seconds(args: argparse.Namespace, size: int, concurrency: int, offline: float) -> int:
    """Seconds of load at a cell: ``--duration``, or ``--cell-answers`` rounds of the clients' sentences at the
    ``offline`` rate (sentences/s) where that is longer. A system slower than offline gets fewer answers a client."""
    if offline <= 0 or args.cell_answers <= 0:
        return args.duration
    return max(args.duration, math.ceil(args.cell_answers * concurrency * size / offline))


def turn_seconds(rows: list[dict[str, object]], args: argparse.Namespace, size: int, concurrency: int) -> int:
    """Seconds of each route-pair turn at a cell: ``--pair-seconds``, or longer where the slowest rate of the paired
    systems (the SDK servers and the route) in the cell just run gives a client fewer than ``--pair-requests``
    answers in that time. With 32 sentences from 4 clients in 3 s on the AVX2-only AMD a turn held 46-68 answers in
    all, so the requests still running at its end (up to four) moved its rate by up to 6-9 %."""
    rates = [float(r["sent_per_s"]) for r in rows  # type: ignore[arg-type]
             if (r["size"], r["concurrency"]) == (size, concurrency) and float(r["sent_per_s"]) > 0  # type: ignore[arg-type]
             and (str(r["system"]).startswith("sdk") or r["system"] == "naive")]
    if not rates:
        return args.pair_seconds
    return max(args.pair_seconds, math.ceil(args.pair_requests * concurrency * size / min(rates)))
