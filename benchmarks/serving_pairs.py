"""Pairs of neighbouring short turns for the serving benchmark's aims that single cells cannot settle.

The speed of these shared machines drifts by 20-50 % within minutes, so one cell against another cell run a minute
apart says as much about the spell as about the servers. A pair is two short turns back to back, the order swapped
in every other pair; an aim is judged on the median of the pairs' ratios.

- :func:`one_client_pairs`: one client's round trip against in-process ``encode`` of one sentence;
- :func:`route_pairs`: an SDK server's rate against the FastAPI route's (``naive``) at one cell below 16 clients,
  in turns long enough (``serving_windows.turn_seconds``) that each client's answers count finely;
- :func:`offline_pairs`: the server (system ``sdk``) against in-process bulk ``encode`` at a cell whose share of
  offline an aim names (one sentence from 64 clients, 32 sentences from 16 clients on).

    pairs = route_pairs(servers, args, size=32, concurrency=4, seconds=7)   # [{"system": "sdk", ...}, ...]
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from benchmarks.loadgen import wrk, wrk_errors
from benchmarks.serving_systems import Server, settle

if TYPE_CHECKING:
    from benchmarks.serving import Probe


def one_client_pairs(probe: Probe, servers: list[Server], args: argparse.Namespace) -> list[dict[str, object]]:
    """One client's round trip against in-process ``encode``: for each SDK server, ``--one-client-pairs`` pairs of
    neighbouring short turns (``--pair-seconds`` each; in-process first in even pairs, the server first in odd
    ones). The same code's one-client ratio moved from 1.21x to 1.84x between two single cells minutes apart on
    these machines, so the aim is judged on ratios of neighbours."""
    pairs: list[dict[str, object]] = []
    for i in range(args.one_client_pairs):
        for server in [s for s in servers if s.system.startswith("sdk")]:
            pair: dict[str, object] = {"system": server.system}
            for turn in ("probe", "server") if i % 2 == 0 else ("server", "probe"):
                settle(servers)
                if turn == "probe":
                    pair["in_process_p50_ms"] = probe.ask(f"one {args.pair_seconds}")["p50_ms"]
                else:
                    pair["p50_ms"] = wrk(server.url + server.path, args.bodies[1], 1, args.pair_seconds)["p50_us"] / 1000
            pairs.append(pair)
            print(f"  one client, pair {i + 1}: {server.system} {pair['p50_ms']:.2f} ms, in-process "
                  f"{pair['in_process_p50_ms']:.2f} ms ({pair['p50_ms'] / pair['in_process_p50_ms']:.2f}x)",  # type: ignore[operator]
                  file=sys.stderr)
    return pairs


def route_pairs(servers: list[Server], args: argparse.Namespace, size: int, concurrency: int,
                seconds: int) -> list[dict[str, object]]:
    """Each SDK server against the FastAPI route at one cell: ``--route-pairs`` pairs of neighbouring turns of
    ``seconds`` (the SDK server first in even pairs, the route first in odd ones), sentences/s each. In one
    run on the AVX2-only AMD the route led at 4 clients by 21 % in the cell, and three cells of each right after put
    the server ahead in five of six: the aim below 16 clients is judged on the median ratio of neighbours."""
    naive = next(s for s in servers if s.system == "naive")
    pairs: list[dict[str, object]] = []
    for i in range(args.route_pairs):
        for server in [s for s in servers if s.system.startswith("sdk")]:
            pair: dict[str, object] = {"system": server.system, "size": size, "concurrency": concurrency,
                                       "seconds": seconds}
            for key, player in (("sent_per_s", server), ("naive_sent_per_s", naive))[:: 1 if i % 2 == 0 else -1]:
                settle(servers)
                r = wrk(player.url + player.path, args.bodies[size], concurrency, seconds)
                pair[key] = r["requests"] * size / (r["duration_us"] / 1e6)
            pairs.append(pair)
            print(f"  {size} x c={concurrency}, pair {i + 1}: {server.system} {pair['sent_per_s']:.0f}, FastAPI route "
                  f"{pair['naive_sent_per_s']:.0f} sentences/s "
                  f"({pair['sent_per_s'] / pair['naive_sent_per_s']:.2f}x)", file=sys.stderr)  # type: ignore[operator]
    return pairs


def offline_pairs(probe: Probe, servers: list[Server], args: argparse.Namespace, size: int, concurrency: int,
                  seconds: int) -> list[dict[str, object]]:
    """The server (system ``sdk``) against in-process bulk ``encode`` at one cell: ``--offline-pairs`` pairs of
    neighbouring turns, one bulk pass of the probe and the server under the cell's load for ``seconds`` (the probe
    first in even pairs), sentences/s each. In one run on the AVX2-only AMD the probe's turns at the cells of 32
    sentences read 612-831 sentences/s, and the FastAPI route ran 769 sentences/s in the cell where the server ran 551
    and the probe's turn 612: a share against a pass a minute away says as much about the spell as the server."""
    server = next((s for s in servers if s.system == "sdk"), None)
    if server is None:
        return []
    pairs: list[dict[str, object]] = []
    for i in range(args.offline_pairs):
        pair: dict[str, object] = {"system": server.system, "size": size, "concurrency": concurrency,
                                   "seconds": seconds}
        for turn in ("probe", "server") if i % 2 == 0 else ("server", "probe"):
            settle(servers)
            if turn == "probe":
                pair["offline_sent_per_s"] = probe.ask("bulk 1")["sent_per_s"]
            else:
                r = wrk(server.url + server.path, args.bodies[size], concurrency, seconds)
                pair["sent_per_s"] = r["requests"] * size / (r["duration_us"] / 1e6)
                pair["errors"] = wrk_errors(r)  # wrk counts them as requests
        pairs.append(pair)
        print(f"  {size} x c={concurrency}, offline pair {i + 1}: {server.system} {pair['sent_per_s']:.0f}, in-process "
              f"{pair['offline_sent_per_s']:.0f} sentences/s "
              f"({pair['sent_per_s'] / pair['offline_sent_per_s']:.0%})", file=sys.stderr)  # type: ignore[operator]
    return pairs
